"""The fork companion end to end: this repository's ml-fork-status.yml under act, on a workflow_run
event after a fork's ``ml`` run, calling the real fork-status.yml (keras-ct checked out at v1 from
the fake GitHub's keras-ct repository), against the fake GitHub."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.e2e.act_harness import REPOSITORY, TOKEN, World, statuses
from tests.e2e.test_act import BRANCH

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]

RUN_URL = "https://github.com/acme/ml/actions/runs/41"


def workflow_run_event(world: World, sha: str, head_repo: str) -> Path:
    """The ``workflow_run`` (completed) event GitHub sends after the pull_request run of ``ml``."""
    owner, name = REPOSITORY.split("/")
    event = {
        "action": "completed",
        "workflow_run": {
            "name": "ml",
            "event": "pull_request",
            "head_branch": BRANCH,
            "head_sha": sha,
            "head_repository": {"full_name": head_repo},
            "html_url": RUN_URL,
            "conclusion": "success",
        },
        "repository": {"full_name": REPOSITORY, "name": name, "owner": {"login": owner}},
    }
    path = world.base / f"event-workflow-run-{sha[:8]}.json"
    path.write_text(json.dumps(event), encoding="utf-8")
    return path


def test_a_skipped_fork_pull_request_gets_a_failed_status_a_required_check_can_use(world: World) -> None:
    world.create()
    sha = world.branch(
        BRANCH, {"ml_task/model.py": ("def build_model():", "def build_model():  # from a fork")}
    )
    world.add_fork("mallory/ml", BRANCH, sha)

    own = world.act(
        "workflow_run", event_path=workflow_run_event(world, sha, REPOSITORY), workflow="ml-fork-status.yml"
    )
    assert own.returncode == 0, own.log[-6000:]
    assert statuses(world.fake, sha) == []  # this repository's run set its own status

    fork = world.act(
        "workflow_run", event_path=workflow_run_event(world, sha, "mallory/ml"), workflow="ml-fork-status.yml"
    )
    assert fork.returncode == 0, fork.log[-6000:]
    (status,) = statuses(world.fake, sha)
    assert (status.state, status.context, status.target_url) == ("failure", "keras-ct", RUN_URL)
    assert status.description.startswith("Not trained: a pull request from a fork (fork-policy skip)")
    assert TOKEN not in fork.shown()
