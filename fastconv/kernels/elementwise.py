"""Elementwise kernels: the ReLU and its gradient, and the error function (``gelu``'s), over flat arrays.

Kernels only: ``fastconv.ops`` passes contiguous 1-D views, preallocated.
One pass over memory, shared out in blocks of ``BLOCK`` elements between the
pool's threads (numpy's ``maximum`` runs on one thread).
"""

import math

from fastconv._jit import kernel
from fastconv.kernels.tasks import first_task, next_task

BLOCK = 1 << 14
"""Elements per task."""


@kernel
def _relu(job, x, out):
    """``out = max(x, 0)``, NaN kept as NaN (as ``numpy.maximum`` keeps it)."""
    size = x.shape[0]
    n_tasks = (size + BLOCK - 1) // BLOCK
    block = first_task(job, n_tasks)
    while block < n_tasks:
        start, stop = block * BLOCK, min(size, (block + 1) * BLOCK)
        source, target = x[start:stop], out[start:stop]
        for i in range(stop - start):
            v = source[i]
            target[i] = 0 if v < 0 else v
        block = next_task(job, block)


@kernel
def _relu_grad(job, x, grad_out, grad_x):
    """``grad_x = grad_out * (x >= 0)``: the gradient where the input is not negative, else ``grad_out * 0``."""
    size = x.shape[0]
    n_tasks = (size + BLOCK - 1) // BLOCK
    block = first_task(job, n_tasks)
    while block < n_tasks:
        start, stop = block * BLOCK, min(size, (block + 1) * BLOCK)
        source, grad, target = x[start:stop], grad_out[start:stop], grad_x[start:stop]
        for i in range(stop - start):
            target[i] = grad[i] * (1 if source[i] >= 0 else 0)
        block = next_task(job, block)


@kernel
def _erf(job, x, out):
    """``out = erf(x)`` (the C library's, through numba: numpy has none)."""
    size = x.shape[0]
    n_tasks = (size + BLOCK - 1) // BLOCK
    block = first_task(job, n_tasks)
    while block < n_tasks:
        start, stop = block * BLOCK, min(size, (block + 1) * BLOCK)
        source, target = x[start:stop], out[start:stop]
        for i in range(stop - start):
            target[i] = math.erf(source[i])
        block = next_task(job, block)
