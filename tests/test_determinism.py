"""Results are bitwise identical run to run, for any number of threads, and when called from several Python threads."""

from concurrent.futures import ThreadPoolExecutor

import numpy as np

import reference
from fastconv import ops, parallel


def _workloads(dtype):
    """Named calls returning tuples of arrays; the batch of 20 spans all 16 kernel-gradient chunks unevenly
    (and, with 70 filters in several channel blocks, in fewer chunks)."""
    rng = np.random.default_rng(7)
    x = reference.random(rng, (20, 9, 8, 5), dtype)
    w = reference.random(rng, (3, 3, 5, 6), dtype)
    bias = reference.random(rng, (6,), dtype)
    g_same = reference.random(rng, (20, 9, 8, 6), dtype)
    g_strided = reference.random(rng, (20, 4, 3, 6), dtype)
    w_wide, g_wide = reference.random(rng, (3, 3, 5, 70), dtype), reference.random(rng, (20, 9, 8, 70), dtype)
    out_relu = ops.conv_bias_activation(x, w, bias, padding="same", activation="relu")
    g_max = reference.random(rng, (20, 5, 4, 5), dtype)
    g_avg = reference.random(rng, (20, 8, 7, 5), dtype)
    x_flat = x.reshape(20, -1)
    w_dense, g_dense = reference.random(rng, (360, 37), dtype), reference.random(rng, (20, 37), dtype)
    # One image large enough that its pooling is several tasks, and the textbook CNN's Dense layers at
    # batch 32 (rows of 8 per task, and 16 for the last vector of columns).
    image = reference.random(rng, (1, 64, 64, 40), dtype)
    h, w_h = reference.random(rng, (32, 3136), dtype), reference.random(rng, (3136, 100), dtype)
    g_h = reference.random(rng, (32, 100), dtype)
    w_out, g_out = reference.random(rng, (100, 10), dtype), reference.random(rng, (32, 10), dtype)
    moments, g_x = ops.channel_moments(x), reference.random(rng, x.shape, dtype)
    g_transpose = reference.random(rng, (20, 8, 6, 5), dtype)
    return {
        "conv": lambda: (ops.conv(x, w, 1, "same"),),
        "conv_strided": lambda: (ops.conv(x, w, 2, "valid"),),
        "conv_dilated": lambda: (ops.conv(x, w, 1, "same", dilation_rate=2),),
        "conv_grad": lambda: ops.conv_grad(x, w, g_same, 1, "same"),
        "conv_grad_strided": lambda: ops.conv_grad(x, w, g_strided, 2, "valid"),
        "conv_grad_wide": lambda: ops.conv_grad(x, w_wide, g_wide, 1, "same"),
        "conv_bias_relu_grad": lambda: ops.conv_bias_activation_grad(
            x, w, out_relu, g_same, padding="same", activation="relu"),
        "max_pool": lambda: (ops.max_pool(x, 3, 2, "same"),),
        "max_pool_grad": lambda: (ops.max_pool_grad(x, g_max, 3, 2, "same"),),  # overlapping windows
        "average_pool_grad": lambda: (ops.average_pool_grad(x, g_avg, 2, 1, "valid"),),
        "dense": lambda: (ops.dense(x_flat, w_dense, bias[:1].repeat(37)),),
        "dense_grad": lambda: ops.dense_grad(x_flat, w_dense, g_dense),
        "max_pool_one_image": lambda: (ops.max_pool(image, 3, 2, "same"), ops.average_pool(image, 3, 1, "same")),
        "max_pool_grad_one_image": lambda: (ops.max_pool_grad(image, image, 3, 1, "same"),),
        "dense_textbook": lambda: (ops.dense(h, w_h),) + ops.dense_grad(h, w_h, g_h),
        "dense_textbook_output": lambda: ops.dense_grad(g_h, w_out, g_out),
        "batch_normalization": lambda: (ops.channel_moments(g_wide)
                                        + (ops.batch_normalization(x, *moments, None, bias[:5]),)
                                        + ops.batch_normalization_grad(x, g_x, *moments, bias[:5])),
        "relu": lambda: (ops.relu(g_wide), ops.relu_grad(g_wide, g_wide[::-1].copy())),
        # Its bias gradient sums the output gradient's 960 rows on the pool's threads, 64 rows a task.
        "conv_transpose_grad": lambda: ops.conv_transpose_bias_activation_grad(g_strided, w, None, g_transpose, 2,
                                                                               "same"),
    }


def _assert_bitwise_equal(results, expected):
    assert len(results) == len(expected)
    for actual, wanted in zip(results, expected):
        assert actual.dtype == wanted.dtype and actual.shape == wanted.shape
        assert actual.tobytes() == wanted.tobytes()


def test_repeated_runs_are_bitwise_identical(dtype):
    for call in _workloads(dtype).values():
        first = call()
        for _ in range(3):
            _assert_bitwise_equal(call(), first)


def test_any_number_of_threads_gives_bitwise_identical_results(dtype, restore_threads):
    # More threads than this machine has CPUs too: the pool's helpers then take turns on the cores,
    # and which of them computes a task changes nothing.
    workloads = _workloads(dtype)
    parallel.set_num_threads(1)
    single = {name: call() for name, call in workloads.items()}
    for threads in (2, 3, 8, 16):
        parallel.set_num_threads(threads)
        for name, call in workloads.items():
            _assert_bitwise_equal(call(), single[name])


def test_calls_from_python_threads_match_serial_calls(dtype):
    workloads = _workloads(dtype)
    serial = {name: call() for name, call in workloads.items()}  # compiles everything first
    jobs = list(workloads) * 4
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda name: workloads[name](), jobs))
    for name, result in zip(jobs, results):
        _assert_bitwise_equal(result, serial[name])
