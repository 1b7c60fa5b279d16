"""The model file as the augmenter reads it: parsed once, with positions, parents and import bindings.

``Doc`` checks the syntax (``keras_ct.python_source.parse_python``, the check ``model-file`` gets before
training too), parses the file with libcst and resolves how it spells Keras (``layers.X``,
``keras.layers.X``, ``tf.keras.layers.X``, bare names, aliased modules): ``resolve`` gives the canonical
path of a name, ``spelling`` how to write another layer the same way. ``call_arg``, ``evaluate`` and
``single_assign`` read call arguments, literal values and ``name = value`` statements.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from typing import Any, cast

import libcst as cst
from libcst.metadata import MetadataWrapper, ParentNodeProvider, PositionProvider

from keras_ct.errors import AugmentError
from keras_ct.python_source import parse_python


@dataclass
class Spelling:
    """How the file writes a layer class: ``prefix.Cls`` (prefix is a node) or a bare imported name."""

    prefix: cst.BaseExpression | None
    import_module: str = ""  # for bare names: the module text of the ``from X import Cls`` statement
    import_stmt: cst.CSTNode | None = None


class Doc:
    """The parsed file with metadata and the name bindings of its imports."""

    def __init__(self, source: str, path: str) -> None:
        self.path = path
        parse_python(source, path, advice="fix it before augmenting", error=AugmentError)
        try:
            module = cst.parse_module(source)
        except cst.ParserSyntaxError as exc:
            raise AugmentError(
                f"{path}:{exc.raw_line}: cannot parse the model file: {exc.message}; "
                "fix the syntax error first",
                file=path,
                line=exc.raw_line,
            ) from None
        self.wrapper = MetadataWrapper(
            module, unsafe_skip_copy=True
        )  # fresh from the parser: no shared nodes
        self.module = self.wrapper.module
        self.positions = self.wrapper.resolve(PositionProvider)
        self.parents = self.wrapper.resolve(ParentNodeProvider)
        self._walks: dict[int, list[cst.CSTNode]] = {}
        self.bindings: dict[str, str] = {}  # local name -> dotted module/object path as imported
        self.bare_imports: dict[str, tuple[str, cst.CSTNode]] = {}  # local name -> (module text, statement)
        self.star_modules: list[tuple[str, cst.CSTNode]] = []
        self.constants: dict[str, cst.BaseExpression] = {}
        self._collect()
        self.quote = _quote_style(self.walk(self.module))

    def walk(self, node: cst.CSTNode) -> list[cst.CSTNode]:
        """``walk_nodes`` with a cache: the model function is searched several times."""
        key = id(node)
        if key not in self._walks:
            self._walks[key] = walk_nodes(node)
        return self._walks[key]

    def line(self, node: cst.CSTNode) -> int:
        return self.positions[node].start.line

    def code(self, node: cst.CSTNode) -> str:
        return self.module.code_for_node(node)

    def where(self, node: cst.CSTNode) -> str:
        return f"{self.path}:{self.line(node)}"

    def error(self, message: str, node: cst.CSTNode | None = None) -> AugmentError:
        if node is None:
            return AugmentError(f"{self.path}: {message}", file=self.path)
        line = self.line(node)
        return AugmentError(f"{self.path}:{line}: {message}", file=self.path, line=line)

    def _collect(self) -> None:
        for node in self.walk(self.module):
            if isinstance(node, cst.Import):
                for alias in node.names:
                    dotted = dotted_name(alias.name)
                    if alias.asname is not None:
                        self.bindings[dotted_name(cast(cst.Name, alias.asname.name))] = dotted
                    else:
                        head = dotted.split(".")[0]
                        self.bindings[head] = head
            elif isinstance(node, cst.ImportFrom) and node.module is not None and not node.relative:
                module = dotted_name(node.module)
                stmt = self.parents[node]
                if isinstance(node.names, cst.ImportStar):
                    self.star_modules.append((module, stmt))
                    continue
                for alias in node.names:
                    name = dotted_name(alias.name)
                    local = dotted_name(cast(cst.Name, alias.asname.name)) if alias.asname else name
                    self.bindings[local] = f"{module}.{name}"
                    self.bare_imports[local] = (module, stmt)
        for stmt in self.module.body:
            found = single_assign(stmt)
            if found is not None:
                self.constants[found[0]] = found[1]

    def resolve(self, expr: cst.BaseExpression) -> str | None:
        """The canonical Keras path of a name (``keras.layers.Conv2D``, ``keras.Sequential``) or None."""
        try:
            parts = dotted_name(expr).split(".")
        except ValueError:
            return None
        head = parts[0]
        if head in self.bindings:
            full = ".".join([self.bindings[head], *parts[1:]])
        elif len(parts) == 1 and any(canonical_name(m) == "keras.layers" for m, _ in self.star_modules):
            full = f"keras.layers.{head}"
        elif len(parts) == 1 and any(
            canonical_name(m) in ("keras", "keras.models") for m, _ in self.star_modules
        ):
            full = f"keras.{head}"
        else:
            return None
        return canonical_name(full)

    def layer_class(self, expr: cst.BaseExpression) -> str | None:
        canonical = self.resolve(expr)
        if canonical is None:
            return None
        parts = canonical.split(".")
        if len(parts) == 3 and parts[:2] == ["keras", "layers"]:
            return parts[2]
        if canonical == "keras.Input":
            return "Input"
        return None

    def spelling(self, func: cst.BaseExpression) -> Spelling:
        if isinstance(func, cst.Attribute):
            return Spelling(prefix=func.value)
        name = cast(cst.Name, func).value
        if name in self.bare_imports:
            module, stmt = self.bare_imports[name]
            return Spelling(prefix=None, import_module=module, import_stmt=stmt)
        for module, stmt in self.star_modules:
            if canonical_name(module) == "keras.layers":
                return Spelling(prefix=None, import_module=module, import_stmt=stmt)
        return Spelling(prefix=None)


def excerpt(code: str, limit: int = 60) -> str:
    flat = " ".join(code.split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def canonical_name(dotted: str) -> str:
    """One spelling per Keras object: tensorflow.keras/tf_keras -> keras, keras.models.X -> keras.X."""
    for prefix in ("tensorflow.python.keras", "tensorflow.keras", "tf_keras"):
        if dotted == prefix or dotted.startswith(prefix + "."):
            dotted = "keras" + dotted[len(prefix) :]
            break
    if dotted in ("keras.models.Sequential", "keras.models.Model"):
        return "keras." + dotted.split(".")[-1]
    if dotted == "keras.layers.Input":
        return "keras.Input"
    return dotted


def dotted_name(expr: cst.BaseExpression | cst.CSTNode) -> str:
    if isinstance(expr, cst.Name):
        return expr.value
    if isinstance(expr, cst.Attribute):
        return f"{dotted_name(expr.value)}.{expr.attr.value}"
    raise ValueError("not a dotted name")


class _Collector(cst.CSTVisitor):
    def __init__(self) -> None:
        super().__init__()
        self.nodes: list[cst.CSTNode] = []

    def on_visit(self, node: cst.CSTNode) -> bool:
        self.nodes.append(node)
        return True


def walk_nodes(node: cst.CSTNode) -> list[cst.CSTNode]:
    """Every node under ``node`` (itself included), in source order."""
    collector = _Collector()
    node.visit(collector)
    return collector.nodes


def _quote_style(nodes: list[cst.CSTNode]) -> str:
    single = double = 0
    for node in nodes:
        if isinstance(node, cst.SimpleString) and not node.value.startswith(("'''", '"""')):
            quote = node.value.lstrip("rbuRBU")[:1]
            single += quote == "'"
            double += quote == '"'
    return "'" if single > double else '"'


def call_arg(call: cst.Call, position: int, keyword: str) -> cst.Arg | None:
    positional = [a for a in call.args if a.keyword is None and not a.star]
    for a in call.args:
        if a.keyword is not None and a.keyword.value == keyword:
            return a
    return positional[position] if position < len(positional) else None


def single_assign(stmt: cst.CSTNode) -> tuple[str, cst.BaseExpression] | None:
    if isinstance(stmt, cst.SimpleStatementLine) and len(stmt.body) == 1:
        node = stmt.body[0]
        if (
            isinstance(node, cst.Assign)
            and len(node.targets) == 1
            and isinstance(node.targets[0].target, cst.Name)
        ):
            return node.targets[0].target.value, node.value
    return None


def evaluate(doc: Doc, func: cst.FunctionDef, node: cst.BaseExpression) -> Any:
    """A literal value of ``node`` (following function defaults and module constants), or None."""
    if isinstance(node, cst.Name):
        for param in func.params.params:
            if param.name.value == node.value and param.default is not None:
                return evaluate(doc, func, param.default)
        if node.value in doc.constants:
            return evaluate(doc, func, doc.constants[node.value])
        return None
    if isinstance(node, (cst.Tuple, cst.List)):
        items = [evaluate(doc, func, e.value) for e in node.elements]
        return tuple(items)
    try:
        return ast.literal_eval(doc.code(node).strip())
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return None
