"""Two models on one pull request (issue 14 item 5): one caller, two jobs with their own ``name``
and model file, side by side. Each keeps its own comment, commit status, commits and dispatches; a
dispatched round of one model runs only that model's jobs.

The second job waits for the first (``needs:``, and ``if: !cancelled()`` so that it runs when the
first skips): both push to the pull request's branch, and a push never forces, so two jobs racing on
one branch would see it move (docs/models.md says so).
"""

from __future__ import annotations

import pytest

from keras_ct.report import comment_marker, parse_history_block
from tests.e2e import act_harness
from tests.e2e.act_harness import World, comments, dispatches, statuses
from tests.e2e.test_act import PR, THRESHOLD, assert_token_never_leaked, caller_edits, open_pull_request

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(1500)]

MODELS = {"a": "ml_task/model.py", "b": "ml_task/model_b.py"}
PR_NUMBER_INPUT = """\
      pr-number:
        description: "Pull request the round belongs to (set by keras-ct)."
        required: false
        default: ""
        type: string
"""
NAME_INPUT = """\
      name:
        description: "The model a dispatched round belongs to (set by keras-ct)."
        required: false
        default: ""
        type: string
"""


def two_model_caller() -> dict[str, str]:
    """ml.yml's edits: the `name` dispatch input, and its one job as two, one per model."""
    text = (act_harness.ROOT / ".github" / "workflows" / "ml.yml").read_text(encoding="utf-8")
    job = text[text.index("  continuous-training:\n") :]
    edited = job
    for old, new in caller_edits(threshold=str(THRESHOLD), max_rounds=2).items():
        edited = act_harness.replace_once(edited, old, new, "ml.yml")
    blocks = []
    for name, model_file in MODELS.items():
        # After the first model, whether it ran or skipped (a dispatched round of the other model).
        needs = "    needs: model-a\n    if: ${{ !cancelled() }}\n" if name == "b" else ""
        block = edited.replace("  continuous-training:\n", f"  model-{name}:\n{needs}", 1)
        block = act_harness.replace_once(
            block,
            "      model-file: ml_task/model.py\n",
            f"      model-file: {model_file}\n      name: {name}\n",
            "ml.yml",
        )
        blocks.append(block)
    return {PR_NUMBER_INPUT: PR_NUMBER_INPUT + NAME_INPUT, job: "\n".join(blocks)}


def test_two_models_on_one_pull_request_keep_their_own_comment_status_and_commits(world: World) -> None:
    model = (act_harness.ROOT / "ml_task" / "model.py").read_text(encoding="utf-8")
    world.create(two_model_caller(), extra_files={"ml_task/model_b.py": model})
    head = open_pull_request(world)

    first = world.act("pull_request", event_path=world.pull_request_event(PR, "more-accuracy", head))
    assert first.returncode == 0, first.log[-6000:]
    assert sorted(d.inputs.get("name") for d in dispatches(world.fake)) == ["a", "b"]

    for dispatch in list(dispatches(world.fake)):
        ref = dispatch.ref.removeprefix("refs/heads/")
        run = world.act("workflow_dispatch", inputs=dispatch.inputs, ref=ref)
        assert run.job_ran("train"), run.log[-6000:]
        assert_token_never_leaked(world, run)
    assert len(dispatches(world.fake)) == 2  # round 2 was the last of each loop: no more

    by_marker = {
        name: [c for c in comments(world.fake, PR) if comment_marker(name) in c.body] for name in MODELS
    }
    assert [len(found) for found in by_marker.values()] == [1, 1]
    for name, (comment,) in by_marker.items():
        assert comment.body.startswith(comment_marker(name))
        assert [r.round for r in parse_history_block(comment.body)] == [1, 2]  # its rounds, no other's
    assert not any(comment_marker() in c.body for c in comments(world.fake, PR))  # no unnamed comment

    contexts = {s.context for s in statuses(world.fake)}
    assert contexts == {"keras-ct/a", "keras-ct/b"}
    for name in MODELS:
        last = [s for s in statuses(world.fake) if s.context == f"keras-ct/{name}"][-1]
        assert last.state == "failure"  # the threshold is out of reach: each loop ended at max-rounds

    bodies = [c["body"] for c in world.log("more-accuracy") if "Keras-CT-Round:" in c["body"]]
    for name in MODELS:
        mine = [b for b in bodies if f"Keras-CT-Name: {name}\n" in b + "\n"]
        assert [b.count("Keras-CT-Round: 1") for b in mine][-1:] == [1], bodies
    assert all("Keras-CT-Name:" in b for b in bodies)
    assert {p.name for p in world.artifacts.iterdir()} >= {
        f"keras-ct-{n}-round-{r}" for n in MODELS for r in (1, 2)
    }
