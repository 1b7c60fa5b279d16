"""Load a repository file that is not a package module (a tool, the example model) by its path."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parent.parent


def load_file(relative: str, name: str) -> ModuleType:
    """``ROOT / relative`` executed as the module ``name`` (not put in ``sys.modules``)."""
    spec = importlib.util.spec_from_file_location(name, ROOT / relative)
    assert spec is not None and spec.loader is not None, relative
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
