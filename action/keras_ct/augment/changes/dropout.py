"""The dropout change: a Dropout after the last pooling, Flatten or hidden Dense not followed by one."""

from __future__ import annotations

from typing import cast

import libcst as cst

from keras_ct.augment.changes import Planned, Target
from keras_ct.augment.layers import DROPOUT, GLOBAL_POOL, NEUTRAL, POOL
from keras_ct.augment.plan import insert_after
from keras_ct.augment.source import Spelling, call_arg, evaluate


def dropout(target: Target) -> Planned:
    doc, func, model, builder, plan = target.doc, target.func, target.model, target.builder, target.plan
    slots = model.slots
    denses = [i for i, s in enumerate(slots) if s.kind == "Dense"]
    output = denses[-1] if denses else None
    points = [
        i
        for i, s in enumerate(slots)
        if s.kind in POOL
        or s.kind in GLOBAL_POOL
        or s.kind == "Flatten"
        or (s.kind == "Dense" and i != output)
    ]
    if not points:
        raise doc.error(
            f"dropout goes after a pooling, Flatten or hidden Dense layer; {func.name.value}() has none", func
        )
    for i in reversed(points):
        follower = i + 1
        while follower < len(slots) and slots[follower].kind in NEUTRAL - DROPOUT:
            follower += 1
        if follower < len(slots) and slots[follower].kind in DROPOUT:
            continue
        rate = "0.25" if slots[i].kind in POOL else "0.5"
        call = builder.call(cast(Spelling, slots[i].spelling), "Dropout", rate)
        insert_after(doc, plan, slots[i], [call])
        where = slots[i].kind
        if where == "Dense":
            units = call_arg(cast(cst.Call, slots[i].call), 0, "units")
            value = evaluate(doc, func, units.value) if units is not None else None
            where = f"the hidden Dense({value})" if isinstance(value, int) else "the hidden Dense"
        return Planned(
            f"Dropout({rate}) after {where}",
            f"adding Dropout({rate}) after {where}",
            slots[i].line,
            "Dropout",
        )
    raise doc.error(
        f"every pooling, Flatten and hidden Dense layer in {func.name.value}() "
        "is already followed by Dropout",
        func,
    )
