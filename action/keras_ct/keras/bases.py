"""The Keras base classes keras-ct's callbacks extend, with types (Keras ships no type information).

For mypy, ``Callback`` and ``BackupAndRestore`` are declarations of the part of Keras' classes that
keras-ct uses; at run time they are Keras' own classes. Importing this module imports Keras.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:

    class Callback:
        """``keras.callbacks.Callback``: what the training loop calls at each step."""

        params: dict[str, Any] | None
        model: Any

        def __init__(self) -> None: ...
        def on_train_begin(self, logs: Mapping[str, Any] | None = None) -> None: ...
        def on_train_end(self, logs: Mapping[str, Any] | None = None) -> None: ...
        def on_train_batch_end(self, batch: int, logs: Mapping[str, Any] | None = None) -> None: ...
        def on_test_end(self, logs: Mapping[str, Any] | None = None) -> None: ...
        def on_epoch_begin(self, epoch: int, logs: Mapping[str, Any] | None = None) -> None: ...
        def on_epoch_end(self, epoch: int, logs: Mapping[str, Any] | None = None) -> None: ...

    class BackupAndRestore(Callback):
        """``keras.callbacks.BackupAndRestore``: saves at each epoch end, restores on a rerun."""

        _current_epoch: int
        backup_dir: str
        model: Any

        def __init__(
            self,
            backup_dir: str,
            save_freq: str | int = "epoch",
            double_checkpoint: bool = False,
            delete_checkpoint: bool = True,
        ) -> None: ...
        def _save_model(self) -> None: ...
        def _load_model(self) -> None: ...

else:
    import keras

    Callback = keras.callbacks.Callback
    BackupAndRestore = keras.callbacks.BackupAndRestore

__all__ = ["BackupAndRestore", "Callback"]
