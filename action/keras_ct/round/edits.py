"""The engine's edits of the model's files: a round's change and keep-the-best's revert.

Each edit is committed, or the files are put back (``editing``): on an error or an interrupt no
half-made edit stays in the tree. The commit messages say the round once, in the subject and in the
``Keras-CT-Round`` trailer alike: the round whose result the commit answers (its metric is the
``Keras-CT-Accuracy`` trailer); round N + 1 trains what round N's commits leave.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Protocol

from keras_ct.fmt import fmt_accuracy
from keras_ct.git import ACCURACY_TRAILER, REVERT_TRAILER, ROUND_TRAILER
from keras_ct.round import candidates
from keras_ct.round.history import NOISE_MARGIN, RoundRecord
from keras_ct.round.interrupts import deferred_signals, put_back


class Restorer(Protocol):
    """The git edge's part that puts files back as a commit has them (``keras_ct.git.GitRepo``)."""

    def restore(self, sha: str, paths: Sequence[Path]) -> None: ...


def commit_message(
    record: RoundRecord, change: str, description: str, rationale: str
) -> tuple[str, dict[str, str]]:
    """Round N's change: round N + 1 trains it."""
    subject = f"keras-ct: round {record.round}: {description or change}"
    body = f"{_reached(record)}; round {record.round + 1} trains this change.\n\n{rationale}"
    tried = candidates.trailers(record.candidates, change) if record.candidates else {}
    return f"{subject}\n\n{body}\n", {**_trailers(record), **tried}


def revert_message(record: RoundRecord, best: RoundRecord) -> tuple[str, dict[str, str]]:
    """Keep the best: round N scored below round ``best`` by more than the noise margin."""
    subject = f"keras-ct: round {record.round}: revert to round {best.round}, the best"
    body = (
        f"{_reached(record)}, below round {best.round}'s {fmt_accuracy(best.accuracy)} by more than "
        f"the noise margin {NOISE_MARGIN:g}: this puts round {best.round}'s files back, and the next "
        f"change starts from them ({record.change or 'the change'} did not help)."
    )
    return f"{subject}\n\n{body}\n", {**_trailers(record), REVERT_TRAILER: str(best.round)}


def _reached(record: RoundRecord) -> str:
    return (
        f"Round {record.round} reached {record.metric} {fmt_accuracy(record.accuracy)}, below the "
        f"threshold {record.threshold:g}"
    )


def _trailers(record: RoundRecord) -> dict[str, str]:
    return {ROUND_TRAILER: str(record.round), ACCURACY_TRAILER: fmt_accuracy(record.accuracy)}


def restore_best(
    best: RoundRecord,
    snapshot: Mapping[Path, bytes] | None,
    paths: Sequence[Path],
    git: Restorer | None,
) -> list[Path]:
    """Put ``best``'s round's files back: from ``snapshot`` (taken as it started training in this
    process), else from its commit. Returns the files that changed ([]: nothing to put back from)."""
    before = {path: path.read_bytes() for path in paths}
    if snapshot is not None:
        for path, data in snapshot.items():
            if path in before and before[path] != data:
                path.write_bytes(data)
    elif git is not None and best.commit:
        git.restore(best.commit, paths)
    return [path for path in paths if path.read_bytes() != before[path]]


@contextmanager
def editing(
    paths: Sequence[Path], committed: Callable[[], str], on_commit: Callable[[str], None]
) -> Iterator[None]:
    """Files edited inside end committed or put back: on an error or an interrupt, when no commit was
    made since (``committed()`` is its SHA, else ""), ``paths`` get their bytes of before back;
    ``on_commit`` hears of a commit that was made after all."""
    originals = {path: path.read_bytes() for path in paths}
    try:
        yield
    except BaseException:
        with deferred_signals():
            made = committed()
            if made:
                on_commit(made)
            else:
                put_back(originals)
        raise
