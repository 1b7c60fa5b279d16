"""What ``transfer_weights`` did to each weighted layer of the new model, and its summaries."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

#: How a new layer got its weights.
COPIED, WIDENED, IDENTITY, POOLED, NEW = "copied", "widened", "identity", "pooled", "new"


@dataclass(frozen=True)
class LayerTransfer:
    """What happened to one weighted layer of the new model."""

    layer: str
    kind: str
    how: str  # copied | widened | identity | pooled | new
    source: str = ""  # the old layer it came from (copied, widened, pooled)
    detail: str = ""


def entry(layer: Any, how: str, source: str = "", detail: str = "") -> LayerTransfer:
    """The ``LayerTransfer`` of the Keras layer ``layer`` (its name and class)."""
    return LayerTransfer(layer.name, type(layer).__name__, how, source, detail)


@dataclass(frozen=True)
class TransferReport:
    """The outcome of ``transfer_weights``: one entry per weighted layer of the new model, in order."""

    layers: tuple[LayerTransfer, ...]

    def named(self, how: str) -> tuple[str, ...]:
        return tuple(t.layer for t in self.layers if t.how == how)

    @property
    def layers_transferred(self) -> int:
        """Layers that start from old weights (copied, widened or pooled)."""
        return sum(t.how in (COPIED, WIDENED, POOLED) for t in self.layers)

    def summary(self) -> str:
        parts = [f"{self.layers_transferred} of {len(self.layers)} weighted layers from the previous round"]
        for how in (WIDENED, POOLED, IDENTITY, NEW):
            names = self.named(how)
            if names:
                parts.append(f"{how}: {', '.join(names)}")
        return "; ".join(parts)

    def to_json(self) -> dict[str, Any]:
        return {
            "layers_transferred": self.layers_transferred,
            "layers_identity": len(self.named(IDENTITY)),
            "layers_new": len(self.named(NEW)),
            "layers": {t.layer: t.how + (f" <- {t.source}" if t.source else "") for t in self.layers},
        }
