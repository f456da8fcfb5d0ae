"""Softmax and sigmoid: one implementation (``fastconv.ops``), used by the activations and the losses alike."""

import numpy as np
import pytest
import torch

from fastconv import activations, losses, ops

EXTREMES = np.array([[-1e4, -88.0, -20.0, -1.0, -0.0, 0.0, 1e-3, 1.0, 20.0, 89.0, 1e4]])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_softmax_and_sigmoid_match_torch_without_overflow(dtype):
    x = np.concatenate([EXTREMES, np.random.default_rng(0).normal(0, 30, (4, EXTREMES.shape[1]))]).astype(dtype)
    with np.errstate(over="raise", invalid="raise", divide="raise"):  # exp underflows to 0, never overflows
        s, p = ops.sigmoid(x), ops.softmax(x)
        p0 = ops.softmax(x, axis=0)
    t = torch.tensor(x.astype(np.float64))
    # exp(x - max) carries the rounding of its argument: a relative error of up to |x - max| * eps.
    tolerance = dict(rtol=3e-5, atol=1e-30) if dtype == np.float32 else dict(rtol=1e-13, atol=1e-300)
    assert s.dtype == p.dtype == p0.dtype == dtype
    np.testing.assert_allclose(s, torch.sigmoid(t).numpy(), **tolerance)
    np.testing.assert_allclose(p, torch.softmax(t, -1).numpy(), **tolerance)
    np.testing.assert_allclose(p0, torch.softmax(t, 0).numpy(), **tolerance)


def test_sigmoid_of_nan_is_nan():
    assert np.isnan(ops.sigmoid(np.array([np.nan, 1.0])))[0]


def test_activations_and_losses_share_them(monkeypatch):
    """The activations are ``ops``'s functions; the losses (and swish) call them, as a spy in their place sees."""
    assert activations.softmax._forward is ops.softmax and activations.sigmoid._forward is ops.sigmoid
    calls = []

    def spy(name, function):
        def call(*args, **kwargs):
            calls.append(name)
            return function(*args, **kwargs)
        return call

    monkeypatch.setattr(ops, "softmax", spy("softmax", ops.softmax))
    monkeypatch.setattr(ops, "sigmoid", spy("sigmoid", ops.sigmoid))
    logits = np.array([[2.0, -1.0, 0.5]], np.float32)
    losses.CategoricalCrossentropy(from_logits=True).gradient(np.array([[0.0, 1.0, 0.0]]), logits)
    losses.BinaryCrossentropy(from_logits=True).gradient(np.array([[0.0, 1.0, 1.0]]), logits)
    activations.get("swish")(logits)
    assert calls == ["softmax", "sigmoid", "sigmoid"]
