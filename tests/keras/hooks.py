"""The environment keras-ct's hooks (``autolog``) need, for tests that run a training script themselves."""

from __future__ import annotations

from pathlib import Path

from keras_ct.train.launch import HOOKS_DIR

ROOT = Path(__file__).resolve().parents[2]


def hooks_env() -> dict[str, str]:
    """What ``train.launch.training_env`` adds for the hooks: their folder first on ``PYTHONPATH``."""
    return {"PYTHONPATH": f"{HOOKS_DIR}:{ROOT / 'action'}", "KERAS_CT_AUTOLOG": "1"}
