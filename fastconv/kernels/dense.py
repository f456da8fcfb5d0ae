"""Matrix products of the ``Dense`` layer (forward and both gradients) on the convolution's register tiles.

A Dense layer is a 1x1 convolution of one-pixel images, so the SIMD tiles
of ``conv2d_tiles.py`` compute it through the drivers of ``conv2d_tiled.py``:
a row of a matrix is a pixel, its columns the channels. Running in numba's
threads, next to the convolutions, keeps a second thread pool (BLAS's) from
competing for the cores; on two cores these kernels run the textbook CNN's
Dense layer about twice as fast as single-threaded BLAS.

Kernels only: float32, C-contiguous, column axes of the right-hand operands
zero-padded to a multiple of the vector width by ``fastconv.ops``.

- :func:`_matmul_tiled`: ``out = act(a @ b + bias)``, the forward pass, and
  (with ``a`` the kernel and ``b`` the output gradient transposed) the input
  gradient transposed.
- :func:`_matmul_tn_tiled`: ``out = a.T @ b``, the kernel gradient.
"""

from numba import prange

from fastconv._jit import kernel
from fastconv.kernels.conv2d_tiled import _conv_row, _grad_kernel_block
from fastconv.kernels.simd import lanes_of

ROWS_PER_TASK = 16
"""Rows of ``a`` (pixels) per task of :func:`_matmul_tiled`: two 8-pixel tiles."""

VECTORS_PER_TASK = 2
"""Output column vectors per task of :func:`_matmul_tiled` (one two-vector tile wide)."""

DEPTH_PER_TASK = 48
"""Rows of the result per task of :func:`_matmul_tn_tiled` (eight 6-row tiles)."""


@kernel
def _matmul_tiled(a, b, bias, out, relu):
    """``out = act(a @ b + bias)``, ``act`` ReLU when ``relu`` is true.

    ``a`` is ``(P, K)``, ``b`` ``(K, NP)`` and ``bias`` ``(NP,)`` with ``NP``
    a multiple of the vector width (zero columns beyond ``N``); ``out``
    ``(P, N)`` is overwritten. Tasks are blocks of rows x blocks of columns,
    each written by one task, each sum in a fixed order.
    """
    n_rows, depth = a.shape
    n_out = out.shape[1]
    n_pad = b.shape[1]
    columns = VECTORS_PER_TASK * lanes_of(b)
    column_blocks = (n_out + columns - 1) // columns
    row_blocks = (n_rows + ROWS_PER_TASK - 1) // ROWS_PER_TASK
    for task in prange(row_blocks * column_blocks):
        block = task // column_blocks
        first_row = block * ROWS_PER_TASK
        f0 = (task - block * column_blocks) * columns
        _conv_row(a, first_row * depth, 0, 0, depth, 1, 1, depth, b, f0, 0, 0, n_pad,
                  out, first_row * n_out + f0, n_out, min(ROWS_PER_TASK, n_rows - first_row),
                  min(columns, n_out - f0), bias[f0:], relu)


@kernel
def _matmul_tn_tiled(a, b, out):
    """``out = a.T @ b``: ``a`` ``(P, K)``, ``b`` ``(P, NP)``, ``out`` ``(K, NP)`` overwritten.

    ``NP`` is a multiple of the vector width. Each task owns a block of rows
    of ``out`` (of columns of ``a``) and sums over all ``P`` rows in order.
    """
    n_rows, depth = a.shape
    n_pad = b.shape[1]
    for task in prange((depth + DEPTH_PER_TASK - 1) // DEPTH_PER_TASK):
        first = task * DEPTH_PER_TASK
        count = min(DEPTH_PER_TASK, depth - first)
        out[first:first + count] = 0
        _grad_kernel_block(a, first, 0, depth, b, 0, 0, n_pad, 1, n_rows, out, first * n_pad, count, n_pad)
