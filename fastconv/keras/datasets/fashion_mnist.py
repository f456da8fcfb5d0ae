"""``keras.datasets.fashion_mnist``."""

from fastconv.datasets import fashion_mnist_load_data as load_data

__all__ = ["load_data"]
