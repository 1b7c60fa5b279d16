"""What happens after a round: one pure decision (``step``) that the engine carries out.

``step`` takes the round's record, the history, the limits of this run (``Limits``) and what the
engine has already done after the round (``Done``), and returns a frozen ``Step``: the verdict, the
commit status (state and text) and the next action. The engine does that action (augment, push,
dispatch), adds its outcome to ``Done`` and asks again, until the action ends the round (``next``,
``finish``). Nothing here touches the world, so every case is a row in tests/round/test_step.py.

While an action is still to do, the step's verdict and status are where the round is headed if
every action succeeds; a failed push or dispatch comes back as a fact and changes them.

The rule for the status state (GitHub's commit-status states): ``success`` when the threshold is
met and nothing failed; ``pending`` while the loop goes on from the pull request's branch (the next
round is dispatched, or the change is pushed and the next round waits for a run); ``failure`` when
the loop ends short of the threshold with nothing on the branch to go on from (the last round, a
read-only token, commit or push off), or when a step on the way failed (training, augmenting,
pushing, dispatching). So a "stopped" verdict is ``failure`` unless its change reached the branch
without an error. No status is sent while the loop goes on in this process (the next round's
``pending`` follows at once), nor by a run that does nothing (a duplicate).

Keep the best: a round that missed and scored below the best round by more than the noise margin
(``history.NOISE_MARGIN``) first ``revert``s (the engine puts the best round's files back and
commits that), then the next change is made on the best model; at the last round the revert is the
last thing done, so the branch holds the best model. A job that cannot write (a fork PR, a
read-only token) reverts nothing, as it augments nothing.

Compare with the base branch: a loop that ends with the threshold met still fails its status when
the pull request's best model is below the base branch's (``round.baseline``) by more than
``max-regression``; with no baseline, nothing is compared (the comment says there is none).

A job of several rounds (``rounds-per-job``) commits each round's change here and pushes once, at
its end: whatever the verdict, a job that committed something the remote does not have yet pushes
it (and dispatches only when the loop goes on). After an error nothing is pushed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Literal

from keras_ct.fmt import fmt_accuracy
from keras_ct.git.trailers import TrailerCommit
from keras_ct.report import STATUS_LIMIT, StatusState, Verdict, VerdictState, status_text
from keras_ct.round.baseline import Baseline, regression
from keras_ct.round.history import RoundRecord, worse_than_best

#: ``augment``: write (and commit) the round's change; ``push``: push what this job committed;
#: ``dispatch``: start the next round's run; ``next``: go on to the next round in this process;
#: ``finish``: publish the verdict, the round is over; ``stop``: a run that does nothing (a duplicate);
#: ``revert``: put the best round's files back (keep the best), before any change.
Action = Literal["augment", "push", "dispatch", "next", "finish", "stop", "revert"]

#: What a push run (``Limits.record_only``) says: its only job is the baseline.
RECORD_ONLY = (
    "This run records the base branch's model for pull requests to compare with; it changes nothing."
)


@dataclass(frozen=True)
class Limits:
    """What this run may do after a round."""

    max_rounds: int
    #: The last round this process trains (``Config.last_round``) and the first one (its ``round``).
    last_in_job: int
    job_first: int
    #: ``keras-ct loop``: the next round runs in this process, nothing is pushed or dispatched.
    local: bool = False
    #: The publisher can write (not a fork PR, not a read-only token).
    writable: bool = True
    #: Commits are made (``commit`` is on and there is a checkout to commit in).
    commit: bool = True
    push: bool = True
    dispatch: bool = True
    #: The branch to push to is known.
    branch: bool = True
    #: A push to the default branch: train and record the base branch's model, change nothing.
    record_only: bool = False
    #: ``max-regression``: how far below the base branch's model the best round may end (None: off).
    max_regression: float | None = None


@dataclass(frozen=True)
class Done:
    """What the engine did after the round, as facts for the next ``step``."""

    #: The round's change is written (and committed when commits are made).
    changed: bool = False
    #: The best round's files are back (keep the best), or the engine found nothing to put back.
    reverted: bool = False
    pushed: bool = False
    push_error: str = ""
    dispatched: bool = False
    next_run_url: str = ""
    dispatch_error: str = ""


@dataclass(frozen=True)
class Step:
    """The verdict, the commit status (``state`` None: none is sent) and what to do next."""

    verdict: Verdict
    state: StatusState | None
    text: str
    action: Action
    #: The round that comes next (``next-round`` output), when a change for it was made.
    next_round: int | None = None


def step(
    record: RoundRecord,
    history: Sequence[RoundRecord],
    limits: Limits,
    done: Done = Done(),
    base: Baseline | None = None,
) -> Step:
    """The next thing to do after ``record``'s round, given what is done (see the module's rules);
    ``base``: the base branch's model, when one was looked for."""
    if record.status == "error":
        return _step(record, Verdict("error"), "failure", "finish")
    if limits.record_only:
        return _step(
            record, Verdict("passed" if record.passed else "stopped", RECORD_ONLY), _met(record), "finish"
        )
    if record.passed or record.round >= limits.max_rounds:
        return _final(record, history, limits, done, base)
    if not limits.local and not limits.writable:
        # A fork PR or a read-only token: no change is committed, pushed or dispatched.
        return _step(record, Verdict("stopped", "No change was made."), "failure", "finish")
    if not done.reverted and worse_than_best(record, history):
        return replace(step(record, history, limits, replace(done, reverted=True), base), action="revert")
    if not done.changed:
        return replace(step(record, history, limits, replace(done, changed=True), base), action="augment")
    following = record.round + 1
    if limits.local or record.round < limits.last_in_job:
        return Step(Verdict("next"), None, "", "next", following)
    if not (limits.commit and limits.push and limits.branch):
        verdict = Verdict("stopped", f"The change was made but not pushed ({_not_pushed(limits)}).")
        return _step(record, verdict, "failure", "finish", following)
    if done.push_error:
        verdict = Verdict("stopped", f"Not pushed, nothing dispatched: {done.push_error}")
        return _step(record, verdict, "failure", "finish", following)
    if not done.pushed:
        return replace(step(record, history, limits, replace(done, pushed=True), base), action="push")
    if not limits.dispatch:
        verdict = Verdict("stopped", "Pushed; dispatch is off, so the next round waits for a new run.")
        return _step(record, verdict, "pending", "finish", following)
    if done.dispatch_error:
        verdict = Verdict(
            "stopped", f"Pushed, but the next round could not be dispatched: {done.dispatch_error}"
        )
        return _step(record, verdict, "failure", "finish", following)
    if not done.dispatched:
        return replace(step(record, history, limits, replace(done, dispatched=True), base), action="dispatch")
    return _step(record, Verdict("next", next_run_url=done.next_run_url), "pending", "finish", following)


def stop(message: str) -> Step:
    """A run that does nothing and says why (a duplicate, a loop already at max-rounds)."""
    return Step(Verdict("stopped", message), None, "", "stop")


def already_done(
    records: Sequence[RoundRecord],
    round_number: int,
    trailers: Mapping[int, str] | None,
    head: str,
    max_rounds: int,
) -> Step | None:
    """A duplicate dispatch, or a re-run of a round that already finished, must not act twice.

    Finished: the history has the round on this very code (``commit`` is ``head``) and it passed, was
    the last round, or the loop moved on from it (a later round, or its change committed); or the
    trailers say keras-ct committed after it. ``trailers``: round -> SHA of keras-ct's commits in the
    checkout (None: no checkout); ``head``: its HEAD (the event's head SHA without one). When HEAD is
    neither the round's code nor keras-ct's own commit, someone pushed since: this run trains that code.
    """
    record = next((r for r in records if r.round == round_number), None)
    if record is not None and record.commit and record.commit == head:
        how = _finished(record, records, max_rounds)
        if how:
            return stop(
                f"round {round_number} already finished on this commit ({head[:7]}): {how}; "
                "this run is a duplicate and does nothing"
            )
    if trailers is not None and head not in trailers.values():
        return None
    done = record if record is not None and record.next_commit else None
    known = trailers or {}
    if done is None and round_number not in known:
        return None
    sha = done.next_commit if done else known[round_number]
    return stop(
        f"round {round_number} already finished and committed its change ({sha[:7]}); "
        "this run is a duplicate and does nothing"
    )


def _finished(record: RoundRecord, records: Sequence[RoundRecord], max_rounds: int) -> str:
    """How ``record``'s round ended, when it did ("" when a new run of it may still act)."""
    if record.passed:
        return "it passed"
    if record.status == "error":
        return ""  # a failed round may be run again
    if record.round >= max_rounds:
        return "it was the last round"
    if record.next_commit or any(r.round > record.round for r in records):
        return "the loop moved on"
    return ""


@dataclass(frozen=True)
class Resume:
    """``keras-ct loop --commit`` goes on at ``round``, with the history the trailers give."""

    round: int
    notice: str
    records: tuple[RoundRecord, ...]


def resume(
    commits: Sequence[TrailerCommit], head: str, max_rounds: int, threshold: float, metric: str
) -> Resume | Step | None:
    """Where HEAD is the change keras-ct committed after round N (a loop that stopped or was
    interrupted there): go on at round N + 1, not round 1 again; a stop at max-rounds; None when HEAD
    is not keras-ct's. ``commits``: keras-ct's commits, newest first. Round k trained round k - 1's
    last commit (``commit``), so keep the best can put it back."""
    newest: dict[int, TrailerCommit] = {}
    for commit in commits:
        newest.setdefault(commit.round, commit)
    done = next((c.round for c in newest.values() if c.sha == head), None)
    if done is None:
        return None
    if done >= max_rounds:
        return stop(
            f"HEAD ({head[:7]}) is the change keras-ct committed after round {done}, and max-rounds is "
            f"{max_rounds}: raise --max-rounds to go on, or pass --round 1 to start a new loop here"
        )
    rebuilt = tuple(
        RoundRecord(
            c.round,
            c.accuracy,
            threshold,
            "missed",
            metric,
            commit=newest[c.round - 1].sha if c.round - 1 in newest else "",
            next_commit=c.sha,
        )
        for c in sorted(newest.values(), key=lambda c: c.round)
        if c.round <= done
    )
    notice = (
        f"continuing at round {done + 1}: HEAD ({head[:7]}) is the change keras-ct committed after "
        f"round {done}; pass --round 1 to start a new loop on this code"
    )
    return Resume(done + 1, notice, rebuilt)


def unpushed(history: Sequence[RoundRecord], limits: Limits, round_number: int) -> tuple[RoundRecord, ...]:
    """The rounds of this job up to ``round_number`` whose committed change is not on the remote yet."""
    if limits.local:
        return ()
    return tuple(
        r
        for r in history
        if limits.job_first <= r.round <= round_number and (r.next_commit or r.revert_commit)
    )


def _final(
    record: RoundRecord, history: Sequence[RoundRecord], limits: Limits, done: Done, base: Baseline | None
) -> Step:
    """Passed, or missed at max-rounds: the loop ends; this job's commits still go to the branch, and
    a last round worse than the best puts the best round's model back first."""
    kind: VerdictState = "passed" if record.passed else "exhausted"
    best = None if record.passed else worse_than_best(record, history)
    if best is not None and not (limits.local or limits.writable):
        best = None  # nothing can be written: the report still marks the best round
    if best is not None and not done.reverted:
        return replace(_final(record, history, limits, replace(done, reverted=True), base), action="revert")
    kept = (
        f"Round {best.round}'s model, the best ({fmt_accuracy(best.accuracy)}), is put back." if best else ""
    )
    if done.push_error:
        return _step(record, Verdict(kind, f"Not pushed: {done.push_error}"), "failure", "finish")
    state = _met(record)
    verdict = Verdict(kind, kept)
    regressed = regression(history, base, limits.max_regression)
    if regressed:  # the loop ends here all the same: the status says why it fails
        met = "The threshold is met, but" if record.passed else "And"
        verdict = Verdict(
            "stopped" if record.passed else kind, " ".join(p for p in (kept, f"{met} {regressed}.") if p)
        )
    can_push = limits.commit and limits.push and limits.branch
    action: Action = (
        "push" if can_push and not done.pushed and unpushed(history, limits, record.round) else "finish"
    )
    if regressed and record.passed:  # a missed threshold's status already says what failed
        return Step(verdict, "failure", regressed[:STATUS_LIMIT], action)
    return _step(record, verdict, state, action)


def _step(
    record: RoundRecord, verdict: Verdict, state: StatusState, action: Action, next_round: int | None = None
) -> Step:
    return Step(verdict, state, status_text(record, verdict), action, next_round)


def _met(record: RoundRecord) -> StatusState:
    return "success" if record.passed else "failure"


def _not_pushed(limits: Limits) -> str:
    if not limits.push:
        return "push is off"
    if not limits.commit:
        return "commit is off"
    return "no branch to push to"
