"""Static analysis of the model and training code: framework, CNN or not, augmentable or not.

:mod:`ast` only: nothing is imported or executed, so a fork's code is safe to read. Pure but for
:func:`analyse_code`, which reads the files.
"""

from __future__ import annotations

import ast
import re
import shlex
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from keras_ct.config import DEFAULT_MODEL_FUNCTION

FRAMEWORKS = ("keras", "tensorflow", "pytorch", "sklearn", "unknown")
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
GPU_FRAMEWORKS = frozenset({"keras", "tensorflow"})

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


@dataclass
class _Scan:
    """What the walk over one file's tree has found so far (the first finding of each kind wins)."""

    path: str
    found: dict[str, Finding] = field(default_factory=dict)  # framework -> where it is imported
    aliases: dict[str, str] = field(default_factory=dict)  # local name -> dotted module it stands for
    tf_keras: Finding | None = None
    conv: Finding | None = None

    def framework(self, name: str, line: int, text: str) -> None:
        self.found.setdefault(name, Finding(self.path, line, text))

    def uses_tf_keras(self, line: int, text: str) -> None:
        self.tf_keras = self.tf_keras or Finding(self.path, line, text)

    def convolution(self, line: int, text: str) -> None:
        self.conv = self.conv or Finding(self.path, line, text)


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


def _scan_import(scan: _Scan, node: ast.Import) -> None:
    for alias in node.names:
        top = alias.name.split(".")[0]
        scan.aliases[alias.asname or top] = alias.name if alias.asname else top
        if top in _MODULE_FRAMEWORK:
            scan.framework(_MODULE_FRAMEWORK[top], node.lineno, f"imports {alias.name}")
        if alias.name.startswith("tensorflow.keras"):
            scan.uses_tf_keras(node.lineno, f"imports {alias.name}")
        if alias.name.startswith(_CNN_MODULES):
            scan.convolution(node.lineno, f"imports {alias.name}")


def _scan_import_from(scan: _Scan, node: ast.ImportFrom, module: str) -> None:
    top = module.split(".")[0]
    if top in _MODULE_FRAMEWORK:
        scan.framework(_MODULE_FRAMEWORK[top], node.lineno, f"imports from {module}")
    if module.startswith("tensorflow.keras") or (
        module == "tensorflow" and any(a.name == "keras" for a in node.names)
    ):
        scan.uses_tf_keras(node.lineno, f"imports from {module}")
    for alias in node.names:
        scan.aliases[alias.asname or alias.name] = f"{module}.{alias.name}"
        if _CONV_NAME.match(alias.name) or f"{module}.{alias.name}".startswith(_CNN_MODULES):
            scan.convolution(node.lineno, f"imports {alias.name} from {module}")


def _scan_name(scan: _Scan, node: ast.Attribute | ast.Name) -> None:
    dotted = _dotted(node)
    name = _last_name(node)
    if _CONV_NAME.match(name):
        scan.convolution(node.lineno, f"uses {dotted or name}")
    if dotted:
        head, _, rest = dotted.partition(".")
        expanded = f"{scan.aliases.get(head, head)}.{rest}" if rest else scan.aliases.get(head, head)
        if expanded.startswith("tensorflow.keras"):
            scan.uses_tf_keras(node.lineno, f"uses {dotted}")
        if expanded.startswith(_CNN_MODULES) and expanded.count(".") >= 2:
            scan.convolution(node.lineno, f"uses {dotted}")


def analyse_source(source: str, path: str, model_function: str = "") -> FileFacts:
    """Analyse one file's source. ``model_function`` (when given) is where the model must be found."""
    try:
        tree = ast.parse(source, filename=path)
    except SyntaxError as exc:
        return FileFacts(path=path, problem=Finding(path, exc.lineno or 0, f"syntax error: {exc.msg}"))
    scan = _Scan(path)
    for node in ast.walk(tree):  # the imports first: they say what the names stand for
        if isinstance(node, ast.Import):
            _scan_import(scan, node)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            _scan_import_from(scan, node, node.module)
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute | ast.Name):
            _scan_name(scan, node)
    if scan.tf_keras is not None:
        scan.framework("keras", scan.tf_keras.line, scan.tf_keras.text)
    frameworks = tuple(f for f in _FRAMEWORK_PRIORITY if f in scan.found)
    function = _find_function(tree, model_function) if model_function else None
    return FileFacts(
        path=path,
        frameworks=frameworks,
        framework_evidence=tuple(scan.found[f] for f in frameworks),
        conv=scan.conv,
        model_style=_model_style(function, path) if function is not None else None,
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
    elif framework not in GPU_FRAMEWORKS:
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
        return replace(facts, problems=(*missing, *facts.problems))
    return facts


def _read(path: Path) -> str:
    return path.read_text(encoding="utf-8", errors="replace")
