"""Start the fake GitHub as a separate process (for tests that run act or the CLI as subprocesses)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

from .state import State, standard_state

# The module is started by its short name, ``fake_github``, from ``tests/``: another distribution
# (actions-toolkit) installs a top-level ``tests`` package that would shadow ``tests.fake_github``.
TESTS_DIR = Path(__file__).resolve().parent.parent


class FakeGitHubProcess:
    """``with FakeGitHubProcess(tmp_path) as fake: ... fake.api_url ... fake.state()``."""

    def __init__(
        self,
        workdir: Path,
        state: State | dict[str, Any] | None = None,
        *,
        ghes: bool = False,
        startup_timeout_s: float = 60.0,
    ) -> None:
        self.workdir = Path(workdir)
        self.state_file = self.workdir / "fake-github-state.json"
        self.dump_file = self.workdir / "fake-github-dump.json"
        self.ready_file = self.workdir / "fake-github-ready.json"
        self.log_file = self.workdir / "fake-github.log"
        document = state.to_json() if isinstance(state, State) else state or standard_state().to_json()
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.state_file.write_text(json.dumps(document), encoding="utf-8")
        self.ghes = ghes
        self.startup_timeout_s = startup_timeout_s
        self.proc: subprocess.Popen[bytes] | None = None
        self.url = self.api_url = ""

    def start(self) -> FakeGitHubProcess:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(TESTS_DIR), env.get("PYTHONPATH", "")) if p)
        argv = [
            sys.executable,
            "-m",
            "fake_github",
            "--port",
            "0",
            "--state",
            str(self.state_file),
            "--dump",
            str(self.dump_file),
            "--ready-file",
            str(self.ready_file),
        ]
        if self.ghes:
            argv.append("--ghes")
        self.ready_file.unlink(missing_ok=True)
        with self.log_file.open("wb") as log:
            self.proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=env)
        deadline = time.monotonic() + self.startup_timeout_s
        while not self.ready_file.exists():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(
                    f"the fake GitHub did not start: {self.log_file.read_text(errors='replace')}"
                )
            time.sleep(0.05)
        ready = json.loads(self.ready_file.read_text(encoding="utf-8"))
        self.url, self.api_url = ready["url"], ready["api_url"]
        return self

    def _admin(self, method: str, path: str, body: Any = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(
            self.url + path, data=data, method=method, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read() or b"null")

    def state(self) -> dict[str, Any]:
        """Everything recorded: repos (comments, statuses, dispatches, runs), exchanges, violations."""
        return self._admin("GET", "/_fake/state")

    def setup(self, state: State | dict[str, Any]) -> dict[str, Any]:
        return self._admin("POST", "/_fake/setup", state.to_json() if isinstance(state, State) else state)

    def inject(self, kind: str, **fault: Any) -> None:
        self._admin("POST", "/_fake/faults", {"kind": kind, **fault})

    def assert_no_violations(self) -> None:
        violations = self._admin("GET", "/_fake/violations")
        if violations:
            lines = "\n".join(f"- {v['kind']} {v['method']} {v['path']}: {v['detail']}" for v in violations)
            raise AssertionError(f"the GitHub API contract was broken {len(violations)} time(s):\n{lines}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def __enter__(self) -> FakeGitHubProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
