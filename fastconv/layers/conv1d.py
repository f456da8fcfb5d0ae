"""``Conv1D``: a 1-D convolution run as ``fastconv.ops``' 2-D one over a height of 1.

Inputs ``(batch, steps, channels)`` are viewed as ``(batch, 1, steps, channels)``
and the kernel, stored as Keras stores it, ``(kernel_size, in_channels, filters)``,
as ``(1, kernel_size, in_channels, filters)`` (what Keras's TensorFlow backend
does too): one loop nest serves both layers. ``padding='causal'`` is an
explicit left zero padding of ``dilation_rate * (kernel_size - 1)`` steps
followed by a 'valid' convolution. The 1-D poolings live in ``pooling1d``.
"""

import numpy as np

from fastconv import activations, initializers, ops, shapes
from fastconv.layers.base import check_channels_last, reject_unsupported
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

    kernel_families = ("conv",)
    gradient_kernel_families = ("conv_grad_input", "conv_grad_kernel")

    def __init__(self, filters, kernel_size, strides=1, padding="valid", data_format=None, dilation_rate=1,
                 groups=1, activation=None, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None,
                 activity_regularizer=None, kernel_constraint=None, bias_constraint=None, lora_rank=None,
                 lora_alpha=None, **kwargs):
        super().__init__(**kwargs)
        check_channels_last(self, data_format)
        if not (isinstance(filters, int) and not isinstance(filters, bool) and filters > 0):
            raise ValueError(f"Invalid value for argument `filters`. Expected a positive integer. "
                             f"Received: filters={filters!r}")
        if not (isinstance(groups, int) and groups > 0):
            raise ValueError(f"The number of groups must be a positive integer. Received: groups={groups!r}.")
        if filters % groups != 0:
            raise ValueError(f"The number of filters must be evenly divisible by the number of groups. "
                             f"Received: groups={groups}, filters={filters}.")
        reject_unsupported(self, groups=(groups, 1), kernel_regularizer=(kernel_regularizer, None),
                           bias_regularizer=(bias_regularizer, None),
                           activity_regularizer=(activity_regularizer, None),
                           kernel_constraint=(kernel_constraint, None), bias_constraint=(bias_constraint, None),
                           lora_rank=(lora_rank, None))
        self.filters = filters
        self.kernel_size = normalize_single(kernel_size, "kernel_size")
        self.strides = normalize_single(strides, "strides")
        self.padding = normalize_padding_1d(padding)
        self.dilation_rate = normalize_single(dilation_rate, "dilation_rate")
        if self.strides[0] > 1 and self.dilation_rate[0] > 1:
            raise ValueError("`strides > 1` is not supported together with `dilation_rate > 1`. "
                             f"Received: strides={self.strides} and dilation_rate={self.dilation_rate}")
        self.activation = activations.get(activation)
        self.use_bias = use_bias
        self.kernel_initializer = initializers.get(kernel_initializer, "kernel_initializer")
        self.bias_initializer = initializers.get(bias_initializer, "bias_initializer")
        name = self.activation.__name__
        self._fused_activation = name if name in ops.ACTIVATIONS else None

    def build(self, input_shape):
        check_steps_input(self, input_shape)
        kernel_shape = (*self.kernel_size, input_shape[-1], self.filters)
        self.kernel = self.add_weight(kernel_shape, self.kernel_initializer, name="kernel")
        self.bias = self.add_weight((self.filters,), self.bias_initializer, name="bias") if self.use_bias else None

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

    def _rows(self, inputs):
        """``inputs`` as the 2-D op's ``(batch, 1, steps, channels)``, with the causal left padding."""
        rows = inputs[:, None]
        if self._causal_pad:
            rows = np.pad(rows, ((0, 0), (0, 0), (self._causal_pad, 0), (0, 0)))
        return rows

    def _conv_args(self):
        return dict(strides=(1, *self.strides), padding="valid" if self.padding == "causal" else self.padding,
                    dilation_rate=(1, *self.dilation_rate))

    def forward(self, inputs, training):
        self.compute_output_shape(inputs.shape)
        bias = None if self.bias is None else self.bias.value
        rows = self._rows(inputs)
        outputs = ops.conv_bias_activation(rows, self.kernel.value[None], bias, activation=self._fused_activation,
                                           **self._conv_args())[:, 0]
        if self._fused_activation is not None:
            return outputs, (rows, outputs, None)
        activated = self.activation(outputs)
        return activated, (rows, activated, outputs)

    def backward(self, context, grad_outputs, need_grad_inputs=True, skip_activation=False):
        rows, outputs, pre_activation = context
        if pre_activation is not None:
            if not skip_activation:
                grad_outputs = self.activation.gradient(pre_activation, outputs, grad_outputs)
            outputs = pre_activation
        grad_rows, grad_kernel, grad_bias = ops.conv_bias_activation_grad(
            rows, self.kernel.value[None], outputs[:, None], grad_outputs[:, None],
            activation=self._fused_activation, need_grad_inputs=need_grad_inputs, need_grad_kernel=self.trainable,
            **self._conv_args())
        grad_inputs = None if grad_rows is None else np.ascontiguousarray(grad_rows[:, 0, self._causal_pad:])
        grad_kernel = None if grad_kernel is None else grad_kernel[0]
        return grad_inputs, [grad_kernel, grad_bias] if self.use_bias else [grad_kernel]
