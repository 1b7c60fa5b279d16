"""The per-epoch resume checkpoint: one file replaced atomically, written off the training thread,
at most one epoch behind, and joined when ``fit`` ends."""

from __future__ import annotations

import contextlib
import json
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
    # Each epoch starts with the last one's checkpoint on disk, or (its write still running) the one before.
    possible: list[set[int | None]] = [{None}, {None, 1}, {1, 2}, {2, 3}]
    assert all(d in p for d, p in zip(whole.on_disk, possible, strict=True)), whole.on_disk

    fit(keras, tmp_path / "killed", epochs=4, stop_after=2)
    resumed = fit(keras, tmp_path / "killed", epochs=4)

    assert resumed.on_disk[0] == 2  # it started at epoch 3: the interrupted fit's last write had landed
    assert resumed.on_disk[1] in (2, 3)
    for mine, theirs in zip(resumed.get_weights(), whole.get_weights(), strict=True):
        np.testing.assert_array_equal(mine, theirs)


# Fits a model whose checkpoint takes a few ms to write; with KILL_AT, SIGKILLs itself at that epoch's
# end, right after keras-ct's callbacks handed its checkpoint and log to the writer.
FITS = """
import os, signal, sys
import numpy as np
import keras
from pathlib import Path
from keras_ct.keras.callbacks import resume_callbacks
directory, kill_at = Path(sys.argv[1]), int(sys.argv[2])
keras.utils.set_random_seed(0)
model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(512), keras.layers.Dense(512),
                          keras.layers.Dense(3)])
model.compile(optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
class Kill(keras.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
        if epoch + 1 == kill_at:
            os.kill(os.getpid(), signal.SIGKILL)
callbacks, _ = resume_callbacks(directory)
x, y = np.random.default_rng(0).random((64, 64)), np.arange(64) % 3
model.fit(x, y, epochs=5, batch_size=16, verbose=0, callbacks=[*callbacks, Kill()])
np.savez(directory / "weights.npz", *model.get_weights())
"""


def test_a_kill_right_after_an_epoch_end_resumes_from_it_or_the_one_before(tmp_path: Path) -> None:
    from keras_ct.keras.callbacks import read_checkpoint

    env = {**os.environ, "PYTHONPATH": str(ROOT / "action"), "TF_CPP_MIN_LOG_LEVEL": "3"}

    def fits(directory: Path, kill_at: int) -> int:
        argv = [sys.executable, "-c", FITS, str(directory), str(kill_at)]
        return subprocess.run(argv, env=env, capture_output=True, timeout=300, check=False).returncode

    assert fits(tmp_path / "whole", 0) == 0
    assert fits(tmp_path / "killed", 3) == -signal.SIGKILL
    stored = read_checkpoint(tmp_path / "killed" / "backup")  # loads: whole, never torn
    assert stored is not None and stored[0] in (2, 3)  # epoch 3's checkpoint, or (mid-write) epoch 2's
    logged = json.loads((tmp_path / "killed" / "epochs.json").read_text())
    assert 2 <= len(logged) <= stored[0]  # the log names no epoch whose checkpoint is not on disk

    assert fits(tmp_path / "killed", 0) == 0  # the rerun resumes and ends where the whole run ends
    with (
        np.load(tmp_path / "whole" / "weights.npz") as whole,
        np.load(tmp_path / "killed" / "weights.npz") as resumed,
    ):
        for name in whole.files:
            np.testing.assert_array_equal(resumed[name], whole[name])
    assert len(json.loads((tmp_path / "killed" / "epochs.json").read_text())) == 5
