"""Weight constraints (``keras.constraints``): ``MaxNorm``, ``MinMaxNorm``, ``NonNeg``, ``UnitNorm``, each a
projection of a weight's values, in numpy.

A layer's ``kernel_constraint`` (``bias_constraint``, ``depthwise_constraint``,
``pointwise_constraint``) goes to the weight it constrains
(``Variable.constraint``); after each optimizer step the optimizer replaces
each constrained weight by ``constraint(weight)``, as Keras's does. Formulas
as Keras's, with its fuzz factor 1e-7: Géron's max-norm regularization is
``Dense(100, kernel_constraint=keras.constraints.max_norm(1.0))``.
"""

import numpy as np

_EPSILON = 1e-7


class Constraint:
    """A projection of a weight: ``self(w)`` gives the constrained values."""

    def __call__(self, w):
        return w

    def get_config(self):
        return {}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


def _norms(w, axis):
    return np.sqrt(np.sum(np.square(w), axis=tuple(np.atleast_1d(axis)), keepdims=True))


class MaxNorm(Constraint):
    """Each slice along ``axis`` (a Dense kernel's column: a unit's incoming weights) scaled down to a norm of
    at most ``max_value``.

    >>> MaxNorm(1.0)(np.array([[3.0], [4.0]]))[:, 0].round(4)
    array([0.6, 0.8])
    """

    def __init__(self, max_value=2, axis=0):
        self.max_value, self.axis = max_value, axis

    def __call__(self, w):
        norms = _norms(w, self.axis)
        return (w * (np.clip(norms, 0, self.max_value) / (_EPSILON + norms))).astype(w.dtype, copy=False)

    def get_config(self):
        return {"max_value": self.max_value, "axis": self.axis}


class MinMaxNorm(Constraint):
    """Each slice's norm moved towards ``[min_value, max_value]`` by ``rate`` (1: onto it)."""

    def __init__(self, min_value=0.0, max_value=1.0, rate=1.0, axis=0):
        self.min_value, self.max_value, self.rate, self.axis = min_value, max_value, rate, axis

    def __call__(self, w):
        norms = _norms(w, self.axis)
        desired = self.rate * np.clip(norms, self.min_value, self.max_value) + (1 - self.rate) * norms
        return (w * (desired / (_EPSILON + norms))).astype(w.dtype, copy=False)

    def get_config(self):
        return {"min_value": self.min_value, "max_value": self.max_value, "rate": self.rate, "axis": self.axis}


class NonNeg(Constraint):
    """Negative values set to 0."""

    def __call__(self, w):
        return np.maximum(w, 0).astype(w.dtype, copy=False)


class UnitNorm(Constraint):
    """Each slice along ``axis`` scaled to a norm of 1."""

    def __init__(self, axis=0):
        self.axis = axis

    def __call__(self, w):
        return (w / (_EPSILON + _norms(w, self.axis))).astype(w.dtype, copy=False)

    def get_config(self):
        return {"axis": self.axis}


max_norm, min_max_norm, non_neg, unit_norm = MaxNorm, MinMaxNorm, NonNeg, UnitNorm

_BY_NAME = {name: cls for cls in (MaxNorm, MinMaxNorm, NonNeg, UnitNorm)
            for name in (cls.__name__, {"MaxNorm": "max_norm", "MinMaxNorm": "min_max_norm", "NonNeg": "non_neg",
                                        "UnitNorm": "unit_norm"}[cls.__name__])}


def get(identifier):
    """A constraint from ``None``, a name (``'max_norm'``, ``'NonNeg'``...), Keras's serialized dict, a class or
    an instance, as ``keras.constraints.get`` reads them.

    >>> get("max_norm").get_config()
    {'max_value': 2, 'axis': 0}
    """
    if identifier is None or isinstance(identifier, Constraint):
        return identifier
    if isinstance(identifier, dict):
        name = identifier.get("class_name")
        if name not in _BY_NAME:
            raise _unsupported(name)
        return _BY_NAME[name].from_config(identifier.get("config") or {})
    if isinstance(identifier, str):
        if identifier in _BY_NAME:
            return _BY_NAME[identifier]()
        raise ValueError(f"Could not interpret constraint identifier: {identifier}")
    if isinstance(identifier, type) and issubclass(identifier, Constraint):
        return identifier()
    raise _unsupported(identifier)


def _unsupported(identifier):
    return NotImplementedError(f"fastconv supports the constraints MaxNorm, MinMaxNorm, NonNeg and UnitNorm (by "
                               f"name, object or Keras's config). Received: {identifier!r}")


def serialize(constraint):
    """Keras's serialized form of ``constraint`` (``None`` stays ``None``)."""
    if constraint is None:
        return None
    return {"module": "keras.constraints", "class_name": type(constraint).__name__,
            "config": constraint.get_config(), "registered_name": None}


def deserialize(config, custom_objects=None):
    return get(config)
