"""The report renderer: golden files for what users read, and the comment's size limit.

Regenerate the golden files after an intended change, then review the diff:

    KERAS_CT_UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/test_report.py

``tests/golden/loop-*.json`` are real loops' output (``tools/capture_loop.py`` around a
``keras-ct loop --commit`` of the bundled ml_task: see docs/development.md); the comments rendered
from them (``comment-loop-*.md``) are what tests/test_render_comment.py shows in a browser.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from keras_ct.chart import CHART_COLOURS, chart_range
from keras_ct.fmt import ACCURACY_DIGITS, fmt_versus
from keras_ct.report import (
    COMMENT_LIMIT,
    COMMENT_MARKER,
    Links,
    Verdict,
    parse_history_block,
    render_comment,
    render_report,
    render_table,
    render_terminal,
    status_text,
    verdict_line,
)
from keras_ct.round import history as hist
from keras_ct.round.baseline import Baseline
from keras_ct.round.history import EpochCurves, RoundRecord
from keras_ct.train.metrics import meets

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
    curves=EpochCurves(accuracy=(0.6, 0.9, 0.93), val_accuracy=(0.87, 0.935, 0.94)),
    next_change="conv-block",
    # What keras_ct.augment.policy says for these curves.
    next_rationale=(
        "accuracy 0.9444 < 0.95 and train accuracy 0.9300 < 0.95: the model underfits (it cannot fit the "
        "training data to the threshold), adding a Conv2D(32) + MaxPooling2D block"
    ),
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
    assert f'plotColorPalette: "{CHART_COLOURS[0]}, {CHART_COLOURS[1]}"' in text  # not mermaid's #ECECFF
    assert 'title "accuracy (blue), threshold 0.95 (red)"' in text
    assert 'y-axis "accuracy" 0.93 --> 0.98' in text  # fits the data, no fixed 0.8 floor


def test_chart_draws_the_base_branch_when_known_and_marks_the_best_round() -> None:
    records = (r1(), r2(accuracy=0.93, status="missed"))
    text = render_report(records, Verdict("exhausted", base=Baseline("main", "a" * 40, 0.9)))
    assert "line [0.9000, 0.9000]" in text and f"{CHART_COLOURS[2]}" in text
    assert "main 0.9000 (grey)" in text and "🏆 best: round 1" in text
    assert 'x-axis "Round" ["1 🏆", "2"]' in text
    assert 'y-axis "accuracy" 0.89 --> 0.96' in text


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        pytest.param([0.9444, 0.9639, 0.95], (0.93, 0.98), id="close-values"),
        pytest.param([0.2, 0.9], (0.06, 1.0), id="wide-capped-at-one"),
        pytest.param([0.001, 0.01], (0.0, 0.02), id="floored-at-zero"),
    ],
)
def test_chart_range_fits_the_data(values: list[float], expected: tuple[float, float]) -> None:
    low, high = chart_range(values)
    assert (low, high) == expected
    assert low < min(values) and max(values) < high


def test_rationales_collapse_below_a_table_of_short_change_names() -> None:
    text = render_report((r1(), r2()), Verdict("passed"))
    table = text.split("<details>")[0]
    assert "| **conv-block** |" in table and R1.next_rationale not in table
    assert (
        f"<details><summary>Why each change</summary>\n\n- **Round 2, conv-block**: {R1.next_rationale}"
        in text
    )


@pytest.mark.parametrize(
    ("thresholds", "note"),
    [
        pytest.param((0.95, 0.95), "Threshold 0.95", id="same"),
        pytest.param((0.95, 0.96), "Threshold 0.95 for round 1, 0.96 for round 2", id="changed"),
        pytest.param((0.9, 0.9, 0.95), "Threshold 0.9 for rounds 1–2, 0.95 for round 3", id="spans"),
    ],
)
def test_table_says_the_threshold_once_below_it(thresholds: tuple[float, ...], note: str) -> None:
    records = [
        RoundRecord(round=i + 1, accuracy=0.5, threshold=t, status="missed") for i, t in enumerate(thresholds)
    ]
    table = render_table(records)
    assert "Threshold" not in table.splitlines()[0] and f"\n\n{note}" in table


def load_loop(name: str) -> tuple[hist.History, Verdict, str]:
    """A real loop's records, verdict and diff (``tools/capture_loop.py`` wrote them)."""
    data = json.loads((GOLDEN / f"loop-{name}.json").read_text(encoding="utf-8"))
    return hist.loads(json.dumps(data["history"])), Verdict(**data["verdict"]), data["diff"]


#: The real loops whose comments are golden files (and rendered in a browser by test_render_comment).
LOOPS = ("passed", "exhausted")


@pytest.mark.parametrize("name", LOOPS)
def test_comment_of_a_real_loop_golden(name: str) -> None:
    records, verdict, diff = load_loop(name)
    body = render_comment(records, verdict, links=LINKS, diff=diff)
    check_golden(f"comment-loop-{name}.md", body)
    stored = parse_history_block(body)  # (older rounds' curves are not stored)
    assert [(r.round, r.accuracy, r.change) for r in stored] == [
        (r.round, r.accuracy, r.change) for r in records
    ]


def test_the_base_is_a_line_above_the_table_and_in_the_chart() -> None:
    text = render_report((r1(), r2()), Verdict("passed", base=Baseline("main", "a" * 40, 0.9712)))
    assert "**Compared with:** base main: 0.9712 (aaaaaaa)\n\n| Round |" in text
    assert 'title "accuracy (blue), threshold 0.95 (red), main 0.9712 (grey)"' in text
    assert "  line [0.95, 0.95]\n  line [0.9712, 0.9712]\n```" in text


def test_no_baseline_is_said_and_not_drawn() -> None:
    base = Baseline("main", missing="no keras-ct note on the merge-base 1234567")
    text = render_report((r1(), r2()), Verdict("passed", base=base))
    assert "**Compared with:** no baseline for main yet: no keras-ct note on the merge-base 1234567" in text
    assert "(grey)" not in text and text.count("  line [") == 2


@pytest.mark.parametrize(
    ("accuracy", "threshold", "text"),
    [
        pytest.param(0.95, 0.975, "0.9500 < 0.975", id="threshold-as-given-0.975"),
        pytest.param(0.95, 0.995, "0.9500 < 0.995", id="threshold-as-given-0.995"),
        pytest.param(0.95, 0.957, "0.9500 < 0.957", id="threshold-as-given-0.957"),
        pytest.param(0.94996, 0.95, "0.94996 < 0.95", id="digits-until-it-reads-true"),
        pytest.param(0.9499, 0.94996, "0.9499 < 0.94996", id="threshold-0.94996"),
        pytest.param(0.949999988, 0.95, "0.9500 ≥ 0.95", id="float32-at-threshold-meets"),
        pytest.param(0.8, 0.85, "0.8000 < 0.85", id="four-digits-at-least"),
        pytest.param(None, 0.85, "— < 0.85", id="no-accuracy"),
    ],
)
def test_versus_prints_a_comparison_that_reads_true(
    accuracy: float | None, threshold: float, text: str
) -> None:
    assert fmt_versus(accuracy, threshold) == text


@settings(max_examples=300, deadline=None, derandomize=True)
@given(st.floats(0, 1), st.floats(0, 1), st.floats(-2e-6, 2e-6))
def test_versus_reads_true_for_any_accuracy(value: float, threshold: float, nudge: float) -> None:
    if nudge:  # right at the threshold, where float32 rounding and too few digits mislead
        value = min(1.0, max(0.0, threshold + nudge))
    shown, op, shown_threshold = fmt_versus(value, threshold).split(" ")
    assert float(shown_threshold) == threshold
    met = meets(value, threshold)
    if op == "≈":  # no rounding of a value just below the threshold reads "≥": printed exactly
        assert met and float(shown) == value < threshold
    else:
        assert op == ("≥" if met else "<")
        assert (float(shown) >= threshold) is met
        assert float(shown) == value or len(shown.split(".")[1]) >= ACCURACY_DIGITS


@pytest.mark.parametrize(
    ("verdict", "accuracy", "threshold", "status", "line"),
    [
        pytest.param(
            Verdict("next"), 0.94996, 0.95, "round 1: 0.94996 < 0.95; round 2 dispatched",
            "Round 1: accuracy 0.94996 < 0.95; round 2 is on its way.", id="next",
        ),
        pytest.param(
            Verdict("exhausted"), 0.95, 0.975, "0.9500 < 0.975 after 1 rounds",
            "Threshold not met: accuracy 0.9500 < 0.975 after round 1, the last round.", id="exhausted",
        ),
        pytest.param(
            Verdict("stopped"), 0.95, 0.957, "round 1: 0.9500 < 0.957; loop stopped",
            "Round 1: accuracy 0.9500 < 0.957; the loop stopped.", id="stopped",
        ),
        pytest.param(
            Verdict("passed"), 0.949999988, 0.95, "accuracy 0.9500 ≥ 0.95 at round 1",
            "Threshold met: accuracy 0.9500 ≥ 0.95 at round 1.", id="passed",
        ),
    ],
)  # fmt: skip
def test_status_and_verdict_print_the_threshold_as_given(
    verdict: Verdict, accuracy: float, threshold: float, status: str, line: str
) -> None:
    record = RoundRecord(round=1, accuracy=accuracy, threshold=threshold, status="missed")
    assert status_text(record, verdict) == status
    assert verdict_line([record], verdict).endswith(f" **{line}**")
    assert f"Threshold {threshold!r}." in render_table([record]) and f"{threshold!r}" in render_terminal(
        [record], verdict
    )


def test_an_accuracy_not_from_evaluate_is_labelled_as_such() -> None:
    records = (r1(), dataclasses.replace(r2(), metric_source="last val_accuracy"))
    text = render_report(records, Verdict("passed"))
    assert "the accuracy of round 2 is the last val_accuracy (the script calls no evaluate)" in text
    held_out = (dataclasses.replace(r1(), metric_source="evaluate"), r2())
    assert "calls no evaluate" not in render_report(held_out, Verdict("passed"))
