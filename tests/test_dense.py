"""``ops.dense`` and ``ops.dense_grad`` (the Dense layer's matrix products) against the float64 loops of ``reference``.

float32 runs on the SIMD tiles of ``fastconv/kernels/dense.py``: the shapes
below cross every tile boundary (rows around the 8-pixel tiles and 16-row
tasks, columns around whole and half vectors, depths of 1 and the textbook's
3136). float64 runs on numpy's ``@``, so the reference adds the products one
at a time instead, and must agree to float64 rounding.
"""

import numpy as np
import pytest
from hypothesis import given, strategies as st

import reference
from fastconv import ops

SHAPES = [(rows, depth, units)
          for rows in (1, 7, 8, 17, 32, 33) for depth in (1, 5, 100) for units in (1, 15, 16, 17, 100)]
SHAPES += [(32, 3136, 100), (33, 64, 129), (3, 300, 48)]


def _arrays(rows, depth, units, dtype, seed=0):
    rng = np.random.default_rng(seed)
    return (reference.random(rng, (rows, depth), dtype), reference.random(rng, (depth, units), dtype),
            reference.random(rng, (units,), dtype), reference.random(rng, (rows, units), dtype))


def _expected(x, w, b, g):
    return (reference.dense(x, w, b), *reference.dense_grad(x, w, g))


def _assert_close(actual, expected, dtype, depth):
    """Within rounding of sums of ``depth`` products of values in [-1, 1]."""
    assert actual.dtype == dtype and actual.shape == expected.shape
    if dtype == np.float64:
        np.testing.assert_allclose(actual, expected, rtol=1e-12, atol=1e-15 * depth)
    else:  # float32 sums of `depth` products of values in [-1, 1]
        np.testing.assert_allclose(actual, expected, rtol=1e-5, atol=2e-6 * np.sqrt(depth) + 1e-6)


@pytest.mark.parametrize("rows,depth,units", SHAPES, ids=lambda v: str(v))
def test_dense_and_gradients_match_numpy(rows, depth, units, dtype):
    x, w, b, g = _arrays(rows, depth, units, dtype)
    y_expected, gx_expected, gw_expected, gb_expected = _expected(x, w, b, g)
    _assert_close(ops.dense(x, w, b), y_expected, dtype, depth)
    grad_inputs, grad_kernel, grad_bias = ops.dense_grad(x, w, g)
    _assert_close(grad_inputs, gx_expected, dtype, units)
    _assert_close(grad_kernel, gw_expected, dtype, rows)
    _assert_close(grad_bias, gb_expected, dtype, rows)


@given(rows=st.integers(1, 40), depth=st.integers(1, 70), units=st.integers(1, 70), seed=st.integers(0, 1000))
def test_dense_matches_numpy_on_drawn_shapes(rows, depth, units, seed):
    x, w, b, g = _arrays(rows, depth, units, np.float32, seed)
    y_expected, gx_expected, gw_expected, _ = _expected(x, w, b, g)
    _assert_close(ops.dense(x, w, b), y_expected, np.float32, depth)
    grad_inputs, grad_kernel, _ = ops.dense_grad(x, w, g)
    _assert_close(grad_inputs, gx_expected, np.float32, units)
    _assert_close(grad_kernel, gw_expected, np.float32, rows)


def test_dense_applies_to_the_last_axis_of_higher_rank_inputs():
    x, w, b, _ = _arrays(2 * 3 * 5, 7, 9, np.float32)
    x = x.reshape(2, 3, 5, 7)
    g = np.random.default_rng(1).standard_normal((2, 3, 5, 9)).astype(np.float32)
    y = ops.dense(x, w, b)
    _assert_close(y, reference.dense(x, w, b), np.float32, 7)
    gx_expected, gw_expected, gb_expected = reference.dense_grad(x, w, g)
    grad_inputs, grad_kernel, grad_bias = ops.dense_grad(x, w, g)
    _assert_close(grad_inputs, gx_expected, np.float32, 9)
    _assert_close(grad_kernel, gw_expected, np.float32, 30)
    _assert_close(grad_bias, gb_expected, np.float32, 30)


def test_dense_without_bias_and_without_input_gradient():
    x, w, _, g = _arrays(5, 6, 7, np.float32)
    np.testing.assert_allclose(ops.dense(x, w), x @ w, rtol=1e-5, atol=1e-6)
    grad_inputs, grad_kernel, _ = ops.dense_grad(x, w, g, need_grad_inputs=False)
    assert grad_inputs is None
    np.testing.assert_allclose(grad_kernel, x.T @ g, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dense_input_gradient_alone(dtype):
    x, w, _, g = _arrays(5, 6, 7, dtype)
    grad_inputs, grad_kernel, grad_bias = ops.dense_grad(x, w, g, need_grad_kernel=False)
    assert grad_kernel is None and grad_bias is None
    np.testing.assert_allclose(grad_inputs, ops.dense_grad(x, w, g)[0], rtol=0, atol=0)


def test_empty_batch():
    w = np.ones((4, 3), np.float32)
    assert ops.dense(np.zeros((0, 4), np.float32), w).shape == (0, 3)
    grad_inputs, grad_kernel, grad_bias = ops.dense_grad(np.zeros((0, 4), np.float32), w, np.zeros((0, 3)))
    assert grad_inputs.shape == (0, 4) and not grad_kernel.any() and not grad_bias.any()


@pytest.mark.parametrize("units,column", [(20, 17), (40, 9), (100, 70)])
def test_nan_and_inf_propagate_to_their_rows_and_columns_only(units, column):
    """With 40 and 100 units (AVX-512) the last columns are computed as the block of two vectors that ends at
    the kernel's last column, which reads ``column`` too: its infinity must stay in its own column."""
    x, w, b, _ = _arrays(9, 4, units, np.float32)
    x[3, 1] = np.nan
    w[2, column] = np.inf
    y = ops.dense(x, w, b)
    expected = reference.dense(x, w, b)
    rows = np.arange(9) != 3
    assert np.isnan(expected[3]).all() and np.isinf(expected[rows, column]).all()  # +-inf, the sign of x[n, 2]
    assert np.isfinite(np.delete(expected[rows], column, axis=1)).all()
    # NaN where NaN is expected, the same infinities, and every other value close:
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-5)


def test_dense_errors_name_the_argument():
    x = np.ones((2, 3), np.float32)
    with pytest.raises(ValueError, match=r"last axis of inputs must equal kernel.shape\[0\]. "
                                         r"Received: inputs.shape=\(2, 3\), kernel.shape=\(4, 5\)"):
        ops.dense(x, np.ones((4, 5), np.float32))
    with pytest.raises(ValueError, match=r"Invalid shape for argument `kernel`. Expected a 2-D array"):
        ops.dense(x, np.ones((3,), np.float32))
    with pytest.raises(ValueError,
                       match=r"Invalid shape for argument `bias`. Expected \(5,\). Received: bias.shape=\(4,\)"):
        ops.dense(x, np.ones((3, 5), np.float32), np.ones(4))
    with pytest.raises(ValueError, match=r"Invalid shape for argument `grad_output`. Expected \(2, 5\)"):
        ops.dense_grad(x, np.ones((3, 5), np.float32), np.ones((2, 4)))
    with pytest.raises(TypeError, match=r"Invalid dtype for argument `inputs`"):
        ops.dense(np.array([["a", "b", "c"]]), np.ones((3, 5), np.float32))
