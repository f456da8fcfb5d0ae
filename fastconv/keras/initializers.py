"""``keras.initializers``."""

from fastconv.layers.keras_names import KERAS_MODULE_NAMES, missing_name
from fastconv.initializers import (Constant, GlorotNormal, GlorotUniform, HeNormal, HeUniform, LecunNormal,
                                   LecunUniform, Ones, RandomNormal, RandomUniform, TruncatedNormal,
                                   VarianceScaling, Zeros, get, serialize)

__all__ = ["Constant", "GlorotNormal", "GlorotUniform", "HeNormal", "HeUniform", "LecunNormal", "LecunUniform",
           "Ones", "RandomNormal", "RandomUniform", "TruncatedNormal", "VarianceScaling", "Zeros", "get",
           "serialize"]


def __getattr__(name):  # PEP 562: a Keras name fastconv lacks raises NotImplementedError naming it
    raise missing_name(__name__, "keras.initializers", KERAS_MODULE_NAMES["keras.initializers"], name)
