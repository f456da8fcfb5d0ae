"""``keras.activations``."""

from fastconv.activations import (celu, elu, exponential, gelu, get, hard_shrink, hard_sigmoid, hard_silu, hard_swish,
                                  hard_tanh, leaky_relu, linear, log_sigmoid, log_softmax, mish, relu, relu6, selu,
                                  serialize, sigmoid, silu, soft_shrink, softmax, softplus, softsign, sparse_plus,
                                  sparse_sigmoid, squareplus, swish, tanh, tanh_shrink)

__all__ = ["celu", "elu", "exponential", "gelu", "get", "hard_shrink", "hard_sigmoid", "hard_silu", "hard_swish",
           "hard_tanh", "leaky_relu", "linear", "log_sigmoid", "log_softmax", "mish", "relu", "relu6", "selu",
           "serialize", "sigmoid", "silu", "soft_shrink", "softmax", "softplus", "softsign", "sparse_plus",
           "sparse_sigmoid", "squareplus", "swish", "tanh", "tanh_shrink"]
