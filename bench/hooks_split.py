"""Where the hooks' time goes inside the training process: each part they add, in ms, on ml_task.

    .venv/bin/python bench/hooks_split.py --repeats 5      # the default train command, 10 epochs on digits

Runs keras-ct's default train command with its hooks (``train/hooks/sitecustomize.py``, the
``KERAS_CT_*`` variables keras-ct sets) under a wrapper that times every part the hooks add: the
import of keras_ct's modules and the patching once Keras is loaded, each callback's calls (per epoch and
at the train's start and end), the checkpoint saves, the saved model, the metrics file at exit. The
same command runs bare (no hooks) interleaved with it, for the wall time the parts should account for
(``--before DIR``: an older ``action/`` folder's hooks as a third arm, for a before/after split).
Prints a table (median ms over the runs; per-call figures are summed per run) and writes JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
PY = Path(sys.executable)

#: Run as the child's main script: time the hooks' parts, then run the train script as ``__main__``.
CHILD = r"""
import atexit, json, runpy, sys, time
parts = {}
def add(name, seconds):
    count, total = parts.get(name, (0, 0.0))
    parts[name] = (count + 1, total + seconds)
def timed(name, fn):
    def wrapper(*args, **kwargs):
        began = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            add(name, time.perf_counter() - began)
    return wrapper
out, script, *argv = sys.argv[1:]
started = time.perf_counter()
atexit.register(lambda: json.dump({"parts": parts, "process_s": time.perf_counter() - started},
                                  open(out, "w")))  # registered first: runs after the hooks' finish
def instrument():
    began = time.perf_counter()
    from keras_ct.keras import autolog, callbacks
    add("import keras_ct.keras (autolog, callbacks)", time.perf_counter() - began)
    for name in ("_before_fit", "_save", "finish", "_before_evaluate"):
        setattr(autolog, name, timed(name, getattr(autolog, name)))
    autolog.STEPS["fit"] = (autolog._before_fit, timed("_after_fit (with _save)", autolog._after_fit))
    autolog.STEPS["evaluate"] = (autolog._before_evaluate, autolog.STEPS["evaluate"][1])
    for cls in (callbacks.Backup, callbacks.EpochLog, autolog.EpochTimer, autolog.WarmStart, autolog.TestLogs):
        for hook in ("on_train_begin", "on_train_end", "on_epoch_begin", "on_epoch_end", "on_test_end"):
            if hook in vars(cls) or (cls is callbacks.Backup and hook in ("on_train_begin", "on_train_end")):
                setattr(cls, hook, timed(f"{cls.__name__}.{hook}", getattr(cls, hook)))
    writer = getattr(callbacks, "CheckpointWriter", None)
    if writer is not None:
        writer.wait = timed("CheckpointWriter.wait (training thread)", writer.wait)
    began = time.perf_counter()
    original()
    add("install (patch keras.Model)", time.perf_counter() - began)
site = sys.modules.get("sitecustomize")
if site is not None and hasattr(site, "_install"):
    original = site._install
    site._install = instrument
sys.argv = [script, *argv]
runpy.run_path(script, run_name="__main__")
"""


def environment(work: Path, package: Path | None) -> dict[str, str]:
    """The child's environment: the hooks of ``package`` (an ``action`` folder) and the ``KERAS_CT_*``
    variables, as ``train/launch.py`` sets them for round 1; without a package, the bare run's (this
    checkout's keras_ct importable, for the script's performance helper, and no hooks)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KERAS_CT_", "PYTHONPATH"))}
    env.update(KERAS_HOME=str(work / "keras-home"), TF_CPP_MIN_LOG_LEVEL="3", PYTHONUNBUFFERED="1")
    if package is None:
        return {**env, "PYTHONPATH": str(ROOT / "action"), "KERAS_CT_MODEL_PATH": str(work / "bare.keras")}
    run = work / "round-1"
    return {
        **env,
        "PYTHONPATH": os.pathsep.join([str(package / "keras_ct" / "train" / "hooks"), str(package)]),
        "KERAS_CT_AUTOLOG": "1",
        "KERAS_CT_METRIC": "accuracy",
        "KERAS_CT_METRICS_FILE": str(run / "metrics.json"),
        "KERAS_CT_ROUND": "1",
        "KERAS_CT_CHECKPOINT_DIR": str(run / "resume"),
        "KERAS_CT_MODEL_PATH": str(run / "model.keras"),
    }


def one(work: Path, package: Path | None, argv: list[str]) -> dict[str, Any]:
    """One run of the train command; its wall time and (with hooks) the parts' seconds."""
    out = work / "parts.json"
    out.unlink(missing_ok=True)
    (work / "round-1" / "metrics.json").unlink(missing_ok=True)
    child = work / "child.py"
    child.write_text(CHILD)
    began = time.perf_counter()
    subprocess.run(
        [str(PY), str(child), str(out), *argv],
        cwd=work,
        env=environment(work, package),
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wall = time.perf_counter() - began
    measured = json.loads(out.read_text())
    return {"wall_s": wall, "parts": {k: v[1] for k, v in measured["parts"].items()}}


def _cell(values: list[float], digits: int) -> str:
    return f"{statistics.median(values):.{digits}f} ({min(values):.{digits}f}-{max(values):.{digits}f})"


def table(runs: dict[str, list[dict[str, Any]]]) -> str:
    """Median ms (min-max) of each part per run, one column per hooked arm; the walls below."""
    arms = [arm for arm in runs if arm != "bare"]
    names = sorted({k for arm in arms for run in runs[arm] for k in run["parts"]})
    rows = ["| part (summed per run), ms | " + " | ".join(arms) + " |", "|---" * (len(arms) + 1) + "|"]
    for name in names:
        cells = [_cell([1000 * run["parts"].get(name, 0.0) for run in runs[arm]], 1) for arm in arms]
        rows.append(f"| {name} | " + " | ".join(cells) + " |")
    bare = [r["wall_s"] for r in runs["bare"]]
    for arm in arms:
        walls = [r["wall_s"] for r in runs[arm]]
        gaps = [1000 * (h - b) for h, b in zip(walls, bare, strict=True)]
        rows.append(f"| wall, {arm} - bare (paired) | " + " | ".join(
            _cell(gaps, 0) if a == arm else "" for a in arms) + " |")  # fmt: skip
    rows.append(f"| wall, bare | {_cell([1000 * w for w in bare], 0)} |" + " |" * (len(arms) - 1))
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument(
        "--before", type=Path, help="another action/ folder (an older keras-ct) as one more arm, interleaved"
    )
    parser.add_argument("--out", type=Path, help="also write the runs as JSON here")
    args = parser.parse_args(argv)
    train = [str(ROOT / "ml_task" / "train.py"), "--dataset", "digits"]
    packages: dict[str, Path | None] = {"bare": None, "hooks": ROOT / "action"}
    if args.before:
        packages["hooks, before"] = args.before.resolve()
    runs: dict[str, list[dict[str, Any]]] = {arm: [] for arm in packages}
    with tempfile.TemporaryDirectory(prefix="keras-ct-split-") as tmp:
        work = Path(tmp)
        (work / "keras-home").mkdir()
        one(work, None, train)  # warm-up, not counted
        for i in range(args.repeats):
            order = list(packages)[i % len(packages) :] + list(packages)[: i % len(packages)]
            for arm in order:
                runs[arm].append(one(work, packages[arm], train))
            said = ", ".join(f"{arm} {runs[arm][-1]['wall_s']:.2f}s" for arm in packages)
            print(f"[split] {i + 1}/{args.repeats}: {said}", file=sys.stderr, flush=True)
    print(f"load average at the end {os.getloadavg()}")
    print(table(runs))
    if args.out:
        args.out.write_text(json.dumps(runs, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
