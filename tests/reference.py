"""Slow, obviously right numpy references for convolution and pooling, written from the definitions.

Nothing here imports fastconv: the padding and output lengths are worked out
again from the definition of Keras's 'valid' and 'same' padding, so a mistake
in ``fastconv.shapes`` cannot hide in the reference too. Everything is
computed in float64 with plain Python loops over output pixels and window
taps; only the channel sums are left to numpy. The dense reference uses no
matrix product at all (fastconv's float64 Dense is numpy's ``@``).

The last section has the comparison helpers the tests share (tolerances by
dtype, random data).
"""

import numpy as np


# ----------------------------------------------------------------------------- padding, from the definition


def pair(value):
    """``value`` as a pair, as Keras accepts an int or a pair for every window argument."""
    return (value, value) if np.ndim(value) == 0 else tuple(value)


def pads(length, size, stride, dilation, padding):
    """``(before, after, out)`` along one axis.

    'valid' pads nothing, and ``out`` counts the window positions that fit.
    'same' produces ``ceil(length / stride)`` outputs and pads just enough zeros
    for the last window to fit, the smaller half before (top/left) and the
    larger half after (bottom/right).
    """
    extent = dilation * (size - 1) + 1
    if padding == "valid":
        out = 0
        while out * stride + extent <= length:
            out += 1
        return 0, 0, out
    out = -(-length // stride)
    total = max((out - 1) * stride + extent - length, 0)
    return total // 2, total - total // 2, out


def padded_geometry(shape, window, strides, dilation, padding):
    """``((top, bottom), (left, right), (out_h, out_w))`` for an NHWC ``shape``."""
    top, bottom, out_h = pads(shape[1], window[0], strides[0], dilation[0], padding)
    left, right, out_w = pads(shape[2], window[1], strides[1], dilation[1], padding)
    return (top, bottom), (left, right), (out_h, out_w)


def zero_pad(x, rows, cols):
    return np.pad(x, ((0, 0), rows, cols, (0, 0)))


# ----------------------------------------------------------------------------- convolution


def conv(x, w, strides=1, padding="valid", dilation_rate=1, bias=None, activation=None):
    """``activation(bias + sum_{a,b,c} xpad[n, i*sh + a*dh, j*sw + b*dw, c] * w[a, b, c, f])`` in float64."""
    x = np.asarray(x, np.float64)
    w = np.asarray(w, np.float64)
    (sh, sw), (dh, dw) = pair(strides), pair(dilation_rate)
    rows, cols, (out_h, out_w) = padded_geometry(x.shape, w.shape[:2], (sh, sw), (dh, dw), padding)
    xp = zero_pad(x, rows, cols)
    out = np.zeros((x.shape[0], out_h, out_w, w.shape[3]))
    for i in range(out_h):
        for j in range(out_w):
            for a in range(w.shape[0]):
                for b in range(w.shape[1]):
                    out[:, i, j, :] += xp[:, i * sh + a * dh, j * sw + b * dw, :] @ w[a, b]
    if bias is not None:
        out += np.asarray(bias, np.float64)
    if activation == "relu":
        out = np.maximum(out, 0)  # keeps NaN, as tf.nn.relu does
    return out


def conv_grad(x, w, grad_out, strides=1, padding="valid", dilation_rate=1, bias=None, activation=None):
    """``(grad_x, grad_w, grad_bias)`` of ``sum(conv(x, w, ...) * grad_out)``, by scattering each tap back.

    With ``activation='relu'`` the incoming gradient is kept only where the
    pre-activation is positive (TensorFlow's ReluGrad).
    """
    x = np.asarray(x, np.float64)
    w = np.asarray(w, np.float64)
    g = np.asarray(grad_out, np.float64)
    (sh, sw), (dh, dw) = pair(strides), pair(dilation_rate)
    rows, cols, (out_h, out_w) = padded_geometry(x.shape, w.shape[:2], (sh, sw), (dh, dw), padding)
    if activation == "relu":
        pre = conv(x, w, strides, padding, dilation_rate, bias)
        g = np.where(pre > 0, g, 0.0)
    xp = zero_pad(x, rows, cols)
    grad_xp = np.zeros_like(xp)
    grad_w = np.zeros_like(w)
    for i in range(out_h):
        for j in range(out_w):
            for a in range(w.shape[0]):
                for b in range(w.shape[1]):
                    p, q = i * sh + a * dh, j * sw + b * dw
                    grad_xp[:, p, q, :] += g[:, i, j, :] @ w[a, b].T
                    grad_w[a, b] += xp[:, p, q, :].T @ g[:, i, j, :]
    grad_x = grad_xp[:, rows[0]:rows[0] + x.shape[1], cols[0]:cols[0] + x.shape[2], :]
    return grad_x, grad_w, g.sum(axis=(0, 1, 2))


# ----------------------------------------------------------------------------- pooling


def _windows(shape, pool_size, strides, padding):
    """Yield ``(i, j, cells)``: each output pixel and the real (unpadded) input cells of its window.

    ``cells`` lists ``(row, col)`` input coordinates in row-major window order;
    padded positions are left out, so they can be neither the maximum nor
    counted in an average.
    """
    (ph, pw), (sh, sw) = pair(pool_size), pair(strides)
    (top, _), (left, _), (out_h, out_w) = padded_geometry(shape, (ph, pw), (sh, sw), (1, 1), padding)
    for i in range(out_h):
        for j in range(out_w):
            cells = []
            for a in range(ph):
                for b in range(pw):
                    r, c = i * sh + a - top, j * sw + b - left
                    if 0 <= r < shape[1] and 0 <= c < shape[2]:
                        cells.append((r, c))
            assert cells, "a 'same' window always holds a real cell"
            yield i, j, cells


def _output(x, pool_size, strides, padding):
    (ph, pw), (sh, sw) = pair(pool_size), pair(strides)
    _, _, (out_h, out_w) = padded_geometry(x.shape, (ph, pw), (sh, sw), (1, 1), padding)
    return np.zeros((x.shape[0], out_h, out_w, x.shape[3]))


def _first_max(x, cells):
    """Per (batch, channel): index into ``cells`` of the first maximum; a NaN beats every number."""
    best = x[:, cells[0][0], cells[0][1], :].copy()
    index = np.zeros(best.shape, np.int64)
    for k, (r, c) in enumerate(cells[1:], start=1):
        v = x[:, r, c, :]
        better = (v > best) | (np.isnan(v) & ~np.isnan(best))
        best = np.where(better, v, best)
        index = np.where(better, k, index)
    return best, index


def max_pool(x, pool_size, strides=None, padding="valid"):
    x = np.asarray(x, np.float64)
    strides = pool_size if strides is None else strides
    out = _output(x, pool_size, strides, padding)
    for i, j, cells in _windows(x.shape, pool_size, strides, padding):
        out[:, i, j, :] = _first_max(x, cells)[0]
    return out


def max_pool_grad(x, grad_out, pool_size, strides=None, padding="valid"):
    """Each window's gradient goes to its first maximum (row-major); overlapping windows add up."""
    x = np.asarray(x, np.float64)
    g = np.asarray(grad_out, np.float64)
    strides = pool_size if strides is None else strides
    grad_x = np.zeros_like(x)
    n_idx, c_idx = np.meshgrid(np.arange(x.shape[0]), np.arange(x.shape[3]), indexing="ij")
    for i, j, cells in _windows(x.shape, pool_size, strides, padding):
        index = _first_max(x, cells)[1]
        rows = np.array([r for r, _ in cells])[index]
        cols = np.array([c for _, c in cells])[index]
        np.add.at(grad_x, (n_idx, rows, cols, c_idx), g[:, i, j, :])
    return grad_x


def average_pool(x, pool_size, strides=None, padding="valid"):
    """Mean over the real cells of each window (padded cells are not counted)."""
    x = np.asarray(x, np.float64)
    strides = pool_size if strides is None else strides
    out = _output(x, pool_size, strides, padding)
    for i, j, cells in _windows(x.shape, pool_size, strides, padding):
        out[:, i, j, :] = sum(x[:, r, c, :] for r, c in cells) / len(cells)
    return out


def average_pool_grad(x, grad_out, pool_size, strides=None, padding="valid"):
    x = np.asarray(x, np.float64)
    g = np.asarray(grad_out, np.float64)
    strides = pool_size if strides is None else strides
    grad_x = np.zeros_like(x)
    for i, j, cells in _windows(x.shape, pool_size, strides, padding):
        for r, c in cells:
            grad_x[:, r, c, :] += g[:, i, j, :] / len(cells)
    return grad_x


# ----------------------------------------------------------------------------- dense


def dense(x, w, bias=None):
    """``bias[u] + sum_k x[..., k] * w[k, u]`` in float64, adding one ``k`` at a time (no matrix product)."""
    x = np.asarray(x, np.float64)
    w = np.asarray(w, np.float64)
    out = np.zeros(x.shape[:-1] + w.shape[1:])
    for k in range(w.shape[0]):
        out += x[..., k, None] * w[k]
    if bias is not None:
        out += np.asarray(bias, np.float64)
    return out


def dense_grad(x, w, grad_out):
    """``(grad_x, grad_w, grad_bias)`` of ``sum(dense(x, w, bias) * grad_out)``, one output unit or sample at a time.

    ``grad_x[n, k] = sum_u g[n, u] w[k, u]``, ``grad_w[k, u] = sum_n x[n, k] g[n, u]``,
    ``grad_bias[u] = sum_n g[n, u]``, with ``n`` running over every leading axis.
    """
    x = np.asarray(x, np.float64)
    w = np.asarray(w, np.float64)
    g = np.asarray(grad_out, np.float64)
    rows_x, rows_g = x.reshape(-1, x.shape[-1]), g.reshape(-1, g.shape[-1])
    grad_x = np.zeros(rows_x.shape)
    for u in range(w.shape[1]):
        grad_x += rows_g[:, u, None] * w[:, u]
    grad_w = np.zeros(w.shape)
    grad_bias = np.zeros(w.shape[1])
    for n in range(rows_x.shape[0]):
        grad_w += rows_x[n, :, None] * rows_g[n]
        grad_bias += rows_g[n]
    return grad_x.reshape(x.shape), grad_w, grad_bias


# ----------------------------------------------------------------------------- comparing against the reference


TOLERANCE = {np.dtype(np.float32): dict(rtol=2e-5, atol=2e-5), np.dtype(np.float64): dict(rtol=1e-12, atol=1e-12)}
"""``assert_allclose`` tolerances by result dtype; float32 sums of a few dozen O(1) terms stay well inside."""


def assert_close(actual, expected, dtype):
    """``actual`` has exactly ``dtype`` and the shape of ``expected``, and matches it within ``TOLERANCE``."""
    dtype = np.dtype(dtype)
    assert actual.dtype == dtype, (actual.dtype, dtype)
    assert actual.shape == expected.shape, (actual.shape, expected.shape)
    np.testing.assert_allclose(actual, expected, **TOLERANCE[dtype])


def random(rng, shape, dtype=np.float64):
    """Uniform numbers in [-1, 1) of ``dtype``."""
    return rng.uniform(-1, 1, shape).astype(dtype)


def numerical_gradient(loss, x, eps=1e-6):
    """Central differences of the scalar ``loss()`` with respect to every element of the float64 array ``x``.

    ``x`` is perturbed in place and restored; ``loss`` reads it.
    """
    grad = np.zeros_like(x)
    for index in np.ndindex(x.shape):
        saved = x[index]
        x[index] = saved + eps
        plus = loss()
        x[index] = saved - eps
        minus = loss()
        x[index] = saved
        grad[index] = (plus - minus) / (2 * eps)
    return grad
