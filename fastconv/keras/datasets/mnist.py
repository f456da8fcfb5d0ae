"""``keras.datasets.mnist``."""

from fastconv.datasets import mnist_load_data as load_data

__all__ = ["load_data"]
