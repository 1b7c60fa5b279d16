"""A round trained ahead: the kept candidate's training is the next round's, not trained again.

With ``candidates`` above 1, each candidate of round N trains as round N + 1 on exactly the code the
kept change commits (``round.trials`` in this process; ``round.fanout``'s candidate jobs on their own
runners). The kept one's training is kept in round N + 1's resume folder (``launch.resume_dir``:
keyed by the model file, the train command and the files it names), and round N + 1 takes it
(``round.training.train``) instead of training the same code a second time: in this process
(``keras-ct loop``), or in the next job, which restores that folder with the checkpoint cache the
candidate job saved. Any other code (the author pushed since) has another resume folder, so it trains.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from keras_ct.config import Config
from keras_ct.runner import Runner
from keras_ct.train.launch import forget_metrics, keep_for_warm_start, resume_dir, trained_model
from keras_ct.train.metrics import Metrics, read_metrics

FOLDER = "trained"
_INFO = "trained.json"
_METRICS = "metrics.json"
_MODEL = "model.keras"


@dataclass(frozen=True)
class Trained:
    """A round's training: its metrics, its seconds, and, when it was done ahead, what did it
    (e.g. "candidate 2 of round 1"; empty when the round trained itself)."""

    metrics: Metrics
    seconds: float
    ahead_by: str = ""


def folder(cfg: Config, round_number: int) -> Path:
    return resume_dir(cfg, round_number) / FOLDER


def keep(
    cfg: Config, round_number: int, metrics_file: Path, model: Path, seconds: float, origin: str
) -> Path:
    """Keep a finished training of round ``round_number``'s code (in ``cfg``'s tree as it is now) for
    that round. Written under a temporary name and renamed: a kill leaves it whole or absent."""
    dest = folder(cfg, round_number)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{FOLDER}-", dir=dest.parent))
    try:
        shutil.copy2(metrics_file, tmp / _METRICS)
        if model.is_file():
            shutil.copy2(model, tmp / _MODEL)
        info = {"round": round_number, "seconds": round(seconds, 3), "origin": origin}
        (tmp / _INFO).write_text(json.dumps(info), encoding="utf-8")
        shutil.rmtree(dest, ignore_errors=True)  # an earlier one for the same code (a re-run)
        os.replace(tmp, dest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return dest


def ready(cfg: Config, round_number: int) -> bool:
    """True when round ``round_number``'s code was trained ahead (``take`` will use it)."""
    return (folder(cfg, round_number) / _INFO).is_file()


def take(cfg: Config, runner: Runner, round_number: int) -> Trained | None:
    """Round ``round_number``'s training done ahead, put where the round's own would be (its metrics
    file, its model, the warm-start copy); None when there is none for this code."""
    found = folder(cfg, round_number)
    try:
        info = json.loads((found / _INFO).read_text(encoding="utf-8"))
        seconds, origin = float(info["seconds"]), str(info["origin"])
    except FileNotFoundError:
        return None
    except (OSError, ValueError, TypeError, KeyError) as exc:
        runner.warning(
            f"round {round_number} is trained again: the training kept in {found} is unreadable ({exc})"
        )
        return None
    metrics_path = forget_metrics(cfg, round_number)
    shutil.copy2(found / _METRICS, metrics_path)
    metrics = read_metrics(metrics_path, cfg.metric)
    if (found / _MODEL).is_file():
        shutil.copy2(found / _MODEL, trained_model(cfg, round_number))
        keep_for_warm_start(cfg, round_number)
    runner.notice(
        f"round {round_number} is not trained again: {origin} trained this code already "
        f"({cfg.metric} {metrics.value:.4f}); its metrics and model are this round's"
    )
    return Trained(metrics, seconds, origin)
