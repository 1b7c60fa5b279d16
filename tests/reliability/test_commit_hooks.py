"""`keras-ct loop --commit` commits as the user does: their hooks run, their signing config applies,
and a detached HEAD is refused before training (issue 11, section 9). Real git, the stand-in trainer.

Under Actions keras-ct's commit is the bot's: no hook runs and it is not signed (``test_gitops``).
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import pytest

from keras_ct import augment as augment_module
from tests.integration.repo_setup import Checkout, git
from tests.reliability.harness import World, fast_client, run_wired
from tests.reliability.local_loop import builds_without_tensorflow, loop_argv, loop_repo, run_loop

MODEL = "ml_task/model.py"

FAILS = "#!/bin/sh\necho 'checking ml_task/model.py'\necho 'ruff: 2 errors found' >&2\nexit 1\n"
# A signer that signs (what gpg prints with --status-fd=2), and one without a key.
SIGNS = (
    "#!/bin/sh\ncat >/dev/null\n"
    "printf '[GNUPG:] BEGIN_SIGNING\\n[GNUPG:] SIG_CREATED D 1 8 00 1 FAKE\\n' >&2\n"
    "printf -- '-----BEGIN PGP SIGNATURE-----\\n\\nZmFrZQ==\\n-----END PGP SIGNATURE-----\\n'\n"
)
NO_KEY = "#!/bin/sh\ncat >/dev/null\necho 'gpg: signing failed: No secret key' >&2\nexit 2\n"


@pytest.fixture(autouse=True)
def no_tensorflow(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(augment_module, "validate_builds", builds_without_tensorflow)


def executable(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(0o755)
    return path


def hook(checkout: Checkout, name: str, text: str) -> Path:
    return executable(checkout.work / ".git" / "hooks" / name, text)


def state(checkout: Checkout) -> tuple[str, str, str, bytes]:
    work = checkout.work
    return (
        git(work, "rev-parse", "HEAD"),
        git(work, "diff", "--cached", "--name-only"),
        git(work, "status", "--porcelain=v1", "--untracked-files=all"),
        (work / MODEL).read_bytes(),
    )


@pytest.mark.parametrize("name", ["pre-commit", "commit-msg"])
def test_a_failing_hook_is_named_with_its_last_line_and_the_tree_is_restored(
    tmp_path: Path, name: str
) -> None:
    checkout = loop_repo(tmp_path)
    hook(checkout, name, FAILS)
    before = state(checkout)

    result = run_loop(tmp_path, checkout.work)

    assert result.code == 1
    assert state(checkout) == before  # no commit, nothing staged, the model file as it was
    (line,) = result.err.splitlines()
    assert line.startswith(f"keras-ct: error: git commit failed: your {name} hook exited non-zero ")
    assert f"(ruff: 2 errors found); nothing was committed, and keras-ct puts {MODEL} back as before" in line


def test_the_users_hooks_run_on_keras_ct_commits(tmp_path: Path) -> None:
    checkout = loop_repo(tmp_path)
    ran = tmp_path / "hooks-ran.txt"
    for name in ("pre-commit", "commit-msg", "post-commit"):
        hook(checkout, name, f"#!/bin/sh\necho {name} >> {shlex.quote(str(ran))}\n")

    result = run_loop(tmp_path, checkout.work)

    assert result.code == 0, result.err
    assert ran.read_text().split() == ["pre-commit", "commit-msg", "post-commit"]
    assert "Keras-CT-Round: 1" in git(checkout.work, "log", "-1", "--format=%B")


def test_the_users_signing_config_is_honoured(tmp_path: Path) -> None:
    checkout = loop_repo(tmp_path)
    signer = executable(tmp_path / "bin" / "signer", SIGNS)
    git(checkout.work, "config", "commit.gpgsign", "true")
    git(checkout.work, "config", "gpg.program", str(signer))

    result = run_loop(tmp_path, checkout.work)

    assert result.code == 0, result.err
    commit = git(checkout.work, "cat-file", "commit", "HEAD")
    assert "Keras-CT-Round: 1" in commit
    assert "gpgsig -----BEGIN PGP SIGNATURE-----" in commit


def test_a_commit_that_cannot_be_signed_says_so_and_the_tree_is_restored(tmp_path: Path) -> None:
    checkout = loop_repo(tmp_path)
    signer = executable(tmp_path / "bin" / "signer", NO_KEY)
    git(checkout.work, "config", "commit.gpgsign", "true")
    git(checkout.work, "config", "gpg.program", str(signer))
    before = state(checkout)

    result = run_loop(tmp_path, checkout.work)

    assert result.code == 1
    assert state(checkout) == before
    (line,) = result.err.splitlines()
    assert line.startswith(
        "keras-ct: error: git commit failed: it could not be signed (commit.gpgsign is on in your git "
        "config): error: gpg failed to sign the data; nothing was committed"
    )
    assert "or turn signing off for this repository (`git config commit.gpgsign false`)" in line


def test_commit_on_a_detached_head_is_refused_before_training(tmp_path: Path) -> None:
    checkout = loop_repo(tmp_path)
    git(checkout.work, "checkout", "-q", "--detach")
    head = git(checkout.work, "rev-parse", "--short", "HEAD")
    started = tmp_path / "training-started"
    argv = loop_argv(checkout.work)
    argv[argv.index("--train-command") + 1] = shlex.join(
        [sys.executable, "-c", f"open({str(started)!r}, 'w'); exec(open('train_fake.py').read())"]
    )

    result = run_loop(tmp_path, checkout.work, argv=argv)

    assert result.code == 2
    assert not started.exists()  # refused before any training process started
    assert result.err == (
        f"keras-ct: error: HEAD is detached in {checkout.work} (at {head}): `keras-ct loop --commit` commits "
        "each change on the checked-out branch, and a detached HEAD has none, so the commits would be easy "
        "to lose. Create a branch here first (`git switch -c <branch>`), or run without --commit.\n"
    )
    assert git(checkout.work, "status", "--porcelain=v1", "--untracked-files=all") == ""


def test_under_actions_the_bots_commit_runs_no_hook_of_the_checkout(fresh_world: World) -> None:
    """The decision for Actions: the commit is github-actions[bot]'s, made in a fresh checkout, with the
    job's token in the environment. No hook runs (hooks are not cloned; one a workflow installed would
    run the pull request's code next to the token) and it is unsigned (the runner has no key)."""
    world = fresh_world
    ran = world.tmp / "hooks-ran.txt"
    for name in ("pre-commit", "commit-msg", "post-commit"):
        hook(world.checkout, name, f"#!/bin/sh\necho {name} >> {shlex.quote(str(ran))}\nexit 1\n")

    result = run_wired(world.env(), api=fast_client(world))

    assert result.code == 0, result.out[-3000:]
    assert not ran.exists()
    pushed = git(world.checkout.bare, "cat-file", "commit", world.checkout.remote_head())
    assert "Keras-CT-Round: 1" in pushed and "gpgsig" not in pushed
