"""The augment-data change: random shifts, zooms and rotations right after the input of an image model.

Only transformations that keep the label of any image class are used, and kept small: a shift of up to
10% of the height and width, a zoom of up to 10% and a rotation of up to 0.05 of a turn (18 degrees).
No flips: for digits and letters the orientation carries the label (a mirrored 2 is no 2, a 6 upside
down is a 9). Keras' Random* layers transform only in training (``training=True``); at inference they
pass the input through unchanged, so evaluation and the saved model see the images as they are.
"""

from __future__ import annotations

import libcst as cst

from keras_ct.augment.changes import Planned, Target
from keras_ct.augment.find import Slot
from keras_ct.augment.layers import INPUT
from keras_ct.augment.plan import Plan, insert_after
from keras_ct.augment.source import Doc, single_assign

#: The layers and their arguments, in order (the spelling of each class follows the file's).
AUGMENTATIONS = (("RandomTranslation", "0.1, 0.1"), ("RandomZoom", "0.1"), ("RandomRotation", "0.05"))
_RANDOM = {"RandomFlip", "RandomRotation", "RandomZoom", "RandomTranslation", "RandomCrop"}


def augment_data(target: Target) -> Planned:
    doc, func, model, builder, plan = target.doc, target.func, target.model, target.builder, target.plan
    slots = model.slots
    if not slots or slots[0].kind not in INPUT:
        raise doc.error(
            f"augment-data goes right after the keras.Input(...) of {func.name.value}(), which declares "
            "its input another way; start the model with keras.Input(shape=...)",
            func,
        )
    shape = tuple(target.input_shape) if target.input_shape else model.input_shape
    if shape is None or len(shape) != 3:
        got = "an unknown shape" if shape is None else f"shape {shape}"
        raise doc.error(
            f"augment-data is for image inputs (height, width, channels); the input has {got}", slots[0].call
        )
    present = sorted({s.kind for s in slots} & _RANDOM)
    if present:
        raise doc.error(f"the model already augments its input ({', '.join(present)})", func)
    spelling = next(s.spelling for s in slots if s.kind not in INPUT and s.spelling is not None)
    calls = [builder.call(spelling, cls, args) for cls, args in AUGMENTATIONS]
    if model.style == "functional":
        _rewire(doc, func, plan, slots, calls)
    else:
        insert_after(doc, plan, slots[0], calls)
    description = (
        "random shifts (10%), zooms (10%) and rotations (18 degrees) of the input images, no flips "
        "(the orientation of a digit carries its label)"
    )
    return Planned(description, f"adding {description}", slots[0].line, "RandomTranslation")


def _rewire(doc: Doc, func: cst.FunctionDef, plan: Plan, slots: list[Slot], calls: list[cst.Call]) -> None:
    """``augmented = Random...(inputs)`` after the Input, and the first layer reads ``augmented``."""
    taken = {n.value for n in doc.walk(func) if isinstance(n, cst.Name)}
    name = next(n for n in ("augmented", *(f"augmented_{i}" for i in range(1, 100))) if n not in taken)
    source = slots[0].var
    statements: list[cst.BaseStatement] = []
    for call in calls:
        code = f"{name} = {doc.code(call)}({source})\n"
        statements.append(cst.parse_statement(code))
        source = name
    plan.after_stmt.setdefault(id(slots[0].container), []).extend(statements)
    found = single_assign(slots[1].container)
    assert found is not None and isinstance(found[1], cst.Call)
    reader = found[1].args[0].value
    plan.replace[id(reader)] = cst.Name(name)
