"""``Variable``: a named numpy array that layers and optimizers own (Keras's ``keras.Variable``, eagerly).

A variable holds its value as a C-contiguous numpy array; ``.numpy()``
returns a copy of it, ``.assign(v)`` writes in place so that every
holder of the variable sees the new value.
"""

import numpy as np


class Variable:
    """A trainable or non-trainable array with a name and a path (``"conv2d/kernel"``).

    >>> v = Variable(np.zeros((2, 3)), name="kernel")
    >>> v.shape, v.dtype
    ((2, 3), dtype('float32'))
    >>> v.assign(np.ones((2, 3))); float(v.numpy().sum())
    6.0
    """

    def __init__(self, value, name, trainable=True, dtype="float32", path=None, regularizer=None):
        self.name = name
        self.path = path or name
        self.trainable = trainable
        self.regularizer = regularizer  # a fastconv.regularizers penalty on the value, or None
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

    def __repr__(self):
        return f"<Variable path={self.path}, shape={self.shape}, dtype={self.dtype}>"
