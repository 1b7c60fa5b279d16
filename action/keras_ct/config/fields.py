"""The field table: every setting's name, parser, default and help, and the one wording of a bad value.

``FIELDS`` drives ``keras-ct run``/``loop``'s flags, the keras-ct action's inputs and the keys of
``.keras-ct.yml``. ``PLAN_FIELDS`` are the plan job's routing settings (``keras-ct detect`` and the
detect action): never in ``.keras-ct.yml``, because the plan job reads that file from the pull
request's own code, and a pull request must not choose the runner its code runs on.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from keras_ct.config.parse import (
    _bool,
    _choice,
    _comment_mode,
    _env_names,
    _identifier,
    _int_in,
    _labels,
    _minutes,
    _model_name,
    _nonempty,
    _optional_int,
    _optional_path,
    _optional_regression,
    _path,
    _shape,
    _text,
    _threshold,
)
from keras_ct.errors import ConfigError

#: The most rounds one loop may run. A loop that needs more is mis-configured, and every round costs
#: a runner; raise it by editing the model, not the ceiling.
MAX_ROUNDS_CEILING = 20
MAX_TRAIN_RETRIES = 5
#: The most candidate changes one missed round may try at once (one training process each).
MAX_CANDIDATES = 8
CHANGES = (
    "auto",
    "conv-block",
    "dense",
    "dropout",
    "epochs",
    "batch-norm",
    "augment-data",
    "widen",
    "lr-schedule",
    "l2",
)
POLICIES = ("diagnose", "naive")
#: What a pull request from a fork gets: no training, or training on the CPU labels that writes nothing.
FORK_POLICIES = ("skip", "cpu")


@dataclass(frozen=True)
class Source:
    """Where a raw value came from, for messages: ``--threshold``, ``input threshold``, ``.keras-ct.yml:3``."""

    kind: str  # "flag" | "input" | "file" | "default"
    label: str
    file: str | None = None
    line: int | None = None


@dataclass(frozen=True)
class FieldSpec:
    name: str
    parse: Callable[[Any], Any]
    default: Any
    help: str
    secret: bool = False


#: The model function's name when none is given (``model-function``).
DEFAULT_MODEL_FUNCTION = "build_model"

FIELDS: tuple[FieldSpec, ...] = (
    FieldSpec("model-file", _path, "ml_task/model.py", "Python file that defines the model function."),
    FieldSpec(
        "model-function",
        _identifier,
        DEFAULT_MODEL_FUNCTION,
        "Function in model-file that returns the compiled model.",
    ),
    FieldSpec(
        "train-command",
        _nonempty,
        "python ml_task/train.py --dataset digits",
        "Command that trains the model (a plain Keras script: the hooks write the metrics file); a leading `python` runs with the `python` interpreter.",
    ),
    FieldSpec("threshold", _threshold, 0.95, "Accuracy the model must reach, between 0 and 1."),
    FieldSpec("metric", _identifier, "accuracy", "Key of the metrics file to compare with the threshold."),
    FieldSpec(
        "max-rounds",
        _int_in(1, MAX_ROUNDS_CEILING, f"the ceiling is {MAX_ROUNDS_CEILING}"),
        5,
        f"Most training rounds in one loop (1-{MAX_ROUNDS_CEILING}).",
    ),
    FieldSpec("round", _int_in(1, None), 1, "Number of this round (dispatched rounds pass it)."),
    FieldSpec(
        "metrics-file",
        _optional_path,
        None,
        "Where the train command writes the metrics JSON (default: in output-dir).",
    ),
    FieldSpec(
        "output-dir",
        _optional_path,
        None,
        "Where rounds keep metrics, models and logs (default: $RUNNER_TEMP/keras-ct or .keras-ct).",
    ),
    FieldSpec("timeout-minutes", _minutes, 60.0, "Time limit for one training run."),
    FieldSpec("working-directory", _path, ".", "Repository root the paths are relative to."),
    FieldSpec(
        "fail-below-threshold",
        _bool,
        False,
        "Exit non-zero when the threshold is missed (use on the last round).",
    ),
    FieldSpec(
        "github-token", _text, "", "Token for the GitHub API (default: the workflow's token).", secret=True
    ),
    FieldSpec("pr-number", _optional_int(1), None, "Pull request to comment on (dispatched rounds pass it)."),
    FieldSpec(
        "policy",
        _choice(*POLICIES),
        "diagnose",
        "How to pick the next change: diagnose (learning curves) or naive (always a conv block).",
    ),
    FieldSpec(
        "python", _text, "", "Interpreter of the model's environment (default: the one running keras-ct)."
    ),
    FieldSpec(
        "train-env",
        _env_names,
        (),
        "Environment variables the training gets besides the standard ones (PATH, HOME, the locale, "
        "CUDA_*, TF_*...), names or * patterns separated by commas or spaces, e.g. WANDB_API_KEY DATASET_URL; "
        "a pattern never matches a name like *TOKEN* or *KEY*: name those exactly. The GitHub token never "
        "reaches the training.",
    ),
    FieldSpec(
        "input-shape",
        _shape,
        None,
        "Model input shape for build checks when the model has no Input layer, e.g. 28,28,1.",
    ),
    FieldSpec(
        "rounds-per-job",
        _int_in(1, MAX_ROUNDS_CEILING),
        1,
        "Rounds to run in one job before dispatching the next.",
    ),
    FieldSpec(
        "reuse-training-process",
        _bool,
        True,
        "Run a job's rounds in one long-lived training process, so TensorFlow is imported once per job "
        "(with rounds-per-job above 1, and in keras-ct loop); false: a fresh process per round.",
    ),
    FieldSpec(
        "warm-start", _bool, True, "Start each round from the previous round's weights where layers match."
    ),
    FieldSpec(
        "autolog",
        _bool,
        True,
        "Hook into the training's Keras (Model.fit and evaluate): curves, resume, warm start, the saved model "
        "and the metrics file for a script that does not import keras_ct; false: the script does it all.",
    ),
    FieldSpec(
        "checkpoint-dir",
        _optional_path,
        None,
        "Durable directory for resume checkpoints (default: in output-dir).",
    ),
    FieldSpec(
        "train-retries",
        _int_in(0, MAX_TRAIN_RETRIES),
        1,
        "Times a crashed training run is retried, resuming from its checkpoint.",
    ),
    FieldSpec("commit", _bool, True, "Commit the augmented model when the threshold is missed."),
    FieldSpec("push", _bool, True, "Push the augmented commit to the pull request's branch."),
    FieldSpec("dispatch", _bool, True, "Dispatch the workflow for the next round."),
    FieldSpec(
        "candidates",
        _int_in(1, MAX_CANDIDATES),
        1,
        f"Candidate changes a missed round tries side by side, each trained as its own process, keeping the "
        f"best (1-{MAX_CANDIDATES}; 1: one change per round). See docs/candidates.md.",
    ),
    FieldSpec(
        "fan-out",
        _choice("processes", "runners"),
        "processes",
        "Where a missed round's candidates train: processes (side by side in the training job) or runners "
        "(the reusable workflow's matrix job, one runner each; see docs/candidates.md).",
    ),
    FieldSpec(
        "max-regression",
        _optional_regression,
        None,
        "Fail the status when the best round is this far below the base branch's model (e.g. 0.01; empty: off).",
    ),
    FieldSpec(
        "name",
        _model_name,
        "",
        "The model's name when a repository has several: it scopes the PR comment, the status context "
        "(keras-ct/NAME), the commit trailers and the dispatch (empty: the repository's one model).",
    ),
    FieldSpec(
        "comment",
        _comment_mode,
        "always",
        "When to write the sticky PR comment: always, or off (the status and the job summary remain).",
    ),
    FieldSpec("status", _bool, True, "Set the keras-ct commit status on the pull request's head."),
)

PLAN_FIELDS: tuple[FieldSpec, ...] = (
    FieldSpec(
        "gpu-runner-labels",
        _labels('["self-hosted", "gpu"]'),
        '["self-hosted", "gpu"]',
        "JSON array of runner labels for training a Keras CNN.",
    ),
    FieldSpec(
        "cpu-runner-labels",
        _labels('["ubuntu-latest"]'),
        '["ubuntu-latest"]',
        "JSON array of runner labels for everything else (and for fork pull requests with fork-policy cpu).",
    ),
    FieldSpec(
        "fork-policy",
        _choice(*FORK_POLICIES),
        "skip",
        "What a pull request from a fork gets: skip (no training) or cpu (the CPU labels, nothing written).",
    ),
)
FIELD_NAMES = tuple(f.name for f in FIELDS)
PLAN_FIELD_NAMES = tuple(f.name for f in PLAN_FIELDS)
BY_NAME = {f.name: f for f in (*FIELDS, *PLAN_FIELDS)}


def parse_field(spec: FieldSpec, value: Any, source: Source) -> Any:
    """``value`` parsed as ``spec`` says; a bad one is a ``ConfigError`` naming the field, where the
    value came from, the value and what is allowed."""
    try:
        return spec.parse(value)
    except ValueError as exc:
        shown = "" if value is None else str(value)
        label = (
            source.label
            if source.kind == "file"
            else spec.name + (f" (from {source.label})" if source.kind == "input" else "")
        )
        allowed, *hint = exc.args
        message = f'{label} must be {allowed}, got "{shown}"' + "".join(f" ({h})" for h in hint)
        raise ConfigError(message, file=source.file, line=source.line) from None


def parse_labels(text: str, name: str) -> tuple[str, ...]:
    """``text`` read as the runner-label field ``name`` (``gpu-runner-labels``, ``cpu-runner-labels``)."""
    labels: tuple[str, ...] = parse_field(BY_NAME[name], text, Source("flag", f"--{name}"))
    return labels
