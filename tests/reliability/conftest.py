"""Fixtures of the reliability suite: one checkout + fake GitHub per module, reset before each test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fake_github.server import FakeGitHub
from tests.fake_github.state import WRITE_TOKEN, standard_state
from tests.reliability.harness import Checkpoint, World, checkpoint, make_world, restore


@pytest.fixture(scope="module")
def shared_world(
    tmp_path_factory: pytest.TempPathFactory, github_openapi: object
) -> Iterator[tuple[World, Checkpoint]]:
    """A world built once per module (git init, commits, a server); tests reset it via ``world``."""
    with FakeGitHub(standard_state()) as fake:
        world = make_world(tmp_path_factory.mktemp("world"), fake)
        yield world, checkpoint(world)


@pytest.fixture
def world(shared_world: tuple[World, Checkpoint]) -> Iterator[World]:
    """The module's world, as new: PR branch at its first commit, the fake's standard state."""
    world, start = shared_world
    restore(world, start)
    world.extra_env.clear()
    world.token = WRITE_TOKEN  # a test may have tried another
    yield world
    world.fake.assert_no_violations()


@pytest.fixture
def fresh_world(tmp_path: Path, fake_github: FakeGitHub) -> World:
    """A world of its own (for tests that change its layout: other branches, hooks, paths)."""
    return make_world(tmp_path, fake_github)
