"""git faults around a round: the push is rejected, the tree is dirty, two runs for one PR at once.

The augment step is the real libcst edit (without the TensorFlow build proof, see
``harness.conv_block_without_build``); git is real, against a bare remote on disk.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

from tests.fake_github.state import PR_NUMBER, WRITE_TOKEN
from tests.integration.repo_setup import Checkout, actions_env, git, pr_event
from tests.reliability.harness import Result, Snapshot, World, fast_client, python_command, run_wired


def user_push(world: World, name: str, files: dict[str, str]) -> str:
    """A person pushes a commit to the PR branch from their own clone; returns its SHA."""
    clone = world.tmp / name
    git(world.tmp, "clone", "-q", "--branch", world.checkout.branch, str(world.checkout.bare), str(clone))
    git(clone, "config", "user.name", "Dev")
    git(clone, "config", "user.email", "dev@example.com")
    for path, text in files.items():
        (clone / path).write_text(text, encoding="utf-8")
    git(clone, "add", *files)
    git(clone, "commit", "-qm", f"{name}: {', '.join(files)}")
    git(clone, "push", "-q", "origin", f"HEAD:{world.checkout.branch}")
    return git(clone, "rev-parse", "HEAD")


def test_branch_moved_while_training_no_push_no_dispatch(world: World) -> None:
    trained = world.checkout.head()
    clone = world.tmp / "dev"
    git(world.tmp, "clone", "-q", "--branch", world.checkout.branch, str(world.checkout.bare), str(clone))
    git(
        clone,
        "-c",
        "user.name=Dev",
        "-c",
        "user.email=dev@example.com",
        "commit",
        "-q",
        "--allow-empty",
        "-m",
        "wip",
    )
    theirs = git(clone, "rev-parse", "HEAD")
    # The train command pushes the other commit first: the branch moves while the round runs.
    push_then_train = python_command(
        "import runpy, subprocess\n"
        f"subprocess.run(['git', '-C', {str(clone)!r}, 'push', '-q', 'origin', 'HEAD:{world.checkout.branch}'], check=True)\n"
        "runpy.run_path('train_fake.py')"
    )

    result = run_wired(world.env({"train-command": push_then_train}), api=fast_client(world))

    assert result.code == 1
    error = result.one_error().message
    assert (
        f"branch {world.checkout.branch} moved on origin while this round ran: it is now at {theirs[:12]}"
        in error
    )
    assert "did not push and did not dispatch" in error
    assert world.checkout.remote_head() == theirs  # their commit stays; ours was not pushed
    assert world.repo.dispatches == []
    assert world.statuses()[-1][:2] == (trained, "failure")
    assert "Not pushed, nothing dispatched: branch improve-model moved on origin" in world.comment()


def test_protected_branch_push_rejected_no_dispatch(fresh_world: World) -> None:
    world = fresh_world
    hook = world.checkout.bare / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\necho 'GH006: Protected branch update failed' >&2\nexit 1\n")
    hook.chmod(0o755)
    before = world.checkout.remote_head()

    result = run_wired(world.env(), api=fast_client(world))

    assert result.code == 1
    error = result.one_error().message
    assert "the remote refused the push to improve-model (pre-receive hook declined)" in error
    assert "allow github-actions[bot] to push to it or run keras-ct with `push: false`" in error
    assert world.checkout.remote_head() == before
    assert world.repo.dispatches == []
    body = world.comment()
    assert "Not pushed, nothing dispatched: the remote refused the push" in body
    assert world.statuses()[-1][1] == "failure"


def test_dirty_tree_before_augmenting_is_refused_and_kept(world: World) -> None:
    """A tracked file edited while the round trained: the last check before the edit refuses it.
    (A tree dirty before training is refused before it: tests/reliability/test_preflight.py.)"""
    trained = world.checkout.head()
    notes = world.work / "train_fake.py"
    original = notes.read_text()
    edited = original + "# a local edit nobody committed\n"
    notes.write_text(edited)
    before = Snapshot.take(world.checkout)
    notes.write_text(original)
    edit_then_train = python_command(
        "from pathlib import Path\n"
        "code = Path('train_fake.py').read_text()\n"
        "Path('train_fake.py').write_text(code + '# a local edit nobody committed\\n')\n"
        "exec(compile(code, 'train_fake.py', 'exec'))"
    )

    result = run_wired(world.env({"train-command": edit_then_train}), api=fast_client(world))

    assert result.code == 1
    error = result.one_error().message
    assert "has uncommitted changes (train_fake.py); keras-ct refuses to augment the model" in error
    assert Snapshot.take(world.checkout) == before  # the user's edit kept, the model untouched
    assert notes.read_text() == edited
    assert world.checkout.remote_head() == trained and world.repo.dispatches == []
    assert world.statuses()[-1][:2] == (trained, "failure")
    assert "Round 1 failed." in world.comment()


def second_checkout(world: World, name: str) -> Checkout:
    work = world.tmp / name
    git(world.tmp, "clone", "-q", "--branch", world.checkout.branch, str(world.checkout.bare), str(work))
    return Checkout(work, world.checkout.bare, world.checkout.branch)


def test_two_runs_for_one_pr_the_older_stops_the_newer_owns_the_loop(world: World, tmp_path: Path) -> None:
    """Round 2 (run A) is training when the author pushes; that push starts run B (round 1 again).

    A must stop before pushing and dispatch nothing; B owns the loop: its change is on the branch,
    it dispatched its round 2 once, and the comment is B's.
    """
    strict = {"threshold": "0.95"}
    assert (
        run_wired(world.env(strict), api=fast_client(world)).code == 0
    )  # round 1: c1 pushed, round 2 dispatched
    c1 = world.checkout.remote_head()
    world.repo.pulls[PR_NUMBER].head_sha = c1

    # Run A: the dispatched round 2, on c1. Its trainer waits for the test to say go.
    ready, go = tmp_path / "a-ready", tmp_path / "a-go"
    wait_then_train = python_command(
        "import pathlib, runpy, time\n"
        f"pathlib.Path({str(ready)!r}).touch()\n"
        f"while not pathlib.Path({str(go)!r}).exists(): time.sleep(0.02)\n"
        "runpy.run_path('train_fake.py')"
    )
    env_a = world.dispatched_env(2, {**strict, "train-command": wait_then_train})
    result_a: list[Result] = []
    thread = threading.Thread(target=lambda: result_a.append(run_wired(env_a, api=fast_client(world))))
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while not ready.exists():
            assert time.monotonic() < deadline and thread.is_alive(), "run A never started training"
            time.sleep(0.02)
        # The author pushes during round 2: GitHub starts run B (pull_request synchronize) on the new head.
        theirs = user_push(world, "author", {"NOTES.md": "tuning notes\n"})
        world.repo.pulls[PR_NUMBER].head_sha = theirs
        b = second_checkout(world, "run-b")
        (tmp_path / "b").mkdir()
        env_b = actions_env(
            tmp_path / "b", b, world.fake.api_url, WRITE_TOKEN, event=pr_event(b), inputs=strict
        )
        result_b = run_wired(env_b, api=fast_client(world))
    finally:
        go.touch()
        thread.join(timeout=60)

    # B ran round 1 on the author's commit, pushed its change, dispatched its round 2.
    assert result_b.code == 0, result_b.out[-3000:]
    b_change = world.checkout.remote_head()
    assert git(b.work, "rev-parse", "HEAD") == b_change != theirs
    assert git(b.work, "rev-parse", "HEAD~1") == theirs
    # A stopped before pushing: exit 1, the branch moved, nothing of A's on the remote, no dispatch of round 3.
    (a,) = result_a
    assert a.code == 1
    assert "moved on origin while this round ran" in a.one_error().message
    dispatched = [d.inputs["round"] for d in world.repo.dispatches]
    assert dispatched == [
        "2",
        "2",
    ]  # round 1 of the first attempt, round 1 of B: never round 3, never twice for B
    # The comment belongs to B: its round 1, its dispatch; A did not overwrite it with its older view.
    body = world.comment()
    assert "Round 1: accuracy 0.9000 < 0.95; round 2 is on its way." in body
    assert theirs[:7] in body

    # B's dispatched round 2 is not mistaken for a duplicate (A's round 2 never delivered a change).
    world.repo.pulls[PR_NUMBER].head_sha = b_change
    c = second_checkout(world, "run-c")
    (tmp_path / "c").mkdir()
    env_c = actions_env(
        tmp_path / "c",
        c,
        world.fake.api_url,
        WRITE_TOKEN,
        event_name="workflow_dispatch",
        event={"inputs": {"round": "2", "pr-number": str(PR_NUMBER)}},
        inputs={**strict, "round": "2", "pr-number": str(PR_NUMBER), "threshold": "0.85"},
    )
    result_c = run_wired(env_c, api=fast_client(world))
    assert result_c.code == 0, result_c.out[-3000:]
    assert "Threshold met: accuracy 0.9900 ≥ 0.85 at round 2." in world.comment()
