"""The benchmark's task suite: a start model that misses its threshold, its data and its settings.

Every dataset is offline and fixed-seed: scikit-learn's digits (as 28x28 for the CNN, 8x8 for the
MLPs) and a synthetic motif-in-noise sequence task generated here. The two harder tasks need a change
beyond capacity: ``shifted_digits`` tests on digits shifted up to 2 px that training never shows
(augmentation), ``raw_pixels`` feeds unnormalised pixel values (normalisation, or more of everything). Data loading needs NumPy and
scikit-learn only, so the harness can describe tasks without importing TensorFlow.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
SEED = 42


@dataclass(frozen=True)
class Task:
    name: str
    description: str
    threshold: float
    epochs: int
    batch_size: int = 64
    max_rounds: int = 5
    val_fraction: float = 0.1
    start_model: Path | None = None  # the start model's file when it is not tasks/<name>/model.py

    @property
    def model_file(self) -> Path:
        return self.start_model or HERE / self.name / "model.py"


TASKS: dict[str, Task] = {
    t.name: t
    for t in (
        Task(
            "digits_cnn",
            "the ml_task CNN on 28x28 digits",
            threshold=0.95,
            epochs=3,
            start_model=ROOT / "ml_task" / "model.py",
        ),
        Task("mlp", "a Dense-only MLP (16 units) on 8x8 digits", threshold=0.95, epochs=10, batch_size=32),
        Task(
            "small_split",
            "a wide MLP on 150 training digits (150 more for validation): overfits",
            threshold=0.9,
            epochs=15,
            batch_size=32,
            val_fraction=0.5,
        ),
        Task(
            "sequence",
            "Conv1D on synthetic motif sequences (fixed seed)",
            threshold=0.93,
            epochs=4,
            batch_size=16,
        ),
        Task(
            "shifted_digits",
            "the ml_task CNN, trained on centred 28x28 digits, tested on digits shifted up to 2 px",
            threshold=0.9,
            epochs=3,
            start_model=ROOT / "ml_task" / "model.py",
        ),
        Task(
            "raw_pixels",
            "a small CNN on 8x8 digits as raw values (0-255 + 50): no normalisation",
            threshold=0.96,
            epochs=5,
        ),
    )
}

#: shifted_digits: the largest shift of a test image, in pixels (each way, both axes).
SHIFT = 2
#: raw_pixels: the digits' 0-16 intensities as 0-255, plus this offset.
RAW_OFFSET = 50.0


def _ml_task_train() -> Any:
    spec = importlib.util.spec_from_file_location("ml_task_train", ROOT / "ml_task" / "train.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _split(x: Any, y: Any, test_size: float = 0.2) -> tuple[Any, Any, Any, Any]:
    from sklearn.model_selection import train_test_split

    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=test_size, stratify=y, random_state=SEED
    )
    return x_train, y_train, x_test, y_test


def digits8() -> tuple[Any, Any, Any, Any]:
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = (digits.images.astype("float32") / 16.0)[..., None]
    return _split(x, digits.target.astype("int64"))


def sequences(
    n: int = 1600, length: int = 48, classes: int = 4, noise: float = 0.8
) -> tuple[Any, Any, Any, Any]:
    """Each class is a fixed random motif of 8 steps placed at a random offset in Gaussian noise."""
    import numpy as np

    rng = np.random.default_rng(SEED)
    motifs = rng.normal(0.0, 1.0, size=(classes, 8)).astype("float32")
    y = rng.integers(0, classes, size=n)
    x = rng.normal(0.0, noise, size=(n, length)).astype("float32")
    offsets = rng.integers(0, length - 8, size=n)
    for i in range(n):
        x[i, offsets[i] : offsets[i] + 8] += 3.0 * motifs[y[i]]
    return _split(x[..., None], y.astype("int64"))


def shifted(x: Any, most: int, seed: int = SEED) -> Any:
    """Each image rolled by a random whole number of pixels in [-most, most] on each axis (fixed seed)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    moves = rng.integers(-most, most + 1, size=(len(x), 2))
    return np.stack(
        [np.roll(image, (int(dy), int(dx)), axis=(0, 1)) for image, (dy, dx) in zip(x, moves, strict=True)]
    )


@cache
def load(name: str) -> tuple[Any, Any, Any, Any]:
    """``x_train, y_train, x_test, y_test`` for a task (cached per process)."""
    if name == "digits_cnn":
        return _ml_task_train().load_digits_28()
    if name == "mlp":
        return digits8()
    if name == "small_split":
        x_train, y_train, x_test, y_test = digits8()
        from sklearn.model_selection import train_test_split

        x_small, _, y_small, _ = train_test_split(
            x_train, y_train, train_size=300, stratify=y_train, random_state=SEED
        )
        return x_small, y_small, x_test, y_test
    if name == "sequence":
        return sequences()
    if name == "shifted_digits":
        x_train, y_train, x_test, y_test = _ml_task_train().load_digits_28()
        return x_train, y_train, shifted(x_test, SHIFT), y_test
    if name == "raw_pixels":
        x_train, y_train, x_test, y_test = digits8()
        return x_train * 255 + RAW_OFFSET, y_train, x_test * 255 + RAW_OFFSET, y_test
    raise KeyError(f"unknown task {name!r}; known: {', '.join(TASKS)}")


def validation_split(x: Any, y: Any, fraction: float = 0.1) -> tuple[tuple[Any, Any], tuple[Any, Any]]:
    from sklearn.model_selection import train_test_split

    x_fit, x_val, y_fit, y_val = train_test_split(x, y, test_size=fraction, stratify=y, random_state=SEED)
    return (x_fit, y_fit), (x_val, y_val)
