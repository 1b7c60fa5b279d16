"""Config: precedence of flags > inputs > .keras-ct.yml > defaults, and one clear message per bad value."""

from __future__ import annotations

from pathlib import Path

import pytest

from keras_ct.config import FIELD_NAMES, MAX_ROUNDS_CEILING, load_config
from keras_ct.errors import ConfigError, KerasCTError
from keras_ct.train.launch import check_model_file


def test_defaults(tmp_path: Path) -> None:
    cfg = load_config({}, {}, cwd=tmp_path)
    assert cfg.model_file == Path("ml_task/model.py")
    assert cfg.threshold == 0.95
    assert cfg.max_rounds == 5
    assert cfg.round == 1
    assert cfg.policy == "diagnose"
    assert cfg.working_directory == tmp_path.resolve()


@pytest.mark.parametrize(
    "key", ["INPUT_MODEL-FILE", "INPUT_MODEL_FILE"], ids=["runner-form", "underscore-form"]
)
def test_inputs_in_both_spellings(tmp_path: Path, key: str) -> None:
    cfg = load_config({}, {key: "models/cnn.py"}, cwd=tmp_path)
    assert cfg.model_file == Path("models/cnn.py")


def test_precedence_flag_over_input_over_file(tmp_path: Path) -> None:
    (tmp_path / ".keras-ct.yml").write_text("threshold: 0.8\nmax-rounds: 3\npolicy: naive\n")
    env = {"INPUT_THRESHOLD": "0.85", "INPUT_MAX-ROUNDS": "4"}
    cfg = load_config({"threshold": "0.9"}, env, cwd=tmp_path)
    assert cfg.threshold == 0.9  # flag
    assert cfg.max_rounds == 4  # input beats file
    assert cfg.policy == "naive"  # file beats default
    assert cfg.config_file == tmp_path / ".keras-ct.yml"


def test_empty_input_counts_as_not_given(tmp_path: Path) -> None:
    (tmp_path / ".keras-ct.yml").write_text("threshold: 0.8\n")
    cfg = load_config({}, {"INPUT_THRESHOLD": ""}, cwd=tmp_path)
    assert cfg.threshold == 0.8


@pytest.mark.parametrize(
    ("raw", "value"),
    [pytest.param("", None, id="empty-is-off"), pytest.param("0.01", 0.01, id="a-fraction")],
)
def test_max_regression_from_the_input(tmp_path: Path, raw: str, value: float | None) -> None:
    assert load_config({}, {"INPUT_MAX_REGRESSION": raw}, cwd=tmp_path).max_regression == value


def test_token_falls_back_to_github_token_and_is_not_in_repr(tmp_path: Path) -> None:
    cfg = load_config({}, {"GITHUB_TOKEN": "ghs_secretvalue123"}, cwd=tmp_path)
    assert cfg.github_token == "ghs_secretvalue123"
    assert "ghs_secretvalue123" not in repr(cfg)


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        pytest.param(
            "threshold", "abc", 'threshold must be a number between 0 and 1, got "abc"', id="threshold-abc"
        ),
        pytest.param(
            "threshold",
            "95",
            'got "95" (a fraction, not a percentage: did you mean 0.95?)',
            id="threshold-95",
        ),
        pytest.param(
            "threshold", "-1", 'threshold must be a number between 0 and 1, got "-1"', id="threshold-negative"
        ),
        pytest.param(
            "threshold", "", 'threshold must be a number between 0 and 1, got ""', id="threshold-empty"
        ),
        pytest.param("threshold", "nan", "between 0 and 1", id="threshold-nan"),
        pytest.param(
            "max-rounds",
            "0",
            f"max-rounds must be a whole number from 1 to {MAX_ROUNDS_CEILING}",
            id="max-rounds-0",
        ),
        pytest.param("max-rounds", "-3", 'got "-3"', id="max-rounds-negative"),
        pytest.param("max-rounds", "1000", f"the ceiling is {MAX_ROUNDS_CEILING}", id="max-rounds-1000"),
        pytest.param("max-rounds", "2.5", "whole number", id="max-rounds-fraction"),
        pytest.param("round", "0", "round must be a whole number of at least 1", id="round-0"),
        pytest.param("timeout-minutes", "0", "minutes greater than 0", id="timeout-0"),
        pytest.param("fail-below-threshold", "maybe", "true or false", id="bool"),
        pytest.param("policy", "random", "one of diagnose, naive", id="policy"),
        pytest.param("model-function", "build-model", "Python identifier", id="function-name"),
        pytest.param("input-shape", "28,x,1", "positive whole numbers", id="input-shape"),
        pytest.param("pr-number", "abc", "pr-number must be", id="pr-number"),
        pytest.param(
            "max-regression",
            "2",
            "max-regression must be a number from 0 to 1 (how far below the base branch's accuracy), "
            'or empty for no limit, got "2"',
            id="max-regression-2",
        ),
        pytest.param("max-regression", "-0.01", 'got "-0.01"', id="max-regression-negative"),
    ],
)
def test_bad_flag_values(tmp_path: Path, name: str, value: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_config({name: value}, {}, cwd=tmp_path)
    assert message in str(info.value)
    assert info.value.exit_code == 2


def test_bad_input_names_the_variable(tmp_path: Path) -> None:
    with pytest.raises(
        ConfigError, match=r'threshold \(from input threshold \(INPUT_THRESHOLD\)\) must be .*got "abc"'
    ):
        load_config({}, {"INPUT_THRESHOLD": "abc"}, cwd=tmp_path)


def test_round_past_max_rounds(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r'round must not exceed max-rounds \(3\), got "4"'):
        load_config({"round": "4", "max-rounds": "3"}, {}, cwd=tmp_path)


def test_yaml_error_has_file_and_line(tmp_path: Path) -> None:
    (tmp_path / ".keras-ct.yml").write_text("threshold: 0.9\nmax-rounds: [3\n")
    with pytest.raises(ConfigError) as info:
        load_config({}, {}, cwd=tmp_path)
    assert "is not valid YAML" in str(info.value)
    assert info.value.file.endswith(".keras-ct.yml")
    assert info.value.line is not None and info.value.line >= 2


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param(
            "threshold: 0.9\nmax_round: 3\n",
            r"line 2: unknown key 'max_round' \(did you mean \"max-rounds\"\?\)",
            id="unknown-key-suggests-closest",
        ),
        pytest.param(
            "# settings\nthreshold: high\n",
            r'line 2 \(threshold\) must be a number between 0 and 1, got "high"',
            id="bad-value",
        ),
    ],
)
def test_a_yaml_mistake_names_its_line(tmp_path: Path, text: str, message: str) -> None:
    (tmp_path / ".keras-ct.yml").write_text(text)
    with pytest.raises(ConfigError, match=message) as info:
        load_config({}, {}, cwd=tmp_path)
    assert info.value.line == 2


def test_token_in_yaml_refused(tmp_path: Path) -> None:
    (tmp_path / ".keras-ct.yml").write_text("github-token: abc\n")
    with pytest.raises(ConfigError, match="must not be stored in a file"):
        load_config({}, {}, cwd=tmp_path)


def test_yaml_must_be_mapping(tmp_path: Path) -> None:
    (tmp_path / ".keras-ct.yml").write_text("- threshold\n")
    with pytest.raises(ConfigError, match="must be a mapping"):
        load_config({}, {}, cwd=tmp_path)


def test_missing_working_directory(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="is not a directory"):
        load_config({"working-directory": "nope"}, {}, cwd=tmp_path)


def test_every_field_has_a_kebab_name() -> None:
    assert all(name == name.lower() and "_" not in name for name in FIELD_NAMES)


def test_github_context_from_event(tmp_path: Path) -> None:
    event = tmp_path / "event.json"
    event.write_text('{"number": 7, "pull_request": {"head": {"ref": "feature"}}}')
    env = {
        "GITHUB_ACTIONS": "true",
        "GITHUB_EVENT_PATH": str(event),
        "GITHUB_EVENT_NAME": "pull_request",
        "GITHUB_REPOSITORY": "acme/ml",
        "GITHUB_RUN_ID": "42",
        "GITHUB_API_URL": "http://127.0.0.1:9/api/v3/",
    }
    cfg = load_config({}, env, cwd=tmp_path)
    assert cfg.github.actions
    assert cfg.github.event["number"] == 7
    assert cfg.github.api_url == "http://127.0.0.1:9/api/v3"
    assert cfg.github.run_url == "https://github.com/acme/ml/actions/runs/42"


def test_train_script_and_reread_after_an_epochs_edit(tmp_path: Path) -> None:
    (tmp_path / "train.py").write_text("print('hi')\n")
    (tmp_path / "model.py").write_text("def build_model(): ...\n")
    (tmp_path / ".keras-ct.yml").write_text(
        "model-file: model.py\ntrain-command: python train.py --epochs 5\n"
    )
    cfg = load_config({}, {}, cwd=tmp_path)
    assert cfg.train_script() == tmp_path / "train.py"
    assert cfg.editable_files() == (tmp_path / "model.py", tmp_path / "train.py", tmp_path / ".keras-ct.yml")
    (tmp_path / ".keras-ct.yml").write_text(
        "model-file: model.py\ntrain-command: python train.py --epochs 10\n"
    )
    assert cfg.reread_train_command().train_command == "python train.py --epochs 10"
    flagged = load_config({"train-command": "python train.py --epochs 3"}, {}, cwd=tmp_path)
    assert flagged.reread_train_command() is flagged  # a flag is not in the file: nothing to re-read


# -- .keras-ct.yml is plain YAML: each key once, a file, real text (issue 11 section 6) ---------------


@pytest.mark.parametrize(
    ("text", "message", "line"),
    [
        pytest.param("threshold: 0.9\nmax-rounds: 3\nthreshold: 0.5\n",
                     "line 3: 'threshold' is given twice, on line 1 and line 3; keep one of them", 3, id="top-level"),
        pytest.param("input-shape: {a: 1,\n  a: 2}\n", "line 2: 'a' is given twice, on line 1 and line 2", 2,
                     id="nested"),
    ],
)  # fmt: skip
def test_a_key_given_twice_is_an_error_naming_both_lines(
    tmp_path: Path, text: str, message: str, line: int
) -> None:
    (tmp_path / ".keras-ct.yml").write_text(text)
    with pytest.raises(ConfigError) as info:
        load_config({}, {}, cwd=tmp_path)
    assert message in info.value.message
    assert info.value.line == line
    assert info.value.file == str(tmp_path / ".keras-ct.yml")


def test_a_directory_named_keras_ct_yml_is_an_error(tmp_path: Path) -> None:
    (tmp_path / ".keras-ct.yml").mkdir()
    with pytest.raises(ConfigError) as info:
        load_config({}, {}, cwd=tmp_path)
    assert info.value.message == (
        f"{tmp_path / '.keras-ct.yml'} is a directory, not a config file; keras-ct reads its settings from "
        "the file .keras-ct.yml: remove or rename the directory"
    )


def test_a_config_flag_naming_a_directory_says_so(tmp_path: Path) -> None:
    with pytest.raises(
        ConfigError, match=r"is a directory, not a config file; pass the YAML file itself, e\.g\."
    ):
        load_config({}, {}, cwd=tmp_path, config_file=tmp_path)


def test_a_broken_link_named_keras_ct_yml_is_an_error(tmp_path: Path) -> None:
    (tmp_path / ".keras-ct.yml").symlink_to(tmp_path / "moved.yml")
    with pytest.raises(ConfigError, match=r"\.keras-ct\.yml is a link to .*moved\.yml, which does not exist"):
        load_config({}, {}, cwd=tmp_path)


def test_a_yaml_escape_that_is_no_character_is_refused(tmp_path: Path) -> None:
    (tmp_path / ".keras-ct.yml").write_text('# settings\nmodel-file: "ml/\\ud800.py"\n')
    with pytest.raises(
        ConfigError, match=r"line 2 \(model-file\): the value has '\\ud800', an escape that is no"
    ):
        load_config({}, {}, cwd=tmp_path)


# -- the model file: valid Python in any encoding Python reads (a UTF-8 BOM, a PEP 263 coding line) ----

MODEL_SOURCE = "import keras\n\n\ndef build_model():\n    return keras.Sequential([])  # « modèle »\n"


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b"\xef\xbb\xbf" + MODEL_SOURCE.encode("utf-8"), id="utf-8-bom"),
        pytest.param(b"# -*- coding: latin-1 -*-\n" + MODEL_SOURCE.encode("latin-1"), id="pep263-latin-1"),
        pytest.param(b"#!/usr/bin/env python\n# vim: set fileencoding=cp1252 :\n" + MODEL_SOURCE.encode("cp1252"),
                     id="pep263-second-line"),
    ],
)  # fmt: skip
def test_a_model_file_in_a_declared_encoding_is_accepted(tmp_path: Path, data: bytes) -> None:
    (tmp_path / "ml_task").mkdir()
    (tmp_path / "ml_task" / "model.py").write_bytes(data)
    check_model_file(load_config({}, {}, cwd=tmp_path))  # raises on a model file it cannot read


@pytest.mark.parametrize(
    ("data", "message"),
    [
        pytest.param(MODEL_SOURCE.encode("latin-1"),
                     "model-file ml_task/model.py: line 5 is not UTF-8 text (byte b'\\xab': invalid start byte); "
                     "save the file as UTF-8, or declare its encoding on line 1 (e.g. `# -*- coding: latin-1 -*-`)",
                     id="latin-1-undeclared"),
        pytest.param(b"# coding: klingon\n" + MODEL_SOURCE.encode(),
                     "model-file ml_task/model.py: unknown encoding: klingon; save the file as UTF-8", id="unknown-codec"),
    ],
)  # fmt: skip
def test_a_model_file_in_an_undeclared_encoding_says_how_to_fix_it(
    tmp_path: Path, data: bytes, message: str
) -> None:
    (tmp_path / "ml_task").mkdir()
    (tmp_path / "ml_task" / "model.py").write_bytes(data)
    with pytest.raises(KerasCTError) as info:
        check_model_file(load_config({}, {}, cwd=tmp_path))
    assert info.value.message.startswith(message)
    assert info.value.file == "ml_task/model.py"


def test_plan_settings_come_from_flags_and_inputs(tmp_path: Path) -> None:
    cfg = load_config({"fork-policy": "cpu"}, {"INPUT_GPU_RUNNER_LABELS": '["linux", "gpu"]'}, cwd=tmp_path)
    assert (cfg.fork_policy, cfg.gpu_runner_labels, cfg.cpu_runner_labels) == (
        "cpu",
        ("linux", "gpu"),
        ("ubuntu-latest",),
    )


@pytest.mark.parametrize("key", ["fork-policy", "cpu-runner-labels", "gpu-runner-labels"])
def test_a_pull_request_cannot_route_itself_from_keras_ct_yml(tmp_path: Path, key: str) -> None:
    """The plan job reads .keras-ct.yml from the pull request's code (a fork's too)."""
    (tmp_path / ".keras-ct.yml").write_text(f"threshold: 0.9\n{key}: cpu\n")
    with pytest.raises(ConfigError) as info:
        load_config({}, {}, cwd=tmp_path)
    assert f"line 2: {key} must not be set in .keras-ct.yml" in info.value.message
    assert (info.value.file, info.value.line) == (str(tmp_path / ".keras-ct.yml"), 2)


def test_the_plan_job_does_not_judge_the_round(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="round must not exceed max-rounds"):
        load_config({"round": "7"}, {}, cwd=tmp_path)
    assert load_config({"round": "7"}, {}, cwd=tmp_path, round_limit=False).round == 7


def test_checkpoints_and_warm_start_models_share_one_base(tmp_path: Path) -> None:
    from keras_ct.train.launch import warm_start_store

    for flags in ({}, {"checkpoint-dir": "ckpt"}):
        cfg = load_config(flags, {}, cwd=tmp_path)
        assert cfg.checkpoint_path(2) == cfg.checkpoint_base / "round-2"
        assert warm_start_store(cfg) == cfg.checkpoint_base / "models"
    assert cfg.checkpoint_base == tmp_path.resolve() / "ckpt"
