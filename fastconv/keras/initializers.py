"""``keras.initializers``."""

from fastconv.initializers import (Constant, GlorotNormal, GlorotUniform, HeNormal, HeUniform, LecunNormal,
                                   LecunUniform, Ones, RandomNormal, RandomUniform, TruncatedNormal,
                                   VarianceScaling, Zeros, get, serialize)

__all__ = ["Constant", "GlorotNormal", "GlorotUniform", "HeNormal", "HeUniform", "LecunNormal", "LecunUniform",
           "Ones", "RandomNormal", "RandomUniform", "TruncatedNormal", "VarianceScaling", "Zeros", "get",
           "serialize"]
