"""Activation functions by Keras name, each with its backward pass, on numpy arrays.

``get(identifier)`` resolves a Keras activation name (or ``None``, or one of
the functions here) to an :class:`Activation`, whose ``__call__`` computes the
function and whose ``gradient(inputs, outputs, grad)`` the gradient with
respect to its input. The convolution kernels fuse ``relu`` themselves; the
rest run here, after the layer's own computation. ``softmax`` and ``sigmoid``
are ``fastconv.ops``'s, which the losses use too.
"""

import numpy as np

from fastconv import ops


class Activation:
    """A named elementwise (or, for ``softmax``, last-axis) function with its gradient."""

    def __init__(self, name, forward, gradient):
        self.__name__ = name
        self._forward = forward
        self._gradient = gradient

    def __call__(self, x):
        return self._forward(np.asarray(x))

    def gradient(self, inputs, outputs, grad):
        """Gradient with respect to ``inputs``, given ``outputs = self(inputs)`` and the outputs' gradient ``grad``."""
        return self._gradient(inputs, outputs, grad)

    def __repr__(self):
        return f"<activation {self.__name__}>"


def _softmax_gradient(inputs, y, g):
    return y * (g - (g * y).sum(axis=-1, keepdims=True))


def _elu(x):
    return np.where(x > 0, x, np.expm1(np.minimum(x, 0)))


_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946


def _selu(x):
    return _SELU_SCALE * np.where(x > 0, x, _SELU_ALPHA * np.expm1(np.minimum(x, 0)))


def _softplus(x):
    return np.logaddexp(0, x).astype(x.dtype, copy=False)


def _swish(x):
    return x * ops.sigmoid(x)


def _swish_gradient(x, y, g):
    s = ops.sigmoid(x)
    return g * (s + x * s * (1 - s))


linear = Activation("linear", lambda x: x, lambda x, y, g: g)
relu = Activation("relu", lambda x: np.maximum(x, 0), lambda x, y, g: g * (y > 0))
sigmoid = Activation("sigmoid", ops.sigmoid, lambda x, y, g: g * y * (1 - y))
tanh = Activation("tanh", np.tanh, lambda x, y, g: g * (1 - y * y))
softmax = Activation("softmax", ops.softmax, _softmax_gradient)
softplus = Activation("softplus", _softplus, lambda x, y, g: g * ops.sigmoid(x))
elu = Activation("elu", _elu, lambda x, y, g: g * np.where(x > 0, 1, y + 1))
selu = Activation("selu", _selu, lambda x, y, g: g * np.where(x > 0, _SELU_SCALE, y + _SELU_SCALE * _SELU_ALPHA))
swish = Activation("swish", _swish, _swish_gradient)
silu = swish

_BY_NAME = {a.__name__: a for a in (linear, relu, sigmoid, tanh, softmax, softplus, elu, selu, swish)}
_BY_NAME["silu"] = swish


def get(identifier):
    """Resolve ``None``, a Keras activation name or an :class:`Activation` to an :class:`Activation`.

    >>> get("relu")(np.array([-1.0, 2.0]))
    array([0., 2.])
    """
    if identifier is None:
        return linear
    if isinstance(identifier, Activation):
        return identifier
    if isinstance(identifier, str):
        if identifier.lower() in _BY_NAME:
            return _BY_NAME[identifier.lower()]
        raise ValueError(
            f"Invalid value for argument `activation`. Expected one of {sorted(_BY_NAME)}. "
            f"Received: activation={identifier!r}"
        )
    if callable(identifier) and getattr(identifier, "__name__", None) in _BY_NAME:
        return _BY_NAME[identifier.__name__]
    raise NotImplementedError(
        "fastconv supports built-in activations given by name (e.g. 'relu'). "
        f"Received: activation={identifier!r}, which has no known gradient."
    )


def serialize(activation):
    """Keras's config value for an activation: its name."""
    return get(activation).__name__
