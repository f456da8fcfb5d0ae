"""``ELU``, ``PReLU``, ``Identity``, ``LayerNormalization``, ``UnitNormalization``, ``GaussianNoise`` and
``GaussianDropout`` against real Keras 3 (values with the same weights, configs, ``.keras`` files both ways,
training) and against torch autograd in float64 (gradients of the inputs and of the weights)."""

import json
import zipfile

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from fastconv import keras as fastconv_keras
from keras_reference import keras


def _layer_norm(axes):
    def op(x, gamma, beta):
        mean = x.mean(dim=axes, keepdim=True)
        variance = ((x - mean) ** 2).mean(dim=axes, keepdim=True)
        return (x - mean) / torch.sqrt(variance + 1e-3) * gamma + beta
    return op


# (Keras class name, arguments, input shape, the op in torch on float64 tensors, with the weights after x)
CASES = [
    ("ELU", {}, (2, 4, 5, 3), lambda x: F.elu(x)),
    ("ELU", {"alpha": 0.5}, (3, 7), lambda x: F.elu(x, 0.5)),
    ("PReLU", {}, (2, 4, 5, 3), lambda x, alpha: F.relu(x) - alpha * F.relu(-x)),  # Keras's formula
    ("PReLU", {"shared_axes": [1, 2]}, (2, 4, 5, 3), lambda x, alpha: F.relu(x) - alpha * F.relu(-x)),
    ("PReLU", {"shared_axes": 1}, (3, 4, 6), lambda x, alpha: F.relu(x) - alpha * F.relu(-x)),
    ("Identity", {}, (2, 4, 5, 3), lambda x: x),
    ("LayerNormalization", {}, (2, 4, 5, 3), _layer_norm((-1,))),
    ("LayerNormalization", {"axis": [1, 2, 3], "epsilon": 1e-3}, (2, 4, 5, 3), _layer_norm((1, 2, 3))),
    ("LayerNormalization", {"axis": [3, 2]}, (2, 4, 5, 3), _layer_norm((2, 3))),
    ("LayerNormalization", {"axis": [-1, 1]}, (2, 3, 4, 5),  # weights (5, 3), laid over axes 1 and 3 by a reshape
     lambda x, gamma, beta: _layer_norm((1, 3))(x, gamma.reshape(1, 3, 1, 5), beta.reshape(1, 3, 1, 5))),
    ("LayerNormalization", {"center": False}, (3, 8), lambda x, gamma: _layer_norm((-1,))(x, gamma, 0)),
    ("LayerNormalization", {"scale": False}, (3, 8), lambda x, beta: _layer_norm((-1,))(x, 1, beta)),
    ("UnitNormalization", {}, (2, 4, 5, 3), lambda x: x / torch.sqrt((x * x).sum(dim=-1, keepdim=True))),
    ("UnitNormalization", {"axis": [1, 2]}, (2, 4, 5, 3),
     lambda x: x / torch.sqrt((x * x).sum(dim=(1, 2), keepdim=True))),
]
IDS = [f"{name}-{arguments}" for name, arguments, _, _ in CASES]


def _inputs(shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def _built_pair(class_name, arguments, shape, **extra):
    """A fastconv layer and a Keras one, built for ``shape``, with the same random weights."""
    ours = getattr(fastconv_keras.layers, class_name)(**arguments, **extra)
    theirs = getattr(keras.layers, class_name)(**arguments, **extra)
    ours.build(shape)
    theirs.build(shape)
    weights = [_inputs(w.shape, seed=10 + i) for i, w in enumerate(ours.get_weights())]
    ours.set_weights(weights)
    theirs.set_weights(weights)
    return ours, theirs


@pytest.mark.parametrize(("name", "arguments", "shape", "torch_op"), CASES, ids=IDS)
def test_forward_equals_keras(name, arguments, shape, torch_op):
    ours, theirs = _built_pair(name, arguments, shape)
    x = _inputs(shape)
    got = ours(x)
    expected = keras.ops.convert_to_numpy(theirs(x))
    assert got.dtype == np.float32 and got.shape == expected.shape == ours.compute_output_shape(shape)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(("name", "arguments", "shape", "torch_op"), CASES, ids=IDS)
def test_config_equals_keras_and_round_trips(name, arguments, shape, torch_op):
    ours, theirs = _built_pair(name, arguments, shape, name="the_layer")
    config = ours.get_config()
    assert config == theirs.get_config()
    assert type(ours).from_config(config).get_config() == config
    assert type(theirs).from_config(config).get_config() == config  # Keras reads fastconv's config


@pytest.mark.parametrize(("name", "arguments", "shape", "torch_op"), CASES, ids=IDS)
def test_gradients_equal_torch_autograd(name, arguments, shape, torch_op):
    ours, _ = _built_pair(name, arguments, shape)
    x = _inputs(shape, seed=1)
    x.flat[::7] = 0  # exact zeros: where ReLU-like slopes change
    outputs, context = ours.forward(x, training=True)
    grad_outputs = _inputs(outputs.shape, seed=2)
    grad_inputs, weight_grads = ours.backward(context, grad_outputs)

    x64 = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    weights64 = [torch.tensor(w, dtype=torch.float64, requires_grad=True) for w in ours.get_weights()]
    y64 = torch_op(x64, *weights64)
    (y64 * torch.tensor(grad_outputs, dtype=torch.float64)).sum().backward()
    np.testing.assert_allclose(outputs, y64.detach().numpy(), rtol=1e-5, atol=1e-5)
    assert grad_inputs.shape == x.shape and grad_inputs.dtype == np.float32
    np.testing.assert_allclose(grad_inputs, x64.grad.numpy(), rtol=1e-4, atol=1e-5)
    assert len(weight_grads) == len(weights64)
    for got, weight in zip(weight_grads, weights64):
        assert got.dtype == np.float32
        np.testing.assert_allclose(got, weight.grad.numpy(), rtol=1e-4, atol=1e-5)


def _model(library, name, arguments, shape):
    layers = library.layers
    return library.Sequential([library.Input(shape=shape[1:]), getattr(layers, name)(**arguments),
                               layers.Flatten(), layers.Dense(3)])


def _layer_entry(path):
    with zipfile.ZipFile(path) as archive:
        config = json.loads(archive.read("config.json"))
    entry = config["config"]["layers"][1]
    return entry["class_name"], entry["config"] | {"name": None}, entry.get("build_config")


@pytest.mark.parametrize(("name", "arguments", "shape", "torch_op"), CASES, ids=IDS)
def test_keras_files_load_both_ways(name, arguments, shape, torch_op, tmp_path):
    x = _inputs(shape, seed=3)
    ours = _model(fastconv_keras, name, arguments, shape)
    for layer in ours.layers:
        layer.set_weights([_inputs(w.shape, seed=20 + i) for i, w in enumerate(layer.get_weights())])
    ours.save(tmp_path / "fastconv.keras")
    in_keras = keras.models.load_model(tmp_path / "fastconv.keras")
    np.testing.assert_allclose(in_keras.predict(x, verbose=0), ours.predict(x, verbose=0), rtol=1e-5, atol=1e-5)

    theirs = _model(keras, name, arguments, shape)
    for layer in theirs.layers:
        layer.set_weights([_inputs(w.shape, seed=30 + i) for i, w in enumerate(layer.get_weights())])
    theirs.save(tmp_path / "keras.keras")
    in_fastconv = fastconv_keras.models.load_model(tmp_path / "keras.keras")
    assert type(in_fastconv.layers[0]).__name__ == name
    np.testing.assert_allclose(in_fastconv.predict(x, verbose=0), theirs.predict(x, verbose=0),
                               rtol=1e-5, atol=1e-5)
    assert _layer_entry(tmp_path / "fastconv.keras") == _layer_entry(tmp_path / "keras.keras")


def test_a_model_with_them_trains_as_in_keras():
    """Three SGD steps of a small CNN with PReLU, LayerNormalization, ELU and UnitNormalization: the same
    weights as Keras's from the same start."""
    def build(library):
        layers = library.layers
        return library.Sequential([
            library.Input((6, 6, 2)), layers.Conv2D(4, 3), layers.PReLU(shared_axes=[1, 2]),
            layers.LayerNormalization(), layers.ELU(), layers.Flatten(), layers.Dense(5), layers.UnitNormalization(),
            layers.Dense(3, activation="softmax")])

    ours, theirs = build(fastconv_keras), build(keras)
    for ours_layer, theirs_layer in zip(ours.layers, theirs.layers):
        weights = [_inputs(w.shape, seed=40 + i) * 0.5 for i, w in enumerate(ours_layer.get_weights())]
        ours_layer.set_weights(weights)
        theirs_layer.set_weights(weights)
    x, y = _inputs((12, 6, 6, 2), seed=5), np.arange(12) % 3
    for model in (ours, theirs):
        model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
        model.fit(x, y, batch_size=4, epochs=1, shuffle=False, verbose=0)
    for got, expected in zip(ours.get_weights(), theirs.get_weights()):
        np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name, argument", [("GaussianNoise", "stddev"), ("GaussianDropout", "rate")])
def test_gaussian_noise_layers(name, argument):
    """Keras's distributions in training (a sample large enough to tell a wrong one), the identity at
    inference and without ``training``, the same draws for the same seed, gradients through the noise."""
    value = 0.3
    x = np.full((4000, 50), 2.0, np.float32)
    ours = getattr(fastconv_keras.layers, name)(value, seed=1)
    theirs = getattr(keras.layers, name)(value, seed=1)
    for layer, convert in ((ours, np.asarray), (theirs, keras.ops.convert_to_numpy)):
        np.testing.assert_array_equal(convert(layer(x)), x)
        np.testing.assert_array_equal(convert(layer(x, training=False)), x)
        noisy = convert(layer(x, training=True))
        if name == "GaussianNoise":  # x + N(0, stddev)
            mean, std = 2.0, value
        else:  # x * N(1, sqrt(rate / (1 - rate)))
            mean, std = 2.0, 2.0 * np.sqrt(value / (1 - value))
        assert abs(noisy.mean() - mean) < 5 * std / np.sqrt(noisy.size)
        assert abs(noisy.std() - std) < 0.01 * std
    draws = [getattr(fastconv_keras.layers, name)(value, seed=7)(x[:3], training=True) for _ in range(2)]
    np.testing.assert_array_equal(draws[0], draws[1])
    assert ours.get_config() == theirs.get_config() | {"name": ours.name}

    outputs, context = ours.forward(x[:5], training=True)
    grad_inputs, grads = ours.backward(context, np.ones_like(outputs))
    expected = np.ones_like(x[:5]) if name == "GaussianNoise" else outputs / x[:5]
    np.testing.assert_allclose(grad_inputs, expected, rtol=1e-6)
    assert grads == []


def test_noise_arguments_accepted_as_in_keras():
    assert fastconv_keras.layers.GaussianNoise(np.float32(0.25)).stddev == np.float32(0.25)
    assert fastconv_keras.layers.GaussianDropout(1.0).rate == 1.0


@pytest.mark.parametrize("name, arguments, message", [
    ("GaussianNoise", {"stddev": -1}, "stddev=-1"),
    ("GaussianNoise", {"stddev": 2.0}, "stddev=2.0"),
    ("GaussianDropout", {"rate": 1.5}, "rate=1.5"),
    ("LayerNormalization", {"axis": "x"}, "axis"),
    ("LayerNormalization", {"axis": 0}, "the batch axis"),
    ("UnitNormalization", {"axis": None}, "axis=None"),
])
def test_bad_arguments_name_themselves(name, arguments, message):
    with pytest.raises((ValueError, TypeError), match=message):
        getattr(fastconv_keras.layers, name)(**arguments)(np.ones((2, 3), "float32"))


def test_an_initializer_of_none_is_keras_default():
    """`Dense(1, bias_initializer=output_bias)` with `output_bias=None` (TensorFlow's imbalanced-data tutorial):
    Keras's default for a weight, Glorot uniform, as in Keras (which takes None there too)."""
    for library in (fastconv_keras, keras):
        layer = library.layers.Dense(3, bias_initializer=None, kernel_initializer=None)
        layer.build((None, 4))
        bias = keras.ops.convert_to_numpy(layer.bias)
        assert bias.shape == (3,) and np.any(bias != 0) and np.all(np.abs(bias) <= 1.0)  # limit sqrt(6 / (3 + 3))
