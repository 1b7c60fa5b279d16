"""Typed errors a user can act on.

Every error keras-ct raises for a user mistake or an outside failure is a ``KerasCTError``: its
message says what is wrong and how to fix it, and it may point at a file and line. The entry
point (``keras_ct.cli``) catches them once, turns them into an ``::error`` annotation under
Actions (or one line on stderr in a terminal) and exits non-zero. No tracebacks for user mistakes.

Below them the entry point keeps a last net, worded here: an ``OSError`` that no edge turned into a
``KerasCTError`` becomes one line naming its path and what to check (exit 2: a path the user chose
or the machine's files), and any other exception one "internal error, please report" line (exit 1)
with the traceback only in debug mode (``KERAS_CT_DEBUG=1``, or ``RUNNER_DEBUG=1``, which GitHub
sets on a re-run with debug logging).
"""

from __future__ import annotations

import errno
import os
from collections.abc import Mapping
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


# -- the last net: what reaches ``keras_ct.cli.main`` without being a KerasCTError -------------------

#: Set either to a non-empty value other than "0" for the traceback of an internal error. RUNNER_DEBUG
#: is what GitHub sets when a job is re-run with debug logging.
DEBUG_VARIABLES = ("KERAS_CT_DEBUG", "RUNNER_DEBUG")
ISSUES_URL = "https://github.com/keras-ct/keras-ct/issues"

_PATH_OPTIONS = "output-dir, metrics-file, checkpoint-dir or --report"


def os_error_message(exc: OSError) -> str:
    """One line for an ``OSError`` from file I/O: the path, what the system said, what to check."""
    path = exc.filename if exc.filename is not None else None
    reason = exc.strerror or type(exc).__name__
    if path is None:
        return (
            f"operating system error: {exc}; check the machine's files, disk and network, then run again "
            f"(set {DEBUG_VARIABLES[0]}=1 for the traceback)"
        )
    shown = os.fsdecode(path)
    if exc.filename2 is not None:
        shown += f" -> {os.fsdecode(exc.filename2)}"
    return f"cannot use {shown}: {reason}; {_os_error_fix(exc, Path(os.fsdecode(path)))}"


def _os_error_fix(exc: OSError, path: Path) -> str:
    code = exc.errno
    if code == errno.EROFS:
        return f"the file system is read-only: point {_PATH_OPTIONS} at a writable folder (e.g. $RUNNER_TEMP)"
    if code in (errno.EACCES, errno.EPERM):
        return f"this user may not write there: make it writable or choose another path ({_PATH_OPTIONS})"
    if code == errno.EISDIR:
        return "it is a directory where keras-ct needs a file: give a file path (metrics-file, --report)"
    if code == errno.ENOTDIR:
        blocking = next((p for p in (path, *path.parents) if p.exists() and not p.is_dir()), None)
        where = f"{blocking} is a file" if blocking is not None else "a part of the path is a file"
        return f"{where} where keras-ct needs a directory: choose another path ({_PATH_OPTIONS})"
    if code == errno.ENOENT:
        missing = next((p for p in reversed((path, *path.parents)) if not p.exists()), path)
        return f"{missing} does not exist and cannot be created there: choose a path in an existing, writable folder"
    if code in (errno.ENOSPC, errno.EDQUOT):
        return f"the disk is full: free space, or point {_PATH_OPTIONS} at another disk"
    return f"check that the path exists, is the right kind (file or folder) and is writable ({_PATH_OPTIONS})"


def debug_mode(environ: Mapping[str, str]) -> bool:
    return any(environ.get(name, "") not in ("", "0") for name in DEBUG_VARIABLES)


def internal_error_message(exc: BaseException, *, debug: bool) -> str:
    """One line for a bug in keras-ct: what happened, where to report it, how to see the traceback."""
    text = str(exc).splitlines()[0][:300] if str(exc) else ""
    what = type(exc).__name__ + (f": {text}" if text else "")
    more = "the traceback is above" if debug else f"set {DEBUG_VARIABLES[0]}=1 to see the traceback"
    return f"internal error ({what}); this is a bug in keras-ct: please report it at {ISSUES_URL} ({more})"
