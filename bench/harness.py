"""The benchmark's edges shared by its sections: the interpreter, the machine, git copies, timed runs."""

from __future__ import annotations

import contextlib
import importlib.metadata
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PY = Path(sys.executable)
KERAS_CT = PY.parent / "keras-ct"


def say(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", flush=True)


def machine() -> dict[str, Any]:
    cpu = ""
    try:
        cpu = next(
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        )
    except (OSError, StopIteration):
        cpu = platform.processor()
    versions = {}
    for dist in ("tensorflow", "tensorflow-cpu", "keras", "numpy", "scikit-learn"):
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            versions[dist] = importlib.metadata.version(dist)
    gpu = "none"
    if shutil.which("nvidia-smi"):
        done = subprocess.run(
            ["nvidia-smi", "--query-gpu=name,compute_cap", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            check=False,
        )
        gpu = done.stdout.strip().replace("\n", "; ") or "nvidia-smi found no GPU"
    return {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "load_average_start": os.getloadavg(),
        "gpu": gpu,
        "versions": versions,
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }


def clean_env(work: Path) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("GITHUB_", "INPUT_", "RUNNER_", "KERAS_CT_", "ACTIONS_"))
    }
    env.update(KERAS_HOME=str(work / "keras-home"), TF_CPP_MIN_LOG_LEVEL="3", PYTHONUNBUFFERED="1")
    (work / "keras-home").mkdir(parents=True, exist_ok=True)
    return env


def git(cwd: Path, *args: str) -> str:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "bench",
        "GIT_AUTHOR_EMAIL": "bench@example.invalid",
        "GIT_COMMITTER_NAME": "bench",
        "GIT_COMMITTER_EMAIL": "bench@example.invalid",
    }
    done = subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True, check=True)
    return done.stdout


def init_repo(work: Path) -> None:
    git(work, "init", "-q", "-b", "main")
    (work / ".gitignore").write_text(".keras-ct/\nkeras-home/\n*.keras\n__pycache__/\n")
    git(work, "add", "-A")
    git(work, "commit", "-q", "-m", "start")


def timed(argv: list[str], cwd: Path, env: dict[str, str], log: Path) -> float:
    started = time.perf_counter()
    with log.open("ab") as out:
        done = subprocess.run(argv, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT, check=False)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"{argv[:4]}... exited {done.returncode}; see {log}")
    return wall
