"""The overhead section: ``keras-ct run`` against its train command run bare, interleaved A/B."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

from bench.harness import PY, ROOT, clean_env, init_repo, say, timed
from bench.stats import Summary, paired_ratios
from keras_ct.config import FIELDS

# keras-ct's own default train command: the ml_task CNN, 10 epochs on the digits data.
TRAIN_COMMAND = next(spec.default for spec in FIELDS if spec.name == "train-command")
FAKE = {"repository": "acme/ml-repo", "pr": "7", "branch": "improve-model", "workflow": "ml.yml"}
FAKE_TOKEN = "ghs_fakeWriteToken0123456789abcdefghijklmn"  # tests/fake_github/state.py WRITE_TOKEN


MEASURE = """
import json, resource, sys, time
started = time.perf_counter()
import keras_ct.train.trainer as training
spent = []  # each training subprocess's wall time, from its start to its exit
original = training.Training.wait
def wait(self):
    try:
        return original(self)
    finally:
        spent.append(time.monotonic() - self.started)
training.Training.wait = wait
from keras_ct.cli import main
rc = main(sys.argv[2:])
usage = resource.getrusage(resource.RUSAGE_SELF)
with open(sys.argv[1], "w") as fh:
    json.dump({"rc": rc, "training_s": sum(spent), "maxrss_kb": usage.ru_maxrss,
               "cpu_s": usage.ru_utime + usage.ru_stime, "in_process_s": time.perf_counter() - started,
               "tensorflow_imported": "tensorflow" in sys.modules or "keras" in sys.modules}, fh)
sys.exit(rc)
"""


class FakeGitHub:
    """tests/fake_github as its own process (OpenAPI checks off: they cost the server ~0.1 s a call)."""

    def __init__(self, work: Path) -> None:
        self.work = work
        self.ready = work / "fake-ready.json"
        self.proc: subprocess.Popen[bytes] | None = None
        self.api_url = self.url = ""
        self.initial: dict[str, Any] = {}

    def __enter__(self) -> FakeGitHub:
        env = {**os.environ, "PYTHONPATH": str(ROOT / "tests")}
        argv = [str(PY), "-m", "fake_github", "--port", "0", "--ready-file", str(self.ready), "--no-validate"]
        self.proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while not self.ready.exists():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the fake GitHub server did not start")
            time.sleep(0.05)
        ready = json.loads(self.ready.read_text())
        self.api_url, self.url = ready["api_url"], ready["url"]
        self.initial = self.state()
        return self

    def reset(self) -> None:
        """Back to the state it started with: each run is round 1 again, not a duplicate of the last."""
        import urllib.request

        request = urllib.request.Request(
            self.url + "/_fake/setup", data=json.dumps(self.initial).encode(), method="POST"
        )
        request.add_header("Content-Type", "application/json")
        urllib.request.urlopen(request, timeout=30).close()

    def state(self) -> dict[str, Any]:
        import urllib.request

        with urllib.request.urlopen(self.url + "/_fake/state", timeout=30) as response:
            return json.loads(response.read())

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=10)


def overhead(tmp: Path, repeats: int) -> dict[str, Any]:
    work = tmp / "overhead"
    (work / "ml_task").mkdir(parents=True)
    for name in ("model.py", "train.py"):
        shutil.copy2(ROOT / "ml_task" / name, work / "ml_task" / name)
    init_repo(work)
    (work / "measure.py").write_text(MEASURE)
    env = clean_env(work)
    env["PYTHONPATH"] = str(ROOT / "action")
    bare_env = {
        **env,
        "KERAS_CT_METRICS_FILE": str(work / "bare" / "metrics.json"),
        "KERAS_CT_MODEL_PATH": str(work / "bare" / "model.keras"),
    }
    bare_argv = [str(PY), *TRAIN_COMMAND.split()[1:]]
    log = work / "log.txt"
    bare, run, stats, timings = [], [], [], []
    with FakeGitHub(work) as fake:
        run_env = {**env, "GITHUB_TOKEN": FAKE_TOKEN}

        def one_run(i: int) -> tuple[float, dict[str, Any]]:
            out = work / f"run-{i}.json"
            fake.reset()
            argv = [
                str(PY), str(work / "measure.py"), str(out), "run",
                "--threshold", "0.5", "--train-command", TRAIN_COMMAND, "--output-dir", f".keras-ct/run-{i}",
                "--api-url", fake.api_url, "--repository", FAKE["repository"], "--workflow", FAKE["workflow"],
                "--branch", FAKE["branch"], "--pr-number", FAKE["pr"],
            ]  # fmt: skip
            wall = timed(argv, work, run_env, log)
            measured = json.loads(out.read_text())
            metrics = work / ".keras-ct" / f"run-{i}" / "round-1" / "metrics.json"
            measured["train_timings"] = json.loads(metrics.read_text())["timings"]
            return wall, measured

        say("overhead: warm-up (not counted)")
        timed(bare_argv, work, bare_env, log)
        one_run(0)
        requests_before = len(fake.state().get("exchanges", []))
        for i in range(1, repeats + 1):
            order = ("bare", "run") if i % 2 else ("run", "bare")
            for which in order:
                if which == "bare":
                    bare.append(timed(bare_argv, work, bare_env, log))
                    # Bare is the plain script as a user runs it: no keras-ct hooks, so no metrics file
                    # (and no phase timings) unless the script writes one itself.
                    bare_metrics = work / "bare" / "metrics.json"
                    if bare_metrics.is_file():
                        timings.append(json.loads(bare_metrics.read_text())["timings"])
                else:
                    wall, measured = one_run(i)
                    run.append(wall)
                    stats.append(measured)
            say(f"overhead {i}/{repeats}: bare {bare[-1]:.2f}s, keras-ct run {run[-1]:.2f}s")
        requests = (len(fake.state().get("exchanges", [])) - requests_before) / repeats
    own = [w - s["training_s"] for w, s in zip(run, stats, strict=True)]
    return {
        "train_command": TRAIN_COMMAND,
        "bare_s": Summary.of(bare),
        "run_s": Summary.of(run),
        "ratio": Summary.of(paired_ratios(run, bare)),
        "own_s": Summary.of(own),
        "own_cpu_s": Summary.of([s["cpu_s"] for s in stats]),
        "peak_rss_mb": Summary.of([s["maxrss_kb"] / 1024 for s in stats]),
        "tensorflow_imported": any(s["tensorflow_imported"] for s in stats),
        "api_requests_per_run": requests,
        "train_timings": {
            k: Summary.of([t[k] for t in timings])
            for k, v in (timings[0].items() if timings else ())
            if isinstance(v, int | float)
        },
        # The same phases inside the training process when keras-ct runs it: where a gap comes from.
        "run_train_timings": {
            k: Summary.of([s["train_timings"][k] for s in stats])
            for k, v in stats[0]["train_timings"].items()
            if isinstance(v, int | float)
        },
    }
