"""The workflows and actions, checked as data: lint, schemas, security rules, and input plumbing.

* zizmor (offline, the repository's ``.github/zizmor.yml``) finds nothing at the default persona,
  and every ``# zizmor: ignore[...]`` says why;
* every workflow and action validates against SchemaStore's GitHub schemas (check-jsonschema);
* security rules (issue 6): no ``${{ }}`` inside ``run:``, no ``pull_request_target``, top-level
  ``permissions: {}``, least-privilege jobs, remote actions pinned by SHA with a ``# vN`` comment,
  and a pull request from a fork never reaches self-hosted labels (the plan step, exercised);
* every ``action.yml`` input reaches the Python side as ``INPUT_*`` and is documented (docs/configuration.md).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from keras_ct.config import CONFIG_FILE, FIELD_NAMES
from keras_ct.config.fields import MAX_CANDIDATES
from tests.test_detect import parse_github_output

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
ACTIONS = [ROOT / "action.yml", ROOT / "detect" / "action.yml"]
REUSABLE = ROOT / ".github" / "workflows" / "continuous-training.yml"
OUR_REFS = re.compile(r"^keras-ct/keras-ct(/[\w./-]+)?@v\d+$")
SHA_PIN = re.compile(r"^[\w.-]+/[\w.-]+(/[\w./-]+)?@[0-9a-f]{40}$")
EXPRESSION = re.compile(r"\$\{\{.*?\}\}", re.S)
TRAIN_PERMISSIONS = {"contents": "write", "pull-requests": "write", "statuses": "write", "actions": "write"}


def load(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(data, dict), path
    return data


def triggers(workflow: dict[str, Any]) -> dict[str, Any]:
    on = workflow.get("on", workflow.get(True))  # PyYAML reads the key `on` as True
    if isinstance(on, str):
        return {on: None}
    if isinstance(on, list):
        return dict.fromkeys(on)
    return dict(on or {})


def steps_of(path: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    """(where, step) for every step of a workflow's jobs or a composite action."""
    data = load(path)
    if "runs" in data:
        for i, step in enumerate(data["runs"].get("steps", [])):
            yield f"{path.name} step {i + 1}", step
    for job_id, job in (data.get("jobs") or {}).items():
        for i, step in enumerate(job.get("steps", [])):
            yield f"{path.relative_to(ROOT)} job {job_id} step {i + 1}", step


def tool(name: str) -> str:
    found = BIN / name
    assert found.is_file(), f"{name} is not installed next to {sys.executable} (pip install '.[dev]')"
    return str(found)


# --------------------------------------------------------------------------- linters


def test_zizmor_finds_nothing() -> None:
    paths = [str(p.relative_to(ROOT)) for p in [*WORKFLOWS, *ACTIONS]]
    env = {
        k: v for k, v in os.environ.items() if k not in ("GH_TOKEN", "GITHUB_TOKEN", "ZIZMOR_GITHUB_TOKEN")
    }
    done = subprocess.run(
        [tool("zizmor"), "--offline", "--config", ".github/zizmor.yml", "--format", "json", *paths],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        env=env,
    )
    findings = json.loads(done.stdout or "[]")
    assert findings == [], json.dumps(findings, indent=1)[:4000]
    assert done.returncode == 0, done.stderr


def test_every_zizmor_ignore_is_justified() -> None:
    for path in [*WORKFLOWS, *ACTIONS]:
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if "zizmor: ignore[" in line:
                reason = line.split("zizmor: ignore[", 1)[1].split("]", 1)[1].strip()
                assert len(reason) > 10, f"{path.name}:{number}: say why the finding is ignored"


@pytest.mark.parametrize(
    ("path", "schema"),
    [pytest.param(p, "vendor.github-workflows", id=p.name) for p in WORKFLOWS]
    + [pytest.param(p, "vendor.github-actions", id=str(p.relative_to(ROOT))) for p in ACTIONS],
)
def test_schema(path: Path, schema: str) -> None:
    done = subprocess.run(
        [tool("check-jsonschema"), "--builtin-schema", schema, str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_three_workflows_exist() -> None:
    assert {p.name for p in WORKFLOWS} >= {"continuous-training.yml", "ml.yml", "ci.yml"}


# --------------------------------------------------------------------------- security rules


@pytest.mark.parametrize("path", [*WORKFLOWS, *ACTIONS], ids=lambda p: str(p.relative_to(ROOT)))
def test_no_expressions_inside_run(path: Path) -> None:
    """Data reaches scripts through env:, never through ${{ }} pasted into the script."""
    for where, step in steps_of(path):
        if "run" in step:
            found = EXPRESSION.findall(str(step["run"]))
            assert not found, f"{where}: {found} inside run:; pass it through env: instead"


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_workflow_triggers_and_permissions(path: Path) -> None:
    workflow = load(path)
    assert "pull_request_target" not in triggers(workflow)
    assert "pull_request_target" not in path.read_text(encoding="utf-8")
    assert workflow.get("permissions") == {}, f"{path.name}: top-level `permissions: {{}}`"
    for job_id, job in workflow["jobs"].items():
        assert "permissions" in job, f"{path.name} job {job_id}: declare its permissions"
        granted = job["permissions"]
        assert isinstance(granted, dict), f"{path.name} job {job_id}: a mapping, not read-all/write-all"
        writes = {k for k, v in granted.items() if v == "write"}
        assert writes <= set(TRAIN_PERMISSIONS), f"{path.name} job {job_id}: {writes}"


def test_reusable_workflow_jobs_have_exactly_their_permissions() -> None:
    jobs = load(REUSABLE)["jobs"]
    assert jobs["plan"]["permissions"] == {"contents": "read"}
    assert jobs["train"]["permissions"] == TRAIN_PERMISSIONS


@pytest.mark.parametrize("path", [*WORKFLOWS, *ACTIONS], ids=lambda p: str(p.relative_to(ROOT)))
def test_remote_actions_are_pinned_by_sha_with_a_version_comment(path: Path) -> None:
    lines = path.read_text(encoding="utf-8").splitlines()
    for number, line in enumerate(lines, 1):
        match = re.match(r"^\s*(?:-\s*)?uses:\s*(\S+)(.*)$", line)
        if not match:
            continue
        ref, rest = match.groups()
        if ref.startswith(("./", "docker://")) or OUR_REFS.match(ref):
            continue
        assert SHA_PIN.match(ref), f"{path.name}:{number}: {ref} is not pinned by a full commit SHA"
        assert re.match(r"^\s*#\s*v\d+", rest), f"{path.name}:{number}: add the version as `# vN`"


def test_our_own_actions_follow_the_ref_the_workflow_was_called_at() -> None:
    """Issue 14 item 9: each job checks keras-ct out at job.workflow_sha (the major tag where GitHub
    has no job.workflow_*) after the pull request's code, and uses the actions from there. Callers
    call the workflow itself by its published reference."""
    for job_id, action in (("plan", "./.keras-ct-action/detect"), ("train", "./.keras-ct-action")):
        steps = load(REUSABLE)["jobs"][job_id]["steps"]
        uses = [str(step.get("uses", "")) for step in steps]
        own = next(
            i for i, step in enumerate(steps) if step.get("with", {}).get("path") == ".keras-ct-action"
        )
        assert steps[own]["with"]["repository"] == "${{ job.workflow_repository || 'keras-ct/keras-ct' }}"
        assert steps[own]["with"]["ref"] == "${{ job.workflow_sha || 'v1' }}"
        assert steps[own]["with"]["persist-credentials"] is False
        assert (
            uses.index(action)
            > own
            > next(i for i, u in enumerate(uses) if u.startswith("actions/checkout@"))
        )
        assert not any(u.startswith("keras-ct/keras-ct") for u in uses), uses
    caller = load(ROOT / ".github" / "workflows" / "ml.yml")
    assert caller["jobs"]["continuous-training"]["uses"] == (
        "keras-ct/keras-ct/.github/workflows/continuous-training.yml@v1"
    )


def test_train_job_shape() -> None:
    train = load(REUSABLE)["jobs"]["train"]
    assert train["runs-on"] == "${{ fromJSON(needs.plan.outputs.runner) }}"
    assert train["if"] == "needs.plan.outputs.skip != 'true'"
    assert "timeout-minutes" in train
    assert train["concurrency"]["group"] == "${{ needs.plan.outputs.loop-group }}"
    group = load(REUSABLE)["jobs"]["plan"]["outputs"]["loop-group"]
    assert "github.repository" in group and "steps.detect.outputs.pr-number" in group
    assert "github.workflow" not in group
    assert train["concurrency"]["cancel-in-progress"] is True
    checkout = next(s for s in train["steps"] if s.get("uses", "").startswith("actions/checkout@"))
    assert (
        checkout["with"]["ref"] == "${{ needs.plan.outputs.head-ref }}"
    )  # the head branch, not the merge ref
    # It pushes, but the PR's code runs in the checkout: keras-ct gives the token to its push alone.
    assert checkout["with"]["persist-credentials"] is False
    ct = next(s for s in train["steps"] if s.get("uses") == "./.keras-ct-action")
    for switch in ("commit", "push", "dispatch"):
        assert ct["with"][switch] == "${{ needs.plan.outputs.writes }}"


def test_no_checkout_leaves_credentials_in_git_config() -> None:
    """Not even the job that pushes: its checkout runs the PR's code (keras-ct passes the token to the
    push itself, keras_ct.git.auth_env)."""
    checkouts = 0
    for path in WORKFLOWS:
        for job_id, job in load(path)["jobs"].items():
            for step in job.get("steps", []):
                if step.get("uses", "").startswith("actions/checkout@"):
                    checkouts += 1
                    assert step.get("with", {}).get("persist-credentials") is False, f"{path.name} {job_id}"
    assert checkouts >= 3


def keys_step(job: str) -> dict[str, Any]:
    return next(s for s in load(REUSABLE)["jobs"][job]["steps"] if s.get("id") == "keys")


def run_keys_step(tmp_path: Path, env: dict[str, str]) -> dict[str, str]:
    """Run the train job's `Cache keys` step (its script, from keras-ct's checkout) with the env the
    workflow gives it."""
    keys = keys_step("train")
    assert set(keys["env"]) == set(env), "the test must set exactly the step's env"
    script = keys["run"].removeprefix("bash .keras-ct-action/")
    output = tmp_path / "keys-output"
    output.unlink(missing_ok=True)
    base = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "RUNNER_"))}
    base.update(env, GITHUB_OUTPUT=str(output), RUNNER_TEMP=str(tmp_path / "temp"))
    subprocess.run(["bash", str(ROOT / script)], cwd=tmp_path, env=base, check=True)
    return dict(line.split("=", 1) for line in output.read_text(encoding="utf-8").splitlines())


def test_a_candidate_saves_its_training_under_the_key_the_next_round_restores() -> None:
    """fan-out: runners: the candidate job trains as round N + 1 and saves its checkpoint folder
    under that round's prefix (its model file's hash), which the next round's train job restores
    first: the kept candidate's training reaches it (train.ahead)."""
    train, candidate = keys_step("train"), keys_step("candidate")
    assert candidate["run"] == train["run"]  # one script computes both jobs' keys
    assert {k: v for k, v in candidate["env"].items() if k != "ROUND"} == {
        k: v for k, v in train["env"].items() if k != "ROUND"
    }
    assert candidate["env"]["ROUND"] == "${{ matrix.round }}"  # the round it trains as
    steps = load(REUSABLE)["jobs"]["candidate"]["steps"]
    restore = next(
        s for s in steps if s.get("uses", "").startswith("actions/cache/restore@") and "keys" in str(s)
    )
    save = next(s for s in steps if s.get("uses", "").startswith("actions/cache/save@"))
    assert save["with"]["key"] == restore["with"]["key"]
    assert save["with"]["key"].startswith("${{ steps.keys.outputs.checkpoint-prefix }}")
    assert "matrix.candidate" in save["with"]["key"]  # k jobs, k keys (cache keys are immutable)
    assert save["if"].startswith("always()")
    assert (
        restore["with"]["restore-keys"].splitlines()[-1]
        == "${{ steps.keys.outputs.checkpoint-branch-prefix }}"
    )
    ct = next(s for s in steps if s.get("id") == "ct")
    assert ct["with"]["checkpoint-dir"] == "${{ steps.keys.outputs.checkpoint-dir }}"


def test_checkpoint_cache_key_has_repository_branch_round_and_model_hash(tmp_path: Path) -> None:
    model = tmp_path / "ml_task" / "model.py"
    model.parent.mkdir()
    model.write_text("def build_model(): ...\n", encoding="utf-8")
    env = {
        "WORKING_DIRECTORY": ".",
        "MODEL_FILE": "ml_task/model.py",
        "REPOSITORY": "acme/ml",
        "HEAD_REF": "feat,x",  # cache keys may not contain commas; branch names may
        "ROUND": "3",
        "CHECKPOINT_DIR": "",
        "NAME": "",
    }
    first = run_keys_step(tmp_path, env)
    digest = hashlib.sha256(model.read_bytes()).hexdigest()[:16]
    assert first["checkpoint-branch-prefix"] == "keras-ct-checkpoint-acme/ml-feat_x-round-"
    assert first["checkpoint-prefix"] == f"keras-ct-checkpoint-acme/ml-feat_x-round-3-{digest}-"
    assert first["checkpoint-dir"] == str(tmp_path / "temp" / "keras-ct-checkpoints")
    model.write_text("def build_model(): return 1\n", encoding="utf-8")  # an augmented model
    assert run_keys_step(tmp_path, env)["checkpoint-prefix"] != first["checkpoint-prefix"]
    assert run_keys_step(tmp_path, {**env, "ROUND": "4"})["checkpoint-prefix"].startswith(
        first["checkpoint-branch-prefix"] + "4-"
    )
    persistent = run_keys_step(tmp_path, {**env, "CHECKPOINT_DIR": "/var/lib/keras-ct"})
    assert persistent["checkpoint-dir"] == "/var/lib/keras-ct"
    # A named model (issue 14): its own keys, which the unnamed model's prefixes never match.
    named = run_keys_step(tmp_path, {**env, "NAME": "acme"})
    assert named["checkpoint-branch-prefix"] == "keras-ct-checkpoint-acme-acme/ml-feat_x-round-"
    assert not named["checkpoint-prefix"].startswith(first["checkpoint-branch-prefix"])


def test_checkpoint_is_restored_and_saved_even_when_the_round_fails() -> None:
    train = load(REUSABLE)["jobs"]["train"]
    restore = next(s for s in train["steps"] if s.get("uses", "").startswith("actions/cache/restore@"))
    save = next(s for s in train["steps"] if s.get("uses", "").startswith("actions/cache/save@"))
    assert restore["with"]["path"] == save["with"]["path"] == "${{ steps.keys.outputs.checkpoint-dir }}"
    assert restore["with"]["restore-keys"].splitlines() == [
        "${{ steps.keys.outputs.checkpoint-prefix }}",  # this round, this model file: resume
        "${{ steps.keys.outputs.checkpoint-branch-prefix }}",  # an earlier round: warm-start models
    ]
    assert save["with"]["key"] == restore["with"]["key"]
    assert "github.run_attempt" in save["with"]["key"]  # each attempt saves its own (immutable) key
    assert save["if"].startswith("always()")  # a crashed or cancelled round keeps its finished epochs
    ct = next(s for s in train["steps"] if s.get("id") == "ct")
    assert ct["with"]["checkpoint-dir"] == "${{ steps.keys.outputs.checkpoint-dir }}"


def plan_step(
    tmp_path: Path,
    event: dict[str, Any],
    event_name: str,
    inputs: dict[str, str],
    *,
    env_extra: dict[str, str] | None = None,
    cwd: Path = ROOT,
) -> subprocess.CompletedProcess[str]:
    """Run detect/action.yml's step script as the runner would (its env, GITHUB_ACTION_PATH)."""
    action = load(ROOT / "detect" / "action.yml")
    (step,) = action["runs"]["steps"]
    defaults = {name: str(spec.get("default", "")) for name, spec in action["inputs"].items()}
    values = {**defaults, **inputs}
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "INPUT_", "RUNNER_"))}
    for key, expression in step["env"].items():
        name = re.fullmatch(r"\$\{\{ inputs\.([\w-]+) \}\}", expression)
        assert name, f"detect step env {key} must come from an input"
        env[key] = values[name.group(1)]
    event_path = tmp_path / "event.json"
    event_path.write_text(json.dumps(event), encoding="utf-8")
    env.update(
        GITHUB_ACTIONS="true",
        GITHUB_ACTION_PATH=str(ROOT / "detect"),
        GITHUB_EVENT_NAME=event_name,
        GITHUB_EVENT_PATH=str(event_path),
        GITHUB_OUTPUT=str(tmp_path / "output"),
        GITHUB_STEP_SUMMARY=str(tmp_path / "summary.md"),
        GITHUB_REPOSITORY="acme/ml",
        GITHUB_REF_NAME="7/merge",
        RUNNER_TEMP=str(tmp_path / "runner-temp"),
    )
    env.update(env_extra or {})
    return subprocess.run(
        ["bash", "-c", step["run"]], cwd=cwd, env=env, capture_output=True, text=True, check=False
    )


def run_plan_step(
    tmp_path: Path, event: dict[str, Any], event_name: str, inputs: dict[str, str], **options: Any
) -> tuple[dict[str, str], str]:
    """The plan step, which must succeed: its outputs and its step summary (``options``: plan_step's)."""
    done = plan_step(tmp_path, event, event_name, inputs, **options)
    assert done.returncode == 0, done.stdout + done.stderr
    outputs = parse_github_output((tmp_path / "output").read_text(encoding="utf-8"))
    return outputs, (tmp_path / "summary.md").read_text(encoding="utf-8")


def fork_event(number: int = 9) -> dict[str, Any]:
    return {
        "number": number,
        "pull_request": {
            "number": number,
            "head": {"ref": "patch-1", "sha": "b" * 40, "repo": {"full_name": "mallory/ml"}},
            "base": {"ref": "main", "repo": {"full_name": "acme/ml"}},
        },
        "repository": {"full_name": "acme/ml"},
    }


WORKFLOW_INPUTS = load(REUSABLE)[True]["workflow_call"]["inputs"]


@pytest.mark.parametrize(
    ("fork_policy", "cpu_labels"),
    [
        pytest.param("skip", WORKFLOW_INPUTS["cpu-runner-labels"]["default"], id="skip-default-labels"),
        pytest.param("cpu", WORKFLOW_INPUTS["cpu-runner-labels"]["default"], id="cpu-default-labels"),
        pytest.param("cpu", '["self-hosted", "linux"]', id="cpu-self-hosted-cpu-labels"),
        pytest.param("skip", '["self-hosted", "linux"]', id="skip-self-hosted-cpu-labels"),
    ],
)
def test_fork_pull_request_never_reaches_self_hosted_labels(
    tmp_path: Path, fork_policy: str, cpu_labels: str
) -> None:
    """The plan step itself (detect/action.yml's script) on a fork event, with the workflow's GPU labels."""
    outputs, summary = run_plan_step(
        tmp_path,
        fork_event(),
        "pull_request",
        {
            "gpu-runner-labels": WORKFLOW_INPUTS["gpu-runner-labels"]["default"],
            "cpu-runner-labels": cpu_labels,
            "fork-policy": fork_policy,
        },
    )
    labels = json.loads(outputs["runner"])
    trains = outputs["skip"] != "true"
    assert outputs["fork"] == "true" and outputs["writes"] == "false"
    if trains:
        assert not any(label.lower() in ("self-hosted", "gpu") for label in labels), labels
    else:
        assert "Training skipped" in summary and outputs["skip-reason"] in summary
    assert trains == (fork_policy == "cpu" and "self-hosted" not in cpu_labels)


def test_same_repository_pull_request_gets_the_gpu_labels(tmp_path: Path) -> None:
    event = fork_event(7)
    event["pull_request"]["head"]["repo"]["full_name"] = "acme/ml"
    outputs, _ = run_plan_step(tmp_path, event, "pull_request", {})
    assert (outputs["runner"], outputs["skip"], outputs["round"], outputs["pr-number"]) == (
        '["self-hosted","gpu"]',
        "false",
        "1",
        "7",
    )


MAKE_MODEL = """\
import keras


def make():
    return keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Conv2D(4, 3), keras.layers.Dense(2)])
"""


def python_bin(tmp_path: Path, python: str) -> dict[str, str]:
    """A PATH whose first python3 is ``python`` (a script that execs it: a link to a virtual
    environment's python would not be that environment's)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    wrapper = bin_dir / "python3"
    wrapper.write_text(f'#!/bin/sh\nexec "{python}" "$@"\n', encoding="utf-8")
    wrapper.chmod(0o755)
    return {"PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}


def repo_with_model(tmp_path: Path, config: str | None) -> Path:
    repo = tmp_path / "repo"
    (repo / "ml_task").mkdir(parents=True)
    (repo / "ml_task" / "model.py").write_text(MAKE_MODEL, encoding="utf-8")
    if config is not None:
        (repo / ".keras-ct.yml").write_text(config, encoding="utf-8")
    return repo


@pytest.mark.parametrize(
    ("config", "augmentable"),
    [
        pytest.param(None, "false", id="without-keras-ct-yml"),
        pytest.param("model-function: make\n", "true", id="with-keras-ct-yml"),
    ],
)
def test_plan_step_reads_keras_ct_yml_like_the_training_job(
    tmp_path: Path, config: str | None, augmentable: str
) -> None:
    """Without the file: the standard library only (-S). With it: PyYAML from this Python."""
    repo = repo_with_model(tmp_path, config)
    outputs, summary = run_plan_step(
        tmp_path,
        {},
        "push",
        {"working-directory": str(repo)},
        env_extra=python_bin(tmp_path, sys.executable),
    )
    assert outputs["augmentable"] == augmentable
    assert ("no function build_model()" in summary) == (config is None)


@pytest.mark.slow
def test_plan_step_without_pyyaml_tries_a_throwaway_environment_and_says_why_it_failed(
    tmp_path: Path,
) -> None:
    """A Python without PyYAML and no package index: a virtual environment is made, the install
    fails, and the step fails with an annotation that says how to fix it."""
    bare = tmp_path / "bare"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(bare)], check=True)
    no_index = {"PIP_NO_INDEX": "1", "PIP_FIND_LINKS": "", "PIP_CONFIG_FILE": os.devnull}
    done = plan_step(
        tmp_path,
        {},
        "push",
        {"working-directory": str(repo_with_model(tmp_path, "model-function: make\n"))},
        env_extra={**python_bin(tmp_path, str(bare / "bin" / "python")), **no_index},
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert (tmp_path / "runner-temp" / "keras-ct-detect-yaml" / "bin" / "python").exists()
    assert "::error title=keras-ct detect cannot read .keras-ct.yml::Reading " in done.stdout
    assert "apt-get install python3-yaml" in done.stdout


def test_plan_step_never_imports_modules_from_the_code_it_reads(tmp_path: Path) -> None:
    """The step runs in the pull request's checkout: a fork's keras_ct/, yaml.py or venv.py must not
    stand in for the real modules (python -P)."""
    repo = repo_with_model(tmp_path, "model-function: make\n")
    marker = tmp_path / "ran"
    payload = f"open({str(marker)!r}, 'a').write(__name__)\n"
    (repo / "keras_ct").mkdir()
    for name in ("keras_ct/__init__.py", "yaml.py", "venv.py"):
        (repo / name).write_text(payload, encoding="utf-8")
    outputs, _ = run_plan_step(
        tmp_path, fork_event(), "pull_request", {}, env_extra=python_bin(tmp_path, sys.executable), cwd=repo
    )
    assert outputs["fork"] == "true" and outputs["skip"] == "true"
    assert not marker.exists(), marker.read_text(encoding="utf-8")


def test_plan_and_training_jobs_read_the_same_settings() -> None:
    """The detect action's inputs are keras-ct detect's settings, each passed as INPUT_*, and the
    inputs it shares with the keras-ct action have the same defaults (so .keras-ct.yml applies alike)."""
    from keras_ct.detect import SETTINGS

    action = load(ROOT / "detect" / "action.yml")
    (step,) = action["runs"]["steps"]
    assert set(action["inputs"]) == set(SETTINGS)
    assert step["env"] == {env_name(name): f"${{{{ inputs.{name} }}}}" for name in SETTINGS}
    for name in set(SETTINGS) & set(ACTION_INPUTS):
        if name != "round":  # the plan resolves it from the event; the training job gets the plan's
            assert action["inputs"][name]["default"] == ACTION_INPUTS[name]["default"], name
    assert f'/{CONFIG_FILE}"' in step["run"]


# --------------------------------------------------------------------------- plumbing


ACTION = load(ROOT / "action.yml")
ACTION_INPUTS: dict[str, Any] = ACTION["inputs"]
ACTION_ONLY_INPUTS = {"requirements-file"}  # consumed by the model-environment step, not by keras-ct run
# fan-out: runners (issue 15): which command the run step starts, and that command's arguments
ACTION_ONLY_INPUTS |= {"stage", "candidate", "results-dir"}


def env_name(input_name: str) -> str:
    return "INPUT_" + input_name.upper().replace("-", "_")


def test_every_input_is_forwarded_as_input_env() -> None:
    forwarded: dict[str, list[str]] = {}
    for where, step in steps_of(ROOT / "action.yml"):
        for key, value in (step.get("env") or {}).items():
            for name in re.findall(r"\$\{\{ inputs\.([\w-]+) \}\}", str(value)):
                assert key == env_name(name), (
                    f"{where}: inputs.{name} must be passed as {env_name(name)}, not {key}"
                )
                forwarded.setdefault(name, []).append(where)
    assert set(forwarded) == set(ACTION_INPUTS)


def test_keras_ct_run_gets_every_config_field() -> None:
    (run_step,) = [s for s in ACTION["runs"]["steps"] if s.get("id") == "run"]
    assert '"$KERAS_CT_VENV/bin/keras-ct" run' in run_step["run"]
    env_keys = set(run_step["env"])
    assert {env_name(name) for name in FIELD_NAMES} <= env_keys
    # The model's interpreter is resolved first (python input, or the requirements environment).
    assert run_step["env"]["INPUT_PYTHON"] == "${{ steps.model-env.outputs.python }}"
    assert set(ACTION_INPUTS) == set(FIELD_NAMES) | ACTION_ONLY_INPUTS


def test_inputs_are_described_with_example_and_default_and_quoted_defaults() -> None:
    for path in ACTIONS:
        for name, spec in load(path)["inputs"].items():
            assert re.fullmatch(r"[a-z][a-z0-9-]*", name), f"{path.name}: {name} is not kebab-case"
            assert isinstance(spec.get("default"), str), f"{path.name}: {name} needs a quoted string default"
            description = spec.get("description", "")
            assert "Example:" in description and "Default:" in description, f"{path.name}: {name}"


def test_every_output_is_declared_with_a_description() -> None:
    outputs = ACTION["outputs"]
    assert set(outputs) == {
        "accuracy",
        "passed",
        "round",
        "next-round",
        "dispatched",
        "comment-url",
        "model-path",
        "metrics-file",
        "matrix",  # fan-out: runners (issue 15): the train job's candidates
        "result-file",  # fan-out: runners: a candidate job's result
    }
    for name, spec in outputs.items():
        assert spec["description"]
        assert spec["value"] == f"${{{{ steps.run.outputs.{name} }}}}"
    assert ACTION["branding"]["icon"] and ACTION["branding"]["color"]


def test_reusable_workflow_interface() -> None:
    call = load(REUSABLE)[True]["workflow_call"]
    for name in (
        "model-file",
        "train-command",
        "threshold",
        "max-rounds",
        "round",
        "pr-number",
        "gpu-runner-labels",
        "cpu-runner-labels",
        "python-version",
        "requirements-file",
        "container-image",
        "fork-policy",
        "timeout-minutes",
    ):
        spec = call["inputs"][name]
        assert spec["type"] in ("string", "number", "boolean") and "default" in spec and spec["description"]
    assert call["inputs"]["gpu-runner-labels"]["default"] == '["self-hosted", "gpu"]'
    assert call["inputs"]["cpu-runner-labels"]["default"] == '["ubuntu-latest"]'
    assert call["inputs"]["fork-policy"]["default"] == "skip"
    assert {"accuracy", "passed", "round", "dispatched"} <= set(call["outputs"])
    text = REUSABLE.read_text(encoding="utf-8")
    for name in call["inputs"]:
        assert f"inputs.{name} }}}}" in text, f"input {name} is declared but never used"


def test_caller_declares_the_inputs_the_loop_dispatches() -> None:
    caller = load(ROOT / ".github" / "workflows" / "ml.yml")
    on = triggers(caller)
    assert on["pull_request"]["paths"] == ["ml_task/**"]
    assert set(on["workflow_dispatch"]["inputs"]) == {"round", "pr-number"}
    job = caller["jobs"]["continuous-training"]
    assert job["with"]["round"] == "${{ inputs.round }}"
    assert job["with"]["pr-number"] == "${{ inputs.pr-number }}"
    assert "--dataset mnist" in job["with"]["train-command"]
    assert job["permissions"] == TRAIN_PERMISSIONS


def test_ci_self_test_uses_the_local_action_and_has_a_case_that_must_fail() -> None:
    steps = load(ROOT / ".github" / "workflows" / "ci.yml")["jobs"]["self-test"]["steps"]
    local = [s for s in steps if s.get("uses") == "./"]
    must_fail = [s for s in local if s.get("continue-on-error") is True]
    assert local and must_fail
    checks = " ".join(str(s.get("env", {})) for s in steps)
    for step in must_fail:
        assert f"steps.{step['id']}.outcome" in checks, f"the outcome of {step['id']} is never checked"


# --------------------------------------------------------------------------- README


README = ROOT / "README.md"
#: The composite action's inputs and outputs are documented here (the README has the workflow's).
ACTION_DOC = ROOT / "docs" / "configuration.md"


def documented_names(text: str) -> set[str]:
    """Names in Markdown table rows that start with a code span: ``| `model-file` | ...``."""
    return set(re.findall(r"^\|\s*`([a-z][a-z0-9-]*)`\s*\|", text, re.M))


@pytest.mark.parametrize(
    ("what", "names", "doc"),
    [
        pytest.param("action inputs", sorted(ACTION_INPUTS), ACTION_DOC, id="action-inputs"),
        pytest.param("action outputs", sorted(ACTION["outputs"]), ACTION_DOC, id="action-outputs"),
        pytest.param("reusable workflow inputs", sorted(WORKFLOW_INPUTS), README, id="workflow-inputs"),
    ],
)
def test_readme_documents(what: str, names: list[str], doc: Path) -> None:
    assert doc.is_file(), f"{doc.name} is missing"
    missing = sorted(set(names) - documented_names(doc.read_text(encoding="utf-8")))
    assert not missing, f"{doc.name} lacks table rows (| `name` | ...) for these {what}: {missing}"


def run_action_step(
    tmp_path: Path, step_id: str, env: dict[str, str], path: str | None = None
) -> tuple[int, str]:
    """Run one of action.yml's bash steps as the runner would; return (exit code, stdout)."""
    (step,) = [s for s in ACTION["runs"]["steps"] if s.get("id") == step_id]
    base = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "INPUT_", "RUNNER_"))}
    if path is not None:
        base["PATH"] = path
    base.update(
        GITHUB_ACTION_PATH=str(ROOT), RUNNER_TEMP=str(tmp_path), GITHUB_OUTPUT=str(tmp_path / "output")
    )
    base.update(env)
    done = subprocess.run(
        ["/bin/bash", "-c", step["run"]], cwd=tmp_path, env=base, capture_output=True, text=True
    )
    return done.returncode, done.stdout


def test_action_fails_fast_without_python(tmp_path: Path) -> None:
    code, out = run_action_step(tmp_path, "python", {}, path=str(tmp_path / "empty-bin"))
    assert code == 1
    assert out.startswith(
        "::error title=keras-ct needs Python 3.11 or newer::No usable python3 (3.11+) on PATH"
    )
    assert "actions/setup-python" in out


def test_action_keys_its_environment_on_interpreter_and_source(tmp_path: Path) -> None:
    code, _ = run_action_step(tmp_path, "python", {"RUNNER_TOOL_CACHE": str(tmp_path / "tools")})
    assert code == 0
    outputs = dict(
        line.split("=", 1) for line in (tmp_path / "output").read_text(encoding="utf-8").splitlines()
    )
    assert outputs["venv"] == str(tmp_path / "tools" / "keras-ct" / outputs["key"])
    assert re.fullmatch(r"[0-9a-f]{16}", outputs["key"])
    assert Path(outputs["path"]).name.startswith("python")


@pytest.mark.parametrize(
    ("env", "message"),
    [
        pytest.param(
            {"INPUT_REQUIREMENTS_FILE": "nope.txt"},
            '::error title=keras-ct: requirements-file not found::requirements-file "nope.txt" does not exist',
            id="missing-requirements",
        ),
        pytest.param(
            {"INPUT_PYTHON": "/no/such/python"},
            '::error title=keras-ct: python not found::python "/no/such/python" is not an executable interpreter',
            id="missing-python",
        ),
    ],
)
def test_model_environment_errors_name_the_input(tmp_path: Path, env: dict[str, str], message: str) -> None:
    base = {"INPUT_PYTHON": "", "INPUT_REQUIREMENTS_FILE": "", "INPUT_WORKING_DIRECTORY": "."}
    code, out = run_action_step(
        tmp_path, "model-env", {**base, "KERAS_CT_BASE_PYTHON": sys.executable, **env}
    )
    assert code == 1
    assert out.startswith(message)


def test_model_environment_defaults_to_the_python_that_runs_keras_ct(tmp_path: Path) -> None:
    env = {"INPUT_PYTHON": "", "INPUT_REQUIREMENTS_FILE": "", "INPUT_WORKING_DIRECTORY": "."}
    code, _ = run_action_step(tmp_path, "model-env", {**env, "KERAS_CT_BASE_PYTHON": sys.executable})
    assert code == 0
    assert (tmp_path / "output").read_text(encoding="utf-8").splitlines() == [
        f"python={sys.executable}",
        "bin=",
    ]


def test_fan_out_jobs_fan_out_gather_always_and_never_cancel_each_other() -> None:
    """fan-out: runners (issue 15): the candidate matrix comes from the train job, one failure lets
    the others finish, gather runs after a partial failure, and the concurrency groups hold."""
    jobs = load(REUSABLE)["jobs"]
    candidate, gather, train = jobs["candidate"], jobs["gather"], jobs["train"]
    assert train["outputs"]["matrix"] == "${{ steps.ct.outputs.matrix }}"
    assert candidate["strategy"] == {
        "fail-fast": False,
        "max-parallel": "${{ inputs.candidate-max-parallel }}",  # a small pool: queue in the matrix
        "matrix": "${{ fromJSON(needs.train.outputs.matrix) }}",
    }
    assert (
        WORKFLOW_INPUTS["candidate-max-parallel"]["default"] >= MAX_CANDIDATES
    )  # default: every candidate at once
    assert candidate["runs-on"] == train["runs-on"]
    assert candidate["permissions"] == {"contents": "read"}
    assert (
        candidate["concurrency"]["group"]
        == train["concurrency"]["group"] + "-candidate-${{ matrix.candidate }}"
    )
    # always(): a crashed or cancelled candidate still lets gather decide; only after a train job that
    # succeeded and proposed (a skipped or failed one has no matrix: nothing to gather).
    assert gather["if"] == "always() && needs.train.result == 'success' && needs.train.outputs.matrix != ''"
    assert gather["needs"] == ["plan", "train", "candidate"]
    assert gather["concurrency"] == train["concurrency"]
    stages = {
        job: next(s for s in jobs[job]["steps"] if s.get("id") == "ct")["with"].get("stage")
        for job in jobs
        if job != "plan"
    }
    assert stages == {"train": None, "candidate": "try", "gather": "gather"}


def test_fork_status_companion_sets_the_status_from_this_repository_alone() -> None:
    """Issue 13 item 8: a fork's run cannot set its status; fork-status.yml does, after it, from the
    run's facts (env:), with keras-ct checked out at the called ref and never the fork's code."""
    workflow = load(ROOT / ".github" / "workflows" / "fork-status.yml")
    assert set(triggers(workflow)) == {"workflow_call"}
    assert triggers(workflow)["workflow_call"]["inputs"]["fork-policy"]["default"] == ""
    (job,) = workflow["jobs"].values()
    assert job["permissions"] == {"statuses": "write"}
    assert job["if"] == (
        "github.event.workflow_run.event == 'pull_request' && "
        "github.event.workflow_run.head_repository.full_name != github.repository"
    )
    checkout, command = job["steps"]
    assert checkout["with"]["repository"] == "${{ job.workflow_repository || 'keras-ct/keras-ct' }}"
    assert checkout["with"]["ref"] == "${{ job.workflow_sha || 'v1' }}"
    assert checkout["with"]["path"] == ".keras-ct-action"
    assert "-m keras_ct fork-status" in command["run"]
    assert command["env"]["WORKFLOW_RUN_HEAD_SHA"] == "${{ github.event.workflow_run.head_sha }}"
    caller = load(ROOT / ".github" / "workflows" / "ml-fork-status.yml")
    assert triggers(caller)["workflow_run"] == {"workflows": ["ml"], "types": ["completed"]}
    assert caller["jobs"]["fork-status"]["uses"] == "keras-ct/keras-ct/.github/workflows/fork-status.yml@v1"
