"""SIGINT, SIGTERM and SIGHUP stop keras-ct the same way: as an exception that unwinds the round.

The Actions runner cancels a job with SIGINT, then SIGTERM; a closed terminal sends SIGHUP. Each
becomes ``KerasCTInterrupted`` (a ``KeyboardInterrupt``) in the main thread, so the code that stops
the training on the way out (``except BaseException``, ``finally: trainer.close()``) runs for all
three. Only the first signal raises: a second one must not cut that clean-up short. The entry point
turns it into one line and the exit status 128 + the signal number.
"""

from __future__ import annotations

import functools
import signal
import threading
from collections.abc import Callable
from types import FrameType
from typing import ParamSpec, TypeVar

SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)

_P = ParamSpec("_P")
_R = TypeVar("_R")


class KerasCTInterrupted(KeyboardInterrupt):
    """keras-ct got ``signum``; ``stopped`` says what it stopped on the way out."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum
        self.stopped: list[str] = []


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
        previous = {signum: signal.signal(signum, _raise) for signum in SIGNALS}
        _current.clear()
        try:
            return function(*args, **kwargs)
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)
            _current.clear()

    return wrapper


def describe(exc: KeyboardInterrupt) -> tuple[str, int]:
    """The one line to show for an interrupt, and the exit status (128 + the signal number)."""
    signum = exc.signum if isinstance(exc, KerasCTInterrupted) else signal.SIGINT
    name = signal.Signals(signum).name
    if isinstance(exc, KerasCTInterrupted) and "the training" in exc.stopped:
        message = (
            f"interrupted by {name} while training; the training and every process it started were "
            "stopped, and nothing of this round was committed"
        )
    else:
        message = f"interrupted by {name}; keras-ct stopped without finishing"
    return message, 128 + signum
