"""What keras-ct says when GitHub refuses: each answer that retrying cannot fix becomes a
``GitHubError`` whose message names the call, what GitHub answered and what to change (a
``permissions:`` key, an input, a workflow trigger), with the YAML to paste where there is some.

Pure: the client (``keras_ct.github.client``) passes in what it knows about the failed request. The
token is never part of a message.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from keras_ct.errors import GitHubError
from keras_ct.github.api import (
    GitHubAuthError,
    GitHubDispatchError,
    GitHubNotFoundError,
    GitHubPermissionError,
    GitHubUnavailableError,
)
from keras_ct.report import COMMENT_LIMIT

# Permission each call needs from ``GITHUB_TOKEN``, as the ``permissions:`` key that grants it.
REQUIRED_PERMISSIONS: Mapping[str, str] = {
    "get_pull": "pull-requests: read",
    "list_issue_comments": "pull-requests: read",
    "create_issue_comment": "pull-requests: write",
    "update_issue_comment": "pull-requests: write",
    "create_commit_status": "statuses: write",
    "list_commit_statuses": "statuses: read",
    "dispatch_workflow": "actions: write",
}
PERMISSIONS_YAML = """permissions:
  contents: write       # push the augmented commit
  pull-requests: write  # the PR comment
  statuses: write       # the keras-ct commit status
  actions: write        # dispatch the next round"""


@dataclass(frozen=True)
class Request:
    """The request GitHub refused, as a message tells it: ``what`` keras-ct tried ("read pull
    request #7"), the endpoint op (``get_pull``) and the names it was about (``workflow``, ``ref``)."""

    method: str
    url: str
    op: str
    what: str
    repository: str
    api_url: str
    context: Mapping[str, str]

    @property
    def where(self) -> str:
        return f"{self.method} {self.url.split('?')[0]}"


def message_of(data: Any) -> str:
    """GitHub's own ``message`` in an error answer ("" when there is none)."""
    if isinstance(data, dict):
        return str(data.get("message") or "")
    return ""


def refusal(request: Request, status: int, data: Any) -> GitHubError:
    """The error for an answer that retrying cannot change (4xx other than rate limits)."""
    message = message_of(data)
    what, where = request.what, request.where
    if status == 401:
        return GitHubAuthError(
            f"GitHub rejected the token (401 {message or 'Unauthorized'}) when trying to {what} ({where}). "
            "Check the `github-token` input: the default `${{ github.token }}` works inside Actions; a "
            "personal access token may have expired, been revoked or lack SSO authorization.",
            status=401,
        )
    if status == 403:
        return _permission(request, message)
    if status == 404:
        return GitHubNotFoundError(_not_found(request), status=404)
    if status == 422 and request.op == "dispatch_workflow":
        return _dispatch_refused(request, message)
    if (
        status == 422
        and request.op in ("create_issue_comment", "update_issue_comment")
        and "too long" in json.dumps(data)
    ):
        return GitHubError(
            f"GitHub refused to {what}: the body is too long (at most {COMMENT_LIMIT} characters).",
            status=422,
        )
    detail = f": {message}" if message else ""
    return GitHubError(
        f"GitHub answered {status} when keras-ct tried to {what} ({where}){detail}", status=status
    )


def comment_too_long(length: int) -> GitHubError:
    return GitHubError(
        f"the comment body has {length} characters; GitHub accepts at most {COMMENT_LIMIT}. "
        "The report renderer must collapse older rounds to fit."
    )


def unavailable(
    request: Request,
    reason: str,
    *,
    attempts: int,
    elapsed_s: float,
    next_wait_s: float | None,
    budget_s: float,
) -> GitHubUnavailableError:
    """Transient failures past the budget; ``next_wait_s`` when the time budget, not the attempts, ran out."""
    budget = (
        f"The next retry would have waited {next_wait_s:.0f} s, past the retry budget of {budget_s:.0f} s. "
        if next_wait_s is not None
        else ""
    )
    return GitHubUnavailableError(
        f"GitHub did not let keras-ct {request.what}: {reason}, {attempts} attempt(s) over "
        f"{elapsed_s:.1f} s ({request.api_url}). {budget}Nothing was sent twice. Re-run the job later; "
        "https://www.githubstatus.com shows outages.",
        status=None,
    )


def _permission(request: Request, message: str) -> GitHubPermissionError:
    permission = REQUIRED_PERMISSIONS.get(request.op)
    need = f"`{permission}`" if permission else "more permissions"
    return GitHubPermissionError(
        f"GitHub refused to {request.what} (403 {message or 'Forbidden'}, {request.where}): the token needs "
        f"{need}. Give the job that runs keras-ct these permissions:\n{PERMISSIONS_YAML}\n"
        "If this run is for a pull request from a fork, GitHub gives it a read-only token that no "
        "`permissions:` key can raise: keras-ct skips comments, pushes and dispatches for fork pull "
        "requests and writes its report to the job summary instead.",
        status=403,
        permission=permission,
    )


def _not_found(request: Request) -> str:
    hints = {
        "get_pull": "Check the `pr-number` input (a dispatched round gets it from its inputs).",
        "list_issue_comments": "Check the `pr-number` input.",
        "create_issue_comment": "Check the `pr-number` input.",
        "update_issue_comment": "The comment was deleted; the next round creates a new one.",
        "dispatch_workflow": (
            f"Workflow {request.context.get('workflow', '')!s} was not found: dispatching needs the "
            "workflow file on the default branch, with an `on: workflow_dispatch` trigger."
        ),
    }
    return (
        f"GitHub answered 404 Not Found when keras-ct tried to {request.what} in {request.repository} "
        f"({request.where}). {hints.get(request.op, '')} Also check that repository {request.repository} "
        f"exists at {request.api_url} and that the token can see it (GitHub answers 404, not 403, for a "
        "private repository the token cannot read)."
    )


def _dispatch_refused(request: Request, message: str) -> GitHubDispatchError:
    what, where = request.what, request.where
    workflow = request.context.get("workflow", "")
    unexpected = re.search(r"Unexpected inputs provided: (\[.*\])", message)
    if unexpected:
        try:
            names = [str(n) for n in json.loads(unexpected.group(1))]
        except ValueError:
            names = re.findall(r'"([^"]+)"', unexpected.group(1))
        return GitHubDispatchError(
            f"GitHub refused to {what}: workflow {workflow} does not declare the inputs "
            f"{', '.join(names)} ({where}, 422 {message}). Add them to that workflow file (on the default "
            f"branch):\n{dispatch_inputs_yaml(names)}",
            inputs=tuple(names),
        )
    if "workflow_dispatch" in message:
        return GitHubDispatchError(
            f"GitHub refused to {what}: workflow {workflow} has no `workflow_dispatch` trigger "
            f"({where}, 422 {message}). Add it, with the inputs keras-ct sends:\n"
            + dispatch_inputs_yaml(["round", "pr-number"])
        )
    if "No ref found" in message:
        return GitHubDispatchError(
            f"GitHub refused to {what}: branch {request.context.get('ref', '')} does not exist on GitHub "
            f"({where}, 422 {message}). The push of the augmented commit must succeed before the dispatch."
        )
    return GitHubDispatchError(f"GitHub refused to {what} ({where}, 422 {message}).")


def dispatch_inputs_yaml(names: list[str]) -> str:
    """The ``on: workflow_dispatch`` block that declares ``names`` as string inputs."""
    lines = ["on:", "  workflow_dispatch:", "    inputs:"]
    for name in names:
        lines += [
            f"      {name}:",
            f'        description: "set by keras-ct ({name})"',
            "        required: false",
            "        type: string",
        ]
    return "\n".join(lines)
