"""Real Keras training on the bundled ml_task with the offline digits data (TensorFlow in a subprocess)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from keras_ct.cli import main
from tests.integration.repo_setup import ROOT, git, local_env, outputs
from tests.keras.hooks import hooks_env

pytestmark = [pytest.mark.training, pytest.mark.slow]


def copy_task(tmp_path: Path) -> Path:
    work = tmp_path / "repo"
    shutil.copytree(
        ROOT / "ml_task", work / "ml_task", ignore=shutil.ignore_patterns("*.keras", "__pycache__")
    )
    return work


def base_env(tmp_path: Path) -> dict[str, str]:
    return local_env(tmp_path, TF_CPP_MIN_LOG_LEVEL="3")


def test_one_round_under_actions_reports_accuracy(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    work = copy_task(tmp_path)
    (tmp_path / "output.txt").write_text("")
    env = {
        **base_env(tmp_path),
        "GITHUB_ACTIONS": "true",
        "GITHUB_OUTPUT": str(tmp_path / "output.txt"),
        "GITHUB_STEP_SUMMARY": str(tmp_path / "summary.md"),
        "INPUT_WORKING-DIRECTORY": str(work),
        "INPUT_TRAIN-COMMAND": "python ml_task/train.py --dataset digits --epochs 2",
        "INPUT_THRESHOLD": "0.5",
        "INPUT_PYTHON": sys.executable,
    }
    assert main(["run"], env) == 0

    out = outputs(tmp_path)
    metrics = json.loads(Path(out["metrics-file"]).read_text())
    assert out["passed"] == "true" and out["round"] == "1"
    assert float(out["accuracy"]) == pytest.approx(metrics["accuracy"], abs=1e-6)
    assert 0.5 <= metrics["accuracy"] <= 1.0
    assert (
        metrics["metric_source"] == "evaluate"
        and metrics["epochs"] == 2
        and len(metrics["history"]["val_accuracy"]) == 2
    )
    assert Path(out["model-path"]).is_file()
    summary = (tmp_path / "summary.md").read_text()
    assert f"{metrics['accuracy']:.4f}" in summary and "Threshold met" in summary
    log = capsys.readouterr().out
    assert "::group::Round 1: training" in log and "test accuracy:" in log


def test_loop_meets_a_threshold_the_start_model_misses(tmp_path: Path) -> None:
    """The demo: below 0.955 at round 1, over it after augmentation, each change committed with trailers."""
    work = copy_task(tmp_path)
    subprocess.run(["git", "init", "-q", "-b", "main", str(work)], check=True)
    git(work, "config", "user.name", "Dev")
    git(work, "config", "user.email", "dev@example.com")
    (work / ".gitignore").write_text(".keras-ct/\n*.keras\n")
    git(work, "add", ".")
    git(work, "commit", "-qm", "start")
    report = tmp_path / "report.md"
    argv = [
        "loop", "--working-directory", str(work), "--threshold", "0.955", "--max-rounds", "4",
        "--train-command", "python ml_task/train.py --dataset digits --epochs 10",
        "--python", sys.executable, "--commit", "--report", str(report),
    ]  # fmt: skip
    assert main(argv, base_env(tmp_path)) == 0

    text = report.read_text()
    assert "Threshold met" in text
    rows = [line for line in text.splitlines() if line.startswith("| ") and line[2].isdigit()]
    first, last = rows[0].split(" | "), rows[-1].split(" | ")
    assert float(first[5]) < 0.955 <= float(last[5].split()[0])
    assert 2 <= len(rows) <= 4
    log = git(work, "log", "--format=%B%x00", f"-{len(rows) - 1}")
    commits = [c for c in log.split("\x00") if c.strip()]
    assert len(commits) == len(rows) - 1
    assert all("Keras-CT-Round:" in c and "Keras-CT-Accuracy:" in c for c in commits)
    assert git(work, "status", "--porcelain", "--untracked-files=no") == ""

    # The rounds ran in one reused training process (TensorFlow imported once), with the result a
    # fresh process gets: round 2 trained again alone, from the same code and warm start.
    rounds = [json.loads((work / ".keras-ct" / f"round-{n}" / "metrics.json").read_text()) for n in (1, 2)]
    assert rounds[0]["pid"] == rounds[1]["pid"]
    round_2_code = tmp_path / "round-2-model.py"
    round_2_code.write_text(git(work, "show", f"HEAD~{len(rows) - 2}:ml_task/model.py") + "\n")
    fresh = tmp_path / "fresh-metrics.json"
    env = {
        **base_env(tmp_path),
        **hooks_env(),  # as keras-ct runs it: its hooks write the metrics of the plain script
        "KERAS_CT_METRICS_FILE": str(fresh),
        "KERAS_CT_MODEL_PATH": str(tmp_path / "fresh.keras"),
        "KERAS_CT_WARM_START_FROM": str(work / ".keras-ct" / "checkpoints" / "models" / "round-1.keras"),
    }
    train = [sys.executable, "ml_task/train.py", "--dataset", "digits", "--epochs", "10"]
    subprocess.run(
        [*train, "--model-file", str(round_2_code)], cwd=work, env=env, check=True, capture_output=True
    )
    again = json.loads(fresh.read_text())
    assert again["pid"] != rounds[1]["pid"]
    assert again["accuracy"] == rounds[1]["accuracy"] and again["history"] == rounds[1]["history"]
