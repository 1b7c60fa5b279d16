"""Why a git command keras-ct ran failed: typed errors, each with a message that says what to do.

The messages are built from git's own (already redacted) output and what keras-ct knows of the
round; reading them needs no git.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path

from keras_ct.errors import GitError


class DirtyTreeError(GitError):
    """The working tree has uncommitted changes to tracked files (or to the files about to change)."""

    def __init__(self, message: str, *, paths: tuple[str, ...]) -> None:
        super().__init__(message)
        self.paths = paths


class DetachedHeadError(GitError):
    """``loop --commit`` on a detached HEAD: the commits would be on no branch (exit 2, before training)."""

    exit_code = 2


class CommitFailedError(GitError):
    """``git commit`` refused (a hook, signing, the identity); nothing was committed or left staged."""

    def __init__(self, message: str, *, hook: str = "") -> None:
        super().__init__(message)
        self.hook = hook


class BranchMovedError(GitError):
    """The remote branch is no longer at the SHA this run checked out: someone pushed meanwhile."""

    def __init__(self, message: str, *, branch: str, expected: str, actual: str | None) -> None:
        super().__init__(message)
        self.branch = branch
        self.expected = expected
        self.actual = actual


class PushRejectedError(GitError):
    """The remote refused the push for another reason (protected branch, hook, permissions)."""

    def __init__(self, message: str, *, branch: str, reason: str) -> None:
        super().__init__(message)
        self.branch = branch
        self.reason = reason


def failed_hook(trace: Path) -> str:
    """The commit hook that exited non-zero, from git's trace2 events (empty when none did)."""
    try:
        lines = trace.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return ""
    hooks: dict[object, str] = {}
    for line in lines:
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if event.get("event") == "child_start" and event.get("child_class") == "hook":
            hooks[event.get("child_id")] = str(event.get("hook_name") or "")
        elif event.get("event") == "child_exit" and event.get("child_id") in hooks and event.get("code"):
            return hooks[event["child_id"]]
    return ""


def commit_failed(
    detail: str, relative: Sequence[str], hook: str, signing_on: Callable[[], bool]
) -> CommitFailedError:
    """The error for a ``git commit`` that exited non-zero with ``detail``: the failed ``hook`` (if
    any), signing when a line speaks of it and ``signing_on()`` (asked only then), or the identity."""
    last = next((line.strip() for line in reversed(detail.splitlines()) if line.strip()), "no output")
    kept = f"nothing was committed, and keras-ct puts {', '.join(relative)} back as before"
    if hook:
        return CommitFailedError(
            f"git commit failed: your {hook} hook exited non-zero ({last}); {kept}. Fix what the hook "
            "reports, then run again",
            hook=hook,
        )
    signing = next((line.strip() for line in reversed(detail.splitlines()) if "sign" in line.lower()), "")
    if signing and signing_on():
        return CommitFailedError(
            f"git commit failed: it could not be signed (commit.gpgsign is on in your git config): "
            f"{signing}; {kept}. Fix the signing set-up (gpg-agent, user.signingkey, gpg.format) or turn "
            "signing off for this repository (`git config commit.gpgsign false`)"
        )
    hint = (
        " Set an identity (git config user.name / user.email) or run under Actions, where keras-ct "
        "commits as github-actions[bot]."
        if "tell me who you are" in detail.lower() or "empty ident" in detail.lower()
        else ""
    )
    return CommitFailedError(f"git commit failed: {detail}.{hint}")


def branch_moved(
    remote: str, branch: str, expected: str, actual: str | None, reason: str = ""
) -> BranchMovedError:
    """``branch`` on ``remote`` is at ``actual`` (None: gone), not at the ``expected`` SHA checked out."""
    where = f"is now at {actual[:12]}" if actual else "no longer exists"
    why = f" (push rejected: {reason})" if reason else ""
    return BranchMovedError(
        f"branch {branch} moved on {remote} while this round ran: it {where}, this run checked out "
        f"{expected[:12]}{why}. keras-ct did not push and did not dispatch the next round; the new push "
        "starts its own run.",
        branch=branch,
        expected=expected,
        actual=actual,
    )


def push_refused(branch: str, reason: str) -> PushRejectedError:
    """The remote refused the push to ``branch`` for ``reason`` (not because the branch moved)."""
    return PushRejectedError(
        f"the remote refused the push to {branch} ({reason}). If {branch} is protected, allow "
        "github-actions[bot] to push to it or run keras-ct with `push: false`; nothing was pushed "
        "and the next round was not dispatched.",
        branch=branch,
        reason=reason,
    )
