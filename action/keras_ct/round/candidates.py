"""k candidate changes per missed round: which one to keep, and how the choice is written (pure).

A round that misses with ``candidates`` k > 1 tries the policy's top k changes side by side (one
process each, in ``keras-ct loop`` and in the action's job: ``round.trials``). Every way of running
them decides here, so a job that gathers results from other runners (docs/candidates.md) makes the
same choice as the local loop from the same accuracies.

The rule is the one-standard-error rule of model selection (Hastie, Tibshirani and Friedman, *The
Elements of Statistical Learning*, 7.10; CART's and glmnet's ``lambda.1se``): a candidate within one
standard error of the best accuracy counts as as good as it, and among those the policy's
higher-ranked one is kept (its diagnosis preferred it; a difference the test set cannot resolve does
not overrule it), except that one which meets the threshold is preferred to one that does not (it
ends the loop). The standard error is the best accuracy's binomial one, ``sqrt(p (1 - p) / n)`` over
the ``n`` held-out samples the metrics file reports (``test_samples``; 0.019 at 0.85 on 360); where it
reports none, keep-the-best's fixed ``round.history.NOISE_MARGIN``. A candidate with no accuracy
(crashed, cancelled, no metrics file) is never kept; when none scored the round fails.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from keras_ct.errors import TrainingError
from keras_ct.round.history import NOISE_MARGIN
from keras_ct.train.metrics import meets

#: One trailer per candidate on the kept change's commit: ``Keras-CT-Candidate-2: dropout 0.9050``.
CANDIDATE_TRAILER = "Keras-CT-Candidate"


@dataclass(frozen=True)
class CandidateResult:
    """One candidate's outcome: its rank in the policy's order (1 = first), its change and accuracy
    (None when it has none: crashed, cancelled or no metrics), why it has none, and its training's
    seconds."""

    index: int
    change: str
    accuracy: float | None
    error: str = ""
    seconds: float = 0.0
    #: The held-out samples its accuracy was measured on (the metrics file's ``test_samples``).
    samples: int | None = None


@dataclass(frozen=True)
class Choice:
    """The candidate kept and every candidate tried (in the policy's order)."""

    kept: CandidateResult
    results: tuple[CandidateResult, ...]

    @property
    def tried(self) -> tuple[tuple[str, float | None], ...]:
        """(change, accuracy) of every candidate, as the round's record keeps them."""
        return tuple((r.change, r.accuracy) for r in self.results)


def choose(results: Sequence[CandidateResult], threshold: float | None = None) -> Choice:
    """The candidate to keep (see the module's rule); ``TrainingError`` when none has an accuracy."""
    ordered = tuple(sorted(results, key=lambda r: r.index))
    scored = [r for r in ordered if r.accuracy is not None]
    if not scored:
        tried = "; ".join(f"{r.index} {r.change}: {r.error or 'no accuracy'}" for r in ordered)
        raise TrainingError(f"all {len(ordered)} candidates failed, none to keep ({tried or 'none ran'})")
    top = max(r.accuracy or 0.0 for r in scored)
    good = [r for r in scored if (r.accuracy or 0.0) >= top - margin(top, scored)]
    passing = [r for r in good if threshold is not None and meets(r.accuracy or 0.0, threshold)]
    return Choice((passing or good)[0], ordered)


def margin(top: float, scored: Sequence[CandidateResult]) -> float:
    """How far below the best accuracy ``top`` a candidate still counts as as good: one binomial
    standard error over the fewest test samples any candidate reports, at least ``NOISE_MARGIN``."""
    counts = [r.samples for r in scored if r.samples]
    if not counts:
        return NOISE_MARGIN
    return max(NOISE_MARGIN, math.sqrt(top * (1.0 - top) / min(counts)))


def trailers(tried: Sequence[tuple[str, float | None]], kept: str) -> dict[str, str]:
    """The kept change's commit trailers: every candidate's result in the policy's order, the kept
    one marked, e.g. ``Keras-CT-Candidate-2: dropout 0.9050 (kept)``."""
    marked = False
    out = {}
    for i, (change, accuracy) in enumerate(tried, 1):
        text = f"{change} failed" if accuracy is None else f"{change} {accuracy:.4f}"
        if change == kept and not marked:
            text, marked = f"{text} (kept)", True
        out[f"{CANDIDATE_TRAILER}-{i}"] = text
    return out
