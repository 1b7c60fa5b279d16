"""The pull-request facts of a run, read from the event payload: one rule for everyone.

The plan job (``keras_ct.detect``), the publisher (``keras_ct.github.publish``) and the GitHub
client's pull request (``keras_ct.github.api.PullRequest``) all ask "is this pull request from a
fork?". A second answer drifts (they once disagreed on a deleted fork and on ``O/R`` against
``o/r``), so :func:`is_fork` is the only one. Pure: no I/O, no environment.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


def dig(data: Any, *keys: str) -> Any:
    """``data[k1][k2]...``, or None as soon as a level is missing or not a mapping."""
    for key in keys:
        if not isinstance(data, Mapping):
            return None
        data = data.get(key)
    return data


def is_fork(head_repo: str | None, base_repo: str) -> bool:
    """True when a pull request's head lives outside the base repository.

    GitHub gives such a pull request a read-only token and no secrets, and its code must never reach
    self-hosted runners. A deleted fork (``head.repo`` null) is still not this repository; another
    repository of the same owner is another repository; GitHub's names are case-insensitive.
    """
    if not head_repo:
        return True
    return head_repo.casefold() != base_repo.casefold()


@dataclass(frozen=True)
class PullRequestFacts:
    """What a ``pull_request*`` event says about its pull request."""

    #: The number as the payload has it, as text ("" when absent); callers validate it.
    number: str
    head_ref: str
    head_sha: str
    #: ``owner/name`` of the head repository; empty when the fork was deleted.
    head_repo: str
    base_repo: str
    fork: bool


def pull_request_facts(event_name: str, payload: Any, repository: str = "") -> PullRequestFacts | None:
    """The pull request of a ``pull_request``/``pull_request_target`` event; None for other events.

    ``repository``: the run's ``GITHUB_REPOSITORY``, the base when the payload does not name it.
    """
    if not event_name.startswith("pull_request"):
        return None
    pull = dig(payload, "pull_request")
    if not isinstance(pull, Mapping):
        pull = {}
    head_repo = dig(pull, "head", "repo", "full_name") or ""
    base_repo = (
        dig(pull, "base", "repo", "full_name") or dig(payload, "repository", "full_name") or repository
    )
    number = dig(payload, "number") or dig(pull, "number")
    return PullRequestFacts(
        number="" if number is None else str(number),
        head_ref=str(dig(pull, "head", "ref") or ""),
        head_sha=str(dig(pull, "head", "sha") or ""),
        head_repo=str(head_repo),
        base_repo=str(base_repo),
        fork=is_fork(str(head_repo), str(base_repo)),
    )
