"""The widen change: twice the filters of the last convolution, else twice the units of the last hidden
Dense. Only that number changes. Warm start: Net2WiderNet (``keras_ct.keras.warmstart`` rule 3): the
old filters/units keep their weights, and the consumer starts with zero rows for the new ones (rule 3b
for a Flatten + Dense head), so the widened model computes what the old one did.
"""

from __future__ import annotations

from collections.abc import Sequence

import libcst as cst

from keras_ct.augment.builder import Builder, int_arg
from keras_ct.augment.changes import Planned
from keras_ct.augment.find import Model
from keras_ct.augment.layers import CONV
from keras_ct.augment.plan import Plan
from keras_ct.augment.source import Doc

DESCRIPTION = "widening a layer"


def widen(
    doc: Doc,
    func: cst.FunctionDef,
    model: Model,
    builder: Builder,
    plan: Plan,
    input_shape: Sequence[int] | None = None,
) -> Planned:
    slots = model.slots
    convs = [s for s in slots if s.kind in CONV]
    denses = [s for s in slots if s.kind == "Dense"][:-1]  # the last Dense is the output
    if convs:
        slot, what, keyword = convs[-1], "filters", "filters"
    elif denses:
        slot, what, keyword = denses[-1], "units", "units"
    else:
        raise doc.error(
            f"widen needs a convolution or a hidden Dense layer in {func.name.value}(), found neither; "
            "the output Dense keeps its units (one per class)",
            func,
        )
    integer, old = int_arg(doc, slot, 0, keyword, what)
    new = old * 2
    plan.replace[id(integer)] = integer.with_changes(value=str(new))
    return Planned(
        f"{slot.kind}({old}) widened to {slot.kind}({new})",
        f"widening the last {slot.kind}({old}) to {new} {what}",
        slot.line,
        slot.kind,
    )
