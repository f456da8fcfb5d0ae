"""Max and average pooling, forward and backward: against the numpy reference, finite differences and PyTorch."""

import tracemalloc

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st

import reference
from fastconv import ops, shapes

POOLS = [(1, 1), (2, 2), (3, 3), (2, 3), (3, 1)]
STRIDES = [None, 1, 2, 3, (1, 2), (3, 1)]  # None (= pool_size), overlapping and gapped windows
SIZES = [(7, 8), (6, 5)]
PADDINGS = ["valid", "same"]

OPS = {
    "max": (ops.max_pool, ops.max_pool_grad, reference.max_pool, reference.max_pool_grad),
    "average": (ops.average_pool, ops.average_pool_grad, reference.average_pool, reference.average_pool_grad),
}


def _pool_data(rng, dtype, mode, shape):
    """Max pooling gets small integers, so windows are full of ties that the first-maximum rule must break."""
    if mode == "max":
        return rng.integers(-2, 3, shape).astype(dtype)
    return reference.random(rng, shape, dtype)


def _check_against_reference(rng, dtype, mode, x, pool_size, strides, padding):
    forward, backward, ref_forward, ref_backward = OPS[mode]
    out = forward(x, pool_size, strides, padding)
    reference.assert_close(out, ref_forward(x, pool_size, strides, padding), dtype)
    g = reference.random(rng, out.shape, dtype)
    reference.assert_close(backward(x, g, pool_size, strides, padding),
                           ref_backward(x, g, pool_size, strides, padding), dtype)


# ----------------------------------------------------------------------------- against the reference


@pytest.mark.parametrize("padding", PADDINGS)
@pytest.mark.parametrize("strides", STRIDES, ids=str)
@pytest.mark.parametrize("pool_size", POOLS, ids=str)
@pytest.mark.parametrize("size", SIZES, ids=str)
@pytest.mark.parametrize("mode", OPS)
def test_pool_matches_reference(rng, dtype, mode, size, pool_size, strides, padding):
    x = _pool_data(rng, dtype, mode, (2, *size, 3))
    _check_against_reference(rng, dtype, mode, x, pool_size, strides, padding)


@pytest.mark.bounds
@pytest.mark.parametrize("case", [
    dict(size=(7, 8), pool_size=(3, 3), strides=2, padding="same"),
    dict(size=(6, 5), pool_size=(2, 3), strides=(1, 2), padding="same"),
    dict(size=(5, 7), pool_size=(3, 2), strides=(1, 1), padding="valid"),
    dict(size=(8, 7), pool_size=(2, 2), strides=3, padding="same"),
    dict(size=(4, 9), pool_size=(4, 4), strides=(2, 3), padding="valid"),
], ids=str)
@pytest.mark.parametrize("mode", OPS)
def test_pool_edge_geometries(rng, dtype, mode, case):
    """Windows clipped at every edge, overlapping and gapped (also rerun under NUMBA_BOUNDSCHECK=1)."""
    x = _pool_data(rng, dtype, mode, (2, *case["size"], 3))
    _check_against_reference(rng, dtype, mode, x, case["pool_size"], case["strides"], case["padding"])


@pytest.mark.parametrize("channels", [1, 7, 8, 15, 16, 17, 33, 64])
@pytest.mark.parametrize("case", [
    dict(pool_size=2, strides=None, padding="valid"),  # disjoint windows: written once
    dict(pool_size=3, strides=1, padding="same"),  # overlapping windows: added up
], ids=str)
@pytest.mark.parametrize("mode", OPS)
def test_pool_channel_vectors_and_tails(rng, dtype, mode, case, channels):
    """Channel counts below, at and across the vector widths (8 and 16 float32 lanes, 4 and 8 float64):
    the kernels work a vector of channels at a time and mask the last one."""
    x = _pool_data(rng, dtype, mode, (2, 5, 6, channels))
    _check_against_reference(rng, dtype, mode, x, case["pool_size"], case["strides"], case["padding"])


@pytest.mark.bounds
@pytest.mark.parametrize("case", [
    dict(size=(8, 7), pool_size=2, strides=3, padding="valid"),  # gaps, and a leftover column
    dict(size=(5, 6), pool_size=1, strides=2, padding="valid"),  # 1x1 windows, every other row and column
    dict(size=(9, 9), pool_size=2, strides=2, padding="valid"),  # 2x2 windows, a leftover row and column
    dict(size=(7, 9), pool_size=2, strides=2, padding="same"),  # 2x2 windows and clipped ones
    dict(size=(7, 8), pool_size=3, strides=3, padding="same"),  # pad_top 1: the first windows start at row 0
    dict(size=(10, 11), pool_size=(2, 3), strides=(4, 5), padding="same"),  # gaps, pad_top 0, pad_left 1
    dict(size=(9, 8), pool_size=(2, 3), strides=(2, 1), padding="valid"),  # disjoint rows, overlapping columns
    dict(size=(7, 7), pool_size=3, strides=2, padding="same"),  # overlapping rows: one task per image
], ids=str)
@pytest.mark.parametrize("mode", OPS)
def test_pool_grad_writes_every_cell(rng, dtype, mode, case, monkeypatch):
    """The input gradient comes from ``np.empty`` and the kernel must write all of it, zeros included.

    ``np.empty`` often returns zeroed memory, which would hide a cell left
    unwritten; here it returns NaN everywhere instead.
    """
    empty = np.empty

    def nan_filled(shape, dtype=float, *args, **kwargs):
        array = empty(shape, dtype, *args, **kwargs)
        if array.dtype.kind == "f":
            array.fill(np.nan)
        return array

    x = _pool_data(rng, dtype, mode, (3, *case["size"], 5))
    monkeypatch.setattr(np, "empty", nan_filled)
    _check_against_reference(rng, dtype, mode, x, case["pool_size"], case["strides"], case["padding"])


@pytest.mark.parametrize("pool_size, strides", [
    (10**6, None), (2**31, None), (10**6, 1), ((2**31, 3), 1), ((5, 10**9), (2, 10**9)), (2**70, 2**70),
], ids=str)
@pytest.mark.parametrize("mode", OPS)
def test_pool_far_larger_than_the_image_costs_what_the_image_does(rng, dtype, mode, pool_size, strides):
    """'same' pooling with a pool or stride far beyond the image: what it allocates follows the image.

    Every such window is clipped to the whole image along that axis, as with any pool or stride of at least
    twice the image (17 here), which the reference computes. (The average pooling's table of reciprocals had
    pool_h * pool_w entries: pool 10**6 raised MemoryError; 2**31 asked for 8.4 GB.)
    """
    x = _pool_data(rng, dtype, mode, (2, 8, 7, 3))
    forward, backward, ref_forward, ref_backward = OPS[mode]
    small_pool = tuple(min(v, 17) for v in reference.pair(pool_size))
    small_strides = small_pool if strides is None else tuple(min(v, 17) for v in reference.pair(strides))
    g = reference.random(rng, ref_forward(x, small_pool, small_strides, "same").shape, dtype)
    backward(x, forward(x, 2, 2, "same"), 2, 2, "same")  # compiled (or loaded) before memory is traced
    tracemalloc.start()
    try:
        out = forward(x, pool_size, strides, "same")
        grad = backward(x, g, pool_size, strides, "same")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 100_000
    reference.assert_close(out, ref_forward(x, small_pool, small_strides, "same"), dtype)
    reference.assert_close(grad, ref_backward(x, g, small_pool, small_strides, "same"), dtype)


@pytest.mark.bounds
@pytest.mark.parametrize("mode", OPS)
def test_pool_of_one_image_in_several_tasks(rng, dtype, mode):
    """One 40x40x33 image, 3x3 windows at stride 1: its 40 output rows are three forward tasks (14, 14 and 12
    rows; see ``ops._pool_geometry``), the last one shorter (also rerun under NUMBA_BOUNDSCHECK=1)."""
    assert ops._pool_geometry((1, 40, 40, 33), 3, 1, "same")[6] == (14, 40)
    x = _pool_data(rng, dtype, mode, (1, 40, 40, 33))
    _check_against_reference(rng, dtype, mode, x, 3, 1, "same")


def test_strides_default_to_pool_size(rng):
    x = reference.random(rng, (1, 6, 6, 2))
    np.testing.assert_array_equal(ops.max_pool(x, (3, 2)), ops.max_pool(x, (3, 2), (3, 2)))
    np.testing.assert_array_equal(ops.average_pool(x, 2), ops.average_pool(x, 2, 2))


def test_max_pool_tie_goes_to_first_maximum_in_row_major_order():
    x = np.array([[1.0, 5.0, 5.0], [5.0, 2.0, 5.0], [0.0, 5.0, 5.0]]).reshape(1, 3, 3, 1)
    grad = ops.max_pool_grad(x, np.ones((1, 1, 1, 1)), 3)
    expected = np.zeros((3, 3))
    expected[0, 1] = 1
    np.testing.assert_array_equal(grad[0, :, :, 0], expected)


def test_overlapping_max_pool_windows_accumulate():
    x = np.array([[0.0, 0.0, 0.0], [0.0, 9.0, 0.0], [0.0, 0.0, 0.0]]).reshape(1, 3, 3, 1)
    g = np.array([[1.0, 2.0], [3.0, 4.0]]).reshape(1, 2, 2, 1)
    grad = ops.max_pool_grad(x, g, 2, strides=1)
    assert grad[0, 1, 1, 0] == 10 and grad.sum() == 10


def test_max_pool_never_picks_a_padded_cell():
    """All real cells negative: a padded zero would win if it were a candidate."""
    x = -np.arange(1.0, 10.0).reshape(1, 3, 3, 1)
    out = ops.max_pool(x, 2, padding="same")  # total padding 1: one row/column at the bottom/right
    np.testing.assert_array_equal(out[0, :, :, 0], [[-1, -3], [-7, -9]])
    grad = ops.max_pool_grad(x, np.ones_like(out), 2, padding="same")
    np.testing.assert_array_equal(grad[0, :, :, 0], [[1, 0, 1], [0, 0, 0], [1, 0, 1]])


def test_average_pool_same_divides_by_real_cells():
    x = np.arange(9.0).reshape(1, 3, 3, 1)
    out = ops.average_pool(x, 2, padding="same")
    np.testing.assert_array_equal(out[0, :, :, 0], [[(0 + 1 + 3 + 4) / 4, (2 + 5) / 2], [(6 + 7) / 2, 8]])
    grad = ops.average_pool_grad(x, np.ones_like(out), 2, padding="same")
    np.testing.assert_array_equal(grad[0, :, :, 0], [[0.25, 0.25, 0.5], [0.25, 0.25, 0.5], [0.5, 0.5, 1]])


def test_max_pool_nan_wins_and_takes_the_gradient():
    x = np.array([[1.0, np.nan], [np.nan, 7.0]]).reshape(1, 2, 2, 1)
    assert np.isnan(ops.max_pool(x, 2)).all()
    grad = ops.max_pool_grad(x, np.ones((1, 1, 1, 1)), 2)
    np.testing.assert_array_equal(grad[0, :, :, 0], [[0, 1], [0, 0]])


# ----------------------------------------------------------------------------- property tests


@st.composite
def pool_cases(draw):
    padding = draw(st.sampled_from(PADDINGS))
    pool_size = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    strides = draw(st.one_of(st.none(), st.tuples(st.integers(1, 4), st.integers(1, 4))))
    smallest = pool_size if padding == "valid" else (1, 1)
    size = tuple(draw(st.integers(low, low + 6)) for low in smallest)
    return dict(
        shape=(draw(st.integers(0, 2)), *size, draw(st.integers(1, 3))), pool_size=pool_size,
        strides=strides, padding=padding, mode=draw(st.sampled_from(sorted(OPS))),
        dtype=np.dtype(draw(st.sampled_from([np.float32, np.float64]))), seed=draw(st.integers(0, 2**32 - 1)),
    )


@given(pool_cases())
def test_pool_property(case):
    rng = np.random.default_rng(case["seed"])
    pool_size, strides, padding = case["pool_size"], case["strides"], case["padding"]
    x = _pool_data(rng, case["dtype"], case["mode"], case["shape"])
    out = OPS[case["mode"]][0](x, pool_size, strides, padding)
    assert out.shape == shapes.conv_output_shape(
        x.shape, pool_size, x.shape[3], pool_size if strides is None else strides, padding)
    _check_against_reference(rng, case["dtype"], case["mode"], x, pool_size, strides, padding)


# ----------------------------------------------------------------------------- finite differences (float64)


GRAD_CASES = [((2, 2), None, "valid"), ((3, 3), 2, "same"), ((2, 3), 1, "same"), ((3, 2), (1, 2), "valid")]


@pytest.mark.parametrize("pool_size, strides, padding", GRAD_CASES, ids=str)
@pytest.mark.parametrize("mode", OPS)
def test_pool_grad_finite_differences(rng, mode, pool_size, strides, padding):
    forward, backward = OPS[mode][:2]
    # Distinct values 0.01 apart: no ties, and a 1e-6 step never changes which cell is the maximum.
    x = rng.permutation(2 * 5 * 6 * 2).reshape(2, 5, 6, 2) * 0.01
    g = reference.random(rng, forward(x, pool_size, strides, padding).shape)

    def loss():
        return np.sum(forward(x, pool_size, strides, padding) * g)

    np.testing.assert_allclose(backward(x, g, pool_size, strides, padding),
                               reference.numerical_gradient(loss, x), rtol=1e-6, atol=1e-8)


# ----------------------------------------------------------------------------- against PyTorch


def _torch_pool(mode, x, g, pool_size, strides, padding):
    """Value and input gradient from PyTorch autograd.

    'same' is an explicit asymmetric pad. Max pooling pads with -inf so a
    padded cell never wins; average pooling is a window sum divided by a
    window count of real cells (both as means over the padded window, whose
    sizes cancel), which is what Keras computes.
    """
    pool_size = reference.pair(pool_size)
    strides = pool_size if strides is None else reference.pair(strides)
    rows, cols, _ = reference.padded_geometry(x.shape, pool_size, strides, (1, 1), padding)
    xt = torch.tensor(x.transpose(0, 3, 1, 2), requires_grad=True)
    if mode == "max":
        out = F.max_pool2d(F.pad(xt, (*cols, *rows), value=-np.inf), pool_size, strides)
    else:
        ones = torch.ones_like(xt)
        out = (F.avg_pool2d(F.pad(xt, (*cols, *rows)), pool_size, strides)
               / F.avg_pool2d(F.pad(ones, (*cols, *rows)), pool_size, strides))
    out.backward(torch.tensor(g.transpose(0, 3, 1, 2)))
    return out.detach().numpy().transpose(0, 2, 3, 1), xt.grad.numpy().transpose(0, 2, 3, 1)


@pytest.mark.parametrize("padding", PADDINGS)
@pytest.mark.parametrize("strides", [None, 1, 2, (1, 2)], ids=str)
@pytest.mark.parametrize("pool_size", [(2, 2), (3, 3), (2, 3)], ids=str)
@pytest.mark.parametrize("mode", OPS)
def test_pool_matches_torch(rng, dtype, mode, pool_size, strides, padding):
    x = reference.random(rng, (2, 7, 6, 3), dtype)  # continuous values: no ties, where frameworks may differ
    forward, backward = OPS[mode][:2]
    out = forward(x, pool_size, strides, padding)
    g = reference.random(rng, out.shape, dtype)
    expected_out, expected_grad = _torch_pool(mode, x, g, pool_size, strides, padding)
    reference.assert_close(out, expected_out.astype(np.float64), dtype)
    reference.assert_close(backward(x, g, pool_size, strides, padding), expected_grad.astype(np.float64), dtype)
