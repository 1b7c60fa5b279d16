"""Which change next: a pure function from the round history to ordered candidate changes.

``decide`` reads the last round's learning curves (train/val accuracy per epoch), what changed before
it and whether that helped, and returns candidates best first. Each ``Decision`` carries the diagnosis
("accuracy 0.91 < 0.95, train accuracy 0.92 and val accuracy 0.91: the model underfits"); the rationale
is finished once the edit knows its exact words ("..., adding a Conv2D(64) + MaxPooling2D block").

Rules, in order: train - val accuracy above ``OVERFIT_GAP`` -> dropout first; the metric still rising
fast enough that doubling the epochs would plausibly reach the threshold -> epochs first; otherwise the
model underfits -> capacity (conv-block, then dense). A change whose round gained no more than
``NO_GAIN`` goes to the back of the list, and after two such rounds in a row it is not offered at all.

The ``naive`` policy is the seed's rule (always add a Conv2D + MaxPooling block), kept for comparison.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass

from keras_ct.config import CHANGES as CONFIG_CHANGES
from keras_ct.config import POLICIES
from keras_ct.round.history import RoundRecord, delta
from keras_ct.train.metrics import meets

# One source for the names: the config (which the CLI and the action inputs validate against).
CHANGES = tuple(c for c in CONFIG_CHANGES if c != "auto")

OVERFIT_GAP = 0.05  # train - val accuracy above this: the model overfits
IMPROVING_GAIN = 0.01  # val accuracy still rising at least this much in the last epoch
NO_GAIN = 0.002  # a change whose round gained no more than this did not help

_GENERIC_ACTION = {
    "conv-block": "adding a convolution block",
    "dense": "adding a hidden Dense layer",
    "dropout": "adding Dropout",
    "epochs": "training for more epochs",
}


@dataclass(frozen=True)
class Decision:
    """A candidate change and why: ``diagnosis`` is the reason, ``rationale()`` the full sentence."""

    change: str
    diagnosis: str

    def rationale(self, action: str = "") -> str:
        """The one-sentence rationale, with the edit's own words when known (``Edit.action``)."""
        return f"{self.diagnosis}, {action or _GENERIC_ACTION[self.change]}"


@dataclass(frozen=True)
class Diagnosis:
    """What the last round's curves say. Accuracies are None when the training script did not report them."""

    accuracy: float
    threshold: float
    train_accuracy: float | None
    val_accuracy: float | None
    last_gain: float | None  # val (or train) accuracy gain over the last epoch
    epochs: int

    @property
    def gap(self) -> float | None:
        if self.train_accuracy is None or self.val_accuracy is None:
            return None
        return self.train_accuracy - self.val_accuracy

    @property
    def overfits(self) -> bool:
        """A train-val gap above the margin once the training data is fit up to the threshold, or val
        accuracy has stopped rising. While both still climb fast, the gap is mostly the lag of Keras'
        train accuracy (a mean over the epoch) and a small validation set's noise, not overfitting."""
        if self.gap is None or self.gap <= OVERFIT_GAP:
            return False
        return (self.train_accuracy or 0.0) >= self.threshold or not self.improving

    @property
    def improving(self) -> bool:
        return self.last_gain is not None and self.last_gain >= IMPROVING_GAIN

    @property
    def more_epochs_may_reach(self) -> bool:
        """Doubling the epochs, with the gain per epoch fading linearly to zero, would reach the threshold."""
        if not self.improving or self.epochs < 2:
            return False
        return self.accuracy + (self.last_gain or 0.0) * self.epochs / 2 >= self.threshold


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
            acc, thr = _pair(float(last.accuracy or 0.0), last.threshold)
            reason = f"accuracy {acc} < {thr}: {reason}"
        return _decisions(["conv-block"], reason, available)
    if not history:
        order = ["conv-block", "dense", "epochs", "dropout"]
        return _decisions(order, "no round has been trained yet: more capacity first", available)
    return _diagnose(history, available)


def _diagnose(history: Sequence[RoundRecord], available: Collection[str]) -> tuple[Decision, ...]:
    last = history[-1]
    d = diagnose(last)
    # The threshold applies to the round's metric; the curves (train/val per epoch) say why it missed.
    acc_text, thr_text = _pair(d.accuracy, d.threshold)
    missed = f"accuracy {acc_text} < {thr_text}"
    curve = "val accuracy" if d.val_accuracy is not None else "train accuracy"
    if d.overfits:
        assert d.train_accuracy is not None and d.val_accuracy is not None and d.gap is not None
        order = ["dropout", "epochs" if d.improving else "", "conv-block", "dense"]
        reason = (
            f"{missed}, train accuracy {d.train_accuracy:.2f} but val accuracy {d.val_accuracy:.2f} "
            f"(a gap of {d.gap:.2f} > {OVERFIT_GAP:.2f}): the model overfits"
        )
    elif d.more_epochs_may_reach:
        order = ["epochs", "conv-block", "dense", "dropout"]
        reason = (
            f"{missed} and {curve} still rising {d.last_gain:.2f} in the last of {d.epochs} epochs: "
            "training stopped too early"
        )
    else:
        order = ["conv-block", "dense", "epochs" if d.improving else "", "dropout"]
        if d.train_accuracy is None:
            reason = f"{missed} (no learning curves reported): the model underfits"
        elif d.val_accuracy is None:
            reason = f"{missed} and train accuracy {d.train_accuracy:.2f}: the model underfits"
        else:
            reason = (
                f"{missed}, train accuracy {d.train_accuracy:.2f} and val accuracy {d.val_accuracy:.2f}: "
                "the model underfits"
            )
    # A change that did not help last round goes to the back; after two misses in a row it is dropped.
    previous = last.change
    gained = delta(history, len(history) - 1)
    if previous in order and gained is not None and gained <= NO_GAIN:
        now = float(last.accuracy or 0.0)
        order.remove(previous)
        missed_twice = (
            len(history) >= 2 and history[-2].change == previous and _no_gain(history, len(history) - 2)
        )
        if not missed_twice:
            order.append(previous)
        after, before = _pair(now, now - gained)
        reason += f", and {previous} did not help last round ({before} \u2192 {after})"
    return _decisions([c for c in order if c], reason, available)


def _no_gain(history: Sequence[RoundRecord], index: int) -> bool:
    gained = delta(history, index)
    return gained is not None and gained <= NO_GAIN


def _decisions(order: Sequence[str], reason: str, available: Collection[str]) -> tuple[Decision, ...]:
    seen: list[str] = []
    for change in order:
        if change in available and change not in seen:
            seen.append(change)
    return tuple(Decision(change, reason) for change in seen)


def _pair(value: float, threshold: float) -> tuple[str, str]:
    """Format two accuracies with enough digits that they do not look equal (0.949 vs 0.95)."""
    for digits in (2, 3, 4):
        a, b = f"{value:.{digits}f}", f"{threshold:.{digits}f}"
        if a != b or value == threshold:
            return a, b
    return f"{value:.4f}", f"{threshold:.4f}"
