"""The resume callbacks a training script gets from keras-ct (in-process, a tiny model)."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from keras_ct.keras.writer import THREAD_NAME

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
    # Written off the training thread: at each epoch end this epoch's checkpoint or the one before
    # is on disk, never an older one (the backup waits for the previous epoch's write).
    first, second, third = seen["epochs"]
    assert first in (-1, 1) and second in (1, 2) and third == 2
    assert not (tmp_path / "ckpt" / "backup").exists()  # deleted when fit finished
    assert log is not None and len(log.curves()["accuracy"]) == 3
    assert len(json.loads((tmp_path / "ckpt" / "epochs.json").read_text())) == 3  # no write lost
    assert not [t for t in threading.enumerate() if t.name == THREAD_NAME]  # fit joined the writer


def test_the_write_is_off_the_training_thread_and_fit_waits_for_it(
    keras: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from keras_ct.keras import callbacks

    released = threading.Event()  # set on the training thread by a callback after Backup's epoch end
    written: list[tuple[int, bool]] = []
    on_disk_at_begin: list[bool] = []
    original = callbacks.write_checkpoint

    def slow_write(directory: Path, epoch: int, arrays: Any, **rest: Any) -> None:
        written.append((epoch, released.wait(30)))  # a write on the training thread would wait 30 s
        time.sleep(0.2)  # the last one still runs when fit reaches its end
        original(directory, epoch, arrays, **rest)

    class Release(keras.callbacks.Callback):
        def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
            released.set()  # after Backup's on_epoch_end handed the write over

        def on_epoch_begin(self, epoch: int, logs: Any = None) -> None:
            # Backup's on_epoch_begin (before this one) waited: the epoch before is on disk.
            on_disk_at_begin.append(epoch == 0 or (len(written) == epoch and not callbacks.WRITER.pending()))
            released.clear()

    monkeypatch.setattr(callbacks, "write_checkpoint", slow_write)
    resume, _ = callbacks.resume_callbacks(tmp_path)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    x, y = np.random.default_rng(0).random((32, 4)), np.arange(32) % 3

    model.fit(x, y, epochs=4, verbose=0, callbacks=[*resume, Release()])

    assert written == [(1, True), (2, True), (3, True)]  # every write, none of them on the training thread
    assert on_disk_at_begin == [True] * 4  # and each was done before the next epoch began
    assert not callbacks.WRITER.pending()
    assert len(json.loads((tmp_path / "epochs.json").read_text())) == 4


def test_batch_callbacks_stay_asynchronous(keras: Any, tmp_path: Path) -> None:
    from keras_ct.keras.callbacks import resume_callbacks

    resume, _ = resume_callbacks(tmp_path)
    with_resume = keras.callbacks.CallbackList(resume)
    assert (
        with_resume._async_train == keras.callbacks.CallbackList([])._async_train
    )  # as for a fit without callbacks
