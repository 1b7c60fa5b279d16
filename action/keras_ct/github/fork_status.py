"""``keras-ct fork-status``: the keras-ct commit status of a fork's pull request, set from outside it.

A fork's ``pull_request`` run gets a read-only token, so the run itself cannot set its status and a
required check on ``keras-ct`` would wait forever. The reusable workflow ``fork-status.yml`` runs on
the caller's ``workflow_run`` event instead, with this repository's token, and calls this command. It
never sees the fork's code: everything it needs is the finished run's facts, passed in the
environment (``WORKFLOW_RUN_*`` below, never interpolated into a shell line). A run that is not a
fork's pull request gets no status here: the run set its own.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from keras_ct.config.fields import BY_NAME, Source, parse_field
from keras_ct.errors import ConfigError
from keras_ct.github.api import status_context
from keras_ct.github.event import is_fork
from keras_ct.report import fork_status
from keras_ct.runner import Runner

#: The environment the workflow passes: the finished run (``github.event.workflow_run``) and the inputs.
RUN_ENV = {
    "event": "WORKFLOW_RUN_EVENT",
    "head_repository": "WORKFLOW_RUN_HEAD_REPOSITORY",
    "head_sha": "WORKFLOW_RUN_HEAD_SHA",
    "url": "WORKFLOW_RUN_URL",
    "conclusion": "WORKFLOW_RUN_CONCLUSION",
}
POLICY_ENV = "FORK_POLICY"
NAME_ENV = "MODEL_NAME"


@dataclass(frozen=True)
class FinishedRun:
    """The facts of the caller's finished run that the status needs."""

    event: str
    head_repository: str
    head_sha: str
    url: str
    conclusion: str

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> FinishedRun:
        return cls(**{field: environ.get(name, "") for field, name in RUN_ENV.items()})

    def from_fork(self, repository: str) -> bool:
        return self.event == "pull_request" and is_fork(self.head_repository, repository)


def set_fork_status(environ: Mapping[str, str], runner: Runner) -> int:
    """Set the status of a fork's pull request run (``fork-policy`` says which); 0 when done or not one."""
    repository = environ.get("GITHUB_REPOSITORY", "")
    run = FinishedRun.from_environ(environ)
    if not run.from_fork(repository):
        runner.info(
            f"Not a pull request from a fork ({run.event or 'no event'}): the run sets its own status."
        )
        return 0
    policy = environ.get(POLICY_ENV, "") or BY_NAME["fork-policy"].default
    parse_field(BY_NAME["fork-policy"], policy, Source("input", "fork-policy"))
    name = parse_field(BY_NAME["name"], environ.get(NAME_ENV, ""), Source("input", "name"))
    if not run.head_sha:
        raise ConfigError(f"{RUN_ENV['head_sha']} is empty: pass github.event.workflow_run.head_sha")
    token = environ.get("GITHUB_TOKEN", "")
    if not token:
        raise ConfigError("GITHUB_TOKEN is empty: pass github.token, with the permission statuses: write")
    runner.mask(token)
    state, description = fork_status(policy, run.conclusion)
    from keras_ct.github.client import DEFAULT_API_URL, GitHubClient

    api = GitHubClient(repository, token, api_url=environ.get("GITHUB_API_URL") or DEFAULT_API_URL)
    context = status_context(name or "")
    api.create_commit_status(run.head_sha, state, description, run.url or None, context=context)
    runner.info(f"{context}: {state} on {run.head_sha[:12]}: {description}")
    return 0
