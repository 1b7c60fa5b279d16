"""A killed training run loses no finished epoch: real Keras training of ml_task on the digits data.

keras-ct gives the train command a durable ``KERAS_CT_CHECKPOINT_DIR``; ml_task/train.py keeps
``BackupAndRestore`` and the per-epoch log there (``keras_ct.keras.callbacks``). Two ways a run dies:

- the whole job (runner gone): keras-ct and the trainer are SIGKILLed; the round is run again;
- the trainer alone crashes: keras-ct retries it in the same run (``train-retries``, default 1).

Either way the next attempt starts at the first unfinished epoch, and the final accuracy is the one
an uninterrupted run with the same seed reaches (epoch-level resume is bit-identical).
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.keras.hooks import script_env
from tests.reliability.harness import Checkpoint, World, python_command, run_cli, start_cli

pytestmark = [pytest.mark.training, pytest.mark.slow]

EPOCHS = 6
TRAIN_ARGS = ["ml_task/train.py", "--dataset", "digits", "--epochs", str(EPOCHS)]
# The real ml_task/train.py, run as a script by a wrapper that first does one thing (see each test).
RUN_TRAIN = f"sys.argv = {TRAIN_ARGS!r}\nrunpy.run_path('ml_task/train.py', run_name='__main__')\n"
WRITES_ITS_PID = python_command(
    "import os, runpy, sys\nfrom pathlib import Path\n"
    "Path(os.environ['STAND_IN_PID']).write_text(str(os.getpid()))\n" + RUN_TRAIN
)
# First attempt: kill itself (SIGKILL, like the OOM killer) once two epochs have finished.
CRASHES_ONCE = python_command(
    "import json, os, runpy, signal, sys, threading, time\nfrom pathlib import Path\n"
    "marker = Path(os.environ['STAND_IN_MARKER'])\n"
    "if not marker.exists():\n"
    "    marker.touch()\n"
    "    log = Path(os.environ['KERAS_CT_CHECKPOINT_DIR']) / 'epochs.json'\n"
    "    def watch():\n"
    "        while True:\n"
    "            try:\n"
    "                if len(json.loads(log.read_text())) >= 2:\n"
    "                    os.kill(os.getpid(), signal.SIGKILL)\n"
    "            except (OSError, ValueError):\n"
    "                pass\n"
    "            time.sleep(0.01)\n"
    "    threading.Thread(target=watch, daemon=True).start()\n" + RUN_TRAIN
)
EPOCH_LINE = re.compile(rf"^Epoch (\d+)/{EPOCHS}$", re.MULTILINE)


@pytest.fixture(scope="module")
def uninterrupted(
    shared_world: tuple[World, Checkpoint], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Any]:
    """The metrics of the same training run straight through (same seed, same checkpoint callbacks)."""
    world, _ = shared_world
    out = tmp_path_factory.mktemp("uninterrupted")
    env = script_env(out)  # the plain train.py gets its resume callbacks and metrics from keras-ct's hooks
    done = subprocess.run(
        [sys.executable, *TRAIN_ARGS], cwd=world.work, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert [int(n) for n in EPOCH_LINE.findall(done.stdout)] == list(range(1, EPOCHS + 1))
    metrics: dict[str, Any] = json.loads((out / "metrics.json").read_text())
    assert metrics["initial_epoch"] == 0
    return metrics


def epochs_logged(checkpoints: Path) -> list[Any]:
    """The finished epochs in the round's checkpoint folder (one subfolder per model and command)."""
    logs = list(checkpoints.glob("*/epochs.json"))
    assert len(logs) <= 1, logs
    return json.loads(logs[0].read_text()) if logs else []


def read_metrics(world: World) -> dict[str, Any]:
    result: dict[str, Any] = json.loads((world.work / ".keras-ct" / "round-1" / "metrics.json").read_text())
    return result


def assert_same_result(resumed: dict[str, Any], uninterrupted: dict[str, Any]) -> None:
    assert resumed["accuracy"] == uninterrupted["accuracy"]  # bit-identical, not approximately
    assert resumed["history"] == uninterrupted["history"]  # every epoch, the killed run's included
    assert len(resumed["history"]["val_accuracy"]) == EPOCHS


def test_rerun_after_the_job_was_killed_resumes_at_the_last_finished_epoch(
    world: World, uninterrupted: dict[str, Any], tmp_path: Path
) -> None:
    inputs = {"train-command": WRITES_ITS_PID, "threshold": "0.5", "train-retries": "0"}
    pid_file = tmp_path / "trainer.pid"
    env = world.env(inputs, STAND_IN_PID=str(pid_file))
    checkpoints = world.work / ".keras-ct" / "checkpoints" / "round-1"

    # The first job: keras-ct and its trainer die together (SIGKILL) after two epochs finished.
    job = start_cli(world, env, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 120
        while len(epochs_logged(checkpoints)) < 2:
            assert job.poll() is None, job.communicate()[0].decode()[-3000:]
            assert time.monotonic() < deadline, "two epochs never finished"
            time.sleep(0.01)
        os.kill(int(pid_file.read_text()), signal.SIGKILL)
        job.kill()
    finally:
        job.kill()
        log = job.communicate()[0].decode()
    finished = len(epochs_logged(checkpoints))
    assert 2 <= finished < EPOCHS, log[-3000:]
    assert "test accuracy" not in log  # it really died mid-training

    # The re-run of the round (any runner, same durable checkpoint directory).
    result = run_cli(env)  # the same job again: same inputs, same train command

    assert result.code == 0, result.out[-3000:]
    resumed = read_metrics(world)
    # Finished epochs were not trained again: the run started where the backup left off ...
    assert resumed["initial_epoch"] in (finished, finished + 1)  # +1: killed between backup and log write
    trained = [int(n) for n in EPOCH_LINE.findall(result.out)]
    assert trained == list(range(resumed["initial_epoch"] + 1, EPOCHS + 1))
    # ... and said so before it trained (the command hides --epochs in its -c code: no "of 6").
    said = f"::notice::resuming round 1 at epoch {resumed['initial_epoch'] + 1} from the checkpoint a killed run left"
    assert said in result.out and result.out.index(said) < result.out.index("Round 1: training")
    # ... and ended exactly where an uninterrupted run ends.
    assert_same_result(resumed, uninterrupted)
    assert world.statuses()[-1][1] == "success"
    assert f"accuracy {resumed['accuracy']:.4f}" in world.comment()


def test_crashed_training_is_retried_in_the_same_run_and_resumes(
    world: World, uninterrupted: dict[str, Any], tmp_path: Path
) -> None:
    env = world.env(
        {"train-command": CRASHES_ONCE, "threshold": "0.5", "train-retries": "1"},
        STAND_IN_MARKER=str(tmp_path / "crashed-once"),
    )

    result = run_cli(env)

    assert result.code == 0, result.out[-3000:]
    assert "::warning::training crashed (training was killed by SIGKILL" in result.out
    assert "retrying from the last checkpoint" in result.out
    assert "::group::Round 1: training (attempt 2 of 2, resuming)" in result.out
    resumed = read_metrics(world)
    assert resumed["initial_epoch"] >= 2
    second_attempt = result.out.split("(attempt 2 of 2, resuming)", 1)[1]
    assert [int(n) for n in EPOCH_LINE.findall(second_attempt)] == list(
        range(resumed["initial_epoch"] + 1, EPOCHS + 1)
    )
    assert_same_result(resumed, uninterrupted)
    assert [s[1] for s in world.statuses()] == ["pending", "success"]


def test_a_checkpoint_left_by_another_model_is_not_resumed(world: World, tmp_path: Path) -> None:
    """Round 1 crashed and was not retried; the author then changed the model. The rerun on the new
    model must train it from scratch, not resume (or choke on) the old model's backup."""
    crashed = run_cli(
        world.env(
            {"train-command": CRASHES_ONCE, "threshold": "0.5", "train-retries": "0"},
            STAND_IN_MARKER=str(tmp_path / "crashed-once"),
        )
    )
    assert crashed.code == 1 and "training was killed by SIGKILL" in crashed.one_error().message
    model = world.work / "ml_task" / "model.py"
    world.commit_files(
        {"ml_task/model.py": model.read_text().replace("Conv2D(16,", "Conv2D(24,")}, "wider conv"
    )

    result = run_cli(world.env({"train-command": "python " + " ".join(TRAIN_ARGS), "threshold": "0.5"}))

    assert result.code == 0, result.out[-3000:]
    assert read_metrics(world)["initial_epoch"] == 0
    assert [int(n) for n in EPOCH_LINE.findall(result.out)] == list(range(1, EPOCHS + 1))
