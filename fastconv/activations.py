"""Activation functions by Keras name, each with its backward pass, on numpy arrays.

``get(identifier)`` resolves a Keras activation name (or ``None``, or one of
the functions here) to an :class:`Activation`, whose ``__call__`` computes the
function and whose ``gradient(inputs, outputs, grad)`` the gradient with
respect to its input. The convolution kernels fuse ``relu`` themselves; the
rest run here, after the layer's own computation. ``softmax`` and ``sigmoid``
are ``fastconv.ops``'s, which the losses use too; ``gelu``'s error function is
a numba kernel (``ops.erf``: numpy has none). Each is Keras 3's function with
its default arguments (``leaky_relu``'s slope 0.2, ``gelu`` exact, not the
tanh approximation), which is what a name gives in Keras.
"""

import numpy as np

from fastconv import ops


class Activation:
    """A named elementwise (or, for ``softmax``, last-axis) function with its gradient."""

    def __init__(self, name, forward, gradient, kernel_families=()):
        self.__name__ = name
        self._forward = forward
        self._gradient = gradient
        self.kernel_families = kernel_families
        """The ``fastconv.compilation`` kernel families it runs (most run numpy only)."""

    def __call__(self, x):
        if not isinstance(x, np.ndarray):
            from fastconv.layers.base import KerasTensor  # the layers import this module

            if isinstance(x, KerasTensor):  # in a subclassed model's call(): `self.activation(z + shortcut)`
                from fastconv.layers.core import Activation as ActivationLayer

                return ActivationLayer(self)(x)
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


def _between(x, low, high):
    """1 where ``low < x < high``, else 0, in ``x``'s dtype (the gradient of a clip)."""
    return ((x > low) & (x < high)).astype(x.dtype)


def _hard_sigmoid(x):
    return np.clip(x + 3, 0, 6) / 6


def _mish(x):
    return x * np.tanh(_softplus(x))


def _mish_gradient(x, y, g):
    t = np.tanh(_softplus(x))
    return g * (t + x * ops.sigmoid(x) * (1 - t * t))


def _gelu(x):
    return 0.5 * x * (1 + ops.erf(x / np.sqrt(2).astype(x.dtype)))


def _gelu_gradient(x, y, g):
    cdf = 0.5 * (1 + ops.erf(x / np.sqrt(2).astype(x.dtype)))
    return g * (cdf + x * np.exp(-0.5 * x * x) / np.sqrt(2 * np.pi).astype(x.dtype))


def _log_softmax(x):
    shifted = x - np.max(x, axis=-1, keepdims=True)
    return shifted - np.log(np.sum(np.exp(shifted), axis=-1, keepdims=True))


def _sparse_plus(x):
    return np.where(x <= -1, 0, np.where(x >= 1, x, (x + 1) ** 2 / 4)).astype(x.dtype, copy=False)


def _shrink_mask(x):
    return (np.abs(x) > 0.5).astype(x.dtype)


linear = Activation("linear", lambda x: x, lambda x, y, g: g)
relu = Activation("relu", lambda x: np.maximum(x, 0), lambda x, y, g: g * (y > 0))
sigmoid = Activation("sigmoid", ops.sigmoid, lambda x, y, g: g * y * (1 - y))
tanh = Activation("tanh", np.tanh, lambda x, y, g: g * (1 - y * y))
softmax = Activation("softmax", ops.softmax, _softmax_gradient)
softplus = Activation("softplus", _softplus, lambda x, y, g: g * ops.sigmoid(x))
elu = Activation("elu", _elu, lambda x, y, g: g * np.where(x > 0, 1, y + 1))
selu = Activation("selu", _selu, lambda x, y, g: g * np.where(x > 0, _SELU_SCALE, y + _SELU_SCALE * _SELU_ALPHA))
silu = Activation("silu", _swish, _swish_gradient)  # Keras's name for swish, which its configs write
swish = silu
relu6 = Activation("relu6", lambda x: np.clip(x, 0, 6), lambda x, y, g: g * _between(x, 0, 6))
leaky_relu = Activation("leaky_relu", lambda x: np.where(x >= 0, x, x * x.dtype.type(0.2)),
                        lambda x, y, g: g * np.where(x > 0, 1, 0.2).astype(x.dtype))
gelu = Activation("gelu", _gelu, _gelu_gradient, kernel_families=("erf",))
hard_sigmoid = Activation("hard_sigmoid", _hard_sigmoid, lambda x, y, g: g * _between(x, -3, 3) / 6)
hard_silu = Activation("hard_silu", lambda x: x * _hard_sigmoid(x),
                       lambda x, y, g: g * (_hard_sigmoid(x) + x * _between(x, -3, 3) / 6))
hard_swish = hard_silu
mish = Activation("mish", _mish, _mish_gradient)
softsign = Activation("softsign", lambda x: x / (1 + np.abs(x)), lambda x, y, g: g / (1 + np.abs(x)) ** 2)
exponential = Activation("exponential", np.exp, lambda x, y, g: g * y)
log_sigmoid = Activation("log_sigmoid", lambda x: -_softplus(-x), lambda x, y, g: g * ops.sigmoid(-x))
celu = Activation("celu", lambda x: np.where(x > 0, x, np.expm1(np.minimum(x, 0))),
                  lambda x, y, g: g * np.where(x > 0, 1, np.exp(np.minimum(x, 0))))
tanh_shrink = Activation("tanh_shrink", lambda x: x - np.tanh(x), lambda x, y, g: g * np.tanh(x) ** 2)
hard_tanh = Activation("hard_tanh", lambda x: np.clip(x, -1, 1), lambda x, y, g: g * _between(x, -1, 1))
sparse_plus = Activation("sparse_plus", _sparse_plus,
                         lambda x, y, g: g * np.where(x <= -1, 0, np.where(x >= 1, 1, (x + 1) / 2)).astype(x.dtype))
sparse_sigmoid = Activation("sparse_sigmoid", lambda x: np.clip((x + 1) / 2, 0, 1),
                            lambda x, y, g: g * _between(x, -1, 1) / 2)
squareplus = Activation("squareplus", lambda x: (x + np.sqrt(x * x + 4)) / 2,
                        lambda x, y, g: g * (1 + x / np.sqrt(x * x + 4)) / 2)
soft_shrink = Activation("soft_shrink", lambda x: (x - np.clip(x, -0.5, 0.5)).astype(x.dtype, copy=False),
                         lambda x, y, g: g * _shrink_mask(x))
hard_shrink = Activation("hard_shrink", lambda x: x * _shrink_mask(x), lambda x, y, g: g * _shrink_mask(x))
log_softmax = Activation("log_softmax", _log_softmax,
                         lambda x, y, g: g - np.exp(y) * np.sum(g, axis=-1, keepdims=True))

_BY_NAME = {a.__name__: a for a in (
    linear, relu, sigmoid, tanh, softmax, softplus, elu, selu, silu, relu6, leaky_relu, gelu, hard_sigmoid,
    hard_silu, mish, softsign, exponential, log_sigmoid, celu, tanh_shrink, hard_tanh, sparse_plus, sparse_sigmoid,
    squareplus, soft_shrink, hard_shrink, log_softmax)}
_BY_NAME["swish"] = silu
_BY_NAME["hard_swish"] = hard_silu

KERAS_ONLY = ("glu", "sparsemax", "threshold")
"""Keras 3's activations that fastconv lacks: ``glu`` halves the last axis and ``sparsemax`` projects it onto
the simplex (neither is elementwise), ``threshold`` has no default for its arguments (not usable by name)."""


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
        if identifier.lower() in KERAS_ONLY:
            raise NotImplementedError(f"The Keras activation {identifier!r} is not implemented in fastconv yet. "
                                      f"fastconv's activations: {sorted(_BY_NAME)}.")
        raise ValueError(
            f"Invalid value for argument `activation`. Expected one of {sorted(_BY_NAME)}. "
            f"Received: activation={identifier!r}"
        )
    if isinstance(identifier, dict) and identifier.get("module") == "keras.layers":  # a layer, serialized
        from fastconv.layers import LAYER_CLASSES  # the layers import this module

        if identifier.get("class_name") not in LAYER_CLASSES:
            raise NotImplementedError(f"The activation layer `{identifier.get('class_name')}` is not implemented "
                                      "in fastconv yet.")
        return _of_layer(LAYER_CLASSES[identifier["class_name"]].from_config(dict(identifier["config"])))
    if callable(identifier) and hasattr(identifier, "forward") and hasattr(identifier, "backward"):
        return _of_layer(identifier)
    if callable(identifier) and getattr(identifier, "__name__", None) in _BY_NAME:
        return _BY_NAME[identifier.__name__]
    raise NotImplementedError(
        "fastconv supports built-in activations given by name (e.g. 'relu'). "
        f"Received: activation={identifier!r}, which has no known gradient."
    )


def _of_layer(layer):
    """A layer without weights given as an activation (Géron's ``activation=keras.layers.LeakyReLU(0.2)``), as
    Keras takes one: its forward pass is the function, its backward pass the gradient (from a second forward
    pass on the inputs, which the activation keeps)."""
    from fastconv.layers.base import Layer

    if layer.weights or layer.is_composite() or type(layer).build is not Layer.build:  # weights, or will have
        raise NotImplementedError(f"fastconv takes a layer as an activation when it has no weights, as "
                                  f"`LeakyReLU`, `ReLU` or `Softmax`. Received: activation={layer!r}")

    def forward(inputs):
        return layer.forward(inputs, False)[0]

    def gradient(inputs, outputs, grad):
        return layer.backward(layer.forward(inputs, True)[1], grad)[0]

    activation = Activation(layer.name, forward, gradient, kernel_families=layer.kernel_families)
    activation.layer = layer
    return activation


def serialize(activation):
    """Keras's config value for an activation: its name, or a layer's serialized form for a layer given as one."""
    activation = get(activation)
    layer = getattr(activation, "layer", None)
    if layer is not None:
        return {"module": "keras.layers", "class_name": type(layer).__name__, "config": layer.get_config(),
                "registered_name": None}
    return activation.__name__
