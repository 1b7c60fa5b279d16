"""Keep the best and compare with the base branch, end to end: the real workflows under act, real git.

The accuracies are scripted, so the verdicts are the same on any machine: the train command is a
stand-in (``ml_task/scripted_train.py``) that writes the metrics file with the accuracy
``E2E_SCORES`` gives the round (``KERAS_CT_ROUND``). The augmenter is the real one (it builds every candidate with Keras), and so is every commit,
push and note.
"""

from __future__ import annotations

import json

import pytest

from tests.e2e.act_harness import World, comments, dispatches, git, statuses
from tests.e2e.test_act import BRANCH, PR, assert_ran, caller_edits, open_pull_request, replay_dispatches

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(1800)]

SCRIPTED_TRAIN = """\
import json
import os

accuracy = json.loads(os.environ["E2E_SCORES"])[os.environ["KERAS_CT_ROUND"]]
with open(os.environ["KERAS_CT_METRICS_FILE"], "w", encoding="utf-8") as out:
    json.dump({"schema_version": 1, "metric": "accuracy", "accuracy": accuracy, "epochs": 1}, out)
"""
NOTES_REF = "refs/notes/keras-ct"


def scores(**by_round: float) -> dict[str, str]:
    """The environment that makes round N score ``by_round["rN"]``."""
    return {"E2E_SCORES": json.dumps({key.removeprefix("r"): value for key, value in by_round.items()})}


def scripted(world: World, threshold: str, max_rounds: int, extra: str = "") -> None:
    """The clone's caller with the scripted train command (``extra``: more ``with:`` lines)."""
    edits = caller_edits(threshold=threshold, max_rounds=max_rounds)
    edits["train-command: python ml_task/train.py --dataset mnist"] = (
        "train-command: python ml_task/scripted_train.py"
    )
    edits["      requirements-file: ml_task/requirements.txt\n"] = f"      train-env: E2E_*\n{extra}"
    world.create(edits, extra_files={"ml_task/scripted_train.py": SCRIPTED_TRAIN})


def test_a_pull_request_is_compared_with_the_note_a_push_run_left_on_main(world: World) -> None:
    scripted(world, threshold="0.9", max_rounds=2, extra='      max-regression: "0.01"\n')
    main = world.head("main")

    pushed = world.act("push", ref="main", env=scores(r1=0.97))

    assert_ran(pushed, "plan", "train")
    assert pushed.returncode == 0, pushed.log[-6000:]
    note = git(world.remote, "notes", f"--ref={NOTES_REF}", "show", main)
    assert json.loads(note) == {"accuracy": 0.97, "branch": "main", "metric": "accuracy", "round": 1}
    assert [s.state for s in statuses(world.fake, main)][-1] == "success"
    assert comments(world.fake, PR) == [] and dispatches(world.fake) == []
    assert world.head("main") == main  # a push run commits nothing

    head = open_pull_request(world)
    run = world.act(
        "pull_request", event_path=world.pull_request_event(PR, BRANCH, head), env=scores(r1=0.93)
    )

    assert_ran(run, "plan", "train")
    (comment,) = comments(world.fake, PR)
    assert f"**Compared with:** base main: 0.9700 ({main[:7]})" in comment.body
    why = f"the best model (round 1, 0.9300 < 0.96) is more than max-regression 0.01 below main's 0.9700 ({main[:7]})"
    last = statuses(world.fake, head)[-1]
    assert (last.state, last.description) == ("failure", why)  # above the threshold 0.9, and still failed
    assert world.head(BRANCH) == head and dispatches(world.fake) == []  # the loop ended at the pass
    pr_note = json.loads(git(world.remote, "notes", f"--ref={NOTES_REF}", "show", head))
    assert (pr_note["accuracy"], pr_note["branch"]) == (0.93, BRANCH)  # the PR's round is recorded too


def test_a_round_worse_than_the_best_is_reverted_and_the_branch_ends_on_the_best(world: World) -> None:
    scripted(world, threshold="0.99", max_rounds=3)
    env = scores(r1=0.95, r2=0.90, r3=0.91)
    head = open_pull_request(world)
    best_model = world.show(BRANCH, "ml_task/model.py")

    first = world.act("pull_request", event_path=world.pull_request_event(PR, BRANCH, head), env=env)
    assert_ran(first, "plan", "train")
    later = replay_dispatches(world, limit=3, env=env)

    assert len(later) == 2
    log = world.log(BRANCH)
    reverts = [c for c in log if "Keras-CT-Revert-To: 1" in c["body"]]
    assert len(reverts) == 2, [c["body"] for c in log[:6]]  # round 2 and round 3 each put round 1 back
    assert world.show(BRANCH, "ml_task/model.py") == best_model  # the branch ends on round 1's code
    assert "Keras-CT-Revert-To: 1" in log[0]["body"]  # the last commit is the revert
    (comment,) = comments(world.fake, PR)
    assert "↩ 1" in comment.body
    assert statuses(world.fake, world.head(BRANCH))[-1].state == "failure"
    for number in ("0.9500", "0.9000", "0.9100"):
        assert number in comment.body
