"""The round engine with in-memory edges: a publisher, a git checkout, an augmenter and a trainer that
stand in for GitHub, git, the policy and the train command. No network, no git, no training process.

The engine only carries out what ``keras_ct.round.step`` decides; these tests follow its calls to the
edges (statuses, comments, commits, pushes, dispatches) for the cases a job meets.
"""

from __future__ import annotations

import io
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import pytest
from tests.test_report import check_golden

from keras_ct.config import Config, load_config
from keras_ct.errors import AugmentError, GitError, KerasCTError, TrainingError
from keras_ct.git import ACCURACY_TRAILER, REVERT_TRAILER, ROUND_TRAILER, BranchMovedError, TrailerCommit
from keras_ct.git.notes import Note
from keras_ct.report import Verdict, render_comment
from keras_ct.round.baseline import Baseline, BaselineRun, baseline_run
from keras_ct.round.engine import Engine, RoundOutcome
from keras_ct.round.history import EpochCurves, History, RoundRecord
from keras_ct.round.publish import Dispatch
from keras_ct.round.step import RECORD_ONLY
from keras_ct.runner import Runner
from keras_ct.train.trainer import Trainer, TrainResult, TrainRun

BASE = "0" * 40
BRANCH = "improve-model"
RUN_URL = "https://github.com/acme/ml-repo/actions/runs/1002"
COMMENT_URL = "https://github.com/acme/ml-repo/pull/7#issuecomment-1"
NO_BASELINE = BaselineRun()
MODEL = "def build_model():\n    return None\n"


@dataclass
class MemoryPublisher:
    """The pull request as the engine sees it: the comment's history, statuses, dispatches."""

    history: History = ()
    writable: bool = True
    why: str = ""
    dispatch_error: KerasCTError | None = None
    statuses: list[tuple[str, str]] = field(default_factory=list)
    #: The statuses sent to another commit than the trained one (the head keras-ct pushed).
    elsewhere: list[tuple[str, str, str]] = field(default_factory=list)
    comments: list[tuple[History, Verdict, str]] = field(default_factory=list)
    dispatches: list[tuple[int, str]] = field(default_factory=list)
    #: The base branch's model each comment was rendered with.
    bases: list[Baseline | None] = field(default_factory=list)

    def load_history(self) -> History:
        return self.history

    def set_status(self, state: str, description: str, sha: str = "") -> None:
        if sha:
            self.elsewhere.append((sha, state, description))
        else:
            self.statuses.append((state, description))

    def publish(
        self, records: Sequence[RoundRecord], verdict: Verdict, *, diff: str = "", notes: Sequence[str] = ()
    ) -> str:
        self.history = tuple(records)
        self.comments.append((self.history, verdict, diff))
        self.bases.append(verdict.base)
        return COMMENT_URL

    def dispatch(self, next_round: int, ref: str) -> Dispatch:
        if self.dispatch_error is not None:
            raise self.dispatch_error
        self.dispatches.append((next_round, ref))
        return Dispatch(next_round, RUN_URL)


@dataclass(frozen=True)
class Commit:
    sha: str
    paths: tuple[Path, ...]
    message: str
    trailers: Mapping[str, str]


@dataclass
class MemoryGit:
    """A checkout whose commits live in a list; ``remote`` is the pull request branch's SHA."""

    commits: list[Commit] = field(default_factory=list)
    remote: str = BASE
    pushes: list[tuple[str, str]] = field(default_factory=list)
    push_error: GitError | None = None
    #: Each commit's files (BASE's: the model as the fixture wrote it).
    trees: dict[str, dict[Path, bytes]] = field(default_factory=dict)
    #: A checkout of an older commit (a re-run checks out the event's SHA again).
    checked_out: str = ""

    def head(self) -> str:
        return self.checked_out or (self.commits[-1].sha if self.commits else BASE)

    def ensure_clean(self, paths: Sequence[Path]) -> None:
        return None

    def commit(self, paths: Sequence[Path], message: str, trailers: Mapping[str, str]) -> str:
        sha = f"{len(self.commits) + 1:040x}"
        self.trees[sha] = {**self.trees[self.head()], **{path: path.read_bytes() for path in paths}}
        self.commits.append(Commit(sha, tuple(paths), message, dict(trailers)))
        return sha

    def restore(self, sha: str, paths: Sequence[Path]) -> None:
        for path in paths:
            if path in self.trees[sha]:
                path.write_bytes(self.trees[sha][path])

    def push(self, branch: str, expected_remote_sha: str) -> None:
        if self.push_error is not None:
            raise self.push_error
        assert expected_remote_sha == self.remote
        self.pushes.append((branch, self.head()))
        self.remote = self.head()

    def round_trailers(self) -> dict[int, str]:
        return {int(c.trailers[ROUND_TRAILER]): c.sha for c in self.commits}

    def trailer_commits(self) -> list[TrailerCommit]:
        return [
            TrailerCommit(c.sha, int(c.trailers[ROUND_TRAILER]), float(c.trailers[ACCURACY_TRAILER]), "")
            for c in reversed(self.commits)
        ]


@dataclass
class FakeTraining:
    run: TrainRun
    started: float = 0.0

    def wait(self) -> TrainResult:
        return TrainResult(duration_s=1.5, log_path=self.run.log_path, output_bytes=0)

    def cancel(self) -> None:
        return None


class ScoringTrainer(Trainer):
    """Each run writes the metrics file the train command would: ``scores`` by round (None: it fails)."""

    def __init__(self, scores: Mapping[int, float | None]) -> None:
        self.scores = scores
        self.rounds: list[int] = []

    def start(self, run: TrainRun, runner: Runner) -> FakeTraining:  # type: ignore[override]
        n = int(run.env["KERAS_CT_ROUND"])
        self.rounds.append(n)
        score = self.scores[n]
        if score is None:
            raise TrainingError("the train command exited with status 1")
        Path(run.env["KERAS_CT_METRICS_FILE"]).write_text(
            json.dumps({"schema_version": 1, "accuracy": score, "epochs": 2, "params": 1000})
        )
        return FakeTraining(run)


@dataclass(frozen=True)
class Augmented:
    path: Path
    change: str
    rationale: str
    description: str
    diff: str
    candidates: tuple[tuple[str, float | None], ...] = ()  # AugmentResult's (candidates above 1)


@dataclass
class Augmenter:
    """Adds a line to the model file per round; ``error`` makes it fail after writing."""

    error: KerasCTError | None = None
    calls: list[int] = field(default_factory=list)

    def __call__(self, cfg: Config, records: Sequence[RoundRecord]) -> Augmented:
        self.calls.append(records[-1].round)
        cfg.model_path.write_text(cfg.model_path.read_text() + f"# round {records[-1].round}\n")
        if self.error is not None:
            raise self.error
        return Augmented(
            cfg.model_path, "conv-block", "underfitting", "add a conv block", "+# a conv block\n"
        )


@dataclass
class World:
    tmp: Path
    publisher: MemoryPublisher = field(default_factory=MemoryPublisher)
    git: MemoryGit = field(default_factory=MemoryGit)
    augmenter: Augmenter = field(default_factory=Augmenter)

    @property
    def model(self) -> Path:
        return self.tmp / "ml_task" / "model.py"

    def run(
        self,
        scores: Mapping[int, float | None],
        local: bool = False,
        baseline: BaselineRun = NO_BASELINE,
        event_name: str = "",
        **inputs: str,
    ) -> tuple[RoundOutcome, ScoringTrainer]:
        flags = {"working-directory": str(self.tmp), "train-command": "python train.py", "threshold": "0.85"}
        cfg = load_config({**flags, "max-rounds": "3", **inputs}, {}, cwd=self.tmp)
        cfg = replace(cfg, github=replace(cfg.github, event_name=event_name))
        trainer = ScoringTrainer(scores)
        engine = Engine(
            cfg=cfg,
            runner=Runner(out=io.StringIO(), err=io.StringIO()),
            environ={},
            publisher=self.publisher,
            augmenter=self.augmenter,
            git=self.git,
            head_branch=BRANCH,
            head_sha=self.git.remote,  # the pull request's head, as the event says
            trainer=trainer,
            local=local,
            baseline=baseline,
        )
        return engine.run(), trainer


@pytest.fixture
def world(tmp_path: Path) -> World:
    (tmp_path / "ml_task").mkdir()
    (tmp_path / "ml_task" / "model.py").write_text(MODEL)
    made = World(tmp_path)
    made.git.trees[BASE] = {made.model: MODEL.encode()}
    return made


def training(n: int) -> tuple[str, str]:
    return ("pending", f"Round {n} of 3: training")


def test_a_pass_reports_success_and_changes_nothing(world: World) -> None:
    outcome, _ = world.run({1: 0.9})

    assert outcome.verdict == Verdict("passed") and outcome.next_round is None and not outcome.dispatched
    assert world.publisher.statuses == [training(1), ("success", "accuracy 0.9000 ≥ 0.85 at round 1")]
    assert [verdict for _, verdict, _ in world.publisher.comments] == [Verdict("passed")]
    assert outcome.comment_url == COMMENT_URL
    assert world.git.commits == [] and world.git.pushes == [] and world.publisher.dispatches == []
    assert world.augmenter.calls == [] and world.model.read_text() == MODEL


def test_a_miss_commits_pushes_and_dispatches(world: World) -> None:
    outcome, _ = world.run({1: 0.8})

    [commit] = world.git.commits
    assert commit.paths == (world.model,) and commit.trailers == {
        ROUND_TRAILER: "1",
        ACCURACY_TRAILER: "0.8000",
    }
    assert commit.message.startswith("keras-ct: round 1: add a conv block\n\nRound 1 reached accuracy 0.8000")
    assert world.git.pushes == [(BRANCH, commit.sha)]
    assert world.publisher.dispatches == [(2, BRANCH)]
    assert world.publisher.statuses == [
        training(1),
        ("pending", "round 1: 0.8000 < 0.85; round 2 dispatched"),
    ]
    # The pushed head, the pull request's new head, is pending at once (not only when round 2 starts).
    assert world.publisher.elsewhere == [(commit.sha, "pending", "Round 2 of 3: queued")]
    records, verdict, diff = world.publisher.comments[-1]
    assert verdict == Verdict("next", next_run_url=RUN_URL) and diff == "+# a conv block\n"
    assert records[-1].next_commit == commit.sha and records[-1].next_change == "conv-block"
    assert (outcome.next_round, outcome.dispatched) == (2, True)


def test_rounds_per_job_2_commits_both_rounds_then_pushes_once_and_dispatches(world: World) -> None:
    outcome, trainer = world.run({1: 0.8, 2: 0.8}, **{"rounds-per-job": "2"})

    assert trainer.rounds == [1, 2]
    first, second = world.git.commits
    assert [c.trailers[ROUND_TRAILER] for c in (first, second)] == ["1", "2"]
    assert world.git.pushes == [(BRANCH, second.sha)]
    assert world.publisher.dispatches == [(3, BRANCH)]
    # No status between the rounds: round 2's pending follows round 1 at once.
    assert world.publisher.statuses == [
        training(1),
        training(2),
        ("pending", "round 2: 0.8000 < 0.85; round 3 dispatched"),
    ]
    assert [v.state for _, v, _ in world.publisher.comments] == ["next", "next"]
    assert (outcome.next_round, outcome.dispatched) == (3, True)


def test_rounds_per_job_2_a_miss_then_a_pass_pushes_the_commit_that_passed(world: World) -> None:
    """The bug: round 1's change was committed here and round 2 passed with it; the branch must get it."""
    outcome, trainer = world.run({1: 0.8, 2: 0.9}, **{"rounds-per-job": "2"})

    assert trainer.rounds == [1, 2]
    [commit] = world.git.commits
    assert world.git.pushes == [(BRANCH, commit.sha)] and world.git.remote == commit.sha
    assert world.publisher.dispatches == []
    assert world.publisher.statuses[-1] == ("success", "accuracy 0.9000 ≥ 0.85 at round 2")
    # The success lands on the pushed head too: it is the pull request's head now.
    assert world.publisher.elsewhere == [(commit.sha, "success", "accuracy 0.9000 ≥ 0.85 at round 2")]
    assert outcome.verdict == Verdict("passed") and outcome.next_round is None and not outcome.dispatched


def test_rounds_per_job_2_a_miss_then_a_pass_whose_push_fails_says_so(world: World) -> None:
    world.git.push_error = BranchMovedError("the branch moved", branch=BRANCH, expected=BASE, actual="f" * 40)

    with pytest.raises(BranchMovedError):
        world.run({1: 0.8, 2: 0.9}, **{"rounds-per-job": "2"})

    assert world.publisher.statuses[-1] == ("failure", "accuracy 0.9000 ≥ 0.85 at round 2")
    records, verdict, _ = world.publisher.comments[-1]
    assert verdict == Verdict("passed", "Not pushed: the branch moved")
    assert [r.next_commit for r in records] == ["", ""]  # no record claims a commit the branch lacks


def test_a_training_error_commits_nothing(world: World) -> None:
    with pytest.raises(TrainingError):
        world.run({1: None})

    assert world.publisher.statuses == [
        training(1),
        ("failure", "round 1 failed: the train command exited with status 1"),
    ]
    assert [v for _, v, _ in world.publisher.comments] == [Verdict("error")]
    assert world.git.commits == [] and world.git.pushes == [] and world.publisher.dispatches == []


def test_an_augmenting_error_puts_the_model_back_and_commits_nothing(world: World) -> None:
    world.augmenter.error = AugmentError("no change fits this model")

    with pytest.raises(AugmentError):
        world.run({1: 0.8})

    assert world.model.read_text() == MODEL
    assert world.publisher.statuses[-1] == ("failure", "round 1 failed: no change fits this model")
    assert world.git.commits == [] and world.git.pushes == [] and world.publisher.dispatches == []


def test_an_error_after_a_commit_of_this_job_pushes_nothing(world: World) -> None:
    with pytest.raises(TrainingError):
        world.run({1: 0.8, 2: None}, **{"rounds-per-job": "2"})

    assert len(world.git.commits) == 1 and world.git.pushes == [] and world.publisher.dispatches == []
    assert world.publisher.statuses[-1][0] == "failure"


def test_a_push_that_fails_dispatches_nothing_and_fails_the_status(world: World) -> None:
    world.git.push_error = BranchMovedError("the branch moved", branch=BRANCH, expected=BASE, actual="f" * 40)

    with pytest.raises(BranchMovedError):
        world.run({1: 0.8})

    assert world.publisher.dispatches == []
    assert world.publisher.statuses[-1] == ("failure", "round 1: 0.8000 < 0.85; loop stopped")
    records, verdict, _ = world.publisher.comments[-1]
    assert verdict == Verdict("stopped", "Not pushed, nothing dispatched: the branch moved")
    assert records[-1].next_commit == ""


def test_a_dispatch_that_fails_after_the_push_fails_the_status(world: World) -> None:
    world.publisher.dispatch_error = KerasCTError("HTTP 503")

    with pytest.raises(KerasCTError):
        world.run({1: 0.8})

    assert len(world.git.pushes) == 1
    assert world.publisher.statuses[-1] == ("failure", "round 1: 0.8000 < 0.85; loop stopped")
    assert world.publisher.comments[-1][1] == Verdict(
        "stopped", "Pushed, but the next round could not be dispatched: HTTP 503"
    )


def test_dispatch_off_pushes_and_leaves_the_status_pending(world: World) -> None:
    outcome, _ = world.run({1: 0.8}, dispatch="false")

    assert len(world.git.pushes) == 1 and world.publisher.dispatches == []
    assert world.publisher.statuses[-1] == ("pending", "round 1: 0.8000 < 0.85; loop stopped")
    assert (outcome.next_round, outcome.dispatched) == (2, False)


def test_a_read_only_publisher_changes_nothing(world: World) -> None:
    world.publisher.writable = False
    world.publisher.why = "the pull request comes from a fork"

    outcome, _ = world.run({1: 0.8})

    assert outcome.verdict == Verdict("stopped", "No change was made.")
    assert world.augmenter.calls == [] and world.git.commits == [] and world.git.pushes == []
    assert world.publisher.statuses[-1] == ("failure", "round 1: 0.8000 < 0.85; loop stopped")


def test_a_duplicate_run_does_nothing(world: World) -> None:
    world.run({1: 0.8})
    before = (list(world.publisher.statuses), list(world.publisher.comments), list(world.git.commits))

    outcome, trainer = world.run({1: 0.8})  # the same dispatch again: HEAD is round 1's commit

    assert outcome.verdict.state == "stopped" and "this run is a duplicate" in outcome.verdict.message
    assert trainer.rounds == []
    assert (world.publisher.statuses, world.publisher.comments, world.git.commits) == before
    assert len(world.git.pushes) == 1 and len(world.publisher.dispatches) == 1


def test_a_rerun_of_a_round_that_passed_does_nothing(world: World) -> None:
    world.run({1: 0.9})
    before = (list(world.publisher.statuses), list(world.publisher.comments))

    outcome, trainer = world.run({1: 0.9})  # re-run: the same code, round 1 already passed on it

    assert outcome.verdict.message == (
        f"round 1 already finished on this commit ({BASE[:7]}): it passed; this run is a duplicate and does nothing"
    )
    assert trainer.rounds == [] and (world.publisher.statuses, world.publisher.comments) == before


def test_a_rerun_of_the_trained_commit_after_the_loop_moved_on_does_nothing(world: World) -> None:
    world.run({1: 0.8})
    world.git.checked_out = BASE  # a re-run checks out the event's head SHA, the code round 1 trained
    before = (list(world.publisher.statuses), list(world.publisher.comments), list(world.git.commits))

    outcome, trainer = world.run({1: 0.8})

    assert "it passed" not in outcome.verdict.message and "the loop moved on" in outcome.verdict.message
    assert trainer.rounds == [] and world.augmenter.calls == [1]
    assert (world.publisher.statuses, world.publisher.comments, world.git.commits) == before


# -- keep the best ---------------------------------------------------------------------------------


def test_a_round_worse_than_the_best_is_reverted_before_the_next_change(world: World) -> None:
    outcome, _ = world.run({1: 0.8, 2: 0.7}, **{"rounds-per-job": "2"})

    change, revert, after = world.git.commits
    assert [c.trailers for c in (change, revert, after)] == [
        {ROUND_TRAILER: "1", ACCURACY_TRAILER: "0.8000"},
        {ROUND_TRAILER: "2", ACCURACY_TRAILER: "0.7000", REVERT_TRAILER: "1"},
        {ROUND_TRAILER: "2", ACCURACY_TRAILER: "0.7000"},
    ]
    assert revert.message.startswith("keras-ct: round 2: revert to round 1, the best\n")
    assert world.git.trees[revert.sha][world.model] == MODEL.encode()  # round 1's model is back
    assert world.model.read_text() == MODEL + "# round 2\n"  # and round 2's change is made on it
    assert world.git.pushes == [(BRANCH, after.sha)] and world.publisher.dispatches == [(3, BRANCH)]
    record = outcome.records[-1]
    assert (record.reverted_to, record.revert_commit, record.next_commit) == (1, revert.sha, after.sha)


def test_a_last_round_worse_than_the_best_leaves_the_best_on_the_branch(world: World) -> None:
    outcome, _ = world.run({1: 0.8, 2: 0.7}, **{"rounds-per-job": "2", "max-rounds": "2"})

    _, revert = world.git.commits
    assert revert.trailers[REVERT_TRAILER] == "1" and world.model.read_text() == MODEL
    assert world.git.pushes == [(BRANCH, revert.sha)] and world.publisher.dispatches == []
    assert outcome.verdict == Verdict("exhausted", "Round 1's model, the best (0.8000), is put back.")
    assert world.publisher.statuses[-1] == ("failure", "0.7000 < 0.85 after 2 rounds")


def test_the_best_round_of_an_earlier_job_comes_back_from_its_commit(world: World) -> None:
    world.run({1: 0.8})  # job 1: round 1 trained BASE, its change is pushed

    outcome, _ = world.run({2: 0.7}, round="2")

    revert, after = world.git.commits[1:]
    assert world.git.trees[revert.sha][world.model] == MODEL.encode()
    assert outcome.records[-1].reverted_to == 1 and after.trailers == {
        ROUND_TRAILER: "2",
        ACCURACY_TRAILER: "0.7000",
    }


def test_keras_ct_loop_without_commits_puts_the_best_files_back(world: World) -> None:
    outcome, trainer = world.run({1: 0.8, 2: 0.7, 3: 0.75}, local=True, commit="false")

    assert trainer.rounds == [1, 2, 3] and world.git.commits == []
    # Round 2 fell below round 1: round 1's file came back, then round 2's change went on it; round 3
    # (0.75) is below round 1 too, so the loop ends on round 1's model.
    assert world.model.read_text() == MODEL
    assert [r.reverted_to for r in outcome.records] == [None, 1, 1]
    assert outcome.verdict == Verdict("exhausted", "Round 1's model, the best (0.8000), is put back.")


def test_the_comment_of_a_loop_that_kept_the_best(world: World) -> None:
    """The golden comment comes from the engine's own output: three rounds, two reverted."""
    world.run({1: 0.8, 2: 0.7, 3: 0.75}, **{"rounds-per-job": "3"})

    records, verdict, diff = world.publisher.comments[-1]
    assert world.model.read_text() == MODEL and world.git.pushes == [(BRANCH, world.git.head())]
    check_golden("comment-kept-best.md", render_comment(records, verdict, diff=diff))


def test_a_push_that_restarts_the_loop_keeps_the_earlier_loop_collapsed(world: World) -> None:
    world.run({1: 0.8})  # round 1 missed; its change is pushed and round 2 dispatched
    world.git.checked_out = "9" * 40  # then the author pushes new code: the event runs round 1 on it

    outcome, trainer = world.run({1: 0.9})

    assert trainer.rounds == [1] and outcome.verdict == Verdict("passed")
    records, verdict, diff = world.publisher.comments[-1]
    earlier, current = records[:1], records[1:]
    assert [(r.round, r.restart) for r in records] == [(1, 0), (1, 1)]
    assert (
        earlier[0].stopped
        == "round 2 was on its way; then a push (9999999) started the loop again at round 1"
    )
    assert current[0].commit == "9" * 40 and outcome.records == current  # the policy sees this loop only
    body = render_comment(records, verdict, diff=diff)
    assert "<details><summary>Earlier loop 1, rounds 1–1: round 2 was on its way; then a push" in body
    check_golden("comment-restarted.md", body)


@pytest.mark.parametrize("failed", ["conv-block", "dense", "dropout", "epochs"])
def test_after_a_revert_the_policy_tries_another_change_first(failed: str) -> None:
    """The history records the change a revert undid (the reverted round's ``change``): the policy
    (``augment.policy.decide``) puts it last, so the next candidate is another change."""
    from keras_ct.augment.policy import decide

    curves = EpochCurves(accuracy=(0.6, 0.7, 0.72), val_accuracy=(0.6, 0.69, 0.7))
    best = RoundRecord(1, 0.8, 0.85, "missed", curves=curves, next_change=failed)
    worse = RoundRecord(2, 0.7, 0.85, "missed", curves=curves, change=failed, reverted_to=1)

    order = [d.change for d in decide((best, worse))]

    assert order[0] != failed and order[-1] == failed


@dataclass
class MemoryNotes:
    """keras-ct's notes as the baseline sees them: what was written and pushed."""

    written: list[tuple[str, Note]] = field(default_factory=list)
    pushes: int = 0

    def fetch(self) -> bool:
        return True

    def annotated(self) -> frozenset[str]:
        return frozenset(sha for sha, _ in self.written)

    def read(self, sha: str) -> Note | None:
        return next((note for written, note in reversed(self.written) if written == sha), None)

    def write(self, sha: str, note: Note) -> None:
        self.written.append((sha, note))

    def push(self) -> None:
        self.pushes += 1

    def merge_base(self, branch: str) -> str:
        return MAIN_SHA

    def ancestors(self, sha: str, limit: int) -> Sequence[str]:
        return (sha,)


MAIN_SHA = "3" * 40


def test_a_round_records_its_metric_and_the_comment_shows_the_base(world: World) -> None:
    notes = MemoryNotes([(MAIN_SHA, Note("accuracy", 0.95, 1, "main"))])
    baseline = baseline_run(notes, branch=BRANCH, base_branch="main", metric="accuracy")
    assert baseline.base == Baseline("main", MAIN_SHA, 0.95)

    world.run({1: 0.8}, baseline=baseline)

    assert notes.written[-1] == (BASE, Note("accuracy", 0.8, 1, BRANCH)) and notes.pushes == 1
    assert world.publisher.bases == [baseline.base]
    assert world.publisher.statuses[-1] == ("pending", "round 1: 0.8000 < 0.85; round 2 dispatched")


def test_max_regression_fails_a_round_above_the_threshold(world: World) -> None:
    notes = MemoryNotes([(MAIN_SHA, Note("accuracy", 0.95, 1, "main"))])
    baseline = baseline_run(notes, branch=BRANCH, base_branch="main", metric="accuracy")

    outcome, _ = world.run({1: 0.9}, baseline=baseline, **{"max-regression": "0.01"})

    why = "the best model (round 1, 0.9000 < 0.94) is more than max-regression 0.01 below main's 0.9500 (3333333)"
    assert world.publisher.statuses[-1] == ("failure", why)
    assert outcome.verdict == Verdict("stopped", f"The threshold is met, but {why}.")
    assert world.git.commits == [] and world.publisher.dispatches == []


def test_a_push_run_records_and_sends_a_status_but_changes_nothing(world: World) -> None:
    notes = MemoryNotes()
    outcome, _ = world.run(
        {1: 0.8},
        baseline=baseline_run(notes, branch="main", base_branch="", metric="accuracy"),
        event_name="push",
    )

    assert notes.written == [(BASE, Note("accuracy", 0.8, 1, "main"))] and notes.pushes == 1
    assert world.publisher.statuses == [training(1), ("failure", "round 1: 0.8000 < 0.85; loop stopped")]
    assert outcome.verdict == Verdict("stopped", RECORD_ONLY)
    assert world.git.commits == [] and world.git.pushes == [] and world.publisher.dispatches == []
    assert world.augmenter.calls == [] and world.model.read_text() == MODEL


def test_a_round_that_failed_records_nothing(world: World) -> None:
    notes = MemoryNotes()
    baseline = baseline_run(notes, branch=BRANCH, base_branch="", metric="accuracy")
    with pytest.raises(KerasCTError):
        world.run({1: None}, baseline=baseline)
    assert notes.written == [] and notes.pushes == 0
