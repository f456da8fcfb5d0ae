"""The part of TensorFlow that Keras programs touch, for programs run through fastconv's Keras switch.

Under ``python -m fastconv.keras SCRIPT.py`` or ``%load_ext fastconv.keras``
(:mod:`fastconv.keras_switch`), ``import tensorflow as tf`` gives this module.
It holds ``tf.keras`` (fastconv's Keras) and the reproducibility and thread
settings that Keras programs and notebooks begin with:

- ``tf.keras.utils.set_random_seed(seed)`` and ``tf.random.set_seed(seed)``;
- ``tf.config.experimental.enable_op_determinism()``;
- ``tf.config.threading.set_intra_op_parallelism_threads(n)`` and the
  matching getters and ``inter_op`` functions;
- ``tf.config.list_physical_devices(kind)``: the CPU, and no GPU;
- ``tf.nn.softmax``, ``tf.nn.relu``, ``tf.nn.sigmoid`` on arrays (TensorFlow's quickstart).

Any other name raises ``AttributeError`` saying that fastconv provides Keras,
not TensorFlow: nothing stands in silently for a TensorFlow function that
fastconv does not have.

>>> random.set_seed(42)
>>> [device.name for device in config.list_physical_devices()]
['/physical_device:CPU:0']
>>> config.list_physical_devices("GPU")
[]
"""

import collections
import types

import numpy as np

from fastconv import parallel, utils

__path__ = []  # a package for the import system: ``tensorflow.keras`` resolves to fastconv.keras
__version__ = "2.16.0+fastconv"
"""The TensorFlow whose ``tf.keras`` fastconv's Keras follows: the first with Keras 3 (programs print it)."""

_NOT_TENSORFLOW = ("fastconv provides Keras, not TensorFlow: {name} is not available. fastconv's switch "
                   "(python -m fastconv.keras, %load_ext fastconv.keras) resolves tensorflow.keras, "
                   "tf.random.set_seed, tf.config.experimental.enable_op_determinism, "
                   "tf.config.threading, tf.config.list_physical_devices and tf.nn.softmax/relu/sigmoid; run "
                   "the program with TensorFlow for the rest.")


class _Namespace(types.SimpleNamespace):
    """A group of TensorFlow names (``tf.random``, ``tf.config``, ...) that raises for the ones it lacks."""

    def __init__(self, name, **members):
        super().__init__(**members)
        object.__setattr__(self, "_name", name)

    def __getattr__(self, attribute):
        if attribute.startswith("__"):
            raise AttributeError(attribute)
        raise AttributeError(_NOT_TENSORFLOW.format(name=f"{self._name}.{attribute}"))

    def __repr__(self):
        return f"<fastconv's subset of {self._name}>"


def set_seed(seed):
    """``tf.random.set_seed``: seeds every generator a fastconv program uses (:func:`fastconv.utils.set_random_seed`).

    TensorFlow's function seeds only TensorFlow's global generator; fastconv
    has one kind of generator for weights, dropout and shuffling, so this is
    the same as ``keras.utils.set_random_seed(seed)``.
    """
    utils.set_random_seed(seed)


def enable_op_determinism():
    """``tf.config.experimental.enable_op_determinism``: true of fastconv without doing anything.

    Every fastconv kernel computes each output element on one thread in a
    fixed order, and sums over a batch in chunks set by the shapes, so results
    are bitwise identical from run to run and for any number of threads; there
    is no nondeterministic mode to turn off.
    """


_intra_op_threads = 0
_inter_op_threads = 0


def _thread_count(name, value):
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{name} expects a non-negative integer (0: the system's default), received {value!r}")
    return value


def set_intra_op_parallelism_threads(num_threads):
    """``tf.config.threading.set_intra_op_parallelism_threads``: the threads each kernel runs on.

    Sets :func:`fastconv.set_num_threads` (``0``, TensorFlow's "let the system
    pick", restores fastconv's default: the CPUs this process may use).
    """
    global _intra_op_threads
    _intra_op_threads = _thread_count("set_intra_op_parallelism_threads", num_threads)
    parallel.set_num_threads(num_threads or None)


def get_intra_op_parallelism_threads():
    """``tf.config.threading.get_intra_op_parallelism_threads``: the value set, 0 if none (as TensorFlow)."""
    return _intra_op_threads


def set_inter_op_parallelism_threads(num_threads):
    """``tf.config.threading.set_inter_op_parallelism_threads``: recorded; fastconv runs one op at a time.

    TensorFlow runs independent ops of a graph side by side on this many
    threads. A fastconv model runs its layers in order, each on all of
    :func:`fastconv.get_num_threads`'s threads, so there is nothing to set;
    the value is kept for ``get_inter_op_parallelism_threads``.
    """
    global _inter_op_threads
    _inter_op_threads = _thread_count("set_inter_op_parallelism_threads", num_threads)


def get_inter_op_parallelism_threads():
    """``tf.config.threading.get_inter_op_parallelism_threads``: the value set, 0 if none (as TensorFlow)."""
    return _inter_op_threads


PhysicalDevice = collections.namedtuple("PhysicalDevice", ["name", "device_type"])
"""TensorFlow's description of a device: ``PhysicalDevice(name='/physical_device:CPU:0', device_type='CPU')``."""


def list_physical_devices(device_type=None):
    """``tf.config.list_physical_devices``: the CPU, which is all fastconv computes on (no GPU)."""
    if device_type is not None and not isinstance(device_type, str):
        raise TypeError(f"list_physical_devices expects device_type as a string such as 'GPU', "
                        f"received {device_type!r}")
    devices = [PhysicalDevice("/physical_device:CPU:0", "CPU")]
    return [device for device in devices if device_type is None or device.device_type == device_type.upper()]


def _on_arrays(name):
    """``tf.nn.<name>`` on an array: Keras's activation of that name, returning a ``fastconv.eager.Tensor``
    (TensorFlow's quickstart prints ``tf.nn.softmax(predictions).numpy()``)."""
    def apply(features, name=None):
        from fastconv import activations, eager

        return eager.eager(getattr(activations, activation)(np.asarray(features, np.float32)))

    activation = name
    apply.__name__, apply.__doc__ = name, f"``tf.nn.{name}`` on an array."
    return apply


def _softmax(logits, axis=None, name=None):
    """``tf.nn.softmax`` on an array, along ``axis`` (the last by default); as a layer's activation
    (``Dense(10, activation=tf.nn.softmax)``, by its name), Keras's softmax."""
    from fastconv import eager, ops

    return eager.eager(ops.softmax(np.asarray(logits, np.float32), axis=-1 if axis is None else axis))


_softmax.__name__ = "softmax"


random = _Namespace("tensorflow.random", set_seed=set_seed)
nn = _Namespace("tensorflow.nn", softmax=_softmax, relu=_on_arrays("relu"), sigmoid=_on_arrays("sigmoid"))
config = _Namespace(
    "tensorflow.config",
    experimental=_Namespace("tensorflow.config.experimental", enable_op_determinism=enable_op_determinism),
    threading=_Namespace("tensorflow.config.threading",
                         set_intra_op_parallelism_threads=set_intra_op_parallelism_threads,
                         get_intra_op_parallelism_threads=get_intra_op_parallelism_threads,
                         set_inter_op_parallelism_threads=set_inter_op_parallelism_threads,
                         get_inter_op_parallelism_threads=get_inter_op_parallelism_threads),
    list_physical_devices=list_physical_devices,
)


def __getattr__(name):
    if name == "keras":
        from fastconv import keras

        return keras
    if name.startswith("__"):
        raise AttributeError(name)
    raise AttributeError(_NOT_TENSORFLOW.format(name=f"tensorflow.{name}"))
