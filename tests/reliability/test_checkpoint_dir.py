"""Where a round's resume checkpoint lives: per model and training code, the same on any runner."""

from __future__ import annotations

from pathlib import Path

from keras_ct.config import load_config
from keras_ct.train.launch import resume_dir, training_env
from tests.integration.repo_setup import ROOT


def workspace(root: Path, model_edit: str = "") -> Path:
    (root / "ml_task").mkdir(parents=True)
    (root / "ml_task" / "model.py").write_text((ROOT / "ml_task" / "model.py").read_text() + model_edit)
    (root / "ml_task" / "train.py").write_text("print('training')\n")
    return root


def checkpoint(root: Path, command: str = "python ml_task/train.py --epochs 6") -> Path:
    cfg = load_config({"train-command": command}, {}, cwd=root)
    directory = resume_dir(cfg, 1)
    assert training_env(cfg, {}, 1)["KERAS_CT_CHECKPOINT_DIR"] == str(directory)
    return directory.relative_to(root)


def test_the_same_code_in_another_workspace_resumes_from_the_same_folder(tmp_path: Path) -> None:
    here = checkpoint(workspace(tmp_path / "home" / "runner" / "work"))
    there = checkpoint(workspace(tmp_path / "opt" / "actions-runner" / "_work"))
    assert here == there
    assert here.parent == Path(".keras-ct/checkpoints/round-1")


def test_other_code_gets_another_folder(tmp_path: Path) -> None:
    base = checkpoint(workspace(tmp_path / "a"))
    assert checkpoint(workspace(tmp_path / "b", "# the author changed the model\n")) != base
    assert checkpoint(workspace(tmp_path / "c"), "python ml_task/train.py --epochs 7") != base
    changed_script = workspace(tmp_path / "d")
    (changed_script / "ml_task" / "train.py").write_text("print('training differently')\n")
    assert checkpoint(changed_script) != base
