"""Keep the best with real git: a round worse than the best is reverted by a commit on the branch.

`keras-ct run` through ``orchestrate.run_action`` (``run_wired``: the augmenter's real edit without
the TensorFlow build proof), a real checkout with a bare remote, the fake GitHub over HTTP.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fake_github.state import PR_NUMBER, REPOSITORY, WRITE_TOKEN
from tests.integration.repo_setup import actions_env, commit_file, git, make_checkout, outputs, pr_event
from tests.reliability.harness import run_wired

#: 0.80 for the start model's one Conv2D; a second Conv2D makes it worse (0.70).
WORSE_WITH_A_SECOND_CONV = """\
import json, os
from pathlib import Path
convs = Path(os.environ["KERAS_CT_MODEL_FILE"]).read_text().count("Conv2D(")
acc = 0.80 if convs <= 1 else 0.70
Path(os.environ["KERAS_CT_METRICS_FILE"]).write_text(json.dumps({"schema_version": 1, "accuracy": acc}))
"""


@pytest.fixture
def world(tmp_path: Path, fake_github):  # type: ignore[no-untyped-def]
    checkout = make_checkout(tmp_path)
    commit_file(
        checkout, "train_worse.py", WORSE_WITH_A_SECOND_CONV, "a trainer that a second conv block hurts"
    )
    repo = fake_github.repo(REPOSITORY)
    repo.git_dir = str(checkout.bare)
    repo.pulls[PR_NUMBER].head_sha = checkout.head()
    return checkout, fake_github, repo


def test_a_last_round_worse_than_the_best_is_reverted_on_the_branch(tmp_path: Path, world) -> None:  # type: ignore[no-untyped-def]
    checkout, fake, repo = world
    model = checkout.work / "ml_task" / "model.py"
    start = model.read_text()
    inputs = {"rounds-per-job": "2", "max-rounds": "2", "reuse-training-process": "false"}
    env = actions_env(tmp_path, checkout, fake.api_url, WRITE_TOKEN, event=pr_event(checkout), inputs=inputs)
    env["INPUT_TRAIN-COMMAND"] = env["INPUT_TRAIN-COMMAND"].replace("train_fake.py", "train_worse.py")
    trained = checkout.head()

    result = run_wired(env)

    assert result.code == 0, result.out[-3000:]
    # Round 1 (0.80) committed a conv block; round 2 trained it (0.70) and put round 1's model back.
    pushed = checkout.remote_head()
    assert git(checkout.bare, "rev-list", "--count", f"{trained}..{pushed}") == "2"
    revert = git(checkout.bare, "log", "-1", "--format=%s%n%(trailers)", pushed)
    assert revert.splitlines()[0] == "keras-ct: round 2: revert to round 1, the best"
    assert "Keras-CT-Round: 2" in revert and "Keras-CT-Revert-To: 1" in revert
    assert git(checkout.bare, "show", f"{pushed}:ml_task/model.py") + "\n" == start
    assert model.read_text() == start and checkout.head() == pushed
    body = repo.comments[0].body
    assert "Round 1's model, the best (0.8000), is put back." in body
    assert "0.8000 🏆" in body and "0.7000 ↩ 1" in body
    # The failure lands on the pushed head too: it is the pull request's head now.
    assert [(s.sha, s.state) for s in repo.statuses[-2:]] == [(trained, "failure"), (pushed, "failure")]
    assert outputs(tmp_path)["passed"] == "false"
