"""Pure renderers: the round history in, Markdown or terminal text out.

The same renderer feeds the job summary, the sticky PR comment and ``keras-ct loop``'s report file.
Nothing here touches the world; golden-file tests pin the output.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

from keras_ct.chart import Base, render_chart
from keras_ct.fmt import (
    BEST_MARK,
    REVERT_MARK,
    fmt_accuracy,
    fmt_count,
    fmt_delta,
    fmt_duration,
    fmt_threshold,
    fmt_versus,
    marked_best,
    one_threshold,
)
from keras_ct.round import history as hist
from keras_ct.round.history import RoundRecord, history_block
from keras_ct.round.history import parse_history_block as parse_history_block

#: Hidden marker that identifies keras-ct's sticky PR comment (the unnamed model's; ``comment_marker``).
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
    #: The base branch's model the rounds are compared with (None: none was looked for).
    base: Base | None = None


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


def fork_status(policy: str, conclusion: str) -> tuple[StatusState, str]:
    """The status of a fork's pull request, set after its run (``keras-ct fork-status``): the state
    and description for ``fork-policy`` ``policy`` and the run's ``conclusion``."""
    if policy == "skip":
        return "failure", (
            "Not trained: a pull request from a fork (fork-policy skip); "
            "a maintainer can push the branch to this repository to train it"
        )[:STATUS_LIMIT]
    if conclusion == "success":
        return "success", "Trained on CPU (fork): see the run"
    if conclusion == "failure":
        return "failure", "Training on CPU (fork) failed or missed the threshold: see the run"
    return "error", f"The CPU training run (fork) ended {conclusion or 'without a conclusion'}: see the run"[
        :STATUS_LIMIT
    ]


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


def _marks(record: RoundRecord, best: RoundRecord | None) -> str:
    marks = [
        " ✅" if record.passed else "",
        f" {BEST_MARK}" if best is not None and record.round == best.round else "",
    ]
    if record.reverted_to is not None:
        marks.append(f" {REVERT_MARK} {record.reverted_to}")
    return "".join(marks)


def _threshold_note(records: Sequence[RoundRecord]) -> str:
    """The threshold, said once below the table (a column of it would not fit GitHub's column):
    "Threshold 0.95", or per run of rounds where it changed ("Threshold 0.9 for rounds 1–2, ...")."""
    if (one := one_threshold(records)) is not None or not records:
        return f"Threshold {fmt_threshold(one)}" if one is not None else ""
    spans = [list(span) for _, span in itertools.groupby(records, key=lambda r: r.threshold)]
    return "Threshold " + ", ".join(
        f"{fmt_threshold(s[0].threshold)} for "
        + (f"rounds {s[0].round}–{s[-1].round}" if len(s) > 1 else f"round {s[0].round}")
        for s in spans
    )


def _source_note(records: Sequence[RoundRecord]) -> str:
    """Which rounds' accuracy is not from held-out data: keras-ct's hooks took the last epoch's
    validation metric because the script called no ``evaluate`` (``RoundRecord.metric_source``)."""
    other = [r for r in records if r.metric_source not in ("", "evaluate") and r.accuracy is not None]
    if not other:
        return ""
    rounds = ", ".join(str(r.round) for r in other)
    word = "round" if len(other) == 1 else "rounds"
    return f"the accuracy of {word} {rounds} is the {other[-1].metric_source} (the script calls no evaluate)"


def _ahead_note(records: Sequence[RoundRecord]) -> str:
    """Which rounds took a kept candidate's training (``RoundRecord.trained_by``): their time is
    that candidate's, spent during the round before, not a second training."""
    ahead = [r for r in records if r.trained_by]
    return ", ".join(f"round {r.round} was trained as {r.trained_by}" for r in ahead)


def _legend(records: Sequence[RoundRecord]) -> str:
    best = marked_best(records)
    parts = [_threshold_note(records), f"{BEST_MARK} round {best.round} is the best" if best else ""]
    parts[-1] += f" ({fmt_accuracy(best.accuracy)})" if best else ""
    parts.append(_source_note(records))
    parts.append(_ahead_note(records))
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


def render_candidates(records: Sequence[RoundRecord]) -> str:
    """Every candidate change tried after a round that missed (``candidates`` above 1), collapsed:
    its accuracy, the kept one marked (the next round trains it: the table and the chart show it)."""
    blocks = []
    for r in records:
        if not r.candidates:
            continue
        lines = [
            f"| {i} | {_cell(c)} | {fmt_accuracy(a) if a is not None else 'failed'} | {'kept' if c == r.next_change else ''} |"
            for i, (c, a) in enumerate(r.candidates, 1)
        ]
        table = "\n".join(["| # | change | accuracy | |", "|---|---|---|---|", *lines])
        summary = f"After round {r.round}: {len(r.candidates)} candidate changes tried, kept {r.next_change}"
        blocks.append(f"<details><summary>{summary}</summary>\n\n{table}\n\n</details>")
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
) -> str:
    """The Markdown report: verdict, the base branch's model, table, why each change (collapsed), chart,
    the earlier loops (collapsed), latest diff, notes."""
    earlier, records = hist.loops(records)
    parts = ["## keras-ct: continuous training", verdict_line(records, verdict)]
    if verdict.base is not None:
        parts.append(f"**Compared with:** {verdict.base.line}")
    if records:
        parts.append(render_table(records, links, min(collapse, len(records) - 1)))
        parts.append(render_rationales(records[min(collapse, len(records) - 1) :]))
        chart = render_chart(records, verdict.base)
        if chart and len(records) > 1:
            parts.append(chart)
        parts.append(render_candidates(records))
        last = records[-1]
        if last.next_change:
            parts.append(f"**Next change** ({last.next_change}): {last.next_rationale}")
    parts.append(render_earlier(earlier, links))
    parts.extend(f"> {n}" for n in notes)
    if diff:
        parts.append(render_diff(diff, diff_title))
    return "\n\n".join(p for p in parts if p) + "\n"


def comment_marker(name: str = "") -> str:
    """The sticky comment's marker for the model ``name``: ``COMMENT_MARKER`` for the unnamed one,
    ``<!-- keras-ct:comment:NAME -->`` else (neither contains the other, so each finds its own)."""
    return COMMENT_MARKER.replace(" -->", f":{name} -->") if name else COMMENT_MARKER


def render_comment(
    records: Sequence[RoundRecord],
    verdict: Verdict,
    *,
    links: Links = Links(),
    diff: str = "",
    notes: Sequence[str] = (),
    limit: int = COMMENT_LIMIT,
    name: str = "",
) -> str:
    """The sticky PR comment: marker + report + hidden history, under GitHub's size limit.

    When the body would be too long, the oldest rounds collapse first, then the diff is cut.
    The hidden history always keeps every round.
    """
    block = history_block(records)

    def body(collapse: int, diff_text: str) -> str:
        report = render_report(records, verdict, links=links, diff=diff_text, collapse=collapse, notes=notes)
        return f"{comment_marker(name)}\n{report}\n{block}\n"

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
