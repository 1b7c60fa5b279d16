"""The l2 change: L2 weight decay, ``kernel_regularizer=keras.regularizers.L2(1e-4)``, on the kernel of
every Conv and Dense layer that has no regularizer, spelled the way the file spells Keras.

The argument is added at the end of each call (the one edit of an existing line). Warm start: the
weights keep their shapes, so every one transfers exactly; only the loss the optimiser sees changes.
"""

from __future__ import annotations

from typing import cast

import libcst as cst

from keras_ct.augment.builder import set_kwarg
from keras_ct.augment.changes import Planned, Target
from keras_ct.augment.find import Slot
from keras_ct.augment.layers import CONV
from keras_ct.augment.plan import Plan
from keras_ct.augment.source import Doc, call_arg, canonical_name, dotted_name

FACTOR = "1e-4"


def l2(target: Target) -> Planned:
    doc, func, model, plan = target.doc, target.func, target.model, target.plan
    weighted = [s for s in model.slots if s.kind in CONV or s.kind == "Dense"]
    bare = [s for s in weighted if call_arg(cast(cst.Call, s.call), 99, "kernel_regularizer") is None]
    if not bare:
        found = "no Conv or Dense layer" if not weighted else "a kernel_regularizer on every Conv and Dense"
        raise doc.error(
            f"l2 needs a Conv or Dense layer without a kernel_regularizer; {func.name.value}() has {found}",
            func,
        )
    regularizer = _regularizer(doc, plan, bare[0])
    for slot in bare:
        call = cast(cst.Call, slot.call)
        plan.replace[id(call)] = set_kwarg(call, "kernel_regularizer", regularizer.deep_clone(), last=True)
    count = f"{len(bare)} layer{'s' if len(bare) > 1 else ''}"
    description = f"L2({FACTOR}) weight decay on the kernels of {count}"
    return Planned(description, f"adding {description}", bare[0].line, "")


def _regularizer(doc: Doc, plan: Plan, slot: Slot) -> cst.BaseExpression:
    """``<keras>.regularizers.L2(1e-4)`` with the file's name for Keras, importing ``regularizers`` from
    the module the layers come from when the file binds no name for Keras itself."""
    func = cast(cst.Call, slot.call).func
    text = f"regularizers.L2({FACTOR})"
    prefix = func.value if isinstance(func, cst.Attribute) else None
    if (
        isinstance(prefix, cst.Attribute) and prefix.attr.value == "layers"
    ):  # keras.layers.X, tf.keras.layers.X
        return cst.parse_expression(f"{doc.code(prefix.value)}.{text}")
    for local, bound in doc.bindings.items():
        if canonical_name(bound) == "keras":
            return cst.parse_expression(f"{local}.{text}")
    bound_regularizers = doc.bindings.get("regularizers")
    if bound_regularizers is not None:
        if canonical_name(bound_regularizers) != "keras.regularizers":
            raise doc.error(f"the name regularizers is bound to {bound_regularizers}, not keras.regularizers")
        return cst.parse_expression(text)
    head = dotted_name(func.value) if isinstance(func, cst.Attribute) else cast(cst.Name, func).value
    return _imported(doc, plan, head.split(".")[0], text)


def _imported(doc: Doc, plan: Plan, name: str, text: str) -> cst.BaseExpression:
    """``from <keras root> import regularizers`` after the import that binds ``name``."""
    for node in doc.walk(doc.module):
        if isinstance(node, (cst.Import, cst.ImportFrom)) and not isinstance(node.names, cst.ImportStar):
            locals_ = [
                dotted_name(cast(cst.Name, a.asname.name)) if a.asname else dotted_name(a.name).split(".")[0]
                for a in node.names
            ]
            if name in locals_:
                root = doc.bindings[name].rsplit(".layers", 1)[0]
                if root == doc.bindings[name]:
                    root = root.rsplit(".", 1)[0]
                stmt = doc.parents[node]
                line = cst.parse_statement(f"from {root} import regularizers\n")
                plan.after_stmt.setdefault(id(stmt), []).append(line)
                return cst.parse_expression(text)
    raise doc.error(f"cannot tell where {name} comes from to import keras.regularizers beside it")
