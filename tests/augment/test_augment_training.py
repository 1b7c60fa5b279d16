"""Real Keras builds in a subprocess: every corpus edit builds, failures say why, augment falls back.

Each test pays the TensorFlow import once (~6 s) by validating all its candidates in one subprocess.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from keras_ct.augment import augment, plan_edit
from keras_ct.augment.edit import MODEL_CHANGES
from keras_ct.augment.validate import BuildRequest, BuildResult, validate_build, validate_builds

pytestmark = [pytest.mark.training, pytest.mark.slow]

MODELS = Path(__file__).resolve().parents[1] / "fixtures" / "models"
GOLDEN = MODELS / "golden"
CORPUS: dict[str, dict[str, str]] = json.loads((MODELS / "corpus.json").read_text(encoding="utf-8"))

CONV_LAYERS = ("Conv1D", "Conv2D")


def _convs(result: BuildResult) -> list[int]:
    return [layer.params for layer in result.layers if layer.cls in CONV_LAYERS]


def _count(result: BuildResult, cls: str) -> int:
    return sum(layer.cls == cls for layer in result.layers)


def test_every_corpus_model_and_edit_builds(keras_home: Path) -> None:
    requests: list[BuildRequest] = []
    for name, options in CORPUS.items():
        function = options.get("model_function", "build_model")
        stem = Path(name).stem
        original = (MODELS / name).read_text(encoding="utf-8")
        requests.append(BuildRequest(MODELS / name, original, function, label=f"{stem}"))
        for golden in sorted(GOLDEN.glob(f"{stem}.*.py")):
            change = golden.name.split(".")[1]
            requests.append(BuildRequest(MODELS / name, golden.read_text(encoding="utf-8"), function,
                                         label=f"{stem}.{change}"))  # fmt: skip
            if change == "conv-block":
                twice = plan_edit(
                    golden.read_text(encoding="utf-8"), change, model_function=function, path=name
                )
                requests.append(
                    BuildRequest(MODELS / name, twice.new_source, function, label=f"{stem}.conv-block2")
                )
    results = {r.label: r for r in validate_builds(requests, timeout_s=600)}
    failed = {label: r.error for label, r in results.items() if not r.ok}
    assert failed == {}
    assert len(results) == len(requests) >= 12 * 7
    assert {label.split(".")[1] for label in results if "." in label} >= set(MODEL_CHANGES)
    for label, result in results.items():
        if "." not in label:
            continue
        stem, change = label.split(".")
        before = results[stem]
        if change == "dense":
            assert result.params > before.params, label
            assert _count(result, "Dense") in (_count(before, "Dense"), _count(before, "Dense") + 1)
        elif change.startswith("conv-block"):
            previous = results[f"{stem}.conv-block"] if change == "conv-block2" else before
            # One more convolution, with twice the filters of the last one (so more conv parameters); the
            # total may shrink when the extra pooling makes the Flatten head smaller.
            assert len(_convs(result)) == len(_convs(previous)) + 1, label
            assert sum(_convs(result)) > sum(_convs(previous)), label
        elif change == "dropout":
            assert result.params == before.params, label
            assert _count(result, "Dropout") == _count(before, "Dropout") + 1, label
        elif change == "batch-norm":
            assert _count(result, "BatchNormalization") > _count(before, "BatchNormalization"), label
            assert result.params > before.params, label
        elif change == "augment-data":
            for cls in ("RandomTranslation", "RandomZoom", "RandomRotation"):
                assert _count(result, cls) == 1, label
            assert result.params == before.params, label
        elif change == "widen":
            assert result.params > before.params, label
            assert len(result.layers) == len(before.layers), label
        elif change == "l2":
            assert result.params == before.params and len(result.layers) == len(before.layers), label


GOOD = textwrap.dedent(
    """
    import keras
    from keras import layers


    def build_model():
        return keras.Sequential(
            [
                keras.Input(shape=(4, 4, 1)),
                layers.Conv2D(8, 3, padding="same", activation="relu"),
                layers.MaxPooling2D(pool_size=3),
                layers.Flatten(),
                layers.Dense(10),
            ]
        )
    """
).lstrip()
# A valid 3x3 convolution on the 1x1 map left after the pooling: Keras refuses to build it.
FAILING = GOOD.replace(
    "layers.Flatten(),", 'layers.Conv2D(8, 3, activation="relu"),\n            layers.Flatten(),'
)


def test_failures_are_reported_with_their_reason(tmp_path: Path, keras_home: Path) -> None:
    model = tmp_path / "model.py"
    crash = "import os\n\n\ndef build_model():\n    os._exit(3)\n"
    requests = [
        BuildRequest(model, FAILING, label="negative size"),
        BuildRequest(model, GOOD, model_function="make", label="no function"),
        BuildRequest(model, crash, label="crash"),
        BuildRequest(model, GOOD, label="good"),
        BuildRequest(model, "def build_model():\n    return 42\n", label="not a model"),
    ]
    results = validate_builds(requests)
    assert [r.label for r in results] == [r.label for r in requests]
    negative, missing, crashed, ok, not_model = results
    assert not negative.ok
    assert negative.error.startswith("ValueError: Computed output size would be zero or negative")
    assert negative.error.endswith(f"({model}:6)")
    assert missing.error == f"{model} has no function make()"
    assert crashed.error == "the validation process exited with code 3"
    assert ok.ok and ok.params == 8 * 9 + 8 + 8 * 10 + 10
    assert [layer.cls for layer in ok.layers] == ["Conv2D", "MaxPooling2D", "Flatten", "Dense"]
    assert ok.summary().splitlines()[0].startswith("Conv2D ")
    assert negative.summary().startswith("does not build: ValueError: Computed output size")
    assert not_model.error == "build_model() returned int, not a Keras model"
    assert not model.exists()  # candidates live in a temporary folder, never beside the real file


def test_unbuilt_model_is_built_with_the_real_input_shape(tmp_path: Path, keras_home: Path) -> None:
    source = "import keras\n\n\ndef build_model():\n    return keras.Sequential([keras.layers.Dense(10)])\n"
    model = tmp_path / "model.py"
    assert validate_build(model, source, input_shape=(64,)).params == 650
    unknown = validate_build(model, source)
    assert unknown.error.startswith("the model is not built and its input shape is unknown")


def test_augment_falls_back_when_conv_block_does_not_build(tmp_path: Path, keras_home: Path) -> None:
    # The input shape comes from a helper, so the static check cannot see that a second pooling of size 3
    # on a 1x1 map fails: the real build does, and the next candidate is written instead.
    path = tmp_path / "model.py"
    source = GOOD.replace("shape=(4, 4, 1)", "shape=input_shape()").replace(
        "def build_model():", "def input_shape():\n    return (4, 4, 1)\n\n\ndef build_model():"
    )
    path.write_text(source)
    result = augment(path, change="auto", cwd=tmp_path)
    assert result.change == "dense"
    assert len(result.tried) == 1
    change, reason = result.tried[0]
    assert change == "conv-block"
    assert reason.startswith(
        "the edited model does not build: ValueError: Computed output size would be zero"
    )
    assert reason.endswith("(model.py:10)")  # the Sequential(...) call builds the layers
    assert result.written
    assert result.params_after > result.params_before
    assert "layers.Dense(64, activation=" in path.read_text()
