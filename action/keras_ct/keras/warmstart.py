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
   layer exactly as wide as the flattened input before it) is copied too. For two layers that both
   read a ``Flatten`` whose input changed shape (a (48, 8) map that became (24, 16) flattens to as
   many features, but other ones) rule 3b is tried first; the copy is what remains when it does not
   apply, and its detail says so.
3. **Widened** (Net2WiderNet, function-preserving): a ``Dense``/``ConvND`` matched by name whose
   output units grew (same input size, same kernel size, same activation) gets the old weights in its first units and
   its default initialisation for the new units; the ``Dense`` directly consuming it (through
   shape-preserving layers such as ``Dropout``) gets the old rows and **zero** rows for the new units,
   so the widened model computes what the old one did and the new units still learn.
3b. **Pooled** (a head after inserted layers): a ``Dense`` reading a ``Flatten`` (through
   ``Dropout``-like layers) starts from the old ``Dense`` reading the old ``Flatten`` (same units,
   activation and bias shape) when the new path from the last copied (or widened) layer to the
   ``Flatten`` is the old path plus only convolutions that got an identity under rule 4 in this
   transfer, ``Dropout``-like layers and trailing ``MaxPooling``/``AveragePooling`` (1D/2D/3D,
   strides = pool size, ``padding="valid"``), all channels_last. A new feature ``(i', j', c)`` of an
   old channel ``c`` is then about the pool of the old features ``(i'p .. i'p+p-1, j'p .. j'p+p-1,
   c)``, so its row is the **sum** of their old rows (old positions the valid pooling drops are
   dropped); rows of the added channels are **zero** (they start without effect, as in rule 3) and
   the bias is copied. Without pooling (a conv inserted without pooling, or a widened last conv)
   this is exact: the model computes what the old one did. With pooling it is an approximation;
   summing beat averaging (rows / p^2) in every measured case (lower test loss after 0, 1 and 3
   epochs). Test accuracy just after the transfer / after 1 / after 3 epochs (scratch measurement,
   mean over seeds), a conv(2F)+pool block inserted into a conv(F)+pool+Flatten+Dense model trained
   3-4 epochs: 28x28 digits CNN (old 92%): summed 85 / 91 / 94%, averaged 85 / 89 / 93%, random head
   13 / 74 / 91%, cold 11 / 71 / 91%; 8x8 digits (old 82%): summed 24 / 73 / 83%, averaged
   26 / 73 / 81%, random head 9 / 56 / 81%, cold 9 / 54 / 84%; Conv1D motif sequences (old 61%):
   summed 64 / 73 / 84%, random head 26 / 50 / 76%, the coincidental copy of rule 2 (flattened
   sizes equal) 50 / 70 / 82%.
4. **Identity** (Net2DeeperNet): a new ``Dense``/``Conv1D``/``Conv2D``/``Conv3D`` whose input comes
   from a ReLU (directly, or through pooling, ``Dropout``, ``Flatten``...) and whose activation is
   ReLU or linear starts as the identity: ``relu(I x) = x`` for ``x >= 0``. Convolutions need
   ``padding="same"``, stride 1, dilation 1, one group and an odd kernel (the centre tap is 1).
   Channel counts that differ: with more outputs than inputs, the first ``inputs`` outputs are the
   identity and the others keep their default (random) initialisation; with fewer outputs an identity
   would drop channels, so the layer keeps its default initialisation.
5. Anything else keeps the default initialisation of ``build_model()`` ("new"); for a ``Dense``
   reading a ``Flatten`` the detail says why rule 3b did not apply.

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
COPIED, WIDENED, IDENTITY, POOLED, NEW = "copied", "widened", "identity", "pooled", "new"
#: How rule 3b combines the old head's rows over a pooling window (see the module docstring).
POOLED_COMBINE = "sum"

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
# Layers that are the identity at inference and keep the shape (rule 3b looks through them).
_NO_OP = {
    "Dropout", "SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D", "AlphaDropout",
    "GaussianDropout", "GaussianNoise", "Identity",
}  # fmt: skip
# Weightless layers that act on each channel alone, so the first channels keep their values when
# channels are added before them (rule 3b accepts them between the last copied layer and the Flatten).
_CHANNELWISE = {
    "MaxPooling1D", "MaxPooling2D", "MaxPooling3D", "AveragePooling1D", "AveragePooling2D",
    "AveragePooling3D", "Activation", "ReLU", "LeakyReLU", "ZeroPadding1D", "ZeroPadding2D",
    "ZeroPadding3D", "Cropping1D", "Cropping2D", "Cropping3D",
}  # fmt: skip
_POOLING = {
    "MaxPooling1D": 1, "MaxPooling2D": 2, "MaxPooling3D": 3,
    "AveragePooling1D": 1, "AveragePooling2D": 2, "AveragePooling3D": 3,
}  # fmt: skip
_RELU = {"relu", "relu6"}
_CONV = {"Conv1D": 1, "Conv2D": 2, "Conv3D": 3}


@dataclass(frozen=True)
class LayerTransfer:
    """What happened to one weighted layer of the new model."""

    layer: str
    kind: str
    how: str  # copied | widened | identity | pooled | new
    source: str = ""  # the old layer it came from (copied, widened, pooled)
    detail: str = ""


@dataclass(frozen=True)
class TransferReport:
    """The outcome of ``transfer_weights``: one entry per weighted layer of the new model, in order."""

    layers: tuple[LayerTransfer, ...]

    def named(self, how: str) -> tuple[str, ...]:
        return tuple(t.layer for t in self.layers if t.how == how)

    @property
    def layers_transferred(self) -> int:
        """Layers that start from old weights (copied, widened or pooled)."""
        return sum(t.how in (COPIED, WIDENED, POOLED) for t in self.layers)

    def summary(self) -> str:
        parts = [f"{self.layers_transferred} of {len(self.layers)} weighted layers from the previous round"]
        for how in (WIDENED, POOLED, IDENTITY, NEW):
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


def _flatten_changed(old: Any, new: Any) -> str:
    """For two layers that both read a Flatten, how the shape before it changed ("" if it did not).

    A head whose Flatten input went from (48, 8) to (24, 16) keeps its kernel shape by coincidence,
    but its rows would read other features: rule 3b is tried before such a copy.
    """
    old_flatten, new_flatten = _flatten_before(old), _flatten_before(new)
    if old_flatten is None or new_flatten is None:
        return ""
    before, after = tuple(old_flatten.input.shape[1:]), tuple(new_flatten.input.shape[1:])
    return "" if before == after else f"{before} -> {after}"


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


# Rule 3b: a head Dense after a Flatten whose input was pooled (and/or widened) by inserted layers.


def _upstream(layer: Any) -> tuple[str, Any]:
    """Where ``layer``'s input comes from: ("layer", op), ("input", None) or ("unknown", None)."""
    try:
        tensor = layer.input
    except (AttributeError, ValueError):
        return "unknown", None
    if isinstance(tensor, list | tuple):
        return "unknown", None
    operation = getattr(getattr(tensor, "_keras_history", None), "operation", None)
    if operation is None:
        return "unknown", None
    if type(operation).__name__ == "InputLayer":
        return "input", None
    return "layer", operation


def _flatten_before(dense: Any) -> Any | None:
    """The ``Flatten`` feeding ``dense`` directly or through no-op layers (Dropout...), else None."""
    where, current = _upstream(dense)
    while where == "layer" and type(current).__name__ in _NO_OP:
        where, current = _upstream(current)
    return current if where == "layer" and type(current).__name__ == "Flatten" else None


def _path_back(flatten: Any, passable: Any) -> tuple[list[Any], Any | None] | str:
    """The layers between the nearest weighted layer upstream of ``flatten`` (the anchor; None for the
    model input) and ``flatten``, in model order, and the anchor; or why there is no such chain.
    Weighted layers for which ``passable(layer)`` is true are part of the path, not the anchor."""
    path: list[Any] = []
    current = flatten
    while True:
        where, producer = _upstream(current)
        if where == "input":
            return path[::-1], None
        if where != "layer":
            return f"{current.name} has several inputs or an unknown one"
        if producer.weights and not passable(producer):
            return path[::-1], producer
        path.append(producer)
        current = producer


def _entering_shape(path: Sequence[Any], flatten: Any) -> tuple[int, ...]:
    """The shape (without the batch axis) of the tensor that enters ``path`` (or ``flatten``)."""
    first = path[0] if path else flatten
    return tuple(int(d) for d in first.input.shape[1:])


def _config(layer: Any) -> dict[str, Any]:
    config = dict(layer.get_config())
    config.pop("name", None)
    return config


def _pool_factors(layer: Any, rank: int) -> tuple[int, ...] | str:
    """The pool size of a non-overlapping, valid, channels_last pooling layer of ``rank``, or why not."""
    kind = type(layer).__name__
    if _POOLING.get(kind) != rank:
        return f"inserted {layer.name} ({kind}) is not a {rank}D max/average pooling"
    config = layer.get_config()
    size = _as_tuple(config.get("pool_size"), rank)
    strides = _as_tuple(config.get("strides") or size, rank)
    if config.get("padding") != "valid" or strides != size or config.get("data_format") != "channels_last":
        return f"inserted {layer.name} needs strides = pool_size, padding='valid' and channels_last"
    return size


def _pooled_rows(
    kernel: np.ndarray,
    old_shape: Sequence[int],
    new_shape: Sequence[int],
    factors: Sequence[int],
    combine: str,
) -> np.ndarray:
    """A head kernel for flattened ``new_shape`` features that pool ``old_shape`` ones by ``factors``.

    ``kernel`` is the old head's ``(prod(old_shape), units)`` kernel, rows in channels_last flatten
    order; both shapes are ``(*spatial, channels)``. Each new row of channel ``c < old channels`` is
    the ``combine`` ("sum" or "mean") of the old rows of channel ``c`` in its pooling window (old
    positions past the last whole window are dropped, as valid pooling drops them); rows of the
    channels added after the old ones are zero. With all factors 1 this copies the rows.
    """
    *spatial_old, channels_old = old_shape
    *spatial_new, channels_new = new_shape
    units = kernel.shape[1]
    grid = kernel.reshape(*spatial_old, channels_old, units)
    grid = grid[tuple(slice(0, n * f) for n, f in zip(spatial_new, factors, strict=True))]
    blocks = grid.reshape(
        *(d for n, f in zip(spatial_new, factors, strict=True) for d in (n, f)), channels_old, units
    )
    window_axes = tuple(range(1, 2 * len(factors), 2))
    pooled = blocks.sum(axis=window_axes) if combine == "sum" else blocks.mean(axis=window_axes)
    out = np.zeros((*spatial_new, channels_new, units), dtype=kernel.dtype)
    out[..., :channels_old, :] = pooled
    return out.reshape(-1, units)


def _heads_differ(old: Any, new: Any) -> str:
    """Why two head Dense layers cannot share rows (units, activation, bias), or "" when they can."""
    old_w, new_w = old.get_weights(), new.get_weights()
    if (
        len(old_w) != len(new_w)
        or old_w[0].shape[1] != new_w[0].shape[1]
        or _activation_name(old) != _activation_name(new)
        or any(o.shape != n.shape for o, n in zip(old_w[1:], new_w[1:], strict=True))
    ):
        return f"{old.name} and {new.name} differ in units, activation or bias"
    return ""


def _keeps_channels(layer: Any, results: dict[int, LayerTransfer]) -> bool:
    """True for a layer that keeps the values of the first channels when channels are added: a no-op,
    a channelwise layer, or a convolution that got an identity in this transfer (rule 4)."""
    kind = type(layer).__name__
    if kind in _NO_OP:
        return True
    if kind in _CHANNELWISE:
        return kind != "Activation" or _activation_name(layer) not in ("softmax", "log_softmax")
    entry = results.get(id(layer))
    return (
        kind in _CONV
        and entry is not None
        and entry.how == IDENTITY
        and layer.get_config().get("data_format") == "channels_last"
    )


def _inserted_before_flatten(
    old_flatten: Any, new_flatten: Any, results: dict[int, LayerTransfer]
) -> list[Any] | str:
    """The layers inserted at the end of the new Flatten's path, or why the paths do not correspond.

    Each path runs from the nearest weighted layer upstream (the anchor; for the new model, identity
    convs are part of the path) to the Flatten. The new anchor must be the old one, copied or widened,
    with the same spatial output shape; every layer on both paths must keep the first channels
    (``_keeps_channels``); and without no-ops and identity convs, the new path must be the old one
    (same classes and configs) followed by the returned layers.
    """

    def identity_conv(layer: Any) -> bool:
        entry = results.get(id(layer))
        return type(layer).__name__ in _CONV and entry is not None and entry.how == IDENTITY

    old_found, new_found = _path_back(old_flatten, lambda _: False), _path_back(new_flatten, identity_conv)
    if isinstance(old_found, str) or isinstance(new_found, str):
        return old_found if isinstance(old_found, str) else str(new_found)
    (old_path, old_anchor), (new_path, new_anchor) = old_found, new_found
    anchor = results.get(id(new_anchor)) if new_anchor is not None else None
    if (old_anchor is None) != (new_anchor is None) or (
        old_anchor is not None
        and (anchor is None or anchor.how not in (COPIED, WIDENED) or anchor.source != old_anchor.name)
    ):
        found = f"{new_anchor.name}, {anchor.how if anchor else 'not transferred'}" if new_anchor else "input"
        wanted = old_anchor.name if old_anchor is not None else "the model input"
        return f"the last weighted layer before the new Flatten ({found}) is not {wanted} copied or widened"
    old_in, new_in = _entering_shape(old_path, old_flatten), _entering_shape(new_path, new_flatten)
    if old_in[:-1] != new_in[:-1] or new_in[-1] < old_in[-1] or (old_anchor is None and old_in != new_in):
        return f"the features before the Flatten path changed shape: {old_in} -> {new_in}"
    for layer in (*old_path, *new_path):
        if not _keeps_channels(layer, results):
            return f"{layer.name} ({type(layer).__name__}) between the last copied layer and the Flatten"
    old_seq = [layer for layer in old_path if type(layer).__name__ not in _NO_OP]
    new_seq = [layer for layer in new_path if type(layer).__name__ not in _NO_OP and not identity_conv(layer)]
    if len(new_seq) < len(old_seq) or any(
        type(o) is not type(n) or _config(o) != _config(n) for o, n in zip(old_seq, new_seq, strict=False)
    ):
        return "the new Flatten's path does not start with the old one's layers"
    return new_seq[len(old_seq) :]


def _pooled_head(
    old: Any, new: Any, results: dict[int, LayerTransfer], combine: str
) -> tuple[list[np.ndarray], str] | str:
    """Rule 3b: the weights of head ``new`` from old head ``old``, and a detail; or why not.

    Both heads read a channels_last Flatten (through no-op layers) and agree in units, activation
    and bias; the layers inserted before the new Flatten (``_inserted_before_flatten``) are poolings
    whose combined window maps the old Flatten's input shape onto the new one's spatial shape.
    """
    old_flatten, new_flatten = _flatten_before(old), _flatten_before(new)
    if old_flatten is None or new_flatten is None:
        return "the old or the new head does not read a Flatten"
    if any(f.get_config().get("data_format") != "channels_last" for f in (old_flatten, new_flatten)):
        return "a Flatten is not channels_last"
    differ = _heads_differ(old, new)
    if differ:
        return differ
    inserted = _inserted_before_flatten(old_flatten, new_flatten, results)
    if isinstance(inserted, str):
        return inserted
    old_shape = tuple(int(d) for d in old_flatten.input.shape[1:])
    new_shape = tuple(int(d) for d in new_flatten.input.shape[1:])
    rank = len(old_shape) - 1
    factors = (1,) * rank
    for layer in inserted:
        size = _pool_factors(layer, rank)
        if isinstance(size, str):
            return size
        factors = tuple(f * s for f, s in zip(factors, size, strict=True))
    expected = tuple(n // f for n, f in zip(old_shape[:-1], factors, strict=True))
    if rank < 1 or new_shape[:-1] != expected or new_shape[-1] < old_shape[-1]:
        return f"the new Flatten's input {new_shape} is not {old_shape} pooled by {factors}"
    old_w = old.get_weights()
    kernel = _pooled_rows(old_w[0], old_shape, new_shape, factors, combine)
    verb = {"sum": "summed", "mean": "averaged"}[combine]
    how = "rows copied" if set(factors) == {1} else f"rows {verb} over {'x'.join(map(str, factors))} windows"
    extra = new_shape[-1] - old_shape[-1]
    return [kernel, *old_w[1:]], f"{old_shape} -> {new_shape}: {how}, zero rows for {extra} new channels"


def _pooled_from(
    candidates: Sequence[Any], new: Any, results: dict[int, LayerTransfer]
) -> tuple[Any, list[np.ndarray], str] | str:
    """Rule 3b against each candidate old head in order: the first that applies, or why none does."""
    reasons = []
    for old in candidates:
        found = _pooled_head(old, new, results, POOLED_COMBINE)
        if not isinstance(found, str):
            return old, *found
        reasons.append(f"{old.name}: {found}")
    return "; ".join(reasons) or "no unmatched old Dense reads a Flatten"


def _pooled_or_copied(old: Any, new: Any, results: dict[int, LayerTransfer]) -> LayerTransfer:
    """A head with the old head's kernel shape whose Flatten input changed shape: rule 3b if it
    applies, else the copy rules 1-2 found (the detail says the features before the Flatten changed)."""
    kind = type(new).__name__
    pooled = _pooled_head(old, new, results, POOLED_COMBINE)
    if not isinstance(pooled, str):
        new.set_weights(pooled[0])
        return LayerTransfer(new.name, kind, POOLED, old.name, pooled[1])
    new.set_weights(old.get_weights())
    match = "same name" if old.name == new.name else "same position and shapes"
    detail = f"{match}, though the shape before the Flatten changed {_flatten_changed(old, new)} (not pooled: {pooled})"
    return LayerTransfer(new.name, kind, COPIED, old.name, detail)


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
            if _flatten_changed(old, layer):
                continue  # a coincidental copy: rule 3b is tried first, below
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
        if id(layer) in source:
            results[id(layer)] = _pooled_or_copied(source[id(layer)][0], layer, results)
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
        not_pooled = ""
        if type(layer).__name__ == "Dense" and _flatten_before(layer) is not None:
            heads = [
                o
                for o in old_layers
                if id(o) not in used and type(o) is type(layer) and _flatten_before(o) is not None
            ]
            pooled = _pooled_from(heads, layer, results)
            if not isinstance(pooled, str):
                old, weights, detail = pooled
                layer.set_weights(weights)
                used.add(id(old))
                results[id(layer)] = LayerTransfer(layer.name, type(layer).__name__, POOLED, old.name, detail)
                continue
            not_pooled = f"not pooled: {pooled}"
        weights, detail = _identity(layer) if type(layer).__name__ in ("Dense", *_CONV) else (None, "")
        if weights is not None:
            layer.set_weights(weights)
            results[id(layer)] = LayerTransfer(layer.name, type(layer).__name__, IDENTITY, "", detail)
        else:
            detail = "; ".join(d for d in (not_pooled, detail) if d) or "no match"
            results[id(layer)] = LayerTransfer(layer.name, type(layer).__name__, NEW, "", detail)
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
