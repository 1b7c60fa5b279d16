"""`keras-ct run` with candidates 3, as the action runs it: a real checkout and bare remote, the fake
GitHub, the candidates trained as three processes; one commit (every candidate in its trailers), one
push, one dispatch, the comment listing the three, and the candidate that scored best kept."""

from __future__ import annotations

import difflib
import io
import sys
from collections.abc import Sequence
from functools import partial
from pathlib import Path
from typing import Any

from keras_ct.augment import AugmentResult, plan_edit
from keras_ct.augment.policy import Decision
from keras_ct.config import Config
from keras_ct.errors import AugmentError
from keras_ct.round.history import RoundRecord
from keras_ct.round.trials import run_trials
from keras_ct.runner import Runner
from tests.fake_github.state import PR_NUMBER, REPOSITORY, WRITE_TOKEN
from tests.integration.repo_setup import SCORE_BY_CONV, actions_env, git, make_checkout, outputs, pr_event
from tests.reliability.harness import run_wired


def edit_without_build(cfg: Config, records: Sequence[RoundRecord], decision: Decision) -> AugmentResult:
    """The policy's change as the augmenter's real libcst edit, without the TensorFlow build proof."""
    source = cfg.model_path.read_text(encoding="utf-8")
    if decision.change in ("epochs", "lr-schedule"):
        raise AugmentError("the stand-in makes model changes only")
    edit = plan_edit(source, decision.change, model_function=cfg.model_function, path=str(cfg.model_file))
    cfg.model_path.write_text(edit.new_source, encoding="utf-8")
    diff = "".join(difflib.unified_diff(source.splitlines(True), edit.new_source.splitlines(True)))
    return AugmentResult(
        cfg.model_path, decision.change, decision.rationale(), edit.description, diff, None, None, (), True
    )


def test_three_candidates_one_commit_one_dispatch_the_best_kept(tmp_path: Path, fake_github: Any) -> None:
    checkout = make_checkout(tmp_path)
    repo = fake_github.repo(REPOSITORY)
    repo.git_dir = str(checkout.bare)
    repo.pulls[PR_NUMBER].head_sha = checkout.head()
    # The stand-in trainer scores Dense layers here: the policy's second change (dense: 0.90) beats
    # its first (conv-block: 0.80), so the best is kept, not the first.
    scorer = tmp_path / "score_dense.py"
    scorer.write_text(SCORE_BY_CONV.replace('model.count("Conv2D(")', 'model.count("Dense(")'))
    inputs = {"candidates": "3", "threshold": "0.95", "train-command": f"{sys.executable} {scorer}"}
    env = actions_env(
        tmp_path, checkout, fake_github.api_url, WRITE_TOKEN, event=pr_event(checkout), inputs=inputs
    )
    trained = checkout.head()
    trials = io.StringIO()
    augmenter = partial(
        run_trials, environ=env, runner=Runner(out=trials, err=io.StringIO()), propose=edit_without_build
    )

    result = run_wired(env, augmenter=augmenter)

    assert result.code == 0, result.out[-3000:]
    assert "candidate 1 (conv-block): accuracy 0.8000" in trials.getvalue(), trials.getvalue()
    assert "candidate 2 (dense): accuracy 0.9000" in trials.getvalue(), trials.getvalue()
    assert trials.getvalue().count("candidate ") == 3
    assert git(checkout.bare, "rev-list", "--count", f"{trained}..{checkout.branch}") == "1"
    log = checkout.remote_log(1)
    assert "Keras-CT-Round: 1" in log
    assert [line for line in log.splitlines() if "Keras-CT-Candidate-" in line and "(kept)" in line] == [
        "Keras-CT-Candidate-2: dense 0.9000 (kept)"
    ]
    assert sum("Keras-CT-Candidate-" in line for line in log.splitlines()) == 3
    kept = git(checkout.bare, "show", f"{checkout.branch}:ml_task/model.py")
    assert kept.count("Dense(") == 2 and kept.count("Conv2D(") == 1
    assert [d.inputs for d in repo.dispatches] == [{"round": "2", "pr-number": "7"}]
    assert len(repo.comments) == 1
    body = repo.comments[0].body
    assert "<details><summary>After round 1: 3 candidate changes tried, kept dense</summary>" in body
    assert "| 2 | dense | 0.9000 | kept |" in body and "| 1 | conv-block | 0.8000 |  |" in body
    assert outputs(tmp_path)["dispatched"] == "true"
