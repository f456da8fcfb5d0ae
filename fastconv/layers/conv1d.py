"""``Conv1D``: a 1-D convolution run as ``fastconv.ops``' 2-D one over a height of 1.

Inputs ``(batch, steps, channels)`` are viewed as ``(batch, 1, steps, channels)``
and the kernel, stored as Keras stores it, ``(kernel_size, in_channels, filters)``,
as ``(1, kernel_size, in_channels, filters)`` (what Keras's TensorFlow backend
does too): one loop nest serves both layers. ``padding='causal'`` is an
explicit left zero padding of ``dilation_rate * (kernel_size - 1)`` steps
followed by a 'valid' convolution. The 1-D poolings live in ``pooling1d``.
"""

import numpy as np

from fastconv import shapes
from fastconv.layers.conv import ConvBase

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
    """``padding`` lower-cased if it is one of ``allowed``; ``ValueError`` naming the argument otherwise."""
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
        return dict(strides=(1, *self.strides), padding="valid" if self.padding == "causal" else self.padding,
                    dilation_rate=(1, *self.dilation_rate), groups=self.groups)

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
