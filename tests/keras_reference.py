"""Real Keras 3 as a reference, on its PyTorch CPU backend (no TensorFlow needed).

Import ``keras`` from here, never directly, so the backend is chosen before
Keras is first imported.
"""

import os

os.environ["KERAS_BACKEND"] = "torch"

import keras  # noqa: E402

assert keras.backend.backend() == "torch", "tests need Keras on its torch backend"

__all__ = ["keras"]
