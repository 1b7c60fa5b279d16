"""``GitHubClient``: ``GitHubAPI`` over GitHub's REST API (github.com or GHES), with the retry policy.

Why PyGithub and not githubkit: PyGithub is a small dependency of keras-ct's own; it is
maintained, synchronous and honours ``base_url``. We use only its ``Requester`` (the documented way to call endpoints directly): it
gives us authentication, token masking in its debug log and GitHub's error objects, while the
endpoints, pagination and the retry policy stay here, where they are tested. PyGithub's own retry
(urllib3 ``GithubRetry``) and request throttling are switched off, because a blind transport-level
retry of a ``POST`` could create a second comment or a second dispatch. githubkit would add httpx
and pydantic (and models generated for one API version) for the few endpoints we call.

The retry policy (``keras_ct.github.retry.RetryPolicy``) decides which failed attempt is tried
again and after how long; this client carries it out. A request that is not idempotent (creating a
comment or a status, dispatching a workflow) is never sent twice blindly: after an ambiguous failure
(a timeout, a dropped connection or a 5xx: the server may have done it) it first looks whether the
write took effect. Errors that retrying cannot fix become ``GitHubError`` subclasses, worded in
``keras_ct.github.messages``, whose message says what to do. The token is never part of a message or
a log line. Clock, sleep and random source are injected, so tests wait no real seconds.
"""

from __future__ import annotations

import random
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import quote

from keras_ct.errors import GitHubError
from keras_ct.github import messages
from keras_ct.github.api import (
    STATUS_CONTEXT,
    STATUS_DESCRIPTION_LIMIT,
    CommitStatus,
    DispatchResult,
    IssueComment,
    PullRequest,
)
from keras_ct.github.retry import Failure, RetryPolicy
from keras_ct.report import COMMENT_LIMIT

API_VERSION = "2022-11-28"
ACCEPT = "application/vnd.github+json"
DEFAULT_API_URL = "https://api.github.com"

T = TypeVar("T")


@dataclass(frozen=True)
class WorkflowRun:
    """A run of the workflow: what a dispatch whose answer was lost is confirmed against."""

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

    # -- pull requests and comments --------------------------------------------------------------
    def get_pull(self, number: int) -> PullRequest:
        raw = self._call(
            "GET",
            f"{self._repo_path}/pulls/{int(number)}",
            op="get_pull",
            what=f"read pull request #{number}",
        )
        return _pull(raw.data)

    def list_issue_comments(self, number: int) -> list[IssueComment]:
        pages = self._paginate(
            f"{self._repo_path}/issues/{int(number)}/comments",
            {"per_page": 100},
            op="list_issue_comments",
            what=f"list the comments of pull request #{number}",
        )
        return [_comment(item) for page in pages for item in page]

    def create_issue_comment(self, number: int, body: str, *, marker: str | None = None) -> IssueComment:
        def took_effect() -> IssueComment | None:
            for comment in self.list_issue_comments(number):
                if (marker is not None and marker in comment.body) or comment.body == body:
                    return comment
            return None

        return self._send_comment(
            "POST",
            f"{self._repo_path}/issues/{int(number)}/comments",
            body,
            op="create_issue_comment",
            what=f"comment on pull request #{number}",
            took_effect=took_effect,
        )

    def update_issue_comment(self, comment_id: int, body: str) -> IssueComment:
        return self._send_comment(
            "PATCH",
            f"{self._repo_path}/issues/comments/{int(comment_id)}",
            body,
            op="update_issue_comment",
            what=f"update comment {comment_id}",
        )

    def _send_comment(
        self,
        method: str,
        url: str,
        body: str,
        *,
        op: str,
        what: str,
        took_effect: Callable[[], IssueComment | None] | None = None,
    ) -> IssueComment:
        """Create or update a comment; a body over GitHub's limit is refused before it is sent."""
        if len(body) > COMMENT_LIMIT:
            raise messages.comment_too_long(len(body))
        result = self._call(method, url, body={"body": body}, op=op, what=what, took_effect=took_effect)
        return result if isinstance(result, IssueComment) else _comment(result.data)

    # -- commit statuses -------------------------------------------------------------------------
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
        """Statuses of ``ref``, newest first (first page: 100 is plenty for the latest per context).

        Not part of ``GitHubAPI``: the client reads them to confirm a status whose answer was lost."""
        raw = self._call(
            "GET",
            f"{self._repo_path}/commits/{quote(ref, safe='')}/statuses",
            params={"per_page": 100},
            op="list_commit_statuses",
            what=f"read the statuses of {ref}",
        )
        return [_status(item) for item in raw.data]

    # -- dispatch --------------------------------------------------------------------------------
    def dispatch_workflow(
        self, workflow: str | int, ref: str, inputs: Mapping[str, str], *, return_run_details: bool = True
    ) -> DispatchResult:
        """Start ``workflow`` on ``ref`` with ``inputs``; at most once, even when the answer is lost.

        Asks for the new run's id and URL (``return_run_details``) unless the server already
        rejected that field (GitHub Enterprise Server 3.20 and older answer 400): then it falls back
        to a plain dispatch, as documented, and the result carries no run id.
        """
        inputs = {str(k): str(v) for k, v in inputs.items()}
        what = f"dispatch workflow {workflow} on {ref}"
        known = {run.id for run in self._dispatch_runs(workflow, ref, what)}

        def took_effect() -> DispatchResult | None:
            return self._new_dispatched_run(workflow, ref, inputs, known, what)

        body: dict[str, Any] = {"ref": ref, "inputs": inputs}
        if return_run_details and self.run_details_supported:
            try:
                result = self._post_dispatch(
                    workflow, ref, {**body, "return_run_details": True}, what, took_effect
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
                run_id, run_url, html_url = (
                    data.get("workflow_run_id"),
                    data.get("run_url"),
                    data.get("html_url"),
                )
                return DispatchResult(str(workflow), ref, inputs, run_id, run_url, html_url, True)
        result = self._post_dispatch(workflow, ref, body, what, took_effect)
        if isinstance(result, DispatchResult):
            return result
        return DispatchResult(str(workflow), ref, inputs, run_details_supported=self.run_details_supported)

    def _post_dispatch(
        self,
        workflow: str | int,
        ref: str,
        body: dict[str, Any],
        what: str,
        took_effect: Callable[[], DispatchResult | None],
    ) -> _Raw | DispatchResult:
        return self._call(
            "POST",
            f"{self._repo_path}/actions/workflows/{quote(str(workflow), safe='')}/dispatches",
            body=body,
            op="dispatch_workflow",
            what=what,
            took_effect=took_effect,
            workflow=str(workflow),
            ref=ref,
        )

    def _dispatch_runs(self, workflow: str | int, ref: str, what: str) -> list[WorkflowRun]:
        """The newest dispatched runs of ``workflow`` on ``ref`` (one page of 50)."""
        params: dict[str, Any] = {"per_page": 50}
        if ref:
            params["branch"] = ref
        params["event"] = "workflow_dispatch"
        raw = self._call(
            "GET",
            f"{self._repo_path}/actions/workflows/{quote(str(workflow), safe='')}/runs",
            params=params,
            op="dispatch_workflow",
            what=what,
            workflow=str(workflow),
        )
        return [_run(item) for item in raw.data["workflow_runs"]]

    def _new_dispatched_run(
        self, workflow: str | int, ref: str, inputs: Mapping[str, str], known: set[int], what: str
    ) -> DispatchResult | None:
        """The run an ambiguous dispatch started (one not in ``known``), looked for within the confirm window."""
        deadline = self.clock() + self.retry.confirm_window_s
        while True:
            new = [run for run in self._dispatch_runs(workflow, ref, what) if run.id not in known]
            if new:
                run = new[0]
                return DispatchResult(
                    str(workflow), ref, inputs, run.id, run.url, run.html_url, self.run_details_supported
                )
            if self.clock() + self.retry.confirm_interval_s > deadline:
                return None
            self.sleep(self.retry.confirm_interval_s)

    # -- plumbing --------------------------------------------------------------------------------
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

        request = messages.Request(method, url, op, what, self.repository, self.api_url, context)
        start = self.clock()
        attempt = 0
        while True:
            attempt += 1
            try:
                headers, data = self._requester.requestJsonAndCheck(
                    method, url, parameters=params, headers=self._headers(), input=body
                )
                return _Raw(_lowered(headers), data)
            except GithubException as exc:
                failure = self.retry.after_status(
                    exc.status, _lowered(exc.headers), exc.data, attempt, self.rng, self.wall_clock
                )
                if failure is None:
                    raise messages.refusal(request, exc.status, exc.data) from None
            except RequestException as exc:
                failure = self.retry.after_transport(exc, attempt, self.rng)
            except ValueError:  # a truncated or garbled JSON answer
                failure = self.retry.after_garbled_answer(attempt, self.rng)
            self._wait_or_give_up(request, failure, attempt, start)
            if failure.ambiguous and took_effect is not None:
                found = took_effect()
                if found is not None:
                    return found

    def _wait_or_give_up(
        self, request: messages.Request, failure: Failure, attempt: int, start: float
    ) -> None:
        """Sleep before the next attempt, or raise when it would go past the attempts or the time budget."""
        elapsed = self.clock() - start
        if self.retry.gives_up(failure, attempt, elapsed):
            raise messages.unavailable(
                request,
                failure.reason,
                attempts=attempt,
                elapsed_s=elapsed,
                next_wait_s=failure.wait_s if attempt < self.retry.max_attempts else None,
                budget_s=self.retry.max_elapsed_s,
            )
        self.sleep(failure.wait_s)


def parse_link_next(link: str | None) -> str | None:
    """The ``rel="next"`` URL of a ``Link`` header, if any."""
    for part in (link or "").split(","):
        match = re.match(r'\s*<([^>]+)>\s*;\s*rel="([^"]+)"', part)
        if match and match.group(2) == "next":
            return match.group(1)
    return None


def _lowered(headers: Mapping[str, Any] | None) -> dict[str, Any]:
    return {k.lower(): v for k, v in (headers or {}).items()}


def _pull(data: Mapping[str, Any]) -> PullRequest:
    return PullRequest(
        number=int(data["number"]),
        head_ref=data["head"]["ref"],
        head_sha=data["head"]["sha"],
        head_repo=(data["head"].get("repo") or {}).get("full_name"),
        base_ref=data["base"]["ref"],
        base_sha=data["base"]["sha"],
        base_repo=data["base"]["repo"]["full_name"],
        html_url=data["html_url"],
        state=data["state"],
    )


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
