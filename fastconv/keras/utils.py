"""``keras.utils``."""

from fastconv.utils import set_random_seed, to_categorical
from fastconv.visualization import model_to_dot, plot_model

__all__ = ["model_to_dot", "plot_model", "set_random_seed", "to_categorical"]
