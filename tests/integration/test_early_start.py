"""`keras-ct run` starts the round's training before it talks to GitHub (the client import, the history,
the duplicate-run guard and the pending status all overlap the training), and stops that training
when the run turns out not to train: a duplicate dispatch, or GitHub refusing the token."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from keras_ct.cli import main
from tests.fake_github.state import REPOSITORY, WRITE_TOKEN
from tests.integration.repo_setup import actions_env, commit_file, git, make_checkout, pr_event

# Says when it started (and its pid), then trains "instantly", or hangs for a minute with HANG set.
TRAINER = """\
import json, os, time
from pathlib import Path
Path(os.environ["STARTED_FILE"]).write_text(f"{time.time()!r} {os.getpid()}")
print("stand-in: training started", flush=True)
if os.environ.get("HANG"):
    time.sleep(60)
curve = [0.5, 0.7, 0.9]
doc = {"schema_version": 1, "metric": "accuracy", "accuracy": 0.9,
       "history": {"accuracy": curve, "val_accuracy": curve}, "epochs": 3, "params": 10,
       "duration_s": 0.1, "dataset": "stand-in"}
Path(os.environ["KERAS_CT_METRICS_FILE"]).write_text(json.dumps(doc))
print("stand-in: done", flush=True)
"""
SLOW_S = 2.0  # far longer than a Python start, so the order below cannot come from chance


@pytest.fixture
def world(tmp_path: Path, fake_github, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    checkout = make_checkout(tmp_path)
    commit_file(checkout, "train_stand_in.py", TRAINER, "stand-in trainer")
    repo = fake_github.repo(REPOSITORY)
    repo.git_dir = str(checkout.bare)
    repo.pulls[7].head_sha = checkout.head()
    started = tmp_path / "started.txt"
    monkeypatch.setenv("STARTED_FILE", str(started))  # the trainer gets it by train-env (TEST_TRAIN_ENV)
    return checkout, fake_github, repo, started


def run_env(tmp_path: Path, checkout, api_url: str, token: str = WRITE_TOKEN, **extra: str) -> dict[str, str]:  # type: ignore[no-untyped-def]
    env = actions_env(
        tmp_path,
        checkout,
        api_url,
        token,
        event=pr_event(checkout),
        inputs={"threshold": "0.75", "train-command": f"{sys.executable} train_stand_in.py"},
    )
    return {**env, "STARTED_FILE": os.environ["STARTED_FILE"], **extra}


def assert_stopped(started: Path) -> None:
    """The stand-in never finished: if it got as far as starting, its process is gone."""
    if started.exists():
        pid = int(started.read_text().split()[1])
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def test_training_runs_while_github_answers(tmp_path: Path, world, capsys) -> None:  # type: ignore[no-untyped-def]
    checkout, fake, repo, started = world
    fake.inject("slow", route="list_issue_comments", delay_s=SLOW_S)

    assert main(["run"], run_env(tmp_path, checkout, fake.api_url)) == 0

    history_asked = fake.calls("list_issue_comments")[0].at
    training_started = float(started.read_text().split()[0])
    assert training_started < history_asked + SLOW_S, "training waited for GitHub's answer"
    assert [s.state for s in repo.statuses] == ["pending", "success"]
    # The training output was held back until the training group opened: the log is not interleaved.
    log = capsys.readouterr().out.splitlines()
    group = log.index("::group::Round 1: training")
    assert log[group + 1 : group + 3] == ["stand-in: training started", "stand-in: done"]
    assert log.count("stand-in: training started") == 1


def test_duplicate_run_stops_the_training_it_started(tmp_path: Path, world, capsys) -> None:  # type: ignore[no-untyped-def]
    checkout, fake, repo, started = world
    # Round 1 already finished: its change is the commit under test (as a re-run of round 1 sees it).
    (checkout.work / "ml_task" / "model.py").write_text(
        (checkout.work / "ml_task" / "model.py").read_text() + "\n# augmented\n"
    )
    git(
        checkout.work,
        "commit",
        "-qam",
        "keras-ct: round 1: more\n\nKeras-CT-Round: 1\nKeras-CT-Accuracy: 0.8000",
    )
    git(checkout.work, "push", "-q", "origin", checkout.branch)
    repo.pulls[7].head_sha = checkout.head()

    assert main(["run"], run_env(tmp_path, checkout, fake.api_url, HANG="1")) == 0

    out = capsys.readouterr().out
    assert "round 1 already finished and committed its change" in out
    assert "stand-in: training started" not in out  # held back, then dropped with the run
    assert_stopped(started)
    assert not (checkout.work / ".keras-ct" / "round-1" / "metrics.json").exists()
    assert repo.statuses == [] and repo.comments == [] and repo.dispatches == []


def test_rerun_of_a_round_that_passed_stops_the_training_it_started(tmp_path: Path, world, capsys) -> None:  # type: ignore[no-untyped-def]
    checkout, fake, repo, started = world
    assert main(["run"], run_env(tmp_path, checkout, fake.api_url)) == 0  # round 1 passes (0.9 >= 0.75)
    before = ([(s.sha, s.state, s.description) for s in repo.statuses], [c.body for c in repo.comments])
    started.unlink()
    metrics = checkout.work / ".keras-ct" / "round-1" / "metrics.json"
    metrics.unlink()

    assert main(["run"], run_env(tmp_path, checkout, fake.api_url, HANG="1")) == 0  # the same run again

    out = capsys.readouterr().out
    assert "round 1 already finished on this commit" in out and "it passed" in out
    assert_stopped(started)
    assert not metrics.exists()  # no training completed
    assert (
        [(s.sha, s.state, s.description) for s in repo.statuses],
        [c.body for c in repo.comments],
    ) == before


def test_refused_token_stops_the_training_it_started(tmp_path: Path, world, capsys) -> None:  # type: ignore[no-untyped-def]
    checkout, fake, repo, started = world
    env = run_env(tmp_path, checkout, fake.api_url, token="ghs_" + "x" * 36, HANG="1")

    assert main(["run"], env) == 1

    out = capsys.readouterr().out
    assert "401" in out or "Bad credentials" in out
    assert "stand-in: training started" not in out
    assert_stopped(started)
    assert repo.statuses == [] and repo.comments == [] and repo.dispatches == []
