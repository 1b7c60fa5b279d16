"""The GitHub REST edge: one interface (``GitHubAPI``) and its implementation (``GitHubClient``).

Everything keras-ct does on GitHub goes through ``GitHubAPI``, so tests can run the same code
against the fake server in ``tests/fake_github`` and GitHub Enterprise Server is just another base
URL (``GITHUB_API_URL``, e.g. ``https://ghe.example.com/api/v3``).

Why PyGithub and not githubkit: PyGithub is already installed with keras-ct (actions-toolkit
depends on it, so choosing it adds nothing), it is maintained, synchronous and honours
``base_url``. We use only its ``Requester`` (the documented way to call endpoints directly): it
gives us authentication, token masking in its debug log and GitHub's error objects, while the
endpoints, pagination and the retry policy stay here, where they are tested. PyGithub's own retry
(urllib3 ``GithubRetry``) and request throttling are switched off, because a blind transport-level
retry of a ``POST`` could create a second comment or a second dispatch. githubkit would add httpx
and pydantic (and models generated for one API version) for the ten endpoints we call.

Retry policy (``RetryPolicy``): 500/502/503/504, timeouts and dropped connections, 429 and
secondary rate limits (403 with ``retry-after`` or ``x-ratelimit-remaining: 0``) are retried with
exponential backoff and jitter, honouring ``retry-after`` and ``x-ratelimit-reset``, bounded in
attempts and in total time. A request that is not idempotent (creating a comment or a status,
dispatching a workflow) is never sent twice blindly: after an ambiguous failure (a timeout, a
dropped connection or a 5xx: the server may have done it) we first look whether it took effect.
Errors that retrying cannot fix become ``GitHubError`` subclasses whose message says what to do.
The token is never part of a message or a log line.
"""

from __future__ import annotations

import json
import random
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar
from urllib.parse import quote

from keras_ct.errors import GitHubError
from keras_ct.github.event import is_fork

API_VERSION = "2022-11-28"
ACCEPT = "application/vnd.github+json"
DEFAULT_API_URL = "https://api.github.com"
COMMENT_LIMIT = 65536
STATUS_DESCRIPTION_LIMIT = 140
STATUS_CONTEXT = "keras-ct"

# Permission each call needs from ``GITHUB_TOKEN``, as the ``permissions:`` key that grants it.
REQUIRED_PERMISSIONS: Mapping[str, str] = {
    "get_pull": "pull-requests: read",
    "list_issue_comments": "pull-requests: read",
    "create_issue_comment": "pull-requests: write",
    "update_issue_comment": "pull-requests: write",
    "create_commit_status": "statuses: write",
    "list_commit_statuses": "statuses: read",
    "get_workflow": "actions: read",
    "list_workflow_runs": "actions: read",
    "dispatch_workflow": "actions: write",
    "get_branch_sha": "contents: read",
}
PERMISSIONS_YAML = """permissions:
  contents: write       # push the augmented commit
  pull-requests: write  # the PR comment
  statuses: write       # the keras-ct commit status
  actions: write        # dispatch the next round"""


_WORKFLOW_HINT = "The workflow file must exist on the default branch; check `GITHUB_WORKFLOW_REF`."


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
class Workflow:
    id: int
    name: str
    path: str
    state: str
    html_url: str


@dataclass(frozen=True)
class WorkflowRun:
    id: int
    run_number: int
    event: str
    head_branch: str | None
    head_sha: str
    status: str | None
    conclusion: str | None
    html_url: str
    url: str
    created_at: str


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

    def list_commit_statuses(self, ref: str) -> list[CommitStatus]: ...

    def get_workflow(self, id_or_file: str | int) -> Workflow: ...

    def dispatch_workflow(
        self, workflow: str | int, ref: str, inputs: Mapping[str, str], *, return_run_details: bool = True
    ) -> DispatchResult: ...

    def list_workflow_runs(
        self, workflow: str | int, *, branch: str | None = None, event: str | None = None, per_page: int = 30
    ) -> list[WorkflowRun]: ...

    def get_branch_sha(self, branch: str) -> str: ...


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


def parse_link_next(link: str | None) -> str | None:
    """The ``rel="next"`` URL of a ``Link`` header, if any."""
    for part in (link or "").split(","):
        match = re.match(r'\s*<([^>]+)>\s*;\s*rel="([^"]+)"', part)
        if match and match.group(2) == "next":
            return match.group(1)
    return None


def _dispatch_inputs_yaml(names: list[str]) -> str:
    lines = ["on:", "  workflow_dispatch:", "    inputs:"]
    for name in names:
        lines += [
            f"      {name}:",
            f'        description: "set by keras-ct ({name})"',
            "        required: false",
            "        type: string",
        ]
    return "\n".join(lines)


# -- the implementation ----------------------------------------------------------------------

T = TypeVar("T")


@dataclass
class _Failure:
    """One failed attempt: why, whether it may have taken effect, and how long to wait."""

    reason: str
    ambiguous: bool
    wait_s: float


@dataclass
class _Raw:
    headers: dict[str, Any]
    data: Any


@dataclass
class GitHubClient:
    """``GitHubAPI`` over GitHub's REST API (github.com or GHES), with keras-ct's retry policy."""

    repository: str  # "owner/name"
    token: str = field(repr=False)
    api_url: str = DEFAULT_API_URL
    timeout_s: int = 30  # seconds per request (PyGithub takes whole seconds)
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic
    wall_clock: Callable[[], float] = time.time
    rng: random.Random = field(default_factory=random.Random)
    run_details_supported: bool = True  # becomes False after a server rejected ``return_run_details``

    def __post_init__(self) -> None:
        from github import Auth, Github

        from keras_ct import __version__

        if not re.fullmatch(r"[\w.-]+/[\w.-]+", self.repository):
            raise GitHubError(f"repository must look like OWNER/NAME, got {self.repository!r}")
        self.api_url = self.api_url.rstrip("/")
        self._github = Github(
            auth=Auth.Token(self.token),
            base_url=self.api_url,
            timeout=max(1, int(self.timeout_s)),
            user_agent=f"keras-ct/{__version__}",
            per_page=100,
            retry=None,
            seconds_between_requests=None,
            seconds_between_writes=None,
        )
        self._requester = self._github.requester
        self._repo_path = f"/repos/{self.repository}"

    def __repr__(self) -> str:
        return f"GitHubClient(repository={self.repository!r}, api_url={self.api_url!r})"

    # -- endpoints -----------------------------------------------------------------------------
    def get_pull(self, number: int) -> PullRequest:
        raw = self._call(
            "GET",
            f"{self._repo_path}/pulls/{int(number)}",
            op="get_pull",
            what=f"read pull request #{number}",
        )
        data = raw.data
        head_repo = (data["head"].get("repo") or {}).get("full_name")
        return PullRequest(
            number=int(data["number"]),
            head_ref=data["head"]["ref"],
            head_sha=data["head"]["sha"],
            head_repo=head_repo,
            base_ref=data["base"]["ref"],
            base_sha=data["base"]["sha"],
            base_repo=data["base"]["repo"]["full_name"],
            html_url=data["html_url"],
            state=data["state"],
        )

    def list_issue_comments(self, number: int) -> list[IssueComment]:
        pages = self._paginate(
            f"{self._repo_path}/issues/{int(number)}/comments",
            {"per_page": 100},
            op="list_issue_comments",
            what=f"list the comments of pull request #{number}",
        )
        return [_comment(item) for page in pages for item in page]

    def create_issue_comment(self, number: int, body: str, *, marker: str | None = None) -> IssueComment:
        self._check_comment_length(body)

        def took_effect() -> IssueComment | None:
            for comment in self.list_issue_comments(number):
                if (marker is not None and marker in comment.body) or comment.body == body:
                    return comment
            return None

        result = self._call(
            "POST",
            f"{self._repo_path}/issues/{int(number)}/comments",
            body={"body": body},
            op="create_issue_comment",
            what=f"comment on pull request #{number}",
            took_effect=took_effect,
        )
        return result if isinstance(result, IssueComment) else _comment(result.data)

    def update_issue_comment(self, comment_id: int, body: str) -> IssueComment:
        self._check_comment_length(body)
        raw = self._call(
            "PATCH",
            f"{self._repo_path}/issues/comments/{int(comment_id)}",
            body={"body": body},
            op="update_issue_comment",
            what=f"update comment {comment_id}",
        )
        return _comment(raw.data)

    def create_commit_status(
        self, sha: str, state: str, description: str, target_url: str | None, context: str = STATUS_CONTEXT
    ) -> CommitStatus:
        """Set the commit status; descriptions over GitHub's 140 characters are shortened with '...'."""
        if state not in ("error", "failure", "pending", "success"):
            raise ValueError(f"commit status state must be error, failure, pending or success, got {state!r}")
        if len(description) > STATUS_DESCRIPTION_LIMIT:
            description = description[: STATUS_DESCRIPTION_LIMIT - 3] + "..."
        payload: dict[str, Any] = {"state": state, "description": description, "context": context}
        if target_url:
            payload["target_url"] = target_url

        def took_effect() -> CommitStatus | None:
            latest = next((s for s in self.list_commit_statuses(sha) if s.context == context), None)
            if latest and (latest.state, latest.description, latest.target_url) == (
                state,
                description,
                target_url or None,
            ):
                return latest
            return None

        result = self._call(
            "POST",
            f"{self._repo_path}/statuses/{sha}",
            body=payload,
            op="create_commit_status",
            what=f"set the {context} status on {sha[:12]}",
            took_effect=took_effect,
        )
        return result if isinstance(result, CommitStatus) else _status(result.data)

    def list_commit_statuses(self, ref: str) -> list[CommitStatus]:
        """Statuses of ``ref``, newest first (first page: 100 is plenty for the latest per context)."""
        raw = self._call(
            "GET",
            f"{self._repo_path}/commits/{quote(ref, safe='')}/statuses",
            params={"per_page": 100},
            op="list_commit_statuses",
            what=f"read the statuses of {ref}",
        )
        return [_status(item) for item in raw.data]

    def get_workflow(self, id_or_file: str | int) -> Workflow:
        raw = self._call(
            "GET",
            f"{self._repo_path}/actions/workflows/{quote(str(id_or_file), safe='')}",
            op="get_workflow",
            what=f"read workflow {id_or_file}",
        )
        data = raw.data
        return Workflow(
            id=int(data["id"]),
            name=data["name"],
            path=data["path"],
            state=data["state"],
            html_url=data["html_url"],
        )

    def list_workflow_runs(
        self, workflow: str | int, *, branch: str | None = None, event: str | None = None, per_page: int = 30
    ) -> list[WorkflowRun]:
        """The newest runs of ``workflow`` (one page), optionally for one branch and event."""
        return self._runs(
            workflow,
            branch,
            event,
            per_page,
            op="list_workflow_runs",
            what=f"list the runs of workflow {workflow}",
        )

    def _runs(
        self, workflow: str | int, branch: str | None, event: str | None, per_page: int, *, op: str, what: str
    ) -> list[WorkflowRun]:
        params: dict[str, Any] = {"per_page": per_page}
        if branch:
            params["branch"] = branch
        if event:
            params["event"] = event
        raw = self._call(
            "GET",
            f"{self._repo_path}/actions/workflows/{quote(str(workflow), safe='')}/runs",
            params=params,
            op=op,
            what=what,
            workflow=str(workflow),
        )
        return [_run(item) for item in raw.data["workflow_runs"]]

    def dispatch_workflow(
        self, workflow: str | int, ref: str, inputs: Mapping[str, str], *, return_run_details: bool = True
    ) -> DispatchResult:
        """Start ``workflow`` on ``ref`` with ``inputs``; at most once, even when the answer is lost.

        Asks for the new run's id and URL (``return_run_details``) unless the server already
        rejected that field (GitHub Enterprise Server 3.20 and older answer 400): then it falls back
        to a plain dispatch, as documented, and the result carries no run id.
        """
        inputs = {str(k): str(v) for k, v in inputs.items()}
        path = f"{self._repo_path}/actions/workflows/{quote(str(workflow), safe='')}/dispatches"
        what = f"dispatch workflow {workflow} on {ref}"
        known = {
            run.id
            for run in self._runs(workflow, ref, "workflow_dispatch", 50, op="dispatch_workflow", what=what)
        }
        ask = return_run_details and self.run_details_supported

        def took_effect() -> DispatchResult | None:
            deadline = self.clock() + self.retry.confirm_window_s
            while True:
                runs = self._runs(workflow, ref, "workflow_dispatch", 50, op="dispatch_workflow", what=what)
                new = [run for run in runs if run.id not in known]
                if new:
                    run = new[0]
                    return DispatchResult(
                        str(workflow), ref, inputs, run.id, run.url, run.html_url, self.run_details_supported
                    )
                if self.clock() + self.retry.confirm_interval_s > deadline:
                    return None
                self.sleep(self.retry.confirm_interval_s)

        body: dict[str, Any] = {"ref": ref, "inputs": inputs}
        if ask:
            try:
                result = self._call(
                    "POST",
                    path,
                    body={**body, "return_run_details": True},
                    op="dispatch_workflow",
                    what=what,
                    took_effect=took_effect,
                    workflow=str(workflow),
                    ref=ref,
                )
            except GitHubError as exc:
                if exc.status != 400:
                    raise
                # GHES <= 3.20 rejects the field with 400 before doing anything: send it without.
                self.run_details_supported = False
            else:
                if isinstance(result, DispatchResult):
                    return result
                data = result.data or {}
                return DispatchResult(
                    str(workflow),
                    ref,
                    inputs,
                    data.get("workflow_run_id"),
                    data.get("run_url"),
                    data.get("html_url"),
                    True,
                )
        result = self._call(
            "POST",
            path,
            body=body,
            op="dispatch_workflow",
            what=what,
            took_effect=took_effect,
            workflow=str(workflow),
            ref=ref,
        )
        if isinstance(result, DispatchResult):
            return result
        return DispatchResult(str(workflow), ref, inputs, run_details_supported=self.run_details_supported)

    def get_branch_sha(self, branch: str) -> str:
        raw = self._call(
            "GET",
            f"{self._repo_path}/git/ref/heads/{quote(branch, safe='/')}",
            op="get_branch_sha",
            what=f"read branch {branch}",
            branch=branch,
        )
        return str(raw.data["object"]["sha"])

    # -- plumbing ------------------------------------------------------------------------------
    def _check_comment_length(self, body: str) -> None:
        if len(body) > COMMENT_LIMIT:
            raise GitHubError(
                f"the comment body has {len(body)} characters; GitHub accepts at most {COMMENT_LIMIT}. "
                "The report renderer must collapse older rounds to fit."
            )

    def _headers(self) -> dict[str, str]:
        # A fresh dict each time: PyGithub adds the Authorization header to the dict it is given.
        return {"Accept": ACCEPT, "X-GitHub-Api-Version": API_VERSION}

    def _paginate(self, path: str, params: dict[str, Any], *, op: str, what: str) -> list[list[Any]]:
        pages: list[list[Any]] = []
        url: str | None = path
        first = True
        while url is not None:
            raw = self._call("GET", url, params=params if first else None, op=op, what=what)
            pages.append(list(raw.data or []))
            url = parse_link_next(raw.headers.get("link"))
            first = False
        return pages

    def _call(
        self,
        method: str,
        url: str,
        *,
        op: str,
        what: str,
        params: dict[str, Any] | None = None,
        body: Any = None,
        took_effect: Callable[[], T | None] | None = None,
        **context: str,
    ) -> _Raw | T:
        """One logical request: retried within the policy; a non-idempotent one at most once in effect."""
        from github.GithubException import GithubException
        from requests.exceptions import RequestException

        start = self.clock()
        attempt = 0
        while True:
            attempt += 1
            try:
                headers, data = self._requester.requestJsonAndCheck(
                    method, url, parameters=params, headers=self._headers(), input=body
                )
                return _Raw({k.lower(): v for k, v in (headers or {}).items()}, data)
            except GithubException as exc:
                failure = self._classify_status(
                    exc.status, {k.lower(): v for k, v in (exc.headers or {}).items()}, exc.data, attempt
                )
                if failure is None:
                    raise self._error(
                        method, url, exc.status, exc.data, op=op, what=what, **context
                    ) from None
            except RequestException as exc:
                failure = _Failure(_describe_transport(exc), _is_ambiguous(exc), self._backoff(attempt))
            except (
                ValueError
            ):  # a truncated or garbled JSON answer (e.g. from a proxy): it may have been done
                failure = _Failure("the answer was not valid JSON", True, self._backoff(attempt))
            elapsed = self.clock() - start
            if attempt >= self.retry.max_attempts or elapsed + failure.wait_s > self.retry.max_elapsed_s:
                raise GitHubUnavailableError(
                    f"GitHub did not let keras-ct {what}: {failure.reason}, {attempt} attempt(s) over "
                    f"{elapsed:.1f} s ({self.api_url}). "
                    + (
                        f"The next retry would have waited {failure.wait_s:.0f} s, past the retry budget of "
                        f"{self.retry.max_elapsed_s:.0f} s. "
                        if attempt < self.retry.max_attempts
                        else ""
                    )
                    + "Nothing was sent twice. Re-run the job later; "
                    "https://www.githubstatus.com shows outages.",
                    status=None,
                )
            self.sleep(failure.wait_s)
            if failure.ambiguous and took_effect is not None:
                found = took_effect()
                if found is not None:
                    return found

    def _backoff(self, attempt: int) -> float:
        ceiling = min(self.retry.max_delay_s, self.retry.base_delay_s * 2 ** (attempt - 1))
        return ceiling / 2 + self.rng.uniform(0, ceiling / 2)

    def _classify_status(
        self, status: int, headers: Mapping[str, Any], data: Any, attempt: int
    ) -> _Failure | None:
        """A retryable failure and its wait, or None when retrying cannot help."""
        message = _message(data)
        retry_after = _float(headers.get("retry-after"))
        remaining = headers.get("x-ratelimit-remaining")
        if status in (403, 429) and (
            retry_after is not None or remaining == "0" or status == 429 or "rate limit" in message.lower()
        ):
            if retry_after is not None:
                wait = retry_after
            elif remaining == "0" and _float(headers.get("x-ratelimit-reset")) is not None:
                wait = max(0.0, float(headers["x-ratelimit-reset"]) - self.wall_clock())
            elif "secondary rate limit" in message.lower():
                wait = self.retry.secondary_default_wait_s
            else:
                wait = self._backoff(attempt)
            kind = "secondary rate limit" if "secondary" in message.lower() else "rate limit"
            jitter = self.rng.uniform(0, min(1.0, self.retry.base_delay_s))
            return _Failure(f"{status} {kind} ({message or 'no message'})", False, wait + jitter)
        if status in (500, 502, 503, 504):
            wait = retry_after if retry_after is not None else self._backoff(attempt)
            return _Failure(f"{status} {message or 'server error'}", True, wait)
        return None

    def _error(
        self, method: str, url: str, status: int, data: Any, *, op: str, what: str, **context: str
    ) -> GitHubError:
        message = _message(data)
        where = f"{method} {url.split('?')[0]}"
        if status == 401:
            return GitHubAuthError(
                f"GitHub rejected the token (401 {message or 'Unauthorized'}) "
                f"when trying to {what} ({where}). "
                "Check the `github-token` input: the default `${{ github.token }}` works inside Actions; a "
                "personal access token may have expired, been revoked or lack SSO authorization.",
                status=401,
            )
        if status == 403:
            permission = REQUIRED_PERMISSIONS.get(op)
            need = f"`{permission}`" if permission else "more permissions"
            return GitHubPermissionError(
                f"GitHub refused to {what} (403 {message or 'Forbidden'}, {where}): the token needs {need}. "
                f"Give the job that runs keras-ct these permissions:\n{PERMISSIONS_YAML}\n"
                "If this run is for a pull request from a fork, GitHub gives it a read-only token that no "
                "`permissions:` key can raise: keras-ct skips comments, pushes and dispatches for fork pull "
                "requests and writes its report to the job summary instead.",
                status=403,
                permission=permission,
            )
        if status == 404:
            return GitHubNotFoundError(self._not_found(op, what, where, **context), status=404)
        if status == 422 and op == "dispatch_workflow":
            return self._dispatch_error(message, what, where, **context)
        if (
            status == 422
            and op in ("create_issue_comment", "update_issue_comment")
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

    def _not_found(self, op: str, what: str, where: str, **context: str) -> str:
        head = f"GitHub answered 404 Not Found when keras-ct tried to {what} in {self.repository} ({where}). "
        hints = {
            "get_pull": "Check the `pr-number` input (a dispatched round gets it from its inputs).",
            "list_issue_comments": "Check the `pr-number` input.",
            "create_issue_comment": "Check the `pr-number` input.",
            "update_issue_comment": "The comment was deleted; the next round creates a new one.",
            "get_workflow": _WORKFLOW_HINT,
            "list_workflow_runs": _WORKFLOW_HINT,
            "dispatch_workflow": (
                f"Workflow {context.get('workflow', '')!s} was not found: dispatching needs the "
                "workflow file on the default branch, with an `on: workflow_dispatch` trigger."
            ),
            "get_branch_sha": f"Branch {context.get('branch', '')!s} does not exist (was it deleted?).",
        }
        repo_hint = (
            f" Also check that repository {self.repository} exists at {self.api_url} and that the token can "
            "see it (GitHub answers 404, not 403, for a private repository the token cannot read)."
        )
        return head + hints.get(op, "") + repo_hint

    def _dispatch_error(self, message: str, what: str, where: str, **context: str) -> GitHubDispatchError:
        workflow = context.get("workflow", "")
        unexpected = re.search(r"Unexpected inputs provided: (\[.*\])", message)
        if unexpected:
            try:
                names = [str(n) for n in json.loads(unexpected.group(1))]
            except ValueError:
                names = re.findall(r'"([^"]+)"', unexpected.group(1))
            return GitHubDispatchError(
                f"GitHub refused to {what}: workflow {workflow} does not declare the inputs "
                f"{', '.join(names)} ({where}, 422 {message}). "
                "Add them to that workflow file (on the default "
                f"branch):\n{_dispatch_inputs_yaml(names)}",
                inputs=tuple(names),
            )
        if "workflow_dispatch" in message:
            return GitHubDispatchError(
                f"GitHub refused to {what}: workflow {workflow} has no `workflow_dispatch` trigger "
                f"({where}, 422 {message}). Add it, with the inputs keras-ct sends:\n"
                + _dispatch_inputs_yaml(["round", "pr-number"])
            )
        if "No ref found" in message:
            return GitHubDispatchError(
                f"GitHub refused to {what}: branch {context.get('ref', '')} does not exist on GitHub "
                f"({where}, 422 "
                f"{message}). The push of the augmented commit must succeed before the dispatch."
            )
        return GitHubDispatchError(f"GitHub refused to {what} ({where}, 422 {message}).")


def _message(data: Any) -> str:
    if isinstance(data, dict):
        return str(data.get("message") or "")
    return ""


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


def _comment(data: Mapping[str, Any]) -> IssueComment:
    return IssueComment(
        id=int(data["id"]),
        body=data.get("body") or "",
        html_url=data["html_url"],
        user=(data.get("user") or {}).get("login", ""),
    )


def _status(data: Mapping[str, Any]) -> CommitStatus:
    return CommitStatus(
        id=int(data["id"]),
        state=data["state"],
        context=data["context"],
        description=data.get("description"),
        target_url=data.get("target_url"),
    )


def _run(data: Mapping[str, Any]) -> WorkflowRun:
    return WorkflowRun(
        id=int(data["id"]),
        run_number=int(data["run_number"]),
        event=data["event"],
        head_branch=data.get("head_branch"),
        head_sha=data["head_sha"],
        status=data.get("status"),
        conclusion=data.get("conclusion"),
        html_url=data["html_url"],
        url=data["url"],
        created_at=data["created_at"],
    )
