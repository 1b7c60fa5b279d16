"""A user's unmodified Keras script (``tests/fixtures/scripts/plain_repo``, with ``models/mlp_dense.py`` as its
``model.py``: no keras_ct import) through a
2-round ``keras-ct loop``: the hooks give it the curves and the metric, round 2 warm-starts from round 1,
and a run killed mid-training is retried and resumes at its last finished epoch. Under TensorFlow and,
the same, under Keras 3's JAX backend on CPU."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from keras_ct.cli import main
from tests.integration.repo_setup import ROOT, git, local_env

pytestmark = [pytest.mark.training, pytest.mark.slow]

EPOCHS = 4
EPOCH_LINE = re.compile(rf"^Epoch (\d+)/{EPOCHS}$", re.MULTILINE)
# The first attempt of round 1 kills itself (SIGKILL, like the OOM killer) once two epochs have
# finished; the script it runs is the user's, unmodified.
CRASH_ONCE = """
import json, os, runpy, signal, sys, threading, time
from pathlib import Path

marker = Path(os.environ["CRASH_MARKER"])
if not marker.exists():
    marker.touch()
    log = Path(os.environ["KERAS_CT_CHECKPOINT_DIR"]) / "epochs.json"

    def watch():
        while True:
            try:
                if len(json.loads(log.read_text())) >= 2:
                    os.kill(os.getpid(), signal.SIGKILL)
            except (OSError, ValueError):
                pass
            time.sleep(0.01)

    threading.Thread(target=watch, daemon=True).start()
sys.argv = ["train.py", *sys.argv[1:]]
runpy.run_path("train.py", run_name="__main__")
"""


def plain_repo(tmp_path: Path) -> Path:
    work = tmp_path / "repo"
    shutil.copytree(ROOT / "tests" / "fixtures" / "scripts" / "plain_repo", work)
    shutil.copy(ROOT / "tests" / "fixtures" / "models" / "mlp_dense.py", work / "model.py")  # its model
    (work / "crash_once.py").write_text(CRASH_ONCE)
    (work / ".gitignore").write_text(".keras-ct/\n*.keras\n__pycache__/\n")
    subprocess.run(["git", "init", "-q", "-b", "main", str(work)], check=True)
    git(work, "config", "user.name", "Dev")
    git(work, "config", "user.email", "dev@example.com")
    git(work, "config", "commit.gpgsign", "false")
    git(work, "add", ".")
    git(work, "commit", "-qm", "start")
    return work


def round_metrics(work: Path, n: int) -> dict[str, Any]:
    found: dict[str, Any] = json.loads((work / ".keras-ct" / f"round-{n}" / "metrics.json").read_text())
    return found


@pytest.mark.parametrize("backend", ["tensorflow", "jax"])
def test_a_plain_script_loops_with_warm_start_and_resume(
    tmp_path: Path, backend: str, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip(backend)
    work = plain_repo(tmp_path)
    argv = [
        "loop", "--working-directory", str(work), "--model-file", "model.py", "--threshold", "0.999",
        "--max-rounds", "2", "--train-command", f"{sys.executable} crash_once.py --epochs {EPOCHS}",
        "--python", sys.executable, "--commit", "--train-retries", "1", "--train-env", "CRASH_MARKER",
    ]  # fmt: skip
    env = local_env(
        tmp_path,
        KERAS_BACKEND=backend,
        TF_CPP_MIN_LOG_LEVEL="3",
        GIT_CONFIG_NOSYSTEM="1",
        CRASH_MARKER=str(tmp_path / "crashed-once"),
    )

    main(argv, env)  # round 2 misses the unreachable threshold too: the exit code says so, not asserted

    captured = capsys.readouterr()
    out = captured.out + captured.err
    first, second = round_metrics(work, 1), round_metrics(work, 2)
    for found in (first, second):
        assert found["autolog"] is True and found["backend"] == backend
        assert found["metric_source"] == "evaluate" and 0.0 < found["accuracy"] <= 1.0
        assert len(found["history"]["val_accuracy"]) == EPOCHS  # every epoch, the killed run's included
    # Round 1 was killed after two epochs, retried, and resumed where the backup left off ...
    assert (tmp_path / "crashed-once").exists() and "training crashed" in out
    assert first["initial_epoch"] >= 2
    retried = out.split("resuming)", 1)[1]
    assert [int(n) for n in EPOCH_LINE.findall(retried)][: EPOCHS - first["initial_epoch"]] == list(
        range(first["initial_epoch"] + 1, EPOCHS + 1)
    )
    # ... and round 2 (the augmented model, committed) started from round 1's weights.
    assert "Keras-CT-Round:" in git(work, "log", "-1", "--format=%B")
    assert second["initial_epoch"] == 0 and second["warm_start"]["layers_transferred"] >= 1
    assert second["warm_start"]["from"].endswith("round-1.keras")
