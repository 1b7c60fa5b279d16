"""The build-check subprocess without TensorFlow: crashes, hangs, noise and bad candidates.

These candidates fail before any Keras import, so the real subprocess runs in well under a second.
(Real Keras builds are in test_augment_training.py.)
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from keras_ct.augment.validate import BuildRequest, ScriptRunner, validate_builds
from keras_ct.errors import AugmentError
from keras_ct.train.trainer import ReusedTrainer


@pytest.fixture(params=["own-process", "reused-process"])
def run_script(request: pytest.FixtureRequest) -> Iterator[ScriptRunner | None]:
    """A fresh subprocess per batch, or the job's reused training process (rounds-per-job > 1)."""
    if request.param == "own-process":
        yield None
        return
    trainer = ReusedTrainer(sys.executable)
    yield trainer.run_script
    trainer.close()


def _request(tmp_path: Path, source: str, label: str, **kwargs: str) -> BuildRequest:
    return BuildRequest(tmp_path / "model.py", source, label=label, shown="ml/model.py", **kwargs)  # type: ignore[arg-type]


def test_each_candidate_gets_its_own_reason(tmp_path: Path, run_script: ScriptRunner | None) -> None:
    requests = [
        _request(tmp_path, "def build_model():\n    return 42\n", "int"),
        _request(tmp_path, "import os\n\n\ndef build_model():\n    os._exit(7)\n", "crash"),
        _request(
            tmp_path,
            "def build_model():\n    print('noise on stdout')\n    raise RuntimeError('boom')\n",
            "raises",
        ),
        _request(tmp_path, "x = 1\n", "no function"),
        _request(tmp_path, "def build_model(:\n", "syntax"),
        _request(tmp_path, "import no_such_module_kerasct\n", "import"),
    ]
    results = validate_builds(requests, timeout_s=60, run_script=run_script)
    assert [(r.label, r.ok) for r in results] == [(r.label, False) for r in requests]
    assert [r.error for r in results] == [
        "build_model() returned int, not a Keras model",
        "the validation process exited with code 7",
        "RuntimeError: boom (ml/model.py:3)",
        "ml/model.py has no function build_model()",
        results[4].error,
        "ModuleNotFoundError: No module named 'no_such_module_kerasct' (ml/model.py:1)",
    ]
    assert results[4].error.startswith("SyntaxError: ")
    assert not (tmp_path / "model.py").exists()


def test_sibling_modules_of_the_model_file_can_be_imported(
    tmp_path: Path, run_script: ScriptRunner | None
) -> None:
    (tmp_path / "sizes.py").write_text("FILTERS = 'from the sibling'\n")
    source = "import sizes\n\n\ndef build_model():\n    raise ValueError(sizes.FILTERS)\n"
    (result,) = validate_builds([_request(tmp_path, source, "sibling")], run_script=run_script)
    assert result.error == "ValueError: from the sibling (ml/model.py:5)"


def test_a_hanging_candidate_times_out_and_the_rest_are_not_tried(
    tmp_path: Path, run_script: ScriptRunner | None
) -> None:
    requests = [
        _request(tmp_path, "import time\n\n\ndef build_model():\n    time.sleep(30)\n", "hangs"),
        _request(tmp_path, "def build_model():\n    return 1\n", "after"),
    ]
    results = validate_builds(requests, timeout_s=0.5, run_script=run_script)
    assert [r.error for r in results] == ["building the model took longer than 0.5 s"] * 2


@pytest.mark.parametrize("reused", [False, True])
def test_missing_interpreter_is_a_clear_error(tmp_path: Path, reused: bool) -> None:
    trainer = ReusedTrainer("/nonexistent/python3")
    with pytest.raises(
        AugmentError, match="cannot run the model environment's python '/nonexistent/python3'"
    ):
        validate_builds(
            [_request(tmp_path, "x = 1\n", "x")],
            python="/nonexistent/python3",
            run_script=trainer.run_script if reused else None,
        )


def test_no_requests_starts_nothing() -> None:
    assert validate_builds([], python="/nonexistent/python3") == []


def test_the_candidate_is_built_from_the_encoding_its_coding_line_declares(
    tmp_path: Path, run_script: ScriptRunner | None
) -> None:
    # No Keras: a stand-in model whose parameter count is the length of an accented name, so a
    # candidate file written in the wrong encoding (UTF-8 bytes read as latin-1) counts 7, not 6.
    source = (
        "# -*- coding: latin-1 -*-\n"
        'NAME = "Modèle"\n\n\n'
        "class Model:\n"
        "    built = True\n"
        "    layers = []\n\n"
        "    def count_params(self):\n"
        "        return len(NAME)\n\n\n"
        "def build_model():\n"
        "    return Model()\n"
    )
    [result] = validate_builds([_request(tmp_path, source, "latin-1")], cwd=tmp_path, run_script=run_script)
    assert result.ok, result.error
    assert result.params == 6
