"""The Keras layer classes the augmenter knows by role: convolutions, pooling, dropout, shape-neutral."""

from __future__ import annotations

CONV = {
    "Conv1D": 1,
    "Conv2D": 2,
    "Conv3D": 3,
    "Convolution1D": 1,
    "Convolution2D": 2,
    "Convolution3D": 3,
    "SeparableConv1D": 1,
    "SeparableConv2D": 2,
}
POOL = {
    "MaxPooling1D": 1,
    "MaxPooling2D": 2,
    "MaxPooling3D": 3,
    "MaxPool1D": 1,
    "MaxPool2D": 2,
    "MaxPool3D": 3,
    "AveragePooling1D": 1,
    "AveragePooling2D": 2,
    "AveragePooling3D": 3,
    "AvgPool1D": 1,
    "AvgPool2D": 2,
    "AvgPool3D": 3,
}
GLOBAL_POOL = {
    f"Global{kind}{suffix}{dim}D"
    for kind in ("Average", "Max", "Avg")
    for suffix in ("Pooling", "Pool")
    for dim in (1, 2, 3)
}
DROPOUT = {
    "Dropout",
    "SpatialDropout1D",
    "SpatialDropout2D",
    "SpatialDropout3D",
    "AlphaDropout",
    "GaussianDropout",
}
# Layers that keep the spatial shape and may sit inside a conv block or between a hidden Dense and the output.
NEUTRAL = DROPOUT | {
    "BatchNormalization",
    "LayerNormalization",
    "GroupNormalization",
    "Activation",
    "ReLU",
    "LeakyReLU",
    "ELU",
    "PReLU",
    "Softmax",
    "GaussianNoise",
    "Rescaling",
    "Normalization",
    "RandomFlip",
    "RandomRotation",
    "RandomZoom",
    "RandomTranslation",
    "RandomContrast",
    "RandomBrightness",
    "RandomCrop",
}
BLOCK_TAIL = NEUTRAL | set(POOL)
INPUT = {"Input", "InputLayer"}
