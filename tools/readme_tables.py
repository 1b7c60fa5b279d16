#!/usr/bin/env python3
"""Render the docs' input and output tables from action.yml and the reusable workflow (the sources).

The reusable workflow's table goes in README.md (what a user calls), the composite action's in
docs/configuration.md.

.venv/bin/python tools/readme_tables.py          # rewrite both files in place
.venv/bin/python tools/readme_tables.py --check  # exit 1 when either is out of date
"""

from __future__ import annotations

import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


def _cell(text: str) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def render_workflow(workflow: dict) -> str:
    trigger = workflow.get("on", workflow.get(True))  # YAML 1.1 reads a bare `on` as true
    rows = ["| input | type | default | description |", "|---|---|---|---|"]
    for name, spec in trigger["workflow_call"]["inputs"].items():
        default = spec.get("default", "")
        shown = f"`{default}`" if default != "" else "—"
        rows.append(
            f"| `{name}` | {spec.get('type', 'string')} | {_cell(shown)} | {_cell(spec.get('description', ''))} |"
        )
    outputs = trigger["workflow_call"].get("outputs", {})
    rows += ["", "| output | description |", "|---|---|"]
    rows += [f"| `{name}` | {_cell(spec.get('description', ''))} |" for name, spec in outputs.items()]
    return "\n".join(rows)


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


def apply(readme: str, tables: dict[str, str], name: str = "README.md") -> str:
    for key, table in tables.items():
        start, end = f"<!-- {key}:start -->", f"<!-- {key}:end -->"
        head, found, rest = readme.partition(start)
        if not found:
            raise SystemExit(f"{name} has no {start} marker")
        _, found, tail = rest.partition(end)
        if not found:
            raise SystemExit(f"{name} has no {end} marker")
        readme = f"{head}{start}\n{table}\n{end}{tail}"
    return readme


#: Which file holds which tables.
README = "README.md"
ACTION_DOC = "docs/configuration.md"


def main(argv: list[str]) -> int:
    action = yaml.safe_load((ROOT / "action.yml").read_text(encoding="utf-8"))
    workflow = yaml.safe_load(
        (ROOT / ".github/workflows/continuous-training.yml").read_text(encoding="utf-8")
    )
    tables = {README: {"workflow-inputs-table": render_workflow(workflow)}, ACTION_DOC: render(action)}
    stale = []
    for name, wanted_tables in tables.items():
        path = ROOT / name
        current = path.read_text(encoding="utf-8")
        wanted = apply(current, wanted_tables, name)
        if wanted != current:
            stale.append(name)
            if "--check" not in argv:
                path.write_text(wanted, encoding="utf-8")
    if stale and "--check" in argv:
        print(
            f"{', '.join(stale)}: the input/output tables are out of date: run tools/readme_tables.py",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
