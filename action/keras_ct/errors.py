"""Typed errors a user can act on.

Every error keras-ct raises for a user mistake or an outside failure is a ``KerasCTError``: its
message says what is wrong and how to fix it, and it may point at a file and line. The entry
point (``keras_ct.cli``) catches them once, turns them into an ``::error`` annotation under
Actions (or one line on stderr in a terminal) and exits non-zero. No tracebacks for user mistakes.
"""

from __future__ import annotations

from pathlib import Path


class KerasCTError(Exception):
    """An error with a message fit for a user: the thing, the bad value, the fix."""

    exit_code = 1

    def __init__(self, message: str, *, file: str | Path | None = None, line: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.file = str(file) if file is not None else None
        self.line = line

    def __str__(self) -> str:
        return self.message


class ConfigError(KerasCTError):
    """An invalid input value, flag or `.keras-ct.yml` entry (exit code 2)."""

    exit_code = 2


class MetricsError(KerasCTError):
    """The training run's metrics file is missing or does not follow the schema."""


class TrainingError(KerasCTError):
    """The train command could not be started, failed, was killed or timed out.

    ``retryable`` is true for a crash (non-zero exit, killed by a signal): a retry resumes from the
    last checkpoint. A missing command or a timeout would only fail again.
    """

    def __init__(self, message: str, *, retryable: bool = False, file: str | Path | None = None) -> None:
        super().__init__(message, file=file)
        self.retryable = retryable


class AugmentError(KerasCTError):
    """The model code could not be changed safely, or no candidate change builds."""


class GitError(KerasCTError):
    """A git operation failed (dirty tree, rejected push, branch moved)."""


class GitHubError(KerasCTError):
    """The GitHub API refused a request in a way retrying cannot fix."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        file: str | Path | None = None,
        line: int | None = None,
    ) -> None:
        super().__init__(message, file=file, line=line)
        self.status = status
