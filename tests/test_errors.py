"""Bad arguments get pinned error messages; odd but valid inputs (empty, non-finite, other dtypes, views) work."""

import re

import numpy as np
import pytest

import reference
from fastconv import ops

X = np.ones((1, 5, 5, 1))
W = np.ones((3, 3, 1, 2))
POSITIVE_PAIR = "Expected a positive integer or a tuple of 2 positive integers."


def _raises(exception, message, function, *args, **kwargs):
    """``function(*args, **kwargs)`` raises exactly ``exception`` with exactly ``message``."""
    with pytest.raises(exception) as info:
        function(*args, **kwargs)
    assert type(info.value) is exception
    assert str(info.value) == message


# ----------------------------------------------------------------------------- arguments


@pytest.mark.parametrize("padding", ["full", "causal", "", None, 0])
def test_bad_padding(padding):
    message = f"Invalid value for argument `padding`. Expected 'valid' or 'same'. Received: padding={padding!r}"
    _raises(ValueError, message, ops.conv, X, W, padding=padding)
    _raises(ValueError, message, ops.max_pool, X, 2, padding=padding)


def test_padding_is_case_insensitive_like_keras():
    np.testing.assert_array_equal(ops.conv(X, W, padding="SAME"), ops.conv(X, W, padding="same"))


@pytest.mark.parametrize("strides", [0, -1, (1, 0), (2, -2), (1, 2, 3), (1,), 1.5, (1.0, 1), "2", True, None])
def test_bad_strides(strides):
    message = f"Invalid value for argument `strides`. {POSITIVE_PAIR} Received: strides={strides!r}"
    _raises(ValueError, message, ops.conv, X, W, strides=strides)
    _raises(ValueError, message, ops.conv_grad, X, W, np.ones((1, 3, 3, 2)), strides=strides)
    if strides is not None:  # None means "= pool_size" for pooling
        _raises(ValueError, message, ops.max_pool, X, 2, strides)
        _raises(ValueError, message, ops.average_pool_grad, X, np.ones((1, 2, 2, 1)), 2, strides)


@pytest.mark.parametrize("pool_size", [0, -2, (2, 0), (2, 2, 2), 2.0, None])
def test_bad_pool_size(pool_size):
    message = f"Invalid value for argument `pool_size`. {POSITIVE_PAIR} Received: pool_size={pool_size!r}"
    _raises(ValueError, message, ops.max_pool, X, pool_size)
    _raises(ValueError, message, ops.average_pool, X, pool_size)
    _raises(ValueError, message, ops.max_pool_grad, X, np.ones((1, 2, 2, 1)), pool_size)


@pytest.mark.parametrize("dilation_rate", [0, -1, (1, 0), (1, 2, 1), 1.5])
def test_bad_dilation_rate(dilation_rate):
    message = (f"Invalid value for argument `dilation_rate`. {POSITIVE_PAIR} "
               f"Received: dilation_rate={dilation_rate!r}")
    _raises(ValueError, message, ops.conv, X, W, dilation_rate=dilation_rate)


def test_integer_arguments_may_be_numpy_integers():
    np.testing.assert_array_equal(ops.conv(X, W, strides=np.int64(2), dilation_rate=(np.int32(1), 1)),
                                  ops.conv(X, W, strides=2))


@pytest.mark.parametrize("strides, dilation_rate", [(2, 2), ((1, 2), (2, 1)), ((2, 1), (1, 3))])
def test_strides_with_dilation(strides, dilation_rate):
    s, d = reference.pair(strides), reference.pair(dilation_rate)
    message = (f"`strides > 1` is not supported together with `dilation_rate > 1`. "
               f"Received: strides={s} and dilation_rate={d}")
    _raises(ValueError, message, ops.conv, np.ones((1, 9, 9, 1)), W, strides, dilation_rate=dilation_rate)


def test_bad_data_format():
    message = ("fastconv supports only `data_format='channels_last'` (NHWC). Received: "
               "data_format='channels_first'. Transpose your inputs with `np.transpose(x, (0, 2, 3, 1))`.")
    _raises(NotImplementedError, message, ops.conv, X, W, data_format="channels_first")
    _raises(NotImplementedError, message, ops.max_pool, X, 2, data_format="channels_first")
    message = ("Invalid value for argument `data_format`. Expected 'channels_last' or None. "
               "Received: data_format='NHWC'")
    _raises(ValueError, message, ops.conv, X, W, data_format="NHWC")
    _raises(ValueError, message, ops.average_pool, X, 2, data_format="NHWC")
    np.testing.assert_array_equal(ops.conv(X, W, data_format="channels_last"), ops.conv(X, W))


def test_unknown_activation():
    message = ("Invalid value for argument `activation`. Expected one of [None, 'linear', 'relu']. "
               "Received: activation='tanh'")
    _raises(ValueError, message, ops.conv_bias_activation, X, W, activation="tanh")
    _raises(ValueError, message, ops.conv_bias_activation_grad, X, W, None, np.ones((1, 3, 3, 2)),
            activation="tanh")


def test_relu_grad_needs_outputs():
    message = "Argument `outputs` is required when `activation='relu'`. Received: outputs=None"
    _raises(ValueError, message, ops.conv_bias_activation_grad, X, W, None, np.ones((1, 3, 3, 2)),
            activation="relu")


# ----------------------------------------------------------------------------- shapes and dtypes


@pytest.mark.parametrize("shape", [(5, 5, 1), (1, 1, 5, 5, 1), ()])
def test_inputs_wrong_ndim(shape):
    inputs = np.ones(shape)
    message = ("Invalid shape for argument `inputs`. Expected a 4-D array (batch, height, width, channels). "
               f"Received: inputs.shape={shape}")
    _raises(ValueError, message, ops.conv, inputs, W)
    _raises(ValueError, message, ops.max_pool, inputs, 2)
    _raises(ValueError, message, ops.average_pool_grad, inputs, np.ones((1, 2, 2, 1)), 2)


def test_kernel_wrong_ndim():
    message = ("Invalid shape for argument `kernel`. Expected a 4-D array (kernel_height, kernel_width, "
               "input_channels, filters). Received: kernel.shape=(3, 3, 1)")
    _raises(ValueError, message, ops.conv, X, np.ones((3, 3, 1)))


@pytest.mark.parametrize("shape", [(0, 3, 1, 2), (3, 0, 1, 2)])
def test_kernel_without_taps(shape):
    message = ("Invalid shape for argument `kernel`. Expected a kernel height and width of at least 1. "
               f"Received: kernel.shape={shape}")
    _raises(ValueError, message, ops.conv, X, np.ones(shape))
    _raises(ValueError, message, ops.conv, X, np.ones(shape), padding="same")


def test_channel_mismatch():
    message = ("Invalid shapes for arguments `inputs` and `kernel`: kernel.shape[2] (input channels) must equal "
               "inputs.shape[3]. Received: inputs.shape=(1, 5, 5, 2), kernel.shape=(3, 3, 1, 2)")
    _raises(ValueError, message, ops.conv, np.ones((1, 5, 5, 2)), W)
    _raises(ValueError, message, ops.conv_grad, np.ones((1, 5, 5, 2)), W, np.ones((1, 3, 3, 2)))


def test_channels_first_inputs_get_a_hint_that_arrays_are_nhwc():
    """A PyTorch-style NCHW batch given to a kernel whose input channels are its axis 1: the error says so."""
    message = ("Invalid shapes for arguments `inputs` and `kernel`: kernel.shape[2] (input channels) must equal "
               "inputs.shape[3]. Received: inputs.shape=(2, 3, 32, 32), kernel.shape=(3, 3, 3, 8). "
               "The inputs look channels-first (NCHW): fastconv takes NHWC arrays (channels last), so transpose "
               "them with `np.transpose(x, (0, 2, 3, 1))`.")
    _raises(ValueError, message, ops.conv, np.ones((2, 3, 32, 32)), np.ones((3, 3, 3, 8)))
    _raises(ValueError, message, ops.conv_grad, np.ones((2, 3, 32, 32)), np.ones((3, 3, 3, 8)),
            np.ones((2, 30, 30, 8)))
    grey = "inputs.shape=(4, 1, 28, 28), kernel.shape=(3, 3, 1, 2). The inputs look channels-first (NCHW)"
    with pytest.raises(ValueError, match=re.escape(grey)):
        ops.conv(np.ones((4, 1, 28, 28)), W)


def test_channels_first_inputs_to_a_built_layer_get_the_hint():
    from fastconv.keras import layers

    layer = layers.Conv2D(2, 3)
    layer(np.ones((1, 28, 28, 1), np.float32))
    hint = "received input with shape (1, 1, 28, 28). The inputs look channels-first (NCHW): fastconv takes NHWC"
    with pytest.raises(ValueError, match=re.escape(hint)):
        layer(np.ones((1, 1, 28, 28), np.float32))


def test_kernel_larger_than_input_with_valid_padding():
    message = ("Invalid value for argument `kernel`: with padding='valid' the window (effective size 6 along "
               "axis 1) must fit in the input (size 5). Received: inputs.shape=(1, 5, 5, 1), kernel=(6, 3). "
               "Use padding='same' or a smaller window.")
    _raises(ValueError, message, ops.conv, X, np.ones((6, 3, 1, 2)))
    message = ("Invalid value for argument `kernel`: with padding='valid' the window (effective size 7 along "
               "axis 2) must fit in the input (size 5). Received: inputs.shape=(1, 5, 5, 1), kernel=(1, 3). "
               "Use padding='same' or a smaller window.")
    _raises(ValueError, message, ops.conv, X, np.ones((1, 3, 1, 2)), dilation_rate=3)
    # 'same' pads enough for any window.
    assert ops.conv(X, np.ones((6, 3, 1, 2)), padding="same").shape == (1, 5, 5, 2)


def test_pool_larger_than_input_with_valid_padding():
    message = ("Invalid value for argument `pool_size`: with padding='valid' the window (effective size 6 along "
               "axis 1) must fit in the input (size 5). Received: inputs.shape=(1, 5, 5, 1), pool_size=(6, 6). "
               "Use padding='same' or a smaller window.")
    _raises(ValueError, message, ops.max_pool, X, 6)
    _raises(ValueError, message, ops.average_pool_grad, X, np.ones((1, 1, 1, 1)), 6)
    assert ops.max_pool(X, 6, padding="same").shape == (1, 1, 1, 1)


def test_grad_output_wrong_shape():
    message = ("Invalid shape for argument `grad_output`. Expected (1, 3, 3, 2). "
               "Received: grad_output.shape=(1, 4, 3, 2)")
    _raises(ValueError, message, ops.conv_grad, X, W, np.ones((1, 4, 3, 2)))
    message = ("Invalid shape for argument `grad_output`. Expected (1, 2, 2, 1). "
               "Received: grad_output.shape=(1, 3, 3, 1)")
    _raises(ValueError, message, ops.max_pool_grad, X, np.ones((1, 3, 3, 1)), 2)
    _raises(ValueError, message, ops.average_pool_grad, X, np.ones((1, 3, 3, 1)), 2)


def test_relu_outputs_wrong_shape():
    message = "Invalid shape for argument `outputs`. Expected (1, 3, 3, 2). Received: outputs.shape=(1, 3, 3, 1)"
    _raises(ValueError, message, ops.conv_bias_activation_grad, X, W, np.ones((1, 3, 3, 1)), np.ones((1, 3, 3, 2)),
            activation="relu")


@pytest.mark.parametrize("shape", [(3,), (1, 2), ()])
def test_bias_wrong_shape(shape):
    message = f"Invalid shape for argument `bias`. Expected (2,). Received: bias.shape={shape}"
    _raises(ValueError, message, ops.conv_bias_activation, X, W, np.ones(shape))


@pytest.mark.parametrize("inputs_shape, kernel_shape, message", [
    ((2, 3), (3, 0), "Invalid shape for argument `kernel`. Expected at least one unit: kernel.shape[1] (units) must be "
                     "positive. Received: kernel.shape=(3, 0)"),
    ((2, 0), (0, 5), "Invalid shape for argument `inputs`. Expected at least one input feature: the last axis of "
                     "inputs must be positive. Received: inputs.shape=(2, 0), kernel.shape=(0, 5)"),
    ((0, 0), (0, 5), "Invalid shape for argument `inputs`. Expected at least one input feature: the last axis of "
                     "inputs must be positive. Received: inputs.shape=(0, 0), kernel.shape=(0, 5)"),
    ((2, 4, 0), (0, 0), "Invalid shape for argument `kernel`. Expected at least one unit: kernel.shape[1] (units) "
                        "must be positive. Received: kernel.shape=(0, 0)"),
], ids=str)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dense_without_inputs_or_units(inputs_shape, kernel_shape, message, dtype):
    """A Dense product over no features, or into no units, is an error (numpy's ``@`` gives zeros or an empty
    array); ``keras.layers.Dense(0)`` raises too. An empty batch is fine."""
    x, w = np.ones(inputs_shape, dtype), np.ones(kernel_shape, dtype)
    _raises(ValueError, message, ops.dense, x, w)
    _raises(ValueError, message, ops.dense_grad, x, w, np.ones((*inputs_shape[:-1], kernel_shape[1]), dtype))


@pytest.mark.parametrize("dtype", [np.complex64, np.complex128, object, "U1", "datetime64[s]"])
def test_unsupported_dtype(dtype):
    name = np.dtype(dtype)
    bad = np.zeros((1, 5, 5, 1), dtype)
    hint = "Convert it with `.astype('float32')`."
    expected = "Expected a real floating point, integer or boolean array."
    _raises(TypeError, f"Invalid dtype for argument `inputs`. {expected} Received: inputs.dtype={name}. {hint}",
            ops.conv, bad, W)
    _raises(TypeError, f"Invalid dtype for argument `kernel`. {expected} Received: kernel.dtype={name}. {hint}",
            ops.conv, X, np.zeros(W.shape, dtype))
    _raises(TypeError, f"Invalid dtype for argument `inputs`. {expected} Received: inputs.dtype={name}. {hint}",
            ops.max_pool, bad, 2)
    _raises(TypeError,
            f"Invalid dtype for argument `grad_output`. {expected} Received: grad_output.dtype={name}. {hint}",
            ops.max_pool_grad, X, np.zeros((1, 2, 2, 1), dtype), 2)


# ----------------------------------------------------------------------------- valid edge cases


def test_empty_batch_gives_empty_results_of_the_right_shape():
    x = np.ones((0, 6, 5, 2), np.float32)
    w = np.ones((3, 2, 2, 4), np.float32)
    out = ops.conv(x, w, 2, "same")
    assert out.shape == (0, 3, 3, 4) and out.dtype == np.float32
    grad_x, grad_w = ops.conv_grad(x, w, out, 2, "same")
    assert grad_x.shape == x.shape and grad_x.dtype == np.float32
    np.testing.assert_array_equal(grad_w, np.zeros_like(w))  # a sum over no items
    out = ops.conv_bias_activation(x, w, np.ones(4, np.float32), activation="relu")
    grads = ops.conv_bias_activation_grad(x, w, out, out, activation="relu")
    assert [g.shape for g in grads] == [x.shape, w.shape, (4,)]
    np.testing.assert_array_equal(grads[2], np.zeros(4))
    for forward, backward in [(ops.max_pool, ops.max_pool_grad), (ops.average_pool, ops.average_pool_grad)]:
        out = forward(x, 2, 1, "valid")
        assert out.shape == (0, 5, 4, 2) and out.dtype == np.float32
        assert backward(x, out, 2, 1, "valid").shape == x.shape


@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")  # the reference's inf - inf
def test_nan_and_inf_propagate_as_in_numpy(rng):
    x = reference.random(rng, (1, 6, 6, 2))
    x[0, 1, 1, 0] = np.nan
    x[0, 4, 3, 1] = np.inf
    x[0, 4, 5, 1] = -np.inf
    w = reference.random(rng, (3, 3, 2, 2))
    out = ops.conv(x, w, padding="same")
    np.testing.assert_array_equal(np.isnan(out), np.isnan(reference.conv(x, w, padding="same")))
    reference.assert_close(out, reference.conv(x, w, padding="same"), np.float64)  # NaN == NaN, inf == inf
    assert np.isnan(out[0, :3, :3]).all() and np.isfinite(out[0, :, :]).any()
    g = reference.random(rng, out.shape)
    expected = reference.conv_grad(x, w, g, padding="same")
    for actual, wanted in zip(ops.conv_grad(x, w, g, padding="same"), expected):
        reference.assert_close(actual, wanted, np.float64)
    for mode in ("max", "average"):
        forward = getattr(ops, f"{mode}_pool")
        ref = getattr(reference, f"{mode}_pool")
        reference.assert_close(forward(x, 2), ref(x, 2), np.float64)
        backward = getattr(ops, f"{mode}_pool_grad")
        ref_backward = getattr(reference, f"{mode}_pool_grad")
        g = reference.random(rng, (1, 3, 3, 2))
        reference.assert_close(backward(x, g, 2), ref_backward(x, g, 2), np.float64)
    pooled = ops.max_pool(x, 2)
    assert np.isnan(pooled[0, 0, 0, 0]) and pooled[0, 2, 1, 1] == np.inf
    assert ops.average_pool(x, 2)[0, 2, 2, 1] == -np.inf


@pytest.mark.parametrize("dtype", [np.int8, np.int32, np.int64, np.uint8, np.bool_])
def test_integer_and_boolean_inputs_compute_in_float32(rng, dtype):
    x = rng.integers(0, 2, (2, 5, 4, 2)).astype(dtype)
    w = rng.integers(-2, 3, (3, 3, 2, 3)).astype(dtype)
    out = ops.conv(x, w, padding="same")
    reference.assert_close(out, reference.conv(x.astype(float), w.astype(float), padding="same"), np.float32)
    grad_x, grad_w = ops.conv_grad(x, w, np.ones(out.shape, dtype), padding="same")
    assert grad_x.dtype == grad_w.dtype == np.float32
    for forward in (ops.max_pool, ops.average_pool):
        assert forward(x, 2).dtype == np.float32
    reference.assert_close(ops.max_pool(x, 2), reference.max_pool(x.astype(float), 2), np.float32)
    assert ops.max_pool_grad(x, np.ones((2, 2, 2, 2), dtype), 2).dtype == np.float32


def test_float16_is_computed_in_float32_and_returned_as_float16(rng):
    x = reference.random(rng, (1, 6, 6, 2), np.float16)
    w = reference.random(rng, (3, 3, 2, 2), np.float16)
    out = ops.conv(x, w)
    assert out.dtype == np.float16
    expected = ops.conv(x.astype(np.float32), w.astype(np.float32)).astype(np.float16)
    np.testing.assert_array_equal(out, expected)
    grad_x, grad_w = ops.conv_grad(x, w, np.ones(out.shape, np.float16))
    assert grad_x.dtype == grad_w.dtype == np.float16
    assert ops.max_pool(x, 2).dtype == ops.average_pool_grad(x, np.ones((1, 3, 3, 2), np.float16), 2).dtype
    assert ops.max_pool(x, 2).dtype == np.float16


def test_mixed_dtypes_take_the_wider_float(rng):
    x = reference.random(rng, (1, 5, 5, 2), np.float32)
    w = reference.random(rng, (3, 3, 2, 2), np.float64)
    out = ops.conv(x, w)
    reference.assert_close(out, reference.conv(x, w), np.float64)
    assert ops.conv(x, w.astype(np.int32)).dtype == np.float32
    assert ops.conv(x.astype(np.float16), w.astype(np.float32)).dtype == np.float32


def _views(array):
    """The same values in non-contiguous layouts: Fortran order, a transposed copy, a strided slice, a reversal."""
    fortran = np.asfortranarray(array)
    transposed = np.ascontiguousarray(array.swapaxes(1, 2)).swapaxes(1, 2)
    wide = np.zeros((array.shape[0], 2 * array.shape[1], array.shape[2], array.shape[3] + 1), array.dtype)
    wide[:, ::2, :, 1:] = array
    reversed_ = np.ascontiguousarray(array[:, ::-1])[:, ::-1]
    return [fortran, transposed, wide[:, ::2, :, 1:], reversed_]


def test_non_contiguous_inputs_give_the_contiguous_result(rng, dtype):
    x = reference.random(rng, (2, 7, 6, 3), dtype)
    w = reference.random(rng, (3, 2, 3, 4), dtype)
    out = ops.conv(x, w, 2, "same")
    g = reference.random(rng, out.shape, dtype)
    grads = ops.conv_grad(x, w, g, 2, "same")
    pooled = ops.max_pool(x, 3, 2, "same")
    pooled_grad = ops.average_pool_grad(x, pooled, 3, 2, "same")
    for xv, wv, gv in zip(_views(x), _views(w), _views(g)):
        assert not (xv.flags.c_contiguous or wv.flags.c_contiguous or gv.flags.c_contiguous)
        np.testing.assert_array_equal(ops.conv(xv, wv, 2, "same"), out)
        for actual, wanted in zip(ops.conv_grad(xv, wv, gv, 2, "same"), grads):
            np.testing.assert_array_equal(actual, wanted)
        np.testing.assert_array_equal(ops.max_pool(xv, 3, 2, "same"), pooled)
        np.testing.assert_array_equal(ops.average_pool_grad(xv, _views(pooled)[1], 3, 2, "same"), pooled_grad)


def test_read_only_inputs_are_accepted(rng):
    x = reference.random(rng, (2, 6, 5, 3), np.float32)
    w = reference.random(rng, (3, 3, 3, 2), np.float32)
    g = reference.random(rng, (2, 6, 5, 2), np.float32)
    expected = ops.conv(x, w, padding="same"), ops.conv_grad(x, w, g, padding="same"), ops.max_pool_grad(x, x, 1)
    for array in (x, w, g):
        array.setflags(write=False)
    np.testing.assert_array_equal(ops.conv(x, w, padding="same"), expected[0])
    for actual, wanted in zip(ops.conv_grad(x, w, g, padding="same"), expected[1]):
        np.testing.assert_array_equal(actual, wanted)
    np.testing.assert_array_equal(ops.max_pool_grad(x, x, 1), expected[2])


def test_array_likes_are_accepted():
    out = ops.conv(X.tolist(), W.tolist())
    np.testing.assert_array_equal(out, ops.conv(X, W))
    assert out.dtype == np.float64
