"""``keras.losses``."""

from fastconv.layers.keras_names import KERAS_MODULE_NAMES, missing_name
from fastconv.losses import (MAE, MSE, BinaryCrossentropy, CategoricalCrossentropy, Huber, Loss, MeanAbsoluteError,
                             MeanSquaredError, SparseCategoricalCrossentropy, binary_crossentropy,
                             categorical_crossentropy, deserialize, get, huber, mae, mean_absolute_error,
                             mean_squared_error, mse, serialize, sparse_categorical_crossentropy)

__all__ = ["MAE", "MSE", "BinaryCrossentropy", "CategoricalCrossentropy", "Huber", "Loss", "MeanAbsoluteError",
           "MeanSquaredError", "SparseCategoricalCrossentropy", "binary_crossentropy", "categorical_crossentropy",
           "deserialize", "get", "huber", "mae", "mean_absolute_error", "mean_squared_error", "mse", "serialize",
           "sparse_categorical_crossentropy"]


def __getattr__(name):  # PEP 562: a Keras name fastconv lacks raises NotImplementedError naming it
    raise missing_name(__name__, "keras.losses", KERAS_MODULE_NAMES["keras.losses"], name)
