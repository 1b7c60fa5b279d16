"""Where the hooks' time goes inside the training process: each part they add, in ms, on ml_task.

    .venv/bin/python bench/hooks_split.py --repeats 5      # the default train command, 10 epochs on digits

Runs keras-ct's default train command with its hooks (``train/hooks/sitecustomize.py``, the
``KERAS_CT_*`` variables keras-ct sets) under a wrapper that times every part the hooks add: the
import of keras_ct's modules and the patching once Keras is loaded, each callback's calls (per epoch and
at the train's start and end), the checkpoint saves, the saved model, the metrics file at exit. The
same command runs bare (no hooks) interleaved with it, for the wall time the parts should account for.
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


def environment(work: Path, hooks: bool) -> dict[str, str]:
    """The child's environment: keras-ct's hooks and ``KERAS_CT_*`` variables (as ``train/launch.py``
    sets them for round 1), or the bare run's (keras_ct importable, for the script's performance helper)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KERAS_CT_", "PYTHONPATH"))}
    env.update(KERAS_HOME=str(work / "keras-home"), TF_CPP_MIN_LOG_LEVEL="3", PYTHONUNBUFFERED="1")
    action = str(ROOT / "action")
    if not hooks:
        return {**env, "PYTHONPATH": action, "KERAS_CT_MODEL_PATH": str(work / "bare" / "model.keras")}
    run = work / "round-1"
    return {
        **env,
        "PYTHONPATH": os.pathsep.join([str(ROOT / "action" / "keras_ct" / "train" / "hooks"), action]),
        "KERAS_CT_AUTOLOG": "1",
        "KERAS_CT_METRIC": "accuracy",
        "KERAS_CT_METRICS_FILE": str(run / "metrics.json"),
        "KERAS_CT_ROUND": "1",
        "KERAS_CT_CHECKPOINT_DIR": str(run / "resume"),
        "KERAS_CT_MODEL_PATH": str(run / "model.keras"),
    }


def one(work: Path, hooks: bool, argv: list[str]) -> dict[str, Any]:
    """One run of the train command; its wall time and (with hooks) the parts' seconds."""
    out = work / "parts.json"
    out.unlink(missing_ok=True)
    for stale in (work / "round-1" / "metrics.json",):
        stale.unlink(missing_ok=True)
    child = work / "child.py"
    child.write_text(CHILD)
    began = time.perf_counter()
    subprocess.run(
        [str(PY), str(child), str(out), *argv],
        cwd=work,
        env=environment(work, hooks),
        check=True,
        stdout=subprocess.DEVNULL,
    )
    wall = time.perf_counter() - began
    measured = json.loads(out.read_text())
    return {"wall_s": wall, "parts": {k: v[1] for k, v in measured["parts"].items()}}


def table(bare: list[dict[str, Any]], hooked: list[dict[str, Any]]) -> str:
    names = sorted({k for run in hooked for k in run["parts"]})
    rows = ["| part (sum per run) | median ms (min-max) |", "|---|---|"]
    for name in names:
        values = [1000 * run["parts"].get(name, 0.0) for run in hooked]
        rows.append(f"| {name} | {statistics.median(values):.1f} ({min(values):.1f}-{max(values):.1f}) |")
    walls = {arm: [r["wall_s"] for r in runs] for arm, runs in (("bare", bare), ("hooks", hooked))}
    gaps = [1000 * (h - b) for h, b in zip(walls["hooks"], walls["bare"], strict=True)]
    for arm, values in walls.items():
        rows.append(f"| wall, {arm} | {1000 * statistics.median(values):.0f} ({1000 * min(values):.0f}-"
                    f"{1000 * max(values):.0f}) |")  # fmt: skip
    rows.append(
        f"| wall, hooks - bare (paired) | {statistics.median(gaps):.0f} ({min(gaps):.0f}-{max(gaps):.0f}) |"
    )
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", type=Path, help="also write the runs as JSON here")
    args = parser.parse_args(argv)
    train = [str(ROOT / "ml_task" / "train.py"), "--dataset", "digits"]
    bare, hooked = [], []
    with tempfile.TemporaryDirectory(prefix="keras-ct-split-") as tmp:
        work = Path(tmp)
        (work / "keras-home").mkdir()
        one(work, False, train)  # warm-up, not counted
        for i in range(args.repeats):
            for hooks in (False, True) if i % 2 == 0 else (True, False):
                (hooked if hooks else bare).append(one(work, hooks, train))
            print(f"[split] {i + 1}/{args.repeats}: bare {bare[-1]['wall_s']:.2f}s, hooks {hooked[-1]['wall_s']:.2f}s",
                  file=sys.stderr, flush=True)  # fmt: skip
    print(f"load average {os.getloadavg()}")
    print(table(bare, hooked))
    if args.out:
        args.out.write_text(json.dumps({"bare": bare, "hooks": hooked}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
