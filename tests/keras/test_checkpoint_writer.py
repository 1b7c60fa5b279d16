"""The per-epoch resume checkpoint: one file replaced atomically, on disk before the next epoch starts."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytestmark = pytest.mark.training

ROOT = Path(__file__).resolve().parents[2]
# Writes epoch after epoch of 40 MB checkpoints whose every value is the epoch: a torn file shows.
WRITER = """
import sys
import numpy as np
from pathlib import Path
from keras_ct.keras.callbacks import write_checkpoint
directory = Path(sys.argv[1])
for epoch in range(1, 10_000):
    write_checkpoint(directory, epoch, [np.full((1000, 1000), epoch, np.float64) for _ in range(5)])
"""


def test_kill_9_mid_write_leaves_a_whole_loadable_checkpoint(tmp_path: Path) -> None:
    from keras_ct.keras.callbacks import CHECKPOINT, read_checkpoint

    env = {**os.environ, "PYTHONPATH": str(ROOT / "action")}
    for attempt in range(3):
        writer = subprocess.Popen([sys.executable, "-c", WRITER, str(tmp_path)], env=env)
        try:
            deadline = time.monotonic() + 120
            while not any(tmp_path.glob(f".{CHECKPOINT}.*.tmp")) or not (tmp_path / CHECKPOINT).is_file():
                assert writer.poll() is None and time.monotonic() < deadline
                time.sleep(0.001)
            os.kill(writer.pid, signal.SIGKILL)  # a temporary file exists: it is writing
        finally:
            writer.kill()
            writer.wait()
        stored = read_checkpoint(tmp_path)
        assert stored is not None, f"attempt {attempt}: no checkpoint after the kill"
        epoch, arrays = stored
        assert epoch >= 1 and len(arrays) == 5
        assert all(a.shape == (1000, 1000) and (a == epoch).all() for a in arrays)


def fit(keras: Any, directory: Path, epochs: int, stop_after: int | None = None) -> Any:
    from keras_ct.keras.callbacks import read_checkpoint, resume_callbacks

    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [keras.Input((4,)), keras.layers.Dense(8), keras.layers.Dropout(0.3), keras.layers.Dense(3)]
    )
    model.compile(optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    x, y = np.random.default_rng(0).random((64, 4)), np.arange(64) % 3
    on_disk: list[int | None] = []

    class Stop(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch: int, logs: Any = None) -> None:
            stored = read_checkpoint(directory / "backup")
            on_disk.append(None if stored is None else stored[0])

        def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
            if stop_after is not None and epoch + 1 == stop_after:
                raise KeyboardInterrupt  # the run dies here (after the checkpoint of this epoch)

    callbacks, _ = resume_callbacks(directory)
    with contextlib.suppress(KeyboardInterrupt):
        model.fit(x, y, epochs=epochs, batch_size=16, verbose=0, callbacks=[*callbacks, Stop()])
    model.on_disk = on_disk
    return model


def test_checkpoint_is_on_disk_before_the_next_epoch_and_resume_is_bit_identical(
    keras: Any, tmp_path: Path
) -> None:
    whole = fit(keras, tmp_path / "whole", epochs=4)
    assert whole.on_disk == [None, 1, 2, 3]  # each epoch starts with the last one's checkpoint on disk

    fit(keras, tmp_path / "killed", epochs=4, stop_after=2)
    resumed = fit(keras, tmp_path / "killed", epochs=4)

    assert resumed.on_disk == [2, 3]  # it started at epoch 3
    for mine, theirs in zip(resumed.get_weights(), whole.get_weights(), strict=True):
        np.testing.assert_array_equal(mine, theirs)
