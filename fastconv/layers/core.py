"""Core layers: ``Dense``, ``Flatten``, ``Dropout`` (and ``SpatialDropout1D``/``2D``), the training-only noise
``GaussianNoise`` and ``GaussianDropout``, ``Activation``, ``ReLU``, ``ELU``, ``PReLU``, ``Softmax``,
``Identity`` and ``Lambda`` (a function of its inputs, recorded as a composite layer's ``call``).

``Dense`` calls ``fastconv.ops.dense`` (its matrix products run on the
convolution's SIMD tiles, in numba's threads); the convolution and pooling
layers live in ``conv.py`` and ``pooling.py``.
"""

import math

import numpy as np

from fastconv import activations, constraints, distribution, initializers, ops, regularizers, utils
from fastconv.layers.base import Layer, check_channels_last, reject_unsupported


class Dense(Layer):
    """``outputs = activation(inputs @ kernel + bias)`` over the last axis (``keras.layers.Dense``).

    >>> Dense(3)(np.ones((2, 5), "float32")).shape
    (2, 3)
    """

    kernel_families = ("dense",)
    gradient_kernel_families = ("dense", "dense_grad_kernel")

    def __init__(self, units, activation=None, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None,
                 activity_regularizer=None, kernel_constraint=None, bias_constraint=None, lora_rank=None,
                 lora_alpha=None, **kwargs):
        super().__init__(**kwargs)
        reject_unsupported(self, activity_regularizer=(activity_regularizer, None),
                           lora_rank=(lora_rank, None))
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self.kernel_constraint = constraints.get(kernel_constraint)
        self.bias_constraint = constraints.get(bias_constraint)
        if not (isinstance(units, int) and units > 0):
            raise ValueError(f"Invalid value for argument `units`. Expected a positive integer. "
                             f"Received: units={units!r}")
        self.units = units
        self.activation = activations.get(activation)
        self.use_bias = use_bias
        self.kernel_initializer = initializers.get(kernel_initializer, "kernel_initializer")
        self.bias_initializer = initializers.get(bias_initializer, "bias_initializer")

    def build(self, input_shape):
        if input_shape[-1] is None:
            raise ValueError(f'The last dimension of the inputs to layer "{self.name}" should be defined. '
                             f"Found None. Full input shape received: {tuple(input_shape)}")
        self.kernel = self.add_weight((input_shape[-1], self.units), self.kernel_initializer, name="kernel",
                                      regularizer=self.kernel_regularizer, constraint=self.kernel_constraint)
        self.bias = self.add_weight((self.units,), self.bias_initializer, name="bias",
                                    regularizer=self.bias_regularizer, constraint=self.bias_constraint
                                    ) if self.use_bias else None

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.units)

    def forward(self, inputs, training):
        bias = None if self.bias is None else self.bias.value
        pre_activation = ops.dense(inputs, self.kernel.value, bias)
        outputs = self.activation(pre_activation)
        return outputs, (inputs, pre_activation, outputs)

    def pre_activation(self, context):
        return context[1]

    def backward(self, context, grad_outputs, need_grad_inputs=True, skip_activation=False):
        inputs, pre_activation, outputs = context
        if not skip_activation:
            grad_outputs = self.activation.gradient(pre_activation, outputs, grad_outputs)
        grad_inputs, grad_kernel, grad_bias = ops.dense_grad(inputs, self.kernel.value, grad_outputs,
                                                             need_grad_inputs, need_grad_kernel=self.trainable)
        return grad_inputs, [grad_kernel, grad_bias] if self.use_bias else [grad_kernel]

    def get_config(self):
        return {**super().get_config(), "units": self.units, "activation": activations.serialize(self.activation),
                "use_bias": self.use_bias,
                "kernel_initializer": initializers.serialize(self.kernel_initializer),
                "bias_initializer": initializers.serialize(self.bias_initializer),
                "kernel_regularizer": regularizers.serialize(self.kernel_regularizer),
                "bias_regularizer": regularizers.serialize(self.bias_regularizer),
                "kernel_constraint": constraints.serialize(self.kernel_constraint),
                "bias_constraint": constraints.serialize(self.bias_constraint)}


class Flatten(Layer):
    """Flattens everything but the batch axis (``keras.layers.Flatten``), in NHWC order."""

    _fixed_image_size = True

    def __init__(self, data_format=None, **kwargs):
        super().__init__(**kwargs)
        if data_format not in (None, "channels_last"):
            raise NotImplementedError(f"`Flatten` in fastconv supports only data_format='channels_last'. "
                                      f"Received: data_format={data_format!r}")

    def compute_output_shape(self, input_shape):
        rest = input_shape[1:]
        size = None if any(d is None for d in rest) else int(np.prod(rest))
        return (input_shape[0], size)

    def forward(self, inputs, training):
        return inputs.reshape(inputs.shape[0], -1), inputs.shape

    def backward(self, context, grad_outputs, need_grad_inputs=True):
        return grad_outputs.reshape(context), []

    def get_config(self):
        return {**super().get_config(), "data_format": "channels_last"}


class Dropout(Layer):
    """Inverted dropout (``keras.layers.Dropout``): in training, zero a ``rate`` fraction and scale the rest
    by ``1 / (1 - rate)``; at inference, the identity.

    ``noise_shape`` (Keras's): the shape of the mask, broadcast over the inputs; ``None`` entries take the
    inputs' size, and a 1 shares one draw along that axis (``(None, 1, 1, channels)`` drops whole feature
    maps, as ``SpatialDropout2D`` does).

    >>> mask = Dropout(0.5, noise_shape=(None, 1, 3), seed=0)(np.ones((2, 4, 3), "float32"), training=True)
    >>> bool((mask == mask[:, :1]).all())  # one draw per sample and channel, shared by the 4 steps
    True
    """

    built_on_construction = True

    def __init__(self, rate, noise_shape=None, seed=None, **kwargs):
        super().__init__(**kwargs)
        if not (isinstance(rate, (int, float)) and not isinstance(rate, bool) and 0 <= rate <= 1):
            raise ValueError(f"Invalid value for argument `rate`. Expected a float value between 0 and 1. "
                             f"Received: rate={rate!r}")
        if noise_shape is not None:
            if not (isinstance(noise_shape, (list, tuple))
                    and all(d is None or (isinstance(d, int) and not isinstance(d, bool) and d > 0)
                            for d in noise_shape)):
                raise ValueError(f"Invalid value for argument `noise_shape`. Expected None or a tuple of positive "
                                 f"integers and None. Received: noise_shape={noise_shape!r}")
            noise_shape = tuple(noise_shape)
        self.rate = rate
        self.noise_shape = noise_shape
        self.seed = seed
        self._rng = None if seed is None else np.random.default_rng(seed)

    def _mask_shape(self, input_shape):
        """The mask's shape for inputs of ``input_shape``: ``noise_shape`` with its ``None`` resolved, each
        entry the input's size or 1."""
        if self.noise_shape is None:
            return tuple(input_shape)
        shape = tuple(size if d is None else d for d, size in zip(self.noise_shape, input_shape))
        if len(self.noise_shape) != len(input_shape) or any(d not in (1, size) for d, size in zip(shape, input_shape)):
            raise ValueError(f"Layer '{self.name}': `noise_shape` {self.noise_shape} does not broadcast to the "
                             f"inputs' shape {tuple(input_shape)}: each entry must be None, 1 or the inputs' size.")
        return shape

    def forward(self, inputs, training):
        if not training or self.rate == 0:
            return inputs, None
        mask_shape = self._mask_shape(inputs.shape)
        rng = self._rng or utils.rng()
        keep = np.float32(1.0 - self.rate)
        if mask_shape[0] == len(inputs):
            draw = _per_sample(rng.random, mask_shape)
        else:  # one mask for the whole batch, the same draw in every process
            draw = rng.random(mask_shape, dtype=np.float32)
        mask = (draw < keep).astype(np.float32)
        mask /= keep if keep > 0 else 1
        return inputs * mask, mask

    def backward(self, context, grad_outputs, need_grad_inputs=True):
        return (grad_outputs if context is None else grad_outputs * context), []

    def get_config(self):
        return {**super().get_config(), "rate": self.rate, "seed": self.seed, "noise_shape": self.noise_shape}


def _per_sample(draw, shape):
    """``draw(shape, dtype=np.float32)`` (a numpy ``Generator`` method) for a batch of ``shape``. Under data
    parallelism (fastconv.distribution) the batch is one process's shard: every process draws the global
    batch's values and keeps its own rows, so each sample's values are the one-process run's."""
    start, total = distribution.current().shard(shape[0])
    return draw((total, *shape[1:]), dtype=np.float32)[start:start + shape[0]]


class _GaussianNoiseLayer(Layer):
    """What ``GaussianNoise`` and ``GaussianDropout`` share: an argument in ``[0, 1]`` (``stddev``, ``rate``), a
    ``seed`` (numpy's generator: it repeats fastconv's draws, not Keras's) and standard normal noise drawn only in
    training (at inference, and called without ``training=True``, the inputs as they are)."""

    built_on_construction = True
    _argument = None  # "stddev" or "rate"

    def __init__(self, value, seed=None, **kwargs):
        super().__init__(**kwargs)
        if not (isinstance(value, (int, float, np.number)) and not isinstance(value, bool) and 0 <= value <= 1):
            raise ValueError(f"Invalid value for argument `{self._argument}`. Expected a float value between 0 and "
                             f"1. Received: {self._argument}={value!r}")
        setattr(self, self._argument, value)
        self.seed = seed
        self._rng = None if seed is None else np.random.default_rng(seed)

    def _noise(self, shape):
        return _per_sample((self._rng or utils.rng()).standard_normal, shape)

    def get_config(self):
        return {**super().get_config(), self._argument: getattr(self, self._argument), "seed": self.seed}


class GaussianNoise(_GaussianNoiseLayer):
    """In training, ``inputs`` plus normal noise of standard deviation ``stddev`` (``keras.layers.GaussianNoise``).

    >>> noisy = GaussianNoise(0.1, seed=0)(np.zeros((2, 3), "float32"), training=True)
    >>> bool(noisy.std() > 0), float(GaussianNoise(0.1)(np.ones(1, "float32"))[0])
    (True, 1.0)
    """

    _argument = "stddev"

    def __init__(self, stddev, seed=None, **kwargs):
        super().__init__(stddev, seed, **kwargs)

    def forward(self, inputs, training):
        if not training or self.stddev == 0:
            return inputs, None
        return inputs + self._noise(inputs.shape) * np.float32(self.stddev), None

    def backward(self, context, grad_outputs, need_grad_inputs=True):
        return grad_outputs, []


class GaussianDropout(_GaussianNoiseLayer):
    """In training, ``inputs`` times normal noise of mean 1 and standard deviation ``sqrt(rate / (1 - rate))``
    (``keras.layers.GaussianDropout``)."""

    _argument = "rate"

    def __init__(self, rate, seed=None, **kwargs):
        super().__init__(rate, seed, **kwargs)

    def forward(self, inputs, training):
        if not training or self.rate == 0:
            return inputs, None
        noise = self._noise(inputs.shape) * np.float32(math.sqrt(self.rate / (1.0 - self.rate))) + np.float32(1)
        return inputs * noise, noise

    def backward(self, context, grad_outputs, need_grad_inputs=True):
        return (grad_outputs if context is None else grad_outputs * context), []


class SpatialDropout1D(Dropout):
    """Dropout of whole channels of ``(batch, steps, channels)`` sequences (``keras.layers.SpatialDropout1D``):
    in training each sample's channel is kept (scaled by ``1 / (1 - rate)``) or zeroed at every step."""

    _rank = 3

    def __init__(self, rate, seed=None, name=None, dtype=None):
        super().__init__(rate, (None,) + (1,) * (self._rank - 2) + (None,), seed, name=name, dtype=dtype)

    def compute_output_shape(self, input_shape):
        if len(input_shape) != self._rank:
            raise ValueError(f'Input 0 of layer "{self.name}" is incompatible with the layer: expected '
                             f"ndim={self._rank}, found ndim={len(input_shape)}. Full shape received: "
                             f"{tuple(input_shape)}")
        return tuple(input_shape)

    def forward(self, inputs, training):
        self.compute_output_shape(inputs.shape)
        return super().forward(inputs, training)

    def get_config(self):  # Keras's: no `trainable`, the dtype by name
        return {"rate": self.rate, "seed": self.seed, "name": self.name, "dtype": "float32"}


class SpatialDropout2D(SpatialDropout1D):
    """Dropout of whole feature maps of NHWC images (``keras.layers.SpatialDropout2D``): in training each
    sample's channel is kept (scaled by ``1 / (1 - rate)``) or zeroed at every pixel."""

    _rank = 4

    def __init__(self, rate, data_format=None, seed=None, name=None, dtype=None):
        super().__init__(rate, seed, name, dtype)
        check_channels_last(self, data_format)

    def get_config(self):
        return {**super().get_config(), "data_format": "channels_last"}


class Activation(Layer):
    """Applies an activation function (``keras.layers.Activation``)."""

    built_on_construction = True

    def __init__(self, activation, **kwargs):
        super().__init__(**kwargs)
        self.activation = activations.get(activation)

    def forward(self, inputs, training):
        outputs = self.activation(inputs)
        return outputs, (inputs, outputs)

    def pre_activation(self, context):
        return context[0]

    def backward(self, context, grad_outputs, need_grad_inputs=True, skip_activation=False):
        if skip_activation:
            return grad_outputs, []
        inputs, outputs = context
        return self.activation.gradient(inputs, outputs, grad_outputs), []

    def get_config(self):
        return {**super().get_config(), "activation": activations.serialize(self.activation)}


class ReLU(Layer):
    """``keras.layers.ReLU``: ``max_value`` above it, ``x`` from ``threshold`` up, else
    ``negative_slope * (x - threshold)``."""

    built_on_construction = True
    kernel_families = ("relu",)  # the default ReLU's passes (fastconv.ops.relu and relu_grad)

    def __init__(self, max_value=None, negative_slope=0.0, threshold=0.0, **kwargs):
        super().__init__(**kwargs)
        if max_value is not None and max_value < 0:
            raise ValueError(f"Invalid value for argument `max_value`. Expected a non-negative value or None. "
                             f"Received: max_value={max_value!r}")
        if negative_slope < 0:
            raise ValueError(f"Invalid value for argument `negative_slope`. Expected a non-negative value. "
                             f"Received: negative_slope={negative_slope!r}")
        self.max_value, self.negative_slope, self.threshold = max_value, negative_slope, threshold

    def _slope(self, inputs):
        slope = np.where(inputs >= self.threshold, np.float32(1), np.float32(self.negative_slope))
        if self.max_value is not None:
            slope = np.where(inputs >= self.max_value, np.float32(0), slope)
        return slope

    def _plain(self):
        """Whether this is ``max(x, 0)``, Keras's default: computed by ``fastconv.ops.relu``."""
        return self.max_value is None and self.negative_slope == 0 and self.threshold == 0

    @property
    def plain_relu(self):
        return self._plain()

    def forward(self, inputs, training):
        if self._plain() and inputs.dtype == np.float32:
            return ops.relu(inputs), inputs  # NaN stays NaN, -inf becomes 0
        outputs = np.where(inputs >= self.threshold, inputs, self.negative_slope * (inputs - self.threshold))
        if self.max_value is not None:
            outputs = np.minimum(outputs, self.max_value)
        return outputs.astype(np.float32, copy=False), inputs

    def backward(self, context, grad_outputs, need_grad_inputs=True):
        if self._plain() and context.dtype == np.float32:
            return ops.relu_grad(context, grad_outputs), []
        return grad_outputs * self._slope(context), []

    def get_config(self):
        return {**super().get_config(), "max_value": self.max_value, "negative_slope": self.negative_slope,
                "threshold": self.threshold}


class ELU(Layer):
    """``x`` for ``x > 0``, else ``alpha * (exp(x) - 1)`` (``keras.layers.ELU``).

    >>> ELU()(np.array([-1.0, 2.0], "float32")).round(4)
    array([-0.6321,  2.    ], dtype=float32)
    """

    built_on_construction = True

    def __init__(self, alpha=1.0, **kwargs):
        super().__init__(**kwargs)
        self.alpha = alpha

    def forward(self, inputs, training):
        negative = np.float32(self.alpha) * np.expm1(np.minimum(inputs, 0))
        return np.where(inputs > 0, inputs, negative).astype(np.float32, copy=False), (inputs, negative)

    def backward(self, context, grad_outputs, need_grad_inputs=True):
        inputs, negative = context  # the slope below 0 is alpha * exp(x) = negative + alpha
        return grad_outputs * np.where(inputs > 0, np.float32(1), negative + np.float32(self.alpha)), []

    def get_config(self):
        return {**super().get_config(), "alpha": self.alpha}


class PReLU(Layer):
    """``x`` for ``x >= 0``, else ``alpha * x`` with ``alpha`` learnt (``keras.layers.PReLU``): one per input
    position and channel, shared along ``shared_axes`` (``[1, 2]`` for one per channel of images).

    >>> layer = PReLU(alpha_initializer=initializers.Constant(0.25))
    >>> layer(np.array([[-2.0, 3.0]], "float32"))
    array([[-0.5,  3. ]], dtype=float32)
    """

    def __init__(self, alpha_initializer="Zeros", alpha_regularizer=None, alpha_constraint=None, shared_axes=None,
                 **kwargs):
        super().__init__(**kwargs)
        self.alpha_initializer = initializers.get(alpha_initializer, "alpha_initializer")
        self.alpha_regularizer = regularizers.get(alpha_regularizer)
        self.alpha_constraint = constraints.get(alpha_constraint)
        self.shared_axes = None if shared_axes is None else (
            [shared_axes] if isinstance(shared_axes, int) else list(shared_axes))

    def build(self, input_shape):
        shape = list(input_shape[1:])
        for axis in self.shared_axes or []:
            if not 1 <= axis < len(input_shape):
                raise ValueError(f"Invalid value for argument `shared_axes`: axis {axis} is not an axis of the "
                                 f"inputs after the batch. Received inputs of shape {tuple(input_shape)}")
            shape[axis - 1] = 1
        if any(size is None for size in shape):
            raise ValueError(f'Layer "{self.name}" needs every axis but the batch defined or shared. Received '
                             f"input shape {tuple(input_shape)}, shared_axes={self.shared_axes}")
        self.alpha = self.add_weight(shape, self.alpha_initializer, name="alpha", regularizer=self.alpha_regularizer,
                                     constraint=self.alpha_constraint)

    @property
    def any_image_size(self):  # one slope for all positions: shared along every axis but the channels
        return all(size == 1 for size in self.alpha.shape[:-1])

    def forward(self, inputs, training):
        alpha = self.alpha.value
        return (np.maximum(inputs, 0) - alpha * np.maximum(-inputs, 0)).astype(np.float32, copy=False), inputs

    def backward(self, context, grad_outputs, need_grad_inputs=True):
        # relu(x) - alpha * relu(-x), as Keras writes it: slope 1 above 0, alpha below, 0 at 0 (ReLU's slope)
        alpha, negative = self.alpha.value, context < 0
        grad_inputs = grad_outputs * np.where(negative, alpha, (context > 0).astype(np.float32))
        shared = tuple(axis for axis in range(context.ndim) if axis == 0 or alpha.shape[axis - 1] == 1)
        grad_alpha = np.sum(np.where(negative, grad_outputs * context, np.float32(0)), axis=shared)
        return grad_inputs, [grad_alpha.reshape(alpha.shape).astype(np.float32, copy=False)]

    def get_config(self):
        return {**super().get_config(), "alpha_initializer": initializers.serialize(self.alpha_initializer),
                "alpha_regularizer": regularizers.serialize(self.alpha_regularizer),
                "alpha_constraint": constraints.serialize(self.alpha_constraint), "shared_axes": self.shared_axes}


class Identity(Layer):
    """The inputs as they are (``keras.layers.Identity``): a placeholder, e.g. for a branch with nothing to do."""

    built_on_construction = True

    def forward(self, inputs, training):
        return inputs, None

    def backward(self, context, grad_outputs, need_grad_inputs=True):
        return grad_outputs, []


class Softmax(Layer):
    """``exp(x) / sum(exp(x))`` along ``axis`` (``keras.layers.Softmax``): TensorFlow's quickstart turns logits
    into probabilities with ``keras.Sequential([model, keras.layers.Softmax()])``.

    >>> Softmax()(np.log(np.array([[1.0, 3.0]], "float32")))
    array([[0.25, 0.75]], dtype=float32)
    """

    built_on_construction = True

    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        self.axis = axis

    def forward(self, inputs, training):
        outputs = ops.softmax(inputs, axis=self.axis)
        return outputs, outputs

    def backward(self, context, grad_outputs, need_grad_inputs=True):
        return context * (grad_outputs - np.sum(grad_outputs * context, axis=self.axis, keepdims=True)), []

    def get_config(self):
        return {**super().get_config(), "axis": self.axis}


class Lambda(Layer):
    """``function`` of the inputs as a layer (``keras.layers.Lambda``), for what the function computes with
    fastconv's means: arithmetic between tensors and with numbers (``lambda x: x / 255.0``, ``lambda t: t[0] -
    t[1]`` on a list), ``keras.activations`` and layers. It is a composite layer (see ``Layer.is_composite``):
    the function runs once on symbolic tensors and the layers it records join the model, so a saved model
    holds them (``Rescaling``, ``Subtract``, ...), which Keras loads without the function's code; a function
    of numpy's or TensorFlow's raises ``NotImplementedError`` naming the layer.

    >>> Lambda(lambda x: 2 * x + 1)(np.ones((1, 2), "float32"))
    array([[3., 3.]], dtype=float32)
    """

    _fixed_image_size = True  # what its function records may depend on the sizes

    def __init__(self, function, output_shape=None, mask=None, arguments=None, **kwargs):
        super().__init__(**kwargs)
        if mask is not None:
            raise NotImplementedError(f"fastconv's layers have no masks. Received: mask={mask!r}")
        self.function, self.arguments = function, dict(arguments or {})

    def call(self, inputs):
        return self.function(inputs, **self.arguments)
