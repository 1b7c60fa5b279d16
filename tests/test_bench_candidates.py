"""The k = 1, 2, 3 candidates section's figures and verdicts (bench/candidates.py), on made-up runs."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from bench.candidates import (
    Candidate,
    KRun,
    Round,
    candidates_of,
    compare,
    parse_trailers,
    render,
    revive,
    speedup,
)
from bench.stats import jsonable

MESSAGE = """keras-ct round 1: dropout

Keras-CT-Round: 1
Keras-CT-Accuracy: 0.8612
Keras-CT-Candidate-1: conv-block 0.9112
Keras-CT-Candidate-2: dropout 0.9301 (kept)
Keras-CT-Candidate-3: widen failed
"""


def run(task: str, k: int, reached: bool, *rounds: Round) -> KRun:
    return KRun(task, k, reached, rounds)


def trial(*seconds: float | None, kept: int = 1) -> tuple[Candidate, ...]:
    return tuple(
        Candidate(i, f"c{i}", None if s is None else 0.9, s, i == kept) for i, s in enumerate(seconds, 1)
    )


def test_parse_trailers_reads_rank_change_accuracy_and_kept() -> None:
    assert parse_trailers(MESSAGE) == {
        1: ("conv-block", 0.9112, False),
        2: ("dropout", 0.9301, True),
        3: ("widen", None, False),
    }
    assert parse_trailers("keras-ct round 1: epochs\n\nKeras-CT-Round: 1\n") == {}


def test_candidates_of_takes_seconds_from_metrics_and_keeps_a_candidate_without_them() -> None:
    found = candidates_of(
        parse_trailers(MESSAGE),
        {1: {"accuracy": 0.9112, "duration_s": 4.0}, 2: {"accuracy": 0.9301, "duration_s": 6.5}, 3: None},
    )
    assert found == (
        Candidate(1, "conv-block", 0.9112, 4.0),
        Candidate(2, "dropout", 0.9301, 6.5, kept=True),
        Candidate(3, "widen", None, None),
    )
    # A round whose candidates all failed has no commit, so no trailers: the change is unknown.
    assert candidates_of({}, {1: {"accuracy": 0.5, "duration_s": 2.0}}) == (Candidate(1, "?", 0.5, 2.0),)


def test_critical_path_is_each_round_plus_its_slowest_candidate_and_compute_is_everything() -> None:
    r = run("t", 3, True, Round(0.8, 5.0, trial(4.0, 7.0, None, kept=2)), Round(0.95, 7.0))
    assert r.critical_s == 5.0 + 7.0 + 7.0
    assert r.compute_s == 5.0 + 4.0 + 7.0 + 7.0  # the failed candidate wrote no seconds
    assert (r.trainings, r.critical_steps) == (5, 3)
    # Round 2 took the kept candidate's training (train.ahead): it adds no seconds and no training.
    took = run("t", 3, True, Round(0.8, 5.0, trial(4.0, 7.0, None, kept=2)), Round(0.95, 7.0, ahead=True))
    assert (took.critical_s, took.compute_s, took.trainings, took.critical_steps) == (12.0, 16.0, 4, 2)
    assert r.first_guess_wrong
    one = run("t", 1, True, Round(0.8, 5.0), Round(0.9, 6.0), Round(0.95, 7.0))
    assert (one.critical_s, one.compute_s, one.trainings, one.first_guess_wrong) == (18.0, 18.0, 3, False)
    assert one.critical_steps == 3


@pytest.mark.parametrize(
    ("one_reached", "many_reached", "expected"),
    [
        pytest.param(True, True, 2.0, id="both"),
        pytest.param(False, True, math.inf, id="only-k3"),
        pytest.param(True, False, 0.0, id="only-k1"),
        pytest.param(False, False, None, id="neither"),
    ],
)
def test_speedup_is_k1_critical_path_over_k_and_follows_reached(
    one_reached: bool, many_reached: bool, expected: float | None
) -> None:
    one = run("t", 1, one_reached, Round(0.8, 10.0), Round(0.9, 10.0))
    many = run("t", 3, many_reached, Round(0.8, 4.0, trial(6.0, 3.0)))
    assert speedup(one, many) == expected


def suite(k3_second_round: float) -> list[KRun]:
    """Task a: the first guess is wrong (k = 3 keeps candidate 2); task b: it is right."""
    return [
        run("a", 1, True, Round(0.8, 5.0), Round(0.85, 5.0), Round(0.95, 5.0)),
        run("a", 2, True, Round(0.8, 5.0, trial(5.0, 5.0, kept=2)), Round(0.95, 5.0)),
        run("a", 3, True, Round(0.8, 5.0, trial(5.0, 5.0, 5.0, kept=2)), Round(0.95, k3_second_round)),
        run("b", 1, True, Round(0.8, 5.0), Round(0.95, 5.0)),
        run("b", 3, True, Round(0.8, 5.0, trial(5.0, 5.0, 5.0)), Round(0.95, 5.0)),
    ]


def test_compare_judges_only_the_tasks_where_the_first_guess_was_wrong() -> None:
    result = compare(suite(k3_second_round=5.0))
    a, b = result["rows"]
    assert (a["task"], a["first_guess_wrong"], b["first_guess_wrong"]) == ("a", True, False)
    assert a["speedup"] == {2: 1.0, 3: 1.0}  # 15 s against 15 s: no gain, 10 s per trial round
    assert a["compute_ratio"] == {2: 20.0 / 15.0, 3: 25.0 / 15.0}
    critical, compute = result["verdicts"]
    assert (critical.met, compute.met) == (False, True)
    assert critical.value == "a 1.00x; median 1.00x"
    assert compute.value == "a 1.67x"


def test_compare_meets_the_goal_at_1_5x_and_misses_compute_over_k_times() -> None:
    runs = suite(k3_second_round=0.0)  # 15 s against 10 s: 1.5x
    assert [v.met for v in compare(runs)["verdicts"]] == [True, True]
    heavy = [*runs[:2], run("a", 3, True, Round(0.8, 5.0, trial(5.0, 5.0, 40.0, kept=2)), Round(0.95, 0.0))]
    critical, compute = compare(heavy)["verdicts"]
    assert not critical.met and not compute.met  # a 40 s candidate: 45 s critical path, 55 s compute


def test_compare_without_a_wrong_first_guess_is_not_measurable_and_needs_k1() -> None:
    critical, compute = compare(suite(5.0)[3:])["verdicts"]
    assert not critical.met and not compute.met
    assert critical.value.startswith("not measurable")
    with pytest.raises(ValueError, match="task a has no k = 1 run"):
        compare(suite(5.0)[1:3])


def test_render_lists_every_run_and_revive_round_trips_through_json() -> None:
    runs = suite(k3_second_round=0.0)
    result = {"runs": runs, "thresholds": {"a": 0.95, "b": 0.9}, **compare(runs)}
    text = render(result)
    assert "| a / 0.95 | 3 round(s), reached (0.950); critical 15.0 s (3 in a row)" in text
    assert "1 c1 0.900 5.0 s; 2 c2 0.900 5.0 s **kept**" in text
    assert text.count("| met |") == 2
    back = revive(json.loads(json.dumps(jsonable(result))))
    assert back["runs"] == runs
    assert render(back) == text


def test_revive_judges_reached_with_keras_cts_float_tolerance() -> None:
    # 0.95 in float32 is 0.949999988...: keras-ct says the threshold is met, so the figures must too.
    runs = [run("a", 1, False, Round(0.8, 5.0), Round(0.949999988079071, 5.0))]
    back = revive(jsonable({"runs": runs, "thresholds": {"a": 0.95}, **compare(runs)}))
    assert back["runs"][0].reached


def test_read_run_marks_a_round_that_took_the_kept_candidates_training(tmp_path: Path) -> None:
    """train.ahead copies the kept candidate's metrics file as the next round's: read_run tells such
    a round (no training of its own) from one that trained."""
    from bench.candidates import read_run

    from tests.integration.repo_setup import git

    work = tmp_path / "work"
    work.mkdir()
    git(work, "init", "-q")
    git(work, "-c", "user.name=t", "-c", "user.email=t@x", "commit", "-q", "--allow-empty", "-m", "start")
    git(work, "-c", "user.name=t", "-c", "user.email=t@x", "commit", "-q", "--allow-empty", "-m", MESSAGE)

    def put(path: Path, accuracy: float, seconds: float) -> dict[str, float]:
        data = {"accuracy": accuracy, "duration_s": seconds}
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(data))
        return data

    put(work / ".keras-ct" / "round-1" / "metrics.json", 0.8612, 3.0)
    trial = work / ".keras-ct" / "candidates" / "round-1"
    put(trial / "candidate-1" / ".keras-ct" / "round-2" / "metrics.json", 0.9112, 4.0)
    kept = put(trial / "candidate-2" / ".keras-ct" / "round-2" / "metrics.json", 0.9301, 6.5)
    rounds = [{"accuracy": 0.8612, "duration_s": 3.0}, {"accuracy": 0.9301, "duration_s": 6.5}]
    loop = {"work": str(work), "task": "t", "reached": True, "wall_s": 9.0, "stopped": "", "rounds": rounds}

    (work / ".keras-ct" / "round-2").mkdir()
    (work / ".keras-ct" / "round-2" / "metrics.json").write_text(json.dumps(kept))  # taken: a copy
    took = read_run(loop, 3, (0.0, 0.0))
    assert [r.ahead for r in took.rounds] == [False, True]
    assert (took.trainings, took.critical_s) == (4, 3.0 + 6.5)  # round 1, its 3 candidates (one failed)

    put(work / ".keras-ct" / "round-2" / "metrics.json", 0.9301, 6.7)  # trained again: its own seconds
    assert [r.ahead for r in read_run(loop, 3, (0.0, 0.0)).rounds] == [False, False]
