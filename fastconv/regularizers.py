"""Weight regularizers (``keras.regularizers``): ``L1``, ``L2``, ``L1L2``, each a penalty on a weight and its
gradient, in numpy.

A layer's ``kernel_regularizer`` (``bias_regularizer``, ``depthwise_regularizer``,
``pointwise_regularizer``) goes to the weight it regularizes
(``Variable.regularizer``); a training step adds each trainable weight's
penalty to the loss it reports and the penalty's gradient to the weight's
(``fastconv.training``), and ``evaluate`` adds the penalties to its loss, as
Keras does. Penalties as Keras computes them: ``l1 * sum(|w|)`` and
``l2 * sum(w ** 2)``, no factor of one half.
"""

import math

import numpy as np


def _factor(value, name):
    """Keras's check of a penalty factor: a non-negative finite number, as a float."""
    if not isinstance(value, (float, int, np.floating, np.integer)) or (
            math.isinf(value) or math.isnan(value) or value < 0):
        raise ValueError(f"Invalid value for argument {name}: expected a non-negative float. Received: {name}={value}")
    return float(value)


class Regularizer:
    """A penalty on a weight: ``self(w)`` its value, ``self.gradient(w)`` its gradient with respect to ``w``."""

    def __call__(self, w):
        raise NotImplementedError(f"{type(self).__name__}.__call__")

    def gradient(self, w):
        raise NotImplementedError(f"{type(self).__name__}.gradient")

    def get_config(self):
        raise NotImplementedError(f"{type(self).__name__}.get_config")

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        return f"{type(self).__name__}({', '.join(f'{k}={v}' for k, v in self.get_config().items())})"


class L1L2(Regularizer):
    """``l1 * sum(|w|) + l2 * sum(w ** 2)`` (``keras.regularizers.L1L2``, alias ``l1_l2``); both 0 by default.

    >>> L1L2(l1=0.5, l2=0.25)(np.array([1.0, -2.0], np.float32))
    np.float32(2.75)
    """

    def __init__(self, l1=0.0, l2=0.0):
        self.l1 = _factor(0.0 if l1 is None else l1, "l1")
        self.l2 = _factor(0.0 if l2 is None else l2, "l2")

    def __call__(self, w):
        penalty = w.dtype.type(0)
        if self.l1:
            penalty += w.dtype.type(self.l1) * np.sum(np.abs(w))
        if self.l2:
            penalty += w.dtype.type(self.l2) * np.sum(np.square(w))
        return penalty

    def gradient(self, w):
        return w.dtype.type(self.l1) * np.sign(w) + w.dtype.type(2 * self.l2) * w

    def get_config(self):
        return {"l1": self.l1, "l2": self.l2}


class L1(L1L2):
    """``l1 * sum(|w|)`` (``keras.regularizers.L1``, alias ``l1``), ``l1=0.01`` by default; its gradient at
    0 is 0. Keras keeps the factor in float32, and so writes it in its config."""

    def __init__(self, l1=0.01):
        super().__init__(l1=float(np.float32(_factor(0.01 if l1 is None else l1, "l1"))))

    def get_config(self):
        return {"l1": self.l1}


class L2(L1L2):
    """``l2 * sum(w ** 2)`` (``keras.regularizers.L2``, alias ``l2``), ``l2=0.01`` by default: weight decay."""

    def __init__(self, l2=0.01):
        super().__init__(l2=0.01 if l2 is None else l2)

    def get_config(self):
        return {"l2": self.l2}


l1, l2, l1_l2 = L1, L2, L1L2
_BY_NAME = {"L1": L1, "L2": L2, "L1L2": L1L2, "l1": L1, "l2": L2, "l1l2": L1L2}
"""The names Keras reads: the class names and their snake case (``"l1l2"``; not the alias ``"l1_l2"``)."""


def get(identifier):
    """A regularizer from ``None``, a name (``'l2'``, ``'L1L2'``...), Keras's serialized dict, a class or an
    instance, as Keras's ``keras.regularizers.get`` reads them.

    >>> get("l2").get_config(), get({"class_name": "L1", "config": {"l1": 0.5}}).get_config()
    ({'l2': 0.01}, {'l1': 0.5})
    """
    if identifier is None or isinstance(identifier, Regularizer):
        return identifier
    if isinstance(identifier, dict):
        name, config = identifier.get("class_name"), identifier.get("config") or {}
        if name not in _BY_NAME:
            raise _unsupported(name)
        return _BY_NAME[name].from_config(config)
    if isinstance(identifier, str):
        if identifier in _BY_NAME:
            return _BY_NAME[identifier]()
        if identifier in ("OrthogonalRegularizer", "orthogonal_regularizer"):
            raise _unsupported(identifier)
        raise ValueError(f"Could not interpret regularizer identifier: {identifier}")
    if isinstance(identifier, type) and issubclass(identifier, Regularizer):
        return identifier()
    raise _unsupported(identifier)


def _unsupported(identifier):
    return NotImplementedError(
        f"fastconv supports the regularizers L1, L2 and L1L2 (by name, object or Keras's config). Received: "
        f"{identifier!r}; a Python function, whose gradient fastconv would need, or Keras's OrthogonalRegularizer "
        "is not supported yet.")


def serialize(regularizer):
    """Keras's serialized form of ``regularizer`` (``None`` stays ``None``)."""
    if regularizer is None:
        return None
    return {"module": "keras.regularizers", "class_name": type(regularizer).__name__,
            "config": regularizer.get_config(), "registered_name": None}
