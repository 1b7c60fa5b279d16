"""An interrupt at any step of a round leaves the step done or undone, never half done (issue 11, 3).

Each phase of a round (training, choosing the change, the build check, writing the edit, the commit,
the push, the dispatch, the comment) is interrupted in-process: its function is replaced by one that
raises ``KeyboardInterrupt`` (what Ctrl-C raises, and what keras-ct turns SIGTERM/SIGHUP into). git is
real, against a bare remote; GitHub is the fake server; the trainer is the stand-in (no TensorFlow),
and the augmenter is the real one with its build check answered without TensorFlow. One test is a
real process: a slow ``git`` first on PATH, and SIGINT sent to keras-ct while ``git commit`` runs.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import keras_ct
from keras_ct import augment as augment_module
from keras_ct.config import load_config
from keras_ct.git import GitRepo
from keras_ct.github.publish import GitHubPublisher
from keras_ct.train.launch import resume_dir
from keras_ct.train.trainer import Training
from tests.integration.repo_setup import git
from tests.reliability.harness import World, run_cli
from tests.reliability.local_loop import builds_without_tensorflow, loop_argv, loop_env, loop_repo, run_loop

MODEL = "ml_task/model.py"
EDITED = "ml_task/model.py, train_fake.py"  # what the round may edit: the model and the training script


def interrupt(*_: Any, **__: Any) -> Any:
    raise KeyboardInterrupt


def after(real: Callable[..., Any]) -> Callable[..., Any]:
    """``real``, then the interrupt: the step was done, the interrupt came before it returned."""

    def done_then_interrupted(*args: Any, **kwargs: Any) -> Any:
        real(*args, **kwargs)
        raise KeyboardInterrupt

    return done_then_interrupted


def training_interrupted(self: Training) -> Any:
    """``Training.wait`` interrupted: it stops the run (as the real one does on any interrupt)."""
    self.cancel()
    raise KeyboardInterrupt


def git_commit(when: str) -> Callable[..., Any]:
    """``GitRepo._git`` with ``git commit`` interrupted before it starts, or after it finished."""
    real = GitRepo._git

    def run(self: GitRepo, *args: str, **kwargs: Any) -> Any:
        if "commit" not in args:
            return real(self, *args, **kwargs)
        if when == "after":
            real(self, *args, **kwargs)
        raise KeyboardInterrupt

    return run


def interrupted(id: str, target: tuple[Any, str], replacement: Callable[..., Any], *expected: Any) -> Any:
    """One case: its id, what to patch (object, attribute), its replacement, then what the test expects."""
    return pytest.param((*target, replacement), *expected, id=id)


@pytest.fixture
def build_check_without_tensorflow(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(augment_module, "validate_builds", builds_without_tensorflow)


NOTHING_COMMITTED = "round 1 was interrupted while choosing or writing the change: nothing was committed"
CONTINUES = "continuing at round 2: HEAD ({sha}) is the change keras-ct committed after round 1"

# (id, what to patch, its replacement, the step is done, the line the user reads)
PHASES = [
    interrupted("training", (Training, "wait"), training_interrupted, False,
                "round 1 was interrupted while training; nothing of this round was changed or committed: "
                "a re-run of the job trains round 1 again, resuming from the checkpoint"),
    interrupted("choosing-the-change", (augment_module, "decide"), interrupt, False,
                f"{NOTHING_COMMITTED} and {EDITED} are as before the round; a re-run of the job trains "
                "round 1 again"),
    interrupted("build-check", (augment_module, "validate_builds"), interrupt, False, NOTHING_COMMITTED),
    interrupted("writing-the-edit", (augment_module, "_write"), after(augment_module._write), False,
                NOTHING_COMMITTED),
    interrupted("commit-not-made", (GitRepo, "_git"), git_commit("before"), False,
                f"round 1 was interrupted while committing the change: nothing was committed and {EDITED} "
                "are as before the round"),
    interrupted("commit-made", (GitRepo, "_git"), git_commit("after"), True,
                "here, before pushing it: improve-model and the pull request are unchanged; re-run the job "
                "to train round 1 again"),
    interrupted("push", (GitRepo, "push"), interrupt, True,
                "to improve-model: if improve-model has {sha} now, run the workflow by hand "
                "(workflow_dispatch) on improve-model with round=2"),
    interrupted("dispatch", (GitHubPublisher, "dispatch"), interrupt, True,
                "round 1's change ({sha}) is on improve-model, but dispatching round 2 was interrupted"),
    interrupted("comment", (GitHubPublisher, "publish"), interrupt, True,
                "round 1 was interrupted while reporting: its change ({sha}) is on improve-model and round 2 "
                "was dispatched; only the comment or the commit status may be behind"),
]  # fmt: skip


def tree_state(work: Path) -> tuple[str, str, str, bytes]:
    """HEAD, the index against HEAD (staged names), the porcelain status, the model file."""
    return (
        git(work, "rev-parse", "HEAD"),
        git(work, "diff", "--cached", "--name-only"),
        git(work, "status", "--porcelain=v1", "--untracked-files=all"),
        (work / MODEL).read_bytes(),
    )


@pytest.mark.usefixtures("build_check_without_tensorflow")
@pytest.mark.parametrize(("interruption", "done", "said"), PHASES)
def test_an_interrupt_in_any_phase_leaves_the_step_done_or_the_tree_as_before(
    world: World,
    monkeypatch: pytest.MonkeyPatch,
    interruption: tuple[Any, str, Callable[..., Any]],
    done: bool,
    said: str,
) -> None:
    monkeypatch.setattr(*interruption)
    head, _, _, model = tree_state(world.work)
    remote = world.checkout.remote_head()

    result = run_cli(world.env())

    assert result.code == 130, result.out[-3000:] + result.err[-2000:]
    now, staged, status, model_now = tree_state(world.work)
    assert staged == "" and status == ""  # nothing staged, nothing modified, no stray file
    if done:  # the commit was made and kept: the tree is clean at it
        assert git(world.work, "rev-parse", "HEAD~1") == head
        assert "Keras-CT-Round: 1" in git(world.work, "log", "-1", "--format=%B")
        assert model_now != model
    else:  # the round's edit is undone: the tree as the round found it
        assert now == head and model_now == model
    pushed = interruption[1] in ("dispatch", "publish")
    assert world.checkout.remote_head() == (now if pushed else remote)
    assert [d.inputs["round"] for d in world.repo.dispatches] == (
        ["2"] if interruption[1] == "publish" else []
    )
    notes = [line for line in result.out.splitlines() if line.startswith("::warning::round 1")]
    assert len(notes) == 1 and said.format(sha=now[:7]) in notes[0], notes


def second_training_interrupted() -> Callable[..., Any]:
    real = Training.wait
    calls: list[int] = []

    def wait(self: Training) -> Any:
        calls.append(1)
        if len(calls) == 2:
            training_interrupted(self)
        return real(self)

    return wait


@pytest.mark.usefixtures("build_check_without_tensorflow")
@pytest.mark.parametrize(
    ("interruption", "said", "next_run"),
    [
        interrupted("commit-not-made", (GitRepo, "_git"), git_commit("before"),
                    "round 1 was interrupted while committing the change: nothing was committed and",
                    "stand-in accuracy 0.80 for 1 conv layers"),
        interrupted("commit-made", (GitRepo, "_git"), git_commit("after"),
                    "round 1 was interrupted after committing its change ({sha}): the next "
                    "`keras-ct loop --commit` continues at round 2 from it",
                    CONTINUES),
        interrupted("training-after-a-commit", (Training, "wait"), second_training_interrupted(),
                    "round 2 was interrupted while training; nothing of this round was changed or committed: "
                    "the next `keras-ct loop --commit` continues at round 2, resuming from the checkpoint",
                    CONTINUES),
    ],
)  # fmt: skip
def test_the_next_loop_goes_on_from_what_an_interrupted_loop_left(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    interruption: tuple[Any, str, Callable[..., Any]],
    said: str,
    next_run: str,
) -> None:
    checkout = loop_repo(tmp_path)
    work = checkout.work
    with monkeypatch.context() as patch:
        patch.setattr(*interruption)
        stopped = run_loop(tmp_path, work)
    assert stopped.code == 130, stopped.out[-3000:] + stopped.err[-2000:]
    head = git(work, "rev-parse", "HEAD")
    assert git(work, "status", "--porcelain=v1", "--untracked-files=all") == ""
    assert said.format(sha=head[:7]) in stopped.err

    again = run_loop(tmp_path, work)

    assert again.code == 0, again.out[-3000:] + again.err[-2000:]
    assert next_run.format(sha=head[:7]) in again.out
    assert "Threshold met: accuracy 0.9000" in again.out
    assert git(work, "status", "--porcelain=v1", "--untracked-files=all") == ""
    # One change in all: round 1's, committed once (never a second round-1 commit, no half-done one).
    assert git(work, "log", "--format=%(trailers:key=Keras-CT-Round,valueonly)").split() == ["1"]


@pytest.mark.usefixtures("build_check_without_tensorflow")
def test_an_explicit_round_starts_there_even_on_a_keras_ct_commit(tmp_path: Path) -> None:
    checkout = loop_repo(tmp_path)
    assert run_loop(tmp_path, checkout.work).code == 0  # round 1 missed, committed; round 2 met it

    again = run_loop(tmp_path, checkout.work, "--round", "1")

    assert again.code == 0, again.err[-2000:]
    assert "continuing at round" not in again.out
    assert "Round 1: training" in again.out and "stand-in accuracy 0.90 for 2 conv layers" in again.out


# -- the real process -------------------------------------------------------------------------------

SLOW_GIT = """\
#!{python} -S
import os, sys, time
from pathlib import Path
if "commit" in sys.argv[1:]:
    Path(os.environ["SLOW_GIT_MARKER"]).touch()
    time.sleep(60)
os.execv({git!r}, [{git!r}, *sys.argv[1:]])
"""
# The build check's interpreter: answers the check without TensorFlow, runs anything else as python.
BUILDS = """\
#!{python} -S
import json, os, sys
if len(sys.argv) == 3 and sys.argv[1].endswith("keras_ct_validate.py"):
    spec = json.load(open(sys.argv[2]))
    with open(spec["results"], "a") as out:
        for request in spec["requests"]:
            out.write(json.dumps({{"label": request["label"], "ok": True, "params": 1000}}) + "\\n")
    sys.exit(0)
os.execv({python!r}, [{python!r}, *sys.argv[1:]])
"""


def script(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(0o755)
    return path


def test_sigint_while_git_commit_runs_leaves_nothing_staged_and_the_next_loop_starts_clean(
    tmp_path: Path,
) -> None:
    checkout = loop_repo(tmp_path)
    work = checkout.work
    real_git = shutil.which("git")
    assert real_git is not None
    marker = tmp_path / "commit-started"
    slow = script(tmp_path / "slow-bin" / "git", SLOW_GIT.format(python=sys.executable, git=real_git))
    python = script(tmp_path / "bin" / "builds", BUILDS.format(python=sys.executable))
    argv = [sys.executable, "-m", "keras_ct", *loop_argv(work, "--python", str(python))]
    package = Path(keras_ct.__file__).resolve().parent.parent  # the keras_ct under test
    env = {**loop_env(tmp_path), "PYTHONPATH": str(package), "SLOW_GIT_MARKER": str(marker)}
    before = tree_state(work)

    proc = subprocess.Popen(
        argv,
        env={**env, "PATH": f"{slow.parent}{os.pathsep}{env['PATH']}"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not marker.exists():
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "git commit never started"
            time.sleep(0.02)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
        proc.wait()

    assert proc.returncode == 130, out[-3000:] + err[-3000:]
    assert tree_state(work) == before  # HEAD, index, status and the model file as before the round
    assert not (work / ".git" / "index.lock").exists()
    assert "round 1 was interrupted while committing the change: nothing was committed and" in err

    again = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120)

    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    round_1 = again.stdout.split("Round 1: training", 1)[1].split("Round 2: training", 1)[0]
    assert "stand-in accuracy 0.80 for 1 conv layers" in round_1  # round 1 trained the model as it was
    assert "Threshold met: accuracy 0.9000" in again.stdout
    assert git(work, "log", "-1", "--format=%(trailers:key=Keras-CT-Round,valueonly)").strip() == "1"
    assert git(work, "status", "--porcelain=v1", "--untracked-files=all") == ""


# -- resuming a killed training ---------------------------------------------------------------------


def leave_checkpoint(world: World, env: dict[str, str], finished: int) -> Path:
    """The round's checkpoint folder as BackupAndRestore (via ``resume_callbacks``) leaves it when the
    run is killed after ``finished`` epochs (checked once with a real Keras run killed by SIGKILL)."""
    folder = resume_dir(load_config({}, env), 1)
    backup = folder / "backup"
    backup.mkdir(parents=True)
    (backup / "training_metadata.json").write_text(json.dumps({"epoch": finished, "batch": 0}))
    (backup / "latest.weights.h5").write_bytes(b"\x89HDF\r\n\x1a\n")
    (folder / "epochs.json").write_text(json.dumps([{"loss": 1.0}] * finished))
    return folder


@pytest.mark.parametrize(
    ("command", "said"),
    [
        pytest.param("train_fake.py --epochs 10", "resuming round 1 at epoch 9 of 10", id="epochs-known"),
        pytest.param("train_fake.py", "resuming round 1 at epoch 9 from the checkpoint", id="epochs-unknown"),
    ],
)
def test_a_resumed_training_says_so_before_it_starts(world: World, command: str, said: str) -> None:
    env = world.env({"train-command": f"{sys.executable} {command}", "threshold": "0.5"})
    folder = leave_checkpoint(world, env, finished=8)

    result = run_cli(env)

    assert result.code == 0, result.out[-3000:]
    shown = folder.relative_to(world.work)
    line = f"::notice::{said}"
    assert line in result.out
    assert f"from the checkpoint a killed run left in {shown}" in result.out
    assert result.out.index(line) < result.out.index("stand-in accuracy")  # before the training
    assert result.out.count("resuming round") == 1
