"""The metrics file: the contract between any training script and keras-ct.

A training script writes one JSON document to the path in ``$KERAS_CT_METRICS_FILE``::

    {
      "schema_version": 1,
      "metric": "accuracy",            # which key below is the metric (informational)
      "accuracy": 0.9361,              # final held-out test accuracy, in [0, 1]
      "history": {"loss": [...], "accuracy": [...], "val_loss": [...], "val_accuracy": [...]},
      "epochs": 5, "params": 5450, "duration_s": 3.2, "dataset": "digits",
      "initial_epoch": 0,              # optional: first epoch trained in this process (resume)
      "test_samples": 360              # optional: how many held-out samples the metric was measured on
    }

Only ``schema_version`` and the configured metric are required; everything else is optional but
feeds the policy (``history``) and the reports. Validation is strict and names the bad field.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from keras_ct.errors import MetricsError
from keras_ct.round.history import EpochCurves, RoundRecord

SCHEMA_VERSION = 1
#: Training scripts report float32 metrics: 342/360 test images right is 0.949999988..., not 0.95.
#: A metric within this tolerance of the threshold meets it.
TOLERANCE = 1e-6


def meets(value: float, threshold: float) -> bool:
    """Whether a metric meets the threshold, allowing for float32 rounding in the training script."""
    return value >= threshold - TOLERANCE


@dataclass(frozen=True)
class Metrics:
    value: float
    metric: str
    curves: EpochCurves = field(default_factory=EpochCurves)
    epochs: int | None = None
    params: int | None = None
    duration_s: float | None = None
    dataset: str = ""
    initial_epoch: int = 0
    #: Where the metric came from, as the training says: "evaluate" (held-out data), "last val_accuracy"
    #: (keras-ct's hooks, when the script calls no evaluate); empty when the script does not say.
    source: str = ""
    #: How many held-out samples the metric was measured on ("test_samples"), when the script says:
    #: the noise in it (``round.candidates``: which candidates are as good as the best).
    samples: int | None = None
    extra: dict[str, Any] = field(default_factory=dict, compare=False)


def _finite(value: int | float) -> bool:
    """``math.isfinite`` that also answers for a whole number too large for a float (JSON allows it)."""
    try:
        return math.isfinite(value)
    except OverflowError:
        return False


def _fail(path: Path, problem: str) -> MetricsError:
    return MetricsError(
        f"metrics file {path}: {problem}; the train command must write schema_version {SCHEMA_VERSION} JSON "
        "to $KERAS_CT_METRICS_FILE (see the README's 'Metrics file' section)",
        file=str(path),
    )


def _number(path: Path, data: dict[str, Any], key: str, *, unit: bool = False) -> float:
    value = data[key]
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _fail(path, f'"{key}" must be a number, got {json.dumps(value)}')
    if not _finite(value):
        shown = str(value) if len(str(value)) <= 40 else f"a number of {len(str(value))} digits"
        raise _fail(path, f'"{key}" must be a finite number, got {shown}')
    if unit and not 0.0 <= value <= 1.0:
        raise _fail(path, f'"{key}" must be between 0 and 1, got {value}')
    return float(value)


def _count(path: Path, data: dict[str, Any], key: str) -> int | None:
    if data.get(key) is None:
        return None
    value = data[key]
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise _fail(path, f'"{key}" must be a whole number >= 0, got {json.dumps(value)}')
    return value


def parse_metrics(text: str, path: Path, metric: str = "accuracy") -> Metrics:
    """Validate the metrics document; raise ``MetricsError`` naming the field that is wrong."""
    if not text.strip():
        raise _fail(path, "the file is empty (did training crash before writing it?)")
    try:
        data = json.loads(text, parse_constant=lambda c: float(c))
    except json.JSONDecodeError as exc:
        raise MetricsError(
            f"metrics file {path} is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}",
            file=str(path),
            line=exc.lineno,
        ) from None
    except (ValueError, RecursionError) as exc:  # a number of over 4300 digits, nesting too deep
        raise _fail(path, f"cannot be parsed ({str(exc).split(';')[0]})") from None
    if not isinstance(data, dict):
        raise _fail(path, f"the document must be a JSON object, got {type(data).__name__}")
    version = data.get("schema_version")
    if version != SCHEMA_VERSION:
        raise _fail(path, f'"schema_version" must be {SCHEMA_VERSION}, got {json.dumps(version)}')
    if metric not in data:
        raise _fail(path, f'the metric "{metric}" is missing (keys: {", ".join(sorted(data))})')
    value = _number(path, data, metric, unit=True)

    history = data.get("history") or {}
    if not isinstance(history, dict):
        raise _fail(path, f'"history" must be an object of per-epoch lists, got {json.dumps(history)[:60]}')
    for name, series in history.items():
        if not isinstance(series, list) or not all(
            isinstance(v, int | float) and not isinstance(v, bool) and _finite(v) for v in series
        ):
            raise _fail(path, f'"history.{name}" must be a list of finite numbers')
    duration = _number(path, data, "duration_s") if data.get("duration_s") is not None else None
    dataset = data.get("dataset", "")
    return Metrics(
        value=value,
        metric=metric,
        curves=EpochCurves.from_mapping(history),
        epochs=_count(path, data, "epochs"),
        params=_count(path, data, "params"),
        duration_s=duration,
        dataset=str(dataset) if dataset is not None else "",
        initial_epoch=_count(path, data, "initial_epoch") or 0,
        source=str(data.get("metric_source") or ""),
        samples=_count(path, data, "test_samples") or None,
        extra={k: v for k, v in data.items() if k not in ("history",)},
    )


def read_metrics(path: Path, metric: str = "accuracy") -> Metrics:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise MetricsError(
            f"metrics file {path} was not written: the train command must call Keras' fit (keras-ct's "
            "hooks then write it; docs/integration.md) or write JSON to the path in $KERAS_CT_METRICS_FILE "
            "itself (docs/configuration.md#the-metrics-file)",
            file=str(path),
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise _fail(path, f"cannot be read ({exc})") from None
    return parse_metrics(text, path, metric)


def measured(base: RoundRecord, metrics: Metrics, seconds: float) -> RoundRecord:
    """``base`` (the round as it started) once its training wrote ``metrics`` in ``seconds``."""
    return replace(
        base,
        accuracy=metrics.value,
        status="passed" if meets(metrics.value, base.threshold) else "missed",
        params=metrics.params,
        epochs=metrics.epochs,
        duration_s=metrics.duration_s if metrics.duration_s is not None else round(seconds, 2),
        curves=metrics.curves,
        metric_source=metrics.source,
    )
