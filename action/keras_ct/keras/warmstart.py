"""Warm start: begin round n+1 from round n's trained weights wherever the layers still fit.

``transfer_weights(old_model, new_model)`` copies weights from the previous round's model into the
freshly built (augmented) one and initialises the layers the augmentation added close to the
identity, so the new model starts where the old one stopped instead of from random weights. The old
model is only read (``get_weights`` returns copies); it is never changed.

Matching rule, for every layer of the new model that has weights, in this order:

1. **By name**: an old layer with the same name and class whose weight shapes are all equal is
   copied. (A name match with other shapes is not used: after an insertion Keras' automatic names
   ``dense``, ``dense_1``... may point at a different layer.)
2. **By position**: the remaining new layers of each class are aligned, in model order, with the
   remaining old layers of that class; the next old layer with equal weight shapes is copied. This
   finds the output ``Dense`` that became ``dense_2`` when a hidden ``Dense`` was inserted before it.
   Equal shapes are trusted: an old layer whose shapes equal a new one's by coincidence (a hidden
   layer exactly as wide as the flattened input before it) is copied too.
3. **Widened** (Net2WiderNet, function-preserving): a ``Dense``/``ConvND`` matched by name whose
   output units grew (same input size, same kernel size, same activation) gets the old weights in its first units and
   its default initialisation for the new units; the ``Dense`` directly consuming it (through
   shape-preserving layers such as ``Dropout``) gets the old rows and **zero** rows for the new units,
   so the widened model computes what the old one did and the new units still learn.
4. **Identity** (Net2DeeperNet): a new ``Dense``/``Conv1D``/``Conv2D``/``Conv3D`` whose input comes
   from a ReLU (directly, or through pooling, ``Dropout``, ``Flatten``...) and whose activation is
   ReLU or linear starts as the identity: ``relu(I x) = x`` for ``x >= 0``. Convolutions need
   ``padding="same"``, stride 1, dilation 1, one group and an odd kernel (the centre tap is 1).
   Channel counts that differ: with more outputs than inputs, the first ``inputs`` outputs are the
   identity and the others keep their default (random) initialisation; with fewer outputs an identity
   would drop channels, so the layer keeps its default initialisation.
5. Anything else keeps the default initialisation of ``build_model()`` ("new").

``warm_start(model)`` is what a training script calls: it reads ``$KERAS_CT_WARM_START_FROM`` (set by
keras-ct to the previous round's ``.keras`` model when ``warm-start`` is on), transfers, prints one
line, and returns the summary for the metrics file. A model that cannot be loaded is a warning that
names the file and the reason, and the round trains from scratch: losing the round would cost more
than losing the warm start, and the metrics file records what happened.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import numpy as np

WARM_START_ENV = "KERAS_CT_WARM_START_FROM"

#: How a new layer got its weights.
COPIED, WIDENED, IDENTITY, NEW = "copied", "widened", "identity", "new"

# Layers that pass a non-negative input on as non-negative and keep its features' meaning.
_SIGN_KEEPING = {
    "MaxPooling1D", "MaxPooling2D", "MaxPooling3D", "AveragePooling1D", "AveragePooling2D",
    "AveragePooling3D", "GlobalMaxPooling1D", "GlobalMaxPooling2D", "GlobalMaxPooling3D",
    "GlobalAveragePooling1D", "GlobalAveragePooling2D", "GlobalAveragePooling3D", "Dropout",
    "SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D", "Flatten", "Reshape", "ZeroPadding1D",
    "ZeroPadding2D", "ZeroPadding3D", "Identity",
}  # fmt: skip
# Layers between a widened layer and its consumer that keep the unit axis as it is.
_UNIT_KEEPING = {
    "Dropout",
    "AlphaDropout",
    "GaussianDropout",
    "GaussianNoise",
    "Activation",
    "ReLU",
    "Identity",
}
_RELU = {"relu", "relu6"}
_CONV = {"Conv1D": 1, "Conv2D": 2, "Conv3D": 3}


@dataclass(frozen=True)
class LayerTransfer:
    """What happened to one weighted layer of the new model."""

    layer: str
    kind: str
    how: str  # copied | widened | identity | new
    source: str = ""  # the old layer it came from (copied, widened)
    detail: str = ""


@dataclass(frozen=True)
class TransferReport:
    """The outcome of ``transfer_weights``: one entry per weighted layer of the new model, in order."""

    layers: tuple[LayerTransfer, ...]

    def named(self, how: str) -> tuple[str, ...]:
        return tuple(t.layer for t in self.layers if t.how == how)

    @property
    def layers_transferred(self) -> int:
        """Layers that start from old weights (copied or widened)."""
        return sum(t.how in (COPIED, WIDENED) for t in self.layers)

    def summary(self) -> str:
        parts = [f"{self.layers_transferred} of {len(self.layers)} weighted layers from the previous round"]
        for how in (WIDENED, IDENTITY, NEW):
            names = self.named(how)
            if names:
                parts.append(f"{how}: {', '.join(names)}")
        return "; ".join(parts)

    def to_json(self) -> dict[str, Any]:
        return {
            "layers_transferred": self.layers_transferred,
            "layers_identity": len(self.named(IDENTITY)),
            "layers_new": len(self.named(NEW)),
            "layers": {t.layer: t.how + (f" <- {t.source}" if t.source else "") for t in self.layers},
        }


def _shapes(layer: Any) -> tuple[tuple[int, ...], ...]:
    return tuple(tuple(int(d) for d in w.shape) for w in layer.weights)


def _weighted(model: Any) -> list[Any]:
    return [layer for layer in _flat_layers(model) if layer.weights]


def _flat_layers(model: Any) -> list[Any]:
    return [layer for layer in model.layers if type(layer).__name__ != "InputLayer"]


def _producer(layer: Any) -> Any | None:
    """The layer whose output feeds ``layer`` (None for the model input or several inputs)."""
    try:
        tensor = layer.input
    except (AttributeError, ValueError):
        return None
    if isinstance(tensor, list | tuple):
        return None
    history = getattr(tensor, "_keras_history", None)
    operation = getattr(history, "operation", None)
    if operation is None or type(operation).__name__ == "InputLayer":
        return None
    return operation


def _activation_name(layer: Any) -> str | None:
    kind = type(layer).__name__
    if kind == "ReLU":
        return "relu"
    activation = getattr(layer, "activation", None)
    if activation is None:
        return None
    name = getattr(activation, "__name__", None) or str(activation)
    return str(name)


def _after_relu(layer: Any) -> bool:
    """True when ``layer``'s input is the output of a ReLU, possibly through sign-keeping layers."""
    current = _producer(layer)
    while current is not None:
        kind = type(current).__name__
        if kind in _SIGN_KEEPING:
            current = _producer(current)
            continue
        return _activation_name(current) in _RELU
    return False


def _consumer_through(model_layers: Sequence[Any], layer: Any) -> Any | None:
    """The weighted layer fed by ``layer`` through unit-keeping layers only (for widening)."""
    for candidate in model_layers:
        current = _producer(candidate)
        while current is not None and current is not layer and type(current).__name__ in _UNIT_KEEPING:
            current = _producer(current)
        if current is layer and candidate.weights:
            return candidate
    return None


def _identity(layer: Any) -> tuple[list[np.ndarray] | None, str]:
    """Near-identity weights for a new Dense/ConvND after a ReLU, or None and why not."""
    kind = type(layer).__name__
    if not _after_relu(layer):
        return None, "input is not after a ReLU"
    activation = _activation_name(layer)
    if activation not in (*_RELU, "linear"):
        return None, f"activation {activation} is not relu or linear"
    weights = layer.get_weights()
    kernel = weights[0]
    n_in, n_out = kernel.shape[-2], kernel.shape[-1]
    if n_out < n_in:
        return None, f"{n_out} outputs < {n_in} inputs: an identity would drop inputs"
    if kind in _CONV:
        config = layer.get_config()
        rank = _CONV[kind]
        size = tuple(kernel.shape[:rank])
        ones = (1,) * rank
        if (
            config.get("padding") != "same"
            or tuple(_as_tuple(config.get("strides", 1), rank)) != ones
            or tuple(_as_tuple(config.get("dilation_rate", 1), rank)) != ones
            or int(config.get("groups", 1)) != 1
            or any(k % 2 == 0 for k in size)
        ):
            return None, "needs padding='same', stride 1, dilation 1, one group and an odd kernel"
        centre = tuple(k // 2 for k in size)
        kernel[..., :n_in] = 0.0
        for channel in range(n_in):
            kernel[(*centre, channel, channel)] = 1.0
    elif kind == "Dense":
        kernel[:, :n_in] = np.eye(n_in, dtype=kernel.dtype)
    else:
        return None, f"no identity for {kind}"
    if len(weights) > 1:
        weights[1][:n_in] = 0.0
    detail = "identity" if n_out == n_in else f"identity on {n_in} of {n_out} outputs, the rest default"
    return [kernel, *weights[1:]], detail


def _as_tuple(value: Any, rank: int) -> tuple[int, ...]:
    return tuple(value) if isinstance(value, list | tuple) else (int(value),) * rank


def _widened(old: Any, new: Any) -> list[np.ndarray] | None:
    """Old weights in the first units of a layer whose output units grew (all else equal)."""
    if type(new).__name__ not in ("Dense", *_CONV) or _activation_name(old) != _activation_name(new):
        return None  # e.g. an old softmax output and a new ReLU hidden layer that took its name
    old_w, new_w = old.get_weights(), new.get_weights()
    if len(old_w) != len(new_w) or not old_w:
        return None
    kernel_old, kernel_new = old_w[0], new_w[0]
    if kernel_old.shape[:-1] != kernel_new.shape[:-1] or kernel_old.shape[-1] >= kernel_new.shape[-1]:
        return None
    units = kernel_old.shape[-1]
    kernel_new[..., :units] = kernel_old
    out = [kernel_new]
    for o, n in zip(old_w[1:], new_w[1:], strict=True):
        if o.shape != (units,) or n.ndim != 1:
            return None
        n[:units] = o
        out.append(n)
    return out


def _fed_by_widened(old: Any, new: Any, extra: int) -> list[np.ndarray] | None:
    """A Dense whose input grew by ``extra`` units: old rows, zero rows for the new inputs."""
    if type(new).__name__ != "Dense":
        return None
    old_w, new_w = old.get_weights(), new.get_weights()
    if len(old_w) != len(new_w) or not old_w:
        return None
    kernel_old, kernel_new = old_w[0], new_w[0]
    if kernel_old.shape[1] != kernel_new.shape[1] or kernel_new.shape[0] - kernel_old.shape[0] != extra:
        return None
    if any(o.shape != n.shape for o, n in zip(old_w[1:], new_w[1:], strict=True)):
        return None
    rows = kernel_old.shape[0]
    kernel_new[:rows] = kernel_old
    kernel_new[rows:] = 0.0
    return [kernel_new, *old_w[1:]]


def _align_by_position(old_left: Sequence[Any], new_left: Sequence[Any]) -> dict[int, Any]:
    """Per class, in model order: each new layer takes the next old layer with equal weight shapes."""
    matches: dict[int, Any] = {}
    by_class: dict[str, list[Any]] = {}
    for layer in old_left:
        by_class.setdefault(type(layer).__name__, []).append(layer)
    for layer in new_left:
        pool = by_class.get(type(layer).__name__, [])
        for i, candidate in enumerate(pool):
            if _shapes(candidate) == _shapes(layer):
                matches[id(layer)] = candidate
                del pool[: i + 1]  # keep the order: later new layers only match later old layers
                break
    return matches


def transfer_weights(old_model: Any, new_model: Any) -> TransferReport:
    """Copy ``old_model``'s weights into ``new_model`` where layers match; identity-init new layers.

    Both models must be built. ``old_model`` is never modified. See the module docstring for the rule.
    """
    old_layers = _weighted(old_model)
    new_all = _flat_layers(new_model)
    new_layers = [layer for layer in new_all if layer.weights]
    old_by_name = {layer.name: layer for layer in old_layers}

    source: dict[int, tuple[Any, str]] = {}  # id(new layer) -> (old layer, how)
    used: set[int] = set()
    for layer in new_layers:
        old = old_by_name.get(layer.name)
        if old is not None and type(old) is type(layer) and _shapes(old) == _shapes(layer):
            source[id(layer)] = (old, COPIED)
            used.add(id(old))
    positional = _align_by_position(
        [o for o in old_layers if id(o) not in used], [n for n in new_layers if id(n) not in source]
    )
    for layer in new_layers:
        if id(layer) in positional:
            source[id(layer)] = (positional[id(layer)], COPIED)
            used.add(id(positional[id(layer)]))

    results: dict[int, LayerTransfer] = {}
    widened_extra: dict[int, int] = {}  # id(new consumer) -> extra input units it must zero
    for layer in new_layers:
        if id(layer) in source:
            old, how = source[id(layer)]
            layer.set_weights(old.get_weights())
            detail = "same name" if old.name == layer.name else "same position and shapes"
            results[id(layer)] = LayerTransfer(layer.name, type(layer).__name__, how, old.name, detail)
            continue
        old = old_by_name.get(layer.name)
        if old is not None and id(old) not in used and type(old) is type(layer):
            weights = _widened(old, layer)
            if weights is not None:
                extra = weights[0].shape[-1] - old.get_weights()[0].shape[-1]
                consumer = _consumer_through(new_all, layer)
                if consumer is not None and type(consumer).__name__ == "Dense":
                    widened_extra[id(consumer)] = extra
                layer.set_weights(weights)
                used.add(id(old))
                detail = f"{old.get_weights()[0].shape[-1]} -> {weights[0].shape[-1]} units"
                results[id(layer)] = LayerTransfer(
                    layer.name, type(layer).__name__, WIDENED, old.name, detail
                )
    for layer in new_layers:
        if id(layer) in results:
            continue
        extra = widened_extra.get(id(layer))
        if extra is not None:
            candidates = [o for o in old_layers if id(o) not in used and type(o) is type(layer)]
            old = next((o for o in candidates if _fed_by_widened(o, layer, extra) is not None), None)
            if old is not None:
                weights = _fed_by_widened(old, layer, extra)
                assert weights is not None
                layer.set_weights(weights)
                used.add(id(old))
                results[id(layer)] = LayerTransfer(
                    layer.name, type(layer).__name__, WIDENED, old.name, f"zero rows for {extra} new inputs"
                )
                continue
        weights, detail = _identity(layer) if type(layer).__name__ in ("Dense", *_CONV) else (None, "")
        if weights is not None:
            layer.set_weights(weights)
            results[id(layer)] = LayerTransfer(layer.name, type(layer).__name__, IDENTITY, "", detail)
        else:
            results[id(layer)] = LayerTransfer(
                layer.name, type(layer).__name__, NEW, "", detail or "no match"
            )
    return TransferReport(tuple(results[id(layer)] for layer in new_layers))


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


__all__ = [
    "WARM_START_ENV",
    "LayerTransfer",
    "TransferReport",
    "transfer_weights",
    "warm_start",
    "weights_equal",
]
