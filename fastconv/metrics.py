"""Streaming metrics with Keras 3's names and arithmetic: ``Mean``, the accuracies (top-k too), the mean
absolute, squared and root mean squared errors, ``Precision`` and ``Recall``.

A metric accumulates over batches (``update_state``), reports
(``result()``, a float32 numpy scalar) and starts again (``reset_state``).
``Mean`` keeps a float32 ``total`` and ``count`` as Keras does; the
accuracies are ``Mean``s of per-sample matches.

``resolve_metric(identifier, y_true, y_pred)`` is what ``compile(metrics=...)``
needs: Keras 3's rule for the string ``'accuracy'``/``'acc'``, decided from
the shapes of the first batch's targets and predictions:

- ``y_pred.shape[-1] == 1``: ``BinaryAccuracy``;
- otherwise labels of lower rank than ``y_pred``, or with a last axis of 1:
  ``SparseCategoricalAccuracy``;
- otherwise: ``CategoricalAccuracy``;

named as the user wrote it (``'accuracy'`` or ``'acc'``), which is the
key in ``History.history``.

Not here: the other Keras metrics (AUC, F1, ...), which raise
``NotImplementedError`` by name.
"""

import numpy as np

from fastconv import losses
from fastconv.naming import to_snake_case
from fastconv.variables import Variable


class Metric:
    """Base class: named float32 state variables, ``update_state``, ``result``, ``reset_state``.

    Parameters
    ----------
    dtype : str, optional
        The dtype of the state and the result; float32 by default.
    name : str, optional
    """

    def __init__(self, dtype=None, name=None):
        self.name = name or to_snake_case(type(self).__name__)
        self.dtype = np.dtype(dtype or "float32").name
        self._variables = []

    def add_variable(self, name):
        """A 0-d state variable at ``{metric name}/{name}``, starting at 0."""
        path = f"{self.name.replace('/', '>')}/{name}"
        variable = Variable(0, name=name, trainable=False, dtype=self.dtype, path=path)
        self._variables.append(variable)
        return variable

    @property
    def variables(self):
        """The state variables (``total``, ``count`` for a ``Mean``)."""
        return self._variables[:]

    def reset_state(self):
        """Set all state variables back to 0."""
        for variable in self._variables:
            variable.value[...] = 0

    def update_state(self, *args, **kwargs):
        """Accumulate one batch; each metric defines it."""
        raise NotImplementedError(f"{type(self).__name__} must implement `update_state`.")

    def result(self):
        """The metric over everything accumulated since the last reset; each metric defines it."""
        raise NotImplementedError(f"{type(self).__name__} must implement `result`.")

    def __call__(self, *args, **kwargs):
        """``update_state`` then ``result``, as in Keras."""
        self.update_state(*args, **kwargs)
        return self.result()

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name}>"


class Mean(Metric):
    """Weighted mean of values over all batches: ``total / count``.

    Per batch, values of rank > 1 are first averaged over all but their
    first axis (one value per sample); then ``total += sum(w * values)`` and
    ``count += sum(w)`` (``w = 1`` per sample without ``sample_weight``).
    With no samples yet the result is 0.

    Examples
    --------
    >>> m = Mean()
    >>> m.update_state([1, 3, 5, 7])
    >>> m.update_state([1, 3], sample_weight=[1, 0])
    >>> round(float(m.result()), 4)
    3.4
    """

    def __init__(self, name="mean", dtype=None):
        super().__init__(name=name, dtype=dtype)
        self.total = self.add_variable("total")
        self.count = self.add_variable("count")

    def update_state(self, values, sample_weight=None):
        dt = np.dtype(self.dtype).type
        values = np.asarray(values, dtype=self.dtype)
        if sample_weight is not None:
            sample_weight = np.asarray(sample_weight, dtype=self.dtype)
            values, sample_weight = losses.squeeze_or_expand_to_same_rank(values, sample_weight)
            weight_ndim = sample_weight.ndim
            if values.ndim > weight_ndim:
                values = np.mean(values, axis=tuple(range(weight_ndim, values.ndim)))
            sample_weight = np.broadcast_to(sample_weight, values.shape)
            values = values * sample_weight
            if weight_ndim > 1:
                sample_weight = np.mean(sample_weight, axis=tuple(range(1, weight_ndim)))
        if values.ndim > 1:
            values = np.mean(values, axis=tuple(range(1, values.ndim)))
        self.total.value += np.sum(values, dtype=self.dtype)
        if sample_weight is not None:
            num_samples = np.sum(sample_weight, dtype=self.dtype)
        else:
            num_samples = values.shape[0] if values.ndim >= 1 else 1
        self.count.value += dt(num_samples)

    def result(self):
        dt = np.dtype(self.dtype).type
        count = self.count.value
        return dt(0) if count == 0 else dt(self.total.value / count)


class MeanMetricWrapper(Mean):
    """The mean of ``fn(y_true, y_pred, **kwargs)`` (per-sample values) over all batches."""

    def __init__(self, fn, name=None, dtype=None, **kwargs):
        super().__init__(name=name or _object_name(fn), dtype=dtype)
        self._fn = fn
        self._fn_kwargs = kwargs

    def update_state(self, y_true, y_pred, sample_weight=None):
        values = self._fn(y_true, y_pred, **self._fn_kwargs)
        super().update_state(values, sample_weight=sample_weight)

    def get_config(self):
        config = super().get_config()
        config["fn"] = serialize(self._fn)
        config.update(self._fn_kwargs)
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        if "fn" in config:
            config["fn"] = deserialize(config["fn"])
        return cls(**config)


# -- per-sample functions ---------------------------------------------------------------------------------

def accuracy(y_true, y_pred):
    """1.0 where ``y_true == y_pred`` exactly, else 0.0 (float32).

    >>> accuracy([1, 2, 3], [1, 2, 4])
    array([1., 1., 0.], dtype=float32)
    """
    y_pred = np.asarray(y_pred)
    y_true = np.asarray(y_true, dtype=y_pred.dtype)
    y_true, y_pred = losses.squeeze_or_expand_to_same_rank(y_true, y_pred)
    return (y_true == y_pred).astype(np.float32)


def binary_accuracy(y_true, y_pred, threshold=0.5):
    """1.0 where ``(y_pred > threshold)`` equals ``y_true``, else 0.0 (float32).

    >>> binary_accuracy([[1], [1], [0], [0]], [[0.98], [0.5], [0.1], [0.6]])
    array([[1.],
           [0.],
           [1.],
           [0.]], dtype=float32)
    """
    y_pred = np.asarray(y_pred)
    y_true = np.asarray(y_true)
    y_true, y_pred = losses.squeeze_or_expand_to_same_rank(y_true, y_pred)
    if y_pred.dtype.kind == "f":
        threshold = y_pred.dtype.type(threshold)  # compared in y_pred's precision, as in Keras
    return (y_true == (y_pred > threshold).astype(y_true.dtype)).astype(np.float32)


def categorical_accuracy(y_true, y_pred):
    """1.0 where ``argmax(y_true)`` equals ``argmax(y_pred)`` over the last axis, else 0.0.

    >>> categorical_accuracy([[0, 0, 1], [0, 1, 0]], [[0.1, 0.9, 0.8], [0.05, 0.95, 0]])
    array([0., 1.], dtype=float32)
    """
    return (np.argmax(y_true, axis=-1) == np.argmax(y_pred, axis=-1)).astype(np.float32)


def sparse_categorical_accuracy(y_true, y_pred):
    """1.0 where the integer label ``y_true`` equals ``argmax(y_pred)`` over the last axis, else 0.0.

    Labels may have shape (n,) or (n, 1); the result has shape (n,).

    >>> sparse_categorical_accuracy([[2], [1]], [[0.1, 0.6, 0.3], [0.05, 0.95, 0]])
    array([0., 1.], dtype=float32)
    """
    y_pred = np.asarray(y_pred)
    y_true = np.asarray(y_true, dtype=y_pred.dtype if y_pred.dtype.kind == "f" else None)
    original_shape = y_true.shape
    reshape = y_true.ndim == y_pred.ndim and y_true.shape[-1] == 1
    if reshape:
        y_true = y_true[..., 0]
    matches = (y_true == np.argmax(y_pred, axis=-1).astype(y_true.dtype)).astype(np.float32)
    if reshape:
        matches = matches.reshape(original_shape)
    if matches.ndim > 1 and matches.shape[-1] == 1:
        matches = matches[..., 0]
    return matches


def top_k_categorical_accuracy(y_true, y_pred, k=5):
    """1.0 where the one-hot label's class is among the ``k`` largest predictions (ties at the boundary
    count as in, as TensorFlow's ``in_top_k``), else 0.0.

    >>> top_k_categorical_accuracy([[0, 0, 1], [0, 1, 0]], [[0.1, 0.5, 0.4], [0.6, 0.1, 0.3]], k=2)
    array([1., 0.], dtype=float32)
    """
    return sparse_top_k_categorical_accuracy(np.argmax(y_true, axis=-1), y_pred, k)


def sparse_top_k_categorical_accuracy(y_true, y_pred, k=5, from_sorted_ids=False):
    """1.0 where the integer label is among the ``k`` largest predictions (see
    :func:`top_k_categorical_accuracy`), else 0.0; labels of shape (n,) or (n, 1).

    >>> sparse_top_k_categorical_accuracy([2, 1], [[0.1, 0.5, 0.4], [0.6, 0.1, 0.3]], k=2)
    array([1., 0.], dtype=float32)
    """
    if from_sorted_ids:
        raise NotImplementedError("`from_sorted_ids=True` is not supported by fastconv yet.")
    y_pred = np.asarray(y_pred)
    labels = np.asarray(y_true).reshape(len(y_pred), -1)[:, 0].astype(np.int64)
    target = np.take_along_axis(y_pred, labels[:, None], axis=-1)
    return (np.sum(y_pred > target, axis=-1) < k).astype(np.float32)


# -- classes ----------------------------------------------------------------------------------------------

class Accuracy(MeanMetricWrapper):
    """How often predictions equal labels exactly (``accuracy``).

    >>> m = Accuracy()
    >>> m.update_state([[1], [2], [3], [4]], [[0], [2], [3], [4]])
    >>> float(m.result())
    0.75
    """

    def __init__(self, name="accuracy", dtype=None):
        super().__init__(accuracy, name=name, dtype=dtype)

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype}


class BinaryAccuracy(MeanMetricWrapper):
    """How often ``y_pred > threshold`` matches binary labels (``binary_accuracy``).

    >>> m = BinaryAccuracy()
    >>> m.update_state([[1], [1], [0], [0]], [[0.98], [1], [0], [0.6]])
    >>> float(m.result())
    0.75
    """

    def __init__(self, name="binary_accuracy", dtype=None, threshold=0.5):
        super().__init__(binary_accuracy, name=name, dtype=dtype, threshold=threshold)
        self.threshold = threshold

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype, "threshold": self.threshold}


class CategoricalAccuracy(MeanMetricWrapper):
    """How often the predicted class matches a one-hot label (``categorical_accuracy``).

    >>> m = CategoricalAccuracy()
    >>> m.update_state([[0, 0, 1], [0, 1, 0]], [[0.1, 0.9, 0.8], [0.05, 0.95, 0]])
    >>> float(m.result())
    0.5
    """

    def __init__(self, name="categorical_accuracy", dtype=None):
        super().__init__(categorical_accuracy, name=name, dtype=dtype)

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype}


class SparseCategoricalAccuracy(MeanMetricWrapper):
    """How often the predicted class matches an integer label (``sparse_categorical_accuracy``).

    >>> m = SparseCategoricalAccuracy()
    >>> m.update_state([[2], [1]], [[0.1, 0.6, 0.3], [0.05, 0.95, 0]])
    >>> float(m.result())
    0.5
    """

    def __init__(self, name="sparse_categorical_accuracy", dtype=None):
        super().__init__(sparse_categorical_accuracy, name=name, dtype=dtype)

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype}


class TopKCategoricalAccuracy(MeanMetricWrapper):
    """How often the one-hot label's class is among the ``k`` largest predictions (``top_k_categorical_accuracy``)."""

    def __init__(self, k=5, name="top_k_categorical_accuracy", dtype=None):
        super().__init__(top_k_categorical_accuracy, name=name, dtype=dtype, k=k)
        self.k = k

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype, "k": self.k}


class SparseTopKCategoricalAccuracy(MeanMetricWrapper):
    """How often the integer label is among the ``k`` largest predictions
    (``sparse_top_k_categorical_accuracy``)."""

    def __init__(self, k=5, name="sparse_top_k_categorical_accuracy", dtype=None, from_sorted_ids=False):
        super().__init__(sparse_top_k_categorical_accuracy, name=name, dtype=dtype, k=k,
                         from_sorted_ids=from_sorted_ids)
        self.k, self.from_sorted_ids = k, from_sorted_ids

    def get_config(self):  # Keras 3.15's: without `from_sorted_ids`
        return {"name": self.name, "dtype": self.dtype, "k": self.k}


class MeanAbsoluteError(MeanMetricWrapper):
    """The mean absolute error (``mean_absolute_error``) over every sample."""

    def __init__(self, name="mean_absolute_error", dtype=None):
        super().__init__(losses.mean_absolute_error, name=name, dtype=dtype)

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype}


class MeanSquaredError(MeanMetricWrapper):
    """The mean squared error (``mean_squared_error``) over every sample."""

    def __init__(self, name="mean_squared_error", dtype=None):
        super().__init__(losses.mean_squared_error, name=name, dtype=dtype)

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype}


class RootMeanSquaredError(Mean):
    """``sqrt`` of the mean of the squared errors over every element of every batch.

    >>> m = RootMeanSquaredError()
    >>> m.update_state([[0.0, 1.0], [1.0, 1.0]], [[1.0, 1.0], [1.0, 0.0]])
    >>> round(float(m.result()), 4)
    0.7071
    """

    def __init__(self, name="root_mean_squared_error", dtype=None):
        super().__init__(name=name, dtype=dtype)

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_pred = np.asarray(y_pred, dtype=self.dtype)
        y_true = np.asarray(y_true, dtype=self.dtype)
        y_true, y_pred = losses.squeeze_or_expand_to_same_rank(y_true, y_pred)
        super().update_state(np.square(y_pred - y_true), sample_weight)

    def result(self):
        return np.sqrt(super().result())

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype}


class _ConfusionRatio(Metric):
    """``Precision`` and ``Recall``: counts of true positives and of the other kind of error (false positives
    or false negatives) over every element of every batch, a prediction above ``thresholds`` (0.5 by default)
    counting as positive; ``class_id`` counts one class (one column) only. The result is
    ``true_positives / (true_positives + errors)``, 0 with nothing counted."""

    _errors = None  # "false_positives" or "false_negatives"

    def __init__(self, thresholds=None, top_k=None, class_id=None, name=None, dtype=None):
        super().__init__(name=name, dtype=dtype)
        if top_k is not None:
            raise NotImplementedError(f"`{type(self).__name__}` in fastconv does not support `top_k` yet. "
                                      f"Received: top_k={top_k!r}")
        if thresholds is not None and not isinstance(thresholds, (int, float)):
            raise NotImplementedError(f"`{type(self).__name__}` in fastconv takes one threshold. "
                                      f"Received: thresholds={thresholds!r}")
        if thresholds is not None and not 0 <= thresholds <= 1:
            raise ValueError(f"Threshold values must be in [0, 1]. Received: {thresholds}")
        self.thresholds, self.top_k, self.class_id = thresholds, top_k, class_id
        self.true_positives = self.add_variable("true_positives")
        self.errors = self.add_variable(self._errors)

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_pred = np.asarray(y_pred, dtype=np.float32)
        y_true = np.asarray(y_true)
        y_true, y_pred = losses.squeeze_or_expand_to_same_rank(y_true, y_pred)
        if self.class_id is not None:
            y_true, y_pred = y_true[..., self.class_id], y_pred[..., self.class_id]
        threshold = np.float32(0.5 if self.thresholds is None else self.thresholds)
        predicted, actual = y_pred > threshold, y_true.astype(bool)
        weight = 1 if sample_weight is None else np.broadcast_to(
            np.asarray(sample_weight, self.dtype).reshape(len(y_pred), *(1,) * (y_pred.ndim - 1)), y_pred.shape)
        errors = predicted & ~actual if self._errors == "false_positives" else ~predicted & actual
        self.true_positives.value += np.sum((predicted & actual) * weight, dtype=self.dtype)
        self.errors.value += np.sum(errors * weight, dtype=self.dtype)

    def result(self):
        dt = np.dtype(self.dtype).type
        denominator = self.true_positives.value + self.errors.value
        return dt(0) if denominator == 0 else dt(self.true_positives.value / denominator)

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype, "thresholds": self.thresholds, "top_k": self.top_k,
                "class_id": self.class_id}


class Precision(_ConfusionRatio):
    """The fraction of positive predictions that are right (``keras.metrics.Precision``).

    >>> m = Precision()
    >>> m.update_state([0, 1, 1, 1], [1, 0, 1, 1])
    >>> round(float(m.result()), 4)
    0.6667
    """

    _errors = "false_positives"


class Recall(_ConfusionRatio):
    """The fraction of positive labels that are predicted positive (``keras.metrics.Recall``).

    >>> m = Recall()
    >>> m.update_state([0, 1, 1, 1], [1, 0, 1, 1])
    >>> round(float(m.result()), 4)
    0.6667
    """

    _errors = "false_negatives"


# -- lookup, serialization and compile's rule -------------------------------------------------------------

ALL_OBJECTS = (Metric, Mean, MeanMetricWrapper, Accuracy, BinaryAccuracy, CategoricalAccuracy,
               SparseCategoricalAccuracy, TopKCategoricalAccuracy, SparseTopKCategoricalAccuracy, MeanAbsoluteError,
               MeanSquaredError, RootMeanSquaredError, Precision, Recall)
_CLASSES = {cls.__name__: cls for cls in ALL_OBJECTS}
_SNAKE_CASE_CLASSES = {to_snake_case(name): cls for name, cls in _CLASSES.items()
                       if name not in ("Metric", "MeanMetricWrapper")}
_FUNCTIONS = {
    "accuracy": accuracy,
    "binary_accuracy": binary_accuracy,
    "categorical_accuracy": categorical_accuracy,
    "sparse_categorical_accuracy": sparse_categorical_accuracy,
    "sparse_categorical_crossentropy": losses.sparse_categorical_crossentropy,
    "categorical_crossentropy": losses.categorical_crossentropy,
    "binary_crossentropy": losses.binary_crossentropy,
    "mean_squared_error": losses.mean_squared_error,
    "mse": losses.mean_squared_error,
    "MSE": losses.mean_squared_error,
    "mean_absolute_error": losses.mean_absolute_error,
    "mae": losses.mean_absolute_error,
    "MAE": losses.mean_absolute_error,
    "top_k_categorical_accuracy": top_k_categorical_accuracy,
    "sparse_top_k_categorical_accuracy": sparse_top_k_categorical_accuracy,
}
# Keras 3 metrics that fastconv does not implement yet: named, rather than "could not interpret".
_KERAS_ONLY = {
    "auc", "mean_absolute_percentage_error", "mape",
    "kl_divergence", "kld", "poisson", "hinge", "squared_hinge", "categorical_hinge", "cosine_similarity",
    "log_cosh_error", "mean_squared_logarithmic_error", "msle", "f1_score", "fbeta_score", "mean_io_u",
    "r2_score", "sum", "true_positives", "true_negatives", "false_positives", "false_negatives",
}


def _object_name(obj):
    if hasattr(obj, "name"):
        return obj.name
    if hasattr(obj, "__name__"):
        return to_snake_case(obj.__name__)
    return to_snake_case(type(obj).__name__)


def get(identifier):
    """Resolve ``identifier`` as ``keras.metrics.get`` does: a ``Metric``, or a per-sample function.

    Accepts ``None``, a class name (``'SparseCategoricalAccuracy'``), a
    function name (``'binary_accuracy'``, ``'mse'``, ...), a dict from
    ``serialize``, a ``Metric`` or a callable. The string ``'accuracy'`` here
    is the exact-match function; ``compile`` resolves it by shapes instead,
    through ``resolve_metric``.

    >>> get("SparseCategoricalAccuracy")
    <SparseCategoricalAccuracy name=sparse_categorical_accuracy>
    """
    if identifier is None:
        return None
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if isinstance(identifier, str):
        if identifier in _CLASSES and identifier not in ("Metric", "MeanMetricWrapper"):
            return _CLASSES[identifier]()
        if identifier in _FUNCTIONS:
            return _FUNCTIONS[identifier]
        if identifier in _SNAKE_CASE_CLASSES:  # 'precision', 'recall', 'root_mean_squared_error', as Keras reads them
            return _SNAKE_CASE_CLASSES[identifier]()
        if identifier.lower() in _KERAS_ONLY or to_snake_case(identifier) in _KERAS_ONLY:
            raise NotImplementedError(
                f"The Keras metric `{identifier}` is not implemented in fastconv yet. Supported: 'accuracy', "
                + ", ".join(repr(n) for n in sorted({*_FUNCTIONS, *_SNAKE_CASE_CLASSES}) if n != "accuracy") + ".")
        raise ValueError(f"Could not interpret metric identifier: {identifier}")
    if isinstance(identifier, type) and issubclass(identifier, Metric):
        return identifier()
    if callable(identifier):
        return identifier
    raise ValueError(f"Could not interpret metric identifier: {identifier}")


def serialize(metric):
    """Keras's serialized form of a ``Metric`` (``{"module": "keras.metrics", ...}``) or of a metric function."""
    if isinstance(metric, Metric):
        return {"module": "keras.metrics", "class_name": type(metric).__name__, "config": metric.get_config(),
                "registered_name": None}
    if callable(metric) and metric in _FUNCTIONS.values():
        return {"module": "builtins", "class_name": "function", "config": metric.__name__,
                "registered_name": "function"}
    raise ValueError(f"Cannot serialize the metric {metric!r}: it is not a fastconv metric.")


def deserialize(config, custom_objects=None):
    """The inverse of ``serialize``."""
    if isinstance(config, str):
        return get(config)
    class_name = config["class_name"]
    if custom_objects and class_name in custom_objects:
        return custom_objects[class_name].from_config(dict(config["config"]))
    if class_name == "function":
        return get(config["config"])
    if class_name not in _CLASSES:
        return get(class_name)  # raises, naming the class
    return _CLASSES[class_name].from_config(dict(config["config"]))


def _is_binary_or_sparse_categorical(y_true, y_pred):
    y_true_shape, y_pred_shape = np.shape(y_true), np.shape(y_pred)
    is_binary = y_pred_shape[-1] == 1
    is_sparse_categorical = (len(y_true_shape) < len(y_pred_shape)
                             or (y_true_shape[-1] == 1 and y_pred_shape[-1] > 1))
    return is_binary, is_sparse_categorical


def resolve_metric(identifier, y_true, y_pred, loss=None):
    """The metric object ``compile(metrics=[identifier])`` uses, as Keras 3's ``get_metric`` builds it.

    ``'accuracy'`` and ``'acc'`` (any case) become ``BinaryAccuracy`` when
    ``y_pred``'s last axis is 1, else ``SparseCategoricalAccuracy`` when
    ``y_true`` has lower rank or a last axis of 1, else
    ``CategoricalAccuracy``. Any other identifier goes through ``get``, and a
    function is wrapped in a ``MeanMetricWrapper``. The metric is named by
    the string the user wrote (the key in ``History.history``), or by the
    object's own name.

    Parameters
    ----------
    identifier : str, Metric, callable or dict
    y_true, y_pred : array_like
        A batch of targets and predictions; only their shapes are used.
    loss : optional
        Not consulted: Keras 3 decides from the shapes alone (Keras 2 looked
        at the loss). Accepted so that ``compile`` can pass its loss along.

    Examples
    --------
    >>> resolve_metric("accuracy", np.zeros(4), np.zeros((4, 10)))
    <SparseCategoricalAccuracy name=accuracy>
    >>> resolve_metric("acc", np.zeros((4, 10)), np.zeros((4, 10)))
    <CategoricalAccuracy name=acc>
    >>> resolve_metric("accuracy", np.zeros((4, 1)), np.zeros((4, 1)))
    <BinaryAccuracy name=accuracy>
    """
    if identifier is None:
        raise ValueError("Expected metric, received `None`")
    if str(identifier).lower() in ("accuracy", "acc"):
        is_binary, is_sparse_categorical = _is_binary_or_sparse_categorical(y_true, y_pred)
        if is_binary:
            metric = BinaryAccuracy(name=str(identifier))
        elif is_sparse_categorical:
            metric = SparseCategoricalAccuracy(name=str(identifier))
        else:
            metric = CategoricalAccuracy(name=str(identifier))
    else:
        metric = get(identifier)
    name = identifier if isinstance(identifier, str) else _object_name(metric)
    if not isinstance(metric, Metric):
        metric = MeanMetricWrapper(metric)
    metric.name = name
    return metric
