"""The GPU path, switch by switch: ml_task/train.py on MNIST-shaped data with and without each switch.

    python bench/gpu_bench.py --out bench/out/gpu                  # on the GPU (what gpu_check.sh runs)
    python bench/gpu_bench.py --out bench/out/cpu --device cpu     # the CPU figures to compare with

Each configuration is one ``ml_task/train.py`` run (its own process, as keras-ct runs it) with the
KERAS_CT_* switches of ``keras_ct.keras.performance`` set; the metrics file gives the accuracy, the
seconds of every epoch and what was decided. images/s is measured on the epochs after the first
(the first one pays tracing and XLA compilation, reported separately).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:0] = [str(ROOT), str(ROOT / "action")]

OFF = {
    "KERAS_CT_TF_DATA": "off",
    "KERAS_CT_STEPS_PER_EXECUTION": "1",
    "KERAS_CT_JIT_COMPILE": "off",
    "KERAS_CT_MIXED_PRECISION": "off",
    "KERAS_CT_DISTRIBUTE": "off",
}
CONFIGS: dict[str, dict[str, str]] = {
    "baseline (every switch off)": OFF,
    "+ tf.data (cache, shuffle, prefetch)": {**OFF, "KERAS_CT_TF_DATA": "on"},
    "+ steps_per_execution 32": {**OFF, "KERAS_CT_STEPS_PER_EXECUTION": "32"},
    "+ XLA (jit_compile)": {**OFF, "KERAS_CT_JIT_COMPILE": "on"},
    "+ mixed_float16": {**OFF, "KERAS_CT_MIXED_PRECISION": "float16"},
    "+ mixed_bfloat16": {**OFF, "KERAS_CT_MIXED_PRECISION": "bfloat16"},
    "all on (tf.data, spe 32, XLA, float16)": {
        **OFF,
        "KERAS_CT_TF_DATA": "on",
        "KERAS_CT_STEPS_PER_EXECUTION": "32",
        "KERAS_CT_JIT_COMPILE": "on",
        "KERAS_CT_MIXED_PRECISION": "float16",
    },
    "auto (keras-ct's default)": {},
}
CPU_CONFIGS = (
    "baseline (every switch off)",
    "+ tf.data (cache, shuffle, prefetch)",
    "+ steps_per_execution 32",
    "+ XLA (jit_compile)",
    "auto (keras-ct's default)",
)


def mnist_shaped(path: Path, samples: int) -> str:
    """MNIST when it downloads; else digits upscaled to 28x28 and jittered to MNIST's size (synthetic)."""
    import numpy as np

    try:
        import keras

        (x_train, y_train), (x_test, y_test) = keras.datasets.mnist.load_data()
        x_train = (x_train[..., None] / 255.0).astype("float32")
        x_test = (x_test[..., None] / 255.0).astype("float32")
        source = "MNIST"
    except Exception as exc:  # no network: keras raises a bare Exception
        from bench.tasks import load

        print(f"MNIST did not download ({str(exc).splitlines()[0][:80]}); using synthetic MNIST-shaped data")
        x, y, xt, yt = load("digits_cnn")
        rng = np.random.default_rng(0)

        def jitter(images: Any, labels: Any, n: int) -> tuple[Any, Any]:
            pick = rng.integers(0, len(images), size=n)
            out = images[pick].copy()
            shifts = rng.integers(-2, 3, size=(n, 2))
            for i in range(n):
                out[i] = np.roll(out[i], tuple(shifts[i]), axis=(0, 1))
            out += rng.normal(0, 0.05, size=out.shape).astype("float32")
            return np.clip(out, 0, 1).astype("float32"), labels[pick]

        x_train, y_train = jitter(x, y, 60_000)
        x_test, y_test = jitter(xt, yt, 10_000)
        source = "synthetic (digits x3, jittered)"
    np.savez(path, x_train=x_train[:samples], y_train=y_train[:samples], x_test=x_test, y_test=y_test)
    return f"{source}, {min(samples, len(x_train))} training images"


def run_config(
    name: str, switches: dict[str, str], args: argparse.Namespace, data: Path, cpu: bool
) -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KERAS_CT_")}
    env.update(switches)
    env.update(
        KERAS_CT_METRICS_FILE=str(args.out / "metrics.json"),
        KERAS_CT_MODEL_PATH=str(args.out / "model.keras"),
        PYTHONPATH=str(ROOT / "action"),
        TF_CPP_MIN_LOG_LEVEL="2",
    )
    if cpu:
        env["CUDA_VISIBLE_DEVICES"] = "-1"
    argv = [sys.executable, str(ROOT / "ml_task" / "train.py"), "--dataset", str(data), "--epochs", str(args.epochs),
            "--batch-size", str(args.batch_size)]  # fmt: skip
    started = time.perf_counter()
    done = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - started
    (args.out / f"log-{name[:20].replace(' ', '_')}.txt").write_text(done.stdout + done.stderr)
    if done.returncode != 0:
        tail = (done.stdout + done.stderr).strip().splitlines()[-3:]
        return {"config": name, "error": " | ".join(tail)}
    m = json.loads((args.out / "metrics.json").read_text())
    epochs = m["timings"]["epoch_s"]
    steady = statistics.median(epochs[1:]) if len(epochs) > 1 else epochs[0]
    return {
        "config": name,
        "accuracy": m["accuracy"],
        "first_epoch_s": epochs[0],
        "epoch_s": steady,
        "images_per_s": (args.fit_images / steady) if steady > 0 else None,
        "wall_s": wall,
        "hardware": m.get("hardware"),
        "decided": {k: v for k, v in m["performance"].items() if k != "why"},
        "n": 1,
    }


def _median_row(name: str, runs: list[dict[str, Any]]) -> dict[str, Any]:
    ok = [r for r in runs if "error" not in r]
    if not ok:
        return runs[-1]
    row = dict(ok[0])
    for key in ("accuracy", "first_epoch_s", "epoch_s", "images_per_s", "wall_s"):
        values = [r[key] for r in ok if r.get(key) is not None]
        row[key] = statistics.median(values) if values else None
        row[f"{key}_range"] = (min(values), max(values)) if values else None
    row["n"] = len(ok)
    return row


def table(rows: list[dict[str, Any]], baseline: float | None) -> str:
    lines = [
        "| configuration | images/s (min-max) | epoch s (steady) | first epoch s | test accuracy | vs baseline | n |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['config']} | failed: {r['error'][:120]} | | | | | |")
            continue
        speed = f"{r['images_per_s'] / baseline:.2f}x" if baseline and r["images_per_s"] else ""
        low, high = r.get("images_per_s_range") or (r["images_per_s"], r["images_per_s"])
        lines.append(
            f"| {r['config']} | {r['images_per_s']:,.0f} ({low:,.0f}-{high:,.0f}) | {r['epoch_s']:.2f} "
            f"| {r['first_epoch_s']:.2f} | {r['accuracy']:.4f} | {speed} | {r['n']} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--device", choices=("auto", "cpu"), default="auto", help="cpu hides the GPUs")
    parser.add_argument("--samples", type=int, default=60_000, help="training images (default: 60000)")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--configs", default="", help="names separated by ';' (default: all, or the CPU set)")
    parser.add_argument("--repeats", type=int, default=1, help="runs per configuration, interleaved (median)")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("KERAS_HOME", str(args.out / "keras-home"))
    cpu = args.device == "cpu"
    data = args.out / "mnist-shaped.npz"
    source = mnist_shaped(data, args.samples)
    args.fit_images = int(min(args.samples, 60_000) * 0.9)  # train.py holds out 10% for validation
    names = [c.strip() for c in args.configs.split(";") if c.strip()] or list(CPU_CONFIGS if cpu else CONFIGS)
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in names}
    for rep in range(args.repeats):  # interleaved: every configuration once per repeat
        for name in names:
            r = run_config(name, CONFIGS[name], args, data, cpu)
            runs[name].append(r)
            print(
                f"[{rep + 1}/{args.repeats}] {name}: " + (f"failed: {r['error']}" if "error" in r else
                f"{r['images_per_s']:,.0f} images/s, epoch {r['epoch_s']:.2f}s, accuracy {r['accuracy']:.4f}"),
                flush=True,
            )  # fmt: skip
    rows = [_median_row(name, rs) for name, rs in runs.items()]
    base = next((r.get("images_per_s") for r in rows if r["config"].startswith("baseline")), None)
    hardware = next((r["hardware"] for r in rows if r.get("hardware")), "unknown")
    text = (
        f"Device: {'CPU (GPUs hidden)' if cpu else hardware}; data: {source}; {args.epochs} epochs, "
        f"batch {args.batch_size}; median of {args.repeats} interleaved run(s) per configuration.\n\n"
        + table(rows, base)
        + "\n"
    )
    (args.out / "results.md").write_text(text)
    (args.out / "results.json").write_text(json.dumps({"source": source, "rows": rows, "cpu": cpu}, indent=1))
    print(text)
    return 0 if all("error" not in r for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
