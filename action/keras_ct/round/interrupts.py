"""An interrupted round leaves a state a user can go on from, and one line that says which.

A round's steps are training, augmenting (choosing the change, the build check, writing the edit),
committing, pushing, dispatching and reporting. Ctrl-C (or SIGTERM/SIGHUP, which keras-ct turns into
the same interrupt) may land in any of them. Either the step is done, or the files and the git index
are put back as they were before the round's edit. ``deferred_signals`` keeps a second interrupt from
cutting that putting-back short; ``interrupted_note`` is the pure decision of what to tell the user.

SIGINT, SIGTERM and SIGHUP stop keras-ct the same way: the Actions runner cancels a job with SIGINT,
then SIGTERM; a closed terminal sends SIGHUP. While ``interruptible`` (the entry point) runs, each
becomes ``KerasCTInterrupted`` (a ``KeyboardInterrupt``) in the main thread, so the code that stops
the training on the way out (``except BaseException``, ``finally: trainer.close()``) runs for all
three. Only the first signal raises: a second one must not cut that clean-up short. The entry point
turns it into one line (``describe``) and the exit status 128 + the signal number.
"""

from __future__ import annotations

import functools
import os
import signal
import tempfile
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import ParamSpec, TypeVar

#: The signals that interrupt keras-ct (the Actions runner cancels a job with SIGINT, then SIGTERM).
INTERRUPTS = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name))


_P = ParamSpec("_P")
_R = TypeVar("_R")


class KerasCTInterrupted(KeyboardInterrupt):
    """keras-ct got ``signum``; ``stopped`` says what it stopped on the way out."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum
        self.stopped: list[str] = []
        #: What the interrupted round left and what the next run does (``interrupted_note``).
        self.note = ""


#: The interrupt being handled, while one is (what ``stopped`` adds to).
_current: list[KerasCTInterrupted] = []


def _raise(signum: int, frame: FrameType | None) -> None:
    if not _current:
        _current.append(KerasCTInterrupted(signum))
        raise _current[0]


def stopped(what: str) -> None:
    """Note that the interrupt being handled (if any) stopped ``what`` (e.g. "the training")."""
    if _current and what not in _current[0].stopped:
        _current[0].stopped.append(what)


def interruptible(function: Callable[_P, _R]) -> Callable[_P, _R]:
    """Run ``function`` with SIGINT, SIGTERM and SIGHUP raising ``KerasCTInterrupted``; the handlers
    are put back afterwards (in the main thread only: elsewhere signals cannot be handled)."""

    @functools.wraps(function)
    def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        if threading.current_thread() is not threading.main_thread():
            return function(*args, **kwargs)
        previous = {signum: signal.signal(signum, _raise) for signum in INTERRUPTS}
        _current.clear()
        try:
            return function(*args, **kwargs)
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)
            _current.clear()

    return wrapper


@contextmanager
def deferred_signals() -> Iterator[None]:
    """Hold SIGINT/SIGTERM/SIGHUP until the block is done (main thread, POSIX; elsewhere a no-op).

    For the short clean-ups that must not stop half-way: putting a file back, unstaging it. A signal
    that arrives meanwhile is delivered when the block ends, so the interrupt still happens.
    """
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "pthread_sigmask"):
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, INTERRUPTS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def put_back(originals: Mapping[Path, bytes]) -> list[Path]:
    """Write back each file whose content changed (atomically, keeping its mode); return those."""
    changed: list[Path] = []
    with deferred_signals():
        for path, content in originals.items():
            try:
                if path.read_bytes() == content:
                    continue
            except FileNotFoundError:
                pass
            _replace(path, content)
            changed.append(path)
    return changed


def _replace(path: Path, content: bytes) -> None:
    path = path.resolve()  # through a symlink, to the file it names (as writing into it would)
    mode = path.stat().st_mode & 0o7777 if path.exists() else None
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".keras-ct", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(content)
        if mode is not None:
            os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# -- what to tell the user -------------------------------------------------------------------------


@dataclass(frozen=True)
class Interrupted:
    """Where a round was when the interrupt came.

    ``phase``, in a round's order: training, augmenting (choosing the change, the build check,
    writing it), committing, committed (the commit made, or the edit written with commits off),
    pushing, dispatching, reporting (the round's git and GitHub steps are done).
    ``commit``: the SHA of the round's commit once made. ``edited``: the files the round's edit
    may touch (shown as they were put back). ``local``: ``keras-ct loop``; else a job of the action.
    ``committing``: commits are on (``loop --commit``, or ``commit: true`` in the action).
    """

    round: int
    phase: str
    edited: tuple[str, ...] = ()
    commit: str = ""
    local: bool = False
    committing: bool = True
    branch: str = ""
    #: HEAD is the change keras-ct committed after the round before (``loop --commit``).
    after_commit: bool = False
    #: Earlier rounds of this run wrote changes that are not committed (``loop`` without ``--commit``).
    earlier_edits: bool = False
    dispatched: bool = False
    #: The first round of this job (a re-run of the job starts there again); 0: ``round``.
    job_first: int = 0
    #: The loop ended at this round (passed, or the last round): the push carries the job's earlier
    #: changes and nothing is dispatched.
    ended: bool = False


def interrupted_note(at: Interrupted) -> str:
    """One line: what the interrupted round left behind and what the next run does with it."""
    n, sha = at.round, at.commit[:7]
    files = ", ".join(at.edited) or "the model file"
    again = _again(at)
    resumes = at.local or n == (at.job_first or n)  # the next run trains this very round again
    if at.phase == "training":
        if at.earlier_edits:
            return (
                f"round {n} was interrupted while training; the changes of earlier rounds are in the "
                "working tree, not committed: the next `keras-ct loop` starts at round 1 on the code as "
                "it is now"
            )
        resuming = ", resuming from the checkpoint if the training script keeps one" if resumes else ""
        return (
            f"round {n} was interrupted while training; nothing of this round was changed or committed: "
            f"{again}{resuming}"
        )
    if at.phase in ("augmenting", "committing") and not sha:
        step = "choosing or writing the change" if at.phase == "augmenting" else "committing the change"
        verb = "is" if len(at.edited) <= 1 else "are"
        return (
            f"round {n} was interrupted while {step}: nothing was committed and {files} {verb} as "
            f"before the round; {again}"
        )
    if not sha:
        if at.phase == "reporting":
            return f"round {n} was interrupted while reporting its result; no change was made or committed"
        return f"round {n} was interrupted after writing its change to {files} (not committed: commit is off)"
    return _committed_note(at, sha)


def _loop(at: Interrupted) -> str:
    return f"the next `keras-ct loop{' --commit' if at.committing else ''}`"


def _again(at: Interrupted) -> str:
    """What the next run does when the round's change was not committed."""
    n, loop = at.round, _loop(at)
    first = at.job_first or n  # the round a re-run of the job trains (the job's first)
    if at.local:
        return f"{loop} continues at round {n}" if at.after_commit else f"{loop} trains round {n} again"
    if n > first:  # rounds-per-job: the earlier rounds' commits were to be pushed at the job's end
        earlier = (
            f"round {first} of this job committed its change"
            if n - 1 == first
            else f"rounds {first}-{n - 1} of this job committed their changes"
        )
        return f"{earlier} but did not push, so a re-run of the job trains round {first} again"
    return f"a re-run of the job trains round {n} again"


def _committed_note(at: Interrupted, sha: str) -> str:
    """The line for a round interrupted once its change was committed (``sha``, short)."""
    n, loop, first = at.round, _loop(at), at.job_first or at.round
    if at.local:
        return f"round {n} was interrupted after committing its change ({sha}): {loop} continues at round {n + 1} from it"
    branch = at.branch or "the branch"
    if at.phase in ("committing", "committed"):
        return (
            f"round {n} was interrupted after committing its change ({sha}) here, before pushing it: "
            f"{branch} and the pull request are unchanged; re-run the job to train round {first} again"
        )
    dispatch_by_hand = (
        f"run the workflow by hand (workflow_dispatch) on {branch} with round={n + 1} and the pull "
        "request's pr-number"
    )
    if at.phase == "pushing" and at.ended:
        return (
            f"the loop ended at round {n}, but pushing this job's changes ({sha}) to {branch} was "
            f"interrupted: if {branch} has {sha} now, nothing is left to do; if not, re-run the job"
        )
    if at.phase == "pushing":
        return (
            f"round {n} was interrupted while pushing its change ({sha}) to {branch}: if {branch} has "
            f"{sha} now, {dispatch_by_hand}; if not, re-run the job"
        )
    if at.phase == "dispatching":
        return (
            f"round {n}'s change ({sha}) is on {branch}, but dispatching round {n + 1} was interrupted: "
            f"if no run of round {n + 1} started, {dispatch_by_hand}"
        )
    then = f" and round {n + 1} was dispatched" if at.dispatched else ""
    return (
        f"round {n} was interrupted while reporting: its change ({sha}) is on {branch}{then}; "
        "only the comment or the commit status may be behind"
    )


def describe(exc: KeyboardInterrupt) -> tuple[str, int]:
    """The one line to show for an interrupt, and the exit status (128 + the signal number)."""
    signum = exc.signum if isinstance(exc, KerasCTInterrupted) else signal.SIGINT
    name = signal.Signals(signum).name
    if isinstance(exc, KerasCTInterrupted) and exc.note:
        message = f"interrupted by {name}: {exc.note}"
    elif isinstance(exc, KerasCTInterrupted) and "the training" in exc.stopped:
        message = (
            f"interrupted by {name} while training; the training and every process it started were "
            "stopped, and nothing of this round was committed"
        )
    else:
        message = f"interrupted by {name}; keras-ct stopped without finishing"
    return message, 128 + signum
