"""keras_ct.github.api against the fake GitHub (real HTTP, every exchange checked against the OpenAPI).

The ``fake_github`` / ``fake_ghes`` fixtures fail a test at teardown if any request or response broke
GitHub's published contract, so every test here is also a contract test.
"""

from __future__ import annotations

import logging
import time

import pytest

from keras_ct.errors import GitHubError
from keras_ct.github.api import (
    COMMENT_LIMIT,
    GitHubAuthError,
    GitHubClient,
    GitHubDispatchError,
    GitHubNotFoundError,
    GitHubPermissionError,
    GitHubUnavailableError,
    RetryPolicy,
    find_marked_comment,
    parse_link_next,
    upsert_sticky_comment,
    workflow_file_from_ref,
)
from tests.fake_github.server import FakeGitHub
from tests.fake_github.state import (
    HEAD_REF,
    HEAD_SHA,
    PR_NUMBER,
    READ_TOKEN,
    REPOSITORY,
    WORKFLOW_FILE,
    WRITE_TOKEN,
    Comment,
)

MARKER = "<!-- keras-ct:report -->"
INPUTS = {"round": "2", "pr-number": str(PR_NUMBER)}


class Clock:
    """Injected time: ``sleep`` records and advances, so retries cost no real seconds."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def monotonic(self) -> float:
        return self.now


def make_client(
    fake: FakeGitHub,
    clock: Clock | None = None,
    *,
    token: str = WRITE_TOKEN,
    timeout_s: int = 5,
    **policy: float,
) -> GitHubClient:
    clock = clock or Clock()
    retry = RetryPolicy(
        **{
            "max_attempts": 4,
            "max_elapsed_s": 120.0,
            "base_delay_s": 0.5,
            "max_delay_s": 4.0,
            "confirm_window_s": 1.0,
            "confirm_interval_s": 0.5,
            **policy,
        }
    )
    return GitHubClient(
        REPOSITORY,
        token,
        api_url=fake.api_url,
        timeout_s=timeout_s,
        retry=retry,
        sleep=clock.sleep,
        clock=clock.monotonic,
    )


def comments(fake: FakeGitHub) -> list[Comment]:
    return fake.repo(REPOSITORY).comments


def sent(fake: FakeGitHub, route: str) -> int:
    return len(fake.calls(route))


# -- the sticky comment ------------------------------------------------------------------------


def test_sticky_comment_is_created_once_then_updated_in_place(fake_github: FakeGitHub) -> None:
    api = make_client(fake_github)

    first = upsert_sticky_comment(api, PR_NUMBER, MARKER, f"{MARKER}\n| round 1 | 0.88 |")
    second = upsert_sticky_comment(
        api, PR_NUMBER, MARKER, f"{MARKER}\n| round 1 | 0.88 |\n| round 2 | 0.93 |"
    )

    assert second.id == first.id
    assert [c.body for c in comments(fake_github)] == [f"{MARKER}\n| round 1 | 0.88 |\n| round 2 | 0.93 |"]
    assert comments(fake_github)[0].user == "github-actions[bot]"
    assert second.html_url.endswith(f"/acme/ml-repo/pull/{PR_NUMBER}#issuecomment-{first.id}")
    assert (sent(fake_github, "create_issue_comment"), sent(fake_github, "update_issue_comment")) == (1, 1)


def test_sticky_comment_is_found_past_the_first_page(fake_github: FakeGitHub) -> None:
    repo = fake_github.repo(REPOSITORY)
    for n in range(230):
        repo.comments.append(
            Comment(id=10_000 + n, issue_number=PR_NUMBER, body=f"chatter {n}", user="octocat")
        )
    repo.comments.append(Comment(id=20_000, issue_number=PR_NUMBER, body=f"{MARKER}\nold report"))
    api = make_client(fake_github)

    listed = api.list_issue_comments(PR_NUMBER)
    updated = upsert_sticky_comment(api, PR_NUMBER, MARKER, f"{MARKER}\nnew report")

    assert len(listed) == 231
    assert [c.id for c in listed] == [c.id for c in repo.comments]
    assert find_marked_comment(listed, MARKER) is not None
    assert updated.id == 20_000
    assert sent(fake_github, "list_issue_comments") == 6  # 3 pages of 100, twice
    assert sent(fake_github, "create_issue_comment") == 0


@pytest.mark.parametrize(
    ("kind", "options"),
    [
        pytest.param("drop", {}, id="connection-dropped-after-processing"),
        pytest.param("slow", {"delay_s": 1.6}, id="answer-after-client-timeout"),
        pytest.param("error", {"status": 502, "after_processing": True}, id="502-after-processing"),
    ],
)
def test_create_comment_whose_answer_was_lost_is_not_sent_again(
    fake_github: FakeGitHub, kind: str, options: dict[str, object]
) -> None:
    fake_github.inject(kind, route="create_issue_comment", **options)
    api = make_client(fake_github, timeout_s=1)

    created = upsert_sticky_comment(api, PR_NUMBER, MARKER, f"{MARKER}\nround 1")

    assert [c.body for c in comments(fake_github)] == [f"{MARKER}\nround 1"]
    assert created.id == comments(fake_github)[0].id
    assert sent(fake_github, "create_issue_comment") == 1


@pytest.mark.parametrize(
    ("kind", "options"),
    [
        pytest.param("error", {"status": 500}, id="500"),
        pytest.param("error", {"status": 502}, id="502"),
        pytest.param("error", {"status": 503}, id="503"),
        pytest.param("rate_limit", {"retry_after": 2}, id="429-retry-after"),
        pytest.param("secondary_rate_limit", {"retry_after": 3}, id="403-secondary-rate-limit"),
    ],
)
def test_create_comment_recovers_from_a_transient_failure(
    fake_github: FakeGitHub, kind: str, options: dict[str, object]
) -> None:
    fake_github.inject(kind, route="create_issue_comment", times=2, **options)
    clock = Clock()
    api = make_client(fake_github, clock)

    upsert_sticky_comment(api, PR_NUMBER, MARKER, f"{MARKER}\nround 1")

    assert len(comments(fake_github)) == 1
    assert sent(fake_github, "create_issue_comment") == 3
    assert len(clock.sleeps) == 2
    if "retry_after" in options:
        assert all(s >= float(options["retry_after"]) for s in clock.sleeps)  # type: ignore[arg-type]


def test_comment_over_githubs_limit_is_refused_before_sending(fake_github: FakeGitHub) -> None:
    api = make_client(fake_github)
    with pytest.raises(GitHubError, match=f"at most {COMMENT_LIMIT}"):
        api.create_issue_comment(PR_NUMBER, "x" * (COMMENT_LIMIT + 1))
    assert sent(fake_github, "create_issue_comment") == 0
    exactly = api.create_issue_comment(PR_NUMBER, "x" * COMMENT_LIMIT)
    assert len(exactly.body) == COMMENT_LIMIT


# -- commit statuses ---------------------------------------------------------------------------


def test_status_transitions_are_recorded_in_order(fake_github: FakeGitHub) -> None:
    api = make_client(fake_github)
    run_url = "https://github.com/acme/ml-repo/actions/runs/1"

    api.create_commit_status(HEAD_SHA, "pending", "Round 1 of 3: training", run_url)
    api.create_commit_status(HEAD_SHA, "pending", "Round 1 missed 0.95 (0.8812); round 2 dispatched", run_url)
    final = api.create_commit_status(HEAD_SHA, "success", "Round 2 met 0.95 (0.9611) " + "x" * 200, run_url)

    recorded = fake_github.repo(REPOSITORY).statuses
    assert [(s.sha, s.context, s.state) for s in recorded] == [
        (HEAD_SHA, "keras-ct", "pending"),
        (HEAD_SHA, "keras-ct", "pending"),
        (HEAD_SHA, "keras-ct", "success"),
    ]
    assert recorded[1].description == "Round 1 missed 0.95 (0.8812); round 2 dispatched"
    assert recorded[2].target_url == run_url
    assert len(final.description or "") == 140 and (final.description or "").endswith("...")
    assert [s.state for s in api.list_commit_statuses(HEAD_SHA)] == ["success", "pending", "pending"]


def test_status_whose_answer_was_lost_is_not_duplicated(fake_github: FakeGitHub) -> None:
    fake_github.inject("drop", route="create_commit_status")
    api = make_client(fake_github)

    status = api.create_commit_status(HEAD_SHA, "pending", "Round 1 of 3: training", None)

    assert [s.state for s in fake_github.repo(REPOSITORY).statuses] == ["pending"]
    assert status.id == fake_github.repo(REPOSITORY).statuses[0].id


# -- dispatch ----------------------------------------------------------------------------------


def test_dispatch_sends_ref_and_inputs_and_returns_the_new_run(fake_github: FakeGitHub) -> None:
    api = make_client(fake_github)

    result = api.dispatch_workflow(WORKFLOW_FILE, HEAD_REF, {"round": 2, "pr-number": PR_NUMBER})  # type: ignore[dict-item]

    [dispatch] = fake_github.repo(REPOSITORY).dispatches
    assert (dispatch.workflow_path, dispatch.ref, dispatch.inputs) == (
        ".github/workflows/ml.yml",
        HEAD_REF,
        INPUTS,
    )
    assert dispatch.return_run_details is True
    assert result.run_id == dispatch.run_id
    assert result.html_url and result.html_url.endswith(f"/actions/runs/{dispatch.run_id}")
    assert result.inputs == INPUTS
    [run] = api.list_workflow_runs(WORKFLOW_FILE, branch=HEAD_REF, event="workflow_dispatch")
    assert (run.id, run.head_branch, run.head_sha) == (dispatch.run_id, HEAD_REF, HEAD_SHA)


def test_dispatch_by_workflow_id_works_too(fake_github: FakeGitHub) -> None:
    api = make_client(fake_github)
    workflow = api.get_workflow(WORKFLOW_FILE)
    assert workflow.path == ".github/workflows/ml.yml"
    api.dispatch_workflow(workflow.id, HEAD_REF, INPUTS)
    assert fake_github.repo(REPOSITORY).dispatches[0].workflow_id == workflow.id


def test_ghes_rejects_return_run_details_and_the_dispatch_falls_back(fake_ghes: FakeGitHub) -> None:
    api = make_client(fake_ghes)

    first = api.dispatch_workflow(WORKFLOW_FILE, HEAD_REF, INPUTS)
    second = api.dispatch_workflow(WORKFLOW_FILE, HEAD_REF, {**INPUTS, "round": "3"})

    dispatches = fake_ghes.repo(REPOSITORY).dispatches
    assert [d.inputs["round"] for d in dispatches] == ["2", "3"]
    assert all(d.return_run_details is None for d in dispatches)
    assert (first.run_id, first.run_details_supported, second.run_details_supported) == (None, False, False)
    assert [e.status for e in fake_ghes.calls("dispatch_workflow")] == [400, 204, 204]


def test_undeclared_inputs_get_the_yaml_to_add(fake_github: FakeGitHub) -> None:
    fake_github.repo(REPOSITORY).workflows[0].inputs = ["round"]
    api = make_client(fake_github)

    with pytest.raises(GitHubDispatchError) as caught:
        api.dispatch_workflow(WORKFLOW_FILE, HEAD_REF, INPUTS)

    assert caught.value.inputs == ("pr-number",)
    assert "does not declare the inputs pr-number" in caught.value.message
    assert "on:\n  workflow_dispatch:\n    inputs:\n      pr-number:\n" in caught.value.message
    assert fake_github.repo(REPOSITORY).dispatches == []


def test_dispatch_of_a_workflow_without_the_trigger_says_to_add_it(fake_github: FakeGitHub) -> None:
    fake_github.repo(REPOSITORY).workflows[0].dispatchable = False
    with pytest.raises(GitHubDispatchError, match="has no `workflow_dispatch` trigger"):
        make_client(fake_github).dispatch_workflow(WORKFLOW_FILE, HEAD_REF, INPUTS)


@pytest.mark.parametrize(
    ("kind", "options"),
    [
        pytest.param("drop", {}, id="connection-dropped-after-processing"),
        pytest.param("slow", {"delay_s": 1.6}, id="answer-after-client-timeout"),
        pytest.param("error", {"status": 500, "after_processing": True}, id="500-after-processing"),
    ],
)
def test_dispatch_whose_answer_was_lost_is_not_sent_again(
    fake_github: FakeGitHub, kind: str, options: dict[str, object]
) -> None:
    fake_github.inject(kind, route="dispatch_workflow", **options)
    api = make_client(fake_github, timeout_s=1)

    result = api.dispatch_workflow(WORKFLOW_FILE, HEAD_REF, INPUTS)

    [dispatch] = fake_github.repo(REPOSITORY).dispatches
    assert result.run_id == dispatch.run_id
    assert sent(fake_github, "dispatch_workflow") == 1


def test_dispatch_rejected_before_processing_is_sent_again_once(fake_github: FakeGitHub) -> None:
    fake_github.inject("error", route="dispatch_workflow", status=503)
    api = make_client(fake_github)

    api.dispatch_workflow(WORKFLOW_FILE, HEAD_REF, INPUTS)

    assert len(fake_github.repo(REPOSITORY).dispatches) == 1
    assert [e.status for e in fake_github.calls("dispatch_workflow")] == [503, 200]


# -- errors a user can act on --------------------------------------------------------------------


def test_bad_token_says_to_check_the_github_token_input(fake_github: FakeGitHub) -> None:
    bad = "ghs_expiredToken0123456789abcdefghijklmno"
    with pytest.raises(GitHubAuthError) as caught:
        make_client(fake_github, token=bad).get_pull(PR_NUMBER)
    assert caught.value.status == 401
    assert "`github-token` input" in caught.value.message and "Bad credentials" in caught.value.message
    assert bad not in caught.value.message


@pytest.mark.parametrize(
    ("call", "permission"),
    [
        pytest.param(
            lambda api: api.create_issue_comment(PR_NUMBER, "hi"), "pull-requests: write", id="comment"
        ),
        pytest.param(
            lambda api: api.create_commit_status(HEAD_SHA, "pending", "x", None),
            "statuses: write",
            id="status",
        ),
        pytest.param(
            lambda api: api.dispatch_workflow(WORKFLOW_FILE, HEAD_REF, INPUTS),
            "actions: write",
            id="dispatch",
        ),
    ],
)
def test_read_only_token_names_the_missing_permission(fake_github: FakeGitHub, call, permission: str) -> None:  # type: ignore[no-untyped-def]
    api = make_client(fake_github, token=READ_TOKEN)

    with pytest.raises(GitHubPermissionError) as caught:
        call(api)

    message = caught.value.message
    assert caught.value.permission == permission
    assert "Resource not accessible by integration" in message
    assert f"needs `{permission}`" in message
    assert "permissions:\n  contents: write" in message and "actions: write" in message
    assert "fork" in message
    state = fake_github.repo(REPOSITORY)
    assert (state.comments, state.statuses, state.dispatches) == ([], [], [])


@pytest.mark.parametrize(
    ("call", "expected"),
    [
        pytest.param(lambda api: api.get_pull(99), ["read pull request #99", "`pr-number` input"], id="pull"),
        pytest.param(
            lambda api: api.get_workflow("nope.yml"),
            ["read workflow nope.yml", "default branch"],
            id="workflow",
        ),
        pytest.param(
            lambda api: api.dispatch_workflow("nope.yml", HEAD_REF, INPUTS),
            ["Workflow nope.yml was not found"],
            id="dispatch",
        ),
        pytest.param(lambda api: api.get_branch_sha("gone"), ["Branch gone does not exist"], id="branch"),
    ],
)
def test_not_found_names_what_was_missing(fake_github: FakeGitHub, call, expected: list[str]) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(GitHubNotFoundError) as caught:
        call(make_client(fake_github))
    for text in [*expected, REPOSITORY]:
        assert text in caught.value.message


def test_unknown_repository_is_not_found(fake_github: FakeGitHub) -> None:
    api = GitHubClient("acme/nope", WRITE_TOKEN, api_url=fake_github.api_url, sleep=Clock().sleep)
    with pytest.raises(GitHubNotFoundError, match="repository acme/nope exists"):
        api.get_pull(PR_NUMBER)


# -- faults that persist are bounded -------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "options", "reason"),
    [
        pytest.param("error", {"status": 502}, "502", id="502"),
        pytest.param("error", {"status": 500}, "500", id="500"),
        pytest.param("rate_limit", {"retry_after": 1}, "429 rate limit", id="429"),
        pytest.param("secondary_rate_limit", {"retry_after": 1}, "403 secondary rate limit", id="secondary"),
        pytest.param("slow", {"delay_s": 1.3}, "no answer within the timeout", id="timeout"),
        pytest.param("drop", {}, "the connection failed or was dropped", id="dropped"),
    ],
)
def test_persistent_fault_fails_clearly_after_the_attempt_budget(
    fake_github: FakeGitHub, kind: str, options: dict[str, object], reason: str
) -> None:
    fake_github.inject(kind, route="get_pull", times=-1, **options)
    clock = Clock()
    api = make_client(fake_github, clock, timeout_s=1, max_attempts=3)

    with pytest.raises(GitHubUnavailableError) as caught:
        api.get_pull(PR_NUMBER)

    assert sent(fake_github, "get_pull") == 3
    assert len(clock.sleeps) == 2
    assert f"read pull request #{PR_NUMBER}: {reason}" in caught.value.message
    assert "3 attempt(s)" in caught.value.message


def test_wait_longer_than_the_time_budget_fails_at_once(fake_github: FakeGitHub) -> None:
    fake_github.inject("secondary_rate_limit", route="get_pull", retry_after=600)
    clock = Clock()

    with pytest.raises(
        GitHubUnavailableError, match="would have waited 600 s, past the retry budget of 120 s"
    ):
        make_client(fake_github, clock).get_pull(PR_NUMBER)

    assert clock.sleeps == [] and sent(fake_github, "get_pull") == 1


def test_primary_rate_limit_waits_until_the_reset_time(fake_github: FakeGitHub) -> None:
    fake_github.inject("rate_limit", route="get_pull", status=403, retry_after=None, reset_in_s=30)
    clock = Clock()

    pull = make_client(fake_github, clock).get_pull(PR_NUMBER)

    assert pull.number == PR_NUMBER
    [waited] = clock.sleeps
    assert 28 <= waited <= 32


def test_backoff_grows_and_is_jittered(fake_github: FakeGitHub) -> None:
    fake_github.inject("error", route="get_pull", status=503, times=3, retry_after=None)
    clock = Clock()

    make_client(fake_github, clock, max_attempts=5, base_delay_s=1.0, max_delay_s=30.0).get_pull(PR_NUMBER)

    assert [round(s, 3) for s in clock.sleeps] != [0.5, 1.0, 2.0]  # jitter: not the bare floor
    for attempt, slept in enumerate(clock.sleeps, start=1):
        ceiling = 2 ** (attempt - 1)
        assert ceiling / 2 <= slept <= ceiling


# -- pull requests, GHES, branches ----------------------------------------------------------------


def test_pull_request_fields_and_fork_detection(fake_github: FakeGitHub) -> None:
    fake_github.add_pull(REPOSITORY, 8, head_ref="patch-1", head_sha="3" * 40, head_repo="mallory/ml-repo")
    api = make_client(fake_github)

    own, fork = api.get_pull(PR_NUMBER), api.get_pull(8)

    assert (own.head_ref, own.head_sha, own.base_ref, own.is_fork) == (HEAD_REF, HEAD_SHA, "main", False)
    assert (fork.head_repo, fork.base_repo, fork.is_fork) == ("mallory/ml-repo", REPOSITORY, True)


def test_ghes_base_url_with_api_v3_prefix(fake_ghes: FakeGitHub) -> None:
    assert fake_ghes.api_url.endswith("/api/v3")
    api = make_client(fake_ghes)

    pull = api.get_pull(PR_NUMBER)
    comment = upsert_sticky_comment(api, PR_NUMBER, MARKER, f"{MARKER}\nround 1")
    api.create_commit_status(pull.head_sha, "pending", "Round 1 of 3: training", None)

    assert comment.body == f"{MARKER}\nround 1"
    assert all(e.path.startswith("/api/v3/repos/acme/ml-repo/") for e in fake_ghes.exchanges)
    assert len(fake_ghes.repo(REPOSITORY).statuses) == 1


def test_branch_sha_of_a_branch_with_a_slash(fake_github: FakeGitHub) -> None:
    fake_github.repo(REPOSITORY).branches["feature/bigger-model"] = "4" * 40
    assert make_client(fake_github).get_branch_sha("feature/bigger-model") == "4" * 40


# -- the token stays secret -----------------------------------------------------------------------


def test_token_never_appears_in_logs_output_or_errors(
    fake_github: FakeGitHub, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    caplog.set_level(logging.DEBUG)
    fake_github.inject("error", route="create_issue_comment", status=502)
    fake_github.inject("drop", route="dispatch_workflow")
    api = make_client(fake_github)
    messages: list[str] = [repr(api), str(api.__dict__.get("retry"))]

    upsert_sticky_comment(api, PR_NUMBER, MARKER, f"{MARKER}\nround 1")
    api.dispatch_workflow(WORKFLOW_FILE, HEAD_REF, INPUTS)
    for call in (
        lambda: make_client(fake_github, token=READ_TOKEN).create_issue_comment(PR_NUMBER, "x"),
        lambda: make_client(fake_github, token=WRITE_TOKEN + "x").get_pull(PR_NUMBER),
    ):
        with pytest.raises(GitHubError) as caught:
            call()
        messages.append(caught.value.message)

    captured = capsys.readouterr()
    assert caplog.records, "PyGithub's debug log was captured"
    for secret in (WRITE_TOKEN, READ_TOKEN):
        assert secret not in caplog.text
        assert secret not in captured.out + captured.err
        assert all(secret not in m for m in messages)


# -- pure helpers -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ref", "expected"),
    [
        pytest.param("acme/ml-repo/.github/workflows/ml.yml@refs/heads/main", "ml.yml", id="branch"),
        pytest.param(
            "acme/ml-repo/.github/workflows/ct.yaml@refs/pull/7/merge", "ct.yaml", id="pull-merge-ref"
        ),
    ],
)
def test_workflow_file_from_ref(ref: str, expected: str) -> None:
    assert workflow_file_from_ref(ref) == expected


def test_workflow_file_from_a_bad_ref_is_an_error() -> None:
    with pytest.raises(GitHubError, match="GITHUB_WORKFLOW_REF does not name a workflow file"):
        workflow_file_from_ref("acme/ml-repo@refs/heads/main")


def test_parse_link_next() -> None:
    link = '<https://x/a?page=3>; rel="next", <https://x/a?page=9>; rel="last"'
    assert parse_link_next(link) == "https://x/a?page=3"
    assert parse_link_next('<https://x/a?page=1>; rel="first"') is None
    assert parse_link_next(None) is None


def test_client_refuses_a_malformed_repository() -> None:
    with pytest.raises(GitHubError, match="OWNER/NAME"):
        GitHubClient("not a repo", WRITE_TOKEN)


def test_real_sleep_is_not_used_when_a_clock_is_injected(fake_github: FakeGitHub) -> None:
    fake_github.inject("rate_limit", route="get_pull", retry_after=60)
    started = time.monotonic()
    make_client(fake_github).get_pull(PR_NUMBER)
    assert time.monotonic() - started < 10


# -- the fault matrix: every fault kind at every call site of a round -----------------------------

ROUND_ROUTES = (
    "get_pull",
    "list_issue_comments",
    "create_issue_comment",
    "update_issue_comment",
    "create_commit_status",
    "list_workflow_runs",
    "dispatch_workflow",
)
FAULTS = {
    "500": ("error", {"status": 500}),
    "502": ("error", {"status": 502}),
    "503": ("error", {"status": 503}),
    "502-after-processing": ("error", {"status": 502, "after_processing": True}),
    "429": ("rate_limit", {"retry_after": 1}),
    "secondary-rate-limit": ("secondary_rate_limit", {"retry_after": 2}),
    "timeout": ("slow", {"delay_s": 1.6}),
    "dropped-after-processing": ("drop", {}),
}
RUN = "https://github.com/acme/ml-repo/actions/runs/1"


def two_rounds_on_github(api: GitHubClient) -> None:
    """The GitHub calls of round 1 (missed, next round dispatched) and round 2 (passed), in order."""
    pull = api.get_pull(PR_NUMBER)
    find_marked_comment(api.list_issue_comments(PR_NUMBER), MARKER)
    api.create_commit_status(pull.head_sha, "pending", "Round 1 of 3: training", RUN)
    upsert_sticky_comment(api, PR_NUMBER, MARKER, f"{MARKER}\nround 1: 0.88 < 0.95")
    api.create_commit_status(pull.head_sha, "pending", "Round 1 missed 0.95 (0.88); round 2 dispatched", RUN)
    api.dispatch_workflow(WORKFLOW_FILE, pull.head_ref, INPUTS)
    find_marked_comment(api.list_issue_comments(PR_NUMBER), MARKER)
    upsert_sticky_comment(api, PR_NUMBER, MARKER, f"{MARKER}\nround 1: 0.88 < 0.95\nround 2: 0.96 >= 0.95")
    api.create_commit_status(pull.head_sha, "success", "Round 2 met 0.95 (0.96)", RUN)


def assert_no_duplicate_side_effects(fake: FakeGitHub) -> None:
    repo = fake.repo(REPOSITORY)
    assert len(repo.comments) <= 1
    assert len(repo.dispatches) <= 1
    descriptions = [s.description for s in repo.statuses]
    assert len(descriptions) == len(set(descriptions)), descriptions


@pytest.mark.parametrize("fault", list(FAULTS))
@pytest.mark.parametrize("route", ROUND_ROUTES)
def test_round_completes_once_through_a_transient_fault(
    fake_github: FakeGitHub, route: str, fault: str
) -> None:
    kind, options = FAULTS[fault]
    fake_github.inject(kind, route=route, **options)
    api = make_client(fake_github, timeout_s=1)

    two_rounds_on_github(api)

    repo = fake_github.repo(REPOSITORY)
    assert fake_github.calls(route)[0].fault == kind  # the fault really fired
    assert [c.body for c in repo.comments] == [f"{MARKER}\nround 1: 0.88 < 0.95\nround 2: 0.96 >= 0.95"]
    assert [(s.state, s.description) for s in repo.statuses] == [
        ("pending", "Round 1 of 3: training"),
        ("pending", "Round 1 missed 0.95 (0.88); round 2 dispatched"),
        ("success", "Round 2 met 0.95 (0.96)"),
    ]
    assert [d.inputs for d in repo.dispatches] == [INPUTS]


CONFIRMED_WRITES = ("create_issue_comment", "create_commit_status", "dispatch_workflow")
LOST_ANSWERS = ("502-after-processing", "dropped-after-processing")


@pytest.mark.parametrize("fault", ["502", "429", "secondary-rate-limit", *LOST_ANSWERS])
@pytest.mark.parametrize("route", ROUND_ROUTES)
def test_round_fails_clearly_or_completes_once_when_a_fault_persists(
    fake_github: FakeGitHub, route: str, fault: str
) -> None:
    """A write whose every answer is lost still completes: each time, its effect is found and confirmed.
    Everything else fails within the attempt budget with a clear message. Never a duplicate."""
    kind, options = FAULTS[fault]
    fake_github.inject(kind, route=route, times=-1, **options)
    api = make_client(fake_github, max_attempts=3)

    if fault in LOST_ANSWERS and route in CONFIRMED_WRITES:
        two_rounds_on_github(api)
        repo = fake_github.repo(REPOSITORY)
        assert (len(repo.comments), len(repo.statuses), len(repo.dispatches)) == (1, 3, 1)
    else:
        with pytest.raises(GitHubUnavailableError) as caught:
            two_rounds_on_github(api)
        assert "GitHub did not let keras-ct" in caught.value.message
        assert "3 attempt(s)" in caught.value.message and "Nothing was sent twice" in caught.value.message
    assert_no_duplicate_side_effects(fake_github)


def test_garbled_answer_to_a_write_is_confirmed_not_resent(
    fake_github: FakeGitHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    api = make_client(fake_github)
    real = api._requester.requestJsonAndCheck
    calls: list[str] = []

    def garbled_once(method: str, url: str, **kwargs: object) -> object:
        calls.append(method)
        answer = real(method, url, **kwargs)  # type: ignore[arg-type]
        if method == "POST" and calls.count("POST") == 1:
            raise ValueError("Expecting ',' delimiter: line 1 column 80")
        return answer

    monkeypatch.setattr(api._requester, "requestJsonAndCheck", garbled_once)

    created = api.create_issue_comment(PR_NUMBER, f"{MARKER}\nround 1", marker=MARKER)

    assert [c.id for c in comments(fake_github)] == [created.id]
    assert calls.count("POST") == 1
