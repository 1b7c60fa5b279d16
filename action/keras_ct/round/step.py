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

A job of several rounds (``rounds-per-job``) commits each round's change here and pushes once, at
its end: whatever the verdict, a job that committed something the remote does not have yet pushes
it (and dispatches only when the loop goes on). After an error nothing is pushed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Literal

from keras_ct.report import StatusState, Verdict, VerdictState, status_text
from keras_ct.round.history import RoundRecord

#: ``augment``: write (and commit) the round's change; ``push``: push what this job committed;
#: ``dispatch``: start the next round's run; ``next``: go on to the next round in this process;
#: ``finish``: publish the verdict, the round is over; ``stop``: a run that does nothing (a duplicate).
#: ``revert`` is kept for keep-the-best (put the best round's model back).
Action = Literal["augment", "push", "dispatch", "next", "finish", "stop", "revert"]


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


@dataclass(frozen=True)
class Done:
    """What the engine did after the round, as facts for the next ``step``."""

    #: The round's change is written (and committed when commits are made).
    changed: bool = False
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


def step(record: RoundRecord, history: Sequence[RoundRecord], limits: Limits, done: Done = Done()) -> Step:
    """The next thing to do after ``record``'s round, given what is done (see the module's rules)."""
    if record.status == "error":
        return _step(record, Verdict("error"), "failure", "finish")
    if record.passed or record.round >= limits.max_rounds:
        return _final(record, history, limits, done)
    if not limits.local and not limits.writable:
        # A fork PR or a read-only token: no change is committed, pushed or dispatched.
        return _step(record, Verdict("stopped", "No change was made."), "failure", "finish")
    if not done.changed:
        return replace(step(record, history, limits, replace(done, changed=True)), action="augment")
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
        return replace(step(record, history, limits, replace(done, pushed=True)), action="push")
    if not limits.dispatch:
        verdict = Verdict("stopped", "Pushed; dispatch is off, so the next round waits for a new run.")
        return _step(record, verdict, "pending", "finish", following)
    if done.dispatch_error:
        verdict = Verdict(
            "stopped", f"Pushed, but the next round could not be dispatched: {done.dispatch_error}"
        )
        return _step(record, verdict, "failure", "finish", following)
    if not done.dispatched:
        return replace(step(record, history, limits, replace(done, dispatched=True)), action="dispatch")
    return _step(record, Verdict("next", next_run_url=done.next_run_url), "pending", "finish", following)


def stop(message: str) -> Step:
    """A run that does nothing and says why (a duplicate, a loop already at max-rounds)."""
    return Step(Verdict("stopped", message), None, "", "stop")


def already_done(
    records: Sequence[RoundRecord], round_number: int, trailers: Mapping[int, str] | None, head: str
) -> Step | None:
    """A duplicate dispatch, or a re-run of a round that already moved on, must not act twice.

    ``trailers``: round -> SHA of keras-ct's commits in the checkout (None: no checkout); ``head``: its
    HEAD. When HEAD is not keras-ct's own commit, someone pushed since, and this run trains that code.
    """
    if trailers is not None and head not in trailers.values():
        return None
    done = next((r for r in records if r.round == round_number and r.next_commit), None)
    known = trailers or {}
    if done is None and round_number not in known:
        return None
    sha = done.next_commit if done else known[round_number]
    return stop(
        f"round {round_number} already finished and committed its change ({sha[:7]}); "
        "this run is a duplicate and does nothing"
    )


def unpushed(history: Sequence[RoundRecord], limits: Limits, round_number: int) -> tuple[RoundRecord, ...]:
    """The rounds of this job up to ``round_number`` whose committed change is not on the remote yet."""
    if limits.local:
        return ()
    return tuple(r for r in history if limits.job_first <= r.round <= round_number and r.next_commit)


def _final(record: RoundRecord, history: Sequence[RoundRecord], limits: Limits, done: Done) -> Step:
    """Passed, or missed at max-rounds: the loop ends; this job's commits still go to the branch."""
    kind: VerdictState = "passed" if record.passed else "exhausted"
    if done.push_error:
        return _step(record, Verdict(kind, f"Not pushed: {done.push_error}"), "failure", "finish")
    state: StatusState = "success" if record.passed else "failure"
    can_push = limits.commit and limits.push and limits.branch
    if can_push and not done.pushed and unpushed(history, limits, record.round):
        return _step(record, Verdict(kind), state, "push")
    return _step(record, Verdict(kind), state, "finish")


def _step(
    record: RoundRecord, verdict: Verdict, state: StatusState, action: Action, next_round: int | None = None
) -> Step:
    return Step(verdict, state, status_text(record, verdict), action, next_round)


def _not_pushed(limits: Limits) -> str:
    if not limits.push:
        return "push is off"
    if not limits.commit:
        return "commit is off"
    return "no branch to push to"
