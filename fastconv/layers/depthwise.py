"""``DepthwiseConv2D`` and ``SeparableConv2D``: thin layers over ``fastconv.ops``' depthwise convolution (and,
for the separable one, its pointwise 1x1 ``conv_bias_activation``).

Keras's weights, in Keras's order: ``kernel`` (``(KH, KW, C, m)``) and ``bias``
for ``DepthwiseConv2D``; ``depthwise_kernel``, ``pointwise_kernel``
(``(1, 1, C*m, filters)``) and ``bias`` for ``SeparableConv2D``. As in
``Conv2D``, a ``relu`` (or no) activation is fused into the last kernel's
store and its mask into the backward kernels' loads; any other activation
runs afterwards from ``fastconv.activations``. Their 1-D twins (``conv1d``) run the same ops over a height
of 1 (``conv.StepsAsImages``).
"""

import numpy as np

from fastconv import activations, compilation, constraints, initializers, ops, regularizers, shapes
from fastconv.layers.base import Layer, check_channels_last, reject_unsupported
from fastconv.layers.conv import StepsAsImages


def _check_positive(value, name):
    """Keras's check (and message) for ``filters`` and ``depth_multiplier``: ``value`` as an int (numpy
    integers accepted, as in Keras)."""
    if not (isinstance(value, (int, np.integer)) and not isinstance(value, bool) and value > 0):
        raise ValueError(f"Invalid value for argument `{name}`. Expected a strictly positive value. "
                         f"Received {name}={value}.")
    return int(value)


class _DepthwiseBase(StepsAsImages, Layer):
    """What both layers share: the depthwise stage's arguments and checks, the activation around the last
    op, and the common part of Keras's config. A subclass adds its weights, ``_forward`` (the ops up to the
    fused activation) and ``_backward``; a 1-D one sets ``rank``, how it reads sizes (``_normalize_size``)
    and checks its inputs' rank (``_check_rank``)."""

    _normalize_size = staticmethod(shapes.normalize_tuple)
    _normalize_padding = staticmethod(shapes.normalize_padding)

    kernel_families = ("depthwise",)
    gradient_kernel_families = ("depthwise_grad",)

    def streamed_kernel_families(self, batch_size, training):
        try:
            input_shape, output_shape = self.input_shape, self.output_shape
        except (AttributeError, ValueError):  # not called on a symbolic input: the variants compile when used
            return ()
        if not isinstance(input_shape, tuple) or None in input_shape[1:] or None in output_shape[1:]:
            return ()
        channels = input_shape[-1] * self.depth_multiplier  # the depthwise stage's output channels
        height = (1,) * (2 - self.rank)  # the 2-D op's height of 1 for a 1-D layer
        return compilation.streamed_depthwise_families((*height, *input_shape[1:-1], channels),
                                                       (*height, *output_shape[1:-1], channels), batch_size, training)

    def __init__(self, kernel_size, strides, padding, data_format, dilation_rate, depth_multiplier, activation,
                 use_bias, depthwise_initializer, bias_initializer, weight_arguments, **kwargs):
        super().__init__(**kwargs)
        check_channels_last(self, data_format)
        depth_multiplier = _check_positive(depth_multiplier, "depth_multiplier")
        # The regularizers and constraints of the weights (`depthwise_`, `pointwise_`, `bias_regularizer`, ...,
        # `depthwise_constraint`, ...); the activity regularizer is not supported yet.
        regularized = [name for name in weight_arguments
                       if name.endswith("_regularizer") and name != "activity_regularizer"]
        constrained = [name for name in weight_arguments if name.endswith("_constraint")]
        for name in regularized:  # `depthwise_regularizer`, ... as Keras's attributes
            setattr(self, name, regularizers.get(weight_arguments[name]))
        for name in constrained:
            setattr(self, name, constraints.get(weight_arguments[name]))
        self._regularizer_names, self._constraint_names = regularized, constrained
        reject_unsupported(self, **{name: (value, None) for name, value in weight_arguments.items()
                                    if name not in regularized + constrained})
        self.depth_multiplier = depth_multiplier
        self.kernel_size = self._normalize_size(kernel_size, "kernel_size")
        self.strides = self._normalize_size(strides, "strides")
        self.padding = self._normalize_padding(padding)
        self.dilation_rate = self._normalize_size(dilation_rate, "dilation_rate")
        self.activation = activations.get(activation)
        self.use_bias = use_bias
        self.depthwise_initializer = initializers.get(depthwise_initializer, "depthwise_initializer")
        self.bias_initializer = initializers.get(bias_initializer, "bias_initializer")
        name = self.activation.__name__
        self._fused_activation = name if name in ops.ACTIVATIONS else None

    def _depthwise_args(self):
        return self._spatial_args(strides=self.strides, padding=self.padding, dilation_rate=self.dilation_rate)

    def _check_rank(self, input_shape):
        if len(input_shape) != 4:
            raise ValueError(f'Input 0 of layer "{self.name}" is incompatible with the layer: expected ndim=4 '
                             f"(batch, height, width, channels), found ndim={len(input_shape)}. "
                             f"Full shape received: {tuple(input_shape)}")

    def compute_output_shape(self, input_shape):
        output_shape = shapes.conv_output_shape(input_shape, self.kernel_size, self._filters(input_shape),
                                                self.strides, self.padding, self.dilation_rate)
        if shapes.is_empty(output_shape):
            raise ValueError(
                f"Computed output size would be zero or negative. Received `inputs shape={tuple(input_shape)}`, "
                f"`kernel_size={self.kernel_size}`, `dilation_rate={self.dilation_rate}`, "
                f"`strides={self.strides}`, `padding={self.padding}`.")
        return output_shape

    def _bias(self):
        return None if self.bias is None else self.bias.value

    def forward(self, inputs, training):
        if self.rank == 1:
            self.compute_output_shape(inputs.shape)  # Keras's error for inputs shorter than the window
        outputs, saved = self._forward(inputs)
        if self._fused_activation is not None:
            return outputs, (saved, outputs, None)
        activated = self.activation(outputs)
        return activated, (saved, activated, outputs)

    def backward(self, context, grad_outputs, need_grad_inputs=True, skip_activation=False):
        saved, outputs, pre_activation = context
        if pre_activation is not None:
            if not skip_activation:
                grad_outputs = self.activation.gradient(pre_activation, outputs, grad_outputs)
            outputs = pre_activation
        grad_inputs, grads = self._backward(saved, outputs, grad_outputs, need_grad_inputs)
        return grad_inputs, grads

    def pre_activation(self, context):
        _, outputs, pre_activation = context
        if pre_activation is not None:
            return pre_activation
        return outputs if self._fused_activation == "linear" else None  # a fused relu keeps no pre-activation

    def get_config(self):
        return {
            **super().get_config(),
            "depth_multiplier": self.depth_multiplier,
            **self._filters_config(),
            "kernel_size": self.kernel_size,
            "strides": self.strides,
            "padding": self.padding,
            "data_format": "channels_last",
            "dilation_rate": self.dilation_rate,
            "activation": activations.serialize(self.activation),
            "use_bias": self.use_bias,
            "depthwise_initializer": initializers.serialize(self.depthwise_initializer),
            **self._initializers_config(),
            "bias_initializer": initializers.serialize(self.bias_initializer),
            **{name: regularizers.serialize(getattr(self, name)) for name in self._regularizer_names},
            "activity_regularizer": None,
            **{name: constraints.serialize(getattr(self, name)) for name in self._constraint_names},
        }

    def _filters_config(self):
        return {}

    def _initializers_config(self):
        return {}

    def _weight(self, shape, initializer, name, kind):
        """A weight regularized by the layer's ``{kind}_regularizer`` and constrained by its
        ``{kind}_constraint``."""
        return self.add_weight(shape, initializer, name=name, regularizer=getattr(self, f"{kind}_regularizer"),
                               constraint=getattr(self, f"{kind}_constraint"))


class DepthwiseConv2D(_DepthwiseBase):
    """Depthwise 2-D convolution layer (``keras.layers.DepthwiseConv2D``), NHWC: each input channel
    convolved with its own ``depth_multiplier`` filters.

    Output shape ``(batch, OH, OW, channels * depth_multiplier)``.

    >>> import numpy as np
    >>> layer = DepthwiseConv2D(3, padding="same", depth_multiplier=2)
    >>> layer(np.zeros((2, 28, 28, 8), "float32")).shape
    (2, 28, 28, 16)
    >>> layer.count_params()  # 3*3*8*2 weights and 16 biases
    160
    """

    def __init__(self, kernel_size, strides=(1, 1), padding="valid", depth_multiplier=1, data_format=None,
                 dilation_rate=(1, 1), activation=None, use_bias=True, depthwise_initializer="glorot_uniform",
                 bias_initializer="zeros", depthwise_regularizer=None, bias_regularizer=None,
                 activity_regularizer=None, depthwise_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(kernel_size, strides, padding, data_format, dilation_rate, depth_multiplier, activation,
                         use_bias, depthwise_initializer, bias_initializer,
                         dict(depthwise_regularizer=depthwise_regularizer, bias_regularizer=bias_regularizer,
                              activity_regularizer=activity_regularizer, depthwise_constraint=depthwise_constraint,
                              bias_constraint=bias_constraint), **kwargs)

    def _filters(self, input_shape):
        return None if input_shape[-1] is None else input_shape[-1] * self.depth_multiplier

    def build(self, input_shape):
        self._check_rank(input_shape)
        self.kernel = self._weight((*self.kernel_size, input_shape[-1], self.depth_multiplier),
                                   self.depthwise_initializer, "kernel", "depthwise")
        channels = input_shape[-1] * self.depth_multiplier
        self.bias = self._weight((channels,), self.bias_initializer, "bias", "bias") if self.use_bias else None

    def _forward(self, inputs):
        images = self._images(inputs)
        outputs = ops.depthwise_conv_bias_activation(images, self._image_weight(self.kernel), self._bias(),
                                                     activation=self._fused_activation, **self._depthwise_args())
        return self._from_images(outputs), images

    def _backward(self, images, outputs, grad_outputs, need_grad_inputs):
        grad_images, grad_kernel, grad_bias = ops.depthwise_conv_bias_activation_grad(
            images, self._image_weight(self.kernel), self._images(outputs), self._images(grad_outputs),
            activation=self._fused_activation, need_grad_inputs=need_grad_inputs, need_grad_kernel=self.trainable,
            **self._depthwise_args())
        grad_inputs = self._from_images(grad_images)
        grad_kernel = self._from_image_weight(grad_kernel)
        return grad_inputs, [grad_kernel, grad_bias] if self.use_bias else [grad_kernel]


class SeparableConv2D(_DepthwiseBase):
    """Depthwise separable 2-D convolution layer (``keras.layers.SeparableConv2D``), NHWC: a depthwise
    convolution (strides, padding and dilation apply here), then a pointwise 1x1 convolution to ``filters``
    channels with the bias and the activation.

    >>> import numpy as np
    >>> layer = SeparableConv2D(16, 3, strides=2, padding="same", activation="relu")
    >>> layer(np.zeros((2, 28, 28, 8), "float32")).shape
    (2, 14, 14, 16)
    >>> layer.count_params()  # 3*3*8 depthwise, 8*16 pointwise, 16 biases
    216
    """

    @property
    def kernel_families(self):
        return ("depthwise", *compilation.conv_forward_family(self.filters))  # the pointwise stage: 1x1

    @property
    def gradient_kernel_families(self):
        # The pointwise stage's input gradient always flows back, to the depthwise stage's weights.
        pointwise = getattr(self, "pointwise_kernel", None)  # None until built
        channels = None if pointwise is None else pointwise.shape[-2]
        return ("depthwise_grad", *compilation.conv_grad_kernel_family(1, channels, self.filters),
                *compilation.conv_grad_input_family(channels))

    def __init__(self, filters, kernel_size, strides=(1, 1), padding="valid", data_format=None,
                 dilation_rate=(1, 1), depth_multiplier=1, activation=None, use_bias=True,
                 depthwise_initializer="glorot_uniform", pointwise_initializer="glorot_uniform",
                 bias_initializer="zeros", depthwise_regularizer=None, pointwise_regularizer=None,
                 bias_regularizer=None, activity_regularizer=None, depthwise_constraint=None,
                 pointwise_constraint=None, bias_constraint=None, **kwargs):
        filters = _check_positive(filters, "filters")
        super().__init__(kernel_size, strides, padding, data_format, dilation_rate, depth_multiplier, activation,
                         use_bias, depthwise_initializer, bias_initializer,
                         dict(depthwise_regularizer=depthwise_regularizer,
                              pointwise_regularizer=pointwise_regularizer, bias_regularizer=bias_regularizer,
                              activity_regularizer=activity_regularizer, depthwise_constraint=depthwise_constraint,
                              pointwise_constraint=pointwise_constraint, bias_constraint=bias_constraint),
                         **kwargs)
        self.filters = filters
        self.pointwise_initializer = initializers.get(pointwise_initializer, "pointwise_initializer")

    def _filters(self, input_shape):
        return self.filters

    def build(self, input_shape):
        self._check_rank(input_shape)
        channels = input_shape[-1]
        self.depthwise_kernel = self._weight((*self.kernel_size, channels, self.depth_multiplier),
                                             self.depthwise_initializer, "depthwise_kernel", "depthwise")
        self.pointwise_kernel = self._weight((*(1,) * self.rank, channels * self.depth_multiplier, self.filters),
                                             self.pointwise_initializer, "pointwise_kernel", "pointwise")
        self.bias = self._weight((self.filters,), self.bias_initializer, "bias", "bias") if self.use_bias else None

    def _forward(self, inputs):
        images = self._images(inputs)
        depthwise = ops.depthwise_conv(images, self._image_weight(self.depthwise_kernel), **self._depthwise_args())
        outputs = ops.conv_bias_activation(depthwise, self._image_weight(self.pointwise_kernel), self._bias(),
                                           activation=self._fused_activation)
        return self._from_images(outputs), (images, depthwise)

    def _backward(self, saved, outputs, grad_outputs, need_grad_inputs):
        images, depthwise = saved
        grad_depthwise, grad_pointwise, grad_bias = ops.conv_bias_activation_grad(
            depthwise, self._image_weight(self.pointwise_kernel), self._images(outputs), self._images(grad_outputs),
            activation=self._fused_activation, need_grad_inputs=need_grad_inputs or self.trainable,
            need_grad_kernel=self.trainable)
        grad_images, grad_kernel = None, None
        if grad_depthwise is not None:
            grad_images, grad_kernel, _ = ops.depthwise_conv_bias_activation_grad(
                images, self._image_weight(self.depthwise_kernel), None, grad_depthwise,
                need_grad_inputs=need_grad_inputs, need_grad_kernel=self.trainable, **self._depthwise_args())
        grad_inputs = self._from_images(grad_images)
        grads = [self._from_image_weight(grad_kernel), self._from_image_weight(grad_pointwise)]
        return grad_inputs, grads + [grad_bias] if self.use_bias else grads

    def _filters_config(self):
        return {"filters": self.filters}

    def _initializers_config(self):
        return {"pointwise_initializer": initializers.serialize(self.pointwise_initializer)}

