"""Train the example model: a plain Keras script (``model.fit`` and ``model.evaluate``).

    python ml_task/train.py --dataset digits                 # offline: scikit-learn's digits, 10 epochs
    python ml_task/train.py --dataset mnist                  # real runners: downloads MNIST once
    python ml_task/train.py --dataset data.npz               # x_train, y_train, x_test, y_test

The metric is the held-out test accuracy (``model.evaluate``). Under keras-ct, its hooks in this process
(``autolog``, docs/integration.md) give the script the warm start, resume, the per-epoch curves, the
saved model and the metrics file: it imports nothing from keras_ct for them. It reads KERAS_CT_MODEL_FILE
and KERAS_CT_MODEL_PATH for its defaults, and uses keras-ct's performance switches
(``keras_ct.keras.performance``, an opt-in helper) when keras_ct is importable; run by hand, it just
trains and prints.
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


def performance_helper():
    """keras-ct's opt-in performance switches (tf.data, mixed precision, XLA), or None without keras_ct."""
    try:
        from keras_ct.keras import performance
    except ImportError:
        return None
    return performance


def build(build_model, performance, steps: int):
    """The model, with keras-ct's performance settings applied when the helper is there."""
    if performance is None:
        return build_model(), None
    hardware = performance.detect_hardware()
    settings = performance.decide(hardware, os.environ, steps_per_epoch=steps)
    performance.apply_precision(settings)
    with performance.scope(settings):
        model = build_model()
        settings = performance.decide(
            hardware, os.environ, params=model.count_params(), steps_per_epoch=steps
        )
        return performance.prepare_model(model, settings), settings


def main(argv=None) -> int:
    args = parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        x_train, y_train, x_test, y_test = load_dataset(args.dataset)
        build_model = load_model_function(args.model_file, args.model_function)  # imports Keras
    except DataError as exc:
        print(f"train.py: error: {exc}", file=sys.stderr)
        return 2

    import keras

    started = time.perf_counter()
    keras.utils.set_random_seed(args.seed)
    (x_fit, y_fit), (x_val, y_val) = validation_split(x_train, y_train)
    steps = math.ceil(len(x_fit) / args.batch_size)
    performance = performance_helper()
    try:
        model, settings = build(build_model, performance, steps)
    except Exception as exc:
        if performance is None or not isinstance(exc, performance.PerformanceSettingError):
            raise
        print(f"train.py: error: {exc}", file=sys.stderr)
        return 2
    train_data = val_data = None
    if settings is not None:
        train_data = performance.dataset(
            x_fit, y_fit, args.batch_size, settings, shuffle=True, seed=args.seed
        )
        val_data = performance.dataset(x_val, y_val, args.batch_size, settings, shuffle=False, seed=args.seed)
    if train_data is not None:
        model.fit(train_data, validation_data=val_data, epochs=args.epochs, verbose=2)
    else:
        model.fit(
            x_fit,
            y_fit,
            validation_data=(x_val, y_val),
            epochs=args.epochs,
            batch_size=args.batch_size,
            verbose=2,
        )
    _, accuracy = model.evaluate(x_test, y_test, batch_size=args.batch_size, verbose=0)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    model.save(args.output)
    duration = time.perf_counter() - started
    print(f"test accuracy: {accuracy:.4f}  params: {model.count_params()}  time: {duration:.1f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
