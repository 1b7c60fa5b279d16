"""The one way keras-ct starts a process that runs repository code, and ends its whole tree.

The training runs, the reused training process and the augmenter's build check all start through
``spawn``. On Linux the command runs below a small supervisor (``reaper.py``): a child subreaper, so
that every descendant stays below it however it detaches (a background child, ``setsid``, a double
fork), ended and reaped when the command exits or is stopped, and ended too when keras-ct itself dies
(even by SIGKILL). Once a supervised process has exited, nothing it started is left, and nothing
holds its output pipe open. Elsewhere the command runs in a session of its own and its process group
is ended (``end_group``): what leaves the group is out of reach there.
"""

from __future__ import annotations

import contextlib
import functools
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from keras_ct.train.reaper import GRACE_S, KILL_WAIT_S

REAPER = Path(__file__).resolve().with_name("reaper.py")
#: How long ``stop`` waits for a supervisor beyond the processes' own grace before SIGKILL.
_MARGIN_S = KILL_WAIT_S + 2.0


@functools.cache
def supervised() -> bool:
    """Whether commands run below ``reaper.py`` here (Linux, with ``/proc``)."""
    return sys.platform.startswith("linux") and os.path.isdir("/proc/self")


def spawn(
    argv: Sequence[str],
    *,
    cwd: Path | None,
    env: Mapping[str, str],
    stdin: int = subprocess.DEVNULL,
    stdout: int = subprocess.PIPE,
    stderr: int = subprocess.STDOUT,
) -> subprocess.Popen[bytes]:
    """Start ``argv`` in a session of its own (supervised on Linux); raise ``OSError`` as ``Popen`` would
    when it cannot start (``FileNotFoundError``, ``PermissionError``). Call from the main thread: the
    supervisor ends the tree when the thread that started it ends (``PR_SET_PDEATHSIG``)."""

    def popen(args: Sequence[str], pass_fds: tuple[int, ...] = ()) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            list(args),
            cwd=cwd,
            env=dict(env),
            stdin=stdin,
            stdout=stdout,
            stderr=stderr,
            start_new_session=True,
            pass_fds=pass_fds,
        )

    if not supervised():
        return popen(argv)
    status_read, status_write = os.pipe()
    try:
        supervisor = [sys.executable, "-I", "-S", str(REAPER), str(os.getpid()), str(status_write), "--"]
        proc = popen([*supervisor, *argv], pass_fds=(status_write,))
    except BaseException:
        os.close(status_read)
        raise
    finally:
        os.close(status_write)
    try:
        with os.fdopen(status_read, "rb") as status:
            said = status.read().decode(errors="replace")
    except BaseException:  # an interrupt while it starts
        stop(proc)
        raise
    if said != "ok":
        stop(proc)
        _close(proc)
        number, _, reason = said.partition(" ")
        if number.isdigit():
            raise OSError(int(number), reason, argv[0])  # FileNotFoundError, PermissionError, ...
        raise OSError(f"the process supervisor ({REAPER}) ended before it started {argv[0]!r}")
    return proc


def stop(proc: subprocess.Popen[bytes], grace_s: float = GRACE_S) -> None:
    """End ``proc`` and everything it started: SIGTERM to its group (a supervisor then ends the rest,
    with SIGKILL after ``grace_s``), SIGKILL to the group if it is still there after that."""
    if proc.poll() is None:
        _signal_group(proc, signal.SIGTERM)
        try:
            proc.wait(timeout=grace_s + (_MARGIN_S if supervised() else 0.0))
        except subprocess.TimeoutExpired:
            _signal_group(proc, signal.SIGKILL)
            proc.wait()
    end_group(proc)


def end_group(proc: subprocess.Popen[bytes]) -> None:
    """After ``proc`` exited: SIGKILL what is left in its process group. Only where it was not
    supervised; a supervisor leaves nothing, and its group id may belong to a new process by now."""
    if supervised() or proc.returncode is None:
        return
    _signal_group(proc, signal.SIGKILL)
    deadline = time.monotonic() + KILL_WAIT_S
    while time.monotonic() < deadline:  # until the kernel has removed them
        try:
            os.killpg(proc.pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.01)


def _signal_group(proc: subprocess.Popen[bytes], signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signum)


def _close(proc: subprocess.Popen[bytes]) -> None:
    for stream in (proc.stdin, proc.stdout, proc.stderr):
        if stream is not None:
            with contextlib.suppress(OSError):  # a broken pipe on flush: it is gone already
                stream.close()


def run(
    argv: Sequence[str], *, cwd: Path | None, env: Mapping[str, str], timeout_s: float
) -> tuple[int, str, str]:
    """Run ``argv`` to the end (``spawn``, output captured): exit code, stdout, stderr. Raises
    ``subprocess.TimeoutExpired`` past ``timeout_s`` and ``OSError`` as ``subprocess.run`` would; the
    whole tree is ended either way."""
    proc = spawn(argv, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        out, err = proc.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        stop(proc)
        raise subprocess.TimeoutExpired(list(argv), timeout_s) from None
    except BaseException:
        stop(proc)
        raise
    finally:
        _close(proc)
    end_group(proc)
    return int(proc.returncode), out.decode(errors="replace"), err.decode(errors="replace")
