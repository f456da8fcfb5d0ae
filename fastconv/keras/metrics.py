"""``keras.metrics``."""

from fastconv.layers.keras_names import KERAS_MODULE_NAMES, missing_name
from fastconv.losses import mean_absolute_error, mean_squared_error
from fastconv.metrics import (AUC, Accuracy, BinaryAccuracy, BinaryCrossentropy, CategoricalAccuracy,
                              CategoricalCrossentropy, F1Score, FalseNegatives, FalsePositives, FBetaScore, Mean,
                              MeanAbsoluteError, TrueNegatives, TruePositives,
                              MeanMetricWrapper, MeanSquaredError, Metric, Precision, Recall, RootMeanSquaredError,
                              SparseCategoricalAccuracy, SparseCategoricalCrossentropy, SparseTopKCategoricalAccuracy,
                              TopKCategoricalAccuracy, accuracy, binary_accuracy, categorical_accuracy, deserialize,
                              get, serialize, sparse_categorical_accuracy, sparse_top_k_categorical_accuracy,
                              top_k_categorical_accuracy)

__all__ = ["AUC", "Accuracy", "BinaryAccuracy", "BinaryCrossentropy", "CategoricalAccuracy",
           "CategoricalCrossentropy", "F1Score", "FBetaScore", "FalseNegatives", "FalsePositives", "TrueNegatives",
           "TruePositives", "Mean", "MeanAbsoluteError", "MeanMetricWrapper",
           "MeanSquaredError", "Metric", "Precision", "Recall", "RootMeanSquaredError", "SparseCategoricalAccuracy",
           "SparseCategoricalCrossentropy", "SparseTopKCategoricalAccuracy", "TopKCategoricalAccuracy", "accuracy",
           "binary_accuracy", "categorical_accuracy", "deserialize", "get", "mean_absolute_error",
           "mean_squared_error", "serialize", "sparse_categorical_accuracy", "sparse_top_k_categorical_accuracy",
           "top_k_categorical_accuracy"]


def __getattr__(name):  # PEP 562: a Keras name fastconv lacks raises NotImplementedError naming it
    raise missing_name(__name__, "keras.metrics", KERAS_MODULE_NAMES["keras.metrics"], name)
