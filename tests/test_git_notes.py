"""keras-ct's notes (``keras_ct.git.notes``) and the baseline they give, against a real bare origin."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from keras_ct.errors import GitError
from keras_ct.git import GitRepo
from keras_ct.git.notes import NOTES_REF, Note, Notes
from keras_ct.round.baseline import SEARCH_DEPTH, Baseline, find_baseline, record_note
from keras_ct.round.history import RoundRecord

IDENTITY = ("keras-ct test", "test@example.com")


def sh(cwd: Path, *args: str) -> str:
    """A set-up git command, with a fixed identity and no user configuration."""
    name, email = IDENTITY
    argv = ["git", "-c", f"user.name={name}", "-c", f"user.email={email}", *args]
    return subprocess.run(argv, cwd=cwd, capture_output=True, text=True, check=True).stdout.strip()


@pytest.fixture
def origin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A bare origin whose ``main`` has two commits (``first``, ``second``)."""
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(tmp_path / "no-gitconfig"))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    bare = tmp_path / "origin.git"
    sh(tmp_path, "init", "--bare", "--quiet", "--initial-branch=main", str(bare))
    work = tmp_path / "seed"
    sh(tmp_path, "clone", "--quiet", str(bare), str(work))
    for text in ("first", "second"):
        (work / "model.py").write_text(f"{text}\n")
        sh(work, "add", "model.py")
        sh(work, "commit", "--quiet", "-m", text)
    sh(work, "push", "--quiet", "origin", "HEAD:refs/heads/main")
    return bare


def clone(origin: Path, name: str, branch: str = "main") -> Notes:
    """A fresh clone of ``origin`` (as actions/checkout with fetch-depth 0 leaves it), on ``branch``."""
    path = origin.parent / name
    sh(origin.parent, "clone", "--quiet", str(origin), str(path))
    if branch != "main":
        sh(path, "checkout", "--quiet", "-b", branch)
    return Notes(GitRepo(path, author=IDENTITY, bot=True))


def commit(notes: Notes, text: str) -> str:
    (notes.repo.root / "model.py").write_text(f"{text}\n")
    sh(notes.repo.root, "commit", "--quiet", "-am", text)
    return notes.repo.head()


def trained(sha: str, accuracy: float, round_number: int = 1) -> RoundRecord:
    return RoundRecord(round_number, accuracy, 0.9, "missed", "accuracy", commit=sha)


def test_a_note_pushed_by_one_run_is_read_by_a_later_clone(origin: Path) -> None:
    first = clone(origin, "push-run")
    head = first.repo.head()
    assert record_note(first, trained(head, 0.9712), "main") == ""

    later = clone(origin, "pr-run", branch="improve-model")
    assert later.read(head) is None  # a clone does not fetch notes by itself
    assert later.fetch() is True
    assert later.read(head) == Note("accuracy", 0.9712, 1, "main")
    assert sh(origin, "rev-parse", "--verify", NOTES_REF)  # the ref is on origin


def test_fetch_says_when_origin_has_no_notes_yet(origin: Path) -> None:
    notes = clone(origin, "run")
    assert notes.fetch() is False
    assert notes.annotated() == frozenset()


def test_two_runs_pushing_notes_at_once_keep_both(origin: Path) -> None:
    one, two = clone(origin, "one"), clone(origin, "two", branch="improve-model")
    older = one.repo.head()
    newer = commit(two, "third")
    record_note(one, trained(older, 0.95), "main")
    assert record_note(two, trained(newer, 0.97, 2), "improve-model") == ""  # rejected first, merged

    reader = clone(origin, "reader")
    reader.fetch()
    assert {older, newer} <= reader.annotated()
    assert (reader.read(older), reader.read(newer)) == (
        Note("accuracy", 0.95, 1, "main"),
        Note("accuracy", 0.97, 2, "improve-model"),
    )


def test_a_note_that_cannot_be_pushed_is_a_warning(origin: Path, tmp_path: Path) -> None:
    notes = clone(origin, "run")
    sh(notes.repo.root, "remote", "set-url", "origin", str(tmp_path / "gone.git"))
    warning = record_note(notes, trained(notes.repo.head(), 0.9), "main")
    assert warning.startswith("round 1's accuracy was not recorded for later comparisons: could not push")


def test_the_base_is_the_note_on_the_merge_base(origin: Path) -> None:
    main = clone(origin, "main-run")
    record_note(main, trained(main.repo.head(), 0.9712), "main")
    pr = clone(origin, "pr", branch="improve-model")
    commit(pr, "pr change")
    base = find_baseline(pr, "main", "accuracy")
    assert base == Baseline("main", main.repo.head(), 0.9712)
    assert base.line == f"base main: 0.9712 ({main.repo.head()[:7]})"


def test_the_base_falls_back_to_the_newest_noted_ancestor_and_says_so(origin: Path) -> None:
    main = clone(origin, "main-run")
    noted = sh(main.repo.root, "rev-parse", "HEAD~1")
    record_note(main, trained(noted, 0.95), "main")
    pr = clone(origin, "pr", branch="improve-model")
    merge_base = pr.repo.head()
    base = find_baseline(pr, "main", "accuracy")
    assert base == Baseline("main", noted, 0.95, merge_base=merge_base)
    assert base.line == (
        f"base main: 0.9500 ({noted[:7]}, the newest ancestor of the merge-base {merge_base[:7]} with a note)"
    )


@pytest.mark.parametrize(
    ("noted_metric", "why"),
    [
        pytest.param(None, "no keras-ct note with accuracy on the merge-base", id="no-note"),
        pytest.param("val_accuracy", "no keras-ct note with accuracy on the merge-base", id="other-metric"),
    ],
)
def test_no_baseline_says_so_and_never_guesses(origin: Path, noted_metric: str | None, why: str) -> None:
    main = clone(origin, "main-run")
    if noted_metric is not None:
        main.write(main.repo.head(), Note(noted_metric, 0.99))
        main.push()
    pr = clone(origin, "pr", branch="improve-model")
    base = find_baseline(pr, "main", "accuracy")
    assert base.accuracy is None
    assert base.line == (
        f"no baseline for main yet: {why} {pr.repo.head()[:7]} or its {SEARCH_DEPTH - 1} ancestors; "
        "train on push to main to record one"
    )


def test_no_merge_base_without_the_base_branch(origin: Path) -> None:
    pr = clone(origin, "pr", branch="improve-model")
    base = find_baseline(pr, "release", "accuracy")
    assert (
        base.line
        == "no baseline for release yet: no merge-base of HEAD and release in this checkout (fetch-depth: 0?)"
    )


def test_an_unreachable_origin_is_an_error_the_caller_words(origin: Path, tmp_path: Path) -> None:
    notes = clone(origin, "run")
    sh(notes.repo.root, "remote", "set-url", "origin", str(tmp_path / "gone.git"))
    with pytest.raises(GitError, match="could not fetch keras-ct's notes"):
        notes.fetch()


def test_the_default_branch_is_origin_head(origin: Path) -> None:
    assert clone(origin, "run", branch="improve-model").default_branch() == "main"
