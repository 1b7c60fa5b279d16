"""Callbacks and the metrics writer for training scripts run by keras-ct.

- ``resume_callbacks()``: ``Backup`` into ``$KERAS_CT_CHECKPOINT_DIR`` (the model's and optimizer's
  variables and the epoch, one atomically replaced file at every epoch end but the last, written off
  the training thread; a rerun after a crash resumes at the last finished epoch, bit-identically) plus
  ``EpochLog``, which keeps the per-epoch curves there too, so the metrics of a resumed run still
  cover every epoch. An epoch is *finished* once its checkpoint is on disk: the log names it only then.
- ``write_metrics()``: the schema_version 1 document keras-ct reads (see ``keras_ct.train.metrics``).
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from keras_ct.keras.bases import BackupAndRestore, Callback
from keras_ct.keras.writer import CheckpointWriter

METRICS_ENV = "KERAS_CT_METRICS_FILE"
CHECKPOINT_ENV = "KERAS_CT_CHECKPOINT_DIR"
WARM_START_ENV = "KERAS_CT_WARM_START_FROM"
SCHEMA_VERSION = 1
CHECKPOINT = "checkpoint.npz"
#: One writer per process: every checkpoint and epoch log is written in the order it was given.
WRITER = CheckpointWriter()


def _atomic_write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.replace(tmp, path)


class Backup(BackupAndRestore):
    """``BackupAndRestore`` with a checkpoint that costs next to nothing on the training thread.

    Each epoch end records the epoch in the ``EpochLog``; each one but the last (``on_train_end``
    deletes the backup right after it) also copies the model's and the optimizer's variables to
    NumPy (on the training thread: a snapshot the training cannot change) and hands ``WRITER`` the
    write: one uncompressed ``.npz`` of the arrays, the epoch and the log so far, under a temporary
    name, renamed over the previous one, and then the log's own file. An epoch is *finished* once
    its checkpoint is on disk: a run killed at any moment (even mid-write) leaves a complete
    checkpoint, never a torn one (the last epoch's, or the one before when its write had not ended),
    and ``epochs.json`` never names an epoch past it; a rerun takes the curves from the checkpoint
    itself. The next epoch's start waits for the write (so once an epoch has begun, the one before
    is on disk: the write only overlaps the rest of the epoch's end), and ``fit``'s start and end
    wait for all of them (none outlives ``fit``, none is lost).
    No HDF5 file and no walk of the model's saveables (Keras' ``save_weights``).
    ``training_metadata.json`` follows the checkpoint, for keras-ct's "resuming at epoch N" note. It
    saves at epoch ends only: its batch hook is the default one, so Keras still dispatches the batch
    callbacks asynchronously, as for a ``fit`` without callbacks.
    """

    on_train_batch_end = Callback.on_train_batch_end

    def __init__(self, backup_dir: str, log: EpochLog) -> None:
        super().__init__(backup_dir)
        self.log = log

    def on_train_begin(self, logs: Mapping[str, Any] | None = None) -> None:
        WRITER.wait()  # an interrupted fit's last write (same process) lands before it is read
        super().on_train_begin(logs)

    def on_epoch_begin(self, epoch: int, logs: Mapping[str, Any] | None = None) -> None:
        # The epoch before is on disk before this one begins (and Keras prints "Epoch N/..."): its
        # write overlapped the rest of the epoch's end (the other callbacks, the progress line), and a
        # run killed once the next epoch has started never loses it.
        WRITER.wait()
        super().on_epoch_begin(epoch, logs)

    def on_epoch_end(self, epoch: int, logs: Mapping[str, Any] | None = None) -> None:
        WRITER.wait()
        self.log.record(epoch, logs)
        if epoch + 1 >= int((self.params or {}).get("epochs") or 0) > 0:
            self._current_epoch = epoch + 1
            log, text = self.log, self.log.text()
            WRITER.submit(lambda: log.write(text))
            return
        super().on_epoch_end(epoch, logs)

    def on_train_end(self, logs: Mapping[str, Any] | None = None) -> None:
        WRITER.wait()  # before the backup is deleted: no write lands in it afterwards
        super().on_train_end(logs)

    def _save_model(self) -> None:
        variables = [*self.model.variables, *_optimizer_variables(self.model)]
        arrays = [np.array(v.numpy()) for v in variables]  # copies: the training goes on
        directory, epoch, log, text = Path(self.backup_dir), self._current_epoch, self.log, self.log.text()

        def write() -> None:
            write_checkpoint(directory, epoch, arrays, log=text)
            log.write(text)

        WRITER.submit(write)

    def _load_model(self) -> None:
        stored = _stored(Path(self.backup_dir))
        if stored is None:  # none, or one Keras' save_weights left (keras-ct 0.1.0 and older: HDF5)
            super()._load_model()
            return
        epoch, arrays, logged = stored
        optimizer = getattr(self.model, "optimizer", None)
        if optimizer is not None and not optimizer.built:
            optimizer.build(self.model.trainable_variables)
        variables = [*self.model.variables, *_optimizer_variables(self.model)]
        if [tuple(v.shape) for v in variables] != [a.shape for a in arrays]:
            print(
                f"keras-ct: the checkpoint in {self.backup_dir} is another model's; training from the start"
            )
            return
        for variable, array in zip(variables, arrays, strict=True):
            variable.assign(array)
        self.model._initial_epoch = epoch
        self.log.restored = logged


def _optimizer_variables(model: Any) -> list[Any]:
    optimizer = getattr(model, "optimizer", None)
    return list(optimizer.variables) if optimizer is not None and optimizer.built else []


def write_checkpoint(directory: Path, epoch: int, arrays: Sequence[np.ndarray], log: str = "[]") -> None:
    """``<directory>/CHECKPOINT``: the arrays, the epoch and the epoch log (JSON) in one file, replaced
    atomically."""
    directory.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{CHECKPOINT}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            named: dict[str, Any] = {f"v{i}": a for i, a in enumerate(arrays)}
            np.savez(fh, epoch=np.int64(epoch), log=np.array(log), **named)
        os.replace(tmp, directory / CHECKPOINT)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _atomic_write(directory / "training_metadata.json", json.dumps({"epoch": epoch, "batch": 0}))


def _stored(directory: Path) -> tuple[int, list[np.ndarray], list[dict[str, float]] | None] | None:
    """The epoch, arrays and epoch log (None from a keras-ct that stored none) in ``directory``."""
    path = directory / CHECKPOINT
    if not path.is_file():
        return None
    with np.load(path) as stored:
        count = sum(1 for name in stored.files if name.startswith("v"))
        logged = json.loads(str(stored["log"])) if "log" in stored.files else None
        return int(stored["epoch"]), [stored[f"v{i}"] for i in range(count)], logged


def read_checkpoint(directory: Path) -> tuple[int, list[np.ndarray]] | None:
    """The epoch and arrays ``write_checkpoint`` left in ``directory``, or None when there are none."""
    stored = _stored(directory)
    return None if stored is None else stored[:2]


class EpochLog:
    """Each finished epoch's logs, kept in ``<dir>/epochs.json``; the first epoch trained here.

    ``Backup`` records every epoch in it and writes it (after the epoch's checkpoint, which holds it
    too). On a resumed run the first epoch recorded has the restored epoch index: entries from that
    epoch on are dropped (they belong to an earlier, unfinished attempt) and the rest are kept, from
    the checkpoint restored (or, from an older one, the file).
    """

    def __init__(self, directory: str | Path) -> None:
        self.path = Path(directory) / "epochs.json"
        self.initial_epoch: int | None = None
        self.epochs: list[dict[str, float]] = []
        self.restored: list[dict[str, float]] | None = None

    def record(self, epoch: int, logs: Mapping[str, Any] | None) -> None:
        """Add the epoch's logs (on a resumed run's first epoch, after the finished ones it keeps)."""
        if self.initial_epoch is None:
            self.initial_epoch = epoch
            stored = self.restored
            if stored is None:
                stored = json.loads(self.path.read_text()) if self.path.is_file() else []
            self.epochs = stored[:epoch]
        self.epochs.append({k: float(v) for k, v in (logs or {}).items()})

    def text(self) -> str:
        """The log so far, as JSON (what ``write`` and the checkpoint store)."""
        return json.dumps(self.epochs)

    def write(self, text: str) -> None:
        _atomic_write(self.path, text)

    def curves(self) -> dict[str, list[float]]:
        names = sorted({k for e in self.epochs for k in e})
        return {n: [e[n] for e in self.epochs if n in e] for n in names}


def resume_callbacks(
    directory: str | Path | None = None,
) -> tuple[list[Callback], EpochLog | None]:
    """Callbacks that make a run resumable, from ``$KERAS_CT_CHECKPOINT_DIR`` unless given."""
    directory = directory or os.environ.get(CHECKPOINT_ENV) or None
    if not directory:
        return [], None
    path = Path(directory)
    path.mkdir(parents=True, exist_ok=True)
    log = EpochLog(path)
    return [Backup(str(path / "backup"), log)], log


def write_metrics(
    *,
    accuracy: float,
    history: Mapping[str, Sequence[float]],
    epochs: int,
    params: int,
    duration_s: float,
    dataset: str,
    initial_epoch: int = 0,
    metric: str = "accuracy",
    path: str | Path | None = None,
    **extra: Any,
) -> Path | None:
    """Write the metrics document to ``path`` or ``$KERAS_CT_METRICS_FILE``; return where it went."""
    target = path or os.environ.get(METRICS_ENV)
    if not target:
        return None
    if not math.isfinite(accuracy):
        raise ValueError(f"accuracy must be finite, got {accuracy}")
    document = {
        "schema_version": SCHEMA_VERSION,
        "metric": metric,
        metric: float(accuracy),
        "history": {k: [float(v) for v in vs] for k, vs in history.items()},
        "epochs": int(epochs),
        "params": int(params),
        "duration_s": round(float(duration_s), 3),
        "dataset": dataset,
        "initial_epoch": int(initial_epoch),
        **extra,
    }
    _atomic_write(Path(target), json.dumps(document, indent=2, allow_nan=False) + "\n")
    return Path(target)
