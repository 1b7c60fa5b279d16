"""The dense change: a hidden Dense layer before the output Dense, or a wider hidden one."""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

import libcst as cst

from keras_ct.augment.builder import Builder, int_arg
from keras_ct.augment.changes import Planned
from keras_ct.augment.find import Model
from keras_ct.augment.layers import NEUTRAL
from keras_ct.augment.plan import Plan, insert_after
from keras_ct.augment.source import Doc, Spelling, call_arg, evaluate

DESCRIPTION = "adding a hidden Dense layer"


def dense(
    doc: Doc,
    func: cst.FunctionDef,
    model: Model,
    builder: Builder,
    plan: Plan,
    input_shape: Sequence[int] | None = None,
) -> Planned:
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
    while hidden >= 0 and slots[hidden].kind in NEUTRAL:
        hidden -= 1
    if hidden >= 0 and slots[hidden].kind == "Dense":
        slot = slots[hidden]
        integer, units = int_arg(doc, slot, 0, "units", "units")
        wider = units * 2
        plan.replace[id(integer)] = integer.with_changes(value=str(wider))
        return Planned(
            f"Dense({units}) widened to Dense({wider})",
            f"widening the hidden Dense({units}) to {wider} units",
            slot.line,
            "Dense",
        )
    if out == 0:
        raise doc.error(f"the output Dense at {doc.path}:{slots[out].line} has no layer before it", func)
    out_arg = call_arg(cast(cst.Call, slots[out].call), 0, "units")
    out_units = evaluate(doc, func, out_arg.value) if out_arg is not None else None
    units = 64
    if isinstance(out_units, int) and out_units * 4 > units:
        units = min(1024, 1 << (out_units * 4 - 1).bit_length())
    spelling = cast(Spelling, slots[out].spelling)
    call = builder.call(spelling, "Dense", f"{units}, activation={builder.string('relu')}")
    insert_after(doc, plan, slots[out - 1], [call])
    return Planned(
        f"a hidden Dense({units}) layer", f"adding a hidden Dense({units}) layer", slots[out].line, "Dense"
    )
