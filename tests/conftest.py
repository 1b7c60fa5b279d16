"""Shared fixtures. Test modules import project code as ``keras_ct`` (installed in the venv)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # `import tests.fake_github` etc. with --import-mode=importlib

pytest_plugins = ["tests.fake_github.plugin"]


@pytest.fixture
def keras_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Keras writes ~/.keras on first import: keep it under tmp_path."""
    home = tmp_path / "keras-home"
    home.mkdir()
    monkeypatch.setenv("KERAS_HOME", str(home))
    return home


@pytest.fixture
def clean_environ() -> dict[str, str]:
    """A process environment without GitHub Actions variables, for configs built in tests."""
    return {
        k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "INPUT_", "RUNNER_", "KERAS_CT_"))
    }
