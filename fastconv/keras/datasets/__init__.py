"""``keras.datasets``: ``cifar10.load_data()``, ``fashion_mnist.load_data()`` and ``mnist.load_data()``."""

from fastconv.layers.keras_names import KERAS_MODULE_NAMES, missing_name
from fastconv.keras.datasets import cifar10, fashion_mnist, mnist

__all__ = ["cifar10", "fashion_mnist", "mnist"]


def __getattr__(name):  # PEP 562: a Keras name fastconv lacks raises NotImplementedError naming it
    raise missing_name(__name__, "keras.datasets", KERAS_MODULE_NAMES["keras.datasets"], name)
