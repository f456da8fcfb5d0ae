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


def depthwise_conv(x, w, strides=1, padding="valid", dilation_rate=1, bias=None, activation=None):
    """``activation(bias + sum_{a,b} xpad[n, i*sh + a*dh, j*sw + b*dw, c] * w[a, b, c, q])`` at output channel
    ``c*m + q`` (``w`` is ``(KH, KW, C, m)``), in float64."""
    x = np.asarray(x, np.float64)
    w = np.asarray(w, np.float64)
    (sh, sw), (dh, dw) = pair(strides), pair(dilation_rate)
    rows, cols, (out_h, out_w) = padded_geometry(x.shape, w.shape[:2], (sh, sw), (dh, dw), padding)
    xp = zero_pad(x, rows, cols)
    out = np.zeros((x.shape[0], out_h, out_w, *w.shape[2:]))
    for i in range(out_h):
        for j in range(out_w):
            for a in range(w.shape[0]):
                for b in range(w.shape[1]):
                    out[:, i, j] += xp[:, i * sh + a * dh, j * sw + b * dw, :, None] * w[a, b]
    out = out.reshape(*out.shape[:3], -1)
    if bias is not None:
        out += np.asarray(bias, np.float64)
    if activation == "relu":
        out = np.maximum(out, 0)
    return out


def depthwise_conv_grad(x, w, grad_out, strides=1, padding="valid", dilation_rate=1, bias=None, activation=None):
    """``(grad_x, grad_w, grad_bias)`` of ``sum(depthwise_conv(x, w, ...) * grad_out)``, scattering each tap back
    (with ``activation='relu'`` the gradient is kept where the pre-activation is positive)."""
    x = np.asarray(x, np.float64)
    w = np.asarray(w, np.float64)
    g = np.asarray(grad_out, np.float64)
    (sh, sw), (dh, dw) = pair(strides), pair(dilation_rate)
    rows, cols, (out_h, out_w) = padded_geometry(x.shape, w.shape[:2], (sh, sw), (dh, dw), padding)
    if activation == "relu":
        g = np.where(depthwise_conv(x, w, strides, padding, dilation_rate, bias) > 0, g, 0.0)
    g = g.reshape(*g.shape[:3], *w.shape[2:])
    xp = zero_pad(x, rows, cols)
    grad_xp = np.zeros_like(xp)
    grad_w = np.zeros_like(w)
    for i in range(out_h):
        for j in range(out_w):
            for a in range(w.shape[0]):
                for b in range(w.shape[1]):
                    p, q = i * sh + a * dh, j * sw + b * dw
                    grad_xp[:, p, q, :] += (g[:, i, j] * w[a, b]).sum(axis=-1)
                    grad_w[a, b] += (xp[:, p, q, :, None] * g[:, i, j]).sum(axis=0)
    grad_x = grad_xp[:, rows[0]:rows[0] + x.shape[1], cols[0]:cols[0] + x.shape[2], :]
    return grad_x, grad_w, g.sum(axis=(0, 1, 2)).reshape(-1)


def _transpose_geometry(length, size, stride, dilation, padding, output_padding):
    """``(left, right, extent)``: the zeros put around the stride-dilated input (``stride - 1`` zeros
    between neighbours) of a transposed convolution before it is correlated with the flipped kernel, as
    Keras 3 defines it (its JAX backend's padding rule, which the others reproduce).

    'valid' adds ``extent - 1`` each side and ``output_padding`` (by default what makes the output
    ``(length - 1) * stride + max(extent, stride)`` long) on the right; 'same' adds ``stride + extent - 2``
    zeros (or ``extent + extent % 2 - 2 + output_padding``), the larger half on the left but never more than
    ``extent - 1`` there.
    """
    extent = dilation * (size - 1) + 1
    if padding == "valid":
        if output_padding is None:
            output_padding = max(extent, stride) - extent
        return extent - 1, extent - 1 + output_padding, extent
    total = stride + extent - 2 if output_padding is None else extent + extent % 2 - 2 + output_padding
    left = min(total - total // 2, extent - 1)
    return left, total - left, extent


def _dilated_padded(x, strides, dilation, w_shape, padding, output_padding):
    """``x`` with ``stride - 1`` zeros between neighbours and the zeros of :func:`_transpose_geometry` around,
    and the ``((left_h, left_w), (extent_h, extent_w))`` used."""
    op = pair(output_padding) if output_padding is not None else (None, None)
    (lh, rh, eh), (lw, rw, ew) = (_transpose_geometry(x.shape[axis + 1], w_shape[axis], strides[axis],
                                                      dilation[axis], padding, op[axis]) for axis in (0, 1))
    z = np.zeros((x.shape[0], (x.shape[1] - 1) * strides[0] + 1 + lh + rh,
                  (x.shape[2] - 1) * strides[1] + 1 + lw + rw, x.shape[3]))
    z[:, lh:lh + (x.shape[1] - 1) * strides[0] + 1:strides[0], lw:lw + (x.shape[2] - 1) * strides[1] + 1:strides[1]] = x
    return z, (lh, lw), (eh, ew)


def conv_transpose(x, w, strides=1, padding="valid", output_padding=None, dilation_rate=1, bias=None,
                   activation=None):
    """``activation(bias + sum_{a,b,c} z[n, i + a*dh, j + b*dw, c] * w[KH-1-a, KW-1-b, f, c])`` in float64,
    ``z`` from :func:`_dilated_padded`; ``w`` is ``(KH, KW, F, C)`` as Keras keeps it."""
    x = np.asarray(x, np.float64)
    w = np.asarray(w, np.float64)
    (dh, dw) = pair(dilation_rate)
    z, _, (eh, ew) = _dilated_padded(x, pair(strides), (dh, dw), w.shape, padding, output_padding)
    out = np.zeros((x.shape[0], z.shape[1] - eh + 1, z.shape[2] - ew + 1, w.shape[2]))
    flipped = w[::-1, ::-1]
    for i in range(out.shape[1]):
        for j in range(out.shape[2]):
            for a in range(w.shape[0]):
                for b in range(w.shape[1]):
                    out[:, i, j, :] += z[:, i + a * dh, j + b * dw, :] @ flipped[a, b].T
    if bias is not None:
        out += np.asarray(bias, np.float64)
    if activation == "relu":
        out = np.maximum(out, 0)
    return out


def conv_transpose_grad(x, w, grad_out, strides=1, padding="valid", output_padding=None, dilation_rate=1,
                        bias=None, activation=None):
    """``(grad_x, grad_w, grad_bias)`` of ``sum(conv_transpose(x, w, ...) * grad_out)``, by scattering each tap
    of :func:`conv_transpose`'s sum back (with ``activation='relu'`` the gradient is kept where the
    pre-activation is positive)."""
    x = np.asarray(x, np.float64)
    w = np.asarray(w, np.float64)
    g = np.asarray(grad_out, np.float64)
    (sh, sw), (dh, dw) = pair(strides), pair(dilation_rate)
    if activation == "relu":
        g = np.where(conv_transpose(x, w, strides, padding, output_padding, dilation_rate, bias) > 0, g, 0.0)
    z, (lh, lw), _ = _dilated_padded(x, (sh, sw), (dh, dw), w.shape, padding, output_padding)
    flipped = w[::-1, ::-1]
    grad_z = np.zeros_like(z)
    grad_flipped = np.zeros_like(w)
    for i in range(g.shape[1]):
        for j in range(g.shape[2]):
            for a in range(w.shape[0]):
                for b in range(w.shape[1]):
                    grad_z[:, i + a * dh, j + b * dw, :] += g[:, i, j, :] @ flipped[a, b]
                    grad_flipped[a, b] += g[:, i, j, :].T @ z[:, i + a * dh, j + b * dw, :]
    grad_x = grad_z[:, lh:lh + (x.shape[1] - 1) * sh + 1:sh, lw:lw + (x.shape[2] - 1) * sw + 1:sw]
    return grad_x, grad_flipped[::-1, ::-1], g.sum(axis=(0, 1, 2))


def grouped(function, x, w, groups, *args, bias=None, **kwargs):
    """A grouped convolution from its definition: ``function`` (:func:`conv`) on each group's channels,
    ``x[..., i*C/g:(i+1)*C/g]`` with ``w[..., i*F/g:(i+1)*F/g]`` (``w`` is ``(KH, KW, C/g, F)``), outputs
    joined along the channels."""
    per_c, per_f = x.shape[3] // groups, w.shape[3] // groups
    return np.concatenate([function(x[..., i * per_c:(i + 1) * per_c], w[..., i * per_f:(i + 1) * per_f], *args,
                                    bias=None if bias is None else bias[i * per_f:(i + 1) * per_f], **kwargs)
                           for i in range(groups)], axis=3)


def grouped_grad(x, w, grad_out, groups, *args, bias=None, **kwargs):
    """``(grad_x, grad_w, grad_bias)`` of :func:`grouped` :func:`conv`, from each group's :func:`conv_grad`."""
    per_c, per_f = x.shape[3] // groups, w.shape[3] // groups
    parts = [conv_grad(x[..., i * per_c:(i + 1) * per_c], w[..., i * per_f:(i + 1) * per_f],
                       grad_out[..., i * per_f:(i + 1) * per_f], *args,
                       bias=None if bias is None else bias[i * per_f:(i + 1) * per_f], **kwargs) for i in range(groups)]
    return tuple(np.concatenate([p[k] for p in parts], axis=3 if k < 2 else 0) for k in range(3))


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
