"""The one frozen, typed configuration (``Config``) and what the runner says about the run (``GitHubContext``).

``keras_ct.config.load.load_config`` builds them; nothing else reads the environment.
"""

from __future__ import annotations

import shlex
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from keras_ct.config.fields import Source
from keras_ct.config.parse import _nonempty
from keras_ct.config.yaml_file import read_config_file


@dataclass(frozen=True)
class GitHubContext:
    """What the runner tells us about the run (empty outside Actions)."""

    actions: bool = False
    api_url: str = "https://api.github.com"
    server_url: str = "https://github.com"
    repository: str = ""
    event_name: str = ""
    event: Mapping[str, Any] = field(default_factory=dict, repr=False)
    workflow_ref: str = ""
    run_id: str = ""
    run_attempt: str = ""
    sha: str = ""
    ref_name: str = ""
    head_ref: str = ""

    @property
    def run_url(self) -> str:
        if not (self.repository and self.run_id):
            return ""
        return f"{self.server_url}/{self.repository}/actions/runs/{self.run_id}"


@dataclass(frozen=True)
class Config:
    model_file: Path
    model_function: str
    train_command: str
    threshold: float
    metric: str
    max_rounds: int
    round: int
    metrics_file: Path | None
    output_dir: Path | None
    timeout_minutes: float
    working_directory: Path
    fail_below_threshold: bool
    github_token: str = field(repr=False)
    pr_number: int | None
    policy: str
    python: str
    train_env: tuple[str, ...]
    input_shape: tuple[int, ...] | None
    rounds_per_job: int
    reuse_training_process: bool
    warm_start: bool
    autolog: bool
    checkpoint_dir: Path | None
    train_retries: int
    commit: bool
    push: bool
    dispatch: bool
    name: str
    comment: str
    status: bool
    gpu_runner_labels: tuple[str, ...]
    cpu_runner_labels: tuple[str, ...]
    fork_policy: str
    max_regression: float | None
    candidates: int = 1
    #: ``runners``: the candidates train in the workflow's matrix job (``round.fanout``), not here.
    fan_out: str = "processes"
    github: GitHubContext = field(default_factory=GitHubContext)
    config_file: Path | None = None
    sources: Mapping[str, Source] = field(default_factory=dict, repr=False, compare=False)

    # Resolved paths (relative ones are taken from the working directory).
    def resolve(self, path: Path) -> Path:
        return path if path.is_absolute() else self.working_directory / path

    @property
    def model_path(self) -> Path:
        return self.resolve(self.model_file)

    @property
    def out_dir(self) -> Path:
        if self.output_dir is not None:
            return self.resolve(self.output_dir)
        return self.working_directory / ".keras-ct"

    def round_dir(self, round_number: int | None = None) -> Path:
        return self.out_dir / f"round-{self.round if round_number is None else round_number}"

    def metrics_path(self, round_number: int | None = None) -> Path:
        if self.metrics_file is not None:
            return self.resolve(self.metrics_file)
        return self.round_dir(round_number) / "metrics.json"

    @property
    def checkpoint_base(self) -> Path:
        """The durable folder of checkpoints: ``checkpoint-dir``, else ``checkpoints`` in the output folder."""
        return self.resolve(self.checkpoint_dir) if self.checkpoint_dir else self.out_dir / "checkpoints"

    def checkpoint_path(self, round_number: int | None = None) -> Path:
        return self.checkpoint_base / f"round-{self.round if round_number is None else round_number}"

    def command_files(self) -> tuple[Path, ...]:
        """Files the train command names as arguments (its script, a dataset...), resolved, existing."""
        try:
            argv = shlex.split(self.train_command)
        except ValueError:
            return ()
        paths = (self.resolve(Path(arg)) for arg in argv[1:] if "\0" not in arg)
        return tuple(p for p in paths if _is_file(p))

    def train_script(self) -> Path | None:
        """The Python script the train command runs (``python ml_task/train.py ...``), if it is one."""
        try:
            first = shlex.split(self.train_command)[:1]
        except ValueError:
            return None
        if not first or "python" not in Path(first[0]).name:
            return None
        return next((p for p in self.command_files() if p.suffix == ".py"), None)

    def last_round(self, *, local: bool) -> int:
        """The last round this process trains: every round locally (``keras-ct loop``), else the
        job's ``rounds-per-job`` rounds from ``round``, never past ``max-rounds``."""
        return self.max_rounds if local else min(self.max_rounds, self.round + self.rounds_per_job - 1)

    def editable_files(self) -> tuple[Path, ...]:
        """Files an augmentation may change: the model, the training script, ``.keras-ct.yml``."""
        files = [self.model_path, self.train_script(), self.config_file]
        return tuple(dict.fromkeys(f for f in files if f is not None and f.is_file()))

    def reread_train_command(self) -> Config:
        """The config with ``train-command`` read again from ``.keras-ct.yml`` (after an epochs change there)."""
        if (
            self.config_file is None
            or self.sources.get("train-command", Source("default", "")).kind != "file"
        ):
            return self
        value, _ = read_config_file(self.config_file)["train-command"]
        return replace(self, train_command=_nonempty(value))

    @property
    def interpreter(self) -> str:
        return self.python or sys.executable

    def describe(self, name: str) -> str:
        """``input threshold``, ``--threshold`` or ``.keras-ct.yml line 3 (threshold)``, for messages."""
        source = self.sources.get(name)
        return source.label if source else name


def _is_file(path: Path) -> bool:
    """Whether ``path`` names a file; an argument that cannot be a path (``python -c "<a long
    program>"``: a name over the system's limit) names none."""
    try:
        return path.is_file()
    except OSError:
        return False
