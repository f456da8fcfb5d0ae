"""Benchmark configurations and their FLOP counts, shared by the comparison scripts (and the asv suite).

A configuration is one layer's shapes: batch, spatial size, channels, window,
strides and padding. Output shapes and 'same' padding come from
``fastconv.shapes`` so that the benchmarks and the library use one formula.
Nothing here imports a framework or times anything.

FLOPs of a convolution (multiply and add counted separately, the usual
convention, so GFLOP/s figures compare with other libraries' numbers)::

    forward           = 2 * N * OH * OW * KH * KW * C * F
    forward+backward  = 3 * forward   (input gradient and kernel gradient cost one forward each)

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

from dataclasses import asdict, dataclass

import numpy as np

from fastconv import shapes

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
    def label(self):
        ph, pw = self.pool_size
        return f"{self.mode} {ph}x{pw} on {self.height}x{self.width}x{self.channels}"

    def as_dict(self):
        return asdict(self)


def conv_arrays(config, dtype=np.float32, seed=0):
    """Random ``(inputs, kernel, grad_output)`` for ``config``, standard normal, reproducible from ``seed``."""
    rng = np.random.default_rng(seed)
    return (
        rng.standard_normal(config.input_shape, dtype=np.float64).astype(dtype),
        rng.standard_normal(config.kernel_shape, dtype=np.float64).astype(dtype),
        rng.standard_normal(config.output_shape, dtype=np.float64).astype(dtype),
    )


def pool_arrays(config, dtype=np.float32, seed=0):
    """Random ``(inputs, grad_output)`` for ``config`` (continuous values, so max-pool ties do not occur)."""
    rng = np.random.default_rng(seed)
    return (
        rng.standard_normal(config.input_shape, dtype=np.float64).astype(dtype),
        rng.standard_normal(config.output_shape, dtype=np.float64).astype(dtype),
    )


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
