"""The model changes, one module each: conv_block, dense, dropout, batch_norm, augment_data, widen, l2.

Each module has a planner that takes the ``Target``, adds its insertions to the plan and returns a
``Planned`` (with the edit's exact words).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import libcst as cst

from keras_ct.augment.builder import Builder
from keras_ct.augment.find import Model
from keras_ct.augment.plan import Plan
from keras_ct.augment.source import Doc


@dataclass(frozen=True)
class Target:
    """What a change plans on: the parsed file, the model function, the model found in it, the builder
    of new calls, the plan the edits go into and the input shape (``None`` unless given)."""

    doc: Doc
    func: cst.FunctionDef
    model: Model
    builder: Builder
    plan: Plan
    input_shape: Sequence[int] | None = None


@dataclass(frozen=True)
class Planned:
    """What a planner did: the noun phrase for reports, the gerund phrase for rationales, the line of
    the layer the change is anchored to and the class of the layer it adds or changes ("" for several)."""

    description: str
    action: str
    line: int
    kind: str
