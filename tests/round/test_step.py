"""What follows a round (``keras_ct.round.step``): every case as a row, no I/O.

Threshold 0.85 throughout; a miss scores 0.80, a pass 0.90. Each row gives the round's record, the
history, the limits and what the engine has done so far, and asserts the verdict, the status state
and text, the action and the next round.
"""

from __future__ import annotations

import itertools
from dataclasses import replace

import pytest

from keras_ct.report import StatusState, Verdict
from keras_ct.round.baseline import Baseline
from keras_ct.round.history import RoundRecord
from keras_ct.round.step import RECORD_ONLY, Action, Done, Limits, Step, already_done, step, stop

SHA1, SHA2 = "1" * 40, "2" * 40
BASE = "0" * 40
RUN = "https://github.com/acme/ml-repo/actions/runs/1002"


def missed(n: int = 1, next_commit: str = "") -> RoundRecord:
    return RoundRecord(round=n, accuracy=0.8, threshold=0.85, status="missed", next_commit=next_commit)


def passed(n: int = 1) -> RoundRecord:
    return RoundRecord(round=n, accuracy=0.9, threshold=0.85, status="passed")


def failed(n: int = 1, error: str = "the train command exited with status 1") -> RoundRecord:
    return RoundRecord(round=n, accuracy=None, threshold=0.85, status="error", error=error)


def on(record: RoundRecord, sha: str) -> RoundRecord:
    """``record`` as trained on the commit ``sha``."""
    return replace(record, commit=sha)


def finished(how: str, n: int = 1) -> Step:
    return stop(
        f"round {n} already finished on this commit ({BASE[:7]}): {how}; this run is a duplicate and does nothing"
    )


def worse(n: int, accuracy: float = 0.7, revert_commit: str = "") -> RoundRecord:
    """A round that missed below round ``n - 1``'s 0.80 (the best) by more than the noise margin."""
    return RoundRecord(
        round=n, accuracy=accuracy, threshold=0.85, status="missed", revert_commit=revert_commit
    )


def stopped(message: str, action: Action = "finish", state: StatusState = "failure") -> Step:
    """Round 1 missed and its change was made, but the loop does not go on by itself."""
    return Step(Verdict("stopped", message), state, STOPPED, action, 2)


#: A job of one round (round 1 of 3), everything on.
JOB = Limits(max_rounds=3, last_in_job=1, job_first=1)
#: A job of two rounds (rounds-per-job 2) from round 1.
JOB2 = replace(JOB, last_in_job=2)
#: ``keras-ct loop --commit``: every round in this process, no GitHub.
LOOP = replace(JOB, last_in_job=3, local=True, writable=False)

#: The job of round 2 alone and of round 3, the last, alone.
R2 = replace(JOB, last_in_job=2, job_first=2)
R3 = replace(JOB, last_in_job=3, job_first=3)

NEXT = "round 1: 0.8000 < 0.85; round 2 dispatched"
WORSE_NEXT = "round 2: 0.7000 < 0.85; round 3 dispatched"
WORSE_LAST = "0.7000 < 0.85 after 3 rounds"
KEPT = "Round 2's model, the best (0.8000), is put back."
STOPPED = "round 1: 0.8000 < 0.85; loop stopped"
PASSED_2 = "accuracy 0.9000 ≥ 0.85 at round 2"

ROWS = [
    # -- passed ------------------------------------------------------------------------------------
    pytest.param(
        passed(), (), JOB, Done(), Step(Verdict("passed"), "success", "accuracy 0.9000 ≥ 0.85 at round 1", "finish"),
        id="passed",
    ),
    pytest.param(
        passed(2), (missed(1, next_commit=SHA1),), JOB2, Done(), Step(Verdict("passed"), "success", PASSED_2, "push"),
        id="passed-after-a-commit-of-this-job-pushes-it",
    ),
    pytest.param(
        passed(2), (missed(1, next_commit=SHA1),), JOB2, Done(pushed=True),
        Step(Verdict("passed"), "success", PASSED_2, "finish"),
        id="passed-after-a-commit-of-this-job-pushed",
    ),
    pytest.param(
        passed(2), (missed(1, next_commit=SHA1),), JOB2, Done(push_error="the branch moved"),
        Step(Verdict("passed", "Not pushed: the branch moved"), "failure", PASSED_2, "finish"),
        id="passed-after-a-commit-of-this-job-push-failed",
    ),
    pytest.param(
        passed(2), (missed(1, next_commit=SHA1),), replace(JOB2, push=False), Done(),
        Step(Verdict("passed"), "success", PASSED_2, "finish"),
        id="passed-after-a-commit-push-off",
    ),
    pytest.param(
        passed(2), (missed(1, next_commit=SHA1),), replace(JOB, last_in_job=2, job_first=2), Done(),
        Step(Verdict("passed"), "success", PASSED_2, "finish"),
        id="passed-after-an-earlier-job-pushed-its-commit",
    ),
    pytest.param(
        passed(2), (missed(1, next_commit=SHA1),), replace(LOOP, last_in_job=3), Done(),
        Step(Verdict("passed"), "success", PASSED_2, "finish"),
        id="passed-in-the-local-loop-pushes-nothing",
    ),
    # -- missed, rounds left, the job's last round: augment, push, dispatch ------------------------
    pytest.param(
        missed(), (), JOB, Done(), Step(Verdict("next"), "pending", NEXT, "augment", 2), id="missed-augments-first"
    ),
    pytest.param(
        missed(next_commit=SHA1), (), JOB, Done(changed=True), Step(Verdict("next"), "pending", NEXT, "push", 2),
        id="missed-changed-pushes",
    ),
    pytest.param(
        missed(next_commit=SHA1), (), JOB, Done(changed=True, pushed=True),
        Step(Verdict("next"), "pending", NEXT, "dispatch", 2),
        id="missed-pushed-dispatches",
    ),
    pytest.param(
        missed(next_commit=SHA1), (), JOB, Done(changed=True, pushed=True, dispatched=True, next_run_url=RUN),
        Step(Verdict("next", next_run_url=RUN), "pending", NEXT, "finish", 2),
        id="missed-dispatched",
    ),
    # -- missed, rounds left in this process ------------------------------------------------------------
    pytest.param(missed(), (), JOB2, Done(), Step(Verdict("next"), None, "", "augment", 2), id="rounds-per-job-augments"),
    pytest.param(
        missed(next_commit=SHA1), (), JOB2, Done(changed=True), Step(Verdict("next"), None, "", "next", 2),
        id="rounds-per-job-goes-on-here",
    ),
    pytest.param(
        missed(), (), LOOP, Done(changed=True), Step(Verdict("next"), None, "", "next", 2), id="loop-goes-on-here"
    ),
    pytest.param(
        missed(2), (missed(1, next_commit=SHA1),), JOB2, Done(), Step(Verdict("next"), "pending", "round 2: 0.8000 < 0.85; round 3 dispatched", "augment", 3),
        id="rounds-per-job-last-round-augments",
    ),
    # -- missed at max-rounds -----------------------------------------------------------------------
    pytest.param(
        missed(3), (), replace(JOB, last_in_job=3, job_first=3), Done(),
        Step(Verdict("exhausted"), "failure", "0.8000 < 0.85 after 3 rounds", "finish"),
        id="exhausted",
    ),
    pytest.param(
        missed(3), (), LOOP, Done(), Step(Verdict("exhausted"), "failure", "0.8000 < 0.85 after 3 rounds", "finish"),
        id="exhausted-in-the-loop",
    ),
    pytest.param(
        missed(3), (missed(2, next_commit=SHA2),), replace(JOB, last_in_job=3, job_first=2), Done(),
        Step(Verdict("exhausted"), "failure", "0.8000 < 0.85 after 3 rounds", "push"),
        id="exhausted-after-a-commit-of-this-job-pushes-it",
    ),
    pytest.param(
        missed(3), (missed(2, next_commit=SHA2),), replace(JOB, last_in_job=3, job_first=2), Done(push_error="rejected"),
        Step(Verdict("exhausted", "Not pushed: rejected"), "failure", "0.8000 < 0.85 after 3 rounds", "finish"),
        id="exhausted-after-a-commit-push-failed",
    ),
    # -- no write access ---------------------------------------------------------------------------------
    pytest.param(
        missed(), (), replace(JOB, writable=False), Done(),
        Step(Verdict("stopped", "No change was made."), "failure", STOPPED, "finish"),
        id="read-only-publisher",
    ),
    pytest.param(
        missed(), (), replace(JOB2, writable=False), Done(),
        Step(Verdict("stopped", "No change was made."), "failure", STOPPED, "finish"),
        id="read-only-publisher-rounds-left-in-the-job",
    ),
    # -- commit, push or dispatch off ----------------------------------------------------------------
    pytest.param(
        missed(), (), replace(JOB, commit=False), Done(changed=True),
        stopped("The change was made but not pushed (commit is off)."),
        id="commit-off",
    ),
    pytest.param(
        missed(next_commit=SHA1), (), replace(JOB, push=False), Done(changed=True),
        stopped("The change was made but not pushed (push is off)."),
        id="push-off",
    ),
    pytest.param(
        missed(next_commit=SHA1), (), replace(JOB, branch=False), Done(changed=True),
        stopped("The change was made but not pushed (no branch to push to)."),
        id="no-branch",
    ),
    pytest.param(
        missed(), (), replace(JOB, push=False), Done(),
        stopped("The change was made but not pushed (push is off).", "augment"),
        id="push-off-still-augments",
    ),
    pytest.param(
        missed(next_commit=SHA1), (), replace(JOB, dispatch=False), Done(changed=True),
        stopped("Pushed; dispatch is off, so the next round waits for a new run.", "push", state="pending"),
        id="dispatch-off-pushes",
    ),
    pytest.param(
        missed(next_commit=SHA1), (), replace(JOB, dispatch=False), Done(changed=True, pushed=True),
        stopped("Pushed; dispatch is off, so the next round waits for a new run.", state="pending"),
        id="dispatch-off-pushed",
    ),
    # -- a push or a dispatch that failed ------------------------------------------------------------
    pytest.param(
        missed(next_commit=SHA1), (), JOB, Done(changed=True, push_error="the branch moved"),
        stopped("Not pushed, nothing dispatched: the branch moved"),
        id="push-failed",
    ),
    pytest.param(
        missed(next_commit=SHA1), (), JOB, Done(changed=True, pushed=True, dispatch_error="HTTP 503"),
        stopped("Pushed, but the next round could not be dispatched: HTTP 503"),
        id="dispatch-failed",
    ),
    # -- keep the best: a round worse than the best by more than the noise margin ---------------------
    pytest.param(
        worse(2), (missed(1, next_commit=SHA1),), R2, Done(), Step(Verdict("next"), "pending", WORSE_NEXT, "revert", 3),
        id="worse-than-the-best-reverts-first",
    ),
    pytest.param(
        worse(2), (missed(1, next_commit=SHA1),), R2, Done(reverted=True),
        Step(Verdict("next"), "pending", WORSE_NEXT, "augment", 3),
        id="reverted-then-the-next-change",
    ),
    pytest.param(
        worse(2, 0.799), (missed(1, next_commit=SHA1),), R2, Done(),
        Step(Verdict("next"), "pending", "round 2: 0.7990 < 0.85; round 3 dispatched", "augment", 3),
        id="within-the-noise-margin-keeps-it",
    ),
    pytest.param(
        worse(2), (missed(1, next_commit=SHA1),), replace(LOOP, last_in_job=3), Done(),
        Step(Verdict("next"), None, "", "revert", 3), id="worse-in-the-loop-reverts",
    ),
    pytest.param(
        worse(2), (missed(1, next_commit=SHA1),), replace(R2, writable=False), Done(),
        Step(Verdict("stopped", "No change was made."), "failure", "round 2: 0.7000 < 0.85; loop stopped", "finish"),
        id="worse-read-only-reverts-nothing",
    ),
    pytest.param(
        worse(3), (missed(2, next_commit=SHA2),), R3, Done(),
        Step(Verdict("exhausted", KEPT), "failure", WORSE_LAST, "revert"), id="worse-last-round-reverts",
    ),
    pytest.param(
        worse(3, revert_commit=SHA1), (missed(2, next_commit=SHA2),), R3, Done(reverted=True),
        Step(Verdict("exhausted", KEPT), "failure", WORSE_LAST, "push"), id="worse-last-round-pushes-the-revert",
    ),
    pytest.param(
        worse(3), (missed(2),), LOOP, Done(reverted=True),
        Step(Verdict("exhausted", KEPT), "failure", WORSE_LAST, "finish"), id="worse-last-round-in-the-loop",
    ),
    pytest.param(
        worse(3), (missed(2),), replace(R3, writable=False), Done(),
        Step(Verdict("exhausted"), "failure", WORSE_LAST, "finish"), id="worse-last-round-read-only",
    ),
    # -- an error ------------------------------------------------------------------------------------------
    pytest.param(
        failed(), (), JOB, Done(),
        Step(Verdict("error"), "failure", "round 1 failed: the train command exited with status 1", "finish"),
        id="error",
    ),
    pytest.param(
        failed(2), (missed(1, next_commit=SHA1),), JOB2, Done(),
        Step(Verdict("error"), "failure", "round 2 failed: the train command exited with status 1", "finish"),
        id="error-pushes-nothing-of-the-job",
    ),
    pytest.param(
        failed(error="x" * 300), (), JOB, Done(),
        Step(Verdict("error"), "failure", ("round 1 failed: " + "x" * 300)[:140], "finish"),
        id="error-status-cut-at-140",
    ),
]  # fmt: skip


@pytest.mark.parametrize(("record", "earlier", "limits", "done", "expected"), ROWS)
def test_step(
    record: RoundRecord, earlier: tuple[RoundRecord, ...], limits: Limits, done: Done, expected: Step
) -> None:
    assert step(record, (*earlier, record), limits, done) == expected


#: The base branch's model: main at 0.95 (commit 3333333); ``max-regression`` 0.01 unless a row says.
MAIN = Baseline("main", "3" * 40, 0.95)
GUARD = replace(JOB, max_regression=0.01)
REGRESSED = (
    "the best model (round 1, 0.9000 < 0.94) is more than max-regression 0.01 below main's 0.9500 (3333333)"
)
PASSED_1 = "accuracy 0.9000 ≥ 0.85 at round 1"

BASE_ROWS = [
    pytest.param(
        passed(), (), GUARD, Done(), MAIN,
        Step(Verdict("stopped", f"The threshold is met, but {REGRESSED}."), "failure", REGRESSED, "finish"),
        id="passed-but-regressed-fails",
    ),
    pytest.param(
        passed(), (), GUARD, Done(), replace(MAIN, accuracy=0.91),
        Step(Verdict("passed"), "success", PASSED_1, "finish"), id="within-max-regression-passes",
    ),
    pytest.param(
        passed(), (), GUARD, Done(), replace(MAIN, accuracy=0.91000001),
        Step(Verdict("passed"), "success", PASSED_1, "finish"), id="at-max-regression-passes",
    ),
    pytest.param(
        passed(), (), JOB, Done(), MAIN,
        Step(Verdict("passed"), "success", PASSED_1, "finish"), id="no-max-regression-only-shows-the-base",
    ),
    pytest.param(
        passed(), (), GUARD, Done(), Baseline("main", missing="no note"),
        Step(Verdict("passed"), "success", PASSED_1, "finish"), id="no-baseline-compares-nothing",
    ),
    pytest.param(
        passed(), (), GUARD, Done(), None,
        Step(Verdict("passed"), "success", PASSED_1, "finish"), id="no-base-looked-for",
    ),
    pytest.param(
        passed(2), (missed(1, next_commit=SHA1),), replace(JOB2, max_regression=0.01), Done(), MAIN,
        Step(
            Verdict("stopped", f"The threshold is met, but {REGRESSED.replace('round 1', 'round 2')}."),
            "failure", REGRESSED.replace("round 1", "round 2"), "push",
        ),
        id="regressed-still-pushes-the-job",
    ),
    pytest.param(
        missed(3), (missed(1), missed(2)), replace(R3, max_regression=0.01), Done(), MAIN,
        Step(
            Verdict("exhausted", "And the best model (round 1, 0.8000 < 0.94) is more than max-regression 0.01 below main's 0.9500 (3333333)."),
            "failure", "0.8000 < 0.85 after 3 rounds", "finish",
        ),
        id="exhausted-and-regressed-says-both",
    ),
    pytest.param(
        missed(1), (), replace(GUARD, max_rounds=1), Done(), MAIN,
        Step(
            Verdict("exhausted", "And the best model (round 1, 0.8000 < 0.94) is more than max-regression 0.01 below main's 0.9500 (3333333)."),
            "failure", "0.8000 < 0.85 after 1 rounds", "finish",
        ),
        id="one-round-loop-exhausted-and-regressed",
    ),
    pytest.param(
        missed(), (), GUARD, Done(), MAIN,
        Step(Verdict("next"), "pending", NEXT, "augment", 2), id="a-missed-round-goes-on-whatever-the-base",
    ),
    # -- a push to the default branch: train, record, send the status, change nothing ------------------
    pytest.param(
        passed(), (), replace(JOB, record_only=True), Done(), None,
        Step(Verdict("passed", RECORD_ONLY), "success", PASSED_1, "finish"), id="push-run-passed",
    ),
    pytest.param(
        missed(), (), replace(JOB, record_only=True), Done(), None,
        Step(Verdict("stopped", RECORD_ONLY), "failure", STOPPED, "finish"), id="push-run-missed-changes-nothing",
    ),
    pytest.param(
        failed(), (), replace(JOB, record_only=True), Done(), None,
        Step(Verdict("error"), "failure", "round 1 failed: the train command exited with status 1", "finish"),
        id="push-run-error",
    ),
]  # fmt: skip


@pytest.mark.parametrize(("record", "earlier", "limits", "done", "base", "expected"), BASE_ROWS)
def test_step_with_the_base(
    record: RoundRecord,
    earlier: tuple[RoundRecord, ...],
    limits: Limits,
    done: Done,
    base: Baseline | None,
    expected: Step,
) -> None:
    assert step(record, (*earlier, record), limits, done, base) == expected


def test_a_run_that_does_nothing_sends_no_status() -> None:
    message = "round 1 already finished and committed its change (1111111); this run is a duplicate and does nothing"
    assert stop(message) == Step(Verdict("stopped", message), None, "", "stop")


DUPLICATE = Step(
    Verdict(
        "stopped",
        "round 1 already finished and committed its change (1111111); this run is a duplicate and does nothing",
    ),
    None,
    "",
    "stop",
)


@pytest.mark.parametrize(
    ("records", "trailers", "head", "expected"),
    [
        pytest.param(
            (missed(1, next_commit=SHA1),), {1: SHA1}, SHA1, DUPLICATE, id="head-is-the-rounds-commit"
        ),
        pytest.param((), {1: SHA1}, SHA1, DUPLICATE, id="no-history-the-trailer-says"),
        pytest.param((missed(1, next_commit=SHA1),), None, "", DUPLICATE, id="no-checkout-the-history-says"),
        pytest.param((missed(1, next_commit=SHA1),), {1: SHA1}, SHA2, None, id="someone-pushed-since"),
        pytest.param((missed(1, next_commit=SHA1),), {}, SHA2, None, id="head-is-not-keras-cts"),
        pytest.param((missed(1),), None, "", None, id="round-1-moved-on-without-a-commit"),
        pytest.param(
            (missed(1, next_commit=SHA1),),
            {1: SHA1, 2: SHA2},
            SHA2,
            DUPLICATE,
            id="head-is-a-later-rounds-commit",
        ),
        # A round that finished on the code under test (a re-run checks out the event's SHA again).
        pytest.param((on(passed(), BASE),), {}, BASE, finished("it passed"), id="passed-on-this-commit"),
        pytest.param((on(passed(), BASE),), None, BASE, finished("it passed"), id="passed-no-checkout"),
        pytest.param(
            (on(missed(1, next_commit=SHA1), BASE),), {1: SHA1}, BASE, finished("the loop moved on"),
            id="rerun-of-the-trained-commit-after-it-moved-on",
        ),
        pytest.param(
            (on(missed(1), BASE), missed(2)), {}, BASE, finished("the loop moved on"),
            id="a-later-round-exists",
        ),
        pytest.param((on(passed(), BASE),), {}, SHA2, None, id="passed-but-someone-pushed-since"),
        pytest.param((on(failed(), BASE),), {}, BASE, None, id="a-failed-round-runs-again"),
        pytest.param((on(missed(1), BASE),), {}, BASE, None, id="missed-and-stopped-runs-again"),
    ],
)  # fmt: skip
def test_a_duplicate_run_stops_before_training(
    records: tuple[RoundRecord, ...], trailers: dict[int, str] | None, head: str, expected: Step | None
) -> None:
    assert already_done(records, 1, trailers, head, max_rounds=3) == expected


def test_the_last_round_that_missed_is_finished() -> None:
    assert already_done((on(missed(3), BASE),), 3, {}, BASE, max_rounds=3) == finished(
        "it was the last round", 3
    )


def _walk(record: RoundRecord, earlier: tuple[RoundRecord, ...], limits: Limits) -> list[Step]:
    """The steps of a round whose every action succeeds (the engine's loop, without the engine)."""
    done, history, steps = Done(), (*earlier, record), []
    while len(steps) < 10:
        now = step(history[-1], history, limits, done)
        steps.append(now)
        if now.action == "augment":
            done = replace(done, changed=True)
            if limits.commit:
                history = (*earlier, replace(record, next_commit=SHA2))
        elif now.action == "push":
            done = replace(done, pushed=True)
        elif now.action == "dispatch":
            done = replace(done, dispatched=True)
        else:
            return steps
    raise AssertionError(f"no end after {steps}")


FLAGS = list(itertools.product([False, True], repeat=6))


@pytest.mark.parametrize(
    "record", [passed(2), missed(2), missed(3), failed(2)], ids=["passed", "missed", "max", "error"]
)
@pytest.mark.parametrize("last_in_job", [2, 3])
@pytest.mark.parametrize("flags", FLAGS, ids=["".join("1" if f else "0" for f in flags) for flags in FLAGS])
def test_every_round_ends_where_its_first_step_said(
    record: RoundRecord, last_in_job: int, flags: tuple[bool, ...]
) -> None:
    """Whatever the limits: each action is done at most once, the round ends in ``next``, ``finish``,
    and the verdict and status it ends with are the ones its first step announced."""
    local, writable, commit, push, dispatch, branch = flags
    limits = Limits(3, last_in_job, 1, local, writable, commit, push, dispatch, branch)
    earlier = (missed(1, next_commit=SHA1 if commit and writable else ""),)
    steps = _walk(record, earlier, limits)
    actions = [s.action for s in steps]
    assert actions[-1] in ("next", "finish") and len(actions) == len(set(actions))
    first, last = steps[0], steps[-1]
    assert (first.verdict, first.state, first.text, first.next_round) == (
        last.verdict,
        last.state,
        last.text,
        last.next_round,
    )
    if "dispatch" in actions:
        assert not local and record.status == "missed" and record.round < 3 and last.state == "pending"
        assert actions.index("push") < actions.index("dispatch")
    if "push" in actions:
        assert not local and commit and push and branch and record.status != "error"
    if last.state is None:
        assert last.action == "next" and last.verdict == Verdict("next")
