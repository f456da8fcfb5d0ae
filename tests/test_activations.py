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


@pytest.mark.bounds
@pytest.mark.parametrize("shape", [(5,), (32, 28, 28, 32), (3, 16385)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_relu_and_its_gradient_match_torch(shape, dtype):
    """``ops.relu``/``relu_grad`` (the ReLU layer's passes) against torch autograd, over several tasks' blocks,
    with exact zeros in the input: Keras's ReLU layer passes the gradient at 0 (``x >= 0``)."""
    rng = np.random.default_rng(1)
    x = rng.standard_normal(shape).astype(dtype)
    x.reshape(-1)[::7] = 0
    grad = rng.standard_normal(shape).astype(dtype)
    out, grad_x = ops.relu(x), ops.relu_grad(x, grad)
    assert out.dtype == grad_x.dtype == dtype and out.shape == grad_x.shape == shape
    t = torch.tensor(x)
    np.testing.assert_array_equal(out, torch.relu(t).numpy())
    np.testing.assert_array_equal(grad_x, np.where(x >= 0, grad, 0))
    np.testing.assert_array_equal(grad_x[x > 0], grad[x > 0])  # away from 0, what autograd gives
    t64 = torch.tensor(x.astype(np.float64), requires_grad=True)
    torch.relu(t64).backward(torch.tensor(grad.astype(np.float64)))
    np.testing.assert_array_equal(grad_x[x != 0], t64.grad.numpy()[x != 0].astype(dtype))


def test_relu_keeps_nan_and_zeroes_minus_infinity():
    x = np.array([np.nan, -np.inf, np.inf, -1, 2], np.float32)
    np.testing.assert_array_equal(ops.relu(x), [np.nan, 0, np.inf, 0, 2])
    # A gradient of inf where the input is negative becomes inf * 0 = NaN, as numpy's grad * mask gives.
    np.testing.assert_array_equal(ops.relu_grad(x, np.array([1, np.inf, 1, np.inf, 1], np.float32)),
                                  [0, np.nan, 1, np.nan, 1])
    with pytest.raises(ValueError, match=r"Invalid shape for argument `grad_output`. Expected \(5,\)"):
        ops.relu_grad(x, np.ones(4, np.float32))


# Each of Keras 3's activations by name, in torch from its definition (torch's own function where it has one).
TORCH_DEFINITIONS = {
    "relu6": torch.nn.functional.relu6,
    "leaky_relu": lambda t: torch.nn.functional.leaky_relu(t, 0.2),
    "gelu": torch.nn.functional.gelu,
    "hard_sigmoid": lambda t: torch.nn.functional.relu6(t + 3) / 6,  # torch's own multiplies by a float32 1/6
    "hard_silu": torch.nn.functional.hardswish,
    "hard_swish": torch.nn.functional.hardswish,
    "mish": torch.nn.functional.mish,
    "softsign": torch.nn.functional.softsign,
    "exponential": torch.exp,
    "log_sigmoid": torch.nn.functional.logsigmoid,
    "celu": torch.nn.functional.celu,
    "tanh_shrink": torch.nn.functional.tanhshrink,
    "hard_tanh": torch.nn.functional.hardtanh,
    "sparse_plus": lambda t: torch.where(t <= -1, 0 * t, torch.where(t >= 1, t, (t + 1) ** 2 / 4)),
    "sparse_sigmoid": lambda t: torch.clamp((t + 1) / 2, 0, 1),
    "squareplus": lambda t: (t + torch.sqrt(t * t + 4)) / 2,
    "soft_shrink": lambda t: torch.nn.functional.softshrink(t, 0.5),
    "hard_shrink": lambda t: torch.nn.functional.hardshrink(t, 0.5),
    "log_softmax": lambda t: torch.log_softmax(t, -1),
    "silu": torch.nn.functional.silu,
    "swish": torch.nn.functional.silu,
    "elu": torch.nn.functional.elu,
    "selu": torch.nn.functional.selu,
    "softplus": torch.nn.functional.softplus,
}


@pytest.mark.parametrize("name", sorted(TORCH_DEFINITIONS))
def test_activation_and_gradient_match_keras_and_torch(name):
    from keras_reference import keras
    rng = np.random.default_rng(2)
    x = rng.normal(0, 3, (4, 7)).astype(np.float32)
    activation = activations.get(name)
    y = activation(x)
    assert y.dtype == np.float32 and y.shape == x.shape
    np.testing.assert_allclose(y, keras.ops.convert_to_numpy(keras.activations.get(name)(x)), rtol=2e-6, atol=2e-6)
    x64 = x.astype(np.float64)
    t = torch.tensor(x64, requires_grad=True)
    out = TORCH_DEFINITIONS[name](t)
    g = rng.standard_normal(x.shape)
    out.backward(torch.tensor(g))
    np.testing.assert_allclose(activation(x64), out.detach().numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(activation.gradient(x64, activation(x64), g), t.grad.numpy(), rtol=1e-10, atol=1e-12)
    assert activations.serialize(name) == keras.activations.serialize(keras.activations.get(name))


def test_a_layer_with_gelu_trains_and_saves_its_name(tmp_path):
    from fastconv import keras as fk
    model = fk.Sequential([fk.Input((6,)), fk.layers.Dense(4, activation="gelu"),
                           fk.layers.Dense(2, activation=fk.activations.relu6)])
    model.compile(optimizer="adam", loss="mse")
    x = np.random.default_rng(3).random((8, 6)).astype(np.float32)
    model.fit(x, np.ones((8, 2), np.float32), epochs=1, verbose=0)
    assert [layer.get_config()["activation"] for layer in model.layers] == ["gelu", "relu6"]
    model.save(tmp_path / "gelu.keras")
    np.testing.assert_array_equal(fk.models.load_model(tmp_path / "gelu.keras").predict(x, verbose=0),
                                  model.predict(x, verbose=0))


@pytest.mark.parametrize("name", activations.KERAS_ONLY)
def test_keras_activations_fastconv_lacks_raise_not_implemented(name):
    from fastconv import keras as fk
    with pytest.raises(NotImplementedError, match=name):
        activations.get(name)
    with pytest.raises(NotImplementedError, match=rf"`keras\.activations\.{name}` is not implemented"):
        getattr(fk.activations, name)
    assert not hasattr(fk.activations, name)
    with pytest.raises(ValueError, match="activation"):
        activations.get("no_such_activation")


def test_a_layer_given_as_an_activation_trains_and_saves_as_keras(tmp_path):
    # Géron's chapter 11: `Dense(..., activation=keras.layers.LeakyReLU(negative_slope=0.2))`.
    from fastconv import keras as fastconv_keras
    from keras_reference import keras

    rng = np.random.default_rng(17)
    x, y = rng.standard_normal((16, 3)).astype(np.float32), rng.standard_normal((16, 2)).astype(np.float32)
    models = []
    for library in (fastconv_keras, keras):
        models.append(library.Sequential([library.Input((3,)), library.layers.Dense(
            4, activation=library.layers.LeakyReLU(negative_slope=0.2)), library.layers.Dense(2)]))
    ours, theirs = models
    ours.set_weights(theirs.get_weights())
    losses = []
    for model, library in ((ours, fastconv_keras), (theirs, keras)):
        model.compile(optimizer=library.optimizers.SGD(0.05), loss="mse")
        losses.append(model.fit(x, y, batch_size=4, epochs=3, shuffle=False, verbose=0).history["loss"])
    np.testing.assert_allclose(losses[0], losses[1], rtol=1e-5)
    assert ours.layers[0].get_config()["activation"] == {**theirs.layers[0].get_config()["activation"]}
    ours.save(tmp_path / "ours.keras")
    theirs.save(tmp_path / "theirs.keras")
    np.testing.assert_allclose(keras.models.load_model(tmp_path / "ours.keras").predict(x, verbose=0),
                               fastconv_keras.models.load_model(tmp_path / "theirs.keras").predict(x, verbose=0),
                               rtol=1e-5, atol=1e-6)
    with pytest.raises(NotImplementedError, match="a layer as an activation when it has no weights"):
        fastconv_keras.layers.Dense(2, activation=fastconv_keras.layers.Dense(2))
