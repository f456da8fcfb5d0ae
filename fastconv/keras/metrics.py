"""``keras.metrics``."""

from fastconv.metrics import (Accuracy, BinaryAccuracy, CategoricalAccuracy, Mean, Metric,
                              SparseCategoricalAccuracy, accuracy, binary_accuracy, categorical_accuracy,
                              deserialize, get, serialize, sparse_categorical_accuracy)

__all__ = ["Accuracy", "BinaryAccuracy", "CategoricalAccuracy", "Mean", "Metric", "SparseCategoricalAccuracy",
           "accuracy", "binary_accuracy", "categorical_accuracy", "deserialize", "get", "serialize",
           "sparse_categorical_accuracy"]
