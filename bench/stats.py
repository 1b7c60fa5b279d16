"""The benchmark's arithmetic, kept pure so it is unit-tested: summaries, ratios, goal verdicts.

Every figure in RESULTS.md is a ``Summary`` (median, min, max, n) of repeated measurements; goals are
``Verdict``s computed from those summaries, never typed in by hand.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

MIN_RUNS = 5


@dataclass(frozen=True)
class Summary:
    median: float
    low: float
    high: float
    n: int

    @classmethod
    def of(cls, values: Sequence[float]) -> Summary:
        clean = [float(v) for v in values if v is not None and math.isfinite(float(v))]
        if not clean:
            raise ValueError("no finite values to summarise")
        return cls(statistics.median(clean), min(clean), max(clean), len(clean))

    def fmt(self, digits: int = 2, unit: str = "") -> str:
        """``3.10 s (2.95-3.40, n=5)``."""
        return f"{self.median:.{digits}f}{unit} ({self.low:.{digits}f}-{self.high:.{digits}f}, n={self.n})"

    def to_json(self) -> dict[str, float]:
        return {"median": self.median, "min": self.low, "max": self.high, "n": self.n}


@dataclass(frozen=True)
class Verdict:
    goal: str
    value: str
    met: bool

    @property
    def mark(self) -> str:
        return "met" if self.met else "**missed**"


def paired_ratios(numerators: Sequence[float], denominators: Sequence[float]) -> list[float]:
    """Ratios of interleaved A/B pairs (run i of A against run i of B)."""
    if len(numerators) != len(denominators):
        raise ValueError(f"unpaired runs: {len(numerators)} against {len(denominators)}")
    return [a / b for a, b in zip(numerators, denominators, strict=True) if b > 0]


def at_most(goal: str, summary: Summary, limit: float, digits: int = 3, unit: str = "") -> Verdict:
    """Met when the median is at most ``limit`` (the min/max are shown beside it)."""
    return Verdict(goal, summary.fmt(digits, unit), summary.median <= limit)


def first_reaching(curve: Sequence[float], target: float) -> int | None:
    """1-based epoch at which ``curve`` first reaches ``target`` (None when it never does)."""
    for i, value in enumerate(curve, start=1):
        if value >= target - 1e-9:
            return i
    return None


def seconds_to(epoch_s: Sequence[float], epochs: int | None) -> float | None:
    """Training seconds of the first ``epochs`` epochs."""
    if epochs is None:
        return None
    return float(sum(epoch_s[:epochs]))


@dataclass(frozen=True)
class WarmCase:
    """One warm/cold pair of the same model: test accuracy per epoch and seconds per epoch."""

    cold_curve: Sequence[float]
    cold_epoch_s: Sequence[float]
    warm_curve: Sequence[float]
    warm_epoch_s: Sequence[float]
    #: Finer probes, when recorded: (training seconds so far, test accuracy), a few per epoch.
    cold_probes: Sequence[Sequence[float]] = ()
    warm_probes: Sequence[Sequence[float]] = ()

    @property
    def target(self) -> float:
        """The cold start's final accuracy: what the warm start has to reach."""
        return self.cold_curve[-1]

    def cold_epochs(self) -> int:
        reached = first_reaching(self.cold_curve, self.target)
        assert reached is not None  # the final epoch reaches it by definition
        return reached

    def warm_epochs(self) -> int | None:
        return first_reaching(self.warm_curve, self.target)

    def saving(self) -> tuple[float | None, float | None]:
        """Fractions of epochs and seconds saved by the warm start (None when it never got there)."""
        warm_e = self.warm_epochs()
        if warm_e is None:
            return None, None
        cold_e = self.cold_epochs()
        cold_s = seconds_to(self.cold_epoch_s, cold_e) or 0.0
        warm_s = seconds_to(self.warm_epoch_s, warm_e) or 0.0
        return 1 - warm_e / cold_e, (1 - warm_s / cold_s) if cold_s > 0 else None

    def probe_seconds(self) -> tuple[float | None, float | None]:
        """Training seconds until the probes first reach the target: (cold, warm); None when never."""
        return _first_probe(self.cold_probes, self.target), _first_probe(self.warm_probes, self.target)

    def probe_saving(self) -> float | None:
        """Fraction of training seconds saved, measured between probes (None without probes or target)."""
        cold, warm = self.probe_seconds()
        if cold is None or warm is None or cold <= 0:
            return None
        return 1 - warm / cold

    def final_delta(self) -> float:
        """Warm minus cold final accuracy after the same epochs."""
        return self.warm_curve[-1] - self.cold_curve[-1]


def _first_probe(probes: Sequence[Sequence[float]], target: float) -> float | None:
    for seconds, accuracy in probes:
        if accuracy >= target - 1e-9:
            return float(seconds)
    return None


@dataclass(frozen=True)
class PolicyRun:
    """One task's loop under one policy: rounds, whether it reached, training seconds per replay."""

    task: str
    policy: str
    rounds: int
    reached: bool
    epochs: int
    train_s: Sequence[float]  # total training seconds, one per repeat
    final_accuracy: float
    changes: Sequence[str] = ()
    stopped: str = ""
    #: What was trained, round by round (e.g. (model source digest, epochs)): two runs with the same
    #: trajectory did the same training, so their seconds differ only by measurement noise.
    trajectory: Sequence[Any] = ()


def compare_policies(
    runs: Sequence[PolicyRun], *, better: str = "diagnose", baseline: str = "naive"
) -> dict[str, Any]:
    """Per task and in total: training seconds of ``better`` against ``baseline``, with the goals.

    Two runs that trained the same models for the same epochs (equal ``trajectory``) count as equal
    time whatever the noise in their seconds.

    A run that did not reach the threshold spent its seconds without getting there: its time to the
    threshold is unknown (infinite when its policy had no change left). Per task, the goal (never more
    time than the baseline) fails when ``better`` did not reach and the baseline did, or needed more
    seconds. The total ratio is taken over the tasks **both** reached, like for like; the tasks only
    ``better`` reached are listed beside it (the baseline never got there, at any cost), and the ratio
    of all seconds spent is kept too (``all_ratio``, a lower bound when the baseline missed a task).
    """
    by_task: dict[str, dict[str, PolicyRun]] = {}
    for run in runs:
        by_task.setdefault(run.task, {})[run.policy] = run
    tasks = []
    both: dict[str, float] = {better: 0.0, baseline: 0.0}
    spent: dict[str, float] = {better: 0.0, baseline: 0.0}
    never_more = True
    only_better: list[str] = []
    only_baseline: list[str] = []
    for task, pair in by_task.items():
        if better not in pair or baseline not in pair:
            raise ValueError(f"task {task} lacks a {better} or {baseline} run")
        a, b = pair[better], pair[baseline]
        sa, sb = Summary.of(a.train_s), Summary.of(b.train_s)
        if a.reached and b.reached:
            ok = sa.median <= sb.median or (bool(a.trajectory) and tuple(a.trajectory) == tuple(b.trajectory))
            both[better] += sa.median
            both[baseline] += sb.median
        elif a.reached:
            ok = True
            only_better.append(task)
        else:
            ok = False
            if b.reached:
                only_baseline.append(task)
        never_more = never_more and ok
        spent[better] += sa.median
        spent[baseline] += sb.median
        tasks.append(
            {
                "task": task,
                better: a,
                baseline: b,
                f"{better}_s": sa,
                f"{baseline}_s": sb,
                "ratio": sb.median / sa.median if sa.median > 0 else math.inf,
                "ok": ok,
                "same_training": bool(a.trajectory) and tuple(a.trajectory) == tuple(b.trajectory),
            }
        )
    ratio = both[baseline] / both[better] if both[better] > 0 else math.nan
    value = f"{ratio:.2f}x on the tasks both reached" if math.isfinite(ratio) else "no task reached by both"
    if only_better:
        value += f"; {baseline} never reached {', '.join(only_better)}"
    if only_baseline:
        value += f"; {better} never reached {', '.join(only_baseline)}"
    twice = math.isfinite(ratio) and ratio >= 2.0 and not only_baseline
    return {
        "tasks": tasks,
        "total": {
            better: both[better],
            baseline: both[baseline],
            "ratio": ratio,
            f"only_{better}": only_better,
            f"only_{baseline}": only_baseline,
            f"all_{better}": spent[better],
            f"all_{baseline}": spent[baseline],
            "all_ratio": spent[baseline] / spent[better] if spent[better] > 0 else math.inf,
        },
        "verdicts": [
            Verdict(
                f"{better} never needs more training time than {baseline} on any task",
                _yes(never_more),
                never_more,
            ),
            Verdict(f"{better} needs at least 2x less training time in total", value, twice),
            Verdict(
                f"the same, as time to the threshold over the whole suite (a task {baseline} never "
                "reaches counts as unbounded time)",
                _to_threshold(ratio, only_better, only_baseline, baseline),
                not only_baseline and (bool(only_better) or (math.isfinite(ratio) and ratio >= 2.0)),
            ),
        ],
    }


def _to_threshold(
    ratio: float, only_better: Sequence[str], only_baseline: Sequence[str], baseline: str
) -> str:
    if only_baseline:
        return f"no: {baseline} alone reached {', '.join(only_baseline)}"
    if only_better:
        return f"unbounded: {baseline} never reaches {len(only_better)} task(s) ({', '.join(only_better)})"
    return f"{ratio:.2f}x" if math.isfinite(ratio) else "no task reached"


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def verdict_rows(verdicts: Sequence[Verdict]) -> list[list[str]]:
    return [[v.goal, v.value, v.mark] for v in verdicts]


def jsonable(value: Any) -> Any:
    """Dataclasses (Summary, Verdict, PolicyRun...) to plain JSON values, recursively."""
    if isinstance(value, Summary):
        return value.to_json()
    if isinstance(value, Verdict):
        return {"goal": value.goal, "value": value.value, "met": value.met}
    if hasattr(value, "__dataclass_fields__"):
        return {k: jsonable(getattr(value, k)) for k in value.__dataclass_fields__}
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value
