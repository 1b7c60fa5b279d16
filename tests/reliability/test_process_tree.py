"""When a round ends, however it ends, no process it started is left (issue 11, section 2).

Real ``keras-ct`` processes and real trainers (small Python scripts, no TensorFlow) that leave a child
behind in each way a process can: in the trainer's process group, in a session of its own
(``setsid``), as a double-forked daemon, holding the trainer's stdout open. Each leftover has a unique
marker in its argv, so ``/proc/*/cmdline`` proves whether it is still there.
"""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

import keras_ct
from keras_ct.augment.validate import BuildRequest, validate_builds
from keras_ct.runner import Runner
from keras_ct.train import processes
from keras_ct.train.trainer import ReusedTrainer, TrainRun, run_training
from tests.reliability.harness import World, annotations, start_cli

PACKAGE_ROOT = str(Path(keras_ct.__file__).resolve().parents[1])

# The trainer: starts a child that sleeps for 1234 s, the way STAND_IN_LEAVE says, waits until it
# runs (its argv carries STAND_IN_MARKER), then does what STAND_IN_THEN says.
TRAINER = """\
import os, subprocess, sys, time
from pathlib import Path
marker, how = os.environ["STAND_IN_MARKER"], os.environ["STAND_IN_LEAVE"]
sleeper = [sys.executable, "-c", "import time; time.sleep(1234)", marker]
quiet = {"stdin": subprocess.DEVNULL, "stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
if how == "group":
    subprocess.Popen(sleeper, **quiet)
elif how == "session":
    subprocess.Popen(sleeper, start_new_session=True, **quiet)
elif how == "stdout":  # out of the trainer's session, and it keeps the trainer's output pipe open
    subprocess.Popen(sleeper, start_new_session=True, stdin=subprocess.DEVNULL)
elif how == "daemon":  # the classic double fork: setsid, fork again, the middle process exits
    if os.fork() == 0:
        os.setsid()
        if os.fork() == 0:
            null = os.open(os.devnull, os.O_RDWR)
            for fd in (0, 1, 2):
                os.dup2(null, fd)
            os.execv(sys.executable, sleeper)
        os._exit(0)
    os.wait()


def running():
    for entry in Path("/proc").iterdir():
        try:
            if marker.encode() in (entry / "cmdline").read_bytes():
                return True
        except OSError:
            pass
    return False


deadline = time.monotonic() + 30
while not running() and time.monotonic() < deadline:
    time.sleep(0.01)
print("left a child behind:", how, flush=True)
print("worker", os.getpid(), flush=True)
then = os.environ.get("STAND_IN_THEN", "")
if then == "hang":
    time.sleep(1234)
if then == "slow":  # tells the test it is training (its pid), trains on for 2 s
    Path(os.environ["STAND_IN_PID"]).write_text(str(os.getpid()))
    time.sleep(2)
if "KERAS_CT_METRICS_FILE" in os.environ:  # the checkout's stand-in trainer writes valid metrics
    exec(compile(Path("train_fake.py").read_text(), "train_fake.py", "exec"))
if then == "tell-exit":
    Path(os.environ["STAND_IN_EXIT"]).write_text(str(time.time()))
"""
TRAIN_COMMAND = "python leave_a_child.py"
LEAVE = ["group", "session", "daemon", "stdout"]


def alive(marker: str) -> list[int]:
    """Pids of the live processes whose argv holds ``marker``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if marker.encode() in (entry / "cmdline").read_bytes():
                found.append(int(entry.name))
        except OSError:
            pass
    return found


def pid_alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] not in ("Z", "X")


@pytest.fixture
def marker() -> Iterator[str]:
    """A unique argv marker for a test's leftover processes; any that survive are killed afterwards."""
    value = f"keras-ct-test-leftover-{uuid.uuid4().hex}"
    yield value
    for pid in alive(value):
        os.kill(pid, signal.SIGKILL)


def keras_ct_env(
    world: World, env: Mapping[str, str], marker: str, leave: str, then: str = "", **extra: str
) -> dict[str, str]:
    """The environment of a ``keras-ct`` process (this keras_ct) that runs ``TRAINER``, committed."""
    world.commit_files({"leave_a_child.py": TRAINER})
    stand_in = {"STAND_IN_MARKER": marker, "STAND_IN_LEAVE": leave, "STAND_IN_THEN": then}
    return {**env, "PYTHONPATH": PACKAGE_ROOT, **stand_in, **extra}


def keras_ct(argv: list[str], cwd: Path, env: Mapping[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "keras_ct", *argv],
        cwd=cwd,
        env=dict(env),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
    )


def action_inputs(**inputs: str) -> dict[str, str]:
    return {"train-command": TRAIN_COMMAND, "threshold": "0.5", "train-retries": "0", **inputs}


# -- a run that succeeds: what the trainer left is ended with it ---------------------------------------


@pytest.mark.parametrize("leave", LEAVE)
def test_run_ends_what_the_trainer_left_behind(world: World, marker: str, leave: str) -> None:
    env = keras_ct_env(world, world.env(action_inputs()), marker, leave)

    started = time.monotonic()
    done = keras_ct(["run"], world.work, env)
    seconds = time.monotonic() - started

    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert f"left a child behind: {leave}" in done.stdout
    assert "stand-in accuracy 0.80" in done.stdout
    assert alive(marker) == [], f"the trainer's {leave} child outlived keras-ct run"
    assert seconds < 10, f"keras-ct run took {seconds:.1f} s after a trainer that exited at once"


def test_a_child_holding_the_output_open_does_not_hold_up_the_run(world: World, marker: str) -> None:
    """The trainer exits; its child (in a session of its own) still has the output pipe. keras-ct
    must not wait for that pipe to close: it ends the child once the trainer exited."""
    exit_file = world.tmp / f"{marker}.exit"
    env = keras_ct_env(
        world, world.env(action_inputs()), marker, "stdout", "tell-exit", STAND_IN_EXIT=str(exit_file)
    )

    done = keras_ct(["run"], world.work, env)
    after_trainer = time.time() - float(exit_file.read_text())

    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert after_trainer < 5, f"keras-ct ran on {after_trainer:.1f} s after its trainer exited"
    assert alive(marker) == []


def test_timeout_is_honoured_when_a_child_holds_the_output_open(world: World, marker: str) -> None:
    inputs = action_inputs(**{"timeout-minutes": "0.05"})
    env = keras_ct_env(world, world.env(inputs), marker, "stdout", "hang")

    started = time.monotonic()
    done = keras_ct(["run"], world.work, env)
    seconds = time.monotonic() - started

    assert done.returncode == 1, done.stdout[-3000:] + done.stderr[-3000:]
    [error] = annotations(done.stdout)
    assert error.message.startswith("training ran past timeout-minutes (0.05 min) and was stopped")
    assert seconds < 3 + 8, f"keras-ct run took {seconds:.1f} s with timeout-minutes 0.05 (3 s)"
    assert alive(marker) == []


# -- keras-ct loop, with a process per round and with one reused process -------------------------------


@pytest.mark.parametrize("reuse", ["false", "true"], ids=["process-per-round", "reused-process"])
@pytest.mark.parametrize("leave", ["group", "daemon"])
def test_loop_ends_what_the_trainer_left_behind(world: World, marker: str, leave: str, reuse: str) -> None:
    home = {"PATH": os.environ["PATH"], "HOME": str(world.tmp), "KERAS_HOME": str(world.tmp / "keras")}
    env = keras_ct_env(world, home, marker, leave)
    argv = ["loop", "--working-directory", str(world.work), "--python", sys.executable]
    argv += ["--train-command", TRAIN_COMMAND, "--threshold", "0.5", "--max-rounds", "3"]
    argv += ["--train-env", "STAND_IN_*"]  # the trainer's instructions (the allow-list drops the rest)

    done = keras_ct([*argv, "--reuse-training-process", reuse], world.work, env)

    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert f"left a child behind: {leave}" in done.stdout
    assert alive(marker) == [], f"the trainer's {leave} child outlived keras-ct loop"


def test_reused_process_ends_each_runs_children_and_lives_on(tmp_path: Path, marker: str) -> None:
    """Between two runs in one reused process, the first run's children are gone; the process is not."""
    (tmp_path / "train.py").write_text(TRAINER)
    trainer = ReusedTrainer(sys.executable)
    env = {"PATH": os.environ["PATH"], "STAND_IN_MARKER": marker}
    out: list[str] = []

    def run(n: int, leave: str) -> None:
        log = io.StringIO()
        run = TrainRun(
            (sys.executable, "train.py"),
            tmp_path,
            {**env, "STAND_IN_LEAVE": leave},
            30,
            tmp_path / f"{n}.log",
        )
        trainer.start(run, Runner(actions=False, out=log, err=io.StringIO())).wait()
        out.append(log.getvalue())

    try:
        run(1, "session")
        assert alive(marker) == [], "the first run's child outlived the run"
        run(2, "daemon")
        assert alive(marker) == [], "the second run's child outlived the run"
        workers = {line.split()[1] for text in out for line in text.splitlines() if line.startswith("worker")}
        assert len(workers) == 1, out  # one reused process for both runs
        assert pid_alive(int(workers.pop()))
    finally:
        trainer.close()


# -- keras-ct is stopped: SIGTERM, SIGHUP, SIGINT (the runner's cancel), SIGKILL ---------------------


def start_training(world: World, marker: str, pid_file: Path) -> subprocess.Popen[str]:
    """``keras-ct run`` with a trainer that leaves a child in a session of its own and trains for 2 s;
    returns once the trainer runs."""
    env = keras_ct_env(
        world, world.env(action_inputs()), marker, "session", "slow", STAND_IN_PID=str(pid_file)
    )
    job: subprocess.Popen[str] = start_cli(
        world, env, stdin=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    deadline = time.monotonic() + 60
    while not (pid_file.exists() and pid_file.read_text()):
        assert job.poll() is None, job.communicate()
        assert time.monotonic() < deadline, "the trainer never started"
        time.sleep(0.01)
    assert alive(marker), "the trainer's child did not start"
    return job


@pytest.mark.parametrize(
    ("signum", "status"),
    [
        pytest.param(signal.SIGTERM, 143, id="SIGTERM"),
        pytest.param(signal.SIGHUP, 129, id="SIGHUP"),
        pytest.param(signal.SIGINT, 130, id="SIGINT"),
    ],
)
def test_a_signal_during_training_stops_the_whole_tree(
    world: World, marker: str, tmp_path: Path, signum: int, status: int
) -> None:
    pid_file = tmp_path / "trainer.pid"
    metrics = world.work / ".keras-ct" / "round-1" / "metrics.json"
    job = start_training(world, marker, pid_file)
    started = time.monotonic()
    try:
        job.send_signal(signum)
        out, err = job.communicate(timeout=30)
    finally:
        job.kill()

    assert job.returncode == status, out[-3000:] + err[-3000:]
    [error] = annotations(out)
    name = signal.Signals(signum).name
    assert error.message == (
        f"interrupted by {name} while training; the training and every process it started were "
        "stopped, and nothing of this round was committed"
    )
    assert "Traceback" not in out + err
    assert not pid_alive(int(pid_file.read_text())), "the trainer outlived keras-ct"
    assert alive(marker) == [], "the trainer's child outlived keras-ct"
    time.sleep(max(0.0, started + 2.5 - time.monotonic()))  # past the time the trainer would have written
    assert not metrics.exists(), "the trainer wrote its metrics after keras-ct was stopped"


def test_keras_ct_killed_outright_takes_its_training_along(world: World, marker: str, tmp_path: Path) -> None:
    """SIGKILL cannot be handled: the supervisor below keras-ct sees its parent die and ends the tree."""
    pid_file = tmp_path / "trainer.pid"
    job = start_training(world, marker, pid_file)
    job.kill()
    job.communicate(timeout=30)
    trainer = int(pid_file.read_text())

    deadline = time.monotonic() + 10
    while (pid_alive(trainer) or alive(marker)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not pid_alive(trainer), "the trainer outlived a SIGKILLed keras-ct"
    assert alive(marker) == [], "the trainer's child outlived a SIGKILLed keras-ct"


# -- the augmenter's build check runs the model's code too ---------------------------------------------


def test_build_check_ends_what_the_model_code_left_behind(tmp_path: Path, marker: str) -> None:
    """A model file whose import starts a child that keeps the check's output open: the check ends
    when the model's code is done, with the child ended, not when its time limit runs out."""
    model = tmp_path / "model.py"
    source = (
        "import os, subprocess, sys\n"
        f"subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(1234)', {marker!r}],"
        " start_new_session=True)\n"
        "import time; time.sleep(0.5)\n"
        "def build_model():\n    return None\n"
    )
    model.write_text(source)

    started = time.monotonic()
    [result] = validate_builds([BuildRequest(path=model, source=source)], cwd=tmp_path, timeout_s=20)
    seconds = time.monotonic() - started

    assert not result.ok and result.error == "build_model() returned NoneType, not a Keras model"
    assert seconds < 10, f"the build check took {seconds:.1f} s"
    assert alive(marker) == []


def test_without_the_supervisor_the_process_group_still_ends_with_the_run(
    tmp_path: Path, marker: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where commands cannot run below the supervisor (no Linux ``/proc``), a run still ends its
    process group when it ends: the guarantee for children that stay in the group."""
    monkeypatch.setattr(processes, "supervised", lambda: False)
    (tmp_path / "train.py").write_text(TRAINER)
    env = {"PATH": os.environ["PATH"], "STAND_IN_MARKER": marker, "STAND_IN_LEAVE": "group"}
    out = io.StringIO()

    run_training(
        TrainRun((sys.executable, "train.py"), tmp_path, env, 30, tmp_path / "train.log"),
        Runner(actions=False, out=out, err=io.StringIO()),
    )

    assert "left a child behind: group" in out.getvalue()
    assert alive(marker) == [], "the trainer's child in its process group outlived the run"
