"""The command line as a user meets it: exit codes, messages, the terminal report."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from keras_ct import __version__
from keras_ct.cli import main
from tests.integration.repo_setup import ROOT, SCORE_BY_CONV


@pytest.fixture
def task(tmp_path: Path) -> Path:
    (tmp_path / "ml_task").mkdir()
    (tmp_path / "ml_task" / "model.py").write_text((ROOT / "ml_task" / "model.py").read_text())
    (tmp_path / "train_fake.py").write_text(SCORE_BY_CONV)
    return tmp_path


def env(tmp_path: Path) -> dict[str, str]:
    return {"PATH": os.environ["PATH"], "HOME": str(tmp_path)}


def run_argv(task: Path, *extra: str) -> list[str]:
    return [
        "run",
        "--working-directory",
        str(task),
        "--train-command",
        f"{sys.executable} train_fake.py",
        *extra,
    ]


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["--version"], {})
    assert info.value.code == 0
    assert capsys.readouterr().out.strip() == f"keras-ct {__version__}"


def test_run_in_a_terminal_prints_the_report(task: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(run_argv(task, "--threshold", "0.75"), env(task)) == 0
    out = capsys.readouterr().out
    assert "== Round 1: training" in out
    assert "Threshold met: accuracy 0.8000 ≥ 0.75 at round 1." in out
    assert (task / ".keras-ct" / "round-1" / "metrics.json").is_file()


def test_miss_with_fail_below_threshold_exits_1(task: Path) -> None:
    argv = run_argv(
        task, "--threshold", "0.9", "--round", "2", "--max-rounds", "2", "--fail-below-threshold", "true"
    )
    assert main(argv, env(task)) == 1


def test_miss_without_github_exits_0_and_says_the_loop_stopped(
    task: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = (task / "ml_task" / "model.py").read_text()
    assert main(run_argv(task, "--threshold", "0.9"), env(task)) == 0
    assert "the loop stopped" in capsys.readouterr().out
    assert (task / "ml_task" / "model.py").read_text() == before  # no GitHub: nothing changed


def test_bad_value_is_one_line_exit_2(task: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(run_argv(task, "--threshold", "abc"), env(task)) == 2
    err = capsys.readouterr().err
    assert err == 'keras-ct: error: threshold must be a number between 0 and 1, got "abc"\n'


def test_syntax_error_in_model_names_file_and_line(task: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (task / "ml_task" / "model.py").write_text("import keras\n\ndef build_model(:\n    pass\n")
    assert main(run_argv(task), {**env(task), "GITHUB_ACTIONS": "true"}) == 1
    errors = [line for line in capsys.readouterr().out.splitlines() if line.startswith("::error")]
    assert errors == [
        "::error file=ml_task/model.py,line=3::model-file ml_task/model.py has a syntax error at line 3: "
        "invalid syntax; fix it before training"
    ]


def test_augment_refuses_unsupported_model_and_leaves_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model = tmp_path / "model.py"
    source = "import keras\nfrom keras import layers\n\ndef build_model():\n    return keras.Sequential(base() + [layers.Dense(10)])\n"
    model.write_text(source)
    assert main(["augment", str(model), "--change", "dense", "--dry-run"], env(tmp_path)) == 1
    assert "model.py:5" in capsys.readouterr().err
    assert model.read_text() == source


# -- keras-ct augment reads its settings through load_config, like every other command -----------------

UNSUPPORTED_MAKE_MODEL = (
    "import keras\nfrom keras import layers\n\n"
    "def make_model():\n    return keras.Sequential(base() + [layers.Dense(10)])\n"
)


@pytest.fixture
def make_model_project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A folder with model.py defining make_model() and a .keras-ct.yml naming it; the working directory."""
    (tmp_path / "model.py").write_text(UNSUPPORTED_MAKE_MODEL)
    (tmp_path / ".keras-ct.yml").write_text("model-function: make_model\n")
    monkeypatch.chdir(tmp_path)


@pytest.mark.usefixtures("make_model_project")
def test_augment_takes_model_function_from_keras_ct_yml(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["augment", "model.py", "--change", "dense", "--dry-run"], env(tmp_path)) == 1
    err = capsys.readouterr().err
    # make_model() was read (the default build_model() does not exist): the layer list is the problem.
    assert err.startswith("keras-ct: error: model.py:5: keras.Sequential(...) takes its layers from `base()")
    assert (tmp_path / "model.py").read_text() == UNSUPPORTED_MAKE_MODEL


@pytest.mark.usefixtures("make_model_project")
def test_augment_flag_beats_keras_ct_yml(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["augment", "model.py", "--model-function", "build_model", "--change", "dense", "--dry-run"]
    assert main(argv, env(tmp_path)) == 1
    assert "no function build_model() found (functions defined: make_model)" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("flag", "value", "message"),
    [
        pytest.param("--policy", "random", 'policy must be one of diagnose, naive, got "random"', id="policy"),
        pytest.param(
            "--input-shape",
            "28,0",
            'input-shape must be positive whole numbers separated by commas, such as 28,28,1, got "28,0"',
            id="input-shape",
        ),
        pytest.param(
            "--model-function", "build model", 'model-function must be a Python identifier such as build_model, '
            'got "build model"', id="model-function",
        ),
    ],
)  # fmt: skip
def test_augment_flags_are_checked_like_every_command_s(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], flag: str, value: str, message: str
) -> None:
    model = tmp_path / "model.py"
    model.write_text(UNSUPPORTED_MAKE_MODEL)
    assert main(["augment", str(model), flag, value, "--dry-run"], env(tmp_path)) == 2
    assert capsys.readouterr().err == f"keras-ct: error: {message}\n"
