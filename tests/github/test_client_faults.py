"""keras_ct.github.client's retry policy on the fake GitHub: transient faults leave no trace,
persistent ones fail clearly within the budget, and a write is never done twice."""

from __future__ import annotations

import time

import pytest

from keras_ct.github.api import GitHubUnavailableError, find_marked_comment, upsert_sticky_comment
from keras_ct.github.client import GitHubClient
from tests.fake_github.server import FakeGitHub
from tests.fake_github.state import PR_NUMBER, REPOSITORY, WORKFLOW_FILE
from tests.github.clients import INPUTS, MARKER, Clock, comments, make_client, sent


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
