"""``keras.constraints``."""

from fastconv.layers.keras_names import KERAS_MODULE_NAMES, missing_name
from fastconv.constraints import (Constraint, MaxNorm, MinMaxNorm, NonNeg, UnitNorm, deserialize, get, max_norm,
                                  min_max_norm, non_neg, serialize, unit_norm)

__all__ = ["Constraint", "MaxNorm", "MinMaxNorm", "NonNeg", "UnitNorm", "deserialize", "get", "max_norm",
           "min_max_norm", "non_neg", "serialize", "unit_norm"]


def __getattr__(name):  # PEP 562: a Keras name fastconv lacks raises NotImplementedError naming it
    raise missing_name(__name__, "keras.constraints", KERAS_MODULE_NAMES["keras.constraints"], name)
