"""The README documents every reusable-workflow input, docs/configuration.md every action input and
output; the README stays short (at most 15 KB) and its quick start matches dev.py."""

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
    doc = (ROOT / "docs" / "configuration.md").read_text()
    action = yaml.safe_load((ROOT / "action.yml").read_text())
    for name in [*action["inputs"], *action["outputs"]]:
        assert f"| `{name}` |" in doc, name


#: Well-kept actions' READMEs are 8-33 KB and open with the workflow a user copies; ours is for users
#: (the rest lives in docs/).
README_LIMIT = 15 * 1024


def test_readme_is_short_opens_with_the_workflow_and_shows_the_comment() -> None:
    readme = (ROOT / "README.md").read_text()
    assert len(readme.encode()) <= README_LIMIT, f"README.md is {len(readme.encode()):,} bytes"
    sections = [line for line in readme.splitlines() if line.startswith("## ")]
    assert sections[0] == "## Use it from your repository"
    assert "](docs/comment.png)" in readme and (ROOT / "docs" / "comment.png").is_file()


def test_readme_links_resolve() -> None:
    import re

    for doc in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", doc.read_text()):
            if not target.startswith(("http://", "https://", "mailto:")):
                assert (doc.parent / target).exists(), f"{doc.name} links to a missing {target}"


def test_quick_start_commands_exist_and_ci_runs_the_test_command() -> None:
    readme = (ROOT / "README.md").read_text()
    assert "python3 dev.py demo" in readme and "python3 dev.py test" in readme
    assert "python3 dev.py test" in (ROOT / ".ci" / "run").read_text()


def test_config_fields_are_action_inputs() -> None:
    from keras_ct.config import FIELD_NAMES

    action = yaml.safe_load((ROOT / "action.yml").read_text())
    assert set(FIELD_NAMES) <= set(action["inputs"]), set(FIELD_NAMES) - set(action["inputs"])
