"""``Publisher`` over the GitHub REST API: the sticky comment, the commit status, the dispatch.

The round history lives in the comment's hidden block, so it survives across workflow runs and
runners. Fork pull requests and read-only tokens are detected up front (event payload, the pull
request's head repository) or at the first write (a 403), and then nothing more is attempted: the
results go to the job summary with a note that says why.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from keras_ct.config import Config, GitHubContext
from keras_ct.errors import ConfigError, KerasCTError
from keras_ct.github.api import (
    GitHubAPI,
    GitHubPermissionError,
    find_marked_comment,
    status_context,
    upsert_sticky_comment,
    workflow_file_from_ref,
)
from keras_ct.github.event import dig, pull_request_facts
from keras_ct.report import (
    Links,
    Verdict,
    comment_marker,
    parse_history_block,
    render_comment,
)
from keras_ct.round.history import History, RoundRecord
from keras_ct.round.publish import Dispatch

FORK_NOTE = (
    "This pull request comes from a fork: its token is read-only, so keras-ct did not comment, "
    "push or dispatch. The results are in this job summary."
)


@dataclass(frozen=True)
class Target:
    """The pull request a round reports to, resolved from the event, the inputs and flags."""

    api_url: str
    repository: str
    pr_number: int | None
    head_branch: str
    head_sha: str
    workflow: str
    fork: bool = False
    #: The pull request's base branch, whose model the rounds compare with ("" for a push run).
    base_branch: str = ""


@dataclass(frozen=True)
class Overrides:
    """What the command line says about the target, over what the runner says: ``keras-ct run
    --api-url URL --repository OWNER/NAME --workflow FILE --branch NAME`` (None: the runner's)."""

    api_url: str | None = None
    repository: str | None = None
    workflow: str | None = None
    branch: str | None = None


def resolve_target(cfg: Config, overrides: Overrides | None = None) -> Target | None:
    """Where to report, or None when there is no GitHub to talk to (a plain local run)."""
    return target_from_context(cfg.github, pr_number=cfg.pr_number, overrides=overrides)


def target_from_context(
    gh: GitHubContext, *, pr_number: int | None = None, overrides: Overrides | None = None
) -> Target | None:
    """The target from what the runner says (the event payload) and explicit values; forks flagged."""
    overrides = overrides or Overrides()
    repository = overrides.repository or gh.repository
    if not repository or not (gh.actions or overrides.api_url):
        return None
    pull = pull_request_facts(gh.event_name, gh.event, repository)
    number = pr_number or (int(pull.number) if pull is not None and pull.number.isdigit() else None)
    workflow = overrides.workflow or (workflow_file_from_ref(gh.workflow_ref) if gh.workflow_ref else "")
    return Target(
        api_url=(overrides.api_url or gh.api_url).rstrip("/"),
        repository=repository,
        pr_number=number,
        head_branch=overrides.branch or (pull.head_ref if pull else "") or gh.head_ref or gh.ref_name,
        head_sha=pull.head_sha if pull else (gh.sha if gh.event_name == "push" else ""),
        workflow=workflow,
        fork=pull is not None and pull.fork,
        base_branch=str(dig(gh.event, "pull_request", "base", "ref") or ""),
    )


@dataclass(frozen=True)
class Scope:
    """Which model of the repository this is (``name``: its comment, status context, dispatch input)
    and what it reports: the comment (``comment: always|off``) and the status (``status``)."""

    name: str = ""
    comment: bool = True
    status: bool = True

    @classmethod
    def of(cls, cfg: Config) -> Scope:
        return cls(name=cfg.name, comment=cfg.comment != "off", status=cfg.status)


@dataclass
class GitHubPublisher:
    api: GitHubAPI
    target: Target
    run_url: str = ""
    links: Links = field(default_factory=Links)
    writable: bool = True
    why: str = ""
    scope: Scope = field(default_factory=Scope)

    def _degrade(self, why: str) -> None:
        """The first refused write tells us the token is read-only: stop writing, say why."""
        self.writable = False
        self.why = why

    def load_history(self) -> History:
        if self.target.pr_number is None:
            return ()
        marker = comment_marker(self.scope.name)
        comment = find_marked_comment(self.api.list_issue_comments(self.target.pr_number), marker)
        if comment is None:
            return ()
        try:
            return parse_history_block(comment.body)
        except ValueError as exc:
            raise KerasCTError(
                f"the keras-ct comment on pull request #{self.target.pr_number} has an unreadable history block "
                f"({exc}); delete that comment to start the history afresh"
            ) from None

    def set_status(self, state: str, description: str, sha: str = "") -> None:
        if not self.writable or not self.scope.status or not (sha or self.target.head_sha):
            return
        try:
            self.api.create_commit_status(
                sha or self.target.head_sha,
                state,
                description,
                self.run_url or None,
                context=status_context(self.scope.name),
            )
        except GitHubPermissionError as exc:
            self._degrade(exc.message)

    def publish(
        self, records: Sequence[RoundRecord], verdict: Verdict, *, diff: str = "", notes: Sequence[str] = ()
    ) -> str:
        if not self.writable or not self.scope.comment or self.target.pr_number is None:
            return ""
        name = self.scope.name
        body = render_comment(records, verdict, links=self.links, diff=diff, notes=notes, name=name)
        try:
            comment = upsert_sticky_comment(self.api, self.target.pr_number, comment_marker(name), body)
        except GitHubPermissionError as exc:
            self._degrade(exc.message)
            return ""
        return comment.html_url

    def dispatch(self, next_round: int, ref: str) -> Dispatch:
        if not self.target.workflow:
            raise KerasCTError(
                "cannot dispatch the next round: the workflow to dispatch is unknown (GITHUB_WORKFLOW_REF is "
                "empty); pass --workflow, e.g. --workflow ml.yml"
            )
        inputs = {"round": str(next_round)}
        if self.target.pr_number is not None:
            inputs["pr-number"] = str(self.target.pr_number)
        if self.scope.name:  # the caller's jobs of the other models skip this run (docs/models.md)
            inputs["name"] = self.scope.name
        result = self.api.dispatch_workflow(self.target.workflow, ref, inputs)
        return Dispatch(round=next_round, run_url=result.html_url or "")


NO_PR_NUMBER_NOTE = "no pull request number: pass the pr-number input (dispatched rounds pass it)"
NO_TOKEN_NOTE = (
    "no github-token was given, so keras-ct cannot read or write the pull request on GitHub "
    "(pass the github-token input; its default is the workflow's token, `github.token`)"
)


@dataclass
class ReadOnlyPublisher:
    """A publisher with no API client at all (no token): it reports nothing, and says why.

    The round still trains and judges; its results go to the job log and summary. No history can be
    read (round 1 as far as this run knows), no status, comment or dispatch is sent.
    """

    target: Target
    why: str
    writable: bool = field(default=False, init=False)

    def load_history(self) -> History:
        return ()

    def set_status(self, state: str, description: str, sha: str = "") -> None:
        return None

    def publish(
        self, records: Sequence[RoundRecord], verdict: Verdict, *, diff: str = "", notes: Sequence[str] = ()
    ) -> str:
        return ""

    def dispatch(self, next_round: int, ref: str) -> Dispatch:
        raise KerasCTError(f"cannot dispatch round {next_round}: {self.why}")


@dataclass(frozen=True)
class Connection:
    """What ``connect`` returns: the publisher the engine reports through, and the target it reports
    to, completed from the pull request (head branch and commit, fork) when the event did not say."""

    publisher: GitHubPublisher | ReadOnlyPublisher
    target: Target


def connect(cfg: Config, target: Target, api: GitHubAPI | None = None) -> Connection:
    """The publisher for ``target``, and the target resolved.

    With no token: a fork's pull request (whose secrets GitHub withholds) or a run with no pull request
    gets a ``ReadOnlyPublisher`` that says why; a pull request of this repository is refused
    (``ConfigError``): its results belong on it, and an empty token is a mistake in the workflow.
    With a token, forks and a missing PR number get a publisher that reads, never writes, and says why.
    """
    if not cfg.github_token and api is None:
        return Connection(_without_token(target), target)
    if api is None:
        from keras_ct.github.client import GitHubClient

        api = GitHubClient(repository=target.repository, token=cfg.github_token, api_url=target.api_url)
    # A push run (the baseline, round.baseline) has no pull request: it sends a status, no comment.
    push_run = cfg.github.event_name == "push"
    why = FORK_NOTE if target.fork else NO_PR_NUMBER_NOTE if target.pr_number is None and not push_run else ""
    # A dispatched round's event names no pull request: its head and its base branch come from it.
    known = target.head_sha and target.head_branch and target.base_branch
    if not why and not known and target.pr_number is not None:
        pull = api.get_pull(target.pr_number)
        why = FORK_NOTE if pull.is_fork else ""
        target = replace(
            target,
            head_branch=target.head_branch or pull.head_ref,
            head_sha=target.head_sha or pull.head_sha,
            fork=pull.is_fork,
            base_branch=target.base_branch or pull.base_ref,
        )
    links = Links(cfg.github.server_url, target.repository)
    publisher = GitHubPublisher(
        api=api,
        target=target,
        run_url=cfg.github.run_url,
        links=links,
        writable=not why,
        why=why,
        scope=Scope.of(cfg),
    )
    return Connection(publisher, target)


def _without_token(target: Target) -> ReadOnlyPublisher:
    if target.fork:
        return ReadOnlyPublisher(target=target, why=FORK_NOTE)
    if target.pr_number is None:
        return ReadOnlyPublisher(target=target, why=NO_TOKEN_NOTE)
    raise ConfigError(
        f"github-token is empty, so keras-ct cannot report on pull request #{target.pr_number} of "
        f"{target.repository} (comment, status, push, dispatch); pass the github-token input or leave "
        "it out for the workflow's token (`github.token`), with the permissions contents, "
        "pull-requests, statuses and actions: write"
    )
