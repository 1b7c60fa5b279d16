"""Run the train command: a subprocess with streamed, bounded output and a time limit.

This is an edge module: it starts processes. The command runs without a shell (``shlex.split``),
through ``keras_ct.train.processes`` (when a run ends, however it ends, nothing it started is left), with
``KERAS_CT_*`` variables telling it where to write the metrics file, the model and its checkpoints.
"""

from __future__ import annotations

import collections
import contextlib
import io
import json
import os
import select
import shlex
import signal
import subprocess
import threading
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from keras_ct.errors import TrainingError
from keras_ct.round import interrupts
from keras_ct.runner import Runner
from keras_ct.train import processes

#: Echo at most this much of the training output to the job log; the rest goes to the log file only.
ECHO_LIMIT_BYTES = 1_000_000
#: Keep at most this much in the log file (a runaway script must not fill the disk).
LOG_LIMIT_BYTES = 50_000_000
TAIL_LINES = 20
#: Once the run's processes are gone, how long the output reader may take to read what is left.
DRAIN_S = 5.0


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
    return Trainer().start(run, runner).wait()


def _spawn(
    argv: Sequence[str], cwd: Path, env: Mapping[str, str], shown: str, stdin: int = subprocess.DEVNULL
) -> subprocess.Popen[bytes]:
    """Start ``argv`` (``processes.spawn``: its whole tree ends with it), output on one pipe."""
    try:
        return processes.spawn(argv, cwd=cwd, env=env, stdin=stdin)
    except FileNotFoundError as exc:
        raise TrainingError(
            f'train command not found: "{argv[0]}" (train-command: {shown}); install it or fix the command'
        ) from exc
    except PermissionError as exc:
        raise TrainingError(f'train command "{argv[0]}" is not executable (train-command: {shown})') from exc


class Training:
    """One started run of the train command (``Trainer.start``, ``ReusedTrainer.start``).

    Until ``wait`` (or ``attach``) is called the output goes to the log file and is held back from the
    runner, so a job log never mixes training lines with what the orchestrator does meanwhile.
    """

    def __init__(
        self, run: TrainRun, runner: Runner, worker: tuple[subprocess.Popen[bytes], str] | None = None
    ) -> None:
        self.run = run
        self.runner = runner
        self.shown = shlex.join(run.argv)
        run.log_path.parent.mkdir(parents=True, exist_ok=True)
        self.started = time.monotonic()
        #: In a reused process (``ReusedTrainer``) the run ends at the worker's ``<token> exit=<code>``.
        self._token: bytes | None = None
        self._exit_code: int | None = None
        #: Set by ``wait``: the exit status (negative: killed by that signal) and whether it timed out.
        self.returncode: int | None = None
        self.timed_out = False
        if worker is not None:
            self.proc, token = worker
            self._token = token.encode()
        else:
            self.proc = _spawn(run.argv, run.cwd, run.env, self.shown)
        self._tail: collections.deque[str] = collections.deque(maxlen=TAIL_LINES)
        self._bytes = 0
        self._echoed = 0
        self._held: list[str] | None = []  # lines waiting for attach(); None once attached
        self._lock = threading.Lock()
        self._stop_reading = threading.Event()
        self._reader = threading.Thread(target=self._pump, name="train-output", daemon=True)
        self._reader.start()

    def _pump(self) -> None:
        """Read the output line by line until its end, the run's token, or ``_stop_reading``.

        It reads the pipe's descriptor itself, never blocking for long, so that a process that keeps
        the pipe open after the run (out of reach of ``processes``, on another system) cannot keep it.
        """
        assert self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        pending = bytearray()
        with self.run.log_path.open("wb") as log:
            while not self._stop_reading.is_set():
                if not select.select([fd], [], [], 0.1)[0]:
                    continue
                chunk = os.read(fd, 65536)
                if not chunk:
                    break
                start = len(pending)
                pending += chunk
                end = pending.find(b"\n", start)
                while end >= 0:
                    raw = bytes(pending[: end + 1])
                    del pending[: end + 1]
                    if self._take(raw, log):
                        return
                    end = pending.find(b"\n")
            if pending:
                self._take(bytes(pending), log)

    def _take(self, raw: bytes, log: BinaryIO) -> bool:
        """Handle one line; True at a reused process's ``<token> exit=<code>`` (the end of this run)."""
        if self._token is not None and self._token in raw:
            raw, _, said = raw.partition(self._token)
            self._exit_code = int(said.strip().removeprefix(b"exit="))
            if raw:
                self._line(raw, log)
            return True
        self._line(raw, log)
        return False

    def _line(self, raw: bytes, log: BinaryIO) -> None:
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
        """Stop the run (everything it started, a reused process too) if it is still going."""
        if self.proc.poll() is None:
            processes.stop(self.proc)
            interrupts.stopped("the training")
        self._finish_reading()
        if self.proc.stdout is not None:
            self.proc.stdout.close()

    def _finish_reading(self) -> None:
        """Let the reader take the rest of the output (the run's processes are gone), then stop it."""
        self._reader.join(timeout=DRAIN_S)
        self._stop_reading.set()
        self._reader.join()

    def _ended(self, deadline: float) -> bool:
        """Wait for the end of the run until ``deadline``; False when the time ran out."""
        if self._token is None:
            try:
                self.proc.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                return False
            return True
        # A reused process: the run ends at its token, or when the process dies.
        while self._reader.is_alive() and self.proc.poll() is None:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            self._reader.join(timeout=min(left, 0.5))
        return True

    def wait(self) -> TrainResult:
        """Wait for the exit, echoing the output; raise ``TrainingError`` unless it exited 0 in time."""
        self.attach()
        run, proc = self.run, self.proc
        try:
            timed_out = not self._ended(self.started + run.timeout_s)
        except BaseException:  # an interrupt (SIGINT, SIGTERM, SIGHUP): stop it all, then go on unwinding
            processes.stop(proc)
            interrupts.stopped("the training")
            self._finish_reading()
            raise
        if timed_out:
            processes.stop(proc)
        self._finish_reading()
        returncode = self._exit_code
        if returncode is None:  # a process of its own, or a reused one that died mid-run
            returncode = proc.wait()
        self.returncode, self.timed_out = returncode, timed_out
        if returncode != 0 or self._token is None:
            if self._token is not None:  # a reused process ends after a failed run: let it go
                _end(proc)
            processes.end_group(proc)
            if proc.stdout is not None:
                proc.stdout.close()
        duration = time.monotonic() - self.started
        last = "\n".join(self._tail)

        if timed_out:
            raise TrainingError(
                f"training ran past timeout-minutes ({run.timeout_s / 60:g} min) and was stopped; "
                "raise timeout-minutes or train for fewer epochs. Last output:\n" + last
            )
        if returncode < 0:
            raise TrainingError(
                f"training was killed by {_signal_name(-returncode)} after {duration:.0f} s "
                "(out of memory, or the runner was stopping?). Last output:\n" + last,
                retryable=True,
            )
        if returncode != 0:
            # The script's last words usually say why (`train.py: error: dataset ... does not exist`): put
            # them on the first line, the one the PR comment and the commit status show.
            said = next((line.strip() for line in reversed(self._tail) if line.strip()), "")
            why = f": {said[:200]}" if said else ""
            raise TrainingError(
                f"train command exited with status {returncode}{why} ({self.shown}). Last output:\n" + last,
                retryable=returncode != 2,  # 2: a usage error (bad flag or dataset): a retry fails alike
            )
        return TrainResult(duration_s=duration, log_path=run.log_path, output_bytes=self._bytes)


class Trainer:
    """Starts each run of the train command in a process of its own."""

    def start(self, run: TrainRun, runner: Runner) -> Training:
        """Start the train command and return at once; ``Training.wait`` echoes its output and judges it."""
        return Training(run, runner)

    def close(self) -> None:
        """Nothing outlives a run."""


WORKER = Path(__file__).resolve().parent / "worker.py"


class ReusedTrainer(Trainer):
    """Runs the rounds of one job in one long-lived process of the model's interpreter.

    The process (``worker.py``) imports TensorFlow, the data libraries and whatever else
    the script imports on the first round and keeps them for the next ones; each run still gets the
    round's arguments, environment and directory, and the user's own modules are read afresh. Only a
    command ``<interpreter> script.py ...`` or ``<interpreter> -m module ...`` can run there; any
    other command (``bash train.sh``) gets a process of its own, as with ``Trainer``. A run that exits
    non-zero, crashes or times out ends the process; the next run starts a fresh one.
    """

    def __init__(self, interpreter: str) -> None:
        self.interpreter = interpreter
        self._proc: subprocess.Popen[bytes] | None = None

    def runs_here(self, argv: Sequence[str]) -> bool:
        """Whether ``argv`` can run in the reused process."""
        if len(argv) < 2 or argv[0] != self.interpreter:
            return False
        return (argv[1] == "-m" and len(argv) >= 3) or not argv[1].startswith("-")

    def start(self, run: TrainRun, runner: Runner) -> Training:
        if not self.runs_here(run.argv):
            return Training(run, runner)
        token = f"keras-ct-run-{uuid.uuid4().hex}"
        request = json.dumps(
            {"argv": list(run.argv[1:]), "env": dict(run.env), "cwd": str(run.cwd), "token": token}
        ).encode()
        for fresh in (False, True):
            if fresh or self._proc is None or self._proc.poll() is not None:
                self.close()
                self._proc = _spawn(
                    (self.interpreter, "-u", str(WORKER)),
                    run.cwd,
                    run.env,
                    shlex.join(run.argv),
                    stdin=subprocess.PIPE,
                )
            assert self._proc.stdin is not None
            try:
                self._proc.stdin.write(request + b"\n")
                self._proc.stdin.flush()
                break
            except BrokenPipeError:  # it ended between two runs: once more, with a fresh process
                if fresh:
                    raise TrainingError(
                        f"the training process of {self.interpreter} ended as soon as it started; "
                        "set reuse-training-process to false to run each round in a process of its own"
                    ) from None
        assert self._proc is not None
        return Training(run, runner, worker=(self._proc, token))

    def run_script(
        self, argv: Sequence[str], env: Mapping[str, str], cwd: Path | None, timeout_s: float
    ) -> tuple[int, str]:
        """Run a helper script in the reused process (the augmenter's build checks): exit code and output.

        Raises ``subprocess.TimeoutExpired`` past ``timeout_s``, ``FileNotFoundError`` or
        ``PermissionError`` when the interpreter cannot be started, as ``subprocess.run`` would.
        """
        out = io.StringIO()
        run = TrainRun(
            argv=tuple(argv),
            cwd=cwd or Path.cwd(),
            env=env,
            timeout_s=timeout_s,
            log_path=Path(argv[1]).parent / f"{Path(argv[1]).stem}.log",
        )
        try:
            training = self.start(run, Runner(out=out, err=out))
        except TrainingError as exc:
            if isinstance(exc.__cause__, OSError):  # the interpreter: not found or not executable
                raise exc.__cause__ from None
            raise
        try:
            training.wait()
        except TrainingError:
            if training.timed_out:
                raise subprocess.TimeoutExpired(list(argv), timeout_s) from None
        return int(training.returncode or 0), out.getvalue()

    def close(self) -> None:
        """End the process: it exits when its requests end; one that hangs is killed."""
        proc, self._proc = self._proc, None
        if proc is not None:
            _end(proc)
            if proc.stdout is not None:
                proc.stdout.close()


def _end(proc: subprocess.Popen[bytes]) -> None:
    """Close a reused process's requests and wait for it to exit; stop it (and its tree) if it does not."""
    try:
        if proc.stdin is not None and not proc.stdin.closed:
            proc.stdin.close()
    except OSError:  # a broken pipe: it is gone already
        pass
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=10)
    processes.stop(proc)
