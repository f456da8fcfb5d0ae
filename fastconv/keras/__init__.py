"""The drop-in namespace: ``from fastconv import keras`` in place of ``from tensorflow import keras``.

Re-exports under Keras's names, no logic of its own. The objects live in
``fastconv.layers``, ``fastconv.models``, ``fastconv.optimizers``, ...

``python -m fastconv.keras SCRIPT.py`` and ``%load_ext fastconv.keras`` run
Keras programs unchanged (``import keras``, ``import tensorflow as tf``):
see ``fastconv.keras_switch``.
"""

from fastconv.keras_switch import load_ipython_extension, unload_ipython_extension  # noqa: F401
from fastconv.keras import (activations, backend, callbacks, constraints, datasets, distribution, initializers,
                            layers, losses, metrics, models, optimizers, preprocessing, regularizers, saving, utils)
from fastconv.layers import Input, Layer
from fastconv.layers.keras_names import KERAS_TOP_LEVEL_NAMES, missing_name
from fastconv.models import Model, Sequential
from fastconv.regularizers import Regularizer
from fastconv.variables import Variable

__all__ = ["activations", "backend", "callbacks", "constraints", "datasets", "distribution", "initializers",
           "layers", "losses", "metrics", "models", "optimizers", "preprocessing", "regularizers", "saving", "utils",
           "Input", "Layer", "Model", "Regularizer", "Sequential", "Variable"]


def __getattr__(name):  # PEP 562: a Keras name fastconv lacks (`keras.ops`, `keras.regularizers`...) names itself
    raise missing_name(__name__, "keras", KERAS_TOP_LEVEL_NAMES, name)
