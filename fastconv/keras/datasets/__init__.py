"""``keras.datasets``: ``fashion_mnist.load_data()`` and ``mnist.load_data()``."""

from fastconv.keras.datasets import fashion_mnist, mnist

__all__ = ["fashion_mnist", "mnist"]
