"""``ZeroPadding2D``, ``Cropping2D``, ``UpSampling2D``, ``Reshape``, ``Permute``, ``Rescaling`` and ``LeakyReLU``
against real Keras 3 (values, shapes, configs, errors, ``.keras`` files both ways) and against torch autograd
in float64 (gradients)."""

import json
import zipfile

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from fastconv import keras as fastconv_keras
from keras_reference import keras


def _nchw(fn):
    """``fn`` on NCHW tensors applied to an NHWC tensor."""
    return lambda x: fn(x.permute(0, 3, 1, 2)).permute(0, 2, 3, 1)


def _bilinear(size):
    return _nchw(lambda x: F.interpolate(x, scale_factor=size, mode="bilinear", align_corners=False))


# (Keras class name, arguments, input shape, the same op in torch on NHWC float64 tensors)
CASES = [
    ("ZeroPadding2D", {}, (2, 5, 6, 3), lambda x: F.pad(x, (0, 0, 1, 1, 1, 1))),
    ("ZeroPadding2D", {"padding": 2}, (2, 3, 4, 2), lambda x: F.pad(x, (0, 0, 2, 2, 2, 2))),
    ("ZeroPadding2D", {"padding": (2, 0)}, (2, 3, 4, 2), lambda x: F.pad(x, (0, 0, 0, 0, 2, 2))),
    ("ZeroPadding2D", {"padding": ((1, 0), (2, 3))}, (2, 5, 6, 3), lambda x: F.pad(x, (0, 0, 2, 3, 1, 0))),
    ("Cropping2D", {}, (2, 5, 6, 3), lambda x: x),
    ("Cropping2D", {"cropping": 1}, (2, 5, 6, 3), lambda x: x[:, 1:-1, 1:-1]),
    ("Cropping2D", {"cropping": (0, 2)}, (2, 5, 6, 3), lambda x: x[:, :, 2:-2]),
    ("Cropping2D", {"cropping": ((1, 0), (2, 3))}, (2, 5, 7, 3), lambda x: x[:, 1:, 2:-3]),
    ("Cropping2D", {"cropping": ((0, 2), (1, 0))}, (2, 5, 7, 3), lambda x: x[:, :-2, 1:]),
    ("UpSampling2D", {}, (2, 3, 4, 3), lambda x: x.repeat_interleave(2, 1).repeat_interleave(2, 2)),
    ("UpSampling2D", {"size": (3, 1)}, (2, 3, 4, 3), lambda x: x.repeat_interleave(3, 1)),
    ("UpSampling2D", {"size": 3, "interpolation": "nearest"}, (1, 2, 5, 2),
     lambda x: x.repeat_interleave(3, 1).repeat_interleave(3, 2)),
    ("UpSampling2D", {"interpolation": "bilinear"}, (2, 4, 5, 3), _bilinear((2, 2))),
    ("UpSampling2D", {"size": (3, 4), "interpolation": "bilinear"}, (2, 4, 3, 2), _bilinear((3, 4))),
    ("UpSampling2D", {"size": (1, 5), "interpolation": "BILINEAR"}, (1, 1, 2, 2), _bilinear((1, 5))),
    ("Reshape", {"target_shape": (-1, 3)}, (2, 4, 5, 3), lambda x: x.reshape(2, -1, 3)),
    ("Reshape", {"target_shape": (5, 12)}, (2, 4, 5, 3), lambda x: x.reshape(2, 5, 12)),
    ("Reshape", {"target_shape": (2, -1, 2, 3)}, (2, 24), lambda x: x.reshape(2, 2, -1, 2, 3)),
    ("Permute", {"dims": (2, 1)}, (2, 4, 6), lambda x: x.permute(0, 2, 1)),
    ("Permute", {"dims": (3, 1, 2)}, (2, 4, 5, 3), lambda x: x.permute(0, 3, 1, 2)),
    ("Permute", {"dims": (2, 3, 1)}, (2, 4, 5, 3), lambda x: x.permute(0, 2, 3, 1)),
    ("Rescaling", {"scale": 1 / 255}, (2, 4, 5, 3), lambda x: x * (1 / 255)),
    ("Rescaling", {"scale": 2.0, "offset": -1.0}, (2, 4, 5, 3), lambda x: x * 2 - 1),
    ("Rescaling", {"scale": [0.5, 2.0, -1.0], "offset": [1.0, 0.0, 0.5]}, (2, 4, 5, 3),
     lambda x: x * torch.tensor([0.5, 2.0, -1.0], dtype=x.dtype) + torch.tensor([1.0, 0.0, 0.5], dtype=x.dtype)),
    ("LeakyReLU", {}, (2, 4, 5, 3), lambda x: F.leaky_relu(x, 0.3)),
    ("LeakyReLU", {"negative_slope": 0.05}, (3, 7), lambda x: F.leaky_relu(x, 0.05)),
    ("LeakyReLU", {"negative_slope": 0}, (3, 7), lambda x: F.relu(x)),
]
IDS = [f"{name}-{arguments}" for name, arguments, _, _ in CASES]


def _inputs(shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def _pair(class_name, arguments, **extra):
    return (getattr(fastconv_keras.layers, class_name)(**arguments, **extra),
            getattr(keras.layers, class_name)(**arguments, **extra))


@pytest.mark.parametrize(("name", "arguments", "shape", "torch_op"), CASES, ids=IDS)
def test_forward_equals_keras(name, arguments, shape, torch_op):
    ours, theirs = _pair(name, arguments)
    x = _inputs(shape)
    got = ours(x)
    expected = keras.ops.convert_to_numpy(theirs(x))
    assert got.dtype == np.float32
    assert got.shape == expected.shape == ours.compute_output_shape(shape)
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-6)


def _symbolic_shapes(shape):
    """The input shapes to try symbolically: None batch, then each other axis unknown too."""
    yield (None, *shape[1:])
    for axis in range(1, len(shape)):
        yield (None, *(None if a == axis else d for a, d in enumerate(shape) if a > 0))


@pytest.mark.parametrize(("name", "arguments", "shape", "torch_op"), CASES, ids=IDS)
def test_symbolic_output_shape_equals_keras(name, arguments, shape, torch_op):
    for batch_shape in _symbolic_shapes(shape):
        ours, theirs = _pair(name, arguments)
        got = ours(fastconv_keras.Input(batch_shape=batch_shape)).shape
        expected = theirs(keras.Input(batch_shape=batch_shape)).shape
        assert tuple(got) == tuple(expected), batch_shape


@pytest.mark.parametrize(("name", "arguments", "shape", "torch_op"), CASES, ids=IDS)
def test_config_equals_keras_and_round_trips(name, arguments, shape, torch_op):
    ours, theirs = _pair(name, arguments, name="the_layer")
    config = ours.get_config()
    assert config == theirs.get_config()
    assert type(ours).from_config(config).get_config() == config
    assert type(theirs).from_config(config).get_config() == config  # Keras reads fastconv's config
    assert type(ours).from_config(theirs.get_config()).get_config() == config
    assert ours.built == theirs.built


@pytest.mark.parametrize(("name", "arguments", "shape", "torch_op"), CASES, ids=IDS)
def test_gradient_equals_torch_autograd(name, arguments, shape, torch_op):
    ours = getattr(fastconv_keras.layers, name)(**arguments)
    x = _inputs(shape, seed=1)
    outputs, context = ours.forward(x, training=True)
    grad_outputs = _inputs(outputs.shape, seed=2)
    grad_inputs, weight_grads = ours.backward(context, grad_outputs)

    x64 = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    y64 = torch_op(x64)
    (y64 * torch.tensor(grad_outputs, dtype=torch.float64)).sum().backward()
    np.testing.assert_allclose(outputs, y64.detach().numpy(), rtol=1e-5, atol=1e-6)
    assert weight_grads == []
    assert grad_inputs.shape == x.shape and grad_inputs.dtype == np.float32
    np.testing.assert_allclose(grad_inputs, x64.grad.numpy(), rtol=1e-5, atol=1e-5)


def _model(library, name, arguments, shape):
    layers = library.layers
    return library.Sequential([library.Input(shape=shape[1:]), getattr(layers, name)(**arguments),
                               layers.Flatten(), layers.Dense(3)])


@pytest.mark.parametrize(("name", "arguments", "shape", "torch_op"), CASES, ids=IDS)
def test_keras_files_load_both_ways(name, arguments, shape, torch_op, tmp_path):
    x = _inputs(shape, seed=3)
    ours = _model(fastconv_keras, name, arguments, shape)
    ours.save(tmp_path / "fastconv.keras")
    in_keras = keras.models.load_model(tmp_path / "fastconv.keras")
    assert type(in_keras.layers[0]).__name__ == name
    np.testing.assert_allclose(in_keras.predict(x, verbose=0), ours.predict(x, verbose=0), rtol=1e-5, atol=1e-5)

    theirs = _model(keras, name, arguments, shape)
    theirs.save(tmp_path / "keras.keras")
    in_fastconv = fastconv_keras.models.load_model(tmp_path / "keras.keras")
    assert type(in_fastconv.layers[0]).__name__ == name
    np.testing.assert_allclose(in_fastconv.predict(x, verbose=0), theirs.predict(x, verbose=0),
                               rtol=1e-5, atol=1e-5)

    # The layer's entry in config.json (its config and Keras's build_config) is the one Keras writes.
    ours_entry, theirs_entry = (_layer_entry(tmp_path / f"{file}.keras") for file in ("fastconv", "keras"))
    assert ours_entry == theirs_entry


def _layer_entry(path):
    with zipfile.ZipFile(path) as archive:
        entry = json.loads(archive.read("config.json"))["config"]["layers"][1]
    entry["config"].pop("name")
    return entry


# Arguments Keras rejects when the layer is made: fastconv must raise the same error with the same message.
KERAS_REJECTS = [
    ("ZeroPadding2D", {"padding": (1, 2, 3)}),
    ("ZeroPadding2D", {"padding": ((1, 2), (3,))}),
    ("ZeroPadding2D", {"padding": ((1, -1), (0, 0))}),
    ("ZeroPadding2D", {"padding": ((1, 1), (0, "a"))}),
    ("ZeroPadding2D", {"padding": 1.5}),
    ("Cropping2D", {"cropping": -1}),
    ("Cropping2D", {"cropping": [1, 2, 3]}),
    ("Cropping2D", {"cropping": (0, -2)}),
    ("Cropping2D", {"cropping": None}),
    ("UpSampling2D", {"size": 0}),
    ("UpSampling2D", {"size": (2, 2, 2)}),
    ("UpSampling2D", {"size": (2, -1)}),
    ("Reshape", {"target_shape": (-1, -1)}),
    ("Reshape", {"target_shape": (-2, 3)}),
    ("Permute", {"dims": (1, 3)}),
    ("Permute", {"dims": (0, 1)}),
    ("LeakyReLU", {"negative_slope": -0.1}),
    ("LeakyReLU", {"negative_slope": None}),
]


@pytest.mark.parametrize(("name", "arguments"), KERAS_REJECTS, ids=[f"{n}-{a}" for n, a in KERAS_REJECTS])
def test_bad_arguments_raise_as_in_keras(name, arguments):
    with pytest.raises(ValueError) as theirs:
        getattr(keras.layers, name)(**arguments)
    with pytest.raises(ValueError) as ours:
        getattr(fastconv_keras.layers, name)(**arguments)
    assert str(ours.value) == str(theirs.value)
    assert next(iter(arguments)) in str(ours.value)  # the message names the argument


# Inputs that do not fit the arguments: Keras rejects them when the layer is called on a symbolic input.
KERAS_REJECTS_INPUTS = [
    ("Cropping2D", {"cropping": 3}, (6, 8, 3)),
    ("Cropping2D", {"cropping": ((0, 0), (4, 4))}, (6, 8, 3)),
    ("Reshape", {"target_shape": (7,)}, (4, 5, 3)),
    ("Reshape", {"target_shape": (-1, 7)}, (4, 5, 3)),
]


@pytest.mark.parametrize(("name", "arguments", "shape"), KERAS_REJECTS_INPUTS,
                         ids=[f"{n}-{a}" for n, a, _ in KERAS_REJECTS_INPUTS])
def test_inputs_that_do_not_fit_raise_as_in_keras(name, arguments, shape):
    with pytest.raises(ValueError) as theirs:
        getattr(keras.layers, name)(**arguments)(keras.Input(shape))
    with pytest.raises(ValueError) as ours:
        getattr(fastconv_keras.layers, name)(**arguments)(fastconv_keras.Input(shape))
    assert str(ours.value) in str(theirs.value)  # Keras wraps it in "Exception encountered when calling ..."
    with pytest.raises(ValueError, match=f"`{next(iter(arguments))}`|{next(iter(arguments))}="):
        getattr(fastconv_keras.layers, name)(**arguments)(_inputs((2, *shape)))


@pytest.mark.parametrize(("name", "arguments", "shape"), [
    ("ZeroPadding2D", {}, (4, 3)), ("Cropping2D", {}, (4, 5, 3, 2)), ("UpSampling2D", {}, (4,)),
    ("Permute", {"dims": (2, 1)}, (4, 5, 3))])
def test_inputs_of_the_wrong_rank_raise_as_in_keras(name, arguments, shape):
    with pytest.raises(ValueError) as theirs:
        getattr(keras.layers, name)(**arguments, name="the_layer")(keras.Input(shape))
    with pytest.raises(ValueError) as ours:
        getattr(fastconv_keras.layers, name)(**arguments, name="the_layer")(fastconv_keras.Input(shape))
    # The same words after the layer's name as Keras (whose newer template also names the input), as
    # fastconv's other layers say it (Layer.check_input_shape).
    tail = "is incompatible with the layer: "
    assert str(ours.value).startswith('Input 0 of layer "the_layer" ' + tail)
    assert str(ours.value).split(tail)[1] == str(theirs.value).split(tail)[1]
    with pytest.raises(ValueError, match="expected ndim="):
        getattr(fastconv_keras.layers, name)(**arguments)(_inputs((2, *shape)))


def test_rescaling_takes_numbers_or_lists_only():
    with pytest.raises(NotImplementedError, match="`scale`"):
        fastconv_keras.layers.Rescaling(np.ones(3))
    with pytest.raises(NotImplementedError, match="`offset`"):
        fastconv_keras.layers.Rescaling(1.0, offset="zero")


@pytest.mark.parametrize("name", ["ZeroPadding2D", "Cropping2D", "UpSampling2D"])
def test_channels_first_is_not_supported(name):
    with pytest.raises(NotImplementedError, match="data_format='channels_first'"):
        getattr(fastconv_keras.layers, name)(data_format="channels_first")
    layer = getattr(fastconv_keras.layers, name)(data_format="channels_last")
    assert layer.get_config()["data_format"] == "channels_last"


def test_interpolations_keras_has_but_fastconv_lacks_raise_not_implemented():
    for interpolation in ("bicubic", "area", "lanczos3", "lanczos5"):
        keras.layers.UpSampling2D(interpolation=interpolation)
        with pytest.raises(NotImplementedError, match=f"interpolation='{interpolation}'"):
            fastconv_keras.layers.UpSampling2D(interpolation=interpolation)
    with pytest.raises(ValueError, match="`interpolation`.*interpolation='cubic'"):
        fastconv_keras.layers.UpSampling2D(interpolation="cubic")


def test_zero_padding_rejects_a_negative_int():
    with pytest.raises(ValueError, match=r"`padding` cannot be negative. Received: padding=-1."):
        fastconv_keras.layers.ZeroPadding2D(-1)


def test_leaky_relu_reads_the_deprecated_alpha_as_keras_does():
    with pytest.warns(UserWarning, match="`alpha` is deprecated"):
        ours = fastconv_keras.layers.LeakyReLU(alpha=0.1)
    with pytest.warns(UserWarning, match="`alpha` is deprecated"):
        theirs = keras.layers.LeakyReLU(alpha=0.1)
    assert ours.negative_slope == theirs.negative_slope == 0.1


def test_layers_train_inside_a_model():
    """Gradients flow through the layers in fit(): a conv before them learns (its kernel changes)."""
    layers = fastconv_keras.layers
    model = fastconv_keras.Sequential([
        fastconv_keras.Input((6, 6, 1)), layers.Rescaling(0.5, offset=0.1), layers.Conv2D(2, 3),
        layers.LeakyReLU(), layers.ZeroPadding2D(1), layers.UpSampling2D(interpolation="bilinear"),
        layers.Cropping2D(2), layers.Permute((2, 1, 3)), layers.Reshape((-1,)), layers.Dense(2)])
    model.compile(optimizer="sgd", loss="mse")
    x, y = _inputs((8, 6, 6, 1)), _inputs((8, 2), seed=5)
    before = model.layers[1].get_weights()[0].copy()
    history = model.fit(x, y, epochs=3, batch_size=8, verbose=0)
    assert not np.array_equal(model.layers[1].get_weights()[0], before)
    assert history.history["loss"][-1] < history.history["loss"][0]
