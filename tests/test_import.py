"""The orchestrator stays light: importing it never loads TensorFlow or Keras."""

from __future__ import annotations

import subprocess
import sys


def test_import_does_not_load_tensorflow() -> None:
    code = (
        "import keras_ct, keras_ct.cli, keras_ct.orchestrate, keras_ct.round.engine, keras_ct.augment, keras_ct.detect, sys; "
        "bad = [m for m in ('tensorflow', 'keras') if m in sys.modules]; "
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_one_version_source() -> None:
    import tomllib
    from pathlib import Path

    import keras_ct

    pyproject = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())
    assert pyproject["project"]["dynamic"] == ["version"]
    assert pyproject["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "keras_ct.__version__"}
    changelog = (Path(__file__).parents[1] / "CHANGELOG.md").read_text()
    assert f"## {keras_ct.__version__}" in changelog
