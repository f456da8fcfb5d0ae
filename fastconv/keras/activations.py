"""``keras.activations``."""

from fastconv.activations import (KERAS_ONLY, celu, elu, exponential, gelu, get, hard_shrink, hard_sigmoid,
                                  hard_silu, hard_swish, hard_tanh, leaky_relu, linear, log_sigmoid, log_softmax,
                                  mish, relu, relu6, selu, serialize, sigmoid, silu, soft_shrink, softmax, softplus,
                                  softsign, sparse_plus, sparse_sigmoid, squareplus, swish, tanh, tanh_shrink)
from fastconv.layers.keras_names import missing_name

deserialize = get

__all__ = ["celu", "deserialize", "elu", "exponential", "gelu", "get", "hard_shrink", "hard_sigmoid", "hard_silu",
           "hard_swish", "hard_tanh", "leaky_relu", "linear", "log_sigmoid", "log_softmax", "mish", "relu", "relu6",
           "selu", "serialize", "sigmoid", "silu", "soft_shrink", "softmax", "softplus", "softsign", "sparse_plus",
           "sparse_sigmoid", "squareplus", "swish", "tanh", "tanh_shrink"]


def __getattr__(name):  # PEP 562: a Keras activation fastconv lacks raises NotImplementedError naming it
    raise missing_name(__name__, "keras.activations", KERAS_ONLY, name)
