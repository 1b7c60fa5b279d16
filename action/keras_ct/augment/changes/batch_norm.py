"""The batch-norm change: BatchNormalization right after each convolution that has none.

Where the activation is a separate layer (``Conv2D(32, 3)``, ``Activation("relu")``) the new layer sits
between the convolution and its activation, as in Ioffe and Szegedy. Where the activation is fused
(``Conv2D(32, 3, activation="relu")``) it goes after the convolution call, so after its activation:
splitting the fused activation out would rewrite the user's line, and normalising the activations
(conv -> ReLU -> BN) trains as well in practice. A convolution already followed by a BatchNormalization
(through dropout and activation layers) is left as it is.
"""

from __future__ import annotations

from typing import cast

import libcst as cst

from keras_ct.augment.changes import Planned, Target
from keras_ct.augment.find import Slot
from keras_ct.augment.layers import CONV, NEUTRAL
from keras_ct.augment.plan import insert_after
from keras_ct.augment.source import Doc, Spelling, call_arg, evaluate

NORMALISATIONS = {"BatchNormalization", "LayerNormalization", "GroupNormalization"}


def batch_norm(target: Target) -> Planned:
    doc, func, model, builder, plan = target.doc, target.func, target.model, target.builder, target.plan
    slots = model.slots
    convs = [i for i, s in enumerate(slots) if s.kind in CONV]
    if not convs:
        raise doc.error(f"batch-norm needs a convolution layer (Conv1D/Conv2D) in {func.name.value}()", func)
    bare = [i for i in convs if not _normalised(slots, i)]
    if not bare:
        raise doc.error(
            f"every convolution in {func.name.value}() is already followed by a normalisation layer", func
        )
    names = []
    for i in bare:
        call = builder.call(cast(Spelling, slots[i].spelling), "BatchNormalization")
        insert_after(doc, plan, slots[i], [call])
        names.append(
            f"{_layer_text(doc, func, slots[i])}{' (after its activation)' if _fused(slots[i]) else ''}"
        )
    description = f"BatchNormalization after {_join(names)}"
    return Planned(description, f"adding {description}", slots[bare[0]].line, "BatchNormalization")


def _normalised(slots: list[Slot], index: int) -> bool:
    follower = index + 1
    while follower < len(slots) and slots[follower].kind in NEUTRAL:
        if slots[follower].kind in NORMALISATIONS:
            return True
        follower += 1
    return False


def _fused(slot: Slot) -> bool:
    """The convolution applies its own activation (``activation=`` other than None or "linear")."""
    arg = call_arg(cast(cst.Call, slot.call), 99, "activation")
    if arg is None or (isinstance(arg.value, cst.Name) and arg.value.value == "None"):
        return False
    return not (isinstance(arg.value, cst.SimpleString) and arg.value.evaluated_value == "linear")


def _layer_text(doc: Doc, func: cst.FunctionDef, slot: Slot) -> str:
    first = call_arg(cast(cst.Call, slot.call), 0, "filters")
    value = evaluate(doc, func, first.value) if first is not None else None
    return f"{slot.kind}({value})" if isinstance(value, int) else slot.kind


def _join(names: list[str]) -> str:
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"
