"""The layer list of ``keras.Sequential(...)``: where its elements are written.

Read: a literal ``[...]`` list, a name bound once to one, lists joined with ``+``, and calls of a
module-level helper function whose one ``return`` gives such a list (``[keras.Input(...)] + block(16) +
[layers.Flatten(), ...]``). Each ``Part`` is one literal list and, for a helper's list, the call that
produced it and how many times the module calls that helper: a change inside a helper called more than
once would change every call, so the edits refuse it (except after the helper's last layer, where the
new layers are joined to that one call: ``block(16) + [new]``). Anything else (a comprehension, a
loop that appends, ``*args``) is refused with the place it is written.
"""

from __future__ import annotations

from dataclasses import dataclass

import libcst as cst

from keras_ct.augment.source import Doc, excerpt


@dataclass(frozen=True)
class Part:
    """One literal list of the layer list; ``site``/``helper`` when a helper call returned it."""

    items: cst.List
    site: cst.Call | None = None
    helper: cst.FunctionDef | None = None
    uses: int = 1  # how many times the module calls the helper (1 for the model function's own lists)
    ends_site: bool = False  # the rightmost list of the helper's return value


def layer_parts(doc: Doc, func: cst.FunctionDef, value: cst.BaseExpression, call: cst.Call) -> list[Part]:
    """The literal lists that make up ``value``, left to right; ``AugmentError`` for anything else."""
    return _parts(doc, func, value, call, Part(cst.List([])), ())


def _parts(
    doc: Doc,
    func: cst.FunctionDef,
    value: cst.BaseExpression,
    call: cst.Call,
    context: Part,
    seen: tuple[str, ...],
) -> list[Part]:
    if isinstance(value, cst.List):
        return [Part(value, context.site, context.helper, context.uses)]
    if isinstance(value, cst.BinaryOperation) and isinstance(value.operator, cst.Add):
        return _parts(doc, func, value.left, call, context, seen) + _parts(
            doc, func, value.right, call, context, seen
        )
    bound = _bound_once(doc, func, value)
    if bound is not None:
        return _parts(doc, func, bound, call, context, seen)
    helper = _helper(doc, value, seen)
    if helper is not None and isinstance(value, cst.Call):
        returned = _returned(doc, helper)
        if returned is not None:
            uses = context.uses * _calls_of(doc, helper.name.value)
            inner = Part(cst.List([]), value, helper, uses)
            parts = _parts(doc, helper, returned, call, inner, (*seen, helper.name.value))
            last = parts[-1]
            parts[-1] = Part(last.items, last.site, last.helper, last.uses, ends_site=last.site is value)
            return parts
    raise doc.error(
        f"keras.Sequential(...) takes its layers from `{excerpt(doc.code(value))}`, not a literal list; "
        "keras-ct edits only literal [...] lists of layer calls (joined with +, or returned by a helper "
        "function), model.add(...) calls or a functional chain",
        call,
    )


def _bound_once(doc: Doc, func: cst.FunctionDef, value: cst.BaseExpression) -> cst.BaseExpression | None:
    """The value of a name bound once in ``func`` and read only here (``stack = [...]; Sequential(stack)``)."""
    if not isinstance(value, cst.Name):
        return None
    uses = [n for n in doc.walk(func.body) if isinstance(n, cst.Name) and n.value == value.value]
    assigns = [
        n
        for n in doc.walk(func.body)
        if isinstance(n, cst.Assign)
        and len(n.targets) == 1
        and isinstance(n.targets[0].target, cst.Name)
        and n.targets[0].target.value == value.value
    ]
    return assigns[0].value if len(assigns) == 1 and len(uses) == 2 else None


def _helper(doc: Doc, value: cst.BaseExpression, seen: tuple[str, ...]) -> cst.FunctionDef | None:
    """The module-level function a plain ``name(...)`` call calls (not one already being followed)."""
    if not (isinstance(value, cst.Call) and isinstance(value.func, cst.Name)) or value.func.value in seen:
        return None
    name = value.func.value
    found = [s for s in doc.module.body if isinstance(s, cst.FunctionDef) and s.name.value == name]
    return found[-1] if len(found) == 1 else None


def _returned(doc: Doc, helper: cst.FunctionDef) -> cst.BaseExpression | None:
    """The value of the helper's one ``return``, when it has exactly one."""
    returns = [n for n in doc.walk(helper.body) if isinstance(n, cst.Return)]
    if len(returns) != 1 or returns[0].value is None:
        return None
    return returns[0].value


def _calls_of(doc: Doc, name: str) -> int:
    return sum(
        isinstance(n, cst.Call) and isinstance(n.func, cst.Name) and n.func.value == name
        for n in doc.walk(doc.module)
    )
