"""Callbacks and the metrics writer for training scripts run by keras-ct.

- ``resume_callbacks()``: ``Backup`` into ``$KERAS_CT_CHECKPOINT_DIR`` (weights, optimizer state and
  epoch saved at every epoch end but the last; a rerun after a crash resumes at the last finished
  epoch, bit-identically) plus ``EpochLog``, which keeps the per-epoch curves there too, so the
  metrics of a resumed run still cover every epoch.
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

from keras_ct.keras.bases import BackupAndRestore, Callback

METRICS_ENV = "KERAS_CT_METRICS_FILE"
CHECKPOINT_ENV = "KERAS_CT_CHECKPOINT_DIR"
SCHEMA_VERSION = 1


def _atomic_write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.replace(tmp, path)


class Backup(BackupAndRestore):
    """``BackupAndRestore`` without the save after the final epoch: ``on_train_end`` deletes the backup
    right after it, so that save bought nothing (about 20 ms for the ml_task CNN, one per round)."""

    def on_epoch_end(self, epoch: int, logs: Mapping[str, Any] | None = None) -> None:
        if epoch + 1 >= int((self.params or {}).get("epochs") or 0) > 0:
            self._current_epoch = epoch + 1
            return
        super().on_epoch_end(epoch, logs)


class EpochLog(Callback):
    """Append each finished epoch's logs to ``<dir>/epochs.json``; remember the first epoch trained here.

    On a resumed run the first ``on_epoch_end`` has the restored epoch index: entries from that
    epoch on are dropped (they belong to an earlier, unfinished attempt) and the rest are kept.
    """

    def __init__(self, directory: str | Path) -> None:
        super().__init__()
        self.path = Path(directory) / "epochs.json"
        self.initial_epoch: int | None = None
        self.epochs: list[dict[str, float]] = []

    def on_epoch_end(self, epoch: int, logs: Mapping[str, Any] | None = None) -> None:
        if self.initial_epoch is None:
            self.initial_epoch = epoch
            stored = json.loads(self.path.read_text()) if self.path.is_file() else []
            self.epochs = stored[:epoch]
        self.epochs.append({k: float(v) for k, v in (logs or {}).items()})
        _atomic_write(self.path, json.dumps(self.epochs))

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
    return [Backup(str(path / "backup")), log], log


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
