"""Every fault kind of the fake GitHub at every call site of a round.

The loop as GitHub runs it: round 1 on the pull_request event (misses the threshold, commits, pushes,
dispatches round 2), then the dispatched round 2 (passes; it runs report-only, `commit: false`, so it
reads the pull request with ``get_pull`` as a dispatched run without a checkout does). A fault is
injected at one call site; the round that first makes that call is run.

- A transient fault (the first matching request) leaves no trace: exit 0, exactly one comment, one
  status per transition, one dispatch.
- A persistent fault (every matching request) is either absorbed (a write that took effect before
  its answer was lost is found again and never sent twice) or fails the run with one clear message;
  either way no comment, status or dispatch is duplicated.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.fake_github.server import FAULT_KINDS, ROUTE_NAMES
from tests.fake_github.state import PR_NUMBER
from tests.reliability.harness import (
    CLIENT_TIMEOUT_S,
    Checkpoint,
    Result,
    World,
    checkpoint,
    fast_client,
    restore,
    run_wired,
)

# Fault spellings -> fake.inject options. Retry-After 0 keeps the suite fast; that the client honours
# the header is tests/github/test_api.py's business.
FAULTS: dict[str, dict[str, Any]] = {
    "500": {"kind": "error", "status": 500},
    "502": {"kind": "error", "status": 502},
    "503": {"kind": "error", "status": 503},
    "429": {"kind": "rate_limit", "status": 429, "reset_in_s": 0},
    "secondary-rate-limit": {"kind": "secondary_rate_limit"},
    "timeout": {"kind": "slow", "delay_s": CLIENT_TIMEOUT_S + 0.3},
    "dropped-after-processing": {"kind": "drop"},
    "502-after-processing": {"kind": "error", "status": 502, "after_processing": True},
}
ROUND_1_SITES = (
    "list_issue_comments",
    "create_commit_status",
    "list_workflow_runs",
    "dispatch_workflow",
    "create_issue_comment",
)
ROUND_2_SITES = ("get_pull", "update_issue_comment")
SITES = ROUND_1_SITES + ROUND_2_SITES


def test_matrix_covers_every_fault_kind_and_call_site() -> None:
    assert {spec["kind"] for spec in FAULTS.values()} == set(FAULT_KINDS)
    not_called_by_a_round = {"get_workflow", "list_commit_statuses", "get_workflow_run", "get_branch_sha"}
    assert set(SITES) == set(ROUTE_NAMES) - not_called_by_a_round


@pytest.fixture(scope="module")
def after_round_1(shared_world: tuple[World, Checkpoint]) -> Checkpoint:
    """The world after a fault-free round 1: augmented commit pushed, round 2 dispatched."""
    world, start = shared_world
    restore(world, start)
    assert run_round_1(world).code == 0
    world.repo.pulls[PR_NUMBER].head_sha = world.checkout.remote_head()  # GitHub follows the push
    saved = checkpoint(world)
    restore(world, start)
    return saved


@pytest.fixture
def loop(world: World, after_round_1: Checkpoint, request: pytest.FixtureRequest) -> Iterator[World]:
    if request.node.callspec.params["site"] in ROUND_2_SITES:
        restore(world, after_round_1)
    yield world


def run_round_1(world: World) -> Result:
    return run_wired(world.env(), api=fast_client(world))


def run_round_2(world: World) -> Result:
    return run_wired(world.dispatched_env(2, {"commit": "false"}), api=fast_client(world))


def run_site(world: World, site: str) -> Result:
    return run_round_2(world) if site in ROUND_2_SITES else run_round_1(world)


def inject(world: World, fault: str, site: str, times: int) -> None:
    spec = dict(FAULTS[fault])
    world.fake.inject(spec.pop("kind"), route=site, times=times, retry_after=0, **spec)


def assert_round_completed(world: World, site: str, result: Result, trained: str) -> None:
    assert result.code == 0, result.out[-3000:]
    assert result.errors == []
    if site in ROUND_2_SITES:
        pushed = trained
        assert world.statuses()[3:] == [
            (pushed, "pending", "Round 2 of 3: training"),
            (pushed, "success", "accuracy 0.9000 ≥ 0.85 at round 2"),
        ]
        assert "Threshold met: accuracy 0.9000 ≥ 0.85 at round 2." in world.comment()
    else:
        pushed = world.checkout.remote_head()
        assert pushed != trained and pushed == world.checkout.head()
        assert world.statuses() == [
            (trained, "pending", "Round 1 of 3: training"),
            (pushed, "pending", "Round 2 of 3: queued"),  # the pushed head, from the push on
            (trained, "pending", "round 1: 0.8000 < 0.85; round 2 dispatched"),
        ]
        assert "Round 1: accuracy 0.8000 < 0.85; round 2 is on its way." in world.comment()
    assert [(d.ref, d.inputs) for d in world.repo.dispatches] == [
        (world.checkout.branch, {"round": "2", "pr-number": str(PR_NUMBER)})
    ]


def assert_no_duplicates(world: World) -> None:
    statuses = world.statuses()
    assert len(statuses) == len(set(statuses)), f"a status was set twice: {statuses}"
    assert len(world.repo.comments) <= 1
    assert len(world.repo.dispatches) <= 1


def _slow_if_timeout(fault: str) -> Any:
    # PyGithub's timeout is whole seconds: each timeout case waits at least 1 s.
    return pytest.param(fault, id=fault, marks=pytest.mark.slow) if fault == "timeout" else fault


@pytest.mark.parametrize("site", SITES)
@pytest.mark.parametrize("fault", [_slow_if_timeout(f) for f in FAULTS if f != "502-after-processing"])
def test_transient_fault_leaves_no_trace(loop: World, fault: str, site: str) -> None:
    trained = loop.checkout.head()
    inject(loop, fault, site, times=1)

    result = run_site(loop, site)

    hit = [(e.route, e.fault) for e in loop.fake.exchanges if e.fault is not None]
    assert hit == [(site, FAULTS[fault]["kind"])]  # the fault did happen
    assert_no_duplicates(loop)
    assert_round_completed(loop, site, result, trained)


# Persistent faults, one of each behaviour: refused before processing (503), rate limited (429), and
# processed but the answer lost (dropped, or a 502 from a proxy after the backend did the work). Writes
# of the last kind are absorbed: the client finds its own write and never sends it again.
ABSORBED = {
    (fault, site)
    for fault in ("dropped-after-processing", "502-after-processing")
    for site in ("create_commit_status", "create_issue_comment", "dispatch_workflow")
}


@pytest.mark.parametrize("site", SITES)
@pytest.mark.parametrize("fault", ["503", "429", "dropped-after-processing", "502-after-processing"])
def test_persistent_fault_fails_clearly_without_duplicates(loop: World, fault: str, site: str) -> None:
    trained = loop.checkout.head()
    inject(loop, fault, site, times=-1)

    result = run_site(loop, site)

    assert_no_duplicates(loop)
    if (fault, site) in ABSORBED:
        assert_round_completed(loop, site, result, trained)
        return
    assert result.code == 1
    error = result.one_error()
    assert error.message.startswith("GitHub did not let keras-ct "), error.message
    assert "3 attempt(s)" in error.message and "Nothing was sent twice" in error.message
    if site in ("list_workflow_runs", "dispatch_workflow"):
        # Pushed, not dispatched: the comment and the failure status say so.
        assert loop.repo.dispatches == []
        assert "could not be dispatched" in loop.comment()
        assert loop.statuses()[-1][1] == "failure"
    if site in ("list_issue_comments", "create_commit_status") and site in ROUND_1_SITES:
        # Failed before training: nothing was committed or pushed.
        assert loop.checkout.head() == trained and loop.checkout.remote_head() == trained


@pytest.mark.slow
@pytest.mark.parametrize("site", ["create_issue_comment", "dispatch_workflow"])
def test_persistent_timeout_on_a_write_is_not_repeated(loop: World, site: str) -> None:
    """Every attempt times out after the server did the work: the write is found, not repeated."""
    trained = loop.checkout.head()
    inject(loop, "timeout", site, times=-1)
    result = run_site(loop, site)
    assert_no_duplicates(loop)
    assert_round_completed(loop, site, result, trained)
