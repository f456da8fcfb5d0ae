"""The rest of the 1-D convolution family against real Keras 3 (values, shapes, configs, ``.keras`` files both
ways) and PyTorch autograd in float64 (gradients): ``Conv1DTranspose``, ``DepthwiseConv1D``,
``SeparableConv1D``, the 1-D shape layers ``ZeroPadding1D``, ``Cropping1D``, ``UpSampling1D``, and the
channel dropouts ``SpatialDropout1D``/``SpatialDropout2D`` (with ``Dropout``'s ``noise_shape``)."""

import textwrap

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from fastconv import keras as fk
from keras_reference import keras
from test_compilation import _run
from test_conv1d import (_torch_pads, _without_initializer_off_values, config_equals_keras_and_round_trips,
                         loads_from_keras, trains_and_moves_to_keras)

pytestmark = pytest.mark.filterwarnings(
    "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning",  # Keras's torch backend
)

RNG = np.random.default_rng(16)

CONV_LAYERS = ("Conv1DTranspose", "DepthwiseConv1D", "SeparableConv1D")

# (kernel_size, strides, dilation_rate); Keras rejects strides > 1 together with dilation_rate > 1.
GEOMETRIES = [(1, 1, 1), (2, 1, 1), (3, 1, 1), (4, 1, 1), (3, 2, 1), (2, 2, 1), (4, 3, 1), (3, 1, 2), (2, 1, 3)]


def _arguments(name, kernel_size, strides, dilation_rate, padding, **extra):
    arguments = dict(kernel_size=kernel_size, strides=strides, dilation_rate=dilation_rate, padding=padding,
                     **extra)
    if name != "DepthwiseConv1D":
        arguments["filters"] = 3
    return arguments


def _keras_output(layer, x):
    return np.asarray(layer(x).detach().cpu())


def _paired(name, x, **kwargs):
    """A Keras layer and a fastconv one with Keras's weights, moved off Keras's initial values (a non-zero
    bias), both built on ``x``."""
    theirs = getattr(keras.layers, name)(**kwargs)
    theirs(x)
    weights = [np.asarray(w) + RNG.standard_normal(np.shape(w)).astype(np.float32) for w in theirs.get_weights()]
    theirs.set_weights(weights)
    ours = getattr(fk.layers, name)(**kwargs)
    ours(x)
    ours.set_weights(weights)
    return theirs, ours


# ----------------------------------------------------------------------------- forward values and shapes


@pytest.mark.parametrize("padding", ["valid", "same"])
@pytest.mark.parametrize("kernel_size, strides, dilation_rate", GEOMETRIES, ids=str)
@pytest.mark.parametrize("name", CONV_LAYERS)
def test_matches_keras(name, kernel_size, strides, dilation_rate, padding):
    x = RNG.standard_normal((2, 9, 4)).astype(np.float32)
    kwargs = _arguments(name, kernel_size, strides, dilation_rate, padding)
    if name != "Conv1DTranspose":
        kwargs["depth_multiplier"] = 2
    theirs, ours = _paired(name, x, **kwargs)
    expected = _keras_output(theirs, x)
    actual = ours(x)
    assert actual.shape == expected.shape
    np.testing.assert_allclose(actual, expected, rtol=1e-5, atol=1e-5)
    symbolic = (None, 9, 4)
    assert ours.compute_output_shape(symbolic) == tuple(theirs.compute_output_shape(symbolic))
    assert ours.count_params() == theirs.count_params()
    assert [w.shape for w in ours.weights] == [tuple(w.shape) for w in theirs.weights]


@pytest.mark.parametrize("output_padding, strides, padding", [(1, 2, "valid"), (1, 2, "same"), (2, 3, "same"),
                                                              (0, 3, "valid"), (1, 3, "valid")])
def test_transpose_output_padding_matches_keras(output_padding, strides, padding):
    x = RNG.standard_normal((2, 6, 3)).astype(np.float32)
    theirs, ours = _paired("Conv1DTranspose", x, filters=4, kernel_size=3, strides=strides, padding=padding,
                           output_padding=output_padding)
    expected = _keras_output(theirs, x)
    np.testing.assert_allclose(ours(x), expected, rtol=1e-5, atol=1e-5)
    assert ours.compute_output_shape((None, 6, 3)) == tuple(theirs.compute_output_shape((None, 6, 3)))


@pytest.mark.parametrize("activation, use_bias", [("relu", True), ("tanh", False), ("softmax", True)])
@pytest.mark.parametrize("name", CONV_LAYERS)
def test_activations_and_no_bias_match_keras(name, activation, use_bias):
    x = RNG.standard_normal((2, 10, 3)).astype(np.float32)
    theirs, ours = _paired(name, x, **_arguments(name, 3, 1, 1, "same", activation=activation, use_bias=use_bias))
    np.testing.assert_allclose(ours(x), _keras_output(theirs, x), rtol=1e-5, atol=1e-6)
    assert len(ours.weights) == len(theirs.weights)


def test_depthwise_1d_output_channels_follow_keras_order():
    # Channel c's q-th filter is output channel c*m + q, with kernel[:, c, q].
    x = np.ones((1, 4, 2), np.float32)
    layer = fk.layers.DepthwiseConv1D(1, depth_multiplier=3, use_bias=False)
    layer(x)
    layer.set_weights([np.arange(6, dtype=np.float32).reshape(1, 2, 3)])
    assert layer(x)[0, 0].tolist() == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]


# ----------------------------------------------------------------------------- gradients against torch (float64)


def _torch_depthwise(xt, kernel, strides, dilation_rate, padding, steps):
    """Keras's depthwise 1-D convolution in torch: kernel ``(k, C, m)`` -> groups of one input channel."""
    k, channels, multiplier = kernel.shape
    wt = torch.tensor(kernel.transpose(1, 2, 0).reshape(channels * multiplier, 1, k), requires_grad=True)
    padded = F.pad(xt, _torch_pads(steps, k, strides, dilation_rate, padding))
    return F.conv1d(padded, wt, stride=strides, dilation=dilation_rate, groups=channels), wt


def _torch_transpose(xt, kernel, strides, dilation_rate, padding, output_padding, steps):
    """Keras's transposed 1-D convolution, written from its definition: input step i adds x[i] * w[a] at
    i*s + a*d of the full output, from which Keras keeps the cells that fastconv.shapes computes."""
    k, filters, _ = kernel.shape
    wt = torch.tensor(kernel.transpose(2, 1, 0), requires_grad=True)  # (in, out, k): torch's layout
    full = F.conv_transpose1d(xt, wt, stride=strides, dilation=dilation_rate)
    from fastconv import shapes
    crop, out = shapes.conv_transpose_geometry(steps, k, padding, strides, output_padding, dilation_rate)
    full = F.pad(full, (0, max(0, crop + out - full.shape[-1])))
    return full[..., crop:crop + out], wt


@pytest.mark.parametrize("padding", ["valid", "same"])
@pytest.mark.parametrize("kernel_size, strides, dilation_rate", GEOMETRIES, ids=str)
@pytest.mark.parametrize("name", CONV_LAYERS)
def test_gradients_match_torch(name, kernel_size, strides, dilation_rate, padding):
    steps = 10
    layer = getattr(fk.layers, name)(**_arguments(name, kernel_size, strides, dilation_rate, padding,
                                                  activation="tanh"))
    layer(np.zeros((1, steps, 3), np.float32))
    layer.set_weights([RNG.standard_normal(w.shape).astype(np.float32) for w in layer.weights])
    x = RNG.standard_normal((2, steps, 3))
    outputs, context = layer.forward(x, training=True)
    g = RNG.standard_normal(outputs.shape)
    grad_x, grads = layer.backward(context, g)

    xt = torch.tensor(x.transpose(0, 2, 1), requires_grad=True)
    weights = [w.numpy().astype(np.float64) for w in layer.weights]
    bt = torch.tensor(weights[-1], requires_grad=True)
    if name == "Conv1DTranspose":
        out, wt = _torch_transpose(xt, weights[0], strides, dilation_rate, padding, None, steps)
        leaves = [(wt, lambda grad: grad.transpose(2, 1, 0))]
    elif name == "DepthwiseConv1D":
        out, wt = _torch_depthwise(xt, weights[0], strides, dilation_rate, padding, steps)
        k, channels, multiplier = weights[0].shape
        leaves = [(wt, lambda grad: grad.reshape(channels, multiplier, k).transpose(2, 0, 1))]
    else:
        depthwise, wt = _torch_depthwise(xt, weights[0], strides, dilation_rate, padding, steps)
        pt = torch.tensor(weights[1][0].T[:, :, None], requires_grad=True)  # (filters, C*m, 1)
        out = F.conv1d(depthwise, pt)
        k, channels, multiplier = weights[0].shape
        leaves = [(wt, lambda grad: grad.reshape(channels, multiplier, k).transpose(2, 0, 1)),
                  (pt, lambda grad: grad[:, :, 0].T[None])]
    out = torch.tanh(out + bt[:, None])
    out.backward(torch.tensor(g.transpose(0, 2, 1)))

    assert outputs.dtype == grad_x.dtype == np.float64
    np.testing.assert_allclose(outputs, out.detach().numpy().transpose(0, 2, 1), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(grad_x, xt.grad.numpy().transpose(0, 2, 1), rtol=1e-10, atol=1e-12)
    assert len(grads) == len(leaves) + 1
    for grad, (leaf, to_keras) in zip(grads, leaves):
        np.testing.assert_allclose(grad, to_keras(leaf.grad.numpy()), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(grads[-1], bt.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_transpose_output_padding_gradients_match_torch():
    layer = fk.layers.Conv1DTranspose(2, 3, strides=3, padding="same", output_padding=2, use_bias=False)
    layer(np.zeros((1, 5, 3), np.float32))
    x = RNG.standard_normal((2, 5, 3))
    outputs, context = layer.forward(x, training=True)
    g = RNG.standard_normal(outputs.shape)
    grad_x, (grad_kernel,) = layer.backward(context, g)
    xt = torch.tensor(x.transpose(0, 2, 1), requires_grad=True)
    out, wt = _torch_transpose(xt, layer.kernel.numpy().astype(np.float64), 3, 1, "same", 2, 5)
    out.backward(torch.tensor(g.transpose(0, 2, 1)))
    np.testing.assert_allclose(outputs, out.detach().numpy().transpose(0, 2, 1), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(grad_x, xt.grad.numpy().transpose(0, 2, 1), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(grad_kernel, wt.grad.numpy().transpose(2, 1, 0), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name", CONV_LAYERS)
def test_first_layer_skips_the_input_gradient(name):
    layer = getattr(fk.layers, name)(**_arguments(name, 3, 1, 1, "same"))
    x = RNG.standard_normal((2, 6, 4)).astype(np.float32)
    layer(x)
    outputs, context = layer.forward(x, training=True)
    grad_x, grads = layer.backward(context, np.ones_like(outputs), need_grad_inputs=False)
    assert grad_x is None
    assert [g.shape for g in grads] == [w.shape for w in layer.weights]


# ----------------------------------------------------------------------------- the 1-D shape layers


SHAPE_CASES = [
    ("ZeroPadding1D", dict()), ("ZeroPadding1D", dict(padding=(0, 3))), ("ZeroPadding1D", dict(padding=2)),
    ("Cropping1D", dict()), ("Cropping1D", dict(cropping=(2, 0))), ("Cropping1D", dict(cropping=3)),
    ("UpSampling1D", dict()), ("UpSampling1D", dict(size=3)), ("UpSampling1D", dict(size=1)),
]


def _torch_shape_layer(xt, name, kwargs):
    """The layer's function in torch on ``(batch, channels, steps)``, from its definition."""
    if name == "ZeroPadding1D":
        padding = kwargs.get("padding", 1)
        return F.pad(xt, (padding, padding) if isinstance(padding, int) else padding)
    if name == "Cropping1D":
        start, end = (lambda c: (c, c) if isinstance(c, int) else c)(kwargs.get("cropping", (1, 1)))
        return xt[..., start:xt.shape[-1] - end]
    return torch.repeat_interleave(xt, kwargs.get("size", 2), dim=-1)


@pytest.mark.parametrize("name, kwargs", SHAPE_CASES, ids=str)
def test_shape_layers_match_keras_and_torch_gradients(name, kwargs):
    x = RNG.standard_normal((2, 7, 3)).astype(np.float32)
    theirs = getattr(keras.layers, name)(**kwargs)
    ours = getattr(fk.layers, name)(**kwargs)
    np.testing.assert_array_equal(ours(x), _keras_output(theirs, x))
    assert ours.compute_output_shape((None, 7, 3)) == tuple(theirs.compute_output_shape((None, 7, 3)))
    assert ours.compute_output_shape((None, None, 3)) == tuple(theirs.compute_output_shape((None, None, 3)))

    x64 = x.astype(np.float64)
    outputs, context = ours.forward(x64, training=True)
    g = RNG.standard_normal(outputs.shape)
    grad_x, grads = ours.backward(context, g)
    xt = torch.tensor(x64.transpose(0, 2, 1), requires_grad=True)
    out = _torch_shape_layer(xt, name, kwargs)
    out.backward(torch.tensor(g.transpose(0, 2, 1)))
    assert grads == [] and grad_x.shape == x.shape
    np.testing.assert_array_equal(outputs, out.detach().numpy().transpose(0, 2, 1))
    np.testing.assert_allclose(grad_x, xt.grad.numpy().transpose(0, 2, 1), rtol=1e-12, atol=1e-12)


def test_cropping_all_steps_is_keras_error():
    with pytest.raises(ValueError, match="cropping"):
        fk.layers.Cropping1D((2, 2))(np.zeros((1, 4, 2), np.float32))
    with pytest.raises(ValueError, match="cropping"):
        fk.layers.Cropping1D((2, 2))(fk.Input((4, 2)))


# ----------------------------------------------------------------------------- channel dropout


@pytest.mark.parametrize("name, shape", [("SpatialDropout1D", (64, 5, 16)), ("SpatialDropout2D", (64, 3, 4, 16))])
def test_spatial_dropout_drops_whole_channels(name, shape):
    x = RNG.standard_normal(shape).astype(np.float32) + 3.0  # no zeros of its own
    layer = getattr(fk.layers, name)(0.25, seed=3)
    np.testing.assert_array_equal(layer(x), x)  # inference: the identity
    outputs, mask = layer.forward(x, training=True)
    kept = outputs != 0
    per_channel = kept.reshape(shape[0], -1, shape[-1])
    assert (per_channel.all(axis=1) | ~per_channel.any(axis=1)).all()  # a channel is kept or dropped everywhere
    rate_dropped = 1 - per_channel[:, 0].mean()
    assert 0.15 < rate_dropped < 0.35  # 1,024 channels at 0.25: outside this is > 5 standard deviations
    np.testing.assert_allclose(outputs[kept], x[kept] / 0.75, rtol=1e-6)
    grad_x, grads = layer.backward(mask, np.ones_like(x))
    np.testing.assert_array_equal(grad_x, np.where(kept, np.float32(1 / 0.75), 0))
    again = getattr(fk.layers, name)(0.25, seed=3).forward(x, training=True)[0]
    np.testing.assert_array_equal(again, outputs)  # seeded: the same masks


def test_dropout_noise_shape_broadcasts_one_draw():
    x = np.ones((4, 6, 5), np.float32)
    outputs, _ = fk.layers.Dropout(0.5, noise_shape=(1, None, 1), seed=0).forward(x, training=True)
    assert (outputs == outputs[:1, :, :1]).all()  # one draw per step, shared by the batch and the channels
    assert {0.0, 2.0} == set(np.unique(outputs).tolist())
    with pytest.raises(ValueError, match="noise_shape"):
        fk.layers.Dropout(0.5, noise_shape=(None, 3, 1)).forward(x, training=True)  # 3 is not 6 nor 1
    np.testing.assert_array_equal(fk.layers.Dropout(0.5, noise_shape=(None, 3, 1))(x), x)  # inference: as Keras
    with pytest.raises(ValueError, match="noise_shape"):
        fk.layers.Dropout(0.5, noise_shape=(None, 0))
    with pytest.raises(ValueError, match="incompatible"):
        fk.layers.SpatialDropout1D(0.5)(np.zeros((2, 3, 4, 5), np.float32))


# ----------------------------------------------------------------------------- configs


CONFIG_CASES = [
    ("Conv1DTranspose", dict(filters=4, kernel_size=3, strides=2, padding="same", activation="relu")),
    ("Conv1DTranspose", dict(filters=2, kernel_size=(5,), strides=3, output_padding=1, use_bias=False)),
    ("Conv1DTranspose", dict(filters=2, kernel_size=3, dilation_rate=2)),
    ("DepthwiseConv1D", dict(kernel_size=3, depth_multiplier=2, padding="same")),
    ("DepthwiseConv1D", dict(kernel_size=[4], strides=2, activation="relu", use_bias=False)),
    ("SeparableConv1D", dict(filters=5, kernel_size=3, depth_multiplier=3, dilation_rate=2)),
    ("SeparableConv1D", dict(filters=5, kernel_size=3, strides=2, padding="SAME", activation="tanh")),
    ("ZeroPadding1D", dict(padding=(1, 2))), ("Cropping1D", dict(cropping=2)), ("UpSampling1D", dict(size=4)),
    ("SpatialDropout1D", dict(rate=0.3, seed=4)), ("SpatialDropout2D", dict(rate=0.1)),
    ("Dropout", dict(rate=0.2, noise_shape=(None, 1, 8))),
]


@pytest.mark.parametrize("name, kwargs", CONFIG_CASES, ids=lambda case: str(case))
def test_get_config_equals_keras_and_round_trips(name, kwargs):
    config_equals_keras_and_round_trips(name, kwargs)


def test_aliases():
    assert fk.layers.Convolution1DTranspose is fk.layers.Conv1DTranspose
    assert fk.layers.SeparableConvolution1D is fk.layers.SeparableConv1D


# ----------------------------------------------------------------------------- a model, trained and saved


def _model(namespace):
    layers = namespace.layers
    inputs = namespace.Input((24, 3))
    x = layers.ZeroPadding1D((1, 1))(inputs)
    x = layers.SeparableConv1D(8, 3, activation="relu", depth_multiplier=2)(x)
    x = layers.SpatialDropout1D(0.1, seed=2)(x)
    skip = x
    x = layers.DepthwiseConv1D(3, strides=2, padding="same", activation="relu")(x)
    x = layers.UpSampling1D(2)(x)
    x = layers.Concatenate()([x, skip])
    x = layers.Conv1DTranspose(6, 3, strides=2, padding="same", output_padding=1, activation="relu")(x)
    x = layers.Cropping1D((2, 2))(x)
    x = layers.GlobalMaxPooling1D()(x)
    return namespace.Model(inputs, layers.Dense(2, activation="softmax")(x))


def test_1d_model_trains_and_saves_to_keras(tmp_path):
    fk.utils.set_random_seed(1)
    trains_and_moves_to_keras(_model(fk), tmp_path, epochs=40)


def test_keras_1d_model_loads_in_fastconv(tmp_path):
    model = _model(keras)
    for layer in model.layers:  # non-zero biases
        layer.set_weights([w + 0.05 for w in layer.get_weights()])
    loaded = loads_from_keras(model, tmp_path)
    for ours, theirs in zip(loaded.layers[:-1], model.layers[:-1]):  # the 1-D layers (Dense has tests of its own)
        assert ours.get_config() == _without_initializer_off_values(theirs.get_config())


# ----------------------------------------------------------------------------- bad arguments


@pytest.mark.parametrize("name, kwargs, argument", [
    ("Conv1DTranspose", dict(filters=0, kernel_size=3), "filters"),
    ("Conv1DTranspose", dict(filters=2, kernel_size=(3, 3)), "kernel_size"),
    ("Conv1DTranspose", dict(filters=2, kernel_size=3, padding="causal"), "padding"),
    ("Conv1DTranspose", dict(filters=2, kernel_size=3, strides=2, output_padding=2), "output_padding"),
    ("Conv1DTranspose", dict(filters=2, kernel_size=3, strides=2, output_padding=(1, 1)), "output_padding"),
    ("DepthwiseConv1D", dict(kernel_size=0), "kernel_size"),
    ("DepthwiseConv1D", dict(kernel_size=3, depth_multiplier=0), "depth_multiplier"),
    ("DepthwiseConv1D", dict(kernel_size=3, padding="causal"), "padding"),
    ("SeparableConv1D", dict(filters=-1, kernel_size=3), "filters"),
    ("SeparableConv1D", dict(filters=2, kernel_size=3, strides=(1, 1)), "strides"),
    ("ZeroPadding1D", dict(padding=-1), "padding"),
    ("ZeroPadding1D", dict(padding=(1, 2, 3)), "padding"),
    ("Cropping1D", dict(cropping=(1, -1)), "cropping"),
    ("UpSampling1D", dict(size=0), "size"),
    ("SpatialDropout1D", dict(rate=1.5), "rate"),
])
def test_bad_arguments_raise_value_error_naming_them(name, kwargs, argument):
    with pytest.raises(ValueError, match=argument):
        getattr(fk.layers, name)(**kwargs)
    with pytest.raises(ValueError):
        getattr(keras.layers, name)(**kwargs)


@pytest.mark.parametrize("name, kwargs", [("Conv1DTranspose", dict(filters=2, kernel_size=3)),
                                          ("DepthwiseConv1D", dict(kernel_size=3)),
                                          ("SeparableConv1D", dict(filters=2, kernel_size=3)),
                                          ("UpSampling1D", dict()), ("ZeroPadding1D", dict()),
                                          ("Cropping1D", dict())])
def test_image_inputs_are_keras_error(name, kwargs):
    with pytest.raises(ValueError, match="ndim=3"):
        getattr(fk.layers, name)(**kwargs)(np.zeros((1, 5, 5, 2), np.float32))


def test_window_longer_than_the_input_is_keras_error():
    with pytest.raises(ValueError, match="negative"):
        fk.layers.DepthwiseConv1D(5)(np.zeros((1, 4, 2), np.float32))
    with pytest.raises(ValueError, match="negative"):
        fk.layers.SeparableConv1D(2, 5)(fk.Input((4, 2)))


# ----------------------------------------------------------------------------- compiled once, before the step


_1D_STEP = textwrap.dedent("""
    import numpy as np
    from fastconv import keras
    inputs = keras.Input((16, 4))
    x = keras.layers.SeparableConv1D(8, 3, padding="same", activation="relu")(inputs)
    x = keras.layers.DepthwiseConv1D(3, strides=2)(x)
    x = keras.layers.Conv1DTranspose(4, 2, strides=2)(x)
    outputs = keras.layers.Dense(3, activation="softmax")(keras.layers.GlobalAveragePooling1D()(x))
    model = keras.Model(inputs, outputs)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.train_on_batch(np.random.rand(4, 16, 4), np.arange(4) % 3)
    from fastconv.kernels import conv2d, conv2d_tiled, conv2d_tiles, depthwise, normalization
    misses = [name for module in (conv2d, conv2d_tiled, conv2d_tiles, depthwise, normalization)
              for name, value in vars(module).items()
              if hasattr(value, "stats") and sum(value.stats.cache_misses.values())]
    print("compiled here:", " ".join(sorted(misses)) or "nothing")
""")


def test_1d_layers_prepare_the_families_they_run(tmp_path):
    # The 1-D layers name their 2-D twins' kernel families; prepared for in other processes, the training step
    # loads every kernel it runs from the cache (one the families missed would compile here).
    prepared = _run(_1D_STEP.replace("model.train_on_batch", "model._prepare_kernels(True) or print"), tmp_path)
    assert prepared.returncode == 0, prepared.stderr
    step = _run(_1D_STEP, tmp_path)
    assert step.returncode == 0, step.stderr
    assert step.stdout.strip() == "compiled here: nothing", step.stdout + step.stderr
