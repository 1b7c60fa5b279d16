"""One round's training: the train command, retried after a crash, then its metrics.

A crash that can be retried (``TrainingError.retryable``) runs the command again ``train-retries``
times, resuming from the checkpoint. The trained model is kept for the next round's warm start.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Mapping

from keras_ct.config import Config
from keras_ct.errors import TrainingError
from keras_ct.runner import Runner
from keras_ct.train.launch import announce_resume, forget_metrics, train_run, warm_start_store
from keras_ct.train.metrics import Metrics, read_metrics
from keras_ct.train.trainer import Trainer, Training


def train(
    cfg: Config,
    runner: Runner,
    environ: Mapping[str, str],
    round_number: int,
    *,
    trainer: Trainer,
    started: Training | None = None,
) -> tuple[Metrics, float]:
    """Run the train command, retrying a crash ``train-retries`` times (resuming); return metrics, seconds.

    ``trainer``: how runs start; ``started``: the first attempt, already running (``start_early``).
    """
    metrics_path = cfg.metrics_path(round_number)
    if started is None:
        forget_metrics(cfg, round_number)
        run = train_run(cfg, environ, round_number)
    else:
        run = started.run
    attempts = 1 + cfg.train_retries
    total = 0.0
    for attempt in range(1, attempts + 1):
        title = f"Round {round_number}: training" + (
            f" (attempt {attempt} of {attempts}, resuming)" if attempt > 1 else ""
        )
        with runner.group(title):
            training, started = started, None
            try:
                if training is None:
                    announce_resume(cfg, runner, round_number)
                    training = trainer.start(run, runner)
                result = training.wait()
                total += result.duration_s
                break
            except TrainingError as exc:
                total += time.monotonic() - training.started if training is not None else 0.0
                if not exc.retryable or attempt == attempts:
                    raise
                runner.warning(
                    f"training crashed ({exc.message.splitlines()[0]}); retrying from the last checkpoint"
                )
    metrics = read_metrics(metrics_path, cfg.metric)
    model = cfg.round_dir(round_number) / "model.keras"
    if model.is_file():
        store = warm_start_store(cfg)
        store.mkdir(parents=True, exist_ok=True)
        shutil.copy2(model, store / f"round-{round_number}.keras")
    return metrics, total
