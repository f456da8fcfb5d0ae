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
"""

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


@kernel
def _pool2d_forward(x, out, pool_h, pool_w, stride_h, stride_w, pad_top, pad_left, mode, rows_per_task):
    """Max or average pooling of ``x`` ``(N, H, W, C)`` into ``out`` ``(N, OH, OW, C)`` (overwritten)."""
    n_batch, in_h, in_w, n_channels = x.shape
    _, out_h, out_w, _ = out.shape
    tasks_per_image = out_h // rows_per_task
    for task in prange(n_batch * tasks_per_image):
        n = task // tasks_per_image
        first_row = (task - n * tasks_per_image) * rows_per_task
        for oh in range(first_row, first_row + rows_per_task):
            h_lo, h_hi = _window(oh, stride_h, pad_top, pool_h, in_h)
            for ow in range(out_w):
                w_lo, w_hi = _window(ow, stride_w, pad_left, pool_w, in_w)
                acc = out[n, oh, ow]
                acc[:] = x[n, h_lo, w_lo]
                for ih in range(h_lo, h_hi):
                    for iw in range(w_lo, w_hi):
                        if ih == h_lo and iw == w_lo:
                            continue
                        if mode == MAX:
                            for c in range(n_channels):
                                v = x[n, ih, iw, c]
                                if _is_better(v, acc[c]):
                                    acc[c] = v
                        else:
                            for c in range(n_channels):
                                acc[c] += x[n, ih, iw, c]
                if mode == AVERAGE:
                    scale = 1.0 / ((h_hi - h_lo) * (w_hi - w_lo))
                    for c in range(n_channels):
                        acc[c] *= scale


@kernel
def _pool2d_backward(x, grad_out, grad_x, pool_h, pool_w, stride_h, stride_w, pad_top, pad_left,
                     mode, rows_per_task, best_value, best_cell):
    """Add ``grad_out`` ``(N, OH, OW, C)`` into ``grad_x`` ``(N, H, W, C)``, which must start zeroed.

    Max pooling finds each window's first maximum again from ``x``;
    ``best_value`` and ``best_cell`` ``(tasks, C)`` are per-task scratch for its
    value and its cell's row-major number in the window. Both passes over a
    window run over contiguous channels, so they vectorise.
    """
    n_batch, in_h, in_w, n_channels = x.shape
    _, out_h, out_w, _ = grad_out.shape
    tasks_per_image = out_h // rows_per_task
    for task in prange(n_batch * tasks_per_image):
        n = task // tasks_per_image
        first_row = (task - n * tasks_per_image) * rows_per_task
        value = best_value[task]
        cell = best_cell[task]
        for oh in range(first_row, first_row + rows_per_task):
            h_lo, h_hi = _window(oh, stride_h, pad_top, pool_h, in_h)
            for ow in range(out_w):
                w_lo, w_hi = _window(ow, stride_w, pad_left, pool_w, in_w)
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
                            for c in range(n_channels):
                                if cell[c] == k:
                                    grad_x[n, ih, iw, c] += grad_out[n, oh, ow, c]
                            k += 1
                else:
                    scale = 1.0 / ((h_hi - h_lo) * (w_hi - w_lo))
                    for ih in range(h_lo, h_hi):
                        for iw in range(w_lo, w_hi):
                            for c in range(n_channels):
                                grad_x[n, ih, iw, c] += grad_out[n, oh, ow, c] * scale
