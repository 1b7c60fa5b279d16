"""Train the example model and write keras-ct's metrics file.

    python ml_task/train.py --dataset digits                 # offline: scikit-learn's digits, 10 epochs
    python ml_task/train.py --dataset mnist                  # real runners: downloads MNIST once
    python ml_task/train.py --dataset data.npz               # x_train, y_train, x_test, y_test

The metric is the held-out test accuracy. Everything keras-ct needs comes from the environment it
sets (KERAS_CT_METRICS_FILE, KERAS_CT_CHECKPOINT_DIR, KERAS_CT_MODEL_FILE, KERAS_CT_MODEL_PATH);
run by hand, the script just trains and prints.
"""

from __future__ import annotations

import argparse
import importlib.util
import math
import os
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SEED = 42


class DataError(Exception):
    """A dataset that cannot be loaded; the message says how to fix it."""


def load_digits_28():
    """scikit-learn's bundled 8x8 digits, scaled x3 and padded to MNIST's 28x28x1 (works offline)."""
    import numpy as np
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    x = digits.images.astype("float32") / 16.0
    x = np.kron(x, np.ones((1, 3, 3), dtype="float32"))  # 8x8 -> 24x24
    x = np.pad(x, ((0, 0), (2, 2), (2, 2)))[..., None]  # -> 28x28x1, like MNIST's centred digits
    y = digits.target.astype("int64")
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.2, stratify=y, random_state=SEED)
    return x_train, y_train, x_test, y_test


def load_mnist():
    import keras

    try:
        (x_train, y_train), (x_test, y_test) = keras.datasets.mnist.load_data()
    except Exception as exc:  # keras raises a bare Exception on a failed download
        raise DataError(
            f"could not download MNIST ({str(exc).splitlines()[0][:160]}): this machine seems to have no "
            "internet access. Use --dataset digits (scikit-learn's bundled digits, offline) or "
            "--dataset path/to/data.npz with x_train, y_train, x_test, y_test"
        ) from None
    return (
        (x_train[..., None] / 255.0).astype("float32"),
        y_train,
        (x_test[..., None] / 255.0).astype("float32"),
        y_test,
    )


def load_npz(path: Path):
    import numpy as np

    if not path.is_file():
        raise DataError(
            f'dataset "{path}" does not exist; give --dataset digits, mnist, or the path of an .npz file '
            "with x_train, y_train, x_test, y_test"
        )
    with np.load(path) as data:
        missing = [k for k in ("x_train", "y_train", "x_test", "y_test") if k not in data]
        if missing:
            raise DataError(
                f'dataset "{path}" lacks the arrays {", ".join(missing)} (it has: {", ".join(data.files)})'
            )
        arrays = [data[k] for k in ("x_train", "y_train", "x_test", "y_test")]
    x_train, y_train, x_test, y_test = arrays
    if x_train.ndim == 3:
        x_train, x_test = x_train[..., None], x_test[..., None]
    return x_train.astype("float32"), y_train, x_test.astype("float32"), y_test


def load_dataset(name: str):
    if name == "digits":
        return load_digits_28()
    if name == "mnist":
        return load_mnist()
    if name.endswith(".npz") or os.sep in name or "/" in name:
        return load_npz(Path(name))
    raise DataError(f'unknown dataset "{name}"; use digits, mnist, or the path of an .npz file')


def load_model_function(path: Path, name: str):
    if not path.is_file():
        raise DataError(f'model file "{path}" does not exist')
    spec = importlib.util.spec_from_file_location("keras_ct_user_model", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    function = getattr(module, name, None)
    if not callable(function):
        raise DataError(f'model file "{path}" defines no function {name}()')
    return function


def validation_split(x, y, fraction: float = 0.1):
    from sklearn.model_selection import train_test_split

    x_fit, x_val, y_fit, y_val = train_test_split(x, y, test_size=fraction, stratify=y, random_state=SEED)
    return (x_fit, y_fit), (x_val, y_val)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--dataset", default="digits", help="digits (offline), mnist, or a .npz path (default: digits)"
    )
    parser.add_argument("--epochs", type=int, default=10, help="training epochs (default: 10)")
    parser.add_argument("--batch-size", type=int, default=64, help="batch size (default: 64)")
    parser.add_argument("--seed", type=int, default=SEED, help=f"random seed (default: {SEED})")
    parser.add_argument(
        "--model-file",
        type=Path,
        default=Path(os.environ.get("KERAS_CT_MODEL_FILE") or HERE / "model.py"),
        help="model file (default: $KERAS_CT_MODEL_FILE or ml_task/model.py)",
    )
    parser.add_argument(
        "--model-function", default=os.environ.get("KERAS_CT_MODEL_FUNCTION") or "build_model"
    )
    parser.add_argument(
        "--output",
        type=Path,
        default=Path(os.environ.get("KERAS_CT_MODEL_PATH") or HERE / "model.keras"),
        help="where to save the trained model (default: $KERAS_CT_MODEL_PATH or ml_task/model.keras)",
    )
    args = parser.parse_args(argv)
    if args.epochs < 1 or args.batch_size < 1:
        parser.error("--epochs and --batch-size must be at least 1")
    return args


def main(argv=None) -> int:
    started_process = time.perf_counter()
    args = parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    timings = {}
    try:
        x_train, y_train, x_test, y_test = load_dataset(args.dataset)
        timings["data_s"] = time.perf_counter() - started_process
        mark = time.perf_counter()
        build_model = load_model_function(args.model_file, args.model_function)  # imports Keras
    except DataError as exc:
        print(f"train.py: error: {exc}", file=sys.stderr)
        return 2

    import keras

    from keras_ct.keras import performance
    from keras_ct.keras.callbacks import resume_callbacks, write_metrics
    from keras_ct.keras.warmstart import warm_start

    timings["import_s"] = time.perf_counter() - mark
    mark = time.perf_counter()
    keras.utils.set_random_seed(args.seed)
    (x_fit, y_fit), (x_val, y_val) = validation_split(x_train, y_train)
    steps = math.ceil(len(x_fit) / args.batch_size)
    hardware = performance.detect_hardware()
    try:
        settings = performance.decide(hardware, os.environ, steps_per_epoch=steps)
    except performance.PerformanceSettingError as exc:
        print(f"train.py: error: {exc}", file=sys.stderr)
        return 2
    performance.apply_precision(settings)
    with performance.scope(settings):
        model = build_model()
        settings = performance.decide(
            hardware, os.environ, params=model.count_params(), steps_per_epoch=steps
        )
        model = performance.prepare_model(model, settings)
    # Round n+1 starts from round n's weights where the layers match ($KERAS_CT_WARM_START_FROM).
    warm = warm_start(model)
    callbacks, epoch_log = resume_callbacks()
    timer = performance.epoch_timer()
    callbacks.append(timer)
    train_data = performance.dataset(x_fit, y_fit, args.batch_size, settings, shuffle=True, seed=args.seed)
    val_data = performance.dataset(x_val, y_val, args.batch_size, settings, shuffle=False, seed=args.seed)
    timings["build_s"] = time.perf_counter() - mark
    started = time.perf_counter()
    if train_data is not None:
        fit = model.fit(
            train_data, validation_data=val_data, epochs=args.epochs, callbacks=callbacks, verbose=2
        )
    else:
        fit = model.fit(
            x_fit,
            y_fit,
            validation_data=(x_val, y_val),
            epochs=args.epochs,
            batch_size=args.batch_size,
            callbacks=callbacks,
            verbose=2,
        )
    timings["fit_s"] = time.perf_counter() - started
    _, accuracy = model.evaluate(x_test, y_test, batch_size=args.batch_size, verbose=0)
    duration = time.perf_counter() - started
    timings["evaluate_s"] = duration - timings["fit_s"]
    args.output.parent.mkdir(parents=True, exist_ok=True)
    model.save(args.output)
    history = epoch_log.curves() if epoch_log else fit.history
    initial_epoch = epoch_log.initial_epoch if epoch_log and epoch_log.initial_epoch is not None else 0
    extra = {"warm_start": warm} if warm is not None else {}
    write_metrics(
        accuracy=float(accuracy),
        history={k: history[k] for k in ("loss", "accuracy", "val_loss", "val_accuracy") if k in history},
        epochs=args.epochs,
        params=model.count_params(),
        duration_s=duration,
        dataset=args.dataset if args.dataset in ("digits", "mnist") else Path(args.dataset).name,
        initial_epoch=initial_epoch,
        batch_size=args.batch_size,
        seed=args.seed,
        hardware=hardware.describe(),
        pid=os.getpid(),  # rounds of one job share it when keras-ct reuses the training process
        performance=settings.to_json(),
        timings={
            **{k: round(v, 3) for k, v in timings.items()},
            "epoch_s": [round(t, 3) for t in timer.seconds],
        },
        **extra,
    )
    print(f"test accuracy: {accuracy:.4f}  params: {model.count_params()}  time: {duration:.1f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
