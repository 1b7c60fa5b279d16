"""The policy: pure decisions from the round history (no TensorFlow, no files).

``test_curve_shapes`` is the table: one row a curve shape, each naming the rule of
``keras_ct.augment.policy`` it tests in its id (stopped-early, no-curves, data-mismatch, underfits, gap, back, dropped).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypedDict

import pytest

from keras_ct.augment.policy import (
    CAPACITY,
    CHANGES,
    REGULARISE,
    Decision,
    State,
    decide,
    diagnose,
)
from keras_ct.round.history import EpochCurves, RoundRecord

#: Every change name the policy knows, whether or not the config offers it yet.
ALL = ("conv-block", "dense", "dropout", "epochs", "batch-norm", "augment-data", "widen", "lr-schedule", "l2")


def _round(
    n: int,
    accuracy: float,
    *,
    train: Sequence[float] = (),
    val: Sequence[float] = (),
    change: str = "",
    threshold: float = 0.95,
) -> RoundRecord:
    return RoundRecord(
        round=n,
        accuracy=accuracy,
        threshold=threshold,
        status="passed" if accuracy >= threshold else "missed",
        change=change,
        epochs=len(train) or len(val) or None,
        curves=EpochCurves(accuracy=tuple(train), val_accuracy=tuple(val)),
    )


class Shape(TypedDict):
    train: tuple[float, ...]
    val: tuple[float, ...]


# A model that has stopped learning well below the threshold, train and val close together.
PLATEAU: Shape = {"train": (0.80, 0.88, 0.91, 0.92, 0.92), "val": (0.80, 0.88, 0.90, 0.91, 0.91)}
# Fits the training data past 0.95, flat on validation well below it.
GAP: Shape = {"train": (0.90, 0.96, 0.98, 0.99), "val": (0.85, 0.86, 0.86, 0.86)}
# Still rising 0.02 an epoch at epoch 5: 0.92 + 0.02 * 5 / 2 = 0.97 >= 0.95.
RISING: Shape = {"train": (0.70, 0.82, 0.88, 0.91, 0.93), "val": (0.70, 0.82, 0.87, 0.90, 0.92)}
# ml_task at 10 epochs on digits, round 1 (measured): test 0.949999988 (342/360 in float32).
DEMO: Shape = {
    "train": (0.6094, 0.8863, 0.9111, 0.9319, 0.9466, 0.9544, 0.9598, 0.9667, 0.9714, 0.9753),
    "val": (0.875, 0.8958, 0.9375, 0.9444, 0.9653, 0.9653, 0.9653, 0.9653, 0.9653, 0.9653),
}


def _changes(decisions: Sequence[Decision]) -> list[str]:
    return [d.change for d in decisions]


def row(history: Sequence[RoundRecord], state: State, first: str, rule: str) -> object:
    return pytest.param(list(history), state, first, id=rule)


CURVE_SHAPES = [
    # The cases: a model at 0.99 train accuracy does not underfit 0.975 (nor 1.00 at 0.995).
    row([_round(1, 0.967, train=(0.97, 0.985, 0.99, 0.99), val=(0.97, 0.985, 0.99, 0.99), threshold=0.975)],
        "generalisation-gap", "dropout", "gap: seen, test 0.967 < 0.975, train 0.99 and val 0.99"),
    row([_round(1, 0.99, train=(0.98, 0.995, 1.0, 1.0), val=(0.985, 0.99, 0.99, 0.99), threshold=0.995)],
        "generalisation-gap", "dropout", "gap: seen, train 1.00 and val 0.99 < 0.995"),
    row([_round(1, 0.949999988, **DEMO, threshold=0.955)],
        "generalisation-gap", "dropout", "gap: the demo's round 1, train 0.9753 and val 0.9653 >= 0.955"),
    row([_round(1, 0.86, **GAP)], "generalisation-gap", "dropout", "gap: train 0.99, val flat at 0.86"),
    row([_round(1, 0.90, train=(0.90, 0.93, 0.95), val=(0.88, 0.90, 0.90))],
        "generalisation-gap", "dropout", "gap: train exactly at the threshold counts as fitting it"),
    row([_round(1, 0.90, train=(0.90, 0.93, 0.949999988), val=(0.88, 0.90, 0.90))],
        "generalisation-gap", "dropout", "gap: train at the threshold in float32 counts as fitting it"),
    row([_round(1, 0.94, train=(0.95, 0.98, 0.98), val=(0.95, 0.96, 0.96))],
        "generalisation-gap", "dropout", "gap: val above, test below the threshold"),
    row([_round(1, 0.90, train=(0.90, 0.97, 0.97))], "generalisation-gap", "dropout", "gap: train curve only"),
    row([_round(1, 0.80, train=(0.90, 0.97, 0.99, 0.99), val=(0.74, 0.76, 0.78, 0.80))],
        "generalisation-gap", "dropout", "gap: val rising 0.02 but 0.80 + 0.04 < 0.95, not stopped early"),
    row([_round(1, 0.7056, train=(0.85, 0.91, 0.9288), val=(0.90, 0.95, 0.9583), threshold=0.9)],
        "data-mismatch", "augment-data", "data-mismatch: seen (shifted digits), val 0.9583 >= 0.9, test 0.7056"),
    row([_round(1, 0.82, train=(0.60, 0.66, 0.67), val=(0.90, 0.94, 0.95))],
        "data-mismatch", "augment-data", "data-mismatch: before underfits, train 0.67 under augmentation"),
    row([_round(1, 0.90, train=(0.95, 0.98, 0.99), val=(0.93, 0.95, 0.95))],
        "data-mismatch", "augment-data", "data-mismatch: val - test = MISMATCH_GAP exactly"),
    row([_round(1, 0.911, train=(0.95, 0.98, 0.99), val=(0.93, 0.95, 0.96))],
        "generalisation-gap", "dropout", "gap: val - test 0.049 < MISMATCH_GAP is sampling noise"),
    row([_round(1, 0.70, train=(0.95, 0.98, 0.99), val=(0.90, 0.93, 0.94))],
        "generalisation-gap", "dropout", "gap: val 0.94 < 0.95, not a mismatch however far the test is"),
    row([_round(1, 0.91, **PLATEAU)], "underfits", "conv-block", "underfits: plateau at train 0.92"),
    row([_round(1, 0.90, train=(0.90, 0.9499, 0.9499), val=(0.89, 0.90, 0.90))],
        "underfits", "conv-block", "underfits: train 0.9499 just below 0.95"),
    row([_round(1, 0.91, train=(0.85, 0.92, 0.92))], "underfits", "conv-block", "underfits: train curve only"),
    row([_round(1, 0.82, train=(0.80, 0.88, 0.91, 0.92), val=(0.80, 0.82, 0.82, 0.82), threshold=0.93)],
        "underfits", "conv-block", "underfits: a train-val gap, but train 0.92 < 0.93 (bias first)"),
    row([_round(1, 0.60, train=(0.30, 0.45, 0.55, 0.61), val=(0.30, 0.44, 0.55, 0.60))],
        "underfits", "conv-block", "underfits: rising 0.05 but 0.60 + 0.10 < 0.95, not stopped early"),
    row([_round(1, 0.945, train=(0.93, 0.935, 0.94), val=(0.927, 0.936, 0.945))],
        "underfits", "conv-block", "underfits: a gain of 0.009 < IMPROVING_GAIN is not rising"),
    row([_round(1, 0.78, train=(0.80,), val=(0.78,))], "underfits", "conv-block", "underfits: one epoch, no gain"),
    row([_round(1, 0.92, **RISING)], "stopped-early", "epochs", "stopped-early: rose 0.02, 0.92 + 0.05 >= 0.95"),
    row([_round(1, 0.93, train=(0.93, 0.96, 0.98, 0.99, 0.99, 0.99), val=(0.80, 0.84, 0.87, 0.90, 0.90, 0.93))],
        "stopped-early", "epochs", "stopped-early: before the gap rule, val rose 0.03"),
    row([_round(1, 0.93, val=(0.85, 0.90, 0.93))], "stopped-early", "epochs", "stopped-early: val curve only"),
    row([_round(1, 0.70)], "no-curves", "conv-block", "no-curves: nothing reported, capacity as a guess"),
    row([_round(1, 0.80, val=(0.80, 0.80, 0.80))], "no-curves", "conv-block", "no-curves: val only, flat"),
    row([_round(1, 0.91, **PLATEAU), _round(2, 0.905, **PLATEAU, change="conv-block")],
        "underfits", "dense", "back: conv-block did not help (-0.005 <= NO_GAIN)"),
    row([_round(1, 0.91, **PLATEAU), _round(2, 0.9115, **PLATEAU, change="conv-block")],
        "underfits", "dense", "back: conv-block gained 0.0015, not more than NO_GAIN"),
    row([_round(1, 0.85, **PLATEAU), _round(2, 0.91, **PLATEAU, change="conv-block")],
        "underfits", "conv-block", "back: conv-block helped (+0.06), offered first again"),
    row([_round(1, 0.86, **GAP), _round(2, 0.86, **GAP, change="dropout")],
        "generalisation-gap", "augment-data", "back: dropout did not help, augment-data next"),
    row([_round(1, 0.91, **PLATEAU), _round(2, 0.91, **PLATEAU, change="conv-block"),
         _round(3, 0.909, **PLATEAU, change="conv-block")],
        "underfits", "dense", "dropped: conv-block missed twice in a row"),
    row([_round(1, 0.92, **RISING), _round(2, 0.92, **RISING, change="epochs")],
        "stopped-early", "lr-schedule", "back: epochs did not help while still rising, lr-schedule next"),
]  # fmt: skip


@pytest.mark.parametrize(("history", "state", "first"), CURVE_SHAPES)
def test_curve_shapes(history: list[RoundRecord], state: State, first: str) -> None:
    last = history[-1]
    assert diagnose(last).state == state
    changes = _changes(decide(history, available=ALL))
    assert changes[0] == first
    assert len(changes) == len(set(changes)) and set(changes) <= set(ALL)
    if state == "underfits":  # regularising lowers the training fit further: dropout only as a last resort
        assert not set(changes) & {"augment-data", "l2"}
        fitting = [c for c in changes if c in (*CAPACITY, "batch-norm") and c != last.change]
        assert "dropout" not in changes or all(changes.index("dropout") > changes.index(c) for c in fitting)
    if state == "data-mismatch":  # make the training data like the judged data: augment-data first
        assert changes[0] == "augment-data" and changes[1] in CAPACITY
    if state == "generalisation-gap":  # regularise first, never capacity first
        assert changes[0] in REGULARISE or last.change in REGULARISE
        assert all(changes.index(c) > changes.index("l2") for c in CAPACITY)


def test_dropped_after_two_misses_is_not_offered() -> None:
    history = [
        _round(1, 0.91, **PLATEAU),
        _round(2, 0.91, **PLATEAU, change="conv-block"),
        _round(3, 0.909, **PLATEAU, change="conv-block"),
    ]
    assert "conv-block" not in _changes(decide(history, available=ALL))
    once = _changes(decide(history[:2], available=ALL))
    assert once[0] == "dense" and once[-1] == "conv-block"


@pytest.mark.parametrize(
    ("record", "diagnosis"),
    [
        pytest.param(
            _round(1, 0.967, train=(0.97, 0.99), val=(0.985, 0.99), threshold=0.975),
            "accuracy 0.9670 < 0.975 while train accuracy 0.9900 ≥ 0.975 and val accuracy 0.9900 ≥ 0.975: "
            "a generalisation gap (the model fits the training data, not the held-out data)",
            id="gap-val-above",
        ),
        pytest.param(
            _round(1, 0.99, train=(0.995, 1.0), val=(0.99, 0.99), threshold=0.995),
            "accuracy 0.9900 < 0.995 while train accuracy 1.0000 ≥ 0.995 but val accuracy 0.9900 < 0.995: "
            "a generalisation gap (the model fits the training data, not the held-out data)",
            id="gap-val-below",
        ),
        pytest.param(
            _round(1, 0.7056, train=(0.91, 0.9288), val=(0.95, 0.9583), threshold=0.9),
            "accuracy 0.7056 < 0.9 while val accuracy 0.9583 ≥ 0.9, 0.2527 above it: a data mismatch "
            "(the model does well on data like its training data, not on the data it is judged on)",
            id="data-mismatch",
        ),
        pytest.param(
            _round(1, 0.91, **PLATEAU),
            "accuracy 0.9100 < 0.95 and train accuracy 0.9200 < 0.95: "
            "the model underfits (it cannot fit the training data to the threshold)",
            id="underfits",
        ),
        pytest.param(
            _round(1, 0.92, **RISING),
            "accuracy 0.9200 < 0.95 and val accuracy rose 0.0200 in the last of 5 epochs, "
            "on course for 0.9700 ≥ 0.95 in 5 more as the gain fades: training stopped too early",
            id="stopped-early-gain-worded-as-a-gain",
        ),
        pytest.param(
            _round(1, 0.70),
            "accuracy 0.7000 < 0.95 and no learning curves reported: a guess, more capacity first",
            id="no-curves-is-a-guess",
        ),
        pytest.param(
            _round(1, 0.80, val=(0.80, 0.80)),
            "accuracy 0.8000 < 0.95 and no train accuracy reported: a guess, more capacity first",
            id="no-train-curve-is-a-guess",
        ),
        pytest.param(
            _round(1, 0.94996, train=(0.99, 0.99), threshold=0.95),
            "accuracy 0.94996 < 0.95 while train accuracy 0.9900 ≥ 0.95: "
            "a generalisation gap (the model fits the training data, not the held-out data)",
            id="digits-that-read-true-0.94996-vs-0.95",
        ),
        pytest.param(
            _round(1, 0.9499, train=(0.949958, 0.949958), threshold=0.94996),
            "accuracy 0.9499 < 0.94996 and train accuracy 0.949958 < 0.94996: "
            "the model underfits (it cannot fit the training data to the threshold)",
            id="threshold-as-given-0.94996",
        ),
    ],
)
def test_diagnosis_prints_numbers_that_read_true(record: RoundRecord, diagnosis: str) -> None:
    assert decide([record], available=ALL)[0].diagnosis == diagnosis


def test_a_big_gain_reads_as_a_gain() -> None:
    decisions = decide([_round(1, 0.62, val=(0.29, 0.62))], available=ALL)
    assert decisions[0].diagnosis.startswith(
        "accuracy 0.6200 < 0.95 and val accuracy rose 0.3300 in the last"
    )


def test_the_rationale_finishes_with_the_edits_words() -> None:
    decisions = decide([_round(1, 0.91, **PLATEAU)])
    assert decisions[0].rationale("adding a Conv2D(64) + MaxPooling2D block") == (
        "accuracy 0.9100 < 0.95 and train accuracy 0.9200 < 0.95: the model underfits "
        "(it cannot fit the training data to the threshold), adding a Conv2D(64) + MaxPooling2D block"
    )
    assert (
        decisions[1]
        .rationale()
        .endswith("(it cannot fit the training data to the threshold), adding a hidden Dense layer")
    )


def test_did_not_help_shows_both_accuracies() -> None:
    history = [_round(1, 0.91, **PLATEAU), _round(2, 0.905, **PLATEAU, change="conv-block")]
    assert decide(history)[0].diagnosis.endswith(", and conv-block did not help last round (0.9100 → 0.9050)")


def test_only_available_changes_are_offered() -> None:
    # Without the regularisers, a gap falls back to epochs (when rising) and then capacity.
    decisions = decide([_round(1, 0.86, **GAP)], available=("conv-block", "dense", "epochs"))
    assert _changes(decisions) == ["conv-block", "dense"]
    decisions = decide([_round(1, 0.92, **RISING)], available=("conv-block", "dense", "dropout"))
    assert _changes(decisions)[0] == "conv-block"


def test_passed_or_failed_rounds_need_no_change() -> None:
    assert decide([_round(1, 0.96)]) == ()
    assert decide([_round(1, 0.949999988)]) == ()  # meets 0.95 in float32
    failed = RoundRecord(
        round=1, accuracy=None, threshold=0.95, status="error", error="train command exited 1"
    )
    assert decide([failed]) == ()


def test_empty_history_starts_with_capacity() -> None:
    decisions = decide([], available=ALL)
    assert _changes(decisions) == ["conv-block", "dense", "widen", "epochs", "dropout"]
    assert decisions[0].diagnosis == "no round has been trained yet: more capacity first"


@pytest.mark.parametrize(
    "history",
    [
        pytest.param([_round(1, 0.86, **GAP)], id="gap"),
        pytest.param([_round(1, 0.91, **PLATEAU)], id="underfits"),
        pytest.param(
            [_round(1, 0.91, **PLATEAU), _round(2, 0.90, **PLATEAU, change="conv-block")], id="no-gain"
        ),
    ],
)
def test_naive_policy_always_adds_a_conv_block(history: list[RoundRecord]) -> None:
    decisions = decide(history, policy="naive")
    assert _changes(decisions) == ["conv-block"]
    assert decisions[0].diagnosis.endswith(": the naive policy always adds a convolution block")
    assert decisions[0].diagnosis.startswith(f"accuracy {history[-1].accuracy:.4f} < 0.95: ")


def test_every_diagnose_candidate_list_is_a_permutation_of_known_changes() -> None:
    for history in ([], [_round(1, 0.5)], [_round(1, 0.86, **GAP)], [_round(1, 0.92, **RISING)]):
        changes = _changes(decide(history))
        assert len(changes) == len(set(changes))
        assert set(changes) <= set(CHANGES)


def test_diagnosis_reads_the_curves() -> None:
    d = diagnose(_round(1, 0.92, train=(0.7, 0.93), val=(0.7, 0.92)))
    assert d.train_accuracy == 0.93 and d.val_accuracy == 0.92 and d.curve == "val accuracy"
    assert d.last_gain == pytest.approx(0.22) and d.improving
    assert d.projected == 1.0  # 0.92 + 0.22 * 2 / 2, at most 1


def test_unknown_policy_is_refused() -> None:
    with pytest.raises(ValueError, match="policy must be one of diagnose, naive, got 'random'"):
        decide([], policy="random")
