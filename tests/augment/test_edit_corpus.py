"""The model-edit corpus: every supported style x every change, against golden files and properties.

Golden files: ``tests/fixtures/models/golden/`` (regenerate with ``tests/fixtures/models/regenerate.py``
and review the diff). The properties hold for every supported file: the output parses, the diff only
adds lines (a trailing comma on the neighbour, or the widened Dense's units, being the only edits to an
existing line), every comment survives in order, and conv-block can be applied twice.
"""

from __future__ import annotations

import ast
import difflib
import functools
import io
import json
import re
import tokenize
from pathlib import Path

import pytest

from keras_ct.augment.edit import MODEL_CHANGES, Edit, plan_edit
from keras_ct.errors import AugmentError

MODELS = Path(__file__).resolve().parents[1] / "fixtures" / "models"
GOLDEN = MODELS / "golden"
CORPUS: dict[str, dict[str, str]] = json.loads((MODELS / "corpus.json").read_text(encoding="utf-8"))
DESCRIPTIONS: dict[str, str] = json.loads((GOLDEN / "descriptions.json").read_text(encoding="utf-8"))


def _stem(name: str) -> str:
    return Path(name).stem


@functools.cache
def _plan(name: str, change: str, source: str | None = None) -> Edit:
    """plan_edit on a corpus file (or on ``source`` standing for it); pure, so cached across tests."""
    text = source if source is not None else (MODELS / name).read_text(encoding="utf-8")
    function = CORPUS[name].get("model_function", "build_model")
    return plan_edit(text, change, model_function=function, path=name)


ALL = [
    pytest.param(name, change, id=f"{_stem(name)}-{change}") for name in CORPUS for change in MODEL_CHANGES
]
SUPPORTED = [
    pytest.param(name, change, id=f"{_stem(name)}-{change}")
    for name in CORPUS
    for change in MODEL_CHANGES
    if not (GOLDEN / f"{_stem(name)}.{change}.err").exists()
]
CONV = [
    pytest.param(name, id=_stem(name))
    for name in CORPUS
    if (GOLDEN / f"{_stem(name)}.conv-block.py").exists()
]


def test_corpus_covers_the_styles() -> None:
    sources = {name: (MODELS / name).read_text(encoding="utf-8") for name in CORPUS}
    joined = "\n".join(sources.values())
    assert len(CORPUS) >= 12
    for marker in (
        "keras.Sequential(",
        "model.add(",
        "keras.Model(",
        "keras.layers.Conv2D(",
        "tf.keras.layers.",
        "from keras.layers import",
        "import keras.layers as L",
        "from tensorflow.keras import layers",
        "from tensorflow import keras",
        "Conv1D(",
        "MaxPooling1D(",
        "GlobalAveragePooling2D()",
        "layers.Flatten()",
        "[keras.Input(shape=(28, 28, 1))] + conv_stack() + head",  # lists joined with +, from a helper
        "+ block(16) + block(32) +",  # a helper called twice
    ):
        assert marker in joined, marker
    assert len(SUPPORTED) >= 40


@pytest.mark.parametrize(("name", "change"), ALL)
def test_edit_matches_golden(name: str, change: str) -> None:
    stem = _stem(name)
    error_file = GOLDEN / f"{stem}.{change}.err"
    if error_file.exists():
        with pytest.raises(AugmentError) as caught:
            _plan(name, change)
        assert f"{caught.value}\n" == error_file.read_text(encoding="utf-8")
        return
    edit = _plan(name, change)
    assert edit.new_source == (GOLDEN / f"{stem}.{change}.py").read_text(encoding="utf-8")
    assert edit.description == DESCRIPTIONS[f"{stem}.{change}"]
    assert edit.action.startswith(("adding ", "widening "))
    assert edit.line > 0
    assert edit.change == change


def _edited_lines(old: str, new: str) -> tuple[list[str], list[tuple[str, str]]]:
    """Lines added, and (old, new) pairs of lines that were changed in place."""
    added: list[str] = []
    changed: list[tuple[str, str]] = []
    a, b = old.splitlines(), new.splitlines()
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_opcodes():
        if tag == "insert":
            added += b[j1:j2]
        elif tag == "replace":
            # A replaced block is allowed only as "old lines edited in place, then lines added".
            assert i2 - i1 <= j2 - j1, f"lines removed: {a[i1:i2]}"
            changed += list(zip(a[i1:i2], b[j1 : j1 + (i2 - i1)], strict=True))
            added += b[j1 + (i2 - i1) : j2]
        elif tag == "delete":
            raise AssertionError(f"lines removed: {a[i1:i2]}")
    return added, changed


def _comments(source: str) -> list[str]:
    tokens = tokenize.generate_tokens(io.StringIO(source).readline)
    return [t.string for t in tokens if t.type == tokenize.COMMENT]


@pytest.mark.parametrize(("name", "change"), SUPPORTED)
def test_edit_output_parses(name: str, change: str) -> None:
    ast.parse(_plan(name, change).new_source)


@pytest.mark.parametrize(("name", "change"), SUPPORTED)
def test_edit_only_adds_lines(name: str, change: str) -> None:
    old = (MODELS / name).read_text(encoding="utf-8")
    edit = _plan(name, change)
    added, changed = _edited_lines(old, edit.new_source)
    widening = " widened to " in edit.description
    new_lines = edit.new_source.splitlines()
    for before, after in changed:
        code, _, comment = before.partition("  #")
        trailing_comma = after == f"{code},  #{comment}" if comment else after == f"{before},"
        widened = widening and re.sub(r"\d+", "N", before) == re.sub(r"\d+", "N", after)
        regularized = change == "l2" and _REGULARIZER.sub("", after) == before
        # augment-data in a functional chain: the first layer reads the augmented input instead.
        rewired = change == "augment-data" and re.sub(r"\((\w+)\)$", "(augmented)", before) in new_lines
        assert trailing_comma or widened or regularized or rewired or _inserted_in_list(before, after), (
            f"existing line rewritten: {before!r} -> {after!r}"
        )
    if widening:
        assert len(changed) == 1 and not added
    elif change == "l2":
        assert changed, "no kernel got a regularizer"
    else:
        assert added or changed, "nothing was added"
        assert len(changed) <= 1


def _inserted_in_list(before: str, after: str) -> bool:
    """A layer list written on one line gains its new layers on that line: only insertions."""
    if "[" not in before or "]" not in before:
        return False
    opcodes = difflib.SequenceMatcher(a=before, b=after, autojunk=False).get_opcodes()
    return all(tag in ("equal", "insert") for tag, *_ in opcodes)


#: What l2 adds to a layer call: the one edit it makes to an existing line.
_REGULARIZER = re.compile(r", kernel_regularizer=[\w.]*regularizers\.L2\(1e-4\)")


@pytest.mark.parametrize(("name", "change"), SUPPORTED)
def test_edit_keeps_every_comment_in_order(name: str, change: str) -> None:
    old = (MODELS / name).read_text(encoding="utf-8")
    new_comments = _comments(_plan(name, change).new_source)
    assert new_comments == _comments(old)


@pytest.mark.parametrize("name", CONV)
def test_conv_block_twice(name: str) -> None:
    first = _plan(name, "conv-block")
    second = _plan(name, "conv-block", first.new_source)
    ast.parse(second.new_source)
    first_filters = int(re.search(r"\((\d+)\)", first.description).group(1))  # type: ignore[union-attr]
    second_filters = int(re.search(r"\((\d+)\)", second.description).group(1))  # type: ignore[union-attr]
    assert second_filters == 2 * first_filters
    added, changed = _edited_lines(first.new_source, second.new_source)
    assert (added or changed) and len(changed) <= 1
    assert all(_inserted_in_list(before, after) for before, after in changed if not after.endswith(","))
    assert _comments(second.new_source) == _comments((MODELS / name).read_text(encoding="utf-8"))


def test_no_stale_golden_files() -> None:
    """Every golden file belongs to a corpus model and change, and each pair has exactly one."""
    names = {p.name for p in GOLDEN.iterdir()} - {"descriptions.json"}
    pairs = [f"{_stem(name)}.{change}" for name in CORPUS for change in MODEL_CHANGES]
    assert sorted(n.rsplit(".", 1)[0] for n in names) == sorted(pairs)
    assert set(DESCRIPTIONS) == {n.rsplit(".", 1)[0] for n in names if n.endswith(".py")}
