"""``train.ahead``: a kept candidate's training, kept for the round that trains the same code, and
taken by that round instead of training again; any other code trains."""

from __future__ import annotations

import io
import json
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from keras_ct.config import Config, load_config
from keras_ct.runner import Runner
from keras_ct.train import ahead
from keras_ct.train.launch import warm_start_store


@pytest.fixture
def cfg(tmp_path: Path) -> Config:
    (tmp_path / "ml_task").mkdir()
    (tmp_path / "ml_task" / "model.py").write_text("def build_model():\n    return None\n")
    (tmp_path / "train.py").write_text("print('train')\n")
    command = f"{sys.executable} train.py"
    return load_config({"working-directory": str(tmp_path), "train-command": command}, {}, cwd=tmp_path)


def _candidate(tmp_path: Path, accuracy: float) -> tuple[Path, Path]:
    """A candidate's metrics file and model, as its training left them."""
    out = tmp_path / "candidate"
    out.mkdir(exist_ok=True)
    (out / "metrics.json").write_text(
        json.dumps({"schema_version": 1, "accuracy": accuracy, "duration_s": 4.5})
    )
    (out / "model.keras").write_bytes(b"a trained model")
    return out / "metrics.json", out / "model.keras"


def _runner() -> tuple[Runner, io.StringIO, io.StringIO]:
    out, err = io.StringIO(), io.StringIO()
    return Runner(out=out, err=err), out, err


def test_the_round_takes_the_kept_training_its_model_and_warm_start_copy(cfg: Config, tmp_path: Path) -> None:
    metrics, model = _candidate(tmp_path, 0.97)
    ahead.keep(cfg, 2, metrics, model, 4.2, "candidate 2 of round 1")
    assert ahead.ready(cfg, 2) and not ahead.ready(cfg, 3)
    runner, out, _ = _runner()

    done = ahead.take(cfg, runner, 2)

    assert done is not None
    assert (done.metrics.value, done.seconds, done.ahead_by) == (0.97, 4.2, "candidate 2 of round 1")
    assert json.loads(cfg.metrics_path(2).read_text())["accuracy"] == 0.97
    assert (cfg.round_dir(2) / "model.keras").read_bytes() == b"a trained model"
    assert (
        warm_start_store(cfg) / "round-2.keras"
    ).read_bytes() == b"a trained model"  # round 3 starts from it
    assert (
        "round 2 is not trained again: candidate 2 of round 1 trained this code already (accuracy 0.9700)"
        in (out.getvalue())
    )
    assert not [p for p in ahead.folder(cfg, 2).parent.iterdir() if p.name.startswith(".")]  # no temp folder


@pytest.mark.parametrize(
    "edit",
    [
        pytest.param(
            lambda c: c.model_path.write_text("def build_model():\n    return 1\n"), id="model-file"
        ),
        pytest.param(
            lambda c: (c.working_directory / "train.py").write_text("print(2)\n"), id="train-script"
        ),
    ],
)
def test_other_code_than_the_candidate_trained_is_trained(
    cfg: Config, tmp_path: Path, edit: Callable[[Config], object]
) -> None:
    """The author pushed between the candidate and the round: that code was never trained."""
    ahead.keep(cfg, 2, *_candidate(tmp_path, 0.97), 4.2, "candidate 2 of round 1")
    edit(cfg)
    assert not ahead.ready(cfg, 2)
    assert ahead.take(cfg, _runner()[0], 2) is None
    assert not cfg.metrics_path(2).exists()


def test_a_changed_train_command_is_other_code(cfg: Config, tmp_path: Path) -> None:
    from dataclasses import replace

    ahead.keep(cfg, 2, *_candidate(tmp_path, 0.97), 4.2, "candidate 2 of round 1")
    assert not ahead.ready(replace(cfg, train_command=cfg.train_command + " --epochs 20"), 2)


def test_an_unreadable_kept_training_is_said_and_the_round_trains(cfg: Config, tmp_path: Path) -> None:
    kept = ahead.keep(cfg, 2, *_candidate(tmp_path, 0.97), 4.2, "candidate 2 of round 1")
    (kept / "trained.json").write_text("{not json")
    runner, _, err = _runner()
    assert ahead.take(cfg, runner, 2) is None
    assert f"round 2 is trained again: the training kept in {kept} is unreadable" in err.getvalue()


def test_a_later_keep_replaces_the_earlier_whole(cfg: Config, tmp_path: Path) -> None:
    """A re-run of the candidate keeps its own training over the first attempt's."""
    ahead.keep(cfg, 2, *_candidate(tmp_path, 0.90), 4.2, "candidate 2 of round 1")
    metrics, _ = _candidate(tmp_path, 0.93)
    ahead.keep(cfg, 2, metrics, tmp_path / "no-model.keras", 5.0, "candidate 2 of round 1")
    done = ahead.take(cfg, _runner()[0], 2)
    assert done is not None and done.metrics.value == 0.93
    assert not (ahead.folder(cfg, 2) / "model.keras").exists()
