"""Rule 3b of the warm start: a head ``Dense`` after a ``Flatten`` whose input was pooled (and/or
widened) by inserted layers starts from the old head, its rows combined over each pooling window."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from keras_ct.keras.warmstart.graph import (
    CONV,
    NO_OP,
    activation_name,
    as_tuple,
    config_without_name,
    flatten_before,
    input_shape,
    kind,
    upstream,
)
from keras_ct.keras.warmstart.report import COPIED, IDENTITY, POOLED, WIDENED, LayerTransfer, entry

#: How rule 3b combines the old head's rows over a pooling window (see the package docstring).
POOLED_COMBINE = "sum"

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

#: id(new layer) -> what happened to it so far in this transfer.
Results = dict[int, LayerTransfer]


def flatten_changed(old: Any, new: Any) -> str:
    """For two layers that both read a Flatten, how the shape before it changed ("" if it did not).

    A head whose Flatten input went from (48, 8) to (24, 16) keeps its kernel shape by coincidence,
    but its rows would read other features: rule 3b is tried before such a copy.
    """
    old_flatten, new_flatten = flatten_before(old), flatten_before(new)
    if old_flatten is None or new_flatten is None:
        return ""
    before, after = tuple(old_flatten.input.shape[1:]), tuple(new_flatten.input.shape[1:])
    return "" if before == after else f"{before} -> {after}"


def _path_back(flatten: Any, passable: Callable[[Any], bool]) -> tuple[list[Any], Any | None] | str:
    """The layers between the nearest weighted layer upstream of ``flatten`` (the anchor; None for the
    model input) and ``flatten``, in model order, and the anchor; or why there is no such chain.
    Weighted layers for which ``passable(layer)`` is true are part of the path, not the anchor."""
    path: list[Any] = []
    current = flatten
    while True:
        where, producer = upstream(current)
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
    return input_shape(path[0] if path else flatten)


def _pool_factors(layer: Any, rank: int) -> tuple[int, ...] | str:
    """The pool size of a non-overlapping, valid, channels_last pooling layer of ``rank``, or why not."""
    if _POOLING.get(kind(layer)) != rank:
        return f"inserted {layer.name} ({kind(layer)}) is not a {rank}D max/average pooling"
    config = layer.get_config()
    size = as_tuple(config.get("pool_size"), rank)
    strides = as_tuple(config.get("strides") or size, rank)
    if config.get("padding") != "valid" or strides != size or config.get("data_format") != "channels_last":
        return f"inserted {layer.name} needs strides = pool_size, padding='valid' and channels_last"
    return size


def pooled_rows(
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
        or activation_name(old) != activation_name(new)
        or any(o.shape != n.shape for o, n in zip(old_w[1:], new_w[1:], strict=True))
    ):
        return f"{old.name} and {new.name} differ in units, activation or bias"
    return ""


def _identity_conv(layer: Any, results: Results) -> bool:
    """True for a convolution that got an identity in this transfer (rule 4)."""
    found = results.get(id(layer))
    return kind(layer) in CONV and found is not None and found.how == IDENTITY


def _keeps_channels(layer: Any, results: Results) -> bool:
    """True for a layer that keeps the values of the first channels when channels are added: a no-op,
    a channelwise layer, or a convolution that got an identity in this transfer (rule 4)."""
    if kind(layer) in NO_OP:
        return True
    if kind(layer) in _CHANNELWISE:
        return kind(layer) != "Activation" or activation_name(layer) not in ("softmax", "log_softmax")
    return _identity_conv(layer, results) and layer.get_config().get("data_format") == "channels_last"


def _anchor_refused(old_anchor: Any | None, new_anchor: Any | None, results: Results) -> str:
    """Why the new Flatten's anchor is not the old one's, copied or widened ("" when it is)."""
    anchor = results.get(id(new_anchor)) if new_anchor is not None else None
    if (old_anchor is None) == (new_anchor is None) and (
        old_anchor is None
        or (anchor is not None and anchor.how in (COPIED, WIDENED) and anchor.source == old_anchor.name)
    ):
        return ""
    found = f"{new_anchor.name}, {anchor.how if anchor else 'not transferred'}" if new_anchor else "input"
    wanted = old_anchor.name if old_anchor is not None else "the model input"
    return f"the last weighted layer before the new Flatten ({found}) is not {wanted} copied or widened"


def _inserted_before_flatten(old_flatten: Any, new_flatten: Any, results: Results) -> list[Any] | str:
    """The layers inserted at the end of the new Flatten's path, or why the paths do not correspond.

    Each path runs from the nearest weighted layer upstream (the anchor; for the new model, identity
    convs are part of the path) to the Flatten. The new anchor must be the old one, copied or widened,
    with the same spatial output shape; every layer on both paths must keep the first channels
    (``_keeps_channels``); and without no-ops and identity convs, the new path must be the old one
    (same classes and configs) followed by the returned layers.
    """
    old_found = _path_back(old_flatten, lambda _: False)
    new_found = _path_back(new_flatten, lambda layer: _identity_conv(layer, results))
    if isinstance(old_found, str) or isinstance(new_found, str):
        return old_found if isinstance(old_found, str) else str(new_found)
    (old_path, old_anchor), (new_path, new_anchor) = old_found, new_found
    refused = _anchor_refused(old_anchor, new_anchor, results)
    if refused:
        return refused
    old_in, new_in = _entering_shape(old_path, old_flatten), _entering_shape(new_path, new_flatten)
    if old_in[:-1] != new_in[:-1] or new_in[-1] < old_in[-1] or (old_anchor is None and old_in != new_in):
        return f"the features before the Flatten path changed shape: {old_in} -> {new_in}"
    for layer in (*old_path, *new_path):
        if not _keeps_channels(layer, results):
            return f"{layer.name} ({kind(layer)}) between the last copied layer and the Flatten"
    old_seq = [layer for layer in old_path if kind(layer) not in NO_OP]
    new_seq = [layer for layer in new_path if kind(layer) not in NO_OP and not _identity_conv(layer, results)]
    if len(new_seq) < len(old_seq) or any(
        type(o) is not type(n) or config_without_name(o) != config_without_name(n)
        for o, n in zip(old_seq, new_seq, strict=False)
    ):
        return "the new Flatten's path does not start with the old one's layers"
    return new_seq[len(old_seq) :]


def _combined_factors(inserted: Sequence[Any], rank: int) -> tuple[int, ...] | str:
    """The product of the pool sizes of the inserted layers, or why one of them is not a pooling."""
    factors = (1,) * rank
    for layer in inserted:
        size = _pool_factors(layer, rank)
        if isinstance(size, str):
            return size
        factors = tuple(f * s for f, s in zip(factors, size, strict=True))
    return factors


def _pooled_head(old: Any, new: Any, results: Results, combine: str) -> tuple[list[np.ndarray], str] | str:
    """Rule 3b: the weights of head ``new`` from old head ``old``, and a detail; or why not.

    Both heads read a channels_last Flatten (through no-op layers) and agree in units, activation
    and bias; the layers inserted before the new Flatten (``_inserted_before_flatten``) are poolings
    whose combined window maps the old Flatten's input shape onto the new one's spatial shape.
    """
    old_flatten, new_flatten = flatten_before(old), flatten_before(new)
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
    old_shape, new_shape = input_shape(old_flatten), input_shape(new_flatten)
    factors = _combined_factors(inserted, len(old_shape) - 1)
    if isinstance(factors, str):
        return factors
    expected = tuple(n // f for n, f in zip(old_shape[:-1], factors, strict=True))
    if len(factors) < 1 or new_shape[:-1] != expected or new_shape[-1] < old_shape[-1]:
        return f"the new Flatten's input {new_shape} is not {old_shape} pooled by {factors}"
    old_w = old.get_weights()
    kernel = pooled_rows(old_w[0], old_shape, new_shape, factors, combine)
    verb = {"sum": "summed", "mean": "averaged"}[combine]
    how = "rows copied" if set(factors) == {1} else f"rows {verb} over {'x'.join(map(str, factors))} windows"
    extra = new_shape[-1] - old_shape[-1]
    return [kernel, *old_w[1:]], f"{old_shape} -> {new_shape}: {how}, zero rows for {extra} new channels"


def pooled_from(
    candidates: Sequence[Any], new: Any, results: Results
) -> tuple[Any, list[np.ndarray], str] | str:
    """Rule 3b against each candidate old head in order: the first that applies, or why none does."""
    reasons = []
    for old in candidates:
        found = _pooled_head(old, new, results, POOLED_COMBINE)
        if not isinstance(found, str):
            return old, *found
        reasons.append(f"{old.name}: {found}")
    return "; ".join(reasons) or "no unmatched old Dense reads a Flatten"


def pooled_or_copied(old: Any, new: Any, results: Results) -> LayerTransfer:
    """A head with the old head's kernel shape whose Flatten input changed shape: rule 3b if it
    applies, else the copy rules 1-2 found (the detail says the features before the Flatten changed)."""
    pooled = _pooled_head(old, new, results, POOLED_COMBINE)
    if not isinstance(pooled, str):
        new.set_weights(pooled[0])
        return entry(new, POOLED, old.name, pooled[1])
    new.set_weights(old.get_weights())
    match = "same name" if old.name == new.name else "same position and shapes"
    detail = f"{match}, though the shape before the Flatten changed {flatten_changed(old, new)} (not pooled: {pooled})"
    return entry(new, COPIED, old.name, detail)
