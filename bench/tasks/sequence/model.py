"""A Conv1D model for the synthetic motif sequences (48 steps, 1 channel, 4 classes)."""

import keras
from keras import layers


def build_model():
    model = keras.Sequential(
        [
            keras.Input(shape=(48, 1)),
            layers.Conv1D(8, 5, padding="same", activation="relu"),
            layers.MaxPooling1D(),
            layers.Flatten(),
            layers.Dense(4, activation="softmax"),
        ]
    )
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model
