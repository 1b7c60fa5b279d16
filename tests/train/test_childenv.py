"""The one rule for the environment of a process that runs repository code (keras_ct.train.childenv)."""

from __future__ import annotations

from pathlib import Path

import pytest

from keras_ct.cli import main
from keras_ct.config import load_config
from keras_ct.errors import ConfigError
from keras_ct.train.childenv import child_env

TOKEN = "ghs_childEnvToken0123456789abcdefghijklmnop"

RUNNER = {
    "PATH": "/usr/bin",
    "HOME": "/home/runner",
    "LANG": "C.UTF-8",
    "LC_ALL": "C.UTF-8",
    "TMPDIR": "/tmp",
    "VIRTUAL_ENV": "/venv",
    "PYTHONPATH": "/src",
    "CUDA_VISIBLE_DEVICES": "0",
    "TF_CPP_MIN_LOG_LEVEL": "2",
    "KERAS_HOME": "/k",
    "HF_HOME": "/hf",
    "HTTPS_PROXY": "http://proxy:3128",
    "CI": "true",
    "RUNNER_TEMP": "/runner/_temp",
    "GITHUB_SHA": "abc",
    "GITHUB_REPOSITORY": "acme/ml",
    "GITHUB_RUN_ID": "1",
}
WITHHELD = {
    "GITHUB_TOKEN": TOKEN,
    "GH_TOKEN": TOKEN,
    "INPUT_GITHUB-TOKEN": TOKEN,
    "INPUT_THRESHOLD": "0.9",
    "ACTIONS_RUNTIME_TOKEN": "r",
    "ACTIONS_CACHE_URL": "https://cache",
    "ACTIONS_ID_TOKEN_REQUEST_URL": "https://oidc",
    "GITHUB_ENV": "/runner/_temp/env",
    "GITHUB_PATH": "/runner/_temp/path",
    "GITHUB_OUTPUT": "/runner/_temp/out",
    "GITHUB_STEP_SUMMARY": "/runner/_temp/summary",
    "GITHUB_EVENT_PATH": "/runner/_temp/event.json",
    "HF_TOKEN": "hf_x",  # an allowed prefix, a credential's name
    "TF_API_KEY": "k",
    "AWS_SECRET_ACCESS_KEY": "s",
    "DATABASE_PASSWORD": "p",
    "UNRELATED": "x",
    "PYTHONSTARTUP_URL": f"https://x-access-token:{TOKEN}@github.com",  # an allowed name, the token in it
    "HTTP_PROXY": "http://u:ghp_abcdefghijklmnopqrstuvwxyz0123456789@proxy",  # a GitHub token's shape
}


def test_the_allow_list_keeps_what_training_needs_and_nothing_token_like() -> None:
    env = child_env({**RUNNER, **WITHHELD}, secrets=(TOKEN,), extra={"KERAS_CT_ROUND": "1"})
    assert env == {**RUNNER, "KERAS_CT_ROUND": "1"}


def test_train_env_names_pass_exactly_and_patterns_skip_credentials() -> None:
    environ = {"WANDB_API_KEY": "w", "WANDB_PROJECT": "p", "WANDB_TOKEN": "t", "DATASET_URL": "u"}
    env = child_env(environ, passed=("WANDB_API_KEY", "WANDB_*", "DATASET_URL", "MISSING"))
    assert env == {"WANDB_API_KEY": "w", "WANDB_PROJECT": "p", "DATASET_URL": "u"}


def test_a_train_env_name_holding_keras_ct_s_token_is_an_error_not_a_silent_gap() -> None:
    with pytest.raises(
        ConfigError, match="train-env names MY_GH, whose value contains keras-ct's github-token"
    ):
        child_env({"MY_GH": TOKEN}, passed=("MY_GH",), secrets=(TOKEN,))


@pytest.mark.parametrize(
    ("value", "parsed"),
    [
        pytest.param("WANDB_API_KEY DATASET_URL", ("WANDB_API_KEY", "DATASET_URL"), id="spaces"),
        pytest.param(" A, B,,C ", ("A", "B", "C"), id="commas"),
        pytest.param("HF_*", ("HF_*",), id="pattern"),
        pytest.param("", (), id="empty"),
    ],
)
def test_train_env_input(tmp_path: Path, value: str, parsed: tuple[str, ...]) -> None:
    cfg = load_config({"train-env": value}, {}, cwd=tmp_path)
    assert cfg.train_env == parsed


def test_train_env_in_the_config_file_may_be_a_list(tmp_path: Path) -> None:
    (tmp_path / ".keras-ct.yml").write_text("train-env:\n  - WANDB_API_KEY\n  - DATASET_URL\n")
    assert load_config({}, {}, cwd=tmp_path).train_env == ("WANDB_API_KEY", "DATASET_URL")


@pytest.mark.parametrize(
    "name", ["GITHUB_TOKEN", "INPUT_GITHUB_TOKEN", "ACTIONS_RUNTIME_TOKEN", "GITHUB_ENV"]
)
def test_a_pull_request_cannot_name_the_token_in_train_env(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str
) -> None:
    """The config file is the pull request's to edit: naming keras-ct's token there is refused."""
    (tmp_path / ".keras-ct.yml").write_text(f"train-env: DATASET_URL {name}\n")
    code = main(["run", "--working-directory", str(tmp_path)], {"PATH": "/usr/bin", "GITHUB_TOKEN": TOKEN})
    err = capsys.readouterr().err
    assert code == 2
    assert "line 1 (train-env) must be names of environment variables" in err
    assert f"{name} never reaches the training" in err
    assert TOKEN not in err


def test_a_bad_train_env_name_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"train-env must be names of .*'A-B' is not a variable name"):
        load_config({"train-env": "A-B"}, {}, cwd=tmp_path)
