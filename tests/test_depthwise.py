"""Depthwise convolution and the DepthwiseConv2D and SeparableConv2D layers: against the numpy reference,
finite differences, PyTorch autograd and real Keras 3 (values, gradients, configs, files)."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st

import reference
from fastconv import layers, ops, parallel
from fastconv.kernels import simd
from fastconv.models import Sequential, load_model
from keras_reference import keras


def _data(rng, dtype, size, kernel, channels=3, multiplier=1, batch=2):
    x = reference.random(rng, (batch, *size, channels), dtype)
    w = reference.random(rng, (*kernel, channels, multiplier), dtype)
    return x, w


def _check_against_reference(rng, dtype, x, w, strides, padding, dilation_rate, activation=None):
    bias = reference.random(rng, (w.shape[2] * w.shape[3],), dtype)
    expected = reference.depthwise_conv(x, w, strides, padding, dilation_rate, bias, activation)
    out = ops.depthwise_conv_bias_activation(x, w, bias, strides, padding, dilation_rate=dilation_rate,
                                             activation=activation)
    reference.assert_close(out, expected, dtype)
    g = reference.random(rng, expected.shape, dtype)
    grads = ops.depthwise_conv_bias_activation_grad(x, w, out, g, strides, padding, dilation_rate=dilation_rate,
                                                    activation=activation)
    for actual, wanted in zip(grads, reference.depthwise_conv_grad(x, w, g, strides, padding, dilation_rate, bias,
                                                                   activation)):
        reference.assert_close(actual, wanted, dtype)


# ----------------------------------------------------------------------------- against the reference


@pytest.mark.parametrize("multiplier", [1, 2])
@pytest.mark.parametrize("kernel", [(3, 3), (5, 5)], ids=str)
@pytest.mark.parametrize("strides", [1, 2])
@pytest.mark.parametrize("padding", ["valid", "same"])
def test_depthwise_matches_reference(rng, dtype, padding, strides, kernel, multiplier):
    # 19 channels: one whole vector and a masked tail with AVX-512 (two and a tail with AVX2).
    x, w = _data(rng, dtype, (9, 8), kernel, channels=19, multiplier=multiplier)
    _check_against_reference(rng, dtype, x, w, strides, padding, 1)


@pytest.mark.parametrize("case", [
    dict(dilation_rate=2, strides=1, kernel=(3, 3), padding="same"),
    dict(dilation_rate=(1, 3), strides=1, kernel=(3, 2), padding="valid"),
    dict(dilation_rate=2, strides=2, kernel=(3, 3), padding="same"),  # Keras allows both together here
    dict(dilation_rate=(2, 1), strides=(1, 3), kernel=(2, 3), padding="same"),
], ids=str)
def test_dilated_depthwise_matches_reference(rng, dtype, case):
    x, w = _data(rng, dtype, (10, 11), case["kernel"], channels=5, multiplier=2)
    _check_against_reference(rng, dtype, x, w, case["strides"], case["padding"], case["dilation_rate"])


@pytest.mark.parametrize("kernel", [(3, 3), (5, 5), (3, 4)], ids=str)
@pytest.mark.parametrize("strides", [1, 2, 3, (2, 1)], ids=str)
@pytest.mark.parametrize("padding", ["valid", "same"])
def test_depthwise_wide_rows(rng, dtype, padding, strides, kernel):
    """Rows long enough for the kernels' blocks of pixels inside the image, the last block moved back, beside
    the clipped ones at the edges (every phase of the input gradient's strided blocks too): the generated row
    helpers (3 wide at stride 1 along the width, any stride along the height) and the table of taps (the
    others)."""
    x, w = _data(rng, dtype, (5, 37), kernel, channels=18, multiplier=1)
    _check_against_reference(rng, dtype, x, w, strides, padding, 1, "relu")


@pytest.mark.bounds
@pytest.mark.parametrize("case", [
    dict(size=(7, 8), kernel=(3, 3), strides=2, padding="same", dilation_rate=1, activation="relu"),
    dict(size=(6, 5), kernel=(5, 5), strides=(3, 1), padding="same", dilation_rate=1, activation=None),
    dict(size=(7, 8), kernel=(5, 1), strides=3, padding="valid", dilation_rate=1, activation="relu"),
    dict(size=(9, 12), kernel=(3, 2), strides=2, padding="same", dilation_rate=(3, 2), activation=None),
], ids=str)
def test_depthwise_edge_geometries(rng, dtype, case):
    """Windows reaching past every edge, with and without the fused ReLU (also run under NUMBA_BOUNDSCHECK=1)."""
    x, w = _data(rng, dtype, case["size"], case["kernel"], channels=17, multiplier=2, batch=3)
    _check_against_reference(rng, dtype, x, w, case["strides"], case["padding"], case["dilation_rate"],
                             case["activation"])


@given(data=st.data())
def test_depthwise_random_shapes(data):
    draw = data.draw
    dtype = np.dtype(draw(st.sampled_from([np.float32, np.float64])))
    kernel = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    strides = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    dilation = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    padding = draw(st.sampled_from(["valid", "same"]))
    extent = [d * (k - 1) + 1 for k, d in zip(kernel, dilation)]
    size = (draw(st.integers(extent[0], 9)), draw(st.integers(extent[1], 17)))  # rows with blocks of pixels
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    x, w = _data(rng, dtype, size, kernel, channels=draw(st.integers(1, 20)), multiplier=draw(st.integers(1, 3)),
                 batch=draw(st.integers(1, 3)))
    _check_against_reference(rng, dtype, x, w, strides, padding, dilation,
                             draw(st.sampled_from([None, "relu"])))


# ----------------------------------------------------------------------------- finite differences, PyTorch


def test_gradients_match_finite_differences():
    rng = np.random.default_rng(3)
    x, w = _data(rng, np.float64, (6, 5), (3, 3), channels=3, multiplier=2)
    bias = reference.random(rng, (6,))
    g = reference.random(rng, (2, 3, 3, 6))

    def loss():
        return float(np.sum(ops.depthwise_conv_bias_activation(x, w, bias, 2, "same", activation="relu") * g))

    out = ops.depthwise_conv_bias_activation(x, w, bias, 2, "same", activation="relu")
    grad_x, grad_w, grad_b = ops.depthwise_conv_bias_activation_grad(x, w, out, g, 2, "same", activation="relu")
    for grad, variable in ((grad_x, x), (grad_w, w), (grad_b, bias)):
        np.testing.assert_allclose(grad, reference.numerical_gradient(loss, variable), rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("case", [
    dict(strides=1, padding="same", dilation_rate=1, multiplier=1),
    dict(strides=2, padding="valid", dilation_rate=1, multiplier=2),
    dict(strides=1, padding="valid", dilation_rate=2, multiplier=3),
], ids=str)
def test_matches_torch_autograd(rng, case):
    x, w = _data(rng, np.float64, (11, 10), (3, 3), channels=4, multiplier=case["multiplier"])
    bias = reference.random(rng, (4 * case["multiplier"],))
    xt = torch.tensor(x.transpose(0, 3, 1, 2), requires_grad=True)
    # PyTorch's grouped weight (C*m, 1, KH, KW): output channel c*m + q is Keras's kernel[:, :, c, q].
    wt = torch.tensor(w.reshape(3, 3, -1).transpose(2, 0, 1)[:, None], requires_grad=True)
    bt = torch.tensor(bias, requires_grad=True)
    padding = "same" if case["padding"] == "same" and case["strides"] == 1 else 0
    out_t = F.conv2d(xt, wt, bt, stride=case["strides"], padding=padding, dilation=case["dilation_rate"], groups=4)
    g = reference.random(rng, tuple(out_t.permute(0, 2, 3, 1).shape))
    out_t.backward(torch.tensor(g.transpose(0, 3, 1, 2)))
    args = (case["strides"], case["padding"], None, case["dilation_rate"])
    out = ops.depthwise_conv_bias_activation(x, w, bias, *args)
    grad_x, grad_w, grad_b = ops.depthwise_conv_bias_activation_grad(x, w, out, g, *args)
    np.testing.assert_allclose(out, out_t.detach().numpy().transpose(0, 2, 3, 1), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(grad_x, xt.grad.numpy().transpose(0, 2, 3, 1), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(grad_w, wt.grad.numpy()[:, 0].transpose(1, 2, 0).reshape(w.shape), rtol=1e-12,
                               atol=1e-12)
    np.testing.assert_allclose(grad_b, bt.grad.numpy(), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("width", [3, 4, 7, 14, 18])
def test_same_padding_is_bitwise_the_zero_padded_valid_convolution(dtype, width):
    """The kernels never pad: the pixels at the edges clip their windows (one by one) or read the padding as
    zeros (blocks through the row helpers). Either way the sums must be, bit for bit, those of the explicitly
    zero-padded input with 'valid' padding, forward and input gradient (whose sums run in the same order)."""
    rng = np.random.default_rng(width)
    x, w = _data(rng, dtype, (6, width), (3, 3), channels=19, batch=2)
    bias = reference.random(rng, (19,), dtype)
    padded = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
    same = ops.depthwise_conv_bias_activation(x, w, bias, 1, "same")
    assert same.tobytes() == ops.depthwise_conv_bias_activation(padded, w, bias, 1, "valid").tobytes()
    g = reference.random(rng, same.shape, dtype)
    grad_same = ops.depthwise_conv_grad(x, w, g, 1, "same")[0]
    grad_padded = ops.depthwise_conv_grad(padded, w, g, 1, "valid")[0][:, 1:-1, 1:-1]
    assert grad_same.tobytes() == np.ascontiguousarray(grad_padded).tobytes()


@pytest.mark.parametrize("activation", [None, "relu"])
@pytest.mark.parametrize("kernel", [(3, 3), (5, 5)], ids=str)
@pytest.mark.parametrize("padding", ["valid", "same"])
def test_nan_and_infinities_reach_the_outputs_as_in_float64(activation, kernel, padding):
    """A NaN or an infinity in the input reaches every output whose window holds it as the float64
    reference computes it: without the ReLU, -inf stays -inf (the kernels clamp below at -inf instead of
    branching, ``simd.vclamp_below``); with it, -inf gives 0 and NaN stays NaN, as ``tf.nn.relu`` does. 3x3
    rows inside the image (the three-row blocks of ``_forward_row_run``), their edges, and the table of taps
    (5x5)."""
    rng = np.random.default_rng(5)
    x = rng.uniform(0.5, 1.0, (2, 9, 20, 19)).astype(np.float32)
    w = rng.uniform(0.5, 1.0, (*kernel, 19, 1)).astype(np.float32)
    bias = rng.uniform(-1.0, 1.0, 19).astype(np.float32)
    x[0, 4, 9, 0] = np.nan  # inside the image
    x[0, 0, 0, 1] = -np.inf  # a corner: the edge blocks
    x[1, 6, 15, 2] = np.inf
    x[1, 6, 17, 2] = -np.inf  # windows holding both: NaN
    x[1, 3, 19, 18] = -np.inf  # the last, partial vector of channels (AVX-512), at the right edge
    out = ops.depthwise_conv_bias_activation(x, w, bias, 1, padding, activation=activation)
    with np.errstate(invalid="ignore"):  # inf - inf: the NaN expected
        expected = reference.depthwise_conv(x, w, 1, padding, 1, bias, activation)
    special = ~np.isfinite(expected)
    assert special.any() and (activation == "relu" or (expected == -np.inf).any())
    np.testing.assert_array_equal(np.isnan(out), np.isnan(expected))
    np.testing.assert_array_equal(out[special & ~np.isnan(expected)], expected[special & ~np.isnan(expected)])
    reference.assert_close(np.where(special, 0, out), np.where(special, 0, expected), np.float32)


# ----------------------------------------------------------------------------- threads


@pytest.mark.parametrize("strides, size", [(2, (9, 8)), (1, (9, 20))], ids=["table of taps", "row helpers"])
def test_bitwise_identical_for_any_thread_count(restore_threads, strides, size):
    rng = np.random.default_rng(11)
    # 20 images: the 16 kernel-gradient chunks of uneven sizes. At stride 1, rows of 20: the kernel gradient's
    # row helper in three parts.
    x, w = _data(rng, np.float32, size, (3, 3), channels=21, multiplier=2, batch=20)
    bias = reference.random(rng, (42,), np.float32)
    out_shape = ops.depthwise_conv(x, w, strides, "same").shape
    g = reference.random(rng, out_shape, np.float32)

    def run():
        out = ops.depthwise_conv_bias_activation(x, w, bias, strides, "same", activation="relu")
        return (out, *ops.depthwise_conv_bias_activation_grad(x, w, out, g, strides, "same", activation="relu"))

    parallel.set_num_threads(1)
    single = run()
    for threads in (2, 3, 8):
        parallel.set_num_threads(threads)
        for actual, wanted in zip(run(), single):
            assert actual.tobytes() == wanted.tobytes()


@pytest.mark.parametrize("channels", [32, 21], ids=["whole vectors", "partial vectors"])
@pytest.mark.parametrize("strides, size", [(2, (9, 8)), (1, (9, 20))], ids=["table of taps", "row helpers"])
def test_outputs_written_past_the_caches_are_the_same(monkeypatch, restore_threads, strides, size, channels):
    """Outputs larger than a quarter of the last-level cache, in rows of whole vectors, are written with
    non-temporal stores (``simd.vstore_stream``; ``ops._streams``). Forced on for small arrays: the same bits
    as the ordinary stores and the float64 reference, on any number of threads (the stores are fenced before
    each chunk is counted done). Rows of 21 channels are never streamed (lines written partly past the caches
    were 2-5 times slower); forced anyway, their unaligned vectors are stored the ordinary way, correctly."""
    rng = np.random.default_rng(12)
    x, w = _data(rng, np.float32, size, (3, 3), channels=channels, batch=5)
    bias = reference.random(rng, (channels,), np.float32)
    g = reference.random(rng, ops.depthwise_conv(x, w, strides, "same").shape, np.float32)

    def run():
        out = ops.depthwise_conv_bias_activation(x, w, bias, strides, "same", activation="relu")
        return (out, *ops.depthwise_conv_bias_activation_grad(x, w, out, g, strides, "same", activation="relu"))

    cached = run()
    assert ops._streams(cached[0]) is None
    monkeypatch.setattr(ops, "_streaming_bytes", lambda: 0)
    whole_vectors = channels % simd.lanes(np.float32) == 0
    assert ops._streams(cached[0]) is (True if whole_vectors else None)
    if not whole_vectors:
        monkeypatch.setattr(ops, "_streams", lambda out: True)
    for threads in (1, 2, 3):
        parallel.set_num_threads(threads)
        for actual, wanted in zip(run(), cached):
            assert actual.tobytes() == wanted.tobytes()
    expected = reference.depthwise_conv(x, w, strides, "same", 1, bias, "relu")
    reference.assert_close(cached[0], expected, np.float32)
    reference.assert_close(cached[1], reference.depthwise_conv_grad(x, w, g, strides, "same", 1, bias, "relu")[0],
                           np.float32)


def test_streaming_threshold_is_a_quarter_of_the_largest_cache(monkeypatch, tmp_path):
    """``ops._streaming_bytes`` from Linux's sysfs cache sizes (``32768K``: 8 MiB), 8 MiB where none can be read."""
    for index, size in enumerate(["32K", "1024K", "32768K"]):
        (tmp_path / f"index{index}").mkdir()
        (tmp_path / f"index{index}" / "size").write_text(size + "\n")
    real_glob = ops.glob.glob
    ops._streaming_bytes.cache_clear()
    try:
        monkeypatch.setattr(ops.glob, "glob", lambda pattern: real_glob(str(tmp_path / "index*" / "size")))
        assert ops._streaming_bytes() == 8 << 20
        ops._streaming_bytes.cache_clear()
        (tmp_path / "index2" / "size").write_text("64M\n")
        assert ops._streaming_bytes() == 16 << 20
        ops._streaming_bytes.cache_clear()
        monkeypatch.setattr(ops.glob, "glob", lambda pattern: [])
        assert ops._streaming_bytes() == 8 << 20
    finally:
        monkeypatch.undo()
        ops._streaming_bytes.cache_clear()


# ----------------------------------------------------------------------------- argument checks


@pytest.mark.parametrize("call, error, message", [
    (lambda: ops.depthwise_conv(np.ones((1, 5, 5, 3)), np.ones((3, 3, 2, 1))), ValueError,
     "kernel.shape[2] (input channels) must equal inputs.shape[3]"),
    (lambda: ops.depthwise_conv(np.ones((1, 5, 5, 3)), np.ones((3, 3, 3))), ValueError,
     "Invalid shape for argument `kernel`. Expected a 4-D array (kernel_height, kernel_width, input_channels, "
     "depth_multiplier). Received: kernel.shape=(3, 3, 3)"),
    (lambda: ops.depthwise_conv(np.ones((1, 5, 5, 3)), np.ones((3, 3, 3, 0))), ValueError,
     "Expected a depth multiplier (kernel.shape[3]) of at least 1. Received: kernel.shape=(3, 3, 3, 0)"),
    (lambda: ops.depthwise_conv(np.ones((1, 2, 5, 3)), np.ones((3, 3, 3, 1))), ValueError,
     "with padding='valid' the window (effective size 3 along axis 1) must fit in the input (size 2)"),
    (lambda: ops.depthwise_conv(np.ones((1, 5, 5, 3)), np.ones((3, 3, 3, 1)), strides=0), ValueError,
     "Invalid value for argument `strides`. Expected a positive integer or a tuple of 2 positive integers. "
     "Received: strides=0"),
    (lambda: ops.depthwise_conv(np.ones((1, 5, 5, 3)), np.ones((3, 3, 3, 1)), padding="full"), ValueError,
     "Invalid value for argument `padding`. Expected 'valid' or 'same'. Received: padding='full'"),
    (lambda: ops.depthwise_conv_bias_activation(np.ones((1, 5, 5, 3)), np.ones((3, 3, 3, 2)), np.ones(3)),
     ValueError, "Invalid shape for argument `bias`. Expected (6,). Received: bias.shape=(3,)"),
    (lambda: ops.depthwise_conv_bias_activation_grad(np.ones((1, 5, 5, 3)), np.ones((3, 3, 3, 1)), None,
                                                     np.ones((1, 3, 3, 3)), activation="relu"),
     ValueError, "Argument `outputs` is required when `activation='relu'`. Received: outputs=None"),
    (lambda: layers.DepthwiseConv2D(3, depth_multiplier=0), ValueError,
     "Invalid value for argument `depth_multiplier`. Expected a strictly positive value. Received "
     "depth_multiplier=0."),
    (lambda: layers.SeparableConv2D(0, 3), ValueError,
     "Invalid value for argument `filters`. Expected a strictly positive value. Received filters=0."),
    (lambda: layers.DepthwiseConv2D(3, activity_regularizer="l2"), NotImplementedError,
     "`DepthwiseConv2D` in fastconv does not support the argument `activity_regularizer` yet. "
     "Received: activity_regularizer='l2'"),
    (lambda: layers.SeparableConv2D(4, 3, activity_regularizer="l2"), NotImplementedError,
     "`SeparableConv2D` in fastconv does not support the argument `activity_regularizer` yet."),
    (lambda: layers.DepthwiseConv2D(3, data_format="channels_first"), NotImplementedError,
     "supports only data_format='channels_last'"),
], ids=lambda value: "" if callable(value) else str(value)[:40])
def test_bad_arguments_raise_clear_errors(call, error, message):
    with pytest.raises(error) as raised:
        call()
    assert message in str(raised.value)


# ----------------------------------------------------------------------------- layers against real Keras


LAYER_CASES = [
    ("DepthwiseConv2D", dict(kernel_size=3, padding="same", depth_multiplier=2, activation="relu")),
    ("DepthwiseConv2D", dict(kernel_size=(3, 2), strides=2, use_bias=False)),
    ("DepthwiseConv2D", dict(kernel_size=3, dilation_rate=2, activation="tanh")),
    ("SeparableConv2D", dict(filters=5, kernel_size=3, padding="same", activation="relu")),
    ("SeparableConv2D", dict(filters=4, kernel_size=3, strides=2, depth_multiplier=2, use_bias=False)),
    ("SeparableConv2D", dict(filters=3, kernel_size=(2, 3), dilation_rate=(2, 1), activation="sigmoid")),
]


def _without_initializer_axes(config):
    """Keras 3.15's config with its initializers' ``input_axes``/``output_axes`` dropped where they are None:
    fastconv writes initializers without them (as Keras releases before 3.15 do, so that those read its files)."""
    def strip(value):
        if isinstance(value, dict) and value.get("module") == "keras.initializers":
            inner = {k: v for k, v in value["config"].items() if not (k in ("input_axes", "output_axes") and v is None)}
            return {**value, "config": inner}
        return value

    return {key: strip(value) for key, value in config.items()}


def _layer_pair(class_name, kwargs, input_shape):
    ours = getattr(layers, class_name)(**kwargs)
    theirs = getattr(keras.layers, class_name)(**kwargs)
    ours.build(input_shape)
    theirs.build(input_shape)
    return ours, theirs


@pytest.mark.parametrize("class_name, kwargs", LAYER_CASES, ids=str)
def test_layer_matches_keras(class_name, kwargs):
    rng = np.random.default_rng(5)
    input_shape = (2, 9, 10, 3)
    ours, theirs = _layer_pair(class_name, kwargs, input_shape)
    assert [w.path for w in ours.weights] == [w.path.replace(theirs.name, ours.name) for w in theirs.weights]
    weights = [reference.random(rng, w.shape, np.float32) for w in theirs.get_weights()]
    ours.set_weights(weights)
    theirs.set_weights(weights)
    x = reference.random(rng, input_shape, np.float32)
    expected = keras.ops.convert_to_numpy(theirs(x))
    np.testing.assert_allclose(ours(x), expected, rtol=1e-5, atol=1e-5)
    assert ours.compute_output_shape((None, *input_shape[1:])) == tuple(
        theirs.compute_output_shape((None, *input_shape[1:])))
    assert ours.count_params() == theirs.count_params()
    config = ours.get_config()
    assert config == {**_without_initializer_axes(theirs.get_config()), "name": ours.name}
    assert type(ours).from_config(config).get_config() == config

    # Gradients of sum(out * g) against torch autograd through Keras's own layer.
    g = reference.random(rng, expected.shape, np.float32)
    xt = torch.tensor(x, requires_grad=True)
    (theirs(xt) * torch.tensor(g)).sum().backward()
    outputs, context = ours.forward(x, True)
    grad_x, grads = ours.backward(context, g)
    np.testing.assert_allclose(grad_x, xt.grad.numpy(), rtol=1e-4, atol=1e-4)
    for grad, variable in zip(grads, theirs.trainable_weights):
        np.testing.assert_allclose(grad, variable.value.grad.numpy(), rtol=1e-4, atol=1e-4)


def _model(module, model_class, head_activation=None):
    return model_class([
        module.Input((12, 12, 3)),
        module.layers.DepthwiseConv2D(3, padding="same", depth_multiplier=2, activation="relu"),
        module.layers.SeparableConv2D(8, 3, strides=2, activation="relu"),
        module.layers.Flatten(),
        module.layers.Dense(4, activation=head_activation),
    ])


def test_keras_files_both_ways(tmp_path):
    import fastconv

    rng = np.random.default_rng(9)
    x = reference.random(rng, (3, 12, 12, 3), np.float32)
    ours = _model(fastconv.keras, Sequential)
    ours.save(tmp_path / "ours.keras")
    theirs = keras.models.load_model(tmp_path / "ours.keras")
    np.testing.assert_allclose(keras.ops.convert_to_numpy(theirs(x)), ours.predict(x, verbose=0), rtol=1e-5,
                               atol=1e-5)

    theirs = _model(keras, keras.Sequential)
    theirs.save(tmp_path / "theirs.keras")
    ours = load_model(tmp_path / "theirs.keras")
    assert [type(layer).__name__ for layer in ours.layers] == ["DepthwiseConv2D", "SeparableConv2D", "Flatten",
                                                               "Dense"]
    np.testing.assert_allclose(ours.predict(x, verbose=0), keras.ops.convert_to_numpy(theirs(x)), rtol=1e-5,
                               atol=1e-5)
    # The layers' entries of config.json, build_config included, as Keras writes them.
    ours.save(tmp_path / "ours_again.keras")
    ours_layers, theirs_layers = (_config_layers(tmp_path / name) for name in ("ours_again.keras", "theirs.keras"))
    assert ours_layers == theirs_layers


def _config_layers(path):
    import json
    import zipfile

    with zipfile.ZipFile(path) as archive:
        config = json.loads(archive.read("config.json"))
    layers_ = [layer for layer in config["config"]["layers"]
               if layer["class_name"] in ("DepthwiseConv2D", "SeparableConv2D")]
    for layer in layers_:  # what legitimately differs: names, and the object id Keras gives the shared dtype policy
        layer["config"] = {**_without_initializer_axes(layer["config"]), "name": None}
        layer["config"]["dtype"].pop("shared_object_id", None)
    return layers_


def test_alias_and_registry():
    import fastconv.keras

    assert layers.SeparableConvolution2D is layers.SeparableConv2D
    assert fastconv.keras.layers.SeparableConvolution2D is layers.SeparableConv2D
    assert layers.LAYER_CLASSES["DepthwiseConv2D"] is layers.DepthwiseConv2D
    assert layers.LAYER_CLASSES["SeparableConv2D"] is layers.SeparableConv2D


def test_training_steps_match_keras():
    """Three SGD steps of a model with both layers (a softmax head) move the weights as in real Keras."""
    import fastconv

    rng = np.random.default_rng(4)
    x = reference.random(rng, (6, 12, 12, 3), np.float32)
    y = rng.integers(0, 4, 6)
    models = []
    for module, model_class in ((fastconv.keras, Sequential), (keras, keras.Sequential)):
        model = _model(module, model_class, "softmax")
        model.compile(optimizer=module.optimizers.SGD(0.05), loss="sparse_categorical_crossentropy")
        models.append(model)
    ours, theirs = models
    theirs.set_weights(ours.get_weights())
    for _ in range(3):
        ours_loss = ours.train_on_batch(x, y)
        theirs_loss = theirs.train_on_batch(x, y)
        np.testing.assert_allclose(ours_loss, theirs_loss, rtol=1e-4)
    for ours_weight, theirs_weight in zip(ours.get_weights(), theirs.get_weights()):
        np.testing.assert_allclose(ours_weight, theirs_weight, rtol=1e-4, atol=1e-5)
