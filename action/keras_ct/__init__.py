"""keras-ct: continuous training for Keras models on GitHub Actions.

Importing this package is cheap: it never imports TensorFlow or Keras. Training and model
builds run in a subprocess, in the model's own environment.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
