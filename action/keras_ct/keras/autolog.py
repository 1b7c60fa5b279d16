"""Autolog: what keras-ct gives a plain Keras script through ``keras.Model.fit`` and ``evaluate``.

Installed by the training process's ``sitecustomize`` (``keras_ct/train/hooks``) once Keras is imported,
like MLflow's ``autolog``; active only where keras-ct sets ``KERAS_CT_AUTOLOG=1``. The script imports
nothing from keras_ct and gets:

- **warm start** at its first ``fit``: the previous round's weights (``$KERAS_CT_WARM_START_FROM``,
  ``keras_ct.keras.warmstart``), unless the script called ``warm_start`` on the model itself;
- **resume**: ``Backup`` and ``EpochLog`` in ``$KERAS_CT_CHECKPOINT_DIR`` (a later ``fit`` in
  ``fit-N/`` there), unless the script passes its own ``BackupAndRestore``;
- **the curves** of every ``fit``, one after the other, and the epoch times;
- **the trained model** saved to ``$KERAS_CT_MODEL_PATH`` when the script ends (the model of its last
  ``fit``), unless the script saved one there itself after that ``fit``;
- **the metrics file** at the end (``finish``): the metric of the last ``evaluate`` the script called
  (``metric_source: "evaluate"``), else the last ``val_<metric>`` of the last ``fit``
  (``"last val_<metric>"``). A script that wrote ``$KERAS_CT_METRICS_FILE`` itself keeps it.

Backend-agnostic: only ``keras`` (never TensorFlow) is used, so it works the same under JAX.
"""

from __future__ import annotations

import atexit
import functools
import os
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from keras_ct.keras.bases import Callback

ENABLE_ENV = "KERAS_CT_AUTOLOG"
METRIC_ENV = "KERAS_CT_METRIC"
MODEL_ENV = "KERAS_CT_MODEL_PATH"
EVALUATE = "evaluate"
#: Where ``fit`` and ``evaluate`` take ``callbacks`` when it is passed by position.
CALLBACKS_AT = {"fit": 5, "evaluate": 6}


def active() -> bool:
    return os.environ.get(ENABLE_ENV) == "1"


def last_validation(metric: str) -> str:
    """The ``metric_source`` of a metric taken from the last epoch's validation logs."""
    return f"last val_{metric}"


@dataclass
class Run:
    """What the hooks saw in one run of the script (one round)."""

    started: float = field(default_factory=time.perf_counter)
    fits: int = 0
    depth: int = 0  # inside fit: its validation calls evaluate, which is not the script's
    curves: dict[str, list[float]] = field(default_factory=dict)
    initial_epoch: int | None = None
    evaluated: dict[str, float] | None = None
    test_samples: int | None = None  # how many samples the last evaluate saw (None: not countable)
    warm: dict[str, Any] | None = None
    model: Any = None
    seconds: dict[str, float] = field(default_factory=dict)  # in fit, in evaluate
    epoch_s: list[float] = field(default_factory=list)
    trained: Any = None  # the model of the last fit that ended
    saved: tuple[int, int, int] | None = None  # the model file as that fit left it (``_stat``)

    def add_curves(self, curves: Mapping[str, list[float]], resumed_at: int | None) -> None:
        offset = max((len(v) for v in self.curves.values()), default=0)
        if resumed_at and self.initial_epoch is None:
            self.initial_epoch = offset + resumed_at
        for name, values in curves.items():
            self.curves.setdefault(name, []).extend(float(v) for v in values)


_run: Run | None = None


def current() -> Run:
    global _run
    if _run is None:
        _run = Run()
    return _run


class EpochTimer(Callback):
    """The wall seconds of every epoch."""

    def __init__(self, seconds: list[float]) -> None:
        super().__init__()
        self.seconds = seconds
        self._begin = 0.0

    def on_epoch_begin(self, epoch: int, logs: Mapping[str, Any] | None = None) -> None:
        self._begin = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: Mapping[str, Any] | None = None) -> None:
        self.seconds.append(time.perf_counter() - self._begin)


class WarmStart(Callback):
    """Warm-start the model when its first ``fit`` begins: it is built by then, even a ``Sequential``
    without an ``Input``, and this runs before ``BackupAndRestore`` restores a killed run's state."""

    def __init__(self, run: Run) -> None:
        super().__init__()
        self.run = run

    def on_train_begin(self, logs: Mapping[str, Any] | None = None) -> None:
        from keras_ct.keras.callbacks import WARM_START_ENV

        if not os.environ.get(WARM_START_ENV):
            return  # nothing to start from (round 1): the transfer rules are not even imported
        from keras_ct.keras.warmstart import start

        if not start.was_warm_started(self.model):
            self.run.warm = start.warm_start(self.model)


class TestLogs(Callback):
    """Keeps the logs ``evaluate`` ends with (every metric by name, whatever the script asked back)."""

    def __init__(self, run: Run) -> None:
        super().__init__()
        self.run = run

    def on_test_end(self, logs: Mapping[str, Any] | None = None) -> None:
        self.run.evaluated = {k: float(v) for k, v in (logs or {}).items()}


def _callbacks(name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[tuple[Any, ...], list[Any]]:
    """The call's arguments without ``callbacks``, and its callbacks (by keyword or by position)."""
    at = CALLBACKS_AT[name]
    if len(args) > at:
        return args[:at] + args[at + 1 :], list(args[at] or [])
    return args, list(kwargs.pop("callbacks", None) or [])


def _first_batch(data: Any) -> Any:
    """A batch of the inputs ``fit`` got (arrays, tensors, a ``tf.data.Dataset`` of them), or None."""
    if hasattr(data, "take") and hasattr(data, "element_spec"):  # tf.data, without importing TensorFlow
        for batch in data.take(1):
            return batch[0] if isinstance(batch, tuple) else batch
        return None
    return data[:1] if hasattr(data, "shape") else None


def built(model: Any, data: Any) -> bool:
    """Build a model that ``fit`` would build at its first step (a ``Sequential`` without an ``Input``):
    restoring a checkpoint and warm start need its weights before that. False when it cannot be."""
    if model.built:
        return True
    try:
        batch = _first_batch(data)
        if batch is not None:
            model(batch)
    except Exception:  # dict inputs, a generator: fit builds it later; resume and warm start skip it
        return False
    return bool(model.built)


def _resume(run: Run, given: list[Any]) -> tuple[list[Any], Any]:
    """Backup and EpochLog for this fit, unless the script resumes itself or keras-ct gave no folder."""
    import keras
    from keras_ct.keras.callbacks import CHECKPOINT_ENV, resume_callbacks

    base = os.environ.get(CHECKPOINT_ENV)
    if not base or any(isinstance(c, keras.callbacks.BackupAndRestore) for c in given):
        return [], None
    directory = Path(base) if run.fits == 1 else Path(base) / f"fit-{run.fits}"
    return resume_callbacks(directory)


def _stat(target: str) -> tuple[int, int, int] | None:
    """What tells a file rewritten from the one it was: inode, size, modification time."""
    try:
        found = os.stat(target)
    except OSError:
        return None
    return found.st_ino, found.st_size, found.st_mtime_ns


def _save(run: Run) -> None:
    """Save the model of the script's last ``fit``, unless the script saved one there itself since."""
    target = os.environ.get(MODEL_ENV)
    if not target or run.trained is None or _stat(target) != run.saved:
        return
    try:
        Path(target).parent.mkdir(parents=True, exist_ok=True)
        run.trained.save(target)
    except Exception as exc:  # a subclassed model without get_config: the round still counts
        reason = " ".join(str(exc).split())[:300] or type(exc).__name__
        print(f"keras-ct: warning: the trained model was not saved to {target}: {reason}", file=sys.stderr)


def _before_fit(run: Run, model: Any, data: Any, given: list[Any]) -> tuple[list[Any], Any]:
    run.fits += 1
    if built(model, data):
        resume, log = _resume(run, given)
        first = [WarmStart(run)] if run.fits == 1 else []
    else:
        print("keras-ct: the model is not built before fit: no resume, no warm start", file=sys.stderr)
        resume, log, first = [], None, []
    return [*first, *resume, *given, EpochTimer(run.epoch_s)], log


def _after_fit(run: Run, model: Any, history: Any, log: Any) -> None:
    curves = log.curves() if log is not None else getattr(history, "history", {})
    run.add_curves(curves, log.initial_epoch if log is not None else None)
    run.model = run.trained = model
    run.saved = _stat(os.environ.get(MODEL_ENV) or "")


def _before_evaluate(run: Run, model: Any, data: Any, given: list[Any]) -> tuple[list[Any], Any]:
    return [*given, TestLogs(run)], samples_in(data)


def _after_evaluate(run: Run, model: Any, result: Any, state: Any) -> None:
    if run.model is None:
        run.model = model
    run.test_samples = state  # the last evaluate's, like its metric


def samples_in(data: Any) -> int | None:
    """How many samples ``evaluate``'s ``x`` holds: an array's (or a list's or dict's first array's)
    first dimension; None for a dataset or a generator, whose length is in batches or unknown."""
    if isinstance(data, list | tuple) and data:
        data = data[0]
    elif isinstance(data, dict) and data:
        data = next(iter(data.values()))
    shape = getattr(data, "shape", None)
    try:
        first = int(shape[0]) if shape is not None and len(shape) else None
    except (TypeError, ValueError):  # a symbolic dimension
        return None
    return first if first is not None and first > 0 else None


#: What the hooks do around each patched method: the call's callbacks (and a state), then the result.
STEPS: dict[str, tuple[Callable[..., tuple[list[Any], Any]], Callable[..., None]]] = {
    "fit": (_before_fit, _after_fit),
    "evaluate": (_before_evaluate, _after_evaluate),
}


def patched(name: str, original: Callable[..., Any]) -> Callable[..., Any]:
    """``keras.Model.<name>`` with the hooks around it, when keras-ct turned them on; the call as it was
    inside another patched call (``fit`` runs ``evaluate`` for its validation)."""
    before, after = STEPS[name]

    @functools.wraps(original)
    def method(self: Any, *args: Any, **kwargs: Any) -> Any:
        run = current()
        if not active() or run.depth:
            return original(self, *args, **kwargs)
        args, given = _callbacks(name, args, kwargs)
        kwargs["callbacks"], state = before(run, self, args[0] if args else kwargs.get("x"), given)
        began = time.perf_counter()
        run.depth += 1
        try:
            result = original(self, *args, **kwargs)
        finally:
            run.depth -= 1
            run.seconds[name] = run.seconds.get(name, 0.0) + time.perf_counter() - began
        after(run, self, result, state)
        return result

    return method


def final_metric(run: Run, metric: str) -> tuple[float, str] | None:
    """The round's metric and where it came from: the last ``evaluate``, else the last validation epoch."""
    if run.evaluated is not None and metric in run.evaluated:
        return run.evaluated[metric], EVALUATE
    validation = run.curves.get(f"val_{metric}")
    if validation:
        return validation[-1], last_validation(metric)
    return None


def document(run: Run, metric: str) -> dict[str, Any] | None:
    """The metrics file's fields for ``write_metrics``, or None when there is no metric to report."""
    import keras

    found = final_metric(run, metric)
    if found is None:
        return None
    value, source = found
    params = run.model.count_params() if run.model is not None else 0
    return {
        "accuracy": value,
        "metric": metric,
        "metric_source": source,
        "history": run.curves,
        "epochs": max((len(v) for v in run.curves.values()), default=0),
        "params": int(params),
        "duration_s": time.perf_counter() - run.started,
        "dataset": "",
        "initial_epoch": run.initial_epoch or 0,
        "autolog": True,
        "backend": keras.backend.backend(),
        "pid": os.getpid(),  # rounds of one job share it when keras-ct reuses the training process
        "timings": {
            **{f"{name}_s": round(run.seconds.get(name, 0.0), 3) for name in STEPS},
            "epoch_s": [round(t, 3) for t in run.epoch_s],
        },
        **({"warm_start": run.warm} if run.warm is not None else {}),
        **({"test_samples": run.test_samples} if source == EVALUATE and run.test_samples else {}),
    }


def finish() -> Path | None:
    """Write the metrics file for this run of the script, if it did not; forget the run (the reused
    training process runs the next round's script in the same process). Where it went, or None."""
    global _run
    run, _run = _run, None
    from keras_ct.keras.callbacks import METRICS_ENV, write_metrics

    if run is None or run.fits == 0 or not active():
        return None  # nothing trained here, or hooks off
    _save(run)
    target = os.environ.get(METRICS_ENV)
    if not target or os.path.lexists(target):
        return None  # the script wrote its metrics itself
    metric = os.environ.get(METRIC_ENV) or "accuracy"
    fields = document(run, metric)
    if fields is None:
        print(
            f'keras-ct: no "{metric}" to report: call model.evaluate(...) on held-out data, or give fit '
            f"validation data (validation_data= or validation_split=) so that val_{metric} is logged",
            file=sys.stderr,
        )
        return None
    if fields["metric_source"] != EVALUATE:
        print(
            f"keras-ct: the round's {metric} is the {fields['metric_source']} (the script called no evaluate)"
        )
    return write_metrics(path=target, **fields)


def install() -> None:
    """Patch ``keras.Model`` (once) and write the metrics file when the process ends."""
    import keras

    model = keras.Model
    if getattr(model.fit, "__keras_ct_autolog__", False):
        return
    for name in STEPS:
        wrapper = patched(name, getattr(model, name))
        setattr(wrapper, "__keras_ct_autolog__", True)  # noqa: B010 - a function's attribute
        setattr(model, name, wrapper)
    atexit.register(finish)
