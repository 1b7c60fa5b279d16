"""The git edge against real repositories on disk: a bare ``origin`` and clones of it."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from keras_ct.errors import GitError
from keras_ct.git import (
    BranchMovedError,
    DirtyTreeError,
    GitRepo,
    PushRejectedError,
    build_message,
    open_repo,
    redact,
)

BOT = ("github-actions[bot]", "41898282+github-actions[bot]@users.noreply.github.com")
BRANCH = "improve-model"


def git(cwd: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True)
    return done.stdout.strip()


@pytest.fixture(autouse=True)
def isolated_git(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No user/system git config leaks in; set-up commits get a human identity."""
    empty = tmp_path / "gitconfig"
    empty.write_text("[init]\n\tdefaultBranch = main\n")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(empty))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    for key, value in {
        "GIT_AUTHOR_NAME": "Ada",
        "GIT_AUTHOR_EMAIL": "ada@example.com",
        "GIT_COMMITTER_NAME": "Ada",
        "GIT_COMMITTER_EMAIL": "ada@example.com",
    }.items():
        monkeypatch.setenv(key, value)


@pytest.fixture
def remote(tmp_path: Path) -> Path:
    """A bare origin with ``main`` and ``improve-model`` (which holds ml_task/model.py)."""
    bare = tmp_path / "origin.git"
    git(tmp_path, "init", "--bare", "--quiet", str(bare))
    seed = tmp_path / "seed"
    git(tmp_path, "clone", "--quiet", str(bare), str(seed))
    (seed / "ml_task").mkdir()
    (seed / "ml_task" / "model.py").write_text("layers = ['conv']\n")
    (seed / "README.md").write_text("demo\n")
    git(seed, "add", ".")
    git(seed, "commit", "--quiet", "-m", "initial")
    git(seed, "push", "--quiet", "origin", "HEAD:refs/heads/main", f"HEAD:refs/heads/{BRANCH}")
    return bare


def clone(remote: Path, where: Path) -> Path:
    git(where.parent, "clone", "--quiet", "--branch", BRANCH, str(remote), str(where))
    return where


def remote_head(remote: Path, branch: str = BRANCH) -> str:
    return git(remote, "rev-parse", f"refs/heads/{branch}")


def augment(work: Path, text: str = "layers = ['conv', 'conv']\n") -> Path:
    model = work / "ml_task" / "model.py"
    model.write_text(text)
    return model


def test_augmented_commit_lands_on_the_bare_remote_with_author_message_and_trailers(
    remote: Path, tmp_path: Path
) -> None:
    work = clone(remote, tmp_path / "work")
    repo = open_repo(work / "ml_task", author=BOT)
    assert repo.root == work.resolve()
    checked_out = repo.head()
    repo.ensure_clean([work / "ml_task" / "model.py"])

    sha = repo.commit(
        [augment(work)],
        "keras-ct: round 1 missed 0.95 (0.8812); add a Conv2D(64) block\n\n"
        "val accuracy 0.88 < 0.95: the model underfits.",
        {"Keras-CT-Round": "1", "Keras-CT-Accuracy": "0.8812"},
    )
    result = repo.push(BRANCH, checked_out)

    assert result.pushed and result.old_sha == checked_out and result.new_sha == sha
    assert remote_head(remote) == sha
    assert git(remote, "log", "-1", "--format=%an <%ae>|%cn <%ce>", sha) == (
        "github-actions[bot] <41898282+github-actions[bot]@users.noreply.github.com>|"
        "github-actions[bot] <41898282+github-actions[bot]@users.noreply.github.com>"
    )
    message = git(remote, "log", "-1", "--format=%B", sha)
    assert message.startswith("keras-ct: round 1 missed 0.95 (0.8812); add a Conv2D(64) block")
    trailers = git(remote, "log", "-1", "--format=%(trailers:only,unfold)", sha)
    assert trailers.splitlines() == ["Keras-CT-Round: 1", "Keras-CT-Accuracy: 0.8812"]
    assert git(remote, "show", "--name-only", "--format=", sha) == "ml_task/model.py"
    assert remote_head(remote, "main") == checked_out  # only the head branch moved


def test_round_trailers_are_read_back_from_history(remote: Path, tmp_path: Path) -> None:
    work = clone(remote, tmp_path / "work")
    repo = open_repo(work, author=BOT)
    first = repo.commit(
        [augment(work, "a = 1\n")], "round 1", {"Keras-CT-Round": "1", "Keras-CT-Accuracy": "0.87"}
    )
    (work / "README.md").write_text("a human edit\n")
    git(work, "commit", "--quiet", "-am", "human commit\n\nKeras-CT-Round: not-a-number")
    second = repo.commit(
        [augment(work, "a = 2\n")], "round 2", {"Keras-CT-Round": "2", "Keras-CT-Accuracy": "0.91"}
    )

    commits = repo.trailer_commits()

    assert [(c.round, c.accuracy, c.sha) for c in commits] == [(2, 0.91, second), (1, 0.87, first)]
    assert repo.round_trailers() == {1: first, 2: second}


def round_one(remote: Path, tmp_path: Path) -> tuple[GitRepo, str]:
    """The bot's clone with round 1 committed, and the SHA it checked out."""
    work = clone(remote, tmp_path / "work")
    repo = open_repo(work, author=BOT)
    checked_out = repo.head()
    repo.commit([augment(work)], "round 1", {"Keras-CT-Round": "1", "Keras-CT-Accuracy": "0.88"})
    return repo, checked_out


def someone_pushes(remote: Path, where: Path, text: str) -> str:
    """Another clone pushes a commit to the branch; the remote's new head."""
    other = clone(remote, where)
    (other / "README.md").write_text(text)
    git(other, "commit", "--quiet", "-am", "user push")
    git(other, "push", "--quiet", "origin", BRANCH)
    return remote_head(remote)


def test_branch_moved_before_push_means_no_push(remote: Path, tmp_path: Path) -> None:
    repo, checked_out = round_one(remote, tmp_path)
    theirs = someone_pushes(remote, tmp_path / "someone-else", "pushed while training\n")

    with pytest.raises(BranchMovedError) as caught:
        repo.push(BRANCH, checked_out)

    assert remote_head(remote) == theirs
    assert caught.value.expected == checked_out and caught.value.actual == theirs
    assert f"branch {BRANCH} moved" in caught.value.message
    assert "did not push and did not dispatch" in caught.value.message


def test_push_rejected_as_non_fast_forward_in_the_race_is_branch_moved(
    remote: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo, checked_out = round_one(remote, tmp_path)
    theirs = someone_pushes(remote, tmp_path / "racer", "won the race\n")
    # ls-remote answered just before the other push landed:
    real_remote_sha = repo.remote_sha
    answers = iter([checked_out])
    monkeypatch.setattr(repo, "remote_sha", lambda branch: next(answers, None) or real_remote_sha(branch))

    with pytest.raises(BranchMovedError) as caught:
        repo.push(BRANCH, checked_out)

    assert remote_head(remote) == theirs
    assert "push rejected" in caught.value.message
    assert caught.value.actual == theirs


def test_protected_branch_rejection_is_reported_and_nothing_pushed(remote: Path, tmp_path: Path) -> None:
    hook = remote / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\necho 'GH006: Protected branch update failed' >&2\nexit 1\n")
    hook.chmod(0o755)
    repo, checked_out = round_one(remote, tmp_path)

    with pytest.raises(PushRejectedError) as caught:
        repo.push(BRANCH, checked_out)

    assert remote_head(remote) == checked_out
    assert caught.value.reason == "pre-receive hook declined"
    assert "refused the push" in caught.value.message and "not dispatched" in caught.value.message


def test_deleted_remote_branch_is_branch_moved(remote: Path, tmp_path: Path) -> None:
    work = clone(remote, tmp_path / "work")
    repo = open_repo(work, author=BOT)
    checked_out = repo.head()
    git(remote, "update-ref", "-d", f"refs/heads/{BRANCH}")

    with pytest.raises(BranchMovedError, match="no longer exists"):
        repo.push(BRANCH, checked_out)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        pytest.param("modify", "README.md", id="modified-tracked-file"),
        pytest.param("stage", "README.md", id="staged-change"),
        pytest.param("untracked-target", "ml_task/new_model.py", id="untracked-model-file"),
    ],
)
def test_dirty_tree_is_refused_before_augmenting(
    remote: Path, tmp_path: Path, change: str, expected: str
) -> None:
    work = clone(remote, tmp_path / "work")
    repo = open_repo(work, author=BOT)
    target = work / "ml_task" / "model.py"
    if change in ("modify", "stage"):
        (work / "README.md").write_text("local edit\n")
        if change == "stage":
            git(work, "add", "README.md")
    else:
        target = work / "ml_task" / "new_model.py"
        target.write_text("x = 1\n")

    with pytest.raises(DirtyTreeError) as caught:
        repo.ensure_clean([target])

    assert caught.value.paths == (expected,)
    assert expected in caught.value.message
    assert git(work, "rev-parse", "HEAD") == remote_head(remote)


def test_untracked_outputs_do_not_make_the_tree_dirty(remote: Path, tmp_path: Path) -> None:
    work = clone(remote, tmp_path / "work")
    (work / "metrics.json").write_text("{}")
    open_repo(work).ensure_clean([work / "ml_task" / "model.py"])


def test_commit_takes_only_the_given_paths(remote: Path, tmp_path: Path) -> None:
    work = clone(remote, tmp_path / "work")
    repo = open_repo(work, author=BOT)
    (work / "README.md").write_text("staged by someone\n")
    git(work, "add", "README.md")

    sha = repo.commit([augment(work)], "round 1", {"Keras-CT-Round": "1", "Keras-CT-Accuracy": "0.5"})

    assert git(work, "show", "--name-only", "--format=", sha) == "ml_task/model.py"
    assert git(work, "diff", "--cached", "--name-only") == "README.md"


def test_commit_of_an_unchanged_file_is_an_error(remote: Path, tmp_path: Path) -> None:
    work = clone(remote, tmp_path / "work")
    with pytest.raises(GitError, match="did not change"):
        open_repo(work, author=BOT).commit(
            [work / "ml_task" / "model.py"], "round 1", {"Keras-CT-Round": "1"}
        )


def test_credentials_never_appear_in_errors_or_logged_commands(remote: Path, tmp_path: Path) -> None:
    secret = "ghs_SuperSecretToken0123456789abcdefghij"
    work = clone(remote, tmp_path / "work")
    git(work, "remote", "add", "authed", f"http://x-access-token:{secret}@127.0.0.1:9/acme/ml-repo.git")
    logged: list[str] = []
    repo = open_repo(work, author=BOT, remote="authed", secrets=[secret], log=logged.append)

    with pytest.raises(GitError) as caught:
        repo.remote_sha(BRANCH)

    assert secret not in caught.value.message
    assert logged and all(secret not in line for line in logged)
    assert redact(f"fatal: unable to access 'https://u:{secret}@github.com/a/b.git/'") == (
        "fatal: unable to access 'https://***@github.com/a/b.git/'"
    )
    assert redact(f"token {secret} leaked", [secret]) == "token *** leaked"


def test_open_repo_outside_git_says_so(tmp_path: Path) -> None:
    with pytest.raises(GitError, match="not inside a git repository"):
        open_repo(tmp_path)


def test_build_message_appends_a_trailer_block_and_refuses_bad_keys() -> None:
    assert (
        build_message("subject\n\nbody\n", {"Keras-CT-Round": "3"})
        == "subject\n\nbody\n\nKeras-CT-Round: 3\n"
    )
    with pytest.raises(GitError, match="invalid commit trailer"):
        build_message("subject", {"Bad Key": "1"})


def test_the_bots_commit_runs_no_hook_and_is_not_signed(remote: Path, tmp_path: Path) -> None:
    """Under Actions keras-ct commits as github-actions[bot]: no hook of the checkout runs (not even
    post-commit, which --no-verify alone does not skip) and a signing config is not applied."""
    work = clone(remote, tmp_path / "work")
    ran = tmp_path / "hooks-ran.txt"
    for name in ("pre-commit", "commit-msg", "post-commit"):
        hook = work / ".git" / "hooks" / name
        hook.write_text(f"#!/bin/sh\necho {name} >> '{ran}'\nexit 1\n")
        hook.chmod(0o755)
    git(work, "config", "commit.gpgsign", "true")
    git(work, "config", "gpg.program", str(tmp_path / "no-such-gpg"))

    sha = open_repo(work, author=BOT, bot=True).commit(
        [augment(work)], "round 1", {"Keras-CT-Round": "1", "Keras-CT-Accuracy": "0.5"}
    )

    assert not ran.exists()
    assert "gpgsig" not in git(work, "cat-file", "commit", sha)
    assert git(work, "status", "--porcelain") == ""
