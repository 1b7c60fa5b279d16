"""The README documents every action input and output, and its quick start matches dev.py."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def test_tables_match_action_yml() -> None:
    done = subprocess.run(
        [sys.executable, "tools/readme_tables.py", "--check"], cwd=ROOT, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr


def test_every_input_and_output_documented() -> None:
    readme = (ROOT / "README.md").read_text()
    action = yaml.safe_load((ROOT / "action.yml").read_text())
    for name in [*action["inputs"], *action["outputs"]]:
        assert f"| `{name}` |" in readme, name


def test_quick_start_commands_exist_and_ci_runs_the_test_command() -> None:
    readme = (ROOT / "README.md").read_text()
    assert "python3 dev.py demo" in readme and "python3 dev.py test" in readme
    assert "python3 dev.py test" in (ROOT / ".ci" / "run").read_text()


def test_config_fields_are_action_inputs() -> None:
    from keras_ct.config import FIELD_NAMES

    action = yaml.safe_load((ROOT / "action.yml").read_text())
    assert set(FIELD_NAMES) <= set(action["inputs"]), set(FIELD_NAMES) - set(action["inputs"])
