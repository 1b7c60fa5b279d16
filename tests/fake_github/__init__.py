"""A fake GitHub REST API for tests, checked against GitHub's OpenAPI description.

In-process (pytest): the ``fake_github`` / ``fake_ghes`` fixtures in ``plugin.py``.
As its own process (act end-to-end tests): ``PYTHONPATH=tests python -m fake_github --port 0
--ready-file ready.json [--state state.json] [--dump out.json] [--ghes]``, or ``process.FakeGitHubProcess``.
"""

from __future__ import annotations

from .server import FakeGitHub
from .state import READ_ALL, WRITE_ALL, Fault, State, standard_state

__all__ = ["READ_ALL", "WRITE_ALL", "FakeGitHub", "Fault", "State", "standard_state"]
