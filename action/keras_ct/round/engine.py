"""One continuous-training round, and the rounds that follow it in the same process.

A round: check the model file, train (retrying a crash once, resuming from the checkpoint), read
and validate the metrics. What follows is decided by ``keras_ct.round.step.step`` (a pure function:
the verdict, the commit status, the next action); the engine carries it out: augment the model (the
policy picks the change, the build is proven first) and commit it, then go on in this process
(``keras-ct loop``, ``rounds-per-job``), or push and dispatch the next round. Every outcome is
published: status, sticky comment, job summary, outputs.

Nothing is committed, pushed or dispatched after an error, and the model file is restored. An
interrupt (Ctrl-C, SIGTERM) leaves each step done or undone, never half done, and one line says
which and what the next run does (``keras_ct.round.interrupts``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, TypedDict

from keras_ct.config import Config
from keras_ct.errors import GitError, KerasCTError
from keras_ct.git import BranchMovedError, TrailerCommit
from keras_ct.report import Links, Verdict, queued_status, render_report, render_terminal, training_status
from keras_ct.round import history as hist
from keras_ct.round.baseline import BaselineRun
from keras_ct.round.edits import commit_message, editing, restore_best, revert_message
from keras_ct.round.history import RoundRecord
from keras_ct.round.interrupts import Interrupted, KerasCTInterrupted, interrupted_note
from keras_ct.round.publish import Publisher
from keras_ct.round.step import Done, Limits, Step, already_done, resume, step, unpushed
from keras_ct.round.training import train
from keras_ct.runner import Runner
from keras_ct.train.launch import check_model_file, trained_model
from keras_ct.train.metrics import measured
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
    def push(self, branch: str, expected_remote_sha: str) -> object: ...
    def round_trailers(self) -> dict[int, str]: ...
    def trailer_commits(self) -> list[TrailerCommit]: ...
    def restore(self, sha: str, paths: Sequence[Path]) -> None: ...


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


# -- the round engine -----------------------------------------------------------------------------


@dataclass
class Engine:
    """Runs the rounds of this process and carries out what ``keras_ct.round.step.step`` decides."""

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
    #: The base branch's model the rounds compare with, and where each trained round is recorded.
    baseline: BaselineRun = field(default_factory=BaselineRun)
    #: The history as this run last saw it in the comment (loaded, or published by this run).
    _seen: tuple[RoundRecord, ...] = field(default=(), init=False, repr=False)
    #: Set when a newer run owns the loop: this one no longer writes the comment.
    _superseded: bool = field(default=False, init=False, repr=False)
    #: The earlier loops' rounds (kept in the comment, collapsed) and the number of this run's loop.
    _earlier: tuple[RoundRecord, ...] = field(default=(), init=False, repr=False)
    _loop: int = field(default=0, init=False, repr=False)
    #: The head this run pushed: the pull request's new head, which the final status also goes to.
    _pushed: str = field(default="", init=False, repr=False)
    #: The editable files as each round of this process started training (keep the best puts them back).
    _snapshots: dict[int, dict[Path, bytes]] = field(default_factory=dict, init=False, repr=False)
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
        records = tuple(self.publisher.load_history())
        self._seen = records
        if self.local:
            stopped, records = self._continue_from_head(records)
        else:
            stopped, records = self._already_done(records)
        if stopped is not None:
            return stopped
        last_in_job = self.cfg.last_round(local=self.local)
        round_number = self.cfg.round
        diff = ""
        while True:
            outcome = self._one_round(records, round_number, diff)
            records, diff = outcome.records, outcome.diff
            if outcome.verdict.state != "next" or outcome.dispatched or round_number >= last_in_job:
                return outcome
            round_number += 1

    def _limits(self) -> Limits:
        """What this run may do after a round (the publisher may have turned read-only meanwhile)."""
        cfg = self.cfg
        return Limits(
            max_rounds=cfg.max_rounds,
            last_in_job=cfg.last_round(local=self.local),
            job_first=cfg.round,
            local=self.local,
            writable=self.publisher.writable,
            commit=self.git is not None and cfg.commit,
            push=cfg.push,
            dispatch=cfg.dispatch,
            branch=bool(self.head_branch),
            record_only=cfg.github.event_name == "push",
            max_regression=cfg.max_regression,
        )

    def _stopped(self, records: tuple[RoundRecord, ...], now: Step) -> RoundOutcome:
        self.runner.notice(now.verdict.message)
        return RoundOutcome(records=records, verdict=now.verdict)

    def _already_done(
        self, records: tuple[RoundRecord, ...]
    ) -> tuple[RoundOutcome | None, tuple[RoundRecord, ...]]:
        """A duplicate stops here; else the current loop's rounds (a push of new code starts a new one)."""
        git = self.git
        trailers = git.round_trailers() if git is not None else None
        head = git.head() if git is not None else self.head_sha
        found = already_done(records, self.cfg.round, trailers, head, self.cfg.max_rounds)
        if found is not None:
            return self._stopped(records, found), records
        self._earlier, current, self._loop = hist.restarted(records, self.cfg.round, head)
        return None, current

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
        found = resume(self.git.trailer_commits(), self.git.head(), cfg.max_rounds, cfg.threshold, cfg.metric)
        if isinstance(found, Step):
            return self._stopped(records, found), records
        if found is None:
            return None, records
        self.runner.notice(found.notice)
        self.cfg = replace(cfg, round=found.round)
        return None, found.records

    def _starting(self, cfg: Config, records: tuple[RoundRecord, ...], n: int) -> Interrupted:
        """Where round ``n`` is as it starts training, for the line an interrupt prints."""
        committing = self.git is not None and cfg.commit
        return Interrupted(
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

    def _one_round(self, records: tuple[RoundRecord, ...], n: int, prev_diff: str) -> RoundOutcome:
        cfg = replace(self.cfg, round=n)
        self._at = self._starting(cfg, records, n)
        previous = next((r for r in reversed(records) if r.round < n), None)
        base = RoundRecord(
            round=n,
            accuracy=None,
            threshold=cfg.threshold,
            status="error",
            metric=cfg.metric,
            commit=self.git.head() if self.git is not None else self.head_sha,
            change=previous.next_change if previous else "",
            rationale=previous.next_rationale if previous else "",
            run_url=cfg.github.run_url,
            restart=self._loop,
        )
        self.publisher.set_status("pending", training_status(n, cfg.max_rounds))
        self._snapshots[n] = {path: path.read_bytes() for path in cfg.editable_files()}
        try:
            check_model_file(cfg)
            started, self.early = (self.early, None) if n == self.cfg.round else (None, self.early)
            done = train(cfg, self.runner, self.environ, n, started=started, trainer=self.trainer)
        except KerasCTError as exc:
            self._fail(hist.upsert(records, _failed(base, exc)), n, prev_diff)
            raise
        record = replace(measured(base, done.metrics, done.seconds), trained_by=done.ahead_by)
        paths = RoundPaths(metrics_path=cfg.metrics_path(n), model_path=trained_model(cfg, n))
        self._at = replace(self._at, phase="reporting")
        return self._carry_out(cfg, hist.upsert(records, record), n, paths, prev_diff)

    def _carry_out(
        self, cfg: Config, records: tuple[RoundRecord, ...], n: int, paths: RoundPaths, diff: str
    ) -> RoundOutcome:
        """Ask ``step`` what follows round ``n`` and do it, until the round is over."""
        done = Done()
        failed: KerasCTError | None = None
        while True:
            limits = self._limits()
            now = step(_of(records, n), records, limits, done, self.baseline.base)
            if now.action == "revert":
                records = self._revert(cfg, records, n)
                done = replace(done, reverted=True)
            elif now.action == "augment":
                records, diff = self._augment(cfg, records, n)
                done = replace(done, changed=True)
            elif now.action == "push":
                ended = now.verdict.state in ("passed", "exhausted")
                records, done, failed = self._push(records, unpushed(records, limits, n), done, ended)
                if done.pushed and not ended:
                    self.publisher.set_status("pending", queued_status(n + 1, cfg.max_rounds), self._pushed)
            elif now.action == "dispatch":
                done, failed = self._dispatch(n, done)
            elif now.action == "next":
                self._report(records, now.verdict, diff, interim=True)
                return RoundOutcome(records, now.verdict, next_round=now.next_round, diff=diff, **paths)
            else:
                outcome = self._finish(records, now, diff, **paths)
                if failed is not None:
                    raise failed
                return replace(outcome, dispatched=done.dispatched)

    def _augment(
        self, cfg: Config, records: tuple[RoundRecord, ...], n: int
    ) -> tuple[tuple[RoundRecord, ...], str]:
        """Write round ``n``'s change (and commit it): done, or undone on an error or an interrupt."""
        record = _of(records, n)
        git = self.git if cfg.commit else None
        try:
            with self._editing(cfg):
                if git is not None:
                    git.ensure_clean([cfg.model_path])  # and every tracked file: no uncommitted changes
                self._at = replace(self._at, phase="augmenting")
                with self.runner.group(f"Round {n}: augmenting {cfg.model_file}"):
                    result = self.augmenter(cfg, records)
                    self.runner.info(result.diff)
                record = record.with_next(result.change, result.rationale, candidates=result.candidates)
                records = hist.upsert(records, record)
                if git is not None:
                    message, trailers = commit_message(
                        record, result.change, result.description, result.rationale
                    )
                    sha = self._commit(git, [result.path], message, trailers)
                    records = hist.upsert(records, record.with_next(result.change, result.rationale, sha))
                self._at = replace(self._at, phase="committed")
        except KerasCTError as exc:
            self._fail(hist.upsert(records, _failed(record, exc)), n, "")
            raise
        if result.change == "epochs" and result.path == cfg.config_file:
            # The next round in this process must train with the epochs just written.
            self.cfg = self.cfg.reread_train_command()
        return records, result.diff

    def _revert(self, cfg: Config, records: tuple[RoundRecord, ...], n: int) -> tuple[RoundRecord, ...]:
        """Keep the best: put the best round's files back (and commit that) before round ``n``'s change."""
        record = _of(records, n)
        best = hist.worse_than_best(record, records)
        if best is None:  # step reverts only below the best
            return records
        git = self.git if cfg.commit else None
        try:
            with self._editing(cfg):
                self._at = replace(self._at, phase="augmenting")
                paths = restore_best(best, self._snapshots.get(best.round), cfg.editable_files(), self.git)
                if paths:
                    record = replace(record, reverted_to=best.round)
                if paths and git is not None:
                    record = replace(
                        record, revert_commit=self._commit(git, paths, *revert_message(record, best))
                    )
                self._at = replace(self._at, phase="committed")
        except KerasCTError as exc:
            self._fail(hist.upsert(records, _failed(record, exc)), n, "")
            raise
        if not paths:
            self.runner.warning(
                f"round {n} scored below round {best.round}, the best, but keras-ct has no other copy of "
                f"round {best.round}'s files: the next change starts from round {n}'s model"
            )
        return hist.upsert(records, record)

    def _editing(self, cfg: Config) -> AbstractContextManager[None]:
        """An edit of ``cfg``'s files that ends committed or put back (``keras_ct.round.edits.editing``)."""
        git = self.git if cfg.commit else None
        head = git.head() if git is not None else ""

        def committed() -> str:
            return self._committed_since(head) if git is not None else ""

        def on_commit(sha: str) -> None:
            self._at = replace(self._at, phase="committed", commit=sha)

        return editing(cfg.editable_files(), committed, on_commit)

    def _commit(self, git: Git, paths: Sequence[Path], message: str, trailers: Mapping[str, str]) -> str:
        self._at = replace(self._at, phase="committing")
        sha = git.commit(paths, message, trailers)
        self._at = replace(self._at, commit=sha)
        return sha

    def _push(
        self, records: tuple[RoundRecord, ...], pending: tuple[RoundRecord, ...], done: Done, ended: bool
    ) -> tuple[tuple[RoundRecord, ...], Done, GitError | None]:
        """Push the job's commits (``pending``: the rounds that made them) to the pull request's branch;
        ``ended``: the loop ends at this round (for the line an interrupt prints)."""
        sha = self._at.commit or pending[-1].next_commit or pending[-1].revert_commit
        self._at = replace(self._at, phase="pushing", commit=sha, ended=ended)
        if self.git is None:  # step pushes only what this run committed (Limits.commit)
            raise RuntimeError("keras-ct has no git checkout to push from")
        try:
            self.git.push(self.head_branch, self.head_sha)
        except GitError as exc:
            # The changes never reached the branch: no record may claim them (a later run of the
            # next round would take itself for a duplicate).
            for record in pending:
                records = hist.upsert(records, replace(record, next_commit="", revert_commit=""))
            self._superseded = isinstance(exc, BranchMovedError) and self._comment_moved_on()
            if self._superseded:
                self.runner.warning(
                    "a newer run has reported to the pull request since this one started; "
                    "it owns the loop now, so this run leaves the comment as it is"
                )
            return records, replace(done, push_error=exc.message), exc
        self._at = replace(self._at, phase="reporting")
        self._pushed = self.git.head()
        return records, replace(done, pushed=True), None

    def _dispatch(self, n: int, done: Done) -> tuple[Done, KerasCTError | None]:
        self._at = replace(self._at, phase="dispatching")
        try:
            dispatch = self.publisher.dispatch(n + 1, self.head_branch)
        except KerasCTError as exc:
            return replace(done, dispatch_error=exc.message), exc
        self._at = replace(self._at, phase="reporting", dispatched=True)
        return replace(done, dispatched=True, next_run_url=dispatch.run_url), None

    # -- publishing -----------------------------------------------------------------------------
    def _report(
        self, records: Sequence[RoundRecord], verdict: Verdict, diff: str, interim: bool = False
    ) -> str:
        url, shown = "", (*self._earlier, *records)  # the comment and the summary keep the earlier loops
        verdict = replace(verdict, base=self.baseline.base)
        self.baseline.record(records[-1], verdict, self.runner.warning)  # the round being reported
        if not self._superseded:
            url = self.publisher.publish(shown, verdict, diff=diff, notes=self.notes)
            self._seen = shown
        if not self.local and not self.publisher.writable and self.publisher.why not in self.notes:
            self.notes.append(self.publisher.why)
        if not interim:
            self.runner.add_summary(
                render_report(shown, verdict, links=self.links, diff=diff, notes=self.notes)
            )
        self.runner.info(render_terminal(records, verdict))
        return url

    def _finish(
        self,
        records: tuple[RoundRecord, ...],
        now: Step,
        diff: str,
        *,
        metrics_path: Path | None = None,
        model_path: Path | None = None,
    ) -> RoundOutcome:
        if now.state is not None:
            self.publisher.set_status(now.state, now.text)
        if now.state not in (None, "pending") and self._pushed:  # a pending one stays "queued" there
            self.publisher.set_status(now.state, now.text, self._pushed)
        url = self._report(records, now.verdict, diff)
        return RoundOutcome(
            records=records,
            verdict=now.verdict,
            metrics_path=metrics_path,
            model_path=model_path,
            next_round=now.next_round,
            comment_url=url,
            diff=diff,
        )

    def _committed_since(self, head: str) -> str:
        """The SHA of the commit made since ``head`` (the commit step finished), else ""."""
        try:
            now = self.git.head() if self.git is not None else head
        except KerasCTError:
            return ""
        return now if now != head else ""

    def _comment_moved_on(self) -> bool:
        """True when the comment's history changed since this run last saw it: another run wrote it."""
        try:
            return tuple(self.publisher.load_history()) != self._seen
        except KerasCTError:
            return False

    def _fail(self, records: tuple[RoundRecord, ...], n: int, diff: str) -> None:
        """Mark round ``n`` failed everywhere; a failure to report must not hide the real error."""
        try:
            self._finish(records, step(_of(records, n), records, self._limits()), diff)
        except KerasCTError as exc:
            self.runner.warning(f"could not report the failed round: {exc.message}")


def _of(records: Sequence[RoundRecord], n: int) -> RoundRecord:
    """Round ``n``'s record (the engine upserts it before it asks ``step``)."""
    return next(r for r in records if r.round == n)


def _failed(record: RoundRecord, exc: KerasCTError) -> RoundRecord:
    return replace(record, status="error", error=exc.message.splitlines()[0])


def _shown(cfg: Config, path: Path) -> str:
    try:
        return str(path.relative_to(cfg.working_directory))
    except ValueError:
        return str(path)
