"""Bad input, one case each, through `keras-ct run` as the action runs it (GITHUB_ACTIONS=true, the
fake GitHub, a real checkout with a bare remote).

Every case: one ``::error`` annotation that says what is wrong (with ``file=``/``line=`` when the
problem is in a file), a non-zero exit, nothing committed, pushed or dispatched, and the working
tree exactly as it was. Where the round is known, it is marked failed on GitHub: a ``failure``
status after the ``pending`` one, and the sticky comment says "Round 1 failed." with the reason.

A configuration error (exit 2) happens before any round exists: the inputs cannot be trusted, so
keras-ct does not touch the sticky comment (its round history must not be rewritten by a run whose
inputs are unreadable); it only sets a ``failure`` status on the commit under test, read from the
runner's own event payload, so the pull request shows a red check that links to the annotation.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from _pytest.mark import ParameterSet

from tests.integration.repo_setup import ROOT, outputs, pr_event
from tests.reliability.harness import (
    Snapshot,
    World,
    fast_client,
    make_world,
    python_command,
    run_cli,
    run_wired,
    start_model,
)

MODELS = ROOT / "tests" / "fixtures" / "models"
MODEL = "ml_task/model.py"

SYNTAX_ERROR_MODEL = """\
import keras
from keras import layers


def build_model():
    model = keras.Sequential(
        [
            keras.Input(shape=(28, 28, 1)),
            layers.Conv2D(16, 3, padding="same", activation="relu")
            layers.MaxPooling2D(),
        ]
    )
    return model
"""
NO_FUNCTION_MODEL = """\
import keras
from keras import layers


def make_model():
    return keras.Sequential([keras.Input(shape=(28, 28, 1)), layers.Conv2D(8, 3), layers.Flatten(), layers.Dense(10)])
"""
# Every candidate change adds a layer; this model refuses more than four (an edge-device budget).
# An edge device's budget: no edit fits (each adds a layer or parameters; the start model has 31,530).
LAYER_BUDGET_MODEL = start_model(
    check=(
        '    if len(model.layers) > 4:\n        raise ValueError("the edge device runs at most 4 layers")\n'
        "    if model.count_params() > 31_530:\n"
        '        raise ValueError("the edge device holds at most 31,530 parameters")\n'
    )
)
STAND_IN_METRICS = "python write_metrics.py"
TEN_MB_THEN_FAIL = python_command(
    "import sys\nfor i in range(100_000):\n    sys.stdout.write(f'{i:08d} ' + 'x' * 91 + '\\n')\nsys.exit(1)"
)


@dataclass(frozen=True)
class Case:
    message: str  # what the ::error must say
    inputs: dict[str, str] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)  # committed on the PR branch before the run
    argv: tuple[str, ...] = ("run",)
    code: int = 1
    file: str | None = None  # the annotation's file=, from the repository root
    line: int | None = None
    config_error: bool = False
    shown: str = ""  # what the PR comment and the failure status must show of it


def case(id: str, message: str, *, marks: Any = (), **fields: Any) -> ParameterSet:
    """One parametrized case: its id, what the ``::error`` must say, and the rest of its ``Case``."""
    return pytest.param(Case(message, **fields), id=id, marks=marks)


def config(id: str, message: str, **fields: Any) -> ParameterSet:
    return case(id, message, code=2, config_error=True, **fields)


def yml(id: str, text: str, message: str, line: int) -> ParameterSet:
    """A .keras-ct.yml the run cannot read: the annotation points at its line."""
    return config(id, message, files={".keras-ct.yml": text}, file=".keras-ct.yml", line=line)


def model(id: str, source: str, message: str, line: int | None = None, marks: Any = ()) -> ParameterSet:
    """A model file, committed on the PR branch, that the round refuses: the annotation points at it."""
    return case(id, message, files={MODEL: source}, file=MODEL, line=line, marks=marks)


def metrics(id: str, text: str | None, message: str, line: int | None = None) -> ParameterSet:
    env = {} if text is None else {"STAND_IN_METRICS": text}
    return case(
        id,
        message,
        inputs={"train-command": STAND_IN_METRICS},
        env=env,
        file=".keras-ct/round-1/metrics.json",
        line=line,
    )


CASES = [
    # -- configuration: exit 2, before any round ------------------------------------------------------
    config(
        "threshold-abc",
        'threshold (from input threshold (INPUT_THRESHOLD)) must be a number between 0 and 1, got "abc"',
        inputs={"threshold": "abc"},
    ),
    config(
        "threshold-95",
        'must be a number between 0 and 1, got "95" (a fraction, not a percentage: did you mean 0.95?)',
        inputs={"threshold": "95"},
    ),
    config("threshold-negative", 'must be a number between 0 and 1, got "-1"', inputs={"threshold": "-1"}),
    config(
        "threshold-empty-flag",
        'threshold must be a number between 0 and 1, got ""',
        argv=("run", "--threshold", ""),
    ),
    config(
        "threshold-empty-in-yml",
        'line 1 (threshold) must be a number between 0 and 1, got ""',
        inputs={"threshold": ""},  # an empty input is "not given", so the file's value counts
        files={".keras-ct.yml": "threshold:\nmax-rounds: 3\n"},
        file=".keras-ct.yml",
        line=1,
    ),
    config(
        "max-rounds-0",
        'max-rounds (from input max-rounds (INPUT_MAX-ROUNDS)) must be a whole number from 1 to 20 (the ceiling is 20), got "0"',
        inputs={"max-rounds": "0"},
    ),
    config(
        "max-rounds-negative",
        'must be a whole number from 1 to 20 (the ceiling is 20), got "-3"',
        inputs={"max-rounds": "-3"},
    ),
    config(
        "max-rounds-1000",
        'must be a whole number from 1 to 20 (the ceiling is 20), got "1000"',
        inputs={"max-rounds": "1000"},
    ),
    config(
        "round-beyond-max-rounds",
        'round must not exceed max-rounds (3), got "4"; the loop has ended',
        inputs={"round": "4"},
    ),
    yml(
        "yml-syntax-error",
        "threshold: 0.9\nmax-rounds: 3: 4\n",
        ".keras-ct.yml is not valid YAML at line 2: mapping values are not allowed here",
        line=2,
    ),
    yml(
        "yml-unknown-key",
        "max-rounds: 3\ntreshold: 0.9\n",
        "line 2: unknown key 'treshold' (did you mean \"threshold\"?); known keys: model-file,",
        line=2,
    ),
    # -- the model file ------------------------------------------------------------------------------
    case(
        "model-file-missing",
        'model-file "ml_task/missing.py" does not exist',
        inputs={"model-file": "ml_task/missing.py"},
        file="ml_task/missing.py",
    ),
    model(
        "model-syntax-error",
        SYNTAX_ERROR_MODEL,
        "model-file ml_task/model.py has a syntax error at line 9",
        line=9,
    ),
    model(
        "model-function-missing",
        NO_FUNCTION_MODEL,
        "model-file ml_task/model.py has no top-level function build_model(); it defines make_model.",
    ),
    model(
        "model-augmenter-cannot-edit",
        (MODELS / "unsupported" / "comprehension.py").read_text(encoding="utf-8"),
        "conv-block, dense, widen, batch-norm, dropout: ml_task/model.py:9: keras.Sequential(...) takes "
        "its layers from "
        '`[layers.Dense(units, activation="relu") for units in (64,...`, not a literal list',
    ),
    model(
        "model-edit-does-not-build",
        LAYER_BUDGET_MODEL,
        "the edited model does not build: ValueError: the edge device runs at most 4 layers",
        marks=pytest.mark.training,
    ),
    # -- the train command ---------------------------------------------------------------------------
    case(
        "train-command-not-found",
        'train command not found: "no-such-trainer"',
        inputs={"train-command": "no-such-trainer --epochs 3"},
    ),
    case("train-command-exits-1", "train command exited with status 1", env={"FAKE_TRAIN_EXIT": "1"}),
    case(
        "train-command-killed",
        "training was killed by SIGKILL",
        inputs={"train-command": python_command("import os, signal; os.kill(os.getpid(), signal.SIGKILL)")},
    ),
    case(
        "train-command-prints-10MB",
        "train command exited with status 1",
        inputs={"train-command": TEN_MB_THEN_FAIL, "train-retries": "0"},
    ),
    case(
        "train-command-timeout",
        "training ran past timeout-minutes (0.02 min) and was stopped",
        inputs={
            "train-command": python_command("import time; print('epoch 1', flush=True); time.sleep(60)"),
            "timeout-minutes": "0.02",
        },
    ),
    # -- the metrics file ----------------------------------------------------------------------------
    metrics(
        "metrics-missing",
        None,
        "was not written: the train command must call Keras' fit (keras-ct's hooks then write it; docs/integration.md) or write JSON",
    ),
    metrics("metrics-empty", "", "the file is empty"),
    metrics(
        "metrics-invalid-json",
        '{"schema_version": 1, "accuracy": ',
        "is not valid JSON: Expecting value at line 1",
        line=1,
    ),
    metrics(
        "metrics-nan", '{"schema_version": 1, "accuracy": NaN}', '"accuracy" must be a finite number, got nan'
    ),
    metrics(
        "metrics-accuracy-1.5",
        '{"schema_version": 1, "accuracy": 1.5}',
        '"accuracy" must be between 0 and 1, got 1.5',
    ),
    metrics(
        "metrics-accuracy-string",
        '{"schema_version": 1, "accuracy": "high"}',
        '"accuracy" must be a number, got "high"',
    ),
    # -- the dataset ---------------------------------------------------------------------------------
    case(
        "dataset-path-missing",
        'train.py: error: dataset "nope.npz" does not exist; give --dataset digits, mnist, or the path of an .npz file',
        inputs={"train-command": "python ml_task/train.py --dataset nope.npz --epochs 1"},
        shown='exited with status 2: train.py: error: dataset "nope.npz" does not exist',
    ),
    case(
        "dataset-mnist-offline",
        "this machine seems to have no internet access. Use --dataset digits (scikit-learn's bundled "
        "digits, offline) or --dataset path/to/data.npz",
        inputs={"train-command": "python ml_task/train.py --dataset mnist --epochs 1"},
        shown="exited with status 2: train.py: error: could not download MNIST",
        marks=[pytest.mark.training, pytest.mark.slow],
    ),
]


@pytest.mark.parametrize("case", CASES)
def test_bad_input_fails_cleanly_and_changes_nothing(world: World, case: Case) -> None:
    if case.files:
        world.commit_files(case.files)
    head = world.checkout.head()
    before = Snapshot.take(world.checkout)

    result = run_cli(world.env(case.inputs, **case.env), case.argv)

    # One clear message, at the file and line when there is one; no traceback; non-zero exit.
    assert result.code == case.code, result.out[-3000:]
    error = result.one_error()
    assert case.message in error.message, error.message
    assert error.properties.get("file") == case.file
    assert error.properties.get("line") == (str(case.line) if case.line is not None else None)
    assert "Traceback" not in result.out + result.err
    # Nothing committed, pushed or dispatched; the working tree as it was.
    assert Snapshot.take(world.checkout) == before
    assert world.repo.dispatches == []
    # The round marked failed where it is known; a config error only fails the commit's status.
    statuses = world.statuses()
    if case.config_error:
        assert world.repo.comments == []
        assert len(statuses) == 1
        sha, state, description = statuses[0]
        assert (sha, state) == (head, "failure")
        assert description.startswith("invalid keras-ct configuration: ")
        assert description[len("invalid keras-ct configuration: ") :][:40] in error.message
    else:
        assert [(sha, state) for sha, state, _ in statuses] == [(head, "pending"), (head, "failure")]
        assert statuses[-1][2].startswith("round 1 failed: ")
        body = world.comment()
        assert "💥 **Round 1 failed.**" in body
        assert error.message.splitlines()[0][:60] in body
        if case.shown:
            assert case.shown in body and case.shown in statuses[-1][2]


def test_train_output_of_10MB_is_bounded_in_the_job_log(world: World) -> None:
    """A chatty (but successful) training run: the job log gets 1 MB and a note, the log file all of it."""
    command = python_command(
        "import runpy, sys\n"
        "for i in range(100_000):\n    sys.stdout.write(f'{i:08d} ' + 'x' * 91 + '\\n')\n"
        "runpy.run_path('train_fake.py')"
    )
    result = run_cli(world.env({"train-command": command, "threshold": "0.75"}))
    assert result.code == 0 and result.errors == []
    assert 1_000_000 <= len(result.out) < 1_200_000
    assert "keras-ct: training printed over 1 MB; the rest is only in" in result.out
    log = world.work / ".keras-ct" / "round-1" / "train.log"
    assert log.stat().st_size > 10_000_000
    assert world.statuses()[-1][1] == "success"


def test_empty_action_input_means_the_default(world: World) -> None:
    """A composite action passes "" for an input the caller left out: that is the default, not an error."""
    result = run_cli(world.env({"threshold": "", "max-rounds": "1"}))
    assert result.code == 0 and result.errors == []
    assert world.statuses()[-1][1:] == ("failure", "0.8000 < 0.95 after 1 rounds")


def test_non_ascii_paths_and_branch_names_work(tmp_path: Path, fake_github) -> None:  # type: ignore[no-untyped-def]
    """A working directory 'modèle-ü' and a branch 'verbesserung-ß': the loop runs, pushes and dispatches."""
    world = make_world(tmp_path / "modèle-ü", fake_github, branch="verbesserung-ß")
    assert "modèle-ü" in str(world.work)
    first = run_wired(world.env(), api=fast_client(world))
    assert first.code == 0 and first.errors == [], first.out[-3000:]
    pushed = world.checkout.remote_head()
    assert pushed == world.checkout.head() != world.repo.statuses[0].sha
    assert "Keras-CT-Round: 1" in world.checkout.remote_log(1)
    assert [(d.ref, d.inputs["round"]) for d in world.repo.dispatches] == [("verbesserung-ß", "2")]
    # The dispatched round 2 through the console script's own path.
    second = run_cli(world.dispatched_env(2))
    assert second.code == 0 and second.errors == [], second.out[-3000:]
    assert "Threshold met: accuracy 0.9000 ≥ 0.85 at round 2." in world.comment()
    assert world.statuses()[-1][:2] == (pushed, "success")
    assert outputs(world.tmp)["metrics-file"].startswith(str(world.work))


def test_rerun_after_a_failed_round_recovers(world: World) -> None:
    """The failed round's record (no accuracy) is read back from the comment by the re-run."""
    failed = run_cli(world.env({"train-retries": "0"}, FAKE_TRAIN_EXIT="1"))
    assert failed.code == 1 and "💥 **Round 1 failed.**" in world.comment()

    rerun = run_cli(world.env({"threshold": "0.75"}))

    assert rerun.code == 0 and rerun.errors == [], rerun.out[-3000:]
    assert "Threshold met: accuracy 0.8000 ≥ 0.75 at round 1." in world.comment()
    assert [s[1] for s in world.statuses()] == ["pending", "failure", "pending", "success"]


def test_config_error_on_a_fork_pull_request_writes_nothing(world: World) -> None:
    """A fork's token is read-only: the configuration error is only annotated, nothing is sent."""
    env = world.env({"threshold": "abc"})
    Path(env["GITHUB_EVENT_PATH"]).write_text(json.dumps(pr_event(world.checkout, fork="someone/ml-repo")))
    result = run_cli(env)
    assert result.code == 2
    assert 'got "abc"' in result.one_error().message
    assert world.fake.exchanges == []
