"""A stateful fake of GitHub's REST API over real HTTP, checked against GitHub's OpenAPI description.

It serves the endpoints keras-ct uses (pull requests, issue comments, commit statuses, workflows,
dispatches, runs, git refs), enforces token permissions the way GitHub does for ``GITHUB_TOKEN``
(a read-only token gets ``403 Resource not accessible by integration``), injects faults on demand
(see ``state.Fault``), and validates every request it receives and every response it sends against
``api.github.com.json`` (or ``ghes-3.17.json`` under ``/api/v3`` in GHES mode). Each mismatch is
recorded as a ``Violation``; the pytest fixture fails the test when any was recorded.

Admin endpoints (not GitHub's, not validated): ``GET /_fake/state``, ``POST /_fake/setup`` (replace
the state with the JSON body), ``POST /_fake/faults`` (append faults), ``GET /_fake/violations``.
"""

from __future__ import annotations

import contextlib
import json
import re
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from .contract import GHES_PREFIX, ContractChecker, Violation, WireRequest, instance_of
from .state import Comment, Dispatch, Fault, PullRequest, Repo, Run, State, Status, Token, Workflow, now_iso

API_VERSIONS = ("2022-11-28", "2026-03-10")
DOCS = "https://docs.github.com/rest"
MAX_COMMENT = 65536
SHA_RE = re.compile(r"^[0-9a-f]{40}$")


@dataclass
class Exchange:
    """One request the fake received and how it answered (for assertions on call counts)."""

    route: str
    method: str
    path: str
    status: int | None  # None: the connection was dropped without an answer
    fault: str | None = None
    body: Any = None
    #: When the request was processed (``time.time()``); a ``slow`` fault answers ``delay_s`` later.
    at: float = field(default_factory=time.time)

    def to_json(self) -> dict[str, Any]:
        return {
            "route": self.route,
            "method": self.method,
            "path": self.path,
            "status": self.status,
            "fault": self.fault,
            "body": self.body,
            "at": self.at,
        }


@dataclass
class Reply:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Call:
    """What an endpoint handler reads of a request: the path parameters, the query, the JSON body, the token."""

    params: dict[str, str]
    query: dict[str, str]
    body: Any
    token: Token


class ApiError(Exception):
    """Raised by a route to answer with GitHub's error shape."""

    def __init__(self, status: int, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.reply = Reply(
            status, {"message": message, "documentation_url": DOCS, "status": str(status), **extra}
        )


# (method, path template as in the description, route name, permission, level)
ROUTES: list[tuple[str, str, str, str, str]] = [
    ("GET", "/repos/{owner}/{repo}/pulls/{pull_number}", "get_pull", "pull-requests", "read"),
    ("GET", "/repos/{owner}/{repo}/issues/{issue_number}/comments", "list_issue_comments", "issues", "read"),
    ("POST", "/repos/{owner}/{repo}/issues/{issue_number}/comments", "create_issue_comment", "issues", "write"),
    ("PATCH", "/repos/{owner}/{repo}/issues/comments/{comment_id}", "update_issue_comment", "issues", "write"),
    ("POST", "/repos/{owner}/{repo}/statuses/{sha}", "create_commit_status", "statuses", "write"),
    ("GET", "/repos/{owner}/{repo}/commits/{ref}/statuses", "list_commit_statuses", "statuses", "read"),
    ("GET", "/repos/{owner}/{repo}/actions/workflows/{workflow_id}", "get_workflow", "actions", "read"),
    ("POST", "/repos/{owner}/{repo}/actions/workflows/{workflow_id}/dispatches", "dispatch_workflow", "actions", "write"),
    ("GET", "/repos/{owner}/{repo}/actions/workflows/{workflow_id}/runs", "list_workflow_runs", "actions", "read"),
    ("GET", "/repos/{owner}/{repo}/actions/runs/{run_id}", "get_workflow_run", "actions", "read"),
    ("GET", "/repos/{owner}/{repo}/git/ref/{ref}", "get_branch_sha", "contents", "read"),
]  # fmt: skip
# Issue comments on pull requests are also allowed with the pull-requests permission.
ALTERNATIVE_PERMISSION = {"issues": "pull-requests"}


def _compile(template: str) -> re.Pattern[str]:
    def group(match: re.Match[str]) -> str:
        name = match.group(1)
        return f"(?P<{name}>.+)" if name == "ref" else f"(?P<{name}>[^/]+)"

    return re.compile("^" + re.sub(r"\{(\w+)\}", group, template) + "$")


ROUTE_TEMPLATES = tuple(sorted({template for _, template, _, _, _ in ROUTES}))
ROUTE_NAMES = tuple(name for _, _, name, _, _ in ROUTES)
FAULT_KINDS = ("error", "rate_limit", "secondary_rate_limit", "slow", "drop")
COMPILED = [
    (method, _compile(template), template, name, perm, level)
    for method, template, name, perm, level in ROUTES
]


class FakeGitHub:
    """The fake server. ``with FakeGitHub(state) as fake: fake.api_url`` ..."""

    def __init__(
        self,
        state: State | None = None,
        *,
        ghes: bool = False,
        host: str = "127.0.0.1",
        port: int = 0,
        validate: bool = True,
        on_change: Callable[[FakeGitHub], None] | None = None,
    ):
        self.state = state or State()
        self.ghes = ghes
        self.lock = threading.RLock()
        self.violations: list[Violation] = []
        self.exchanges: list[Exchange] = []
        self.checker = ContractChecker("ghes" if ghes else "dotcom", ROUTE_TEMPLATES) if validate else None
        self.on_change = on_change
        self._httpd = ThreadingHTTPServer((host, port), _Handler)
        self._httpd.daemon_threads = True
        self._httpd.block_on_close = False
        self._httpd.fake = self  # type: ignore[attr-defined]
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------------------
    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def api_url(self) -> str:
        """What ``GITHUB_API_URL`` would be: the root, or ``.../api/v3`` for GHES."""
        return self.url + (GHES_PREFIX if self.ghes else "")

    def start(self) -> FakeGitHub:
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="fake-github", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def serve_forever(self) -> None:
        self._httpd.serve_forever()

    def __enter__(self) -> FakeGitHub:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- set-up helpers ----------------------------------------------------------------------
    def add_token(
        self, value: str, permissions: dict[str, str] | None = None, login: str | None = None
    ) -> str:
        token = Token() if permissions is None else Token(permissions=dict(permissions))
        if login:
            token.login = login
        self.state.tokens[value] = token
        return value

    def add_repo(self, full_name: str, **kwargs: Any) -> Repo:
        owner, _, name = full_name.partition("/")
        repo = Repo(owner=owner, name=name, id=len(self.state.repos) + 1, **kwargs)
        self.state.repos[full_name] = repo
        return repo

    def add_pull(self, full_name: str, number: int, **kwargs: Any) -> PullRequest:
        pull = PullRequest(number=number, **kwargs)
        repo = self.state.repos[full_name]
        repo.pulls[number] = pull
        if pull.head_repo in (None, full_name):
            repo.branches.setdefault(pull.head_ref, pull.head_sha)
        repo.branches.setdefault(pull.base_ref, pull.base_sha)
        return pull

    def add_workflow(
        self, full_name: str, path: str, inputs: list[str] | None = None, **kwargs: Any
    ) -> Workflow:
        workflow = Workflow(id=self.state.new_id(), path=path, inputs=list(inputs or []), **kwargs)
        if not workflow.name:
            workflow.name = path.rsplit("/", 1)[-1].rsplit(".", 1)[0]
        self.state.repos[full_name].workflows.append(workflow)
        return workflow

    def inject(self, kind: str, **kwargs: Any) -> Fault:
        """Add a fault (see ``state.Fault``); unknown kinds or route names are refused."""
        fault = Fault(kind=kind, **kwargs)
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; known: {', '.join(FAULT_KINDS)}")
        if fault.route is not None and fault.route not in ROUTE_NAMES:
            raise ValueError(f"unknown route {fault.route!r}; known: {', '.join(ROUTE_NAMES)}")
        with self.lock:
            self.state.faults.append(fault)
        return fault

    def repo(self, full_name: str) -> Repo:
        return self.state.repos[full_name]

    def calls(self, route: str, *, answered_only: bool = False) -> list[Exchange]:
        with self.lock:
            return [
                e for e in self.exchanges if e.route == route and (e.status is not None or not answered_only)
            ]

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            document = self.state.to_json()
            document["violations"] = [v.to_json() for v in self.violations]
            document["exchanges"] = [e.to_json() for e in self.exchanges]
            document["api_url"] = self.api_url
            document["ghes"] = self.ghes
            return document

    def assert_no_violations(self) -> None:
        if self.violations:
            lines = "\n".join(f"- {v.kind} {v.method} {v.path}: {v.detail}" for v in self.violations)
            raise AssertionError(
                f"the GitHub API contract was broken {len(self.violations)} time(s):\n{lines}"
            )

    # -- request handling --------------------------------------------------------------------
    def handle(self, handler: _Handler) -> None:
        method = handler.command
        split = urlsplit(handler.path)
        raw_path, query = split.path, parse_qsl(split.query, keep_blank_values=True)
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else b""
        if raw_path.startswith("/_fake/"):
            self._admin(handler, method, raw_path, body)
            return
        headers = {k: v for k, v in handler.headers.items()}
        path = raw_path
        if self.ghes:
            if not raw_path.startswith(GHES_PREFIX + "/"):
                self._violation("client", method, raw_path, "GHES requests must use the /api/v3 prefix")
                self._send(handler, Reply(404, {"message": "Not Found", "documentation_url": DOCS}))
                return
            path = raw_path[len(GHES_PREFIX) :]
        found = self._route(method, path)
        if found is None:
            self._violation(
                "client", method, raw_path, "no such endpoint in the fake (and keras-ct should not call it)"
            )
            with self.lock:
                self.exchanges.append(Exchange("unknown", method, path, 404))
            self._send(handler, Reply(404, {"message": "Not Found", "documentation_url": DOCS}))
            return
        template, route, params, permission, level = found
        self._check_client_headers(method, raw_path, headers)
        wire = WireRequest(
            method, handler.headers.get("Host", ""), raw_path, template, params, query, headers, body
        )
        if self.checker is not None:
            problem = self.checker.check_request(wire)
            if problem:
                self._violation("request", method, raw_path, problem)
                reply = Reply(
                    422,
                    {"message": f"Invalid request.\n\n{problem}", "documentation_url": DOCS, "status": "422"},
                )
                self._finish(handler, wire, route, reply, None)
                return
        try:
            document = json.loads(body) if body else None
        except ValueError:
            document = None

        fault = self._take_fault(route, method, path)
        if fault is not None and not (fault.kind in ("slow", "drop") or fault.after_processing):
            reply = self._fault_reply(fault)
            self._finish(handler, wire, route, reply, fault)
            return
        try:
            token = self._token(headers)
            self._authorize(token, permission, level, route)
            with self.lock:
                reply = getattr(self, f"_do_{route}")(
                    self._repo(params), Call(params, dict(query), document, token)
                )
        except ApiError as exc:
            reply = exc.reply
        if method != "GET" and self.on_change is not None:
            self.on_change(self)
        if fault is not None and fault.kind == "error":
            reply = self._fault_reply(fault)
        self._finish(handler, wire, route, reply, fault)

    def _finish(
        self, handler: _Handler, wire: WireRequest, route: str, reply: Reply, fault: Fault | None
    ) -> None:
        method, raw_path, body = wire.method, wire.path, wire.body or b""
        data = json.dumps(reply.body).encode() if reply.body is not None else b""
        reply.headers.setdefault("X-GitHub-Api-Version-Selected", "2022-11-28")
        if data:
            reply.headers["Content-Type"] = "application/json; charset=utf-8"
        if self.checker is not None:
            problem = self.checker.check_response(wire, reply.status, reply.headers, data)
            if problem:
                self._violation("response", method, raw_path, f"{reply.status}: {problem}")
        logged_body = json.loads(body) if body[:1] in (b"{", b"[") else None
        dropped = fault is not None and fault.kind == "drop"
        with self.lock:
            self.exchanges.append(
                Exchange(
                    route,
                    method,
                    raw_path,
                    None if dropped else reply.status,
                    fault.kind if fault else None,
                    logged_body,
                )
            )
        if dropped:
            handler.close_connection = True
            with contextlib.suppress(OSError):
                handler.connection.shutdown(socket.SHUT_RDWR)
            return
        if fault is not None and fault.kind == "slow":
            time.sleep(fault.delay_s)
        self._send(handler, reply, data)

    def _send(self, handler: _Handler, reply: Reply, data: bytes | None = None) -> None:
        if data is None:
            data = json.dumps(reply.body).encode() if reply.body is not None else b""
            if data:
                reply.headers["Content-Type"] = "application/json; charset=utf-8"
        try:
            handler.send_response(reply.status)
            for key, value in reply.headers.items():
                handler.send_header(key, value)
            handler.send_header("Content-Length", str(len(data)))
            handler.end_headers()
            if data:
                handler.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            handler.close_connection = True

    def _violation(self, kind: str, method: str, path: str, detail: str) -> None:
        with self.lock:
            self.violations.append(Violation(kind, method, path, detail))

    def _route(self, method: str, path: str) -> tuple[str, str, dict[str, str], str, str] | None:
        for route_method, pattern, template, name, permission, level in COMPILED:
            match = pattern.match(path)
            if match and route_method == method:
                return template, name, match.groupdict(), permission, level
        return None

    def _check_client_headers(self, method: str, path: str, headers: dict[str, str]) -> None:
        lowered = {k.lower(): v for k, v in headers.items()}
        if "application/vnd.github+json" not in lowered.get("accept", ""):
            self._violation(
                "client",
                method,
                path,
                f"Accept is {lowered.get('accept')!r}, expected application/vnd.github+json",
            )
        if lowered.get("x-github-api-version") not in API_VERSIONS:
            self._violation(
                "client", method, path, f"X-GitHub-Api-Version is {lowered.get('x-github-api-version')!r}"
            )

    def _take_fault(self, route: str, method: str, path: str) -> Fault | None:
        with self.lock:
            for fault in self.state.faults:
                if fault.matches(route, method, path) and fault.take():
                    return fault
        return None

    def _fault_reply(self, fault: Fault) -> Reply:
        headers: dict[str, str] = {}
        if fault.retry_after is not None:
            headers["Retry-After"] = str(fault.retry_after)
        if fault.kind == "rate_limit":
            reset = int(time.time()) + (fault.reset_in_s if fault.reset_in_s is not None else 1)
            headers.update(
                {
                    "X-RateLimit-Limit": "1000",
                    "X-RateLimit-Remaining": "0",
                    "X-RateLimit-Used": "1000",
                    "X-RateLimit-Reset": str(reset),
                    "X-RateLimit-Resource": "core",
                }
            )
            status = 403 if fault.status == 403 else 429
            message = (
                "API rate limit exceeded for installation. If you reach out to GitHub Support for help, "
                "please include the request ID."
            )
            return Reply(
                status, {"message": message, "documentation_url": DOCS, "status": str(status)}, headers
            )
        if fault.kind == "secondary_rate_limit":
            message = (
                "You have exceeded a secondary rate limit. Please wait a few minutes before you try again."
            )
            return Reply(403, {"message": message, "documentation_url": DOCS, "status": "403"}, headers)
        status = fault.status
        texts = {
            500: "Server Error",
            502: "Server Error",
            503: "Service Unavailable",
            504: "Gateway Timeout",
        }
        return Reply(
            status, {"message": texts.get(status, "Server Error"), "documentation_url": DOCS}, headers
        )

    def _token(self, headers: dict[str, str]) -> Token:
        value = ""
        for key, header in headers.items():
            if key.lower() == "authorization":
                scheme, _, value = header.partition(" ")
                if scheme.lower() not in ("bearer", "token"):
                    value = ""
        if not value:
            raise ApiError(401, "Requires authentication")
        token = self.state.tokens.get(value)
        if token is None:
            raise ApiError(401, "Bad credentials")
        return token

    def _authorize(self, token: Token, permission: str, level: str, route: str) -> None:
        if token.allows(permission, level):
            return
        alternative = ALTERNATIVE_PERMISSION.get(permission)
        if alternative and token.allows(alternative, level):
            return
        raise ApiError(403, "Resource not accessible by integration")

    # -- routes ------------------------------------------------------------------------------
    def _repo(self, params: dict[str, str]) -> Repo:
        repo = self.state.repos.get(f"{params['owner']}/{params['repo']}")
        if repo is None:
            raise ApiError(404, "Not Found")
        return repo

    def _web(self, repo: Repo) -> str:
        return f"{self.url}/{repo.full_name}"

    def _api(self, repo: Repo) -> str:
        return f"{self.api_url}/repos/{repo.full_name}"

    def _user(self, login: str) -> dict[str, Any]:
        return instance_of(
            self._flavour,
            "simple-user",
            {
                "login": login,
                "id": 41898282 if login.endswith("[bot]") else 583231,
                "type": "Bot" if login.endswith("[bot]") else "User",
                "url": f"{self.api_url}/users/{login}",
                "html_url": f"{self.url}/{login}",
            },
        )

    @property
    def _flavour(self) -> str:
        return "ghes" if self.ghes else "dotcom"

    def _repository(self, full_name: str, fork: bool) -> dict[str, Any]:
        owner, _, name = full_name.partition("/")
        return instance_of(
            self._flavour,
            "repository",
            {
                "full_name": full_name,
                "name": name,
                "owner": self._user(owner),
                "fork": fork,
                "html_url": f"{self.url}/{full_name}",
                "url": f"{self.api_url}/repos/{full_name}",
                "clone_url": f"{self.url}/{full_name}.git",
                "default_branch": "main",
            },
        )

    def _comment_json(self, repo: Repo, comment: Comment) -> dict[str, Any]:
        return instance_of(
            self._flavour,
            "issue-comment",
            {
                "id": comment.id,
                "node_id": f"IC_{comment.id}",
                "body": comment.body,
                "url": f"{self._api(repo)}/issues/comments/{comment.id}",
                "html_url": f"{self._web(repo)}/pull/{comment.issue_number}#issuecomment-{comment.id}",
                "issue_url": f"{self._api(repo)}/issues/{comment.issue_number}",
                "user": self._user(comment.user),
                "created_at": comment.created_at,
                "updated_at": comment.updated_at,
                "author_association": "NONE",
            },
        )

    def _pull(self, repo: Repo, number: str) -> PullRequest:
        try:
            return repo.pulls[int(number)]
        except (KeyError, ValueError):
            raise ApiError(404, "Not Found") from None

    def _do_get_pull(self, repo: Repo, call: Call) -> Reply:
        pull = self._pull(repo, call.params["pull_number"])
        head_full = pull.head_repo or repo.full_name
        fork = head_full != repo.full_name
        head_sha = (repo.branch_sha(pull.head_ref) if not fork else None) or pull.head_sha
        base_sha = repo.branch_sha(pull.base_ref) or pull.base_sha
        api = f"{self._api(repo)}/pulls/{pull.number}"
        document = instance_of(
            self._flavour,
            "pull-request",
            {
                "number": pull.number,
                "id": 7000 + pull.number,
                "node_id": f"PR_{pull.number}",
                "title": pull.title,
                "state": pull.state,
                "user": self._user(pull.user),
                "url": api,
                "html_url": f"{self._web(repo)}/pull/{pull.number}",
                "head": {
                    "ref": pull.head_ref,
                    "sha": head_sha,
                    "label": f"{head_full.split('/')[0]}:{pull.head_ref}",
                    "repo": self._repository(head_full, fork),
                    "user": self._user(head_full.split("/")[0]),
                },
                "base": {
                    "ref": pull.base_ref,
                    "sha": base_sha,
                    "label": f"{repo.owner}:{pull.base_ref}",
                    "repo": self._repository(repo.full_name, False),
                    "user": self._user(repo.owner),
                },
                "author_association": "CONTRIBUTOR",
                "mergeable_state": "clean",
            },
        )
        return Reply(200, document)

    def _do_list_issue_comments(self, repo: Repo, call: Call) -> Reply:
        self._pull(repo, call.params["issue_number"])
        comments = [c for c in repo.comments if str(c.issue_number) == call.params["issue_number"]]
        per_page = min(int(call.query.get("per_page", 30)), 100)
        page = max(int(call.query.get("page", 1)), 1)
        chunk = comments[(page - 1) * per_page : page * per_page]
        last = max(1, -(-len(comments) // per_page))
        base = f"{self._api(repo)}/issues/{call.params['issue_number']}/comments"
        links = []
        if page < last:
            links.append(f'<{base}?per_page={per_page}&page={page + 1}>; rel="next"')
            links.append(f'<{base}?per_page={per_page}&page={last}>; rel="last"')
        if page > 1:
            links.append(f'<{base}?per_page={per_page}&page={page - 1}>; rel="prev"')
            links.append(f'<{base}?per_page={per_page}&page=1>; rel="first"')
        headers_out = {"Link": ", ".join(links)} if links else {}
        return Reply(200, [self._comment_json(repo, c) for c in chunk], headers_out)

    def _do_create_issue_comment(self, repo: Repo, call: Call) -> Reply:
        pull = self._pull(repo, call.params["issue_number"])
        text = (call.body or {}).get("body")
        if not isinstance(text, str):
            raise ApiError(422, 'Invalid request.\n\n"body" wasn\'t supplied.')
        self._check_length(text)
        comment = Comment(id=self.state.new_id(), issue_number=pull.number, body=text, user=call.token.login)
        repo.comments.append(comment)
        document = self._comment_json(repo, comment)
        return Reply(201, document, {"Location": document["url"]})

    def _check_length(self, text: str) -> None:
        if len(text) > MAX_COMMENT:
            raise ApiError(
                422,
                "Validation Failed",
                errors=[
                    {
                        "resource": "IssueComment",
                        "code": "custom",
                        "field": "body",
                        "message": f"body is too long (maximum is {MAX_COMMENT} characters)",
                    }
                ],
            )

    def _do_update_issue_comment(self, repo: Repo, call: Call) -> Reply:
        comment = next((c for c in repo.comments if str(c.id) == call.params["comment_id"]), None)
        if comment is None:
            raise ApiError(404, "Not Found")
        text = (call.body or {}).get("body")
        if not isinstance(text, str):
            raise ApiError(422, 'Invalid request.\n\n"body" wasn\'t supplied.')
        self._check_length(text)
        comment.body = text
        comment.updated_at = now_iso()
        return Reply(200, self._comment_json(repo, comment))

    def _status_json(self, repo: Repo, status: Status) -> dict[str, Any]:
        return instance_of(
            self._flavour,
            "status",
            {
                "id": status.id,
                "node_id": f"SC_{status.id}",
                "state": status.state,
                "context": status.context,
                "description": status.description,
                "target_url": status.target_url,
                "url": f"{self._api(repo)}/statuses/{status.sha}",
                "avatar_url": None,
                "created_at": status.created_at,
                "updated_at": status.created_at,
                "creator": self._user(status.creator),
            },
        )

    def _do_create_commit_status(self, repo: Repo, call: Call) -> Reply:
        if not SHA_RE.match(call.params["sha"]):
            raise ApiError(422, f"No commit found for SHA: {call.params['sha']}")
        body = call.body or {}
        if body.get("state") not in ("error", "failure", "pending", "success"):
            raise ApiError(422, "Validation Failed")
        description = body.get("description")
        if description is not None and len(description) > 140:
            raise ApiError(
                422,
                "Validation Failed",
                errors=[
                    {
                        "resource": "Status",
                        "code": "custom",
                        "field": "description",
                        "message": "description is too long (maximum is 140 characters)",
                    }
                ],
            )
        status = Status(
            id=self.state.new_id(),
            sha=call.params["sha"],
            state=body["state"],
            context=body.get("context") or "default",
            description=description,
            target_url=body.get("target_url"),
            creator=call.token.login,
        )
        repo.statuses.append(status)
        return Reply(201, self._status_json(repo, status))

    def _do_list_commit_statuses(self, repo: Repo, call: Call) -> Reply:
        sha = repo.branch_sha(call.params["ref"]) or call.params["ref"]
        found = [s for s in reversed(repo.statuses) if s.sha == sha]
        return Reply(200, [self._status_json(repo, s) for s in found])

    def _workflow(self, repo: Repo, id_or_file: str) -> Workflow:
        workflow = repo.workflow(id_or_file)
        if workflow is None:
            raise ApiError(404, "Not Found")
        return workflow

    def _workflow_json(self, repo: Repo, workflow: Workflow) -> dict[str, Any]:
        return instance_of(
            self._flavour,
            "workflow",
            {
                "id": workflow.id,
                "node_id": f"W_{workflow.id}",
                "name": workflow.name,
                "path": workflow.path,
                "state": workflow.state,
                "url": f"{self._api(repo)}/actions/workflows/{workflow.id}",
                "html_url": f"{self._web(repo)}/blob/{repo.default_branch}/{workflow.path}",
                "badge_url": f"{self._web(repo)}/workflows/{workflow.name}/badge.svg",
            },
        )

    def _do_get_workflow(self, repo: Repo, call: Call) -> Reply:
        return Reply(200, self._workflow_json(repo, self._workflow(repo, call.params["workflow_id"])))

    def _run_json(self, repo: Repo, run: Run) -> dict[str, Any]:
        workflow = next(w for w in repo.workflows if w.id == run.workflow_id)
        api = f"{self._api(repo)}/actions/runs/{run.id}"
        return instance_of(
            self._flavour,
            "workflow-run",
            {
                "id": run.id,
                "node_id": f"WFR_{run.id}",
                "name": workflow.name,
                "run_number": run.run_number,
                "display_title": workflow.name,
                "event": run.event,
                "status": run.status,
                "conclusion": run.conclusion,
                "head_branch": run.head_branch,
                "head_sha": run.head_sha,
                "path": workflow.path,
                "workflow_id": workflow.id,
                "url": api,
                "html_url": f"{self._web(repo)}/actions/runs/{run.id}",
                "created_at": run.created_at,
                "updated_at": run.created_at,
                "jobs_url": f"{api}/jobs",
                "logs_url": f"{api}/logs",
                "check_suite_url": f"{api}/check-suite",
                "cancel_url": f"{api}/cancel",
                "rerun_url": f"{api}/rerun",
                "artifacts_url": f"{api}/artifacts",
                "workflow_url": f"{self._api(repo)}/actions/workflows/{workflow.id}",
                "head_commit": None,
                "repository": self._minimal_repo(repo),
                "head_repository": self._minimal_repo(repo),
                "pull_requests": [],
            },
        )

    def _minimal_repo(self, repo: Repo) -> dict[str, Any]:
        return instance_of(
            self._flavour,
            "minimal-repository",
            {
                "id": repo.id,
                "name": repo.name,
                "full_name": repo.full_name,
                "owner": self._user(repo.owner),
                "html_url": f"{self.url}/{repo.full_name}",
                "url": f"{self.api_url}/repos/{repo.full_name}",
            },
        )

    def _do_dispatch_workflow(self, repo: Repo, call: Call) -> Reply:
        workflow = self._workflow(repo, call.params["workflow_id"])
        body = call.body or {}
        if self.ghes and "return_run_details" in body:
            raise ApiError(400, 'Invalid request.\n\n"return_run_details" is not a permitted key.')
        ref = str(body.get("ref", ""))
        branch = ref.removeprefix("refs/heads/")
        sha = repo.branch_sha(branch)
        if sha is None:
            raise ApiError(422, f"No ref found for: {ref}")
        if not workflow.dispatchable:
            raise ApiError(422, "Workflow does not have 'workflow_dispatch' trigger")
        inputs = body.get("inputs") or {}
        unexpected = [name for name in inputs if name not in workflow.inputs]
        if unexpected:
            raise ApiError(422, f"Unexpected inputs provided: {json.dumps(unexpected)}")
        missing = [name for name in workflow.required_inputs if name not in inputs]
        if missing:
            raise ApiError(422, f"Required input '{missing[0]}' not provided")
        run = Run(
            id=self.state.new_id(),
            workflow_id=workflow.id,
            run_number=1 + sum(1 for r in repo.runs if r.workflow_id == workflow.id),
            event="workflow_dispatch",
            head_branch=branch,
            head_sha=sha,
        )
        repo.runs.append(run)
        repo.dispatches.append(
            Dispatch(
                workflow_id=workflow.id,
                workflow_path=workflow.path,
                ref=ref,
                inputs=dict(inputs),
                return_run_details=body.get("return_run_details"),
                run_id=run.id,
            )
        )
        if body.get("return_run_details"):
            return Reply(
                200,
                {
                    "workflow_run_id": run.id,
                    "run_url": f"{self._api(repo)}/actions/runs/{run.id}",
                    "html_url": f"{self._web(repo)}/actions/runs/{run.id}",
                },
            )
        return Reply(204)

    def _do_list_workflow_runs(self, repo: Repo, call: Call) -> Reply:
        workflow = self._workflow(repo, call.params["workflow_id"])
        runs = [
            r
            for r in reversed(repo.runs)
            if r.workflow_id == workflow.id
            and call.query.get("branch", r.head_branch) == r.head_branch
            and call.query.get("event", r.event) == r.event
            and call.query.get("head_sha", r.head_sha) == r.head_sha
        ]
        per_page = min(int(call.query.get("per_page", 30)), 100)
        page = max(int(call.query.get("page", 1)), 1)
        chunk = runs[(page - 1) * per_page : page * per_page]
        return Reply(
            200, {"total_count": len(runs), "workflow_runs": [self._run_json(repo, r) for r in chunk]}
        )

    def _do_get_workflow_run(self, repo: Repo, call: Call) -> Reply:
        run = next((r for r in repo.runs if str(r.id) == call.params["run_id"]), None)
        if run is None:
            raise ApiError(404, "Not Found")
        return Reply(200, self._run_json(repo, run))

    def _do_get_branch_sha(self, repo: Repo, call: Call) -> Reply:
        ref = call.params["ref"]
        sha = repo.branch_sha(ref.removeprefix("heads/")) if ref.startswith("heads/") else None
        if sha is None:
            raise ApiError(404, "Not Found")
        return Reply(
            200,
            instance_of(
                self._flavour,
                "git-ref",
                {
                    "ref": f"refs/{ref}",
                    "node_id": f"REF_{ref}",
                    "url": f"{self._api(repo)}/git/refs/{ref}",
                    "object": {
                        "type": "commit",
                        "sha": sha,
                        "url": f"{self._api(repo)}/git/commits/{sha}",
                    },
                },
            ),
        )

    # -- admin -------------------------------------------------------------------------------
    def _admin(self, handler: _Handler, method: str, path: str, body: bytes) -> None:
        if method == "GET" and path == "/_fake/state":
            self._send(handler, Reply(200, self.snapshot()))
        elif method == "GET" and path == "/_fake/violations":
            with self.lock:
                self._send(handler, Reply(200, [v.to_json() for v in self.violations]))
        elif method == "POST" and path == "/_fake/setup":
            with self.lock:
                self.state = State.from_json(json.loads(body or b"{}"))
                self.violations.clear()
                self.exchanges.clear()
            self._send(handler, Reply(200, self.snapshot()))
        elif method == "POST" and path == "/_fake/faults":
            specs = json.loads(body or b"[]")
            for spec in specs if isinstance(specs, list) else [specs]:
                self.inject(**spec)
            self._send(handler, Reply(200, {"faults": len(self.state.faults)}))
        else:
            self._send(handler, Reply(404, {"message": f"no admin endpoint {method} {path}"}))


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in separate writes: no 40 ms delayed-ACK stall
    server_version = "fake-github"

    def _dispatch(self) -> None:
        fake: FakeGitHub = self.server.fake  # type: ignore[attr-defined]
        try:
            fake.handle(self)
        except Exception as exc:  # a bug in the fake must fail the test, not hang it
            fake._violation("fake", self.command, self.path, f"the fake crashed: {type(exc).__name__}: {exc}")
            fake._send(self, Reply(500, {"message": "fake crashed", "documentation_url": DOCS}))

    do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _dispatch

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the exchanges are recorded on the fake instead."""
