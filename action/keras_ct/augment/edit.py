"""Structural edits of Keras model code with libcst: add a conv block, a hidden Dense, a Dropout.

``plan_edit`` is pure: source text in, an ``Edit`` (the new source and what changed) out. It reads the
file (``source``), finds the model function's layer sequence (``find``: a ``keras.Sequential([...])``
literal list, ``model.add(...)`` statements, or a functional chain ``x = layers.X(...)(x)`` feeding
``keras.Model``), lets the change (``changes``) plan its insertions, written the way the file spells
Keras (``builder``), and applies them (``plan``). Existing lines are never rewritten, except a trailing
comma added to the neighbouring element (and the units of a widened Dense, which is the change itself).
Anything it cannot edit safely raises ``AugmentError`` naming what it looked for and where
(file:line); it never guesses.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import libcst as cst

from keras_ct.augment.builder import Builder
from keras_ct.augment.changes.conv_block import conv_block
from keras_ct.augment.changes.dense import dense
from keras_ct.augment.changes.dropout import dropout
from keras_ct.augment.find import Model, find_function, find_model
from keras_ct.augment.layers import CONV
from keras_ct.augment.plan import Apply, Plan
from keras_ct.augment.source import Doc
from keras_ct.config import DEFAULT_MODEL_FUNCTION
from keras_ct.errors import AugmentError

MODEL_CHANGES = ("conv-block", "dense", "dropout")


@dataclass(frozen=True)
class Edit:
    """A planned change of one file: the new source and words for reports.

    ``description`` is a noun phrase ("a Conv2D(64) + MaxPooling2D block"), ``action`` the gerund phrase
    used in rationales ("adding a Conv2D(64) + MaxPooling2D block"); ``line`` is the line of the layer
    the change is anchored to; ``style`` is how the model is written (sequential, add, functional).
    """

    change: str
    path: str
    new_source: str
    description: str
    action: str
    layer_kind: str
    line: int
    style: str = ""


_Planner = Callable[[Doc, cst.FunctionDef, Model, Builder, Plan], tuple[str, str, int]]
_PLANNERS: dict[str, _Planner] = {"dense": dense, "dropout": dropout}


def plan_edit(
    source: str,
    change: str,
    *,
    model_function: str = DEFAULT_MODEL_FUNCTION,
    path: str = "<model>",
    input_shape: Sequence[int] | None = None,
) -> Edit:
    """Plan ``change`` (conv-block, dense, dropout) on the model built by ``model_function`` in ``source``.

    ``input_shape`` (without the batch dimension) overrides the shape read from the code for the static
    feature-map check of conv-block. Raises ``AugmentError`` when the code cannot be edited safely.
    """
    if change not in MODEL_CHANGES:
        raise AugmentError(f"unknown model change {change!r}; expected one of {', '.join(MODEL_CHANGES)}")
    doc = Doc(source, path)
    func = find_function(doc, model_function)
    model = find_model(doc, func)
    builder = Builder(doc)
    plan = Plan()
    if change == "conv-block":
        description, action, line = conv_block(doc, func, model, builder, plan, input_shape)
        kind = next(s.kind for s in reversed(model.slots) if s.kind in CONV)
    else:
        description, action, line = _PLANNERS[change](doc, func, model, builder, plan)
        kind = "Dense" if change == "dense" else "Dropout"
    for key, stmts in builder.import_statements().items():
        plan.after_stmt.setdefault(key, []).extend(stmts)
    new_module = doc.module.visit(Apply(plan))
    return Edit(
        change=change,
        path=path,
        new_source=new_module.code,
        description=description,
        action=action,
        layer_kind=kind,
        line=line,
        style=model.style,
    )
