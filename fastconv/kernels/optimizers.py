"""Fused, in-place optimizer updates over flat weight arrays.

Kernels only: ``fastconv.optimizers`` computes the step's scalars (learning
rate, bias corrections) and passes contiguous 1-D views of a variable, its
gradient and its slots. One pass over memory replaces the half dozen numpy
temporaries that the same update written as array expressions allocates and
traverses; each element is computed with the same operations in the same
order as those expressions.
"""

import numpy as np

from fastconv._jit import kernel
from fastconv.kernels.tasks import first_task, next_task

BLOCK = 4096
"""Elements per task: large enough that a task outweighs its scheduling."""


@kernel
def _adam_update(job, weights, grad, momentum, velocity, velocity_hat, alpha, one_minus_beta_1, one_minus_beta_2,
                 epsilon, amsgrad):
    """One Adam step, in place on ``weights``, ``momentum``, ``velocity`` (and ``velocity_hat`` with amsgrad).

    ``m += (g - m) * (1 - beta_1)``, ``v += (g**2 - v) * (1 - beta_2)``, with
    amsgrad ``v_hat = max(v_hat, v)`` used in place of ``v``, then
    ``w -= m * alpha / (sqrt(v) + epsilon)``. The scalars must have the
    arrays' dtype, so that float32 weights are updated in float32.
    """
    size = weights.shape[0]
    n_tasks = (size + BLOCK - 1) // BLOCK
    block = first_task(job, n_tasks)
    while block < n_tasks:
        # Slices of one block: numba then emits a simple counted loop over them that LLVM
        # vectorises (indexing the whole arrays with a min() bound ran 7x slower, and so did
        # choosing the root with a conditional expression).
        start, stop = block * BLOCK, min(size, (block + 1) * BLOCK)
        w, g, m, v, v_hat = (weights[start:stop], grad[start:stop], momentum[start:stop], velocity[start:stop],
                             velocity_hat[start:stop])
        for i in range(stop - start):
            m[i] += (g[i] - m[i]) * one_minus_beta_1
            v[i] += (g[i] * g[i] - v[i]) * one_minus_beta_2
            root = np.sqrt(v[i])
            if amsgrad:
                v_hat[i] = max(v_hat[i], v[i])
                root = np.sqrt(v_hat[i])
            w[i] -= (m[i] * alpha) / (root + epsilon)
        block = next_task(job, block)
