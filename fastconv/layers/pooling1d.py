"""1-D poolings over ``(batch, steps, channels)``: ``MaxPooling1D``, ``AveragePooling1D`` run as
``fastconv.ops``' 2-D poolings over a height of 1, and the global 1-D poolings."""

import numpy as np

from fastconv import ops, shapes
from fastconv.layers.base import Layer, check_channels_last
from fastconv.layers.conv1d import check_steps_input, normalize_padding_1d, normalize_single


class _Pooling1D(Layer):
    """Shared configuration of the windowed 1-D poolings; ``strides`` defaults to ``pool_size``."""

    kernel_families = ("pooling",)
    gradient_kernel_families = ("pooling_grad",)
    built_on_construction = True

    _forward_op = None
    _backward_op = None

    def __init__(self, pool_size=2, strides=None, padding="valid", data_format=None, name=None, **kwargs):
        super().__init__(name=name, **kwargs)
        check_channels_last(self, data_format)
        self.pool_size = normalize_single(pool_size, "pool_size")
        self.strides = normalize_single(self.pool_size if strides is None else strides, "strides")
        self.padding = normalize_padding_1d(padding, ("valid", "same"))

    def check_input_shape(self, input_shape):
        check_steps_input(self, input_shape)

    def compute_output_shape(self, input_shape):
        batch, steps, channels = input_shape
        if steps is not None:
            steps = shapes.conv_output_length(steps, self.pool_size[0], self.padding, self.strides[0])
            if steps <= 0:
                raise ValueError(f"Computed output size would be zero or negative. Received: "
                                 f"`inputs.shape={tuple(input_shape)}`, `pool_size={self.pool_size}`, "
                                 f"`strides={self.strides}`, `padding={self.padding}`.")
        return (batch, steps, channels)

    def _window_args(self):
        return (1, *self.pool_size), (1, *self.strides), self.padding

    def forward(self, inputs, training):
        self.compute_output_shape(inputs.shape)
        return type(self)._forward_op(inputs[:, None], *self._window_args())[:, 0], inputs

    def backward(self, context, grad_outputs, need_grad_inputs=True):
        grad_rows = type(self)._backward_op(context[:, None], grad_outputs[:, None], *self._window_args())
        return grad_rows[:, 0], []

    def get_config(self):
        return {**super().get_config(), "pool_size": self.pool_size, "padding": self.padding,
                "strides": self.strides, "data_format": "channels_last"}


class MaxPooling1D(_Pooling1D):
    """Max pooling over ``pool_size`` steps (``keras.layers.MaxPooling1D``); padded cells are never picked.

    >>> MaxPooling1D()(np.arange(6, dtype="float32").reshape(1, 6, 1))[0, :, 0]
    array([1., 3., 5.], dtype=float32)
    """

    _forward_op = staticmethod(ops.max_pool)
    _backward_op = staticmethod(ops.max_pool_grad)


class AveragePooling1D(_Pooling1D):
    """Average pooling (``keras.layers.AveragePooling1D``); 'same' divides by the real cells in each window.

    >>> AveragePooling1D(2, strides=1, padding="same")(np.array([[[1.], [3.], [5.]]], "float32"))[0, :, 0]
    array([2., 4., 5.], dtype=float32)
    """

    _forward_op = staticmethod(ops.average_pool)
    _backward_op = staticmethod(ops.average_pool_grad)

    def __init__(self, pool_size, strides=None, padding="valid", data_format=None, name=None, **kwargs):
        # Keras's AveragePooling1D has no default pool size (MaxPooling1D's is 2).
        super().__init__(pool_size, strides, padding, data_format, name, **kwargs)


class _GlobalPooling1D(Layer):
    built_on_construction = True

    def __init__(self, data_format=None, keepdims=False, **kwargs):
        super().__init__(**kwargs)
        check_channels_last(self, data_format)
        self.keepdims = keepdims

    def check_input_shape(self, input_shape):
        check_steps_input(self, input_shape)

    def compute_output_shape(self, input_shape):
        if self.keepdims:
            return (input_shape[0], 1, input_shape[-1])
        return (input_shape[0], input_shape[-1])

    def _reshape_grad(self, grad_outputs):
        return grad_outputs if self.keepdims else grad_outputs[:, None, :]

    def get_config(self):
        return {**super().get_config(), "data_format": "channels_last", "keepdims": self.keepdims}


class GlobalAveragePooling1D(_GlobalPooling1D):
    """Mean over the steps (``keras.layers.GlobalAveragePooling1D``)."""

    def forward(self, inputs, training):
        return inputs.mean(axis=1, keepdims=self.keepdims), inputs.shape

    def backward(self, context, grad_outputs, need_grad_inputs=True):
        grad = self._reshape_grad(grad_outputs) / np.float32(context[1])
        return np.broadcast_to(grad, context).copy(), []


class GlobalMaxPooling1D(_GlobalPooling1D):
    """Max over the steps (``keras.layers.GlobalMaxPooling1D``); tied maxima share the gradient, as in Keras."""

    def forward(self, inputs, training):
        outputs = inputs.max(axis=1, keepdims=True)
        result = outputs if self.keepdims else outputs[:, 0, :]
        return result, (inputs, outputs)

    def backward(self, context, grad_outputs, need_grad_inputs=True):
        inputs, outputs = context
        winners = (inputs == outputs).astype(np.float32)
        winners /= winners.sum(axis=1, keepdims=True)
        return winners * self._reshape_grad(grad_outputs), []
