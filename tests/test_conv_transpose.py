"""Conv2DTranspose and ``fastconv.ops.conv_transpose``: against the numpy reference written from Keras 3's
definition (values and gradients over grids and hypothesis-drawn shapes), float64 finite differences,
PyTorch autograd, real Keras 3 layer by layer (values, gradients, shapes, configs, ``.keras`` files both
ways), pinned errors, and bitwise determinism over thread counts."""

import itertools
import json
import pathlib
import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st

import reference
from fastconv import keras as fk
from fastconv import ops, parallel
from keras_reference import assert_layer_matches_keras, keras

pytestmark = [
    pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning"),
    pytest.mark.filterwarnings("ignore:You might experience inconsistencies across backends:UserWarning"),
]

RNG = np.random.default_rng(15)


def _grid():
    """(kernel, strides, padding, output_padding, dilation_rate): every valid output_padding of each stride,
    and dilation with stride 1 (Keras rejects stride and dilation above 1 together)."""
    cases = []
    for kernel, strides, padding in itertools.product((2, 3, 4), (1, 2, 3), ("valid", "same")):
        for output_padding in (None, *range(strides)):
            cases.append((kernel, strides, padding, output_padding, 1))
    for kernel, padding, dilation in itertools.product((2, 3), ("valid", "same"), (2, (1, 3))):
        cases.append((kernel, 1, padding, None, dilation))
        cases.append((kernel, 1, padding, 0, dilation))
    return cases


GRID = _grid()


def _data(rng, dtype, kernel, size=(4, 5), channels=3, filters=5, batch=2):
    x = reference.random(rng, (batch, *size, channels), dtype)
    w = reference.random(rng, (*reference.pair(kernel), filters, channels), dtype)
    return x, w


# ----------------------------------------------------------------------------- against the numpy reference


@pytest.mark.bounds
@pytest.mark.parametrize("filters", [2, 19])  # a few output channels take dot products in the tiles, more tiles
@pytest.mark.parametrize("kernel, strides, padding, output_padding, dilation_rate", GRID, ids=str)
def test_conv_transpose_matches_reference(rng, dtype, kernel, strides, padding, output_padding, dilation_rate,
                                          filters):
    x, w = _data(rng, dtype, kernel, filters=filters)
    out = ops.conv_transpose(x, w, strides, padding, output_padding, dilation_rate=dilation_rate)
    expected = reference.conv_transpose(x, w, strides, padding, output_padding, dilation_rate)
    reference.assert_close(out, expected, dtype)
    g = reference.random(rng, out.shape, dtype)
    grad_x, grad_w = ops.conv_transpose_grad(x, w, g, strides, padding, output_padding, dilation_rate=dilation_rate)
    expected_x, expected_w, _ = reference.conv_transpose_grad(x, w, g, strides, padding, output_padding,
                                                              dilation_rate)
    reference.assert_close(grad_x, expected_x, dtype)
    reference.assert_close(grad_w, expected_w, dtype)


@pytest.mark.parametrize("filters", [3, 19])
@pytest.mark.parametrize("kernel, strides, padding, output_padding", [
    (3, 2, "same", None), (2, 2, "valid", None), (4, 3, "same", 2), (3, 1, "valid", 0),
    ((3, 2), (2, 1), "same", (1, 0)),
], ids=str)
def test_bias_relu_matches_reference(rng, dtype, kernel, strides, padding, output_padding, filters):
    x, w = _data(rng, dtype, kernel, filters=filters)
    bias = reference.random(rng, (filters,), dtype)
    out = ops.conv_transpose_bias_activation(x, w, bias, strides, padding, output_padding, activation="relu")
    reference.assert_close(out, reference.conv_transpose(x, w, strides, padding, output_padding, 1, bias, "relu"),
                           dtype)
    g = reference.random(rng, out.shape, dtype)
    grads = ops.conv_transpose_bias_activation_grad(x, w, out, g, strides, padding, output_padding,
                                                    activation="relu")
    expected = reference.conv_transpose_grad(x, w, g, strides, padding, output_padding, 1, bias, "relu")
    for actual, wanted in zip(grads, expected):
        reference.assert_close(actual, wanted, dtype)


def test_need_flags_skip_gradients(rng):
    x, w = _data(rng, np.float32, 3)
    g = reference.random(rng, ops.conv_transpose(x, w, 2, "same").shape, np.float32)
    full = ops.conv_transpose_bias_activation_grad(x, w, None, g, 2, "same")
    only_kernel = ops.conv_transpose_bias_activation_grad(x, w, None, g, 2, "same", need_grad_inputs=False)
    only_inputs = ops.conv_transpose_bias_activation_grad(x, w, None, g, 2, "same", need_grad_kernel=False)
    assert only_kernel[0] is None and only_inputs[1:] == (None, None)
    np.testing.assert_array_equal(only_kernel[1], full[1])
    np.testing.assert_array_equal(only_inputs[0], full[0])


@pytest.mark.parametrize("batch, filters", [(0, 5), (2, 0)])
def test_gradients_of_an_empty_batch_or_no_filters_are_zeros_of_their_shapes(batch, filters):
    x, w = np.ones((batch, 4, 4, 3), np.float32), np.ones((2, 2, filters, 3), np.float32)
    grad_inputs, grad_kernel, grad_bias = ops.conv_transpose_bias_activation_grad(
        x, w, None, ops.conv_transpose(x, w, 2), 2)
    assert (grad_inputs.shape, grad_kernel.shape, grad_bias.shape) == (x.shape, w.shape, (filters,))
    assert not grad_kernel.any() and not grad_bias.any()


def test_hand_computed_same_placement():
    """One input pixel, 4x4 kernel, stride 2, 'same': the output is the kernel cropped one row and column at
    the top left (Keras 3's placement: the odd padding goes to the left only up to k - 1)."""
    x = np.ones((1, 1, 1, 1))
    w = np.arange(16.0).reshape(4, 4, 1, 1)
    out = ops.conv_transpose(x, w, 2, "same")
    np.testing.assert_array_equal(out[0, :, :, 0], [[5, 6], [9, 10]])
    np.testing.assert_array_equal(ops.conv_transpose(x, w, 2, "valid")[0, :, :, 0], w[:, :, 0, 0])
    # output_padding adds a zero row and column beyond the full output in 'valid'
    np.testing.assert_array_equal(ops.conv_transpose(x, w, 2, "valid", 1)[0, 4, :, 0], np.zeros(5))


@st.composite
def transpose_cases(draw):
    kernel = (draw(st.integers(1, 5)), draw(st.integers(1, 5)))
    strides = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    dilation = (1, 1) if max(strides) > 1 else (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    output_padding = draw(st.one_of(st.none(), st.tuples(st.integers(0, strides[0] - 1),
                                                         st.integers(0, strides[1] - 1))))
    return dict(batch=draw(st.integers(1, 3)), size=(draw(st.integers(1, 6)), draw(st.integers(1, 6))),
                channels=draw(st.integers(1, 6)), filters=draw(st.integers(1, 20)), kernel=kernel, strides=strides,
                padding=draw(st.sampled_from(["valid", "same"])), output_padding=output_padding,
                dilation_rate=dilation, dtype=draw(st.sampled_from([np.float32, np.float64])),
                seed=draw(st.integers(0, 2**31)))


@given(transpose_cases())
def test_conv_transpose_property(case):
    rng = np.random.default_rng(case["seed"])
    dtype = np.dtype(case["dtype"])
    x, w = _data(rng, dtype, case["kernel"], case["size"], case["channels"], case["filters"], case["batch"])
    args = (case["strides"], case["padding"], case["output_padding"])
    out = ops.conv_transpose(x, w, *args, dilation_rate=case["dilation_rate"])
    reference.assert_close(out, reference.conv_transpose(x, w, *args, case["dilation_rate"]), dtype)
    g = reference.random(rng, out.shape, dtype)
    grad_x, grad_w = ops.conv_transpose_grad(x, w, g, *args, dilation_rate=case["dilation_rate"])
    expected_x, expected_w, _ = reference.conv_transpose_grad(x, w, g, *args, case["dilation_rate"])
    reference.assert_close(grad_x, expected_x, dtype)
    reference.assert_close(grad_w, expected_w, dtype)


# ----------------------------------------------------------------------------- finite differences (float64)


@pytest.mark.parametrize("strides, padding, output_padding, dilation_rate, activation", [
    (2, "same", None, 1, None), (3, "valid", 1, 1, "relu"), ((2, 1), "same", (1, 0), 1, "relu"),
    (1, "same", None, 2, None),
], ids=str)
def test_gradients_finite_differences(rng, strides, padding, output_padding, dilation_rate, activation):
    x, w = _data(rng, np.float64, (3, 2), size=(3, 4), channels=2, filters=3)
    bias = reference.random(rng, (3,))
    args = (strides, padding, output_padding)
    pre = reference.conv_transpose(x, w, *args, dilation_rate, bias)
    # The difference quotient is a derivative only away from relu's kink: no gradient flows from near it.
    g = np.where(np.abs(pre) > 1e-4, reference.random(rng, pre.shape), 0)

    def loss():
        return np.sum(ops.conv_transpose_bias_activation(x, w, bias, *args, dilation_rate=dilation_rate,
                                                         activation=activation) * g)

    out = ops.conv_transpose_bias_activation(x, w, bias, *args, dilation_rate=dilation_rate, activation=activation)
    grads = ops.conv_transpose_bias_activation_grad(x, w, out, g, *args, dilation_rate=dilation_rate,
                                                    activation=activation)
    for actual, variable in zip(grads, (x, w, bias)):
        np.testing.assert_allclose(actual, reference.numerical_gradient(loss, variable), rtol=1e-6, atol=1e-8)


# ----------------------------------------------------------------------------- against PyTorch


def _torch_conv_transpose(x, w, g, strides, padding, output_padding, dilation_rate):
    """Value and ``(grad_x, grad_w)`` from ``F.conv_transpose2d`` (no padding: the whole output), cropped to
    Keras's window with the crop the reference derives (a negative crop at the end is zero padding)."""
    xt = torch.tensor(x.transpose(0, 3, 1, 2), requires_grad=True)
    wt = torch.tensor(w.transpose(3, 2, 0, 1), requires_grad=True)  # (C, F, KH, KW)
    full = F.conv_transpose2d(xt, wt, stride=reference.pair(strides), dilation=reference.pair(dilation_rate))
    op = reference.pair(output_padding) if output_padding is not None else (None, None)
    crops = []
    for axis in (0, 1):
        left, right, extent = reference._transpose_geometry(x.shape[axis + 1], w.shape[axis],
                                                            reference.pair(strides)[axis],
                                                            reference.pair(dilation_rate)[axis], padding, op[axis])
        crops.append((extent - 1 - left, extent - 1 - right))
    (top, bottom), (left, right) = crops
    out = F.pad(full, (-left, -right, -top, -bottom))
    out.backward(torch.tensor(g.transpose(0, 3, 1, 2)))
    return (out.detach().numpy().transpose(0, 2, 3, 1), xt.grad.numpy().transpose(0, 2, 3, 1),
            wt.grad.numpy().transpose(2, 3, 1, 0))


@pytest.mark.parametrize("kernel, strides, padding, output_padding, dilation_rate",
                         [case for case in GRID if case[0] != 4], ids=str)
def test_conv_transpose_matches_torch(rng, dtype, kernel, strides, padding, output_padding, dilation_rate):
    x, w = _data(rng, dtype, kernel, size=(5, 3), filters=6)
    out = ops.conv_transpose(x, w, strides, padding, output_padding, dilation_rate=dilation_rate)
    g = reference.random(rng, out.shape, dtype)
    grads = ops.conv_transpose_grad(x, w, g, strides, padding, output_padding, dilation_rate=dilation_rate)
    expected = _torch_conv_transpose(x, w, g, strides, padding, output_padding, dilation_rate)
    for actual, wanted in zip((out, *grads), expected):
        reference.assert_close(actual, wanted.astype(np.float64), dtype)


# ----------------------------------------------------------------------------- real Keras, layer by layer


def _paired(x, **kwargs):
    """A Keras Conv2DTranspose and a fastconv one with Keras's weights (and a non-zero bias), built on ``x``."""
    theirs = keras.layers.Conv2DTranspose(**kwargs)
    theirs(x)
    kernel, *bias = [np.asarray(w) for w in theirs.get_weights()]
    bias = [RNG.standard_normal(b.shape).astype(np.float32) for b in bias]
    theirs.set_weights([kernel, *bias])
    ours = fk.layers.Conv2DTranspose(**kwargs)
    ours(x)
    ours.set_weights([kernel, *bias])
    return theirs, ours


KERAS_CASES = [
    dict(filters=4, kernel_size=3, strides=2, padding="same"),
    dict(filters=4, kernel_size=2, strides=2, padding="valid", activation="relu"),
    dict(filters=3, kernel_size=4, strides=2, padding="same", output_padding=1, activation="sigmoid"),
    dict(filters=5, kernel_size=(3, 2), strides=(3, 2), padding="valid", output_padding=(2, 0), use_bias=False),
    dict(filters=2, kernel_size=3, padding="same", dilation_rate=2, activation="tanh"),
    dict(filters=17, kernel_size=3, strides=3, padding="same", output_padding=0, activation="relu"),
    dict(filters=1, kernel_size=5, strides=1, padding="valid"),
]


@pytest.mark.parametrize("kwargs", KERAS_CASES, ids=str)
def test_layer_matches_keras(kwargs):
    x = RNG.standard_normal((2, 5, 6, 3)).astype(np.float32)
    theirs, ours = _paired(x, **kwargs)
    assert ours.kernel.shape == tuple(theirs.kernel.shape) == (*reference.pair(kwargs["kernel_size"]),
                                                               kwargs["filters"], 3)
    assert [w.name for w in ours.weights] == [w.name for w in theirs.weights]
    for shape in ((None, 5, 6, 3), (None, None, 6, 3), (2, 5, 6, 3)):
        assert ours.compute_output_shape(shape) == tuple(theirs.compute_output_shape(shape))
    g = RNG.standard_normal(ours.compute_output_shape(x.shape)).astype(np.float32)
    assert_layer_matches_keras(ours, theirs, x, g)


@pytest.mark.parametrize("kwargs", KERAS_CASES, ids=str)
def test_get_config_equals_keras_and_round_trips(kwargs):
    ours = fk.layers.Conv2DTranspose(name="layer", **kwargs)
    theirs = keras.layers.Conv2DTranspose(name="layer", **kwargs)
    config, expected = ours.get_config(), theirs.get_config()
    assert list(config) == list(expected)
    # fastconv leaves out the initializer keys Keras 3.15 adds at their "off" value (input_axes, output_axes).
    initializer = dict(expected["kernel_initializer"])
    initializer["config"] = {k: v for k, v in initializer["config"].items() if k not in ("input_axes", "output_axes")}
    assert config == {**expected, "kernel_initializer": initializer}
    assert fk.layers.Conv2DTranspose.from_config(config).get_config() == config
    assert keras.layers.Conv2DTranspose.from_config(config).get_config() == expected


def test_alias_and_registry():
    assert fk.layers.Convolution2DTranspose is fk.layers.Conv2DTranspose
    from fastconv.layers import LAYER_CLASSES
    assert LAYER_CLASSES["Conv2DTranspose"] is fk.layers.Conv2DTranspose


def _decoder(library):
    return library.Sequential([
        library.layers.Input((7, 7, 8)),
        library.layers.Conv2DTranspose(6, 3, strides=2, padding="same", activation="relu"),
        library.layers.Conv2DTranspose(4, 2, strides=2, padding="valid", output_padding=1),
        library.layers.Conv2D(1, 3, padding="same"),
    ])


def test_keras_file_round_trips_both_ways(tmp_path):
    x = RNG.standard_normal((3, 7, 7, 8)).astype(np.float32)
    ours = _decoder(fk)
    ours.set_weights([RNG.standard_normal(w.shape).astype(np.float32) * 0.3 for w in ours.get_weights()])
    ours.save(tmp_path / "decoder.keras")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        loaded = keras.saving.load_model(tmp_path / "decoder.keras")
    expected = ours.predict(x, verbose=0)
    assert expected.shape == (3, 29, 29, 1)
    np.testing.assert_allclose(np.asarray(loaded.predict(x, verbose=0)), expected, rtol=1e-4, atol=1e-5)

    theirs = _decoder(keras)
    theirs.set_weights([RNG.standard_normal(w.shape).astype(np.float32) * 0.3 for w in theirs.get_weights()])
    theirs.save(tmp_path / "keras_decoder.keras")
    back = fk.models.load_model(tmp_path / "keras_decoder.keras")
    np.testing.assert_allclose(back.predict(x, verbose=0), np.asarray(theirs.predict(x, verbose=0)), rtol=1e-4,
                               atol=1e-5)


def test_training_step_matches_keras():
    """One SGD step of a decoder with transposed convolutions: the same weights after it as in Keras."""
    x = RNG.standard_normal((8, 7, 7, 8)).astype(np.float32)
    y = RNG.standard_normal((8, 29, 29, 1)).astype(np.float32)
    ours, theirs = _decoder(fk), _decoder(keras)
    weights = [RNG.standard_normal(w.shape).astype(np.float32) * 0.3 for w in theirs.get_weights()]
    for model, library in ((ours, fk), (theirs, keras)):
        model.set_weights(weights)
        model.compile(optimizer=library.optimizers.SGD(0.01), loss="mse")
        model.train_on_batch(x, y)
    for actual, expected in zip(ours.get_weights(), theirs.get_weights()):
        np.testing.assert_allclose(actual, np.asarray(expected), rtol=1e-4, atol=1e-5)
    assert not np.allclose(ours.get_weights()[0], weights[0])


# ----------------------------------------------------------------------------- errors


def _raises(error, message, function, *args, **kwargs):
    with pytest.raises(error) as info:
        function(*args, **kwargs)
    assert str(info.value) == message


def test_output_padding_must_be_less_than_strides():
    message = ("`output_padding` must be strictly less than `strides` for all dimensions. At dimension 1, "
               "`output_padding` is 2 but `strides` is 2. Received: output_padding=(1, 2), strides=(2, 2)")
    _raises(ValueError, message, fk.layers.Conv2DTranspose, 4, 3, strides=2, output_padding=(1, 2))
    _raises(ValueError, message, ops.conv_transpose, np.ones((1, 3, 3, 1)), np.ones((3, 3, 1, 1)), 2,
            output_padding=(1, 2))
    with pytest.raises(ValueError, match="output_padding"):
        keras.layers.Conv2DTranspose(4, 3, strides=2, output_padding=(1, 2))


@pytest.mark.parametrize("value", [-1, (1, -1), (1, 2, 3), "1", 1.0])
def test_output_padding_must_be_non_negative_ints(value):
    message = ("Invalid value for argument `output_padding`. Expected None, a non-negative integer or a tuple of "
               f"2 non-negative integers. Received: output_padding={value!r}")
    _raises(ValueError, message, fk.layers.Conv2DTranspose, 4, 3, strides=3, output_padding=value)


def test_other_bad_arguments():
    _raises(ValueError, "`strides > 1` is not supported together with `dilation_rate > 1`. "
            "Received: strides=(2, 2) and dilation_rate=(2, 2)", fk.layers.Conv2DTranspose, 4, 3, 2,
            dilation_rate=2)
    _raises(ValueError, "Invalid value for argument `filters`. Expected a positive integer. Received: filters=0",
            fk.layers.Conv2DTranspose, 0, 3)
    message = ("Invalid shapes for arguments `inputs` and `kernel`: kernel.shape[3] (input channels of a transposed "
               "convolution) must equal inputs.shape[3]. Received: inputs.shape=(1, 3, 3, 2), "
               "kernel.shape=(3, 3, 2, 4)")
    _raises(ValueError, message, ops.conv_transpose, np.ones((1, 3, 3, 2)), np.ones((3, 3, 2, 4)))
    _raises(ValueError, "Invalid shape for argument `grad_output`. Expected (1, 6, 6, 2). "
            "Received: grad_output.shape=(1, 5, 5, 2)", ops.conv_transpose_grad, np.ones((1, 3, 3, 4)),
            np.ones((3, 3, 2, 4)), np.ones((1, 5, 5, 2)), 2, "same")
    with pytest.raises(NotImplementedError, match="data_format"):
        fk.layers.Conv2DTranspose(4, 3, data_format="channels_first")
    with pytest.raises(ValueError, match="expected ndim=4"):
        fk.layers.Conv2DTranspose(4, 3)(np.zeros((1, 5, 5), np.float32))


# ----------------------------------------------------------------------------- determinism


def test_bitwise_identical_at_one_and_two_threads(dtype, restore_threads):
    rng = np.random.default_rng(3)
    x, w = _data(rng, dtype, 3, size=(7, 7), channels=16, filters=24, batch=20)
    bias = reference.random(rng, (24,), dtype)
    out = ops.conv_transpose_bias_activation(x, w, bias, 2, "same", activation="relu")
    g = reference.random(rng, out.shape, dtype)

    def run():
        return (ops.conv_transpose_bias_activation(x, w, bias, 2, "same", activation="relu"),
                *ops.conv_transpose_bias_activation_grad(x, w, out, g, 2, "same", activation="relu"))

    parallel.set_num_threads(1)
    single = run()
    parallel.set_num_threads(2)
    for actual, expected in zip(run(), single):
        assert actual.tobytes() == expected.tobytes()


# ----------------------------------------------------------------------------- the comparison script


def test_compare_torch_transpose_checks_and_times(monkeypatch, tmp_path, capsys):
    """``compare_torch.py --transpose`` checks fastconv against torch's cropped ``conv_transpose2d`` (values and
    gradients; a mismatch returns 1) and times them: a smoke run on two layers."""
    monkeypatch.syspath_prepend(str(pathlib.Path(__file__).resolve().parent.parent))
    from benchmarks import compare_torch

    assert compare_torch.main(["--transpose", "--quick", "--only", "T3x3 s2 same|T2x2 s2 valid",
                               "--json", str(tmp_path / "transpose.json")]) == 0
    rows = json.loads((tmp_path / "transpose.json").read_text())["conv"]
    assert {row["label"] for row in rows} == {"7x7x128->64 T3x3 s2 same", "7x7x128->64 T2x2 s2 valid",
                                              "14x14x64->32 T3x3 s2 same", "14x14x64->32 T2x2 s2 valid"}
    assert "ratio fastconv/torch" in capsys.readouterr().out
