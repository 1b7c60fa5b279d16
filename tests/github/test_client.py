"""keras_ct.github.client against the fake GitHub (real HTTP, every exchange checked against the OpenAPI).

The ``fake_github`` / ``fake_ghes`` fixtures fail a test at teardown if any request or response broke
GitHub's published contract, so every test here is also a contract test.
"""

from __future__ import annotations

import logging

import pytest

from keras_ct.errors import GitHubError
from keras_ct.github.api import upsert_sticky_comment
from keras_ct.github.client import GitHubClient, parse_link_next
from keras_ct.report import COMMENT_LIMIT
from tests.fake_github import state as standard
from tests.fake_github.server import FakeGitHub
from tests.github.clients import INPUTS, MARKER, comments, losing_answers, lost_answers, make_client, sent

# -- comments ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("kind", "options"), lost_answers(502))
def test_create_comment_whose_answer_was_lost_is_not_sent_again(
    fake_github: FakeGitHub, kind: str, options: dict[str, object]
) -> None:
    api = losing_answers(fake_github, "create_issue_comment", kind, options)

    created = upsert_sticky_comment(api, standard.PR_NUMBER, MARKER, f"{MARKER}\nround 1")

    assert [c.body for c in comments(fake_github)] == [f"{MARKER}\nround 1"]
    assert created.id == comments(fake_github)[0].id
    assert sent(fake_github, "create_issue_comment") == 1


def test_comment_over_githubs_limit_is_refused_before_sending(fake_github: FakeGitHub) -> None:
    api = make_client(fake_github)
    with pytest.raises(GitHubError, match=f"at most {COMMENT_LIMIT}"):
        api.create_issue_comment(standard.PR_NUMBER, "x" * (COMMENT_LIMIT + 1))
    assert sent(fake_github, "create_issue_comment") == 0
    exactly = api.create_issue_comment(standard.PR_NUMBER, "x" * COMMENT_LIMIT)
    assert len(exactly.body) == COMMENT_LIMIT


# -- commit statuses ---------------------------------------------------------------------------


def test_status_transitions_are_recorded_in_order(fake_github: FakeGitHub) -> None:
    api = make_client(fake_github)
    run_url = "https://github.com/acme/ml-repo/actions/runs/1"

    api.create_commit_status(standard.HEAD_SHA, "pending", "Round 1 of 3: training", run_url)
    api.create_commit_status(
        standard.HEAD_SHA, "pending", "Round 1 missed 0.95 (0.8812); round 2 dispatched", run_url
    )
    final = api.create_commit_status(
        standard.HEAD_SHA, "success", "Round 2 met 0.95 (0.9611) " + "x" * 200, run_url
    )

    recorded = fake_github.repo(standard.REPOSITORY).statuses
    assert [(s.sha, s.context, s.state) for s in recorded] == [
        (standard.HEAD_SHA, "keras-ct", "pending"),
        (standard.HEAD_SHA, "keras-ct", "pending"),
        (standard.HEAD_SHA, "keras-ct", "success"),
    ]
    assert recorded[1].description == "Round 1 missed 0.95 (0.8812); round 2 dispatched"
    assert recorded[2].target_url == run_url
    assert len(final.description or "") == 140 and (final.description or "").endswith("...")
    assert [s.state for s in api.list_commit_statuses(standard.HEAD_SHA)] == ["success", "pending", "pending"]


def test_status_whose_answer_was_lost_is_not_duplicated(fake_github: FakeGitHub) -> None:
    fake_github.inject("drop", route="create_commit_status")
    api = make_client(fake_github)

    status = api.create_commit_status(standard.HEAD_SHA, "pending", "Round 1 of 3: training", None)

    assert [s.state for s in fake_github.repo(standard.REPOSITORY).statuses] == ["pending"]
    assert status.id == fake_github.repo(standard.REPOSITORY).statuses[0].id


# -- dispatch ----------------------------------------------------------------------------------


def test_dispatch_sends_ref_and_inputs_and_returns_the_new_run(fake_github: FakeGitHub) -> None:
    api = make_client(fake_github)

    result = api.dispatch_workflow(
        standard.WORKFLOW_FILE, standard.HEAD_REF, {"round": 2, "pr-number": standard.PR_NUMBER}
    )  # type: ignore[dict-item]

    [dispatch] = fake_github.repo(standard.REPOSITORY).dispatches
    assert (dispatch.workflow_path, dispatch.ref, dispatch.inputs) == (
        ".github/workflows/ml.yml",
        standard.HEAD_REF,
        INPUTS,
    )
    assert dispatch.return_run_details is True
    assert result.run_id == dispatch.run_id
    assert result.html_url and result.html_url.endswith(f"/actions/runs/{dispatch.run_id}")
    assert result.inputs == INPUTS
    [run] = [r for r in fake_github.repo(standard.REPOSITORY).runs if r.event == "workflow_dispatch"]
    assert (run.id, run.head_branch, run.head_sha) == (dispatch.run_id, standard.HEAD_REF, standard.HEAD_SHA)


def test_dispatch_by_workflow_id_works_too(fake_github: FakeGitHub) -> None:
    api = make_client(fake_github)
    [workflow] = fake_github.repo(standard.REPOSITORY).workflows
    assert workflow.path == ".github/workflows/ml.yml"
    api.dispatch_workflow(workflow.id, standard.HEAD_REF, INPUTS)
    assert fake_github.repo(standard.REPOSITORY).dispatches[0].workflow_id == workflow.id


def test_ghes_rejects_return_run_details_and_the_dispatch_falls_back(fake_ghes: FakeGitHub) -> None:
    api = make_client(fake_ghes)

    first = api.dispatch_workflow(standard.WORKFLOW_FILE, standard.HEAD_REF, INPUTS)
    second = api.dispatch_workflow(standard.WORKFLOW_FILE, standard.HEAD_REF, {**INPUTS, "round": "3"})

    dispatches = fake_ghes.repo(standard.REPOSITORY).dispatches
    assert [d.inputs["round"] for d in dispatches] == ["2", "3"]
    assert all(d.return_run_details is None for d in dispatches)
    assert (first.run_id, first.run_details_supported, second.run_details_supported) == (None, False, False)
    assert [e.status for e in fake_ghes.calls("dispatch_workflow")] == [400, 204, 204]


@pytest.mark.parametrize(("kind", "options"), lost_answers(500))
def test_dispatch_whose_answer_was_lost_is_not_sent_again(
    fake_github: FakeGitHub, kind: str, options: dict[str, object]
) -> None:
    api = losing_answers(fake_github, "dispatch_workflow", kind, options)

    result = api.dispatch_workflow(standard.WORKFLOW_FILE, standard.HEAD_REF, INPUTS)

    [dispatch] = fake_github.repo(standard.REPOSITORY).dispatches
    assert result.run_id == dispatch.run_id
    assert sent(fake_github, "dispatch_workflow") == 1


def test_dispatch_rejected_before_processing_is_sent_again_once(fake_github: FakeGitHub) -> None:
    fake_github.inject("error", route="dispatch_workflow", status=503)
    api = make_client(fake_github)

    api.dispatch_workflow(standard.WORKFLOW_FILE, standard.HEAD_REF, INPUTS)

    assert len(fake_github.repo(standard.REPOSITORY).dispatches) == 1
    assert [e.status for e in fake_github.calls("dispatch_workflow")] == [503, 200]


# -- pull requests, GHES -----------------------------------------------------------------------


def test_pull_request_fields_and_fork_detection(fake_github: FakeGitHub) -> None:
    fake_github.add_pull(
        standard.REPOSITORY, 8, head_ref="patch-1", head_sha="3" * 40, head_repo="mallory/ml-repo"
    )
    api = make_client(fake_github)

    own, fork = api.get_pull(standard.PR_NUMBER), api.get_pull(8)

    assert (own.head_ref, own.head_sha, own.base_ref, own.is_fork) == (
        standard.HEAD_REF,
        standard.HEAD_SHA,
        "main",
        False,
    )
    assert (fork.head_repo, fork.base_repo, fork.is_fork) == ("mallory/ml-repo", standard.REPOSITORY, True)


def test_ghes_base_url_with_api_v3_prefix(fake_ghes: FakeGitHub) -> None:
    assert fake_ghes.api_url.endswith("/api/v3")
    api = make_client(fake_ghes)

    pull = api.get_pull(standard.PR_NUMBER)
    comment = upsert_sticky_comment(api, standard.PR_NUMBER, MARKER, f"{MARKER}\nround 1")
    api.create_commit_status(pull.head_sha, "pending", "Round 1 of 3: training", None)

    assert comment.body == f"{MARKER}\nround 1"
    assert all(e.path.startswith("/api/v3/repos/acme/ml-repo/") for e in fake_ghes.exchanges)
    assert len(fake_ghes.repo(standard.REPOSITORY).statuses) == 1


# -- the token stays secret -----------------------------------------------------------------------


def test_token_never_appears_in_logs_output_or_errors(
    fake_github: FakeGitHub, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    caplog.set_level(logging.DEBUG)
    fake_github.inject("error", route="create_issue_comment", status=502)
    fake_github.inject("drop", route="dispatch_workflow")
    api = make_client(fake_github)
    messages: list[str] = [repr(api), str(api.__dict__.get("retry"))]

    upsert_sticky_comment(api, standard.PR_NUMBER, MARKER, f"{MARKER}\nround 1")
    api.dispatch_workflow(standard.WORKFLOW_FILE, standard.HEAD_REF, INPUTS)
    for call in (
        lambda: make_client(fake_github, token=standard.READ_TOKEN).create_issue_comment(
            standard.PR_NUMBER, "x"
        ),
        lambda: make_client(fake_github, token=standard.WRITE_TOKEN + "x").get_pull(standard.PR_NUMBER),
    ):
        with pytest.raises(GitHubError) as caught:
            call()
        messages.append(caught.value.message)

    captured = capsys.readouterr()
    assert caplog.records, "PyGithub's debug log was captured"
    for secret in (standard.WRITE_TOKEN, standard.READ_TOKEN):
        assert secret not in caplog.text
        assert secret not in captured.out + captured.err
        assert all(secret not in m for m in messages)


def test_parse_link_next() -> None:
    link = '<https://x/a?page=3>; rel="next", <https://x/a?page=9>; rel="last"'
    assert parse_link_next(link) == "https://x/a?page=3"
    assert parse_link_next('<https://x/a?page=1>; rel="first"') is None
    assert parse_link_next(None) is None


def test_client_refuses_a_malformed_repository() -> None:
    with pytest.raises(GitHubError, match="OWNER/NAME"):
        GitHubClient("not a repo", standard.WRITE_TOKEN)
