"""``keras.regularizers``."""

from fastconv.layers.keras_names import KERAS_MODULE_NAMES, missing_name
from fastconv.regularizers import L1, L1L2, L2, Regularizer, get, l1, l1_l2, l2, serialize

deserialize = get

__all__ = ["L1", "L1L2", "L2", "Regularizer", "deserialize", "get", "l1", "l1_l2", "l2", "serialize"]


def __getattr__(name):  # PEP 562: a Keras name fastconv lacks raises NotImplementedError naming it
    raise missing_name(__name__, "keras.regularizers", KERAS_MODULE_NAMES["keras.regularizers"], name)
