"""Reading a built Keras model's layer graph: weighted layers, producers, activations, shapes.

Every rule of the warm start looks at layers through these; none of them changes a model.
"""

from __future__ import annotations

from typing import Any

# Layers that are the identity at inference and keep the shape (rule 3b looks through them).
NO_OP = {
    "Dropout", "SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D", "AlphaDropout",
    "GaussianDropout", "GaussianNoise", "Identity",
}  # fmt: skip
#: The convolutions the rules handle, by class name, with their rank.
CONV = {"Conv1D": 1, "Conv2D": 2, "Conv3D": 3}


def kind(layer: Any) -> str:
    """The layer's class name (``Dense``, ``Conv2D``...)."""
    return type(layer).__name__


def shapes(layer: Any) -> tuple[tuple[int, ...], ...]:
    return tuple(tuple(int(d) for d in w.shape) for w in layer.weights)


def flat_layers(model: Any) -> list[Any]:
    return [layer for layer in model.layers if kind(layer) != "InputLayer"]


def weighted(model: Any) -> list[Any]:
    return [layer for layer in flat_layers(model) if layer.weights]


def upstream(layer: Any) -> tuple[str, Any]:
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
    if kind(operation) == "InputLayer":
        return "input", None
    return "layer", operation


def producer(layer: Any) -> Any | None:
    """The layer whose output feeds ``layer`` (None for the model input or several inputs)."""
    where, operation = upstream(layer)
    return operation if where == "layer" else None


def activation_name(layer: Any) -> str | None:
    if kind(layer) == "ReLU":
        return "relu"
    activation = getattr(layer, "activation", None)
    if activation is None:
        return None
    name = getattr(activation, "__name__", None) or str(activation)
    return str(name)


def flatten_before(dense: Any) -> Any | None:
    """The ``Flatten`` feeding ``dense`` directly or through no-op layers (Dropout...), else None."""
    where, current = upstream(dense)
    while where == "layer" and kind(current) in NO_OP:
        where, current = upstream(current)
    return current if where == "layer" and kind(current) == "Flatten" else None


def input_shape(layer: Any) -> tuple[int, ...]:
    """The shape of ``layer``'s input without the batch axis."""
    return tuple(int(d) for d in layer.input.shape[1:])


def as_tuple(value: Any, rank: int) -> tuple[int, ...]:
    return tuple(value) if isinstance(value, list | tuple) else (int(value),) * rank


def config_without_name(layer: Any) -> dict[str, Any]:
    config = dict(layer.get_config())
    config.pop("name", None)
    return config
