"""Conv1D and the 1-D poolings against real Keras 3 (values, shapes, configs, .keras files both ways) and
against PyTorch autograd in float64 (gradients)."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st

from fastconv import keras as fk
from keras_reference import keras

pytestmark = pytest.mark.filterwarnings(
    "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning",  # Keras's torch backend
)

RNG = np.random.default_rng(15)

# (kernel_size, strides, dilation_rate); Keras rejects strides > 1 together with dilation_rate > 1.
CONV_GEOMETRIES = [(1, 1, 1), (2, 1, 1), (3, 1, 1), (4, 1, 1), (2, 2, 1), (3, 2, 1), (4, 3, 1), (3, 1, 2),
                   (2, 1, 3), (4, 1, 2)]
POOL_GEOMETRIES = [(2, None), (3, None), (2, 1), (3, 1), (3, 2), (4, 3), (5, 2)]


def _keras_output(layer, x):
    return np.asarray(layer(x).detach().cpu())


def _paired_conv(x, **kwargs):
    """A Keras Conv1D and a fastconv one with Keras's weights (and a non-zero bias), both built on ``x``."""
    theirs = keras.layers.Conv1D(**kwargs)
    theirs(x)
    kernel, *bias = [np.asarray(w) for w in theirs.get_weights()]
    if bias:
        bias = [RNG.standard_normal(bias[0].shape).astype(np.float32)]
    theirs.set_weights([kernel, *bias])
    ours = fk.layers.Conv1D(**kwargs)
    ours(x)
    ours.set_weights([kernel, *bias])
    return theirs, ours


# ----------------------------------------------------------------------------- forward values and shapes


@pytest.mark.parametrize("padding", ["valid", "same", "causal"])
@pytest.mark.parametrize("kernel_size, strides, dilation_rate", CONV_GEOMETRIES, ids=str)
@pytest.mark.parametrize("steps", [9, 12])
def test_conv1d_matches_keras(steps, kernel_size, strides, dilation_rate, padding):
    x = RNG.standard_normal((3, steps, 5)).astype(np.float32)
    theirs, ours = _paired_conv(x, filters=4, kernel_size=kernel_size, strides=strides, padding=padding,
                                dilation_rate=dilation_rate)
    expected = _keras_output(theirs, x)
    actual = ours(x)
    assert actual.shape == expected.shape
    np.testing.assert_allclose(actual, expected, rtol=1e-5, atol=1e-5)
    symbolic = (None, steps, 5)
    assert ours.compute_output_shape(symbolic) == tuple(theirs.compute_output_shape(symbolic))
    assert fk.layers.Conv1D(4, kernel_size, strides, padding, dilation_rate=dilation_rate)(
        fk.Input((None, 5))).shape == (None, None, 4)


@pytest.mark.parametrize("activation, use_bias", [("relu", True), ("tanh", False), ("softmax", True)])
def test_conv1d_activations_and_no_bias_match_keras(activation, use_bias):
    x = RNG.standard_normal((2, 10, 3)).astype(np.float32)
    theirs, ours = _paired_conv(x, filters=6, kernel_size=3, padding="causal", activation=activation,
                                use_bias=use_bias)
    np.testing.assert_allclose(ours(x), _keras_output(theirs, x), rtol=1e-5, atol=1e-6)
    assert len(ours.weights) == (2 if use_bias else 1)


def test_same_puts_the_odd_padding_on_the_right_and_causal_on_the_left():
    # Kernel [1, 1] over [1, 2, 3]: 'same' pads one zero on the right, 'causal' one on the left.
    x = np.array([1, 2, 3], np.float32).reshape(1, 3, 1)
    outputs = {}
    for padding in ("same", "causal"):
        layer = fk.layers.Conv1D(1, 2, padding=padding, kernel_initializer="ones")
        outputs[padding] = layer(x)[0, :, 0].tolist()
    assert outputs == {"same": [3.0, 5.0, 3.0], "causal": [1.0, 3.0, 5.0]}


def test_causal_output_depends_on_the_past_only():
    x = RNG.standard_normal((1, 12, 2)).astype(np.float32)
    layer = fk.layers.Conv1D(3, 3, padding="causal", dilation_rate=2)
    before = layer(x)
    changed = x.copy()
    changed[:, 7:] += 1.0
    after = layer(changed)
    np.testing.assert_array_equal(after[:, :7], before[:, :7])
    assert not np.allclose(after[:, 7:], before[:, 7:])


@pytest.mark.parametrize("padding", ["valid", "same"])
@pytest.mark.parametrize("pool_size, strides", POOL_GEOMETRIES, ids=str)
@pytest.mark.parametrize("name", ["MaxPooling1D", "AveragePooling1D"])
def test_pooling1d_matches_keras(name, pool_size, strides, padding):
    x = RNG.standard_normal((2, 11, 4)).astype(np.float32)
    theirs = getattr(keras.layers, name)(pool_size, strides, padding)
    ours = getattr(fk.layers, name)(pool_size, strides, padding)
    expected = _keras_output(theirs, x)
    left, right = _torch_pads(11, pool_size, pool_size if strides is None else strides, 1, padding)
    if name == "AveragePooling1D" and left != right:
        # Keras's torch backend averages in repeated edge cells here (docs/keras-compatibility.md, Numbers);
        # TensorFlow and fastconv average the real cells only.
        expected = _torch_pool(x.astype(np.float64), name, pool_size, strides, padding)[1]
        expected = expected.detach().numpy().transpose(0, 2, 1)
    actual = ours(x)
    assert actual.shape == expected.shape
    np.testing.assert_allclose(actual, expected, rtol=1e-6, atol=1e-6)
    symbolic = (None, 11, 4)
    assert ours.compute_output_shape(symbolic) == tuple(theirs.compute_output_shape(symbolic))


def test_average_pooling1d_same_excludes_padded_cells():
    x = np.array([1, 3, 5], np.float32).reshape(1, 3, 1)
    # Windows [1, 3], [3, 5], [5, pad]: the last divides by 1, not 2.
    assert fk.layers.AveragePooling1D(2, strides=1, padding="same")(x)[0, :, 0].tolist() == [2.0, 4.0, 5.0]


@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("name", ["GlobalAveragePooling1D", "GlobalMaxPooling1D"])
def test_global_pooling1d_matches_keras(name, keepdims):
    x = RNG.standard_normal((3, 7, 5)).astype(np.float32)
    theirs = getattr(keras.layers, name)(keepdims=keepdims)
    ours = getattr(fk.layers, name)(keepdims=keepdims)
    expected = _keras_output(theirs, x)
    np.testing.assert_allclose(ours(x), expected, rtol=1e-6, atol=1e-6)
    assert ours(x).shape == expected.shape
    assert ours.compute_output_shape((None, 7, 5)) == tuple(theirs.compute_output_shape((None, 7, 5)))


# ----------------------------------------------------------------------------- configs


CONFIG_CASES = [
    ("Conv1D", dict(filters=4, kernel_size=3, strides=2, padding="same", activation="relu")),
    ("Conv1D", dict(filters=2, kernel_size=(5,), padding="causal", dilation_rate=2, use_bias=False)),
    ("MaxPooling1D", dict()),
    ("MaxPooling1D", dict(pool_size=3, strides=1, padding="same")),
    ("AveragePooling1D", dict(pool_size=4)),
    ("AveragePooling1D", dict(pool_size=[2], strides=[1], padding="same")),
    ("GlobalAveragePooling1D", dict(keepdims=True)),
    ("GlobalMaxPooling1D", dict()),
]


def _without_initializer_off_values(config):
    config = dict(config)
    for key in ("kernel_initializer", "bias_initializer", "depthwise_initializer", "pointwise_initializer"):
        if key in config:
            initializer = dict(config[key])
            initializer["config"] = {k: v for k, v in initializer["config"].items()
                                     if (k, v) not in (("input_axes", None), ("output_axes", None))}
            config[key] = initializer
    return config


@pytest.mark.parametrize("name, kwargs", CONFIG_CASES, ids=lambda case: str(case))
def test_get_config_equals_keras_and_round_trips(name, kwargs):
    config_equals_keras_and_round_trips(name, kwargs)


def config_equals_keras_and_round_trips(name, kwargs):
    """Layer ``name``'s config with ``kwargs`` is Keras's, and each library rebuilds the same layer from it."""
    ours = getattr(fk.layers, name)(name="layer", **kwargs)
    theirs = getattr(keras.layers, name)(name="layer", **kwargs)
    config = ours.get_config()
    expected = theirs.get_config()
    assert sorted(config) == sorted(expected)
    # fastconv leaves out the initializer keys newer Keras releases add at their "off" value, so that older
    # Keras 3 releases read its files; everything else is Keras's, value for value.
    assert config == _without_initializer_off_values(expected)
    clone = type(ours).from_config(config)
    assert clone.get_config() == config
    assert getattr(keras.layers, name).from_config(config).get_config() == expected


def test_pool_strides_default_to_the_pool_size_and_max_pool_size_to_two():
    assert fk.layers.MaxPooling1D().get_config()["strides"] == (2,)
    assert fk.layers.AveragePooling1D(3).get_config()["strides"] == (3,)
    with pytest.raises(TypeError):
        fk.layers.AveragePooling1D()  # no default pool size, as in Keras


def test_aliases():
    assert fk.layers.Convolution1D is fk.layers.Conv1D
    assert fk.layers.MaxPool1D is fk.layers.MaxPooling1D
    assert fk.layers.AvgPool1D is fk.layers.AveragePool1D is fk.layers.AveragePooling1D
    assert fk.layers.GlobalAvgPool1D is fk.layers.GlobalAveragePooling1D
    assert fk.layers.GlobalMaxPool1D is fk.layers.GlobalMaxPooling1D


# ----------------------------------------------------------------------------- gradients against torch (float64)


def _torch_pads(steps, kernel_size, strides, dilation_rate, padding):
    """``(left, right)`` zero padding, written out from Keras's definitions."""
    extent = dilation_rate * (kernel_size - 1) + 1
    if padding == "causal":
        return extent - 1, 0
    if padding == "valid":
        return 0, 0
    out = -(-steps // strides)
    total = max((out - 1) * strides + extent - steps, 0)
    return total // 2, total - total // 2


@pytest.mark.parametrize("padding", ["valid", "same", "causal"])
@pytest.mark.parametrize("kernel_size, strides, dilation_rate", CONV_GEOMETRIES, ids=str)
@pytest.mark.parametrize("activation", [None, "relu", "tanh"])
def test_conv1d_gradients_match_torch(kernel_size, strides, dilation_rate, padding, activation):
    steps = 10
    layer = fk.layers.Conv1D(4, kernel_size, strides, padding, dilation_rate=dilation_rate, activation=activation)
    layer(np.zeros((1, steps, 3), np.float32))
    layer.set_weights([RNG.standard_normal(layer.kernel.shape).astype(np.float32),
                       RNG.standard_normal(4).astype(np.float32)])
    x = RNG.standard_normal((2, steps, 3))
    outputs, context = layer.forward(x, training=True)
    g = RNG.standard_normal(outputs.shape)
    grad_x, (grad_kernel, grad_bias) = layer.backward(context, g)

    xt = torch.tensor(x.transpose(0, 2, 1), requires_grad=True)
    wt = torch.tensor(layer.kernel.numpy().astype(np.float64).transpose(2, 1, 0), requires_grad=True)
    bt = torch.tensor(layer.bias.numpy().astype(np.float64), requires_grad=True)
    padded = F.pad(xt, _torch_pads(steps, kernel_size, strides, dilation_rate, padding))
    out = F.conv1d(padded, wt, bt, stride=strides, dilation=dilation_rate)
    out = {None: out, "relu": torch.relu(out), "tanh": torch.tanh(out)}[activation]
    out.backward(torch.tensor(g.transpose(0, 2, 1)))

    assert outputs.dtype == grad_x.dtype == grad_kernel.dtype == np.float64
    np.testing.assert_allclose(outputs, out.detach().numpy().transpose(0, 2, 1), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(grad_x, xt.grad.numpy().transpose(0, 2, 1), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(grad_kernel, wt.grad.numpy().transpose(2, 1, 0), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(grad_bias, bt.grad.numpy(), rtol=1e-10, atol=1e-12)


@st.composite
def conv1d_cases(draw):
    kernel_size = draw(st.integers(1, 6))
    strides, dilation_rate = draw(st.sampled_from([(1, 1), (2, 1), (3, 1), (1, 2), (1, 3)]))
    padding = draw(st.sampled_from(["valid", "same", "causal"]))
    minimum = dilation_rate * (kernel_size - 1) + 1 if padding == "valid" else 1
    steps = draw(st.integers(minimum, minimum + 12))  # 'same' and 'causal' windows may be longer than the input
    return (draw(st.integers(1, 3)), steps, draw(st.integers(1, 5)), draw(st.integers(1, 6)), kernel_size,
            strides, dilation_rate, padding, draw(st.integers(0, 2**31)))


@given(conv1d_cases())
def test_conv1d_property_matches_torch(case):
    batch, steps, channels, filters, kernel_size, strides, dilation_rate, padding, seed = case
    rng = np.random.default_rng(seed)
    layer = fk.layers.Conv1D(filters, kernel_size, strides, padding, dilation_rate=dilation_rate)
    layer.build((None, steps, channels))
    layer.set_weights([rng.standard_normal(layer.kernel.shape).astype(np.float32),
                       rng.standard_normal(filters).astype(np.float32)])
    x = rng.standard_normal((batch, steps, channels))
    outputs, context = layer.forward(x, training=True)
    assert outputs.shape == layer.compute_output_shape((batch, steps, channels))
    g = rng.standard_normal(outputs.shape)
    grad_x, (grad_kernel, grad_bias) = layer.backward(context, g)
    xt = torch.tensor(x.transpose(0, 2, 1), requires_grad=True)
    wt = torch.tensor(layer.kernel.numpy().astype(np.float64).transpose(2, 1, 0), requires_grad=True)
    padded = F.pad(xt, _torch_pads(steps, kernel_size, strides, dilation_rate, padding))
    out = F.conv1d(padded, wt, torch.tensor(layer.bias.numpy().astype(np.float64)), stride=strides,
                   dilation=dilation_rate)
    out.backward(torch.tensor(g.transpose(0, 2, 1)))
    np.testing.assert_allclose(outputs, out.detach().numpy().transpose(0, 2, 1), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(grad_x, xt.grad.numpy().transpose(0, 2, 1), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(grad_kernel, wt.grad.numpy().transpose(2, 1, 0), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(grad_bias, g.sum(axis=(0, 1)), rtol=1e-10, atol=1e-12)


def test_first_layer_skips_the_input_gradient():
    layer = fk.layers.Conv1D(2, 3, padding="causal")
    x = RNG.standard_normal((2, 6, 3)).astype(np.float32)
    layer.build(x.shape)
    outputs, context = layer.forward(x, training=True)
    grad_x, grads = layer.backward(context, np.ones_like(outputs), need_grad_inputs=False)
    assert grad_x is None and grads[0].shape == (3, 3, 2)


def _torch_pool(x, name, pool_size, strides, padding):
    steps = x.shape[1]
    strides = pool_size if strides is None else strides
    left, right = _torch_pads(steps, pool_size, strides, 1, padding)
    xt = torch.tensor(x.transpose(0, 2, 1), requires_grad=True)
    if name == "MaxPooling1D":
        out = F.max_pool1d(F.pad(xt, (left, right), value=-np.inf), pool_size, strides)
    else:  # padded cells excluded: sum over real cells / number of real cells
        sums = F.avg_pool1d(F.pad(xt, (left, right)), pool_size, strides)
        counts = F.avg_pool1d(F.pad(torch.ones_like(xt), (left, right)), pool_size, strides)
        out = sums / counts
    return xt, out


@pytest.mark.parametrize("padding", ["valid", "same"])
@pytest.mark.parametrize("pool_size, strides", POOL_GEOMETRIES, ids=str)
@pytest.mark.parametrize("name", ["MaxPooling1D", "AveragePooling1D"])
def test_pooling1d_gradients_match_torch(name, pool_size, strides, padding):
    layer = getattr(fk.layers, name)(pool_size, strides, padding)
    x = RNG.standard_normal((2, 11, 3))
    outputs, context = layer.forward(x, training=True)
    g = RNG.standard_normal(outputs.shape)
    grad_x, grads = layer.backward(context, g)
    xt, out = _torch_pool(x, name, pool_size, strides, padding)
    out.backward(torch.tensor(g.transpose(0, 2, 1)))
    assert grads == [] and grad_x.dtype == np.float64
    np.testing.assert_allclose(outputs, out.detach().numpy().transpose(0, 2, 1), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(grad_x, xt.grad.numpy().transpose(0, 2, 1), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("name", ["GlobalAveragePooling1D", "GlobalMaxPooling1D"])
def test_global_pooling1d_gradients_match_torch(name, keepdims):
    layer = getattr(fk.layers, name)(keepdims=keepdims)
    x = RNG.standard_normal((2, 7, 3))
    outputs, context = layer.forward(x, training=True)
    g = RNG.standard_normal(outputs.shape)
    grad_x, _ = layer.backward(context, g)
    xt = torch.tensor(x, requires_grad=True)
    out = xt.mean(dim=1, keepdim=keepdims) if name == "GlobalAveragePooling1D" else xt.amax(dim=1, keepdim=keepdims)
    out.backward(torch.tensor(g))
    np.testing.assert_allclose(grad_x, xt.grad.numpy(), rtol=1e-12, atol=1e-12)


# ----------------------------------------------------------------------------- a model, trained and saved


def _model(namespace):
    layers = namespace.layers
    return namespace.Sequential([
        namespace.Input((24, 3)),
        layers.Conv1D(8, 3, activation="relu"),
        layers.MaxPooling1D(),
        layers.Conv1D(6, 3, padding="causal", dilation_rate=2, activation="relu"),
        layers.AveragePooling1D(2),
        layers.Conv1D(6, 2, strides=2, padding="same"),
        layers.GlobalAveragePooling1D(),
        layers.Dense(2, activation="softmax"),
    ])


def _sequence_data(count=64):
    x = RNG.standard_normal((count, 24, 3)).astype(np.float32)
    y = (x[:, :, 0].mean(axis=1) > 0).astype(np.int64)
    x[:, :, 0] += np.where(y[:, None] == 1, 0.5, -0.5)
    return x, y


def trains_and_moves_to_keras(model, tmp_path, epochs):
    """Fit ``model`` (fastconv) on the sequence data until its loss falls under 0.6 of the first epoch's and its
    accuracy passes 0.8, save it, and check that real Keras loads it with the same layers and predictions."""
    x, y = _sequence_data()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(x, y, batch_size=16, epochs=epochs, verbose=0)
    losses = history.history["loss"]
    assert losses[-1] < 0.6 * losses[0] and history.history["accuracy"][-1] > 0.8
    model.save(tmp_path / "model.keras")
    loaded = keras.saving.load_model(tmp_path / "model.keras")
    np.testing.assert_allclose(np.asarray(loaded.predict(x, verbose=0)), model.predict(x, verbose=0),
                               rtol=1e-5, atol=1e-6)
    assert [type(layer).__name__ for layer in loaded.layers] == [type(layer).__name__ for layer in model.layers]


def loads_from_keras(keras_model, tmp_path):
    """Save ``keras_model`` (real Keras) and check that fastconv loads it with the same predictions; returns the
    loaded model."""
    x, _ = _sequence_data(16)
    keras_model.save(tmp_path / "keras_model.keras")
    loaded = fk.models.load_model(tmp_path / "keras_model.keras")
    np.testing.assert_allclose(loaded.predict(x, verbose=0), np.asarray(keras_model.predict(x, verbose=0)),
                               rtol=1e-5, atol=1e-6)
    return loaded


def test_sequential_1d_cnn_trains_and_saves_to_keras(tmp_path):
    # Seeded: the weights and the shuffling came from the generator seeded at import, and one run in many CI runs
    # of the whole suite ended its 25 epochs at 0.75 of the first epoch's loss, above the bound.
    fk.utils.set_random_seed(1)
    trains_and_moves_to_keras(_model(fk), tmp_path, epochs=25)


def test_keras_1d_cnn_loads_in_fastconv(tmp_path):
    model = _model(keras)
    model.layers[0].set_weights([w + 0.1 for w in model.layers[0].get_weights()])  # a non-zero bias too
    loaded = loads_from_keras(model, tmp_path)
    for ours, theirs in zip(loaded.layers[:-1], model.layers[:-1]):  # the 1-D layers (Dense has tests of its own)
        assert ours.get_config() == _without_initializer_off_values(theirs.get_config())


# ----------------------------------------------------------------------------- bad arguments


@pytest.mark.parametrize("kwargs, argument", [
    (dict(filters=0, kernel_size=3), "filters"),
    (dict(filters=2, kernel_size=0), "kernel_size"),
    (dict(filters=2, kernel_size=(3, 3)), "kernel_size"),
    (dict(filters=2, kernel_size=3, strides=0), "strides"),
    (dict(filters=2, kernel_size=3, padding="full"), "padding"),
    (dict(filters=2, kernel_size=3, dilation_rate=-1), "dilation_rate"),
    (dict(filters=2, kernel_size=3, strides=2, dilation_rate=2), "strides"),
    (dict(filters=4, kernel_size=3, groups=0), "groups"),
    (dict(filters=4, kernel_size=3, groups=3), "groups"),
])
def test_conv1d_bad_arguments_raise_value_error(kwargs, argument):
    with pytest.raises(ValueError, match=argument):
        fk.layers.Conv1D(**kwargs)
    with pytest.raises(ValueError):
        keras.layers.Conv1D(**kwargs)


@pytest.mark.parametrize("name", ["MaxPooling1D", "AveragePooling1D"])
@pytest.mark.parametrize("kwargs, argument", [
    (dict(pool_size=0), "pool_size"), (dict(pool_size=(2, 2)), "pool_size"), (dict(pool_size=2, strides=0), "strides"),
    (dict(pool_size=2, padding="causal"), "padding"),
])
def test_pooling1d_bad_arguments_raise_value_error(name, kwargs, argument):
    with pytest.raises(ValueError, match=argument):
        getattr(fk.layers, name)(**kwargs)


@pytest.mark.parametrize("kwargs, argument", [
    (dict(activity_regularizer="l2"), "activity_regularizer"),
    (dict(lora_rank=2), "lora_rank"), (dict(data_format="channels_first"), "data_format"),
])
def test_conv1d_unsupported_arguments_raise_not_implemented(kwargs, argument):
    with pytest.raises(NotImplementedError, match=argument):
        fk.layers.Conv1D(4, 3, **kwargs)


def test_wrong_rank_and_too_short_inputs_raise_value_error():
    with pytest.raises(ValueError, match="expected ndim=3"):
        fk.layers.Conv1D(2, 3)(np.zeros((1, 5, 5, 1), np.float32))
    with pytest.raises(ValueError, match="expected ndim=3"):
        fk.layers.MaxPooling1D()(np.zeros((1, 5, 5, 1), np.float32))
    with pytest.raises(ValueError, match="zero or negative"):
        fk.layers.Conv1D(2, 5, dilation_rate=2)(np.zeros((1, 6, 1), np.float32))
    with pytest.raises(ValueError, match="zero or negative"):
        fk.layers.MaxPooling1D(4)(np.zeros((1, 3, 1), np.float32))
