"""The conv-block change: another convolution block after the last one, with twice the filters.

The new convolution is a copy of the last one (``padding="same"``, double the filters), followed by
copies of the layers of its block (normalisation, activation), a pooling layer when the feature map
still allows one (followed statically where the input shape is known), and the block's dropout.
"""

from __future__ import annotations

from typing import cast

import libcst as cst

from keras_ct.augment.builder import Builder, int_arg, set_kwarg
from keras_ct.augment.changes import Planned, Target
from keras_ct.augment.find import Slot
from keras_ct.augment.layers import BLOCK_TAIL, CONV, DROPOUT, POOL
from keras_ct.augment.plan import insert_after
from keras_ct.augment.shapes import apply_window, layer_window, spatial_after
from keras_ct.augment.source import Doc, Spelling, call_arg
from keras_ct.errors import AugmentError


def conv_block(target: Target) -> Planned:
    doc, func, model, builder, plan = target.doc, target.func, target.model, target.builder, target.plan
    slots = model.slots
    convs = [i for i, s in enumerate(slots) if s.kind in CONV]
    if not convs:
        raise _no_convolution(doc, func, slots)
    last = convs[-1]
    end = last
    while end + 1 < len(slots) and slots[end + 1].kind in BLOCK_TAIL:
        end += 1
    conv_slot = slots[last]
    tail = slots[last + 1 : end + 1]
    conv, new_filters = _doubled_conv(doc, builder, conv_slot)

    first_pool = next((i for i, s in enumerate(tail) if s.kind in POOL), len(tail))
    before_pool = [s for s in tail[:first_pool] if s.kind not in DROPOUT]
    dropouts = [s for s in tail if s.kind in DROPOUT]
    block: list[cst.Call] = [conv]
    block.extend(builder.clone(s) for s in before_pool)
    # Does a pooling layer still fit? Follow the spatial size statically where the input shape is known.
    dims = spatial_after(doc, func, model, end, target.input_shape)
    pool_call, pool_name, pool_note = _pooling(doc, func, builder, conv_slot, conv, tail, dims)
    if pool_call is not None:
        block.append(pool_call)
    block.extend(builder.clone(s) for s in dropouts)
    insert_after(doc, plan, slots[end], block)
    conv_text = f"{conv_slot.kind}({new_filters})"
    description = (
        f"a {conv_text} + {pool_name} block" if pool_call is not None else f"a {conv_text} block{pool_note}"
    )
    return Planned(description, f"adding {description}", slots[end].line, conv_slot.kind)


def _no_convolution(doc: Doc, func: cst.FunctionDef, slots: list[Slot]) -> AugmentError:
    found = ", ".join(s.kind for s in slots if s.kind != "?") or "no Keras layers"
    unknown = sum(s.kind == "?" for s in slots)
    if unknown:
        found += f" and {unknown} call{'s' if unknown > 1 else ''} it does not recognise (custom blocks?)"
    return doc.error(
        f"conv-block needs a convolution layer (Conv1D/Conv2D) in {func.name.value}(), found {found}; "
        "use the dense change for a model without convolutions",
        func,
    )


def _doubled_conv(doc: Doc, builder: Builder, conv_slot: Slot) -> tuple[cst.Call, int]:
    """A copy of the convolution with ``padding="same"`` and twice its (literal) filters."""
    integer, filters = int_arg(doc, conv_slot, 0, "filters", "filters")
    new_filters = filters * 2
    conv = builder.clone(conv_slot)
    conv = set_kwarg(conv, "padding", cst.SimpleString(builder.string("same")))
    first = call_arg(conv, 0, "filters")
    assert first is not None
    args = [
        a if a is not first else a.with_changes(value=integer.with_changes(value=str(new_filters)))
        for a in conv.args
    ]
    return conv.with_changes(args=args), new_filters


def _pooling(
    doc: Doc,
    func: cst.FunctionDef,
    builder: Builder,
    conv_slot: Slot,
    conv: cst.Call,
    tail: list[Slot],
    dims: tuple[int, ...] | None,
) -> tuple[cst.Call | None, str, str]:
    """The block's pooling call (a copy of the block's last one, else MaxPooling), its class and a note;
    no call when the feature map after the new convolution (``dims`` before it) would shrink below 2."""
    rank = CONV[conv_slot.kind]
    pool_slots = [s for s in tail if s.kind in POOL]
    if pool_slots:
        pool_call = builder.clone(pool_slots[-1])
        pool_name = pool_slots[-1].kind
    else:
        pool_name = f"MaxPooling{rank}D"
        pool_call = builder.call(cast(Spelling, conv_slot.spelling), pool_name)
    if dims is None:
        return pool_call, pool_name, ""
    conv_window = layer_window(
        doc, func, Slot(kind=conv_slot.kind, call=conv, line=0, style="", container=conv), rank
    )
    pool_window = layer_window(
        doc, func, Slot(kind=pool_name, call=pool_call, line=0, style="", container=conv), rank
    )
    after_conv = apply_window(dims, conv_window) if conv_window else None
    if after_conv is not None and pool_window is not None:
        pooled = apply_window(after_conv, pool_window)
        if min(pooled) < 2:
            note = (
                f" (no pooling: the {'x'.join(map(str, after_conv))} feature map would shrink to "
                f"{'x'.join(map(str, pooled))})"
            )
            return None, pool_name, note
    return pool_call, pool_name, ""
