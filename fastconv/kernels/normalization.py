"""Kernels over the channel (last) axis: per-channel sums (a bias's gradient, batch normalization's statistics),
batch normalization and its input gradient.

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
``rows_per_task``. Sums of values are taken about a center (the task's own
mean for the moments, the batch's mean for the gradients), so that a large
mean does not swamp them.
"""

from fastconv._jit import helper, kernel
from fastconv.kernels.pooling import _load
from fastconv.kernels.simd import lanes_of, vadd, vbroadcast, vfma, vmul, vrelu, vrelu_grad, vstore_first, vzeros
from fastconv.kernels.tasks import first_task, next_task


@helper
def _normalized(x, offset, negated_mean, multiplier, shift, count):
    """``(x - mean) * multiplier + shift`` of the vector of ``x`` at ``offset`` (channels from ``c``, whose
    ``-mean``, ``multiplier`` and ``shift`` vectors are passed): one fused multiply-add after the subtraction,
    the same in every kernel here, so a ReLU's mask computed again in the backward pass is the forward's."""
    return vfma(vadd(_load(x, offset, count), negated_mean), multiplier, shift)


@helper
def _gradient(x, grad_out, offset, negated_mean, multiplier, shift, count, relu):
    """The output gradient's vector at ``offset``; with ``relu``, the gradient before a ReLU that followed the
    normalisation (``grad * (z >= 0)``, ``z`` the normalised value)."""
    g = _load(grad_out, offset, count)
    if relu:
        g = vrelu_grad(g, _normalized(x, offset, negated_mean, multiplier, shift, count))
    return g


@helper
def _rows_sum(x, first, end, c, count):
    """The sum of rows ``first .. end`` of ``x`` ``(R, C)``, channels ``c`` to ``c + count`` (at most a vector),
    in row order."""
    total = vzeros(x)
    for r in range(first, end):
        total = vadd(total, _load(x, r * x.shape[1] + c, count))
    return total


@kernel
def _channel_totals(job, x, partial_sum, rows_per_task):
    """Per task ``p``: ``partial_sum[p, c]``, the sum of ``x[r, c]`` over its rows (``(P, C)``, overwritten)."""
    n_rows, channels = x.shape
    lanes = lanes_of(x)
    n_tasks = partial_sum.shape[0]
    task = first_task(job, n_tasks)
    while task < n_tasks:
        first, end = task * rows_per_task, min(n_rows, (task + 1) * rows_per_task)
        for c in range(0, channels, lanes):
            vstore_first(partial_sum, task * channels + c, _rows_sum(x, first, end, c, channels - c), channels - c)
        task = next_task(job, task)


@kernel
def _channel_moments(job, x, negated_inverse_rows, negated_centers, partial_sum, partial_square, rows_per_task):
    """Per task ``p`` (``rows_per_task`` consecutive rows; ``negated_inverse_rows[p]`` is minus the reciprocal
    of their number): ``negated_centers[p, c]``, minus the mean of its rows as float32 rounds it, then
    ``partial_sum[p, c]`` and ``partial_square[p, c]``, the sums of their deviations from that mean and of
    the squares (``(P, C)`` arrays, overwritten). The second sweep of a task's rows finds them in the cache:
    one pass over memory, and deviations from the mean of at most 64 rows, which neither a large common mean
    nor an outlying row swamps (the caller combines the tasks' moments in float64)."""
    n_rows, channels = x.shape
    lanes = lanes_of(x)
    n_tasks = partial_sum.shape[0]
    task = first_task(job, n_tasks)
    while task < n_tasks:
        first, end = task * rows_per_task, min(n_rows, (task + 1) * rows_per_task)
        negated_inverse = vbroadcast(negated_inverse_rows, task)
        for c in range(0, channels, lanes):
            count = channels - c
            negated_center = vmul(_rows_sum(x, first, end, c, count), negated_inverse)
            total, squares = vzeros(x), vzeros(x)
            for r in range(first, end):
                deviation = vadd(_load(x, r * channels + c, count), negated_center)
                total = vadd(total, deviation)
                squares = vfma(deviation, deviation, squares)
            vstore_first(negated_centers, task * channels + c, negated_center, count)
            vstore_first(partial_sum, task * channels + c, total, count)
            vstore_first(partial_square, task * channels + c, squares, count)
        task = next_task(job, task)


@kernel
def _combined_moments(job, negated_centers, partial_sum, partial_square, task_rows, mean, variance):
    """One task: the ``mean`` and biased ``variance`` (``(C,)``, float64, overwritten) of all the rows, from
    :func:`_channel_moments`' partial results and each task's number of rows (``task_rows``, ``(P,)``):
    the tasks' means weighted by their rows, then the sum of the tasks' squared deviations plus the spread
    of their means about the mean (Chan, Golub and LeVeque), in float64, task by task in order."""
    task = first_task(job, 1)
    while task < 1:
        n_tasks, channels = partial_sum.shape
        count = 0.0
        for p in range(n_tasks):
            count += task_rows[p]
        mean[:] = 0.0
        variance[:] = 0.0
        for p in range(n_tasks):
            for c in range(channels):
                mean[c] += task_rows[p] * (partial_sum[p, c] / task_rows[p] - negated_centers[p, c])
        for c in range(channels):
            mean[c] /= count
        for p in range(n_tasks):
            for c in range(channels):
                task_mean = partial_sum[p, c] / task_rows[p] - negated_centers[p, c]
                spread = task_mean - mean[c]
                variance[c] += (partial_square[p, c] - partial_sum[p, c] * (partial_sum[p, c] / task_rows[p])
                                + task_rows[p] * spread * spread)
        for c in range(channels):
            variance[c] = max(variance[c] / count, 0.0)
        task = next_task(job, task)


@kernel
def _channel_sums(job, x, grad_out, negated_mean, multiplier, shift, partial_sum, partial_product, rows_per_task,
                  relu):
    """Per task ``p``: ``partial_sum[p, c]``, the sum of the output gradient ``g[r, c]``, and
    ``partial_product[p, c]``, that of ``g[r, c] * (x[r, c] - mean[c])``, over its rows (``(P, C)`` with
    ``P = ceil(R / rows_per_task)``, overwritten; ``negated_mean`` is ``-mean``). With ``relu``, ``g`` is the
    gradient before the ReLU of ``(x - mean) * multiplier + shift``."""
    n_rows, channels = x.shape
    lanes = lanes_of(x)
    n_tasks = partial_sum.shape[0]
    task = first_task(job, n_tasks)
    while task < n_tasks:
        first, end = task * rows_per_task, min(n_rows, (task + 1) * rows_per_task)
        for c in range(0, channels, lanes):
            count = channels - c
            center, scale, offset = (_load(negated_mean, c, count), _load(multiplier, c, count),
                                     _load(shift, c, count))
            total, products = vzeros(x), vzeros(x)
            for r in range(first, end):
                at = r * channels + c
                g = _gradient(x, grad_out, at, center, scale, offset, count, relu)
                total = vadd(total, g)
                products = vfma(g, vadd(_load(x, at, count), center), products)
            vstore_first(partial_sum, task * channels + c, total, count)
            vstore_first(partial_product, task * channels + c, products, count)
        task = next_task(job, task)


@kernel
def _normalize(job, x, negated_mean, multiplier, shift, out, rows_per_task, relu):
    """``out = (x - mean) * multiplier + shift`` per channel, through a ReLU with ``relu`` (NaN stays NaN);
    ``negated_mean`` is ``-mean``."""
    n_rows, channels = x.shape
    lanes = lanes_of(x)
    n_tasks = (n_rows + rows_per_task - 1) // rows_per_task
    task = first_task(job, n_tasks)
    while task < n_tasks:
        for c in range(0, channels, lanes):
            count = channels - c
            center, scale, offset = (_load(negated_mean, c, count), _load(multiplier, c, count),
                                     _load(shift, c, count))
            for r in range(task * rows_per_task, min(n_rows, (task + 1) * rows_per_task)):
                z = _normalized(x, r * channels + c, center, scale, offset, count)
                if relu:
                    z = vrelu(z)
                vstore_first(out, r * channels + c, z, count)
        task = next_task(job, task)


@kernel
def _grad_inputs(job, x, grad_out, negated_mean, multiplier, shift, inv_std, counts, negated_grad_sum,
                 negated_product_sum, factor, grad_x, rows_per_task, relu):
    """The input gradient of a normalisation by the batch's own statistics, per channel:
    ``grad_x = (count * g - grad_sum - xhat * product_sum) * factor`` with ``xhat = (x - mean) * inv_std``,
    ``grad_sum`` the sum of ``g`` and ``product_sum`` that of ``g * xhat`` over the rows, and
    ``factor = gamma * inv_std / count``. Every argument but the arrays of rows is ``(C,)``: ``counts`` holds
    the count, the sums come negated. ``g`` as in :func:`_channel_sums` (an output gradient)."""
    n_rows, channels = x.shape
    lanes = lanes_of(x)
    n_tasks = (n_rows + rows_per_task - 1) // rows_per_task
    task = first_task(job, n_tasks)
    while task < n_tasks:
        for c in range(0, channels, lanes):
            n = channels - c
            center, scale, offset = _load(negated_mean, c, n), _load(multiplier, c, n), _load(shift, c, n)
            inv, count, minus_sum_g, minus_sum_p, f = (_load(inv_std, c, n), _load(counts, c, n),
                                                       _load(negated_grad_sum, c, n),
                                                       _load(negated_product_sum, c, n), _load(factor, c, n))
            for r in range(task * rows_per_task, min(n_rows, (task + 1) * rows_per_task)):
                at = r * channels + c
                g = _gradient(x, grad_out, at, center, scale, offset, n, relu)
                normalized = vmul(vadd(_load(x, at, n), center), inv)
                value = vfma(g, count, vfma(normalized, minus_sum_p, minus_sum_g))
                vstore_first(grad_x, at, vmul(value, f), n)
        task = next_task(job, task)
