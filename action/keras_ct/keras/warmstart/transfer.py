"""``transfer_weights``: the rules of the package docstring applied to every weighted layer, in order."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from keras_ct.keras.warmstart.graph import CONV, flat_layers, flatten_before, kind, shapes, weighted
from keras_ct.keras.warmstart.pooled import Results, flatten_changed, pooled_from, pooled_or_copied
from keras_ct.keras.warmstart.report import (
    COPIED,
    IDENTITY,
    NEW,
    POOLED,
    WIDENED,
    LayerTransfer,
    TransferReport,
    entry,
)
from keras_ct.keras.warmstart.rules import (
    align_by_position,
    batch_norm_identity,
    consumer_through,
    fed_by_widened,
    identity,
    widened,
)


def _detail(old: Any, new: Any) -> str:
    return "same name" if old.name == new.name else "same position and shapes"


@dataclass
class _Transfer:
    """One transfer's state: which old layer each new one copies, which old ones are taken, and the
    outcome so far (rule 3b reads the outcome of the layers before the head)."""

    old_layers: list[Any]
    new_all: list[Any]
    old_by_name: dict[str, Any]
    source: dict[int, Any] = field(default_factory=dict)  # id(new layer) -> old layer (rules 1-2)
    used: set[int] = field(default_factory=set)  # id(old layer) already given to a new one
    results: Results = field(default_factory=dict)
    widened_extra: dict[int, int] = field(default_factory=dict)  # id(new consumer) -> extra inputs

    def match(self, new_layers: list[Any]) -> None:
        """Rules 1-2: by name (same class and shapes), then by position among the layers left."""
        for layer in new_layers:
            old = self.old_by_name.get(layer.name)
            if old is not None and type(old) is type(layer) and shapes(old) == shapes(layer):
                self.source[id(layer)] = old
                self.used.add(id(old))
        positional = align_by_position(
            [o for o in self.old_layers if id(o) not in self.used],
            [n for n in new_layers if id(n) not in self.source],
        )
        for layer in new_layers:
            if id(layer) in positional:
                self.source[id(layer)] = positional[id(layer)]
                self.used.add(id(positional[id(layer)]))

    def copy_or_widen(self, layer: Any) -> None:
        """The first pass: copy what rules 1-2 matched (unless its Flatten input changed: rule 3b
        decides in the second pass), and widen a layer of an old name whose units grew (rule 3)."""
        old = self.source.get(id(layer))
        if old is not None:
            if not flatten_changed(old, layer):
                layer.set_weights(old.get_weights())
                self.results[id(layer)] = entry(layer, COPIED, old.name, _detail(old, layer))
            return
        old = self.old_by_name.get(layer.name)
        if old is None or id(old) in self.used or type(old) is not type(layer):
            return
        weights = widened(old, layer)
        if weights is None:
            return
        units = old.get_weights()[0].shape[-1]
        consumer = consumer_through(self.new_all, layer)
        if consumer is not None and kind(consumer) == "Dense":
            self.widened_extra[id(consumer)] = weights[0].shape[-1] - units
        layer.set_weights(weights)
        self.used.add(id(old))
        self.results[id(layer)] = entry(layer, WIDENED, old.name, f"{units} -> {weights[0].shape[-1]} units")

    def settle(self, layer: Any) -> LayerTransfer:
        """The second pass, for a layer the first left open: rule 3b for a copied head, the zero rows
        of a widened layer's consumer (rule 3), rule 3b for a head, the identity (rule 4), or new."""
        if id(layer) in self.source:
            return pooled_or_copied(self.source[id(layer)], layer, self.results)
        fed = self._fed_by_widened(layer)
        if fed is not None:
            return fed
        not_pooled = ""
        if kind(layer) == "Dense" and flatten_before(layer) is not None:
            heads = [
                o
                for o in self.old_layers
                if id(o) not in self.used and type(o) is type(layer) and flatten_before(o) is not None
            ]
            pooled = pooled_from(heads, layer, self.results)
            if not isinstance(pooled, str):
                old, weights, detail = pooled
                layer.set_weights(weights)
                self.used.add(id(old))
                return entry(layer, POOLED, old.name, detail)
            not_pooled = f"not pooled: {pooled}"
        initial, why = identity(layer) if kind(layer) in ("Dense", *CONV) else (None, "")
        if kind(layer) == "BatchNormalization":
            initial, why = batch_norm_identity(layer)
        if initial is not None:
            layer.set_weights(initial)
            return entry(layer, IDENTITY, "", why)
        return entry(layer, NEW, "", "; ".join(d for d in (not_pooled, why) if d) or "no match")

    def _fed_by_widened(self, layer: Any) -> LayerTransfer | None:
        """The consumer of a widened layer: the first unused old layer of its class whose rows fit."""
        extra = self.widened_extra.get(id(layer))
        if extra is None:
            return None
        for old in self.old_layers:
            if id(old) in self.used or type(old) is not type(layer):
                continue
            weights = fed_by_widened(old, layer, extra)
            if weights is not None:
                layer.set_weights(weights)
                self.used.add(id(old))
                return entry(layer, WIDENED, old.name, f"zero rows for {extra} new inputs")
        return None


def transfer_weights(old_model: Any, new_model: Any) -> TransferReport:
    """Copy ``old_model``'s weights into ``new_model`` where layers match; identity-init new layers.

    Both models must be built. ``old_model`` is never modified. See the package docstring for the rule.
    """
    old_layers = weighted(old_model)
    new_all = flat_layers(new_model)
    new_layers = [layer for layer in new_all if layer.weights]
    transfer = _Transfer(old_layers, new_all, {layer.name: layer for layer in old_layers})
    transfer.match(new_layers)
    for layer in new_layers:
        transfer.copy_or_widen(layer)
    for layer in new_layers:
        if id(layer) not in transfer.results:
            transfer.results[id(layer)] = transfer.settle(layer)
    return TransferReport(tuple(transfer.results[id(layer)] for layer in new_layers))
