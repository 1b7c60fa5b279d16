#!/usr/bin/env python3
"""Render the README's action input and output tables from action.yml (the one source).

.venv/bin/python tools/readme_tables.py          # rewrite README.md in place
.venv/bin/python tools/readme_tables.py --check  # exit 1 when README.md is out of date
"""

from __future__ import annotations

import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


def _cell(text: str) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def render(action: dict) -> dict[str, str]:
    inputs = ["| input | default | description |", "|---|---|---|"]
    for name, spec in action["inputs"].items():
        default = spec.get("default", "")
        shown = f"`{default}`" if default != "" else "—"
        inputs.append(f"| `{name}` | {_cell(shown)} | {_cell(spec.get('description', ''))} |")
    outputs = ["| output | description |", "|---|---|"]
    for name, spec in action["outputs"].items():
        outputs.append(f"| `{name}` | {_cell(spec.get('description', ''))} |")
    return {"inputs-table": "\n".join(inputs), "outputs-table": "\n".join(outputs)}


def apply(readme: str, tables: dict[str, str]) -> str:
    for key, table in tables.items():
        start, end = f"<!-- {key}:start -->", f"<!-- {key}:end -->"
        head, found, rest = readme.partition(start)
        if not found:
            raise SystemExit(f"README.md has no {start} marker")
        _, found, tail = rest.partition(end)
        if not found:
            raise SystemExit(f"README.md has no {end} marker")
        readme = f"{head}{start}\n{table}\n{end}{tail}"
    return readme


def main(argv: list[str]) -> int:
    action = yaml.safe_load((ROOT / "action.yml").read_text(encoding="utf-8"))
    path = ROOT / "README.md"
    current = path.read_text(encoding="utf-8")
    wanted = apply(current, render(action))
    if "--check" in argv:
        if wanted != current:
            print(
                "README.md's input/output tables are out of date: run tools/readme_tables.py", file=sys.stderr
            )
            return 1
        return 0
    path.write_text(wanted, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
