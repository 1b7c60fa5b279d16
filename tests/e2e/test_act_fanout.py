"""``fan-out: runners`` end to end: the real workflows under act, real git, three candidates on three runners.

Round 1 misses; the train job pushes the policy's top three changes as branch-less commits and
outputs their matrix; the ``candidate`` matrix job trains each on its own (act) runner; ``gather``
keeps the best, commits it to the pull request's branch with every candidate's trailer, comments
and dispatches round 2 once. The train command is a stand-in (``ml_task/scripted_train.py``) whose
accuracy depends on which candidate change is in the checkout it runs in, so the right candidate to
keep is known on any machine; the augmenter (each change built with Keras) and git are real.
Round 2 (the dispatch, replayed) takes the kept candidate's training from the checkpoint cache and
trains nothing; with ``fan-out: processes`` the same holds for candidates trained in the train job.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.e2e.act_harness import ActRun, World, comments, dispatches, git, statuses
from tests.e2e.test_act import BRANCH, PR, assert_ran, caller_edits, open_pull_request, replay_dispatches

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(1800)]

# Which change is in this checkout: counted against the PR's model (E2E_BASE); E2E_CRASH crashes one.
SCRIPTED_TRAIN = """\
import json
import os
import sys

model = open("ml_task/model.py", encoding="utf-8").read()
base = json.loads(os.environ["E2E_BASE"])
if os.environ["KERAS_CT_ROUND"] == "1":
    change = "none"
elif model.count("Conv2D(") > base["conv"]:
    change = "conv-block"
elif model.count("Dense(") > base["dense"]:
    change = "dense"
else:
    change = "other"
if change == os.environ.get("E2E_CRASH"):
    sys.exit(f"scripted_train: {change} crashes on purpose")
accuracy = json.loads(os.environ["E2E_SCORES"])[change]
with open(os.environ["E2E_LOG"], "a", encoding="utf-8") as log:  # every training, in every job
    log.write(f"{os.environ['KERAS_CT_ROUND']} {change}\\n")
with open(os.environ["KERAS_CT_METRICS_FILE"], "w", encoding="utf-8") as out:
    json.dump({"schema_version": 1, "metric": "accuracy", "accuracy": accuracy, "epochs": 1}, out)
"""
SCORES = {"none": 0.90, "conv-block": 0.91, "dense": 0.995, "other": 0.92}


def fan_out_world(world: World, k: int = 3, fan_out: str = "runners") -> tuple[str, dict[str, str]]:
    edits = caller_edits(threshold="0.99", max_rounds=3)
    edits["train-command: python ml_task/train.py --dataset mnist"] = (
        "train-command: python ml_task/scripted_train.py"
    )
    edits["      requirements-file: ml_task/requirements.txt\n"] = (
        f'      train-env: E2E_*\n      candidates: "{k}"\n      fan-out: {fan_out}\n      train-retries: 0\n'
    )
    world.create(edits, extra_files={"ml_task/scripted_train.py": SCRIPTED_TRAIN})
    head = open_pull_request(world)
    model = world.show(BRANCH, "ml_task/model.py")
    base = {"conv": model.count("Conv2D("), "dense": model.count("Dense(")}
    log = world.base / "trainings.log"
    return head, {"E2E_BASE": json.dumps(base), "E2E_SCORES": json.dumps(SCORES), "E2E_LOG": str(log)}


def trainings(env: dict[str, str]) -> list[str]:
    """Every training the scripted train command ran, in any job: "ROUND CHANGE", sorted."""
    return sorted(Path(env["E2E_LOG"]).read_text(encoding="utf-8").splitlines())


def fan_out(world: World, head: str, env: dict[str, str]) -> ActRun:
    return world.act("pull_request", event_path=world.pull_request_event(PR, BRANCH, head), env=env)


def candidate_jobs(run: ActRun) -> dict[str, str]:
    """Each candidate matrix job that ran: its name -> its result."""
    return {
        str(e.get("job")): str(e["jobResult"])
        for e in run.events
        if e.get("jobID") == "candidate" and e.get("jobResult")
    }


def test_three_candidates_on_three_runners_one_gather_one_commit_one_dispatch(world: World) -> None:
    head, env = fan_out_world(world)

    run = fan_out(world, head, env)

    assert run.returncode == 0, run.log[-8000:]
    assert_ran(run, "plan", "train", "candidate", "gather")
    jobs = candidate_jobs(run)
    assert len(jobs) == 3 and set(jobs.values()) == {"success"}, jobs
    refs = git(world.remote, "for-each-ref", "--format=%(refname)", f"refs/keras-ct/candidates/{PR}/1")
    assert refs.splitlines() == [f"refs/keras-ct/candidates/{PR}/1/{i}" for i in (1, 2, 3)]

    log = world.log(BRANCH)
    assert log[1]["sha"] == head  # exactly one new commit on the branch
    body = log[0]["body"]
    assert "Keras-CT-Round: 1" in body and "Keras-CT-Accuracy: 0.9000" in body
    assert "Keras-CT-Candidate-1: conv-block 0.9100" in body
    assert "Keras-CT-Candidate-2: dense 0.9950 (kept)" in body
    assert "Keras-CT-Candidate-3:" in body and "0.9200" in body
    model = world.show(BRANCH, "ml_task/model.py")
    assert model.count("Dense(") == json.loads(env["E2E_BASE"])["dense"] + 1  # the dense change, kept

    (dispatch,) = dispatches(world.fake)
    assert dispatch.inputs == {"round": "2", "pr-number": str(PR)}
    (comment,) = comments(world.fake, PR)
    assert "After round 1: 3 candidate changes tried, kept dense" in comment.body
    assert [s.state for s in statuses(world.fake, world.head(BRANCH))] == ["pending"]
    assert trainings(env) == ["1 none", "2 conv-block", "2 dense", "2 other"]

    # Round 2 (the dispatch) is the kept candidate's code: its train job restores the checkpoint
    # cache that candidate's job saved and takes its training. Nothing trains again.
    (second,) = replay_dispatches(world, 1, env)
    assert second.returncode == 0, second.log[-8000:]
    assert second.outputs("train")["passed"] == "true"
    assert trainings(env) == ["1 none", "2 conv-block", "2 dense", "2 other"]
    assert "round 2 is not trained again: candidate 2 of round 1 trained this code already" in second.log
    (comment,) = comments(world.fake, PR)
    assert "round 2 was trained as candidate 2 of round 1" in comment.body
    assert statuses(world.fake, world.head(BRANCH))[-1].state == "success"


def test_a_crashed_candidate_leaves_the_others_to_decide(world: World) -> None:
    head, env = fan_out_world(world)
    env["E2E_CRASH"] = "dense"

    run = fan_out(world, head, env)

    assert_ran(run, "plan", "train", "candidate", "gather")
    assert len(candidate_jobs(run)) == 3  # act reports a matrix's result for all its jobs at once
    results = [
        json.loads((world.artifacts / f"keras-ct-candidates-1-{i}" / "candidate.json").read_text())
        for i in (1, 2, 3)
    ]
    assert [r["accuracy"] for r in results] == [0.91, None, 0.92]
    assert "dense crashes on purpose" in results[1]["error"]
    assert run.job_succeeded("gather"), run.log[-8000:]
    body = world.log(BRANCH)[0]["body"]
    assert "Keras-CT-Candidate-2: dense failed" in body
    assert "Keras-CT-Candidate-3:" in body and "0.9200 (kept)" in body
    assert len(dispatches(world.fake)) == 1


def test_with_processes_the_next_round_takes_the_kept_candidates_training_from_the_cache(
    world: World,
) -> None:
    """fan-out: processes: the train job trains k = 2 candidates side by side and commits the best;
    round 2's job (the dispatch) restores the branch's checkpoint cache and takes that training."""
    head, env = fan_out_world(world, k=2, fan_out="processes")

    first = fan_out(world, head, env)

    assert first.returncode == 0, first.log[-8000:]
    assert_ran(first, "plan", "train")
    assert "Keras-CT-Candidate-2: dense 0.9950 (kept)" in world.log(BRANCH)[0]["body"]
    assert trainings(env) == ["1 none", "2 conv-block", "2 dense"]
    (second,) = replay_dispatches(world, 1, env)
    assert second.returncode == 0, second.log[-8000:]
    assert second.outputs("train")["passed"] == "true"
    assert trainings(env) == ["1 none", "2 conv-block", "2 dense"]  # round 2 trained nothing
    assert "round 2 is not trained again: candidate 2 of round 1 trained this code already" in second.log
