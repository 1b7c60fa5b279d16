"""One continuous-training round, and the rounds that follow it in the same process.

A round: check the model file, train (retrying a crash once, resuming from the checkpoint), read
and validate the metrics, judge against the threshold. When the threshold is missed and rounds
remain: augment the model (the policy picks the change, the build is proven first), commit it,
then either go on in this process (``keras-ct loop``, ``rounds-per-job``) or push and dispatch the
next round. Every outcome is published: status, sticky comment, job summary, outputs.

Nothing is committed, pushed or dispatched after an error, and the model file is restored. An
interrupt (Ctrl-C, SIGTERM) leaves each step done or undone, never half done, and one line says
which and what the next run does (``keras_ct.round.interrupts``).
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, TypedDict

from keras_ct.config import Config
from keras_ct.errors import GitError, KerasCTError, TrainingError
from keras_ct.git import BranchMovedError, TrailerCommit
from keras_ct.report import Links, Verdict, render_report, render_terminal
from keras_ct.round import history as hist
from keras_ct.round.history import RoundRecord
from keras_ct.round.interrupts import (
    Interrupted,
    KerasCTInterrupted,
    deferred_signals,
    interrupted_note,
    put_back,
)
from keras_ct.round.publish import Publisher
from keras_ct.runner import Runner
from keras_ct.train.launch import (
    announce_resume,
    check_model_file,
    forget_metrics,
    train_run,
    warm_start_store,
)
from keras_ct.train.metrics import Metrics, meets, read_metrics
from keras_ct.train.trainer import Trainer, Training

if TYPE_CHECKING:  # the augmenter imports libcst: only the engine's callers load it
    from keras_ct.augment import AugmentResult

BOT_NAME = "github-actions[bot]"
BOT_EMAIL = "41898282+github-actions[bot]@users.noreply.github.com"


class Git(Protocol):
    """The git edge the round needs (``keras_ct.git`` implements it)."""

    def head(self) -> str: ...

    def ensure_clean(self, paths: Sequence[Path]) -> None: ...

    def commit(self, paths: Sequence[Path], message: str, trailers: Mapping[str, str]) -> str: ...

    def push(self, branch: str, expected_remote_sha: str) -> None: ...

    def round_trailers(self) -> dict[int, str]: ...

    def trailer_commits(self) -> list[TrailerCommit]: ...


class Augmenter(Protocol):
    """Changes the model after a missed round (``keras_ct.orchestrate.augment_model``) and says how."""

    def __call__(self, cfg: Config, records: Sequence[RoundRecord], /) -> AugmentResult: ...


class RoundPaths(TypedDict):
    """Where a finished round left its metrics file and trained model."""

    metrics_path: Path
    model_path: Path


@dataclass(frozen=True)
class RoundOutcome:
    records: tuple[RoundRecord, ...]
    verdict: Verdict
    metrics_path: Path | None = None
    model_path: Path | None = None
    next_round: int | None = None
    dispatched: bool = False
    comment_url: str = ""
    diff: str = ""

    @property
    def last(self) -> RoundRecord | None:
        return self.records[-1] if self.records else None


# -- training -------------------------------------------------------------------------------------


def train(
    cfg: Config,
    runner: Runner,
    environ: Mapping[str, str],
    round_number: int,
    *,
    trainer: Trainer,
    started: Training | None = None,
) -> tuple[Metrics, float]:
    """Run the train command, retrying a crash ``train-retries`` times (resuming); return metrics, seconds.

    ``trainer``: how runs start; ``started``: the first attempt, already running (``start_early``).
    """
    metrics_path = cfg.metrics_path(round_number)
    if started is None:
        forget_metrics(cfg, round_number)
        run = train_run(cfg, environ, round_number)
    else:
        run = started.run
    attempts = 1 + cfg.train_retries
    total = 0.0
    for attempt in range(1, attempts + 1):
        title = f"Round {round_number}: training" + (
            f" (attempt {attempt} of {attempts}, resuming)" if attempt > 1 else ""
        )
        with runner.group(title):
            training, started = started, None
            try:
                if training is None:
                    announce_resume(cfg, runner, round_number)
                    training = trainer.start(run, runner)
                result = training.wait()
                total += result.duration_s
                break
            except TrainingError as exc:
                total += time.monotonic() - training.started if training is not None else 0.0
                if not exc.retryable or attempt == attempts:
                    raise
                runner.warning(
                    f"training crashed ({exc.message.splitlines()[0]}); retrying from the last checkpoint"
                )
    metrics = read_metrics(metrics_path, cfg.metric)
    model = cfg.round_dir(round_number) / "model.keras"
    if model.is_file():
        store = warm_start_store(cfg)
        store.mkdir(parents=True, exist_ok=True)
        shutil.copy2(model, store / f"round-{round_number}.keras")
    return metrics, total


# -- the round engine -----------------------------------------------------------------------------


def commit_message(
    record: RoundRecord, change: str, description: str, rationale: str
) -> tuple[str, dict[str, str]]:
    subject = f"keras-ct: round {record.round + 1}: {description or change}"
    body = (
        f"Round {record.round} reached {record.metric} {record.accuracy:.4f}, below the threshold "
        f"{record.threshold:g}.\n\n{rationale}"
    )
    trailers = {"Keras-CT-Round": str(record.round), "Keras-CT-Accuracy": f"{record.accuracy:.4f}"}
    return f"{subject}\n\n{body}\n", trailers


@dataclass
class Engine:
    cfg: Config
    runner: Runner
    environ: Mapping[str, str]
    publisher: Publisher
    augmenter: Augmenter
    git: Git | None = None
    #: local: the loop goes on in this process up to max-rounds (``keras-ct loop``); otherwise the
    #: job runs ``rounds-per-job`` rounds and dispatches the next.
    local: bool = False
    head_branch: str = ""
    head_sha: str = ""
    links: Links = field(default_factory=Links)
    notes: list[str] = field(default_factory=list)
    #: The first round's training, started before the engine (``start_early``); cancelled if unused.
    early: Training | None = None
    #: How each round's training starts (a reused process for a job of several rounds).
    trainer: Trainer = field(default_factory=Trainer)
    #: The history as this run last saw it in the comment (loaded, or published by this run).
    _seen: tuple[RoundRecord, ...] = field(default=(), init=False, repr=False)
    #: Set when a newer run owns the loop: this one no longer writes the comment.
    _superseded: bool = field(default=False, init=False, repr=False)
    #: Where the current round is, for the line an interrupt prints (``keras_ct.round.interrupts``).
    _at: Interrupted = field(default_factory=lambda: Interrupted(0, "training"), init=False, repr=False)

    def run(self) -> RoundOutcome:
        try:
            return self._run()
        except KeyboardInterrupt as exc:  # and keras-ct's SIGTERM/SIGHUP, which subclass it
            if self._at.round:
                note = interrupted_note(self._at)
                if isinstance(exc, KerasCTInterrupted):
                    exc.note = note  # the entry point's one line says it (interrupts.describe)
                else:
                    self.runner.warning(note)
            raise
        finally:
            if self.early is not None:  # a duplicate run, or an error before the round trained
                self.early.cancel()
                self.early = None
            self.trainer.close()

    def _run(self) -> RoundOutcome:
        cfg = self.cfg
        records = tuple(self.publisher.load_history())
        self._seen = records
        if self.local:
            stop, records = self._continue_from_head(records)
            if stop is not None:
                return stop
            cfg = self.cfg
        else:
            guard = self._already_done(records)
            if guard is not None:
                return guard
        last_in_job = cfg.last_round(local=self.local)
        round_number = cfg.round
        diff = ""
        while True:
            outcome = self._one_round(records, round_number, last_in_job, diff)
            records, diff = outcome.records, outcome.diff
            if outcome.next_round is None or outcome.dispatched or outcome.verdict.state != "next":
                return outcome
            if round_number >= last_in_job:
                return outcome
            round_number += 1

    # A duplicate dispatch, or a re-run of a round that already moved on, must not act twice.
    def _already_done(self, records: Sequence[RoundRecord]) -> RoundOutcome | None:
        done = next((r for r in records if r.round == self.cfg.round and r.next_commit), None)
        trailers: dict[int, str] = {}
        if self.git is not None:
            trailers = self.git.round_trailers()
            if self.git.head() not in trailers.values():
                # HEAD is not keras-ct's own commit: someone pushed since, and this run trains that code.
                return None
        if done is None and self.cfg.round not in trailers:
            return None
        sha = done.next_commit if done else trailers[self.cfg.round]
        message = (
            f"round {self.cfg.round} already finished and committed its change ({sha[:7]}); "
            "this run is a duplicate and does nothing"
        )
        self.runner.notice(message)
        verdict = Verdict("stopped", message)
        return RoundOutcome(records=tuple(records), verdict=verdict)

    def _continue_from_head(
        self, records: tuple[RoundRecord, ...]
    ) -> tuple[RoundOutcome | None, tuple[RoundRecord, ...]]:
        """``keras-ct loop --commit`` where HEAD is the change keras-ct committed after round N (a loop
        that stopped or was interrupted there): go on at round N + 1 and say so, not round 1 again.

        Only when the round was not chosen (``--round``). The history comes from the trailers.
        """
        cfg = self.cfg
        source = cfg.sources.get("round")
        if self.git is None or not cfg.commit or (source is not None and source.kind != "default"):
            return None, records
        head = self.git.head()
        newest: dict[int, TrailerCommit] = {}
        for commit in self.git.trailer_commits():
            newest.setdefault(commit.round, commit)
        done = next((c.round for c in newest.values() if c.sha == head), None)
        if done is None:
            return None, records
        if done >= cfg.max_rounds:
            message = (
                f"HEAD ({head[:7]}) is the change keras-ct committed after round {done}, and max-rounds is "
                f"{cfg.max_rounds}: raise --max-rounds to go on, or pass --round 1 to start a new loop here"
            )
            self.runner.notice(message)
            return RoundOutcome(records=records, verdict=Verdict("stopped", message)), records
        self.runner.notice(
            f"continuing at round {done + 1}: HEAD ({head[:7]}) is the change keras-ct committed after "
            f"round {done}; pass --round 1 to start a new loop on this code"
        )
        rebuilt = tuple(
            RoundRecord(
                round=c.round,
                accuracy=c.accuracy,
                threshold=cfg.threshold,
                status="missed",
                metric=cfg.metric,
                next_commit=c.sha,
            )
            for c in sorted(newest.values(), key=lambda c: c.round)
            if c.round <= done
        )
        self.cfg = replace(cfg, round=done + 1)
        return None, rebuilt

    def _one_round(
        self, records: tuple[RoundRecord, ...], n: int, last_in_job: int, prev_diff: str
    ) -> RoundOutcome:
        cfg = replace(self.cfg, round=n)
        committing = self.git is not None and cfg.commit
        self._at = Interrupted(
            round=n,
            phase="training",
            edited=tuple(_shown(cfg, p) for p in cfg.editable_files()),
            local=self.local,
            committing=committing,
            branch=self.head_branch,
            job_first=self.cfg.round,
            after_commit=self.local
            and committing
            and any(r.next_commit for r in records if r.round == n - 1),
            earlier_edits=self.local
            and not committing
            and any(r.next_change for r in records if r.round < n),
        )
        previous = next((r for r in reversed(records) if r.round < n), None)
        change = previous.next_change if previous else ""
        rationale = previous.next_rationale if previous else ""
        commit = self.git.head() if self.git is not None else self.head_sha
        self.publisher.set_status("pending", f"Round {n} of {cfg.max_rounds}: training")
        base = RoundRecord(
            round=n,
            accuracy=None,
            threshold=cfg.threshold,
            status="error",
            metric=cfg.metric,
            commit=commit,
            change=change,
            rationale=rationale,
            run_url=cfg.github.run_url,
        )
        try:
            check_model_file(cfg)
            started, self.early = (self.early, None) if n == self.cfg.round else (None, self.early)
            metrics, seconds = train(cfg, self.runner, self.environ, n, started=started, trainer=self.trainer)
        except KerasCTError as exc:
            self._fail(hist.upsert(records, replace(base, error=exc.message.splitlines()[0])), prev_diff)
            raise
        record = replace(
            base,
            accuracy=metrics.value,
            status="passed" if meets(metrics.value, cfg.threshold) else "missed",
            params=metrics.params,
            epochs=metrics.epochs,
            duration_s=metrics.duration_s if metrics.duration_s is not None else round(seconds, 2),
            curves=metrics.curves,
        )
        records = hist.upsert(records, record)
        paths = RoundPaths(metrics_path=cfg.metrics_path(n), model_path=cfg.round_dir(n) / "model.keras")
        self._at = replace(self._at, phase="reporting")
        if record.passed:
            return self._finish(records, Verdict("passed"), "success", prev_diff, **paths)
        if n >= cfg.max_rounds:
            return self._finish(records, Verdict("exhausted"), "failure", prev_diff, **paths)
        return self._advance(cfg, records, record, last_in_job, paths)

    def _advance(
        self,
        cfg: Config,
        records: tuple[RoundRecord, ...],
        record: RoundRecord,
        last_in_job: int,
        paths: RoundPaths,
    ) -> RoundOutcome:
        n = record.round
        if not self.local and not self.publisher.writable:
            # A fork PR or a read-only token: no change is committed, pushed or dispatched.
            verdict = Verdict("stopped", "No change was made.")
            return self._finish(records, verdict, "failure", "", **paths)
        editable = cfg.editable_files()
        originals = {path: path.read_bytes() for path in editable}
        committing = self.git is not None and cfg.commit
        head = self.git.head() if self.git is not None and committing else ""
        try:
            if self.git is not None and cfg.commit:
                self.git.ensure_clean([cfg.model_path])  # and every tracked file: no uncommitted changes
            self._at = replace(self._at, phase="augmenting")
            with self.runner.group(f"Round {n}: augmenting {cfg.model_file}"):
                result = self.augmenter(cfg, records)
                self.runner.info(result.diff)
            record = record.with_next(result.change, result.rationale)
            records = hist.upsert(records, record)
            sha = ""
            if self.git is not None and cfg.commit:
                message, trailers = commit_message(
                    record, result.change, result.description, result.rationale
                )
                self._at = replace(self._at, phase="committing")
                sha = self.git.commit([result.path], message, trailers)
                record = record.with_next(result.change, result.rationale, sha)
                records = hist.upsert(records, record)
            self._at = replace(self._at, phase="committed", commit=sha)
        except BaseException as exc:  # an error or an interrupt: the edit is committed, or undone
            with deferred_signals():
                made = self._committed_since(head) if committing else ""
                if made:
                    self._at = replace(self._at, phase="committed", commit=made)
                else:
                    put_back(originals)
            if not isinstance(exc, KerasCTError):
                raise
            failed = replace(record, status="error", error=exc.message.splitlines()[0])
            self._fail(hist.upsert(records, failed), "")
            raise
        if result.change == "epochs" and result.path == cfg.config_file:
            # The next round in this process must train with the epochs just written.
            self.cfg = self.cfg.reread_train_command()
        diff = result.diff
        if self.local or n < last_in_job:
            verdict = Verdict("next")
            self._report(records, verdict, diff, interim=True)
            return RoundOutcome(records, verdict, next_round=n + 1, diff=diff, **paths)
        return self._push_and_dispatch(cfg, records, diff, paths)

    def _push_and_dispatch(
        self, cfg: Config, records: tuple[RoundRecord, ...], diff: str, paths: RoundPaths
    ) -> RoundOutcome:
        n = records[-1].round
        if not (cfg.commit and cfg.push and self.git is not None and self.head_branch):
            reason = (
                "push is off"
                if not cfg.push
                else "commit is off"
                if not cfg.commit
                else "no branch to push to"
            )
            verdict = Verdict("stopped", f"The change was made but not pushed ({reason}).")
            return self._finish(records, verdict, "failure", diff, next_round=n + 1, **paths)
        self._at = replace(self._at, phase="pushing")
        try:
            self.git.push(self.head_branch, self.head_sha)
        except GitError as exc:
            # The change never reached the branch: the record must not claim it (a later run of the
            # next round would take itself for a duplicate).
            records = hist.upsert(records, replace(records[-1], next_commit=""))
            verdict = Verdict("stopped", f"Not pushed, nothing dispatched: {exc.message}")
            self._superseded = isinstance(exc, BranchMovedError) and self._comment_moved_on()
            if self._superseded:
                self.runner.warning(
                    "a newer run has reported to the pull request since this one started; "
                    "it owns the loop now, so this run leaves the comment as it is"
                )
            self._finish(records, verdict, "failure", diff, next_round=n + 1, **paths)
            raise
        self._at = replace(self._at, phase="reporting")
        if not cfg.dispatch:
            verdict = Verdict("stopped", "Pushed; dispatch is off, so the next round waits for a new run.")
            return self._finish(records, verdict, "pending", diff, next_round=n + 1, **paths)
        self._at = replace(self._at, phase="dispatching")
        try:
            dispatch = self.publisher.dispatch(n + 1, self.head_branch)
        except KerasCTError as exc:
            verdict = Verdict("stopped", f"Pushed, but the next round could not be dispatched: {exc.message}")
            self._finish(records, verdict, "failure", diff, next_round=n + 1, **paths)
            raise
        self._at = replace(self._at, phase="reporting", dispatched=True)
        verdict = Verdict("next", next_run_url=dispatch.run_url)
        outcome = self._finish(records, verdict, "pending", diff, next_round=n + 1, **paths)
        return replace(outcome, dispatched=True)

    # -- publishing -----------------------------------------------------------------------------
    def _report(
        self,
        records: Sequence[RoundRecord],
        verdict: Verdict,
        diff: str,
        interim: bool = False,
    ) -> str:
        url = ""
        if not self._superseded:
            url = self.publisher.publish(records, verdict, diff=diff, notes=self.notes)
            self._seen = tuple(records)
        if not self.local and not self.publisher.writable and self.publisher.why not in self.notes:
            self.notes.append(self.publisher.why)
        if not interim:
            self.runner.add_summary(
                render_report(records, verdict, links=self.links, diff=diff, notes=self.notes)
            )
        self.runner.info(render_terminal(records, verdict))
        return url

    def _finish(
        self,
        records: tuple[RoundRecord, ...],
        verdict: Verdict,
        state: str,
        diff: str,
        *,
        next_round: int | None = None,
        metrics_path: Path | None = None,
        model_path: Path | None = None,
    ) -> RoundOutcome:
        last = records[-1]
        descriptions = {
            "passed": f"{last.metric} {_fmt(last.accuracy)} ≥ {last.threshold:g} at round {last.round}",
            "next": f"round {last.round}: {_fmt(last.accuracy)} < {last.threshold:g}; round {last.round + 1} dispatched",
            "exhausted": f"{_fmt(last.accuracy)} < {last.threshold:g} after {last.round} rounds",
            "stopped": f"round {last.round}: {_fmt(last.accuracy)} < {last.threshold:g}; loop stopped",
            "error": f"round {last.round} failed: {last.error}"[:140],
        }
        self.publisher.set_status(state, descriptions[verdict.state][:140])
        url = self._report(records, verdict, diff)
        return RoundOutcome(
            records=records,
            verdict=verdict,
            metrics_path=metrics_path,
            model_path=model_path,
            next_round=next_round,
            comment_url=url,
            diff=diff,
        )

    def _committed_since(self, head: str) -> str:
        """The SHA of the commit made since ``head`` (the commit step finished), else ""."""
        if self.git is None:
            return ""
        try:
            now = self.git.head()
        except KerasCTError:
            return ""
        return now if now != head else ""

    def _comment_moved_on(self) -> bool:
        """True when the comment's history changed since this run last saw it: another run wrote it."""
        try:
            return tuple(self.publisher.load_history()) != self._seen
        except KerasCTError:
            return False

    def _fail(self, records: tuple[RoundRecord, ...], diff: str) -> None:
        """Mark the round failed everywhere; a failure to report must not hide the real error."""
        try:
            self._finish(records, Verdict("error"), "failure", diff)
        except KerasCTError as exc:
            self.runner.warning(f"could not report the failed round: {exc.message}")


def _shown(cfg: Config, path: Path) -> str:
    try:
        return str(path.relative_to(cfg.working_directory))
    except ValueError:
        return str(path)


def _fmt(value: float | None) -> str:
    return "—" if value is None else f"{value:.4f}"
