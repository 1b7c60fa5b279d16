"""The model changes, one module each: conv_block, dense, dropout, batch_norm, augment_data, widen, l2.

Each module has ``DESCRIPTION`` (the gerund phrase a rationale uses before the edit knows its exact
words: "adding BatchNormalization after each convolution") and a planner that takes the parsed file,
the model function, the model found in it, the builder, the plan and the input shape (``None`` unless
given), adds its insertions to the plan and returns a ``Planned``.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Planned:
    """What a planner did: the noun phrase for reports, the gerund phrase for rationales, the line of
    the layer the change is anchored to and the class of the layer it adds or changes ("" for several)."""

    description: str
    action: str
    line: int
    kind: str
