"""github.publish: the target a round reports to, and ``connect``, which returns it with its publisher.

Without a token: a read-only publisher that says why, or a clear refusal. With one: the target is
completed from the pull request when the event did not name its head, and a fork's is read-only.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from keras_ct.config import GitHubContext, load_config
from keras_ct.errors import ConfigError, KerasCTError
from keras_ct.github.publish import (
    FORK_NOTE,
    NO_PR_NUMBER_NOTE,
    NO_TOKEN_NOTE,
    Overrides,
    ReadOnlyPublisher,
    Target,
    connect,
    target_from_context,
)
from keras_ct.report import Verdict
from keras_ct.round.history import RoundRecord
from keras_ct.round.publish import Publisher
from tests.fake_github.server import FakeGitHub
from tests.fake_github.state import PR_NUMBER, REPOSITORY
from tests.github.clients import make_client


def _target(*, fork: bool = False, pr_number: int | None = 7) -> Target:
    return Target(
        api_url="http://127.0.0.1:9",  # nothing listens: a request would fail loudly
        repository=REPOSITORY,
        pr_number=pr_number,
        head_branch="improve-model",
        head_sha="0" * 40,
        workflow="ml.yml",
        fork=fork,
    )


@pytest.mark.parametrize(
    ("target", "why"),
    [
        pytest.param(_target(fork=True), FORK_NOTE, id="fork-pull-request"),
        pytest.param(_target(pr_number=None), NO_TOKEN_NOTE, id="no-pull-request"),
    ],
)
def test_no_token_gives_a_read_only_publisher_that_says_why(tmp_path: Path, target: Target, why: str) -> None:
    cfg = load_config({}, {}, cwd=tmp_path)
    connection = connect(cfg, target)
    publisher: Publisher = connection.publisher
    assert isinstance(publisher, ReadOnlyPublisher)
    assert (publisher.writable, publisher.why) == (False, why)
    assert connection.target == publisher.target == target
    assert publisher.load_history() == ()
    publisher.set_status("pending", "Round 1 of 5: training")
    record = RoundRecord(round=1, accuracy=0.8, threshold=0.9, status="missed")
    assert publisher.publish([record], Verdict("stopped", "No change was made.")) == ""
    with pytest.raises(KerasCTError) as info:
        publisher.dispatch(2, "improve-model")
    assert info.value.message == f"cannot dispatch round 2: {why}"


def test_no_token_for_a_pull_request_of_the_repository_is_refused(tmp_path: Path) -> None:
    cfg = load_config({}, {}, cwd=tmp_path)
    with pytest.raises(ConfigError) as info:
        connect(cfg, _target())
    assert info.value.message.startswith(
        "github-token is empty, so keras-ct cannot report on pull request #7 of acme/ml-repo"
    )
    assert info.value.exit_code == 2


@pytest.mark.parametrize(
    ("number", "fork"),
    [pytest.param(PR_NUMBER, False, id="own-pull-request"), pytest.param(8, True, id="fork-pull-request")],
)
def test_connect_returns_the_target_completed_from_the_pull_request(
    tmp_path: Path, fake_github: FakeGitHub, number: int, fork: bool
) -> None:
    fake_github.add_pull(REPOSITORY, 8, head_ref="patch-1", head_sha="3" * 40, head_repo="mallory/ml-repo")
    pull = fake_github.repo(REPOSITORY).pulls[number]
    cfg = load_config({}, {}, cwd=tmp_path)
    bare = replace(_target(pr_number=number), api_url=fake_github.api_url, head_branch="", head_sha="")

    connection = connect(cfg, bare, api=make_client(fake_github))

    assert connection.target == replace(
        bare, head_branch=pull.head_ref, head_sha=pull.head_sha, fork=fork, base_branch=pull.base_ref
    )
    assert connection.publisher.target == connection.target
    assert (connection.publisher.writable, connection.publisher.why) == (not fork, FORK_NOTE if fork else "")


def test_connect_without_a_pull_request_number_asks_github_nothing(
    tmp_path: Path, fake_github: FakeGitHub
) -> None:
    cfg = load_config({}, {}, cwd=tmp_path)
    target = replace(_target(pr_number=None), head_sha="")

    connection = connect(cfg, target, api=make_client(fake_github))

    assert connection.target == target
    assert (connection.publisher.writable, connection.publisher.why) == (False, NO_PR_NUMBER_NOTE)
    assert fake_github.exchanges == []


def test_overrides_win_over_what_the_runner_says() -> None:
    gh = GitHubContext(
        actions=True,
        repository="acme/ml",
        event_name="push",
        workflow_ref="acme/ml/.github/workflows/ml.yml@refs/heads/main",
        ref_name="main",
    )
    overrides = Overrides(
        api_url="https://ghe.example.com/api/v3/", repository="acme/other", workflow="ct.yml", branch="topic"
    )

    assert target_from_context(gh, pr_number=7) == Target(
        "https://api.github.com", "acme/ml", 7, "main", "", "ml.yml"
    )
    assert target_from_context(gh, pr_number=7, overrides=overrides) == Target(
        "https://ghe.example.com/api/v3", "acme/other", 7, "topic", "", "ct.yml"
    )
    assert target_from_context(GitHubContext(repository="acme/ml")) is None  # outside Actions, no API URL
    assert target_from_context(GitHubContext(repository="acme/ml"), overrides=overrides) is not None
