"""Where a round's results go besides the terminal: the interface the round depends on.

``Publisher`` is the round's view of GitHub: the history kept in the sticky PR comment, the commit
status, the comment itself and the next round's dispatch. ``LocalPublisher`` keeps the history in
memory for ``keras-ct loop`` and runs without a network; ``keras_ct.github.publish`` implements the
same methods over the GitHub REST API.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from keras_ct.report import StatusState, Verdict
from keras_ct.round.history import History, RoundRecord


@dataclass(frozen=True)
class Dispatch:
    """A dispatched next round: ``run_url`` is empty when the server did not return run details."""

    round: int
    run_url: str = ""


class Publisher(Protocol):
    #: False when writes are impossible (fork PR, read-only token, no PR); ``why`` says why.
    writable: bool
    why: str

    def load_history(self) -> History: ...

    def set_status(self, state: StatusState, description: str, sha: str = "") -> None:
        """The keras-ct status on ``sha``; "" is the commit this run trains (the event's head)."""
        ...

    def publish(
        self, records: Sequence[RoundRecord], verdict: Verdict, *, diff: str = "", notes: Sequence[str] = ()
    ) -> str:
        """Create or update the sticky comment; return its URL (empty when nothing was written)."""
        ...

    def dispatch(self, next_round: int, ref: str) -> Dispatch: ...


@dataclass
class LocalPublisher:
    """No GitHub: history in memory, nothing written, dispatch refused (the local loop continues itself)."""

    history: History = ()
    writable: bool = False
    why: str = "running outside GitHub Actions"
    published: list[str] = field(default_factory=list)

    def load_history(self) -> History:
        return self.history

    def set_status(self, state: StatusState, description: str, sha: str = "") -> None:
        return None

    def publish(
        self, records: Sequence[RoundRecord], verdict: Verdict, *, diff: str = "", notes: Sequence[str] = ()
    ) -> str:
        self.history = tuple(records)
        return ""

    def dispatch(self, next_round: int, ref: str) -> Dispatch:
        raise RuntimeError("LocalPublisher cannot dispatch; the local loop runs the next round itself")
