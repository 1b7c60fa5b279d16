"""Pure renderers: the round history in, Markdown or terminal text out.

The same renderer feeds the job summary, the sticky PR comment and ``keras-ct loop``'s report file.
Nothing here touches the world; golden-file tests pin the output.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

from keras_ct.round import history as hist
from keras_ct.round.history import RoundRecord, history_block
from keras_ct.round.history import parse_history_block as parse_history_block
from keras_ct.train.metrics import meets

#: Hidden marker that identifies keras-ct's sticky PR comment.
COMMENT_MARKER = "<!-- keras-ct:comment -->"
#: GitHub rejects comment bodies over 65,536 characters.
COMMENT_LIMIT = 65_536
#: Diffs longer than this are cut in the comment (the commit has the whole change).
DIFF_LIMIT = 20_000


#: A commit status's state, as GitHub's commit-status API allows it.
StatusState = Literal["pending", "success", "failure", "error"]
#: How the loop stands after a round (``Verdict.state``).
VerdictState = Literal["passed", "next", "exhausted", "stopped", "error"]
#: GitHub cuts a commit status's description at 140 characters.
STATUS_LIMIT = 140


@dataclass(frozen=True)
class Verdict:
    """How the loop stands after the latest round.

    ``state``: ``passed`` (threshold met), ``next`` (missed, next round on its way), ``exhausted``
    (missed at the last round), ``stopped`` (missed; no next round, see ``message``), ``error``.
    """

    state: VerdictState
    message: str = ""
    next_run_url: str = ""


@dataclass(frozen=True)
class Links:
    """Where commits live, for links in the table (empty outside GitHub)."""

    server_url: str = ""
    repository: str = ""

    def commit(self, sha: str) -> str:
        if not sha:
            return ""
        short = sha[:7]
        if self.server_url and self.repository:
            return f"[`{short}`]({self.server_url}/{self.repository}/commit/{sha})"
        return f"`{short}`"


_ICONS: dict[VerdictState, str] = {
    "passed": "✅",
    "next": "🔁",
    "exhausted": "❌",
    "stopped": "⏸️",
    "error": "💥",
}


#: Accuracies print with this many decimals at least (more only where the comparison needs them).
ACCURACY_DIGITS = 4


def fmt_accuracy(value: float | None) -> str:
    return "—" if value is None else f"{value:.{ACCURACY_DIGITS}f}"


def fmt_threshold(threshold: float) -> str:
    """The threshold as given: the shortest text that reads back as the same number (0.975, 0.94996)."""
    return repr(float(threshold))


def fmt_versus(value: float | None, threshold: float) -> str:
    """``value`` against ``threshold`` so that the printed numbers compare as the real ones do.

    The threshold prints as given; the value with ``ACCURACY_DIGITS`` decimals, or more where fewer
    would read wrong (0.94996 against 0.95 prints "0.94996 < 0.95", never "0.9500 < 0.95"). A value
    meets the threshold as ``train.metrics.meets`` says (float32 rounding allowed). Where no rounding
    reads true, the value prints exactly, with "≈" for one that meets the threshold from just below.
    """
    thr = fmt_threshold(threshold)
    if value is None:
        return f"— < {thr}"
    met = meets(value, threshold)
    for digits in range(ACCURACY_DIGITS, 18):
        text = f"{value:.{digits}f}"
        if (float(text) >= threshold) == met:
            return f"{text} {'≥' if met else '<'} {thr}"
    exact = "≥" if value >= threshold else "≈" if met else "<"
    return f"{value!r} {exact} {thr}"


def fmt_delta(value: float | None) -> str:
    return "—" if value is None else f"{value:+.{ACCURACY_DIGITS}f}"


def fmt_duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    return f"{seconds:.1f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


def fmt_count(value: int | None) -> str:
    return "—" if value is None else f"{value:,}"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ").strip() or "—"


@dataclass(frozen=True)
class Wording:
    """What a verdict says about the round: ``status``, the commit status's description; ``line``,
    the report's verdict line (before the verdict's message)."""

    status: str
    line: str


def _passed(last: RoundRecord, verdict: Verdict) -> Wording:
    met = f"{last.metric} {fmt_versus(last.accuracy, last.threshold)} at round {last.round}"
    return Wording(met, f"Threshold met: {met}.")


def _next(last: RoundRecord, verdict: Verdict) -> Wording:
    below = _below(last)
    line = f"Round {last.round}: {last.metric} {below}; round {last.round + 1} is on its way."
    if verdict.next_run_url:
        line += f" [Next run]({verdict.next_run_url})"
    return Wording(f"round {last.round}: {below}; round {last.round + 1} dispatched", line)


def _exhausted(last: RoundRecord, verdict: Verdict) -> Wording:
    below = _below(last)
    return Wording(
        f"{below} after {last.round} rounds",
        f"Threshold not met: {last.metric} {below} after round {last.round}, the last round.",
    )


def _stopped(last: RoundRecord, verdict: Verdict) -> Wording:
    below = _below(last)
    return Wording(
        f"round {last.round}: {below}; loop stopped",
        f"Round {last.round}: {last.metric} {below}; the loop stopped.",
    )


def _error(last: RoundRecord, verdict: Verdict) -> Wording:
    return Wording(f"round {last.round} failed: {last.error}", f"Round {last.round} failed.")


def _below(last: RoundRecord) -> str:
    return fmt_versus(last.accuracy, last.threshold)


_WORDING: dict[VerdictState, Callable[[RoundRecord, Verdict], Wording]] = {
    "passed": _passed,
    "next": _next,
    "exhausted": _exhausted,
    "stopped": _stopped,
    "error": _error,
}


def status_text(last: RoundRecord, verdict: Verdict) -> str:
    """The commit status's description for ``verdict`` after the round ``last``."""
    return _WORDING[verdict.state](last, verdict).status[:STATUS_LIMIT]


def training_status(round_number: int, max_rounds: int) -> str:
    """The pending status's description while a round trains."""
    return f"Round {round_number} of {max_rounds}: training"


def queued_status(round_number: int, max_rounds: int) -> str:
    """The pending status's description on the head keras-ct pushed, until that round's run starts."""
    return f"Round {round_number} of {max_rounds}: queued"


def verdict_line(records: Sequence[RoundRecord], verdict: Verdict) -> str:
    last = records[-1] if records else None
    icon = _ICONS[verdict.state]
    if last is None:
        return f"{icon} {verdict.message}".strip()
    text = _WORDING[verdict.state](last, verdict).line
    if verdict.message:
        text += f" {verdict.message}"
    return f"{icon} **{text}**"


def _change_cell(record: RoundRecord) -> str:
    """The change's short name; why it was made goes in the collapsed rationales below the table."""
    if not record.change:
        return "baseline" if record.round == 1 else "—"
    return f"**{record.change}**"


#: The table's marks: the best round (keep the best; a passed round has ✅ instead) and a round whose
#: files were put back.
BEST_MARK = "🏆"
REVERT_MARK = "↩"


def marked_best(records: Sequence[RoundRecord]) -> RoundRecord | None:
    """The round the report marks best: once two rounds scored, unless the best one passed."""
    best = hist.best_round(records)
    scored = [r for r in records if r.accuracy is not None and r.status != "error"]
    return best if best is not None and len(scored) > 1 and not best.passed else None


def _marks(record: RoundRecord, best: RoundRecord | None) -> str:
    marks = [
        " ✅" if record.passed else "",
        f" {BEST_MARK}" if best is not None and record.round == best.round else "",
    ]
    if record.reverted_to is not None:
        marks.append(f" {REVERT_MARK} {record.reverted_to}")
    return "".join(marks)


def _one_threshold(records: Sequence[RoundRecord]) -> float | None:
    """The threshold when every round had the same one."""
    thresholds = {r.threshold for r in records}
    return thresholds.pop() if len(thresholds) == 1 else None


def _threshold_note(records: Sequence[RoundRecord]) -> str:
    """The threshold, said once below the table (a column of it would not fit GitHub's column):
    "Threshold 0.95", or per run of rounds where it changed ("Threshold 0.9 for rounds 1–2, ...")."""
    if (one := _one_threshold(records)) is not None or not records:
        return f"Threshold {fmt_threshold(one)}" if one is not None else ""
    spans = [list(span) for _, span in itertools.groupby(records, key=lambda r: r.threshold)]
    return "Threshold " + ", ".join(
        f"{fmt_threshold(s[0].threshold)} for "
        + (f"rounds {s[0].round}–{s[-1].round}" if len(s) > 1 else f"round {s[0].round}")
        for s in spans
    )


def _legend(records: Sequence[RoundRecord]) -> str:
    best = marked_best(records)
    parts = [_threshold_note(records), f"{BEST_MARK} round {best.round} is the best" if best else ""]
    parts[-1] += f" ({fmt_accuracy(best.accuracy)})" if best else ""
    if any(r.reverted_to is not None for r in records):
        parts.append(
            f"{REVERT_MARK} N: below the best by more than {hist.NOISE_MARGIN:g}, so round N's files were "
            "put back"
        )
    return "; ".join(p for p in parts if p) + ("." if any(parts) else "")


def _run_cell(record: RoundRecord) -> str:
    """How long the round's run took, linked to the run (one column for both keeps the table narrow)."""
    took = fmt_duration(record.duration_s)
    return f"[{took}]({record.run_url})" if record.run_url else took


def _row(records: Sequence[RoundRecord], index: int, links: Links) -> str:
    r = records[index]
    accuracy = fmt_accuracy(r.accuracy) if r.status != "error" else "error"  # (said below the table)
    cells = [
        str(r.round),
        links.commit(r.commit) or "—",
        _change_cell(r),
        fmt_count(r.params),
        fmt_count(r.epochs),
        accuracy + _marks(r, marked_best(records)),
        fmt_delta(hist.delta(records, index)),
        _run_cell(r),
    ]
    return "| " + " | ".join(_cell(c) for c in cells) + " |"


#: The table's head: narrow enough for GitHub's comment column (about 780 px), which
#: tests/test_render_comment.py measures in a browser. The threshold is said below it, once.
TABLE_HEAD = "| Round | Commit | Change | Params | Epochs | Accuracy | Δ | Run |\n|---:|---|---|---:|---:|---:|---:|---:|"
#: A failed round's error, below the table, is cut at this length (the run's log has all of it).
ERROR_LIMIT = 300


def render_table(records: Sequence[RoundRecord], links: Links = Links(), collapse: int = 0) -> str:
    """The history table; the ``collapse`` oldest rounds fold into one summary row."""
    rows = [TABLE_HEAD]
    if collapse:
        folded = records[:collapse]
        accs = [r.accuracy for r in folded if r.accuracy is not None]
        best = fmt_accuracy(max(accs)) if accs else "—"
        span = f"{folded[0].round}–{folded[-1].round}"
        rows.append(f"| {span} | … | {len(folded)} earlier rounds (collapsed) | | | best {best} | | |")
    rows.extend(_row(records, i, links) for i in range(collapse, len(records)))
    notes = [
        _legend(records),
        *(f"Round {r.round} failed: {_cell(r.error)[:ERROR_LIMIT]}" for r in records if r.error),
    ]
    return "\n\n".join(["\n".join(rows), *(n for n in notes if n)])


def render_rationales(records: Sequence[RoundRecord]) -> str:
    """Why each round's change was made, collapsed below the table (the table keeps the short name)."""
    items = [f"- **Round {r.round}, {r.change}**: {r.rationale}" for r in records if r.change and r.rationale]
    if not items:
        return ""
    return "<details><summary>Why each change</summary>\n\n" + "\n".join(items) + "\n\n</details>"


@dataclass(frozen=True)
class Base:
    """The base branch's accuracy, when known: the chart draws it as a third line."""

    branch: str
    accuracy: float


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
    threshold = _one_threshold(records)
    parts = [
        f"{records[-1].metric} ({CHART_COLOUR_NAMES[0]})",
        f"threshold {fmt_threshold(threshold) if threshold is not None else ''} ({CHART_COLOUR_NAMES[1]})",
    ]
    if base is not None:
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
    if base is not None:
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


def render_earlier(earlier: Sequence[RoundRecord], links: Links = Links()) -> str:
    """The pull request's earlier loops (a push of new code started the loop again), each collapsed:
    its rounds' table and why it stopped."""
    blocks = []
    for restart in sorted({r.restart for r in earlier}):
        rounds = [r for r in earlier if r.restart == restart]
        summary = (
            f"Earlier loop {restart + 1}, rounds {rounds[0].round}–{rounds[-1].round}: {rounds[-1].stopped}"
        )
        blocks.append(f"<details><summary>{summary}</summary>\n\n{render_table(rounds, links)}\n\n</details>")
    return "\n\n".join(blocks)


def render_diff(diff: str, title: str, limit: int = DIFF_LIMIT) -> str:
    if not diff:
        return ""
    body = diff if len(diff) <= limit else diff[:limit] + "\n… (diff cut; the commit has the whole change)\n"
    fence = "````" if "```" in body else "```"
    return f"<details><summary>{title}</summary>\n\n{fence}diff\n{body.rstrip()}\n{fence}\n\n</details>"


def render_report(
    records: Sequence[RoundRecord],
    verdict: Verdict,
    *,
    links: Links = Links(),
    diff: str = "",
    diff_title: str = "Latest model change",
    collapse: int = 0,
    notes: Sequence[str] = (),
    base: Base | None = None,
) -> str:
    """The Markdown report: verdict, table, why each change (collapsed), chart, the earlier loops
    (collapsed), latest diff, notes. ``base``: the base branch's accuracy, drawn in the chart."""
    earlier, records = hist.loops(records)
    parts = ["## keras-ct: continuous training", verdict_line(records, verdict)]
    if records:
        parts.append(render_table(records, links, min(collapse, len(records) - 1)))
        parts.append(render_rationales(records[min(collapse, len(records) - 1) :]))
        chart = render_chart(records, base)
        if chart and len(records) > 1:
            parts.append(chart)
        last = records[-1]
        if last.next_change:
            parts.append(f"**Next change** ({last.next_change}): {last.next_rationale}")
    parts.append(render_earlier(earlier, links))
    parts.extend(f"> {n}" for n in notes)
    if diff:
        parts.append(render_diff(diff, diff_title))
    return "\n\n".join(p for p in parts if p) + "\n"


def render_comment(
    records: Sequence[RoundRecord],
    verdict: Verdict,
    *,
    links: Links = Links(),
    diff: str = "",
    notes: Sequence[str] = (),
    limit: int = COMMENT_LIMIT,
    base: Base | None = None,
) -> str:
    """The sticky PR comment: marker + report + hidden history, under GitHub's size limit.

    When the body would be too long, the oldest rounds collapse first, then the diff is cut.
    The hidden history always keeps every round.
    """
    block = history_block(records)

    def body(collapse: int, diff_text: str) -> str:
        report = render_report(
            records, verdict, links=links, diff=diff_text, collapse=collapse, notes=notes, base=base
        )
        return f"{COMMENT_MARKER}\n{report}\n{block}\n"

    text = body(0, diff)
    collapse = 0
    while len(text) > limit and collapse < len(records) - 1:
        collapse += 1
        text = body(collapse, diff)
    diff_budget = DIFF_LIMIT
    while len(text) > limit and diff and diff_budget > 500:
        diff_budget //= 2
        text = body(collapse, diff[:diff_budget] + "\n… (diff cut; the commit has the whole change)\n")
    if len(text) > limit:
        text = body(collapse, "")
    if len(text) > limit:
        raise ValueError(f"the keras-ct comment is {len(text)} characters even with every round collapsed")
    return text


def render_terminal(records: Sequence[RoundRecord], verdict: Verdict) -> str:
    """A plain-text summary for a terminal."""
    lines = []
    head = f"{'round':>5}  {'accuracy':>8}  {'Δ':>8}  {'threshold':>9}  {'params':>9}  {'epochs':>6}  {'time':>8}  change"
    lines.append(head)
    lines.append("-" * len(head))
    best = marked_best(records)
    for i, r in enumerate(records):
        acc = fmt_accuracy(r.accuracy) if r.status != "error" else "error"
        change = (r.change or ("baseline" if r.round == 1 else "")) + _marks(r, best).replace(" ✅", "")
        lines.append(
            f"{r.round:>5}  {acc:>8}  {fmt_delta(hist.delta(records, i)):>8}  {fmt_threshold(r.threshold):>9}  "
            f"{fmt_count(r.params):>9}  {fmt_count(r.epochs):>6}  {fmt_duration(r.duration_s):>8}  {change}"
        )
    lines.append("")
    lines.append(verdict_line(records, verdict).replace("**", ""))
    last = records[-1] if records else None
    if last and last.next_change:
        lines.append(f"next change: {last.next_change}: {last.next_rationale}")
    return "\n".join(lines) + "\n"
