"""Warm start after the changes of issue 13: what transfers, and that the function is kept.

batch-norm: the old weights are copied and the new BatchNormalization starts as the identity (gamma 1,
beta 0, moving mean 0, moving variance 1); augment-data and l2: every weight is copied and the model
computes what it did; widen: Net2WiderNet, the widened convolution keeps its old filters and its
consumer (a Flatten head, rule 3b, or a global pooling head, rule 3) gets zero weights for the new ones.
lr-schedule changes the training script only: the model, so the warm start, is unchanged.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from tests.keras.test_warmstart import images, old_and_new, relu_conv, softmax_head

from keras_ct.keras.warmstart import transfer_weights

pytestmark = [pytest.mark.training]


def _outputs_equal(old: Any, new: Any, atol: float = 1e-6) -> None:
    x = images()
    np.testing.assert_allclose(np.asarray(new(x, training=False)), np.asarray(old(x)), rtol=0, atol=atol)


def test_batch_norm_starts_as_the_identity(keras: Any) -> None:
    def model(normalised: bool) -> Callable[[Any], list[Any]]:
        return lambda layers: [
            relu_conv(layers, 8),
            *([layers.BatchNormalization()] if normalised else []),
            layers.MaxPooling2D(),
            *softmax_head(layers),
        ]

    old, new = old_and_new(keras, (8, 8, 1), model(False), model(True))

    report = transfer_weights(old, new)

    assert [(t.layer, t.how) for t in report.layers] == [
        ("conv2d", "copied"),
        ("batch_normalization", "identity"),
        ("dense", "copied"),
    ]
    gamma, beta, mean, variance = new.get_layer("batch_normalization").get_weights()
    assert (gamma == 1).all() and (beta == 0).all() and (mean == 0).all() and (variance == 1).all()
    _outputs_equal(old, new, atol=1e-3)  # x / sqrt(1 + 1e-3) before the softmax


@pytest.mark.parametrize("change", ["augment-data", "l2"])
def test_changes_without_new_weights_copy_everything_exactly(keras: Any, change: str) -> None:
    def model(changed: bool) -> Callable[[Any], list[Any]]:
        def make(layers: Any) -> list[Any]:
            augment = [
                layers.RandomTranslation(0.1, 0.1),
                layers.RandomZoom(0.1),
                layers.RandomRotation(0.05),
            ]
            decay = {"kernel_regularizer": keras.regularizers.L2(1e-4)} if changed and change == "l2" else {}
            return [
                *(augment if changed and change == "augment-data" else []),
                layers.Conv2D(8, 3, padding="same", activation="relu", **decay),
                layers.MaxPooling2D(),
                layers.Flatten(),
                layers.Dense(10, activation="softmax", **decay),
            ]

        return make

    old, new = old_and_new(keras, (8, 8, 1), model(False), model(True))

    report = transfer_weights(old, new)

    assert {t.how for t in report.layers} == {"copied"}
    _outputs_equal(old, new)


@pytest.mark.parametrize(
    ("head", "how"),
    [
        pytest.param(lambda layers: [layers.MaxPooling2D(), layers.Flatten()], "pooled", id="flatten-head"),
        pytest.param(lambda layers: [layers.GlobalAveragePooling2D()], "widened", id="global-pooling-head"),
    ],
)
def test_widened_convolution_keeps_its_filters_and_the_function(
    keras: Any, head: Callable[[Any], list[Any]], how: str
) -> None:
    def model(filters: int) -> Callable[[Any], list[Any]]:
        return lambda layers: [
            relu_conv(layers, 4),
            relu_conv(layers, filters),
            *head(layers),
            layers.Dense(10, activation="softmax"),
        ]

    old, new = old_and_new(keras, (8, 8, 1), model(8), model(16))

    report = transfer_weights(old, new)

    assert [(t.layer, t.how) for t in report.layers] == [
        ("conv2d", "copied"),
        ("conv2d_1", "widened"),
        ("dense", how),
    ]
    kernel = new.get_layer("conv2d_1").get_weights()[0]
    np.testing.assert_array_equal(kernel[..., :8], old.get_layer("conv2d_1").get_weights()[0])
    _outputs_equal(old, new)
