"""``Conv2DTranspose``: a transposed 2-D convolution layer over ``fastconv.ops``' ``conv_transpose``.

It shares ``ConvBase`` with ``Conv2D`` (Keras's arguments and their checks,
the fused forward and backward, the config) and changes what differs: the
kernel's layout ``(KH, KW, filters, in_channels)``, ``output_padding``, the
output shape, and the ops it calls. Its forward pass runs the convolution's
input-gradient kernels and its backward pass the forward and kernel-gradient
ones (see ``fastconv.ops.conv_transpose``).
"""

from fastconv import compilation, ops, shapes
from fastconv.layers.conv import ConvBase, check_image_input


class Conv2DTranspose(ConvBase):
    """Transposed 2-D convolution layer (``keras.layers.Conv2DTranspose``), NHWC.

    Output ``(batch, OH, OW, filters)`` with ``OH, OW`` from
    ``fastconv.shapes.conv_transpose_geometry`` (Keras 3's rules for 'valid'
    and 'same', with and without ``output_padding``).

    >>> import numpy as np
    >>> layer = Conv2DTranspose(4, 3, strides=2, padding="same", activation="relu")
    >>> layer(np.zeros((2, 7, 7, 8), "float32")).shape
    (2, 14, 14, 4)
    >>> layer.kernel.shape, layer.count_params()
    ((3, 3, 4, 8), 292)
    """

    input_gradient_kernel_families = ()  # the forward convolution: in gradient_kernel_families
    _op = staticmethod(ops.conv_transpose_bias_activation)
    _op_grad = staticmethod(ops.conv_transpose_bias_activation_grad)
    _check_input_rank = check_image_input

    @property
    def kernel_families(self):
        # The input gradient of a convolution whose input channels are this layer's filters.
        return compilation.conv_grad_input_family(self.filters)

    @property
    def gradient_kernel_families(self):
        # The input gradient is a convolution into this layer's input channels (not known until built), then
        # the kernel gradient and the bias gradient's sums.
        kernel = getattr(self, "kernel", None)
        channels = None if kernel is None else kernel.shape[-1]
        # The kernel gradient: of a convolution from this layer's filters into its input channels.
        return (*compilation.conv_forward_family(channels),
                *compilation.conv_grad_kernel_family(self.kernel_size[-1], self.filters, channels),
                "channel_totals")

    def __init__(self, filters, kernel_size, strides=(1, 1), padding="valid", output_padding=None, data_format=None,
                 dilation_rate=(1, 1), activation=None, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 kernel_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(filters, kernel_size, strides, padding, data_format, dilation_rate, 1, activation,
                         use_bias, kernel_initializer, bias_initializer, kernel_regularizer, bias_regularizer,
                         activity_regularizer, kernel_constraint, bias_constraint, None, None, **kwargs)
        self.output_padding = shapes.normalize_output_padding(output_padding, self.strides)

    def _kernel_shape(self, channels):
        return (*self.kernel_size, self.filters, channels)

    def _conv_args(self):
        return self._spatial_args(strides=self.strides, padding=self.padding, output_padding=self.output_padding,
                                  dilation_rate=self.dilation_rate)

    def compute_output_shape(self, input_shape):
        return shapes.conv_transpose_output_shape(input_shape, self.kernel_size, self.filters, self.strides,
                                                  self.padding, self.output_padding, self.dilation_rate)

    def get_config(self):
        config = {}
        for key, value in super().get_config().items():  # Keras's order: output_padding after padding, no groups
            if key != "groups":
                config[key] = value
            if key == "padding":
                config["output_padding"] = self.output_padding
        return config
