"""``Conv2D``: holds a kernel and a bias and calls ``fastconv.ops``' fused convolution (``ConvBase``: what it
shares with ``Conv1D`` and ``Conv2DTranspose``), grouped or not; ``StepsAsImages``: how a 1-D layer runs the
2-D ops.

Bias add and a ``relu`` (or no) activation are fused into the convolution
kernel's store, and the activation's mask into the backward kernels' loads;
any other activation runs afterwards from ``fastconv.activations``.
"""

import numpy as np

from fastconv import activations, compilation, constraints, initializers, ops, regularizers, shapes
from fastconv.layers.base import Layer, check_channels_last, reject_unsupported


def check_image_input(layer, input_shape):
    """Raise Keras's ``ValueError`` unless ``input_shape`` is ``(batch, height, width, channels)``."""
    if len(input_shape) != 4:
        raise ValueError(f'Input 0 of layer "{layer.name}" is incompatible with the layer: expected ndim=4 '
                         f"(batch, height, width, channels), found ndim={len(input_shape)}. "
                         f"Full shape received: {tuple(input_shape)}")


class StepsAsImages:
    """How a layer of ``rank`` 1 runs the 2-D ops: its inputs ``(batch, steps, channels)`` viewed as
    ``(batch, 1, steps, channels)`` and each weight of shape ``(k, ...)`` as ``(1, k, ...)`` (what Keras's
    TensorFlow backend does too), and the results viewed back. A layer of ``rank`` 2 passes its arrays as
    they are."""

    rank = 2

    def _images(self, values):
        """``values`` as the 2-D op's NHWC array (a height of 1 inserted for a 1-D layer)."""
        return values if self.rank == 2 else values[:, None]

    def _from_images(self, images):
        """A 2-D op's result as the layer's (``None``, an input gradient not computed, stays ``None``)."""
        return images if images is None or self.rank == 2 else images[:, 0]

    def _image_weight(self, variable):
        """``variable``'s value as the 2-D op's weight (a leading axis of 1 for a 1-D layer)."""
        return variable.value if self.rank == 2 else variable.value[None]

    def _from_image_weight(self, gradient):
        """A 2-D op's weight gradient as the gradient of the layer's own weight (``None`` stays ``None``)."""
        return gradient if gradient is None or self.rank == 2 else gradient[0]

    def _spatial_args(self, **arguments):
        """Sizes along the steps (``strides=(s,)``...) as the 2-D op's pairs (``(1, s)``...) for a 1-D layer:
        a height of 1, with an ``output_padding`` of 0 along it; strings and ``None`` as they are."""
        if self.rank == 2:
            return arguments
        return {name: value if value is None or isinstance(value, str) else
                (0 if name == "output_padding" else 1, *value) for name, value in arguments.items()}


class ConvBase(StepsAsImages, Layer):
    """What ``Conv2D`` and ``Conv1D`` share: Keras's arguments and their checks, the fused forward and
    backward through ``fastconv.ops``' 2-D convolution, and Keras's config.

    A subclass sets ``rank``, how it reads sizes and paddings
    (``_normalize_size``, ``_normalize_padding``) and checks its inputs'
    rank (``_check_input_rank``); ``Conv2DTranspose`` also the ops it calls
    (``_op``, ``_op_grad``) and its kernel's shape (``_kernel_shape``). With
    ``groups=g`` the kernel is ``(..., channels / g, filters)`` and the ops
    convolve each group of channels apart. A 1-D layer runs on a
    ``(batch, 1, steps, channels)`` view of its inputs with a ``(1, k, in, out)``
    view of its kernel, and may pad its inputs first (``_pad``, ``_unpad``).
    """

    @property
    def kernel_families(self):
        return self._families()[0]

    @property
    def input_gradient_kernel_families(self):
        return self._families()[1]

    @property
    def gradient_kernel_families(self):
        return self._families()[2]

    def _families(self):
        """The kernel families of the forward pass, input gradient and kernel gradient (``compilation``)."""
        kernel = getattr(self, "kernel", None)  # None until built
        channels = None if kernel is None else kernel.shape[-2] * self.groups
        return compilation.conv_families(channels, self.filters, self.groups, self.kernel_size[-1])

    def __init__(self, filters, kernel_size, strides, padding, data_format, dilation_rate, groups, activation,
                 use_bias, kernel_initializer, bias_initializer, kernel_regularizer, bias_regularizer,
                 activity_regularizer, kernel_constraint, bias_constraint, lora_rank, lora_alpha, **kwargs):
        super().__init__(**kwargs)
        check_channels_last(self, data_format)
        if not (isinstance(filters, (int, np.integer)) and not isinstance(filters, bool) and filters > 0):
            raise ValueError(f"Invalid value for argument `filters`. Expected a positive integer. "
                             f"Received: filters={filters!r}")
        if not (isinstance(groups, (int, np.integer)) and not isinstance(groups, bool) and groups > 0):
            raise ValueError(f"The number of groups must be a positive integer. Received: groups={groups!r}.")
        if filters % groups != 0:
            raise ValueError(f"The number of filters must be evenly divisible by the number of groups. "
                             f"Received: groups={groups}, filters={filters}.")
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self.kernel_constraint = constraints.get(kernel_constraint)
        self.bias_constraint = constraints.get(bias_constraint)
        reject_unsupported(self, activity_regularizer=(activity_regularizer, None), lora_rank=(lora_rank, None))
        self.filters = int(filters)  # numpy integers too (`2 ** np.arange(4, 7)`), as Keras accepts them
        self.groups = int(groups)
        self.kernel_size = self._normalize_size(kernel_size, "kernel_size")
        self.strides = self._normalize_size(strides, "strides")
        self.padding = self._normalize_padding(padding)
        self.dilation_rate = self._normalize_size(dilation_rate, "dilation_rate")
        if max(self.strides) > 1 and max(self.dilation_rate) > 1:
            raise ValueError("`strides > 1` is not supported together with `dilation_rate > 1`. "
                             f"Received: strides={self.strides} and dilation_rate={self.dilation_rate}")
        self.activation = activations.get(activation)
        self.use_bias = use_bias
        self.kernel_initializer = initializers.get(kernel_initializer, "kernel_initializer")
        self.bias_initializer = initializers.get(bias_initializer, "bias_initializer")
        name = self.activation.__name__
        self._fused_activation = name if name in ops.ACTIVATIONS else None

    _normalize_size = staticmethod(shapes.normalize_tuple)
    _normalize_padding = staticmethod(shapes.normalize_padding)
    _op = staticmethod(ops.conv_bias_activation)
    _op_grad = staticmethod(ops.conv_bias_activation_grad)

    def build(self, input_shape):
        self._check_input_rank(input_shape)
        self.kernel = self.add_weight(self._kernel_shape(input_shape[-1]), self.kernel_initializer, name="kernel",
                                      regularizer=self.kernel_regularizer, constraint=self.kernel_constraint)
        self.bias = self.add_weight((self.filters,), self.bias_initializer, name="bias",
                                    regularizer=self.bias_regularizer, constraint=self.bias_constraint
                                    ) if self.use_bias else None

    def _kernel_shape(self, channels):
        """The kernel's shape for inputs of ``channels`` channels: ``(*kernel_size, channels / groups, filters)``."""
        if channels % self.groups:
            raise ValueError(f"The number of input channels must be evenly divisible by the number of groups. "
                             f"Received groups={self.groups}, but the input has {channels} channels.")
        return (*self.kernel_size, channels // self.groups, self.filters)

    def _conv_args(self):
        return dict(**self._spatial_args(strides=self.strides, padding=self.padding,
                                         dilation_rate=self.dilation_rate), groups=self.groups)

    def _pad(self, images):
        """The op's input: ``images`` with any padding the layer adds itself (none here)."""
        return images

    def _unpad(self, grad_inputs):
        """The input gradient without the rows of ``_pad``'s padding."""
        return grad_inputs

    def forward(self, inputs, training):
        bias = None if self.bias is None else self.bias.value
        images = self._pad(self._images(inputs))
        outputs = self._from_images(self._op(images, self._image_weight(self.kernel), bias,
                                             activation=self._fused_activation, **self._conv_args()))
        if self._fused_activation is not None:
            return outputs, (images, outputs, None)
        activated = self.activation(outputs)
        return activated, (images, activated, outputs)

    def backward(self, context, grad_outputs, need_grad_inputs=True, skip_activation=False):
        images, outputs, pre_activation = context
        if pre_activation is not None:
            if not skip_activation:
                grad_outputs = self.activation.gradient(pre_activation, outputs, grad_outputs)
            outputs = pre_activation
        # With skip_activation, grad_outputs is already the gradient before a fused ReLU (a pooling folded its mask).
        grad_images, grad_kernel, grad_bias = self._op_grad(
            images, self._image_weight(self.kernel), self._images(outputs), self._images(grad_outputs),
            activation=None if skip_activation else self._fused_activation, need_grad_inputs=need_grad_inputs,
            need_grad_kernel=self.trainable, **self._conv_args())
        grad_inputs = None if grad_images is None else self._unpad(self._from_images(grad_images))
        grad_kernel = self._from_image_weight(grad_kernel)
        return grad_inputs, [grad_kernel, grad_bias] if self.use_bias else [grad_kernel]

    @property
    def relu_output(self):
        return self._fused_activation == "relu"

    def pre_activation(self, context):
        inputs, outputs, pre_activation = context
        if pre_activation is not None:
            return pre_activation
        return outputs if self._fused_activation == "linear" else None  # a fused relu keeps no pre-activation

    def get_config(self):
        return {
            **super().get_config(),
            "filters": self.filters,
            "kernel_size": self.kernel_size,
            "strides": self.strides,
            "padding": self.padding,
            "data_format": "channels_last",
            "dilation_rate": self.dilation_rate,
            "groups": self.groups,
            "activation": activations.serialize(self.activation),
            "use_bias": self.use_bias,
            "kernel_initializer": initializers.serialize(self.kernel_initializer),
            "bias_initializer": initializers.serialize(self.bias_initializer),
            "kernel_regularizer": regularizers.serialize(self.kernel_regularizer),
            "bias_regularizer": regularizers.serialize(self.bias_regularizer),
            "activity_regularizer": None,
            "kernel_constraint": constraints.serialize(self.kernel_constraint),
            "bias_constraint": constraints.serialize(self.bias_constraint),
        }


class Conv2D(ConvBase):
    """2-D convolution layer (``keras.layers.Conv2D``), NHWC.

    Output shape ``(batch, OH, OW, filters)`` with ``OH, OW`` from
    ``fastconv.shapes.conv_output_length``.

    >>> import numpy as np
    >>> layer = Conv2D(4, 3, padding="same", activation="relu")
    >>> layer(np.zeros((2, 28, 28, 1), "float32")).shape
    (2, 28, 28, 4)
    >>> layer.count_params()
    40
    """

    def __init__(self, filters, kernel_size, strides=(1, 1), padding="valid", data_format=None,
                 dilation_rate=(1, 1), groups=1, activation=None, use_bias=True,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros", kernel_regularizer=None,
                 bias_regularizer=None, activity_regularizer=None, kernel_constraint=None, bias_constraint=None,
                 lora_rank=None, lora_alpha=None, **kwargs):
        super().__init__(filters, kernel_size, strides, padding, data_format, dilation_rate, groups, activation,
                         use_bias, kernel_initializer, bias_initializer, kernel_regularizer, bias_regularizer,
                         activity_regularizer, kernel_constraint, bias_constraint, lora_rank, lora_alpha, **kwargs)

    _check_input_rank = check_image_input

    def compute_output_shape(self, input_shape):
        output_shape = shapes.conv_output_shape(input_shape, self.kernel_size, self.filters, self.strides,
                                                self.padding, self.dilation_rate)
        if shapes.is_empty(output_shape):
            raise ValueError(
                f"Computed output size would be zero or negative. Received `inputs shape={tuple(input_shape)}`, "
                f"`kernel shape={(*self.kernel_size, input_shape[-1], self.filters)}`, "
                f"`dilation_rate={self.dilation_rate}`, `strides={self.strides}`, `padding={self.padding}`.")
        return output_shape
