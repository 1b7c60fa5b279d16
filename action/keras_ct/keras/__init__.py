"""Helpers for training scripts (imported only by training code: this package imports Keras).

``from keras_ct.keras import callbacks`` gives a training script the metrics-file writer and the
resume machinery keras-ct relies on. The orchestrator never imports this package.
"""
