"""The dense change: a hidden Dense layer before the output Dense, or a wider hidden one."""

from __future__ import annotations

from typing import cast

import libcst as cst

from keras_ct.augment.changes import Planned, Target
from keras_ct.augment.changes.widen import doubled
from keras_ct.augment.layers import NEUTRAL
from keras_ct.augment.plan import insert_after
from keras_ct.augment.source import Spelling, call_arg, evaluate


def dense(target: Target) -> Planned:
    doc, func, model, builder, plan = target.doc, target.func, target.model, target.builder, target.plan
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
        return doubled(doc, plan, slots[hidden], "units", "hidden")
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
