"""Building new layer calls in the file's own spelling, and changing a call's arguments."""

from __future__ import annotations

from typing import cast

import libcst as cst

from keras_ct.augment.find import Slot
from keras_ct.augment.source import Doc, Spelling, call_arg, canonical_name

# Keyword arguments that must not be copied into a cloned layer (unique names, input declarations).
_NOT_CLONED = {"name", "input_shape", "batch_input_shape", "input_dim", "batch_size", "input_length"}

MaybeDefault = cst.MaybeSentinel.DEFAULT


class Builder:
    def __init__(self, doc: Doc) -> None:
        self.doc = doc
        self.imports: dict[int, tuple[cst.CSTNode, str, list[str]]] = {}

    def ref(self, spelling: Spelling, cls: str) -> cst.BaseExpression:
        if spelling.prefix is not None:
            return cst.Attribute(value=spelling.prefix.deep_clone(), attr=cst.Name(cls))
        bound = self.doc.bindings.get(cls)
        if bound is not None:
            if canonical_name(bound) != f"keras.layers.{cls}":
                raise self.doc.error(
                    f"the name {cls} is already bound to {bound}; "
                    f"cannot add a keras.layers.{cls} layer by that name"
                )
        elif not any(canonical_name(m) == "keras.layers" for m, _ in self.doc.star_modules):
            stmt = cast(cst.CSTNode, spelling.import_stmt)
            entry = self.imports.setdefault(id(stmt), (stmt, spelling.import_module, []))
            if cls not in entry[2]:
                entry[2].append(cls)
        return cst.Name(cls)

    def call(self, spelling: Spelling, cls: str, args: str = "") -> cst.Call:
        placeholder = cast(cst.Call, cst.parse_expression(f"_({args})"))
        return placeholder.with_changes(func=self.ref(spelling, cls))

    def string(self, text: str) -> str:
        return f"{self.doc.quote}{text}{self.doc.quote}"

    def clone(self, slot: Slot) -> cst.Call:
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


def set_kwarg(call: cst.Call, keyword: str, value: cst.BaseExpression, *, last: bool = False) -> cst.Call:
    """Set ``keyword=value``: replace the value in place, or insert the argument after the positional ones
    (after all the arguments when ``last``)."""
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
    if last:
        position = len(args)
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


def int_arg(doc: Doc, slot: Slot, position: int, keyword: str, what: str) -> tuple[cst.Integer, int]:
    """The literal number of a layer argument: in the call, or passed to the helper it is written in
    (``block(16)`` for ``Conv2D(filters, ...)`` in ``def block(filters)``)."""
    arg = call_arg(cast(cst.Call, slot.call), position, keyword)
    if arg is not None and isinstance(arg.value, cst.Name):
        arg = _helper_argument(slot, arg.value.value) or arg
    if arg is None or not isinstance(arg.value, cst.Integer):
        got = f"`{doc.code(arg.value)}`" if arg is not None else "not given"
        raise doc.error(
            f"the {what} of {slot.kind} at {doc.path}:{slot.line} is {got}, not a literal number; "
            f"keras-ct only changes literal {what}",
            slot.call,
        )
    return arg.value, int(arg.value.value.replace("_", ""), 0)


def _helper_argument(slot: Slot, name: str) -> cst.Arg | None:
    """The argument the helper call passes for the helper's parameter ``name`` (by position or keyword)."""
    part = slot.part
    if part is None or part.site is None or part.helper is None:
        return None
    params = [p.name.value for p in part.helper.params.params]
    if name not in params:
        return None
    return call_arg(part.site, params.index(name), name)


def owned(doc: Doc, slot: Slot, number: cst.Integer) -> None:
    """Refuse to change a number written inside a helper that the module calls more than once."""
    part = slot.part
    if part is None or part.uses <= 1 or part.site is None:
        return
    if any(a.value is number for a in part.site.args):
        return  # the call's own argument: changing it changes this call only
    helper = cast(cst.FunctionDef, part.helper).name.value
    raise doc.error(
        f"the {slot.kind} at line {slot.line} is inside {helper}(), which is called {part.uses} times; "
        f"changing it would change every call; pass the number as an argument of {helper}()",
        slot.call,
    )
