"""Warm start: weights carried from round n's model into round n+1's augmented model.

Tiny models, no training except in the last test (one train.py subprocess per case).
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from tests.keras.hooks import hooks_env
from tests.modules import load_file

from keras_ct.keras.warmstart import transfer_weights, warm_start, weights_equal

pytestmark = [
    pytest.mark.training,
    # Keras 3.15's model.save() on TensorFlow 2.21 with NumPy 2 (not ours to fix).
    pytest.mark.filterwarnings(
        "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning"
    ),
]

ROOT = Path(__file__).resolve().parents[2]


def build(keras: Any, shape: tuple[int, ...], make: Callable[[Any], list[Any]]) -> Any:
    """A Sequential of ``make(keras.layers)``, its automatic names starting over as in a new process."""
    keras.backend.clear_session()
    return keras.Sequential([keras.Input(shape), *make(keras.layers)])


def relu_conv(layers: Any, filters: int, rank: int = 2, activation: str = "relu") -> Any:
    """A 3-wide ``padding="same"`` convolution of ``rank`` (ReLU unless told)."""
    return getattr(layers, f"Conv{rank}D")(filters, 3, padding="same", activation=activation)


def softmax_head(layers: Any, units: int = 10) -> list[Any]:
    """``Flatten`` and the softmax ``Dense`` output."""
    return [layers.Flatten(), layers.Dense(units, activation="softmax")]


def one_block(filters: int) -> Callable[[Any], list[Any]]:
    """A 2D conv block (``filters`` channels, pooled) and the softmax head."""
    return lambda layers: [relu_conv(layers, filters), layers.MaxPooling2D(), *softmax_head(layers)]


def old_and_new(
    keras: Any, shape: tuple[int, ...], old: Callable[[Any], list[Any]], new: Callable[[Any], list[Any]]
) -> tuple[Any, Any]:
    """The old model and the new one (built second, its names starting over)."""
    return build(keras, shape, old), build(keras, shape, new)


def images(n: int = 4, shape: tuple[int, ...] = (8, 8, 1)) -> np.ndarray:
    return np.random.default_rng(1).random((n, *shape)).astype("float32")


def snapshot(model: Any) -> dict[str, list[np.ndarray]]:
    return {layer.name: [w.copy() for w in layer.get_weights()] for layer in model.layers}


def same(a: list[np.ndarray], b: list[np.ndarray]) -> bool:
    return len(a) == len(b) and all(
        x.shape == y.shape and np.array_equal(x, y) for x, y in zip(a, b, strict=True)
    )


def pooled_rows(
    kernel: np.ndarray, old_shape: tuple[int, ...], new_shape: tuple[int, ...], p: int
) -> np.ndarray:
    """Rule 3b's head kernel written out index by index (channels_last rows, window p on each axis)."""
    *old_spatial, old_c = old_shape
    *new_spatial, new_c = new_shape
    old_rows = kernel.reshape(*old_spatial, old_c, -1)
    out = np.zeros((*new_spatial, new_c, kernel.shape[1]), dtype=kernel.dtype)
    for position in np.ndindex(*new_spatial):
        for offset in np.ndindex(*(p,) * len(new_spatial)):
            source = tuple(i * p + d for i, d in zip(position, offset, strict=True))
            out[position][:old_c] += old_rows[source]
    return out.reshape(-1, kernel.shape[1])


def test_conv_block_insert_copies_matching_layers_identity_inits_the_conv_and_pools_the_head(
    keras: Any,
) -> None:
    """6x6 -> conv(4)+pool -> 3x3x4 -> inserted conv(8)+pool -> 1x1x8: the head sums 2x2 windows."""
    old, new = old_and_new(
        keras,
        (6, 6, 1),
        one_block(4),
        lambda layers: [
            *(relu_conv(layers, 4), layers.MaxPooling2D(), relu_conv(layers, 8), layers.MaxPooling2D()),
            *softmax_head(layers),
        ],
    )
    old_weights = old.get_weights()

    report = transfer_weights(old, new)

    assert [(t.layer, t.how, t.source) for t in report.layers] == [
        ("conv2d", "copied", "conv2d"),
        ("conv2d_1", "identity", ""),
        ("dense", "pooled", "dense"),
    ]
    assert report.layers_transferred == 2
    assert "pooled: dense" in report.summary() and report.to_json()["layers"]["dense"] == "pooled <- dense"
    assert weights_equal(old.get_weights(), old_weights)
    assert same(new.get_layer("conv2d").get_weights(), old.get_layer("conv2d").get_weights())
    kernel, bias = new.get_layer("conv2d_1").get_weights()
    expected = np.zeros((3, 3, 4, 4), dtype="float32")
    for c in range(4):
        expected[1, 1, c, c] = 1.0
    np.testing.assert_array_equal(kernel[..., :4], expected)  # identity on the 4 input channels
    assert np.abs(kernel[..., 4:]).sum() > 0  # the 4 extra channels keep their random init
    np.testing.assert_array_equal(bias[:4], 0.0)
    old_kernel, old_bias = old.get_layer("dense").get_weights()
    head, head_bias = new.get_layer("dense").get_weights()
    assert head.shape == (8, 10)
    np.testing.assert_array_equal(head[4:], 0.0)  # the conv's 4 extra channels: no effect yet
    rows = old_kernel.reshape(3, 3, 4, 10)
    np.testing.assert_allclose(head[2], rows[0, 0, 2] + rows[0, 1, 2] + rows[1, 0, 2] + rows[1, 1, 2])
    np.testing.assert_allclose(head, pooled_rows(old_kernel, (3, 3, 4), (1, 1, 8), 2), rtol=1e-6)
    np.testing.assert_array_equal(head_bias, old_bias)


@pytest.mark.parametrize(
    "activation",
    [
        pytest.param("relu", id="identity-conv-pooled"),
        pytest.param("tanh", id="no-identity-keeps-the-coincidental-copy"),
    ],
)
def test_pooled_head_is_tried_before_a_coincidental_copy_in_1d(keras: Any, activation: str) -> None:
    """8 steps -> conv(4)+pool -> 4x4 -> inserted conv(8)+pool -> 2x8: 16 features both times, other ones."""
    old, new = old_and_new(
        keras,
        (8, 1),
        lambda layers: [relu_conv(layers, 4, 1), layers.MaxPooling1D(), *softmax_head(layers, 3)],
        lambda layers: [
            *(relu_conv(layers, 4, 1), layers.MaxPooling1D(), relu_conv(layers, 8, 1, activation)),
            *(layers.Dropout(0.2), layers.MaxPooling1D(), *softmax_head(layers, 3)),
        ],
    )

    report = transfer_weights(old, new)

    old_kernel, old_bias = old.get_layer("dense").get_weights()
    head, head_bias = new.get_layer("dense").get_weights()
    np.testing.assert_array_equal(head_bias, old_bias)
    if activation == "relu":
        assert [t.how for t in report.layers] == ["copied", "identity", "pooled"]
        np.testing.assert_allclose(head, pooled_rows(old_kernel, (4, 4), (2, 8), 2), rtol=1e-6)
    else:  # rule 3b does not apply: the copy by name of rule 1 stays, and says why
        assert [t.how for t in report.layers] == ["copied", "new", "copied"]
        assert "(4, 4) -> (2, 8)" in report.layers[2].detail and "not pooled" in report.layers[2].detail
        np.testing.assert_array_equal(head, old_kernel)


@pytest.mark.parametrize(
    "case",
    [
        pytest.param("conv2d", id="conv2d-block-without-pooling"),
        pytest.param("conv1d", id="conv1d-without-pooling-dropouts-and-a-second-dense"),
        pytest.param("widened", id="widened-last-conv"),
    ],
)
def test_pooled_head_without_pooling_preserves_the_function(keras: Any, case: str) -> None:
    def layers_of(layers: Any, inserted: bool) -> list[Any]:
        if case == "conv1d":
            return [
                relu_conv(layers, 4, 1),
                *([relu_conv(layers, 6, 1), layers.Dropout(0.3)] if inserted else []),
                layers.Flatten(),
                *([layers.Dropout(0.3)] if inserted else []),
                layers.Dense(8, activation="relu"),
                layers.Dense(3, activation="softmax"),
            ]
        if case == "widened":
            return [relu_conv(layers, 8 if inserted else 4), layers.MaxPooling2D(), *softmax_head(layers)]
        return [
            relu_conv(layers, 4),
            layers.MaxPooling2D(),
            *([relu_conv(layers, 8)] if inserted else []),
            *softmax_head(layers),
        ]

    shape = (8, 1) if case == "conv1d" else (8, 8, 1)
    old = build(keras, shape, lambda layers: layers_of(layers, False))
    new = build(keras, shape, lambda layers: layers_of(layers, True))

    report = transfer_weights(old, new)

    head = next(t for t in report.layers if t.how == "pooled")
    assert (head.layer, head.source) == ("dense", "dense") and "rows copied" in head.detail
    assert report.named("new") == ()
    if case == "conv1d":
        assert next(t for t in report.layers if t.layer == "dense_1").how == "copied"
    x = np.random.default_rng(2).normal(0.0, 1.0, (4, *shape)).astype("float32")
    np.testing.assert_allclose(np.asarray(new(x)), np.asarray(old(x)), rtol=0, atol=1e-5)


@pytest.mark.parametrize(
    ("inserted", "reason"),
    [
        pytest.param("narrower", "(conv2d_1, new)", id="inserted-conv-narrower-no-identity"),
        pytest.param("overlapping", "strides = pool_size", id="overlapping-pooling"),
    ],
)
def test_head_stays_new_when_the_inserted_path_does_not_qualify(
    keras: Any, inserted: str, reason: str
) -> None:
    def new_model(layers: Any) -> list[Any]:
        narrower = inserted == "narrower"
        return [
            relu_conv(layers, 8),
            layers.MaxPooling2D(),
            relu_conv(layers, 4 if narrower else 8),
            layers.MaxPooling2D() if narrower else layers.MaxPooling2D(3, strides=1),
            *softmax_head(layers),
        ]

    old, new = old_and_new(keras, (8, 8, 1), one_block(8), new_model)
    fresh = new.get_layer("dense").get_weights()

    report = transfer_weights(old, new)

    head = next(t for t in report.layers if t.layer == "dense")
    assert head.how == "new" and head.detail.startswith("not pooled: dense: ")
    assert reason in head.detail
    assert same(new.get_layer("dense").get_weights(), fresh)


def test_dense_inserted_before_output_matches_the_shifted_name_by_position(keras: Any) -> None:

    old, new = old_and_new(
        keras,
        (8, 8, 1),
        lambda layers: [
            layers.Flatten(),
            layers.Dense(16, activation="relu"),
            layers.Dense(10, activation="softmax"),
        ],
        lambda layers: [
            *(layers.Flatten(), layers.Dense(16, activation="relu"), layers.Dense(16, activation="relu")),
            layers.Dense(10, activation="softmax"),
        ],
    )
    assert [layer.name for layer in new.layers] == ["flatten", "dense", "dense_1", "dense_2"]

    report = transfer_weights(old, new)

    assert {t.layer: (t.how, t.source) for t in report.layers} == {
        "dense": ("copied", "dense"),
        "dense_1": ("identity", ""),
        "dense_2": ("copied", "dense_1"),  # the old output layer, renamed by the insertion
    }
    x = images()
    np.testing.assert_allclose(np.asarray(new(x)), np.asarray(old(x)), rtol=0, atol=1e-6)  # Net2DeeperNet


def test_widened_dense_keeps_old_units_and_the_function(keras: Any) -> None:

    def mlp(units: int) -> Callable[[Any], list[Any]]:
        return lambda layers: [
            *(layers.Flatten(), layers.Dense(units, activation="relu"), layers.Dropout(0.5)),
            layers.Dense(10, activation="softmax"),
        ]

    old, new = old_and_new(keras, (8, 8, 1), mlp(8), mlp(16))

    report = transfer_weights(old, new)

    assert [(t.layer, t.how) for t in report.layers] == [("dense", "widened"), ("dense_1", "widened")]
    old_kernel = old.get_layer("dense").get_weights()[0]
    np.testing.assert_array_equal(new.get_layer("dense").get_weights()[0][:, :8], old_kernel)
    np.testing.assert_array_equal(new.get_layer("dense_1").get_weights()[0][8:], 0.0)
    x = images()
    np.testing.assert_allclose(np.asarray(new(x)), np.asarray(old(x)), rtol=0, atol=1e-6)


@pytest.mark.parametrize(
    ("insert", "expected_identity"),
    [
        pytest.param("dropout", (), id="dropout-inserted-everything-copied"),
        pytest.param("conv", ("conv2d_1",), id="same-width-conv-is-exact-identity"),
    ],
)
def test_function_is_preserved(keras: Any, insert: str, expected_identity: tuple[str, ...]) -> None:

    old, new = old_and_new(
        keras,
        (8, 8, 1),
        lambda layers: [relu_conv(layers, 4), *softmax_head(layers)],
        lambda layers: [
            relu_conv(layers, 4),
            layers.Dropout(0.25) if insert == "dropout" else relu_conv(layers, 4),
            *softmax_head(layers),
        ],
    )

    report = transfer_weights(old, new)

    assert report.named("identity") == expected_identity
    assert report.named("new") == ()
    x = images()
    np.testing.assert_allclose(np.asarray(new(x)), np.asarray(old(x)), rtol=0, atol=1e-6)


def test_hidden_dense_that_took_the_output_layers_name_is_not_widened(keras: Any) -> None:
    """dense (softmax output) -> dense (new ReLU hidden) + dense_1 (output): not a widening."""
    old, new = old_and_new(
        keras,
        (8, 8, 1),
        softmax_head,
        lambda layers: [
            layers.Flatten(),
            layers.Dense(32, activation="relu"),
            layers.Dense(10, activation="softmax"),
        ],
    )
    fresh = new.get_layer("dense").get_weights()

    report = transfer_weights(old, new)

    assert [(t.layer, t.how) for t in report.layers] == [("dense", "new"), ("dense_1", "new")]
    assert same(new.get_layer("dense").get_weights(), fresh)


def test_no_identity_when_the_input_is_not_after_a_relu(keras: Any) -> None:

    old = build(keras, (6,), lambda layers: [layers.Dense(6), layers.Dense(3)])
    new = build(
        keras, (6,), lambda layers: [layers.Dense(6), layers.Dense(6, activation="relu"), layers.Dense(3)]
    )
    fresh = new.get_layer("dense_1").get_weights()

    report = transfer_weights(old, new)

    entry = next(t for t in report.layers if t.layer == "dense_1")
    assert (entry.how, entry.detail) == ("new", "input is not after a ReLU")
    assert same(new.get_layer("dense_1").get_weights(), fresh)
    assert [t.how for t in report.layers] == ["copied", "new", "copied"]


def test_old_model_is_unchanged(keras: Any) -> None:

    def cnn(units: int) -> Callable[[Any], list[Any]]:
        return lambda layers: [
            *(relu_conv(layers, 4), layers.Flatten(), layers.Dense(units, activation="relu")),
            layers.Dense(10, activation="softmax"),
        ]

    old, new = old_and_new(keras, (8, 8, 1), cnn(8), cnn(16))
    before = snapshot(old)
    names = [layer.name for layer in old.layers]

    transfer_weights(old, new)
    for layer in new.layers:  # changing the new model must not reach the old one (no shared arrays)
        layer.set_weights([w + 1.0 for w in layer.get_weights()])

    assert [layer.name for layer in old.layers] == names
    after = snapshot(old)
    assert all(same(before[name], after[name]) for name in names)


def test_warm_start_loads_the_file_and_reports(keras: Any, tmp_path: Path) -> None:

    old = build(keras, (8, 8, 1), softmax_head)
    old.save(tmp_path / "round-1.keras")
    new = build(keras, (8, 8, 1), softmax_head)
    log = io.StringIO()

    summary = warm_start(new, environ={"KERAS_CT_WARM_START_FROM": str(tmp_path / "round-1.keras")}, log=log)

    assert summary is not None
    assert summary["from"] == str(tmp_path / "round-1.keras")
    assert summary["layers_transferred"] == 1
    assert "warm start from" in log.getvalue() and "1 of 1 weighted layers" in log.getvalue()
    assert same(new.get_layer("dense").get_weights(), old.get_layer("dense").get_weights())
    assert warm_start(new, environ={}, log=log) is None


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        pytest.param(None, "the file does not exist", id="missing"),
        pytest.param(b"not a zip archive", "", id="corrupt"),
    ],
)
def test_warm_start_from_a_bad_file_warns_and_trains_from_scratch(
    keras: Any, tmp_path: Path, content: bytes | None, reason: str
) -> None:

    path = tmp_path / "round-1.keras"
    if content is not None:
        path.write_bytes(content)
    model = build(keras, (4,), lambda layers: [layers.Dense(2)])
    fresh = model.get_weights()
    log = io.StringIO()

    summary = warm_start(model, path, log=log)

    assert summary is not None and summary["layers_transferred"] == 0 and summary["error"]
    assert reason in summary["error"]
    message = log.getvalue()
    assert message.startswith("keras-ct: warning: warm start skipped, training from scratch")
    assert str(path) in message
    assert same(model.get_weights(), fresh)


@pytest.mark.slow
@pytest.mark.parametrize(
    "case",
    [
        pytest.param("warm", id="transfers-before-fit"),
        pytest.param("corrupt", id="corrupt-file-is-a-warning"),
    ],
)
def test_train_script_records_the_warm_start(keras: Any, tmp_path: Path, keras_home: Path, case: str) -> None:
    """ml_task/train.py with KERAS_CT_WARM_START_FROM: transfer recorded in the metrics, or a warning."""
    module = load_file("ml_task/model.py", "ml_model")
    previous = tmp_path / "round-1.keras"
    if case == "warm":
        keras.backend.clear_session()
        module.build_model().save(previous)
    else:
        previous.write_bytes(b"garbage")
    env = {
        **os.environ,
        "KERAS_HOME": str(keras_home),
        "TF_CPP_MIN_LOG_LEVEL": "3",
        **hooks_env(),  # train.py is a plain script: keras-ct's hooks warm-start it and write the metrics
        "KERAS_CT_METRICS_FILE": str(tmp_path / "metrics.json"),
        "KERAS_CT_WARM_START_FROM": str(previous),
    }
    env.pop("KERAS_CT_CHECKPOINT_DIR", None)
    proc = subprocess.run(
        [
            sys.executable,
            str(ROOT / "ml_task" / "train.py"),
            "--epochs",
            "1",
            "--output",
            str(tmp_path / "m.keras"),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert 0.0 <= metrics["accuracy"] <= 1.0
    if case == "warm":
        assert metrics["warm_start"]["layers_transferred"] == sum(
            bool(layer.weights) for layer in module.build_model().layers
        )
        assert "keras-ct: warm start from" in proc.stderr
    else:
        assert metrics["warm_start"]["layers_transferred"] == 0
        assert "warning: warm start skipped" in proc.stderr and str(previous) in proc.stderr
