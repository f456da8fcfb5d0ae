"""Layers: output shapes, config round trips, and values and gradients against real Keras (torch backend).

Real Keras runs with ``KERAS_BACKEND=torch`` (see ``keras_reference``) and in
float64; each layer gets the same weights in both libraries, and gradients
come from torch autograd through the Keras layer.
"""

import numpy as np
import pytest
import torch

from fastconv import initializers, layers
from keras_reference import keras

LAYER_CASES = [
    ("Conv2D", dict(filters=4, kernel_size=3, padding="same", activation="relu"), (2, 7, 6, 3)),
    ("Conv2D", dict(filters=3, kernel_size=(2, 3), strides=2, padding="same"), (2, 8, 7, 2)),
    ("Conv2D", dict(filters=2, kernel_size=3, dilation_rate=2, activation="tanh", use_bias=False), (1, 9, 9, 2)),
    ("Conv2D", dict(filters=5, kernel_size=3, activation="softmax"), (2, 5, 5, 2)),
    ("MaxPooling2D", dict(pool_size=2), (2, 7, 7, 3)),
    ("MaxPooling2D", dict(pool_size=3, strides=2, padding="same"), (2, 8, 7, 3)),
    # Symmetric 'same' padding only: for asymmetric padding Keras's torch backend pads by replicating edge
    # cells, which changes the averages; TensorFlow (and fastconv) average the real cells only, see
    # test_average_pool_same_asymmetric_counts_real_cells.
    ("AveragePooling2D", dict(pool_size=(3, 3), strides=1, padding="same"), (2, 7, 8, 2)),
    ("AveragePooling2D", dict(pool_size=3, strides=1), (1, 6, 6, 2)),
    ("GlobalAveragePooling2D", dict(), (2, 5, 4, 3)),
    ("GlobalMaxPooling2D", dict(keepdims=True), (2, 5, 4, 3)),
    ("Dense", dict(units=4, activation="relu"), (3, 6)),
    ("Dense", dict(units=3, activation="softmax"), (3, 5)),
    ("Dense", dict(units=2, activation="sigmoid"), (2, 3, 4)),
    ("Flatten", dict(), (2, 3, 4, 2)),
    ("Activation", dict(activation="elu"), (3, 5)),
    ("ReLU", dict(max_value=1.5, negative_slope=0.1, threshold=0.2), (4, 6)),
    ("BatchNormalization", dict(), (4, 3, 3, 2)),
]


def _ids(case):
    return f"{case[0]}-{'-'.join(f'{k}={v}' for k, v in case[1].items())}"


def _keras_layer(name, kwargs, weights, input_shape):
    """The Keras layer in float64, holding ``weights`` (float32 values, exactly)."""
    layer = getattr(keras.layers, name)(**kwargs, dtype="float64")
    layer.build(input_shape)
    if weights:
        layer.set_weights([w.astype(np.float64) for w in weights])
    return layer


def _assert_float32_close(actual, expected):
    """``actual`` (float32) is ``expected`` (float64) to float32 rounding of short sums.

    The sums here have at most ~75 terms of size about 1: their float32 error stays
    below a tenth of the 1e-5 + 1e-5 * |expected| this allows, while a 0.1% error
    in a value of size 0.02 or more (every array compared here has some) exceeds it.
    """
    assert actual.dtype == np.float32 and actual.shape == expected.shape, (actual.dtype, actual.shape, expected.shape)
    np.testing.assert_allclose(actual, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("case", LAYER_CASES, ids=_ids)
@pytest.mark.parametrize("training", [False, True])
def test_layer_matches_keras(case, training, rng):
    name, kwargs, shape = case
    x = rng.standard_normal(shape).astype(np.float32)
    ours = getattr(layers, name)(**kwargs)
    ours.build(shape)
    weights = [w + rng.standard_normal(w.shape).astype(np.float32) * 0.1 for w in ours.get_weights()]
    if name == "BatchNormalization":
        weights[3] = np.abs(weights[3]) + 0.5  # a valid moving variance
    ours.set_weights(weights)
    theirs = _keras_layer(name, kwargs, weights, shape)

    outputs, context = ours.forward(x, training)
    x_torch = torch.tensor(x.astype(np.float64), requires_grad=True)
    expected = theirs(x_torch, training=training)
    _assert_float32_close(outputs, expected.detach().numpy())
    assert outputs.shape == ours.compute_output_shape(shape) == tuple(expected.shape)

    grad = rng.standard_normal(outputs.shape).astype(np.float32)
    grad_inputs, grads = ours.backward(context, grad)
    (expected * torch.tensor(grad.astype(np.float64))).sum().backward()
    _assert_float32_close(grad_inputs, x_torch.grad.numpy())
    assert len(grads) == len(theirs.trainable_weights)
    for ours_grad, variable in zip(grads, theirs.trainable_weights):
        _assert_float32_close(ours_grad, variable.value.grad.numpy())
    if training and name == "BatchNormalization":
        for ours_var, their_var in zip(ours.non_trainable_weights, theirs.non_trainable_weights):
            _assert_float32_close(ours_var.numpy(), their_var.numpy())


@pytest.mark.parametrize("case", LAYER_CASES, ids=_ids)
def test_config_round_trip(case):
    name, kwargs, shape = case
    layer = getattr(layers, name)(**kwargs)
    config = layer.get_config()
    clone = type(layer).from_config(config)
    assert clone.get_config() == config
    clone_out = clone(np.zeros(shape, np.float32))
    assert clone_out.shape == layer.compute_output_shape(shape)


@pytest.mark.parametrize("case", LAYER_CASES, ids=_ids)
def test_config_is_what_keras_reads(case):
    """Our config builds the same layer in Keras (so .keras files and get_config move between them)."""
    name, kwargs, shape = case
    config = getattr(layers, name)(**kwargs).get_config()
    theirs = getattr(keras.layers, name).from_config(config)
    reference = getattr(keras.layers, name)(**kwargs).get_config()
    for key, value in theirs.get_config().items():
        if key != "name":
            assert value == reference[key], key


def test_average_pool_same_asymmetric_counts_real_cells():
    x = np.arange(8, dtype=np.float32).reshape(1, 1, 8, 1)
    y = layers.AveragePooling2D(pool_size=(1, 3), padding="same")(x)
    # windows [0 1 2], [3 4 5], [6 7 pad]: the last one averages its two real cells (TensorFlow's rule)
    np.testing.assert_array_equal(y.ravel(), [1.0, 4.0, 6.5])


def test_dropout_is_inverted_and_off_at_inference():
    layer = layers.Dropout(0.4)
    x = np.ones((200, 50), np.float32)
    assert np.array_equal(layer(x), x)
    y = layer(x, training=True)
    kept = y != 0
    assert 0.55 < kept.mean() < 0.65
    np.testing.assert_allclose(y[kept], 1 / 0.6, rtol=1e-6)


def test_weights_are_objects_with_numpy_and_shape():
    conv = layers.Conv2D(32, 3, padding="same")
    conv(np.zeros((1, 28, 28, 1), np.float32))
    kernel, bias = conv.weights
    assert kernel.shape == (3, 3, 1, 32) and bias.shape == (32,)
    assert kernel.numpy().shape == (3, 3, 1, 32)
    assert conv.count_params() == 320


def test_glorot_uniform_limits_and_seeded_initializers_repeat():
    conv = layers.Conv2D(64, 3, kernel_initializer=initializers.GlorotUniform(seed=3))
    conv.build((None, 14, 14, 32))
    limit = np.sqrt(6 / (9 * 32 + 9 * 64))
    kernel = conv.kernel.numpy()
    assert np.abs(kernel).max() <= limit and np.abs(kernel).max() > 0.9 * limit
    again = layers.Conv2D(64, 3, kernel_initializer=initializers.GlorotUniform(seed=3))
    again.build((None, 14, 14, 32))
    assert np.array_equal(kernel, again.kernel.numpy())


@pytest.mark.parametrize("kwargs, message", [
    (dict(filters=8, kernel_size=3, data_format="channels_first"), "data_format='channels_last'"),
    (dict(filters=8, kernel_size=3, lora_rank=2), "`lora_rank`"),
    (dict(filters=8, kernel_size=3, activity_regularizer="l2"), "`activity_regularizer`"),
])
def test_unsupported_arguments_are_named(kwargs, message):
    with pytest.raises(NotImplementedError, match=message):
        layers.Conv2D(**kwargs)


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="Invalid value for argument `padding`"):
        layers.Conv2D(8, 3, padding="full")
    with pytest.raises(ValueError, match="Invalid value for argument `kernel_size`"):
        layers.Conv2D(8, 0)
    with pytest.raises(ValueError, match="Invalid value for argument `filters`"):
        layers.Conv2D(0, 3)
    with pytest.raises(TypeError, match="Unrecognized keyword arguments passed to Conv2D"):
        layers.Conv2D(8, 3, kernel_sise=3)
    with pytest.raises(ValueError, match="Invalid value for argument `activation`"):
        layers.Dense(3, activation="relux")
    with pytest.raises(ValueError, match="Invalid value for argument `rate`"):
        layers.Dropout(1.5)


def test_wrong_channel_count_after_build():
    conv = layers.Conv2D(4, 3)
    conv(np.zeros((1, 5, 5, 2), np.float32))
    with pytest.raises(ValueError, match="expected axis -1 of input shape to have value 2"):
        conv(np.zeros((1, 5, 5, 3), np.float32))


def test_build_called_directly_marks_the_layer_built_once():
    dense = layers.Dense(3)
    dense.build((None, 4))
    assert dense.built and len(dense.weights) == 2
    kernel = dense.kernel.numpy()
    dense(np.ones((2, 4), np.float32))
    dense.build((None, 4))
    assert len(dense.weights) == 2 and np.array_equal(dense.kernel.numpy(), kernel)


def test_relu_of_special_values_is_keras():
    x = np.array([[-np.inf, -1.0, -0.0, 0.0, 0.5, np.inf, np.nan]], np.float32)
    expected = keras.ops.convert_to_numpy(keras.layers.ReLU()(x))
    np.testing.assert_array_equal(layers.ReLU()(x), expected)
    np.testing.assert_array_equal(expected, [[0, 0, 0, 0, 0.5, np.inf, np.nan]])


def test_softmax_layer_and_eager_results_with_numpy_as_keras():
    # TensorFlow's quickstart: `model(x).numpy()`, `loss_fn(y, p).numpy()`, `Sequential([model, Softmax()])`.
    from fastconv import keras as fastconv_keras

    real_keras = keras
    rng = np.random.default_rng(2)
    x = rng.standard_normal((3, 4, 5)).astype(np.float32)
    for axis in (-1, 1):
        ours, theirs = fastconv_keras.layers.Softmax(axis=axis), real_keras.layers.Softmax(axis=axis)
        expected = real_keras.ops.convert_to_numpy(theirs(x))
        np.testing.assert_allclose(ours(x).numpy(), expected, rtol=1e-6, atol=1e-7)
        xt = torch.tensor(x, dtype=torch.float64, requires_grad=True)
        g = rng.standard_normal(x.shape)
        torch.softmax(xt, dim=axis).backward(torch.tensor(g))
        outputs, context = ours.forward(x.astype(np.float64), True)
        np.testing.assert_allclose(ours.backward(context, g)[0], xt.grad.numpy(), rtol=1e-9, atol=1e-12)
        assert ours.get_config() == {**theirs.get_config(), "name": ours.name}
    model = fastconv_keras.Sequential([fastconv_keras.Input((4,)), fastconv_keras.layers.Dense(3)])
    probabilities = fastconv_keras.Sequential([model, fastconv_keras.layers.Softmax()])
    assert type(model(x[:, :, 0]).numpy()) is np.ndarray
    np.testing.assert_allclose(probabilities(x[:, :, 0]).numpy().sum(axis=1), 1, rtol=1e-6)
    loss = fastconv_keras.losses.SparseCategoricalCrossentropy(from_logits=True)(np.array([0, 1, 2]), model(x[:, :, 0]))
    assert loss.numpy().shape == () and float(loss) > 0
    assert round(loss, 2) == round(float(loss), 2) and {loss: 1}  # a numpy scalar: rounds and hashes
    from fastconv import tensorflow_subset

    logits = x[:, :, 0]
    np.testing.assert_allclose(tensorflow_subset.nn.softmax(logits, axis=0).numpy().sum(axis=0), 1, rtol=1e-6)
    assert type(model.predict(x[:, :, 0], verbose=0)) is np.ndarray  # predict returns numpy arrays, as Keras's
