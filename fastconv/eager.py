"""What an eager call returns: ``model(x)``, ``layer(x)``, ``loss(y_true, y_pred)`` give a ``Tensor``, a numpy
array that also has TensorFlow's and Keras's ``.numpy()`` (a loss's value: a numpy scalar with ``.numpy()``), so
programs that write ``model(x_train[:1]).numpy()`` (TensorFlow's quickstart) run unchanged. Inside ``fit`` and
``predict`` the arrays stay plain numpy arrays; ``predict`` returns numpy arrays, as Keras's does.

>>> eager(np.ones(2, np.float32)).numpy()
array([1., 1.], dtype=float32)
>>> round(eager(np.float32(0.25)).numpy(), 1)
np.float32(0.2)
"""

import numpy as np


class Tensor(np.ndarray):
    """A numpy array returned by an eager call, with ``.numpy()`` (a plain numpy copy), as a Keras tensor."""

    def numpy(self):
        """The values as a plain numpy array."""
        return np.array(self)

    def __repr__(self):  # printed as the numpy array it is
        return repr(np.asarray(self))


def _scalar_type(base):
    def numpy(self):
        """The value as a plain numpy scalar."""
        return base(self)

    return type(base.__name__, (base,), {"numpy": numpy, "__doc__": f"A ``{base.__name__}`` with ``.numpy()``."})


_SCALARS = {np.dtype(base): _scalar_type(base) for base in (np.float32, np.float64)}


def eager(values):
    """``values`` (an array, a numpy scalar, or a list of arrays) as ``Tensor``s, without copying; a 0-d float
    value as a numpy scalar with ``.numpy()`` (it rounds, hashes and prints as one)."""
    if isinstance(values, list):
        return [eager(v) for v in values]
    array = np.asarray(values)
    if array.ndim == 0 and array.dtype in _SCALARS:
        return _SCALARS[array.dtype](array[()])
    return array.view(Tensor)
