"""``keras.losses``."""

from fastconv.losses import (MSE, BinaryCrossentropy, CategoricalCrossentropy, Loss, MeanSquaredError,
                             SparseCategoricalCrossentropy, binary_crossentropy, categorical_crossentropy,
                             deserialize, get, mean_squared_error, mse, serialize,
                             sparse_categorical_crossentropy)

__all__ = ["MSE", "BinaryCrossentropy", "CategoricalCrossentropy", "Loss", "MeanSquaredError",
           "SparseCategoricalCrossentropy", "binary_crossentropy", "categorical_crossentropy", "deserialize", "get",
           "mean_squared_error", "mse", "serialize", "sparse_categorical_crossentropy"]
