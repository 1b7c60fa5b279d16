"""The model's environment cached between jobs: the second job's set-up against the first's.

Both jobs run action.yml's own code (``python -m keras_ct.train.modelenv key`` and ``prepare``) in
this process's machine, on ml_task/requirements.txt, from the base interpreter:

first   no cache: ``prepare`` makes the venv and installs the requirements with uv from PyPI (a
        fresh uv cache, so every wheel is downloaded, as on a hosted runner).
save    what actions/cache/save does after it: a zstd tar of the environment (not on the next
        job's path; reported with the archive's size).
kept    the next job on a runner that kept the folder (self-hosted): ``prepare`` only verifies.
second  the next job on a fresh runner: the folder is gone, the archive is unpacked at the same
        fixed path (the restore) and ``prepare`` checks it still works (the verify).
pip     the set-up every job paid before the cache: ``python -m venv`` and ``pip install -r``
        (a cold pip cache, real downloads). Every figure but this one and first: ``repeats`` runs.

The restore's download from GitHub's cache service is not measured here (no such service): the
archive's size is reported so it can be estimated.

    .venv/bin/python bench/setup_cache.py [--repeats 3]      # or bench/run.py --only setup
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
REQUIREMENTS = ROOT / "ml_task" / "requirements.txt"
GOAL = 5.0


def _say(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", flush=True)


def _timed(argv: list[str], env: dict[str, str]) -> tuple[float, str]:
    started = time.perf_counter()
    done = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    if done.returncode:
        raise RuntimeError(f"{argv} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return time.perf_counter() - started, done.stdout


def _tools(tmp: Path, base: str) -> tuple[str, dict[str, str]]:
    """keras-ct's own venv as action.yml makes it (cached separately, not timed): the pinned uv."""
    venv = tmp / "keras-ct-venv"
    subprocess.run([base, "-m", "venv", str(venv)], check=True)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    subprocess.run([*pip, "-c", str(ROOT / "action" / "constraints.txt"), "uv"], check=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV", "UV_"))}
    env.update(PYTHONPATH=str(ROOT / "action"), UV_CACHE_DIR=str(tmp / "uv-cache"))
    return str(venv / "bin" / "python"), env


def _pip_first(tmp: Path, base: str, env: dict[str, str]) -> float:
    """The set-up action.yml did before the cache: a venv and ``pip install -r`` (cold pip cache)."""
    venv = tmp / "pip-env"
    _say(f"before this change: python -m venv {venv} and pip install -r {REQUIREMENTS.name}")
    pip_env = {**env, "PIP_CACHE_DIR": str(tmp / "pip-cache")}
    made, _ = _timed([base, "-m", "venv", "--system-site-packages", str(venv)], pip_env)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--disable-pip-version-check", "--no-input"]
    installed, _ = _timed([*pip, "-r", str(REQUIREMENTS)], pip_env)
    shutil.rmtree(venv)
    return made + installed


def measure(tmp: Path, repeats: int, base: str) -> dict[str, Any]:
    python, env = _tools(tmp, base)
    module = [python, "-m", "keras_ct.train.modelenv"]
    common = ["--requirements", str(REQUIREMENTS), "--base-python", base]
    _, out = _timed([*module, "key", *common, "--root", str(tmp / "tool-cache")], env)
    outputs = dict(line.split("=", 1) for line in out.splitlines())
    prepare = [*module, "prepare", *common, "--dir", outputs["dir"], "--key", outputs["key"]]
    _say(f"first job: create {outputs['dir']} and install {REQUIREMENTS.name} (real downloads)")
    first, _ = _timed(prepare, env)
    archive = tmp / "cache.tzst"
    save, _ = _timed(
        ["tar", "--use-compress-program", "zstd -T0", "-cf", str(archive), "-C", "/", outputs["dir"][1:]], env
    )
    kept = [_timed(prepare, env)[0] for _ in range(repeats)]  # a self-hosted runner kept the folder
    seconds = []
    for _ in range(repeats):
        shutil.rmtree(outputs["dir"])
        restore, _ = _timed(["tar", "--use-compress-program", "zstd -d", "-xf", str(archive), "-C", "/"], env)
        verify, _ = _timed(prepare, env)
        seconds.append({"restore_s": restore, "verify_s": verify, "total_s": restore + verify})
    second = statistics.median(s["total_s"] for s in seconds)
    shutil.rmtree(outputs["dir"])
    shutil.rmtree(tmp / "uv-cache", ignore_errors=True)
    return {
        "pip_first_s": _pip_first(tmp, base, env),
        "kept_s": statistics.median(kept),
        "requirements": REQUIREMENTS.relative_to(ROOT).as_posix(),
        "base_python": base,
        "first_s": first,
        "save_s": save,
        "archive_mb": archive.stat().st_size / 1e6,
        "second": seconds,
        "second_s": second,
        "speedup": first / second,
        "goal": GOAL,
        "load_average": os.getloadavg(),
    }


def render(result: dict[str, Any] | None) -> str:
    if not result:
        return ""
    runs = result["second"]
    lo, hi = min(r["total_s"] for r in runs), max(r["total_s"] for r in runs)
    verdict = "met" if result["speedup"] >= result["goal"] else "missed"
    return (
        "\n## The model's environment, cached between jobs\n\n"
        f"| set-up of `{result['requirements']}` | seconds |\n|---|---|\n"
        f"| before this change, every job: venv + pip install (real downloads) | {result['pip_first_s']:.1f} |\n"
        f"| first job: create + install (uv, real downloads) | {result['first_s']:.1f} |\n"
        f"| (after it: save, zstd tar of {result['archive_mb']:.0f} MB) | {result['save_s']:.1f} |\n"
        f"| second job: restore (unpack) + verify, median of {len(runs)} | {result['second_s']:.2f} "
        f"({lo:.2f}-{hi:.2f}) |\n"
        f"| second job on a runner that kept the folder (self-hosted): verify only | {result['kept_s']:.2f} |\n\n"
        f"Second job against the first (restore + verify vs create + uv install): {result['speedup']:.1f}x, "
        f"against a goal of {result['goal']:.0f}x: **{verdict}** (the restore's download from the cache "
        f"service is not included); against every job before this change (pip): "
        f"{result['pip_first_s'] / result['second_s']:.1f}x; a kept folder: "
        f"{result['first_s'] / result['kept_s']:.0f}x. Load average at the end: "
        f"{result['load_average'][0]:.1f}.\n"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--base-python", default=str(Path(sys.base_prefix) / "bin" / "python3"))
    parser.add_argument("--out", type=Path, default=HERE / "out")
    args = parser.parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="keras-ct-setup-"))
    try:
        result = measure(tmp, args.repeats, args.base_python)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "setup_cache.json").write_text(json.dumps(result, indent=1) + "\n")
    print(render(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
