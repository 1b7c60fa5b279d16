"""The train command as a subprocess: every way it can go wrong is a clear TrainingError."""

from __future__ import annotations

import io
import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from keras_ct.errors import TrainingError
from keras_ct.runner import Runner
from keras_ct.train.trainer import (
    ECHO_LIMIT_BYTES,
    ReusedTrainer,
    Trainer,
    TrainResult,
    TrainRun,
    command_argv,
    run_training,
)


def run_script(tmp_path: Path, code: str, timeout_s: float = 30) -> tuple[Runner, io.StringIO]:
    out = io.StringIO()
    runner = Runner(actions=False, out=out, err=io.StringIO())
    run = TrainRun(
        argv=(sys.executable, "-c", code),
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", "PYTHONUNBUFFERED": "1"},
        timeout_s=timeout_s,
        log_path=tmp_path / "round" / "train.log",
    )
    run_training(run, runner)
    return runner, out


def test_streams_output_and_logs(tmp_path: Path) -> None:
    _, out = run_script(tmp_path, "print('epoch 1'); print('epoch 2')")
    assert out.getvalue() == "epoch 1\nepoch 2\n"
    assert (tmp_path / "round" / "train.log").read_text() == "epoch 1\nepoch 2\n"


def test_leading_python_uses_model_interpreter() -> None:
    assert command_argv("python train.py --epochs 3", "/opt/env/bin/python") == (
        "/opt/env/bin/python",
        "train.py",
        "--epochs",
        "3",
    )
    assert command_argv("bash run.sh 'a b'", "/x") == ("bash", "run.sh", "a b")


def test_unbalanced_quotes() -> None:
    with pytest.raises(TrainingError, match="cannot be parsed: No closing quotation"):
        command_argv("python 'train.py", "/x")


def test_command_not_found(tmp_path: Path) -> None:
    runner = Runner(out=io.StringIO(), err=io.StringIO())
    run = TrainRun(("no-such-trainer-xyz", "--go"), tmp_path, {"PATH": "/usr/bin"}, 10, tmp_path / "log")
    with pytest.raises(TrainingError, match='train command not found: "no-such-trainer-xyz"') as info:
        run_training(run, runner)
    assert not info.value.retryable


def test_exit_status_one_shows_tail(tmp_path: Path) -> None:
    with pytest.raises(TrainingError) as info:
        run_script(tmp_path, "import sys; print('loading'); print('boom', file=sys.stderr); sys.exit(1)")
    assert "exited with status 1" in info.value.message
    assert info.value.message.rstrip().endswith("loading\nboom")
    assert info.value.retryable


def test_usage_error_not_retryable(tmp_path: Path) -> None:
    with pytest.raises(TrainingError) as info:
        run_script(tmp_path, "import sys; sys.exit(2)")
    assert not info.value.retryable


def test_killed_by_signal(tmp_path: Path) -> None:
    with pytest.raises(TrainingError, match="killed by SIGKILL") as info:
        run_script(tmp_path, f"import os; os.kill(os.getpid(), {int(signal.SIGKILL)})")
    assert info.value.retryable


def test_timeout_kills_process_tree(tmp_path: Path) -> None:
    marker = tmp_path / "child-alive"
    child = tmp_path / "child.py"
    child.write_text(f"import time\ntime.sleep(3)\nopen({str(marker)!r}, 'w').close()\n")
    code = f"import subprocess, sys, time\nsubprocess.Popen([sys.executable, {str(child)!r}])\nprint('started')\ntime.sleep(60)\n"
    with pytest.raises(TrainingError, match=r"ran past timeout-minutes \(0.01 min\)"):
        run_script(tmp_path, code, timeout_s=0.6)
    import time

    time.sleep(3.5)
    assert not marker.exists(), "the child of the timed-out command kept running"


def test_ten_megabytes_of_output_is_bounded(tmp_path: Path) -> None:
    code = "import sys\nline = 'x' * 99 + '\\n'\nfor _ in range(100_000): sys.stdout.write(line)\n"
    _, out = run_script(tmp_path, code)
    echoed = out.getvalue()
    assert len(echoed) < ECHO_LIMIT_BYTES + 10_000
    assert "the rest is only in" in echoed
    assert (tmp_path / "round" / "train.log").stat().st_size == 10_000_000


def test_started_run_holds_its_output_until_attached_and_cancel_kills_it(tmp_path: Path) -> None:
    out = io.StringIO()
    runner = Runner(actions=False, out=out, err=io.StringIO())
    code = "import time; print('early line', flush=True); time.sleep(0.3); print('late line')"
    env = {"PATH": "/usr/bin:/bin", "PYTHONUNBUFFERED": "1"}
    training = Trainer().start(
        TrainRun((sys.executable, "-c", code), tmp_path, env, 30, tmp_path / "a.log"), runner
    )
    result = training.wait()
    assert out.getvalue() == "early line\nlate line\n" and result.output_bytes == len(out.getvalue())

    out.truncate(0), out.seek(0)
    hang = Trainer().start(
        TrainRun(
            (sys.executable, "-c", "print('hi', flush=True); import time; time.sleep(60)"),
            tmp_path,
            env,
            30,
            tmp_path / "b.log",
        ),
        runner,
    )
    log = tmp_path / "b.log"
    while not (log.exists() and "hi" in log.read_text()):  # in the log file at once, not on the runner
        time.sleep(0.01)
    hang.cancel()
    assert hang.proc.returncode is not None and out.getvalue() == ""


# -- a reused training process (rounds-per-job > 1, keras-ct loop) --------------------------------------

SCRIPT = """\
import os, sys
import helper
print(f"pid={os.getpid()} round={os.environ['ROUND']} args={sys.argv[1:]} helper={helper.VALUE}")
print(f"stdin={sys.stdin.read()!r}")
if os.environ.get("NO_NEWLINE"):
    print("last words", end="")
sys.exit(int(os.environ.get("EXIT", "0")))
"""


def reused_run(tmp_path: Path, trainer: ReusedTrainer, n: int, **env: str) -> tuple[str, TrainResult]:
    out = io.StringIO()
    runner = Runner(actions=False, out=out, err=io.StringIO())
    run = TrainRun(
        argv=(sys.executable, "train.py", "--epochs", str(n)),
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", "ROUND": str(n), **env},
        timeout_s=30,
        log_path=tmp_path / f"round-{n}" / "train.log",
    )
    result = trainer.start(run, runner).wait()
    return out.getvalue(), result


def pid_of(output: str) -> str:
    return output.split()[0]


@pytest.fixture
def trainer(tmp_path: Path) -> Iterator[ReusedTrainer]:
    """A reused process for SCRIPT, which imports the user's module helper.py (VALUE = 'one')."""
    (tmp_path / "train.py").write_text(SCRIPT)
    (tmp_path / "helper.py").write_text("VALUE = 'one'\n")
    reused = ReusedTrainer(sys.executable)
    yield reused
    reused.close()


def test_reused_process_runs_each_round_with_its_own_args_env_and_fresh_user_modules(
    tmp_path: Path, trainer: ReusedTrainer
) -> None:
    first, result = reused_run(tmp_path, trainer, 1)
    (tmp_path / "helper.py").write_text("VALUE = 'second'\n")  # the augmenter changed the user's code
    second, _ = reused_run(tmp_path, trainer, 2, NO_NEWLINE="1")
    third, _ = reused_run(tmp_path, trainer, 3)
    assert first.splitlines()[0].endswith("round=1 args=['--epochs', '1'] helper=one")
    assert second.splitlines()[0].endswith("round=2 args=['--epochs', '2'] helper=second")
    assert pid_of(first) == pid_of(second) == pid_of(third)  # one process for the three rounds
    assert "stdin=''" in first  # the requests pipe is not the script's stdin
    assert second.splitlines()[-1] == "last words"  # the end marker never shows, even after no newline
    assert "keras-ct-run-" not in first + second + third
    assert (tmp_path / "round-2" / "train.log").read_text().splitlines() == second.splitlines()
    assert result.output_bytes == len(first)


def test_reused_process_after_a_failed_round_is_a_fresh_one(tmp_path: Path, trainer: ReusedTrainer) -> None:
    first, _ = reused_run(tmp_path, trainer, 1)
    with pytest.raises(TrainingError, match="exited with status 3") as info:
        reused_run(tmp_path, trainer, 2, EXIT="3")
    assert info.value.retryable
    third, _ = reused_run(tmp_path, trainer, 3)
    assert pid_of(first) != pid_of(third)


def test_reused_process_timeout_kills_it_and_commands_it_cannot_run_get_their_own(tmp_path: Path) -> None:
    trainer = ReusedTrainer(sys.executable)
    runner = Runner(actions=False, out=io.StringIO(), err=io.StringIO())
    hang = TrainRun(
        (sys.executable, "-c", "pass"), tmp_path, {"PATH": "/usr/bin:/bin"}, 30, tmp_path / "x.log"
    )
    assert not trainer.runs_here(hang.argv)  # `python -c` and other flags: a process of its own
    assert trainer.runs_here((sys.executable, "-m", "pkg.train"))
    assert not trainer.runs_here(("bash", "train.sh"))
    (tmp_path / "slow.py").write_text("import time\nprint('started', flush=True)\ntime.sleep(60)\n")
    slow = TrainRun((sys.executable, "slow.py"), tmp_path, {"PATH": "/usr/bin:/bin"}, 1, tmp_path / "s.log")
    try:
        with pytest.raises(TrainingError, match="ran past timeout-minutes"):
            trainer.start(slow, runner).wait()
        gone = TrainRun(
            (sys.executable, "missing.py"), tmp_path, {"PATH": "/usr/bin:/bin"}, 30, tmp_path / "m.log"
        )
        with pytest.raises(TrainingError, match=r"can't open file 'missing\.py'") as info:
            trainer.start(gone, runner).wait()
        assert not info.value.retryable  # exit 2, as python itself
    finally:
        trainer.close()
