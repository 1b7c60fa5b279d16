"""One frozen, typed configuration built from three sources, and nothing else reads the environment.

Precedence, highest first:

1. command-line flags (``keras-ct run --threshold 0.9``);
2. action inputs, as the runner passes them (``INPUT_THRESHOLD``; both ``INPUT_MODEL-FILE`` and
   ``INPUT_MODEL_FILE`` spellings). An empty input counts as *not given*: a composite action passes
   ``""`` for inputs the caller left out;
3. ``.keras-ct.yml`` at the root of the working directory;
4. the built-in defaults in ``FIELDS``.

Every invalid value raises ``ConfigError`` naming the input and where it came from, the bad value
and what is allowed, e.g. ``threshold must be a number between 0 and 1, got "abc"``.
"""

from __future__ import annotations

import difflib
import functools
import json
import math
import os
import re
import shlex
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from keras_ct.errors import ConfigError
from keras_ct.train.childenv import parse_names

CONFIG_FILE = ".keras-ct.yml"
#: The most rounds one loop may run. A loop that needs more is mis-configured, and every round costs
#: a runner; raise it by editing the model, not the ceiling.
MAX_ROUNDS_CEILING = 20
MAX_TRAIN_RETRIES = 5
CHANGES = ("auto", "conv-block", "dense", "dropout", "epochs")
POLICIES = ("diagnose", "naive")


@dataclass(frozen=True)
class Source:
    """Where a raw value came from, for messages: ``--threshold``, ``input threshold``, ``.keras-ct.yml:3``."""

    kind: str  # "flag" | "input" | "file" | "default"
    label: str
    file: str | None = None
    line: int | None = None


# -- value parsers: raw (str, or a YAML scalar) -> typed value; raise ValueError(allowed) -------------


def _text(raw: Any) -> str:
    if isinstance(raw, bool) or raw is None or isinstance(raw, list | dict):
        raise ValueError("a string")
    return str(raw).strip()


def _nonempty(raw: Any) -> str:
    value = _text(raw)
    if not value:
        raise ValueError("a non-empty string")
    return value


def _identifier(raw: Any) -> str:
    value = _text(raw)
    if not value.isidentifier():
        raise ValueError("a Python identifier such as build_model")
    return value


def _number(raw: Any, allowed: str) -> float:
    if isinstance(raw, bool):
        raise ValueError(allowed)
    try:
        value = float(str(raw).strip())
    except ValueError:
        raise ValueError(allowed) from None
    if not math.isfinite(value):
        raise ValueError(allowed)
    return value


def _threshold(raw: Any) -> float:
    allowed = "a number between 0 and 1"
    value = _number(raw, allowed)
    if not 0.0 < value <= 1.0:
        if 1.0 < value <= 100.0:
            raise ValueError(allowed, f"a fraction, not a percentage: did you mean {value / 100:g}?")
        raise ValueError(allowed)
    return value


def _int_in(low: int, high: int | None, what: str = "") -> Callable[[Any], int]:
    allowed = f"a whole number {'from ' + str(low) + ' to ' + str(high) if high is not None else 'of at least ' + str(low)}"
    if what:
        allowed += f" ({what})"

    def parse(raw: Any) -> int:
        if isinstance(raw, bool):
            raise ValueError(allowed)
        text = str(raw).strip()
        if not re.fullmatch(r"[+-]?\d+", text):
            raise ValueError(allowed)
        value = int(text)
        if value < low or (high is not None and value > high):
            raise ValueError(allowed)
        return value

    return parse


def _optional_int(low: int) -> Callable[[Any], int | None]:
    parse = _int_in(low, None)

    def optional(raw: Any) -> int | None:
        return None if raw is None or str(raw).strip() == "" else parse(raw)

    return optional


def _minutes(raw: Any) -> float:
    allowed = "a number of minutes greater than 0"
    value = _number(raw, allowed)
    if value <= 0:
        raise ValueError(allowed)
    return value


def _bool(raw: Any) -> bool:
    if isinstance(raw, bool):
        return raw
    text = str(raw).strip().lower()
    if text in ("true", "yes", "on", "1"):
        return True
    if text in ("false", "no", "off", "0"):
        return False
    raise ValueError("true or false")


def _choice(*choices: str) -> Callable[[Any], str]:
    def parse(raw: Any) -> str:
        value = _text(raw)
        if value not in choices:
            raise ValueError("one of " + ", ".join(choices))
        return value

    return parse


def _path(raw: Any) -> Path:
    return Path(_nonempty(raw))


def _optional_path(raw: Any) -> Path | None:
    value = _text(raw) if raw is not None else ""
    return Path(value) if value else None


def _shape(raw: Any) -> tuple[int, ...] | None:
    if raw is None:
        return None
    if isinstance(raw, list):
        parts = [str(p) for p in raw]
    else:
        text = _text(raw).strip("()[] ")
        if not text:
            return None
        parts = [p for p in re.split(r"[,\s]+|(?<=\d)x(?=\d)", text) if p]
    allowed = "positive whole numbers separated by commas, such as 28,28,1"
    if not parts or not all(p.isdigit() and int(p) > 0 for p in parts):
        raise ValueError(allowed)
    return tuple(int(p) for p in parts)


def _env_names(raw: Any) -> tuple[str, ...]:
    if raw is None or isinstance(raw, bool | dict):
        raise ValueError("names of environment variables separated by commas or spaces")
    return parse_names(raw if isinstance(raw, list) else str(raw))


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
        "Command that trains the model and writes the metrics file; a leading `python` runs with the `python` interpreter.",
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
)
FIELD_NAMES = tuple(f.name for f in FIELDS)
_BY_NAME = {f.name: f for f in FIELDS}


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
    checkpoint_dir: Path | None
    train_retries: int
    commit: bool
    push: bool
    dispatch: bool
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

    def checkpoint_path(self, round_number: int | None = None) -> Path:
        base = self.resolve(self.checkpoint_dir) if self.checkpoint_dir else self.out_dir / "checkpoints"
        return base / f"round-{self.round if round_number is None else round_number}"

    def command_files(self) -> tuple[Path, ...]:
        """Files the train command names as arguments (its script, a dataset...), resolved, existing."""
        try:
            argv = shlex.split(self.train_command)
        except ValueError:
            return ()
        paths = (self.resolve(Path(arg)) for arg in argv[1:])
        return tuple(p for p in paths if p.is_file())

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
        value, _ = _read_config_file(self.config_file)["train-command"]
        return replace(self, train_command=_nonempty(value))

    @property
    def interpreter(self) -> str:
        return self.python or sys.executable

    def describe(self, name: str) -> str:
        """``input threshold``, ``--threshold`` or ``.keras-ct.yml line 3 (threshold)``, for messages."""
        source = self.sources.get(name)
        return source.label if source else name


def _input_value(environ: Mapping[str, str], name: str) -> tuple[str, str] | None:
    """The runner's value for input ``name``: ``INPUT_MODEL-FILE`` or ``INPUT_MODEL_FILE``; "" is unset."""
    for key in (f"INPUT_{name.upper()}", f"INPUT_{name.upper().replace('-', '_')}"):
        value = environ.get(key)
        if value is not None and value.strip() != "":
            return key, value
    return None


def _closest(name: str) -> str:
    match = difflib.get_close_matches(name, FIELD_NAMES, n=1, cutoff=0.5)
    return f' (did you mean "{match[0]}"?)' if match else ""


def _read_config_file(path: Path) -> dict[str, tuple[Any, Source]]:
    """Parse ``.keras-ct.yml`` keeping each key's line for messages.

    Plain YAML only: UTF-8 text, safe values (no ``!!python/...`` tags), each key once. Every problem
    is a ``ConfigError`` with the file and line.
    """
    import yaml  # only when there is a config file: keras-ct run starts the training sooner without

    label = str(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(
            f"cannot read {label}: {exc.strerror}; make it a readable file", file=label
        ) from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        bad_line = data.count(b"\n", 0, exc.start) + 1
        raise ConfigError(
            f"{label} line {bad_line} is not UTF-8 text (byte {data[exc.start : exc.start + 1]!r}: "
            f"{exc.reason}); YAML files are UTF-8: save it as UTF-8",
            file=label,
            line=bad_line,
        ) from None
    try:
        loader = _strict_loader()(text)  # reading starts here: a NUL or a control character fails now
    except yaml.YAMLError as exc:
        raise _syntax_error(label, exc, text) from None
    loader.label = label
    try:
        try:
            root = loader.get_single_node()
        except yaml.YAMLError as exc:
            raise _syntax_error(label, exc, text) from None
        if root is None:
            return {}
        if not isinstance(root, yaml.MappingNode):
            raise ConfigError(
                f"{label} must be a mapping of input names to values (e.g. `threshold: 0.95`)",
                file=label,
                line=root.start_mark.line + 1,
            )
        try:
            loader_values = loader.construct_document(root)
        except yaml.YAMLError as exc:
            at, problem = _yaml_problem(exc, text)
            fix = (
                "remove the tag: keras-ct reads plain values (text, numbers, true/false, lists)"
                if "constructor for the tag" in problem
                else "write plain values: text, numbers, true/false or lists"
            )
            where = f" line {at}" if at else ""
            raise ConfigError(f"{label}{where}: {problem}; {fix}", file=label, line=at) from None
    finally:
        loader.dispose()
    result: dict[str, tuple[Any, Source]] = {}
    for key_node, _value_node in root.value:
        key = str(key_node.value)
        line = key_node.start_mark.line + 1
        if key not in _BY_NAME:
            raise ConfigError(
                f"{label} line {line}: unknown key {key!r}{_closest(key)}; known keys: {', '.join(FIELD_NAMES)}",
                file=label,
                line=line,
            )
        if _BY_NAME[key].secret:
            raise ConfigError(
                f"{label} line {line}: {key} must not be stored in a file; pass it as an input or an environment secret",
                file=label,
                line=line,
            )
        bad = _not_text(loader_values[key])
        if bad is not None:
            raise ConfigError(
                f"{label} line {line} ({key}): the value has {bad!r}, an escape that is no character (a lone "
                "surrogate); write the character itself, or remove the escape",
                file=label,
                line=line,
            )
        result[key] = (loader_values[key], Source("file", f"{label} line {line} ({key})", label, line))
    return result


def _not_text(value: Any) -> str | None:
    """The first lone surrogate in a YAML value (``"\\ud800"`` parses to one), else None."""
    stack, seen = [value], set()
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError as exc:
                return item[exc.start]
        elif isinstance(item, list | dict) and id(item) not in seen:  # an alias may make a cycle
            seen.add(id(item))
            stack.extend([*item.keys(), *item.values()] if isinstance(item, dict) else item)
    return None


def _syntax_error(label: str, exc: Exception, text: str) -> ConfigError:
    at, problem = _yaml_problem(exc, text)
    where = f" at line {at}" if at else ""
    return ConfigError(
        f"{label} is not valid YAML{where}: {problem}; fix the syntax (a mapping of input names to values)",
        file=label,
        line=at,
    )


def _yaml_problem(exc: Exception, text: str) -> tuple[int | None, str]:
    """The line (1-based, when known) and the problem of a PyYAML error, without its "<unicode string>"."""
    import yaml

    if isinstance(exc, yaml.reader.ReaderError):  # a character YAML does not allow (a NUL, a control)
        return text.count("\n", 0, exc.position) + 1, f"the character {chr(exc.character)!r} is not allowed"
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc)
    return (mark.line + 1 if mark is not None else None), problem


@functools.cache
def _strict_loader() -> Any:
    """PyYAML's ``SafeLoader`` (no Python objects) that also refuses a key given twice in one mapping.

    YAML says the keys of a mapping are unique; PyYAML keeps the last one silently, so
    ``threshold: 0.9`` then ``threshold: 0.5`` would quietly train to 0.5. Built on first use: importing
    keras_ct never imports yaml.
    """
    import yaml

    class StrictLoader(yaml.SafeLoader):
        label = CONFIG_FILE

        def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
            first_line: dict[str, int] = {}
            for key_node, _ in node.value:
                if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                line = key_node.start_mark.line + 1
                if key_node.value in first_line:
                    first = first_line[key_node.value]
                    lines = f"on line {line}" if first == line else f"on line {first} and line {line}"
                    raise ConfigError(
                        f"{self.label} line {line}: {key_node.value!r} is given twice, {lines}; keep one of them",
                        file=self.label,
                        line=line,
                    )
                first_line[key_node.value] = line
            return super().construct_mapping(node, deep=deep)

    return StrictLoader


def _github_context(environ: Mapping[str, str]) -> GitHubContext:
    event: Mapping[str, Any] = {}
    event_path = environ.get("GITHUB_EVENT_PATH", "")
    if event_path:
        try:
            loaded = json.loads(Path(event_path).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ConfigError(
                f"cannot read the event payload GITHUB_EVENT_PATH={event_path}: {exc}"
            ) from None
        event = loaded if isinstance(loaded, dict) else {}
    return GitHubContext(
        actions=environ.get("GITHUB_ACTIONS") == "true",
        api_url=(environ.get("GITHUB_API_URL") or "https://api.github.com").rstrip("/"),
        server_url=(environ.get("GITHUB_SERVER_URL") or "https://github.com").rstrip("/"),
        repository=environ.get("GITHUB_REPOSITORY", ""),
        event_name=environ.get("GITHUB_EVENT_NAME", ""),
        event=event,
        workflow_ref=environ.get("GITHUB_WORKFLOW_REF", ""),
        run_id=environ.get("GITHUB_RUN_ID", ""),
        run_attempt=environ.get("GITHUB_RUN_ATTEMPT", ""),
        sha=environ.get("GITHUB_SHA", ""),
        ref_name=environ.get("GITHUB_REF_NAME", ""),
        head_ref=environ.get("GITHUB_HEAD_REF", ""),
    )


def error_report_context(environ: Mapping[str, str]) -> tuple[GitHubContext, str] | None:
    """The runner's context and the token, read leniently when the configuration itself is invalid.

    Used only to mark the commit failed after a ``ConfigError`` (there is no ``Config`` then). None
    outside Actions, or when the runner's own event payload cannot be read.
    """
    if environ.get("GITHUB_ACTIONS") != "true":
        return None
    try:
        context = _github_context(environ)
    except ConfigError:
        return None
    found = _input_value(environ, "github-token")
    token = found[1].strip() if found is not None else environ.get("GITHUB_TOKEN", "").strip()
    return context, token


def _not_a_config_file(path: Path, *, given: bool) -> ConfigError:
    """A ``.keras-ct.yml`` (or ``--config``) that exists but is no file: never ignored, never read."""
    if path.is_dir():
        fix = (
            f"pass the YAML file itself, e.g. --config {path / CONFIG_FILE}"
            if given
            else f"keras-ct reads its settings from the file {CONFIG_FILE}: remove or rename the directory"
        )
        return ConfigError(f"{path} is a directory, not a config file; {fix}", file=str(path))
    if path.is_symlink() and not path.exists():
        return ConfigError(
            f"{path} is a link to {os.readlink(path)}, which does not exist; fix the link or remove it",
            file=str(path),
        )
    return ConfigError(
        f"{path} is not a regular file (a device, a pipe or a socket); make it a YAML file or remove it",
        file=str(path),
    )


def load_config(
    flags: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
    *,
    cwd: Path | None = None,
    config_file: Path | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Config:
    """Build the one ``Config``. ``flags`` maps input names to CLI values (``None`` = not given)."""
    flags = {k: v for k, v in (flags or {}).items() if v is not None}
    environ = dict(environ if environ is not None else {})
    cwd = cwd or Path.cwd()
    unknown = sorted(set(flags) - set(FIELD_NAMES))
    if unknown:  # a programming error in a caller, not a user mistake
        raise ValueError(f"unknown config names: {unknown}")

    raw: dict[str, tuple[Any, Source]] = {}
    for spec in FIELDS:
        if spec.name in flags:
            raw[spec.name] = (flags[spec.name], Source("flag", f"--{spec.name}"))
        elif (found := _input_value(environ, spec.name)) is not None:
            raw[spec.name] = (found[1], Source("input", f"input {spec.name} ({found[0]})"))

    # The working directory decides where .keras-ct.yml lives, so resolve it first.
    workdir_raw = raw.get("working-directory", (".", None))[0]
    try:
        workdir = _path(workdir_raw)
    except ValueError as exc:
        raise ConfigError(f"working-directory must be {exc}, got {str(workdir_raw)!r}") from None
    workdir = (cwd / workdir).resolve() if not workdir.is_absolute() else workdir
    if not workdir.is_dir():
        raise ConfigError(
            f'working-directory "{workdir_raw}" is not a directory ({workdir}); give an existing path'
        )

    file_path = config_file if config_file is not None else workdir / CONFIG_FILE
    from_file: dict[str, tuple[Any, Source]] = {}
    if file_path.is_file():
        from_file = _read_config_file(file_path)
    elif file_path.exists() or file_path.is_symlink():
        raise _not_a_config_file(file_path, given=config_file is not None)
    elif config_file is not None:
        raise ConfigError(f"config file {config_file} does not exist", file=str(config_file))
    for name, value in from_file.items():
        raw.setdefault(name, value)
    for name, value in (overrides or {}).items():
        raw[name] = (value, Source("flag", f"--{name}"))
    if "github-token" not in raw and environ.get("GITHUB_TOKEN"):
        raw["github-token"] = (environ["GITHUB_TOKEN"], Source("input", "GITHUB_TOKEN"))

    values: dict[str, Any] = {}
    sources: dict[str, Source] = {}
    for spec in FIELDS:
        if spec.name not in raw:
            values[spec.name] = spec.parse(spec.default) if isinstance(spec.default, str) else spec.default
            sources[spec.name] = Source("default", spec.name)
            continue
        value, source = raw[spec.name]
        sources[spec.name] = source
        try:
            values[spec.name] = spec.parse(value)
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

    if values["round"] > values["max-rounds"]:
        raise ConfigError(
            f'round must not exceed max-rounds ({values["max-rounds"]}), got "{values["round"]}"; '
            "the loop has ended: raise max-rounds or start again at round 1"
        )

    values["working-directory"] = workdir
    attrs = {name.replace("-", "_"): value for name, value in values.items()}
    return Config(
        **attrs,
        github=_github_context(environ),
        config_file=file_path if file_path.is_file() else None,
        sources=sources,
    )
