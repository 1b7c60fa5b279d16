#!/usr/bin/env bash
# keras-ct's GPU check: one prepared script, under 5 minutes on a GPU machine.
#
#   bench/gpu_check.sh              # GPU half (every switch on and off) + CPU half (the figures to beat)
#   bench/gpu_check.sh --cpu-only   # only the CPU half (works on any machine; proves the script runs)
#
# It installs what it needs (TensorFlow with CUDA and scikit-learn, into .venv-gpu) when the Python
# it finds cannot see a GPU, runs ml_task/train.py on MNIST (synthetic MNIST-shaped data when MNIST
# cannot be downloaded) once per configuration of keras_ct.keras.performance's switches, and prints
# images/s, epoch time and accuracy for each, then the same on the CPU for comparison.
# Results: $OUT/gpu/results.{md,json} and $OUT/cpu/results.{md,json} (OUT defaults to bench/out).
# Environment: PYTHON (interpreter to use), GPU_SAMPLES / CPU_SAMPLES (training images, default
# 60000 / 12000), EPOCHS (default 3), GPU_REPEATS / CPU_REPEATS (interleaved runs per configuration,
# default 1 / 3), BUDGET_S (seconds for the GPU half, default 200).
set -euo pipefail
cd "$(dirname "$0")/.."

OUT=${OUT:-bench/out}
GPU_SAMPLES=${GPU_SAMPLES:-60000}
CPU_SAMPLES=${CPU_SAMPLES:-12000}
EPOCHS=${EPOCHS:-3}
GPU_REPEATS=${GPU_REPEATS:-1}
CPU_REPEATS=${CPU_REPEATS:-3}
BUDGET_S=${BUDGET_S:-200}
CPU_ONLY=false
[ "${1:-}" = "--cpu-only" ] && CPU_ONLY=true

pick_python() {
  if [ -n "${PYTHON:-}" ]; then echo "$PYTHON"
  elif [ -x .venv-gpu/bin/python ]; then echo .venv-gpu/bin/python
  elif [ -x .venv/bin/python ]; then echo .venv/bin/python
  else command -v python3; fi
}
PY=$(pick_python)
export PYTHONPATH="$PWD/action${PYTHONPATH:+:$PYTHONPATH}" TF_CPP_MIN_LOG_LEVEL=2 KERAS_HOME="$PWD/$OUT/keras-home"
mkdir -p "$OUT" "$KERAS_HOME"
started=$(date +%s)

echo "== machine"
uname -srm; nproc
if command -v nvidia-smi >/dev/null; then
  nvidia-smi --query-gpu=name,compute_cap,memory.total,driver_version --format=csv,noheader || true
else
  echo "no nvidia-smi on this machine"
fi

if ! $CPU_ONLY; then
  if ! command -v nvidia-smi >/dev/null; then
    echo "::error::no GPU (nvidia-smi not found); run bench/gpu_check.sh --cpu-only here" >&2
    exit 1
  fi
  gpus=$("$PY" -c 'import tensorflow as tf; print(len(tf.config.list_physical_devices("GPU")))' 2>/dev/null || echo 0)
  if [ "$gpus" = "0" ]; then
    echo "== installing TensorFlow with CUDA into .venv-gpu ($PY sees no GPU)"
    python3 -m venv .venv-gpu
    if ! .venv-gpu/bin/pip install --quiet "tensorflow[and-cuda]>=2.16" scikit-learn; then
      echo "::error::could not install tensorflow[and-cuda] (no network? set PYTHON to an interpreter with a GPU TensorFlow)" >&2
      exit 1
    fi
    PY=.venv-gpu/bin/python
    gpus=$("$PY" -c 'import tensorflow as tf; print(len(tf.config.list_physical_devices("GPU")))')
    [ "$gpus" != "0" ] || { echo "::error::TensorFlow still sees no GPU (driver/CUDA mismatch?)" >&2; exit 1; }
  fi
  echo "== GPU half: $gpus GPU(s), $GPU_SAMPLES images, $EPOCHS epochs, every switch"
  timeout "$BUDGET_S" "$PY" bench/gpu_bench.py --out "$OUT/gpu" --samples "$GPU_SAMPLES" --epochs "$EPOCHS" --repeats "$GPU_REPEATS" \
    || echo "::warning::the GPU half stopped early (budget ${BUDGET_S}s or a failed configuration); see $OUT/gpu"
fi

echo "== CPU half: GPUs hidden, $CPU_SAMPLES images, $EPOCHS epochs"
"$PY" bench/gpu_bench.py --out "$OUT/cpu" --device cpu --samples "$CPU_SAMPLES" --epochs "$EPOCHS" --repeats "$CPU_REPEATS"

echo "== done in $(( $(date +%s) - started )) s; results in $OUT/gpu and $OUT/cpu"
