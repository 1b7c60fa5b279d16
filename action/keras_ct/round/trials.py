"""``keras-ct loop --candidates k``: a missed round's top k changes tried side by side, the best kept.

The engine's augmenter (``round.engine.Augmenter``) for k > 1. Each candidate change (the policy's
order, skipping those that cannot be made or do not build) is written into its own copy of the
working tree and trained there as its own process (``train.trainer.Trainer``, so through
``train.processes.spawn``), ``jobs`` at a time. ``round.candidates.choose`` keeps one; its edited
file is copied back into the real tree and returned, so the engine commits it (with every candidate's
result in the trailers), and the next round takes the kept candidate's training as its own
(``train.ahead``) instead of training the same code again. ``keras-ct run`` (the action)
uses it too: the k processes share the job's runner.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from keras_ct.augment import SCRIPT_CHANGES
from keras_ct.augment.policy import Decision, decide
from keras_ct.config import Config
from keras_ct.errors import AugmentError, ConfigError, MetricsError, TrainingError
from keras_ct.round.candidates import CandidateResult, choose
from keras_ct.round.history import RoundRecord
from keras_ct.runner import Runner
from keras_ct.train import ahead
from keras_ct.train.launch import forget_metrics, train_run, trained_model, warm_start_store
from keras_ct.train.metrics import read_metrics
from keras_ct.train.trainer import Trainer, Training

if TYPE_CHECKING:
    from keras_ct.augment import AugmentResult

#: Makes the policy's decision in the given config's tree (``orchestrate.augment_model`` with its change).
Propose = Callable[[Config, Sequence[RoundRecord], Decision], "AugmentResult"]


@dataclass(frozen=True)
class Trial:
    """One candidate: its rank, the config of its copy of the tree, and the change written there."""

    index: int
    cfg: Config
    change: AugmentResult


def run_trials(
    cfg: Config,
    records: Sequence[RoundRecord],
    *,
    environ: Mapping[str, str],
    runner: Runner,
    propose: Propose,
    jobs: int = 0,
) -> AugmentResult:
    """Try ``cfg.candidates`` changes after ``records[-1]`` (``jobs`` trainings at once; 0: all), write
    the kept one into ``cfg``'s tree and return it with every candidate's result."""
    n = records[-1].round
    trials = propose_trials(cfg, records, propose, cfg.out_dir / "candidates" / f"round-{n}")
    results = train_trials(trials, runner, environ, n + 1, jobs=jobs or len(trials))
    for r in results:
        runner.info(f"candidate {r.index} ({r.change}): " + (r.error or f"{cfg.metric} {r.accuracy:.4f}"))
    choice = choose(results, cfg.threshold)
    kept = trials[choice.kept.index - 1]
    path = cfg.working_directory / kept.change.path.relative_to(kept.cfg.working_directory)
    shutil.copy2(kept.change.path, path)
    # Its training is round N + 1's: that round takes it and does not train the same code again.
    ahead.keep(
        cfg.reread_train_command(),  # an epochs change in .keras-ct.yml is in the command now
        n + 1,
        kept.cfg.metrics_path(n + 1),
        trained_model(kept.cfg, n + 1),
        choice.kept.seconds,
        f"candidate {kept.index} of round {n}",
    )
    return replace(kept.change, path=path, written=True, candidates=choice.tried)


def propose_trials(cfg: Config, records: Sequence[RoundRecord], propose: Propose, root: Path) -> list[Trial]:
    """Up to ``cfg.candidates`` trials, each a copy of the tree (under ``root``) with one change made;
    the policy's changes that cannot be made are skipped. ``AugmentError`` when none can."""
    shutil.rmtree(root, ignore_errors=True)
    trials: list[Trial] = []
    skipped: list[str] = []
    outside = _files_outside(cfg)
    for decision in decide(records, policy=cfg.policy):
        if len(trials) == cfg.candidates:
            break
        if decision.change in SCRIPT_CHANGES and outside:  # k copies would all edit the one file
            skipped.append(f"{decision.change}: {outside[0]} is outside working-directory")
            continue
        copy = tree_copy(cfg, root / f"candidate-{len(trials) + 1}")
        try:
            change = propose(copy, records, decision)
            # An epochs change in the copy's .keras-ct.yml is its train command now.
            trials.append(Trial(len(trials) + 1, copy.reread_train_command(), change))
        except AugmentError as exc:
            skipped.append(f"{decision.change}: {exc.message}")
            shutil.rmtree(copy.working_directory, ignore_errors=True)
    if not trials:
        raise AugmentError("no candidate change could be made: " + ("; ".join(skipped) or "none offered"))
    return trials


def _files_outside(cfg: Config) -> list[Path]:
    """The training set-up's files (script, config file) outside the working tree: not copied."""
    wd = cfg.working_directory.resolve()
    files = (cfg.train_script(), cfg.config_file)
    return [f for f in files if f is not None and not f.resolve().is_relative_to(wd)]


def tree_copy(cfg: Config, dest: Path) -> Config:
    """``cfg`` for a copy of its working tree at ``dest`` (no .git, no output folder; the models the
    next round would warm-start from come along)."""
    wd = cfg.working_directory.resolve()
    if cfg.model_file.is_absolute() and not cfg.model_path.resolve().is_relative_to(wd):
        raise ConfigError(
            f"candidates above 1 needs model-file inside working-directory, got {cfg.model_file}"
        )
    skip = {cfg.out_dir.resolve(), wd / ".git"}
    shutil.copytree(wd, dest, ignore=lambda d, names: [x for x in names if (Path(d) / x).resolve() in skip])

    def moved(path: Path | None) -> Path | None:
        if path is None or not path.resolve().is_relative_to(wd):
            return path
        return dest / path.resolve().relative_to(wd)

    copy = replace(
        cfg,
        working_directory=dest,
        model_file=moved(cfg.model_path) or cfg.model_file,
        output_dir=None,
        metrics_file=None,
        checkpoint_dir=None,
        config_file=moved(cfg.config_file),
    )
    store = warm_start_store(cfg)
    if store.is_dir():
        shutil.copytree(store, warm_start_store(copy))
    return copy


def train_trials(
    trials: Sequence[Trial], runner: Runner, environ: Mapping[str, str], round_number: int, *, jobs: int
) -> list[CandidateResult]:
    """Train every trial as round ``round_number``, ``jobs`` processes at a time; a crash, a timeout or
    a bad metrics file is that candidate's result (no accuracy), never the others'."""
    results: list[CandidateResult] = []
    for start in range(0, len(trials), max(1, jobs)):
        batch = trials[start : start + max(1, jobs)]
        running: list[tuple[Trial, Training | TrainingError]] = []
        try:
            for t in batch:
                forget_metrics(t.cfg, round_number)
                running.append((t, _start(t, runner, environ, round_number)))
            results.extend(_result(t, started, round_number) for t, started in running)
        except BaseException:  # an interrupt (or a bug) ends every candidate still running
            for _, started in running:
                if isinstance(started, Training):
                    started.cancel()
            raise
    return results


def _start(
    trial: Trial, runner: Runner, environ: Mapping[str, str], round_number: int
) -> Training | TrainingError:
    try:
        return Trainer().start(train_run(trial.cfg, environ, round_number), runner)
    except TrainingError as exc:
        return exc


def _result(trial: Trial, started: Training | TrainingError, round_number: int) -> CandidateResult:
    change = trial.change.change
    try:
        if isinstance(started, TrainingError):
            raise started
        seconds = started.wait().duration_s
        metrics = read_metrics(trial.cfg.metrics_path(round_number), trial.cfg.metric)
    except (TrainingError, MetricsError) as exc:
        return CandidateResult(trial.index, change, None, exc.message.splitlines()[0])
    return CandidateResult(trial.index, change, metrics.value, seconds=seconds, samples=metrics.samples)
