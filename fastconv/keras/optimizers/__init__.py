"""``keras.optimizers``, and ``keras.optimizers.schedules``."""

from fastconv.keras.optimizers import schedules
from fastconv.layers.keras_names import KERAS_MODULE_NAMES, missing_name
from fastconv.optimizers import (SGD, Adadelta, Adagrad, Adam, Adamax, AdamW, Lion, Nadam, Optimizer, RMSprop,
                                 deserialize, get, serialize)

__all__ = ["SGD", "Adadelta", "Adagrad", "Adam", "Adamax", "AdamW", "Lion", "Nadam", "Optimizer", "RMSprop",
           "deserialize", "get", "schedules", "serialize"]


def __getattr__(name):  # PEP 562: a Keras name fastconv lacks raises NotImplementedError naming it
    raise missing_name(__name__, "keras.optimizers", KERAS_MODULE_NAMES["keras.optimizers"], name)
