"""``fan-out: runners`` (``round.fanout``): the train job's candidates as branch-less commits and a
matrix, each trained by ``try`` in its own checkout, and the gather's choice, over real git."""

from __future__ import annotations

import io
import json
import shutil
import sys
from dataclasses import replace
from pathlib import Path

import pytest
from tests.integration.repo_setup import git
from tests.round.test_trials import MISSED, TRAIN, _propose

from keras_ct.config import Config, load_config
from keras_ct.errors import AugmentError, GitError, TrainingError
from keras_ct.git import GitRepo
from keras_ct.round.candidates import CandidateResult
from keras_ct.round.fanout import (
    RESULT_FILE,
    Entry,
    FannedOut,
    Recorded,
    artifact_prefix,
    candidate_ref,
    gatherer,
    matrix_json,
    parse_entries,
    proposer,
    read_results,
    try_candidate,
)
from keras_ct.round.training import train
from keras_ct.runner import Runner
from keras_ct.train import ahead
from keras_ct.train.launch import train_run
from keras_ct.train.trainer import Trainer

ENTRY = Entry(2, 3, "a" * 40, "dense", "ml_task/model.py", "add a Dense layer", "underfits")


def _git(cwd: Path, *args: str) -> str:
    return git(cwd, "-c", "user.name=t", "-c", "user.email=t@x", *args)


@pytest.fixture
def world(tmp_path: Path) -> tuple[Path, Path]:
    """A bare remote and a clone whose main holds a model file and the stand-in training."""
    remote, clone = tmp_path / "remote.git", tmp_path / "clone"
    _git(tmp_path, "init", "-q", "--bare", "--initial-branch=main", str(remote))
    (clone / "ml_task").mkdir(parents=True)
    (clone / "ml_task" / "model.py").write_text("def build_model():\n    return None\n")
    (clone / "train.py").write_text(TRAIN)
    (clone / ".gitignore").write_text(".keras-ct/\n")
    _git(clone, "init", "-q", "--initial-branch=main")
    _git(clone, "add", "-A")
    _git(clone, "commit", "-qm", "start")
    _git(clone, "remote", "add", "origin", str(remote))
    _git(clone, "push", "-q", "origin", "main")
    return remote, clone


def _cfg(root: Path, scores: dict[str, object], **flags: str) -> Config:
    scores_file = root.parent / "scores.json"
    scores_file.write_text(json.dumps(scores))
    settings = {"working-directory": str(root), "train-command": f"{sys.executable} train.py {scores_file}"}
    return load_config({**settings, "candidates": "3", "fan-out": "runners", **flags}, {}, cwd=root)


def _runner() -> Runner:
    return Runner(out=io.StringIO(), err=io.StringIO())


def test_the_matrix_round_trips_and_garbage_is_refused() -> None:
    text = matrix_json([ENTRY, Entry(1, 3, "b" * 40, "conv-block", "m.py", "", "")])
    assert json.loads(text)["include"][0]["candidate"] == 2
    assert parse_entries(text)[0] == ENTRY
    assert parse_entries(json.dumps(json.loads(text)["include"][0])) == [ENTRY]  # one matrix entry
    with pytest.raises(AugmentError, match="not a keras-ct candidate matrix"):
        parse_entries('{"include": [{"candidate": 1}]}')
    assert candidate_ref(7, 2, 3) == "refs/keras-ct/candidates/7/2/3"


def test_a_candidate_with_no_result_file_is_a_failed_one(tmp_path: Path) -> None:
    entries = [
        ENTRY,
        Entry(1, 3, "b" * 40, "conv-block", "m.py", "", ""),
        Entry(3, 3, "c" * 40, "widen", "m.py", "", ""),
    ]
    prefix = artifact_prefix(2)
    (tmp_path / f"{prefix}-2").mkdir()
    (tmp_path / f"{prefix}-2" / RESULT_FILE).write_text(json.dumps({"accuracy": 0.9, "error": ""}))
    (tmp_path / f"{prefix}-3").mkdir()
    (tmp_path / f"{prefix}-3" / RESULT_FILE).write_text("{not json")
    results = read_results(entries, tmp_path, prefix)
    assert [(r.index, r.accuracy) for r in results] == [(2, 0.9), (1, None), (3, None)]
    assert results[1].error == "its job left no result"


def test_push_refs_never_moves_a_branch(world: tuple[Path, Path]) -> None:
    _, clone = world
    with pytest.raises(GitError, match="never moves a branch"):
        GitRepo(clone).push_refs({"refs/heads/main": "a" * 40})


def test_propose_try_gather_keeps_the_best_and_commits_it_on_the_branch(world: tuple[Path, Path]) -> None:
    remote, clone = world
    scores = {"conv-block": 0.91, "dense": 0.96, "dropout": "crash", "epochs": 0.5, "batch-norm": 0.5}
    cfg = _cfg(clone, scores)
    git = GitRepo(clone)
    head = git.head()
    with pytest.raises(FannedOut) as raised:
        proposer(git, 7, _propose)(cfg, MISSED)
    entries = raised.value.entries
    assert len(entries) == 3 and git.head() == head and not _git(clone, "status", "--porcelain")
    refs = _git(remote, "for-each-ref", "--format=%(refname) %(objectname)", "refs/keras-ct")
    assert refs.splitlines() == [f"{candidate_ref(7, 1, e.candidate)} {e.sha}" for e in entries]
    assert all(e.round == 2 and git.parent(e.sha) == head for e in entries)
    assert not _git(remote, "for-each-ref", "refs/heads/").count("\n")  # still only main

    # Each matrix job: a fresh checkout of its candidate's commit, trained as round 2.
    results_dir = clone.parent / "results"
    for e in entries:
        job = clone.parent / f"job-{e.candidate}"
        _git(clone.parent, "clone", "-q", str(remote), str(job))
        GitRepo(job).fetch_commits([e.sha])
        _git(job, "checkout", "-q", e.sha)
        job_cfg = _cfg(job, scores, round="2")
        result = try_candidate(job_cfg, _runner(), {}, e)
        assert (job_cfg.out_dir / RESULT_FILE).is_file()
        folder = results_dir / f"{artifact_prefix(1)}-{e.candidate}"
        folder.mkdir(parents=True)
        (folder / RESULT_FILE).write_text((job_cfg.out_dir / RESULT_FILE).read_text())
        assert (result.accuracy is None) == (scores[e.change] == "crash")

    results = read_results(entries, results_dir, artifact_prefix(1))
    kept = gatherer(GitRepo(clone), entries, results)(cfg, MISSED)
    best = max((r for r in results if r.accuracy is not None), key=lambda r: r.accuracy or 0.0)
    assert kept.change == best.change and kept.written
    assert kept.candidates == tuple((r.change, r.accuracy) for r in sorted(results, key=lambda r: r.index))
    assert f'CHANGE = "{best.change}"' in (clone / "ml_task" / "model.py").read_text()
    assert kept.diff.startswith("--- a/ml_task/model.py")

    # The kept candidate's job saved its checkpoint folder (the cache); round 2's job restores it
    # and takes that training, which is of the very code the branch has now: nothing trains again.
    kept_job = _cfg(clone.parent / f"job-{best.index}", scores, round="2")
    shutil.copytree(kept_job.checkpoint_base, cfg.checkpoint_base, dirs_exist_ok=True)
    round_two = replace(cfg, round=2)
    done = train(round_two, _runner(), {}, 2, trainer=Trainer())
    assert (done.ahead_by, done.metrics.value) == (f"candidate {best.index} of round 1", best.accuracy)
    for e in entries:  # every other candidate's training is of other code: its own resume folder
        job_folder = ahead.folder(_cfg(clone.parent / f"job-{e.candidate}", scores, round="2"), 2)
        assert (job_folder.parent.name == ahead.folder(round_two, 2).parent.name) == (
            e.candidate == best.index
        )


def test_gather_refuses_when_every_candidate_failed_or_the_branch_moved(world: tuple[Path, Path]) -> None:
    _, clone = world
    cfg = _cfg(clone, {})
    git = GitRepo(clone)
    with pytest.raises(FannedOut) as raised:
        proposer(git, 7, _propose)(cfg, MISSED)
    entries = raised.value.entries
    failed = [CandidateResult(e.candidate, e.change, None, "crashed") for e in entries]
    with pytest.raises(TrainingError, match="all 3 candidates failed"):
        gatherer(git, entries, failed)(cfg, MISSED)
    (clone / "other.txt").write_text("someone pushed\n")
    _git(clone, "add", "other.txt")
    _git(clone, "commit", "-qm", "moved")
    scored = [CandidateResult(e.candidate, e.change, 0.9) for e in entries]
    with pytest.raises(AugmentError, match="the branch moved"):
        gatherer(git, entries, scored)(cfg, MISSED)
    assert "CHANGE" not in (clone / "ml_task" / "model.py").read_text()


def test_recorded_puts_the_train_jobs_metrics_in_place(world: tuple[Path, Path], tmp_path: Path) -> None:
    _, clone = world
    cfg = _cfg(clone, {})
    source = tmp_path / "metrics.json"
    run = train_run(cfg, {}, 1)
    with pytest.raises(TrainingError, match="metrics file is missing"):
        Recorded(source).start(run, _runner())
    source.write_text(json.dumps({"schema_version": 1, "accuracy": 0.8}))
    Recorded(source).start(run, _runner()).wait()
    assert json.loads(cfg.metrics_path(1).read_text())["accuracy"] == 0.8
