"""Run the train command: a subprocess with streamed, bounded output and a time limit.

This is an edge module: it starts processes. The command runs without a shell (``shlex.split``),
in its own process group so a timeout kills the whole tree, with ``KERAS_CT_*`` variables telling
it where to write the metrics file, the model and its checkpoints.
"""

from __future__ import annotations

import collections
import os
import shlex
import signal
import subprocess
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from keras_ct.errors import TrainingError
from keras_ct.runner import Runner

#: Echo at most this much of the training output to the job log; the rest goes to the log file only.
ECHO_LIMIT_BYTES = 1_000_000
#: Keep at most this much in the log file (a runaway script must not fill the disk).
LOG_LIMIT_BYTES = 50_000_000
TAIL_LINES = 20


@dataclass(frozen=True)
class TrainRun:
    argv: tuple[str, ...]
    cwd: Path
    env: Mapping[str, str]
    timeout_s: float
    log_path: Path


@dataclass(frozen=True)
class TrainResult:
    duration_s: float
    log_path: Path
    output_bytes: int


def command_argv(command: str, interpreter: str) -> tuple[str, ...]:
    """Split the train command; a leading ``python``/``python3`` runs with the model's interpreter."""
    try:
        argv = shlex.split(command)
    except ValueError as exc:
        raise TrainingError(f'train-command "{command}" cannot be parsed: {exc}; check its quotes') from None
    if not argv:
        raise TrainingError("train-command is empty; give the command that trains the model")
    if argv[0] in ("python", "python3"):
        argv[0] = interpreter
    return tuple(argv)


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def run_training(run: TrainRun, runner: Runner) -> TrainResult:
    """Run once; raise ``TrainingError`` when the command is missing, fails, is killed or times out."""
    return start_training(run, runner).wait()


def start_training(run: TrainRun, runner: Runner) -> Training:
    """Start the train command and return at once; ``Training.wait`` echoes its output and judges it.

    Until ``wait`` (or ``attach``) is called the output goes to the log file and is held back from the
    runner, so a job log never mixes training lines with what the orchestrator does meanwhile.
    """
    return Training(run, runner)


class Training:
    """One started run of the train command (see ``start_training``)."""

    def __init__(self, run: TrainRun, runner: Runner) -> None:
        self.run = run
        self.runner = runner
        self.shown = shlex.join(run.argv)
        run.log_path.parent.mkdir(parents=True, exist_ok=True)
        self.started = time.monotonic()
        try:
            self.proc = subprocess.Popen(
                run.argv,
                cwd=run.cwd,
                env=dict(run.env),
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        except FileNotFoundError:
            raise TrainingError(
                f'train command not found: "{run.argv[0]}" (train-command: {self.shown}); '
                "install it or fix the command"
            ) from None
        except PermissionError:
            raise TrainingError(
                f'train command "{run.argv[0]}" is not executable (train-command: {self.shown})'
            ) from None
        self._tail: collections.deque[str] = collections.deque(maxlen=TAIL_LINES)
        self._bytes = 0
        self._echoed = 0
        self._held: list[str] | None = []  # lines waiting for attach(); None once attached
        self._lock = threading.Lock()
        self._reader = threading.Thread(target=self._pump, name="train-output", daemon=True)
        self._reader.start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        with self.run.log_path.open("wb") as log:
            for raw in iter(self.proc.stdout.readline, b""):
                self._bytes += len(raw)
                if self._bytes <= LOG_LIMIT_BYTES:
                    log.write(raw)
                    log.flush()  # a run killed with the job still leaves its log up to the last line
                line = raw.decode("utf-8", errors="replace").rstrip("\n")
                self._tail.append(line[:500])
                with self._lock:
                    if self._held is not None:
                        self._held.append(line)
                    else:
                        self._echo(line)

    def _echo(self, line: str) -> None:
        if self._echoed >= ECHO_LIMIT_BYTES:
            return
        self._echoed += len(line) + 1
        self.runner.info(line)
        if self._echoed >= ECHO_LIMIT_BYTES:
            self.runner.info(
                f"keras-ct: training printed over {ECHO_LIMIT_BYTES // 1_000_000} MB; "
                f"the rest is only in {self.run.log_path}"
            )

    def attach(self) -> None:
        """Echo the output held so far to the runner, and every later line as it comes."""
        with self._lock:
            held, self._held = self._held, None
            for line in held or ():
                self._echo(line)

    def cancel(self) -> None:
        """Stop the run (its whole process group) if it is still going; nothing is judged."""
        if self.proc.poll() is None:
            _kill_group(self.proc)
        self._reader.join(timeout=10)
        if self.proc.stdout is not None:
            self.proc.stdout.close()

    def wait(self) -> TrainResult:
        """Wait for the exit, echoing the output; raise ``TrainingError`` unless it exited 0 in time."""
        self.attach()
        run, proc = self.run, self.proc
        timed_out = False
        try:
            proc.wait(timeout=max(0.0, run.timeout_s - (time.monotonic() - self.started)))
        except subprocess.TimeoutExpired:
            timed_out = True
            _kill_group(proc)
        except BaseException:
            _kill_group(proc)
            raise
        self._reader.join(timeout=10)
        if proc.stdout is not None:
            proc.stdout.close()
        duration = time.monotonic() - self.started
        last = "\n".join(self._tail)

        if timed_out:
            raise TrainingError(
                f"training ran past timeout-minutes ({run.timeout_s / 60:g} min) and was stopped; "
                "raise timeout-minutes or train for fewer epochs. Last output:\n" + last
            )
        if proc.returncode < 0:
            raise TrainingError(
                f"training was killed by {_signal_name(-proc.returncode)} after {duration:.0f} s "
                "(out of memory, or the runner was stopping?). Last output:\n" + last,
                retryable=True,
            )
        if proc.returncode != 0:
            # The script's last words usually say why (`train.py: error: dataset ... does not exist`): put
            # them on the first line, the one the PR comment and the commit status show.
            said = next((line.strip() for line in reversed(self._tail) if line.strip()), "")
            why = f": {said[:200]}" if said else ""
            raise TrainingError(
                f"train command exited with status {proc.returncode}{why} ({self.shown}). Last output:\n"
                + last,
                retryable=proc.returncode != 2,  # 2: a usage error (bad flag or dataset): a retry fails alike
            )
        return TrainResult(duration_s=duration, log_path=run.log_path, output_bytes=self._bytes)


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    except ProcessLookupError:
        pass
