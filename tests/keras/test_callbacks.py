"""The resume callbacks a training script gets from keras-ct (in-process, a tiny model)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytestmark = [
    pytest.mark.training,
    # Keras 3.15's weight saving on TensorFlow 2.21 with NumPy 2 (not ours to fix).
    pytest.mark.filterwarnings(
        "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning"
    ),
]


def test_backup_saves_every_epoch_but_the_last_and_log_keeps_the_curves(keras: Any, tmp_path: Path) -> None:
    from keras_ct.keras.callbacks import Backup, resume_callbacks

    saved: list[int] = []
    seen: dict[str, list[int]] = {"epochs": []}

    class Watch(keras.callbacks.Callback):  # after the backup: what is on disk at each epoch end
        def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
            meta = tmp_path / "ckpt" / "backup" / "training_metadata.json"
            seen["epochs"].append(json.loads(meta.read_text())["epoch"] if meta.exists() else -1)

    callbacks, log = resume_callbacks(tmp_path / "ckpt")
    backup = next(c for c in callbacks if isinstance(c, Backup))
    original = backup._save_model
    backup._save_model = lambda: (saved.append(backup._current_epoch), original())[1]
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    x, y = np.random.default_rng(0).random((32, 4)), np.arange(32) % 3

    model.fit(x, y, epochs=3, verbose=0, callbacks=[*callbacks, Watch()])

    assert saved == [1, 2]  # the save after epoch 3 would be deleted at once by on_train_end
    assert seen["epochs"] == [1, 2, 2]
    assert not (tmp_path / "ckpt" / "backup").exists()  # deleted when fit finished
    assert log is not None and len(log.curves()["accuracy"]) == 3
