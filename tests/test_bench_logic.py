"""The benchmark's arithmetic and verdicts (bench/stats.py, bench/report.py) and the performance rules.

The benchmark itself is not a test; these check that the numbers it prints are computed right.
"""

from __future__ import annotations

import math

import pytest
from bench.report import render, warm_results
from bench.stats import (
    PolicyRun,
    Summary,
    WarmCase,
    at_most,
    compare_policies,
    first_reaching,
    jsonable,
    paired_ratios,
)
from bench.tasks import TASKS, shifted
from bench.versus import SPACES, TUNERS, Arm, Space, compare, merge_seeds, policy_arm, speedup, tuner_arm
from bench.versus import render as render_versus

from keras_ct.keras import performance
from keras_ct.keras.performance import GPU, Hardware, PerformanceSettingError, decide


def test_summary_is_median_min_max_and_ignores_non_finite() -> None:
    s = Summary.of([3.0, 1.0, 2.0, 10.0, float("nan"), 4.0])
    assert (s.median, s.low, s.high, s.n) == (3.0, 1.0, 10.0, 5)
    assert s.fmt(1, " s") == "3.0 s (1.0-10.0, n=5)"
    with pytest.raises(ValueError, match="no finite values"):
        Summary.of([float("inf")])


def test_paired_ratios_pair_run_i_with_run_i() -> None:
    assert paired_ratios([2.0, 3.0], [1.0, 2.0]) == [2.0, 1.5]
    with pytest.raises(ValueError, match="unpaired runs: 2 against 1"):
        paired_ratios([1.0, 2.0], [1.0])


@pytest.mark.parametrize(
    ("values", "limit", "met"),
    [
        pytest.param([1.0, 1.04, 1.2], 1.05, True, id="median-under-limit-despite-max"),
        pytest.param([1.06, 1.07, 1.0], 1.05, False, id="median-over-limit"),
        pytest.param([1.05], 1.05, True, id="equal-is-met"),
    ],
)
def test_at_most_judges_the_median(values: list[float], limit: float, met: bool) -> None:
    verdict = at_most("ratio <= 1.05", Summary.of(values), limit)
    assert verdict.met is met
    assert verdict.mark == ("met" if met else "**missed**")


def test_first_reaching_is_one_based_and_none_when_never() -> None:
    assert first_reaching([0.5, 0.8, 0.9], 0.8) == 2
    assert first_reaching([0.5, 0.6], 0.9) is None


def test_warm_case_counts_epochs_and_seconds_to_the_cold_final_accuracy() -> None:
    case = WarmCase(
        cold_curve=[0.5, 0.7, 0.9, 0.9],
        cold_epoch_s=[2.0, 1.0, 1.0, 1.0],
        warm_curve=[0.85, 0.92, 0.95, 0.96],
        warm_epoch_s=[1.5, 1.0, 1.0, 1.0],
    )
    assert case.target == 0.9
    assert case.cold_epochs() == 3  # the cold run first reached its final accuracy at epoch 3
    assert case.warm_epochs() == 2
    epochs, seconds = case.saving()
    assert epochs == pytest.approx(1 - 2 / 3)
    assert seconds == pytest.approx(1 - 2.5 / 4.0)
    assert case.final_delta() == pytest.approx(0.06)
    never = WarmCase([0.5, 0.9], [1.0, 1.0], [0.4, 0.8], [1.0, 1.0])
    assert never.saving() == (None, None)


def run(task: str, policy: str, seconds: list[float], reached: bool = True) -> PolicyRun:
    return PolicyRun(task, policy, rounds=2, reached=reached, epochs=6, train_s=seconds, final_accuracy=0.96)


def test_compare_policies_per_task_and_total() -> None:
    result = compare_policies(
        [
            run("a", "diagnose", [2.0, 2.2, 1.8]),
            run("a", "naive", [6.0, 6.0, 6.0]),
            run("b", "diagnose", [3.0]),
            run("b", "naive", [3.0]),
        ]
    )
    assert [t["ok"] for t in result["tasks"]] == [True, True]  # equal time is not more time
    assert result["tasks"][0]["ratio"] == pytest.approx(3.0)
    assert result["total"]["ratio"] == pytest.approx(9.0 / 5.0)
    never_more, twice, to_threshold = result["verdicts"]
    assert never_more.met and never_more.value == "yes"
    assert not twice.met and twice.value == "1.80x on the tasks both reached"
    assert not to_threshold.met and to_threshold.value == "1.80x"


def test_compare_policies_a_slower_task_fails_the_never_more_goal() -> None:
    result = compare_policies([run("a", "diagnose", [5.0]), run("a", "naive", [4.0])])
    assert result["tasks"][0]["ok"] is False
    assert result["verdicts"][0].met is False


def test_compare_policies_a_task_naive_never_reached_is_listed_not_summed() -> None:
    result = compare_policies(
        [
            run("a", "diagnose", [2.0]),
            run("a", "naive", [5.0]),
            run("mlp", "diagnose", [9.0]),
            run("mlp", "naive", [1.0], reached=False),  # gave up early: its seconds say nothing
        ]
    )
    assert result["tasks"][1]["ok"] is True
    assert result["total"]["ratio"] == pytest.approx(2.5)
    assert result["total"]["all_ratio"] == pytest.approx(6.0 / 11.0)
    _, twice, to_threshold = result["verdicts"]
    assert twice.met and twice.value == "2.50x on the tasks both reached; naive never reached mlp"
    assert to_threshold.met and to_threshold.value == "unbounded: naive never reaches 1 task(s) (mlp)"


def test_compare_policies_time_to_threshold_counts_a_task_naive_never_reaches_as_unbounded() -> None:
    runs = [run("a", "diagnose", [4.0]), run("a", "naive", [5.0])]
    like_for_like = compare_policies(runs)["verdicts"]
    assert not like_for_like[1].met and not like_for_like[2].met  # 1.25x either way
    assert like_for_like[2].value == "1.25x"
    unbounded = compare_policies([*runs, run("mlp", "diagnose", [9.0]), run("mlp", "naive", [1.0], False)])
    assert not unbounded["verdicts"][1].met  # like for like still 1.25x
    assert unbounded["verdicts"][2].met


def test_compare_policies_a_task_diagnose_never_reached_fails_both_goals() -> None:
    result = compare_policies(
        [
            run("a", "diagnose", [1.0]),
            run("a", "naive", [5.0]),
            run("b", "diagnose", [1.0], False),
            run("b", "naive", [9.0]),
        ]
    )
    never_more, twice, to_threshold = result["verdicts"]
    assert not never_more.met
    assert not twice.met and twice.value == "5.00x on the tasks both reached; diagnose never reached b"
    assert not to_threshold.met and to_threshold.value == "no: naive alone reached b"


def test_compare_policies_needs_both_policies_per_task() -> None:
    with pytest.raises(ValueError, match="task a lacks a diagnose or naive run"):
        compare_policies([run("a", "naive", [1.0])])


def _round(curve: list[float], seconds: float = 1.0, accuracy: float | None = None) -> dict[str, object]:
    return {
        "accuracy": curve[-1] if accuracy is None else accuracy,
        "fit_s": seconds * len(curve),
        "epoch_s": [seconds] * len(curve),
        "test_curve": curve,
        "warm": None,
    }


def test_warm_results_verdicts_from_replays() -> None:
    loops = [{"task": "t", "policy": "diagnose", "changes": ["conv-block"]}]
    rep = [{"warm": _round([0.8, 0.85])}, {"warm": _round([0.9, 0.95]), "cold": _round([0.7, 0.9, 0.93])}]
    trajectories = [{"task": "t", "policy": "diagnose", "cold": True, "reps": [rep] * 5}]

    result = warm_results(loops, trajectories)

    (case,) = result["cases"]
    assert (case["round"], case["change"], case["reached"]) == (2, "conv-block", "5/5")
    assert case["warm_epochs"].median == 2  # 0.95 >= the cold final 0.93 at epoch 2, cold needed 3
    assert case["seconds_saved"].median == pytest.approx(1 - 2 / 3)
    saving, per_policy, final, every_round = result["verdicts"]
    assert saving.met and saving.value == "33% less time, 33% fewer epochs"
    assert per_policy.value == "diagnose: 33% over 1 rounds"
    assert final.met and final.value == "worst warm - cold: +0.0200 over 1 loops"
    assert every_round.met and every_round.value == "worst warm - cold: +0.0200 over 1 rounds"


def test_warm_results_a_lower_final_accuracy_is_reported() -> None:
    loops = [{"task": "t", "policy": "diagnose", "changes": ["dense"]}]
    rep = [{"warm": _round([0.8])}, {"warm": _round([0.5, 0.6]), "cold": _round([0.7, 0.9])}]
    result = warm_results(loops, [{"task": "t", "policy": "diagnose", "cold": True, "reps": [rep] * 5}])
    saving, _, final, every_round = result["verdicts"]
    assert not saving.met and saving.value.startswith("0% less time")  # never reached: counted as no saving
    assert not final.met and "-0.3000" in final.value
    assert not every_round.met
    assert result["cases"][0]["warm_epochs"] is None


def test_render_shows_every_verdict_and_jsonable_round_trips() -> None:
    results = {
        "machine": {
            "cpu": "cpu",
            "cores": 2,
            "gpu": "none",
            "python": "3.11",
            "versions": {"keras": "3"},
            "platform": "linux",
            "load_average_start": (1.0, 1.0, 1.0),
            "load_average_end": (2.0, 2.0, 2.0),
            "date": "today",
        },
        "repeats": 5,
        "command": "bench/run.py",
        "overhead": {
            "train_command": "python train.py",
            "api_requests_per_run": 5,
            "bare_s": Summary.of([10.0]),
            "run_s": Summary.of([10.3]),
            "ratio": Summary.of([1.03]),
            "own_s": Summary.of([1.2]),
            "own_cpu_s": Summary.of([0.3]),
            "peak_rss_mb": Summary.of([48.0]),
            "tensorflow_imported": False,
        },
    }
    text = render(results)
    assert "| `keras-ct run` / bare wall time <= 1.05 | 1.030 (1.030-1.030, n=1) | met |" in text
    assert (
        "| orchestrator's own time outside training < 1 s | 1.200 s (1.200-1.200, n=1) | **missed** |" in text
    )
    assert jsonable({"x": Summary.of([1.0, 3.0]), "inf": math.inf}) == {
        "x": {"median": 2.0, "min": 1.0, "max": 3.0, "n": 2},
        "inf": "inf",
    }


# -- the performance switches (keras_ct.keras.performance.decide is pure) ---------------------------------

V100 = GPU("Tesla V100", (7, 0))
T4 = GPU("Tesla T4", (7, 5))
K80 = GPU("Tesla K80", (3, 7))


@pytest.mark.parametrize(
    ("hardware", "env", "expected"),
    [
        pytest.param(Hardware(), {}, ("off", 21, False, "off"), id="cpu-small-model-steps-per-execution"),
        pytest.param(Hardware((T4,)), {}, ("mixed_float16", 21, True, "off"), id="one-T4"),
        pytest.param(Hardware((K80,)), {}, ("off", 21, True, "off"), id="old-gpu-no-mixed-precision"),
        pytest.param(
            Hardware((V100, V100)), {}, ("mixed_float16", 21, True, "mirrored"), id="two-gpus-mirrored"
        ),
        pytest.param(
            Hardware((T4,)),
            {
                "KERAS_CT_MIXED_PRECISION": "bfloat16",
                "KERAS_CT_STEPS_PER_EXECUTION": "4",
                "KERAS_CT_TF_DATA": "off",
            },
            ("mixed_bfloat16", 4, False, "off"),
            id="overrides-beat-auto",
        ),
        pytest.param(
            Hardware(),
            {"KERAS_CT_TF_DATA": "on", "KERAS_CT_DISTRIBUTE": "off"},
            ("off", 21, True, "off"),
            id="cpu-tf-data-on",
        ),
    ],
)
def test_decide_auto_detects_and_overrides(
    hardware: Hardware, env: dict[str, str], expected: tuple[str, int, bool, str]
) -> None:
    s = decide(hardware, env, params=30_000, steps_per_epoch=21)
    assert (s.mixed_precision, s.steps_per_execution, s.tf_data, s.distribute) == expected
    assert set(s.why) == set(performance.ENV)


def test_decide_large_model_runs_one_step_per_call() -> None:
    assert decide(Hardware((T4,)), {}, params=25_000_000, steps_per_epoch=500).steps_per_execution == 1
    assert decide(Hardware((T4,)), {}, params=1000, steps_per_epoch=500).steps_per_execution == 32
    assert decide(Hardware(), {"KERAS_CT_STEPS_PER_EXECUTION": "1"}, params=1000).steps_per_execution == 1


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        pytest.param(
            "KERAS_CT_TF_DATA", "maybe", 'KERAS_CT_TF_DATA must be auto, on or off, got "maybe"', id="tf-data"
        ),
        pytest.param(
            "KERAS_CT_STEPS_PER_EXECUTION", "0", "must be auto or a whole number of at least 1", id="spe-zero"
        ),
        pytest.param(
            "KERAS_CT_MIXED_PRECISION", "fp8", "must be auto, off, float16 or bfloat16", id="precision"
        ),
        pytest.param("KERAS_CT_DISTRIBUTE", "tpu", "must be auto, off or mirrored", id="distribute"),
    ],
)
def test_decide_rejects_bad_values_naming_the_variable(name: str, value: str, message: str) -> None:
    with pytest.raises(PerformanceSettingError, match=message):
        decide(Hardware(), {name: value})


def test_warm_results_final_accuracy_is_judged_on_each_loops_last_round() -> None:
    loops = [{"task": "t", "policy": "diagnose", "changes": ["dense", "dropout"]}]
    rep = [
        {"warm": _round([0.8])},
        {"warm": _round([0.85]), "cold": _round([0.86])},  # an earlier round a little below cold
        {"warm": _round([0.95]), "cold": _round([0.9])},  # the loop's final model above cold
    ]
    result = warm_results(loops, [{"task": "t", "policy": "diagnose", "cold": True, "reps": [rep] * 5}])
    *_, final, every_round = result["verdicts"]
    assert final.met and final.value == "worst warm - cold: +0.0500 over 1 loops"
    assert not every_round.met and every_round.value == "worst warm - cold: -0.0100 over 2 rounds"


def test_compare_policies_same_training_is_equal_time_despite_noise() -> None:
    same = (("abc", 4), ("def", 4))
    diagnose = PolicyRun("seq", "diagnose", 2, True, 8, [10.4, 10.6], 0.95, trajectory=same)
    naive = PolicyRun("seq", "naive", 2, True, 8, [10.1, 10.3], 0.95, trajectory=same)
    result = compare_policies([diagnose, naive])
    assert result["tasks"][0]["ok"] and result["tasks"][0]["same_training"]
    other = PolicyRun("seq", "naive", 2, True, 8, [10.1, 10.3], 0.95, trajectory=(("abc", 4), ("xyz", 4)))
    assert compare_policies([diagnose, other])["tasks"][0]["ok"] is False


def test_warm_case_probes_time_the_target_within_an_epoch() -> None:
    case = WarmCase(
        cold_curve=[0.6, 0.9],
        cold_epoch_s=[1.0, 1.0],
        warm_curve=[0.9, 0.95],
        warm_epoch_s=[1.0, 1.0],
        cold_probes=[(0.5, 0.4), (1.0, 0.6), (1.5, 0.85), (2.0, 0.9)],
        warm_probes=[(0.5, 0.91), (1.0, 0.9), (1.5, 0.93), (2.0, 0.95)],
    )
    assert case.warm_epochs() == 1 and case.cold_epochs() == 2  # whole epochs: 50% saved
    assert case.probe_seconds() == (2.0, 0.5)  # a quarter of the way through: 75% saved
    assert case.probe_saving() == pytest.approx(0.75)
    assert WarmCase([0.9], [1.0], [0.5], [1.0], [(1.0, 0.9)], [(1.0, 0.5)]).probe_saving() is None


# -- keras-ct against KerasTuner (bench/versus.py) ------------------------------------------------------


def test_every_task_has_a_search_space_anchored_on_its_start_model() -> None:
    assert set(SPACES) == set(TASKS)
    conv = Space("conv2d", filters=16, image=True).choices(3)
    assert conv["epochs"] == [3, 6, 12]  # the task's epochs, doubled as keras-ct's epochs change does
    assert conv["conv_blocks"][0] == 0 and conv["width"][0] == 1 and conv["dense_units"][0] == 0
    assert conv["augment"] == [False, True] and conv["dropout"][0] == 0.0
    dense = Space("dense", units=16).choices(10)
    assert "conv_blocks" not in dense and "augment" not in dense  # no conv block to add to an MLP
    assert dense["dense_units"] == [16, 32, 64, 128]  # the start's width is the smallest
    assert Space("dense", units=16).size(10) == 4 * 3 * 2 * 3


def _trial(accuracy: float, fit_s: float = 2.0, epochs: int = 3) -> dict[str, object]:
    return {"accuracy": accuracy, "fit_s": fit_s, "epochs": epochs, "values": {}}


def test_tuner_arm_counts_trials_and_seconds_up_to_the_first_trial_at_the_threshold() -> None:
    trials = [_trial(0.80), _trial(0.95, 3.0), _trial(0.99)]
    arm = tuner_arm("mlp", "random", trials, 0.95)
    assert (arm.reached, arm.steps, arm.train_s, arm.epochs, arm.best) == (True, 2, 5.0, 6, 0.95)
    missed = tuner_arm("mlp", "hyperband", trials[:1], 0.95)
    assert (missed.reached, missed.steps, missed.train_s, missed.best) == (False, 1, 2.0, 0.80)


def test_merge_seeds_takes_the_median_and_reaches_only_when_every_seed_did() -> None:
    seeds = [Arm("t", "random", True, 2, 4.0, 6, 0.96), Arm("t", "random", False, 12, 30.0, 40, 0.94)]
    seeds.append(Arm("t", "random", True, 3, 6.0, 9, 0.97))
    merged = merge_seeds(seeds)
    assert (merged.reached, merged.steps, merged.train_s, merged.runs, merged.spread) == (
        False,
        3,
        6.0,
        3,
        "4.0-30.0",
    )


@pytest.mark.parametrize(
    ("diagnose", "tuners", "expected"),
    [
        pytest.param((True, 5.0), [(True, 20.0), (True, 12.0)], 2.4, id="better-search-is-the-faster"),
        pytest.param((True, 5.0), [(False, 1.0), (True, 15.0)], 3.0, id="a-search-that-missed-is-no-rival"),
        pytest.param((True, 5.0), [(False, 50.0)], math.inf, id="no-search-reached"),
        pytest.param((False, 5.0), [(True, 50.0)], 0.0, id="only-a-search-reached"),
        pytest.param((False, 5.0), [(False, 50.0)], None, id="nobody-reached"),
    ],
)
def test_speedup_is_the_better_search_over_diagnose(
    diagnose: tuple[bool, float], tuners: list[tuple[bool, float]], expected: float | None
) -> None:
    d = Arm("t", "diagnose", diagnose[0], 2, diagnose[1], 6, 0.9)
    found = speedup(d, [Arm("t", "random", ok, 3, s, 9, 0.9) for ok, s in tuners])
    assert found == (pytest.approx(expected) if expected not in (None, math.inf, 0.0) else expected)


def _arms(task: str, diagnose: tuple[bool, float], random: tuple[bool, float]) -> list[Arm]:
    return [
        Arm(task, "diagnose", diagnose[0], 2, diagnose[1], 6, 0.96),
        Arm(task, "random", random[0], 4, random[1], 12, 0.96),
        Arm(task, "hyperband", False, 12, 99.0, 40, 0.90),
    ]


def test_compare_judges_both_goals_on_the_median_task() -> None:
    arms = _arms("a", (True, 2.0), (True, 10.0)) + _arms("b", (True, 4.0), (True, 6.0))
    arms += _arms("c", (True, 1.0), (False, 30.0))  # no search reached c: an infinite speed-up
    result = compare(arms)
    assert [r["speedup"] for r in result["rows"]] == [5.0, 1.5, math.inf]
    assert result["median"] == 5.0
    reach, speed = result["verdicts"]
    assert reach.met and reach.value == "yes (3 of 3 tasks)"
    assert speed.met and "5.00x on the median of 3 task(s)" in speed.value


def test_compare_a_threshold_only_a_search_reached_fails_the_reach_goal() -> None:
    arms = _arms("a", (False, 8.0), (True, 10.0)) + _arms("b", (True, 4.0), (True, 6.0))
    reach, speed = compare(arms)["verdicts"]
    assert not reach.met and reach.value == "no: missed a"
    assert not speed.met  # median of 0 (a) and 1.5 (b): 0.75x
    assert "0.75x on the median of 2 task(s)" in speed.value
    with pytest.raises(ValueError, match="task z has no diagnose run"):
        compare([Arm("z", "random", True, 1, 1.0, 3, 0.9)])


def test_policy_arm_reads_the_replayed_seconds() -> None:
    arm = policy_arm(run("mlp", "diagnose", [3.0, 1.0, 2.0]))
    assert (arm.arm, arm.reached, arm.steps, arm.train_s, arm.runs, arm.spread) == (
        "diagnose",
        True,
        2,
        2.0,
        3,
        "1.0-3.0",
    )


def test_shifted_digits_moves_every_test_image_by_at_most_the_shift() -> None:
    import numpy as np

    x = np.zeros((50, 12, 12, 1), dtype="float32")
    x[:, 6, 6, 0] = 1.0
    moved = shifted(x, 2)
    for image in moved:
        (y,), (xx,) = np.nonzero(image[..., 0])[0], np.nonzero(image[..., 0])[1]
        assert abs(y - 6) <= 2 and abs(xx - 6) <= 2
    assert (moved != x).any()  # some moved
    assert np.array_equal(moved, shifted(x, 2))  # a fixed seed: the same test set every run


def test_render_versus_shows_every_arm_the_ratio_and_the_verdicts() -> None:
    arms = _arms("a", (True, 2.0), (True, 10.0))
    text = render_versus(compare(arms), {"a": 0.95}, "Sized: 12 trials.")
    assert "| a / 0.95 | 2 round(s), 6 epochs, 2.0 s (n=1); reached (0.960) | — |" in text
    assert "4 trial(s), 12 epochs, 10.0 s (n=1); reached (0.960)" in text
    assert "12 trial(s), 40 epochs, 99.0 s (n=1); **not reached** (best 0.900) | 5.00x |" in text
    assert "Sized: 12 trials." in text and "| met |" in text


def test_every_tuner_has_a_trial_cap_from_the_command_line() -> None:
    import argparse

    from bench import run

    args = argparse.Namespace(max_trials=12, hyperband_trials=40)
    assert set(run.tuner_caps(args)) == set(TUNERS)
    parsed = vars(run.parse_args(["--max-trials", "5"]))
    assert run.tuner_caps(argparse.Namespace(**parsed)) == {"random": 5, "hyperband": 40}
