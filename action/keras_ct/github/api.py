"""The GitHub interface: what keras-ct needs from GitHub (``GitHubAPI``), the data it gets back and
the errors it raises.

Everything keras-ct does on GitHub goes through ``GitHubAPI``, so the same code runs against GitHub,
GitHub Enterprise Server (just another base URL, ``GITHUB_API_URL``, e.g.
``https://ghe.example.com/api/v3``) and the fake server in ``tests/fake_github``. The protocol holds
the endpoints keras-ct calls and no more; ``keras_ct.github.client.GitHubClient`` implements it over
the REST API, with the retry policy and the write confirmation. Pure: no I/O here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from keras_ct.errors import GitHubError
from keras_ct.github.event import is_fork

STATUS_DESCRIPTION_LIMIT = 140
STATUS_CONTEXT = "keras-ct"


def status_context(name: str = "") -> str:
    """The commit status's context for the model ``name``: ``keras-ct``, or ``keras-ct/NAME``."""
    return f"{STATUS_CONTEXT}/{name}" if name else STATUS_CONTEXT


class GitHubAuthError(GitHubError):
    """401: the token is missing, malformed, expired or revoked."""


class GitHubPermissionError(GitHubError):
    """403 that is not a rate limit: the token lacks a permission (or the PR is from a fork)."""

    def __init__(self, message: str, *, status: int | None = 403, permission: str | None = None) -> None:
        super().__init__(message, status=status)
        self.permission = permission


class GitHubNotFoundError(GitHubError):
    """404: the repository, pull request, workflow or branch does not exist (or is invisible)."""


class GitHubDispatchError(GitHubError):
    """422 on a dispatch: undeclared inputs, no ``workflow_dispatch`` trigger, or an unknown ref."""

    def __init__(self, message: str, *, status: int | None = 422, inputs: tuple[str, ...] = ()) -> None:
        super().__init__(message, status=status)
        self.inputs = inputs


class GitHubUnavailableError(GitHubError):
    """Transient failures went on past the retry budget (attempts or time)."""


# -- data ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PullRequest:
    number: int
    head_ref: str
    head_sha: str
    head_repo: str | None  # "owner/name"; None when the fork was deleted
    base_ref: str
    base_sha: str
    base_repo: str
    html_url: str
    state: str

    @property
    def is_fork(self) -> bool:
        """True when the head branch lives in another repository: the token is read-only there."""
        return is_fork(self.head_repo, self.base_repo)


@dataclass(frozen=True)
class IssueComment:
    id: int
    body: str
    html_url: str
    user: str


@dataclass(frozen=True)
class CommitStatus:
    id: int
    state: str
    context: str
    description: str | None
    target_url: str | None


@dataclass(frozen=True)
class DispatchResult:
    """A dispatch GitHub accepted. ``run_id``/``html_url`` are known when GitHub returned them
    (``return_run_details``) or when the run was found after an ambiguous failure; else None."""

    workflow: str
    ref: str
    inputs: Mapping[str, str]
    run_id: int | None = None
    run_url: str | None = None
    html_url: str | None = None
    run_details_supported: bool = True


# -- the interface ---------------------------------------------------------------------------


class GitHubAPI(Protocol):
    """What keras-ct needs from GitHub, for one repository."""

    repository: str

    def get_pull(self, number: int) -> PullRequest: ...

    def list_issue_comments(self, number: int) -> list[IssueComment]: ...

    def create_issue_comment(self, number: int, body: str, *, marker: str | None = None) -> IssueComment: ...

    def update_issue_comment(self, comment_id: int, body: str) -> IssueComment: ...

    def create_commit_status(
        self, sha: str, state: str, description: str, target_url: str | None, context: str = STATUS_CONTEXT
    ) -> CommitStatus: ...

    def dispatch_workflow(
        self, workflow: str | int, ref: str, inputs: Mapping[str, str], *, return_run_details: bool = True
    ) -> DispatchResult: ...


# -- helpers over the interface (pure or API-only) --------------------------------------------


def find_marked_comment(comments: list[IssueComment], marker: str) -> IssueComment | None:
    """The first (oldest) comment whose body contains ``marker``."""
    return next((comment for comment in comments if marker in comment.body), None)


def upsert_sticky_comment(api: GitHubAPI, number: int, marker: str, body: str) -> IssueComment:
    """Update the comment that carries ``marker`` in place, or create it once.

    ``body`` must contain ``marker`` so the next round finds it again.
    """
    if marker not in body:
        raise ValueError("the sticky comment body must contain its marker")
    existing = find_marked_comment(api.list_issue_comments(number), marker)
    if existing is None:
        return api.create_issue_comment(number, body, marker=marker)
    if existing.body == body:
        return existing
    return api.update_issue_comment(existing.id, body)


def workflow_file_from_ref(workflow_ref: str) -> str:
    """``GITHUB_WORKFLOW_REF`` (``owner/repo/.github/workflows/ml.yml@refs/heads/main``) -> ``ml.yml``.

    Inside a reusable workflow it still names the caller: the workflow to dispatch.
    """
    path = workflow_ref.split("@", 1)[0]
    if "/.github/workflows/" not in path:
        raise GitHubError(
            f"GITHUB_WORKFLOW_REF does not name a workflow file: {workflow_ref!r}; expected "
            "OWNER/REPO/.github/workflows/FILE.yml@REF"
        )
    return path.rsplit("/", 1)[-1]
