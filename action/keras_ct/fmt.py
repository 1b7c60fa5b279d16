"""How numbers and marks read in every report: accuracies, thresholds, comparisons, the best round.

Pure; ``keras_ct.report`` (the comment, the summary, the terminal), ``keras_ct.chart``, the policy's
rationales and the commit messages all print through these, so a number reads the same everywhere.
"""

from __future__ import annotations

from collections.abc import Sequence

from keras_ct.round import history as hist
from keras_ct.round.history import RoundRecord
from keras_ct.train.metrics import meets

#: Accuracies print with this many decimals at least (more only where the comparison needs them).
ACCURACY_DIGITS = 4


def fmt_accuracy(value: float | None) -> str:
    return "—" if value is None else f"{value:.{ACCURACY_DIGITS}f}"


def fmt_threshold(threshold: float) -> str:
    """The threshold as given: the shortest text that reads back as the same number (0.975, 0.94996)."""
    return repr(float(threshold))


def fmt_versus(value: float | None, threshold: float) -> str:
    """``value`` against ``threshold`` so that the printed numbers compare as the real ones do.

    The threshold prints as given; the value with ``ACCURACY_DIGITS`` decimals, or more where fewer
    would read wrong (0.94996 against 0.95 prints "0.94996 < 0.95", never "0.9500 < 0.95"). A value
    meets the threshold as ``train.metrics.meets`` says (float32 rounding allowed). Where no rounding
    reads true, the value prints exactly, with "≈" for one that meets the threshold from just below.
    """
    thr = fmt_threshold(threshold)
    if value is None:
        return f"— < {thr}"
    met = meets(value, threshold)
    for digits in range(ACCURACY_DIGITS, 18):
        text = f"{value:.{digits}f}"
        if (float(text) >= threshold) == met:
            return f"{text} {'≥' if met else '<'} {thr}"
    exact = "≥" if value >= threshold else "≈" if met else "<"
    return f"{value!r} {exact} {thr}"


def fmt_delta(value: float | None) -> str:
    return "—" if value is None else f"{value:+.{ACCURACY_DIGITS}f}"


def fmt_duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    return f"{seconds:.1f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


def fmt_count(value: int | None) -> str:
    return "—" if value is None else f"{value:,}"


#: The table's marks: the best round (keep the best; a passed round has ✅ instead) and a round whose
#: files were put back.
BEST_MARK = "🏆"
REVERT_MARK = "↩"


def marked_best(records: Sequence[RoundRecord]) -> RoundRecord | None:
    """The round the report marks best: once two rounds scored, unless the best one passed."""
    best = hist.best_round(records)
    scored = [r for r in records if r.accuracy is not None and r.status != "error"]
    return best if best is not None and len(scored) > 1 and not best.passed else None


def one_threshold(records: Sequence[RoundRecord]) -> float | None:
    """The threshold when every round had the same one."""
    thresholds = {r.threshold for r in records}
    return thresholds.pop() if len(thresholds) == 1 else None
