"""Grouped convolution (``Conv2D(groups=g)``, ``Conv1D(groups=g)``, ``fastconv.ops.grouped_conv_bias_activation``):
against the numpy reference (each group's convolution from the definition), float64 finite differences,
PyTorch's ``conv2d(groups=)`` autograd, real Keras 3 layer by layer (values, gradients, configs, ``.keras``
files), pinned errors, and bitwise determinism over thread counts."""

import json
import pathlib

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st

import reference
from fastconv import keras as fk
from fastconv import ops, parallel
from fastconv.kernels import simd
from keras_reference import assert_layer_matches_keras, keras

pytestmark = pytest.mark.filterwarnings(
    "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning")

RNG = np.random.default_rng(21)


def _data(rng, dtype, groups, kernel=3, size=(6, 5), per_group=2, filters_per_group=3, batch=2):
    x = reference.random(rng, (batch, *size, groups * per_group), dtype)
    w = reference.random(rng, (*reference.pair(kernel), per_group, groups * filters_per_group), dtype)
    return x, w


# ----------------------------------------------------------------------------- against the numpy reference


@pytest.mark.parametrize("activation", [None, "relu"])
@pytest.mark.parametrize("padding", ["valid", "same"])
@pytest.mark.parametrize("kernel, strides, dilation_rate", [(1, 1, 1), (3, 1, 1), (3, 2, 1), (2, 3, 1), (3, 1, 2)],
                         ids=str)
# 16 filters a group (and 8 with 8-lane vectors): each group's filters are whole vectors.
@pytest.mark.parametrize("groups, per_group, filters_per_group",
                         [(2, 2, 3), (3, 1, 2), (4, 5, 9), (2, 3, 16), (3, 4, 8)], ids=str)
def test_grouped_conv_matches_reference(rng, dtype, groups, per_group, filters_per_group, kernel, strides,
                                        dilation_rate, padding, activation):
    x, w = _data(rng, dtype, groups, kernel, per_group=per_group, filters_per_group=filters_per_group)
    bias = reference.random(rng, (w.shape[3],), dtype)
    args = (strides, padding, None, dilation_rate)
    out = ops.conv_bias_activation(x, w, bias, *args, activation=activation, groups=groups)
    expected = reference.grouped(reference.conv, x, w, groups, strides, padding, dilation_rate, bias=bias,
                                 activation=activation)
    reference.assert_close(out, expected, dtype)
    g = reference.random(rng, out.shape, dtype)
    grads = ops.conv_bias_activation_grad(x, w, out, g, *args, activation=activation, groups=groups)
    wanted = reference.grouped_grad(x, w, g, groups, strides, padding, dilation_rate, bias=bias,
                                    activation=activation)
    for actual, expected in zip(grads, wanted):
        reference.assert_close(actual, expected, dtype)


def test_groups_one_is_the_ordinary_convolution(rng):
    x, w = _data(rng, np.float32, 1)
    np.testing.assert_array_equal(ops.conv_bias_activation(x, w, groups=1), ops.conv(x, w))
    np.testing.assert_array_equal(ops.grouped_conv_bias_activation(x, w, groups=1), ops.conv(x, w))


def test_need_flags_skip_gradients(rng):
    x, w = _data(rng, np.float32, 2)
    g = reference.random(rng, (2, 4, 3, 6), np.float32)
    full = ops.conv_bias_activation_grad(x, w, None, g, groups=2)
    only_kernel = ops.conv_bias_activation_grad(x, w, None, g, groups=2, need_grad_inputs=False)
    only_inputs = ops.conv_bias_activation_grad(x, w, None, g, groups=2, need_grad_kernel=False)
    assert only_kernel[0] is None and only_inputs[1:] == (None, None)
    np.testing.assert_array_equal(only_kernel[1], full[1])
    np.testing.assert_array_equal(only_inputs[0], full[0])


@st.composite
def grouped_cases(draw):
    kernel = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    strides = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    dilation = (1, 1) if max(strides) > 1 else (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    padding = draw(st.sampled_from(["valid", "same"]))
    extent = [d * (k - 1) + 1 for k, d in zip(kernel, dilation)]
    size = [draw(st.integers(e if padding == "valid" else 1, 8)) for e in extent]
    return dict(groups=draw(st.integers(1, 4)), per_group=draw(st.integers(1, 4)),
                filters_per_group=draw(st.integers(1, 9)), batch=draw(st.integers(1, 3)), size=tuple(size),
                kernel=kernel, strides=strides, dilation_rate=dilation, padding=padding,
                dtype=draw(st.sampled_from([np.float32, np.float64])), seed=draw(st.integers(0, 2**31)))


@given(grouped_cases())
def test_grouped_conv_property(case):
    rng = np.random.default_rng(case["seed"])
    dtype, groups = np.dtype(case["dtype"]), case["groups"]
    x, w = _data(rng, dtype, groups, case["kernel"], case["size"], case["per_group"], case["filters_per_group"],
                 case["batch"])
    args = (case["strides"], case["padding"], None, case["dilation_rate"])
    out = ops.conv_bias_activation(x, w, None, *args, groups=groups)
    expected = reference.grouped(reference.conv, x, w, groups, case["strides"], case["padding"],
                                 case["dilation_rate"])
    reference.assert_close(out, expected, dtype)
    g = reference.random(rng, out.shape, dtype)
    grads = ops.conv_bias_activation_grad(x, w, None, g, *args, groups=groups)
    wanted = reference.grouped_grad(x, w, g, groups, case["strides"], case["padding"], case["dilation_rate"])
    for actual, expected in zip(grads, wanted):
        reference.assert_close(actual, expected, dtype)


# ----------------------------------------------------------------------------- finite differences (float64)


@pytest.mark.parametrize("strides, padding, activation", [(1, "same", None), (2, "valid", "relu"), (2, "same", "relu")],
                         ids=str)
def test_gradients_finite_differences(rng, strides, padding, activation):
    x, w = _data(rng, np.float64, 2, (3, 2), size=(5, 4), per_group=2, filters_per_group=2)
    bias = reference.random(rng, (4,))
    pre = reference.grouped(reference.conv, x, w, 2, strides, padding, bias=bias)
    g = np.where(np.abs(pre) > 1e-4, reference.random(rng, pre.shape), 0)  # away from relu's kink

    def loss():
        return np.sum(ops.conv_bias_activation(x, w, bias, strides, padding, activation=activation, groups=2) * g)

    out = ops.conv_bias_activation(x, w, bias, strides, padding, activation=activation, groups=2)
    grads = ops.conv_bias_activation_grad(x, w, out, g, strides, padding, activation=activation, groups=2)
    for actual, variable in zip(grads, (x, w, bias)):
        np.testing.assert_allclose(actual, reference.numerical_gradient(loss, variable), rtol=1e-6, atol=1e-8)


# ----------------------------------------------------------------------------- against PyTorch


@pytest.mark.parametrize("groups, kernel, strides, padding, dilation_rate", [
    (2, 3, 1, "same", 1), (4, 3, 2, "same", 1), (3, 2, 2, "valid", 1), (2, (3, 1), 1, "valid", 2),
    (8, 1, 1, "valid", 1),
], ids=str)
def test_grouped_conv_matches_torch(rng, dtype, groups, kernel, strides, padding, dilation_rate):
    x, w = _data(rng, dtype, groups, kernel, size=(7, 6), per_group=3, filters_per_group=4)
    out = ops.conv_bias_activation(x, w, None, strides, padding, dilation_rate=dilation_rate, groups=groups)
    g = reference.random(rng, out.shape, dtype)
    grad_x, grad_w, _ = ops.conv_bias_activation_grad(x, w, None, g, strides, padding, dilation_rate=dilation_rate,
                                                      groups=groups)
    rows, cols, _ = reference.padded_geometry(x.shape, w.shape[:2], reference.pair(strides),
                                              reference.pair(dilation_rate), padding)
    xt = torch.tensor(x.transpose(0, 3, 1, 2).astype(np.float64), requires_grad=True)
    wt = torch.tensor(w.transpose(3, 2, 0, 1).astype(np.float64), requires_grad=True)
    expected = F.conv2d(F.pad(xt, (*cols, *rows)), wt, stride=reference.pair(strides),
                        dilation=reference.pair(dilation_rate), groups=groups)
    expected.backward(torch.tensor(g.transpose(0, 3, 1, 2).astype(np.float64)))
    reference.assert_close(out, expected.detach().numpy().transpose(0, 2, 3, 1), dtype)
    reference.assert_close(grad_x, xt.grad.numpy().transpose(0, 2, 3, 1), dtype)
    reference.assert_close(grad_w, wt.grad.numpy().transpose(2, 3, 1, 0), dtype)


def _torch_grouped(x, w, b, g, groups, strides, padding, activation):
    """Forward pass and ``(grad_x, grad_w, grad_b)`` of ``g`` from PyTorch's ``F.conv2d(groups=)`` in float64."""
    rows, cols, _ = reference.padded_geometry(x.shape, w.shape[:2], reference.pair(strides), (1, 1), padding)
    xt = torch.tensor(x.transpose(0, 3, 1, 2).astype(np.float64), requires_grad=True)
    wt = torch.tensor(w.transpose(3, 2, 0, 1).astype(np.float64), requires_grad=True)
    bt = torch.tensor(b.astype(np.float64), requires_grad=True)
    out = F.conv2d(F.pad(xt, (*cols, *rows)), wt, bt, stride=reference.pair(strides), groups=groups)
    if activation == "relu":
        out = torch.relu(out)
    out.backward(torch.tensor(g.transpose(0, 3, 1, 2).astype(np.float64)))
    return (out.detach().numpy().transpose(0, 2, 3, 1), xt.grad.numpy().transpose(0, 2, 3, 1),
            wt.grad.numpy().transpose(2, 3, 1, 0), bt.grad.numpy())


@pytest.mark.parametrize("width", [37, 16, 5], ids=lambda w: f"width{w}")  # every tile size; shorter than all
@pytest.mark.parametrize("strides, padding, activation", [(1, "same", "relu"), (2, "valid", None), (2, "same", None)],
                         ids=str)
@pytest.mark.parametrize("run", [2, 4])
def test_small_groups_run_on_the_packed_tiles_and_match_torch(rng, monkeypatch, run, strides, padding, activation,
                                                              width):
    """Groups of ``LANES/run`` filters and ``run`` input channels: the forward pass, the input gradient (over
    groups of ``run`` channels from ``LANES/run`` filters) and the kernel gradient each run one call of their
    packed kernel, and agree with PyTorch."""
    lanes = simd.lanes(np.float32)
    groups, per_group, filters_per_group = 3, run, lanes // run
    calls = []  # (kernel, its last argument: the run of the forward and input-gradient kernels)
    run_kernel = parallel.run

    def recording_run(kernel, *args, **kwargs):
        calls.append((kernel.py_func.__name__, args[-1]))
        return run_kernel(kernel, *args, **kwargs)

    monkeypatch.setattr(parallel, "run", recording_run)
    x, w = _data(rng, np.float32, groups, 3, size=(9, width), per_group=per_group,
                 filters_per_group=filters_per_group, batch=3)
    b = reference.random(rng, (w.shape[3],), np.float32)
    out = ops.conv_bias_activation(x, w, b, strides, padding, activation=activation, groups=groups)
    g = reference.random(rng, out.shape, np.float32)
    grads = ops.conv_bias_activation_grad(x, w, out, g, strides, padding, activation=activation, groups=groups)
    kernels = dict(call for call in calls if call[0].startswith("_conv2d"))
    assert sorted(kernels) == ["_conv2d_forward_tiled", "_conv2d_grad_input_tiled", "_conv2d_grad_kernel_packed"]
    assert kernels["_conv2d_forward_tiled"] == kernels["_conv2d_grad_kernel_packed"] == run
    assert kernels["_conv2d_grad_input_tiled"] in (2, 4)  # packed too (None: the ordinary tiles)
    for actual, expected in zip((out, *grads), _torch_grouped(x, w, b, g, groups, strides, padding, activation)):
        reference.assert_close(actual, expected, np.float32)


# ----------------------------------------------------------------------------- real Keras, layer by layer


@pytest.mark.parametrize("layer, kwargs, shape", [
    ("Conv2D", dict(filters=6, kernel_size=3, groups=2, padding="same", activation="relu"), (2, 6, 5, 4)),
    ("Conv2D", dict(filters=8, kernel_size=2, strides=2, groups=4, activation="sigmoid"), (2, 6, 6, 8)),
    ("Conv2D", dict(filters=4, kernel_size=3, groups=4, use_bias=False), (2, 5, 5, 4)),
    ("Conv1D", dict(filters=6, kernel_size=3, groups=3, padding="causal"), (2, 9, 6)),
    ("Conv1D", dict(filters=4, kernel_size=2, strides=2, groups=2, activation="tanh"), (2, 8, 2)),
], ids=str)
def test_layer_matches_keras(layer, kwargs, shape):
    x = RNG.standard_normal(shape).astype(np.float32)
    theirs = getattr(keras.layers, layer)(**kwargs)
    theirs(x)
    weights = [RNG.standard_normal(w.shape).astype(np.float32) for w in theirs.get_weights()]
    theirs.set_weights(weights)
    ours = getattr(fk.layers, layer)(**kwargs)
    ours(x)
    assert [w.shape for w in ours.weights] == [tuple(w.shape) for w in theirs.weights]
    ours.set_weights(weights)
    g = RNG.standard_normal(ours.compute_output_shape(x.shape)).astype(np.float32)
    assert_layer_matches_keras(ours, theirs, x, g)
    config = ours.get_config()
    assert config["groups"] == theirs.get_config()["groups"] == kwargs["groups"]
    assert type(ours).from_config(config).get_config() == config
    assert type(theirs).from_config(config).get_config()["groups"] == kwargs["groups"]


def _grouped_model(library):
    return library.Sequential([
        library.layers.Input((8, 8, 4)),
        library.layers.Conv2D(8, 3, groups=2, padding="same", activation="relu"),
        library.layers.Conv2D(8, 3, groups=4, strides=2),
        library.layers.Flatten(),
        library.layers.Dense(3),
    ])


def test_keras_file_round_trips_both_ways(tmp_path):
    x = RNG.standard_normal((4, 8, 8, 4)).astype(np.float32)
    ours = _grouped_model(fk)
    ours.save(tmp_path / "grouped.keras")
    loaded = keras.saving.load_model(tmp_path / "grouped.keras")
    np.testing.assert_allclose(np.asarray(loaded.predict(x, verbose=0)), ours.predict(x, verbose=0), rtol=1e-4,
                               atol=1e-5)
    theirs = _grouped_model(keras)
    theirs.save(tmp_path / "keras_grouped.keras")
    back = fk.models.load_model(tmp_path / "keras_grouped.keras")
    np.testing.assert_allclose(back.predict(x, verbose=0), np.asarray(theirs.predict(x, verbose=0)), rtol=1e-4,
                               atol=1e-5)


# ----------------------------------------------------------------------------- errors


def _raises(error, message, function, *args, **kwargs):
    with pytest.raises(error) as info:
        function(*args, **kwargs)
    assert str(info.value) == message


def test_layer_errors_are_keras():
    _raises(ValueError, "The number of filters must be evenly divisible by the number of groups. "
            "Received: groups=4, filters=6.", fk.layers.Conv2D, 6, 3, groups=4)
    with pytest.raises(ValueError, match="evenly divisible by the number of groups"):
        keras.layers.Conv2D(6, 3, groups=4)
    _raises(ValueError, "The number of input channels must be evenly divisible by the number of groups. "
            "Received groups=2, but the input has 3 channels.", fk.layers.Conv2D(4, 3, groups=2).build,
            (None, 5, 5, 3))
    with pytest.raises(ValueError, match="The number of input channels must be evenly divisible"):
        keras.layers.Conv2D(4, 3, groups=2).build((None, 5, 5, 3))
    _raises(ValueError, "The number of groups must be a positive integer. Received: groups=0.", fk.layers.Conv1D, 4,
            3, groups=0)


def test_op_errors():
    x = np.ones((1, 5, 5, 4))
    _raises(ValueError, "Invalid shapes for arguments `inputs` and `kernel`: kernel.shape[2] (input channels per "
            "group) times groups must equal inputs.shape[3]. Received: inputs.shape=(1, 5, 5, 4), "
            "kernel.shape=(3, 3, 1, 4), groups=2", ops.conv_bias_activation, x, np.ones((3, 3, 1, 4)), groups=2)
    _raises(ValueError, "Invalid shape for argument `kernel`: kernel.shape[3] (filters) must be divisible by groups. "
            "Received: kernel.shape=(3, 3, 2, 3), groups=2", ops.conv_bias_activation, x, np.ones((3, 3, 2, 3)),
            groups=2)
    _raises(ValueError, "Invalid value for argument `groups`. Expected a positive integer. Received: groups=0",
            ops.conv_bias_activation_grad, x, np.ones((3, 3, 2, 4)), None, np.ones((1, 3, 3, 4)), groups=0)
    _raises(ValueError, "Invalid shape for argument `grad_output`. Expected (1, 3, 3, 4). "
            "Received: grad_output.shape=(1, 5, 5, 4)", ops.conv_bias_activation_grad, x, np.ones((3, 3, 2, 4)),
            None, np.ones((1, 5, 5, 4)), groups=2)
    _raises(ValueError, "Invalid shape for argument `bias`. Expected (4,). Received: bias.shape=(2,)",
            ops.conv_bias_activation, x, np.ones((3, 3, 2, 4)), np.ones(2), groups=2)
    for per_group in (1, 2):  # one input channel per group runs as a depthwise convolution: the same checks
        _raises(ValueError, "`strides > 1` is not supported together with `dilation_rate > 1`. "
                "Received: strides=(2, 2) and dilation_rate=(2, 2)", ops.conv_bias_activation, x,
                np.ones((3, 3, per_group, 4)), None, 2, "same", dilation_rate=2, groups=4 // per_group)


# ----------------------------------------------------------------------------- determinism


@pytest.mark.parametrize("filters_per_group", [8, 16])
def test_bitwise_identical_at_one_and_two_threads(dtype, filters_per_group, restore_threads):
    rng = np.random.default_rng(4)
    x, w = _data(rng, dtype, 4, size=(9, 8), per_group=8, filters_per_group=filters_per_group, batch=20)
    bias = reference.random(rng, (4 * filters_per_group,), dtype)
    out = ops.conv_bias_activation(x, w, bias, 1, "same", activation="relu", groups=4)
    g = reference.random(rng, out.shape, dtype)

    def run():
        return (ops.conv_bias_activation(x, w, bias, 1, "same", activation="relu", groups=4),
                *ops.conv_bias_activation_grad(x, w, out, g, 1, "same", activation="relu", groups=4))

    parallel.set_num_threads(1)
    single = run()
    parallel.set_num_threads(2)
    for actual, expected in zip(run(), single):
        assert actual.tobytes() == expected.tobytes()


@pytest.mark.parametrize("filters_per_group", [16, 9])  # 9: the output gradient laid out in whole vectors a group
def test_float32_groups_run_in_one_call_of_each_kernel(rng, monkeypatch, filters_per_group):
    """float32 grouped convolutions read and write the groups' channels in place: one call of each tiled kernel
    for all 4 groups, no per-group copies (there were 4 calls of each, on copies of the channel slices)."""
    calls = []
    run = parallel.run

    def counting_run(kernel, *args, **kwargs):
        calls.append(kernel.py_func.__name__)
        return run(kernel, *args, **kwargs)

    monkeypatch.setattr(parallel, "run", counting_run)
    x, w = _data(rng, np.float32, 4, size=(8, 8), per_group=16, filters_per_group=filters_per_group)
    out = ops.conv_bias_activation(x, w, None, 1, "same", activation="relu", groups=4)
    ops.conv_bias_activation_grad(x, w, out, np.ones_like(out), 1, "same", activation="relu", groups=4)
    tiled = [name for name in calls if name.endswith("_tiled")]
    assert sorted(tiled) == ["_conv2d_forward_tiled", "_conv2d_grad_input_tiled", "_conv2d_grad_kernel_tiled"]


def test_compare_torch_groups_checks_and_times(monkeypatch, tmp_path):
    """``compare_torch.py --groups`` checks fastconv against ``F.conv2d(groups=)`` and times both: a smoke run."""
    monkeypatch.syspath_prepend(str(pathlib.Path(__file__).resolve().parent.parent))
    from benchmarks import compare_torch

    assert compare_torch.main(["--groups", "--quick", "--only", "g4|g32", "--json", str(tmp_path / "g.json")]) == 0
    rows = json.loads((tmp_path / "g.json").read_text())["conv"]
    assert {row["label"] for row in rows} == {"32x32x64->64 3x3 s1 same g4", "14x14x128->128 3x3 s1 same g4",
                                              "28x28x32->32 3x3 s1 same g32"}
