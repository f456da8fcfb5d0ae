"""``keras.activations``."""

from fastconv.activations import (elu, get, linear, relu, selu, serialize, sigmoid, silu, softmax, softplus,
                                  swish, tanh)

__all__ = ["elu", "get", "linear", "relu", "selu", "serialize", "sigmoid", "silu", "softmax", "softplus", "swish",
           "tanh"]
