"""The planned edit: insertions after layers and replaced nodes, applied to the module in one pass.

Existing lines are never rewritten, except a trailing comma added to the neighbouring element (and
the units of a widened Dense, which is the change itself).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, cast

import libcst as cst

from keras_ct.augment.builder import MaybeDefault
from keras_ct.augment.find import Slot, block_of
from keras_ct.augment.layer_list import Part
from keras_ct.augment.source import Doc, single_assign


@dataclass
class Plan:
    after_stmt: dict[int, list[cst.BaseStatement]] = field(default_factory=dict)
    list_insert: dict[int, list[tuple[int, list[cst.BaseExpression]]]] = field(default_factory=dict)
    replace: dict[int, cst.CSTNode] = field(default_factory=dict)


def insert_after(doc: Doc, plan: Plan, slot: Slot, calls: list[cst.Call]) -> None:
    if slot.style == "list":
        part = slot.part
        if part is not None and part.site is not None and part.uses > 1:
            _join_to_site(doc, plan, slot, part, calls)
            return
        plan.list_insert.setdefault(id(slot.container), []).append((slot.index, list(calls)))
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


def _join_to_site(doc: Doc, plan: Plan, slot: Slot, part: Part, calls: list[cst.Call]) -> None:
    """After the last layer of a helper called more than once: ``block(16)`` becomes
    ``block(16) + [new]``, so only this call gets the new layers; anywhere else inside it is refused."""
    site = cast(cst.Call, part.site)
    helper = cast(cst.FunctionDef, part.helper).name.value
    if not part.ends_site or slot.index != len(part.items.elements) - 1 or id(site) in plan.replace:
        raise doc.error(
            f"the {slot.kind} at line {slot.line} is inside {helper}(), which is called {part.uses} times; "
            f"a layer added there would be added to every call; keras-ct adds layers only after the last "
            f"layer {helper}() returns",
            slot.call,
        )
    plan.replace[id(site)] = cst.BinaryOperation(
        left=site, operator=cst.Add(), right=cst.List([cst.Element(c) for c in calls])
    )


def _check_rebinding(doc: Doc, stmt: cst.SimpleStatementLine, var: str) -> None:
    """``var = New(...)(var)`` after ``stmt`` is safe only if the next layer is the one reader of ``var``.

    Any other reader before ``var`` is bound again (a skip connection, the model's inputs) would silently
    see the new layer's output instead, so that is refused.
    """
    block = block_of(doc, stmt)
    body: list[cst.CSTNode] = list(block.body)
    readers = 0
    for later in body[body.index(stmt) + 1 :]:
        assign = single_assign(later)
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


class Apply(cst.CSTTransformer):
    def __init__(self, plan: Plan) -> None:
        super().__init__()
        self.plan = plan

    def on_leave(self, original_node: cst.CSTNode, updated_node: cst.CSTNode) -> Any:
        key = id(original_node)
        if key in self.plan.replace:
            return self.plan.replace[key]
        if key in self.plan.list_insert:
            lst = cast(cst.List, updated_node)
            # From the last insertion point back, so the earlier indices still point at their elements.
            for index, values in sorted(self.plan.list_insert[key], key=lambda p: -p[0]):
                lst = _list_with(lst, index, values)
            return lst
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
    closing = lst.rbracket.whitespace_before
    if is_last and isinstance(anchor.comma, cst.Comma) and isinstance(closing, cst.ParenthesizedWhitespace):
        return _after_trailing_comma(lst, index, values, closing)
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


def _after_trailing_comma(
    lst: cst.List, index: int, values: list[cst.BaseExpression], closing: cst.ParenthesizedWhitespace
) -> cst.List:
    """After the last element of a list written one element a line with a trailing comma: the new
    elements go on lines of their own, each with its comma; the line's comment stays on its line."""
    elements = list(lst.elements)
    anchor = elements[index]
    line = cst.ParenthesizedWhitespace(
        first_line=cst.TrailingWhitespace(),
        empty_lines=[],
        indent=closing.indent,
        last_line=_element_indent(lst, index),
    )
    elements[index] = anchor.with_changes(
        comma=cst.Comma(whitespace_after=line.with_changes(first_line=closing.first_line))
    )
    new = [cst.Element(value=v, comma=cst.Comma(whitespace_after=line)) for v in values]
    new[-1] = new[-1].with_changes(comma=cst.Comma())
    rbracket = lst.rbracket.with_changes(
        whitespace_before=closing.with_changes(first_line=cst.TrailingWhitespace())
    )
    return lst.with_changes(elements=[*elements, *new], rbracket=rbracket)


def _element_indent(lst: cst.List, index: int) -> cst.SimpleWhitespace:
    if index == 0:
        ws = lst.lbracket.whitespace_after
    else:
        ws = cast(cst.Comma, lst.elements[index - 1].comma).whitespace_after
    if isinstance(ws, cst.ParenthesizedWhitespace):
        return ws.last_line
    return cst.SimpleWhitespace("")
