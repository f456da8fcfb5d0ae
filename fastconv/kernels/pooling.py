"""Direct-loop 2-D max and average pooling kernels over NHWC arrays, forward and backward.

Kernels only: arrays are preallocated and already checked by ``fastconv.ops``.
Inputs are not padded; instead each window is clipped to the real cells, which
gives Keras's semantics directly: max pooling never picks a padded cell, and
average pooling divides by the number of real cells in the window.

``mode`` selects ``MAX`` or ``AVERAGE`` inside one loop nest. Max pooling picks
the first maximum in row-major window order, and a NaN counts as larger than
any number (so NaN propagates, as with ``numpy.max``); its gradient goes to
that one cell.

Each window is computed a vector of channels at a time with the explicit SIMD
values of ``fastconv.kernels.simd``: the loop over the window's cells runs
inside the loop over channel vectors, so a window's running maximum (or sum)
stays in a register and each cell costs a load and a select or two (or an
add). The last vector of a row whose channel count is not a multiple of the
vector width is loaded and stored with a lane mask; full vectors use plain
loads and stores (masked ones everywhere made the overlapping backward pass,
which reads back what it just stored, 10-15% slower). Left to LLVM's vectoriser, the loop over the
channels is the inner one: a short loop per window cell, each with its own
setup and runtime overlap checks, two to three times slower.

The running maximum is two chains, ``maxps`` on the values and a select that
keeps a NaN once one is seen, rather than one select on "larger, or the first
NaN": that rule's three compares per cell form one long dependency chain
through the window, and the forward pass ran 1.3x slower with it.

The backward pass of max pooling finds the window's maximum again (no indices
are kept from the forward pass), then gives each cell the gradient in the
lanes where the cell holds that maximum and no earlier cell did: the gradient
still to give starts as the output's gradient and is zeroed in a lane once a
cell has taken it, so only the first maximum takes it.

Work is split into tasks of ``rows_per_task`` output rows of one image. In
the forward pass each output cell is written by one task whatever the
windows, so the caller may cut even one image into many tasks. In the
backward pass, overlapping windows (stride smaller than the pool along the
height) make neighbouring rows write the same input cells, so for those the
caller passes ``rows_per_task = OH`` (one task per image); otherwise 1.
(Tasks of a group of channels each, to share one image's backward pass out
too, ran 2 to 4 times slower even on one thread: each task wrote a few
bytes of every pixel.)

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

Average pooling multiplies by a reciprocal read from a small table, not by
``1.0 / count``: under the ``reassoc`` flag (``fastconv._jit``) LLVM rewrites
``v * (1.0 / count)`` into ``v / count``, a vector division of every element.
The caller passes the table, ``reciprocal[k] = 1 / k`` in the input's dtype
for ``k`` up to the most real cells a window holds (kernels allocate nothing).

The caller also keeps the pool, stride and padding no larger than about
twice the image (``fastconv.ops._kernel_window``), giving the same clipped
windows: what a pooling costs follows the image, not the pool.
"""


from fastconv._jit import helper, kernel
from fastconv.kernels.tasks import first_task, next_task
from fastconv.kernels.simd import (
    lanes_of, vadd, vbroadcast, vload, vload_first, vmax, vmul, vnan_or, vselect_max, vselect_not_max,
    vselect_positive, vstore_first,
)

MAX = 0
AVERAGE = 1
MAX_OF_RELU = 2
"""Backward only: max pooling of a ReLU's outputs, whose gradient goes to a window's first maximum only where
that maximum is positive. That is the ReLU's own backward mask (a cell that is not positive passes no
gradient), folded into this pass: the gradient returned is the one before the ReLU."""


@helper
def _window(o, stride, pad, size, length):
    """``[lo, hi)``: the real input cells of output index ``o``'s window along one axis."""
    start = o * stride - pad
    return max(start, 0), min(start + size, length)


@helper
def _load(arr, offset, count):
    """A vector of ``arr`` at ``offset``: a plain load, or a masked one for the last ``count < LANES`` channels."""
    if count >= lanes_of(arr):
        return vload(arr, offset)
    return vload_first(arr, offset, count)


@helper
def _cell(x, n, ih, iw, c):
    """Flat offset of ``x[n, ih, iw, c]`` in a C-contiguous NHWC array."""
    return ((n * x.shape[1] + ih) * x.shape[2] + iw) * x.shape[3] + c


@helper
def _window_max(x, n, h_lo, h_hi, w_lo, w_hi, c, count):
    """The maximum over the window ``[h_lo, h_hi) x [w_lo, w_hi)`` of image ``n``, channels ``c ..`` (a vector).

    NaN in the lanes where any cell is NaN (as ``numpy.max``).
    """
    best = _load(x, _cell(x, n, h_lo, w_lo, c), count)
    nan = best
    for ih in range(h_lo, h_hi):
        for iw in range(w_lo, w_hi):
            value = _load(x, _cell(x, n, ih, iw, c), count)
            best = vmax(value, best)
            nan = vnan_or(value, nan)
    return vnan_or(nan, best)


@helper
def _window_sum(x, n, h_lo, h_hi, w_lo, w_hi, c, count):
    """The sum over the window in row-major order, channels ``c ..`` (a vector)."""
    total = _load(x, _cell(x, n, h_lo, w_lo, c), count)
    for ih in range(h_lo, h_hi):
        for iw in range(w_lo + 1 if ih == h_lo else w_lo, w_hi):
            total = vadd(total, _load(x, _cell(x, n, ih, iw, c), count))
    return total


@kernel
def _pool2d_forward(job, x, out, pool_h, pool_w, stride_h, stride_w, pad_top, pad_left, mode, rows_per_task,
                    reciprocal):
    """Max or average pooling of ``x`` ``(N, H, W, C)`` into ``out`` ``(N, OH, OW, C)`` (overwritten)."""
    n_batch, in_h, in_w, n_channels = x.shape
    _, out_h, out_w, _ = out.shape
    tasks_per_image = (out_h + rows_per_task - 1) // rows_per_task
    lanes = lanes_of(x)
    n_tasks = n_batch * tasks_per_image
    task = first_task(job, n_tasks)
    while task < n_tasks:
        n = task // tasks_per_image
        first_row = (task - n * tasks_per_image) * rows_per_task
        for oh in range(first_row, min(first_row + rows_per_task, out_h)):
            h_lo, h_hi = _window(oh, stride_h, pad_top, pool_h, in_h)
            for ow in range(out_w):
                w_lo, w_hi = _window(ow, stride_w, pad_left, pool_w, in_w)
                for c in range(0, n_channels, lanes):
                    count = n_channels - c
                    if mode == MAX:
                        pooled = _window_max(x, n, h_lo, h_hi, w_lo, w_hi, c, count)
                    else:
                        scale = vbroadcast(reciprocal, (h_hi - h_lo) * (w_hi - w_lo))
                        pooled = vmul(_window_sum(x, n, h_lo, h_hi, w_lo, w_hi, c, count), scale)
                    vstore_first(out, _cell(out, n, oh, ow, c), pooled, count)
        task = next_task(job, task)


@helper
def _zero_cells(grad_x, n, row_lo, row_hi, col_lo, col_hi):
    """Zero ``grad_x[n, row_lo:row_hi, col_lo:col_hi, :]`` (empty when a bound is not above its start)."""
    for ih in range(row_lo, row_hi):
        for iw in range(col_lo, col_hi):
            for c in range(grad_x.shape[3]):
                grad_x[n, ih, iw, c] = 0


@helper
def _give(grad_x, offset, gradient, count, disjoint):
    """Write (``disjoint``) or add ``gradient`` into the cell of ``grad_x`` at ``offset``."""
    if disjoint:
        vstore_first(grad_x, offset, gradient, count)
    else:
        vstore_first(grad_x, offset, vadd(_load(grad_x, offset, count), gradient), count)


@helper
def _backward_window(x, grad_out, grad_x, n, oh, ow, h_lo, h_hi, w_lo, w_hi, c, count, mode, disjoint,
                     reciprocal):
    """Write or add the gradient of output ``(oh, ow)``, channels ``c ..``, into its window's cells."""
    gradient = _load(grad_out, _cell(grad_out, n, oh, ow, c), count)
    if mode != AVERAGE:
        best = _window_max(x, n, h_lo, h_hi, w_lo, w_hi, c, count)
        if mode == MAX_OF_RELU:
            gradient = vselect_positive(gradient, best)
        for ih in range(h_lo, h_hi):
            for iw in range(w_lo, w_hi):
                offset = _cell(x, n, ih, iw, c)
                value = _load(x, offset, count)
                _give(grad_x, offset, vselect_max(value, best, gradient), count, disjoint)
                gradient = vselect_not_max(value, best, gradient)  # given: later cells get 0
    else:
        gradient = vmul(gradient, vbroadcast(reciprocal, (h_hi - h_lo) * (w_hi - w_lo)))
        for ih in range(h_lo, h_hi):
            for iw in range(w_lo, w_hi):
                _give(grad_x, _cell(x, n, ih, iw, c), gradient, count, disjoint)


@kernel
def _pool2d_backward(job, x, grad_out, grad_x, pool_h, pool_w, stride_h, stride_w, pad_top, pad_left,
                     mode, rows_per_task, reciprocal):
    """Gradient of the pooling of ``x`` ``(N, H, W, C)`` for ``grad_out`` ``(N, OH, OW, C)``, into ``grad_x``.

    Every cell of ``grad_x`` ``(N, H, W, C)`` is overwritten (it may start
    uninitialised): each task zeroes or writes its own band of rows (see the
    module docstring).
    """
    n_batch, in_h, in_w, n_channels = x.shape
    _, out_h, out_w, _ = grad_out.shape
    tasks_per_image = out_h // rows_per_task
    lanes = lanes_of(x)
    # Disjoint windows cover each cell at most once: write it (no zeroing first, no read back).
    disjoint = stride_h >= pool_h and stride_w >= pool_w
    n_tasks = n_batch * tasks_per_image
    task = first_task(job, n_tasks)
    while task < n_tasks:
        n = task // tasks_per_image
        first_row = (task - n * tasks_per_image) * rows_per_task
        end_row = first_row + rows_per_task
        band_lo = _window(first_row, stride_h, pad_top, pool_h, in_h)[0] if first_row > 0 else 0
        band_hi = _window(end_row, stride_h, pad_top, pool_h, in_h)[0] if end_row < out_h else in_h
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
                for c in range(0, n_channels, lanes):
                    _backward_window(x, grad_out, grad_x, n, oh, ow, h_lo, h_hi, w_lo, w_hi, c, n_channels - c,
                                     mode, disjoint, reciprocal)
        if disjoint:
            # Rows after the task's last window: a gap before the next band, or the rows 'valid' leaves over.
            _zero_cells(grad_x, n, next_row, band_hi, 0, in_w)
        task = next_task(job, task)
