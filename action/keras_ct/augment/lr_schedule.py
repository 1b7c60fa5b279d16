"""The ``lr-schedule`` change: ReduceLROnPlateau and EarlyStopping in the training script's fit.

Every ``fit(...)`` call of the training script (libcst) gets ``ReduceLROnPlateau(factor=0.5,
patience=2)`` and ``EarlyStopping(patience=4, restore_best_weights=True)``, monitoring ``val_loss``
when the call validates (``validation_data`` / ``validation_split``), else ``loss``. A ``callbacks=[...]``
list gains the two; a ``callbacks=cbs`` expression becomes ``[*cbs, ...]``; a call without callbacks
gets the argument. The classes are spelled from the script's own name for Keras (``keras`` or
``tf.keras``). More epochs then cost little: training stops when the monitored loss stops falling and
keeps the best epoch's weights, and the learning rate halves on a plateau first. The model is
unchanged, so the warm start is too.
"""

from __future__ import annotations

import libcst as cst

from keras_ct.augment.builder import set_kwarg
from keras_ct.augment.edit import Edit
from keras_ct.augment.find import statement_of
from keras_ct.augment.plan import Apply, Plan
from keras_ct.augment.source import Doc, call_arg, canonical_name

CALLBACKS = ("ReduceLROnPlateau", "EarlyStopping")
_ARGS = {
    "ReduceLROnPlateau": "factor=0.5, patience=2",
    "EarlyStopping": "patience=4, restore_best_weights=True",
}


def plan_lr_schedule_edit(source: str, *, path: str = "<train>") -> Edit:
    """Add the two callbacks to every ``fit(...)`` of a training script; ``AugmentError`` when there is
    no fit call, no name for Keras, or the script already uses one of them."""
    doc = Doc(source, path)
    nodes = doc.walk(doc.module)
    fits = [
        n
        for n in nodes
        if isinstance(n, cst.Call) and isinstance(n.func, cst.Attribute) and n.func.attr.value == "fit"
    ]
    if not fits:
        raise doc.error(
            "no fit(...) call found; lr-schedule adds its callbacks to the training script's model.fit(...)"
        )
    used = sorted({n.value for n in nodes if isinstance(n, cst.Name) and n.value in CALLBACKS})
    if used:
        raise doc.error(f"the training script already uses {' and '.join(used)}", fits[0])
    prefix = _keras(doc)
    plan = Plan()
    monitors = []
    for fit in fits:
        validates = any(call_arg(fit, 99, k) is not None for k in ("validation_data", "validation_split"))
        monitor = "val_loss" if validates else "loss"
        monitors.append(monitor)
        plan.replace[id(fit)] = _with_callbacks(
            doc, fit, [_callback(doc, prefix, c, monitor) for c in CALLBACKS]
        )
    line = doc.line(fits[0])
    where = (
        f"fit at line {line}"
        if len(fits) == 1
        else f"{len(fits)} fit calls (lines {', '.join(str(doc.line(f)) for f in fits)})"
    )
    return Edit(
        change="lr-schedule",
        path=path,
        new_source=doc.module.visit(Apply(plan)).code,
        description=f"ReduceLROnPlateau and EarlyStopping on {' / '.join(sorted(set(monitors)))} in {where}",
        action="adding ReduceLROnPlateau and EarlyStopping(restore_best_weights=True) to fit",
        layer_kind="",
        line=line,
    )


def _keras(doc: Doc) -> str:
    """The script's name for Keras: a name bound to keras, else ``<tensorflow>.keras``."""
    for wanted, suffix in (("keras", ""), ("tensorflow", ".keras")):
        for local, bound in doc.bindings.items():
            if canonical_name(bound) == wanted:
                return local + suffix
    raise doc.error(
        "the training script imports neither keras nor tensorflow; lr-schedule spells its callbacks from that import"
    )


def _callback(doc: Doc, prefix: str, cls: str, monitor: str) -> str:
    return f"{prefix}.callbacks.{cls}(monitor={doc.quote}{monitor}{doc.quote}, {_ARGS[cls]})"


def _with_callbacks(doc: Doc, fit: cst.Call, new: list[str]) -> cst.Call:
    """The fit call with the callbacks added, one element a line, indented from the argument's line."""
    arg = call_arg(fit, 99, "callbacks")
    # The new argument's own line: the existing callbacks argument's, else the last argument's when the
    # call spans lines (one argument a line), else the call's.
    last = fit.args[-1] if fit.args else None
    spread = last is not None and doc.line(last) != doc.line(fit)
    anchor = arg if arg is not None else last if spread and last is not None else fit
    lines = doc.code(doc.module).splitlines()
    # libcst writes a line inside brackets after the enclosing block's indentation: indent from there.
    indent = _indent(lines[doc.line(anchor) - 1])[len(_indent(lines[doc.line(statement_of(doc, fit)) - 1])) :]
    if arg is None:
        old: list[str] = []
    elif isinstance(arg.value, cst.List):
        old = [
            doc.code(e.value) if isinstance(e, cst.Element) else f"*{doc.code(e.value)}"
            for e in arg.value.elements
        ]
    else:
        old = [f"*{doc.code(arg.value)}"]
    items = "".join(f"{indent}    {item},\n" for item in [*old, *new])
    value = cst.parse_expression(f"[\n{items}{indent}]")
    if arg is None:
        return set_kwarg(fit, "callbacks", value, last=True)
    return fit.with_changes(args=[a.with_changes(value=value) if a is arg else a for a in fit.args])


def _indent(line: str) -> str:
    return line[: len(line) - len(line.lstrip())]
