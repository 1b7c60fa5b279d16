"""Which change next: a pure function from the round history to ordered candidate changes.

``decide`` reads the last round's learning curves (train/val accuracy per epoch), what changed before
it and whether that helped, and returns candidates best first. Each ``Decision`` carries the diagnosis
("accuracy 0.9100 < 0.95 and train accuracy 0.9200 < 0.95: the model underfits"); the rationale is
finished once the edit knows its exact words ("..., adding a Conv2D(64) + MaxPooling2D block").

The states are defined against the threshold, as the bias/variance recipe does (Goodfellow, Bengio and
Courville, *Deep Learning*, 2016, section 11.4: poor performance on the training set calls for a larger
model or longer training, good training but poor test performance for regularisation or more data;
Ng, *Machine Learning Yearning*, chapters 25 and 27: techniques for reducing avoidable bias, then
variance). ``Diagnosis.state`` checks, in order:

1. ``stopped-early``: the metric is still rising (its gain in the last epoch >= ``IMPROVING_GAIN``)
   and the projection reaches the threshold: the accuracy plus the last gain fading linearly to zero
   over as many epochs again (min(1, accuracy + gain * epochs / 2) >= threshold) -> epochs (with lr-schedule)
   first, then what the curves say without them.
2. ``no-curves``: no train accuracy reported -> capacity, worded as a guess.
3. ``data-mismatch``: validation accuracy at or above the threshold, the metric (a test set) below it
   by at least ``MISMATCH_GAP``: the model does well on data like its training data, not on the data it
   is judged on (Ng, chapters 36-40: a train/test distribution mismatch is addressed by making the
   training data more like the test data, e.g. artificial data synthesis) -> augment-data first, then
   capacity to learn the wider data, then the rest. A smaller val-test difference is sampling noise.
4. ``underfits``: train accuracy below the threshold (the model cannot fit the training data to it)
   -> capacity first (conv-block, dense, widen), then epochs if still rising, then batch-norm.
   Regularisation lowers the training fit further (Ng, chapter 25): dropout comes last, only as a
   last resort when nothing before it builds or helps, and augment-data and l2 are not offered.
5. ``generalisation-gap``: train accuracy at or above the threshold while val or test accuracy is
   below -> regularise first (dropout, augment-data, l2, batch-norm), then epochs if still rising,
   then capacity (a different architecture, Ng chapter 27), never capacity first.

"At or above" is ``train.metrics.meets`` (float32 rounding allowed), as for the round's verdict. A
change whose round gained no more than ``NO_GAIN`` goes to the back of the list, and after two such
rounds in a row it is not offered at all. Names not in ``available`` (the config's ``CHANGES``) drop out.

The ``naive`` policy is the seed's rule (always add a Conv2D + MaxPooling block), kept for comparison.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Literal

from keras_ct.config import CHANGES as CONFIG_CHANGES
from keras_ct.config import POLICIES
from keras_ct.fmt import fmt_accuracy, fmt_versus
from keras_ct.round.history import RoundRecord, delta
from keras_ct.train.metrics import meets

# One source for the names: the config (which the CLI and the action inputs validate against).
CHANGES = tuple(c for c in CONFIG_CHANGES if c != "auto")

IMPROVING_GAIN = 0.01  # val (or train) accuracy rose at least this much in the last epoch: still rising
NO_GAIN = 0.002  # a change whose round gained no more than this did not help
MISMATCH_GAP = 0.05  # val accuracy above the metric by at least this (val at the threshold): a data mismatch

State = Literal["stopped-early", "no-curves", "data-mismatch", "underfits", "generalisation-gap"]

CAPACITY = ("conv-block", "dense", "widen")
REGULARISE = ("dropout", "augment-data", "l2", "batch-norm")
MORE_EPOCHS = ("epochs", "lr-schedule")
#: Without curves to read (no round yet, or none reported): capacity first, as a guess.
GUESS = (*CAPACITY, "epochs", "dropout")

#: The words a rationale uses for each change before its edit is planned (the edit then gives its own).
GENERIC_ACTION = {
    "conv-block": "adding a convolution block",
    "dense": "adding a hidden Dense layer",
    "widen": "widening a layer",
    "dropout": "adding Dropout",
    "augment-data": "adding data augmentation",
    "l2": "adding L2 weight decay",
    "batch-norm": "adding BatchNormalization",
    "epochs": "training for more epochs",
    "lr-schedule": "adding a learning-rate schedule",
}


@dataclass(frozen=True)
class Decision:
    """A candidate change and why: ``diagnosis`` is the reason, ``rationale()`` the full sentence."""

    change: str
    diagnosis: str

    def rationale(self, action: str = "") -> str:
        """The one-sentence rationale, with the edit's own words when known (``Edit.action``)."""
        return f"{self.diagnosis}, {action or GENERIC_ACTION[self.change]}"


@dataclass(frozen=True)
class Diagnosis:
    """What the last round's curves say. Accuracies are None when the training script did not report them."""

    accuracy: float
    threshold: float
    train_accuracy: float | None
    val_accuracy: float | None
    last_gain: float | None  # val (or train) accuracy gain over the last epoch
    epochs: int
    metric: str = "accuracy"
    curve: str = "val accuracy"  # the curve ``last_gain`` is measured on

    @property
    def improving(self) -> bool:
        return self.last_gain is not None and self.last_gain >= IMPROVING_GAIN

    @property
    def projected(self) -> float | None:
        """The accuracy after as many epochs again, the last gain fading linearly to zero, at most 1
        (None unless still rising)."""
        if not self.improving or self.epochs < 2:
            return None
        return min(1.0, self.accuracy + (self.last_gain or 0.0) * self.epochs / 2)

    @property
    def mismatch(self) -> float | None:
        """How far the metric lies below a val accuracy that meets the threshold (None when val misses it)."""
        if self.val_accuracy is None or not meets(self.val_accuracy, self.threshold):
            return None
        return self.val_accuracy - self.accuracy

    @property
    def state(self) -> State:
        if self.projected is not None and meets(self.projected, self.threshold):
            return "stopped-early"
        if self.train_accuracy is None:
            return "no-curves"
        if self.mismatch is not None and meets(self.mismatch, MISMATCH_GAP):
            return "data-mismatch"
        if not meets(self.train_accuracy, self.threshold):
            return "underfits"
        return "generalisation-gap"


def diagnose(record: RoundRecord) -> Diagnosis:
    """Read one round's learning curves."""
    curves = record.curves
    series = curves.val_accuracy or curves.accuracy
    gain = series[-1] - series[-2] if len(series) >= 2 else None
    return Diagnosis(
        accuracy=float(record.accuracy if record.accuracy is not None else 0.0),
        threshold=record.threshold,
        train_accuracy=curves.accuracy[-1] if curves.accuracy else None,
        val_accuracy=curves.val_accuracy[-1] if curves.val_accuracy else None,
        last_gain=gain,
        epochs=record.epochs or len(series),
        metric=record.metric,
        curve="val accuracy" if curves.val_accuracy else "train accuracy",
    )


def decide(
    history: Sequence[RoundRecord],
    *,
    policy: str = "diagnose",
    available: Collection[str] = CHANGES,
) -> tuple[Decision, ...]:
    """Candidate changes for the round after ``history[-1]``, best first (empty when none is needed)."""
    if policy not in POLICIES:
        raise ValueError(f"policy must be one of {', '.join(POLICIES)}, got {policy!r}")
    if history and (history[-1].accuracy is None or meets(history[-1].accuracy, history[-1].threshold)):
        return ()
    if policy == "naive":
        reason = "the naive policy always adds a convolution block"
        if history:
            last = history[-1]
            reason = f"{last.metric} {fmt_versus(last.accuracy, last.threshold)}: {reason}"
        return _decisions(["conv-block"], reason, available)
    if not history:
        return _decisions(GUESS, "no round has been trained yet: more capacity first", available)
    return _diagnose(history, available)


def candidates(d: Diagnosis) -> list[str]:
    """The candidate changes for a diagnosis, best first, before the history and ``available`` filter them."""
    rising = list(MORE_EPOCHS) if d.improving else []
    underfit = [*CAPACITY, *rising, "batch-norm", "dropout"]
    gap = [*REGULARISE, *rising, *CAPACITY]
    if d.state == "stopped-early":
        fits = d.train_accuracy is not None and meets(d.train_accuracy, d.threshold)
        return [*MORE_EPOCHS, *(gap if fits else underfit)]
    if d.state == "no-curves":
        return list(GUESS)
    if d.state == "data-mismatch":
        return ["augment-data", *CAPACITY, *rising, "batch-norm", "dropout", "l2"]
    return underfit if d.state == "underfits" else gap


def explain(d: Diagnosis) -> str:
    """The diagnosis in words, every number printed so that its comparison reads true."""
    missed = f"{d.metric} {fmt_versus(d.accuracy, d.threshold)}"
    if d.state == "stopped-early":
        return (
            f"{missed} and {d.curve} rose {fmt_accuracy(d.last_gain)} in the last of {d.epochs} epochs, "
            f"on course for {fmt_versus(d.projected, d.threshold)} in {d.epochs} more as the gain fades: "
            "training stopped too early"
        )
    if d.train_accuracy is None:
        missing = "no learning curves" if d.val_accuracy is None else "no train accuracy"
        return f"{missed} and {missing} reported: a guess, more capacity first"
    train = f"train accuracy {fmt_versus(d.train_accuracy, d.threshold)}"
    if d.state == "data-mismatch":
        return (
            f"{missed} while val accuracy {fmt_versus(d.val_accuracy, d.threshold)}, "
            f"{fmt_accuracy(d.mismatch)} above it: a data mismatch (the model does well on data like its "
            "training data, not on the data it is judged on)"
        )
    if d.state == "underfits":
        return f"{missed} and {train}: the model underfits (it cannot fit the training data to the threshold)"
    if d.val_accuracy is None:
        held_out = ""
    else:
        joint = "and" if meets(d.val_accuracy, d.threshold) else "but"
        held_out = f" {joint} val accuracy {fmt_versus(d.val_accuracy, d.threshold)}"
    gap = "a generalisation gap (the model fits the training data, not the held-out data)"
    return f"{missed} while {train}{held_out}: {gap}"


def _diagnose(history: Sequence[RoundRecord], available: Collection[str]) -> tuple[Decision, ...]:
    last = history[-1]
    d = diagnose(last)
    order, why = candidates(d), explain(d)
    # A change that did not help last round goes to the back; after two misses in a row it is dropped.
    previous = last.change
    gained = delta(history, len(history) - 1)
    if previous in order and gained is not None and gained <= NO_GAIN:
        now = float(last.accuracy or 0.0)
        order = [c for c in order if c != previous]
        missed_twice = (
            len(history) >= 2 and history[-2].change == previous and _no_gain(history, len(history) - 2)
        )
        if not missed_twice:
            order.append(previous)
        why += f", and {previous} did not help last round ({fmt_accuracy(now - gained)} \u2192 {fmt_accuracy(now)})"
    return _decisions(order, why, available)


def _no_gain(history: Sequence[RoundRecord], index: int) -> bool:
    gained = delta(history, index)
    return gained is not None and gained <= NO_GAIN


def _decisions(order: Sequence[str], reason: str, available: Collection[str]) -> tuple[Decision, ...]:
    seen: list[str] = []
    for change in order:
        if change in available and change not in seen:
            seen.append(change)
    return tuple(Decision(change, reason) for change in seen)
