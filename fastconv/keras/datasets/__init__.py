"""``keras.datasets``: ``cifar10.load_data()``, ``fashion_mnist.load_data()`` and ``mnist.load_data()``."""

from fastconv.keras.datasets import cifar10, fashion_mnist, mnist

__all__ = ["cifar10", "fashion_mnist", "mnist"]
