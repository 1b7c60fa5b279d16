"""``warm_start``: what a training script calls; it loads the previous round's model and transfers."""

from __future__ import annotations

import os
import sys
import weakref
from collections.abc import Iterable
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from keras_ct.keras.callbacks import WARM_START_ENV as WARM_START_ENV  # the callbacks' env names
from keras_ct.keras.warmstart.transfer import transfer_weights

#: Models ``warm_start`` has been called on: keras-ct's hooks (``keras_ct.keras.autolog``) leave them be.
_started: weakref.WeakSet[Any] = weakref.WeakSet()


def was_warm_started(model: Any) -> bool:
    """Whether ``warm_start`` was called on ``model`` (by the script itself, or by keras-ct's hooks)."""
    return model in _started


def warm_start(
    model: Any,
    path: str | Path | None = None,
    *,
    environ: dict[str, str] | None = None,
    log: TextIO | None = None,
) -> dict[str, Any] | None:
    """Warm-start ``model`` from ``path`` (default ``$KERAS_CT_WARM_START_FROM``); the metrics summary.

    Returns None when no warm start was asked for. A file that does not exist or cannot be loaded is
    reported on ``log`` (stderr) as a warning naming the file and why; the model keeps its fresh
    weights and the returned summary carries the ``error``.
    """
    env = os.environ if environ is None else environ
    source = path if path is not None else env.get(WARM_START_ENV) or None
    if not source:
        return None
    _started.add(model)
    out = log or sys.stderr
    shown = str(source)
    try:
        old = _load(Path(source))
    except Exception as exc:  # any load failure: Keras raises ValueError, OSError, zipfile errors...
        reason = " ".join(str(exc).split())[:300] or type(exc).__name__
        print(
            f"keras-ct: warning: warm start skipped, training from scratch: cannot load the previous "
            f"round's model {shown}: {reason}",
            file=out,
            flush=True,
        )
        return {"from": shown, "error": reason, "layers_transferred": 0}
    report = transfer_weights(old, model)
    print(f"keras-ct: warm start from {shown}: {report.summary()}", file=out, flush=True)
    return {"from": shown, **report.to_json()}


def _load(path: Path) -> Any:
    import keras

    if not path.is_file():
        raise FileNotFoundError("the file does not exist")
    return keras.models.load_model(path, compile=False)


def weights_equal(a: Iterable[np.ndarray], b: Iterable[np.ndarray]) -> bool:
    """True when two weight lists are identical (shapes and values); for checks and tests."""
    a, b = list(a), list(b)
    return len(a) == len(b) and all(
        x.shape == y.shape and np.array_equal(x, y) for x, y in zip(a, b, strict=True)
    )
