"""Supervise one command and its whole process tree (Linux; standard library only).

keras-ct starts every process that runs repository code through this file (``keras_ct.train.processes``):

    python -I -S _reaper.py <keras-ct pid> <status fd> -- <command...>

It makes itself a child subreaper (``PR_SET_CHILD_SUBREAPER``), so every descendant of the command
stays below it, even one that left the process group or the session (``setsid``, a double fork); it
asks for SIGTERM when keras-ct dies (``PR_SET_PDEATHSIG``), and the command gets SIGKILL when this
supervisor dies. It reports on the status fd whether the command started (``ok``, or the errno).

When the command exits, or a SIGTERM/SIGINT/SIGHUP arrives, every process left below gets SIGTERM,
then SIGKILL after ``GRACE_S``; all are reaped. Then it exits as the command did (by the same signal
when the command was killed), so the caller sees the command's own status. Nothing outlives it, so
nothing holds the command's stdout open after it: the caller's reader sees the end of the output.

The reused training process (``worker.py``, in the model's interpreter) loads this file to
end a run's leftover children with ``end_descendants`` without ending itself. It must not import
keras_ct and must run on any Python 3.9+.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from collections.abc import Callable

#: How long the processes of an ended run get to exit after SIGTERM before SIGKILL.
GRACE_S = 5.0
#: After SIGKILL, how long to wait for the kernel to remove them (a process in uninterruptible sleep
#: cannot die at once) before giving up on them.
KILL_WAIT_S = 5.0

_PR_SET_PDEATHSIG = 1
_PR_SET_CHILD_SUBREAPER = 36
_STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)


def prctl(option: int, value: int) -> bool:
    """Linux ``prctl(option, value)``; False where it is not available (another system, no libc)."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        return int(libc.prctl(option, ctypes.c_ulong(value), 0, 0, 0)) == 0
    except (OSError, AttributeError):
        return False


def become_subreaper() -> bool:
    """Adopt orphaned descendants (instead of init), so ``end_descendants`` can find them."""
    return prctl(_PR_SET_CHILD_SUBREAPER, 1)


def _stat(pid: int) -> tuple[str, int, int] | None:
    """State, parent pid and start time of ``pid`` from ``/proc/<pid>/stat``; None when it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            data = handle.read()
    except OSError:
        return None
    fields = data[data.rindex(b")") + 2 :].split()  # after "pid (comm) ": the name may hold anything
    return fields[0].decode(), int(fields[1]), int(fields[19])


def descendants(root: int) -> dict[int, tuple[str, int]]:
    """Every live process below ``root``: pid -> (state, start time)."""
    children: dict[int, list[int]] = {}
    info: dict[int, tuple[str, int]] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        found = _stat(int(name))
        if found is not None:
            state, ppid, start = found
            info[int(name)] = (state, start)
            children.setdefault(ppid, []).append(int(name))
    below: dict[int, tuple[str, int]] = {}
    todo = list(children.get(root, ()))
    while todo:
        pid = todo.pop()
        if pid in info and pid not in below:
            below[pid] = info[pid]
            todo.extend(children.get(pid, ()))
    return below


def _send(pid: int, start: int, signum: int) -> None:
    """Signal ``pid`` only if it is still the process seen (same start time: not a reused pid)."""
    try:
        fd = os.pidfd_open(pid)  # a handle on this very process, whatever happens to the number
    except ProcessLookupError:
        return
    except (AttributeError, OSError):  # Python < 3.9 or an old kernel: check, then signal by number
        fd = -1
    try:
        now = _stat(pid)
        if now is None or now[2] != start:
            return
        if fd >= 0:
            signal.pidfd_send_signal(fd, signum)
        else:
            os.kill(pid, signum)
    except ProcessLookupError:
        pass
    finally:
        if fd >= 0:
            os.close(fd)


def reap(statuses: dict[int, int] | None = None) -> None:
    """Collect every exited child of this process (no zombies), noting their wait statuses."""
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        if statuses is not None:
            statuses[pid] = status


def end_descendants(grace_s: float = GRACE_S, reaper: Callable[[], None] = reap) -> None:
    """End every process below this one: SIGTERM (and SIGCONT, for a stopped one), SIGKILL to what is
    left after ``grace_s``; ``reaper`` collects those that end as this process's children."""
    if not os.path.isdir("/proc/self"):
        _end_own_group()
        return
    me = os.getpid()
    kill_at = time.monotonic() + grace_s
    give_up = kill_at + KILL_WAIT_S
    sent: dict[tuple[int, int], int] = {}
    while True:
        reaper()
        left = {pid: start for pid, (state, start) in descendants(me).items() if state not in "ZX"}
        now = time.monotonic()
        if not left or now > give_up:
            reaper()  # those that ended since the last look
            return
        signum = signal.SIGKILL if now >= kill_at else signal.SIGTERM
        for pid, start in left.items():
            if sent.get((pid, start)) != signum:
                _send(pid, start, signum)
                if signum == signal.SIGTERM:
                    _send(pid, start, signal.SIGCONT)
                sent[(pid, start)] = signum
        time.sleep(0.01)


def _end_own_group() -> None:
    """Without ``/proc`` (another system): SIGTERM the rest of this process's group, not itself."""
    if os.getpgid(0) != os.getpid():
        return  # not a group of our own: its other members are not ours to end
    previous = signal.signal(signal.SIGTERM, signal.SIG_IGN)
    try:
        os.killpg(0, signal.SIGTERM)
    finally:
        signal.signal(signal.SIGTERM, previous)


# -- the supervisor ---------------------------------------------------------------------------------


class _Stop(BaseException):
    """A stop signal arrived while waiting for the command."""


def _exit_as(status: int | None, stopped_by: int | None) -> int:
    """Exit as the command did: its code, or death by its signal (without a core file of our own)."""
    if status is not None and os.WIFEXITED(status):
        return os.WEXITSTATUS(status)
    signum = os.WTERMSIG(status) if status is not None else (stopped_by or signal.SIGTERM)
    try:
        import resource

        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    except (ImportError, ValueError, OSError):
        pass
    if signum != signal.SIGKILL:
        signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)
    return 128 + signum  # a signal whose default is to be ignored


def _start(command: list[str], supervisor: int) -> int:
    """Fork and exec ``command`` (found on PATH), to die with its supervisor; return its pid. Raises
    the ``OSError`` of a failed exec (``FileNotFoundError``...), as ``subprocess.Popen`` would."""
    errors_read, errors_write = os.pipe()  # closed by the exec: nothing read means it started
    pid = os.fork()
    if pid == 0:
        try:
            for signum in (*_STOP_SIGNALS, signal.SIGPIPE, signal.SIGXFSZ):
                signal.signal(signum, signal.SIG_DFL)  # as a fresh process has them
            prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
            if os.getppid() != supervisor:  # it is gone already
                os._exit(128 + signal.SIGKILL)
            os.execvp(command[0], command)
        except OSError as exc:
            os.write(errors_write, f"{exc.errno} {exc.strerror}".encode())
        finally:
            os._exit(127)
    os.close(errors_write)
    with os.fdopen(errors_read, "rb") as errors:
        said = errors.read().decode(errors="replace")
    if said:
        os.waitpid(pid, 0)
        number, _, reason = said.partition(" ")
        raise OSError(int(number), reason, command[0])
    return pid


def main(argv: list[str]) -> int:
    parent, status_fd = int(argv[1]), int(argv[2])
    command = argv[4:]
    os.set_inheritable(status_fd, False)  # for keras-ct only, not for the command
    become_subreaper()
    prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != parent:  # keras-ct died before the request took effect
        return 128 + signal.SIGTERM
    stopped_by: list[int] = []
    waiting = [False]

    def on_signal(signum: int, frame: object) -> None:
        if not stopped_by:  # the first one counts; later ones must not cut the clean-up short
            stopped_by.append(signum)
            if waiting[0]:
                raise _Stop

    for signum in _STOP_SIGNALS:
        signal.signal(signum, on_signal)
    try:
        child = _start(command, os.getpid())
    except OSError as exc:
        os.write(status_fd, f"{exc.errno} {exc.strerror}".encode())
        os.close(status_fd)
        return 127
    os.write(status_fd, b"ok")
    os.close(status_fd)
    statuses: dict[int, int] = {}
    try:
        waiting[0] = True
        while child not in statuses and not stopped_by:
            pid, status = os.waitpid(-1, 0)  # orphans below come here too: collect them as they end
            statuses[pid] = status
        waiting[0] = False
    except _Stop:
        waiting[0] = False
    end_descendants(reaper=lambda: reap(statuses))
    return _exit_as(statuses.get(child), stopped_by[0] if stopped_by else None)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
