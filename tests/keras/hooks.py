"""The environment keras-ct's hooks (``autolog``) need, for tests that run a training script themselves."""

from __future__ import annotations

import os
from pathlib import Path

from keras_ct.train.launch import HOOKS_DIR

ROOT = Path(__file__).resolve().parents[2]


def hooks_env() -> dict[str, str]:
    """What ``train.launch.training_env`` adds for the hooks: their folder first on ``PYTHONPATH``."""
    return {"PYTHONPATH": f"{HOOKS_DIR}:{ROOT / 'action'}", "KERAS_CT_AUTOLOG": "1"}


def script_env(out: Path, **extra: str) -> dict[str, str]:
    """A train command's environment as keras-ct gives it, with every file it writes under ``out``."""
    return {
        "PATH": os.environ["PATH"],
        "HOME": str(out),
        "KERAS_HOME": str(out / "keras-home"),
        "TF_CPP_MIN_LOG_LEVEL": "3",
        **hooks_env(),
        "KERAS_CT_METRICS_FILE": str(out / "metrics.json"),
        "KERAS_CT_CHECKPOINT_DIR": str(out / "checkpoints"),
        "KERAS_CT_MODEL_PATH": str(out / "model.keras"),
        **extra,
    }
