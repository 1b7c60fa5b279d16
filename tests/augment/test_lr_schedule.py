"""The lr-schedule change: ReduceLROnPlateau and EarlyStopping added to the training script's fit calls."""

from __future__ import annotations

import ast
import difflib
import textwrap
from collections.abc import Sequence
from pathlib import Path

import pytest

from keras_ct.augment import SCRIPT_CHANGES, augment
from keras_ct.augment.edit import MODEL_CHANGES
from keras_ct.augment.lr_schedule import plan_lr_schedule_edit
from keras_ct.augment.policy import GENERIC_ACTION
from keras_ct.augment.validate import BuildRequest, BuildResult
from keras_ct.config import CHANGES
from keras_ct.errors import AugmentError

ROOT = Path(__file__).resolve().parents[2]
MODELS = ROOT / "tests" / "fixtures" / "models"
REDUCE = 'keras.callbacks.ReduceLROnPlateau(monitor="{m}", factor=0.5, patience=2),'
STOP = 'keras.callbacks.EarlyStopping(monitor="{m}", patience=4, restore_best_weights=True),'


def _script(body: str, imports: str = "import keras") -> str:
    return f"{imports}\n\n\ndef main(model, x, y):\n" + textwrap.indent(textwrap.dedent(body), "    ")


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        pytest.param(
            "model.fit(x, y, epochs=5)\n",
            f"model.fit(x, y, epochs=5, callbacks=[\n    {REDUCE.format(m='loss')}\n    {STOP.format(m='loss')}\n])\n",
            id="no-callbacks-monitors-loss",
        ),
        pytest.param(
            "model.fit(x, y, validation_split=0.1, callbacks=[log])\n",
            f"model.fit(x, y, validation_split=0.1, callbacks=[\n    log,\n    {REDUCE.format(m='val_loss')}\n"
            f"    {STOP.format(m='val_loss')}\n])\n",
            id="literal-list-gains-two-validates",
        ),
        pytest.param(
            "model.fit(x, y, validation_data=(x, y), callbacks=cbs)\n",
            f"model.fit(x, y, validation_data=(x, y), callbacks=[\n    *cbs,\n    {REDUCE.format(m='val_loss')}\n"
            f"    {STOP.format(m='val_loss')}\n])\n",
            id="expression-unpacked",
        ),
    ],
)
def test_fit_gets_the_callbacks(body: str, expected: str) -> None:
    edit = plan_lr_schedule_edit(_script(body), path="train.py")
    assert edit.new_source == _script(expected)
    assert edit.change == "lr-schedule"
    assert edit.line == 5
    assert edit.action == "adding ReduceLROnPlateau and EarlyStopping(restore_best_weights=True) to fit"


def test_tf_keras_spelling() -> None:
    edit = plan_lr_schedule_edit(_script("model.fit(x, y)\n", "import tensorflow as tf"), path="train.py")
    assert "tf.keras.callbacks.ReduceLROnPlateau(" in edit.new_source
    assert "tf.keras.callbacks.EarlyStopping(" in edit.new_source


def test_the_bundled_training_script_gets_them_in_both_fit_calls() -> None:
    source = (ROOT / "ml_task" / "train.py").read_text(encoding="utf-8")
    edit = plan_lr_schedule_edit(source, path="ml_task/train.py")
    fits = [
        node.lineno
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "fit"
    ]
    assert len(fits) == 2  # the tf.data path and the NumPy path
    assert edit.description == (
        f"ReduceLROnPlateau and EarlyStopping on val_loss in 2 fit calls (lines {fits[0]}, {fits[1]})"
    )
    changed = [
        line
        for line in difflib.ndiff(source.splitlines(), edit.new_source.splitlines())
        if line[:2] in "- + "
    ]
    removed = [line[2:].strip() for line in changed if line.startswith("- ")]
    added = [line[2:] for line in changed if line.startswith("+ ")]
    # The one-line fit call gains the list at its end; the one-argument-a-line call gains one more line,
    # indented like its other arguments, with its elements one level further in.
    assert removed == ["model.fit(train_data, validation_data=val_data, epochs=args.epochs, verbose=2)"]
    assert added[4:] == [
        "            callbacks=[",
        '                keras.callbacks.ReduceLROnPlateau(monitor="val_loss", factor=0.5, patience=2),',
        '                keras.callbacks.EarlyStopping(monitor="val_loss", patience=4, restore_best_weights=True),',
        "            ],",
    ]
    assert edit.new_source.count("restore_best_weights=True") == 2
    compile(edit.new_source, "train.py", "exec")


@pytest.mark.parametrize(
    ("source", "message"),
    [
        pytest.param(
            "import keras\nprint('no training here')\n", "train.py: no fit(...) call found", id="no-fit"
        ),
        pytest.param(
            _script("model.fit(x, y, callbacks=[keras.callbacks.EarlyStopping()])\n"),
            "train.py:5: the training script already uses EarlyStopping",
            id="already-there",
        ),
        pytest.param(
            _script("model.fit(x, y)\n", "import numpy"),
            "train.py: the training script imports neither keras nor tensorflow",
            id="no-keras",
        ),
    ],
)
def test_refusals_say_why(source: str, message: str) -> None:
    with pytest.raises(AugmentError) as caught:
        plan_lr_schedule_edit(source, path="train.py")
    assert str(caught.value).startswith(message)


def _builds(requests: Sequence[BuildRequest], **_: object) -> list[BuildResult]:
    return [BuildResult(label=r.label, ok=True, params=1000) for r in requests]


def test_augment_writes_it_to_the_training_script(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("keras_ct.augment.validate_builds", _builds)
    model = tmp_path / "model.py"
    model.write_bytes((MODELS / "sequential_layers.py").read_bytes())
    train = tmp_path / "train.py"
    train.write_text(_script("model.fit(x, y, epochs=5)\n"))
    result = augment(model, change="lr-schedule", train_script=train, cwd=tmp_path)
    assert (result.path, result.change, result.written) == (train, "lr-schedule", True)
    assert "restore_best_weights=True" in train.read_text()
    assert model.read_bytes() == (MODELS / "sequential_layers.py").read_bytes()


def test_augment_without_a_training_script_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("keras_ct.augment.validate_builds", _builds)
    model = tmp_path / "model.py"
    model.write_bytes((MODELS / "sequential_layers.py").read_bytes())
    with pytest.raises(AugmentError, match="lr-schedule needs the training script"):
        augment(model, change="lr-schedule", cwd=tmp_path)


def test_every_change_is_a_setting_and_has_its_words() -> None:
    """The config's CHANGES (what flags, inputs and YAML accept) are exactly the changes that exist."""
    assert sorted(CHANGES) == sorted(("auto", *MODEL_CHANGES, *SCRIPT_CHANGES))
    assert set(GENERIC_ACTION) == set(CHANGES) - {"auto"}
    for name in MODEL_CHANGES:
        assert GENERIC_ACTION[name].startswith(("adding ", "widening ")), name
