"""Convolution, forward and backward: against the numpy reference, finite differences and PyTorch."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st

import reference
from fastconv import ops, shapes
from fastconv.kernels import simd

KERNELS = [(1, 1), (2, 2), (3, 3), (4, 4), (5, 5), (2, 3), (5, 1)]
STRIDES = [1, 2, 3, (1, 3)]
DILATIONS = [2, 3, (2, 1), (1, 3)]
SIZES = [(7, 8), (6, 5)]  # odd and even, never square
PADDINGS = ["valid", "same"]


def _conv_data(rng, dtype, size, kernel, channels=3, filters=4, batch=2):
    x = reference.random(rng, (batch, *size, channels), dtype)
    w = reference.random(rng, (*kernel, channels, filters), dtype)
    return x, w


def _check_against_reference(rng, dtype, x, w, strides, padding, dilation_rate):
    expected = reference.conv(x, w, strides, padding, dilation_rate)
    reference.assert_close(ops.conv(x, w, strides, padding, dilation_rate=dilation_rate), expected, dtype)
    g = reference.random(rng, expected.shape, dtype)
    grad_x, grad_w = ops.conv_grad(x, w, g, strides, padding, dilation_rate=dilation_rate)
    expected_x, expected_w, _ = reference.conv_grad(x, w, g, strides, padding, dilation_rate)
    reference.assert_close(grad_x, expected_x, dtype)
    reference.assert_close(grad_w, expected_w, dtype)


# ----------------------------------------------------------------------------- against the reference


@pytest.mark.parametrize("padding", PADDINGS)
@pytest.mark.parametrize("strides", STRIDES, ids=str)
@pytest.mark.parametrize("kernel", KERNELS, ids=str)
@pytest.mark.parametrize("size", SIZES, ids=str)
def test_conv_matches_reference(rng, dtype, size, kernel, strides, padding):
    x, w = _conv_data(rng, dtype, size, kernel)
    _check_against_reference(rng, dtype, x, w, strides, padding, 1)


@pytest.mark.parametrize("padding", PADDINGS)
@pytest.mark.parametrize("dilation_rate", DILATIONS, ids=str)
@pytest.mark.parametrize("kernel", [(2, 2), (3, 3), (2, 3)], ids=str)
@pytest.mark.parametrize("size", [(9, 12), (10, 7)], ids=str)
def test_dilated_conv_matches_reference(rng, dtype, size, kernel, dilation_rate, padding):
    x, w = _conv_data(rng, dtype, size, kernel)
    _check_against_reference(rng, dtype, x, w, 1, padding, dilation_rate)


@pytest.mark.bounds
@pytest.mark.parametrize("case", [
    dict(size=(7, 8), kernel=(3, 3), strides=2, padding="same", dilation_rate=1),
    dict(size=(6, 5), kernel=(2, 3), strides=(3, 1), padding="same", dilation_rate=1),
    dict(size=(7, 8), kernel=(5, 1), strides=3, padding="valid", dilation_rate=1),
    dict(size=(9, 12), kernel=(3, 2), strides=1, padding="same", dilation_rate=(3, 2)),
    dict(size=(10, 7), kernel=(2, 3), strides=1, padding="valid", dilation_rate=(1, 3)),
], ids=str)
def test_conv_edge_geometries(rng, dtype, case):
    """A few geometries where the last window touches the far edge (also rerun under NUMBA_BOUNDSCHECK=1)."""
    x, w = _conv_data(rng, dtype, case["size"], case["kernel"])
    _check_against_reference(rng, dtype, x, w, case["strides"], case["padding"], case["dilation_rate"])


@pytest.mark.bounds
@pytest.mark.parametrize("padding", PADDINGS)
@pytest.mark.parametrize("strides, dilation_rate", [(1, 1), (2, 1), (1, 2)], ids=str)
def test_conv_bias_relu_matches_reference(rng, dtype, strides, dilation_rate, padding):
    x, w = _conv_data(rng, dtype, (7, 6), (3, 2))
    bias = reference.random(rng, (w.shape[3],), dtype)
    out = ops.conv_bias_activation(x, w, bias, strides, padding, dilation_rate=dilation_rate, activation="relu")
    pre = reference.conv(x, w, strides, padding, dilation_rate, bias)
    reference.assert_close(out, np.maximum(pre, 0), dtype)

    # Where the pre-activation is within rounding of 0 the mask may go either way; no gradient flows there.
    g = np.where(np.abs(pre) > 1e-3, reference.random(rng, pre.shape), 0).astype(dtype)
    grad_x, grad_w, grad_b = ops.conv_bias_activation_grad(
        x, w, out, g, strides, padding, dilation_rate=dilation_rate, activation="relu")
    expected = reference.conv_grad(x, w, g, strides, padding, dilation_rate, bias, "relu")
    for actual, wanted in zip((grad_x, grad_w, grad_b), expected):
        reference.assert_close(actual, wanted, dtype)


@pytest.mark.parametrize("activation", [None, "linear"])
def test_conv_bias_without_activation(rng, dtype, activation):
    x, w = _conv_data(rng, dtype, (5, 6), (3, 3))
    bias = reference.random(rng, (w.shape[3],), dtype)
    out = ops.conv_bias_activation(x, w, bias, 2, "same", activation=activation)
    reference.assert_close(out, reference.conv(x, w, 2, "same", bias=bias), dtype)
    g = reference.random(rng, out.shape, dtype)
    grads = ops.conv_bias_activation_grad(x, w, None, g, 2, "same", activation=activation)
    for actual, wanted in zip(grads, reference.conv_grad(x, w, g, 2, "same", bias=bias)):
        reference.assert_close(actual, wanted, dtype)


def test_relu_passes_no_gradient_at_zero():
    """TensorFlow's ReluGrad: the gradient flows only where the output is > 0, not at exactly 0."""
    x = np.zeros((1, 3, 3, 1))
    w = np.ones((2, 2, 1, 1))
    out = ops.conv_bias_activation(x, w, np.zeros(1), activation="relu")
    grad_x, grad_w, grad_b = ops.conv_bias_activation_grad(x, w, out, np.ones_like(out), activation="relu")
    assert not out.any() and not grad_x.any() and not grad_w.any() and not grad_b.any()


@pytest.mark.parametrize("strides,padding", [(1, "same"), (2, "same"), (1, "valid"), (2, "valid")])
@pytest.mark.parametrize("activation", [None, "relu"])
def test_need_grad_inputs_false_skips_the_input_gradient(rng, dtype, strides, padding, activation):
    """A model's first layer: only the kernel and bias gradients (the tiled path then drops the border that
    only the input gradient reads)."""
    x, w = _conv_data(rng, dtype, (7, 6), (3, 3), channels=1, filters=20, batch=3)
    bias = reference.random(rng, (20,), dtype)
    out = ops.conv_bias_activation(x, w, bias, strides, padding, activation=activation)
    g = reference.random(rng, out.shape, dtype)
    grad_x, grad_w, grad_b = ops.conv_bias_activation_grad(x, w, out, g, strides, padding, activation=activation,
                                                           need_grad_inputs=False)
    assert grad_x is None
    _, expected_w, expected_b = reference.conv_grad(x, w, g, strides, padding, bias=bias, activation=activation)
    reference.assert_close(grad_w, expected_w, dtype)
    reference.assert_close(grad_b, expected_b, dtype)


@pytest.mark.parametrize("strides,padding", [(1, "same"), (2, "valid")])
def test_need_grad_kernel_false_gives_only_the_input_gradient(rng, dtype, strides, padding):
    """A frozen layer (``trainable=False``): the input gradient alone, the same as with the kernel's."""
    x, w = _conv_data(rng, dtype, (7, 6), (3, 3), channels=5, filters=20, batch=3)
    out = ops.conv_bias_activation(x, w, None, strides, padding, activation="relu")
    g = reference.random(rng, out.shape, dtype)
    grad_x, grad_w, grad_b = ops.conv_bias_activation_grad(x, w, out, g, strides, padding, activation="relu",
                                                           need_grad_kernel=False)
    assert grad_w is None and grad_b is None
    expected_x, _, _ = reference.conv_grad(x, w, g, strides, padding, activation="relu", bias=np.zeros(20, dtype))
    reference.assert_close(grad_x, expected_x, dtype)


def test_kernel_gradient_over_many_batch_chunks(rng, dtype):
    """A batch larger than the kernel gradient's 16 chunks (3 kernel rows x 1 channel block), split unevenly
    (37 = 16 * 2 + 5)."""
    x, w = _conv_data(rng, dtype, (5, 4), (3, 3), channels=2, filters=3, batch=37)
    _check_against_reference(rng, dtype, x, w, 2, "same", 1)


def test_kernel_gradient_chunks_follow_the_shapes_alone():
    """As few batch chunks as give 48 (chunk, kernel row, channel block) tasks, at most 16 and the batch."""
    lanes, block = simd.lanes(np.float32), ops._channel_block(np.float32)
    assert ops._grad_kernel_chunks(32, 3, lanes, np.float32) == 16        # a first layer: 3 tasks a chunk
    assert ops._grad_kernel_chunks(32, 5, 4 * block, np.float32) == 3     # 5x5, 4 channel blocks: 20 a chunk
    assert ops._grad_kernel_chunks(2, 3, lanes, np.float32) == 2          # never more than the batch
    assert ops._grad_kernel_chunks(0, 3, lanes, np.float32) == 1          # an empty batch: one empty chunk
    assert ops._grad_kernel_chunks(4, 3, 0, np.float32) == 4              # no filters: no division by zero


def test_same_padding_without_channels_gives_the_bias(rng):
    """No input channels: the output is the bias ('same', whose padded rows the forward pass keeps in
    bands, as 'valid')."""
    bias = reference.random(rng, (4,), np.float32)
    for padding in ("same", "valid"):
        out = ops.conv_bias_activation(np.ones((2, 4, 5, 0), np.float32), np.ones((3, 3, 0, 4), np.float32), bias,
                                       1, padding)
        np.testing.assert_array_equal(out, np.broadcast_to(bias, out.shape))


def test_kernel_gradient_without_filters_is_empty(rng):
    x, w = np.ones((2, 5, 5, 3), np.float32), np.ones((3, 3, 3, 0), np.float32)
    g = np.ones((2, 5, 5, 0), np.float32)
    grad_x, grad_w, grad_b = ops.conv_bias_activation_grad(x, w, g, g, 1, "same")
    np.testing.assert_array_equal(grad_x, np.zeros_like(x))
    assert grad_w.shape == w.shape and grad_b.shape == (0,)


def test_hand_computed_same_padding_is_asymmetric():
    """Stride 2 on an even size: the one padded row and column go at the bottom and right."""
    x = np.arange(16.0).reshape(1, 4, 4, 1)
    w = np.ones((2, 2, 1, 1))
    out = ops.conv(x, w, strides=2, padding="same")
    # Windows start at rows/cols 0 and 2 and are fully inside: total padding is max(2 + 2 - 4, 0) = 0.
    np.testing.assert_array_equal(out[0, :, :, 0], [[0 + 1 + 4 + 5, 2 + 3 + 6 + 7],
                                                   [8 + 9 + 12 + 13, 10 + 11 + 14 + 15]])
    out = ops.conv(x, np.ones((3, 3, 1, 1)), strides=2, padding="same")
    # Total padding 1: none on top/left, one row/column on the bottom/right.
    np.testing.assert_array_equal(out[0, :, :, 0], [[0 + 1 + 2 + 4 + 5 + 6 + 8 + 9 + 10, 2 + 3 + 6 + 7 + 10 + 11],
                                                   [8 + 9 + 10 + 12 + 13 + 14, 10 + 11 + 14 + 15]])


@pytest.mark.parametrize("kernel, strides", [((3, 3), 1), ((3, 3), 2), ((2, 4), (1, 3)), ((5, 5), (2, 1))], ids=str)
@pytest.mark.parametrize("groups, filters", [(1, 20), (2, 40), (4, 32)], ids=str)  # (4, 32): packed at 16 lanes
def test_forward_bands_of_padded_rows(rng, monkeypatch, restore_threads, kernel, strides, groups, filters):
    """The tiled forward pass reads 'same' padding from per-thread bands of input rows: bands of the fewest
    rows (refilled at almost every output row) and of whole images give the same bits on 1 to 3 threads, and
    the reference's values (images taller than a band, asymmetric padding, several images per thread)."""
    from fastconv import parallel
    from fastconv.kernels import conv2d_tiled

    x = reference.random(rng, (5, 11, 9, 4 * groups), np.float32)
    w = reference.random(rng, (*kernel, 4, filters), np.float32)
    bias = reference.random(rng, (filters,), np.float32)
    expected = reference.grouped(reference.conv, x, w, groups, strides, "same", 1, bias=bias, activation="relu")
    results = []
    for band_bytes in (1, conv2d_tiled.BAND_BYTES):
        monkeypatch.setattr(conv2d_tiled, "BAND_BYTES", band_bytes)
        for threads in (1, 2, 3):
            parallel.set_num_threads(threads)
            results.append(ops.conv_bias_activation(x, w, bias, strides, "same", activation="relu", groups=groups))
    reference.assert_close(results[0], expected, np.float32)
    for result in results[1:]:
        assert result.tobytes() == results[0].tobytes()


# ----------------------------------------------------------------------------- property tests


@st.composite
def conv_cases(draw):
    padding = draw(st.sampled_from(PADDINGS))
    kernel = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    if draw(st.booleans()):
        strides, dilation = (1, 1), (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    else:
        strides, dilation = (draw(st.integers(1, 3)), draw(st.integers(1, 3))), (1, 1)
    smallest = [d * (k - 1) + 1 if padding == "valid" else 1 for k, d in zip(kernel, dilation)]
    size = tuple(draw(st.integers(low, low + 6)) for low in smallest)
    return dict(
        batch=draw(st.integers(0, 2)), size=size, channels=draw(st.integers(1, 3)),
        filters=draw(st.integers(1, 3)), kernel=kernel, strides=strides, dilation_rate=dilation,
        padding=padding, dtype=np.dtype(draw(st.sampled_from([np.float32, np.float64]))),
        activation=draw(st.sampled_from([None, "relu"])), seed=draw(st.integers(0, 2**32 - 1)),
    )


@given(conv_cases())
def test_conv_property(case):
    rng = np.random.default_rng(case["seed"])
    dtype, strides, padding, dilation = case["dtype"], case["strides"], case["padding"], case["dilation_rate"]
    x, w = _conv_data(rng, dtype, case["size"], case["kernel"], case["channels"], case["filters"], case["batch"])
    bias = reference.random(rng, (case["filters"],), dtype)
    out = ops.conv_bias_activation(x, w, bias, strides, padding, dilation_rate=dilation,
                                   activation=case["activation"])
    assert out.shape == shapes.conv_output_shape(x.shape, case["kernel"], case["filters"], strides, padding,
                                                 dilation)
    reference.assert_close(out, reference.conv(x, w, strides, padding, dilation, bias, case["activation"]), dtype)

    pre = reference.conv(x, w, strides, padding, dilation, bias)
    g = np.where(np.abs(pre) > 1e-3, reference.random(rng, pre.shape), 0).astype(dtype)
    grads = ops.conv_bias_activation_grad(x, w, out, g, strides, padding, dilation_rate=dilation,
                                          activation=case["activation"])
    expected = reference.conv_grad(x, w, g, strides, padding, dilation, bias, case["activation"])
    for actual, wanted in zip(grads, expected):
        reference.assert_close(actual, wanted, dtype)


# ----------------------------------------------------------------------------- finite differences (float64)


@pytest.mark.parametrize("strides, padding, dilation_rate", [
    (1, "valid", 1), (1, "same", 1), (2, "same", 1), ((2, 3), "valid", 1), (1, "same", (2, 1)),
], ids=str)
def test_conv_grad_finite_differences(rng, strides, padding, dilation_rate):
    x, w = _conv_data(rng, np.float64, (5, 6), (3, 2), channels=2, filters=3)
    g = reference.random(rng, ops.conv(x, w, strides, padding, dilation_rate=dilation_rate).shape)

    def loss():
        return np.sum(ops.conv(x, w, strides, padding, dilation_rate=dilation_rate) * g)

    grad_x, grad_w = ops.conv_grad(x, w, g, strides, padding, dilation_rate=dilation_rate)
    np.testing.assert_allclose(grad_x, reference.numerical_gradient(loss, x), rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(grad_w, reference.numerical_gradient(loss, w), rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("activation", [None, "relu"])
def test_conv_bias_activation_grad_finite_differences(rng, activation):
    x, w = _conv_data(rng, np.float64, (5, 4), (3, 3), channels=2, filters=3)
    bias = reference.random(rng, (3,))
    pre = reference.conv(x, w, 2, "same", bias=bias)
    # The difference quotient is a derivative only away from relu's kink: no gradient flows from near it.
    g = np.where(np.abs(pre) > 1e-4, reference.random(rng, pre.shape), 0)

    def loss():
        return np.sum(ops.conv_bias_activation(x, w, bias, 2, "same", activation=activation) * g)

    out = ops.conv_bias_activation(x, w, bias, 2, "same", activation=activation)
    grads = ops.conv_bias_activation_grad(x, w, out, g, 2, "same", activation=activation)
    for actual, variable in zip(grads, (x, w, bias)):
        np.testing.assert_allclose(actual, reference.numerical_gradient(loss, variable), rtol=1e-6, atol=1e-8)


# ----------------------------------------------------------------------------- against PyTorch


def _torch_conv(x, w, g, strides, padding, dilation_rate):
    """Forward value and ``(grad_x, grad_w)`` from PyTorch autograd, 'same' through an explicit asymmetric pad."""
    rows, cols, _ = reference.padded_geometry(
        x.shape, w.shape[:2], reference.pair(strides), reference.pair(dilation_rate), padding)
    xt = torch.tensor(x.transpose(0, 3, 1, 2), requires_grad=True)
    wt = torch.tensor(w.transpose(3, 2, 0, 1), requires_grad=True)
    out = F.conv2d(F.pad(xt, (*cols, *rows)), wt, stride=reference.pair(strides),
                   dilation=reference.pair(dilation_rate))
    out.backward(torch.tensor(g.transpose(0, 3, 1, 2)))
    return (out.detach().numpy().transpose(0, 2, 3, 1), xt.grad.numpy().transpose(0, 2, 3, 1),
            wt.grad.numpy().transpose(2, 3, 1, 0))


@pytest.mark.parametrize("padding", PADDINGS)
@pytest.mark.parametrize("strides, dilation_rate", [(1, 1), (2, 1), ((1, 3), 1), (1, 2), (1, (3, 1))], ids=str)
@pytest.mark.parametrize("kernel", [(3, 3), (2, 3), (4, 4)], ids=str)
def test_conv_matches_torch(rng, dtype, kernel, strides, dilation_rate, padding):
    x, w = _conv_data(rng, dtype, (11, 8), kernel)
    out = ops.conv(x, w, strides, padding, dilation_rate=dilation_rate)
    g = reference.random(rng, out.shape, dtype)
    grad_x, grad_w = ops.conv_grad(x, w, g, strides, padding, dilation_rate=dilation_rate)
    expected = _torch_conv(x, w, g, strides, padding, dilation_rate)
    for actual, wanted in zip((out, grad_x, grad_w), expected):
        reference.assert_close(actual, wanted.astype(np.float64), dtype)
