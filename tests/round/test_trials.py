"""``keras-ct loop --candidates k`` (``round.trials``): k copies of the tree, k training processes,
the same choice as the workflow's gather (``round.candidates.choose``) whatever ``jobs`` is."""

from __future__ import annotations

import io
import json
import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import pytest

from keras_ct.augment import AugmentResult
from keras_ct.augment.policy import Decision
from keras_ct.config import Config, load_config
from keras_ct.errors import AugmentError, TrainingError
from keras_ct.round.candidates import CandidateResult, choose
from keras_ct.round.history import RoundRecord
from keras_ct.round.trials import run_trials
from keras_ct.runner import Runner

#: The stand-in training: the accuracy the scores file gives the change written in the model file
#: ("crash": exit 1 without metrics).
TRAIN = """\
import json, os, sys
from pathlib import Path
change = Path("ml_task/model.py").read_text().split("CHANGE = ")[-1].strip().strip('"')
score = json.loads(Path(sys.argv[1]).read_text())[change]
if score == "crash":
    sys.exit(1)
Path(os.environ["KERAS_CT_METRICS_FILE"]).write_text(json.dumps({"schema_version": 1, "accuracy": score}))
"""
MISSED = (RoundRecord(1, 0.5, 0.95, "missed"),)
#: The stand-in that logs when it starts and ends (absolute log path as its second argument).
TIMED = TRAIN.replace(
    "score = ",
    "import time\nlog = Path(sys.argv[2])\nwith log.open('a') as f: f.write('start\\n')\n"
    "time.sleep(1.5)\nwith log.open('a') as f: f.write('end\\n')\nscore = ",
)


def _propose(cfg: Config, records: Sequence[RoundRecord], decision: Decision) -> AugmentResult:
    """Writes the change's name into the copy's model file (``widen`` cannot be made)."""
    change = decision.change
    if change == "widen":
        raise AugmentError("nothing to widen")
    path = cfg.model_path
    path.write_text(path.read_text() + f'CHANGE = "{change}"\n')
    return AugmentResult(path, change, decision.rationale(), change, f"+{change}\n", 1, 2, (), True)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    (root / "ml_task").mkdir(parents=True)
    (root / "ml_task" / "model.py").write_text("def build_model():\n    return None\n")
    (root / "train.py").write_text(TRAIN)
    return root


def _cfg(repo: Path, scores: dict[str, object], **flags: str) -> Config:
    scores_file = repo.parent / "scores.json"
    scores_file.write_text(json.dumps(scores))
    command = f"{sys.executable} train.py {scores_file}"
    return load_config(
        {"working-directory": str(repo), "train-command": command, "candidates": "3", **flags},
        {},
        cwd=repo,
    )


def _order(cfg: Config) -> list[str]:
    from keras_ct.augment.policy import decide

    return [d.change for d in decide(MISSED, policy=cfg.policy) if d.change != "widen"]


@pytest.mark.parametrize("jobs", [0, 1], ids=["concurrent", "one-after-another"])
def test_the_best_candidate_is_written_with_every_result(repo: Path, jobs: int) -> None:
    cfg = _cfg(repo, {})
    first, second, third = _order(cfg)[:3]
    cfg = _cfg(repo, {first: 0.90, second: 0.93, third: "crash"})
    out = io.StringIO()
    result = run_trials(
        cfg, MISSED, environ={}, runner=Runner(out=out, err=io.StringIO()), propose=_propose, jobs=jobs
    )
    assert result.change == second
    assert result.path == repo / "ml_task" / "model.py"
    assert (repo / "ml_task" / "model.py").read_text().endswith(f'CHANGE = "{second}"\n')
    assert result.candidates == ((first, 0.90), (second, 0.93), (third, None))
    # The same choice the gather job makes from the same accuracies.
    same = choose([CandidateResult(i, c, a) for i, (c, a) in enumerate(result.candidates, 1)])
    assert same.kept.change == result.change
    assert (
        f"candidate 3 ({third}): training failed" in out.getvalue()
        or f"candidate 3 ({third}):" in out.getvalue()
    )
    assert not (repo / ".git").exists()


def test_all_candidates_failing_fails_the_round_and_leaves_the_tree(repo: Path) -> None:
    cfg = _cfg(repo, {c: "crash" for c in _order(_cfg(repo, {}))})
    before = (repo / "ml_task" / "model.py").read_text()
    runner = Runner(out=io.StringIO(), err=io.StringIO())
    with pytest.raises(TrainingError, match="all 3 candidates failed"):
        run_trials(cfg, MISSED, environ={}, runner=runner, propose=_propose)
    assert (repo / "ml_task" / "model.py").read_text() == before


def test_the_loop_wires_the_trials_for_candidates_above_one(repo: Path) -> None:
    from keras_ct import orchestrate
    from keras_ct.cli import build_parser
    from keras_ct.round.publish import LocalPublisher
    from keras_ct.train.trainer import Trainer

    args = build_parser().parse_args(["loop", "--candidates", "3", "--jobs", "1"])
    assert (args.candidates, args.jobs) == ("3", 1)
    runner = Runner(out=io.StringIO(), err=io.StringIO())
    for k, wired in (("3", True), ("1", False)):
        cfg = _cfg(repo, {}, candidates=k)
        engine = orchestrate._engine(
            cfg, runner, {}, Trainer(), None, 1, publisher=LocalPublisher(), git=None, local=True
        )
        augmenter = engine.augmenter
        assert (getattr(augmenter, "func", None) is run_trials) is wired
        if wired:
            assert getattr(augmenter, "keywords", {})["jobs"] == 1
            # The candidates' builds go to the engine's trainer (a reused process: one TF import).
            assert getattr(augmenter, "keywords", {})["propose"].keywords["trainer"] is engine.trainer


@pytest.mark.parametrize(
    ("jobs", "expected"),
    [
        pytest.param(0, ["start"] * 3 + ["end"] * 3, id="all-at-once"),
        pytest.param(1, ["start", "end"] * 3, id="one-after-another"),
    ],
)
def test_jobs_sets_how_many_train_at_once(repo: Path, jobs: int, expected: list[str]) -> None:
    (repo / "train.py").write_text(TIMED)
    log = repo.parent / "times.log"
    cfg = _cfg(repo, dict.fromkeys(_order(_cfg(repo, {})), 0.9))
    cfg = replace(cfg, train_command=f"{cfg.train_command} {log}")
    runner = Runner(out=io.StringIO(), err=io.StringIO())
    run_trials(cfg, MISSED, environ={}, runner=runner, propose=_propose, jobs=jobs)
    assert log.read_text().split() == expected


def test_a_training_script_outside_the_tree_is_never_edited_by_a_candidate(repo: Path) -> None:
    outside = repo.parent / "shared_train.py"
    outside.write_text(TRAIN)
    cfg = _cfg(repo, {})
    cfg = replace(cfg, train_command=f"python {outside} {repo.parent / 'scores.json'}")
    asked: list[str] = []

    def propose(copy: Config, records: Sequence[RoundRecord], decision: Decision) -> AugmentResult:
        asked.append(decision.change)
        return _propose(copy, records, decision)

    from keras_ct.round.trials import propose_trials

    trials = propose_trials(cfg, [RoundRecord(1, 0.5, 0.95, "missed")], propose, repo.parent / "trials")
    assert asked and not {"epochs", "lr-schedule"} & set(asked)
    assert len(trials) == 3


def test_the_kept_candidates_training_is_the_next_round_not_trained_again(repo: Path) -> None:
    """Issue 15: round 2's code is the kept candidate's, which trained as round 2 already; round 2
    takes that training (metrics, seconds), says so, and the train command runs k + 1 times, not k + 2."""
    from functools import partial

    from keras_ct.report import render_report
    from keras_ct.round.engine import Engine
    from keras_ct.round.publish import LocalPublisher

    log = repo.parent / "trainings.log"
    (repo / "train.py").write_text(
        TRAIN.replace("[change]", ".get(change, 0.5)").replace(
            "score = ", f"open({str(log)!r}, 'a').write(change[:20].replace(chr(10), ' ') + '\\n')\nscore = "
        )
    )
    first, second, third = _order(_cfg(repo, {}))[:3]
    cfg = replace(_cfg(repo, {first: 0.90, second: 0.97, third: 0.91}, threshold="0.95"), max_rounds=3)
    out = io.StringIO()
    runner = Runner(out=out, err=io.StringIO())
    augment = partial(run_trials, environ={}, runner=runner, propose=_propose, jobs=1)
    engine = Engine(cfg, runner, {}, LocalPublisher(), augment, local=True)

    outcome = engine.run()

    assert len(log.read_text().splitlines()) == 4  # round 1 and its 3 candidates; round 2: none
    one, two = outcome.records
    assert (one.accuracy, one.next_change, two.accuracy, two.status) == (0.5, second, 0.97, "passed")
    assert two.trained_by == "candidate 2 of round 1"
    assert json.loads(cfg.metrics_path(2).read_text())["accuracy"] == 0.97  # the round's own file
    assert "round 2 is not trained again: candidate 2 of round 1 trained this code already" in out.getvalue()
    assert "round 2 was trained as candidate 2 of round 1" in render_report(outcome.records, outcome.verdict)


def test_a_candidate_that_edits_keras_ct_yml_trains_with_the_command_it_wrote(repo: Path) -> None:
    """An epochs change in .keras-ct.yml's train-command: the candidate trains (and is kept for the
    next round) with the new command, not the one the round started with."""
    from keras_ct.round.trials import propose_trials

    scores = repo.parent / "scores.json"
    scores.write_text("{}")
    (repo / ".keras-ct.yml").write_text(f"train-command: {sys.executable} train.py {scores} --epochs 2\n")
    cfg = load_config({"working-directory": str(repo), "candidates": "2"}, {}, cwd=repo)
    assert cfg.config_file is not None and cfg.train_command.endswith("--epochs 2")

    def propose(copy: Config, records: Sequence[RoundRecord], decision: Decision) -> AugmentResult:
        assert copy.config_file is not None and copy.config_file != cfg.config_file
        copy.config_file.write_text(copy.config_file.read_text().replace("--epochs 2", "--epochs 4"))
        return AugmentResult(copy.config_file, "epochs", "", "epochs", "", None, None, (), True)

    trials = propose_trials(cfg, MISSED, propose, repo.parent / "trials")
    assert [t.cfg.train_command.split()[-2:] for t in trials] == [["--epochs", "4"]] * 2
    assert cfg.train_command.endswith("--epochs 2")  # the real tree's is untouched
