"""The PR comment's chart: a Mermaid xychart of the metric per round, the threshold and the base branch.

Pure, like ``keras_ct.report`` (which embeds it); kept apart so each stays one screenful of concerns.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Protocol

from keras_ct.fmt import BEST_MARK, fmt_accuracy, fmt_threshold, marked_best, one_threshold
from keras_ct.round.history import RoundRecord


class Base(Protocol):
    """The base branch's model the rounds are compared with (``keras_ct.round.baseline.Baseline``):
    ``accuracy`` None when there is no baseline yet (``line`` says why)."""

    @property
    def branch(self) -> str: ...

    @property
    def accuracy(self) -> float | None: ...

    @property
    def line(self) -> str: ...


#: The chart's line colours in line order: accuracy, threshold, base branch (GitHub's own blue, red and
#: grey: mermaid's default first line, #ECECFF, is nearly invisible on white).
CHART_COLOURS = ("#0969da", "#cf222e", "#6e7781")
CHART_COLOUR_NAMES = ("blue", "red", "grey")
#: The chart's height in px (mermaid's default, 500, makes a comment twice as tall).
CHART_HEIGHT = 300


def chart_range(values: Sequence[float]) -> tuple[float, float]:
    """The y-axis range: the plotted values with a margin, in steps of 0.01, within 0 and 1."""
    pad = max(0.01, (max(values) - min(values)) * 0.2)
    low, high = (
        math.floor(round((min(values) - pad) * 100, 6)),
        math.ceil(round((max(values) + pad) * 100, 6)),
    )
    return max(0.0, low / 100), min(1.0, high / 100)


def _chart_title(records: Sequence[RoundRecord], base: Base | None) -> str:
    threshold = one_threshold(records)
    parts = [
        f"{records[-1].metric} ({CHART_COLOUR_NAMES[0]})",
        f"threshold {fmt_threshold(threshold) if threshold is not None else ''} ({CHART_COLOUR_NAMES[1]})",
    ]
    if base is not None and base.accuracy is not None:
        parts.append(f"{base.branch} {fmt_accuracy(base.accuracy)} ({CHART_COLOUR_NAMES[2]})")
    best = marked_best(records)
    title = ", ".join(parts).replace("  ", " ") + (f"; {BEST_MARK} best: round {best.round}" if best else "")
    return title.replace('"', "'")


def render_chart(records: Sequence[RoundRecord], base: Base | None = None) -> str:
    """A Mermaid xychart of the metric per round against the threshold (GitHub renders it): lines in
    ``CHART_COLOURS``, named in the title, the best round marked on the x-axis."""
    scored = [r for r in records if r.accuracy is not None]
    if not scored:
        return ""
    best = marked_best(records)
    xs = ", ".join(f'"{r.round}{f" {BEST_MARK}" if best and r.round == best.round else ""}"' for r in scored)
    lines = [[r.accuracy or 0.0 for r in scored], [r.threshold for r in scored]]
    if base is not None and base.accuracy is not None:
        lines.append([base.accuracy] * len(scored))
    low, high = chart_range([v for line in lines for v in line])
    palette = ", ".join(CHART_COLOURS[: len(lines)])
    plotted = "".join(
        f"  line [{', '.join(fmt_accuracy(v) if i != 1 else fmt_threshold(v) for v in line)}]\n"
        for i, line in enumerate(lines)
    )
    return (
        "```mermaid\n---\nconfig:\n"
        f"  xyChart:\n    height: {CHART_HEIGHT}\n"
        f'  themeVariables:\n    xyChart:\n      plotColorPalette: "{palette}"\n---\n'
        "xychart-beta\n"
        f'  title "{_chart_title(scored, base)}"\n'
        f'  x-axis "Round" [{xs}]\n'
        f'  y-axis "{scored[-1].metric}" {low:.2f} --> {high:.2f}\n'
        f"{plotted}```"
    )
