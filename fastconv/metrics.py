"""Streaming metrics with Keras 3's names and arithmetic: ``Mean``, the accuracies (top-k too), the mean
absolute, squared and root mean squared errors, the counts of true and false positives and negatives,
``Precision``, ``Recall``, ``AUC`` and the F-scores.

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

Not here: the other Keras metrics (IoU, R2, ...), which raise
``NotImplementedError`` by name.
"""

import functools

import numpy as np

from fastconv import initializers, losses, ops
from fastconv.eager import eager
from fastconv.naming import to_snake_case, unique_name
from fastconv.variables import Variable


def _with_numpy(result):
    @functools.wraps(result)
    def wrapped(self):
        return eager(result(self))
    return wrapped


class Metric:
    """Base class: named float32 state variables, ``update_state``, ``result``, ``reset_state``.

    Parameters
    ----------
    dtype : str, optional
        The dtype of the state and the result; float32 by default.
    name : str, optional
    """

    def __init__(self, dtype=None, name=None):
        self.name = name or unique_name(to_snake_case(type(self).__name__))  # Keras's: precision, precision_1
        self.dtype = np.dtype(dtype or "float32").name
        self._variables = []

    def add_variable(self, shape=(), initializer="zeros", dtype=None, aggregation="sum", name=None):
        """A state variable of ``shape`` (0-d by default) at ``{metric name}/{name}``, starting at
        ``initializer``'s value (Keras's ``Metric.add_variable``; a metric of yours calls it, or
        :meth:`add_weight`, in its ``__init__``, and ``update_state`` adds to it with ``assign_add``)."""
        if not hasattr(self, "_variables"):
            raise RuntimeError(f"{type(self).__name__} must call `super().__init__()` before adding variables.")
        name = name or f"variable_{len(self._variables)}"
        path = f"{self.name.replace('/', '>')}/{name}"
        dtype = np.dtype(dtype or self.dtype).name
        shape = np.zeros(shape).shape  # an int or a tuple
        value = np.zeros(shape, dtype) if initializer is None else initializers.get(initializer)(shape, dtype)
        variable = Variable(value, name=name, trainable=False, dtype=dtype, path=path)
        self._variables.append(variable)
        return variable

    def add_weight(self, shape=(), initializer=None, dtype=None, name=None):
        """Keras's ``Metric.add_weight``: :meth:`add_variable`, zeros by default."""
        return self.add_variable(shape=shape, initializer=initializer, dtype=dtype, name=name)

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

    def __init_subclass__(cls, **kwargs):
        """Every metric's ``result()`` (a metric of yours too) gives a value with ``.numpy()``, as Keras's
        tensors have (``fastconv.eager``): ``metric.result().numpy()``."""
        super().__init_subclass__(**kwargs)
        if "result" in cls.__dict__:
            cls.result = _with_numpy(cls.__dict__["result"])

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
        self.total = self.add_variable(name="total")
        self.count = self.add_variable(name="count")

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


class _LossMetric(MeanMetricWrapper):
    """A loss's per-sample values averaged over all batches (Keras's ``keras.metrics.BinaryCrossentropy``, ...):
    the Overfit-and-underfit tutorial watches ``metrics=[keras.metrics.BinaryCrossentropy(from_logits=True)]``.
    A subclass gives the loss function, its default metric name and its arguments."""

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype, **self._fn_kwargs}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


class BinaryCrossentropy(_LossMetric):
    """The mean binary cross-entropy (``keras.metrics.BinaryCrossentropy``)."""

    def __init__(self, name="binary_crossentropy", dtype=None, from_logits=False, label_smoothing=0):
        super().__init__(losses.binary_crossentropy, name=name, dtype=dtype, from_logits=from_logits,
                         label_smoothing=label_smoothing)


class CategoricalCrossentropy(_LossMetric):
    """The mean categorical cross-entropy (``keras.metrics.CategoricalCrossentropy``)."""

    def __init__(self, name="categorical_crossentropy", dtype=None, from_logits=False, label_smoothing=0, axis=-1):
        super().__init__(losses.categorical_crossentropy, name=name, dtype=dtype, from_logits=from_logits,
                         label_smoothing=label_smoothing, axis=axis)


class SparseCategoricalCrossentropy(_LossMetric):
    """The mean sparse categorical cross-entropy (``keras.metrics.SparseCategoricalCrossentropy``)."""

    def __init__(self, name="sparse_categorical_crossentropy", dtype=None, from_logits=False, ignore_class=None,
                 axis=-1):
        super().__init__(losses.sparse_categorical_crossentropy, name=name, dtype=dtype, from_logits=from_logits,
                         ignore_class=ignore_class, axis=axis)


def _element_weights(sample_weight, y_pred, dtype):
    """``sample_weight`` for each element of ``y_pred``: a number, one per sample (spread over its elements,
    given as ``(N,)`` or ``(N, 1)``) or one per element, as Keras broadcasts it."""
    weight = np.asarray(sample_weight, dtype)
    while weight.ndim > y_pred.ndim and weight.shape[-1] == 1:
        weight = weight[..., 0]
    if 0 < weight.ndim < y_pred.ndim and len(weight) == len(y_pred):
        weight = weight.reshape(weight.shape + (1,) * (y_pred.ndim - weight.ndim))
    return np.broadcast_to(weight, y_pred.shape)


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
        self.true_positives = self.add_variable(name="true_positives")
        self.errors = self.add_variable(name=self._errors)

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_pred = np.asarray(y_pred, dtype=np.float32)
        y_true = np.asarray(y_true)
        y_true, y_pred = losses.squeeze_or_expand_to_same_rank(y_true, y_pred)
        weight = np.ones(y_pred.shape, self.dtype) if sample_weight is None else _element_weights(
            sample_weight, y_pred, self.dtype)
        if self.class_id is not None:  # the weights spread over every class first, as Keras's
            y_true, y_pred, weight = (a[..., self.class_id] for a in (y_true, y_pred, weight))
        threshold = np.float32(0.5 if self.thresholds is None else self.thresholds)
        predicted, actual = y_pred > threshold, y_true.astype(bool)
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


class _ConditionCount(Metric):
    """The true or false positives or negatives: the (weighted) count over every element of every batch of a
    condition on the label and on the prediction, a prediction above a threshold counting as positive (0.5 by
    default; a list of thresholds counts at each, and the result is the vector of counts)."""

    _predicted = _actual = None  # the condition: predicted positive? actually positive?

    def __init__(self, thresholds=None, name=None, dtype=None):
        super().__init__(name=name, dtype=dtype)
        values = [0.5] if thresholds is None else [thresholds] if np.ndim(thresholds) == 0 else list(thresholds)
        if not all(isinstance(t, (int, float, np.floating)) and 0 <= t <= 1 for t in values):
            raise ValueError(f"Threshold values must be in [0, 1]. Received: {thresholds!r}")
        self.thresholds = thresholds
        self._thresholds = np.array(values, np.float32)
        self.accumulator = self.add_variable(shape=(len(values),), name="accumulator")

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_pred = np.asarray(y_pred, dtype=np.float32)
        y_true, y_pred = losses.squeeze_or_expand_to_same_rank(np.asarray(y_true), y_pred)
        actual = y_true.astype(bool).ravel() == self._actual
        weight = np.ones(y_pred.shape, self.dtype) if sample_weight is None else _element_weights(
            sample_weight, y_pred, self.dtype)
        predicted = (y_pred.ravel()[None, :] > self._thresholds[:, None]) == self._predicted
        self.accumulator.value += np.sum((predicted & actual) * weight.ravel(), axis=1, dtype=self.dtype)

    def result(self):  # one threshold (given alone or in a list of one): a number, as Keras's
        return self.accumulator.value.copy() if len(self._thresholds) > 1 else \
            np.dtype(self.dtype).type(self.accumulator.value[0])

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype, "thresholds": self.thresholds}


class TruePositives(_ConditionCount):
    """Predicted positive, labelled positive (``keras.metrics.TruePositives``).

    >>> m = TruePositives()
    >>> m.update_state([0, 1, 1, 1], [0.2, 0.6, 0.5, 0.9], sample_weight=[1, 2, 3, 4])
    >>> float(m.result())
    6.0
    """

    _predicted, _actual = True, True


class FalsePositives(_ConditionCount):
    """Predicted positive, labelled negative (``keras.metrics.FalsePositives``)."""

    _predicted, _actual = True, False


class TrueNegatives(_ConditionCount):
    """Predicted negative, labelled negative (``keras.metrics.TrueNegatives``)."""

    _predicted, _actual = False, False


class FalseNegatives(_ConditionCount):
    """Predicted negative, labelled positive (``keras.metrics.FalseNegatives``)."""

    _predicted, _actual = False, True


def _divide_no_nan(numerator, denominator):
    """``numerator / denominator``, 0 where the denominator is 0 (Keras's ``ops.divide_no_nan``)."""
    numerator, denominator = np.broadcast_arrays(numerator, denominator)
    safe = np.where(denominator == 0, 1, denominator)
    return np.where(denominator == 0, 0, numerator / safe).astype(numerator.dtype, copy=False)


_CURVES = ("ROC", "PR", "PRGAIN")
_SUMMATION_METHODS = ("interpolation", "minoring", "majoring")


class AUC(Metric):
    """The area under the ROC or precision-recall curve (``keras.metrics.AUC``), as Keras 3 approximates it.

    Each batch adds to the true and false positives and negatives at ``num_thresholds`` thresholds (evenly
    spaced in ``[0, 1]``, or ``thresholds`` given, plus one just below 0 and one just above 1), a prediction
    above a threshold counting as positive; ``multi_label`` keeps them per label (column) and averages the
    labels' areas (weighted by ``label_weights``). The area is a Riemann sum over the thresholds: the
    trapezoid rule (``'interpolation'``; for ``curve='PR'`` Davis and Goadrich's interpolation, as Keras), or
    the lower or upper rectangles (``'minoring'``, ``'majoring'``).

    >>> m = AUC(num_thresholds=3)
    >>> m.update_state([0, 0, 1, 1], [0, 0.5, 0.3, 0.9])
    >>> round(float(m.result()), 4)
    0.75
    """

    def __init__(self, num_thresholds=200, curve="ROC", summation_method="interpolation", name=None, dtype=None,
                 thresholds=None, multi_label=False, num_labels=None, label_weights=None, from_logits=False):
        super().__init__(name=name, dtype=dtype)
        curve = getattr(curve, "value", curve)
        summation_method = getattr(summation_method, "value", summation_method)
        if str(curve).upper() not in _CURVES:
            raise ValueError(f'Invalid AUC curve value: "{curve}". Expected values are ["PR", "ROC", "PRGAIN"]')
        if str(summation_method).lower() not in _SUMMATION_METHODS:
            raise ValueError(f'Invalid AUC summation method value: "{summation_method}". Expected values are '
                             '["interpolation", "majoring", "minoring"]')
        self._init_from_thresholds = thresholds is not None
        if thresholds is not None:
            inner = sorted(float(t) for t in thresholds)
            self.num_thresholds = len(inner) + 2
            evenly = np.arange(len(inner) + 2, dtype=np.float32) / (len(inner) + 1)
            self._thresholds_distributed_evenly = len(inner) >= 1 and np.allclose(
                [0.0] + inner + [1.0], evenly, atol=1e-7)
        else:
            if num_thresholds <= 1:
                raise ValueError(f"Argument `num_thresholds` must be an integer > 1. "
                                 f"Received: num_thresholds={num_thresholds}")
            self.num_thresholds = num_thresholds
            inner = [(i + 1) * 1.0 / (num_thresholds - 1) for i in range(num_thresholds - 2)]
            self._thresholds_distributed_evenly = True
        self._thresholds = np.array([0.0 - 1e-7] + inner + [1.0 + 1e-7])
        self.curve, self.summation_method = str(curve).upper(), str(summation_method).lower()
        if num_labels and not multi_label:
            raise ValueError("`num_labels` is needed only when `multi_label` is True.")
        self.multi_label, self.num_labels = multi_label, num_labels
        self.label_weights = None if label_weights is None else np.asarray(label_weights, self.dtype)
        self._from_logits = from_logits
        self._counts = None
        if not multi_label:
            self._build(None)
        elif num_labels:
            self._build(num_labels)

    @property
    def thresholds(self):
        """The thresholds the confusion counts are kept at (the one below 0 and the one above 1 included)."""
        return list(self._thresholds)

    def _build(self, labels):
        shape = (self.num_thresholds,) if labels is None else (self.num_thresholds, labels)
        self._counts = [self.add_variable(shape, name=name) for name in
                        ("true_positives", "false_positives", "true_negatives", "false_negatives")]
        self.true_positives, self.false_positives, self.true_negatives, self.false_negatives = self._counts

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_pred = np.asarray(y_pred, np.float32)
        y_true = np.asarray(y_true, np.float64)
        y_true, y_pred = losses.squeeze_or_expand_to_same_rank(y_true, y_pred)
        if self.multi_label and y_pred.ndim != 2:
            raise ValueError(f"`y_pred` must have rank 2 when `multi_label=True`. Found rank {y_pred.ndim}. Full "
                             f"shape received for `y_pred`: {y_pred.shape}")
        if self._counts is None:
            self._build(y_pred.shape[1])
        if self._from_logits:
            y_pred = ops.sigmoid(y_pred)
        y_pred = np.clip(y_pred, np.float32(0), np.float32(1))  # as Keras, in float32
        y_true = (y_true != 0).astype(np.float64)  # Keras counts any nonzero label as positive
        weights = np.ones_like(y_true) if sample_weight is None else _element_weights(sample_weight, y_true,
                                                                                     np.float64)
        if self.label_weights is not None and not self.multi_label:
            weights = weights * self.label_weights
        if not self.multi_label:
            y_true, y_pred, weights = y_true.reshape(-1, 1), y_pred.reshape(-1, 1), weights.reshape(-1, 1)
        above = self._above_thresholds(y_pred)  # (thresholds, samples, labels)
        positive, negative = y_true * weights, (1 - y_true) * weights
        counts = (np.sum(above * positive, axis=1), np.sum(above * negative, axis=1),
                  np.sum(~above * negative, axis=1), np.sum(~above * positive, axis=1))
        for variable, count in zip(self._counts, counts):
            variable.value += (count if self.multi_label else count[:, 0]).astype(self.dtype)

    def _above_thresholds(self, y_pred):
        """Which float32 predictions count as positive at each threshold: above it. For evenly spaced
        thresholds Keras finds each prediction's bucket, ``ceil(p * (n - 1)) - 1`` (at least 0), in float32,
        which decides a prediction that falls on a threshold as Keras does; else it compares in float32."""
        if self._thresholds_distributed_evenly:
            buckets = np.maximum(np.ceil(y_pred * np.float32(self.num_thresholds - 1)) - np.float32(1), 0)
            return buckets[None] >= np.arange(self.num_thresholds).reshape(-1, 1, 1)
        return y_pred[None] > self._thresholds.astype(np.float32).reshape(-1, 1, 1)

    def result(self):
        if self._counts is None:
            return np.dtype(self.dtype).type(0)
        tp, fp, tn, fn = (v.value for v in self._counts)
        if self.curve == "PR" and self.summation_method == "interpolation":
            terms = self._interpolated_precision_recall(tp, fp, fn)
        else:
            recall = _divide_no_nan(tp, tp + fn)
            if self.curve == "ROC":
                x, y = _divide_no_nan(fp, fp + tn), recall
            elif self.curve == "PR":
                x, y = recall, _divide_no_nan(tp, tp + fp)
            else:  # PRGAIN
                scaling = _divide_no_nan(tp + fn, tn + fp)
                x = np.maximum(np.where(tp == 0, 0, 1 - scaling * _divide_no_nan(fn, tp)), 0)
                y = np.where(tp == 0, 1, 1 - scaling * _divide_no_nan(fp, tp))
            heights = {"interpolation": (y[:-1] + y[1:]) / 2, "minoring": np.minimum(y[:-1], y[1:]),
                       "majoring": np.maximum(y[:-1], y[1:])}[self.summation_method]
            terms = (x[:-1] - x[1:]) * heights
        if not self.multi_label:
            return np.dtype(self.dtype).type(np.sum(terms))
        by_label = np.sum(terms, axis=0)
        if self.label_weights is None:
            return np.dtype(self.dtype).type(np.mean(by_label))
        return np.dtype(self.dtype).type(_divide_no_nan(np.sum(by_label * self.label_weights),
                                                        np.sum(self.label_weights)))

    @staticmethod
    def _interpolated_precision_recall(tp, fp, fn):
        """Davis and Goadrich's interpolation between thresholds: the precision ``TP / P`` with ``TP`` and
        ``P = TP + FP`` linear in between, integrated in closed form (Keras's ``interpolate_pr_auc``)."""
        dtp = tp[:-1] - tp[1:]
        predicted = tp + fp
        slope = _divide_no_nan(dtp, np.maximum(predicted[:-1] - predicted[1:], 0))
        intercept = tp[1:] - slope * predicted[1:]
        both = (predicted[:-1] > 0) & (predicted[1:] > 0)
        ratio = np.where(both, _divide_no_nan(predicted[:-1], np.maximum(predicted[1:], 0)), 1)
        return _divide_no_nan(slope * (dtp + intercept * np.log(ratio)), np.maximum(tp[1:] + fn[1:], 0))

    def reset_state(self):
        if self._counts is not None:
            super().reset_state()

    def get_config(self):
        config = {"name": self.name, "dtype": self.dtype, "num_thresholds": self.num_thresholds,
                  "curve": self.curve, "summation_method": self.summation_method, "multi_label": self.multi_label,
                  "num_labels": self.num_labels,
                  "label_weights": None if self.label_weights is None else self.label_weights.tolist(),
                  "from_logits": self._from_logits}
        if self._init_from_thresholds:
            config["thresholds"] = self.thresholds[1:-1]
        return config


class FBetaScore(Metric):
    """The F-beta score of each class (``keras.metrics.FBetaScore``): one-hot ``y_true`` and ``y_pred``
    ``(batch, classes)``; a prediction counts as positive where it is its row's largest (and not 0), or
    above ``threshold`` when given. ``average`` None gives the score of each class (an array), ``'micro'``
    the score of all counts together, ``'macro'`` the mean of the classes' scores, ``'weighted'`` their mean
    weighted by each class's number of true labels.

    >>> m = F1Score(average="macro")
    >>> m.update_state(np.eye(3)[[0, 1, 2, 2]], np.eye(3)[[0, 1, 1, 2]])
    >>> round(float(m.result()), 4)
    0.7778
    """

    def __init__(self, average=None, beta=1.0, threshold=None, name="fbeta_score", dtype=None):
        super().__init__(name=name, dtype=dtype)
        if average not in (None, "micro", "macro", "weighted"):
            raise ValueError("Invalid `average` argument value. Expected one of: {None, 'micro', 'macro', "
                             f"'weighted'}}. Received: average={average}")
        if not isinstance(beta, float):
            raise ValueError(f"Invalid `beta` argument value. It should be a Python float. Received: beta={beta} "
                             f"of type '{type(beta)}'")
        if beta <= 0.0:
            raise ValueError(f"Invalid `beta` argument value. It should be > 0. Received: beta={beta}")
        if threshold is not None and not isinstance(threshold, float):
            raise ValueError(f"Invalid `threshold` argument value. It should be a Python float. Received: "
                             f"threshold={threshold} of type '{type(threshold)}'")
        if threshold is not None and not 0.0 < threshold <= 1.0:
            raise ValueError(f"Invalid `threshold` argument value. It should verify 0 < threshold <= 1. Received: "
                             f"threshold={threshold}")
        self.average, self.beta, self.threshold = average, beta, threshold
        self._counts = None

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true, y_pred = np.asarray(y_true, self.dtype), np.asarray(y_pred, self.dtype)
        if y_pred.ndim != 2 or y_true.ndim != 2:
            raise ValueError(f"FBetaScore expects 2D inputs with shape (batch_size, output_dim). Received input "
                             f"shapes: y_pred.shape={y_pred.shape} and y_true.shape={y_true.shape}.")
        if self._counts is None:
            shape = () if self.average == "micro" else (y_pred.shape[-1],)
            self._counts = [self.add_variable(shape, name=name) for name in
                            ("true_positives", "false_positives", "false_negatives", "intermediate_weights")]
        if self.threshold is None:
            predicted = (y_pred >= y_pred.max(axis=-1, keepdims=True)) & (np.abs(y_pred) > 1e-9)
        else:
            predicted = y_pred > self.threshold
        predicted = predicted.astype(self.dtype)
        weight = 1 if sample_weight is None else np.asarray(sample_weight, self.dtype).reshape(-1, 1)
        axis = None if self.average == "micro" else 0
        for variable, values in zip(self._counts, (predicted * y_true, predicted * (1 - y_true),
                                                   (1 - predicted) * y_true, y_true)):
            variable.value += np.sum(values * weight, axis=axis).astype(self.dtype)

    def result(self):
        if self._counts is None:
            return np.dtype(self.dtype).type(0)
        tp, fp, fn, weights = (v.value for v in self._counts)
        epsilon = 1e-7
        precision, recall = tp / (tp + fp + epsilon), tp / (tp + fn + epsilon)
        score = precision * recall / (self.beta ** 2 * precision + recall + epsilon) * (1 + self.beta ** 2)
        if self.average == "weighted":
            return np.dtype(self.dtype).type(np.sum(score * weights / (np.sum(weights) + epsilon)))
        if self.average is not None:
            return np.dtype(self.dtype).type(np.mean(score))
        return score.astype(self.dtype)

    def reset_state(self):
        if self._counts is not None:
            super().reset_state()

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype, "average": self.average, "beta": self.beta,
                "threshold": self.threshold}


class F1Score(FBetaScore):
    """The F1 score of each class (``keras.metrics.F1Score``): :class:`FBetaScore` with ``beta=1``."""

    def __init__(self, average=None, threshold=None, name="f1_score", dtype=None):
        super().__init__(average=average, beta=1.0, threshold=threshold, name=name, dtype=dtype)

    def get_config(self):
        config = super().get_config()
        del config["beta"]
        return config


# -- lookup, serialization and compile's rule -------------------------------------------------------------

ALL_OBJECTS = (Metric, Mean, MeanMetricWrapper, Accuracy, BinaryAccuracy, CategoricalAccuracy,
               SparseCategoricalAccuracy, TopKCategoricalAccuracy, SparseTopKCategoricalAccuracy, MeanAbsoluteError,
               MeanSquaredError, RootMeanSquaredError, Precision, Recall, AUC, FBetaScore, F1Score, BinaryCrossentropy,
               CategoricalCrossentropy, SparseCategoricalCrossentropy, TruePositives, FalsePositives, TrueNegatives,
               FalseNegatives)
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
    "mean_absolute_percentage_error", "mape",
    "kl_divergence", "kld", "poisson", "hinge", "squared_hinge", "categorical_hinge", "cosine_similarity",
    "log_cosh_error", "mean_squared_logarithmic_error", "msle", "mean_io_u",
    "r2_score", "sum",
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
