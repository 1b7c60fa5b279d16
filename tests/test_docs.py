"""docs/failure-modes.md names the test behind every failure: each one it names exists."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BAD = "tests/reliability/test_bad_input.py::test_bad_input_fails_cleanly_and_changes_nothing"


def named_tests(table: str) -> list[tuple[str, str]]:
    """(file, test function or "") for every test a row's last cell names, as the doc writes them:
    ``file.py::test_x[id]``, ``::test_y`` (same file as before), ``bad[id]``, or a whole ``file.py``."""
    found: list[tuple[str, str]] = []
    for row in table.splitlines():
        if not row.startswith("| ") or row.startswith("| Failure") or row.startswith("|---"):
            continue
        cell = row.rstrip(" |").rsplit(" | ", 1)[-1]
        current = ""
        for token in re.findall(r"`([^`]+)`", cell):
            if token.startswith("bad["):
                token = BAD
            path, _, test = token.partition("::")
            if path:
                current = path if path.startswith("tests/") else f"tests/reliability/{path}"
            found.append((current, test.split("[")[0]))
    return found


def test_every_test_the_failure_modes_name_exists() -> None:
    doc = (ROOT / "docs" / "failure-modes.md").read_text(encoding="utf-8")
    named = named_tests(doc)
    assert len(named) > 50
    missing = []
    for path, test in named:
        file = ROOT / path
        if not file.is_file():
            missing.append(path)
        elif test and not re.search(rf"^def {re.escape(test)}\(", file.read_text(), re.M):
            missing.append(f"{path}::{test}")
    assert missing == []
