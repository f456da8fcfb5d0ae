"""asv benchmarks of 2-D max and average pooling, forward and backward.

The grid (from ``benchmarks/configs.py``), float32 NHWC, batch 32, every
combination of ``mode`` (``'max'``, ``'average'``), ``padding``
(``'valid'``, ``'same'``), ``strides`` (1, 2), ``pool_size`` (2, 3: 2x2 and
3x3 windows) and ``inputs`` (``28x28x32`` and ``14x14x64``, what the textbook
CNN's two pooling layers receive). Stride 1 makes windows overlap, so the
backward pass adds several gradients into one input cell; 'same' makes
windows at the border partial (average pooling divides by the real cells).

Pooling has no meaningful FLOP count: these report times and peak memory.
"""

from fastconv import ops

from benchmarks.common import require_supported
from benchmarks.configs import (POOL_GRID_INPUTS, POOL_GRID_MODES, POOL_GRID_PADDINGS, POOL_GRID_SIZES,
                                POOL_GRID_STRIDES, grid_pool_config, pool_arrays)

_OPS = {"max": (ops.max_pool, ops.max_pool_grad), "average": (ops.average_pool, ops.average_pool_grad)}


class Pooling:
    """``ops.max_pool``/``ops.average_pool`` and their ``_grad`` (the input gradient)."""

    params = [POOL_GRID_MODES, POOL_GRID_PADDINGS, POOL_GRID_STRIDES, POOL_GRID_SIZES, POOL_GRID_INPUTS]
    param_names = ["mode", "padding", "strides", "pool_size", "inputs"]
    timeout = 300  # seconds per point: the first process after a kernel change compiles it

    def setup(self, mode, padding, strides, pool_size, inputs):
        config = grid_pool_config(mode, padding, strides, pool_size, inputs)
        require_supported(config)
        self.inputs, self.grad_output = pool_arrays(config)
        self.pool, self.pool_grad = _OPS[mode]
        self.args = dict(pool_size=config.pool_size, strides=config.strides, padding=config.padding)
        self.pool(self.inputs, **self.args)  # compile, or load from numba's cache
        self.pool_grad(self.inputs, self.grad_output, **self.args)

    def time_forward(self, *params):
        self.pool(self.inputs, **self.args)

    def time_backward(self, *params):
        self.pool_grad(self.inputs, self.grad_output, **self.args)

    def peakmem_backward(self, *params):
        self.pool_grad(self.inputs, self.grad_output, **self.args)
