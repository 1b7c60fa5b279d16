"""The fake GitHub's state: repositories, pull requests, comments, statuses, workflows, runs.

Plain dataclasses that round-trip through JSON, so the same state can be set up in-process by a
pytest fixture, or from a file / ``POST /_fake/setup`` when the fake runs as its own process (the
act end-to-end tests), and read back with ``GET /_fake/state``.
"""

from __future__ import annotations

import dataclasses
import subprocess
import time
from dataclasses import dataclass, field
from typing import Any

ALL_PERMISSIONS = ("contents", "pull-requests", "issues", "statuses", "actions")
WRITE_ALL = dict.fromkeys(ALL_PERMISSIONS, "write")
READ_ALL = dict.fromkeys(ALL_PERMISSIONS, "read")
LEVELS = {"none": 0, "read": 1, "write": 2}
BOT_LOGIN = "github-actions[bot]"


def now_iso() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


@dataclass
class Token:
    """An access token: its permissions (GITHUB_TOKEN style) and the login it acts as."""

    permissions: dict[str, str] = field(default_factory=lambda: dict(WRITE_ALL))
    login: str = BOT_LOGIN

    def allows(self, permission: str, level: str) -> bool:
        return LEVELS[self.permissions.get(permission, "none")] >= LEVELS[level]


@dataclass
class PullRequest:
    number: int
    head_ref: str
    head_sha: str
    base_ref: str = "main"
    base_sha: str = "0" * 40
    head_repo: str | None = None  # "owner/name" of the head repository; None means the base repository
    title: str = "Improve the model"
    state: str = "open"
    user: str = "octocat"


@dataclass
class Comment:
    id: int
    issue_number: int
    body: str
    user: str = BOT_LOGIN
    created_at: str = field(default_factory=now_iso)
    updated_at: str = field(default_factory=now_iso)


@dataclass
class Status:
    id: int
    sha: str
    state: str
    context: str
    description: str | None
    target_url: str | None
    creator: str = BOT_LOGIN
    created_at: str = field(default_factory=now_iso)


@dataclass
class Workflow:
    id: int
    path: str  # ".github/workflows/ml.yml"
    name: str = ""
    inputs: list[str] = field(default_factory=list)  # declared on.workflow_dispatch.inputs
    required_inputs: list[str] = field(default_factory=list)
    dispatchable: bool = True  # has an on.workflow_dispatch trigger
    state: str = "active"

    @property
    def file_name(self) -> str:
        return self.path.rsplit("/", 1)[-1]


@dataclass
class Dispatch:
    workflow_id: int
    workflow_path: str
    ref: str
    inputs: dict[str, Any]
    return_run_details: bool | None
    run_id: int
    at: str = field(default_factory=now_iso)


@dataclass
class Run:
    id: int
    workflow_id: int
    run_number: int
    event: str
    head_branch: str
    head_sha: str
    status: str = "queued"
    conclusion: str | None = None
    created_at: str = field(default_factory=now_iso)


@dataclass
class Repo:
    owner: str
    name: str
    default_branch: str = "main"
    branches: dict[str, str] = field(default_factory=dict)  # name -> head SHA
    git_dir: str | None = None  # a bare repository whose refs override ``branches`` (live, like GitHub)
    pulls: dict[int, PullRequest] = field(default_factory=dict)
    comments: list[Comment] = field(default_factory=list)
    statuses: list[Status] = field(default_factory=list)
    workflows: list[Workflow] = field(default_factory=list)
    dispatches: list[Dispatch] = field(default_factory=list)
    runs: list[Run] = field(default_factory=list)
    id: int = 1

    @property
    def full_name(self) -> str:
        return f"{self.owner}/{self.name}"

    def branch_sha(self, branch: str) -> str | None:
        if self.git_dir:
            done = subprocess.run(
                [
                    "git",
                    "--git-dir",
                    self.git_dir,
                    "rev-parse",
                    "--verify",
                    "--quiet",
                    f"refs/heads/{branch}",
                ],
                capture_output=True,
                text=True,
                check=False,
            )
            return done.stdout.strip() or None
        return self.branches.get(branch)

    def workflow(self, id_or_file: str) -> Workflow | None:
        for workflow in self.workflows:
            if str(workflow.id) == id_or_file or workflow.file_name == id_or_file:
                return workflow
        return None


@dataclass
class Fault:
    """A fault injected into matching requests.

    ``kind``: ``error`` (``status`` 500/502/503/504; with ``after_processing`` the change is made
    first, as when a proxy times out on a request the backend completed), ``rate_limit`` (429, or
    403 with ``x-ratelimit-remaining: 0`` when ``status`` is 403), ``secondary_rate_limit`` (403
    with ``retry-after``), ``slow`` (processed, then answered ``delay_s`` later), ``drop``
    (processed, then the connection is closed without an answer).
    Matching: ``route`` (a route name such as ``create_comment``), ``method`` and ``path`` (an
    exact path without the ``/api/v3`` prefix), each optional. ``skip`` matching requests pass
    first; then ``times`` requests get the fault (``-1``: every one).
    """

    kind: str
    route: str | None = None
    method: str | None = None
    path: str | None = None
    status: int = 502
    times: int = 1
    skip: int = 0
    retry_after: int | None = 1
    reset_in_s: int | None = None
    delay_s: float = 0.0
    after_processing: bool = False
    hits: int = 0
    seen: int = 0

    def matches(self, route: str, method: str, path: str) -> bool:
        return (
            (self.route is None or self.route == route)
            and (self.method is None or self.method.upper() == method)
            and (self.path is None or self.path == path)
        )

    def take(self) -> bool:
        """Count one matching request; True when this one gets the fault."""
        self.seen += 1
        if self.seen <= self.skip:
            return False
        if self.times >= 0 and self.hits >= self.times:
            return False
        self.hits += 1
        return True


@dataclass
class State:
    repos: dict[str, Repo] = field(default_factory=dict)
    tokens: dict[str, Token] = field(default_factory=dict)
    faults: list[Fault] = field(default_factory=list)
    next_id: int = 1000

    def new_id(self) -> int:
        self.next_id += 1
        return self.next_id

    def to_json(self) -> dict[str, Any]:
        document = dataclasses.asdict(self)
        for repo in document["repos"].values():
            repo["pulls"] = {str(number): pull for number, pull in repo["pulls"].items()}
        return document

    @classmethod
    def from_json(cls, document: dict[str, Any]) -> State:
        repos: dict[str, Repo] = {}
        for full_name, raw in document.get("repos", {}).items():
            raw = dict(raw)
            owner, _, name = full_name.partition("/")
            raw.setdefault("owner", owner)
            raw.setdefault("name", name)
            raw["pulls"] = {int(n): PullRequest(**p) for n, p in raw.get("pulls", {}).items()}
            raw["comments"] = [Comment(**c) for c in raw.get("comments", [])]
            raw["statuses"] = [Status(**s) for s in raw.get("statuses", [])]
            raw["workflows"] = [Workflow(**w) for w in raw.get("workflows", [])]
            raw["dispatches"] = [Dispatch(**d) for d in raw.get("dispatches", [])]
            raw["runs"] = [Run(**r) for r in raw.get("runs", [])]
            repos[full_name] = Repo(**raw)
        tokens = {value: Token(**spec) for value, spec in document.get("tokens", {}).items()}
        faults = [Fault(**spec) for spec in document.get("faults", [])]
        return cls(repos=repos, tokens=tokens, faults=faults, next_id=int(document.get("next_id", 1000)))


# The standard scenario: what a keras-ct round on a pull request sees.
REPOSITORY = "acme/ml-repo"
PR_NUMBER = 7
HEAD_REF = "improve-model"
HEAD_SHA = "1" * 40
BASE_SHA = "2" * 40
WORKFLOW_FILE = "ml.yml"
WRITE_TOKEN = "ghs_fakeWriteToken0123456789abcdefghijklmn"  # GitHub-shaped, so masking is realistic
READ_TOKEN = "ghs_fakeReadOnlyToken0123456789abcdefghij"


def standard_state(*, git_dir: str | None = None, inputs: tuple[str, ...] = ("round", "pr-number")) -> State:
    """``acme/ml-repo`` with PR #7 (``improve-model`` -> ``main``), workflow ``ml.yml`` declaring
    ``inputs`` for ``workflow_dispatch``, a write token and a read-only token (a fork PR's)."""
    repo = Repo(
        owner="acme", name="ml-repo", branches={"main": BASE_SHA, HEAD_REF: HEAD_SHA}, git_dir=git_dir
    )
    repo.pulls[PR_NUMBER] = PullRequest(
        number=PR_NUMBER, head_ref=HEAD_REF, head_sha=HEAD_SHA, base_sha=BASE_SHA
    )
    repo.workflows.append(
        Workflow(id=161335, path=f".github/workflows/{WORKFLOW_FILE}", name="ml", inputs=list(inputs))
    )
    return State(
        repos={REPOSITORY: repo}, tokens={WRITE_TOKEN: Token(), READ_TOKEN: Token(permissions=dict(READ_ALL))}
    )
