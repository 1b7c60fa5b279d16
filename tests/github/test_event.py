"""One rule for "is this pull request from a fork": the plan job, the publisher and the API client agree."""

from __future__ import annotations

from typing import Any

import pytest

from keras_ct import detect
from keras_ct.config import GitHubContext
from keras_ct.github.api import PullRequest
from keras_ct.github.event import is_fork, pull_request_facts
from keras_ct.github.publish import target_from_context

BASE = "acme/ml"


def pull_event(head_repo: str | None, base_repo: str = BASE, repository: str = BASE) -> dict[str, Any]:
    return {
        "number": 7,
        "pull_request": {
            "number": 7,
            "head": {
                "ref": "more-conv",
                "sha": "a" * 40,
                "repo": None if head_repo is None else {"full_name": head_repo},
            },
            "base": {"ref": "main", "sha": "b" * 40, "repo": {"full_name": base_repo}},
        },
        "repository": {"full_name": repository},
    }


CASES = [
    pytest.param("acme/ml", BASE, False, id="same-repository"),
    pytest.param("alice/ml", BASE, True, id="fork"),
    pytest.param(None, BASE, True, id="deleted-fork"),
    pytest.param("Acme/ML", BASE, False, id="case-differs-head"),
    pytest.param("acme/ml", "ACME/ml", False, id="case-differs-base"),
    pytest.param("acme/ml-experiments", BASE, True, id="other-repository-same-owner"),
    pytest.param("alice/ML", BASE, True, id="fork-and-case"),
]


@pytest.mark.parametrize(("head_repo", "base_repo", "fork"), CASES)
def test_every_reader_of_the_event_gives_the_same_answer(
    head_repo: str | None, base_repo: str, fork: bool
) -> None:
    payload = pull_event(head_repo, base_repo)
    facts = pull_request_facts("pull_request", payload, BASE)
    assert facts is not None and facts.fork is fork

    plan_view = detect.resolve_event("pull_request", payload, repository=BASE)
    gh = GitHubContext(actions=True, repository=BASE, event_name="pull_request", event=payload)
    publisher_view = target_from_context(gh)
    api_view = PullRequest(
        number=7,
        head_ref="more-conv",
        head_sha="a" * 40,
        head_repo=head_repo,
        base_ref="main",
        base_sha="b" * 40,
        base_repo=base_repo,
        html_url="",
        state="open",
    )
    assert publisher_view is not None
    assert (plan_view.fork, publisher_view.fork, api_view.is_fork) == (fork, fork, fork)


def test_a_fork_never_gets_the_gpu_labels_whatever_the_case_of_its_name() -> None:
    """The routing follows the rule: a deleted fork and a same-owner repository go to the CPU labels."""
    code = detect.CodeFacts(framework="keras", cnn=True, augmentable=True)
    for head in (None, "acme/ml-experiments"):
        event = detect.resolve_event("pull_request", pull_event(head), repository=BASE)
        plan = detect.make_plan(
            code, event, gpu_labels=("self-hosted", "gpu"), cpu_labels=("ubuntu-latest",), fork_policy="cpu"
        )
        assert plan.runner == ("ubuntu-latest",) and not plan.writes
    same = detect.resolve_event("pull_request", pull_event("ACME/ML"), repository=BASE)
    plan = detect.make_plan(
        code, same, gpu_labels=("self-hosted", "gpu"), cpu_labels=("ubuntu-latest",), fork_policy="cpu"
    )
    assert plan.runner == ("self-hosted", "gpu") and plan.writes


def test_the_base_falls_back_to_the_payload_repository_then_the_run_repository() -> None:
    payload = pull_event("acme/ml")
    del payload["pull_request"]["base"]["repo"]
    assert pull_request_facts("pull_request", payload).fork is False  # type: ignore[union-attr]
    del payload["repository"]
    assert pull_request_facts("pull_request", payload, "acme/ml").fork is False  # type: ignore[union-attr]
    assert pull_request_facts("pull_request", payload, "other/repo").fork is True  # type: ignore[union-attr]


@pytest.mark.parametrize("event_name", ["workflow_dispatch", "push", "schedule", ""])
def test_other_events_have_no_pull_request(event_name: str) -> None:
    assert pull_request_facts(event_name, pull_event("alice/ml")) is None
    gh = GitHubContext(actions=True, repository=BASE, event_name=event_name, event=pull_event("alice/ml"))
    target = target_from_context(gh, pr_number=7)
    assert target is not None and target.fork is False


def test_is_fork_reads_a_missing_head_as_a_fork() -> None:
    assert is_fork(None, BASE) and is_fork("", BASE)
    assert not is_fork("ACME/ml", "acme/ML")
