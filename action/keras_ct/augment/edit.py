"""Structural edits of Keras model code with libcst: the model changes of ``MODEL_CHANGES``.

``plan_edit`` is pure: source text in, an ``Edit`` (the new source and what changed) out. It reads the
file (``source``), finds the model function's layer sequence (``find``: a ``keras.Sequential([...])``
literal list, ``model.add(...)`` statements, or a functional chain ``x = layers.X(...)(x)`` feeding
``keras.Model``), lets the change (``changes``) plan its insertions, written the way the file spells
Keras (``builder``), and applies them (``plan``). Existing lines are never rewritten, except a trailing
comma added to the neighbouring element and what is the change itself: the units or filters of a
widened layer, the ``kernel_regularizer`` of l2, the input a first functional layer reads after
augment-data.
Anything it cannot edit safely raises ``AugmentError`` naming what it looked for and where
(file:line); it never guesses.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from keras_ct.augment.builder import Builder
from keras_ct.augment.changes import (
    Planned,
    Target,
    augment_data,
    batch_norm,
    conv_block,
    dense,
    dropout,
    l2,
    widen,
)
from keras_ct.augment.find import find_function, find_model
from keras_ct.augment.plan import Apply, Plan
from keras_ct.augment.source import Doc
from keras_ct.config import DEFAULT_MODEL_FUNCTION
from keras_ct.errors import AugmentError

_Planner = Callable[[Target], Planned]
#: Each model change and its planner (the words a rationale uses before an edit is planned are the
#: policy's: ``keras_ct.augment.policy.GENERIC_ACTION``).
_CHANGES: dict[str, _Planner] = {
    "conv-block": conv_block.conv_block,
    "dense": dense.dense,
    "dropout": dropout.dropout,
    "batch-norm": batch_norm.batch_norm,
    "augment-data": augment_data.augment_data,
    "widen": widen.widen,
    "l2": l2.l2,
}
MODEL_CHANGES = tuple(_CHANGES)


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


def plan_edit(
    source: str,
    change: str,
    *,
    model_function: str = DEFAULT_MODEL_FUNCTION,
    path: str = "<model>",
    input_shape: Sequence[int] | None = None,
) -> Edit:
    """Plan ``change`` (one of ``MODEL_CHANGES``) on the model built by ``model_function`` in ``source``.

    ``input_shape`` (without the batch dimension) overrides the shape read from the code (conv-block's
    static feature-map check, augment-data's image check). Raises ``AugmentError`` when the code cannot be edited safely.
    """
    if change not in MODEL_CHANGES:
        raise AugmentError(f"unknown model change {change!r}; expected one of {', '.join(MODEL_CHANGES)}")
    doc = Doc(source, path)
    func = find_function(doc, model_function)
    model = find_model(doc, func)
    builder = Builder(doc)
    plan = Plan()
    planned = _CHANGES[change](Target(doc, func, model, builder, plan, input_shape))
    for key, stmts in builder.import_statements().items():
        plan.after_stmt.setdefault(key, []).extend(stmts)
    new_module = doc.module.visit(Apply(plan))
    return Edit(
        change=change,
        path=path,
        new_source=new_module.code,
        description=planned.description,
        action=planned.action,
        layer_kind=planned.kind,
        line=planned.line,
        style=model.style,
    )
