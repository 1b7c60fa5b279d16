"""``keras-ct fork-status`` (the workflow_run companion, .github/workflows/fork-status.yml) against the
fake GitHub: the status a fork's pull request gets after its run, per fork-policy."""

from __future__ import annotations

import pytest

from keras_ct.cli import main
from keras_ct.report import STATUS_LIMIT
from tests.fake_github import state as standard
from tests.fake_github.server import FakeGitHub
from tests.fake_github.state import Status

RUN_URL = "https://github.com/acme/ml-repo/actions/runs/7"


def fork_run(fake: FakeGitHub, **env: str) -> dict[str, str]:
    """The environment fork-status.yml gives the command after a fork's pull_request run of ``ml``."""
    return {
        "GITHUB_ACTIONS": "true",
        "GITHUB_API_URL": fake.api_url,
        "GITHUB_REPOSITORY": standard.REPOSITORY,
        "GITHUB_TOKEN": standard.WRITE_TOKEN,
        "WORKFLOW_RUN_EVENT": "pull_request",
        "WORKFLOW_RUN_HEAD_REPOSITORY": "contributor/ml-repo",
        "WORKFLOW_RUN_HEAD_SHA": standard.HEAD_SHA,
        "WORKFLOW_RUN_URL": RUN_URL,
        "WORKFLOW_RUN_CONCLUSION": "success",
        "FORK_POLICY": "",
        "MODEL_NAME": "",
        **env,
    }


def statuses(fake: FakeGitHub) -> list[Status]:
    return fake.repo(standard.REPOSITORY).statuses


def test_a_skipped_fork_gets_a_failure_that_says_why(fake_github: FakeGitHub) -> None:
    assert main(["fork-status"], fork_run(fake_github)) == 0

    (status,) = statuses(fake_github)
    assert (status.sha, status.state, status.context, status.target_url) == (
        standard.HEAD_SHA,
        "failure",
        "keras-ct",
        RUN_URL,
    )
    assert status.description == (
        "Not trained: a pull request from a fork (fork-policy skip); "
        "a maintainer can push the branch to this repository to train it"
    )
    assert len(status.description) <= STATUS_LIMIT


@pytest.mark.parametrize(
    ("conclusion", "state", "description"),
    [
        ("success", "success", "Trained on CPU (fork): see the run"),
        ("failure", "failure", "Training on CPU (fork) failed or missed the threshold: see the run"),
        ("cancelled", "error", "The CPU training run (fork) ended cancelled: see the run"),
    ],
)
def test_a_cpu_fork_gets_its_runs_conclusion(
    fake_github: FakeGitHub, conclusion: str, state: str, description: str
) -> None:
    env = fork_run(fake_github, FORK_POLICY="cpu", WORKFLOW_RUN_CONCLUSION=conclusion, MODEL_NAME="digits")
    assert main(["fork-status"], env) == 0

    (status,) = statuses(fake_github)
    assert (status.state, status.description, status.context) == (state, description, "keras-ct/digits")


@pytest.mark.parametrize(
    "env",
    [
        pytest.param({"WORKFLOW_RUN_HEAD_REPOSITORY": "ACME/ml-repo"}, id="same-repository"),
        pytest.param({"WORKFLOW_RUN_EVENT": "workflow_dispatch"}, id="dispatched-round"),
        pytest.param({"WORKFLOW_RUN_EVENT": "push"}, id="push"),
    ],
)
def test_a_run_that_is_not_a_forks_pull_request_gets_nothing(
    fake_github: FakeGitHub, env: dict[str, str]
) -> None:
    assert main(["fork-status"], fork_run(fake_github, **env)) == 0
    assert statuses(fake_github) == []
    assert fake_github.calls("create_commit_status") == []


def test_the_token_is_never_printed(fake_github: FakeGitHub, capsys: pytest.CaptureFixture[str]) -> None:
    env = fork_run(fake_github, GITHUB_TOKEN=standard.READ_TOKEN, GITHUB_ACTIONS="")
    assert main(["fork-status"], env) != 0  # a read-only token: 403, reported as one error line
    assert main(["fork-status"], fork_run(fake_github, GITHUB_ACTIONS="")) == 0

    out = capsys.readouterr()
    assert "statuses" in out.out + out.err
    for token in (standard.READ_TOKEN, standard.WRITE_TOKEN):
        assert token not in out.out + out.err


def test_a_bad_fork_policy_is_refused_before_any_request(fake_github: FakeGitHub) -> None:
    assert main(["fork-status"], fork_run(fake_github, FORK_POLICY="gpu")) == 2
    assert fake_github.calls("create_commit_status") == []
