"""The train command's environment turns keras-ct's hooks (``autolog``) on, or leaves them out."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from keras_ct.config import load_config
from keras_ct.train.launch import HOOKS_DIR, training_env


@pytest.mark.parametrize(
    ("flags", "on"),
    [
        pytest.param({}, True, id="default-on"),
        pytest.param({"autolog": False}, False, id="autolog-false"),
    ],
)
def test_hooks_first_on_the_path_when_on(tmp_path: Path, flags: dict[str, object], on: bool) -> None:
    cfg = load_config({**flags, "metric": "accuracy"}, {"PATH": "/usr/bin"}, cwd=tmp_path)

    env = training_env(cfg, {"PATH": "/usr/bin", "PYTHONPATH": "/user/site"}, 1)

    paths = env["PYTHONPATH"].split(os.pathsep)
    assert (paths[0] == str(HOOKS_DIR)) is on and (str(HOOKS_DIR) in paths) is on
    assert paths[-1] == "/user/site"  # the user's own path stays, after keras-ct's
    assert env["KERAS_CT_AUTOLOG"] == ("1" if on else "0") and env["KERAS_CT_METRIC"] == "accuracy"
    assert sorted(p.name for p in HOOKS_DIR.iterdir() if p.suffix == ".py") == ["sitecustomize.py"]


def test_autolog_from_the_config_file(tmp_path: Path) -> None:
    (tmp_path / ".keras-ct.yml").write_text("autolog: false\n")

    assert load_config({}, {"PATH": "/usr/bin"}, cwd=tmp_path).autolog is False
