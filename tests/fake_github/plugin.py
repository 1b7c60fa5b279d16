"""pytest fixtures for the fake GitHub. Register with ``pytest_plugins = ["tests.fake_github.plugin"]``
in the root ``tests/conftest.py``.

``fake_github`` / ``fake_ghes`` start a server on a free port of 127.0.0.1 in a thread with the
standard scenario (``state.standard_state``) and fail the test at teardown when any request or
response broke GitHub's OpenAPI description. The description (and openapi-core's object for it)
is loaded once per session.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from . import contract
from .server import ROUTE_TEMPLATES, FakeGitHub
from .state import standard_state


@pytest.fixture(scope="session")
def github_openapi() -> dict[str, object]:
    """Both flavours of GitHub's description, fetched (tools/fetch_openapi.py) and built once."""
    return {flavour: contract.openapi(flavour, ROUTE_TEMPLATES) for flavour in contract.SPEC_FILES}


def _serve(ghes: bool) -> Iterator[FakeGitHub]:
    fake = FakeGitHub(standard_state(), ghes=ghes)
    with fake:
        yield fake
    fake.assert_no_violations()


@pytest.fixture
def fake_github(github_openapi: dict[str, object]) -> Iterator[FakeGitHub]:
    """The fake github.com API (``fake_github.api_url`` is what ``GITHUB_API_URL`` would be)."""
    yield from _serve(ghes=False)


@pytest.fixture
def fake_ghes(github_openapi: dict[str, object]) -> Iterator[FakeGitHub]:
    """The fake GitHub Enterprise Server 3.17 API, under ``/api/v3``; rejects ``return_run_details``."""
    yield from _serve(ghes=True)
