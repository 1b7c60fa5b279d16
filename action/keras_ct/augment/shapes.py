"""Static shapes: where the input shape is known, follow the spatial size through the layers."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, cast

import libcst as cst

from keras_ct.augment.find import Model, Slot
from keras_ct.augment.layers import CONV, INPUT, NEUTRAL, POOL
from keras_ct.augment.source import Doc, call_arg, evaluate


def _ints(value: Any, rank: int) -> tuple[int, ...] | None:
    if isinstance(value, int):
        return (value,) * rank
    if isinstance(value, tuple) and len(value) == rank and all(isinstance(v, int) for v in value):
        return value
    return None


def layer_window(
    doc: Doc, func: cst.FunctionDef, slot: Slot, rank: int
) -> tuple[tuple[int, ...], tuple[int, ...], str] | None:
    """(window, strides, padding) of a conv or pooling layer call, or None when not literal."""
    call = cast(cst.Call, slot.call)
    if slot.kind in CONV:
        size_arg, stride_arg, pad_arg = (
            call_arg(call, 1, "kernel_size"),
            call_arg(call, 2, "strides"),
            call_arg(call, 3, "padding"),
        )
        default_size: Any = None
        default_strides: Any = 1
        if call_arg(call, 99, "dilation_rate") is not None:
            return None
    else:
        size_arg, stride_arg, pad_arg = (
            call_arg(call, 0, "pool_size"),
            call_arg(call, 1, "strides"),
            call_arg(call, 2, "padding"),
        )
        default_size = 2
        default_strides = None
    size = _ints(evaluate(doc, func, size_arg.value) if size_arg else default_size, rank)
    if size is None:
        return None
    raw_strides = evaluate(doc, func, stride_arg.value) if stride_arg else default_strides
    strides = size if raw_strides is None else _ints(raw_strides, rank)
    padding = evaluate(doc, func, pad_arg.value) if pad_arg else "valid"
    if strides is None or padding not in ("valid", "same"):
        return None
    return size, strides, padding


def apply_window(
    dims: tuple[int, ...], window: tuple[tuple[int, ...], tuple[int, ...], str]
) -> tuple[int, ...]:
    size, strides, padding = window
    if padding == "same":
        return tuple(math.ceil(d / s) for d, s in zip(dims, strides, strict=True))
    return tuple((d - k) // s + 1 for d, k, s in zip(dims, size, strides, strict=True))


def spatial_after(
    doc: Doc, func: cst.FunctionDef, model: Model, upto: int, override: Sequence[int] | None
) -> tuple[int, ...] | None:
    """The spatial size of the feature map after slot ``upto`` (inclusive), when it can be computed."""
    shape = tuple(override) if override else model.input_shape
    if shape is None or len(shape) < 2 or any(d is None for d in shape[:-1]):
        return None
    dims = cast(tuple[int, ...], tuple(shape[:-1]))
    for slot in model.slots[: upto + 1]:
        if slot.kind in INPUT or slot.kind in NEUTRAL:
            continue
        rank = CONV.get(slot.kind) or POOL.get(slot.kind)
        if rank is None or rank != len(dims):
            return None
        window = layer_window(doc, func, slot, rank)
        if window is None:
            return None
        dims = apply_window(dims, window)
    return dims
