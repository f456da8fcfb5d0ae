"""``Variable``: a named numpy array that layers and optimizers own (Keras's ``keras.Variable``, eagerly).

A variable holds its value as a C-contiguous numpy array; ``.numpy()``
returns a copy of it, ``.assign(v)`` writes in place so that every
holder of the variable sees the new value.
"""

import operator

import numpy as np


class Variable:
    """A trainable or non-trainable array with a name and a path (``"conv2d/kernel"``).

    >>> v = Variable(np.zeros((2, 3)), name="kernel")
    >>> v.shape, v.dtype
    ((2, 3), dtype('float32'))
    >>> v.assign(np.ones((2, 3))); float(v.numpy().sum())
    6.0
    """

    def __init__(self, value, name, trainable=True, dtype="float32", path=None, regularizer=None, constraint=None):
        self.name = name
        self.path = path or name
        self.trainable = trainable
        self.regularizer = regularizer  # a fastconv.regularizers penalty on the value, or None
        self.constraint = constraint  # a fastconv.constraints projection the optimizer applies after a step
        self.value = np.array(value, dtype=dtype, order="C")  # a copy; keeps 0-d values 0-d

    @property
    def shape(self):
        return self.value.shape

    @property
    def dtype(self):
        return self.value.dtype

    def numpy(self):
        """A copy of the value (mutating it does not change the variable; use ``assign``)."""
        return self.value.copy()

    def assign(self, value):
        value = np.asarray(value)
        if value.shape != self.value.shape:
            raise ValueError(
                f"Cannot assign to variable `{self.path}`: expected shape {self.value.shape}. "
                f"Received: value.shape={value.shape}"
            )
        self.value[...] = value

    def assign_add(self, delta):
        self.value += delta

    def assign_sub(self, delta):
        self.value -= delta

    def __array__(self, dtype=None, copy=None):
        return self.value if dtype is None else self.value.astype(dtype)

    # As a number, as Keras's variables are: `float(optimizer.learning_rate)`, `optimizer.learning_rate * 0.5`,
    # `optimizer.learning_rate > 1e-4`, `optimizer.iterations == 17` give numpy values of the current value.
    # With anything but a number or an array (another variable, None, a string) `==` stays identity: a
    # variable is an object that models and optimizers hold in lists and dicts; variables hash by identity.

    def __eq__(self, other):
        return self.value == other if _numeric(other) else NotImplemented

    def __ne__(self, other):
        return self.value != other if _numeric(other) else NotImplemented

    __hash__ = object.__hash__

    def __float__(self):
        return float(self.value)

    def __int__(self):
        return int(self.value)

    def __neg__(self):
        return -self.value

    def __abs__(self):
        return abs(self.value)

    def __repr__(self):
        return f"<Variable path={self.path}, shape={self.shape}, dtype={self.dtype}>"


def _numeric(value):
    """Whether ``value`` compares with a variable's value element by element: a number, or an array or list of
    numbers (not another variable, None or a string, which compare by identity)."""
    if isinstance(value, (bool, np.bool_, int, float, complex, np.number)):
        return True
    return isinstance(value, (np.ndarray, list, tuple)) and np.asarray(value).dtype.kind in "biufc"


def _operand(value):
    return value.value if isinstance(value, Variable) else value


def _arithmetic(name):
    function = getattr(operator, name)

    def forward(self, other):
        return function(self.value, _operand(other))

    def reflected(self, other):
        return function(_operand(other), self.value)

    return forward, reflected


for _name in ("add", "sub", "mul", "truediv", "floordiv", "mod", "pow", "matmul"):
    _forward, _reflected = _arithmetic(_name)
    setattr(Variable, f"__{_name}__", _forward)
    setattr(Variable, f"__r{_name}__", _reflected)
for _name in ("lt", "le", "gt", "ge"):
    setattr(Variable, f"__{_name}__", _arithmetic(_name)[0])
