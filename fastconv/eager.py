"""What an eager call returns: ``model(x)``, ``layer(x)``, ``loss(y_true, y_pred)`` give a ``Tensor``, a numpy
array that also has TensorFlow's and Keras's ``.numpy()``, so programs that write
``model(x_train[:1]).numpy()`` (TensorFlow's quickstart) run unchanged. Inside ``fit`` and ``predict`` the
arrays stay plain numpy arrays; ``predict`` returns numpy arrays, as Keras's does.

>>> eager(np.ones(2, np.float32)).numpy()
array([1., 1.], dtype=float32)
"""

import numpy as np


class Tensor(np.ndarray):
    """A numpy array returned by an eager call, with ``.numpy()`` (a plain numpy copy), as a Keras tensor."""

    def numpy(self):
        """The values as a plain numpy array."""
        return np.array(self)

    def __repr__(self):  # printed as the numpy array it is
        return repr(np.asarray(self))


def eager(values):
    """``values`` (an array, a numpy scalar, or a list of arrays) as ``Tensor``s, without copying."""
    if isinstance(values, list):
        return [eager(v) for v in values]
    return np.asarray(values).view(Tensor)
