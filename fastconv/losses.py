"""Losses with Keras 3's formulas, names and configs, each with the gradient of its reduced value.

Two layers, as in Keras:

- functions (``sparse_categorical_crossentropy``, ``categorical_crossentropy``,
  ``binary_crossentropy``, ``mean_squared_error``/``mse``) return one value
  per sample;
- classes (``SparseCategoricalCrossentropy``, ``CategoricalCrossentropy``,
  ``BinaryCrossentropy``, ``MeanSquaredError``) reduce them, by default to
  their mean over the batch (``reduction="sum_over_batch_size"``), and give
  the gradient of that reduced value: ``loss.gradient(y_true, y_pred)`` has
  the shape of ``y_pred``.

Cross-entropies on probabilities (``from_logits=False``) clip the
probabilities to ``[1e-7, 1 - 1e-7]`` as Keras does; the two categorical ones
first divide by the sum over the class axis, as Keras's PyTorch, JAX and
NumPy backends do (its TensorFlow backend skips that step for the sparse
one, which for softmax outputs changes only the rounding). On logits they use
a stable log-softmax (log-sum-exp) or the stable sigmoid cross-entropy.

The categorical cross-entropies also offer
``gradient_through_softmax(y_true, probs)``: the gradient with respect to the
logits of the softmax that produced ``probs``, ``(probs - onehot) / batch``.
That is what Keras computes under TensorFlow, where a softmax output carries
its logits and the loss is taken from them; it differs from
differentiating the clipped form only where a probability is clipped.

Not here: ``ignore_class``, the focal and other Keras losses (they raise
``NotImplementedError`` by name), and masks.
"""

import warnings

import numpy as np

from fastconv import activations, ops
from fastconv.eager import eager
from fastconv.naming import to_snake_case

EPSILON = 1e-7  # keras.backend.epsilon()

_REDUCTIONS = ("sum_over_batch_size", "sum", None, "none", "mean", "mean_with_sample_weight")


# -- shared helpers ---------------------------------------------------------------------------------------

def _float_array(x, dtype=None):
    """``x`` as a float array: in ``dtype`` if given; a float ndarray keeps its dtype; anything else is float32."""
    if dtype is not None:
        return np.asarray(x).astype(dtype, copy=False)
    if isinstance(x, np.ndarray) and x.dtype.kind == "f":
        return x
    return np.asarray(x, dtype=np.float32)


def squeeze_or_expand_to_same_rank(x1, x2, expand_rank_1=True):
    """Keras's rank alignment: squeeze (or, for rank 1, expand) a trailing size-1 axis when ranks differ by one."""
    if x1.ndim == x2.ndim + 1 and x1.shape[-1] == 1:
        if x2.ndim == 1 and expand_rank_1:
            x2 = x2[..., None]
        else:
            x1 = x1[..., 0]
    elif x2.ndim == x1.ndim + 1 and x2.shape[-1] == 1:
        if x1.ndim == 1 and expand_rank_1:
            x1 = x1[..., None]
        else:
            x2 = x2[..., 0]
    return x1, x2


def _index_text(flat_index, shape):
    index = np.unravel_index(flat_index, shape)
    return str(int(index[0])) if len(index) == 1 else str(tuple(int(i) for i in index))


def _log_softmax(z, axis):
    shifted = z - np.max(z, axis=axis, keepdims=True)
    return shifted - np.log(np.sum(np.exp(shifted), axis=axis, keepdims=True))


def _check_same_shape(y_true, y_pred, fn_name):
    if y_true.shape == y_pred.shape:
        return
    hint = ""
    if fn_name == "categorical_crossentropy" and y_true.shape in (y_pred.shape[:-1], y_pred.shape[:-1] + (1,)):
        hint = (" Integer class labels go with `sparse_categorical_crossentropy` "
                "(or one-hot encode them with `keras.utils.to_categorical`).")
    raise ValueError(
        f"Invalid value for argument `y_true` of `{fn_name}`. Expected the shape of `y_pred`, "
        f"{y_pred.shape}. Received: y_true.shape={y_true.shape}.{hint}")


def _sparse_labels(y_true, y_pred, axis):
    """Validated integer labels of shape ``y_pred.shape`` without ``axis`` (a trailing 1 is squeezed)."""
    y_true = np.asarray(y_true)
    num_classes = y_pred.shape[axis]
    expected = y_pred.shape[:axis] + y_pred.shape[axis + 1:]
    if y_true.ndim == y_pred.ndim and y_true.shape[axis] == 1:
        y_true = np.squeeze(y_true, axis=axis)
    if y_true.shape != expected:
        with_one = expected[:axis] + (1,) + expected[axis:]
        hint = (" If `y_true` is one-hot encoded, use `categorical_crossentropy` instead."
                if y_true.shape == y_pred.shape else "")
        raise ValueError(
            "Invalid value for argument `y_true` of `sparse_categorical_crossentropy`. Expected integer class "
            f"labels of shape {expected} or {with_one} for `y_pred` of shape {y_pred.shape}. "
            f"Received: y_true.shape={y_true.shape}.{hint}")
    if y_true.dtype.kind == "f":
        not_integer = ~np.isfinite(y_true) | (y_true != np.floor(y_true))
        if not_integer.any():
            first = int(np.flatnonzero(not_integer)[0])
            raise ValueError(
                "Invalid value for argument `y_true` of `sparse_categorical_crossentropy`. Expected integer "
                f"class labels. Received: y_true={y_true.flat[first].item()!r} at index "
                f"{_index_text(first, y_true.shape)}.")
    elif y_true.dtype.kind not in "iub":
        raise ValueError(
            "Invalid value for argument `y_true` of `sparse_categorical_crossentropy`. Expected integer class "
            f"labels. Received: y_true of dtype {y_true.dtype}.")
    labels = y_true.astype(np.int64)
    out_of_range = (labels < 0) | (labels >= num_classes)
    if out_of_range.any():
        bad = np.flatnonzero(out_of_range)
        first = int(bad[0])
        raise ValueError(
            "Invalid value for argument `y_true` of `sparse_categorical_crossentropy`. Expected class labels "
            f"in the range [0, {num_classes}) for `y_pred` with {num_classes} classes. Received: "
            f"y_true={y_true.flat[first].item()!r} at index {_index_text(first, y_true.shape)} "
            f"({bad.size} of {labels.size} labels out of range).")
    return labels


def _one_hot(labels, num_classes, axis, dtype):
    onehot = np.zeros(labels.shape + (num_classes,), dtype=dtype)
    np.put_along_axis(onehot, labels[..., None], 1, axis=-1)
    return np.moveaxis(onehot, -1, axis)


def _clipped_log_prob_backward(y_true, y_pred, upstream, axis):
    """Gradient of ``sum(upstream * -sum(t * log(clip(p / sum(p)))))`` with respect to ``p``."""
    total = np.sum(y_pred, axis=axis, keepdims=True)
    q = y_pred / total
    kept = (q >= EPSILON) & (q <= 1 - EPSILON)  # clip passes the gradient on its closed interval
    grad_q = np.where(kept, -y_true * np.expand_dims(upstream, axis) / np.clip(q, EPSILON, 1 - EPSILON), 0)
    return (grad_q - np.sum(grad_q * q, axis=axis, keepdims=True)) / total


def _through_softmax(targets, probs, upstream, axis):
    return (probs * np.sum(targets, axis=axis, keepdims=True) - targets) * np.expand_dims(upstream, axis)


# -- per-sample functions ---------------------------------------------------------------------------------

def sparse_categorical_crossentropy(y_true, y_pred, from_logits=False, ignore_class=None, axis=-1):
    """Cross-entropy between integer labels and predicted class probabilities (or logits), per sample.

    ``loss[i] = -log(p[i, y_true[i]])`` with ``p = clip(y_pred / sum(y_pred), 1e-7, 1 - 1e-7)``,
    or ``p = softmax(y_pred)`` (as a log-softmax) when ``from_logits``.

    Parameters
    ----------
    y_true : array_like of int (or integer-valued float), shape (n,) or (n, 1)
        Labels in ``[0, num_classes)``; more leading axes are allowed.
    y_pred : array_like, shape (n, num_classes)
    from_logits : bool, default False
    ignore_class : None
        Keras's argument; only ``None`` is supported.
    axis : int, default -1
        The class axis.

    Returns
    -------
    ndarray, shape (n,)

    Raises
    ------
    ValueError
        If ``y_true`` has the wrong shape, is not integer-valued or is out of range.

    Examples
    --------
    >>> sparse_categorical_crossentropy([1, 2], [[0.05, 0.95, 0.0], [0.1, 0.8, 0.1]]).round(4)
    array([0.0513, 2.3026], dtype=float32)
    """
    if ignore_class is not None:
        raise NotImplementedError(
            f"`ignore_class` is not supported by fastconv losses yet. Received: ignore_class={ignore_class!r}")
    y_pred = _float_array(y_pred)
    if y_pred.ndim < 1:
        raise ValueError(f"Argument `y_pred` must be at least rank 1. Received: y_pred.shape={y_pred.shape}")
    axis = axis % y_pred.ndim
    labels = _sparse_labels(y_true, y_pred, axis)
    if from_logits:
        log_prob = _log_softmax(y_pred, axis)
    else:
        probs = np.clip(y_pred / np.sum(y_pred, axis=axis, keepdims=True), EPSILON, 1 - EPSILON)
        log_prob = np.log(probs)
    picked = np.take_along_axis(log_prob, np.expand_dims(labels, axis), axis=axis)
    return -np.squeeze(picked, axis=axis)


def _sparse_categorical_crossentropy_backward(y_true, y_pred, upstream, from_logits=False, ignore_class=None,
                                              axis=-1):
    y_pred = _float_array(y_pred)
    axis = axis % y_pred.ndim
    onehot = _one_hot(_sparse_labels(y_true, y_pred, axis), y_pred.shape[axis], axis, y_pred.dtype)
    if from_logits:
        return _through_softmax(onehot, ops.softmax(y_pred, axis), upstream, axis)
    return _clipped_log_prob_backward(onehot, y_pred, upstream, axis)


def categorical_crossentropy(y_true, y_pred, from_logits=False, label_smoothing=0.0, axis=-1):
    """Cross-entropy between one-hot (or probability) targets and predictions, per sample.

    ``loss[i] = -sum_k t[i, k] * log(p[i, k])`` with
    ``p = clip(y_pred / sum(y_pred), 1e-7, 1 - 1e-7)``, or a log-softmax of
    ``y_pred`` when ``from_logits``. With ``label_smoothing = s`` the targets
    are ``t * (1 - s) + s / num_classes`` (``num_classes`` is the last axis, as
    in Keras).

    Parameters
    ----------
    y_true, y_pred : array_like, the same shape (n, num_classes)
    from_logits : bool, default False
    label_smoothing : float in [0, 1], default 0
    axis : int, default -1

    Returns
    -------
    ndarray, shape (n,)

    Examples
    --------
    >>> categorical_crossentropy([[0, 1, 0], [0, 0, 1]], [[0.05, 0.95, 0], [0.1, 0.8, 0.1]]).round(4)
    array([0.0513, 2.3026], dtype=float32)
    """
    y_pred = _float_array(y_pred)
    y_true = _float_array(y_true, y_pred.dtype)
    _check_same_shape(y_true, y_pred, "categorical_crossentropy")
    if y_pred.ndim < 1:
        raise ValueError(f"Arguments `y_true` and `y_pred` must be at least rank 1. Received: "
                         f"y_true.shape={y_true.shape}, y_pred.shape={y_pred.shape}")
    if y_pred.shape[-1] == 1:
        warnings.warn(
            "In loss categorical_crossentropy, expected y_pred.shape to be (batch_size, num_classes) with "
            f"num_classes > 1. Received: y_pred.shape={y_pred.shape}. Consider using 'binary_crossentropy' if "
            "you only have 2 classes.", SyntaxWarning, stacklevel=2)
    y_true = _smooth_categorical(y_true, label_smoothing)
    if from_logits:
        log_prob = _log_softmax(y_pred, axis)
    else:
        probs = np.clip(y_pred / np.sum(y_pred, axis=axis, keepdims=True), EPSILON, 1 - EPSILON)
        log_prob = np.log(probs)
    return -np.sum(y_true * log_prob, axis=axis)


def _smooth_categorical(y_true, label_smoothing):
    if not label_smoothing:
        return y_true
    dt = y_true.dtype.type
    return y_true * dt(1.0 - label_smoothing) + dt(label_smoothing) / dt(y_true.shape[-1])


def _categorical_crossentropy_backward(y_true, y_pred, upstream, from_logits=False, label_smoothing=0.0,
                                       axis=-1):
    y_pred = _float_array(y_pred)
    y_true = _float_array(y_true, y_pred.dtype)
    _check_same_shape(y_true, y_pred, "categorical_crossentropy")
    axis = axis % y_pred.ndim
    y_true = _smooth_categorical(y_true, label_smoothing)
    if from_logits:
        return _through_softmax(y_true, ops.softmax(y_pred, axis), upstream, axis)
    return _clipped_log_prob_backward(y_true, y_pred, upstream, axis)


def binary_crossentropy(y_true, y_pred, from_logits=False, label_smoothing=0.0, axis=-1):
    """Binary cross-entropy, averaged over ``axis``: one value per sample.

    Elementwise ``-(t * log(p) + (1 - t) * log(1 - p))`` with
    ``p = clip(y_pred, 1e-7, 1 - 1e-7)``; with ``from_logits`` the stable
    ``max(z, 0) - z * t + log(1 + exp(-|z|))`` on the logits ``z`` (what
    Keras's TensorFlow and PyTorch backends compute). With
    ``label_smoothing = s`` the targets are ``t * (1 - s) + s / 2``.

    Parameters
    ----------
    y_true, y_pred : array_like, the same shape (n, d)
    from_logits : bool, default False
    label_smoothing : float in [0, 1], default 0
    axis : int, default -1
        The axis the elementwise values are averaged over.

    Returns
    -------
    ndarray, shape (n,)

    Examples
    --------
    >>> binary_crossentropy([[0, 1], [0, 0]], [[0.6, 0.4], [0.4, 0.6]]).round(3)
    array([0.916, 0.714], dtype=float32)
    """
    y_pred = _float_array(y_pred)
    y_true = _float_array(y_true, y_pred.dtype)
    _check_same_shape(y_true, y_pred, "binary_crossentropy")
    y_true = _smooth_binary(y_true, label_smoothing)
    if from_logits:
        elementwise = np.maximum(y_pred, 0) - y_pred * y_true + np.log1p(np.exp(-np.abs(y_pred)))
    else:
        p = np.clip(y_pred, EPSILON, 1 - EPSILON)
        elementwise = -(y_true * np.log(p) + (1 - y_true) * np.log(1 - p))
    return np.mean(elementwise, axis=axis)


def _smooth_binary(y_true, label_smoothing):
    if not label_smoothing:
        return y_true
    dt = y_true.dtype.type
    return y_true * dt(1.0 - label_smoothing) + dt(0.5 * label_smoothing)


def _binary_crossentropy_backward(y_true, y_pred, upstream, from_logits=False, label_smoothing=0.0, axis=-1):
    y_pred = _float_array(y_pred)
    y_true = _float_array(y_true, y_pred.dtype)
    _check_same_shape(y_true, y_pred, "binary_crossentropy")
    y_true = _smooth_binary(y_true, label_smoothing)
    scale = np.expand_dims(upstream, axis) / y_pred.dtype.type(y_pred.shape[axis])
    if from_logits:
        return (ops.sigmoid(y_pred) - y_true) * scale
    p = np.clip(y_pred, EPSILON, 1 - EPSILON)
    kept = (y_pred >= EPSILON) & (y_pred <= 1 - EPSILON)
    return np.where(kept, -y_true / p + (1 - y_true) / (1 - p), 0) * scale


def mean_squared_error(y_true, y_pred):
    """Mean of squared differences over the last axis: ``mean((y_true - y_pred)**2, axis=-1)``.

    Parameters
    ----------
    y_true, y_pred : array_like, the same shape (n, d) (a trailing size-1 axis on one of them is aligned)

    Returns
    -------
    ndarray, shape (n,)

    Examples
    --------
    >>> mean_squared_error([[1.0, 0.0]], [[0.5, 0.5]])
    array([0.25], dtype=float32)
    """
    y_true, y_pred = _regression_pair(y_true, y_pred, "mean_squared_error")
    return np.mean(np.square(y_true - y_pred), axis=-1)


def _regression_pair(y_true, y_pred, fn_name):
    """``(y_true, y_pred)`` as float arrays of ``y_pred``'s dtype and the same shape (a trailing size-1 axis
    aligned), or ``ValueError`` naming ``fn_name``."""
    y_pred = _float_array(y_pred)
    y_true = _float_array(y_true, y_pred.dtype)
    y_true, y_pred = squeeze_or_expand_to_same_rank(y_true, y_pred)
    _check_same_shape(y_true, y_pred, fn_name)
    return y_true, y_pred


def _mean_squared_error_backward(y_true, y_pred, upstream):
    shape = np.shape(y_pred)
    y_true, y_pred = _regression_pair(y_true, y_pred, "mean_squared_error")
    dt = y_pred.dtype.type
    grad = dt(2) * (y_pred - y_true) * (np.expand_dims(upstream, -1) / dt(y_pred.shape[-1]))
    return grad.reshape(shape)


mse = MSE = mean_squared_error


def mean_absolute_error(y_true, y_pred):
    """Mean of absolute differences over the last axis: ``mean(|y_true - y_pred|, axis=-1)``.

    >>> mean_absolute_error([[1.0, 0.0]], [[0.5, 1.0]])
    array([0.75], dtype=float32)
    """
    y_true, y_pred = _regression_pair(y_true, y_pred, "mean_absolute_error")
    return np.mean(np.abs(y_true - y_pred), axis=-1)


def _mean_absolute_error_backward(y_true, y_pred, upstream):
    """``sign(y_pred - y_true) / d`` (0 where they are equal, as autograd's ``abs``)."""
    shape = np.shape(y_pred)
    y_true, y_pred = _regression_pair(y_true, y_pred, "mean_absolute_error")
    dt = y_pred.dtype.type
    return (np.sign(y_pred - y_true) * (np.expand_dims(upstream, -1) / dt(y_pred.shape[-1]))).reshape(shape)


mae = MAE = mean_absolute_error


def huber(y_true, y_pred, delta=1.0):
    """The Huber loss over the last axis: ``0.5 * e**2`` where ``|e| <= delta``, ``delta * (|e| - delta / 2)``
    beyond, ``e = y_pred - y_true``, averaged (Keras's ``huber``).

    >>> huber([[0.0, 0.0]], [[0.5, 3.0]])
    array([1.3125], dtype=float32)
    """
    y_true, y_pred = _regression_pair(y_true, y_pred, "huber")
    error = np.abs(y_pred - y_true)
    delta = y_pred.dtype.type(delta)
    quadratic = np.minimum(error, delta)
    return np.mean(y_pred.dtype.type(0.5) * quadratic * quadratic + delta * (error - quadratic), axis=-1)


def _huber_backward(y_true, y_pred, upstream, delta=1.0):
    """``clip(e, -delta, delta) / d``: the error where it is small, ``±delta`` beyond."""
    shape = np.shape(y_pred)
    y_true, y_pred = _regression_pair(y_true, y_pred, "huber")
    dt = y_pred.dtype.type
    error = np.clip(y_pred - y_true, -dt(delta), dt(delta))
    return (error * (np.expand_dims(upstream, -1) / dt(y_pred.shape[-1]))).reshape(shape)

_BACKWARD = {
    sparse_categorical_crossentropy: _sparse_categorical_crossentropy_backward,
    categorical_crossentropy: _categorical_crossentropy_backward,
    binary_crossentropy: _binary_crossentropy_backward,
    mean_squared_error: _mean_squared_error_backward,
    mean_absolute_error: _mean_absolute_error_backward,
    huber: _huber_backward,
}


# -- reduction --------------------------------------------------------------------------------------------

def _sum_to_shape(x, shape):
    """Sum ``x`` down to ``shape`` (the inverse of broadcasting ``shape`` up to ``x.shape``)."""
    x = np.sum(x, axis=tuple(range(x.ndim - len(shape)))) if x.ndim > len(shape) else x
    axes = tuple(i for i, (a, b) in enumerate(zip(x.shape, shape)) if b == 1 and a != 1)
    return np.sum(x, axis=axes, keepdims=True).reshape(shape) if axes else x.reshape(shape)


def _weighted(values, sample_weight, dtype):
    """Keras's ``reduce_weighted_values`` up to the reduction: (aligned values, aligned weights, weighted)."""
    if sample_weight is None:
        return values, None, values
    sample_weight = np.asarray(sample_weight, dtype=dtype)
    values, sample_weight = squeeze_or_expand_to_same_rank(values, sample_weight)
    return values, sample_weight, values * sample_weight


def _divisor(weighted, sample_weight, reduction):
    if reduction == "sum":
        return 1
    if reduction == "mean_with_sample_weight" and sample_weight is not None:
        return np.sum(sample_weight)
    return weighted.size


# -- classes ----------------------------------------------------------------------------------------------

class Loss:
    """Base class: per-sample ``call`` values, reduced by ``reduction``, and the reduced value's gradient.

    Reductions (Keras's): ``"sum_over_batch_size"`` and ``"mean"``, the sum
    of the (weighted) values over their number; ``"sum"``;
    ``"mean_with_sample_weight"``, the sum over the sum of the weights;
    ``None``/``"none"``, the weighted values themselves.

    Parameters
    ----------
    name : str, optional
    reduction : str or None, default "sum_over_batch_size"
    dtype : str, optional
        The dtype inputs are cast to and results come in; float32 by default.
    """

    def __init__(self, name=None, reduction="sum_over_batch_size", dtype=None):
        if reduction not in _REDUCTIONS:
            raise ValueError(f"Invalid value for argument `reduction`. Expected one of {set(_REDUCTIONS)}. "
                             f"Received: reduction={reduction}")
        self.name = name or to_snake_case(type(self).__name__)
        self.reduction = reduction
        self.dtype = np.dtype(dtype or "float32").name

    def call(self, y_true, y_pred):
        """Per-sample values; each loss defines it."""
        raise NotImplementedError(f"{type(self).__name__} must implement `call`.")

    def _backward(self, y_true, y_pred, upstream):
        """Gradient of ``sum(upstream * call(y_true, y_pred))`` with respect to ``y_pred``."""
        trainable = ", ".join(repr(function.__name__) for function in _BACKWARD)
        raise NotImplementedError(
            f"The loss `{self.name}` has no gradient in fastconv (a function or `Loss` subclass of your own would "
            f"need one): train with one of {trainable} (by name, function or class).")

    def _cast(self, y_true, y_pred):
        return _float_array(y_true, self.dtype), _float_array(y_pred, self.dtype)

    def __call__(self, y_true, y_pred, sample_weight=None):
        """The reduced loss: a 0-d ``fastconv.eager.Tensor`` of ``dtype`` (an array for ``reduction=None``)."""
        return eager(self._reduced(y_true, y_pred, sample_weight))

    def _reduced(self, y_true, y_pred, sample_weight=None):
        """The reduced loss as a numpy scalar of ``dtype`` (an array for ``reduction=None``)."""
        y_true, y_pred = self._cast(y_true, y_pred)
        values = np.asarray(self.call(y_true, y_pred), dtype=self.dtype)
        _, sample_weight, weighted = _weighted(values, sample_weight, self.dtype)
        if self.reduction in (None, "none") or weighted.shape in ((), (0,)):
            return weighted
        total = np.sum(weighted)
        divisor = _divisor(weighted, sample_weight, self.reduction)
        dt = np.dtype(self.dtype).type
        return dt(0) if divisor == 0 else dt(total / dt(divisor))

    def _upstream(self, values_shape, sample_weight):
        """d(reduced loss) / d(values), shaped like the per-sample values."""
        if self.reduction in (None, "none"):
            raise ValueError("`gradient` needs a scalar loss: use a reduction other than "
                             f"{self.reduction!r} (e.g. 'sum_over_batch_size').")
        ones = np.ones(values_shape, dtype=self.dtype)
        aligned, sample_weight, weighted = _weighted(ones, sample_weight, self.dtype)
        if weighted.shape in ((), (0,)):
            divisor = 1
        else:
            divisor = _divisor(weighted, sample_weight, self.reduction)
        if divisor == 0:
            return np.zeros(values_shape, dtype=self.dtype)
        if sample_weight is None:
            upstream = weighted
        else:
            upstream = _sum_to_shape(np.broadcast_to(sample_weight, weighted.shape), aligned.shape)
        dt = np.dtype(self.dtype).type
        return (upstream / dt(divisor)).reshape(values_shape).astype(self.dtype, copy=False)

    def gradient(self, y_true, y_pred, sample_weight=None):
        """Gradient of the reduced loss with respect to ``y_pred`` (same shape as ``y_pred``).

        For the default reduction that is the gradient of the mean over the
        batch, e.g. ``2 * (y_pred - y_true) / (n * d)`` for mean squared error.
        """
        y_true, y_pred = self._cast(y_true, y_pred)
        values_shape = np.shape(self.call(y_true, y_pred))
        upstream = self._upstream(values_shape, sample_weight)
        return self._backward(y_true, y_pred, upstream).reshape(y_pred.shape).astype(self.dtype, copy=False)

    def get_config(self):
        return {"name": self.name, "reduction": self.reduction}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name}>"


class LossFunctionWrapper(Loss):
    """A ``Loss`` around a per-sample function ``fn(y_true, y_pred, **kwargs)``, as Keras's compile wraps one.

    The two ranks are aligned first (a trailing size-1 axis), as in Keras, so
    that labels of shape (n,) go with predictions of shape (n, 1). Gradients
    exist for the functions of this module; for another ``fn``,
    ``gradient`` raises ``NotImplementedError``.
    """

    def __init__(self, fn, reduction="sum_over_batch_size", name=None, dtype=None, **kwargs):
        super().__init__(name=name or to_snake_case(getattr(fn, "__name__", type(fn).__name__)),
                         reduction=reduction, dtype=dtype)
        self.fn = fn
        self._fn_kwargs = kwargs

    def call(self, y_true, y_pred):
        y_true, y_pred = squeeze_or_expand_to_same_rank(y_true, y_pred)
        return self.fn(y_true, y_pred, **self._fn_kwargs)

    def _backward(self, y_true, y_pred, upstream):
        backward = _BACKWARD.get(self.fn)
        if backward is None:
            return super()._backward(y_true, y_pred, upstream)
        y_true, y_pred = squeeze_or_expand_to_same_rank(y_true, y_pred)
        return backward(y_true, y_pred, upstream, **self._fn_kwargs)

    def get_config(self):
        config = super().get_config()
        config["fn"] = serialize(self.fn)
        config.update(self._fn_kwargs)
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        if "fn" in config:
            config["fn"] = deserialize(config["fn"])
        return cls(**config)


class _SoftmaxCrossentropy(LossFunctionWrapper):
    """The part the two categorical cross-entropies share: the gradient through a softmax.

    Subclasses define ``_targets(y_true, probs, axis)``: the dense targets ``t``.
    """

    def gradient_through_softmax(self, y_true, probs, sample_weight=None):
        """Gradient of the reduced loss with respect to the logits ``z`` of ``probs = softmax(z)``.

        ``(probs * sum(t) - t) * w / n``, i.e. ``(probs - onehot) / n`` for
        one-hot (or smoothed) targets ``t``, unit weights ``w`` and the default
        reduction over ``n`` samples. This is the gradient of the cross-entropy
        taken from the logits (a log-softmax), which is what Keras computes
        under TensorFlow, where a softmax output carries its logits.

        It equals the chain rule through the clipped form (``loss.gradient``
        then the softmax's backward pass) wherever every probability lies in
        ``[1e-7, 1 - 1e-7]``. Where one is clipped the clipped form passes no
        gradient through it, so a confidently wrong prediction (the true
        class's probability below 1e-7) stops learning from that class; the
        fused form keeps pulling it up.

        Parameters
        ----------
        y_true : array_like
            As for the loss (labels, or one-hot targets).
        probs : array_like
            The softmax output, ``y_pred`` of the loss.
        sample_weight : array_like, optional

        Returns
        -------
        ndarray, the shape of ``probs``
        """
        if self.from_logits:
            raise ValueError(
                f"`gradient_through_softmax` differentiates a loss on probabilities, but `{self.name}` has "
                "from_logits=True: its `gradient` already is the gradient with respect to the logits.")
        y_true, probs = self._cast(y_true, probs)
        y_true, probs = squeeze_or_expand_to_same_rank(y_true, probs)
        axis = self.axis % probs.ndim
        targets = self._targets(y_true, probs, axis)
        values_shape = probs.shape[:axis] + probs.shape[axis + 1:]
        upstream = self._upstream(values_shape, sample_weight)
        return _through_softmax(targets, probs, upstream, axis).astype(self.dtype, copy=False)


class SparseCategoricalCrossentropy(_SoftmaxCrossentropy):
    """Mean cross-entropy of integer labels (``sparse_categorical_crossentropy``, reduced).

    Parameters
    ----------
    from_logits : bool, default False
    ignore_class : None
        Only ``None`` is supported.
    reduction : str, default "sum_over_batch_size"
    axis : int, default -1
    name : str, default "sparse_categorical_crossentropy"
    dtype : str, optional

    Examples
    --------
    >>> loss = SparseCategoricalCrossentropy()
    >>> round(float(loss([1, 2], [[0.05, 0.95, 0], [0.1, 0.8, 0.1]])), 3)
    1.177
    >>> loss.gradient([1], [[0.25, 0.5, 0.25]])   # -1/p at the label, less the sum-normalisation's share
    array([[ 1., -1.,  1.]], dtype=float32)
    """

    def __init__(self, from_logits=False, ignore_class=None, reduction="sum_over_batch_size", axis=-1,
                 name="sparse_categorical_crossentropy", dtype=None):
        if ignore_class is not None:
            raise NotImplementedError(
                f"`ignore_class` is not supported by fastconv losses yet. Received: ignore_class={ignore_class!r}")
        super().__init__(sparse_categorical_crossentropy, name=name, reduction=reduction, dtype=dtype,
                         from_logits=from_logits, ignore_class=ignore_class, axis=axis)
        self.from_logits = from_logits
        self.ignore_class = ignore_class
        self.axis = axis

    def _cast(self, y_true, y_pred):
        # Labels keep their own dtype so that error messages show them as given.
        return np.asarray(y_true), _float_array(y_pred, self.dtype)

    def _targets(self, y_true, probs, axis):
        return _one_hot(_sparse_labels(y_true, probs, axis), probs.shape[axis], axis, probs.dtype)

    def get_config(self):
        config = Loss.get_config(self)
        config.update({"from_logits": self.from_logits, "ignore_class": self.ignore_class})
        return config


class CategoricalCrossentropy(_SoftmaxCrossentropy):
    """Mean cross-entropy of one-hot targets (``categorical_crossentropy``, reduced).

    Parameters
    ----------
    from_logits : bool, default False
    label_smoothing : float, default 0.0
    axis : int, default -1
    reduction : str, default "sum_over_batch_size"
    name : str, default "categorical_crossentropy"
    dtype : str, optional

    Examples
    --------
    >>> round(float(CategoricalCrossentropy()([[0, 1, 0], [0, 0, 1]], [[0.05, 0.95, 0], [0.1, 0.8, 0.1]])), 3)
    1.177
    """

    def __init__(self, from_logits=False, label_smoothing=0.0, axis=-1, reduction="sum_over_batch_size",
                 name="categorical_crossentropy", dtype=None):
        super().__init__(categorical_crossentropy, name=name, reduction=reduction, dtype=dtype,
                         from_logits=from_logits, label_smoothing=label_smoothing, axis=axis)
        self.from_logits = from_logits
        self.label_smoothing = label_smoothing
        self.axis = axis

    def _targets(self, y_true, probs, axis):
        _check_same_shape(y_true, probs, "categorical_crossentropy")
        return _smooth_categorical(y_true, self.label_smoothing)

    def get_config(self):
        config = Loss.get_config(self)
        config.update({"from_logits": self.from_logits, "label_smoothing": self.label_smoothing,
                       "axis": self.axis})
        return config


class BinaryCrossentropy(LossFunctionWrapper):
    """Mean binary cross-entropy (``binary_crossentropy``, reduced).

    Parameters
    ----------
    from_logits : bool, default False
    label_smoothing : float, default 0.0
    axis : int, default -1
    reduction : str, default "sum_over_batch_size"
    name : str, default "binary_crossentropy"
    dtype : str, optional

    Examples
    --------
    >>> round(float(BinaryCrossentropy(from_logits=True)([0, 1, 0, 0], [-18.6, 0.51, 2.94, -12.8])), 4)
    0.8655
    """

    def __init__(self, from_logits=False, label_smoothing=0.0, axis=-1, reduction="sum_over_batch_size",
                 name="binary_crossentropy", dtype=None):
        super().__init__(binary_crossentropy, name=name, reduction=reduction, dtype=dtype,
                         from_logits=from_logits, label_smoothing=label_smoothing, axis=axis)
        self.from_logits = from_logits
        self.label_smoothing = label_smoothing
        self.axis = axis

    def gradient_through_sigmoid(self, y_true, probs, sample_weight=None):
        """Gradient of the reduced loss with respect to the logits ``z`` of ``probs = sigmoid(z)``.

        ``(probs - t) * w / (n * d)`` for targets ``t`` (after label
        smoothing), unit weights ``w``, ``n`` samples of ``d`` values each and
        the default reduction: the stable form Keras uses under TensorFlow,
        where a sigmoid output carries its logits. It equals the chain rule
        through the clipped form wherever ``probs`` lies in ``[1e-7, 1 - 1e-7]``.
        """
        if self.from_logits:
            raise ValueError(
                f"`gradient_through_sigmoid` differentiates a loss on probabilities, but `{self.name}` has "
                "from_logits=True: its `gradient` already is the gradient with respect to the logits.")
        y_true, probs = self._cast(y_true, probs)
        y_true, probs = squeeze_or_expand_to_same_rank(y_true, probs)
        _check_same_shape(y_true, probs, "binary_crossentropy")
        axis = self.axis % probs.ndim
        upstream = self._upstream(probs.shape[:axis] + probs.shape[axis + 1:], sample_weight)
        targets = _smooth_binary(y_true, self.label_smoothing)
        scale = np.expand_dims(upstream, axis) / probs.dtype.type(probs.shape[axis])
        return ((probs - targets) * scale).astype(self.dtype, copy=False)

    def get_config(self):
        config = Loss.get_config(self)
        config.update({"from_logits": self.from_logits, "label_smoothing": self.label_smoothing,
                       "axis": self.axis})
        return config


class MeanSquaredError(LossFunctionWrapper):
    """Mean of squared errors (``mean_squared_error``, reduced).

    Parameters
    ----------
    reduction : str, default "sum_over_batch_size"
    name : str, default "mean_squared_error"
    dtype : str, optional

    Examples
    --------
    >>> loss = MeanSquaredError()
    >>> round(float(loss([1.0, 0.0, 1.0], [0.9, 0.1, 0.8])), 4)
    0.02
    >>> loss.gradient([[1.0, 0.0]], [[0.5, 0.5]])     # 2 * (y_pred - y_true) / 2
    array([[-0.5,  0.5]], dtype=float32)
    """

    def __init__(self, reduction="sum_over_batch_size", name="mean_squared_error", dtype=None):
        super().__init__(mean_squared_error, name=name, reduction=reduction, dtype=dtype)

    def get_config(self):
        return Loss.get_config(self)


class MeanAbsoluteError(LossFunctionWrapper):
    """Mean of absolute errors (``mean_absolute_error``, reduced).

    >>> round(float(MeanAbsoluteError()([1.0, 0.0, 1.0], [0.9, 0.1, 0.8])), 4)
    0.1333
    """

    def __init__(self, reduction="sum_over_batch_size", name="mean_absolute_error", dtype=None):
        super().__init__(mean_absolute_error, name=name, reduction=reduction, dtype=dtype)

    def get_config(self):
        return Loss.get_config(self)


class Huber(LossFunctionWrapper):
    """The Huber loss (``huber``, reduced): quadratic for errors up to ``delta``, linear beyond.

    >>> round(float(Huber()([[0.0, 0.0]], [[0.5, 3.0]])), 4)
    1.3125
    """

    def __init__(self, delta=1.0, reduction="sum_over_batch_size", name="huber_loss", dtype=None):
        super().__init__(huber, name=name, reduction=reduction, dtype=dtype, delta=delta)

    def get_config(self):  # Keras 3.15's: name and reduction, without `delta`
        return Loss.get_config(self)


# -- lookup and serialization -----------------------------------------------------------------------------

ALL_OBJECTS = (Loss, LossFunctionWrapper, SparseCategoricalCrossentropy, CategoricalCrossentropy,
               BinaryCrossentropy, MeanSquaredError, MeanAbsoluteError, Huber)
_CLASSES = {cls.__name__: cls for cls in ALL_OBJECTS}
_FUNCTIONS = {
    "sparse_categorical_crossentropy": sparse_categorical_crossentropy,
    "categorical_crossentropy": categorical_crossentropy,
    "binary_crossentropy": binary_crossentropy,
    "mean_squared_error": mean_squared_error,
    "mse": mean_squared_error,
    "MSE": mean_squared_error,
    "mean_absolute_error": mean_absolute_error,
    "mae": mean_absolute_error,
    "MAE": mean_absolute_error,
    "huber": huber,
}
_CLASS_OF_FUNCTION = {
    sparse_categorical_crossentropy: SparseCategoricalCrossentropy,
    categorical_crossentropy: CategoricalCrossentropy,
    binary_crossentropy: BinaryCrossentropy,
    mean_squared_error: MeanSquaredError,
    mean_absolute_error: MeanAbsoluteError,
    huber: Huber,
}
# Keras 3 losses that fastconv does not implement yet: named, rather than "could not interpret".
_KERAS_ONLY = {
    "mean_absolute_percentage_error", "mape", "mean_squared_logarithmic_error",
    "msle", "cosine_similarity", "log_cosh", "logcosh", "kl_divergence", "kld", "kullback_leibler_divergence",
    "poisson", "hinge", "squared_hinge", "categorical_hinge", "binary_focal_crossentropy",
    "categorical_focal_crossentropy", "ctc", "dice", "tversky", "circle", "categorical_generalized_cross_entropy",
}


def on_logits(loss):
    """``loss`` taken on the logits of the output layer's activation, or None if it is not a cross-entropy on
    probabilities.

    Under TensorFlow, Keras computes a cross-entropy on probabilities from the
    logits that made them when the model's output is a softmax (categorical)
    or a sigmoid (binary): the output tensor carries its logits. The value
    then differs from the clipped probabilities' where a probability is below
    ``1e-7``. This returns the same loss with ``from_logits=True``, and the
    activation it applies to as ``output_activation``; ``fit`` and
    ``evaluate`` use it when the last layer has that activation.

    >>> twin = on_logits(SparseCategoricalCrossentropy())
    >>> twin.from_logits, twin.output_activation.__name__
    (True, 'softmax')
    >>> on_logits(SparseCategoricalCrossentropy(from_logits=True)) is None, on_logits(MeanSquaredError()) is None
    (True, True)
    """
    activation = {SparseCategoricalCrossentropy: activations.softmax, CategoricalCrossentropy: activations.softmax,
                  BinaryCrossentropy: activations.sigmoid}.get(type(loss))
    if activation is None or loss.from_logits:
        return None
    twin = type(loss).from_config({**loss.get_config(), "from_logits": True})
    twin.output_activation = activation
    return twin


def get(identifier):
    """Resolve ``identifier`` to a ``Loss`` object, as ``model.compile(loss=...)`` does in Keras.

    Accepts ``None``, a function name (``'sparse_categorical_crossentropy'``,
    ``'mse'``, ...), a class name (``'CategoricalCrossentropy'``), a dict from
    ``serialize``, a ``Loss`` (returned as is), a ``Loss`` subclass, or a
    function. Unlike ``keras.losses.get``, which hands back a bare function
    for a function name, this always returns a ``Loss`` (the object Keras's
    compile wraps the function in, with the identifier as its name), because
    fastconv needs the object's ``gradient``.

    >>> get("mse")
    <MeanSquaredError name=mse>
    """
    if identifier is None:
        return None
    if isinstance(identifier, Loss):
        return identifier
    if isinstance(identifier, dict):
        obj = deserialize(identifier)
        return obj if isinstance(obj, Loss) else get(obj)
    if isinstance(identifier, str):
        if identifier in _FUNCTIONS:
            return _CLASS_OF_FUNCTION[_FUNCTIONS[identifier]](name=identifier)
        if identifier in _CLASSES and identifier not in ("Loss", "LossFunctionWrapper"):
            return _CLASSES[identifier]()
        if identifier.lower() in _KERAS_ONLY or to_snake_case(identifier) in _KERAS_ONLY:
            raise NotImplementedError(f"The Keras loss `{identifier}` is not implemented in fastconv yet. "
                                      "Supported: " + ", ".join(sorted(_FUNCTIONS)) + ".")
        raise ValueError(f"Could not interpret loss identifier: {identifier}")
    if isinstance(identifier, type) and issubclass(identifier, Loss):
        return identifier()
    if callable(identifier) and identifier in _CLASS_OF_FUNCTION:
        return _CLASS_OF_FUNCTION[identifier](name=identifier.__name__)
    if callable(identifier):
        return LossFunctionWrapper(identifier)
    raise ValueError(f"Could not interpret loss identifier: {identifier}")


def serialize(loss):
    """Keras's serialized form of a ``Loss`` (``{"module": "keras.losses", ...}``) or of a loss function."""
    if isinstance(loss, Loss):
        return {"module": "keras.losses", "class_name": type(loss).__name__, "config": loss.get_config(),
                "registered_name": None}
    if loss in _CLASS_OF_FUNCTION:
        return {"module": "builtins", "class_name": "function", "config": loss.__name__,
                "registered_name": "function"}
    raise ValueError(f"Cannot serialize the loss {loss!r}: it is not a fastconv loss.")


def deserialize(config, custom_objects=None):
    """The inverse of ``serialize``: a ``Loss``, or a loss function for a serialized function."""
    if isinstance(config, str):
        return _FUNCTIONS[config] if config in _FUNCTIONS else get(config)
    class_name = config["class_name"]
    if custom_objects and class_name in custom_objects:
        return custom_objects[class_name].from_config(dict(config["config"]))
    if class_name == "function":
        name = config["config"]
        if name not in _FUNCTIONS:
            return get(name)  # raises, naming the function
        return _FUNCTIONS[name]
    if class_name not in _CLASSES:
        return get(class_name)  # raises, naming the class
    return _CLASSES[class_name].from_config(dict(config["config"]))
