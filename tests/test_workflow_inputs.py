"""Issue 14, items 3 to 5: the reusable workflow's and the actions' inputs, and several models.

* every settings input defaults to empty, so ``.keras-ct.yml`` wins over the workflow's and the
  actions' own declared defaults (the real defaults live once, in ``config/fields.py``);
* every keras-ct action setting is reachable from the reusable workflow, but the job-level ones;
* a ``name`` scopes the comment marker, the status context, the concurrency group, the cache keys,
  the dispatch inputs and the commit trailers; ``comment: off`` and ``status: false`` are honoured.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

from keras_ct.config import FIELDS, PLAN_FIELD_NAMES, load_config
from keras_ct.git import NAME_TRAILER, open_repo
from keras_ct.github.api import CommitStatus, DispatchResult, IssueComment, PullRequest
from keras_ct.github.publish import GitHubPublisher, Scope, Target
from keras_ct.report import COMMENT_MARKER, Verdict, comment_marker
from keras_ct.round.history import RoundRecord

ROOT = Path(__file__).resolve().parents[1]
REUSABLE = ROOT / ".github" / "workflows" / "continuous-training.yml"
INPUT = re.compile(r"\$\{\{ inputs\.([\w-]+) \}\}")
#: The action's inputs the reusable workflow sets itself, from its plan and its runner, not from a
#: caller's input (README: "What the workflow sets itself").
JOB_LEVEL = {
    "round": "the plan's round (the event's, or the dispatch's)",
    "pr-number": "the plan's pull request",
    "checkpoint-dir": "the cache step's folder (the input checkpoint-dir, else one under runner.temp)",
    "output-dir": "runner.temp/keras-ct",
    "commit": "the plan's writes (false on a fork's pull request)",
    "push": "the plan's writes",
    "dispatch": "the plan's writes",
    "github-token": "the secret `token`, else github.token",
}
#: The fan-out's stage inputs (fan-out: runners): the candidate and gather jobs give them, not the train job.
STAGE_ONLY = {"stage": ("try", "gather"), "candidate": ("try", "gather"), "results-dir": ("gather",)}
#: A value for every setting ``.keras-ct.yml`` may hold, none of them its default.
FILE_VALUES: dict[str, Any] = {
    "model-file": "models/net.py",
    "model-function": "make_net",
    "train-command": "python models/train.py --epochs 3",
    "threshold": 0.5,
    "metric": "val_accuracy",
    "max-rounds": 7,
    "round": 2,
    "metrics-file": "out/metrics.json",
    "output-dir": "out",
    "timeout-minutes": 12,
    "fail-below-threshold": True,
    "pr-number": 3,
    "policy": "naive",
    "python": "/opt/model/bin/python",
    "train-env": ["DATASET_URL"],
    "input-shape": "4,4,1",
    "rounds-per-job": 2,
    "reuse-training-process": False,
    "warm-start": False,
    "checkpoint-dir": "ckpt",
    "train-retries": 3,
    "commit": False,
    "push": False,
    "dispatch": False,
    "name": "second",
    "comment": "off",
    "status": False,
    "candidates": 2,
    "max-regression": 0.02,
    "autolog": False,
    "fan-out": "runners",
}
#: Settings the file cannot give: the secret, and the folder the file is looked for in.
NOT_IN_FILE = {"github-token", "working-directory"}


def load(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def step_with(workflow: dict[str, Any], job: str, uses_suffix: str) -> dict[str, str]:
    (step,) = [s for s in workflow["jobs"][job]["steps"] if str(s.get("uses", "")).endswith(uses_suffix)]
    return dict(step["with"])


def declared_defaults(path: Path) -> dict[str, str]:
    data = load(path)
    inputs = data["inputs"] if "runs" in data else data[True]["workflow_call"]["inputs"]
    return {name: str(spec.get("default", "")) for name, spec in inputs.items()}


def environ(defaults: Mapping[str, str]) -> dict[str, str]:
    return {"INPUT_" + name.upper().replace("-", "_"): value for name, value in defaults.items()}


def through_the_workflow(action: Path, job: str, uses_suffix: str) -> dict[str, str]:
    """What the action gets when a caller gives no input: its own defaults, and over them the
    workflow's `with:` values resolved from the workflow's defaults (job-level ones left out)."""
    given = declared_defaults(action)
    workflow_defaults = declared_defaults(REUSABLE)
    for name, value in step_with(load(REUSABLE), job, uses_suffix).items():
        match = INPUT.fullmatch(str(value))
        given[name] = workflow_defaults[match.group(1)] if match else "${{ job-level }}"
    return {name: value for name, value in given.items() if value != "${{ job-level }}"}


def write_file(tmp_path: Path) -> Path:
    (tmp_path / ".keras-ct.yml").write_text(yaml.safe_dump(FILE_VALUES), encoding="utf-8")
    return tmp_path


@pytest.mark.parametrize(
    "given",
    [
        pytest.param(declared_defaults(ROOT / "action.yml"), id="action.yml"),
        pytest.param(declared_defaults(ROOT / "detect" / "action.yml"), id="detect-action.yml"),
        pytest.param(
            through_the_workflow(ROOT / "action.yml", "train", "/.keras-ct-action"), id="workflow-train"
        ),
        pytest.param(
            through_the_workflow(ROOT / "detect" / "action.yml", "plan", "/.keras-ct-action/detect"),
            id="workflow-plan",
        ),
    ],
)
def test_the_config_file_wins_over_every_declared_default(tmp_path: Path, given: dict[str, str]) -> None:
    given.pop("github-token", None)  # `${{ github.token }}`: the runner's, never a file's
    cfg = load_config({}, environ(given), cwd=write_file(tmp_path), round_limit=False)
    for spec in FIELDS:
        if spec.name in NOT_IN_FILE:
            continue
        assert cfg.sources[spec.name].kind == "file", f"{spec.name}: {cfg.sources[spec.name]}"
    assert (cfg.model_function, cfg.threshold, cfg.comment, cfg.status) == ("make_net", 0.5, "off", False)


def test_settings_inputs_default_to_empty_everywhere() -> None:
    settings = {spec.name for spec in FIELDS} - {"github-token"}
    for path in (ROOT / "action.yml", ROOT / "detect" / "action.yml", REUSABLE):
        for name, default in declared_defaults(path).items():
            if name in settings:
                assert default == "", f"{path.name}: {name} defaults to {default!r}; the field table has it"
    for name, spec in load(REUSABLE)[True]["workflow_call"]["inputs"].items():
        if name in settings:
            assert spec["type"] == "string", f"{name}: a string input, so empty means not given"


def test_every_action_setting_is_reachable_from_the_reusable_workflow() -> None:
    passed = step_with(load(REUSABLE), "train", "/.keras-ct-action")
    action_inputs = set(load(ROOT / "action.yml")["inputs"])
    assert set(passed) | set(STAGE_ONLY) == action_inputs and not set(passed) & set(STAGE_ONLY)
    for name, stages in STAGE_ONLY.items():
        for job, stage in (("candidate", "try"), ("gather", "gather")):
            given = step_with(load(REUSABLE), job, "/.keras-ct-action")
            assert given["stage"] == stage and ((name in given) == (stage in stages)), (job, name)
    for name, value in passed.items():
        match = INPUT.fullmatch(str(value))
        if name in JOB_LEVEL:
            assert match is None, f"{name} is set by the workflow itself ({JOB_LEVEL[name]})"
        else:
            assert match is not None and match.group(1) == name, f"{name}: {value}"
    assert passed["github-token"] == "${{ secrets.token || github.token }}"
    call = load(REUSABLE)[True]["workflow_call"]
    assert call["secrets"]["token"]["required"] is False
    plan = step_with(load(REUSABLE), "plan", "/.keras-ct-action/detect")
    assert set(plan) == set(load(ROOT / "detect" / "action.yml")["inputs"])
    assert {n for n in PLAN_FIELD_NAMES if INPUT.fullmatch(plan[n])} == set(PLAN_FIELD_NAMES)


def test_the_name_scopes_concurrency_artifacts_and_dispatched_runs() -> None:
    jobs = load(REUSABLE)["jobs"]
    plan = jobs["plan"]["outputs"]
    assert "inputs.name" in plan["loop-group"] and "inputs.name" in plan["artifact-prefix"]
    for job in ("train", "candidate", "gather"):  # one loop (and one group) per pull request and model
        assert jobs[job]["concurrency"]["group"].startswith("${{ needs.plan.outputs.loop-group }}")
    assert jobs["plan"]["if"] == (
        "github.event_name != 'workflow_dispatch' || (github.event.inputs.name || '') == inputs.name"
    )
    (upload,) = [s for s in jobs["train"]["steps"] if "upload-artifact" in str(s.get("uses", ""))]
    assert upload["with"]["name"].startswith("${{ needs.plan.outputs.artifact-prefix }}")
    (keys,) = [s for s in jobs["train"]["steps"] if s.get("id") == "keys"]
    assert keys["env"]["NAME"] == "${{ inputs.name }}"
    assert keys["env"]["MODEL_FILE"] == "${{ needs.plan.outputs.model-file }}"  # the file's, too


# --------------------------------------------------------------------------- the publisher's scope


class RecordingAPI:
    """Only what GitHubPublisher calls, recorded."""

    repository = "acme/ml"

    def __init__(self, comments: list[IssueComment] | None = None) -> None:
        self.comments = list(comments or [])
        self.statuses: list[str] = []
        self.dispatched: list[Mapping[str, str]] = []

    def get_pull(self, number: int) -> PullRequest:
        raise AssertionError("not called")

    def list_issue_comments(self, number: int) -> list[IssueComment]:
        return list(self.comments)

    def create_issue_comment(self, number: int, body: str, *, marker: str | None = None) -> IssueComment:
        comment = IssueComment(len(self.comments) + 1, body, f"https://x/{len(self.comments) + 1}", "bot")
        self.comments.append(comment)
        return comment

    def update_issue_comment(self, comment_id: int, body: str) -> IssueComment:
        index = next(i for i, c in enumerate(self.comments) if c.id == comment_id)
        self.comments[index] = IssueComment(comment_id, body, f"https://x/{comment_id}", "bot")
        return self.comments[index]

    def create_commit_status(
        self, sha: str, state: str, description: str, target_url: str | None, context: str = "keras-ct"
    ) -> CommitStatus:
        self.statuses.append(context)
        return CommitStatus(1, state, context, description, target_url)

    def dispatch_workflow(
        self, workflow: str | int, ref: str, inputs: Mapping[str, str], *, return_run_details: bool = True
    ) -> DispatchResult:
        self.dispatched.append(dict(inputs))
        return DispatchResult(str(workflow), ref, inputs)


TARGET = Target("https://api.github.com", "acme/ml", 7, "feat", "a" * 40, "ml.yml")
RECORD = RoundRecord(round=1, accuracy=0.8, threshold=0.9, status="missed")


def publisher(api: RecordingAPI, scope: Scope) -> GitHubPublisher:
    return GitHubPublisher(api=api, target=TARGET, scope=scope)


def test_two_models_keep_their_own_comment_status_and_dispatch() -> None:
    api = RecordingAPI()
    first, second = publisher(api, Scope()), publisher(api, Scope(name="second"))
    for p in (first, second, first, second):
        p.publish([RECORD], Verdict("next"))
        p.set_status("pending", "training")
        p.dispatch(2, "feat")
    assert [c.body.splitlines()[0] for c in api.comments] == [COMMENT_MARKER, comment_marker("second")]
    assert api.statuses == ["keras-ct", "keras-ct/second"] * 2
    assert api.dispatched[:2] == [
        {"round": "2", "pr-number": "7"},
        {"round": "2", "pr-number": "7", "name": "second"},
    ]
    assert first.load_history()[0].round == second.load_history()[0].round == 1
    assert publisher(RecordingAPI(api.comments[:1]), Scope(name="second")).load_history() == ()


def test_comment_off_and_status_false_are_honoured() -> None:
    api = RecordingAPI()
    quiet = publisher(api, Scope(comment=False, status=False))
    assert quiet.publish([RECORD], Verdict("next")) == ""
    quiet.set_status("failure", "missed")
    assert (api.comments, api.statuses) == ([], [])


def test_named_commits_carry_the_name_and_only_they_are_read_back(tmp_path: Path) -> None:
    def git(*args: str) -> None:
        subprocess.run(["git", "-C", str(tmp_path), *args], check=True, capture_output=True)

    git("init", "--quiet", "--initial-branch=main")
    model = tmp_path / "model.py"
    repos = {name: open_repo(tmp_path, author=("bot", "bot@example.com"), name=name) for name in ("", "b")}
    for round_number, name in ((1, ""), (1, "b"), (2, "b")):
        model.write_text(f"# {name} {round_number}\n", encoding="utf-8")
        repos[name].commit([model], f"round {round_number}", {"Keras-CT-Round": str(round_number)})
    assert [c.round for c in repos["b"].trailer_commits()] == [2, 1]
    assert [c.round for c in repos[""].trailer_commits()] == [1]
    log = subprocess.run(
        ["git", "-C", str(tmp_path), "log", "-1", "--format=%B"], capture_output=True, text=True
    )
    assert f"{NAME_TRAILER}: b" in log.stdout
