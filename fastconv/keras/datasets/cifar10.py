"""``keras.datasets.cifar10``."""

from fastconv.datasets import cifar10_load_data as load_data

__all__ = ["load_data"]
