"""keras-ct against KerasTuner (pure): the search space, time and steps to the threshold, the verdicts.

The KerasTuner arm (bench/tuner.py) searches a space with the same kinds of changes keras-ct makes:
conv blocks, layer width, a hidden Dense's width, dropout, BatchNormalization, shift augmentation for
images, and epochs (RandomSearch samples 1x, 2x or 4x the task's epochs; Hyperband's schedule trains
up to 4x). Every arm trains on the same data, split and batch size (bench/tasks) and is judged on the
same held-out test accuracy. An arm's time is the sum of the training (``fit``) seconds of every
round or trial up to and including the first that reaches the threshold, or of everything it
trained when none did.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bench.stats import PolicyRun, Summary, Verdict, markdown_table, verdict_rows

TUNERS = ("random", "hyperband")
POLICIES = ("diagnose", "naive")
#: The goal: diagnose needs at least this many times less training than the better KerasTuner search.
SPEEDUP_GOAL = 2.0
SIZING = (
    "Sized for about 20 minutes of training on 2 shared cores: a search stops at its first trial at the "
    "threshold, or after {random} trials (RandomSearch) or {hyperband} (Hyperband: one iteration, "
    "max_epochs = 4x the task's epochs, factor 3; a search that ran out of its iteration first ended "
    "there); {seeds} seed(s) per search. keras-ct's seconds are the median of {repeats} replays of each loop, KerasTuner's one search "
    "per seed: read them with the replays' spread (min-max) as the noise."
)


@dataclass(frozen=True)
class Space:
    """One task's search space, anchored on its start model (the start is one point of the space)."""

    kind: str  # "conv2d", "conv1d" or "dense": what the start model's blocks are
    filters: int = 0  # the start model's first conv layer (0 for a dense model)
    kernel: int = 3
    pool_first: bool = True  # whether the start model pools after its conv layer
    units: int = 0  # the start model's hidden Dense width (0: none)
    image: bool = False  # augmentation allowed: shifts only (no flips: a digit's orientation is its label)

    def choices(self, epochs: int) -> dict[str, list[Any]]:
        """Every hyperparameter and its values; ``epochs`` is the task's (RandomSearch samples them)."""
        base = self.units or 16
        out: dict[str, list[Any]] = {
            "dense_units": ([0] if not self.units else []) + [base, base * 2, base * 4, base * 8],
            "dropout": [0.0, 0.25, 0.5],
            "batchnorm": [False, True],
            "epochs": [epochs, epochs * 2, epochs * 4],
        }
        if self.kind != "dense":
            out["conv_blocks"] = [0, 1, 2]  # blocks added after the start model's one
            out["width"] = [1, 2]  # conv filters multiplied by
        if self.image:
            out["augment"] = [False, True]
        return out

    def size(self, epochs: int) -> int:
        return math.prod(len(v) for v in self.choices(epochs).values())


SPACES: dict[str, Space] = {
    "digits_cnn": Space("conv2d", filters=16, image=True),
    "mlp": Space("dense", units=16),
    "small_split": Space("dense", units=512),
    "sequence": Space("conv1d", filters=8, kernel=5),
    "shifted_digits": Space("conv2d", filters=16, image=True),
    "raw_pixels": Space("conv2d", filters=8, pool_first=False, image=True),
}


@dataclass(frozen=True)
class Arm:
    """One arm on one task: rounds or trials, and training seconds, to the threshold (or all spent)."""

    task: str
    arm: str
    reached: bool
    steps: int  # rounds (keras-ct) or trials (KerasTuner) to the threshold, or all of them when missed
    train_s: float
    epochs: int
    best: float  # the best test accuracy it trained
    runs: int = 1  # measurements behind train_s (replays, or seeds)
    spread: str = ""  # the min-max behind train_s


def tuner_arm(task: str, arm: str, trials: Sequence[Mapping[str, Any]], threshold: float) -> Arm:
    """The trials in the order they ran: the first reaching ``threshold`` ends the count."""
    seconds, epochs = 0.0, 0
    for n, trial in enumerate(trials, start=1):
        seconds += float(trial["fit_s"])
        epochs += int(trial["epochs"])
        if trial["accuracy"] >= threshold:
            return Arm(task, arm, True, n, seconds, epochs, float(trial["accuracy"]))
    best = max((float(t["accuracy"]) for t in trials), default=0.0)
    return Arm(task, arm, False, len(trials), seconds, epochs, best)


def merge_seeds(arms: Sequence[Arm]) -> Arm:
    """Several seeds of one tuner on one task: the median seconds, reached only when every seed did."""
    first = arms[0]
    seconds = Summary.of([a.train_s for a in arms])
    return Arm(
        first.task,
        first.arm,
        all(a.reached for a in arms),
        round(statistics.median(a.steps for a in arms)),
        seconds.median,
        round(statistics.median(a.epochs for a in arms)),
        max(a.best for a in arms),
        len(arms),
        f"{seconds.low:.1f}-{seconds.high:.1f}" if len(arms) > 1 else "",
    )


def policy_arm(run: PolicyRun) -> Arm:
    seconds = Summary.of(run.train_s)
    return Arm(
        run.task,
        run.policy,
        run.reached,
        run.rounds,
        seconds.median,
        run.epochs,
        run.final_accuracy,
        seconds.n,
        f"{seconds.low:.1f}-{seconds.high:.1f}",
    )


def speedup(diagnose: Arm, tuners: Sequence[Arm]) -> float | None:
    """The better search's seconds over diagnose's (inf: no search reached; 0: diagnose did not)."""
    reached = [a.train_s for a in tuners if a.reached]
    if not diagnose.reached:
        return 0.0 if reached else None
    if not reached:
        return math.inf
    return min(reached) / diagnose.train_s if diagnose.train_s > 0 else math.inf


def compare(arms: Sequence[Arm]) -> dict[str, Any]:
    """Per task, every arm and diagnose's speed-up over the better search; the two goals."""
    by_task: dict[str, dict[str, Arm]] = {}
    for arm in arms:
        by_task.setdefault(arm.task, {})[arm.arm] = arm
    rows, ratios, missed = [], [], []
    for task, found in by_task.items():
        if "diagnose" not in found:
            raise ValueError(f"task {task} has no diagnose run")
        ratio = speedup(found["diagnose"], [found[t] for t in TUNERS if t in found])
        if ratio is not None:
            ratios.append(ratio)
        if not found["diagnose"].reached and any(a.reached for a in found.values()):
            missed.append(task)
        rows.append({"task": task, "arms": found, "speedup": ratio})
    median = statistics.median(ratios) if ratios else math.nan
    verdicts = [
        Verdict(
            "diagnose reaches every threshold that any arm reaches",
            f"no: missed {', '.join(missed)}" if missed else f"yes ({len(by_task)} of {len(by_task)} tasks)",
            not missed,
        ),
        Verdict(
            f"diagnose needs >= {SPEEDUP_GOAL:g}x less total training time than KerasTuner's better "
            "search on the median task",
            f"{_ratio(median)} on the median of {len(ratios)} task(s) ("
            + ", ".join(f"{r['task']} {_ratio(r['speedup'])}" for r in rows)
            + ")",
            median >= SPEEDUP_GOAL,  # NaN (no task) is never met; inf (no search reached) is
        ),
    ]
    return {"rows": rows, "median": median, "verdicts": verdicts}


def _ratio(value: float | None) -> str:
    if value is None:
        return "— (no arm reached)"
    if value == math.inf:
        return "∞ (no search reached)"
    return f"{value:.2f}x"


def _cell(arm: Arm | None) -> str:
    if arm is None:
        return "—"
    unit = "trial" if arm.arm in TUNERS else "round"
    state = f"reached ({arm.best:.3f})" if arm.reached else f"**not reached** (best {arm.best:.3f})"
    spread = f", {arm.spread}" if arm.spread else ""
    return f"{arm.steps} {unit}(s), {arm.epochs} epochs, {arm.train_s:.1f} s (n={arm.runs}{spread}); {state}"


def render(result: Mapping[str, Any], thresholds: Mapping[str, float], sizing: str) -> str:
    header = ["task / threshold", *POLICIES, *(f"KerasTuner {t}" for t in TUNERS), "better search / diagnose"]
    rows = [
        [
            f"{r['task']} / {thresholds.get(r['task'], 0):g}",
            *(_cell(r["arms"].get(name)) for name in (*POLICIES, *TUNERS)),
            _ratio(r["speedup"]),
        ]
        for r in result["rows"]
    ]
    return "\n".join(
        [
            "## keras-ct against KerasTuner: rounds or trials and training seconds to the threshold",
            "",
            sizing,
            "",
            markdown_table(header, rows),
            "",
            markdown_table(["goal", "measured", "verdict"], verdict_rows(result["verdicts"])),
            "",
        ]
    )
