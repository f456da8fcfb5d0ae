"""Pooling layers: ``MaxPooling2D``, ``AveragePooling2D`` (calling ``fastconv.ops``) and the global poolings."""

import numpy as np

from fastconv import ops, shapes
from fastconv.layers.base import Layer, check_channels_last


class _Pooling2D(Layer):
    """Shared configuration of the windowed poolings; ``strides`` defaults to ``pool_size``."""

    kernel_families = ("pooling",)
    gradient_kernel_families = ("pooling_grad",)
    built_on_construction = True

    _forward_op = None
    _backward_op = None

    def __init__(self, pool_size=(2, 2), strides=None, padding="valid", data_format=None, name=None, **kwargs):
        super().__init__(name=name, **kwargs)
        check_channels_last(self, data_format)
        self.pool_size = shapes.normalize_tuple(pool_size, "pool_size")
        self.strides = shapes.normalize_tuple(self.pool_size if strides is None else strides, "strides")
        self.padding = shapes.normalize_padding(padding)

    def check_input_shape(self, input_shape):
        if len(input_shape) != 4:
            raise ValueError(f'Input 0 of layer "{self.name}" is incompatible with the layer: expected ndim=4, '
                             f"found ndim={len(input_shape)}. Full shape received: {tuple(input_shape)}")

    def compute_output_shape(self, input_shape):
        output_shape = shapes.conv_output_shape(input_shape, self.pool_size, input_shape[-1], self.strides,
                                                self.padding)
        if shapes.is_empty(output_shape):
            raise ValueError(f"Computed output size would be zero or negative. Received: "
                             f"`inputs.shape={tuple(input_shape)}`, `pool_size={self.pool_size}`, "
                             f"`strides={self.strides}`, `padding={self.padding}`.")
        return output_shape

    def forward(self, inputs, training):
        return type(self)._forward_op(inputs, self.pool_size, self.strides, self.padding), inputs

    def backward(self, context, grad_outputs, need_grad_inputs=True):
        return type(self)._backward_op(context, grad_outputs, self.pool_size, self.strides, self.padding), []

    def get_config(self):
        return {**super().get_config(), "pool_size": self.pool_size, "padding": self.padding,
                "strides": self.strides, "data_format": "channels_last"}


class MaxPooling2D(_Pooling2D):
    """Max pooling over ``pool_size`` windows (``keras.layers.MaxPooling2D``); padded cells are never picked.

    >>> MaxPooling2D()(np.arange(16, dtype="float32").reshape(1, 4, 4, 1))[0, :, :, 0]
    array([[ 5.,  7.],
           [13., 15.]], dtype=float32)
    """

    _forward_op = staticmethod(ops.max_pool)
    _backward_op = staticmethod(ops.max_pool_grad)
    folds_relu_mask = True

    def backward(self, context, grad_outputs, need_grad_inputs=True, relu_inputs=False):
        """The input gradient; with ``relu_inputs`` (the model's choice, see ``Functional.backward``) the one
        before the ReLU whose outputs this layer pooled."""
        return self._backward_op(context, grad_outputs, self.pool_size, self.strides, self.padding,
                                 relu_inputs=relu_inputs), []


class AveragePooling2D(_Pooling2D):
    """Average pooling (``keras.layers.AveragePooling2D``); 'same' divides by the real cells in each window."""

    _forward_op = staticmethod(ops.average_pool)
    _backward_op = staticmethod(ops.average_pool_grad)

    def __init__(self, pool_size, strides=None, padding="valid", data_format=None, name=None, **kwargs):
        # Keras's AveragePooling2D has no default pool size (MaxPooling2D's is 2x2).
        super().__init__(pool_size, strides, padding, data_format, name, **kwargs)


class _GlobalPooling2D(Layer):
    built_on_construction = True

    def __init__(self, data_format=None, keepdims=False, **kwargs):
        super().__init__(**kwargs)
        check_channels_last(self, data_format)
        self.keepdims = keepdims

    def compute_output_shape(self, input_shape):
        if self.keepdims:
            return (input_shape[0], 1, 1, input_shape[-1])
        return (input_shape[0], input_shape[-1])

    def _reshape_grad(self, grad_outputs):
        return grad_outputs if self.keepdims else grad_outputs[:, None, None, :]

    def get_config(self):
        return {**super().get_config(), "data_format": "channels_last", "keepdims": self.keepdims}


class GlobalAveragePooling2D(_GlobalPooling2D):
    """Mean over height and width (``keras.layers.GlobalAveragePooling2D``)."""

    def forward(self, inputs, training):
        return inputs.mean(axis=(1, 2), keepdims=self.keepdims), inputs.shape

    def backward(self, context, grad_outputs, need_grad_inputs=True):
        _, height, width, _ = context
        grad = self._reshape_grad(grad_outputs) / np.float32(height * width)
        return np.broadcast_to(grad, context).copy(), []


class GlobalMaxPooling2D(_GlobalPooling2D):
    """Max over height and width (``keras.layers.GlobalMaxPooling2D``); tied maxima share the gradient, as in Keras."""

    def forward(self, inputs, training):
        outputs = inputs.max(axis=(1, 2), keepdims=True)
        result = outputs if self.keepdims else outputs[:, 0, 0, :]
        return result, (inputs, outputs)

    def backward(self, context, grad_outputs, need_grad_inputs=True):
        inputs, outputs = context
        winners = (inputs == outputs).astype(np.float32)
        winners /= winners.sum(axis=(1, 2), keepdims=True)
        return winners * self._reshape_grad(grad_outputs), []
