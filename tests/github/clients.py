"""What the GitHub client's tests share: an injected clock, a client on the fake, the fake's records."""

from __future__ import annotations

import pytest

from keras_ct.github.client import GitHubClient
from keras_ct.github.retry import RetryPolicy
from tests.fake_github.server import FakeGitHub
from tests.fake_github.state import PR_NUMBER, REPOSITORY, WRITE_TOKEN, Comment

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


def lost_answers(status: int) -> list[pytest.ParameterSet]:
    """The ways the answer to a write gets lost after the server did it (``kind``, ``options``)."""
    return [
        pytest.param("drop", {}, id="connection-dropped-after-processing"),
        pytest.param("slow", {"delay_s": 1.6}, id="answer-after-client-timeout"),
        pytest.param("error", {"status": status, "after_processing": True}, id=f"{status}-after-processing"),
    ]


def losing_answers(fake: FakeGitHub, route: str, kind: str, options: dict[str, object]) -> GitHubClient:
    """A client whose first ``route`` request is done by the fake but its answer lost (``lost_answers``)."""
    fake.inject(kind, route=route, **options)
    return make_client(fake, timeout_s=1)
