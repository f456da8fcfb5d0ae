"""``fastconv.buffers``: arrays reused between training steps, never while anyone holds them."""

import os
import platform
import subprocess
import sys

import numpy as np
import pytest

from fastconv import buffers, ops


def test_released_array_is_reused_inside_reuse():
    with buffers.reuse():
        first = buffers.empty((64, 64), np.float32)
        first_id = id(first)
        del first
        assert id(buffers.empty((64, 64), np.float32)) == first_id


def test_held_arrays_and_views_are_never_reused():
    with buffers.reuse():
        held = buffers.empty((64, 64), np.float32)
        held[:] = 1
        assert buffers.empty((64, 64), np.float32) is not held
        view = buffers.empty((64, 64), np.float32)[::2]  # only the view is held, not the array it came from
        view[:] = 2
        for _ in range(3):
            assert not np.shares_memory(buffers.empty((64, 64), np.float32), view)
        assert (held == 1).all() and (view == 2).all()


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64, np.bool_])
@pytest.mark.parametrize("shape", [(3, 5), (0,), (2, 0, 3), (7,), (16, 28, 28, 32)])
def test_arrays_start_on_a_cache_line_pooled_or_not(shape, dtype):
    alignment = buffers.ALIGNMENT if np.prod(shape) else 1  # an array without elements has no memory to align
    fresh = buffers.zeros(shape, dtype)
    assert fresh.ctypes.data % alignment == 0
    assert fresh.shape == shape and fresh.dtype == dtype and fresh.flags.c_contiguous and fresh.flags.writeable
    assert not fresh.any()
    with buffers.reuse():
        for _ in range(3):
            pooled = buffers.empty(shape, dtype)
            assert pooled.ctypes.data % alignment == 0 and pooled.shape == shape and pooled.dtype == dtype
            pooled_id = id(pooled)
            del pooled
        assert id(buffers.empty(shape, dtype)) == pooled_id  # still reused


def test_negative_dimensions_are_an_error_as_in_numpy():
    for shape in ((-1,), (3, -2)):
        with pytest.raises(ValueError, match="negative dimensions"):
            buffers.empty(shape, np.float32)
        with pytest.raises(ValueError, match="negative dimensions"), buffers.reuse():
            buffers.zeros(shape, np.float32)


def test_other_shapes_and_dtypes_get_their_own_arrays():
    with buffers.reuse():
        a = buffers.empty((8, 8), np.float32)
        a_id = id(a)
        del a
        assert id(buffers.empty((8, 8), np.float64)) != a_id
        assert id(buffers.empty((4, 16), np.float32)) != a_id


def test_zeros_are_zero_even_when_reused():
    with buffers.reuse():
        a = buffers.empty(100, np.float32)
        a[:] = 7
        del a
        assert not buffers.zeros(100, np.float32).any()


def test_outside_reuse_arrays_are_new():
    a = buffers.empty((16,), np.float32)
    assert buffers.empty((16,), np.float32) is not a


def test_nested_blocks_share_the_outer_pool_and_pools_are_separate():
    pool = buffers.Pool()
    with buffers.reuse(pool):
        a = buffers.empty((32,), np.float32)
        a_id = id(a)
        del a
        with buffers.reuse():
            assert id(buffers.empty((32,), np.float32)) == a_id
        with buffers.reuse(buffers.Pool()):
            assert id(buffers.empty((32,), np.float32)) != a_id


def test_pool_keeps_at_most_its_byte_limit(monkeypatch):
    monkeypatch.setattr(buffers, "POOL_BYTES", 1000)
    pool = buffers.Pool()
    with buffers.reuse(pool):
        assert buffers.empty((2000,), np.uint8).shape == (2000,)
        small = buffers.empty((500,), np.uint8)
    assert pool._bytes == 500 and [len(a) for a in pool._arrays.values()] == [0, 1]
    assert pool._arrays[((500,), np.dtype(np.uint8))][0] is small


def test_ops_inside_reuse_match_fresh_results(rng):
    x = rng.standard_normal((4, 10, 10, 3), dtype=np.float32)
    w = rng.standard_normal((3, 3, 3, 5), dtype=np.float32)
    expected = [ops.conv(x, w, padding="same"), *ops.conv_grad(x, w, np.ones((4, 10, 10, 5), np.float32), 1, "same")]
    with buffers.reuse():
        kept = []
        for _ in range(3):
            result = [ops.conv(x, w, padding="same"),
                      *ops.conv_grad(x, w, np.ones((4, 10, 10, 5), np.float32), 1, "same")]
            kept.append(result)
    for result in kept:  # earlier results held across later steps are untouched
        for actual, wanted in zip(result, expected):
            assert actual.tobytes() == wanted.tobytes()


# A plain numpy loop that allocates three 4 MiB arrays and frees them 50 times, after a fit: glibc's own
# heuristic hands the memory back every round (the 12 MiB freed exceed its trim threshold), so each round
# faults its pages in again. fastconv leaves that behaviour alone; and fit's own steps fault no pages in.
_PROGRAM = """
import resource, sys
import numpy as np
from fastconv import keras
model = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Conv2D(16, 3, padding="same"),
                          keras.layers.MaxPooling2D(2), keras.layers.Flatten(), keras.layers.Dense(10)])
model.compile(optimizer="adam", loss="mse")
x, y = np.random.rand(32 * 40, 28, 28, 1), np.random.rand(32 * 40, 10)
model.fit(x[:64], y[:64], verbose=0)

class Faults(keras.callbacks.Callback):
    def on_train_batch_end(self, batch, logs=None):
        if batch in (5, 35):
            setattr(self, f"at_{batch}", resource.getrusage(resource.RUSAGE_SELF).ru_minflt)

faults = Faults()
model.fit(x, y, batch_size=32, verbose=0, callbacks=[faults])
print((faults.at_35 - faults.at_5) / 30)
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(50):
    arrays = [np.ones(1 << 20, np.float32) for _ in range(3)]
    del arrays
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


@pytest.mark.skipif(platform.system() != "Linux", reason="counts Linux page faults")
def test_training_reuses_memory_without_changing_malloc():
    result = subprocess.run([sys.executable, "-c", _PROGRAM], capture_output=True, text=True, timeout=600,
                            env=dict(os.environ, FASTCONV_NUM_THREADS="2"))
    assert result.returncode == 0, result.stderr
    per_step, plain_loop = (float(v) for v in result.stdout.split())
    page = os.sysconf("SC_PAGE_SIZE")
    one_activation = 32 * 28 * 28 * 16 * 4 / page  # pages of the first layer's output alone
    assert per_step < one_activation / 4, per_step
    # 150 arrays of 4 MiB, a good part of them faulted in afresh (with malloc tuned to keep freed memory,
    # only the first round's 3 would be): glibc's malloc was left alone.
    assert plain_loop > 25 * (4 << 20) / page, plain_loop
