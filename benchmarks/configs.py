"""Benchmark configurations and their FLOP counts, shared by the comparison scripts and the asv suite.

A configuration is one layer's shapes: batch, spatial size, channels, window,
strides and padding. Output shapes and 'same' padding come from
``fastconv.shapes`` so that the benchmarks and the library use one formula.
Nothing here imports a framework or times anything. The performance goals
(``GOAL_*``) live here too, next to the grid they are judged on.

FLOPs of a convolution (multiply and add counted separately, the usual
convention, so GFLOP/s figures compare with other libraries' numbers)::

    forward           = 2 * N * OH * OW * KH * KW * C * F
    forward+backward  = 3 * forward   (input gradient and kernel gradient cost one forward each)

A training step of the textbook CNN counts 3x the FLOPs of its forward pass,
the same convention (its first layer's input gradient is never computed, so
this overstates the work by 1.5%).

Pooling has no meaningful FLOP count; its benchmarks report times and ratios.

Names here must not start with ``time_``, ``track_``, ``mem_``, ``peakmem_``
or ``timeraw_``: asv would collect them as benchmarks.

>>> layer = ConvConfig("example", batch=32, height=32, width=32, channels=64, filters=64,
...                    kernel_size=(3, 3), strides=(2, 2), padding="same")
>>> layer.output_shape
(32, 16, 16, 64)
>>> layer.pads
((0, 1), (0, 1))
>>> layer.flops("forward") / 1e9
0.603979776
"""

from dataclasses import asdict, dataclass, replace

import numpy as np

from fastconv import buffers, shapes

PASSES = ("forward", "forward+backward")
"""What is timed: the forward pass alone, and forward followed by all the gradients."""

BACKWARD_FLOP_FACTOR = 3
"""forward+backward FLOPs / forward FLOPs for a convolution (forward, input gradient, kernel gradient)."""


@dataclass(frozen=True)
class ConvConfig:
    """One 2-D convolution layer at a given batch: NHWC inputs, a (KH, KW, C, F) kernel, no bias."""

    name: str
    batch: int
    height: int
    width: int
    channels: int
    filters: int
    kernel_size: tuple = (3, 3)
    strides: tuple = (1, 1)
    padding: str = "valid"

    @property
    def input_shape(self):
        return (self.batch, self.height, self.width, self.channels)

    @property
    def kernel_shape(self):
        return (*self.kernel_size, self.channels, self.filters)

    @property
    def output_shape(self):
        return shapes.conv_output_shape(self.input_shape, self.kernel_size, self.filters, self.strides, self.padding)

    @property
    def pads(self):
        """``((top, bottom), (left, right))`` zero padding, Keras's rule (the odd row/column goes bottom/right)."""
        return tuple(
            shapes.padding_amounts(length, size, self.padding, stride)
            for length, size, stride in zip((self.height, self.width), self.kernel_size, self.strides)
        )

    @property
    def label(self):
        """Short description for tables, e.g. ``28x28x1->32 3x3 s1 same``."""
        kh, kw = self.kernel_size
        sh, sw = self.strides
        stride = f"s{sh}" if sh == sw else f"s{sh}x{sw}"
        return f"{self.height}x{self.width}x{self.channels}->{self.filters} {kh}x{kw} {stride} {self.padding}"

    def flops(self, pass_name="forward"):
        """Floating-point operations of one call of ``pass_name`` (one of :data:`PASSES`)."""
        n, oh, ow, f = self.output_shape
        kh, kw = self.kernel_size
        forward = 2 * n * oh * ow * kh * kw * self.channels * f
        return forward * (BACKWARD_FLOP_FACTOR if pass_name == "forward+backward" else 1)

    def as_dict(self):
        return asdict(self)


@dataclass(frozen=True)
class PoolConfig:
    """One 2-D pooling layer (``mode`` is ``'max'`` or ``'average'``) on NHWC inputs."""

    name: str
    mode: str
    batch: int
    height: int
    width: int
    channels: int
    pool_size: tuple = (2, 2)
    strides: tuple = (2, 2)
    padding: str = "valid"

    @property
    def input_shape(self):
        return (self.batch, self.height, self.width, self.channels)

    @property
    def output_shape(self):
        return shapes.conv_output_shape(self.input_shape, self.pool_size, self.channels, self.strides, self.padding)

    @property
    def pads(self):
        """``((top, bottom), (left, right))`` padding of 'same', Keras's rule (padded cells are not in any window's
        maximum or average)."""
        return tuple(
            shapes.padding_amounts(length, size, self.padding, stride)
            for length, size, stride in zip((self.height, self.width), self.pool_size, self.strides)
        )

    @property
    def label(self):
        """Short description for tables, e.g. ``max 3x3 s2 same on 14x14x64``."""
        ph, pw = self.pool_size
        sh, sw = self.strides
        stride = f"s{sh}" if sh == sw else f"s{sh}x{sw}"
        return f"{self.mode} {ph}x{pw} {stride} {self.padding} on {self.height}x{self.width}x{self.channels}"

    def as_dict(self):
        return asdict(self)


def conv_arrays(config, dtype=np.float32, seed=0):
    """Random ``(inputs, kernel, grad_output)`` for ``config``, standard normal, reproducible from ``seed``
    (see :func:`cache_line_aligned`)."""
    rng = np.random.default_rng(seed)
    return tuple(cache_line_aligned(rng.standard_normal(shape, dtype=np.float64).astype(dtype))
                 for shape in (config.input_shape, config.kernel_shape, config.output_shape))


def pool_arrays(config, dtype=np.float32, seed=0):
    """Random ``(inputs, grad_output)`` for ``config`` (continuous values, so max-pool ties do not occur;
    see :func:`cache_line_aligned`)."""
    rng = np.random.default_rng(seed)
    return tuple(cache_line_aligned(rng.standard_normal(shape, dtype=np.float64).astype(dtype))
                 for shape in (config.input_shape, config.output_shape))


def cache_line_aligned(array):
    """A copy of ``array`` that starts on a 64-byte boundary (``fastconv.buffers.empty``): where a layer's
    input is in a model, the output of the layer before, and where PyTorch's allocator puts the tensors that
    its runners copy from these arrays. (numpy's own start 16 bytes past a boundary, which slows down
    kernels that load whole vectors of channels: depthwise convolutions by up to 1.3x.)"""
    copy = buffers.empty(array.shape, array.dtype)
    copy[...] = array
    return copy


BATCH = 32

CONV_CONFIGS = (
    # The textbook CNN's two convolution layers (Fashion-MNIST, 3x3, 'same').
    ConvConfig("textbook conv1", BATCH, 28, 28, 1, 32, (3, 3), (1, 1), "same"),
    ConvConfig("textbook conv2", BATCH, 14, 14, 32, 64, (3, 3), (1, 1), "same"),
    # A mid-sized layer under both paddings and both strides ('same' at stride 2 pads asymmetrically).
    ConvConfig("32x32 64->64", BATCH, 32, 32, 64, 64, (3, 3), (1, 1), "valid"),
    ConvConfig("32x32 64->64", BATCH, 32, 32, 64, 64, (3, 3), (1, 1), "same"),
    ConvConfig("32x32 64->64", BATCH, 32, 32, 64, 64, (3, 3), (2, 2), "valid"),
    ConvConfig("32x32 64->64", BATCH, 32, 32, 64, 64, (3, 3), (2, 2), "same"),
)
"""The convolution layers of the comparison table (issue 2's list)."""

POOL_CONFIGS = tuple(
    PoolConfig(f"textbook pool{i}", mode, BATCH, size, size, channels)
    for mode in ("max", "average")
    for i, (size, channels) in enumerate(((28, 32), (14, 64)), start=1)
)
"""2x2 pooling after each of the textbook CNN's convolution layers, max and average."""


# ----------------------------------------------------------------------------- the asv grid

GRID_PADDINGS = ("valid", "same")
GRID_STRIDES = (1, 2)
GRID_KERNEL_SIZES = (3, 5)
GRID_LAYERS = ("28x28x1->32", "14x14x32->64", "32x32x64->64", "16x16x64->128")
"""Input size and channel pair of each grid layer, ``HxWxC->F``: the textbook CNN's two convolutions, the
mid-sized layer of the table above, and a wide layer (what follows a stride-2 convolution of the third)."""
GRID_BATCHES = (1, 32)
"""Batch 1 (inference latency, the least parallel work per call) and 32 (a training batch)."""


def parse_layer(layer):
    """``"28x28x1->32"`` -> ``(28, 28, 1, 32)``: height, width, channels, filters.

    >>> parse_layer("16x16x64->128")
    (16, 16, 64, 128)
    """
    size, filters = layer.split("->")
    height, width, channels = (int(v) for v in size.split("x"))
    return height, width, channels, int(filters)


def grid_conv_config(padding, strides, kernel_size, layer, batch):
    """The :class:`ConvConfig` of one point of the asv grid (square kernel and strides).

    >>> grid_conv_config("same", 2, 5, "14x14x32->64", 32).label
    '14x14x32->64 5x5 s2 same'
    """
    height, width, channels, filters = parse_layer(layer)
    return ConvConfig(f"{layer} {kernel_size}x{kernel_size}", batch, height, width, channels, filters,
                      (kernel_size, kernel_size), (strides, strides), padding)


def conv_grid(batch=BATCH):
    """Every convolution of the grid at one batch size, in the order of the asv parameters (padding, strides,
    kernel size, layer): what ``compare_torch.py --grid`` times.

    >>> grid = conv_grid()
    >>> len(grid), grid[0].label, grid[-1].label
    (32, '28x28x1->32 3x3 s1 valid', '16x16x64->128 5x5 s2 same')
    """
    return tuple(grid_conv_config(padding, strides, kernel_size, layer, batch)
                 for padding in GRID_PADDINGS for strides in GRID_STRIDES
                 for kernel_size in GRID_KERNEL_SIZES for layer in GRID_LAYERS)


# ----------------------------------------------------------------------------- transposed and grouped convolutions


@dataclass(frozen=True)
class ConvTransposeConfig(ConvConfig):
    """A ``Conv2DTranspose`` layer: kernel ``(KH, KW, F, C)``, Keras 3's output size. Its FLOPs are those of the
    convolution whose input gradient it is: ``2 * N * H * W * KH * KW * C * F`` over the (small) input.

    >>> layer = ConvTransposeConfig("up", 32, 7, 7, 128, 64, (3, 3), (2, 2), "same")
    >>> layer.output_shape, layer.crops, layer.label
    ((32, 14, 14, 64), ((0, 1), (0, 1)), '7x7x128->64 T3x3 s2 same')
    """

    output_padding: tuple = None

    @property
    def kernel_shape(self):
        return (*self.kernel_size, self.filters, self.channels)

    @property
    def output_shape(self):
        return shapes.conv_transpose_output_shape(self.input_shape, self.kernel_size, self.filters, self.strides,
                                                  self.padding, self.output_padding)

    @property
    def crops(self):
        """``((top, bottom), (left, right))``: what Keras cuts off the full transposed output,
        ``(n - 1) * s + k`` long, on each side (negative: zeros added)."""
        paddings = self.output_padding or (None, None)
        crops = []
        for length, size, stride, pad in zip((self.height, self.width), self.kernel_size, self.strides, paddings):
            crop, out = shapes.conv_transpose_geometry(length, size, self.padding, stride, pad)
            crops.append((crop, (length - 1) * stride + size - crop - out))
        return tuple(crops)

    @property
    def label(self):
        return super().label.replace(" ", " T", 1)

    def flops(self, pass_name="forward"):
        kh, kw = self.kernel_size
        forward = 2 * self.batch * self.height * self.width * kh * kw * self.channels * self.filters
        return forward * (BACKWARD_FLOP_FACTOR if pass_name == "forward+backward" else 1)


@dataclass(frozen=True)
class GroupedConvConfig(ConvConfig):
    """A ``Conv2D(groups=g)`` layer: kernel ``(KH, KW, C/g, F)``, a g-th of the FLOPs of the ungrouped one.

    >>> GroupedConvConfig("g", 32, 32, 32, 64, 64, groups=4).label
    '32x32x64->64 3x3 s1 valid g4'
    """

    groups: int = 1

    @property
    def kernel_shape(self):
        return (*self.kernel_size, self.channels // self.groups, self.filters)

    @property
    def label(self):
        return f"{super().label} g{self.groups}"

    def flops(self, pass_name="forward"):
        return super().flops(pass_name) // self.groups


TRANSPOSE_CONFIGS = tuple(
    ConvTransposeConfig(f"decoder {layer}", BATCH, *parse_layer(layer), (kernel, kernel), (2, 2), padding)
    for layer in ("7x7x128->64", "14x14x64->32") for kernel in (2, 3) for padding in ("valid", "same"))
"""U-Net-decoder-like upsampling layers (``compare_torch.py --transpose``): stride 2, kernel 2 and 3."""

GROUPED_CONFIGS = tuple(
    GroupedConvConfig(f"grouped {layer}", BATCH, *parse_layer(layer), (3, 3), (strides, strides), "same", groups)
    for layer, strides, groups in (("32x32x64->64", 1, 2), ("32x32x64->64", 1, 4), ("32x32x64->64", 1, 8),
                                   ("14x14x128->128", 1, 4), ("16x16x64->128", 2, 2), ("28x28x32->32", 1, 32)))
"""Grouped convolutions (``compare_torch.py --groups``), 2 to 32 groups (32: one channel per group, depthwise)."""


# ----------------------------------------------------------------------------- depthwise convolutions


@dataclass(frozen=True)
class DepthwiseConfig(ConvConfig):
    """A ``DepthwiseConv2D`` layer: kernel ``(KH, KW, C, m)``, ``filters = C*m`` output channels, one kernel
    window per output channel: ``2 * N * OH * OW * KH * KW * C * m`` FLOPs forward. ``groups`` is ``C``
    (PyTorch's grouped convolution with one input channel per group).

    >>> layer = DepthwiseConfig("dw", 16, 56, 56, 64, 64, (3, 3), (2, 2), "same")
    >>> layer.kernel_shape, layer.output_shape, layer.label
    ((3, 3, 64, 1), (16, 28, 28, 64), 'dw 56x56x64 3x3 s2 same')
    >>> layer.bytes("forward") / 1e6  # read the inputs, write the outputs
    16.058624
    """

    @property
    def groups(self):
        return self.channels

    @property
    def kernel_shape(self):
        return (*self.kernel_size, self.channels, self.filters // self.channels)

    @property
    def label(self):
        return "dw " + super().label.replace(f"->{self.filters}", "" if self.filters == self.channels
                                             else f"x{self.filters // self.channels}")

    def flops(self, pass_name="forward"):
        return super().flops(pass_name) // self.channels

    def bytes(self, pass_name="forward"):
        """Bytes a pass must move at least (float32): forward reads the inputs and the kernel and writes the
        outputs; the input gradient reads the output gradient and the kernel and writes the input gradient;
        the kernel gradient reads the inputs and the output gradient."""
        inputs, outputs, kernel = (4 * int(np.prod(shape)) for shape in (self.input_shape, self.output_shape,
                                                                        self.kernel_shape))
        forward = inputs + outputs + kernel
        return forward if pass_name == "forward" else forward + (outputs + kernel + inputs) + (inputs + outputs)


DEPTHWISE_LAYERS = ("112x112x32", "56x56x64", "28x28x128", "14x14x256", "7x7x512")
"""MobileNet's depthwise layers, ``HxWxC``: each stage halves the size and doubles the channels."""
DEPTHWISE_BATCH = 16


def depthwise_grid(batch=DEPTHWISE_BATCH):
    """The depthwise layers of ``compare_torch.py --depthwise`` and the asv ``DepthwiseConv`` benchmark: each
    of ``DEPTHWISE_LAYERS`` with a 3x3 kernel at stride 1 and 2, 'valid' and 'same'.

    >>> grid = depthwise_grid()
    >>> len(grid), grid[0].label, grid[-1].label
    (20, 'dw 112x112x32 3x3 s1 valid', 'dw 7x7x512 3x3 s2 same')
    """
    return tuple(DepthwiseConfig(f"depthwise {layer}", batch, *(int(v) for v in layer.split("x")),
                                 int(layer.split("x")[2]), (3, 3), (strides, strides), padding)
                 for layer in DEPTHWISE_LAYERS for strides in (1, 2) for padding in ("valid", "same"))


POOL_GRID_MODES = ("max", "average")
POOL_GRID_PADDINGS = ("valid", "same")
POOL_GRID_STRIDES = (1, 2)
POOL_GRID_SIZES = (2, 3)
POOL_GRID_INPUTS = ("28x28x32", "14x14x64")
"""The inputs of the textbook CNN's two pooling layers, ``HxWxC``."""


def grid_pool_config(mode, padding, strides, pool_size, inputs, batch=BATCH):
    """The :class:`PoolConfig` of one point of the pooling grid (square window and strides).

    >>> grid_pool_config("max", "same", 2, 3, "14x14x64").output_shape
    (32, 7, 7, 64)
    """
    height, width, channels = (int(v) for v in inputs.split("x"))
    return PoolConfig(f"{mode} {inputs}", mode, batch, height, width, channels, (pool_size, pool_size),
                      (strides, strides), padding)


def pool_grid(batch=BATCH):
    """Every pooling layer of the grid at one batch size, in the order of the asv parameters (mode, padding,
    strides, pool size, inputs).

    >>> grid = pool_grid()
    >>> len(grid), grid[0].label, grid[-1].label
    (32, 'max 2x2 s1 valid on 28x28x32', 'average 3x3 s2 same on 14x14x64')
    >>> grid[-1].pads
    ((0, 1), (0, 1))
    """
    return tuple(grid_pool_config(mode, padding, strides, pool_size, inputs, batch)
                 for mode in POOL_GRID_MODES for padding in POOL_GRID_PADDINGS for strides in POOL_GRID_STRIDES
                 for pool_size in POOL_GRID_SIZES for inputs in POOL_GRID_INPUTS)


GOAL_GEOMEAN_RATIO = 1.0
"""The performance goal, per pass over the convolution grid: geometric mean of fastconv time / PyTorch's best
time at most this..."""
GOAL_WORST_RATIO = 1.3
"""... and no configuration's ratio above this."""
POOL_GOAL_RATIO = 1.0
"""The pooling goal: every pooling configuration of the grid, forward and forward+backward, at most this
times PyTorch's best time."""


TEXTBOOK_DENSE = ((7 * 7 * 64, 100), (100, 10))
"""(inputs, units) of the textbook CNN's two Dense layers."""


def textbook_flops(batch, pass_name="forward"):
    """FLOPs of the textbook CNN's convolutions and Dense layers on ``batch`` images (pooling, activations,
    the loss and the optimizer are not counted).

    >>> round(textbook_flops(32) / 1e6, 1)
    265.8
    >>> textbook_flops(32, "forward+backward") == 3 * textbook_flops(32)
    True
    """
    forward = sum(replace(c, batch=batch).flops() for c in CONV_CONFIGS[:2])
    forward += sum(2 * batch * inputs * units for inputs, units in TEXTBOOK_DENSE)
    return forward * (BACKWARD_FLOP_FACTOR if pass_name == "forward+backward" else 1)
