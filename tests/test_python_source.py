"""``parse_python``: the one syntax check of a model file, for the training's preflight and the augmenter."""

from __future__ import annotations

import pytest

from keras_ct.errors import AugmentError, KerasCTError
from keras_ct.python_source import parse_python

BROKEN = "import keras\n\n\ndef build_model(:\n    pass\n"


def test_a_file_that_parses_gives_its_module() -> None:
    module = parse_python("def build_model():\n    return 1\n", "model.py", advice="fix it")
    assert [type(node).__name__ for node in module.body] == ["FunctionDef"]


def test_a_syntax_error_names_the_file_and_line_with_the_callers_advice() -> None:
    with pytest.raises(AugmentError) as caught:
        parse_python(BROKEN, "ml/model.py", advice="fix it before augmenting", error=AugmentError)
    assert str(caught.value) == "ml/model.py:4: syntax error: invalid syntax; fix it before augmenting"
    assert (caught.value.file, caught.value.line) == ("ml/model.py", 4)


def test_a_subject_names_the_input_that_names_the_file() -> None:
    with pytest.raises(KerasCTError) as caught:
        parse_python(BROKEN, "ml/model.py", advice="fix it before training", subject="model-file ml/model.py")
    assert type(caught.value) is KerasCTError
    assert str(caught.value) == (
        "model-file ml/model.py has a syntax error at line 4: invalid syntax; fix it before training"
    )
    assert (caught.value.file, caught.value.line) == ("ml/model.py", 4)
