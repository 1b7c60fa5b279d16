"""The product as users meet it: this repository's real workflow files, run by act, rounds and all.

Each test runs ``act`` in host mode in a clone of this working tree whose ``origin`` is a bare
repository on disk, against the fake GitHub (``GITHUB_API_URL``). ``ml.yml`` calls the reusable
workflow by its production reference (``keras-ct/keras-ct/.github/workflows/...@v1``), which
checks keras-ct out (branch ``v1`` of ``keras-ct/keras-ct``: act has no ``job.workflow_sha``) and
uses ``./.keras-ct-action`` and its ``detect``; act maps the workflow to a snapshot of this working
tree, the checkout to a bare repository of that snapshot, and the pinned ``actions/*`` to the
stand-ins in ``stand-ins/``.

The clone's ``ml.yml`` gets the edits a machine without internet needs (digits instead of MNIST,
5 epochs, the interpreter act runs on, no requirements install), each applied exactly once.

act exits 0 when it skips a job, so every test checks that the jobs it expects ran, by their steps
and by their effects (comment, statuses, commits on the bare remote, dispatches, artifacts).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import unquote

import pytest

from tests.e2e import act_harness
from tests.e2e.act_harness import REPOSITORY, TOKEN, World, comments, dispatches, statuses
from tests.keras.hooks import hooks_env

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(1200)]

PR = 7
BRANCH = "more-accuracy"
GPU_LABELS = '["self-hosted","gpu"]'
BOT = "github-actions[bot] <41898282+github-actions[bot]@users.noreply.github.com>"
PYTHON = f"{sys.version_info.major}.{sys.version_info.minor}"
# At 5 epochs on digits the bundled model reaches 0.9444 (340 of 360 test images) and the rounds after
# it stay within a few images of that: tests that need a miss use a threshold no round meets.
THRESHOLD = 0.999
# The loop test trains 10 epochs: round 1 reaches 0.9500 (342/360) with train accuracy 0.9753 and val
# accuracy 0.9653, both over the threshold: a generalisation gap, so the first change is Dropout, whose
# model reaches 0.9667 (348/360) with warm start (measured by tests/integration/test_real_training.py;
# a second conv block, the change before issue 13, reached 0.9639 here). The threshold sits between
# round 1 and round 2, so a slightly different machine gives the same verdicts.
LOOP_EPOCHS, LOOP_THRESHOLD = 10, 0.957


def caller_edits(threshold: str, max_rounds: int, epochs: int = 5) -> dict[str, str]:
    return {
        "train-command: python ml_task/train.py --dataset mnist": (
            f"train-command: python ml_task/train.py --dataset digits --epochs {epochs}"
        ),
        'threshold: "0.99"': f'threshold: "{threshold}"',
        'max-rounds: "5"': f'max-rounds: "{max_rounds}"',
        'python-version: "3.12"': f'python-version: "{PYTHON}"',
        # The interpreter the setup-python stand-in provides already has the model's requirements.
        "      requirements-file: ml_task/requirements.txt\n": "",
    }


def open_pull_request(world: World) -> str:
    """The PR: a branch whose model (unchanged apart from a comment) misses the threshold."""
    sha = world.branch(
        BRANCH,
        {"ml_task/model.py": ("def build_model():", "def build_model():  # tuned in this PR")},
        message="Tune the model",
    )
    world.fake.add_pull(REPOSITORY, PR, head_ref=BRANCH, head_sha=sha, base_sha=world.head("main"))
    return sha


def assert_ran(run: act_harness.ActRun, *jobs: str) -> None:
    for job in jobs:
        assert run.job_ran(job), f"job {job} did not run:\n{run.log[-6000:]}"


def assert_token_never_leaked(world: World, run: act_harness.ActRun) -> None:
    assert TOKEN not in run.shown()
    if run.job_ran("train"):  # keras-ct registered the token with the runner's masking
        assert any(e.get("command") == "add-mask" and e.get("arg") == TOKEN for e in run.events)
    for path in world.artifacts.rglob("*"):
        if path.is_file():
            assert TOKEN.encode() not in path.read_bytes(), path
    with world.fake.lock:
        bodies = [c.body for c in world.fake.repo(REPOSITORY).comments]
    assert all(TOKEN not in body for body in bodies)


def metrics(world: World, round_number: int) -> dict:
    path = world.artifacts / f"keras-ct-round-{round_number}" / "metrics.json"
    assert path.is_file(), (
        f"no metrics artifact for round {round_number}: {sorted(world.artifacts.iterdir())}"
    )
    return json.loads(path.read_text(encoding="utf-8"))


def replay_dispatches(
    world: World, limit: int, env: dict[str, str] | None = None
) -> list[act_harness.ActRun]:
    """Run each recorded dispatch as ``act workflow_dispatch`` on its ref, until none is new."""
    runs: list[act_harness.ActRun] = []
    while len(dispatches(world.fake)) > len(runs):
        assert len(runs) < limit, f"more than {limit} dispatches: the loop guard failed"
        dispatch = dispatches(world.fake)[len(runs)]
        assert dispatch.workflow_path == ".github/workflows/ml.yml"
        run = world.act(
            "workflow_dispatch",
            inputs=dispatch.inputs,
            ref=dispatch.ref.removeprefix("refs/heads/"),
            env=env,
        )
        assert_ran(run, "plan", "train")
        assert run.outputs("plan")["round"] == dispatch.inputs["round"]
        runs.append(run)
    return runs


def test_pull_request_round_then_dispatched_rounds_until_the_threshold_is_met(world: World) -> None:
    world.create(caller_edits(threshold=str(LOOP_THRESHOLD), max_rounds=4, epochs=LOOP_EPOCHS))
    head = open_pull_request(world)

    # (1) the pull_request event: plan on the CPU labels picks the GPU labels, round 1 misses.
    first = world.act("pull_request", event_path=world.pull_request_event(PR, BRANCH, head))
    assert first.returncode == 0, first.log[-6000:]
    assert_ran(first, "plan", "train")
    plan = first.outputs("plan")
    assert (plan["framework"], plan["cnn"], plan["runner"], plan["round"]) == (
        "keras",
        "true",
        GPU_LABELS,
        "1",
    )
    assert first.outputs("train")["passed"] == "false"

    accuracy_1 = metrics(world, 1)["accuracy"]
    assert accuracy_1 < LOOP_THRESHOLD
    (comment,) = comments(world.fake, PR)
    assert f"{accuracy_1:.4f}" in comment.body
    assert [s.state for s in statuses(world.fake, head)] == ["pending", "pending"]
    # The pushed head is pending from the push on, before round 2's run starts.
    queued = [(s.state, s.description) for s in statuses(world.fake, world.head(BRANCH))]
    assert queued == [("pending", queued[0][1])] and queued[0][1].startswith("Round 2 of ")

    augmented = world.log(BRANCH)[0]
    assert augmented["author"] == BOT
    assert "Keras-CT-Round: 1" in augmented["body"]
    assert f"Keras-CT-Accuracy: {accuracy_1:.4f}" in augmented["body"]
    assert world.log(BRANCH)[1]["sha"] == head
    augmented_model = world.show(BRANCH, "ml_task/model.py")
    assert augmented_model.count("layers.Conv2D(") == 1 and "layers.Dropout(" in augmented_model

    (dispatch,) = dispatches(world.fake)
    assert dispatch.inputs == {"round": "2", "pr-number": str(PR)}
    assert dispatch.ref.removeprefix("refs/heads/") == BRANCH

    # (2) replay the dispatches until the loop stops.
    later = replay_dispatches(world, limit=4)
    rounds = 1 + len(later)
    final = later[-1]
    assert final.returncode == 0, final.log[-6000:]
    assert final.job_succeeded("plan") and final.job_succeeded("train")
    assert (final.outputs("train")["passed"], final.outputs("train")["dispatched"]) == ("true", "false")
    assert metrics(world, rounds)["accuracy"] >= LOOP_THRESHOLD
    assert len(dispatches(world.fake)) == rounds - 1
    (comment,) = comments(world.fake, PR)  # one sticky comment, updated in place
    for number in range(1, rounds + 1):
        assert f"{metrics(world, number)['accuracy']:.4f}" in comment.body
    final_head = world.head(BRANCH)
    assert statuses(world.fake, final_head)[-1].state == "success"
    for run in (first, *later):
        assert_token_never_leaked(world, run)


# Imported by the model file, so it runs in every process that runs the repository's code: each
# training round and the augmenter's build check. It searches what that process can reach for the
# workflow's token (raw, as checkout's basic header, base64): its environment and its ancestors'
# (/proc), the checkout's git configuration and credential helpers, the runner's temp folder and the
# workspace. It writes where it looked and what it found (never the value) to a folder of the test's:
# act masks the token in the log, so the log cannot say.
TOKEN_SCAN = """\
import base64, json, os, subprocess, sys
from pathlib import Path


def scan():
    needle = Path(os.environ["E2E_NEEDLE_FILE"]).read_text(encoding="utf-8").strip().encode()
    forms = {
        "token": needle,
        "basic header": base64.b64encode(b"x-access-token:" + needle),
        "base64": base64.b64encode(needle),
    }
    found, places = [], []

    def check(where, data):
        places.append(where)
        found.extend(f"{where} ({form})" for form, value in forms.items() if value in data)

    check("os.environ", json.dumps(dict(os.environ)).encode())
    pid = os.getpid()
    while pid > 1:  # this process and its ancestors, as far as /proc lets it read them
        try:
            check(f"/proc/{pid}/environ ({Path(f'/proc/{pid}/comm').read_text().strip()})",
                  Path(f"/proc/{pid}/environ").read_bytes())
            pid = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
        except OSError:
            break

    def git(*args, **kwargs):
        return subprocess.run(["git", *args], capture_output=True, **kwargs).stdout

    top = git("rev-parse", "--show-toplevel").decode().strip()
    check(".git/config", Path(top, ".git", "config").read_bytes())
    check("git config --list --show-origin", git("config", "--list", "--show-origin"))
    asked = b"protocol=https\\nhost=github.com\\n\\n"
    check("git credential fill", git("credential", "fill", input=asked, env={**os.environ, "GIT_TERMINAL_PROMPT": "0"}))
    # The repository's own committed files are its content (this clone of keras-ct holds the tests'
    # dummy token in tests/e2e), not something handed to its code: only those left as committed.
    listed = lambda *args: set(git("ls-files", *args, cwd=top).decode().splitlines())
    committed = {Path(top, name) for name in listed() - listed("--modified")}
    files = 0
    roots = [os.environ["RUNNER_TEMP"], os.environ["GITHUB_WORKSPACE"]]
    for root in roots:
        for path in Path(root).rglob("*"):
            try:
                if path in committed:
                    continue
                if path.is_file() and not path.is_symlink() and path.stat().st_size < 50_000_000:
                    files += 1
                    data = path.read_bytes()
                    found.extend(f"{path} ({form})" for form, value in forms.items() if value in data)
            except OSError:
                continue
    return {"argv": sys.argv, "found": found, "places": places, "files": files, "roots": roots}


out = Path(os.environ["E2E_FINDINGS"]) / f"{os.getpid()}.json"
if not out.exists():
    out.write_text(json.dumps(scan()))
"""


def scanned(folder: Path) -> list[dict]:
    return [json.loads(p.read_text(encoding="utf-8")) for p in sorted(folder.glob("*.json"))]


def test_loop_stops_at_max_rounds_with_a_failed_status(world: World) -> None:
    """Two rounds, the first pushing its augmented commit; and in every process that runs the PR's
    code (each training, the build check), the token is nowhere to be found."""
    edits = caller_edits(threshold=str(THRESHOLD), max_rounds=2)
    # The workflow's fail-below-threshold defaults to empty since issue 14 (.keras-ct.yml applies;
    # the field's default is false): the caller asks for it.
    edits["      requirements-file: ml_task/requirements.txt\n"] = (
        '      train-env: E2E_*\n      fail-below-threshold: "true"\n'
    )
    model = (act_harness.ROOT / "ml_task" / "model.py").read_text(encoding="utf-8")
    scanning_model = model.replace("import keras\n", "import keras\nimport token_scan  # e2e\n", 1)
    world.create(edits, extra_files={"ml_task/token_scan.py": TOKEN_SCAN, "ml_task/model.py": scanning_model})
    head = open_pull_request(world)
    findings = world.base / "findings"
    findings.mkdir()
    needle = world.base / "needle"  # outside the runner's folders: the scan's own copy of the token
    needle.write_text(TOKEN, encoding="utf-8")
    env = {"E2E_NEEDLE_FILE": str(needle), "E2E_FINDINGS": str(findings)}

    first = world.act("pull_request", event_path=world.pull_request_event(PR, BRANCH, head), env=env)
    assert first.returncode == 0, first.log[-6000:]
    assert_ran(first, "plan", "train")
    round_1 = scanned(findings)
    assert [Path(s["argv"][0]).name for s in round_1].count("train.py") == 1
    assert "keras_ct_validate.py" in {Path(s["argv"][0]).name for s in round_1}  # the build check
    assert [s["found"] for s in round_1] == [[] for _ in round_1], round_1
    assert all(s["files"] > 0 and ".git/config" in s["places"] for s in round_1)
    assert world.log(BRANCH)[0]["body"].count("Keras-CT-Round: 1") == 1  # the push still works

    later = replay_dispatches(world, limit=2, env=env)

    assert len(later) == 1
    last = later[0]
    assert last.returncode != 0  # the last round missed: fail-below-threshold fails the job
    assert last.job_succeeded("plan") and not last.job_succeeded("train")
    outputs = last.outputs("train")
    assert (outputs["round"], outputs["passed"], outputs["dispatched"]) == ("2", "false", "false")
    assert len(dispatches(world.fake)) == 1
    (comment,) = comments(world.fake, PR)
    for number in (1, 2):
        assert f"{metrics(world, number)['accuracy']:.4f}" in comment.body
    assert statuses(world.fake, world.head(BRANCH))[-1].state == "failure"
    # Round 2 trained round 1's change; when it scored below round 1 beyond the noise margin, a last
    # commit put round 1's model back (keep the best), else round 1's change is the branch's head.
    if "↩ 1" in comment.body:
        assert "Keras-CT-Revert-To: 1" in world.log(BRANCH)[0]["body"]
        assert [c["body"].count("Keras-CT-Round:") for c in world.log(BRANCH)[1:3]] == [1, 0]
    else:
        assert [c["body"].count("Keras-CT-Round:") for c in world.log(BRANCH)[:2]] == [1, 0]
    for run in (first, last):
        assert_token_never_leaked(world, run)
    every = scanned(findings)
    assert [Path(s["argv"][0]).name for s in every].count("train.py") == 2
    assert [s["found"] for s in every] == [[] for _ in every], every


def test_the_train_job_asks_for_exactly_the_gpu_labels(world: World) -> None:
    """With only the CPU label mapped, act must skip the train job and name the labels it wanted."""
    world.create(caller_edits(threshold=str(THRESHOLD), max_rounds=4))
    head = open_pull_request(world)

    run = world.act(
        "pull_request", event_path=world.pull_request_event(PR, BRANCH, head), labels=["ubuntu-latest"]
    )

    assert run.returncode == 0, run.log[-6000:]
    assert_ran(run, "plan")
    assert run.outputs("plan")["runner"] == GPU_LABELS
    assert not run.job_ran("train")
    skipped = {str(e.get("msg")) for e in run.events if e.get("jobID") == "train"}
    assert {
        "🚧  Skipping unsupported platform -- Try running with `-P self-hosted=...`",
        "🚧  Skipping unsupported platform -- Try running with `-P gpu=...`",
    } <= skipped
    with world.fake.lock:
        assert world.fake.exchanges == []


def test_fork_pull_request_never_reaches_gpu_labels_and_writes_nothing(world: World) -> None:
    world.create(caller_edits(threshold=str(THRESHOLD), max_rounds=4))
    sha = world.branch(
        BRANCH, {"ml_task/model.py": ("def build_model():", "def build_model():  # from a fork")}
    )
    world.add_fork("mallory/ml", BRANCH, sha)
    git_before = {branch: world.head(branch) for branch in ("main", BRANCH)}
    world.fake.add_pull(REPOSITORY, 9, head_ref=BRANCH, head_sha=sha, head_repo="mallory/ml")

    run = world.act(
        "pull_request", event_path=world.pull_request_event(9, BRANCH, sha, head_repo="mallory/ml")
    )

    assert run.returncode == 0, run.log[-6000:]
    assert_ran(run, "plan")
    assert run.job_succeeded("plan")
    assert not run.job_ran("train")
    plan = run.outputs("plan")
    assert (plan["fork"], plan["skip"], plan["writes"]) == ("true", "true", "false")
    assert "self-hosted" not in plan["runner"] and "gpu" not in plan["runner"]
    summary = run.summary("plan")
    assert "Training skipped: pull request #9 comes from a fork (mallory/ml)" in summary
    assert "fork-policy: cpu" in summary
    with world.fake.lock:
        assert world.fake.exchanges == []  # not one API call: no comment, status or dispatch
    assert {branch: world.head(branch) for branch in git_before} == git_before
    assert not list(world.artifacts.iterdir())
    assert_token_never_leaked(world, run)


def test_stand_ins_cover_every_pinned_action() -> None:
    """A new pinned action without a stand-in would make every e2e run fail at job set-up."""
    files = [act_harness.ROOT / "action.yml", act_harness.ROOT / "detect" / "action.yml"]
    files += sorted((act_harness.ROOT / ".github" / "workflows").glob("*.yml"))
    mapped = act_harness.pinned_remote_actions(files)
    assert {ref.split("@")[0] for ref in mapped} >= {
        "actions/checkout",
        "actions/setup-python",
        "actions/cache",
        "actions/upload-artifact",
    }
    assert all(Path(folder, "action.yml").is_file() for folder in mapped.values())


def test_ci_self_test_job_passes_and_its_must_fail_cases_fail(world: World) -> None:
    """ci.yml's self-test (uses: ./ and ./detect) under act, as GitHub would run it on a push."""
    world.create(
        edit_workflows={
            "ci.yml": {
                'python-version: "3.12"': f'python-version: "{PYTHON}"',
                "--epochs 2\n          requirements-file: ml_task/requirements.txt\n": "--epochs 2\n",
                "--epochs 1\n          requirements-file: ml_task/requirements.txt\n": "--epochs 1\n",
            }
        }
    )

    run = world.act("push", workflow="ci.yml", job="self-test", ref="main")

    assert run.returncode == 0, run.log[-6000:]
    assert_ran(run, "self-test")
    assert run.job_succeeded("self-test")
    results = {
        e["stepID"][0]: e["stepResult"]
        for e in run.events
        if e.get("stage") == "Main" and e.get("stepResult") and len(e.get("stepID", [])) == 1
    }
    assert (results["detect"], results["pass"], results["miss"], results["invalid"]) == (
        "success",
        "success",
        "failure",
        "failure",
    )
    errors = [e.get("arg") for e in run.events if e.get("command") == "error"]
    assert any('must be a number between 0 and 1, got "abc"' in str(message) for message in errors), errors
    assert_token_never_leaked(world, run)


def test_fork_pull_request_with_cpu_policy_trains_on_cpu_and_writes_nothing(world: World) -> None:
    edits = caller_edits(threshold=str(THRESHOLD), max_rounds=4)
    # fail-below-threshold defaults to empty since issue 14 (the field's default, false): ask for it.
    edits["      requirements-file: ml_task/requirements.txt\n"] = (
        '      fork-policy: cpu\n      fail-below-threshold: "true"\n'
    )
    world.create(edits)
    sha = world.branch(
        BRANCH, {"ml_task/model.py": ("def build_model():", "def build_model():  # from a fork")}
    )
    fork = world.add_fork("mallory/ml", BRANCH, sha)
    git_before = {branch: world.head(branch) for branch in ("main", BRANCH)}
    world.fake.add_pull(REPOSITORY, 9, head_ref=BRANCH, head_sha=sha, head_repo="mallory/ml")

    # Only the CPU label is mapped: a train job that asked for GPU labels would be skipped.
    run = world.act(
        "pull_request",
        event_path=world.pull_request_event(9, BRANCH, sha, head_repo="mallory/ml"),
        labels=["ubuntu-latest"],
    )

    assert_ran(run, "plan", "train")
    plan = run.outputs("plan")
    assert (plan["fork"], plan["skip"], plan["writes"], plan["runner"]) == (
        "true",
        "false",
        "false",
        '["ubuntu-latest"]',
    )
    assert metrics(world, 1)["accuracy"] < THRESHOLD  # it trained (and missed) ...
    # A miss that cannot continue (nothing may be pushed to a fork) ends the loop: the job fails.
    assert run.returncode != 0 and run.job_succeeded("plan") and not run.job_succeeded("train")
    assert (run.outputs("train")["passed"], run.outputs("train")["dispatched"]) == ("false", "false")
    with world.fake.lock:
        writes = [e for e in world.fake.exchanges if e.method != "GET"]
    assert writes == []  # ... and wrote nothing: no comment, status, dispatch
    assert {branch: world.head(branch) for branch in git_before} == git_before
    assert act_harness.git(fork, "rev-parse", f"refs/heads/{BRANCH}") == sha
    assert "Training skipped" not in run.summary("plan")
    assert "fork-policy cpu" in run.summary("plan")
    assert_token_never_leaked(world, run)


# The "runner dies mid-training" of the first attempt: it runs the real training script and SIGKILLs
# it, and itself, when epoch 3 starts (epochs 1 and 2 are finished and backed up). Later attempts
# (the marker exists) just run the training script.
KILL_ONCE = """\
import os
import signal
import subprocess
import sys

marker = os.environ["E2E_KILL_MARKER"]
command = [sys.executable, os.path.join(os.path.dirname(__file__), "train.py"), *sys.argv[1:]]
if os.path.exists(marker):
    os.execv(sys.executable, command)
child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
for line in child.stdout:
    print(line, end="", flush=True)
    if line.startswith("Epoch 3/"):
        open(marker, "w").write("killed at the start of epoch 3")
        child.kill()
        child.wait()
        os.kill(os.getpid(), signal.SIGKILL)
sys.exit(child.wait())
"""


def uninterrupted_accuracy(world: World, tmp_path: Path) -> float:
    """The same training, run straight through outside the workflow (same seed, same machine), with
    keras-ct's hooks as a train command gets them (they write the metrics file)."""
    out = tmp_path / "uninterrupted"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "INPUT_", "KERAS_CT_"))}
    env.update(
        KERAS_CT_METRICS_FILE=str(out / "metrics.json"),
        KERAS_CT_CHECKPOINT_DIR=str(out / "checkpoint"),
        KERAS_CT_MODEL_PATH=str(out / "model.keras"),
        KERAS_HOME=str(out / "keras-home"),
        **hooks_env(),
        TF_CPP_MIN_LOG_LEVEL="2",
    )
    subprocess.run(
        [sys.executable, "ml_task/train.py", "--dataset", "digits", "--epochs", "5"],
        cwd=world.clone,
        env=env,
        check=True,
        capture_output=True,
    )
    return float(json.loads((out / "metrics.json").read_text(encoding="utf-8"))["accuracy"])


def test_a_killed_round_resumes_from_the_cached_checkpoint_on_another_runner(
    world: World, tmp_path: Path
) -> None:
    edits = caller_edits(threshold=str(THRESHOLD), max_rounds=4)
    edits["train-command: python ml_task/train.py --dataset mnist"] = (
        "train-command: python ml_task/kill_once.py --dataset digits --epochs 5"
    )
    edits["      requirements-file: ml_task/requirements.txt\n"] = (
        "      train-retries: 0\n"  # no retry in the job
        "      train-env: E2E_KILL_MARKER\n"  # the training gets no other variable
    )
    world.create(edits, extra_files={"ml_task/kill_once.py": KILL_ONCE})
    head = open_pull_request(world)
    event = world.pull_request_event(PR, BRANCH, head)
    marker = world.base / "killed-once"
    env = {"E2E_KILL_MARKER": str(marker)}

    first = world.act("pull_request", event_path=event, env=env)

    assert_ran(first, "plan", "train")
    assert marker.is_file() and first.returncode != 0 and not first.job_succeeded("train")
    assert world.head(BRANCH) == head and dispatches(world.fake) == []  # nothing committed or dispatched
    saved = [
        unquote(p.name)
        for p in world.cache_dir.iterdir()
        if unquote(p.name).startswith("keras-ct-checkpoint-")
    ]
    assert len(saved) == 1 and "-round-1-" in saved[0], saved

    # A re-run on another runner (a fresh HOME: no local state), with the repository's caches.
    second = world.act("pull_request", event_path=event, env=env, home=world.base / "runner-2")

    assert_ran(second, "plan", "train")
    assert second.job_succeeded("train"), second.log[-6000:]
    resumed = metrics(world, 1)
    assert resumed["initial_epoch"] == 2  # epochs 1 and 2 were not trained again
    epochs = [str(e.get("msg", "")) for e in second.events if e.get("jobID") == "train"]
    assert any(m.startswith("Epoch 3/5") for m in epochs)
    assert not any(m.startswith(("Epoch 1/5", "Epoch 2/5")) for m in epochs)
    assert resumed["accuracy"] == uninterrupted_accuracy(world, tmp_path)
    assert_token_never_leaked(world, second)
