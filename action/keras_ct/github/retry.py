"""The GitHub client's retry policy: which failed attempt is worth another, and how long to wait.

500/502/503/504, timeouts and dropped connections, 429 and secondary rate limits (403 with
``retry-after`` or ``x-ratelimit-remaining: 0``) are retried with exponential backoff and jitter,
honouring ``retry-after`` and ``x-ratelimit-reset``, bounded in attempts and in total time. A failure
is *ambiguous* when the server may have done the work anyway (a timeout, a dropped connection, a
5xx, a garbled answer): the client then looks whether a write took effect before it sends it again.

Pure decisions: the client (``keras_ct.github.client``) passes in its random source and wall clock.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from keras_ct.github.messages import message_of


@dataclass(frozen=True)
class Failure:
    """One failed attempt: why, whether it may have taken effect, and how long to wait."""

    reason: str
    ambiguous: bool
    wait_s: float


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try. Tests pass tiny delays; production keeps the defaults."""

    max_attempts: int = 6
    max_elapsed_s: float = 300.0
    base_delay_s: float = 1.0
    max_delay_s: float = 60.0
    secondary_default_wait_s: float = 60.0  # GitHub's advice when a secondary limit has no retry-after
    confirm_window_s: float = 15.0  # how long to look for the run of an ambiguous dispatch
    confirm_interval_s: float = 3.0

    def backoff(self, attempt: int, rng: random.Random) -> float:
        """Exponential, capped, jittered: between half the ceiling and the ceiling."""
        ceiling = min(self.max_delay_s, self.base_delay_s * 2.0 ** (attempt - 1))
        return ceiling / 2 + rng.uniform(0, ceiling / 2)

    def after_status(
        self,
        status: int,
        headers: Mapping[str, Any],
        data: Any,
        attempt: int,
        rng: random.Random,
        wall_clock: Callable[[], float],
    ) -> Failure | None:
        """A retryable HTTP error and its wait, or None when retrying cannot help."""
        message = message_of(data)
        retry_after = _float(headers.get("retry-after"))
        remaining = headers.get("x-ratelimit-remaining")
        if status in (403, 429) and (
            retry_after is not None or remaining == "0" or status == 429 or "rate limit" in message.lower()
        ):
            if retry_after is not None:
                wait = retry_after
            elif remaining == "0" and _float(headers.get("x-ratelimit-reset")) is not None:
                wait = max(0.0, float(headers["x-ratelimit-reset"]) - wall_clock())
            elif "secondary rate limit" in message.lower():
                wait = self.secondary_default_wait_s
            else:
                wait = self.backoff(attempt, rng)
            kind = "secondary rate limit" if "secondary" in message.lower() else "rate limit"
            jitter = rng.uniform(0, min(1.0, self.base_delay_s))
            return Failure(f"{status} {kind} ({message or 'no message'})", False, wait + jitter)
        if status in (500, 502, 503, 504):
            wait = retry_after if retry_after is not None else self.backoff(attempt, rng)
            return Failure(f"{status} {message or 'server error'}", True, wait)
        return None

    def after_transport(self, exc: Exception, attempt: int, rng: random.Random) -> Failure:
        """A timeout or a connection that failed: always retried, ambiguous unless it never connected."""
        return Failure(_describe_transport(exc), _is_ambiguous(exc), self.backoff(attempt, rng))

    def after_garbled_answer(self, attempt: int, rng: random.Random) -> Failure:
        """A truncated or garbled JSON answer (e.g. from a proxy): the request may have been done."""
        return Failure("the answer was not valid JSON", True, self.backoff(attempt, rng))

    def gives_up(self, failure: Failure, attempt: int, elapsed_s: float) -> bool:
        """True when another attempt would go past the attempts or, after its wait, the time budget."""
        return attempt >= self.max_attempts or elapsed_s + failure.wait_s > self.max_elapsed_s


def _float(value: Any) -> float | None:
    try:
        return float(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def _is_ambiguous(exc: Exception) -> bool:
    """False only when the request certainly never reached the server (could not connect)."""
    from requests.exceptions import ConnectionError as RequestsConnectionError
    from requests.exceptions import ConnectTimeout

    if isinstance(exc, ConnectTimeout):
        return False
    if isinstance(exc, RequestsConnectionError):
        text = repr(exc.args[0]) if exc.args else ""
        return not any(s in text for s in ("NewConnectionError", "ConnectionRefused", "NameResolution"))
    return True


def _describe_transport(exc: Exception) -> str:
    from requests.exceptions import ConnectionError as RequestsConnectionError
    from requests.exceptions import ReadTimeout

    if isinstance(exc, ReadTimeout):
        return "no answer within the timeout"
    if isinstance(exc, RequestsConnectionError):
        return "the connection failed or was dropped" if _is_ambiguous(exc) else "could not connect"
    return f"transport error ({type(exc).__name__})"
