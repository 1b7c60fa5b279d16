"""Train one bench task: the train command of the benchmark's loops, and the in-process replays.

    python bench/tasks/train.py --task mlp --epochs 8      # what `keras-ct loop` runs in a task copy

Like ml_task/train.py it follows keras-ct's contract: the model from $KERAS_CT_MODEL_FILE, the
metrics file to $KERAS_CT_METRICS_FILE, the trained model to $KERAS_CT_MODEL_PATH, and a warm start
from $KERAS_CT_WARM_START_FROM (keras_ct.keras.warmstart). ``train()`` is the same training in the
calling process, so the replays measure exactly what the loop trained.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
import time
import types
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent.parent), str(HERE.parent.parent / "action")]

from bench.tasks import SEED, TASKS, Task, load, validation_split  # noqa: E402


@dataclass
class TrainResult:
    accuracy: float
    history: dict[str, list[float]]
    fit_s: float
    epoch_s: list[float]
    test_curve: list[float] = field(default_factory=list)  # test accuracy after each epoch (when asked)
    params: int = 0
    warm: dict[str, Any] | None = None
    model: Any = None
    probes: list[tuple[float, float]] = field(default_factory=list)  # (training seconds, test accuracy)
    test_samples: int = 0


def build_function(source: str | None = None, path: Path | None = None, name: str = "build_model") -> Any:
    """The model function from a file or from source text (a round's model file in the replays)."""
    if source is None:
        assert path is not None
        spec = importlib.util.spec_from_file_location("bench_task_model", path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    else:
        module = types.ModuleType("bench_task_model")
        exec(compile(source, str(path or "model.py"), "exec"), module.__dict__)
    return getattr(module, name)


def train(
    task: Task,
    build_model: Any,
    epochs: int,
    *,
    seed: int = SEED,
    warm_from: Any = None,
    test_each_epoch: bool = False,
    probes_per_epoch: int = 0,
) -> TrainResult:
    """Build (fresh layer names), warm-start from a model or a ``.keras`` path, fit, evaluate."""
    import keras
    from keras_ct.keras.warmstart import transfer_weights, warm_start

    x_train, y_train, x_test, y_test = load(task.name)
    (x_fit, y_fit), (x_val, y_val) = validation_split(x_train, y_train, task.val_fraction)
    keras.backend.clear_session()
    keras.utils.set_random_seed(seed)
    model = build_model()
    warm = None
    if isinstance(warm_from, str | Path):
        warm = warm_start(model, warm_from)
    elif warm_from is not None:
        warm = transfer_weights(warm_from, model).to_json()
    steps = -(-len(x_fit) // task.batch_size)
    probe_every = max(1, steps // probes_per_epoch) if probes_per_epoch else 0
    clock = _epoch_clock(x_test, y_test, test_each_epoch, probe_every)
    started = time.perf_counter()
    fit = model.fit(
        x_fit,
        y_fit,
        validation_data=(x_val, y_val),
        epochs=epochs,
        batch_size=task.batch_size,
        callbacks=[clock],
        verbose=0,
    )
    fit_s = time.perf_counter() - started - clock.test_s
    _, accuracy = model.evaluate(x_test, y_test, batch_size=256, verbose=0)
    history = {
        k: [float(v) for v in fit.history[k]] for k in ("loss", "accuracy", "val_loss", "val_accuracy")
    }
    return TrainResult(
        float(accuracy),
        history,
        fit_s,
        clock.epoch_s,
        clock.test_curve,
        model.count_params(),
        warm,
        model,
        clock.probes,
        len(x_test),
    )


def _epoch_clock(x_test: Any, y_test: Any, test_each_epoch: bool, probe_every: int = 0) -> Any:
    """Seconds per epoch; the test accuracy after each epoch and, with ``probe_every``, every that many
    batches (``probes``: training seconds so far, test accuracy). Test time is never counted."""
    import numpy as np

    import keras

    class EpochClock(keras.callbacks.Callback):
        def __init__(self) -> None:
            super().__init__()
            self.epoch_s: list[float] = []
            self.test_curve: list[float] = []
            self.probes: list[tuple[float, float]] = []
            self.test_s = 0.0
            self._begin = self._fit_start = self._epoch_test = 0.0

        def on_train_begin(self, logs: Any = None) -> None:
            self._fit_start = time.perf_counter()

        def _probe(self) -> float:
            mark = time.perf_counter()
            # A forward pass, not evaluate(): evaluate would reset the running training metrics.
            predicted = np.argmax(np.asarray(self.model(x_test, training=False)), axis=-1)
            accuracy = float(np.mean(predicted == np.asarray(y_test)))
            spent = time.perf_counter() - mark
            self.probes.append((mark - self._fit_start - self.test_s, accuracy))
            self.test_s += spent
            self._epoch_test += spent
            return accuracy

        def on_epoch_begin(self, epoch: int, logs: Any = None) -> None:
            self._begin = time.perf_counter()
            self._epoch_test = 0.0

        def on_train_batch_end(self, batch: int, logs: Any = None) -> None:
            if probe_every and (batch + 1) % probe_every == 0:
                self._probe()

        def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
            self.epoch_s.append(time.perf_counter() - self._begin - self._epoch_test)
            if test_each_epoch:
                self.test_curve.append(self._probe())

    return EpochClock()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Train a keras-ct bench task.")
    parser.add_argument("--task", required=True, choices=sorted(TASKS))
    parser.add_argument("--epochs", type=int, default=None, help="default: the task's")
    args = parser.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    task = TASKS[args.task]
    from keras_ct.keras.callbacks import write_metrics

    model_file = Path(os.environ.get("KERAS_CT_MODEL_FILE") or task.model_file)
    result = train(
        task,
        build_function(path=model_file),
        args.epochs or task.epochs,
        warm_from=os.environ.get("KERAS_CT_WARM_START_FROM") or None,
    )
    output = os.environ.get("KERAS_CT_MODEL_PATH")
    if output:
        Path(output).parent.mkdir(parents=True, exist_ok=True)
        result.model.save(output)
    write_metrics(
        accuracy=result.accuracy,
        history=result.history,
        epochs=args.epochs or task.epochs,
        params=result.params,
        duration_s=result.fit_s,
        dataset=task.name,
        test_samples=result.test_samples,
        **({"warm_start": result.warm} if result.warm is not None else {}),
    )
    print(
        f"{task.name}: test accuracy {result.accuracy:.4f}, params {result.params}, fit {result.fit_s:.2f}s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
