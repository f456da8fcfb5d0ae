"""Direct-loop 2-D max and average pooling kernels over NHWC arrays, forward and backward.

Kernels only: arrays are preallocated and already checked by ``fastconv.ops``.
Inputs are not padded; instead each window is clipped to the real cells, which
gives Keras's semantics directly: max pooling never picks a padded cell, and
average pooling divides by the number of real cells in the window.

``mode`` selects ``MAX`` or ``AVERAGE`` inside one loop nest. Max pooling picks
the first maximum in row-major window order, and a NaN counts as larger than
any number (so NaN propagates, as with ``numpy.max``); its gradient goes to
that one cell.

Work is split over tasks of ``rows_per_task`` output rows of one image.
Overlapping windows (stride smaller than the pool along the height) make
backward passes of neighbouring rows write the same input cells, so for those
the caller passes ``rows_per_task = OH`` (one task per image); otherwise 1.

The backward kernel writes every cell of ``grad_x`` itself, so the caller
allocates it with ``np.empty`` (a ``np.zeros`` would be one more pass over
memory, from one thread). Each task owns a band of input rows: from the first
row of its first window to the first row of the next task's first window
(from row 0 for an image's first task, to the image's last row for its last).
The bands tile the image and no window crosses a band's edge, so each cell is
written by one task only, in a fixed order: results do not depend on the
number of threads. Where windows overlap, a task zeroes its band and then adds
each window's gradient into it. Where they are disjoint (stride at least the
pool along both axes), it writes each window's cells once (the gradient or
zero) and zeroes only the cells that no window covers: the gaps of strides
larger than the pool and the rows and columns that 'valid' leaves over.

Three choices are for speed, not semantics:

- Full 2x2 windows (Keras's default pool) take loops of their own: the
  forward reads all four cells in one pass over the channels, the backward
  (disjoint windows) writes a window column, two cells a row apart, per pass.
  The general loops run one short loop over the channels per window cell, each
  with its own vector setup and remainder; the 2x2 loops are 1.3-2x faster.
- No loop stores to two cells that are neighbours in a row: they are only
  ``C`` elements apart, which fails LLVM's runtime overlap check for its
  vectors (64 float32 elements per iteration with AVX-512) when ``C`` is
  below 64, and the loop then runs scalar (2-3x slower at 32 channels).
- Average pooling multiplies by a reciprocal read from a small table, not by
  ``1.0 / count``: under the ``reassoc`` flag (``fastconv._jit``) LLVM
  rewrites ``v * (1.0 / count)`` into ``v / count``, a vector division of
  every element.
"""

import numpy as np
from numba import prange

from fastconv._jit import helper, kernel

MAX = 0
AVERAGE = 1


@helper
def _window(o, stride, pad, size, length):
    """``[lo, hi)``: the real input cells of output index ``o``'s window along one axis."""
    start = o * stride - pad
    return max(start, 0), min(start + size, length)


@helper
def _is_better(v, best):
    """True if ``v`` replaces ``best`` as the running maximum (first NaN wins, then stays)."""
    return v > best or (v != v and best == best)


@helper
def _reciprocals(largest, like):
    """``r[k] = 1 / k`` for ``k`` in ``1 .. largest`` in ``like``'s dtype (``r[0]`` is 0, never read)."""
    r = np.empty(largest + 1, like.dtype)
    r[0] = 0
    for k in range(1, largest + 1):
        r[k] = 1.0 / k
    return r


@helper
def _forward_window(x, out, n, oh, ow, h_lo, h_hi, w_lo, w_hi, mode, reciprocal):
    """Pool the window ``[h_lo, h_hi) x [w_lo, w_hi)`` of image ``n`` into ``out[n, oh, ow]``, any window size."""
    acc = out[n, oh, ow]
    acc[:] = x[n, h_lo, w_lo]
    for ih in range(h_lo, h_hi):
        for iw in range(w_lo, w_hi):
            if ih == h_lo and iw == w_lo:
                continue
            if mode == MAX:
                for c in range(x.shape[3]):
                    v = x[n, ih, iw, c]
                    if _is_better(v, acc[c]):
                        acc[c] = v
            else:
                for c in range(x.shape[3]):
                    acc[c] += x[n, ih, iw, c]
    if mode == AVERAGE:
        scale = reciprocal[(h_hi - h_lo) * (w_hi - w_lo)]
        for c in range(x.shape[3]):
            acc[c] *= scale


@helper
def _forward_2x2(x, out, n, oh, ow, h, w, mode, scale):
    """Pool the full 2x2 window at ``(h, w)`` into ``out[n, oh, ow]``: one pass over the channels."""
    if mode == MAX:
        for c in range(x.shape[3]):
            v = x[n, h, w, c]
            v1 = x[n, h, w + 1, c]
            v = v1 if _is_better(v1, v) else v
            v2 = x[n, h + 1, w, c]
            v = v2 if _is_better(v2, v) else v
            v3 = x[n, h + 1, w + 1, c]
            out[n, oh, ow, c] = v3 if _is_better(v3, v) else v
    else:
        for c in range(x.shape[3]):
            out[n, oh, ow, c] = (x[n, h, w, c] + x[n, h, w + 1, c] + x[n, h + 1, w, c] + x[n, h + 1, w + 1, c]) * scale


@kernel
def _pool2d_forward(x, out, pool_h, pool_w, stride_h, stride_w, pad_top, pad_left, mode, rows_per_task):
    """Max or average pooling of ``x`` ``(N, H, W, C)`` into ``out`` ``(N, OH, OW, C)`` (overwritten)."""
    n_batch, in_h, in_w, _ = x.shape
    _, out_h, out_w, _ = out.shape
    tasks_per_image = out_h // rows_per_task
    reciprocal = _reciprocals(pool_h * pool_w, x)
    # A whole window's scale, read here: numba's parfor pass evaluates a constant-index read such as
    # reciprocal[4] ahead of the prange loop even in a branch that is not taken (out of range for 1x1 pools).
    full_scale = reciprocal[pool_h * pool_w]
    # 2x2 pools get an output-row loop of their own: with the full-2x2 test inside it, the general
    # loop nest compiled 5-10% slower (3x3 pools).
    two_by_two = pool_h == 2 and pool_w == 2
    for task in prange(n_batch * tasks_per_image):
        n = task // tasks_per_image
        first_row = (task - n * tasks_per_image) * rows_per_task
        for oh in range(first_row, first_row + rows_per_task):
            h_lo, h_hi = _window(oh, stride_h, pad_top, pool_h, in_h)
            if two_by_two:
                for ow in range(out_w):
                    w_lo, w_hi = _window(ow, stride_w, pad_left, pool_w, in_w)
                    if h_hi - h_lo == 2 and w_hi - w_lo == 2:
                        _forward_2x2(x, out, n, oh, ow, h_lo, w_lo, mode, full_scale)
                    else:
                        _forward_window(x, out, n, oh, ow, h_lo, h_hi, w_lo, w_hi, mode, reciprocal)
            else:
                for ow in range(out_w):
                    w_lo, w_hi = _window(ow, stride_w, pad_left, pool_w, in_w)
                    _forward_window(x, out, n, oh, ow, h_lo, h_hi, w_lo, w_hi, mode, reciprocal)


@helper
def _zero_cells(grad_x, n, row_lo, row_hi, col_lo, col_hi):
    """Zero ``grad_x[n, row_lo:row_hi, col_lo:col_hi, :]`` (empty when a bound is not above its start)."""
    for ih in range(row_lo, row_hi):
        for iw in range(col_lo, col_hi):
            for c in range(grad_x.shape[3]):
                grad_x[n, ih, iw, c] = 0


@helper
def _max_2x2_backward(x, grad_out, grad_x, n, oh, ow, h, w, cell):
    """Write the gradient of output ``(oh, ow)`` into the full 2x2 window at ``(h, w)``: ``g`` or zero.

    The first loop keeps each channel's first maximum's row-major number in the
    scratch ``cell``: a later cell takes over only if it beats the best so far,
    so the last one to take over is the first maximum (selects, not branches,
    so the loop vectorises). The writes then go by window column (see the
    module docstring).
    """
    for c in range(x.shape[3]):
        v = x[n, h, w, c]
        v1 = x[n, h, w + 1, c]
        to1 = _is_better(v1, v)
        v = v1 if to1 else v
        v2 = x[n, h + 1, w, c]
        to2 = _is_better(v2, v)
        v = v2 if to2 else v
        to3 = _is_better(x[n, h + 1, w + 1, c], v)
        cell[c] = 3 if to3 else (2 if to2 else (1 if to1 else 0))
    for dw in range(2):
        for c in range(x.shape[3]):
            g = grad_out[n, oh, ow, c]
            grad_x[n, h, w + dw, c] = g if cell[c] == dw else 0.0
            grad_x[n, h + 1, w + dw, c] = g if cell[c] == dw + 2 else 0.0


@helper
def _average_2x2_backward(grad_out, grad_x, n, oh, ow, h, w, scale):
    """Write ``g * scale`` for output ``(oh, ow)`` into the full 2x2 window at ``(h, w)``, by column."""
    for iw in range(w, w + 2):
        for c in range(grad_x.shape[3]):
            g = grad_out[n, oh, ow, c] * scale
            grad_x[n, h, iw, c] = g
            grad_x[n, h + 1, iw, c] = g


@helper
def _backward_window(x, grad_out, grad_x, n, oh, ow, h_lo, h_hi, w_lo, w_hi, mode, disjoint, reciprocal,
                     value, cell):
    """Write (``disjoint``) or add the gradient of output ``(oh, ow)`` into its window's cells, any window size.

    Max pooling first finds each channel's first maximum: its value and row-major number in the
    window go to the scratch ``value`` and ``cell``. Each loop over the channels writes one cell
    of ``grad_x`` (see the module docstring).
    """
    n_channels = x.shape[3]
    if mode == MAX:
        for c in range(n_channels):
            value[c] = x[n, h_lo, w_lo, c]
            cell[c] = 0
        k = 0
        for ih in range(h_lo, h_hi):
            for iw in range(w_lo, w_hi):
                for c in range(n_channels):
                    v = x[n, ih, iw, c]
                    if _is_better(v, value[c]):
                        value[c] = v
                        cell[c] = k
                k += 1
        k = 0
        for ih in range(h_lo, h_hi):
            for iw in range(w_lo, w_hi):
                if disjoint:
                    for c in range(n_channels):
                        grad_x[n, ih, iw, c] = grad_out[n, oh, ow, c] if cell[c] == k else 0.0
                else:
                    for c in range(n_channels):
                        if cell[c] == k:
                            grad_x[n, ih, iw, c] += grad_out[n, oh, ow, c]
                k += 1
    else:
        scale = reciprocal[(h_hi - h_lo) * (w_hi - w_lo)]
        for ih in range(h_lo, h_hi):
            for iw in range(w_lo, w_hi):
                if disjoint:
                    for c in range(n_channels):
                        grad_x[n, ih, iw, c] = grad_out[n, oh, ow, c] * scale
                else:
                    for c in range(n_channels):
                        grad_x[n, ih, iw, c] += grad_out[n, oh, ow, c] * scale


@kernel
def _pool2d_backward(x, grad_out, grad_x, pool_h, pool_w, stride_h, stride_w, pad_top, pad_left,
                     mode, rows_per_task, best_value, best_cell):
    """Gradient of the pooling of ``x`` ``(N, H, W, C)`` for ``grad_out`` ``(N, OH, OW, C)``, into ``grad_x``.

    Every cell of ``grad_x`` ``(N, H, W, C)`` is overwritten (it may start
    uninitialised): each task zeroes or writes its own band of rows (see the
    module docstring). ``best_value`` and ``best_cell`` ``(tasks, C)`` are
    per-task scratch for max pooling's window maxima.
    """
    n_batch, in_h, in_w, _ = x.shape
    _, out_h, out_w, _ = grad_out.shape
    tasks_per_image = out_h // rows_per_task
    reciprocal = _reciprocals(pool_h * pool_w, x)
    # A whole window's scale, read here: numba's parfor pass evaluates a constant-index read such as
    # reciprocal[4] ahead of the prange loop even in a branch that is not taken (out of range for 1x1 pools).
    full_scale = reciprocal[pool_h * pool_w]
    # Disjoint windows cover each cell at most once: write it (no zeroing first, no read back).
    disjoint = stride_h >= pool_h and stride_w >= pool_w
    disjoint_2x2 = disjoint and pool_h == 2 and pool_w == 2
    for task in prange(n_batch * tasks_per_image):
        n = task // tasks_per_image
        first_row = (task - n * tasks_per_image) * rows_per_task
        end_row = first_row + rows_per_task
        band_lo = _window(first_row, stride_h, pad_top, pool_h, in_h)[0] if first_row > 0 else 0
        band_hi = _window(end_row, stride_h, pad_top, pool_h, in_h)[0] if end_row < out_h else in_h
        value = best_value[task]
        cell = best_cell[task]
        if not disjoint:
            _zero_cells(grad_x, n, band_lo, band_hi, 0, in_w)
        next_row = band_lo  # disjoint windows: the band's first row not written yet
        for oh in range(first_row, end_row):
            h_lo, h_hi = _window(oh, stride_h, pad_top, pool_h, in_h)
            if disjoint:
                _zero_cells(grad_x, n, next_row, h_lo, 0, in_w)  # rows between windows (stride > pool)
                next_row = h_hi
            for ow in range(out_w):
                w_lo, w_hi = _window(ow, stride_w, pad_left, pool_w, in_w)
                if disjoint:
                    # Columns right of this window up to the next one's, or to the edge after the last
                    # (none left of a row's first window, which starts at column 0).
                    next_col = _window(ow + 1, stride_w, pad_left, pool_w, in_w)[0] if ow + 1 < out_w else in_w
                    _zero_cells(grad_x, n, h_lo, h_hi, w_hi, next_col)
                if disjoint_2x2 and h_hi - h_lo == 2 and w_hi - w_lo == 2:
                    if mode == MAX:
                        _max_2x2_backward(x, grad_out, grad_x, n, oh, ow, h_lo, w_lo, cell)
                    else:
                        _average_2x2_backward(grad_out, grad_x, n, oh, ow, h_lo, w_lo, full_scale)
                else:
                    _backward_window(x, grad_out, grad_x, n, oh, ow, h_lo, h_hi, w_lo, w_hi, mode, disjoint,
                                     reciprocal, value, cell)
        if disjoint:
            # Rows after the task's last window: a gap before the next band, or the rows 'valid' leaves over.
            _zero_cells(grad_x, n, next_row, band_hi, 0, in_w)
