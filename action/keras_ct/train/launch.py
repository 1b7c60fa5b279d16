"""What starts a round's training: the model-file check, the training environment and the trainer.

Kept apart from the round engine (``keras_ct.round.engine``) so that ``keras-ct run`` can start the training
right after reading its configuration, before it imports the GitHub client, the reports and git.
"""

from __future__ import annotations

import ast
import hashlib
import json
import os
import shutil
from collections.abc import Mapping
from pathlib import Path

import keras_ct
from keras_ct.config import Config
from keras_ct.errors import KerasCTError
from keras_ct.python_source import SourceEncodingError, decode_source, parse_python
from keras_ct.round.preflight import PreflightError, may_delete_metrics
from keras_ct.runner import Runner
from keras_ct.train import childenv
from keras_ct.train.trainer import ReusedTrainer, Trainer, Training, TrainRun, command_argv

#: The folder whose ``sitecustomize`` hooks keras-ct into the training process (``autolog``).
HOOKS_DIR = Path(__file__).resolve().parent / "hooks"

# -- checks before anything runs --------------------------------------------------------------------


def check_model_file(cfg: Config) -> None:
    """The model file exists, parses, and defines the model function (read, never run)."""
    path = cfg.model_path
    shown = str(cfg.model_file)
    if not path.is_file():
        raise KerasCTError(
            f'model-file "{shown}" does not exist (looked in {cfg.working_directory}); '
            "set model-file to the Python file that defines the model",
            file=shown,
        )
    try:
        # In the encoding it declares (a UTF-8 BOM, a PEP 263 coding line), as Python reads it.
        source = decode_source(path.read_bytes())
    except SourceEncodingError as exc:
        raise KerasCTError(f"model-file {shown}: {exc}", file=shown) from None
    except OSError as exc:
        raise KerasCTError(
            f"model-file {shown} cannot be read ({exc.strerror}); make it a readable file", file=shown
        ) from None
    tree = parse_python(source, shown, advice="fix it before training", subject=f"model-file {shown}")
    names = [n.name for n in tree.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)]
    if cfg.model_function not in names:
        found = f"; it defines {', '.join(names)}" if names else "; it defines no functions"
        raise KerasCTError(
            f"model-file {shown} has no top-level function {cfg.model_function}(){found}. "
            "Set model-function to the function that returns the compiled model",
            file=shown,
        )


def training_env(cfg: Config, environ: Mapping[str, str], round_number: int) -> dict[str, str]:
    """The train command's environment (``keras_ct.train.childenv``: an allow-list, plus ``train-env``, never
    the token), with keras-ct's package on ``PYTHONPATH`` and the ``KERAS_CT_*`` variables."""
    env = repository_env(cfg, environ)
    package_root = str(Path(keras_ct.__file__).resolve().parent.parent)
    hooks = [str(HOOKS_DIR)] if cfg.autolog else []  # first: its sitecustomize runs the one it shadows
    paths = [*hooks, package_root, *environ.get("PYTHONPATH", "").split(os.pathsep)]
    env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(p for p in paths if p))  # once each, in order
    env["KERAS_CT_AUTOLOG"] = "1" if cfg.autolog else "0"
    env.update(
        KERAS_CT_METRIC=cfg.metric,
        KERAS_CT_METRICS_FILE=str(cfg.metrics_path(round_number)),
        KERAS_CT_ROUND=str(round_number),
        KERAS_CT_CHECKPOINT_DIR=str(resume_dir(cfg, round_number)),
        KERAS_CT_MODEL_FILE=str(cfg.model_path),
        KERAS_CT_MODEL_FUNCTION=cfg.model_function,
        KERAS_CT_MODEL_PATH=str(trained_model(cfg, round_number)),
    )
    previous = warm_start_source(cfg, round_number)
    if previous is not None:
        env["KERAS_CT_WARM_START_FROM"] = str(previous)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env


def repository_env(cfg: Config, environ: Mapping[str, str]) -> dict[str, str]:
    """The environment of any process that runs the repository's code: the training, the reused
    training process, the augmenter's build check. Such a process could also read keras-ct's own
    start-up environment (``/proc/<ppid>/environ``): the secrets are blanked there first."""
    return childenv.repository_env(environ, passed=cfg.train_env, secrets=(cfg.github_token,))


def resume_dir(cfg: Config, round_number: int) -> Path:
    """The round's checkpoint folder for exactly what is trained: the model file, the train command
    and the files it names (the training script). A backup left by other code (the author changed
    the model after a crash) is never resumed: it would not load, or would resume a different run."""
    digest = hashlib.sha256()
    digest.update(f"{cfg.model_file}\0{cfg.model_function}\0{cfg.train_command}\0".encode())
    for path in (cfg.model_path, *cfg.command_files()):
        if path.is_file():
            # Code by content; anything else (a dataset of gigabytes) by size only. No absolute paths:
            # a rerun on another runner (another workspace folder) must find the same folder.
            content = path.read_bytes() if path.suffix == ".py" or path == cfg.model_path else b""
            digest.update(f"{path.stat().st_size}\0".encode() + content + b"\0")
    return cfg.checkpoint_path(round_number) / digest.hexdigest()[:16]


def checkpoint_epochs(directory: Path) -> int | None:
    """How many epochs the run that left ``directory`` finished (``BackupAndRestore``'s
    ``training_metadata.json``: in ``backup/``, where ``resume_callbacks`` keep it, or in the folder
    itself), or None when there is no checkpoint. A finished fit deletes it: one left means a killed run."""
    for metadata in (directory / "backup" / "training_metadata.json", directory / "training_metadata.json"):
        try:
            data = json.loads(metadata.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        epoch = data.get("epoch") if isinstance(data, dict) else None
        if isinstance(epoch, int) and not isinstance(epoch, bool) and epoch >= 0:
            return epoch
    return None


def announce_resume(cfg: Config, runner: Runner, round_number: int) -> None:
    """Say, before the training starts, that it resumes a killed run's checkpoint (and at which epoch)."""
    directory = resume_dir(cfg, round_number)
    finished = checkpoint_epochs(directory)
    if finished is None:
        return
    from keras_ct.augment.epochs import command_epochs  # only now: it imports libcst

    total = command_epochs(cfg.train_command)
    of = f" of {total}" if total is not None and total > finished else ""
    try:
        shown: Path = directory.relative_to(cfg.working_directory)
    except ValueError:
        shown = directory
    runner.notice(
        f"resuming round {round_number} at epoch {finished + 1}{of} from the checkpoint a killed run left "
        f"in {shown}"
    )


def warm_start_store(cfg: Config) -> Path:
    """Durable directory of trained models, one per round (cached between jobs on GitHub)."""
    return cfg.checkpoint_base / "models"


def trained_model(cfg: Config, round_number: int) -> Path:
    """Where round ``round_number``'s training saves its model (``$KERAS_CT_MODEL_PATH``)."""
    return cfg.round_dir(round_number) / "model.keras"


def keep_for_warm_start(cfg: Config, round_number: int) -> None:
    """Copy round ``round_number``'s trained model (if it saved one) into the warm-start store."""
    model = trained_model(cfg, round_number)
    if model.is_file():
        store = warm_start_store(cfg)
        store.mkdir(parents=True, exist_ok=True)
        shutil.copy2(model, store / f"round-{round_number}.keras")


def warm_start_source(cfg: Config, round_number: int) -> Path | None:
    if not cfg.warm_start or round_number <= 1:
        return None
    candidate = warm_start_store(cfg) / f"round-{round_number - 1}.keras"
    return candidate if candidate.is_file() else None


def train_run(cfg: Config, environ: Mapping[str, str], round_number: int) -> TrainRun:
    """Round ``round_number``'s run of the train command: argv, directory, environment, limit, log."""
    return TrainRun(
        argv=command_argv(cfg.train_command, cfg.interpreter),
        cwd=cfg.working_directory,
        env=training_env(cfg, environ, round_number),
        timeout_s=cfg.timeout_minutes * 60,
        log_path=cfg.round_dir(round_number) / "train.log",
    )


def forget_metrics(cfg: Config, round_number: int) -> Path:
    """Remove an earlier attempt's metrics file for the round, so that only this run's is read.

    Only a file that ``keras_ct.round.preflight`` cleared as keras-ct's is ever deleted; any other is refused.
    """
    metrics_path = cfg.metrics_path(round_number)
    metrics_path.parent.mkdir(parents=True, exist_ok=True)
    if metrics_path.exists() or metrics_path.is_symlink():
        if not may_delete_metrics(metrics_path):
            raise PreflightError(
                f"{cfg.describe('metrics-file')} {metrics_path} exists and keras-ct did not write it; "
                "keras-ct replaces the metrics file on every run, so it refuses to: give a path that does "
                "not exist yet, or leave metrics-file unset"
            )
        metrics_path.unlink()  # never read a stale file from an earlier attempt
    return metrics_path


def trainer_for(cfg: Config, *, local: bool) -> Trainer:
    """How the job's rounds run: one reused process when it trains more than one round and
    ``reuse-training-process`` is on, else a process per round."""
    if cfg.reuse_training_process and cfg.last_round(local=local) > cfg.round:
        return ReusedTrainer(cfg.interpreter)
    return Trainer()


def start_early(cfg: Config, runner: Runner, environ: Mapping[str, str], trainer: Trainer) -> Training | None:
    """Start round ``cfg.round``'s training now, so it runs while the orchestrator talks to GitHub.

    Only when the model file checks out: a round that cannot train is reported by the engine as usual.
    The engine takes the run over (``train(..., started=...)``); the caller cancels it if it does not.
    """
    from keras_ct.train import ahead

    try:
        check_model_file(cfg)
        if ahead.ready(cfg, cfg.round):
            return None  # trained already (a kept candidate): the engine takes that training
        run = train_run(cfg, environ, cfg.round)
        forget_metrics(cfg, cfg.round)
        announce_resume(cfg, runner, cfg.round)
        return trainer.start(run, runner)
    except KerasCTError:
        return None  # the engine meets the same error at its own check and reports it
