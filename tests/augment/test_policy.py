"""The policy: pure decisions from the round history (no TensorFlow, no files)."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from keras_ct.augment.policy import CHANGES, Decision, decide, diagnose
from keras_ct.round.history import EpochCurves, RoundRecord


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


# A model that has stopped learning well below the threshold, train and val close together.
PLATEAU = {"train": (0.80, 0.88, 0.91, 0.92, 0.92), "val": (0.80, 0.88, 0.90, 0.91, 0.91)}


def _changes(decisions: Sequence[Decision]) -> list[str]:
    return [d.change for d in decisions]


def test_underfitting_asks_for_capacity_first() -> None:
    decisions = decide([_round(1, 0.91, **PLATEAU)])
    assert _changes(decisions)[:2] == ["conv-block", "dense"]
    assert decisions[0].rationale("adding a Conv2D(64) + MaxPooling2D block") == (
        "accuracy 0.91 < 0.95, train accuracy 0.92 and val accuracy 0.91: the model underfits, "
        "adding a Conv2D(64) + MaxPooling2D block"
    )
    assert decisions[1].rationale() == (
        "accuracy 0.91 < 0.95, train accuracy 0.92 and val accuracy 0.91: the model underfits, "
        "adding a hidden Dense layer"
    )


def test_overfitting_asks_for_dropout_first() -> None:
    decisions = decide([_round(1, 0.86, train=(0.90, 0.96, 0.98, 0.99), val=(0.85, 0.86, 0.86, 0.86))])
    assert _changes(decisions)[0] == "dropout"
    assert "capacity" not in decisions[0].diagnosis
    assert decisions[0].diagnosis == (
        "accuracy 0.86 < 0.95, train accuracy 0.99 but val accuracy 0.86 (a gap of 0.13 > 0.05): "
        "the model overfits"
    )
    # Capacity stays available as a fallback, after dropout.
    assert _changes(decisions).index("conv-block") > 0


def test_still_improving_close_to_the_threshold_asks_for_more_epochs() -> None:
    record = _round(1, 0.92, train=(0.70, 0.82, 0.88, 0.91, 0.93), val=(0.70, 0.82, 0.87, 0.90, 0.92))
    decisions = decide([record])
    assert _changes(decisions)[0] == "epochs"
    assert decisions[0].rationale("raising epochs from 5 to 10") == (
        "accuracy 0.92 < 0.95 and val accuracy still rising 0.02 in the last of 5 epochs: "
        "training stopped too early, raising epochs from 5 to 10"
    )


def test_still_improving_but_far_from_the_threshold_asks_for_capacity_then_epochs() -> None:
    record = _round(1, 0.60, train=(0.30, 0.45, 0.55, 0.61), val=(0.30, 0.44, 0.55, 0.60))
    assert _changes(decide([record]))[:3] == ["conv-block", "dense", "epochs"]


def test_epochs_is_only_offered_when_available() -> None:
    record = _round(1, 0.92, train=(0.70, 0.82, 0.88, 0.91, 0.93), val=(0.70, 0.82, 0.87, 0.90, 0.92))
    decisions = decide([record], available=("conv-block", "dense", "dropout"))
    assert "epochs" not in _changes(decisions)
    assert _changes(decisions)[0] == "conv-block"


def test_a_change_that_did_not_help_goes_to_the_back() -> None:
    history = [
        _round(1, 0.91, **PLATEAU),
        _round(
            2,
            0.905,
            train=(0.80, 0.90, 0.92, 0.92, 0.92),
            val=(0.80, 0.89, 0.90, 0.905, 0.905),
            change="conv-block",
        ),
    ]
    decisions = decide(history)
    assert _changes(decisions)[0] == "dense"
    assert _changes(decisions)[-1] == "conv-block"
    assert decisions[0].diagnosis.endswith(", and conv-block did not help last round (0.910 \u2192 0.905)")


def test_a_change_that_failed_twice_in_a_row_is_dropped() -> None:
    history = [
        _round(1, 0.91, **PLATEAU),
        _round(2, 0.91, **PLATEAU, change="conv-block"),
        _round(3, 0.909, **PLATEAU, change="conv-block"),
    ]
    assert "conv-block" not in _changes(decide(history))


def test_a_change_that_helped_can_be_repeated() -> None:
    history = [_round(1, 0.85, **PLATEAU), _round(2, 0.91, **PLATEAU, change="conv-block")]
    assert _changes(decide(history))[0] == "conv-block"


def test_train_curve_only() -> None:
    decisions = decide([_round(1, 0.91, train=(0.85, 0.92, 0.92))])
    assert decisions[0].diagnosis == "accuracy 0.91 < 0.95 and train accuracy 0.92: the model underfits"


def test_no_curves_reported_falls_back_to_capacity() -> None:
    decisions = decide([_round(1, 0.7)])
    assert _changes(decisions)[:2] == ["conv-block", "dense"]
    assert decisions[0].diagnosis == "accuracy 0.70 < 0.95 (no learning curves reported): the model underfits"


def test_close_values_get_enough_digits() -> None:
    decisions = decide([_round(1, 0.949, train=(0.95, 0.95), val=(0.949, 0.949))])
    assert decisions[0].diagnosis.startswith("accuracy 0.949 < 0.950, ")


def test_passed_or_failed_rounds_need_no_change() -> None:
    assert decide([_round(1, 0.96)]) == ()
    failed = RoundRecord(
        round=1, accuracy=None, threshold=0.95, status="error", error="train command exited 1"
    )
    assert decide([failed]) == ()


def test_empty_history_starts_with_capacity() -> None:
    decisions = decide([])
    assert _changes(decisions) == ["conv-block", "dense", "epochs", "dropout"]
    assert decisions[0].diagnosis == "no round has been trained yet: more capacity first"


@pytest.mark.parametrize(
    "history",
    [
        pytest.param([_round(1, 0.86, train=(0.9, 0.99), val=(0.85, 0.86))], id="overfits"),
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


def test_every_diagnose_candidate_list_is_a_permutation_of_known_changes() -> None:
    for history in ([], [_round(1, 0.5)], [_round(1, 0.86, train=(0.9, 0.99), val=(0.85, 0.86))]):
        changes = _changes(decide(history))
        assert len(changes) == len(set(changes))
        assert set(changes) <= set(CHANGES)


def test_diagnosis_reads_the_curves() -> None:
    d = diagnose(_round(1, 0.92, train=(0.7, 0.93), val=(0.7, 0.92)))
    assert d.train_accuracy == 0.93 and d.val_accuracy == 0.92
    assert d.gap == pytest.approx(0.01)
    assert d.improving and not d.overfits


def test_unknown_policy_is_refused() -> None:
    with pytest.raises(ValueError, match="policy must be one of diagnose, naive, got 'random'"):
        decide([], policy="random")


@pytest.mark.parametrize(
    ("train", "val", "overfits"),
    [
        # Both curves still rising fast, far below the threshold: the gap is lag, not overfitting
        # (measured: bench/ sequence task, round 2; dropout there cost a round against a conv block).
        pytest.param(
            (0.57, 0.70, 0.78, 0.83), (0.57, 0.66, 0.71, 0.75), False, id="rising-gap-is-not-overfitting"
        ),
        pytest.param((0.80, 0.88, 0.91, 0.92), (0.80, 0.82, 0.82, 0.82), True, id="val-stalled-gap-overfits"),
        pytest.param(
            (0.90, 0.96, 0.98, 0.99), (0.80, 0.83, 0.85, 0.87), True, id="train-past-threshold-overfits"
        ),
    ],
)
def test_a_gap_is_overfitting_only_once_train_reaches_the_threshold_or_val_stalls(
    train: tuple[float, ...], val: tuple[float, ...], overfits: bool
) -> None:
    record = _round(1, val[-1], train=train, val=val, threshold=0.93)
    assert diagnose(record).overfits is overfits
    assert (_changes(decide([record]))[0] == "dropout") is overfits
