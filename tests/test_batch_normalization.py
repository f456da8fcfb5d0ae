"""``fastconv.ops``' batch normalization (``channel_moments``, ``batch_normalization`` and its gradient).

References: float64 numpy formulas written out here for the moments and the
forward pass, and PyTorch's autograd in float64 for the gradients (through
``torch.nn.functional.batch_norm``, an independent implementation). Shapes are
chosen so that the kernels cut the rows into several tasks, with channel
counts that are not a whole number of SIMD vectors. The layer itself is
compared with Keras in tests/test_layers.py.
"""

import numpy as np
import pytest
import torch

from fastconv import ops, parallel

SHAPES = [(3, 7), (8, 9, 9, 37), (16, 14, 14, 64), (2, 5, 3, 1)]


def _reference_moments(x):
    x64 = x.astype(np.float64).reshape(-1, x.shape[-1])
    return x64.mean(axis=0), x64.var(axis=0)


def _torch_batch_norm(x, grad, mean, variance, scale, offset, epsilon, batch_statistics):
    """Output and gradients in float64 from torch.nn.functional.batch_norm over NHWC rows."""
    rows = torch.tensor(x.reshape(-1, x.shape[-1]).astype(np.float64), requires_grad=True)
    weight = torch.tensor(scale.astype(np.float64), requires_grad=True)
    bias = torch.tensor(offset.astype(np.float64), requires_grad=True)
    if batch_statistics:  # training=True normalises by the batch's own (biased) statistics
        out = torch.nn.functional.batch_norm(rows, None, None, weight, bias, training=True, eps=epsilon)
    else:
        out = torch.nn.functional.batch_norm(rows, torch.tensor(mean.astype(np.float64)),
                                             torch.tensor(variance.astype(np.float64)), weight, bias,
                                             training=False, eps=epsilon)
    (out * torch.tensor(grad.reshape(rows.shape).astype(np.float64))).sum().backward()
    return (out.detach().numpy().reshape(x.shape), rows.grad.numpy().reshape(x.shape), weight.grad.numpy(),
            bias.grad.numpy())


@pytest.mark.parametrize("shape", SHAPES)
def test_channel_moments_match_float64(shape, rng):
    # A large mean and a small spread: float32 sums of the squares (one pass) would lose the variance.
    x = (rng.standard_normal(shape) * 0.01 + 100).astype(np.float32)
    mean, variance = ops.channel_moments(x)
    expected_mean, expected_variance = _reference_moments(x)
    assert mean.dtype == variance.dtype == np.float32 and mean.shape == (shape[-1],)
    np.testing.assert_allclose(mean, expected_mean, rtol=1e-7)
    np.testing.assert_allclose(variance, expected_variance, rtol=1e-5)


@pytest.mark.parametrize("outlier_row", [0, 1, 63, 64, -1])
def test_channel_moments_of_a_tight_batch_with_an_outlying_row_match_float64(outlier_row, rng):
    # Sums of squares about one row (the first, or a task's first: a one-pass algorithm's usual shift) would
    # lose the small spread to the outlier's square (relative error ~2e-4 here); about each task's own mean,
    # as about the batch's mean, they do not.
    x = (rng.standard_normal((4, 28, 28, 16)) * 0.01 + 100).astype(np.float32)
    x.reshape(-1, 16)[outlier_row] = 0
    mean, variance = ops.channel_moments(x)
    expected_mean, expected_variance = _reference_moments(x)
    np.testing.assert_allclose(mean, expected_mean, rtol=1e-7)
    np.testing.assert_allclose(variance, expected_variance, rtol=1e-5)


@pytest.mark.bounds
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("batch_statistics", [True, False])
def test_batch_normalization_and_its_gradient_match_torch(shape, batch_statistics, rng):
    x = (rng.standard_normal(shape) * 2 + 0.5).astype(np.float32)
    channels = shape[-1]
    scale = rng.standard_normal(channels).astype(np.float32)
    offset = rng.standard_normal(channels).astype(np.float32)
    epsilon = 1e-3
    if batch_statistics:
        mean, variance = ops.channel_moments(x)
    else:
        mean = rng.standard_normal(channels).astype(np.float32)
        variance = (rng.random(channels) + 0.5).astype(np.float32)
    grad = rng.standard_normal(shape).astype(np.float32)
    expected, expected_grad_x, expected_grad_scale, expected_grad_offset = _torch_batch_norm(
        x, grad, mean, variance, scale, offset, epsilon, batch_statistics)

    out = ops.batch_normalization(x, mean, variance, offset, scale, epsilon)
    assert out.dtype == np.float32 and out.shape == shape
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5)
    grad_x, grad_scale, grad_offset = ops.batch_normalization_grad(x, grad, mean, variance, scale, epsilon,
                                                                   batch_statistics)
    np.testing.assert_allclose(grad_x, expected_grad_x, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(grad_scale, expected_grad_scale, rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(grad_offset, expected_grad_offset, rtol=1e-5, atol=1e-4)


def test_scale_and_offset_default_to_one_and_zero(rng):
    x = rng.standard_normal((4, 6, 5)).astype(np.float32)
    mean, variance = ops.channel_moments(x)
    ones, zeros = np.ones(5, np.float32), np.zeros(5, np.float32)
    np.testing.assert_array_equal(ops.batch_normalization(x, mean, variance),
                                  ops.batch_normalization(x, mean, variance, zeros, ones))
    default = ops.batch_normalization_grad(x, x, mean, variance)
    explicit = ops.batch_normalization_grad(x, x, mean, variance, ones)
    for a, b in zip(default, explicit):
        np.testing.assert_array_equal(a, b)


def test_results_are_bitwise_the_same_for_any_number_of_threads(rng):
    x = rng.standard_normal((16, 14, 14, 37)).astype(np.float32)
    grad = rng.standard_normal(x.shape).astype(np.float32)
    scale = rng.standard_normal(37).astype(np.float32)
    results = []
    try:
        for threads in (1, 2, 5):
            parallel.set_num_threads(threads)
            mean, variance = ops.channel_moments(x)
            results.append([mean, variance, ops.batch_normalization(x, mean, variance, None, scale),
                            *ops.batch_normalization_grad(x, grad, mean, variance, scale)])
    finally:
        parallel.set_num_threads(None)
    for other in results[1:]:
        for a, b in zip(results[0], other):
            np.testing.assert_array_equal(a, b)


@pytest.mark.bounds
def test_float64_is_computed_in_float64(rng):
    x = rng.standard_normal((3, 4, 6))
    mean, variance = ops.channel_moments(x)
    assert mean.dtype == np.float64
    np.testing.assert_allclose(mean, _reference_moments(x)[0], rtol=1e-12, atol=1e-15)
    out = ops.batch_normalization(x, mean, variance, epsilon=0)
    assert out.dtype == np.float64
    np.testing.assert_allclose(out.reshape(-1, 6).std(axis=0), 1, rtol=1e-10)


def test_bad_arguments_name_what_was_received():
    x = np.ones((2, 3, 4), np.float32)
    with pytest.raises(ValueError, match=r"Invalid shape for argument `mean`. Expected \(4,\). Received: "
                                         r"mean.shape=\(3,\)"):
        ops.batch_normalization(x, np.zeros(3), np.ones(4))
    with pytest.raises(ValueError, match=r"Invalid shape for argument `grad_output`. Expected \(2, 3, 4\)"):
        ops.batch_normalization_grad(x, np.ones((2, 3)), np.zeros(4), np.ones(4))
    with pytest.raises(ValueError, match="Expected at least one value per channel. Received: x.shape=\\(0, 4\\)"):
        ops.channel_moments(np.ones((0, 4), np.float32))
    with pytest.raises(ValueError, match="Expected channels along the last axis. Received: x.shape=\\(\\)"):
        ops.channel_moments(np.float32(1))
    with pytest.raises(TypeError, match="Invalid dtype for argument `x`"):
        ops.channel_moments(np.array([["a"]]))


@pytest.mark.bounds
@pytest.mark.parametrize("batch_statistics", [True, False])
def test_a_relu_in_the_same_pass_is_the_relu_of_the_result(batch_statistics, rng):
    """``relu=True`` (a model's BatchNormalization -> ReLU) gives exactly ``ops.relu`` of the output, and the
    gradient exactly that of the normalisation for ``ops.relu_grad`` of the output gradient."""
    x = rng.standard_normal((8, 9, 9, 37)).astype(np.float32)
    scale, offset = rng.standard_normal(37).astype(np.float32), rng.standard_normal(37).astype(np.float32)
    mean, variance = ops.channel_moments(x)
    if not batch_statistics:
        variance = variance + 0.5
    grad = rng.standard_normal(x.shape).astype(np.float32)
    z = ops.batch_normalization(x, mean, variance, offset, scale)
    fused = ops.batch_normalization(x, mean, variance, offset, scale, relu=True)
    np.testing.assert_array_equal(fused, ops.relu(z))
    assert (fused == 0).mean() > 0.2
    expected = ops.batch_normalization_grad(x, ops.relu_grad(z, grad), mean, variance, scale, 1e-3, batch_statistics)
    got = ops.batch_normalization_grad(x, grad, mean, variance, scale, 1e-3, batch_statistics, offset, relu=True)
    for a, b in zip(got, expected):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(TypeError, match="Invalid value for argument `relu`. Expected True or False. "
                                        "Received: relu=1"):
        ops.batch_normalization(x, mean, variance, relu=1)
