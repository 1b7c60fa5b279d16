"""bench/hooks_split.py: the table of the hooks' parts, and its child wrapper (no Keras needed)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from bench.hooks_split import CHILD, table


def test_the_table_has_each_part_per_arm_and_the_paired_wall_gaps() -> None:
    def run(wall: float, **parts: float) -> dict[str, Any]:
        return {"wall_s": wall, "parts": parts}

    runs = {
        "bare": [run(10.0), run(12.0), run(11.0)],
        "hooks": [run(10.1, save=0.02), run(12.3, save=0.04), run(11.2, save=0.03)],
        "hooks, before": [run(10.5, save=0.05), run(12.5), run(11.5, save=0.07)],
    }

    lines = table(runs).splitlines()

    assert lines[0] == "| part (summed per run), ms | hooks | hooks, before |"
    assert "| save | 30.0 (20.0-40.0) | 50.0 (0.0-70.0) |" in lines  # a run without the part counts 0
    assert "| wall, hooks - bare (paired) | 200 (100-300) |  |" in lines
    assert "| wall, hooks, before - bare (paired) |  | 500 (500-500) |" in lines
    assert lines[-1].startswith("| wall, bare | 11000 (10000-12000) |")


def test_the_child_runs_the_script_as_main_and_reports_its_time(tmp_path: Path) -> None:
    (tmp_path / "child.py").write_text(CHILD)
    (tmp_path / "script.py").write_text("import sys\nprint(__name__, sys.argv[1:])\n")
    out = tmp_path / "parts.json"

    done = subprocess.run(
        [sys.executable, "child.py", str(out), "script.py", "--epochs", "3"],
        cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip

    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "__main__ ['--epochs', '3']"
    measured = json.loads(out.read_text())
    assert measured["parts"] == {} and measured["process_s"] > 0  # no hooks here: nothing timed
