"""The base branch's model: what the pull request's rounds are compared with (``max-regression``).

The base is the metric keras-ct recorded (``keras_ct.git.notes``) on the merge-base of the pull
request's head and its base branch, or, when that commit was never trained, on its newest
first-parent ancestor with a note (the line says which). No note within ``SEARCH_DEPTH`` commits:
there is no baseline, and the comment says so; keras-ct never guesses one.

``Baseline`` and ``regression`` are pure; ``find_baseline`` and ``BaselineStore`` read and write
the notes through the git edge.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from keras_ct.errors import KerasCTError
from keras_ct.fmt import fmt_accuracy, fmt_threshold, fmt_versus
from keras_ct.git.notes import Note
from keras_ct.report import Verdict
from keras_ct.round.history import RoundRecord, best_round
from keras_ct.train.metrics import meets

#: How many first-parent ancestors of the merge-base are searched for a note.
SEARCH_DEPTH = 50


@dataclass(frozen=True)
class Baseline:
    """The base branch's model, or why there is none (``accuracy`` None, ``missing`` says why)."""

    branch: str
    sha: str = ""
    accuracy: float | None = None
    #: The merge-base, when the note is on an older ancestor of it.
    merge_base: str = ""
    missing: str = ""

    @property
    def line(self) -> str:
        """One line for the comment: ``base main: 0.9712 (abc1234)``, or why there is no baseline."""
        if self.accuracy is None:
            return f"no baseline for {self.branch} yet: {self.missing}"
        where = f"{self.sha[:7]}, the newest ancestor of the merge-base {self.merge_base[:7]} with a note"
        return f"base {self.branch}: {fmt_accuracy(self.accuracy)} ({where if self.merge_base else self.sha[:7]})"


def regression(history: Sequence[RoundRecord], base: Baseline | None, max_regression: float | None) -> str:
    """Why the pull request's best model regressed past ``max_regression`` below the base ("" if not)."""
    best = best_round(history)
    if base is None or base.accuracy is None or max_regression is None or best is None:
        return ""
    floor = round(base.accuracy - max_regression, 12)  # printed as a threshold is: 0.9612, not 0.96120000001
    if meets(best.accuracy or 0.0, floor):  # the threshold's float tolerance
        return ""
    return (
        f"the best model (round {best.round}, {fmt_versus(best.accuracy, floor)}) is more than max-regression "
        f"{fmt_threshold(max_regression)} below {base.branch}'s {fmt_accuracy(base.accuracy)} ({base.sha[:7]})"
    )


class NoteStore(Protocol):
    """The notes the baseline needs (``keras_ct.git.notes.Notes`` implements it)."""

    def fetch(self) -> bool: ...

    def annotated(self) -> frozenset[str]: ...

    def read(self, sha: str) -> Note | None: ...

    def write(self, sha: str, note: Note) -> None: ...

    def push(self) -> None: ...

    def merge_base(self, branch: str) -> str: ...

    def ancestors(self, sha: str, limit: int) -> Sequence[str]: ...


def find_baseline(notes: NoteStore, branch: str, metric: str) -> Baseline:
    """The base branch's recorded model for HEAD (see the module's rule)."""
    notes.fetch()
    base = notes.merge_base(branch)
    if not base:
        return Baseline(
            branch, missing=f"no merge-base of HEAD and {branch} in this checkout (fetch-depth: 0?)"
        )
    annotated = notes.annotated()
    for sha in notes.ancestors(base, SEARCH_DEPTH):
        note = notes.read(sha) if sha in annotated else None
        if note is not None and note.metric == metric:
            return Baseline(branch, sha, note.accuracy, merge_base=base if sha != base else "")
    return Baseline(
        branch,
        missing=(
            f"no keras-ct note with {metric} on the merge-base {base[:7]} or its {SEARCH_DEPTH - 1} "
            f"ancestors; train on push to {branch} to record one"
        ),
    )


def record_note(notes: NoteStore, record: RoundRecord, branch: str, *, push: bool = True) -> str:
    """Record a trained round's metric on the commit it trained (and push it): "" or why it failed.

    A failure is a warning, never the round's error: the round's verdict does not depend on it."""
    if record.accuracy is None or not record.commit:
        return ""
    try:
        notes.write(record.commit, Note(record.metric, record.accuracy, record.round, branch))
        if push:
            notes.push()
    except KerasCTError as exc:
        return f"round {record.round}'s {record.metric} was not recorded for later comparisons: {exc.message}"
    return ""


@dataclass
class BaselineRun:
    """What the engine needs of the baseline: the base found before the first round (None: none was
    looked for), and where each trained round's metric is recorded (``notes`` None: nowhere)."""

    base: Baseline | None = None
    notes: NoteStore | None = None
    #: The branch the rounds train on (kept in the note), and whether the note goes to origin.
    branch: str = ""
    push: bool = True
    #: The (round, commit) pairs this run recorded: each once.
    recorded: set[tuple[int, str]] = field(default_factory=set)

    def record(self, record: RoundRecord, verdict: Verdict, warn: Callable[[str], None]) -> None:
        """Note ``record``'s metric once its round is reported; a round that ended in an error (in
        training, or after it: the augmenter, a commit) records nothing."""
        if self.notes is None or verdict.state == "error" or (record.round, record.commit) in self.recorded:
            return
        self.recorded.add((record.round, record.commit))
        problem = record_note(self.notes, record, self.branch, push=self.push)
        if problem:
            warn(problem)


def baseline_run(
    notes: NoteStore | None, *, branch: str, base_branch: str, metric: str, push: bool = True
) -> BaselineRun:
    """The engine's baseline for a run on ``branch``: a push run (``base_branch`` "") only records;
    a pull request's run also finds its base, or says why it could not."""
    if notes is None or not base_branch:
        return BaselineRun(None, notes, branch, push)
    try:
        base = find_baseline(notes, base_branch, metric)
    except KerasCTError as exc:
        base = Baseline(base_branch, missing=f"keras-ct's notes could not be read: {exc.message}")
    return BaselineRun(base, notes, branch, push)
