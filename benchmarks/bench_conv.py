"""asv benchmarks of 2-D convolution: the forward pass and the gradients, over the grid of issue 4.

The grid (from ``benchmarks/configs.py``), float32 NHWC arrays, every
combination of:

- ``padding``: ``'valid'``, ``'same'`` (at stride 2 on even sizes Keras pads
  one extra row and column at the bottom/right);
- ``strides``: 1, 2;
- ``kernel_size``: 3 (3x3), 5 (5x5);
- ``layer``: ``HxWxC->F`` input size and channel pair: ``28x28x1->32`` and
  ``14x14x32->64`` (the textbook CNN's layers), ``32x32x64->64``,
  ``16x16x64->128``;
- ``batch``: 1, 32.

Each benchmark has a ``time_`` method (asv's timing), a ``peakmem_`` method
and a ``track_`` method that returns GFLOP/s (forward FLOPs =
2*N*OH*OW*KH*KW*C*F; each gradient costs as much). ``setup`` compiles (or
loads from numba's cache) every kernel it will time by calling it once: asv
runs each benchmark in a fresh process. The gradients come in two forms,
what a model's first layer computes (the kernel gradient alone:
``conv_bias_activation_grad(..., need_grad_inputs=False)``, which also sums
the bias gradient) and what every other layer computes (``conv_grad``: the
input and kernel gradients). fastconv has no public call for the input
gradient alone.

``DepthwiseConv`` times ``ops.depthwise_conv`` and its gradients on the
MobileNet-like layers of ``configs.depthwise_grid`` (3x3, batch 16) over
padding and strides.

``ConvTranspose`` and ``GroupedConv`` time the transposed convolutions and
the grouped ones of ``configs.TRANSPOSE_CONFIGS`` and ``GROUPED_CONFIGS``
(batch 32), forward and input + kernel gradients.
"""

from fastconv import ops

from benchmarks.common import gflops_per_second, require_supported
from benchmarks.configs import (GRID_BATCHES, GRID_KERNEL_SIZES, GRID_LAYERS, GRID_PADDINGS, GRID_STRIDES,
                                GROUPED_CONFIGS, TRANSPOSE_CONFIGS, conv_arrays, grid_conv_config)
from benchmarks.configs import DEPTHWISE_LAYERS, depthwise_grid


class _ConvGrid:
    """The grid's ``params`` and ``param_names`` (kept together here) and the arrays of one point."""

    params = [GRID_PADDINGS, GRID_STRIDES, GRID_KERNEL_SIZES, GRID_LAYERS, GRID_BATCHES]
    param_names = ["padding", "strides", "kernel_size", "layer", "batch"]
    timeout = 300  # seconds per point: the first process after a kernel change compiles it

    def setup(self, padding, strides, kernel_size, layer, batch):
        self.config = grid_conv_config(padding, strides, kernel_size, layer, batch)
        require_supported(self.config)
        self.inputs, self.kernel, self.grad_output = conv_arrays(self.config)
        self.args = dict(strides=self.config.strides, padding=self.config.padding)
        self._warm()

    def _warm(self):
        raise NotImplementedError


class ConvForward(_ConvGrid):
    """``ops.conv``: the forward pass, no bias, no activation."""

    def _warm(self):
        self._forward()

    def _forward(self):
        return ops.conv(self.inputs, self.kernel, **self.args)

    def time_forward(self, *params):
        self._forward()

    def peakmem_forward(self, *params):
        self._forward()

    def track_gflops(self, *params):
        return gflops_per_second(self.config.flops("forward"), self._forward)

    track_gflops.unit = "GFLOP/s"


class ConvBackward(_ConvGrid):
    """The gradients: kernel alone (a first layer) and input + kernel (``ops.conv_grad``)."""

    def _warm(self):
        self._grad_kernel()
        self._grad_inputs_and_kernel()

    def _grad_kernel(self):
        return ops.conv_bias_activation_grad(self.inputs, self.kernel, None, self.grad_output,
                                             need_grad_inputs=False, **self.args)

    def _grad_inputs_and_kernel(self):
        return ops.conv_grad(self.inputs, self.kernel, self.grad_output, **self.args)

    def time_grad_kernel(self, *params):
        self._grad_kernel()

    def time_grad_inputs_and_kernel(self, *params):
        self._grad_inputs_and_kernel()

    def peakmem_grad_inputs_and_kernel(self, *params):
        self._grad_inputs_and_kernel()

    def track_gflops_grad_kernel(self, *params):
        return gflops_per_second(self.config.flops("forward"), self._grad_kernel)

    track_gflops_grad_kernel.unit = "GFLOP/s"

    def track_gflops_grad_inputs_and_kernel(self, *params):
        return gflops_per_second(2 * self.config.flops("forward"), self._grad_inputs_and_kernel)

    track_gflops_grad_inputs_and_kernel.unit = "GFLOP/s"


class _ConfigList:
    """A benchmark over a list of configurations (``CONFIGS``, by label): their arrays and warmed calls."""

    CONFIGS = ()
    timeout = 300

    def setup(self, label):
        self.config = next(c for c in self.CONFIGS if c.label == label)
        self.inputs, self.kernel, self.grad_output = conv_arrays(self.config)
        self._forward()
        self._backward()

    def time_forward(self, label):
        self._forward()

    def time_grad_inputs_and_kernel(self, label):
        self._backward()

    def track_gflops(self, label):
        return gflops_per_second(self.config.flops("forward"), self._forward)

    track_gflops.unit = "GFLOP/s"


class ConvTranspose(_ConfigList):
    """``ops.conv_transpose`` and its gradients on the U-Net-decoder-like layers of ``TRANSPOSE_CONFIGS``."""

    CONFIGS = TRANSPOSE_CONFIGS
    params = [[c.label for c in TRANSPOSE_CONFIGS]]
    param_names = ["layer"]

    def _forward(self):
        return ops.conv_transpose(self.inputs, self.kernel, self.config.strides, self.config.padding)

    def _backward(self):
        return ops.conv_transpose_grad(self.inputs, self.kernel, self.grad_output, self.config.strides,
                                       self.config.padding)


class GroupedConv(_ConfigList):
    """``ops.conv_bias_activation(groups=g)`` and its gradients on the layers of ``GROUPED_CONFIGS``."""

    CONFIGS = GROUPED_CONFIGS
    params = [[c.label for c in GROUPED_CONFIGS]]
    param_names = ["layer"]

    def _forward(self):
        return ops.conv_bias_activation(self.inputs, self.kernel, None, self.config.strides, self.config.padding,
                                        groups=self.config.groups)

    def _backward(self):
        return ops.conv_bias_activation_grad(self.inputs, self.kernel, None, self.grad_output, self.config.strides,
                                             self.config.padding, groups=self.config.groups)


class DepthwiseConv:
    """``ops.depthwise_conv`` and ``ops.depthwise_conv_grad`` (input and kernel gradients) over padding, strides
    and the layers of ``configs.depthwise_grid``; ``track_`` gives the forward pass's GB/s (the least bytes
    it must move, ``DepthwiseConfig.bytes``), a depthwise convolution being bound by memory traffic."""

    params = [["valid", "same"], [1, 2], list(DEPTHWISE_LAYERS)]
    param_names = ["padding", "strides", "layer"]
    timeout = 300

    def setup(self, padding, strides, layer):
        self.config = next(c for c in depthwise_grid() if c.padding == padding and c.strides == (strides, strides)
                           and c.label.startswith(f"dw {layer} "))
        self.inputs, self.kernel, self.grad_output = conv_arrays(self.config)
        self.args = dict(strides=self.config.strides, padding=self.config.padding)
        self._forward()
        self._backward()

    def _forward(self):
        return ops.depthwise_conv(self.inputs, self.kernel, **self.args)

    def _backward(self):
        return ops.depthwise_conv_grad(self.inputs, self.kernel, self.grad_output, **self.args)

    def time_forward(self, *params):
        self._forward()

    def time_grad_inputs_and_kernel(self, *params):
        self._backward()

    def peakmem_forward(self, *params):
        self._forward()

    def track_gigabytes_per_second(self, *params):
        return gflops_per_second(self.config.bytes("forward"), self._forward)  # bytes, not FLOPs, per ns

    track_gigabytes_per_second.unit = "GB/s"
