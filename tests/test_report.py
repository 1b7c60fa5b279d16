"""The report renderer: golden files for what users read, and the comment's size limit.

Regenerate the golden files after an intended change, then review the diff:

    KERAS_CT_UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/test_report.py
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

import pytest

from keras_ct.report import (
    COMMENT_LIMIT,
    COMMENT_MARKER,
    Links,
    Verdict,
    parse_history_block,
    render_comment,
    render_report,
    render_terminal,
)
from keras_ct.round.history import EpochCurves, RoundRecord

GOLDEN = Path(__file__).parent / "golden"
LINKS = Links("https://github.com", "acme/ml")
DIFF = """--- a/ml_task/model.py
+++ b/ml_task/model.py
@@ -12,6 +12,8 @@
             layers.Conv2D(16, 3, padding="same", activation="relu"),
             layers.MaxPooling2D(),
+            layers.Conv2D(32, 3, padding="same", activation="relu"),
+            layers.MaxPooling2D(),
             layers.Flatten(),
"""


R1 = RoundRecord(
    round=1,
    accuracy=0.9444,
    threshold=0.95,
    status="missed",
    commit="a1b2c3d4e5f6",
    params=31530,
    epochs=5,
    duration_s=4.21,
    run_url="https://github.com/acme/ml/actions/runs/101",
    curves=EpochCurves(accuracy=(0.6, 0.9, 0.93), val_accuracy=(0.87, 0.93, 0.96)),
    next_change="conv-block",
    next_rationale="val accuracy 0.9653 and train accuracy 0.9466 are both below 0.95: the model underfits; adding a Conv2D(32) + MaxPooling2D block",
)
#: Round 2 differs from round 1 in these: it trained R1's change and passed.
R2_CHANGES: dict[str, Any] = {
    "round": 2,
    "accuracy": 0.9639,
    "status": "passed",
    "commit": "f6e5d4c3b2a1",
    "params": 20490,
    "duration_s": 5.0,
    "run_url": "https://github.com/acme/ml/actions/runs/102",
    "change": "conv-block",
    "rationale": R1.next_rationale,
    "curves": EpochCurves(),
    "next_change": "",
    "next_rationale": "",
}


def r1(**kw: Any) -> RoundRecord:
    return dataclasses.replace(R1, **kw)


def r2(**kw: Any) -> RoundRecord:
    return dataclasses.replace(R1, **{**R2_CHANGES, **kw})


CASES = {
    "round1-next": (
        (r1(),),
        Verdict("next", next_run_url="https://github.com/acme/ml/actions/runs/102"),
        DIFF,
    ),
    "round2-passed": ((r1(), r2()), Verdict("passed"), DIFF),
    "round2-error": (
        (
            r1(),
            RoundRecord(
                round=2,
                accuracy=None,
                threshold=0.95,
                status="error",
                change="conv-block",
                error="train command exited with status 1",
            ),
        ),
        Verdict("error"),
        "",
    ),
    "exhausted": ((r1(next_change="", next_rationale=""),), Verdict("exhausted"), ""),
}


def check_golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("KERAS_CT_UPDATE_GOLDEN"):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    assert path.is_file(), f"golden file {path} is missing: run with KERAS_CT_UPDATE_GOLDEN=1"
    assert text == path.read_text(encoding="utf-8")


@pytest.mark.parametrize("case", sorted(CASES))
def test_report_golden(case: str) -> None:
    records, verdict, diff = CASES[case]
    check_golden(f"report-{case}.md", render_report(records, verdict, links=LINKS, diff=diff))


@pytest.mark.parametrize("case", sorted(CASES))
def test_terminal_golden(case: str) -> None:
    records, verdict, _ = CASES[case]
    check_golden(f"terminal-{case}.txt", render_terminal(records, verdict))


def test_comment_golden_and_history_round_trip() -> None:
    records, verdict, diff = CASES["round2-passed"]
    body = render_comment(records, verdict, links=LINKS, diff=diff)
    check_golden("comment-round2-passed.md", body)
    assert body.startswith(COMMENT_MARKER)
    assert parse_history_block(body) == records


def test_history_block_survives_hostile_text() -> None:
    record = r1(next_rationale="ends the comment --> <!-- and more -- here")
    body = render_comment((record,), Verdict("next"))
    assert body.count("-->") == body.count("<!--")  # nothing closes the hidden block early
    assert parse_history_block(body)[0].next_rationale == record.next_rationale


def test_comment_stays_under_limit_collapsing_oldest_rounds_first() -> None:
    long = "x" * 3000
    records = tuple(
        RoundRecord(
            round=i, accuracy=0.5 + i / 100, threshold=0.99, status="missed", change="dense", rationale=long
        )
        for i in range(1, 21)
    )
    big_diff = "+ line\n" * 5000
    body = render_comment(records, Verdict("exhausted"), links=LINKS, diff=big_diff)
    assert len(body) <= COMMENT_LIMIT
    assert "earlier rounds (collapsed)" in body
    assert "| 20 |" in body  # the newest round keeps its row
    assert len(parse_history_block(body)) == 20  # the machine-readable history keeps every round


def test_chart_plots_accuracy_against_threshold() -> None:
    text = render_report((r1(), r2()), Verdict("passed"))
    assert "xychart-beta" in text
    assert "line [0.9444, 0.9639]" in text
    assert "line [0.95, 0.95]" in text
