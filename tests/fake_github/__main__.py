"""Run the fake GitHub as its own process.

``PYTHONPATH=tests python -m fake_github --port 0 --ready-file ready.json``

``--state FILE`` loads a state (JSON, as ``GET /_fake/state`` returns it; default: the standard
scenario), ``--dump FILE`` rewrites the state after every change and at exit, ``--ready-file FILE``
receives ``{"url", "api_url", "pid"}`` once the port is open. SIGTERM/SIGINT stop it cleanly.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from . import contract
from .server import ROUTE_TEMPLATES, FakeGitHub
from .state import State, standard_state


def _write_json(path: Path, document: Any) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(document, indent=1), encoding="utf-8")
    os.replace(tmp, path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="fake_github", description="A fake GitHub REST API for tests.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port (see --ready-file)")
    parser.add_argument("--ghes", action="store_true", help="serve GHES 3.17 under /api/v3")
    parser.add_argument("--state", type=Path, help="initial state JSON (default: the standard scenario)")
    parser.add_argument("--dump", type=Path, help="write the state JSON here after every change and at exit")
    parser.add_argument("--ready-file", type=Path, help="write {url, api_url, pid} here when listening")
    parser.add_argument("--no-validate", action="store_true", help="skip the OpenAPI checks")
    args = parser.parse_args(argv)

    state = (
        State.from_json(json.loads(args.state.read_text(encoding="utf-8")))
        if args.state
        else standard_state()
    )
    dump = args.dump

    def on_change(fake: FakeGitHub) -> None:
        if dump is not None:
            _write_json(dump, fake.snapshot())

    if not args.no_validate:
        contract.openapi("ghes" if args.ghes else "dotcom", ROUTE_TEMPLATES)
    fake = FakeGitHub(
        state,
        ghes=args.ghes,
        host=args.host,
        port=args.port,
        validate=not args.no_validate,
        on_change=on_change,
    )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    fake.start()
    on_change(fake)
    if args.ready_file:
        _write_json(args.ready_file, {"url": fake.url, "api_url": fake.api_url, "pid": os.getpid()})
    print(f"fake GitHub listening on {fake.api_url}", flush=True)
    stop.wait()
    fake.stop()
    on_change(fake)
    for violation in fake.violations:
        print(
            f"contract violation: {violation.kind} {violation.method} {violation.path}: {violation.detail}",
            file=sys.stderr,
        )
    return 1 if fake.violations else 0


if __name__ == "__main__":
    raise SystemExit(main())
