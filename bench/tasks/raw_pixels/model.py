"""A small CNN on 8x8 digits given as raw pixel values (0-255 plus an offset of 50): unnormalised input."""

import keras
from keras import layers


def build_model():
    model = keras.Sequential(
        [
            keras.Input(shape=(8, 8, 1)),
            layers.Conv2D(8, 3, padding="same", activation="relu"),
            layers.Flatten(),
            layers.Dense(10, activation="softmax"),
        ]
    )
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model
