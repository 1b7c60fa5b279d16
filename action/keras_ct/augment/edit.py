"""Structural edits of Keras model code with libcst: add a conv block, a hidden Dense, a Dropout.

``plan_edit`` is pure: source text in, an ``Edit`` (the new source and what changed) out. It reads the
model function's layer sequence in one of three styles (a ``keras.Sequential([...])`` literal list,
``model.add(...)`` statements, or a functional chain ``x = layers.X(...)(x)`` feeding ``keras.Model``),
resolves how the file spells Keras (``layers.X``, ``keras.layers.X``, ``tf.keras.layers.X``, bare names,
aliased modules) and inserts new layers written the same way. Existing lines are never rewritten,
except a trailing comma added to the neighbouring element (and the units of a widened Dense, which is
the change itself). Anything it cannot edit safely raises ``AugmentError`` naming what it looked for
and where (file:line); it never guesses.
"""

from __future__ import annotations

import ast
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import libcst as cst
from libcst.metadata import MetadataWrapper, ParentNodeProvider, PositionProvider

from keras_ct.errors import AugmentError

MODEL_CHANGES = ("conv-block", "dense", "dropout")

_CONV = {
    "Conv1D": 1,
    "Conv2D": 2,
    "Conv3D": 3,
    "Convolution1D": 1,
    "Convolution2D": 2,
    "Convolution3D": 3,
    "SeparableConv1D": 1,
    "SeparableConv2D": 2,
}
_POOL = {
    "MaxPooling1D": 1,
    "MaxPooling2D": 2,
    "MaxPooling3D": 3,
    "MaxPool1D": 1,
    "MaxPool2D": 2,
    "MaxPool3D": 3,
    "AveragePooling1D": 1,
    "AveragePooling2D": 2,
    "AveragePooling3D": 3,
    "AvgPool1D": 1,
    "AvgPool2D": 2,
    "AvgPool3D": 3,
}
_GLOBAL_POOL = {
    f"Global{kind}{suffix}{dim}D"
    for kind in ("Average", "Max", "Avg")
    for suffix in ("Pooling", "Pool")
    for dim in (1, 2, 3)
}
_DROPOUT = {
    "Dropout",
    "SpatialDropout1D",
    "SpatialDropout2D",
    "SpatialDropout3D",
    "AlphaDropout",
    "GaussianDropout",
}
# Layers that keep the spatial shape and may sit inside a conv block or between a hidden Dense and the output.
_NEUTRAL = _DROPOUT | {
    "BatchNormalization",
    "LayerNormalization",
    "GroupNormalization",
    "Activation",
    "ReLU",
    "LeakyReLU",
    "ELU",
    "PReLU",
    "Softmax",
    "GaussianNoise",
    "Rescaling",
    "Normalization",
    "RandomFlip",
    "RandomRotation",
    "RandomZoom",
    "RandomTranslation",
    "RandomContrast",
    "RandomBrightness",
    "RandomCrop",
}
_BLOCK_TAIL = _NEUTRAL | set(_POOL)
_INPUT = {"Input", "InputLayer"}
# Keyword arguments that must not be copied into a cloned layer (unique names, input declarations).
_NOT_CLONED = {"name", "input_shape", "batch_input_shape", "input_dim", "batch_size", "input_length"}
MaybeDefault = cst.MaybeSentinel.DEFAULT


@dataclass(frozen=True)
class Edit:
    """A planned change of one file: the new source and words for reports.

    ``description`` is a noun phrase ("a Conv2D(64) + MaxPooling2D block"), ``action`` the gerund phrase
    used in rationales ("adding a Conv2D(64) + MaxPooling2D block"); ``line`` is the line of the layer
    the change is anchored to; ``style`` is how the model is written (sequential, add, functional).
    """

    change: str
    path: str
    new_source: str
    description: str
    action: str
    layer_kind: str
    line: int
    style: str = ""


# --------------------------------------------------------------------------------------------------
# Reading the file: imports, spellings, the model's layer sequence


@dataclass
class _Spelling:
    """How the file writes a layer class: ``prefix.Cls`` (prefix is a node) or a bare imported name."""

    prefix: cst.BaseExpression | None
    import_module: str = ""  # for bare names: the module text of the ``from X import Cls`` statement
    import_stmt: cst.CSTNode | None = None


@dataclass
class _Slot:
    kind: str  # layer class name, "Input", or "?" for something that is not a recognisable layer call
    call: cst.Call | None
    line: int
    style: str  # "list" | "add" | "functional"
    container: cst.CSTNode  # the List (list style) or the statement (add / functional)
    index: int = 0  # element index in the list
    var: str = ""  # model variable (add) or assigned variable (functional)
    spelling: _Spelling | None = None


@dataclass
class _Model:
    style: str
    slots: list[_Slot]
    line: int
    input_shape: tuple[int | None, ...] | None = None


class _Doc:
    """The parsed file with metadata and the name bindings of its imports."""

    def __init__(self, source: str, path: str) -> None:
        self.path = path
        try:
            compile(source, path, "exec", ast.PyCF_ONLY_AST, dont_inherit=True)
        except SyntaxError as exc:
            raise AugmentError(
                f"{path}:{exc.lineno}: syntax error: {exc.msg}; fix it before augmenting",
                file=path,
                line=exc.lineno,
            ) from None
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
        """``_walk`` with a cache: the model function is searched several times."""
        key = id(node)
        if key not in self._walks:
            self._walks[key] = _walk(node)
        return self._walks[key]

    def line(self, node: cst.CSTNode) -> int:
        return cast(int, self.positions[node].start.line)

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
                    dotted = _dotted(alias.name)
                    if alias.asname is not None:
                        self.bindings[_dotted(cast(cst.Name, alias.asname.name))] = dotted
                    else:
                        head = dotted.split(".")[0]
                        self.bindings[head] = head
            elif isinstance(node, cst.ImportFrom) and node.module is not None and not node.relative:
                module = _dotted(node.module)
                stmt = self.parents[node]
                if isinstance(node.names, cst.ImportStar):
                    self.star_modules.append((module, stmt))
                    continue
                for alias in node.names:
                    name = _dotted(alias.name)
                    local = _dotted(cast(cst.Name, alias.asname.name)) if alias.asname else name
                    self.bindings[local] = f"{module}.{name}"
                    self.bare_imports[local] = (module, stmt)
        for stmt in self.module.body:
            found = _single_assign(stmt)
            if found is not None:
                self.constants[found[0]] = found[1]

    def resolve(self, expr: cst.BaseExpression) -> str | None:
        """The canonical Keras path of a name (``keras.layers.Conv2D``, ``keras.Sequential``) or None."""
        try:
            parts = _dotted(expr).split(".")
        except ValueError:
            return None
        head = parts[0]
        if head in self.bindings:
            full = ".".join([self.bindings[head], *parts[1:]])
        elif len(parts) == 1 and any(_canonical(m) == "keras.layers" for m, _ in self.star_modules):
            full = f"keras.layers.{head}"
        elif len(parts) == 1 and any(
            _canonical(m) in ("keras", "keras.models") for m, _ in self.star_modules
        ):
            full = f"keras.{head}"
        else:
            return None
        return _canonical(full)

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

    def spelling(self, func: cst.BaseExpression) -> _Spelling:
        if isinstance(func, cst.Attribute):
            return _Spelling(prefix=func.value)
        name = cast(cst.Name, func).value
        if name in self.bare_imports:
            module, stmt = self.bare_imports[name]
            return _Spelling(prefix=None, import_module=module, import_stmt=stmt)
        for module, stmt in self.star_modules:
            if _canonical(module) == "keras.layers":
                return _Spelling(prefix=None, import_module=module, import_stmt=stmt)
        return _Spelling(prefix=None)


def _excerpt(code: str, limit: int = 60) -> str:
    flat = " ".join(code.split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def _canonical(dotted: str) -> str:
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


def _dotted(expr: cst.BaseExpression | cst.CSTNode) -> str:
    if isinstance(expr, cst.Name):
        return expr.value
    if isinstance(expr, cst.Attribute):
        return f"{_dotted(expr.value)}.{expr.attr.value}"
    raise ValueError("not a dotted name")


class _Collector(cst.CSTVisitor):
    def __init__(self) -> None:
        super().__init__()
        self.nodes: list[cst.CSTNode] = []

    def on_visit(self, node: cst.CSTNode) -> bool:
        self.nodes.append(node)
        return True


def _walk(node: cst.CSTNode) -> list[cst.CSTNode]:
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


# --------------------------------------------------------------------------------------------------
# Finding the model in the model function


def _find_function(doc: _Doc, name: str) -> cst.FunctionDef:
    found = [n for n in doc.walk(doc.module) if isinstance(n, cst.FunctionDef) and n.name.value == name]
    if not found:
        defined = sorted({n.name.value for n in doc.module.body if isinstance(n, cst.FunctionDef)})
        hint = f" (functions defined: {', '.join(defined)})" if defined else " (it defines no functions)"
        raise doc.error(
            f"no function {name}() found{hint}; set model-function to the function that builds the model"
        )
    return found[-1]


def _function_calls(doc: _Doc, func: cst.FunctionDef) -> list[cst.Call]:
    return [n for n in doc.walk(func.body) if isinstance(n, cst.Call)]


def _find_model(doc: _Doc, func: cst.FunctionDef) -> _Model:
    calls = _function_calls(doc, func)
    constructors = [c for c in calls if doc.resolve(c.func) in ("keras.Sequential", "keras.Model")]
    where = f"{func.name.value}() at {doc.where(func)}"
    if not constructors:
        raise doc.error(
            f"no keras.Sequential(...) or keras.Model(...) call found in {func.name.value}(); keras-ct edits "
            "Sequential lists, model.add(...) calls and functional chains "
            "(subclassed models are not supported)",
            func,
        )
    chosen = _returned_constructor(doc, func, constructors)
    if chosen is None:
        if len(constructors) > 1:
            lines = ", ".join(str(doc.line(c)) for c in constructors)
            raise doc.error(
                f"{where} builds several models (lines {lines}) and does not return one of them directly"
            )
        chosen = constructors[0]
    if doc.resolve(chosen.func) == "keras.Sequential":
        model = _sequential(doc, func, chosen)
    else:
        model = _functional(doc, func, chosen)
    if not any(s.kind not in ("?", "Input") for s in model.slots):
        raise doc.error("the model built here has no Keras layer calls keras-ct recognises", chosen)
    model.input_shape = _input_shape(doc, func, model)
    return model


def _returned_constructor(doc: _Doc, func: cst.FunctionDef, constructors: list[cst.Call]) -> cst.Call | None:
    returns = [n for n in doc.walk(func.body) if isinstance(n, cst.Return) and n.value is not None]
    for ret in returns:
        value = ret.value
        if isinstance(value, cst.Call) and value in constructors:
            return value
        if isinstance(value, cst.Name):
            for call in reversed(constructors):
                assign = doc.parents.get(call)
                if isinstance(assign, cst.Assign) and any(
                    isinstance(t.target, cst.Name) and t.target.value == value.value for t in assign.targets
                ):
                    return call
    return None


def _arg(call: cst.Call, position: int, keyword: str) -> cst.Arg | None:
    positional = [a for a in call.args if a.keyword is None and not a.star]
    for a in call.args:
        if a.keyword is not None and a.keyword.value == keyword:
            return a
    return positional[position] if position < len(positional) else None


def _statement_of(doc: _Doc, node: cst.CSTNode) -> cst.CSTNode:
    current = node
    while not isinstance(current, (cst.SimpleStatementLine, cst.BaseCompoundStatement)):
        current = doc.parents[current]
    return current


def _block_of(doc: _Doc, stmt: cst.CSTNode) -> cst.IndentedBlock | cst.Module:
    parent = doc.parents[stmt]
    if not isinstance(parent, (cst.IndentedBlock, cst.Module)):
        raise doc.error("the model is built inside a one-line block; put it on its own lines", stmt)
    return parent


def _layer_slot(doc: _Doc, value: cst.BaseExpression, **kw: Any) -> _Slot:
    if isinstance(value, cst.Call):
        kind = doc.layer_class(value.func)
        if kind is not None:
            return _Slot(kind=kind, call=value, line=doc.line(value), spelling=doc.spelling(value.func), **kw)
    return _Slot(kind="?", call=None, line=doc.line(value), **kw)


def _sequential(doc: _Doc, func: cst.FunctionDef, call: cst.Call) -> _Model:
    slots: list[_Slot] = []
    layers_arg = _arg(call, 0, "layers")
    if layers_arg is not None and not (
        isinstance(layers_arg.value, cst.Name) and layers_arg.value.value == "None"
    ):
        layer_list = _literal_list(doc, func, layers_arg.value, call)
        for i, element in enumerate(layer_list.elements):
            if isinstance(element, cst.StarredElement):
                raise doc.error(
                    f"the layer list of keras.Sequential(...) unpacks `{_excerpt(doc.code(element.value))}`; "
                    "keras-ct edits only literal lists of layer calls",
                    element,
                )
            slots.append(_layer_slot(doc, element.value, style="list", container=layer_list, index=i))
    owner = doc.parents.get(call)
    adds: list[cst.Call] = []
    if (
        isinstance(owner, cst.Assign)
        and len(owner.targets) == 1
        and isinstance(owner.targets[0].target, cst.Name)
    ):
        var = owner.targets[0].target.value
        adds = [
            c
            for c in _function_calls(doc, func)
            if isinstance(c.func, cst.Attribute)
            and c.func.attr.value == "add"
            and isinstance(c.func.value, cst.Name)
            and c.func.value.value == var
        ]
        stmt = _statement_of(doc, owner)
        block = _block_of(doc, stmt)
        siblings: list[cst.CSTNode] = list(block.body)
        for add in adds:
            add_stmt = _statement_of(doc, add)
            if (
                add_stmt not in siblings
                or siblings.index(add_stmt) < siblings.index(stmt)
                or not isinstance(add_stmt, cst.SimpleStatementLine)
                or len(add_stmt.body) != 1
                or not isinstance(add_stmt.body[0], cst.Expr)
                or add_stmt.body[0].value is not add
                or len(add.args) != 1
            ):
                raise doc.error(
                    f"{var}.add(...) is not a plain statement in the same block as "
                    f"{var} = keras.Sequential(...) (inside a loop, a branch or a helper?); "
                    "keras-ct cannot edit it safely",
                    add,
                )
        for add in sorted(adds, key=doc.line):
            slots.append(
                _layer_slot(doc, add.args[0].value, style="add", container=_statement_of(doc, add), var=var)
            )
    if not slots:
        raise doc.error("keras.Sequential(...) has no layer list and no model.add(...) calls", call)
    listed = any(s.style == "list" for s in slots)
    style = "sequential+add" if adds and listed else "add" if adds else "sequential"
    return _Model(style=style, slots=slots, line=doc.line(call))


def _literal_list(doc: _Doc, func: cst.FunctionDef, value: cst.BaseExpression, call: cst.Call) -> cst.List:
    if isinstance(value, cst.List):
        return value
    if isinstance(value, cst.Name):
        # A list literal bound once in the function (``stack = [...]; keras.Sequential(stack)``) is fine.
        uses = [n for n in doc.walk(func.body) if isinstance(n, cst.Name) and n.value == value.value]
        assigns = [
            n
            for n in doc.walk(func.body)
            if isinstance(n, cst.Assign)
            and len(n.targets) == 1
            and isinstance(n.targets[0].target, cst.Name)
            and n.targets[0].target.value == value.value
        ]
        if len(assigns) == 1 and isinstance(assigns[0].value, cst.List) and len(uses) == 2:
            return assigns[0].value
    raise doc.error(
        f"keras.Sequential(...) takes its layers from `{_excerpt(doc.code(value))}`, "
        "not a literal list; "
        "keras-ct edits only a literal [...] list of layer calls, model.add(...) calls or a functional chain",
        call,
    )


def _functional(doc: _Doc, func: cst.FunctionDef, call: cst.Call) -> _Model:
    outputs = _arg(call, 1, "outputs")
    if outputs is None or not isinstance(outputs.value, cst.Name):
        got = doc.code(outputs.value) if outputs is not None else "nothing"
        raise doc.error(
            f"the outputs of keras.Model(...) are `{_excerpt(got)}`, not a variable; keras-ct follows "
            "single-output functional chains (x = layers.X(...)(x))",
            call,
        )
    model_stmt = _statement_of(doc, call)
    block = _block_of(doc, model_stmt)
    body: list[cst.CSTNode] = list(block.body)
    current = outputs.value.value
    slots: list[_Slot] = []
    reached_input = False
    for stmt in reversed(body[: body.index(model_stmt)]):
        assign = _single_assign(stmt)
        if assign is None or assign[0] != current:
            continue
        value = assign[1]
        if isinstance(value, cst.Call) and doc.resolve(value.func) == "keras.Input":
            slots.append(
                _Slot(
                    kind="Input",
                    call=value,
                    line=doc.line(value),
                    style="functional",
                    container=stmt,
                    var=current,
                )
            )
            reached_input = True
            break
        if not (
            isinstance(value, cst.Call)
            and isinstance(value.func, cst.Call)
            and len(value.args) == 1
            and isinstance(value.args[0].value, cst.Name)
            and value.args[0].keyword is None
        ):
            raise doc.error(
                f"`{_excerpt(doc.code(stmt).strip())}` is not a single layer call on one variable "
                "(x = layers.X(...)(y)); "
                "keras-ct follows linear functional chains only",
                stmt,
            )
        slot = _layer_slot(doc, value.func, style="functional", container=stmt, var=current)
        slots.append(slot)
        current = cast(cst.Name, value.args[0].value).value
    if not reached_input:
        raise doc.error(
            "could not follow the outputs of keras.Model(...) back to a "
            "keras.Input(...) in the "
            f"same block (stopped at `{current}`)",
            call,
        )
    slots.reverse()
    return _Model(style="functional", slots=slots, line=doc.line(call))


def _single_assign(stmt: cst.CSTNode) -> tuple[str, cst.BaseExpression] | None:
    if isinstance(stmt, cst.SimpleStatementLine) and len(stmt.body) == 1:
        node = stmt.body[0]
        if (
            isinstance(node, cst.Assign)
            and len(node.targets) == 1
            and isinstance(node.targets[0].target, cst.Name)
        ):
            return node.targets[0].target.value, node.value
    return None


# --------------------------------------------------------------------------------------------------
# Static shapes: where the input shape is known, follow the spatial size through the layers


def _evaluate(doc: _Doc, func: cst.FunctionDef, node: cst.BaseExpression) -> Any:
    """A literal value of ``node`` (following function defaults and module constants), or None."""
    if isinstance(node, cst.Name):
        for param in func.params.params:
            if param.name.value == node.value and param.default is not None:
                return _evaluate(doc, func, param.default)
        if node.value in doc.constants:
            return _evaluate(doc, func, doc.constants[node.value])
        return None
    if isinstance(node, (cst.Tuple, cst.List)):
        items = [_evaluate(doc, func, cast(cst.BaseExpression, e.value)) for e in node.elements]
        return tuple(items)
    try:
        return ast.literal_eval(doc.code(node).strip())
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return None


def _input_shape(doc: _Doc, func: cst.FunctionDef, model: _Model) -> tuple[int | None, ...] | None:
    for slot in model.slots:
        if slot.call is None:
            continue
        arg = None
        if slot.kind == "Input":
            arg = _arg(slot.call, 0, "shape")
        elif slot.kind == "InputLayer":
            arg = (
                _arg(slot.call, 99, "shape")
                or _arg(slot.call, 99, "input_shape")
                or _arg(slot.call, 0, "shape")
            )
        else:
            arg = _arg(slot.call, 99, "input_shape")
            if arg is None:
                return None
        if arg is None:
            return None
        shape = _evaluate(doc, func, arg.value)
        if isinstance(shape, int):
            shape = (shape,)
        if isinstance(shape, tuple) and all(d is None or isinstance(d, int) for d in shape):
            return shape
        return None
    return None


def _ints(value: Any, rank: int) -> tuple[int, ...] | None:
    if isinstance(value, int):
        return (value,) * rank
    if isinstance(value, tuple) and len(value) == rank and all(isinstance(v, int) for v in value):
        return value
    return None


def _window(
    doc: _Doc, func: cst.FunctionDef, slot: _Slot, rank: int
) -> tuple[tuple[int, ...], tuple[int, ...], str] | None:
    """(window, strides, padding) of a conv or pooling layer call, or None when not literal."""
    call = cast(cst.Call, slot.call)
    if slot.kind in _CONV:
        size_arg, stride_arg, pad_arg = (
            _arg(call, 1, "kernel_size"),
            _arg(call, 2, "strides"),
            _arg(call, 3, "padding"),
        )
        default_size: Any = None
        default_strides: Any = 1
        if _arg(call, 99, "dilation_rate") is not None:
            return None
    else:
        size_arg, stride_arg, pad_arg = (
            _arg(call, 0, "pool_size"),
            _arg(call, 1, "strides"),
            _arg(call, 2, "padding"),
        )
        default_size = 2
        default_strides = None
    size = _ints(_evaluate(doc, func, size_arg.value) if size_arg else default_size, rank)
    if size is None:
        return None
    raw_strides = _evaluate(doc, func, stride_arg.value) if stride_arg else default_strides
    strides = size if raw_strides is None else _ints(raw_strides, rank)
    padding = _evaluate(doc, func, pad_arg.value) if pad_arg else "valid"
    if strides is None or padding not in ("valid", "same"):
        return None
    return size, strides, padding


def _apply_window(
    dims: tuple[int, ...], window: tuple[tuple[int, ...], tuple[int, ...], str]
) -> tuple[int, ...]:
    size, strides, padding = window
    if padding == "same":
        return tuple(math.ceil(d / s) for d, s in zip(dims, strides, strict=True))
    return tuple((d - k) // s + 1 for d, k, s in zip(dims, size, strides, strict=True))


def _spatial_after(
    doc: _Doc, func: cst.FunctionDef, model: _Model, upto: int, override: Sequence[int] | None
) -> tuple[int, ...] | None:
    """The spatial size of the feature map after slot ``upto`` (inclusive), when it can be computed."""
    shape = tuple(override) if override else model.input_shape
    if shape is None or len(shape) < 2 or any(d is None for d in shape[:-1]):
        return None
    dims = cast(tuple[int, ...], tuple(shape[:-1]))
    for slot in model.slots[: upto + 1]:
        if slot.kind in _INPUT or slot.kind in _NEUTRAL:
            continue
        rank = _CONV.get(slot.kind) or _POOL.get(slot.kind)
        if rank is None or rank != len(dims):
            return None
        window = _window(doc, func, slot, rank)
        if window is None:
            return None
        dims = _apply_window(dims, window)
    return dims


# --------------------------------------------------------------------------------------------------
# Building new layer calls in the file's own spelling


class _Builder:
    def __init__(self, doc: _Doc) -> None:
        self.doc = doc
        self.imports: dict[int, tuple[cst.CSTNode, str, list[str]]] = {}

    def ref(self, spelling: _Spelling, cls: str) -> cst.BaseExpression:
        if spelling.prefix is not None:
            return cst.Attribute(value=spelling.prefix.deep_clone(), attr=cst.Name(cls))
        bound = self.doc.bindings.get(cls)
        if bound is not None:
            if _canonical(bound) != f"keras.layers.{cls}":
                raise self.doc.error(
                    f"the name {cls} is already bound to {bound}; "
                    f"cannot add a keras.layers.{cls} layer by that name"
                )
        elif not any(_canonical(m) == "keras.layers" for m, _ in self.doc.star_modules):
            stmt = cast(cst.CSTNode, spelling.import_stmt)
            entry = self.imports.setdefault(id(stmt), (stmt, spelling.import_module, []))
            if cls not in entry[2]:
                entry[2].append(cls)
        return cst.Name(cls)

    def call(self, spelling: _Spelling, cls: str, args: str = "") -> cst.Call:
        placeholder = cast(cst.Call, cst.parse_expression(f"_({args})"))
        return placeholder.with_changes(func=self.ref(spelling, cls))

    def string(self, text: str) -> str:
        return f"{self.doc.quote}{text}{self.doc.quote}"

    def clone(self, slot: _Slot) -> cst.Call:
        """A copy of a layer call minus the arguments that must stay unique or only on the first layer."""
        call = cast(cst.Call, slot.call).deep_clone()
        kept = [a for a in call.args if not (a.keyword is not None and a.keyword.value in _NOT_CLONED)]
        if len(kept) != len(call.args):
            last_comma = call.args[-1].comma
            if kept:
                kept[-1] = kept[-1].with_changes(comma=last_comma)
            call = call.with_changes(args=kept)
        return call

    def import_statements(self) -> dict[int, list[cst.SimpleStatementLine]]:
        out: dict[int, list[cst.SimpleStatementLine]] = {}
        for key, (_stmt, module, names) in self.imports.items():
            out[key] = [
                cast(
                    cst.SimpleStatementLine, cst.parse_statement(f"from {module} import {', '.join(names)}\n")
                )
            ]
        return out


def _set_kwarg(call: cst.Call, keyword: str, value: cst.BaseExpression) -> cst.Call:
    """Set ``keyword=value``: replace the value in place, or insert the argument after the positional ones."""
    args = list(call.args)
    for i, a in enumerate(args):
        if a.keyword is not None and a.keyword.value == keyword:
            args[i] = a.with_changes(value=value)
            return call.with_changes(args=args)
    # After the kernel size (positional or keyword) when there is one, else after the positional arguments.
    position = sum(1 for a in args if a.keyword is None and not a.star)
    for i, a in enumerate(args):
        if a.keyword is not None and a.keyword.value in ("kernel_size", "pool_size"):
            position = i + 1
    new = cst.Arg(
        value=value,
        keyword=cst.Name(keyword),
        equal=cst.AssignEqual(
            whitespace_before=cst.SimpleWhitespace(""), whitespace_after=cst.SimpleWhitespace("")
        ),
    )
    if position == 0:
        new = new.with_changes(
            comma=cst.Comma(whitespace_after=cst.SimpleWhitespace(" ")) if args else MaybeDefault
        )
        args.insert(0, new)
        return call.with_changes(args=args)
    before = args[position - 1]
    if position < len(args):
        # In the middle: copy the neighbour's comma layout (never its comment: see FIELD-NOTES).
        args.insert(position, new.with_changes(comma=_clean_comma(cast(cst.Comma, before.comma))))
        return call.with_changes(args=args)
    # At the end: the new argument takes over the closing layout (trailing comma or not), the old last
    # argument gets the comma layout used between arguments.
    between = (
        _clean_comma(args[-2].comma)
        if len(args) > 1 and isinstance(args[-2].comma, cst.Comma)
        else cst.Comma(whitespace_after=cst.SimpleWhitespace(" "))
    )
    args[-1] = before.with_changes(comma=between, whitespace_after_arg=cst.SimpleWhitespace(""))
    if isinstance(before.comma, cst.Comma):
        new = new.with_changes(comma=cst.Comma(whitespace_after=before.comma.whitespace_after))
    args.append(new.with_changes(whitespace_after_arg=before.whitespace_after_arg))
    return call.with_changes(args=args)


def _clean_comma(comma: cst.Comma) -> cst.Comma:
    after = comma.whitespace_after
    if isinstance(after, cst.ParenthesizedWhitespace):
        after = after.with_changes(first_line=cst.TrailingWhitespace(), empty_lines=[])
    return cst.Comma(whitespace_before=cst.SimpleWhitespace(""), whitespace_after=after)


def _int_arg(doc: _Doc, slot: _Slot, position: int, keyword: str, what: str) -> tuple[cst.Integer, int]:
    arg = _arg(cast(cst.Call, slot.call), position, keyword)
    if arg is None or not isinstance(arg.value, cst.Integer):
        got = f"`{doc.code(arg.value)}`" if arg is not None else "not given"
        raise doc.error(
            f"the {what} of {slot.kind} at {doc.path}:{slot.line} is {got}, not a literal number; "
            f"keras-ct only changes literal {what}",
            slot.call,
        )
    return arg.value, int(arg.value.value.replace("_", ""), 0)


# --------------------------------------------------------------------------------------------------
# Applying insertions


@dataclass
class _Plan:
    after_stmt: dict[int, list[cst.BaseStatement]] = field(default_factory=dict)
    list_insert: dict[int, tuple[int, list[cst.BaseExpression]]] = field(default_factory=dict)
    replace: dict[int, cst.CSTNode] = field(default_factory=dict)


def _insert_after(doc: _Doc, plan: _Plan, slot: _Slot, calls: list[cst.Call]) -> None:
    if slot.style == "list":
        plan.list_insert[id(slot.container)] = (slot.index, list(calls))
        return
    stmt = cast(cst.SimpleStatementLine, slot.container)
    if slot.style == "functional":
        _check_rebinding(doc, stmt, slot.var)
    fresh = stmt.with_changes(leading_lines=[], trailing_whitespace=cst.TrailingWhitespace())
    new_stmts: list[cst.BaseStatement] = []
    for call in calls:
        if slot.style == "add":
            expr = cast(cst.Expr, stmt.body[0])
            outer = cast(cst.Call, expr.value)
            body = expr.with_changes(value=outer.with_changes(args=[outer.args[0].with_changes(value=call)]))
            new_stmts.append(fresh.with_changes(body=[body]))
        elif slot.kind == "Input":
            code = f"{slot.var} = {doc.module.code_for_node(call)}({slot.var})\n"
            new_stmts.append(cast(cst.SimpleStatementLine, cst.parse_statement(code)))
        else:
            # Reuse the slot's own statement as the template so multi-line calls keep their indentation.
            assign = cast(cst.Assign, stmt.body[0])
            value = cast(cst.Call, assign.value)
            arg = value.args[0].with_changes(value=cst.Name(slot.var))
            new_stmts.append(
                fresh.with_changes(
                    body=[assign.with_changes(value=value.with_changes(func=call, args=[arg]))]
                )
            )
    plan.after_stmt.setdefault(id(stmt), []).extend(new_stmts)


def _check_rebinding(doc: _Doc, stmt: cst.SimpleStatementLine, var: str) -> None:
    """``var = New(...)(var)`` after ``stmt`` is safe only if the next layer is the one reader of ``var``.

    Any other reader before ``var`` is bound again (a skip connection, the model's inputs) would silently
    see the new layer's output instead, so that is refused.
    """
    block = _block_of(doc, stmt)
    body: list[cst.CSTNode] = list(block.body)
    readers = 0
    for later in body[body.index(stmt) + 1 :]:
        assign = _single_assign(later)
        value = assign[1] if assign is not None else later
        reads = [n for n in doc.walk(value) if isinstance(n, cst.Name) and n.value == var]
        readers += bool(reads)
        if readers > 1:
            raise doc.error(
                f"`{var}` is read by more than one later statement (line {doc.line(later)} too); inserting "
                f"`{var} = layer({var})` after line {doc.line(stmt)} would change what they see",
                stmt,
            )
        if assign is not None and assign[0] == var:
            return


class _Apply(cst.CSTTransformer):
    def __init__(self, plan: _Plan) -> None:
        super().__init__()
        self.plan = plan

    def on_leave(self, original_node: cst.CSTNode, updated_node: cst.CSTNode) -> Any:
        key = id(original_node)
        if key in self.plan.replace:
            return self.plan.replace[key]
        if key in self.plan.list_insert:
            index, values = self.plan.list_insert[key]
            return _list_with(cast(cst.List, updated_node), index, values)
        if (
            isinstance(original_node, (cst.Module, cst.IndentedBlock))
            and isinstance(updated_node, (cst.Module, cst.IndentedBlock))
            and any(id(s) in self.plan.after_stmt for s in original_node.body)
        ):
            body: list[Any] = []
            for orig, upd in zip(original_node.body, updated_node.body, strict=True):
                body.append(upd)
                body.extend(self.plan.after_stmt.get(id(orig), []))
            return updated_node.with_changes(body=body)
        return updated_node


def _list_with(lst: cst.List, index: int, values: list[cst.BaseExpression]) -> cst.List:
    """Insert elements after ``lst.elements[index]``, keeping every comment where it was.

    The whitespace after an element's comma holds that line's trailing comment, then the own-line comments
    that belong to the *next* element. The neighbour keeps the first part; the last new element takes the
    second, so comments stay above the element they describe. New commas are built, never copied.
    """
    elements = list(lst.elements)
    anchor = elements[index]
    is_last = index == len(elements) - 1
    after: cst.BaseParenthesizableWhitespace
    if isinstance(anchor.comma, cst.Comma):
        after = anchor.comma.whitespace_after
    elif is_last:
        after = lst.rbracket.whitespace_before
    else:  # pragma: no cover - a non-last element always has a comma
        after = cst.SimpleWhitespace(" ")
    if isinstance(after, cst.ParenthesizedWhitespace):
        indent_line = after.last_line
        if is_last:
            indent_line = _element_indent(lst, index)
        newline_ws = cst.ParenthesizedWhitespace(
            first_line=cst.TrailingWhitespace(), empty_lines=[], indent=after.indent, last_line=indent_line
        )
        head = newline_ws.with_changes(first_line=after.first_line)
        tail = newline_ws.with_changes(empty_lines=after.empty_lines, last_line=after.last_line)
    else:
        head = newline_ws = tail = cast(cst.ParenthesizedWhitespace, cst.SimpleWhitespace(" "))
    new_elements = [cst.Element(value=v, comma=cst.Comma(whitespace_after=newline_ws)) for v in values]
    if is_last and not isinstance(anchor.comma, cst.Comma):
        # No trailing comma in the list: the neighbour gains one, the last new element stays without.
        elements[index] = anchor.with_changes(comma=cst.Comma(whitespace_after=head))
        new_elements[-1] = new_elements[-1].with_changes(comma=MaybeDefault)
        if isinstance(after, cst.ParenthesizedWhitespace):
            lst = lst.with_changes(rbracket=lst.rbracket.with_changes(whitespace_before=tail))
    else:
        elements[index] = anchor.with_changes(
            comma=cast(cst.Comma, anchor.comma).with_changes(whitespace_after=head)
        )
        if is_last:
            new_elements[-1] = new_elements[-1].with_changes(comma=cst.Comma(whitespace_after=tail))
        else:
            new_elements[-1] = new_elements[-1].with_changes(comma=cst.Comma(whitespace_after=tail))
    return lst.with_changes(elements=elements[: index + 1] + new_elements + elements[index + 1 :])


def _element_indent(lst: cst.List, index: int) -> cst.SimpleWhitespace:
    if index == 0:
        ws = lst.lbracket.whitespace_after
    else:
        ws = cast(cst.Comma, lst.elements[index - 1].comma).whitespace_after
    if isinstance(ws, cst.ParenthesizedWhitespace):
        return ws.last_line
    return cst.SimpleWhitespace("")


# --------------------------------------------------------------------------------------------------
# The three changes


def _conv_block(
    doc: _Doc,
    func: cst.FunctionDef,
    model: _Model,
    builder: _Builder,
    plan: _Plan,
    input_shape: Sequence[int] | None,
) -> tuple[str, str, int]:
    slots = model.slots
    convs = [i for i, s in enumerate(slots) if s.kind in _CONV]
    if not convs:
        found = ", ".join(s.kind for s in slots if s.kind != "?") or "no Keras layers"
        unknown = sum(s.kind == "?" for s in slots)
        if unknown:
            found += f" and {unknown} call{'s' if unknown > 1 else ''} it does not recognise (custom blocks?)"
        raise doc.error(
            f"conv-block needs a convolution layer (Conv1D/Conv2D) in {func.name.value}(), found {found}; "
            "use the dense change for a model without convolutions",
            func,
        )
    last = convs[-1]
    end = last
    while end + 1 < len(slots) and slots[end + 1].kind in _BLOCK_TAIL:
        end += 1
    conv_slot = slots[last]
    tail = slots[last + 1 : end + 1]
    rank = _CONV[conv_slot.kind]
    integer, filters = _int_arg(doc, conv_slot, 0, "filters", "filters")
    new_filters = filters * 2
    conv = builder.clone(conv_slot)
    conv = _set_kwarg(conv, "padding", cst.SimpleString(builder.string("same")))
    first = _arg(conv, 0, "filters")
    assert first is not None
    args = [
        a if a is not first else a.with_changes(value=integer.with_changes(value=str(new_filters)))
        for a in conv.args
    ]
    conv = conv.with_changes(args=args)

    first_pool = next((i for i, s in enumerate(tail) if s.kind in _POOL), len(tail))
    pool_slots = [s for s in tail if s.kind in _POOL]
    before_pool = [s for s in tail[:first_pool] if s.kind not in _DROPOUT]
    dropouts = [s for s in tail if s.kind in _DROPOUT]
    block: list[cst.Call] = [conv]
    pool_note = ""
    block.extend(builder.clone(s) for s in before_pool)
    # Does a pooling layer still fit? Follow the spatial size statically where the input shape is known.
    dims = _spatial_after(doc, func, model, end, input_shape)
    pool_call: cst.Call | None
    if pool_slots:
        pool_call = builder.clone(pool_slots[-1])
        pool_name = pool_slots[-1].kind
    else:
        pool_name = f"MaxPooling{rank}D"
        pool_call = builder.call(cast(_Spelling, conv_slot.spelling), pool_name)
    if dims is not None and pool_call is not None:
        conv_window = _window(
            doc, func, _Slot(kind=conv_slot.kind, call=conv, line=0, style="", container=conv), rank
        )
        pool_window = _window(
            doc, func, _Slot(kind=pool_name, call=pool_call, line=0, style="", container=conv), rank
        )
        after_conv = _apply_window(dims, conv_window) if conv_window else None
        if after_conv is not None and pool_window is not None:
            pooled = _apply_window(after_conv, pool_window)
            if min(pooled) < 2:
                pool_note = (
                    f" (no pooling: the {'x'.join(map(str, after_conv))} feature map would shrink to "
                    f"{'x'.join(map(str, pooled))})"
                )
                pool_call = None
    if pool_call is not None:
        block.append(pool_call)
    block.extend(builder.clone(s) for s in dropouts)
    _insert_after(doc, plan, slots[end], block)
    conv_text = f"{conv_slot.kind}({new_filters})"
    description = (
        f"a {conv_text} + {pool_name} block" if pool_call is not None else f"a {conv_text} block{pool_note}"
    )
    return description, f"adding {description}", slots[end].line


def _dense(
    doc: _Doc, func: cst.FunctionDef, model: _Model, builder: _Builder, plan: _Plan
) -> tuple[str, str, int]:
    slots = model.slots
    denses = [i for i, s in enumerate(slots) if s.kind == "Dense"]
    if not denses:
        raise doc.error(
            f"dense needs an output Dense layer in {func.name.value}(), found none; keras-ct adds the hidden "
            "layer before the output Dense",
            func,
        )
    out = denses[-1]
    hidden = out - 1
    while hidden >= 0 and slots[hidden].kind in _NEUTRAL:
        hidden -= 1
    if hidden >= 0 and slots[hidden].kind == "Dense":
        slot = slots[hidden]
        integer, units = _int_arg(doc, slot, 0, "units", "units")
        wider = units * 2
        plan.replace[id(integer)] = integer.with_changes(value=str(wider))
        return (
            f"Dense({units}) widened to Dense({wider})",
            f"widening the hidden Dense({units}) to {wider} units",
            slot.line,
        )
    if out == 0:
        raise doc.error(f"the output Dense at {doc.path}:{slots[out].line} has no layer before it", func)
    out_arg = _arg(cast(cst.Call, slots[out].call), 0, "units")
    out_units = _evaluate(doc, func, out_arg.value) if out_arg is not None else None
    units = 64
    if isinstance(out_units, int) and out_units * 4 > units:
        units = min(1024, 1 << (out_units * 4 - 1).bit_length())
    spelling = cast(_Spelling, slots[out].spelling)
    call = builder.call(spelling, "Dense", f"{units}, activation={builder.string('relu')}")
    _insert_after(doc, plan, slots[out - 1], [call])
    return f"a hidden Dense({units}) layer", f"adding a hidden Dense({units}) layer", slots[out].line


def _dropout(
    doc: _Doc, func: cst.FunctionDef, model: _Model, builder: _Builder, plan: _Plan
) -> tuple[str, str, int]:
    slots = model.slots
    denses = [i for i, s in enumerate(slots) if s.kind == "Dense"]
    output = denses[-1] if denses else None
    points = [
        i
        for i, s in enumerate(slots)
        if s.kind in _POOL
        or s.kind in _GLOBAL_POOL
        or s.kind == "Flatten"
        or (s.kind == "Dense" and i != output)
    ]
    if not points:
        raise doc.error(
            f"dropout goes after a pooling, Flatten or hidden Dense layer; {func.name.value}() has none", func
        )
    for i in reversed(points):
        follower = i + 1
        while follower < len(slots) and slots[follower].kind in _NEUTRAL - _DROPOUT:
            follower += 1
        if follower < len(slots) and slots[follower].kind in _DROPOUT:
            continue
        rate = "0.25" if slots[i].kind in _POOL else "0.5"
        call = builder.call(cast(_Spelling, slots[i].spelling), "Dropout", rate)
        _insert_after(doc, plan, slots[i], [call])
        where = slots[i].kind
        if where == "Dense":
            units = _arg(cast(cst.Call, slots[i].call), 0, "units")
            value = _evaluate(doc, func, units.value) if units is not None else None
            where = f"the hidden Dense({value})" if isinstance(value, int) else "the hidden Dense"
        return f"Dropout({rate}) after {where}", f"adding Dropout({rate}) after {where}", slots[i].line
    raise doc.error(
        f"every pooling, Flatten and hidden Dense layer in {func.name.value}() "
        "is already followed by Dropout",
        func,
    )


_PLANNERS: dict[str, Callable[..., tuple[str, str, int]]] = {"dense": _dense, "dropout": _dropout}


def plan_edit(
    source: str,
    change: str,
    *,
    model_function: str = "build_model",
    path: str = "<model>",
    input_shape: Sequence[int] | None = None,
) -> Edit:
    """Plan ``change`` (conv-block, dense, dropout) on the model built by ``model_function`` in ``source``.

    ``input_shape`` (without the batch dimension) overrides the shape read from the code for the static
    feature-map check of conv-block. Raises ``AugmentError`` when the code cannot be edited safely.
    """
    if change not in MODEL_CHANGES:
        raise AugmentError(f"unknown model change {change!r}; expected one of {', '.join(MODEL_CHANGES)}")
    doc = _Doc(source, path)
    func = _find_function(doc, model_function)
    model = _find_model(doc, func)
    builder = _Builder(doc)
    plan = _Plan()
    if change == "conv-block":
        description, action, line = _conv_block(doc, func, model, builder, plan, input_shape)
        kind = next(s.kind for s in reversed(model.slots) if s.kind in _CONV)
    else:
        description, action, line = _PLANNERS[change](doc, func, model, builder, plan)
        kind = "Dense" if change == "dense" else "Dropout"
    for key, stmts in builder.import_statements().items():
        plan.after_stmt.setdefault(key, []).extend(stmts)
    new_module = cast(cst.Module, doc.module.visit(_Apply(plan)))
    return Edit(
        change=change,
        path=path,
        new_source=new_module.code,
        description=description,
        action=action,
        layer_kind=kind,
        line=line,
        style=model.style,
    )
