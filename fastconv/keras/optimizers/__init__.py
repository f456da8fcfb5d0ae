"""``keras.optimizers``, and ``keras.optimizers.schedules``."""

from fastconv.keras.optimizers import schedules
from fastconv.optimizers import SGD, Adagrad, Adam, Optimizer, RMSprop, deserialize, get, serialize

__all__ = ["SGD", "Adagrad", "Adam", "Optimizer", "RMSprop", "deserialize", "get", "schedules", "serialize"]
