"""Finding the model: the model function, the model it returns and that model's layer sequence.

Three styles are read: a ``keras.Sequential([...])`` layer list (literal lists, joined with ``+`` or
returned by helpers: ``layer_list``), ``model.add(...)`` statements, or a
functional chain ``x = layers.X(...)(x)`` feeding ``keras.Model``. Each layer becomes a ``Slot`` (its
class, its call, where it is written); anything that cannot be edited safely raises ``AugmentError``
naming what was looked for and where (file:line).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import libcst as cst

from keras_ct.augment.layer_list import Part, layer_parts
from keras_ct.augment.source import Doc, Spelling, call_arg, evaluate, excerpt, single_assign


@dataclass
class Slot:
    kind: str  # layer class name, "Input", or "?" for something that is not a recognisable layer call
    call: cst.Call | None
    line: int
    style: str  # "list" | "add" | "functional"
    container: cst.CSTNode  # the List (list style) or the statement (add / functional)
    index: int = 0  # element index in the list
    var: str = ""  # model variable (add) or assigned variable (functional)
    spelling: Spelling | None = None
    part: Part | None = None  # list style: the literal list it is in (a helper's, maybe)


@dataclass
class Model:
    style: str
    slots: list[Slot]
    line: int
    input_shape: tuple[int | None, ...] | None = None


def find_function(doc: Doc, name: str) -> cst.FunctionDef:
    found = [n for n in doc.walk(doc.module) if isinstance(n, cst.FunctionDef) and n.name.value == name]
    if not found:
        defined = sorted({n.name.value for n in doc.module.body if isinstance(n, cst.FunctionDef)})
        hint = f" (functions defined: {', '.join(defined)})" if defined else " (it defines no functions)"
        raise doc.error(
            f"no function {name}() found{hint}; set model-function to the function that builds the model"
        )
    return found[-1]


def function_calls(doc: Doc, func: cst.FunctionDef) -> list[cst.Call]:
    return [n for n in doc.walk(func.body) if isinstance(n, cst.Call)]


def find_model(doc: Doc, func: cst.FunctionDef) -> Model:
    calls = function_calls(doc, func)
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


def _returned_constructor(doc: Doc, func: cst.FunctionDef, constructors: list[cst.Call]) -> cst.Call | None:
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


def statement_of(doc: Doc, node: cst.CSTNode) -> cst.CSTNode:
    current = node
    while not isinstance(current, (cst.SimpleStatementLine, cst.BaseCompoundStatement)):
        current = doc.parents[current]
    return current


def block_of(doc: Doc, stmt: cst.CSTNode) -> cst.IndentedBlock | cst.Module:
    parent = doc.parents[stmt]
    if not isinstance(parent, (cst.IndentedBlock, cst.Module)):
        raise doc.error("the model is built inside a one-line block; put it on its own lines", stmt)
    return parent


def _layer_slot(doc: Doc, value: cst.BaseExpression, **kw: Any) -> Slot:
    if isinstance(value, cst.Call):
        kind = doc.layer_class(value.func)
        if kind is not None:
            return Slot(kind=kind, call=value, line=doc.line(value), spelling=doc.spelling(value.func), **kw)
    return Slot(kind="?", call=None, line=doc.line(value), **kw)


def _list_slots(doc: Doc, func: cst.FunctionDef, call: cst.Call) -> list[Slot]:
    """The slots of the layer list passed to ``keras.Sequential`` (none without one)."""
    layers_arg = call_arg(call, 0, "layers")
    if layers_arg is None or (isinstance(layers_arg.value, cst.Name) and layers_arg.value.value == "None"):
        return []
    slots: list[Slot] = []
    for part in layer_parts(doc, func, layers_arg.value, call):
        for i, element in enumerate(part.items.elements):
            if isinstance(element, cst.StarredElement):
                raise doc.error(
                    f"the layer list of keras.Sequential(...) unpacks `{excerpt(doc.code(element.value))}`; "
                    "keras-ct edits only literal lists of layer calls",
                    element,
                )
            slots.append(
                _layer_slot(doc, element.value, style="list", container=part.items, index=i, part=part)
            )
    return slots


def _sequential(doc: Doc, func: cst.FunctionDef, call: cst.Call) -> Model:
    slots = _list_slots(doc, func, call)
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
            for c in function_calls(doc, func)
            if isinstance(c.func, cst.Attribute)
            and c.func.attr.value == "add"
            and isinstance(c.func.value, cst.Name)
            and c.func.value.value == var
        ]
        stmt = statement_of(doc, owner)
        block = block_of(doc, stmt)
        siblings: list[cst.CSTNode] = list(block.body)
        for add in adds:
            add_stmt = statement_of(doc, add)
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
                _layer_slot(doc, add.args[0].value, style="add", container=statement_of(doc, add), var=var)
            )
    if not slots:
        raise doc.error("keras.Sequential(...) has no layer list and no model.add(...) calls", call)
    listed = any(s.style == "list" for s in slots)
    style = "sequential+add" if adds and listed else "add" if adds else "sequential"
    return Model(style=style, slots=slots, line=doc.line(call))


def _functional(doc: Doc, func: cst.FunctionDef, call: cst.Call) -> Model:
    outputs = call_arg(call, 1, "outputs")
    if outputs is None or not isinstance(outputs.value, cst.Name):
        got = doc.code(outputs.value) if outputs is not None else "nothing"
        raise doc.error(
            f"the outputs of keras.Model(...) are `{excerpt(got)}`, not a variable; keras-ct follows "
            "single-output functional chains (x = layers.X(...)(x))",
            call,
        )
    model_stmt = statement_of(doc, call)
    block = block_of(doc, model_stmt)
    body: list[cst.CSTNode] = list(block.body)
    current = outputs.value.value
    slots: list[Slot] = []
    reached_input = False
    for stmt in reversed(body[: body.index(model_stmt)]):
        assign = single_assign(stmt)
        if assign is None or assign[0] != current:
            continue
        value = assign[1]
        if isinstance(value, cst.Call) and doc.resolve(value.func) == "keras.Input":
            slots.append(
                Slot(
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
                f"`{excerpt(doc.code(stmt).strip())}` is not a single layer call on one variable "
                "(x = layers.X(...)(y)); "
                "keras-ct follows linear functional chains only",
                stmt,
            )
        slot = _layer_slot(doc, value.func, style="functional", container=stmt, var=current)
        slots.append(slot)
        current = value.args[0].value.value
    if not reached_input:
        raise doc.error(
            "could not follow the outputs of keras.Model(...) back to a "
            "keras.Input(...) in the "
            f"same block (stopped at `{current}`)",
            call,
        )
    slots.reverse()
    return Model(style="functional", slots=slots, line=doc.line(call))


def _input_shape(doc: Doc, func: cst.FunctionDef, model: Model) -> tuple[int | None, ...] | None:
    for slot in model.slots:
        if slot.call is None:
            continue
        arg = None
        if slot.kind == "Input":
            arg = call_arg(slot.call, 0, "shape")
        elif slot.kind == "InputLayer":
            arg = (
                call_arg(slot.call, 99, "shape")
                or call_arg(slot.call, 99, "input_shape")
                or call_arg(slot.call, 0, "shape")
            )
        else:
            arg = call_arg(slot.call, 99, "input_shape")
            if arg is None:
                return None
        if arg is None:
            return None
        shape = evaluate(doc, func, arg.value)
        if isinstance(shape, int):
            shape = (shape,)
        if isinstance(shape, tuple) and all(d is None or isinstance(d, int) for d in shape):
            return shape
        return None
    return None
