"""``keras.backend``: the settings Keras programs read or reset (``clear_session``, ``floatx``, ``epsilon``,
``image_data_format``), for fastconv's one configuration: float32, channels last, numpy arrays."""

import numpy as np

from fastconv import naming
from fastconv.layers.base import KerasTensor
from fastconv.layers.keras_names import KERAS_MODULE_NAMES, missing_name

__all__ = ["backend", "clear_session", "epsilon", "floatx", "get_uid", "image_data_format", "is_float_dtype",
           "is_int_dtype", "is_keras_tensor", "result_type", "set_epsilon", "set_floatx", "set_image_data_format",
           "standardize_dtype"]


def backend():
    """``'numpy'``: fastconv computes on numpy arrays (Keras's backends are ``'tensorflow'``, ``'jax'``,
    ``'torch'`` and ``'numpy'``), so a program's TensorFlow-only branch is not taken."""
    return "numpy"


def clear_session(free_memory=True):
    """Start the automatic names again (``dense``, ``dense_1``, ...), as Keras's ``clear_session`` does; the
    models already built keep theirs. Géron's notebooks call it before each new model."""
    naming.reset()


def get_uid(prefix=""):
    """The number of times ``prefix`` was asked for, from 1, as Keras's ``get_uid``; shared with the
    automatic names (``clear_session`` restarts it)."""
    return naming.next_count(prefix)


def floatx():
    """``'float32'``: the dtype of fastconv's layers and weights."""
    return "float32"


def set_floatx(value):
    """Accepts ``'float32'``, the one dtype fastconv computes in; other values raise."""
    _only(value, "float32", "set_floatx", "fastconv computes in float32")


def epsilon():
    """``1e-7``, the fuzz factor of fastconv's losses, metrics and optimizers' defaults, as Keras's."""
    return 1e-7


def set_epsilon(value):
    """Accepts ``1e-7``, the fuzz factor fastconv's losses use; other values raise."""
    _only(value, 1e-7, "set_epsilon", "fastconv's losses use Keras's default fuzz factor, 1e-7")


def image_data_format():
    """``'channels_last'``: fastconv's images are ``(batch, height, width, channels)``."""
    return "channels_last"


def set_image_data_format(data_format):
    """Accepts ``'channels_last'``; ``'channels_first'`` raises (fastconv's layers are NHWC)."""
    _only(data_format, "channels_last", "set_image_data_format", "fastconv's layers take channels-last images")


def is_keras_tensor(x):
    """Whether ``x`` is a symbolic tensor (``keras.Input`` or a layer's output on one)."""
    return isinstance(x, KerasTensor)


def standardize_dtype(dtype=None):
    """A dtype's name (``'float32'`` for None), as Keras names it."""
    return np.dtype(dtype or "float32").name


def result_type(*dtypes):
    """The dtype numpy gives an operation on ``dtypes`` (``'float32'`` for none)."""
    return np.result_type(*dtypes).name if dtypes else "float32"


def is_float_dtype(dtype):
    return np.issubdtype(np.dtype(dtype), np.floating)


def is_int_dtype(dtype):
    return np.issubdtype(np.dtype(dtype), np.integer)


def _only(value, supported, function, reason):
    if value != supported:
        raise NotImplementedError(f"`keras.backend.{function}({value!r})`: {reason}; only {supported!r} is "
                                  "supported.")


def __getattr__(name):  # PEP 562: a Keras name fastconv lacks raises NotImplementedError naming it
    raise missing_name(__name__, "keras.backend", KERAS_MODULE_NAMES["keras.backend"], name)
