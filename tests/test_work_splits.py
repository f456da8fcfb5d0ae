"""Kernels cut their work into enough tasks for a 16-core machine where the shapes allow it.

The task sizes follow from the shapes, never from the number of threads;
``tests/test_determinism.py`` checks that the results are bitwise identical
for any number of threads, on these shapes too.
"""

import numpy as np
import pytest

from fastconv import ops, parallel
from fastconv.kernels import simd, tasks


@pytest.fixture
def task_counts(monkeypatch):
    """``{kernel name: [tasks of each call]}`` for the kernel calls made during the test (run on one thread)."""
    counts = {}

    def run(kernel, *args, threads=None):
        job = np.zeros(tasks.JOB_SIZE, np.int64)
        job[tasks.THREADS] = 1
        kernel(job, *args)
        counts.setdefault(kernel.py_func.__name__, []).append(int(job[tasks.TOTAL]))

    monkeypatch.setattr(parallel, "run", run)
    return counts


@pytest.mark.parametrize("pool", [ops.max_pool, ops.average_pool])
def test_overlapping_pooling_of_one_large_image_is_shared_out(task_counts, pool):
    """Overlapping windows (3x3, stride 2) made the forward pass one task per image: one thread at batch 1.
    Each output cell is written by one task whatever the windows, so the 56 output rows of a 112x112x64
    image are cut into tasks of 5 rows (1.8 million window cells, about 130 thousand a task)."""
    x = np.ones((1, 112, 112, 64), np.float32)
    assert pool(x, 3, 2, "same").shape == (1, 56, 56, 64)
    assert task_counts["_pool2d_forward"] == [12]


def test_pooling_of_small_images_is_a_task_per_image(task_counts):
    """A 28x28x32 image (56 thousand window cells, 8 us on one core) stays one task: sharing it out costs
    more than it saves. So does a batch of them: one image per task is 32 tasks."""
    ops.max_pool(np.ones((1, 28, 28, 32), np.float32), 3, 2, "same")
    ops.max_pool(np.ones((32, 28, 28, 32), np.float32), 2)
    assert task_counts["_pool2d_forward"] == [1, 32]


def test_dense_forward_of_a_textbook_batch_is_cut_finer(task_counts):
    """32 x 3136 -> 100 units (the textbook CNN's Dense layer) was 6 + 2 tasks with AVX-512 (blocks of 16 rows
    x 2 vectors, and the last, partial vector of columns on its own); rows of 8 make 16 in one call (the last
    4 columns computed as the block of 2 vectors that ends at the kernel's last column)."""
    out = ops.dense(np.ones((32, 3136), np.float32), np.ones((3136, 100), np.float32))
    assert out.shape == (32, 100)
    rows = ops._matmul_rows_per_task(32, 100, 3136, np.float32)  # 8 with AVX-512, 16 with AVX2
    assert task_counts["_matmul_tiled"] == [-(-32 // rows) * -(-100 // (2 * simd.lanes(np.float32)))]
    assert simd.lanes(np.float32) != 16 or rows == 8


def test_dense_kernel_gradient_is_cut_finer_where_the_work_is_large(task_counts):
    """1000 x 128 units at batch 256: 48 kernel rows per task made 21 tasks; 24 rows make 42. A small layer
    (100 -> 10 units at batch 32, a few microseconds) stays in 3, as sharing it out would cost more."""
    ops.dense_grad(np.ones((256, 1000), np.float32), np.ones((1000, 128), np.float32),
                   np.ones((256, 128), np.float32), need_grad_inputs=False)
    ops.dense_grad(np.ones((32, 100), np.float32), np.ones((100, 10), np.float32), np.ones((32, 10), np.float32),
                   need_grad_inputs=False)
    assert task_counts["_matmul_tn_tiled"] == [42, 3]


def test_large_products_keep_large_tasks(task_counts):
    """Where there are tasks enough, they stay as large as before (fewer claims and tile set-ups)."""
    x, w, g = np.ones((512, 3136), np.float32), np.ones((3136, 128), np.float32), np.ones((512, 128), np.float32)
    ops.dense(x, w)
    ops.dense_grad(x, w, g, need_grad_inputs=False)
    assert task_counts["_matmul_tiled"] == [512 // 16 * -(-128 // (2 * simd.lanes(np.float32)))]
    assert task_counts["_matmul_tn_tiled"] == [-(-3136 // 48)]
