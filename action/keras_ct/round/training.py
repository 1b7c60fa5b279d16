"""One round's training: the train command, retried after a crash, then its metrics.

A crash that can be retried (``TrainingError.retryable``) runs the command again ``train-retries``
times, resuming from the checkpoint. The trained model is kept for the next round's warm start. A
round whose code a kept candidate trained already takes that training (``train.ahead``).
"""

from __future__ import annotations

import time
from collections.abc import Mapping

from keras_ct.config import Config
from keras_ct.errors import TrainingError
from keras_ct.runner import Runner
from keras_ct.train import ahead
from keras_ct.train.ahead import Trained
from keras_ct.train.launch import announce_resume, forget_metrics, keep_for_warm_start, train_run
from keras_ct.train.metrics import read_metrics
from keras_ct.train.trainer import Trainer, Training


def train(
    cfg: Config,
    runner: Runner,
    environ: Mapping[str, str],
    round_number: int,
    *,
    trainer: Trainer,
    started: Training | None = None,
) -> Trained:
    """Run the train command, retrying a crash ``train-retries`` times (resuming), unless a kept
    candidate trained this code already (then ``started`` is stopped and that training is taken).

    ``trainer``: how runs start; ``started``: the first attempt, already running (``start_early``).
    """
    done = ahead.take(cfg, runner, round_number)
    if done is not None:
        if started is not None:
            started.cancel()
        return done
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
    keep_for_warm_start(cfg, round_number)
    return Trained(metrics, total)
