"""The k-candidates choice (pure): keep-the-best's noise margin, the policy's order on ties, failures."""

from __future__ import annotations

from pathlib import Path

import pytest

from keras_ct.config import load_config
from keras_ct.errors import ConfigError, TrainingError
from keras_ct.report import Verdict, render_candidates, render_report
from keras_ct.round import candidates
from keras_ct.round.candidates import CandidateResult, choose
from keras_ct.round.edits import commit_message
from keras_ct.round.history import NOISE_MARGIN, RoundRecord, dumps, loads


def _results(*scores: float | None) -> list[CandidateResult]:
    names = ("conv-block", "dropout", "widen", "dense")
    return [
        CandidateResult(i, names[i - 1], s, "" if s is not None else "exit 1")
        for i, s in enumerate(scores, 1)
    ]


@pytest.mark.parametrize(
    ("scores", "kept"),
    [
        pytest.param((0.90, 0.93, 0.91), 2, id="clear-best"),
        pytest.param((0.930 - NOISE_MARGIN / 2, 0.930, 0.91), 1, id="within-margin-policy-order-wins"),
        pytest.param((0.930 - 2 * NOISE_MARGIN, 0.930, 0.91), 2, id="beyond-margin"),
        pytest.param((None, 0.88, None), 2, id="partial-failure"),
        pytest.param((0.88,), 1, id="one-candidate"),
    ],
)
def test_choose_keeps_the_best_with_the_noise_margin(scores: tuple[float | None, ...], kept: int) -> None:
    choice = choose(list(reversed(_results(*scores))))  # the order they finish in does not matter
    assert choice.kept.index == kept
    assert [r.index for r in choice.results] == list(range(1, len(scores) + 1))


def test_all_failing_fails_the_round_cleanly() -> None:
    with pytest.raises(TrainingError, match=r"all 3 candidates failed.*1 conv-block: exit 1"):
        choose(_results(None, None, None))


def test_trailers_name_every_candidate_and_mark_the_kept_one() -> None:
    choice = choose(_results(0.9, 0.93, None))
    assert candidates.trailers(choice.tried, choice.kept.change) == {
        "Keras-CT-Candidate-1": "conv-block 0.9000",
        "Keras-CT-Candidate-2": "dropout 0.9300 (kept)",
        "Keras-CT-Candidate-3": "widen failed",
    }


def test_the_commit_carries_the_candidates_trailers() -> None:
    record = RoundRecord(2, 0.9, 0.95, "missed", candidates=(("conv-block", 0.91), ("dropout", 0.93)))
    message, trailers = commit_message(record, "dropout", "add dropout", "overfitting")
    assert trailers["Keras-CT-Round"] == "2"
    assert trailers["Keras-CT-Candidate-2"] == "dropout 0.9300 (kept)"
    assert message.startswith("keras-ct: round 2: add dropout")


def test_one_candidate_adds_no_trailer() -> None:
    _, trailers = commit_message(RoundRecord(1, 0.9, 0.95, "missed"), "dense", "add dense", "x")
    assert not any(k.startswith(candidates.CANDIDATE_TRAILER) for k in trailers)


def test_the_history_keeps_the_candidates_and_drops_an_empty_list() -> None:
    tried = (("conv-block", 0.91), ("widen", None))
    record = RoundRecord(1, 0.8, 0.95, "missed", next_change="conv-block", candidates=tried)
    assert loads(dumps([record])) == (record,)
    assert "candidates" not in dumps([RoundRecord(1, 0.8, 0.95, "missed")])


def test_the_comment_lists_every_candidate_collapsed() -> None:
    tried = (("conv-block", 0.9112), ("dropout", 0.9301), ("widen", None))
    records = [
        RoundRecord(1, 0.80, 0.95, "missed", next_change="dropout", candidates=tried),
        RoundRecord(2, 0.93, 0.95, "missed", change="dropout"),
    ]
    block = render_candidates(records)
    assert block.startswith(
        "<details><summary>After round 1: 3 candidate changes tried, kept dropout</summary>"
    )
    assert "| 1 | conv-block | 0.9112 |  |" in block
    assert "| 2 | dropout | 0.9301 | kept |" in block
    assert "| 3 | widen | failed |  |" in block
    assert block in render_report(records, Verdict("next"))
    assert render_candidates([RoundRecord(1, 0.8, 0.95, "missed")]) == ""


@pytest.mark.parametrize(
    ("flags", "environ", "yml", "expected"),
    [
        pytest.param({}, {"INPUT_CANDIDATES": ""}, "", 1, id="empty-input-is-the-default"),
        pytest.param({}, {}, "candidates: 3\n", 3, id="keras-ct-yml"),
        pytest.param({"candidates": "2"}, {"INPUT_CANDIDATES": "4"}, "", 2, id="flag-beats-input"),
    ],
)
def test_the_candidates_setting(
    tmp_path: Path, flags: dict[str, str], environ: dict[str, str], yml: str, expected: int
) -> None:
    if yml:
        (tmp_path / ".keras-ct.yml").write_text(yml)
    assert load_config(flags, environ, cwd=tmp_path).candidates == expected


@pytest.mark.parametrize("bad", ["0", "9", "two"])
def test_a_bad_candidates_value_names_the_range(tmp_path: Path, bad: str) -> None:
    with pytest.raises(ConfigError, match=f'candidates must be a whole number from 1 to 8, got "{bad}"'):
        load_config({"candidates": bad}, {}, cwd=tmp_path)
