"""The line an interrupted round prints: what it left and what the next run does (a pure function).

The phases of a single round are covered end to end in tests/reliability/test_interrupts.py; these
are the cases that need several rounds in one run.
"""

from __future__ import annotations

import pytest

from keras_ct.round.interrupts import Interrupted, interrupted_note


@pytest.mark.parametrize(
    ("at", "said"),
    [
        pytest.param(
            Interrupted(3, "training", job_first=1),
            "round 3 was interrupted while training; nothing of this round was changed or committed: rounds "
            "1-2 of this job committed their changes but did not push, so a re-run of the job trains round 1 "
            "again",
            id="rounds-per-job-training",
        ),
        pytest.param(
            Interrupted(2, "committed", commit="0123456789abcdef", branch="improve-model", job_first=1),
            "round 2 was interrupted after committing its change (0123456) here, before pushing it: "
            "improve-model and the pull request are unchanged; re-run the job to train round 1 again",
            id="rounds-per-job-committed",
        ),
        pytest.param(
            Interrupted(
                2, "pushing", commit="0123456789abcdef", branch="improve-model", job_first=1, ended=True
            ),
            "the loop ended at round 2, but pushing this job's changes (0123456) to improve-model was "
            "interrupted: if improve-model has 0123456 now, nothing is left to do; if not, re-run the job",
            id="rounds-per-job-passed-pushing",
        ),
        pytest.param(
            Interrupted(2, "training", local=True, committing=False, earlier_edits=True),
            "round 2 was interrupted while training; the changes of earlier rounds are in the working tree, "
            "not committed: the next `keras-ct loop` starts at round 1 on the code as it is now",
            id="loop-without-commit",
        ),
        pytest.param(
            Interrupted(1, "committed", ("ml_task/model.py",), local=True, committing=False),
            "round 1 was interrupted after writing its change to ml_task/model.py (not committed: commit is off)",
            id="loop-without-commit-edit-written",
        ),
    ],
)
def test_the_note_says_what_was_left_and_what_the_next_run_does(at: Interrupted, said: str) -> None:
    assert interrupted_note(at) == said
