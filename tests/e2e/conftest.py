"""Fixtures for the act end-to-end tests: a snapshot of this working tree and an empty fake GitHub."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e import act_harness
from tests.fake_github.server import FakeGitHub
from tests.fake_github.state import State


@pytest.fixture(scope="session")
def action_src(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """This working tree as the runner would fetch ``keras-ct/keras-ct@v1`` (the files git would ship).

    A copy, so installing the action (pip builds in the source folder) never writes into the
    working tree, and uncommitted changes are what the tests run.
    """
    return act_harness.snapshot_tree(act_harness.ROOT, tmp_path_factory.mktemp("keras-ct-v1"))


@pytest.fixture
def e2e_github(github_openapi: dict[str, object]) -> Iterator[FakeGitHub]:
    """An empty fake GitHub (the World adds acme/ml), checked against the OpenAPI description."""
    with FakeGitHub(State()) as fake:
        yield fake
    fake.assert_no_violations()


@pytest.fixture
def world(tmp_path: Path, e2e_github: FakeGitHub, action_src: Path) -> act_harness.World:
    """A fresh ``acme/ml``: bare remote, clone, its own HOME, and the stand-ins' folders."""
    return act_harness.World(tmp_path, e2e_github, action_src, python_bin=Path(sys.executable).parent)
