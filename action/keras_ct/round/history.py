"""The round history: plain, frozen data shared by the policy, the reports and the GitHub state.

A ``RoundRecord`` is what one round of training produced. The history is a tuple of them, oldest
first. It is serialised as compact JSON so it can live in a hidden block of the PR comment (it must
survive across workflow runs and runners; never on local disk).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

HISTORY_VERSION = 1


@dataclass(frozen=True)
class EpochCurves:
    """Per-epoch learning curves as the training script reported them (lists may be empty)."""

    loss: tuple[float, ...] = ()
    accuracy: tuple[float, ...] = ()
    val_loss: tuple[float, ...] = ()
    val_accuracy: tuple[float, ...] = ()

    @classmethod
    def from_mapping(cls, data: Mapping[str, Sequence[float]] | None) -> EpochCurves:
        data = data or {}
        return cls(**{name: tuple(float(v) for v in data.get(name, ())) for name in _CURVE_NAMES})

    def to_mapping(self) -> dict[str, list[float]]:
        return {
            name: [round(v, 6) for v in getattr(self, name)] for name in _CURVE_NAMES if getattr(self, name)
        }


_CURVE_NAMES = ("loss", "accuracy", "val_loss", "val_accuracy")


@dataclass(frozen=True)
class RoundRecord:
    """One finished (or failed) round.

    ``change`` and ``rationale`` describe the augmentation that *produced the model trained in this
    round* (empty for round 1). ``next_change``/``next_rationale`` describe the augmentation made
    after this round (empty when none was made). ``status`` is one of ``passed``, ``missed``, ``error``.
    """

    round: int
    accuracy: float | None
    threshold: float
    status: str
    metric: str = "accuracy"
    commit: str = ""
    change: str = ""
    rationale: str = ""
    params: int | None = None
    epochs: int | None = None
    duration_s: float | None = None
    run_url: str = ""
    curves: EpochCurves = field(default_factory=EpochCurves)
    next_change: str = ""
    next_rationale: str = ""
    next_commit: str = ""
    error: str = ""
    #: Keep the best: this round was worse than round ``reverted_to`` by more than ``NOISE_MARGIN``,
    #: so that round's files were put back (``revert_commit``: the commit that did it) before the next
    #: change; ``change`` is the change that failed.
    reverted_to: int | None = None
    revert_commit: str = ""
    #: Which loop of the pull request the round belongs to: 0 for the first, one more each time a push
    #: of new code started the loop again at round 1 (``restarted``). ``stopped``: on an earlier loop's
    #: last round, why that loop ended.
    restart: int = 0
    stopped: str = ""
    #: With ``candidates`` above 1: every candidate change tried after this round, in the policy's
    #: order, as (change, accuracy or None when it failed); ``next_change`` is the one kept.
    candidates: tuple[tuple[str, float | None], ...] = ()
    #: Where the accuracy came from (``train.metrics.Metrics.source``): "evaluate", "last val_accuracy".
    metric_source: str = ""
    #: Set when the round did not train itself: the kept candidate that trained its code already
    #: (``train.ahead``), e.g. "candidate 2 of round 1".
    trained_by: str = ""

    @property
    def passed(self) -> bool:
        return self.status == "passed"

    def to_mapping(self) -> dict[str, Any]:
        data = asdict(self)
        data["curves"] = self.curves.to_mapping()
        if not self.restart:
            del data["restart"]
        return {k: v for k, v in data.items() if v not in ("", None, {}, ())}

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> RoundRecord:
        known = {f for f in cls.__dataclass_fields__}
        kwargs = {k: v for k, v in data.items() if k in known and k != "curves"}
        kwargs.setdefault("accuracy", None)  # to_mapping drops it for a failed round, which has none
        missing = [name for name in ("round", "threshold", "status") if name not in kwargs]
        if missing:
            raise ValueError(f"a round record lacks {', '.join(missing)}")
        if "candidates" in kwargs:
            kwargs["candidates"] = tuple(
                (str(c), None if a is None else float(a)) for c, a in kwargs["candidates"]
            )
        return cls(curves=EpochCurves.from_mapping(data.get("curves")), **kwargs)

    def with_next(
        self,
        change: str,
        rationale: str,
        commit: str = "",
        candidates: tuple[tuple[str, float | None], ...] | None = None,
    ) -> RoundRecord:
        tried = self.candidates if candidates is None else candidates
        return replace(
            self, next_change=change, next_rationale=rationale, next_commit=commit, candidates=tried
        )


History = tuple[RoundRecord, ...]

#: How much worse than the best round a round may score and still count as as good (training noise):
#: 0.002, one sample of a 500-sample test set (20 of MNIST's 10,000). A round below the best by more
#: is reverted; one within it is kept, so the loop does not undo a change for a coin-flip difference.
NOISE_MARGIN = 0.002


def best_round(history: Sequence[RoundRecord]) -> RoundRecord | None:
    """The round with the highest metric (the earliest of equals); None before any round scored."""
    scored = [r for r in history if r.accuracy is not None and r.status != "error"]
    return max(scored, key=lambda r: (r.accuracy or 0.0, -r.round)) if scored else None


def worse_than_best(record: RoundRecord, history: Sequence[RoundRecord]) -> RoundRecord | None:
    """The best round, when ``record`` scored below it by more than ``NOISE_MARGIN``; else None."""
    best = best_round(history)
    if best is None or best.round == record.round or record.accuracy is None or best.accuracy is None:
        return None
    return best if record.accuracy < best.accuracy - NOISE_MARGIN else None


def loops(history: Sequence[RoundRecord]) -> tuple[History, History]:
    """The earlier loops' rounds and the current loop's (the highest ``restart``)."""
    latest = max((r.restart for r in history), default=0)
    return tuple(r for r in history if r.restart < latest), tuple(r for r in history if r.restart == latest)


def restarted(history: Sequence[RoundRecord], round_number: int, head: str) -> tuple[History, History, int]:
    """(earlier loops, current loop, its ``restart``) as round ``round_number`` starts on ``head``.

    Round 1 on other code than the current loop's round 1 trained (a push of new code) starts a new
    loop: the current loop's rounds become an earlier loop, and its last round says why it stopped.
    A run of round 1 on the same code (a failed round 1 run again) stays in the loop.
    """
    earlier, current = loops(history)
    first = next((r for r in current if r.round == 1), None)
    if round_number != 1 or first is None or not head or first.commit == head:
        return earlier, current, current[0].restart if current else 0
    last = current[-1]
    why = f"{_ended(last)}; then a push ({head[:7]}) started the loop again at round 1"
    return (*earlier, *current[:-1], replace(last, stopped=why)), (), last.restart + 1


def _ended(last: RoundRecord) -> str:
    if last.passed:
        return f"it passed at round {last.round}"
    if last.status == "error":
        return f"round {last.round} failed"
    if last.next_commit:
        return f"round {last.round + 1} was on its way"
    return f"it stopped after round {last.round}"


def delta(history: Sequence[RoundRecord], index: int) -> float | None:
    """Accuracy change of round ``index`` against the previous round with an accuracy."""
    current = history[index].accuracy
    if current is None:
        return None
    for previous in reversed(history[:index]):
        if previous.accuracy is not None:
            return current - previous.accuracy
    return None


def upsert(history: Iterable[RoundRecord], record: RoundRecord) -> History:
    """Return the history with ``record`` replacing any earlier record of the same round."""
    rounds = {r.round: r for r in history}
    rounds[record.round] = record
    return tuple(rounds[k] for k in sorted(rounds))


def dumps(history: Sequence[RoundRecord]) -> str:
    return json.dumps(
        {"version": HISTORY_VERSION, "rounds": [r.to_mapping() for r in history]},
        separators=(",", ":"),
        sort_keys=True,
        allow_nan=False,
    )


def loads(text: str) -> History:
    data = json.loads(text)
    if not isinstance(data, dict) or data.get("version") != HISTORY_VERSION:
        raise ValueError(
            f"unsupported keras-ct history version: {data.get('version') if isinstance(data, dict) else data!r}"
        )
    records = [RoundRecord.from_mapping(r) for r in data.get("rounds", [])]
    for r in records:
        if r.accuracy is not None and not math.isfinite(r.accuracy):
            raise ValueError(f"round {r.round} has a non-finite accuracy")
    return tuple(sorted(records, key=lambda r: (r.restart, r.round)))


#: The hidden history block in keras-ct's PR comment (``report.render_comment`` writes it).
HISTORY_OPEN = "<!-- keras-ct:history "
HISTORY_CLOSE = " -->"
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
    payload = dumps(_for_storage(records)).replace("--", "-\\u002d").replace(">", "\\u003e")
    return f"{HISTORY_OPEN}{payload}{HISTORY_CLOSE}"


def parse_history_block(body: str) -> History:
    """Read the history back out of a comment body; empty if the comment has none."""
    start = body.find(HISTORY_OPEN)
    if start < 0:
        return ()
    start += len(HISTORY_OPEN)
    end = body.find(HISTORY_CLOSE, start)
    if end < 0:
        raise ValueError("the keras-ct history block in the PR comment is not closed")
    return loads(body[start:end])
