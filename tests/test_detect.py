"""`keras-ct detect`: static analysis of model code, event resolution and runner routing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from keras_ct import cli, detect
from keras_ct.config import parse_labels
from keras_ct.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]
GPU = ("self-hosted", "gpu")
CPU = ("ubuntu-latest",)

# keras.Sequential with a literal list of layers.X calls, as the bundled example writes it.
KERAS_SEQUENTIAL = (ROOT / "tests" / "fixtures" / "models" / "sequential_layers.py").read_text(
    encoding="utf-8"
)

TF_KERAS_ADD = """\
import tensorflow as tf


def build_model():
    model = tf.keras.Sequential()
    model.add(tf.keras.layers.Conv1D(8, 3, input_shape=(64, 1)))
    model.add(tf.keras.layers.GlobalAveragePooling1D())
    model.add(tf.keras.layers.Dense(2))
    return model
"""

FUNCTIONAL_BARE_NAMES = """\
from tensorflow.keras.layers import Input, Conv2D, Flatten, Dense
from tensorflow.keras import Model


def make(shape=(28, 28, 1)):
    inputs = Input(shape)
    x = Conv2D(8, 3)(inputs)
    x = Flatten()(x)
    outputs = Dense(10)(x)
    return Model(inputs, outputs)
"""

KERAS_DENSE_ONLY = """\
import keras.layers as L
from keras import Sequential


def build_model():
    return Sequential([L.Flatten(), L.Dense(64), L.Dense(10)])
"""

KERAS_APPLICATION = """\
import keras


def build_model():
    base = keras.applications.MobileNetV2(include_top=False, weights=None)
    return base
"""

PYTORCH_CNN = """\
import torch
from torch import nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 8, 3)
        self.fc = nn.Linear(8 * 26 * 26, 10)


def build_model():
    return Net()
"""

SKLEARN_MODEL = """\
from sklearn.linear_model import LogisticRegression


def build_model():
    return LogisticRegression(max_iter=200)
"""

HELPER_LIST = """\
import keras
from keras import layers


def _blocks():
    return [layers.Conv2D(8, 3)] + [layers.Flatten()]


def build_model():
    return keras.Sequential(_blocks() + [layers.Dense(10)])
"""

TRAIN_WITH_SKLEARN_DATA = """\
import numpy as np
from sklearn.datasets import load_digits

from model import build_model
"""


def write(tmp_path: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return tmp_path


@pytest.mark.parametrize(
    ("source", "model_function", "framework", "cnn", "augmentable"),
    [
        pytest.param(KERAS_SEQUENTIAL, "build_model", "keras", True, True, id="keras-sequential-list"),
        pytest.param(TF_KERAS_ADD, "build_model", "keras", True, True, id="tf-keras-add-chain-conv1d"),
        pytest.param(FUNCTIONAL_BARE_NAMES, "make", "keras", True, True, id="tf-keras-functional-bare-names"),
        pytest.param(KERAS_DENSE_ONLY, "build_model", "keras", False, True, id="keras-dense-only-aliased"),
        pytest.param(KERAS_APPLICATION, "build_model", "keras", True, False, id="keras-applications"),
        pytest.param(PYTORCH_CNN, "build_model", "pytorch", True, False, id="pytorch-conv2d"),
        pytest.param(SKLEARN_MODEL, "build_model", "sklearn", False, False, id="sklearn"),
        pytest.param(HELPER_LIST, "build_model", "keras", True, False, id="keras-list-from-helper"),
        pytest.param("print('hello')\n", "build_model", "unknown", False, False, id="no-framework"),
    ],
)
def test_model_styles(
    tmp_path: Path, source: str, model_function: str, framework: str, cnn: bool, augmentable: bool
) -> None:
    write(tmp_path, {"model.py": source})
    facts = detect.analyse_code("model.py", "python train.py", tmp_path, model_function)
    assert (facts.framework, facts.cnn, facts.augmentable) == (framework, cnn, augmentable)
    assert facts.problems == ()
    if framework != "unknown":
        assert facts.framework_evidence and facts.framework_evidence[0].path == "model.py"
    if not augmentable:
        assert facts.augmentable_reason


def test_evidence_names_file_and_line(tmp_path: Path) -> None:
    write(tmp_path, {"ml_task/model.py": KERAS_SEQUENTIAL})
    facts = detect.analyse_code("ml_task/model.py", "", tmp_path)
    assert str(facts.framework_evidence[0]) == "ml_task/model.py:3: imports keras"
    assert str(facts.cnn_evidence) == "ml_task/model.py:12: uses layers.Conv2D"
    assert facts.augmentable_reason == "ml_task/model.py:9: keras.Sequential([...]) layer list"


def test_reasons_for_helper_list_and_missing_function(tmp_path: Path) -> None:
    write(tmp_path, {"m.py": HELPER_LIST})
    facts = detect.analyse_code("m.py", "", tmp_path)
    assert "found in build_model()" in facts.augmentable_reason
    facts = detect.analyse_code("m.py", "", tmp_path, "create_model")
    assert facts.augmentable is False
    assert facts.augmentable_reason == "no function create_model() in m.py"


def test_framework_from_the_training_script_when_the_model_file_has_none(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "model.py": "def build_model():\n    return None\n",
            "scripts/train.py": "import torch\nnet = torch.nn.Conv2d(1, 2, 3)\n",
        },
    )
    facts = detect.analyse_code("model.py", "python -u scripts/train.py --epochs 3", tmp_path)
    assert (facts.framework, facts.cnn) == ("pytorch", True)
    assert str(facts.framework_evidence[0]) == "scripts/train.py:1: imports torch"


def test_model_file_framework_wins_over_sklearn_data_in_train_script(tmp_path: Path) -> None:
    write(tmp_path, {"model.py": KERAS_SEQUENTIAL, "train.py": TRAIN_WITH_SKLEARN_DATA})
    facts = detect.analyse_code("model.py", "python train.py", tmp_path)
    assert facts.framework == "keras"


def test_module_train_command_is_read(tmp_path: Path) -> None:
    write(tmp_path, {"model.py": "X = 1\n", "pkg/train.py": "import tensorflow as tf\n"})
    facts = detect.analyse_code("model.py", "python -m pkg.train", tmp_path)
    assert facts.framework == "tensorflow"


def test_syntax_error_is_a_problem_with_its_line_not_a_crash(tmp_path: Path) -> None:
    write(tmp_path, {"model.py": "import keras\n\ndef build_model(:\n    pass\n"})
    facts = detect.analyse_code("model.py", "", tmp_path)
    assert facts.framework == "unknown"
    assert facts.augmentable is False
    assert [(p.path, p.line) for p in facts.problems] == [("model.py", 3)]
    assert "syntax error" in facts.problems[0].text


def test_missing_model_file_is_a_problem(tmp_path: Path) -> None:
    facts = detect.analyse_code("nope.py", "", tmp_path)
    assert facts.augmentable is False
    assert facts.problems[0].path == "nope.py"
    assert "not found" in facts.problems[0].text


def test_code_is_never_executed(tmp_path: Path) -> None:
    marker = tmp_path / "executed"
    write(
        tmp_path,
        {
            "model.py": f"import keras\nopen({str(marker)!r}, 'w').write('x')\n",
            "train.py": f"open({str(marker)!r}, 'w').write('x')\n",
        },
    )
    detect.analyse_code("model.py", "python train.py", tmp_path)
    assert not marker.exists()


@pytest.mark.parametrize(
    ("command", "scripts"),
    [
        pytest.param("python ml_task/train.py --dataset digits", ("ml_task/train.py",), id="script"),
        pytest.param("python -m pkg.train --x 1", ("pkg/train.py", "pkg/train/__main__.py"), id="module"),
        pytest.param("make train", (), id="no-python"),
        pytest.param("python 'unterminated", (), id="bad-quoting"),
    ],
)
def test_train_scripts(command: str, scripts: tuple[str, ...]) -> None:
    assert detect.train_scripts(command) == scripts


# --------------------------------------------------------------------------- events


def pr_event(number: int = 7, head: str = "acme/ml", base: str = "acme/ml", ref: str = "more-conv") -> dict:
    return {
        "number": number,
        "pull_request": {
            "number": number,
            "head": {"ref": ref, "sha": "a" * 40, "repo": {"full_name": head} if head else None},
            "base": {"ref": "main", "repo": {"full_name": base}},
        },
        "repository": {"full_name": base},
    }


def test_pull_request_event() -> None:
    event = detect.resolve_event("pull_request", pr_event(), repository="acme/ml", ref_name="7/merge")
    assert event == detect.EventFacts("pull_request", 1, 7, False, "more-conv", "acme/ml", "acme/ml")


@pytest.mark.parametrize(
    "head",
    [
        pytest.param("someone/ml", id="fork"),
        pytest.param("", id="deleted-fork"),
    ],
)
def test_pull_request_from_fork(head: str) -> None:
    event = detect.resolve_event("pull_request", pr_event(head=head), repository="acme/ml")
    assert event.fork is True
    assert event.pr_number == 7


def test_workflow_dispatch_inputs_from_flags_win_over_payload() -> None:
    payload = {"inputs": {"round": "3", "pr-number": "9"}, "ref": "refs/heads/more-conv"}
    event = detect.resolve_event(
        "workflow_dispatch", payload, repository="acme/ml", ref_name="more-conv", round_input="2"
    )
    assert (event.round, event.pr_number, event.fork, event.head_ref) == (2, 9, False, "more-conv")


def test_workflow_dispatch_reads_payload_inputs() -> None:
    payload = {"inputs": {"round": "4", "pr-number": "12"}, "ref": "refs/heads/feat", "repository": {}}
    event = detect.resolve_event("workflow_dispatch", payload, repository="acme/ml")
    assert (event.round, event.pr_number, event.head_ref, event.head_repo) == (4, 12, "feat", "acme/ml")


def test_push_event_defaults() -> None:
    event = detect.resolve_event("push", {}, repository="acme/ml", ref_name="main")
    assert (event.round, event.pr_number, event.fork, event.head_ref) == (1, None, False, "main")


@pytest.mark.parametrize(
    ("round_input", "pr_input", "message"),
    [
        pytest.param("0", "", 'round must be a whole number of 1 or more, got "0"', id="round-0"),
        pytest.param("two", "", 'round must be a whole number of 1 or more, got "two"', id="round-word"),
        pytest.param("1", "-4", 'pr-number must be a whole number of 1 or more, got "-4"', id="pr-negative"),
    ],
)
def test_bad_round_or_pr(round_input: str, pr_input: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        detect.resolve_event("workflow_dispatch", {}, round_input=round_input, pr_input=pr_input)
    assert message in str(info.value)


# --------------------------------------------------------------------------- routing


def keras_cnn() -> detect.CodeFacts:
    return detect.CodeFacts(framework="keras", cnn=True, augmentable=True)


def test_keras_cnn_goes_to_gpu_labels() -> None:
    event = detect.resolve_event("pull_request", pr_event(), repository="acme/ml")
    plan = detect.make_plan(keras_cnn(), event, gpu_labels=GPU, cpu_labels=CPU, fork_policy="skip")
    assert (plan.runner, plan.gpu, plan.skip, plan.writes) == (GPU, True, False, True)
    assert detect.plan_outputs(plan)["runner"] == '["self-hosted","gpu"]'


@pytest.mark.parametrize(
    "code",
    [
        pytest.param(detect.CodeFacts("keras", False, True), id="keras-dense"),
        pytest.param(detect.CodeFacts("pytorch", True, False), id="pytorch-cnn"),
        pytest.param(detect.CodeFacts("sklearn", False, False), id="sklearn"),
        pytest.param(detect.CodeFacts("unknown", False, False), id="unknown"),
    ],
)
def test_everything_else_goes_to_cpu_labels(code: detect.CodeFacts) -> None:
    event = detect.resolve_event("push", {}, repository="acme/ml")
    plan = detect.make_plan(code, event, gpu_labels=GPU, cpu_labels=CPU, fork_policy="skip")
    assert (plan.runner, plan.gpu) == (CPU, False)


def test_fork_with_skip_policy_is_skipped_and_explained() -> None:
    event = detect.resolve_event("pull_request", pr_event(head="mallory/ml"), repository="acme/ml")
    plan = detect.make_plan(keras_cnn(), event, gpu_labels=GPU, cpu_labels=CPU, fork_policy="skip")
    outputs = detect.plan_outputs(plan)
    assert outputs["skip"] == "true" and outputs["writes"] == "false" and outputs["fork"] == "true"
    assert "self-hosted" not in outputs["runner"] and "gpu" not in outputs["runner"]
    assert "pull request #7 comes from a fork (mallory/ml)" in outputs["skip-reason"]
    assert "fork-policy: cpu" in outputs["skip-reason"]
    assert plan.skip_reason in detect.render_summary(plan)
    # No job of a fork PR can write a commit status: the summary says so instead of pretending.
    assert (
        "> No keras-ct commit status is set: a fork pull request's token is read-only"
        in detect.render_summary(plan)
    )


def test_fork_with_cpu_policy_trains_on_cpu_without_writes() -> None:
    event = detect.resolve_event("pull_request", pr_event(head="mallory/ml"), repository="acme/ml")
    plan = detect.make_plan(keras_cnn(), event, gpu_labels=GPU, cpu_labels=CPU, fork_policy="cpu")
    assert (plan.runner, plan.gpu, plan.skip, plan.writes) == (CPU, False, False, False)
    assert "nothing is commented, pushed or dispatched" in detect.render_summary(plan)
    assert "No keras-ct commit status is set" in detect.render_summary(plan)


def test_fork_never_reaches_self_hosted_cpu_labels() -> None:
    event = detect.resolve_event("pull_request", pr_event(head="mallory/ml"), repository="acme/ml")
    cpu = ("self-hosted", "linux")
    plan = detect.make_plan(keras_cnn(), event, gpu_labels=GPU, cpu_labels=cpu, fork_policy="cpu")
    assert plan.skip is True
    assert "include self-hosted" in plan.skip_reason


def test_bad_fork_policy() -> None:
    event = detect.resolve_event("push", {})
    with pytest.raises(ConfigError, match='fork-policy must be one of skip, cpu, got "never"'):
        detect.make_plan(keras_cnn(), event, gpu_labels=GPU, cpu_labels=CPU, fork_policy="never")


@pytest.mark.parametrize(
    ("text", "labels"),
    [
        pytest.param('["self-hosted", "gpu"]', ("self-hosted", "gpu"), id="array"),
        pytest.param('"ubuntu-latest"', ("ubuntu-latest",), id="json-string"),
    ],
)
def test_parse_labels(text: str, labels: tuple[str, ...]) -> None:
    assert parse_labels(text, "gpu-runner-labels") == labels


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("self-hosted, gpu", id="not-json"),
        pytest.param("[]", id="empty"),
        pytest.param('["gpu", 3]', id="not-strings"),
        pytest.param('{"a": 1}', id="object"),
    ],
)
def test_bad_labels(text: str) -> None:
    with pytest.raises(ConfigError, match="cpu-runner-labels must be a"):
        parse_labels(text, "cpu-runner-labels")


# --------------------------------------------------------------------------- the command


def run_handle(tmp_path: Path, argv: list[str], event: dict | None, event_name: str) -> tuple[int, dict, str]:
    """``keras-ct detect`` through the one door (``cli.main``), as the plan job runs it."""
    event_path = tmp_path / "event.json"
    event_path.write_text(json.dumps(event or {}), encoding="utf-8")
    output, summary = tmp_path / "output", tmp_path / "summary.md"
    env = {
        "GITHUB_ACTIONS": "true",
        "GITHUB_EVENT_NAME": event_name,
        "GITHUB_EVENT_PATH": str(event_path),
        "GITHUB_OUTPUT": str(output),
        "GITHUB_STEP_SUMMARY": str(summary),
        "GITHUB_REPOSITORY": "acme/ml",
        "GITHUB_REF_NAME": "more-conv",
    }
    code = cli.main(["detect", *argv], environ=env)
    return code, parse_github_output(output.read_text(encoding="utf-8")), summary.read_text(encoding="utf-8")


def parse_github_output(text: str) -> dict[str, str]:
    """Read the ``name<<DELIM`` form of ``$GITHUB_OUTPUT``."""
    outputs: dict[str, str] = {}
    lines = iter(text.splitlines())
    for line in lines:
        name, _, delimiter = line.partition("<<")
        value = []
        for inner in lines:
            if inner == delimiter:
                break
            value.append(inner)
        outputs[name] = "\n".join(value)
    return outputs


def test_command_on_the_example_task_pull_request(tmp_path: Path) -> None:
    work = write(
        tmp_path / "repo", {"ml_task/model.py": KERAS_SEQUENTIAL, "ml_task/train.py": TRAIN_WITH_SKLEARN_DATA}
    )
    code, outputs, summary = run_handle(
        tmp_path, ["--working-directory", str(work)], pr_event(number=5), "pull_request"
    )
    assert code == 0
    assert outputs == {
        "framework": "keras",
        "cnn": "true",
        "augmentable": "true",
        "runner": '["self-hosted","gpu"]',
        "gpu": "true",
        "round": "1",
        "pr-number": "5",
        "fork": "false",
        "writes": "true",
        "skip": "false",
        "skip-reason": "",
        "head-ref": "more-conv",
        "head-repo": "acme/ml",
        "model-file": "ml_task/model.py",
    }
    assert "| Framework | keras (ml_task/model.py:3: imports keras) |" in summary
    assert '| Training runner | `["self-hosted", "gpu"]` |' in summary


def test_command_dispatch_event_and_cpu_labels_flag(tmp_path: Path) -> None:
    work = write(tmp_path / "repo", {"ml_task/model.py": SKLEARN_MODEL})
    _, outputs, _ = run_handle(
        tmp_path,
        ["--working-directory", str(work), "--cpu-runner-labels", '["linux", "x64"]'],
        {"inputs": {"round": "2", "pr-number": "5"}},
        "workflow_dispatch",
    )
    assert (outputs["runner"], outputs["round"], outputs["pr-number"]) == ('["linux","x64"]', "2", "5")


def test_command_annotates_a_syntax_error_as_a_warning(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    work = write(tmp_path / "repo", {"ml_task/model.py": "import keras\nx = (\n"})
    assert cli.main(["detect", "--working-directory", str(work)], environ={"GITHUB_ACTIONS": "true"}) == 0
    assert "::warning file=ml_task/model.py,line=2::syntax error" in capsys.readouterr().out


def module_env(tmp_path: Path, event: dict, event_name: str) -> dict[str, str]:
    event_path = tmp_path / "event.json"
    event_path.write_text(json.dumps(event), encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("GITHUB_")}
    env.update(
        PYTHONPATH=str(ROOT / "action"),
        GITHUB_ACTIONS="true",
        GITHUB_EVENT_NAME=event_name,
        GITHUB_EVENT_PATH=str(event_path),
        GITHUB_OUTPUT=str(tmp_path / "output"),
        GITHUB_STEP_SUMMARY=str(tmp_path / "summary.md"),
        GITHUB_REPOSITORY="acme/ml",
    )
    return env


def test_module_entry_runs_without_site_packages(tmp_path: Path) -> None:
    """The detect action runs `python -S -m keras_ct.detect` from the checkout: stdlib only."""
    work = write(tmp_path / "repo", {"ml_task/model.py": KERAS_SEQUENTIAL})
    env = module_env(tmp_path, pr_event(head="mallory/ml"), "pull_request")
    result = subprocess.run(
        [sys.executable, "-S", "-m", "keras_ct.detect", "--working-directory", str(work)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    outputs = parse_github_output((tmp_path / "output").read_text(encoding="utf-8"))
    assert (outputs["skip"], outputs["runner"], outputs["fork"]) == ("true", '["ubuntu-latest"]', "true")
    assert "::notice::Training skipped: pull request #7 comes from a fork" in result.stdout
    assert "Training skipped" in (tmp_path / "summary.md").read_text(encoding="utf-8")


def test_module_entry_reports_bad_input_as_error_annotation(tmp_path: Path) -> None:
    env = module_env(tmp_path, {}, "push")
    result = subprocess.run(
        [sys.executable, "-S", "-m", "keras_ct.detect", "--gpu-runner-labels", "gpu"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    assert result.stdout.startswith("::error::gpu-runner-labels must be a JSON array of runner labels")
    assert "Traceback" not in result.stderr


def test_detect_does_not_import_tensorflow() -> None:
    code = textwrap.dedent(
        """
        import sys
        import keras_ct.detect
        assert "tensorflow" not in sys.modules and "keras" not in sys.modules and "torch" not in sys.modules
        """
    )
    subprocess.run(
        [sys.executable, "-c", code], env={**os.environ, "PYTHONPATH": str(ROOT / "action")}, check=True
    )


def test_command_reads_keras_ct_yml(tmp_path: Path) -> None:
    """One door: the plan job's settings come from .keras-ct.yml too (here, the model function)."""
    work = write(
        tmp_path / "repo",
        {"ml_task/model.py": FUNCTIONAL_BARE_NAMES, ".keras-ct.yml": "model-function: make\n"},
    )
    _, outputs, summary = run_handle(tmp_path, ["--working-directory", str(work)], {}, "push")
    assert outputs["augmentable"] == "true"
    assert "functional Model(inputs, outputs)" in summary


def test_round_in_keras_ct_yml_does_not_beat_the_dispatched_round(tmp_path: Path) -> None:
    work = write(tmp_path / "repo", {"ml_task/model.py": SKLEARN_MODEL, ".keras-ct.yml": "round: 3\n"})
    _, outputs, _ = run_handle(
        tmp_path, ["--working-directory", str(work)], {"inputs": {"round": "2"}}, "workflow_dispatch"
    )
    assert outputs["round"] == "2"


def test_module_entry_without_site_packages_says_a_keras_ct_yml_needs_pyyaml(tmp_path: Path) -> None:
    work = write(
        tmp_path / "repo", {"ml_task/model.py": KERAS_SEQUENTIAL, ".keras-ct.yml": "policy: naive\n"}
    )
    result = subprocess.run(
        [sys.executable, "-S", "-m", "keras_ct.detect", "--working-directory", str(work)],
        env=module_env(tmp_path, {}, "push"),
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    assert result.stdout.startswith("::error file=")
    assert "needs PyYAML" in result.stdout and "-S, without site-packages" in result.stdout
    assert "Traceback" not in result.stderr
