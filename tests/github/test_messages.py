"""keras_ct.github.messages: what GitHub refused, said so a user can act on it (on the fake GitHub)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from keras_ct.github.api import (
    GitHubAuthError,
    GitHubDispatchError,
    GitHubNotFoundError,
    GitHubPermissionError,
)
from keras_ct.github.client import GitHubClient
from tests.fake_github import state as standard
from tests.fake_github.server import FakeGitHub
from tests.github.clients import INPUTS, Clock, make_client

Call = Callable[[GitHubClient], object]

# -- errors a user can act on --------------------------------------------------------------------


def test_bad_token_says_to_check_the_github_token_input(fake_github: FakeGitHub) -> None:
    bad = "ghs_expiredToken0123456789abcdefghijklmno"
    with pytest.raises(GitHubAuthError) as caught:
        make_client(fake_github, token=bad).get_pull(standard.PR_NUMBER)
    assert caught.value.status == 401
    assert "`github-token` input" in caught.value.message and "Bad credentials" in caught.value.message
    assert bad not in caught.value.message


@pytest.mark.parametrize(
    ("call", "permission"),
    [
        pytest.param(
            lambda api: api.create_issue_comment(standard.PR_NUMBER, "hi"),
            "pull-requests: write",
            id="comment",
        ),
        pytest.param(
            lambda api: api.create_commit_status(standard.HEAD_SHA, "pending", "x", None),
            "statuses: write",
            id="status",
        ),
        pytest.param(
            lambda api: api.dispatch_workflow(standard.WORKFLOW_FILE, standard.HEAD_REF, INPUTS),
            "actions: write",
            id="dispatch",
        ),
    ],
)
def test_read_only_token_names_the_missing_permission(
    fake_github: FakeGitHub, call: Call, permission: str
) -> None:
    api = make_client(fake_github, token=standard.READ_TOKEN)

    with pytest.raises(GitHubPermissionError) as caught:
        call(api)

    message = caught.value.message
    assert caught.value.permission == permission
    assert "Resource not accessible by integration" in message
    assert f"needs `{permission}`" in message
    assert "permissions:\n  contents: write" in message and "actions: write" in message
    assert "fork" in message
    state = fake_github.repo(standard.REPOSITORY)
    assert (state.comments, state.statuses, state.dispatches) == ([], [], [])


@pytest.mark.parametrize(
    ("call", "expected"),
    [
        pytest.param(lambda api: api.get_pull(99), ["read pull request #99", "`pr-number` input"], id="pull"),
        pytest.param(
            lambda api: api.dispatch_workflow("nope.yml", standard.HEAD_REF, INPUTS),
            ["Workflow nope.yml was not found"],
            id="dispatch",
        ),
    ],
)
def test_not_found_names_what_was_missing(fake_github: FakeGitHub, call: Call, expected: list[str]) -> None:
    with pytest.raises(GitHubNotFoundError) as caught:
        call(make_client(fake_github))
    for text in [*expected, standard.REPOSITORY]:
        assert text in caught.value.message


def test_unknown_repository_is_not_found(fake_github: FakeGitHub) -> None:
    api = GitHubClient("acme/nope", standard.WRITE_TOKEN, api_url=fake_github.api_url, sleep=Clock().sleep)
    with pytest.raises(GitHubNotFoundError, match="repository acme/nope exists"):
        api.get_pull(standard.PR_NUMBER)


def test_undeclared_inputs_get_the_yaml_to_add(fake_github: FakeGitHub) -> None:
    fake_github.repo(standard.REPOSITORY).workflows[0].inputs = ["round"]
    api = make_client(fake_github)

    with pytest.raises(GitHubDispatchError) as caught:
        api.dispatch_workflow(standard.WORKFLOW_FILE, standard.HEAD_REF, INPUTS)

    assert caught.value.inputs == ("pr-number",)
    assert "does not declare the inputs pr-number" in caught.value.message
    assert "on:\n  workflow_dispatch:\n    inputs:\n      pr-number:\n" in caught.value.message
    assert fake_github.repo(standard.REPOSITORY).dispatches == []


def test_dispatch_of_a_workflow_without_the_trigger_says_to_add_it(fake_github: FakeGitHub) -> None:
    fake_github.repo(standard.REPOSITORY).workflows[0].dispatchable = False
    with pytest.raises(GitHubDispatchError, match="has no `workflow_dispatch` trigger"):
        make_client(fake_github).dispatch_workflow(standard.WORKFLOW_FILE, standard.HEAD_REF, INPUTS)
