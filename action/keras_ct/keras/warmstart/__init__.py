"""Warm start: begin round n+1 from round n's trained weights wherever the layers still fit.

``transfer_weights(old_model, new_model)`` copies weights from the previous round's model into the
freshly built (augmented) one and initialises the layers the augmentation added close to the
identity, so the new model starts where the old one stopped instead of from random weights. The old
model is only read (``get_weights`` returns copies); it is never changed.

Matching rule, for every layer of the new model that has weights, in this order:

1. **By name**: an old layer with the same name and class whose weight shapes are all equal is
   copied. (A name match with other shapes is not used: after an insertion Keras' automatic names
   ``dense``, ``dense_1``... may point at a different layer.)
2. **By position**: the remaining new layers of each class are aligned, in model order, with the
   remaining old layers of that class; the next old layer with equal weight shapes is copied. This
   finds the output ``Dense`` that became ``dense_2`` when a hidden ``Dense`` was inserted before it.
   Equal shapes are trusted: an old layer whose shapes equal a new one's by coincidence (a hidden
   layer exactly as wide as the flattened input before it) is copied too. For two layers that both
   read a ``Flatten`` whose input changed shape (a (48, 8) map that became (24, 16) flattens to as
   many features, but other ones) rule 3b is tried first; the copy is what remains when it does not
   apply, and its detail says so.
3. **Widened** (Net2WiderNet, function-preserving): a ``Dense``/``ConvND`` matched by name whose
   output units grew (same input size, same kernel size, same activation) gets the old weights in its first units and
   its default initialisation for the new units; the ``Dense`` directly consuming it (through
   shape-preserving layers such as ``Dropout``, or a global pooling of a widened convolution) gets the
   old rows and **zero** rows for the new units,
   so the widened model computes what the old one did and the new units still learn.
3b. **Pooled** (a head after inserted layers): a ``Dense`` reading a ``Flatten`` (through
   ``Dropout``-like layers) starts from the old ``Dense`` reading the old ``Flatten`` (same units,
   activation and bias shape) when the new path from the last copied (or widened) layer to the
   ``Flatten`` is the old path plus only convolutions that got an identity under rule 4 in this
   transfer, ``Dropout``-like layers and trailing ``MaxPooling``/``AveragePooling`` (1D/2D/3D,
   strides = pool size, ``padding="valid"``), all channels_last. A new feature ``(i', j', c)`` of an
   old channel ``c`` is then about the pool of the old features ``(i'p .. i'p+p-1, j'p .. j'p+p-1,
   c)``, so its row is the **sum** of their old rows (old positions the valid pooling drops are
   dropped); rows of the added channels are **zero** (they start without effect, as in rule 3) and
   the bias is copied. Without pooling (a conv inserted without pooling, or a widened last conv)
   this is exact: the model computes what the old one did. With pooling it is an approximation;
   summing beat averaging (rows / p^2) in every measured case (lower test loss after 0, 1 and 3
   epochs). Test accuracy just after the transfer / after 1 / after 3 epochs (scratch measurement,
   mean over seeds), a conv(2F)+pool block inserted into a conv(F)+pool+Flatten+Dense model trained
   3-4 epochs: 28x28 digits CNN (old 92%): summed 85 / 91 / 94%, averaged 85 / 89 / 93%, random head
   13 / 74 / 91%, cold 11 / 71 / 91%; 8x8 digits (old 82%): summed 24 / 73 / 83%, averaged
   26 / 73 / 81%, random head 9 / 56 / 81%, cold 9 / 54 / 84%; Conv1D motif sequences (old 61%):
   summed 64 / 73 / 84%, random head 26 / 50 / 76%, the coincidental copy of rule 2 (flattened
   sizes equal) 50 / 70 / 82%.
4. **Identity** (Net2DeeperNet): a new ``Dense``/``Conv1D``/``Conv2D``/``Conv3D`` whose input comes
   from a ReLU (directly, or through pooling, ``Dropout``, ``Flatten``...) and whose activation is
   ReLU or linear starts as the identity: ``relu(I x) = x`` for ``x >= 0``. Convolutions need
   ``padding="same"``, stride 1, dilation 1, one group and an odd kernel (the centre tap is 1).
   Channel counts that differ: with more outputs than inputs, the first ``inputs`` outputs are the
   identity and the others keep their default (random) initialisation; with fewer outputs an identity
   would drop channels, so the layer keeps its default initialisation.
4b. **BatchNormalization** (the batch-norm change): a new one starts as the identity, gamma 1, beta 0,
   moving mean 0, moving variance 1, so at inference it computes ``x / sqrt(1 + epsilon)`` (epsilon
   1e-3 by default: 0.9995 x). In training it normalises by the batch's statistics from the first
   step, so the function changes as soon as training starts: that is the change.
   The changes that add no weights transfer every weight exactly under rule 1 or 2: augment-data
   (Random* layers have none and pass the input through at inference), l2 (the kernels keep their
   shapes; only the loss changes) and lr-schedule (the model is unchanged). widen is rule 3.
5. Anything else keeps the default initialisation of ``build_model()`` ("new"); for a ``Dense``
   reading a ``Flatten`` the detail says why rule 3b did not apply.

``warm_start(model)`` is what a training script calls: it reads ``$KERAS_CT_WARM_START_FROM`` (set by
keras-ct to the previous round's ``.keras`` model when ``warm-start`` is on), transfers, prints one
line, and returns the summary for the metrics file. A model that cannot be loaded is a warning that
names the file and the reason, and the round trains from scratch: losing the round would cost more
than losing the warm start, and the metrics file records what happened.

Modules: ``graph`` reads a model's layers, ``rules`` holds rules 2-4, ``pooled`` rule 3b, ``transfer``
applies them in order, ``report`` says what each layer got, ``start`` is ``warm_start``.
"""

from __future__ import annotations

from keras_ct.keras.warmstart.report import LayerTransfer, TransferReport
from keras_ct.keras.warmstart.start import WARM_START_ENV, warm_start, weights_equal
from keras_ct.keras.warmstart.transfer import transfer_weights

__all__ = [
    "WARM_START_ENV",
    "LayerTransfer",
    "TransferReport",
    "transfer_weights",
    "warm_start",
    "weights_equal",
]
