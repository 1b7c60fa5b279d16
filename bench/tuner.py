"""KerasTuner's arm: RandomSearch and Hyperband over each task's space (bench/versus.py), in one process.

    python bench/tuner.py IN.json OUT.json

IN: ``{"searches": [{"task", "tuner": "random"|"hyperband", "seed", "max_trials"}]}``. Each search
trains on the task's data, validation split and batch size (bench/tasks, as the keras-ct loops do),
KerasTuner's objective is the validation accuracy, and every trial's model is then evaluated on the
held-out test set (not timed): a search stops after the first trial at or above the task's threshold,
or after ``max_trials``. OUT: per search, every trial in order (values, epochs trained, fit seconds
from an epoch clock, test accuracy) and the search's wall time (KerasTuner's own work included).
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent), str(HERE.parent / "action")]

from bench.tasks import TASKS, Task, load, validation_split  # noqa: E402
from bench.tasks.train import _epoch_clock  # noqa: E402
from bench.versus import SPACES, Space  # noqa: E402


def build(space: Space, hp: Any, input_shape: tuple[int, ...], classes: int, epochs: int) -> Any:
    """The model for one point of ``space``; the start model is the point with every change off."""
    import keras
    from keras import layers

    c = space.choices(epochs)
    batchnorm = hp.Choice("batchnorm", c["batchnorm"])
    stack: list[Any] = [keras.Input(shape=input_shape)]
    if "augment" in c and hp.Choice("augment", c["augment"]):
        stack.append(layers.RandomTranslation(0.1, 0.1))  # shifts only: no flips for digits
    if space.kind != "dense":
        conv, pool = (
            (layers.Conv2D, layers.MaxPooling2D)
            if space.kind == "conv2d"
            else (layers.Conv1D, layers.MaxPooling1D)
        )
        width = hp.Choice("width", c["width"])
        for i in range(1 + hp.Choice("conv_blocks", c["conv_blocks"])):
            stack.append(conv(space.filters * width * 2**i, space.kernel, padding="same", activation="relu"))
            if batchnorm:
                stack.append(layers.BatchNormalization())
            if i > 0 or space.pool_first:
                stack.append(pool())
    stack.append(layers.Flatten())
    units = hp.Choice("dense_units", c["dense_units"])
    if units:
        stack.append(layers.Dense(units, activation="relu"))
        if batchnorm and space.kind == "dense":
            stack.append(layers.BatchNormalization())
    dropout = hp.Choice("dropout", c["dropout"])
    if dropout:
        stack.append(layers.Dropout(dropout))
    stack.append(layers.Dense(classes, activation="softmax"))
    model = keras.Sequential(stack)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def search(task: Task, tuner_name: str, seed: int, max_trials: int, workdir: Path) -> dict[str, Any]:
    import keras_tuner as kt
    import numpy as np

    import keras

    x_train, y_train, x_test, y_test = load(task.name)
    (x_fit, y_fit), (x_val, y_val) = validation_split(x_train, y_train, task.val_fraction)
    space = SPACES[task.name]
    trials: list[dict[str, Any]] = []
    classes = int(np.max(y_train)) + 1

    class Bench(kt.HyperModel):
        def build(self, hp: Any) -> Any:
            return build(space, hp, tuple(x_fit.shape[1:]), classes, task.epochs)

        def fit(self, hp: Any, model: Any, *args: Any, **kwargs: Any) -> Any:
            if tuner_name == "random":
                kwargs["epochs"] = hp.Choice("epochs", space.choices(task.epochs)["epochs"])
            clock = _epoch_clock(x_test, y_test, False)
            kwargs["callbacks"] = [clock, *kwargs.get("callbacks", [])]
            history = model.fit(*args, **kwargs)
            _, accuracy = model.evaluate(x_test, y_test, batch_size=256, verbose=0)
            trials.append(
                {
                    "values": {k: v for k, v in hp.values.items()},
                    "epochs": len(clock.epoch_s),
                    "fit_s": sum(clock.epoch_s),
                    "accuracy": float(accuracy),
                }
            )
            return history

    tuner = _tuner(kt, Bench(), tuner_name, task, seed, max_trials, workdir, trials)
    keras.utils.set_random_seed(seed)
    started = time.perf_counter()
    tuner.search(x_fit, y_fit, validation_data=(x_val, y_val), batch_size=task.batch_size, verbose=0)
    return {
        "task": task.name,
        "tuner": tuner_name,
        "seed": seed,
        "max_trials": max_trials,
        "space_size": space.size(task.epochs),
        "trials": trials,
        "wall_s": time.perf_counter() - started,
        "keras_tuner": kt.__version__,
    }


def _tuner(
    kt: Any,
    hypermodel: Any,
    name: str,
    task: Task,
    seed: int,
    max_trials: int,
    workdir: Path,
    trials: list[dict[str, Any]],
) -> Any:
    """RandomSearch or Hyperband, ended after the first trial at the threshold (the oracle's trial cap)."""
    common = {
        "objective": "val_accuracy",
        "seed": seed,
        "directory": str(workdir),
        "project_name": f"{task.name}-{name}-{seed}",
        "overwrite": True,
    }
    if name == "random":
        tuner = kt.RandomSearch(hypermodel, max_trials=max_trials, **common)
    else:
        tuner = kt.Hyperband(
            hypermodel, max_epochs=4 * task.epochs, factor=3, hyperband_iterations=1, **common
        )
        tuner.oracle.max_trials = max_trials
    original = tuner.on_trial_end

    def on_trial_end(trial: Any) -> None:
        original(trial)
        if trials and trials[-1]["accuracy"] >= task.threshold:
            tuner.oracle.max_trials = len(tuner.oracle.trials)

    tuner.on_trial_end = on_trial_end
    return tuner


def main(argv: list[str]) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    spec = json.loads(Path(argv[0]).read_text())
    out = []
    with tempfile.TemporaryDirectory(prefix="keras-ct-tuner-") as workdir:
        for s in spec["searches"]:
            result = search(TASKS[s["task"]], s["tuner"], s["seed"], s["max_trials"], Path(workdir))
            accs = ", ".join(f"{t['accuracy']:.3f}" for t in result["trials"])
            print(
                f"tuner {s['tuner']} seed {s['seed']} on {s['task']}: [{accs}] {result['wall_s']:.0f}s",
                flush=True,
            )
            out.append(result)
            Path(argv[1]).write_text(json.dumps({"searches": out}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
