"""`keras-ct run` as the action runs it, end to end: a real git checkout with a bare remote, the real
augmenter, and real HTTP to the fake GitHub (every exchange checked against GitHub's OpenAPI)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from keras_ct.cli import main
from tests.fake_github.state import PR_NUMBER, READ_TOKEN, REPOSITORY, WRITE_TOKEN
from tests.integration.repo_setup import actions_env, git, make_checkout, outputs, pr_event
from tests.reliability.harness import run_wired

BOT = "github-actions[bot] <41898282+github-actions[bot]@users.noreply.github.com>"


@pytest.fixture
def world(tmp_path: Path, fake_github):  # type: ignore[no-untyped-def]
    checkout = make_checkout(tmp_path)
    repo = fake_github.repo(REPOSITORY)
    repo.git_dir = str(checkout.bare)
    repo.pulls[PR_NUMBER].head_sha = checkout.head()
    return checkout, fake_github, repo


def assert_token_only_masked(log: str) -> None:
    """The token appears once, in the ::add-mask:: command the runner consumes, and nowhere else."""
    assert [line for line in log.splitlines() if WRITE_TOKEN in line] == [f"::add-mask::{WRITE_TOKEN}"]


def statuses(repo) -> list[str]:  # type: ignore[no-untyped-def]
    return [s.state for s in repo.statuses]


def test_passing_round_reports_and_changes_nothing(tmp_path: Path, world, capsys) -> None:  # type: ignore[no-untyped-def]
    checkout, fake, repo = world
    env = actions_env(
        tmp_path, checkout, fake.api_url, WRITE_TOKEN, event=pr_event(checkout), inputs={"threshold": "0.75"}
    )
    before = checkout.remote_head()

    assert main(["run"], env) == 0

    assert statuses(repo) == ["pending", "success"]
    assert repo.statuses[-1].context == "keras-ct"
    assert repo.statuses[-1].target_url == "https://github.com/acme/ml-repo/actions/runs/1001"
    assert len(repo.comments) == 1
    assert "Threshold met: accuracy 0.8000 ≥ 0.75 at round 1" in repo.comments[0].body
    assert repo.dispatches == []
    assert checkout.remote_head() == before
    out = outputs(tmp_path)
    assert (out["accuracy"], out["passed"], out["round"], out["dispatched"]) == (
        "0.800000",
        "true",
        "1",
        "false",
    )
    assert out["comment-url"].endswith(f"#issuecomment-{repo.comments[0].id}")
    assert "Threshold met" in (tmp_path / "summary.md").read_text()
    assert_token_only_masked(capsys.readouterr().out)


@pytest.mark.training
def test_missed_round_commits_pushes_and_dispatches_then_next_round_passes(
    tmp_path: Path, world, capsys
) -> None:  # type: ignore[no-untyped-def]
    checkout, fake, repo = world
    env = actions_env(tmp_path, checkout, fake.api_url, WRITE_TOKEN, event=pr_event(checkout))
    trained = checkout.head()

    assert main(["run"], env) == 0

    # Round 1 missed (0.80 < 0.85): status pending twice, comment, augmented commit pushed, round 2 dispatched;
    # the pushed head is pending ("queued") from the push on.
    assert statuses(repo) == ["pending", "pending", "pending"]
    assert [s.sha == trained for s in repo.statuses] == [True, False, True]
    assert "round 2 dispatched" in repo.statuses[-1].description
    assert len(repo.comments) == 1
    body = repo.comments[0].body
    assert "Round 1: accuracy 0.8000 < 0.85; round 2 is on its way." in body
    assert "Conv2D(32" in body  # the diff of the change
    pushed = checkout.remote_head()
    assert pushed != trained and pushed == checkout.head()
    assert (repo.statuses[1].sha, repo.statuses[1].description) == (pushed, "Round 2 of 3: queued")
    log = checkout.remote_log(1)
    assert log.startswith(BOT)
    assert "Keras-CT-Round: 1" in log and "Keras-CT-Accuracy: 0.8000" in log
    assert "below the threshold 0.85" in log
    assert len(repo.dispatches) == 1
    dispatch = repo.dispatches[0]
    assert dispatch.ref == "improve-model"
    assert dispatch.inputs == {"round": "2", "pr-number": "7"}
    out = outputs(tmp_path)
    assert (out["passed"], out["next-round"], out["dispatched"]) == ("false", "2", "true")
    assert_token_only_masked(capsys.readouterr().out)

    # Round 2, as the dispatched run: the same comment is updated, the loop ends.
    env2 = actions_env(
        tmp_path,
        checkout,
        fake.api_url,
        WRITE_TOKEN,
        event_name="workflow_dispatch",
        event={"inputs": {"round": "2", "pr-number": "7"}},
        inputs={"round": "2", "pr-number": "7"},
    )
    assert main(["run"], env2) == 0
    assert len(repo.comments) == 1
    body = repo.comments[0].body
    assert "Threshold met: accuracy 0.9000 ≥ 0.85 at round 2." in body
    assert "| 1 |" in body and "| 2 |" in body and "**conv-block**" in body
    assert statuses(repo)[-1] == "success"
    assert repo.statuses[-1].sha == pushed
    assert len(repo.dispatches) == 1

    # A duplicate dispatch of round 1 must not act again.
    assert main(["run"], env) == 0
    assert len(repo.dispatches) == 1
    assert checkout.remote_head() == pushed


@pytest.mark.training
@pytest.mark.parametrize("reuse", ["true", "false"])
def test_rounds_per_job_trains_two_rounds_commits_both_then_dispatches_the_third(
    tmp_path: Path, world, reuse: str
) -> None:  # type: ignore[no-untyped-def]
    checkout, fake, repo = world
    inputs = {"threshold": "0.95", "rounds-per-job": "2", "reuse-training-process": reuse}
    env = actions_env(tmp_path, checkout, fake.api_url, WRITE_TOKEN, event=pr_event(checkout), inputs=inputs)
    trained = checkout.head()

    assert main(["run"], env) == 0

    # Rounds 1 (0.80) and 2 (0.90) in this job, each committed with its trailers; one push, one dispatch.
    log = checkout.remote_log(2)
    assert "Keras-CT-Round: 2" in log and "Keras-CT-Round: 1" in log
    assert git(checkout.bare, "rev-list", "--count", f"{trained}..{checkout.branch}") == "2"
    assert [d.inputs for d in repo.dispatches] == [{"round": "3", "pr-number": "7"}]
    assert len(repo.comments) == 1
    body = repo.comments[0].body
    assert "| 1 |" in body and "| 2 |" in body and "round 3 is on its way" in body
    assert "round 3 dispatched" in repo.statuses[-1].description
    out = outputs(tmp_path)
    assert (out["round"], out["next-round"], out["dispatched"]) == ("2", "3", "true")
    pids = [
        json.loads((checkout.work / ".keras-ct" / f"round-{n}" / "metrics.json").read_text())["pid"]
        for n in (1, 2)
    ]
    assert (pids[0] == pids[1]) is (reuse == "true")  # one training process for the job's rounds, or one each


def test_rounds_per_job_a_miss_then_a_pass_pushes_the_change_that_passed(tmp_path: Path, world) -> None:  # type: ignore[no-untyped-def]
    """Round 1 misses and commits its change in this job; round 2 passes on it: the branch must get it.

    The change is the augmenter's real edit, written without the TensorFlow build proof (``run_wired``).
    """
    checkout, fake, repo = world
    inputs = {"rounds-per-job": "2", "reuse-training-process": "false"}
    env = actions_env(tmp_path, checkout, fake.api_url, WRITE_TOKEN, event=pr_event(checkout), inputs=inputs)
    trained = checkout.head()

    result = run_wired(env)

    assert result.code == 0, result.out[-3000:]
    pushed = checkout.remote_head()
    assert pushed != trained and pushed == checkout.head()
    assert "Keras-CT-Round: 1" in checkout.remote_log(1)
    assert repo.dispatches == []
    # The success goes to the trained commit and to the pushed head, the pull request's head now.
    assert statuses(repo) == ["pending", "pending", "success", "success"]
    assert [s.sha for s in repo.statuses[-2:]] == [trained, pushed]
    assert repo.statuses[-1].description == "accuracy 0.9000 ≥ 0.85 at round 2"
    assert "Threshold met: accuracy 0.9000 ≥ 0.85 at round 2." in repo.comments[0].body
    out = outputs(tmp_path)
    assert (out["passed"], out["round"], out["next-round"], out["dispatched"]) == ("true", "2", "", "false")


def test_last_round_miss_fails_without_augmenting(tmp_path: Path, world) -> None:  # type: ignore[no-untyped-def]
    checkout, fake, repo = world
    env = actions_env(
        tmp_path,
        checkout,
        fake.api_url,
        WRITE_TOKEN,
        event=pr_event(checkout),
        inputs={"round": "3", "max-rounds": "3", "fail-below-threshold": "true"},
    )
    before = checkout.remote_head()
    assert main(["run"], env) == 1
    assert statuses(repo) == ["pending", "failure"]
    assert "after round 3, the last round" in repo.comments[0].body
    assert repo.dispatches == [] and checkout.remote_head() == before


def test_fork_pull_request_writes_nothing(tmp_path: Path, world) -> None:  # type: ignore[no-untyped-def]
    checkout, fake, repo = world
    event = pr_event(checkout, fork="someone/ml-repo")
    env = actions_env(tmp_path, checkout, fake.api_url, READ_TOKEN, event=event)
    before = checkout.remote_head()
    assert main(["run"], env) == 0
    assert repo.comments == [] and repo.statuses == [] and repo.dispatches == []
    assert checkout.remote_head() == before and checkout.head() == before
    summary = (tmp_path / "summary.md").read_text()
    assert "comes from a fork" in summary
    writes = [e for e in fake.exchanges if e.method in ("POST", "PATCH")]
    assert writes == []


def test_read_only_token_degrades_at_first_write(tmp_path: Path, world) -> None:  # type: ignore[no-untyped-def]
    checkout, fake, repo = world
    env = actions_env(tmp_path, checkout, fake.api_url, READ_TOKEN, event=pr_event(checkout))
    before = checkout.remote_head()
    assert main(["run"], env) == 0
    assert repo.comments == [] and repo.dispatches == [] and checkout.remote_head() == before
    writes = [e for e in fake.exchanges if e.method in ("POST", "PATCH")]
    assert len(writes) == 1 and writes[0].status == 403  # one refused write, then no more attempts
    assert "statuses: write" in (tmp_path / "summary.md").read_text()


def test_failed_training_marks_round_failed_and_commits_nothing(tmp_path: Path, world) -> None:  # type: ignore[no-untyped-def]
    checkout, fake, repo = world
    env = actions_env(tmp_path, checkout, fake.api_url, WRITE_TOKEN, event=pr_event(checkout))
    env["FAKE_TRAIN_EXIT"] = "1"
    env["INPUT_TRAIN-RETRIES"] = "0"
    before = checkout.remote_head()
    assert main(["run"], env) == 1
    assert statuses(repo) == ["pending", "failure"]
    assert "failed" in repo.comments[0].body and "exited with status 1" in repo.comments[0].body
    assert repo.dispatches == [] and checkout.remote_head() == before
    assert git(checkout.work, "status", "--porcelain", "--untracked-files=no") == ""


@pytest.mark.training
def test_branch_moved_during_the_round_no_push_no_dispatch(tmp_path: Path, world) -> None:  # type: ignore[no-untyped-def]
    checkout, fake, repo = world
    env = actions_env(tmp_path, checkout, fake.api_url, WRITE_TOKEN, event=pr_event(checkout))
    env["FAKE_CONCURRENT_PUSH"] = f"{checkout.bare}::{checkout.branch}"
    assert main(["run"], env) != 0
    moved = checkout.remote_head()
    assert git(checkout.bare, "log", "-1", "--format=%s", moved) == "user push"  # their push stands
    assert repo.dispatches == []
    assert statuses(repo)[-1] == "failure"
    assert "Not pushed, nothing dispatched" in repo.comments[0].body


@pytest.mark.training
def test_enterprise_server_base_url_and_dispatch_fallback(tmp_path: Path, fake_ghes) -> None:  # type: ignore[no-untyped-def]
    """GHES: the API lives under /api/v3 and 3.20-or-older servers reject return_run_details (400)."""
    checkout = make_checkout(tmp_path)
    repo = fake_ghes.repo(REPOSITORY)
    repo.git_dir = str(checkout.bare)
    repo.pulls[PR_NUMBER].head_sha = checkout.head()
    assert fake_ghes.api_url.endswith("/api/v3")
    env = actions_env(tmp_path, checkout, fake_ghes.api_url, WRITE_TOKEN, event=pr_event(checkout))
    assert main(["run"], env) == 0
    assert len(repo.dispatches) == 1 and repo.dispatches[0].inputs == {"round": "2", "pr-number": "7"}
    dispatch_calls = fake_ghes.calls("dispatch_workflow", answered_only=True)
    assert [c.status for c in dispatch_calls] == [400, 204]
    assert len(repo.comments) == 1 and statuses(repo) == ["pending", "pending", "pending"]


@pytest.mark.training
def test_outside_actions_the_same_round_runs_against_any_base_url(tmp_path: Path, world) -> None:  # type: ignore[no-untyped-def]
    """No runner: flags name the API, repository, PR, branch and workflow; the token comes from GITHUB_TOKEN."""
    checkout, fake, repo = world
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "KERAS_HOME": str(tmp_path / "keras-home"),
        "GITHUB_TOKEN": WRITE_TOKEN,
    }
    argv = [
        "run", "--api-url", fake.api_url, "--repository", REPOSITORY, "--pr-number", str(PR_NUMBER),
        "--branch", checkout.branch, "--workflow", "ml.yml", "--working-directory", str(checkout.work),
        "--train-command", f"{sys.executable} train_fake.py", "--threshold", "0.85", "--python", sys.executable,
    ]  # fmt: skip
    trained = checkout.head()
    assert main(argv, env) == 0
    assert statuses(repo) == ["pending", "pending", "pending"] and repo.statuses[0].sha == trained
    assert len(repo.comments) == 1 and "round 2 is on its way" in repo.comments[0].body
    assert checkout.remote_head() != trained and "Keras-CT-Round: 1" in checkout.remote_log(1)
    assert [(d.ref, d.inputs) for d in repo.dispatches] == [
        ("improve-model", {"round": "2", "pr-number": "7"})
    ]
