"""Rules 2-4b of the warm start: alignment by position, widening (Net2WiderNet), identity (Net2DeeperNet)
and a new BatchNormalization's identity.

Each function reads layers and returns weights (or why not); none sets weights on a model.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from keras_ct.keras.warmstart.graph import CONV, activation_name, as_tuple, kind, producer, shapes

# Layers that pass a non-negative input on as non-negative and keep its features' meaning.
_SIGN_KEEPING = {
    "MaxPooling1D", "MaxPooling2D", "MaxPooling3D", "AveragePooling1D", "AveragePooling2D",
    "AveragePooling3D", "GlobalMaxPooling1D", "GlobalMaxPooling2D", "GlobalMaxPooling3D",
    "GlobalAveragePooling1D", "GlobalAveragePooling2D", "GlobalAveragePooling3D", "Dropout",
    "SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D", "Flatten", "Reshape", "ZeroPadding1D",
    "ZeroPadding2D", "ZeroPadding3D", "Identity",
}  # fmt: skip
# Layers between a widened layer and its consumer that keep the unit axis as it is (global pooling
# turns each channel of a feature map into one feature, in order).
_UNIT_KEEPING = {
    "Dropout",
    "AlphaDropout",
    "GaussianDropout",
    "GaussianNoise",
    "Activation",
    "ReLU",
    "Identity",
    *(f"Global{kind}Pooling{rank}D" for kind in ("Average", "Max") for rank in (1, 2, 3)),
}
#: A new BatchNormalization's identity: y = gamma * (x - mean) / sqrt(variance + epsilon) + beta.
_BATCH_NORM_IDENTITY = {"gamma": 1.0, "beta": 0.0, "moving_mean": 0.0, "moving_variance": 1.0}
_RELU = {"relu", "relu6"}


def align_by_position(old_left: Sequence[Any], new_left: Sequence[Any]) -> dict[int, Any]:
    """Per class, in model order: each new layer takes the next old layer with equal weight shapes."""
    matches: dict[int, Any] = {}
    by_class: dict[str, list[Any]] = {}
    for layer in old_left:
        by_class.setdefault(kind(layer), []).append(layer)
    for layer in new_left:
        pool = by_class.get(kind(layer), [])
        for i, candidate in enumerate(pool):
            if shapes(candidate) == shapes(layer):
                matches[id(layer)] = candidate
                del pool[: i + 1]  # keep the order: later new layers only match later old layers
                break
    return matches


def _after_relu(layer: Any) -> bool:
    """True when ``layer``'s input is the output of a ReLU, possibly through sign-keeping layers."""
    current = producer(layer)
    while current is not None:
        if kind(current) in _SIGN_KEEPING:
            current = producer(current)
            continue
        return activation_name(current) in _RELU
    return False


def consumer_through(model_layers: Sequence[Any], layer: Any) -> Any | None:
    """The weighted layer fed by ``layer`` through unit-keeping layers only (for widening)."""
    for candidate in model_layers:
        current = producer(candidate)
        while current is not None and current is not layer and kind(current) in _UNIT_KEEPING:
            current = producer(current)
        if current is layer and candidate.weights:
            return candidate
    return None


def _conv_identity_refused(layer: Any, kernel: np.ndarray) -> str:
    """Why a convolution cannot start as the identity (rule 4), or "" when it can."""
    config = layer.get_config()
    rank = CONV[kind(layer)]
    ones = (1,) * rank
    if (
        config.get("padding") != "same"
        or tuple(as_tuple(config.get("strides", 1), rank)) != ones
        or tuple(as_tuple(config.get("dilation_rate", 1), rank)) != ones
        or int(config.get("groups", 1)) != 1
        or any(k % 2 == 0 for k in kernel.shape[:rank])
    ):
        return "needs padding='same', stride 1, dilation 1, one group and an odd kernel"
    return ""


def identity(layer: Any) -> tuple[list[np.ndarray] | None, str]:
    """Near-identity weights for a new Dense/ConvND after a ReLU, or None and why not."""
    if not _after_relu(layer):
        return None, "input is not after a ReLU"
    activation = activation_name(layer)
    if activation not in (*_RELU, "linear"):
        return None, f"activation {activation} is not relu or linear"
    weights = layer.get_weights()
    kernel = weights[0]
    n_in, n_out = kernel.shape[-2], kernel.shape[-1]
    if n_out < n_in:
        return None, f"{n_out} outputs < {n_in} inputs: an identity would drop inputs"
    if kind(layer) in CONV:
        refused = _conv_identity_refused(layer, kernel)
        if refused:
            return None, refused
        centre = tuple(k // 2 for k in kernel.shape[: CONV[kind(layer)]])
        kernel[..., :n_in] = 0.0
        for channel in range(n_in):
            kernel[(*centre, channel, channel)] = 1.0
    elif kind(layer) == "Dense":
        kernel[:, :n_in] = np.eye(n_in, dtype=kernel.dtype)
    else:
        return None, f"no identity for {kind(layer)}"
    if len(weights) > 1:
        weights[1][:n_in] = 0.0
    detail = "identity" if n_out == n_in else f"identity on {n_in} of {n_out} outputs, the rest default"
    return [kernel, *weights[1:]], detail


def batch_norm_identity(layer: Any) -> tuple[list[np.ndarray] | None, str]:
    """gamma 1, beta 0, moving mean 0, moving variance 1: at inference ``x / sqrt(1 + epsilon)``."""
    weights = []
    for variable in layer.weights:
        name = variable.name.split("/")[-1].split(":")[0]
        if name not in _BATCH_NORM_IDENTITY:
            return None, f"unknown BatchNormalization weight {name}"
        weights.append(np.full(tuple(variable.shape), _BATCH_NORM_IDENTITY[name], dtype=variable.dtype))
    epsilon = float(layer.get_config().get("epsilon", 0.0))
    return weights, f"gamma 1, beta 0, moving mean 0, moving variance 1 (x / sqrt(1 + {epsilon:g}))"


def widened(old: Any, new: Any) -> list[np.ndarray] | None:
    """Old weights in the first units of a layer whose output units grew (all else equal)."""
    if kind(new) not in ("Dense", *CONV) or activation_name(old) != activation_name(new):
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


def fed_by_widened(old: Any, new: Any, extra: int) -> list[np.ndarray] | None:
    """A Dense whose input grew by ``extra`` units: old rows, zero rows for the new inputs."""
    if kind(new) != "Dense":
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
