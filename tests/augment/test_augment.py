"""augment(): candidate order, fallback, dry run, epochs routing and untouched files on every error.

The build check is swapped for an in-process stand-in here (its own behaviour is proven against real
Keras in test_augment_training.py), so these tests stay fast and decide exactly which candidate builds.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest

import keras_ct.augment as augment_module
from keras_ct.augment import AugmentResult, augment, plan_edit
from keras_ct.augment.validate import BuildRequest, BuildResult
from keras_ct.errors import AugmentError, ConfigError
from keras_ct.round.history import EpochCurves, RoundRecord

MODELS = Path(__file__).resolve().parents[1] / "fixtures" / "models"


def missed_after_5_epochs(
    accuracy: float, train: tuple[float, ...], val: tuple[float, ...]
) -> tuple[RoundRecord]:
    """A history of one round that missed 0.95, with its epoch curves."""
    curves = EpochCurves(accuracy=train, val_accuracy=val)
    return (
        RoundRecord(round=1, accuracy=accuracy, threshold=0.95, status="missed", epochs=5, curves=curves),
    )


UNDERFITS = missed_after_5_epochs(0.91, (0.8, 0.88, 0.91, 0.92, 0.92), (0.8, 0.88, 0.9, 0.91, 0.91))
STILL_RISING = missed_after_5_epochs(0.92, (0.7, 0.82, 0.88, 0.91, 0.93), (0.7, 0.82, 0.87, 0.9, 0.92))


class Builds:
    """Stands in for validate_builds: records every batch; ``failing`` maps a label to its error."""

    def __init__(self, failing: dict[str, str] | None = None) -> None:
        self.failing = failing or {}
        self.batches: list[list[BuildRequest]] = []

    def __call__(
        self,
        requests: Sequence[BuildRequest],
        *,
        python: str,
        cwd: Path | None,
        timeout_s: float,
        run_script: object = None,
        env: object = None,
    ) -> list[BuildResult]:
        self.batches.append(list(requests))
        return [
            BuildResult(label=r.label, ok=False, error=self.failing[r.label])
            if r.label in self.failing
            else BuildResult(label=r.label, ok=True, params=1000 + len(r.source))
            for r in requests
        ]


@pytest.fixture
def model(tmp_path: Path) -> Path:
    path = tmp_path / "model.py"
    path.write_bytes((MODELS / "sequential_layers.py").read_bytes())
    return path


def _use(monkeypatch: pytest.MonkeyPatch, builds: Builds) -> Builds:
    monkeypatch.setattr(augment_module, "validate_builds", builds)
    return builds


def test_first_candidate_that_builds_is_written(model: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    builds = _use(
        monkeypatch, Builds({"conv-block": "ValueError: Computed output size would be zero or negative"})
    )
    original = model.read_text()
    result = augment(model, history=UNDERFITS, cwd=model.parent)
    assert result.change == "dense"
    assert result.rationale == (
        "accuracy 0.9100 < 0.95 and train accuracy 0.9200 < 0.95: the model underfits "
        "(it cannot fit the training data to the threshold), adding a hidden Dense(64) layer"
    )
    assert result.tried == (
        (
            "conv-block",
            "the edited model does not build: ValueError: Computed output size would be zero or negative",
        ),
    )
    assert result.written and result.path == model
    assert model.read_text() == plan_edit(original, "dense", path="model.py").new_source
    assert result.diff.startswith("--- a/model.py\n+++ b/model.py\n")
    assert '+            layers.Dense(64, activation="relu"),\n' in result.diff
    assert result.params_before == 1000 + len(original)
    assert result.params_after == 1000 + len(model.read_text())
    # One build batch: the current model and every planned candidate (epochs is not available here).
    assert [[r.label for r in batch] for batch in builds.batches] == [
        ["current model", "conv-block", "dense", "widen", "batch-norm", "dropout"]
    ]


def test_dry_run_leaves_the_file_alone(model: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _use(monkeypatch, Builds())
    before = model.read_bytes()
    result = augment(model, change="conv-block", dry_run=True, cwd=model.parent)
    assert not result.written
    assert model.read_bytes() == before
    assert '+            layers.Conv2D(64, 3, padding="same", activation="relu"),\n' in result.diff
    assert result.rationale == "conv-block requested, adding a Conv2D(64) + MaxPooling2D block"


def test_nothing_builds_lists_every_reason_and_keeps_the_file(
    model: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _use(
        monkeypatch,
        Builds(
            {
                "conv-block": "ValueError: A",
                "dense": "ValueError: B",
                "widen": "ValueError: D",
                "batch-norm": "ValueError: E",
                "dropout": "TypeError: C",
            }
        ),
    )
    before = model.read_bytes()
    with pytest.raises(AugmentError) as caught:
        augment(model, history=UNDERFITS, cwd=model.parent)
    assert str(caught.value) == (
        "no change to model.py could be made; tried conv-block: the edited model does not build: ValueError: A; "
        "dense: the edited model does not build: ValueError: B; "
        "widen: the edited model does not build: ValueError: D; "
        "batch-norm: the edited model does not build: ValueError: E; "
        "dropout: the edited model does not build: TypeError: C"
    )
    assert model.read_bytes() == before


def test_current_model_that_does_not_build_is_reported(model: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _use(monkeypatch, Builds({"current model": "ModuleNotFoundError: No module named 'keras'"}))
    before = model.read_bytes()
    with pytest.raises(
        AugmentError, match=r"^model.py: the current model does not build \(ModuleNotFoundError"
    ):
        augment(model, change="dense", cwd=model.parent)
    assert model.read_bytes() == before


SYNTAX_ERROR = "import keras\n\n\ndef build_model():\n    return keras.Sequential([keras.Input((8,)) keras.layers.Dense(10)])\n"


@pytest.mark.parametrize(
    ("fixture", "line", "start"),
    [
        pytest.param(
            "comprehension.py",
            9,
            "keras.Sequential(...) takes its layers from `[layers.Dense(",
            id="comprehension",
        ),
        pytest.param("", 5, "syntax error: invalid syntax", id="syntax-error"),
        pytest.param("no_function.py", None, "no function build_model() found", id="no-function"),
        pytest.param(
            "subclassed.py", 17, "no keras.Sequential(...) or keras.Model(...) call found", id="subclassed"
        ),
        pytest.param("add_in_loop.py", 11, "model.add(...) is not a plain statement", id="loop"),
        pytest.param(
            "residual.py", 12, "`x = layers.add([x, shortcut])` is not a single layer call", id="branch"
        ),
    ],
)
@pytest.mark.parametrize("change", ["auto", "conv-block"])
def test_unsupported_model_fails_before_any_build_and_keeps_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fixture: str, line: int | None, start: str, change: str
) -> None:
    builds = _use(monkeypatch, Builds())
    path = tmp_path / "model.py"
    path.write_bytes((MODELS / "unsupported" / fixture).read_bytes() if fixture else SYNTAX_ERROR.encode())
    before = path.read_bytes()
    with pytest.raises(AugmentError) as caught:
        augment(path, change=change, history=UNDERFITS, cwd=tmp_path)
    # The same reason for every candidate: said once, with the file and line of the problem.
    assert str(caught.value).startswith(f"model.py:{line}: {start}" if line else f"model.py: {start}")
    assert (caught.value.file, caught.value.line) == ("model.py", line)
    assert builds.batches == []
    assert path.read_bytes() == before


def test_met_threshold_needs_no_change(model: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _use(monkeypatch, Builds())
    passed = (RoundRecord(round=2, accuracy=0.96, threshold=0.95, status="passed"),)
    with pytest.raises(AugmentError, match=r"nothing to augment in model\.py: round 2 met the threshold"):
        augment(model, history=passed, cwd=model.parent)


def test_epochs_goes_to_the_training_script(model: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _use(monkeypatch, Builds())
    train = model.parent / "train.py"
    train.write_text(
        'import argparse\np = argparse.ArgumentParser()\np.add_argument("--epochs", type=int, default=5)\n'
    )
    model_before = model.read_bytes()
    result = augment(model, history=STILL_RISING, train_script=train, cwd=model.parent)
    assert result.change == "epochs"
    assert result.path == train
    assert result.rationale.endswith("training stopped too early, raising epochs from 5 to 10")
    assert "default=10)" in train.read_text()
    assert model.read_bytes() == model_before
    assert result.params_before == result.params_after


def test_epochs_in_the_config_train_command(model: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _use(monkeypatch, Builds())
    config = model.parent / ".keras-ct.yml"
    config.write_text("threshold: 0.95\ntrain-command: python train.py --epochs 5\n")
    result = augment(
        model,
        change="epochs",
        config_file=config,
        train_command="python train.py --epochs 5",
        train_script=model.parent / "train.py",
        cwd=model.parent,
    )
    assert result.path == config
    assert config.read_text() == "threshold: 0.95\ntrain-command: python train.py --epochs 10\n"
    assert result.diff.startswith("--- a/.keras-ct.yml\n")


def test_epochs_fixed_by_an_outside_command_is_skipped(model: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _use(monkeypatch, Builds())
    train = model.parent / "train.py"
    train.write_text(
        'import argparse\np = argparse.ArgumentParser()\np.add_argument("--epochs", type=int, default=5)\n'
    )
    result = augment(
        model,
        history=STILL_RISING,
        train_script=train,
        train_command="python train.py --epochs 5",
        cwd=model.parent,
    )
    assert result.change == "conv-block"
    assert result.tried[0][0] == "epochs"
    assert "the train command passes --epochs 5 itself" in result.tried[0][1]
    assert "default=5)" in train.read_text()


def test_crlf_model_file_keeps_its_line_endings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _use(monkeypatch, Builds())
    path = tmp_path / "model.py"
    path.write_bytes((MODELS / "functional.py").read_bytes().replace(b"\n", b"\r\n"))
    augment(path, change="dropout", cwd=tmp_path)
    data = path.read_bytes()
    assert b"x = layers.Dropout(0.5)(x)\r\n" in data
    assert data.count(b"\n") == data.count(b"\r\n")


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        pytest.param({"change": "wider"}, ConfigError, "change must be one of auto, conv-block, dense, dropout, epochs",
                     id="bad-change"),
        pytest.param({"policy": "random"}, ConfigError, "policy must be one of diagnose, naive, got 'random'",
                     id="bad-policy"),
    ],
)  # fmt: skip
def test_bad_arguments(model: Path, kwargs: dict[str, str], error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        augment(model, **kwargs)  # type: ignore[arg-type]


def test_missing_model_file(tmp_path: Path) -> None:
    with pytest.raises(AugmentError, match=r"model file .*nope\.py not found"):
        augment(tmp_path / "nope.py", change="dense")


def test_result_is_frozen(model: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _use(monkeypatch, Builds())
    result = augment(model, change="dense", dry_run=True, cwd=model.parent)
    assert isinstance(result, AugmentResult)
    with pytest.raises(AttributeError):
        result.change = "x"  # type: ignore[misc]


def test_importing_augment_does_not_import_tensorflow() -> None:
    code = (
        "import sys, keras_ct.augment, keras_ct.augment.validate, keras_ct.augment.policy; "
        "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules, 'TF imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_different_reasons_are_listed_per_candidate(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _use(
        monkeypatch, Builds({"dense": "ValueError: B", "widen": "ValueError: B", "dropout": "ValueError: B"})
    )
    path = tmp_path / "mlp.py"
    path.write_bytes((MODELS / "mlp_dense.py").read_bytes())
    with pytest.raises(AugmentError) as caught:
        augment(path, history=UNDERFITS, cwd=tmp_path)
    assert str(caught.value) == (
        "no change to mlp.py could be made; tried conv-block: mlp.py:7: conv-block needs a convolution layer "
        "(Conv1D/Conv2D) in build_model(), found Input, Dense, Dense; use the dense change for a model without "
        "convolutions; dense, widen, dropout: the edited model does not build: ValueError: B; "
        "batch-norm: mlp.py:7: batch-norm needs a convolution layer (Conv1D/Conv2D) in build_model()"
    )


# A model file in another encoding is valid Python (a UTF-8 BOM, a PEP 263 coding line): augment reads it
# as Python does and writes the change back in that same encoding.
LATIN1_HEADER = "# -*- coding: latin-1 -*-\n# Modèle à une couche, écrit sous Windows\n"


@pytest.mark.parametrize(
    ("encode", "check"),
    [
        pytest.param(
            lambda text: (LATIN1_HEADER + text).encode("latin-1"),
            lambda data: data.startswith(LATIN1_HEADER.encode("latin-1")) and data.decode("latin-1"),
            id="pep263-latin-1",
        ),
        pytest.param(
            lambda text: b"\xef\xbb\xbf" + ("# Modèle\n" + text).encode("utf-8"),
            lambda data: data.startswith(b"\xef\xbb\xbf# Mod\xc3\xa8le\n") and data[3:].decode("utf-8"),
            id="utf-8-bom",
        ),
    ],
)
def test_a_model_file_keeps_its_encoding(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, encode: object, check: object
) -> None:
    builds = _use(monkeypatch, Builds())
    path = tmp_path / "model.py"
    text = (MODELS / "sequential_layers.py").read_text(encoding="utf-8")
    path.write_bytes(encode(text))  # type: ignore[operator]
    result = augment(path, change="dropout", cwd=tmp_path)
    data = path.read_bytes()
    assert result.written
    assert check(data)  # type: ignore[operator]
    assert data.count(b"\xef\xbb\xbf") <= 1
    assert b"layers.Dropout(0.5)" in data
    assert "+            layers.Dropout(0.5),\n" in result.diff
    # The build check got the text as Python reads it: the accented header, no BOM character.
    source = builds.batches[0][0].source
    assert "Modèle" in source and not source.startswith("\ufeff")
