"""Pure renderers: the round history in, Markdown or terminal text out.

The same renderer feeds the job summary, the sticky PR comment and ``keras-ct loop``'s report file.
Nothing here touches the world; golden-file tests pin the output.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Literal

from keras_ct.round import history as hist
from keras_ct.round.history import EpochCurves, RoundRecord
from keras_ct.train.metrics import meets

#: Hidden marker that identifies keras-ct's sticky PR comment (the unnamed model's; ``comment_marker``).
COMMENT_MARKER = "<!-- keras-ct:comment -->"
HISTORY_OPEN = "<!-- keras-ct:history "
HISTORY_CLOSE = " -->"
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
    if not record.change:
        return "baseline" if record.round == 1 else "—"
    return f"**{record.change}**: {record.rationale}" if record.rationale else f"**{record.change}**"


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


def _legend(records: Sequence[RoundRecord]) -> str:
    best = marked_best(records)
    parts = [f"{BEST_MARK} round {best.round} is the best ({fmt_accuracy(best.accuracy)})" if best else ""]
    if any(r.reverted_to is not None for r in records):
        parts.append(
            f"{REVERT_MARK} N: below the best by more than {hist.NOISE_MARGIN:g}, so round N's files were "
            "put back"
        )
    return "; ".join(p for p in parts if p) + ("." if any(parts) else "")


def _row(records: Sequence[RoundRecord], index: int, links: Links) -> str:
    r = records[index]
    run = f"[run]({r.run_url})" if r.run_url else "—"
    accuracy = fmt_accuracy(r.accuracy) if r.status != "error" else f"error: {_cell(r.error)[:120]}"
    mark = _marks(r, marked_best(records))
    cells = [
        str(r.round),
        links.commit(r.commit) or "—",
        _change_cell(r),
        fmt_count(r.params),
        fmt_count(r.epochs),
        accuracy + mark,
        fmt_delta(hist.delta(records, index)),
        fmt_threshold(r.threshold),
        fmt_duration(r.duration_s),
        run,
    ]
    return "| " + " | ".join(_cell(c) for c in cells) + " |"


TABLE_HEAD = (
    "| Round | Commit | Change | Params | Epochs | Accuracy | Δ | Threshold | Duration | Run |\n"
    "|---:|---|---|---:|---:|---:|---:|---:|---:|---|"
)


def render_table(records: Sequence[RoundRecord], links: Links = Links(), collapse: int = 0) -> str:
    """The history table; the ``collapse`` oldest rounds fold into one summary row."""
    rows = [TABLE_HEAD]
    if collapse:
        folded = records[:collapse]
        accs = [r.accuracy for r in folded if r.accuracy is not None]
        best = fmt_accuracy(max(accs)) if accs else "—"
        rows.append(
            f"| {folded[0].round}–{folded[-1].round} | … | {len(folded)} earlier rounds (collapsed) "
            f"| | | best {best} | | | | |"
        )
    rows.extend(_row(records, i, links) for i in range(collapse, len(records)))
    legend = _legend(records)
    return "\n".join(rows) + (f"\n\n{legend}" if legend else "")


def render_chart(records: Sequence[RoundRecord]) -> str:
    """A Mermaid xychart of accuracy per round against the threshold (GitHub renders it)."""
    scored = [r for r in records if r.accuracy is not None]
    if not scored:
        return ""
    xs = ", ".join(str(r.round) for r in scored)
    accs = ", ".join(fmt_accuracy(r.accuracy) for r in scored)
    thresholds = ", ".join(fmt_threshold(r.threshold) for r in scored)
    low = min([r.accuracy for r in scored if r.accuracy is not None] + [r.threshold for r in scored])
    floor = max(0.0, int(low * 10) / 10 - 0.1)
    best = marked_best(records)
    title = "Accuracy per round (line 2: threshold" + (f"; best: round {best.round})" if best else ")")
    return (
        "```mermaid\n"
        "xychart-beta\n"
        f'  title "{title}"\n'
        f'  x-axis "Round" [{xs}]\n'
        f'  y-axis "Accuracy" {floor:.1f} --> 1.0\n'
        f"  line [{accs}]\n"
        f"  line [{thresholds}]\n"
        "```"
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
) -> str:
    """The Markdown report: verdict, table, chart, the earlier loops (collapsed), latest diff, notes."""
    earlier, records = hist.loops(records)
    parts = ["## keras-ct: continuous training", verdict_line(records, verdict)]
    if records:
        parts.append(render_table(records, links, min(collapse, len(records) - 1)))
        chart = render_chart(records)
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


#: Stored text fields are cut to this length, and only the newest rounds keep their per-epoch curves
#: (the policy reads those), so the hidden history stays small whatever the round count.
STORED_TEXT_LIMIT = 400
STORED_CURVE_ROUNDS = 2


def _for_storage(records: Sequence[RoundRecord]) -> list[RoundRecord]:
    def cut(text: str) -> str:
        return text if len(text) <= STORED_TEXT_LIMIT else text[: STORED_TEXT_LIMIT - 1] + "…"

    keep_curves = {r.round for r in records[-STORED_CURVE_ROUNDS:]}
    return [
        replace(
            r,
            rationale=cut(r.rationale),
            next_rationale=cut(r.next_rationale),
            error=cut(r.error),
            curves=r.curves if r.round in keep_curves else EpochCurves(),
        )
        for r in records
    ]


def history_block(records: Sequence[RoundRecord]) -> str:
    """The machine-readable history, safe inside an HTML comment."""
    payload = hist.dumps(_for_storage(records)).replace("--", "-\\u002d").replace(">", "\\u003e")
    return f"{HISTORY_OPEN}{payload}{HISTORY_CLOSE}"


def parse_history_block(body: str) -> hist.History:
    """Read the history back out of a comment body; empty if the comment has none."""
    start = body.find(HISTORY_OPEN)
    if start < 0:
        return ()
    start += len(HISTORY_OPEN)
    end = body.find(HISTORY_CLOSE, start)
    if end < 0:
        raise ValueError("the keras-ct history block in the PR comment is not closed")
    return hist.loads(body[start:end])


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
