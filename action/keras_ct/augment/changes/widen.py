"""The widen change: twice the filters of the last convolution, else twice the units of the last hidden
Dense. Only that number changes. Warm start: Net2WiderNet (``keras_ct.keras.warmstart`` rule 3): the
old filters/units keep their weights, and the consumer starts with zero rows for the new ones (rule 3b
for a Flatten + Dense head), so the widened model computes what the old one did.
"""

from __future__ import annotations

from keras_ct.augment.builder import int_arg, owned
from keras_ct.augment.changes import Planned, Target
from keras_ct.augment.find import Slot
from keras_ct.augment.layers import CONV
from keras_ct.augment.plan import Plan
from keras_ct.augment.source import Doc


def widen(target: Target) -> Planned:
    doc, func, model, plan = target.doc, target.func, target.model, target.plan
    slots = model.slots
    convs = [s for s in slots if s.kind in CONV]
    denses = [s for s in slots if s.kind == "Dense"][:-1]  # the last Dense is the output
    if convs:
        slot, what = convs[-1], "filters"
    elif denses:
        slot, what = denses[-1], "units"
    else:
        raise doc.error(
            f"widen needs a convolution or a hidden Dense layer in {func.name.value}(), found neither; "
            "the output Dense keeps its units (one per class)",
            func,
        )
    return doubled(doc, plan, slot, what, "last")


def doubled(doc: Doc, plan: Plan, slot: Slot, what: str, which: str) -> Planned:
    """Twice the ``what`` (filters or units, the first argument) of ``slot``: that one number changes."""
    integer, old = int_arg(doc, slot, 0, what, what)
    owned(doc, slot, integer)
    new = old * 2
    plan.replace[id(integer)] = integer.with_changes(value=str(new))
    return Planned(
        f"{slot.kind}({old}) widened to {slot.kind}({new})",
        f"widening the {which} {slot.kind}({old}) to {new} {what}",
        slot.line,
        slot.kind,
    )
