"""Batch normalization kernels over the channel (last) axis: per-channel sums, normalisation, input gradient.

Kernels only: ``fastconv.ops`` checks the arguments and passes every array
preallocated, the data as 2-D ``(rows, C)`` views (every axis but the
channels flattened into rows). Each pass is one sweep over memory, split into
tasks of ``rows_per_task`` consecutive rows; a batch normalization is bound
by memory traffic, so what matters is the number of sweeps and that both
threads make them.

The sums are deterministic whatever the number of threads: task ``p`` always
sums the same rows, in order, into its own row ``p`` of the partial sums,
and the caller adds the partial sums up in order, in float64. A task sums a
vector of channels at a time down its few rows (the explicit SIMD values of
``fastconv.kernels.simd``, in registers: a sum kept in memory, one row at a
time, ran 4 times slower), so no chain of float32 additions is longer than
``rows_per_task``. Sums of values are taken about a center (the caller's: a
row of the data, or the mean), so that a large mean does not swamp them.
"""

from fastconv._jit import kernel
from fastconv.kernels.pooling import _load
from fastconv.kernels.simd import lanes_of, vadd, vfma, vstore_first, vzeros
from fastconv.kernels.tasks import first_task, next_task


@kernel
def _channel_sums(job, x, negated_center, partial_sum, partial_squares, rows_per_task):
    """Per task ``p``: ``partial_sum[p, c]`` and ``partial_squares[p, c]``, the sums of ``d = x[r, c] - center[c]``
    and of ``d * d`` over its rows.

    ``x`` ``(R, C)``; ``negated_center`` ``(C,)`` is ``-center`` (of ``x``'s dtype); the partial sums are
    ``(P, C)`` with ``P = ceil(R / rows_per_task)``, overwritten.
    """
    n_rows, channels = x.shape
    lanes = lanes_of(x)
    n_tasks = partial_sum.shape[0]
    task = first_task(job, n_tasks)
    while task < n_tasks:
        first, end = task * rows_per_task, min(n_rows, (task + 1) * rows_per_task)
        for c in range(0, channels, lanes):
            count = channels - c
            shift = _load(negated_center, c, count)
            total, squares = vzeros(x), vzeros(x)
            for r in range(first, end):
                d = vadd(_load(x, r * channels + c, count), shift)
                total = vadd(total, d)
                squares = vfma(d, d, squares)
            vstore_first(partial_sum, task * channels + c, total, count)
            vstore_first(partial_squares, task * channels + c, squares, count)
        task = next_task(job, task)


@kernel
def _gradient_sums(job, x, grad_out, negated_mean, partial_grad, partial_product, rows_per_task):
    """Per task ``p``: ``partial_grad[p, c]``, the sum of ``grad_out[r, c]``, and ``partial_product[p, c]``, that of
    ``grad_out[r, c] * (x[r, c] - mean[c])``, over its rows (``(P, C)``, overwritten; ``negated_mean`` is
    ``-mean``)."""
    n_rows, channels = x.shape
    lanes = lanes_of(x)
    n_tasks = partial_grad.shape[0]
    task = first_task(job, n_tasks)
    while task < n_tasks:
        first, end = task * rows_per_task, min(n_rows, (task + 1) * rows_per_task)
        for c in range(0, channels, lanes):
            count = channels - c
            shift = _load(negated_mean, c, count)
            total, products = vzeros(x), vzeros(x)
            for r in range(first, end):
                g = _load(grad_out, r * channels + c, count)
                total = vadd(total, g)
                products = vfma(g, vadd(_load(x, r * channels + c, count), shift), products)
            vstore_first(partial_grad, task * channels + c, total, count)
            vstore_first(partial_product, task * channels + c, products, count)
        task = next_task(job, task)


@kernel
def _normalize(job, x, mean, multiplier, offset, out, rows_per_task):
    """``out[r, c] = (x[r, c] - mean[c]) * multiplier[c] + offset[c]`` (float32; ``out`` may be ``x``)."""
    n_rows, channels = x.shape
    n_tasks = (n_rows + rows_per_task - 1) // rows_per_task
    task = first_task(job, n_tasks)
    while task < n_tasks:
        for r in range(task * rows_per_task, min(n_rows, (task + 1) * rows_per_task)):
            row, out_row = x[r], out[r]
            for c in range(channels):
                out_row[c] = (row[c] - mean[c]) * multiplier[c] + offset[c]
        task = next_task(job, task)


@kernel
def _grad_inputs(job, x, grad_out, mean, inv_std, grad_sum, product_sum, factor, count, grad_x, rows_per_task):
    """The input gradient of a normalisation by the batch's own statistics:
    ``grad_x = (count * g - grad_sum - xhat * product_sum) * factor`` per channel, with
    ``xhat = (x - mean) * inv_std``, ``grad_sum`` the sum of ``g`` and ``product_sum`` that of ``g * xhat``
    over the rows, and ``factor = gamma * inv_std / count`` (all ``(C,)`` float32 but ``count``)."""
    n_rows, channels = x.shape
    n_tasks = (n_rows + rows_per_task - 1) // rows_per_task
    task = first_task(job, n_tasks)
    while task < n_tasks:
        for r in range(task * rows_per_task, min(n_rows, (task + 1) * rows_per_task)):
            row, grad_row, out_row = x[r], grad_out[r], grad_x[r]
            for c in range(channels):
                normalized = (row[c] - mean[c]) * inv_std[c]
                out_row[c] = (grad_row[c] * count - grad_sum[c] - normalized * product_sum[c]) * factor[c]
        task = next_task(job, task)
