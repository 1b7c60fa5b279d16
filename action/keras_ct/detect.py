"""`keras-ct detect`: read the model and training code (never run it) and plan the training job.

This is the reusable workflow's ``plan`` job, the seed's "look at the code and pick the
environment". It answers four questions with static analysis (:mod:`ast`, nothing is imported or
executed): which framework the code uses, whether the model is a CNN, whether ``keras-ct augment``
will find a model it can edit, and which runner labels the training job should get. It also
resolves the round and the pull request number for ``pull_request`` and ``workflow_dispatch``
events, and it never routes a pull request from a fork to self-hosted runners.

The module uses the standard library only, so the ``detect`` action can run it straight from the
action's checkout (``PYTHONPATH=action python3 -m keras_ct.detect``) without installing anything;
``tests/test_detect.py`` runs it with ``python -S`` to keep that true.

Pure core: :func:`analyse_source`, :func:`resolve_event`, :func:`make_plan`, :func:`render_summary`
and :func:`plan_outputs` are functions over frozen dataclasses. The edges are :func:`analyse_code`
(reads files), :func:`read_event` and :func:`handle` (environment, ``$GITHUB_OUTPUT``, summary).
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import re
import shlex
import sys
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from keras_ct.errors import ConfigError, KerasCTError
from keras_ct.github.event import dig, pull_request_facts

FRAMEWORKS = ("keras", "tensorflow", "pytorch", "sklearn", "unknown")
FORK_POLICIES = ("skip", "cpu")
DEFAULT_GPU_LABELS = '["self-hosted", "gpu"]'
DEFAULT_CPU_LABELS = '["ubuntu-latest"]'
DEFAULT_MODEL_FILE = "ml_task/model.py"
DEFAULT_MODEL_FUNCTION = "build_model"
DEFAULT_TRAIN_COMMAND = "python ml_task/train.py --dataset digits"

# Top-level module -> framework. ``tensorflow`` becomes ``keras`` when the code uses tf.keras.
_MODULE_FRAMEWORK = {
    "keras": "keras",
    "tf_keras": "keras",
    "tensorflow": "tensorflow",
    "torch": "pytorch",
    "torchvision": "pytorch",
    "lightning": "pytorch",
    "pytorch_lightning": "pytorch",
    "sklearn": "sklearn",
}
# When a file imports several, the first in this order names it (sklearn is often only the data).
_FRAMEWORK_PRIORITY = ("keras", "tensorflow", "pytorch", "sklearn")
_DEEP_FRAMEWORKS = frozenset({"keras", "tensorflow", "pytorch"})
_GPU_FRAMEWORKS = frozenset({"keras", "tensorflow"})

# Convolution layers in Keras (Conv2D...) and PyTorch (Conv2d...), and pretrained CNN families.
_CONV_NAME = re.compile(
    r"^(?:Conv[123]D(?:Transpose)?|Convolution[123]D(?:Transpose)?|SeparableConv[12]D|"
    r"SeparableConvolution[12]D|DepthwiseConv[12]D|ConvLSTM[123]D|(?:Lazy)?Conv(?:Transpose)?[123]d)$"
)
_CNN_MODULES = ("keras.applications", "tensorflow.keras.applications", "torchvision.models")


@dataclass(frozen=True)
class Finding:
    """One fact found in a file, with where it was found (for the summary and annotations)."""

    path: str
    line: int
    text: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.text}" if self.line else f"{self.path}: {self.text}"


@dataclass(frozen=True)
class FileFacts:
    """What static analysis found in one Python file."""

    path: str
    frameworks: tuple[str, ...] = ()
    framework_evidence: tuple[Finding, ...] = ()
    conv: Finding | None = None
    model_style: Finding | None = None
    has_model_function: bool = False
    problem: Finding | None = None


@dataclass(frozen=True)
class CodeFacts:
    """The verdict over the model file and the training script(s)."""

    framework: str
    cnn: bool
    augmentable: bool
    framework_evidence: tuple[Finding, ...] = ()
    cnn_evidence: Finding | None = None
    augmentable_reason: str = ""
    problems: tuple[Finding, ...] = ()


@dataclass(frozen=True)
class EventFacts:
    """Where this run comes from: event, round, pull request, head branch and fork flag."""

    event_name: str
    round: int
    pr_number: int | None
    fork: bool
    head_ref: str
    head_repo: str
    base_repo: str


@dataclass(frozen=True)
class Plan:
    """The plan job's decision."""

    code: CodeFacts
    event: EventFacts
    runner: tuple[str, ...]
    gpu: bool
    skip: bool
    skip_reason: str
    writes: bool
    routing_reason: str
    notes: tuple[str, ...] = field(default=())


# --------------------------------------------------------------------------- static analysis


def _dotted(node: ast.AST) -> str:
    """``a.b.c`` for Name/Attribute chains, else ``""``."""
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return ".".join(reversed(parts))
    return ""


def _last_name(node: ast.AST) -> str:
    if isinstance(node, ast.Attribute):
        return node.attr
    if isinstance(node, ast.Name):
        return node.id
    return ""


def analyse_source(source: str, path: str, model_function: str = "") -> FileFacts:
    """Analyse one file's source. ``model_function`` (when given) is where the model must be found."""
    try:
        tree = ast.parse(source, filename=path)
    except SyntaxError as exc:
        return FileFacts(path=path, problem=Finding(path, exc.lineno or 0, f"syntax error: {exc.msg}"))

    found: dict[str, Finding] = {}
    aliases: dict[str, str] = {}  # local name -> dotted module it stands for
    uses_tf_keras: Finding | None = None
    conv: Finding | None = None

    def note(framework: str, line: int, text: str) -> None:
        found.setdefault(framework, Finding(path, line, text))

    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                top = alias.name.split(".")[0]
                aliases[alias.asname or top] = alias.name if alias.asname else top
                if top in _MODULE_FRAMEWORK:
                    note(_MODULE_FRAMEWORK[top], node.lineno, f"imports {alias.name}")
                if alias.name.startswith("tensorflow.keras"):
                    uses_tf_keras = uses_tf_keras or Finding(path, node.lineno, f"imports {alias.name}")
                if alias.name.startswith(_CNN_MODULES) and conv is None:
                    conv = Finding(path, node.lineno, f"imports {alias.name}")
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            top = node.module.split(".")[0]
            if top in _MODULE_FRAMEWORK:
                note(_MODULE_FRAMEWORK[top], node.lineno, f"imports from {node.module}")
            if node.module.startswith("tensorflow.keras") or (
                node.module == "tensorflow" and any(a.name == "keras" for a in node.names)
            ):
                uses_tf_keras = uses_tf_keras or Finding(path, node.lineno, f"imports from {node.module}")
            for alias in node.names:
                aliases[alias.asname or alias.name] = f"{node.module}.{alias.name}"
                if conv is None and (
                    _CONV_NAME.match(alias.name) or f"{node.module}.{alias.name}".startswith(_CNN_MODULES)
                ):
                    conv = Finding(path, node.lineno, f"imports {alias.name} from {node.module}")

    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute | ast.Name):
            dotted = _dotted(node)
            name = _last_name(node)
            if conv is None and _CONV_NAME.match(name):
                conv = Finding(path, node.lineno, f"uses {dotted or name}")
            if dotted:
                head, _, rest = dotted.partition(".")
                expanded = f"{aliases.get(head, head)}.{rest}" if rest else aliases.get(head, head)
                if uses_tf_keras is None and expanded.startswith("tensorflow.keras"):
                    uses_tf_keras = Finding(path, node.lineno, f"uses {dotted}")
                if conv is None and expanded.startswith(_CNN_MODULES) and expanded.count(".") >= 2:
                    conv = Finding(path, node.lineno, f"uses {dotted}")

    if uses_tf_keras is not None:
        note("keras", uses_tf_keras.line, uses_tf_keras.text)
    frameworks = tuple(f for f in _FRAMEWORK_PRIORITY if f in found)
    function = _find_function(tree, model_function) if model_function else None
    style = _model_style(function, path) if function is not None else None
    return FileFacts(
        path=path,
        frameworks=frameworks,
        framework_evidence=tuple(found[f] for f in frameworks),
        conv=conv,
        model_style=style,
        has_model_function=function is not None,
    )


def _find_function(tree: ast.Module, name: str) -> ast.FunctionDef | ast.AsyncFunctionDef | None:
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name == name:
            return node
    return None


def _model_style(function: ast.FunctionDef | ast.AsyncFunctionDef, path: str) -> Finding | None:
    """The model construction the augmenter can edit, found inside the model function."""
    sequential_call: ast.Call | None = None
    add_call: ast.Call | None = None
    functional: ast.Call | None = None
    layer_chain = False
    for node in ast.walk(function):
        if not isinstance(node, ast.Call):
            continue
        callee = _last_name(node.func)
        if callee == "Sequential":
            layers_arg = (
                node.args[0]
                if node.args
                else next((k.value for k in node.keywords if k.arg == "layers"), None)
            )
            if isinstance(layers_arg, ast.List) and sequential_call is None:
                return Finding(path, node.lineno, f"{_dotted(node.func)}([...]) layer list")
            sequential_call = sequential_call or node
        elif callee == "add" and isinstance(node.func, ast.Attribute) and node.args:
            add_call = add_call or node
        elif callee in ("Model", "Functional") and (
            len(node.args) >= 2 or {"inputs", "outputs"} <= {k.arg for k in node.keywords}
        ):
            functional = functional or node
        elif isinstance(node.func, ast.Call) and node.args:
            layer_chain = True  # layers.Dense(10)(x): a layer called on a tensor
    if sequential_call is not None and add_call is not None:
        return Finding(path, add_call.lineno, f"{_dotted(sequential_call.func)}() with .add(...) calls")
    if functional is not None and layer_chain:
        return Finding(path, functional.lineno, f"functional {_dotted(functional.func)}(inputs, outputs)")
    return None


def train_scripts(train_command: str) -> tuple[str, ...]:
    """The Python files a train command runs: ``x.py`` arguments and ``-m package.module``."""
    try:
        words = shlex.split(train_command)
    except ValueError:
        return ()
    scripts: list[str] = []
    for i, word in enumerate(words):
        if word.endswith(".py"):
            scripts.append(word)
        elif word == "-m" and i + 1 < len(words):
            module = words[i + 1].replace(".", "/")
            scripts.extend((f"{module}.py", f"{module}/__main__.py"))
    return tuple(dict.fromkeys(scripts))


def _pick_framework(
    model: Sequence[FileFacts], scripts: Sequence[FileFacts]
) -> tuple[str, tuple[Finding, ...]]:
    """A deep-learning framework in the model file wins, then one in the scripts, then sklearn."""
    candidates = [fw for fw in _FRAMEWORK_PRIORITY if fw in _DEEP_FRAMEWORKS]
    for group, names in ((model, candidates), (scripts, candidates), ((*model, *scripts), ["sklearn"])):
        for name in names:
            for facts in group:
                if name in facts.frameworks:
                    return name, (facts.framework_evidence[facts.frameworks.index(name)],)
    return "unknown", ()


def combine(model: FileFacts | None, scripts: Sequence[FileFacts], model_function: str) -> CodeFacts:
    """Merge the model file's and the scripts' facts into the verdict (pure)."""
    problems = tuple(f.problem for f in (model, *scripts) if f is not None and f.problem is not None)

    framework, framework_evidence = _pick_framework([model] if model is not None else [], scripts)

    conv = next((f.conv for f in (model, *scripts) if f is not None and f.conv is not None), None)
    cnn = conv is not None and framework in _DEEP_FRAMEWORKS

    if model is None:
        augmentable, reason = False, "the model file was not found"
    elif model.problem is not None:
        augmentable, reason = False, f"the model file has a {model.problem.text} (line {model.problem.line})"
    elif framework not in _GPU_FRAMEWORKS:
        augmentable, reason = False, f"keras-ct augments Keras models; this code uses {framework}"
    elif not model.has_model_function:
        augmentable, reason = False, f"no function {model_function}() in {model.path}"
    elif model.model_style is None:
        augmentable, reason = (
            False,
            (
                f"no keras.Sequential([...]) list, Sequential().add(...) chain or functional "
                f"keras.Model(inputs, outputs) found in {model_function}()"
            ),
        )
    else:
        augmentable, reason = True, str(model.model_style)
    return CodeFacts(
        framework=framework,
        cnn=cnn,
        augmentable=augmentable,
        framework_evidence=framework_evidence,
        cnn_evidence=conv if cnn else None,
        augmentable_reason=reason,
        problems=problems,
    )


def analyse_code(
    model_file: str, train_command: str, working_directory: Path, model_function: str = DEFAULT_MODEL_FUNCTION
) -> CodeFacts:
    """Read the model file and the train command's scripts under ``working_directory`` and judge them."""
    model_path = working_directory / model_file
    missing: list[Finding] = []
    model: FileFacts | None = None
    if model_path.is_file():
        model = analyse_source(_read(model_path), model_file, model_function)
    else:
        missing.append(Finding(model_file, 0, "model file not found (check the model-file input)"))
    scripts = []
    for script in train_scripts(train_command):
        path = working_directory / script
        if path.is_file() and path.resolve() != model_path.resolve():
            scripts.append(analyse_source(_read(path), script))
    facts = combine(model, scripts, model_function)
    if missing:
        return CodeFacts(**{**facts.__dict__, "problems": (*missing, *facts.problems)})
    return facts


def _read(path: Path) -> str:
    return path.read_text(encoding="utf-8", errors="replace")


# --------------------------------------------------------------------------- events and routing


def _positive_int(value: Any, name: str, source: str) -> int:
    text = str(value).strip()
    if not re.fullmatch(r"[0-9]+", text) or int(text) < 1:
        raise ConfigError(f'{name} must be a whole number of 1 or more, got "{value}" (from {source})')
    return int(text)


def resolve_event(
    event_name: str,
    payload: Mapping[str, Any],
    *,
    repository: str = "",
    ref_name: str = "",
    round_input: str = "",
    pr_input: str = "",
) -> EventFacts:
    """Round, PR number, head branch and fork flag for a ``pull_request``/``workflow_dispatch``/other run.

    An explicit input wins over the event payload. In a ``workflow_dispatch`` run the payload's
    ``inputs`` (``round``, ``pr-number``) are used when the caller did not pass them on.
    """
    base_repo = dig(payload, "repository", "full_name") or repository
    round_value: Any = round_input.strip()
    round_source = "the round input"
    pr_value: Any = pr_input.strip()
    pr_source = "the pr-number input"
    fork = False
    head_ref = ref_name
    head_repo = repository or base_repo

    pull = pull_request_facts(event_name, payload, repository)
    if pull is not None:
        if not pr_value:
            pr_value, pr_source = pull.number, "the pull_request event"
        head_ref = pull.head_ref or head_ref
        head_repo, base_repo, fork = pull.head_repo, pull.base_repo, pull.fork
    elif event_name == "workflow_dispatch":
        inputs = dig(payload, "inputs") or {}
        if not round_value and inputs.get("round") not in (None, ""):
            round_value, round_source = inputs["round"], "the workflow_dispatch input round"
        if not pr_value and inputs.get("pr-number") not in (None, ""):
            pr_value, pr_source = inputs["pr-number"], "the workflow_dispatch input pr-number"
        if not head_ref:
            ref = str(payload.get("ref", ""))
            head_ref = ref.removeprefix("refs/heads/")

    round_number = _positive_int(round_value, "round", round_source) if round_value not in ("", None) else 1
    pr_number = _positive_int(pr_value, "pr-number", pr_source) if pr_value not in ("", None) else None
    return EventFacts(
        event_name=event_name,
        round=round_number,
        pr_number=pr_number,
        fork=fork,
        head_ref=str(head_ref),
        head_repo=str(head_repo),
        base_repo=str(base_repo),
    )


def parse_labels(text: str, name: str) -> tuple[str, ...]:
    """A ``runs-on`` label list given as JSON (an array of strings, or one string)."""
    example = DEFAULT_GPU_LABELS if name.startswith("gpu") else DEFAULT_CPU_LABELS
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        raise ConfigError(
            f'{name} must be a JSON array of runner labels such as {example}, got "{text}"'
        ) from None
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value or not all(isinstance(v, str) and v.strip() for v in value):
        raise ConfigError(
            f'{name} must be a non-empty JSON array of label strings such as {example}, got "{text}"'
        )
    return tuple(v.strip() for v in value)


def make_plan(
    code: CodeFacts,
    event: EventFacts,
    *,
    gpu_labels: Sequence[str],
    cpu_labels: Sequence[str],
    fork_policy: str,
) -> Plan:
    """Route the training job. A fork PR never gets GPU or self-hosted labels."""
    if fork_policy not in FORK_POLICIES:
        raise ConfigError(f'fork-policy must be one of {", ".join(FORK_POLICIES)}, got "{fork_policy}"')
    cpu, gpu = tuple(cpu_labels), tuple(gpu_labels)
    wants_gpu = code.framework in _GPU_FRAMEWORKS and code.cnn
    if wants_gpu:
        why = f"a {code.framework} CNN trains on the GPU labels"
    elif code.framework == "unknown":
        why = "no known framework: trains on the CPU labels"
    else:
        why = f"a {code.framework} model that is not a Keras CNN trains on the CPU labels"
    if not event.fork:
        return Plan(
            code=code,
            event=event,
            runner=gpu if wants_gpu else cpu,
            gpu=wants_gpu,
            skip=False,
            skip_reason="",
            writes=True,
            routing_reason=why,
        )

    pr = f"#{event.pr_number}" if event.pr_number else "this pull request"
    origin = f"pull request {pr} comes from a fork ({event.head_repo or 'a deleted repository'})"
    if fork_policy == "skip":
        reason = (
            f"Training skipped: {origin}. Code from forks never runs on this repository's runners "
            "(self-hosted GPU runners would execute it) and a fork's token cannot comment, push or "
            "dispatch. To train fork pull requests on the CPU labels without writing anything, set "
            "fork-policy: cpu; or push the branch to this repository."
        )
        return Plan(code, event, cpu, False, True, reason, False, "fork-policy skip")
    if any(label.lower() == "self-hosted" for label in cpu):
        reason = (
            f"Training skipped: {origin} and fork-policy is cpu, but cpu-runner-labels "
            f"{json.dumps(list(cpu))} include self-hosted. Fork code never runs on self-hosted runners: "
            'give cpu-runner-labels GitHub-hosted labels such as ["ubuntu-latest"].'
        )
        return Plan(code, event, cpu, False, True, reason, False, "fork-policy cpu, self-hosted CPU labels")
    note = (
        f"{origin}: training on the CPU labels (fork-policy cpu); results go to the job summary only, "
        "nothing is commented, pushed or dispatched."
    )
    return Plan(code, event, cpu, False, False, "", False, "fork-policy cpu", notes=(note,))


def plan_outputs(plan: Plan) -> dict[str, str]:
    """The plan job's outputs, as strings for ``$GITHUB_OUTPUT``."""

    def flag(value: bool) -> str:
        return "true" if value else "false"

    return {
        "framework": plan.code.framework,
        "cnn": flag(plan.code.cnn),
        "augmentable": flag(plan.code.augmentable),
        "runner": json.dumps(list(plan.runner), separators=(",", ":")),
        "gpu": flag(plan.gpu),
        "round": str(plan.event.round),
        "pr-number": str(plan.event.pr_number or ""),
        "fork": flag(plan.event.fork),
        "writes": flag(plan.writes),
        "skip": flag(plan.skip),
        "skip-reason": plan.skip_reason,
        "head-ref": plan.event.head_ref,
        "head-repo": plan.event.head_repo,
    }


def render_summary(plan: Plan) -> str:
    """The Markdown the plan job writes to the step summary."""
    code, event = plan.code, plan.event

    def yes(value: bool) -> str:
        return "yes" if value else "no"

    def cell(text: str) -> str:
        return text.replace("|", "\\|").replace("\n", " ")

    framework_why = "; ".join(str(e) for e in code.framework_evidence)
    rows = [
        ("Framework", f"{code.framework}" + (f" ({framework_why})" if framework_why else "")),
        ("CNN", yes(code.cnn) + (f" ({code.cnn_evidence})" if code.cnn_evidence else "")),
        ("Augmentable", f"{yes(code.augmentable)} ({code.augmentable_reason})"),
        ("Training runner", f"`{json.dumps(list(plan.runner))}`" + (" (skipped)" if plan.skip else "")),
        ("Why", plan.routing_reason),
        ("Event", event.event_name or "(none)"),
        ("Round", str(event.round)),
        ("Pull request", f"#{event.pr_number}" if event.pr_number else "(none)"),
        ("Head", f"{event.head_repo}@{event.head_ref}" if event.head_ref else event.head_repo or "(unknown)"),
        ("Writes (comment, push, dispatch)", "allowed" if plan.writes else "none"),
    ]
    lines = ["## keras-ct plan", "", "| | |", "|---|---|"]
    lines += [f"| {name} | {cell(value)} |" for name, value in rows]
    if plan.skip:
        lines += ["", "> [!WARNING]", f"> {plan.skip_reason}"]
    for note in plan.notes:
        lines += ["", "> [!NOTE]", f"> {note}"]
    for problem in code.problems:
        lines += ["", f"- Problem: `{cell(str(problem))}` (the training job reports it)"]
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- edges


def read_event(event_path: str) -> dict[str, Any]:
    """The event payload at ``event_path`` (``{}`` when there is none)."""
    if not event_path:
        return {}
    path = Path(event_path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"event payload {event_path} does not exist (GITHUB_EVENT_PATH)") from None
    except json.JSONDecodeError as exc:
        raise ConfigError(
            f"event payload {event_path} is not valid JSON: {exc.msg}", file=event_path, line=exc.lineno
        ) from None
    if not isinstance(data, dict):
        raise ConfigError(f"event payload {event_path} must be a JSON object")
    return data


def _escape(text: str, *, prop: bool = False) -> str:
    text = text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    return text.replace(":", "%3A").replace(",", "%2C") if prop else text


def annotation(kind: str, message: str, *, file: str | None = None, line: int | None = None) -> str:
    """A workflow command line (``::warning file=x,line=3::message``)."""
    props = []
    if file:
        props.append(f"file={_escape(file, prop=True)}")
    if line:
        props.append(f"line={line}")
    return f"::{kind} {','.join(props)}::{_escape(message)}" if props else f"::{kind}::{_escape(message)}"


def write_outputs(path: str, outputs: Mapping[str, str]) -> None:
    """Append ``outputs`` to ``$GITHUB_OUTPUT`` with the multi-line-safe delimiter form."""
    with open(path, "a", encoding="utf-8") as stream:
        for name, value in outputs.items():
            delimiter = f"ghadelimiter_{uuid.uuid4()}"
            stream.write(f"{name}<<{delimiter}\n{value}\n{delimiter}\n")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``detect`` flags (shared by ``keras-ct detect`` and ``python -m keras_ct.detect``)."""
    parser.add_argument("--model-file", default=DEFAULT_MODEL_FILE, help="model file (default %(default)s)")
    parser.add_argument("--model-function", default=DEFAULT_MODEL_FUNCTION, help="default %(default)s")
    parser.add_argument("--train-command", default=DEFAULT_TRAIN_COMMAND, help="default %(default)r")
    parser.add_argument("--working-directory", default=".", help="where the paths start (default .)")
    parser.add_argument("--gpu-runner-labels", default=DEFAULT_GPU_LABELS, help="JSON array, %(default)s")
    parser.add_argument("--cpu-runner-labels", default=DEFAULT_CPU_LABELS, help="JSON array, %(default)s")
    parser.add_argument("--fork-policy", default="skip", help="skip | cpu (default skip)")
    parser.add_argument("--round", default="", help="round number; default: from the event, else 1")
    parser.add_argument("--pr-number", default="", help="PR number; default: from the event")
    parser.add_argument("--event-name", default=None, help="default: $GITHUB_EVENT_NAME")
    parser.add_argument("--event-path", default=None, help="event payload JSON; default: $GITHUB_EVENT_PATH")
    parser.add_argument("--json", action="store_true", help="print the plan's outputs as JSON")


def add_parser(subparsers: Any) -> None:
    """Register ``keras-ct detect`` on an argparse subparsers object."""
    parser = subparsers.add_parser(
        "detect",
        help="read the model and training code and plan the training job (runner labels, round, PR)",
        description=__doc__.split("\n\n")[0] if __doc__ else None,
    )
    add_arguments(parser)
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace, environ: Mapping[str, str] | None = None, out: Any = None) -> int:
    """Run ``detect``: analyse, plan, write outputs and the summary. Raises ``KerasCTError``."""
    env = os.environ if environ is None else environ
    out = out or sys.stdout
    event_name = args.event_name if args.event_name is not None else env.get("GITHUB_EVENT_NAME", "")
    event_path = args.event_path if args.event_path is not None else env.get("GITHUB_EVENT_PATH", "")
    gpu = parse_labels(args.gpu_runner_labels, "gpu-runner-labels")
    cpu = parse_labels(args.cpu_runner_labels, "cpu-runner-labels")
    event = resolve_event(
        event_name,
        read_event(event_path),
        repository=env.get("GITHUB_REPOSITORY", ""),
        ref_name=env.get("GITHUB_REF_NAME", ""),
        round_input=args.round,
        pr_input=args.pr_number,
    )
    workdir = Path(args.working_directory)
    code = analyse_code(args.model_file, args.train_command, workdir, args.model_function)
    plan = make_plan(code, event, gpu_labels=gpu, cpu_labels=cpu, fork_policy=args.fork_policy.strip())
    outputs = plan_outputs(plan)
    summary = render_summary(plan)
    under_actions = env.get("GITHUB_ACTIONS") == "true"

    for problem in code.problems:
        message = f"{problem.text}; the training job will report it"
        if under_actions:
            print(annotation("warning", message, file=problem.path, line=problem.line or None), file=out)
        else:
            print(f"warning: {problem}", file=out)
    if plan.skip and under_actions:
        print(annotation("notice", plan.skip_reason), file=out)
    if env.get("GITHUB_OUTPUT"):
        write_outputs(env["GITHUB_OUTPUT"], outputs)
    if env.get("GITHUB_STEP_SUMMARY"):
        with open(env["GITHUB_STEP_SUMMARY"], "a", encoding="utf-8") as stream:
            stream.write(summary)
    print(json.dumps(outputs, indent=2) if args.json else summary, file=out)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m keras_ct.detect``: the entry the ``detect`` action uses (no install needed)."""
    parser = argparse.ArgumentParser(prog="keras-ct detect", description=__doc__.split("\n\n")[0])
    add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        return handle(args)
    except KerasCTError as exc:
        if os.environ.get("GITHUB_ACTIONS") == "true":
            print(annotation("error", exc.message, file=exc.file, line=exc.line), file=sys.stdout)
        else:
            print(f"keras-ct detect: error: {exc.message}", file=sys.stderr)
        return exc.exit_code


if __name__ == "__main__":
    raise SystemExit(main())
