"""``BatchNormalization`` over the last (channel) axis, with Keras's defaults and moving-average rule,
``LayerNormalization`` and ``UnitNormalization`` (each sample on its own), and the preprocessing
``Normalization``, whose mean and variance ``adapt`` learns from data."""

import numpy as np

from fastconv import constraints, initializers, ops, regularizers
from fastconv.data import PyDataset
from fastconv.eager import eager
from fastconv.layers.base import Layer, reject_unsupported
from fastconv.variables import Variable


class BatchNormalization(Layer):
    """``keras.layers.BatchNormalization`` (``axis=-1``).

    Training: ``y = gamma * (x - mean) / sqrt(var + epsilon) + beta`` with the
    batch's mean and (biased) variance over every axis but the last, and
    ``moving = moving * momentum + batch_stat * (1 - momentum)``. Inference uses
    the moving statistics, and so does a layer with ``trainable=False``.
    The passes over the batch are ``fastconv.ops``'s batch normalization
    kernels (``channel_moments``, ``batch_normalization`` and its gradient).
    """
    kernel_families = ("batch_normalization",)
    gradient_kernel_families = ("batch_normalization_grad",)

    def __init__(self, axis=-1, momentum=0.99, epsilon=1e-3, center=True, scale=True,
                 beta_initializer="zeros", gamma_initializer="ones", moving_mean_initializer="zeros",
                 moving_variance_initializer="ones", beta_regularizer=None, gamma_regularizer=None,
                 beta_constraint=None, gamma_constraint=None, synchronized=False, renorm=False, **kwargs):
        super().__init__(**kwargs)
        reject_unsupported(self, beta_regularizer=(beta_regularizer, None),
                           gamma_regularizer=(gamma_regularizer, None), beta_constraint=(beta_constraint, None),
                           gamma_constraint=(gamma_constraint, None), renorm=(renorm, False))
        self.axis = axis
        self.momentum, self.epsilon, self.center, self.scale = momentum, epsilon, center, scale
        self.initializers = {name: initializers.get(init, name) for name, init in (
            ("gamma_initializer", gamma_initializer), ("beta_initializer", beta_initializer),
            ("moving_mean_initializer", moving_mean_initializer),
            ("moving_variance_initializer", moving_variance_initializer))}
        self.synchronized = synchronized

    def build(self, input_shape):
        if self.axis not in (-1, len(input_shape) - 1):
            raise NotImplementedError(f"`BatchNormalization` in fastconv normalises the last axis only. "
                                      f"Received: axis={self.axis!r}")
        channels = (input_shape[-1],)
        self.gamma = self.add_weight(channels, self.initializers["gamma_initializer"], "gamma") if self.scale else None
        self.beta = self.add_weight(channels, self.initializers["beta_initializer"], "beta") if self.center else None
        self.moving_mean = self.add_weight(channels, self.initializers["moving_mean_initializer"], "moving_mean",
                                           trainable=False)
        self.moving_variance = self.add_weight(channels, self.initializers["moving_variance_initializer"],
                                               "moving_variance", trainable=False)

    takes_output_relu = True

    def forward(self, inputs, training, relu=False):
        gamma = self.gamma.value if self.scale else None
        beta = self.beta.value if self.center else None
        if not training or not self.trainable:  # as in Keras: a frozen layer uses its moving statistics
            mean, variance, batch_statistics = self.moving_mean.value, self.moving_variance.value, False
        else:
            mean, variance = ops.channel_moments(inputs)
            momentum = np.float32(self.momentum)
            self.moving_mean.assign(self.moving_mean.value * momentum + mean * (1 - momentum))
            self.moving_variance.assign(self.moving_variance.value * momentum + variance * (1 - momentum))
            batch_statistics = True
        outputs = ops.batch_normalization(inputs, mean, variance, beta, gamma, self.epsilon, relu=relu)
        return outputs, (inputs, mean, variance, gamma, beta, batch_statistics, relu)

    def backward(self, context, grad_outputs, need_grad_inputs=True):
        inputs, mean, variance, gamma, beta, batch_statistics, relu = context
        grad_inputs, grad_gamma, grad_beta = ops.batch_normalization_grad(
            inputs, grad_outputs, mean, variance, gamma, self.epsilon, batch_statistics, beta, relu)
        grads = ([grad_gamma] if self.scale else []) + ([grad_beta] if self.center else [])
        return grad_inputs, grads

    def get_config(self):
        return {**super().get_config(), "axis": self.axis, "momentum": self.momentum, "epsilon": self.epsilon,
                "center": self.center, "scale": self.scale,
                **{name: initializers.serialize(init) for name, init in self.initializers.items()},
                "beta_regularizer": None, "gamma_regularizer": None, "beta_constraint": None,
                "gamma_constraint": None, "synchronized": self.synchronized}


class Normalization(Layer):
    """Features shifted and scaled to mean 0 and variance 1 (``keras.layers.Normalization``):
    ``(x - mean) / max(sqrt(variance), 1e-7)`` with ``mean`` and ``variance`` per position along ``axis`` (the
    features, by default the last axis; ``None`` for one of each), learnt by ``adapt(data)`` or given; with
    ``invert``, the inverse. Géron's chapter 10 puts one in front of an MLP. ``adapt`` takes an array (its
    exact mean and variance), or batches (a list, a generator, a ``PyDataset``) combined as Keras combines
    them; the learnt values are the layer's non-trainable weights ``mean``, ``variance`` (and Keras's unused
    ``count``), saved with it.

    >>> layer = Normalization()
    >>> layer.adapt(np.array([[0.0, 10.0], [2.0, 30.0]], "float32"))
    >>> layer(np.array([[1.0, 20.0]], "float32"))
    array([[0., 0.]], dtype=float32)
    """

    def __init__(self, axis=-1, mean=None, variance=None, invert=False, **kwargs):
        super().__init__(**kwargs)
        self.axis = () if axis is None else (axis,) if isinstance(axis, int) else tuple(axis)
        if (mean is None) != (variance is None):
            raise ValueError(f"When setting values directly, both `mean` and `variance` must be set. "
                             f"Received: mean={mean} and variance={variance}")
        if mean is not None and np.shape(mean) != np.shape(variance):
            raise ValueError(f"When setting values directly, `mean` and `variance` must have the same shape. "
                             f"Received: mean shape {np.shape(mean)} and variance shape {np.shape(variance)}")
        if mean is not None and len(np.shape(mean)) > len(self.axis):
            raise ValueError(f"The rank of `mean` must be less than or equal to the number of axes "
                             f"({len(self.axis)}). Received: mean shape {np.shape(mean)} for axis {self.axis}")
        self.input_mean, self.input_variance, self.invert = mean, variance, invert
        self._given = None  # the broadcast (mean, variance) of values given to the constructor

    @property
    def any_image_size(self):  # statistics of the last axis only (or of none)
        return all(axis == len(self._broadcast) - 1 for axis in self._keep)

    def build(self, input_shape):
        rank = len(input_shape)
        if any(a < -rank or a >= rank for a in self.axis):
            raise ValueError(f"All `axis` values must be in the range [-ndim, ndim). Received inputs with "
                             f"ndim={rank}, while axis={self.axis}")
        self._keep = tuple(sorted(a % rank for a in self.axis))
        for axis in self._keep:
            if input_shape[axis] is None:
                raise ValueError(f"All `axis` values to be kept must have a known shape. Received axis={self.axis}, "
                                 f"inputs.shape={tuple(input_shape)}, with unknown axis at index {axis}")
        self._reduce = tuple(axis for axis in range(rank) if axis not in self._keep)
        self._broadcast = tuple(input_shape[a] if a in self._keep else 1 for a in range(rank))
        shape = tuple(input_shape[a] for a in self._keep)
        if self.input_mean is None:
            self.adapt_mean = self.add_weight(shape, "zeros", name="mean", trainable=False)
            self.adapt_variance = self.add_weight(shape, "ones", name="variance", trainable=False)
            self.count = Variable(0, name="count", trainable=False, dtype="int64", path=f"{self.name}/count")
            self._non_trainable_weights.append(self.count)
        else:  # the given values' axes lined up with the kept axes from the right, as Keras does
            given = []
            for value in (self.input_mean, self.input_variance):
                value = np.asarray(value, np.float32)
                expanded = [1] * rank
                for i in range(1, value.ndim + 1):
                    expanded[self._keep[-i]] = value.shape[-i]
                given.append(np.broadcast_to(value.reshape(expanded), self._broadcast))
            self._given = tuple(given)

    @property
    def mean(self):
        """The mean the layer subtracts, broadcast to the inputs' rank (Keras's ``layer.mean``), or None before
        the layer is built."""
        return eager(self._statistics()[0]) if self.built else None

    @property
    def variance(self):
        """The variance the layer divides by the root of, broadcast as ``mean``, or None before it is built."""
        return eager(self._statistics()[1]) if self.built else None

    def check_input_shape(self, input_shape):
        """Keras's check: the kept axes' sizes, where the inputs have the rank the layer was built for (data
        adapted as a vector of samples, ``axis=None``, feeds a model on ``(batch, 1)`` inputs)."""
        built = self._build_input_shape
        if built is None or len(built) != len(input_shape):
            return
        for axis in self._keep:
            if input_shape[axis] is not None and input_shape[axis] != built[axis]:
                raise ValueError(f'Input 0 of layer "{self.name}" is incompatible with the layer: expected axis '
                                 f"{axis} of input shape to have value {built[axis]}, but received input with "
                                 f"shape {tuple(input_shape)}")

    def _statistics(self):
        if self._given is not None:
            return self._given
        return (self.adapt_mean.value.reshape(self._broadcast), self.adapt_variance.value.reshape(self._broadcast))

    def adapt(self, data):
        """Learn the mean and variance of ``data``: an array, or an iterable of batches (a ``PyDataset``'s
        first items)."""
        if isinstance(data, PyDataset):
            data = (data[i] for i in range(len(data)))
        if isinstance(data, np.ndarray) or not hasattr(data, "__iter__"):
            data = np.asarray(data, np.float32)
            batches = None
            shape = data.shape
        else:
            batches = [np.asarray(b[0] if isinstance(b, tuple) else b, np.float32) for b in data]
            if not batches:
                raise ValueError("adapt() received an empty iterable (no batches). Expected at least one batch.")
            shape = batches[0].shape
        if not self.built:
            self.build(shape)
        if self._given is not None:
            raise ValueError("Normalization was given `mean` and `variance`: there is nothing to adapt.")
        if batches is None:
            mean, variance = np.mean(data, axis=self._reduce), np.var(data, axis=self._reduce)
        else:  # batch by batch, each weighted by its count, as Keras combines them
            mean = variance = np.zeros(self.adapt_mean.shape, np.float32)
            total = 0
            for batch in batches:
                count = int(np.prod([batch.shape[a] for a in self._reduce])) if self._reduce else 1
                weight = count / (total + count)
                batch_mean, batch_variance = np.mean(batch, axis=self._reduce), np.var(batch, axis=self._reduce)
                new_mean = mean * (1 - weight) + batch_mean * weight
                variance = ((variance + (mean - new_mean) ** 2) * (1 - weight)
                            + (batch_variance + (batch_mean - new_mean) ** 2) * weight)
                mean, total = new_mean, total + count
        self.adapt_mean.assign(np.asarray(mean, np.float32).reshape(self.adapt_mean.shape))
        self.adapt_variance.assign(np.asarray(variance, np.float32).reshape(self.adapt_variance.shape))

    def forward(self, inputs, training):
        mean, variance = self._statistics()
        scale = np.maximum(np.sqrt(variance), np.float32(1e-7))
        outputs = mean + inputs * scale if self.invert else (inputs - mean) / scale
        return outputs.astype(np.float32, copy=False), scale

    def backward(self, context, grad_outputs, need_grad_inputs=True):
        grad = grad_outputs * context if self.invert else grad_outputs / context
        return grad.astype(np.float32, copy=False), []

    def _fixed_axes(self):
        return self._keep if getattr(self, "_keep", None) else ()

    def get_config(self):
        def listed(value):
            return None if value is None else np.asarray(value).tolist()

        return {**super().get_config(), "axis": self.axis, "invert": self.invert,
                "mean": listed(self.input_mean), "variance": listed(self.input_variance)}


def _axes(axis, rank, name):
    """``axis`` (an int or a list of them, Keras's argument) as sorted non-negative axes of inputs of ``rank``."""
    axes = [axis] if isinstance(axis, int) else list(axis)
    if not all(isinstance(a, int) and -rank <= a < rank for a in axes):
        raise ValueError(f"Invalid value for argument `axis` of {name}: every axis must be in the range "
                         f"[-{rank}, {rank}) of the inputs' axes. Received: axis={axis!r}")
    return sorted(a % rank for a in axes)


class LayerNormalization(Layer):
    """Each sample normalized over ``axis`` (the last by default, or several), then scaled by ``gamma`` and
    shifted by ``beta`` (``keras.layers.LayerNormalization``; Keras's default ``epsilon`` 1e-3). In float32
    as Keras on TensorFlow computes it: ``inv = gamma / sqrt(var + epsilon)``,
    ``y = x * inv + (beta - mean * inv)``, with the mean and the (biased) variance over ``axis``.

    >>> LayerNormalization(epsilon=0.0)(np.array([[1.0, 3.0]], "float32"))
    array([[-1.,  1.]], dtype=float32)
    """

    def __init__(self, axis=-1, epsilon=1e-3, center=True, scale=True, beta_initializer="zeros",
                 gamma_initializer="ones", beta_regularizer=None, gamma_regularizer=None, beta_constraint=None,
                 gamma_constraint=None, rms_scaling=False, **kwargs):
        super().__init__(**kwargs)
        reject_unsupported(self, rms_scaling=(rms_scaling, False))
        if not (isinstance(axis, int) or (isinstance(axis, (list, tuple)) and axis)):
            raise TypeError(f"Expected an int or a list/tuple of ints for the argument 'axis', but received: {axis!r}")
        self.axis = list(axis) if isinstance(axis, (list, tuple)) else axis
        self.epsilon, self.center, self.scale = epsilon, center, scale
        self.beta_initializer = initializers.get(beta_initializer, "beta_initializer")
        self.gamma_initializer = initializers.get(gamma_initializer, "gamma_initializer")
        self.beta_regularizer, self.gamma_regularizer = regularizers.get(beta_regularizer), regularizers.get(
            gamma_regularizer)
        self.beta_constraint, self.gamma_constraint = constraints.get(beta_constraint), constraints.get(
            gamma_constraint)

    def build(self, input_shape):
        self._axes = _axes(self.axis, len(input_shape), f'layer "{self.name}"')
        if 0 in self._axes:
            raise ValueError(f'Layer "{self.name}" normalizes each sample on its own: the batch axis (0) cannot be '
                             f"one of its axes. Received: axis={self.axis!r}")
        # Once built, `axis` is a list sorted as given (Keras's: `[-1, 1]`, the last axis first); the weights'
        # shape lists the axes in that order and they are laid over the inputs' axes by a reshape, as Keras on
        # TensorFlow does.
        axis = sorted(self.axis) if isinstance(self.axis, list) else [self.axis]
        shape = tuple(input_shape[a] for a in axis)
        if any(size is None for size in shape):
            raise ValueError(f'Layer "{self.name}" normalizes over axes of unknown size. Received input shape '
                             f"{tuple(input_shape)}, axis={self.axis!r}")
        self.axis = axis
        self._broadcast = tuple(input_shape[a] if a in self._axes else 1 for a in range(1, len(input_shape)))
        self.gamma = self.add_weight(shape, self.gamma_initializer, name="gamma", regularizer=self.gamma_regularizer,
                                     constraint=self.gamma_constraint) if self.scale else None
        self.beta = self.add_weight(shape, self.beta_initializer, name="beta", regularizer=self.beta_regularizer,
                                    constraint=self.beta_constraint) if self.center else None

    @property
    def any_image_size(self):
        return self._axes == [len(self._broadcast)]  # the last axis only

    def _weight(self, variable, fill):
        return np.float32(fill) if variable is None else variable.value.reshape(self._broadcast)

    def forward(self, inputs, training):
        axes = tuple(self._axes)
        mean = inputs.mean(axis=axes, keepdims=True, dtype=np.float32)
        variance = np.square(inputs - mean).mean(axis=axes, keepdims=True, dtype=np.float32)
        rstd = (np.float32(1) / np.sqrt(variance + np.float32(self.epsilon))).astype(np.float32)
        inv = rstd * self._weight(self.gamma, 1)
        outputs = inputs * inv + (self._weight(self.beta, 0) - mean * inv)
        return outputs.astype(np.float32, copy=False), (inputs, mean, rstd)

    def backward(self, context, grad_outputs, need_grad_inputs=True):
        inputs, mean, rstd = context
        axes = tuple(self._axes)
        shared = tuple(a for a in range(inputs.ndim) if a not in self._axes)  # the axes gamma and beta repeat on
        normalized = (inputs - mean) * rstd
        grads = []
        if self.scale:
            grads.append(np.sum(grad_outputs * normalized, axis=shared).reshape(self.gamma.shape))
        if self.center:
            grads.append(np.sum(grad_outputs, axis=shared).reshape(self.beta.shape))
        grad_normalized = grad_outputs * self._weight(self.gamma, 1)
        grad_inputs = rstd * (grad_normalized - grad_normalized.mean(axis=axes, keepdims=True)
                              - normalized * (grad_normalized * normalized).mean(axis=axes, keepdims=True))
        return grad_inputs.astype(np.float32, copy=False), [g.astype(np.float32, copy=False) for g in grads]

    def get_config(self):
        return {**super().get_config(), "axis": self.axis, "epsilon": self.epsilon, "center": self.center,
                "scale": self.scale, "rms_scaling": False,
                "beta_initializer": initializers.serialize(self.beta_initializer),
                "gamma_initializer": initializers.serialize(self.gamma_initializer),
                "beta_regularizer": regularizers.serialize(self.beta_regularizer),
                "gamma_regularizer": regularizers.serialize(self.gamma_regularizer),
                "beta_constraint": constraints.serialize(self.beta_constraint),
                "gamma_constraint": constraints.serialize(self.gamma_constraint)}


class UnitNormalization(Layer):
    """Each sample scaled to unit L2 norm over ``axis`` (``keras.layers.UnitNormalization``):
    ``x * min(1 / sqrt(sum(x**2)), 1e12)``, as Keras computes it.

    >>> UnitNormalization()(np.array([[3.0, 4.0]], "float32"))
    array([[0.6, 0.8]], dtype=float32)
    """

    built_on_construction = True

    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        if not (isinstance(axis, int) or (isinstance(axis, (list, tuple)) and axis)):
            raise TypeError(f"Invalid value for `axis` argument: expected an int or a list/tuple of ints. "
                            f"Received: axis={axis!r}")
        self.axis = list(axis) if isinstance(axis, (list, tuple)) else axis

    def forward(self, inputs, training):
        axes = tuple(_axes(self.axis, inputs.ndim, f'layer "{self.name}"'))
        square_sum = np.square(inputs).sum(axis=axes, keepdims=True, dtype=np.float32)
        with np.errstate(divide="ignore"):
            inv_norm = np.minimum(np.float32(1) / np.sqrt(square_sum), np.float32(1e12))
        return (inputs * inv_norm).astype(np.float32, copy=False), (inputs, inv_norm, axes)

    def backward(self, context, grad_outputs, need_grad_inputs=True):
        inputs, inv_norm, axes = context
        # d(x * n)/dx with n = 1/|x| (not clipped): n * (g - x * n^2 * sum(g * x)); where the clip held, n g
        unclipped = inv_norm < np.float32(1e12)
        projection = np.where(unclipped, inputs * inv_norm ** 2 * (grad_outputs * inputs).sum(axis=axes,
                                                                                             keepdims=True), 0)
        return (inv_norm * (grad_outputs - projection)).astype(np.float32, copy=False), []

    def get_config(self):
        return {**super().get_config(), "axis": self.axis}
