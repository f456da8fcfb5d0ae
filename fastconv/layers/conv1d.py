"""The 1-D convolution layers: ``Conv1D``, ``Conv1DTranspose``, ``DepthwiseConv1D``, ``SeparableConv1D``, each
its 2-D twin run over a height of 1.

Inputs ``(batch, steps, channels)`` are viewed as ``(batch, 1, steps, channels)``
and each weight, stored as Keras stores it (``Conv1D``'s kernel
``(kernel_size, in_channels, filters)``), as ``(1, kernel_size, ...)`` (what
Keras's TensorFlow backend does too, ``conv.StepsAsImages``): one loop nest
serves both ranks. ``padding='causal'`` (``Conv1D`` only, as in Keras) is an
explicit left zero padding of ``dilation_rate * (kernel_size - 1)`` steps
followed by a 'valid' convolution. The 1-D poolings live in ``pooling1d``.
"""

import numpy as np

from fastconv import shapes
from fastconv.layers.conv import ConvBase
from fastconv.layers.conv_transpose import Conv2DTranspose
from fastconv.layers.depthwise import DepthwiseConv2D, SeparableConv2D

PADDINGS_1D = ("valid", "same", "causal")


def normalize_single(value, name):
    """Return ``value`` (an int or a sequence of one int) as Keras's 1-D layers keep it: a 1-tuple of a
    positive int. Raises ``ValueError`` naming the argument ``name`` otherwise.

    >>> normalize_single(3, "kernel_size"), normalize_single([2], "strides")
    ((3,), (2,))
    """
    single = value[0] if isinstance(value, (list, tuple)) and len(value) == 1 else value
    try:
        return shapes.normalize_tuple((single, single), name)[:1]  # shapes' check of ints, on a pair of one
    except ValueError:
        raise ValueError(f"Invalid value for argument `{name}`. Expected a positive integer or a tuple of 1 "
                         f"positive integer. Received: {name}={value!r}") from None


def normalize_padding_1d(padding, allowed=PADDINGS_1D):
    """``padding`` lower-cased if it is one of ``allowed``; ``ValueError`` naming the argument otherwise.

    >>> normalize_padding_1d("Causal"), normalize_padding_1d("same", shapes.PADDINGS)
    ('causal', 'same')
    """
    if isinstance(padding, str) and padding.lower() in allowed:
        return padding.lower()
    expected = " or ".join(repr(p) for p in allowed)
    raise ValueError(f"Invalid value for argument `padding`. Expected {expected}. Received: padding={padding!r}")


def check_steps_input(layer, input_shape):
    """Raise Keras's ``ValueError`` unless ``input_shape`` is ``(batch, steps, channels)``."""
    if len(input_shape) != 3:
        raise ValueError(f'Input 0 of layer "{layer.name}" is incompatible with the layer: expected ndim=3 '
                         f"(batch, steps, channels), found ndim={len(input_shape)}. "
                         f"Full shape received: {tuple(input_shape)}")


class Conv1D(ConvBase):
    """1-D convolution layer (``keras.layers.Conv1D``) over ``(batch, steps, channels)``.

    Output ``(batch, out_steps, filters)``; ``out_steps`` is
    ``fastconv.shapes.conv_output_length`` for 'valid' and 'same', and
    ``ceil(steps / strides)`` for 'causal' (output step ``t`` sees inputs
    ``t * strides - dilation_rate * (kernel_size - 1) .. t * strides`` only).

    >>> import numpy as np
    >>> layer = Conv1D(4, 3, padding="causal", activation="relu")
    >>> layer(np.zeros((2, 10, 5), "float32")).shape
    (2, 10, 4)
    >>> layer.count_params()
    64
    """

    rank = 1
    _normalize_size = staticmethod(normalize_single)
    _normalize_padding = staticmethod(normalize_padding_1d)

    def __init__(self, filters, kernel_size, strides=1, padding="valid", data_format=None, dilation_rate=1,
                 groups=1, activation=None, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None,
                 activity_regularizer=None, kernel_constraint=None, bias_constraint=None, lora_rank=None,
                 lora_alpha=None, **kwargs):
        super().__init__(filters, kernel_size, strides, padding, data_format, dilation_rate, groups, activation,
                         use_bias, kernel_initializer, bias_initializer, kernel_regularizer, bias_regularizer,
                         activity_regularizer, kernel_constraint, bias_constraint, lora_rank, lora_alpha, **kwargs)

    _check_input_rank = check_steps_input

    @property
    def _causal_pad(self):
        return self.dilation_rate[0] * (self.kernel_size[0] - 1) if self.padding == "causal" else 0

    def compute_output_shape(self, input_shape):
        batch, steps, _ = input_shape
        if steps is not None:
            padding = "valid" if self.padding == "causal" else self.padding
            steps = shapes.conv_output_length(steps + self._causal_pad, self.kernel_size[0], padding,
                                              self.strides[0], self.dilation_rate[0])
            if steps <= 0:
                raise ValueError(
                    f"Computed output size would be zero or negative. Received `inputs shape={tuple(input_shape)}`, "
                    f"`kernel shape={(*self.kernel_size, input_shape[-1], self.filters)}`, "
                    f"`dilation_rate={self.dilation_rate}`, `strides={self.strides}`, `padding={self.padding}`.")
        return (batch, steps, self.filters)

    def _conv_args(self):
        return {**super()._conv_args(), "padding": "valid" if self.padding == "causal" else self.padding}

    def _pad(self, images):
        """The causal left padding of ``dilation_rate * (kernel_size - 1)`` steps."""
        if not self._causal_pad:
            return images
        return np.pad(images, ((0, 0), (0, 0), (self._causal_pad, 0), (0, 0)))

    def _unpad(self, grad_inputs):
        return np.ascontiguousarray(grad_inputs[:, self._causal_pad:]) if self._causal_pad else grad_inputs

    def forward(self, inputs, training):
        self.compute_output_shape(inputs.shape)  # Keras's error for inputs shorter than the window
        return super().forward(inputs, training)


def _steps_output_shape(layer, input_shape, steps, channels):
    """``(batch, steps, channels)``, raising Keras's error where ``steps`` is not positive."""
    if steps is not None and steps <= 0:
        raise ValueError(
            f"Computed output size would be zero or negative. Received `inputs shape={tuple(input_shape)}`, "
            f"`kernel_size={layer.kernel_size}`, `dilation_rate={layer.dilation_rate}`, `strides={layer.strides}`, "
            f"`padding={layer.padding}`.")
    return (input_shape[0], steps, channels)


class Conv1DTranspose(Conv2DTranspose):
    """Transposed 1-D convolution layer (``keras.layers.Conv1DTranspose``) over ``(batch, steps, channels)``.

    Kernel ``(kernel_size, filters, in_channels)``; output ``(batch, out_steps, filters)`` with ``out_steps``
    from ``fastconv.shapes.conv_transpose_geometry`` (Keras 3's rules, ``output_padding`` included).

    >>> layer = Conv1DTranspose(4, 3, strides=2, padding="same")
    >>> layer(np.zeros((2, 10, 5), "float32")).shape, layer.kernel.shape
    ((2, 20, 4), (3, 4, 5))
    """

    rank = 1
    _normalize_size = staticmethod(normalize_single)
    _check_input_rank = check_steps_input

    @staticmethod
    def _normalize_padding(padding):
        return normalize_padding_1d(padding, shapes.PADDINGS)

    def __init__(self, filters, kernel_size, strides=1, padding="valid", output_padding=None, data_format=None,
                 dilation_rate=1, activation=None, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 kernel_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(filters, kernel_size, strides, padding, output_padding, data_format, dilation_rate,
                         activation, use_bias, kernel_initializer, bias_initializer, kernel_regularizer,
                         bias_regularizer, activity_regularizer, kernel_constraint, bias_constraint, **kwargs)

    def compute_output_shape(self, input_shape):
        steps = input_shape[1]
        if steps is not None:
            output_padding = None if self.output_padding is None else self.output_padding[0]
            steps = shapes.conv_transpose_geometry(steps, self.kernel_size[0], self.padding, self.strides[0],
                                                   output_padding, self.dilation_rate[0])[1]
        return _steps_output_shape(self, input_shape, steps, self.filters)


class DepthwiseConv1D(DepthwiseConv2D):
    """Depthwise 1-D convolution layer (``keras.layers.DepthwiseConv1D``) over ``(batch, steps, channels)``:
    each channel convolved with its own ``depth_multiplier`` filters. Kernel
    ``(kernel_size, channels, depth_multiplier)``; 'valid' or 'same' padding.

    >>> layer = DepthwiseConv1D(3, padding="same", depth_multiplier=2)
    >>> layer(np.zeros((2, 10, 4), "float32")).shape, layer.count_params()
    ((2, 10, 8), 32)
    """

    rank = 1
    _normalize_size = staticmethod(normalize_single)
    _check_rank = check_steps_input

    def __init__(self, kernel_size, strides=1, padding="valid", depth_multiplier=1, data_format=None,
                 dilation_rate=1, activation=None, use_bias=True, depthwise_initializer="glorot_uniform",
                 bias_initializer="zeros", depthwise_regularizer=None, bias_regularizer=None,
                 activity_regularizer=None, depthwise_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(kernel_size, strides, padding, depth_multiplier, data_format, dilation_rate, activation,
                         use_bias, depthwise_initializer, bias_initializer, depthwise_regularizer, bias_regularizer,
                         activity_regularizer, depthwise_constraint, bias_constraint, **kwargs)

    def compute_output_shape(self, input_shape):
        return _depthwise_steps_shape(self, input_shape)


class SeparableConv1D(SeparableConv2D):
    """Depthwise separable 1-D convolution layer (``keras.layers.SeparableConv1D``) over
    ``(batch, steps, channels)``: a depthwise convolution (strides, padding and dilation apply here), then a
    pointwise convolution to ``filters`` channels with the bias and the activation. Weights
    ``depthwise_kernel`` ``(kernel_size, channels, depth_multiplier)``, ``pointwise_kernel``
    ``(1, channels * depth_multiplier, filters)`` and ``bias``.

    >>> layer = SeparableConv1D(6, 3, strides=2, depth_multiplier=2)
    >>> layer(np.zeros((2, 11, 4), "float32")).shape, layer.count_params()  # 3*4*2 + 8*6 + 6
    ((2, 5, 6), 78)
    """

    rank = 1
    _normalize_size = staticmethod(normalize_single)
    _check_rank = check_steps_input

    def __init__(self, filters, kernel_size, strides=1, padding="valid", data_format=None, dilation_rate=1,
                 depth_multiplier=1, activation=None, use_bias=True, depthwise_initializer="glorot_uniform",
                 pointwise_initializer="glorot_uniform", bias_initializer="zeros", depthwise_regularizer=None,
                 pointwise_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 depthwise_constraint=None, pointwise_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(filters, kernel_size, strides, padding, data_format, dilation_rate, depth_multiplier,
                         activation, use_bias, depthwise_initializer, pointwise_initializer, bias_initializer,
                         depthwise_regularizer, pointwise_regularizer, bias_regularizer, activity_regularizer,
                         depthwise_constraint, pointwise_constraint, bias_constraint, **kwargs)

    def compute_output_shape(self, input_shape):
        return _depthwise_steps_shape(self, input_shape)


def _depthwise_steps_shape(layer, input_shape):
    """Output shape of a depthwise or separable 1-D layer on ``input_shape`` ``(batch, steps, channels)``."""
    steps = input_shape[1]
    if steps is not None:
        steps = shapes.conv_output_length(steps, layer.kernel_size[0], layer.padding, layer.strides[0],
                                          layer.dilation_rate[0])
    return _steps_output_shape(layer, input_shape, steps, layer._filters(input_shape))
