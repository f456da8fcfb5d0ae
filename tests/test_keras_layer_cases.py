"""Keras's own 2-D convolution and pooling test tables, run against fastconv.

The configurations, expected output shapes and rejected arguments below are
facts copied as data from Keras 3.15.1's test files (in the wheel, under
``keras/src/layers/``); the checks and the numpy definitions they compare
against are written here. Only ``data_format='channels_last'`` cases are
ported as computations; Keras's ``channels_first`` cases become checks that
fastconv rejects them by name. Where each table comes from:

- ``CONV_CASES``: ``convolutional/conv_test.py``
  - ``ConvBasicTest.test_conv2d_basic``, its three parameter sets (input and
    expected output shapes given);
  - ``ConvBasicTest.test_enable_lora``, the two ``conv2d_*`` named cases (their
    shapes only: LoRA itself is not supported, see ``UNSUPPORTED_CASES``);
  - ``ConvCorrectnessTest.test_conv2d``, its five ``channels_last`` sets on
    Keras's input of shape ``(2, 8, 8, 4)`` (no expected shape in the table:
    it is taken from real Keras's ``compute_output_shape``).
  Cases with ``groups=2`` run like the others (grouped convolution).
- ``POOL_CASES``: ``pooling/max_pooling_test.py`` and
  ``pooling/average_pooling_test.py``: ``MaxPoolingBasicTest.test_max_pooling2d``,
  ``AveragePoolingBasicTest.test_average_pooling2d`` (shapes given),
  ``MaxPoolingCorrectnessTest.test_max_pooling2d`` (input
  ``arange(100).reshape(1, 5, 5, 4)``), ``AveragePoolingCorrectnessTest``'s
  ``test_average_pooling2d`` and ``test_average_pooling2d_same_padding``
  (input ``arange(16).reshape(1, 4, 4, 1)``; upstream skips the latter on the
  torch backend, whose 'same' average pooling differs, see
  docs/keras-compatibility.md). Two cases marked ``derived`` are not
  upstream: ``strides=None`` (which Keras's tables never use) defaults to
  ``pool_size``.
- ``UNSUPPORTED_CASES``: the ``channels_first`` set of the tables above,
  ``test_lora_rank_argument`` (and, derived,
  ``lora_rank`` alone, which the upstream case hides behind its
  ``kernel_regularizer``).
- ``BAD_ARGUMENT_CASES``: ``ConvBasicTest.test_bad_init_args`` (its
  ``Conv1D(filters=0)`` case ported to ``Conv2D``), plus cases marked
  ``derived`` for what the issue lists (``filters < 0``, ``kernel_size=0``,
  ``dilation_rate=0``, invalid padding strings, and the pooling layers'
  ``pool_size``, ``strides`` and ``padding``). Each Conv2D case is checked to
  raise ``ValueError`` in real Keras too.
- ``test_conv_symbolic_invalid_configuration`` and
  ``test_conv_raises_exception_on_zero_dims`` keep upstream's test names.

Each supported case checks (1) the output shape against the table and against
real Keras's ``compute_output_shape``, and the trainable and non-trainable
weight counts of ``run_layer_test``; (2) values against the numpy definitions
in this file, in float64; (3) ``get_config``: the same keys in the same order
as Keras's for the same arguments, the same values, and round trips through
``from_config`` in both libraries.

Differences from Keras that these tables found are fixed (an invalid
``groups`` raises ``ValueError``, a symbolic call whose 'valid' window does
not fit raises, pooling layers are built at instantiation), except one kept
on purpose: the kernel initializer's config leaves out Keras 3.15's
``input_axes``/``output_axes=None``, so that older Keras 3 releases can read
fastconv's files.
"""

import dataclasses
import math

import numpy as np
import pytest

from fastconv import keras as fastconv_keras
from keras_reference import keras

# ----------------------------------------------------------------------------- the tables


@dataclasses.dataclass(frozen=True)
class Case:
    """One parameter set of an upstream test: layer, arguments, input shape and Keras's expected output shape."""

    source: str
    layer: str
    kwargs: dict
    input_shape: tuple
    output_shape: tuple = None
    inputs: str = "random"  # or "arange": the upstream correctness tests' np.arange inputs


_CONV_BASIC = "conv_test.test_conv2d_basic"
_CONV_LORA = "conv_test.test_enable_lora"
_CONV_VALUES = "conv_test.test_conv2d"
_MAX_BASIC = "max_pooling_test.test_max_pooling2d(basic)"
_MAX_VALUES = "max_pooling_test.test_max_pooling2d(correctness)"
_AVG_BASIC = "average_pooling_test.test_average_pooling2d(basic)"
_AVG_VALUES = "average_pooling_test.test_average_pooling2d(correctness)"
_AVG_SAME = "average_pooling_test.test_average_pooling2d_same_padding"


def _conv(source, filters, kernel_size, strides, padding, dilation_rate, groups, input_shape, output_shape=None):
    kwargs = dict(filters=filters, kernel_size=kernel_size, strides=strides, padding=padding,
                  data_format="channels_last", dilation_rate=dilation_rate, groups=groups)
    return Case(source, "Conv2D", kwargs, input_shape, output_shape)


CONV_TABLE = [
    _conv(f"{_CONV_BASIC}[0]", 5, 2, 1, "valid", 1, 1, (3, 5, 5, 4), (3, 4, 4, 5)),
    _conv(f"{_CONV_BASIC}[1]", 6, 2, 1, "same", (2, 2), 2, (3, 4, 4, 4), (3, 4, 4, 6)),
    _conv(f"{_CONV_BASIC}[2]", 6, (2, 2), (2, 1), "valid", (1, 1), 2, (3, 5, 5, 4), (3, 2, 4, 6)),
    _conv(f"{_CONV_LORA}[conv2d_kernel_size3_strides1]", 6, 3, 1, "valid", 1, 1, (None, 5, 5, 4), (None, 3, 3, 6)),
    _conv(f"{_CONV_LORA}[conv2d_kernel_size2_strides2]", 6, 2, 2, "valid", 1, 2, (None, 5, 5, 4), (None, 2, 2, 6)),
    _conv(f"{_CONV_VALUES}[0]", 5, 2, 1, "valid", 1, 1, (2, 8, 8, 4)),
    _conv(f"{_CONV_VALUES}[1]", 4, 3, 2, "same", 1, 1, (2, 8, 8, 4)),
    _conv(f"{_CONV_VALUES}[2]", 6, 2, 1, "same", (2, 2), 2, (2, 8, 8, 4)),
    _conv(f"{_CONV_VALUES}[3]", 6, 2, 1, "same", (2, 3), 2, (2, 8, 8, 4)),
    _conv(f"{_CONV_VALUES}[4]", 6, (4, 3), (2, 1), "valid", (1, 1), 2, (2, 8, 8, 4)),
    # test_conv2d[5] is [4] with data_format="channels_first": in UNSUPPORTED_CASES.
]


def _pool(source, layer, pool_size, strides, padding, input_shape, output_shape=None, inputs="random"):
    kwargs = dict(pool_size=pool_size, strides=strides, padding=padding, data_format="channels_last")
    return Case(source, layer, kwargs, input_shape, output_shape, inputs)


POOL_CASES = [
    _pool(f"{_MAX_BASIC}[0]", "MaxPooling2D", 2, 1, "valid", (3, 5, 5, 4), (3, 4, 4, 4)),
    _pool(f"{_MAX_BASIC}[2]", "MaxPooling2D", (2, 3), (2, 2), "valid", (3, 5, 5, 4), (3, 2, 2, 4)),
    _pool(f"{_MAX_VALUES}[0]", "MaxPooling2D", 2, 1, "valid", (1, 5, 5, 4), inputs="arange"),
    _pool(f"{_MAX_VALUES}[2]", "MaxPooling2D", (2, 2), (2, 2), "same", (1, 5, 5, 4), inputs="arange"),
    _pool(f"{_MAX_VALUES}[4]", "MaxPooling2D", (2, 3), (3, 3), "same", (1, 5, 5, 4), inputs="arange"),
    _pool(f"{_AVG_BASIC}[0]", "AveragePooling2D", 2, 1, "valid", (3, 5, 5, 4), (3, 4, 4, 4)),
    _pool(f"{_AVG_BASIC}[1]", "AveragePooling2D", 2, 1, "same", (3, 5, 5, 4), (3, 5, 5, 4)),
    _pool(f"{_AVG_BASIC}[4]", "AveragePooling2D", (2, 3), (2, 2), "valid", (3, 5, 5, 4), (3, 2, 2, 4)),
    _pool(f"{_AVG_BASIC}[5]", "AveragePooling2D", (2, 3), (2, 2), "same", (3, 5, 5, 4), (3, 3, 3, 4)),
    _pool(f"{_AVG_VALUES}[0]", "AveragePooling2D", 2, 1, "valid", (1, 4, 4, 1), inputs="arange"),
    _pool(f"{_AVG_VALUES}[1]", "AveragePooling2D", (2, 3), (2, 2), "valid", (1, 4, 4, 1), inputs="arange"),
    _pool(f"{_AVG_SAME}[0]", "AveragePooling2D", 2, (2, 1), "same", (1, 4, 4, 1), inputs="arange"),
    _pool(f"{_AVG_SAME}[2]", "AveragePooling2D", (2, 2), (2, 2), "same", (1, 4, 4, 1), inputs="arange"),
    _pool("derived[max strides=None]", "MaxPooling2D", (2, 3), None, "same", (2, 5, 7, 3)),
    _pool("derived[average strides=None]", "AveragePooling2D", (2, 3), None, "same", (2, 5, 7, 3)),
]


CONV_CASES = CONV_TABLE  # groups=2 included: fastconv runs grouped convolutions
SUPPORTED_CASES = CONV_CASES + POOL_CASES

_CHANNELS_FIRST = "data_format"
UNSUPPORTED_CASES = [
    (f"{_CONV_VALUES}[5]", "Conv2D", dict(filters=6, kernel_size=(4, 3), strides=(2, 1), padding="valid",
                                          data_format="channels_first", dilation_rate=(1, 1), groups=2),
     _CHANNELS_FIRST),
    ("conv_test.test_lora_rank_argument", "Conv2D",
     dict(filters=5, kernel_size=3, activation="sigmoid", data_format="channels_last", kernel_regularizer="l2",
          lora_rank=2), "`lora_rank`"),
    ("derived[lora_rank=2 alone]", "Conv2D", dict(filters=5, kernel_size=3, lora_rank=2),
     "`lora_rank`"),
    (f"{_MAX_BASIC}[1]", "MaxPooling2D", dict(pool_size=2, strides=1, padding="same", data_format="channels_first"),
     _CHANNELS_FIRST),
    (f"{_MAX_VALUES}[1]", "MaxPooling2D", dict(pool_size=2, strides=1, padding="valid",
                                               data_format="channels_first"), _CHANNELS_FIRST),
    (f"{_MAX_VALUES}[3]", "MaxPooling2D", dict(pool_size=(2, 2), strides=(2, 2), padding="same",
                                               data_format="channels_first"), _CHANNELS_FIRST),
    (f"{_AVG_BASIC}[2]", "AveragePooling2D", dict(pool_size=2, strides=1, padding="valid",
                                                  data_format="channels_first"), _CHANNELS_FIRST),
    (f"{_AVG_BASIC}[3]", "AveragePooling2D", dict(pool_size=2, strides=1, padding="same",
                                                  data_format="channels_first"), _CHANNELS_FIRST),
    (f"{_AVG_BASIC}[6]", "AveragePooling2D", dict(pool_size=(2, 3), strides=(3, 3), padding="same",
                                                  data_format="channels_first"), _CHANNELS_FIRST),
    (f"{_AVG_SAME}[1]", "AveragePooling2D", dict(pool_size=2, strides=(2, 1), padding="same",
                                                 data_format="channels_first"), _CHANNELS_FIRST),
    (f"{_AVG_SAME}[3]", "AveragePooling2D", dict(pool_size=(2, 2), strides=(2, 2), padding="same",
                                                 data_format="channels_first"), _CHANNELS_FIRST),
]

_BAD = "conv_test.test_bad_init_args"
BAD_ARGUMENT_CASES = [
    pytest.param("Conv2D", dict(filters=0, kernel_size=1), r"`filters`", True, id=f"{_BAD}[filters=0]"),
    pytest.param("Conv2D", dict(filters=-1, kernel_size=1), r"`filters`", True, id="derived[filters=-1]"),
    pytest.param("Conv2D", dict(filters=2, kernel_size=(1, 0)), r"`kernel_size`", True,
                 id=f"{_BAD}[kernel_size=(1, 0)]"),
    pytest.param("Conv2D", dict(filters=2, kernel_size=0), r"`kernel_size`", True, id="derived[kernel_size=0]"),
    pytest.param("Conv2D", dict(filters=2, kernel_size=(2, 2), strides=(1, 0)), r"`strides`", True,
                 id=f"{_BAD}[strides=(1, 0)]"),
    pytest.param("Conv2D", dict(filters=2, kernel_size=(2, 2), strides=2, dilation_rate=(2, 1)),
                 r"`strides > 1`.*`dilation_rate > 1`.*strides=\(2, 2\) and dilation_rate=\(2, 1\)", True,
                 id=f"{_BAD}[strides=2, dilation_rate=(2, 1)]"),
    pytest.param("Conv2D", dict(filters=5, kernel_size=(2, 2), groups=0), r"groups=0", True,
                 id=f"{_BAD}[groups=0]"),
    pytest.param("Conv2D", dict(filters=5, kernel_size=(2, 2), groups=2), r"groups=2", True,
                 id=f"{_BAD}[groups=2, filters=5]"),
    pytest.param("Conv2D", dict(filters=2, kernel_size=2, dilation_rate=0), r"`dilation_rate`", True,
                 id="derived[dilation_rate=0]"),
    pytest.param("Conv2D", dict(filters=2, kernel_size=2, padding="full"), r"`padding`", True,
                 id="derived[padding='full']"),
    pytest.param("Conv2D", dict(filters=2, kernel_size=2, padding="causal"), r"`padding`", True,
                 id="derived[padding='causal']"),
    # Keras's pooling layers reject these pool sizes when built too, but take strides=0 and unknown padding
    # strings at construction (strides=0 fails when called; padding='full' runs as 'valid' on torch).
    *[pytest.param(layer, kwargs, match, keras_rejects, id=f"derived[{layer} {ident}]")
      for layer in ("MaxPooling2D", "AveragePooling2D")
      for kwargs, match, keras_rejects, ident in [
          (dict(pool_size=0), r"`pool_size`", True, "pool_size=0"),
          (dict(pool_size=(2, 0)), r"`pool_size`", True, "pool_size=(2, 0)"),
          (dict(pool_size=2, strides=0), r"`strides`", False, "strides=0"),
          (dict(pool_size=2, padding="full"), r"`padding`", False, "padding='full'"),
      ]],
]

# ----------------------------------------------------------------------------- numpy definitions


def _pair(value):
    return (value, value) if isinstance(value, int) else tuple(value)


def _axis_padding(length, window, stride, padding):
    """``(before, after, outputs)`` along one axis, from Keras's definition of its paddings.

    'valid' pads nothing and counts the windows that fit. 'same' gives
    ``ceil(length / stride)`` outputs and pads just enough for the last window,
    the smaller half before: the odd cell goes to the bottom/right.
    """
    if padding == "valid":
        return 0, 0, (length - window) // stride + 1
    outputs = math.ceil(length / stride)
    total = max((outputs - 1) * stride + window - length, 0)
    return total // 2, total - total // 2, outputs


def _geometry(shape, window, strides, padding):
    (top, bottom, out_h), (left, right, out_w) = (
        _axis_padding(length, size, stride, padding) for length, size, stride in zip(shape[1:3], window, strides))
    return ((0, 0), (top, bottom), (left, right), (0, 0)), out_h, out_w


def conv2d_definition(x, kernel, bias, strides, padding, dilation_rate):
    """``out[n, i, j, f] = bias[f] + sum_{a, b, c} xpad[n, i*sh + a*dh, j*sw + b*dw, c] * kernel[a, b, c, f]``
    in float64, where ``xpad`` is ``x`` zero-padded for ``padding`` (float64); with ``C/g`` kernel input channels
    (``groups=g``), output channel ``f`` sums over input channels ``c + (f // (F/g)) * C/g`` only."""
    (sh, sw), (dh, dw) = _pair(strides), _pair(dilation_rate)
    kh, kw, per_group, filters = kernel.shape
    if per_group != x.shape[3]:  # grouped: a block-diagonal kernel over all the input channels
        groups = x.shape[3] // per_group
        full = np.zeros((kh, kw, x.shape[3], filters), kernel.dtype)
        for f in range(filters):
            group = f // (filters // groups)
            full[:, :, group * per_group:(group + 1) * per_group, f] = kernel[:, :, :, f]
        kernel = full
    extent = (dh * (kh - 1) + 1, dw * (kw - 1) + 1)
    pads, out_h, out_w = _geometry(x.shape, extent, (sh, sw), padding)
    xpad = np.pad(x.astype(np.float64), pads)
    out = np.empty((x.shape[0], out_h, out_w, filters))
    for i in range(out_h):
        for j in range(out_w):
            window = xpad[:, i * sh:i * sh + extent[0]:dh, j * sw:j * sw + extent[1]:dw, :]
            out[:, i, j, :] = np.einsum("nabc,abcf->nf", window, kernel.astype(np.float64))
    return out + bias.astype(np.float64)


def pool2d_definition(x, pool_size, strides, padding, reduce):
    """Max or average over each window of ``x``, in float64, over the real cells only.

    ``strides=None`` means ``pool_size``. Padded cells are NaN and the
    reductions skip NaNs, so a max never picks one and an average divides by
    the number of real cells (TensorFlow's rule; a 'same' window always holds
    at least one real cell).
    """
    pool_size = _pair(pool_size)
    strides = pool_size if strides is None else _pair(strides)
    pads, out_h, out_w = _geometry(x.shape, pool_size, strides, padding)
    xpad = np.pad(x.astype(np.float64), pads, constant_values=np.nan)
    (ph, pw), (sh, sw) = pool_size, strides
    out = np.empty((x.shape[0], out_h, out_w, x.shape[3]))
    for i in range(out_h):
        for j in range(out_w):
            out[:, i, j, :] = reduce(xpad[:, i * sh:i * sh + ph, j * sw:j * sw + pw, :], axis=(1, 2))
    return out


def test_definitions_on_hand_worked_examples():
    """The definitions above, on examples small enough to work out by hand."""
    x = np.arange(1.0, 6.0).reshape(1, 1, 5, 1)
    # 'same', window 2, stride 1: one padded cell, at the right.
    np.testing.assert_array_equal(pool2d_definition(x, (1, 2), 1, "same", np.nanmean).ravel(),
                                  [1.5, 2.5, 3.5, 4.5, 5.0])
    # 'same', window 3, stride 2 over 5 cells: 3 outputs, 2 padded cells, one on each side.
    np.testing.assert_array_equal(pool2d_definition(x, (1, 3), (1, 2), "same", np.nanmax).ravel(), [2, 4, 5])
    # A [1, 1] kernel dilated by 3 reads cells 0 and 3, 1 and 4.
    kernel = np.ones((1, 2, 1, 1))
    np.testing.assert_array_equal(conv2d_definition(x, kernel, np.zeros(1), 1, "valid", (1, 3)).ravel(), [5, 7])
    # 'same' with a 1x2 kernel on 5 cells: the padded zero is at the right.
    np.testing.assert_array_equal(conv2d_definition(x, kernel, np.zeros(1), 1, "same", 1).ravel(), [3, 5, 7, 9, 5])


# ----------------------------------------------------------------------------- checks of supported cases


def _ours(case):
    return getattr(fastconv_keras.layers, case.layer)(**case.kwargs)


def _theirs(case):
    return getattr(keras.layers, case.layer)(**case.kwargs)


def _concrete(shape, batch=2):
    return tuple(batch if size is None else size for size in shape)


def _inputs(case, rng):
    shape = _concrete(case.input_shape)
    if case.inputs == "arange":
        return np.arange(math.prod(shape), dtype=np.float32).reshape(shape)
    return rng.standard_normal(shape).astype(np.float32)


@pytest.mark.parametrize("case", SUPPORTED_CASES, ids=lambda case: case.source)
def test_output_shape(case):
    layer = _ours(case)
    keras_shape = tuple(_theirs(case).compute_output_shape(case.input_shape))
    if case.output_shape is not None:
        assert keras_shape == case.output_shape  # the table is copied right
    assert layer.compute_output_shape(case.input_shape) == keras_shape
    outputs = layer(np.zeros(_concrete(case.input_shape), np.float32))
    assert outputs.shape == _concrete(keras_shape)
    expected_trainable = 2 if case.layer == "Conv2D" else 0  # run_layer_test's expected_num_trainable_weights
    assert len(layer.trainable_weights) == expected_trainable
    assert len(layer.non_trainable_weights) == 0


@pytest.mark.parametrize("case", SUPPORTED_CASES, ids=lambda case: case.source)
def test_values_match_definition(case, rng):
    x = _inputs(case, rng)
    layer = _ours(case)
    kwargs = case.kwargs
    if case.layer == "Conv2D":
        layer.build(x.shape)
        kernel, bias = (rng.standard_normal(w.shape).astype(np.float32) for w in layer.get_weights())
        layer.set_weights([kernel, bias])
        expected = conv2d_definition(x, kernel, bias, kwargs["strides"], kwargs["padding"], kwargs["dilation_rate"])
    else:
        reduce = np.nanmax if case.layer == "MaxPooling2D" else np.nanmean
        expected = pool2d_definition(x, kwargs["pool_size"], kwargs["strides"], kwargs["padding"], reduce)
    outputs = layer(x)
    assert outputs.dtype == np.float32 and outputs.shape == expected.shape
    np.testing.assert_allclose(outputs, expected, rtol=1e-5, atol=1e-5)


def _drop_unset(config):
    """An initializer's serialized config without arguments left at ``None`` (see
    test_initializer_config_is_keras_verbatim)."""
    return {**config, "config": {k: v for k, v in config["config"].items() if v is not None}}


def _comparable(config):
    config = {key: value for key, value in config.items() if key != "name"}
    for key in ("kernel_initializer", "bias_initializer"):
        if key in config:
            config[key] = _drop_unset(config[key])
    return config


@pytest.mark.parametrize("case", SUPPORTED_CASES, ids=lambda case: case.source)
def test_config_matches_keras_and_round_trips(case):
    ours, theirs = _ours(case).get_config(), _theirs(case).get_config()
    assert list(ours) == list(theirs)
    assert _comparable(ours) == _comparable(theirs)
    ours_class, theirs_class = getattr(fastconv_keras.layers, case.layer), getattr(keras.layers, case.layer)
    assert ours_class.from_config(ours).get_config() == ours
    assert _comparable(theirs_class.from_config(ours).get_config()) == _comparable(theirs)
    assert _comparable(ours_class.from_config(theirs).get_config()) == _comparable(ours)


def test_initializer_config_leaves_out_keys_older_keras_lacks():
    # On purpose: Keras 3.15 writes GlorotUniform as {'seed': None, 'input_axes': None, 'output_axes': None};
    # fastconv leaves out the two newer keys at their "not used" value, which Keras 3.15 reads back the same.
    ours = fastconv_keras.layers.Conv2D(5, 2).get_config()["kernel_initializer"]
    theirs = keras.layers.Conv2D(5, 2).get_config()["kernel_initializer"]
    assert theirs["config"] == {**ours["config"], "input_axes": None, "output_axes": None}
    assert {key: value for key, value in ours.items() if key != "config"} == \
        {key: value for key, value in theirs.items() if key != "config"}
    assert keras.initializers.deserialize(ours).get_config() == theirs["config"]


@pytest.mark.parametrize("layer, args", [("MaxPooling2D", (2,)), ("AveragePooling2D", (2,)),
                                         ("GlobalAveragePooling2D", ()), ("GlobalMaxPooling2D", ()),
                                         ("Dropout", (0.5,)), ("Activation", ("relu",)), ("ReLU", ()),
                                         ("Flatten", ()), ("Dense", (3,)), ("Conv2D", (2, 3)),
                                         ("BatchNormalization", ())])
def test_built_at_instantiation_as_in_keras(layer, args):
    assert getattr(fastconv_keras.layers, layer)(*args).built == getattr(keras.layers, layer)(*args).built


def test_average_pooling_needs_a_pool_size_as_in_keras():
    with pytest.raises(TypeError, match="pool_size"):
        keras.layers.AveragePooling2D()
    with pytest.raises(TypeError, match="pool_size"):
        fastconv_keras.layers.AveragePooling2D()


# ----------------------------------------------------------------------------- rejected arguments


@pytest.mark.parametrize("case", UNSUPPORTED_CASES, ids=lambda case: case[0])
def test_unsupported_arguments_raise_naming_them(case):
    _, layer, kwargs, match = case
    with pytest.raises(NotImplementedError, match=match):
        getattr(fastconv_keras.layers, layer)(**kwargs)


@pytest.mark.parametrize("layer, kwargs, match, keras_rejects", BAD_ARGUMENT_CASES)
def test_bad_arguments_raise_value_error(layer, kwargs, match, keras_rejects):
    if keras_rejects:
        with pytest.raises(ValueError):
            getattr(keras.layers, layer)(**kwargs)
    with pytest.raises(ValueError, match=match):
        getattr(fastconv_keras.layers, layer)(**kwargs)


def test_conv_symbolic_invalid_configuration():
    """conv_test.test_conv_symbolic_invalid_configuration's Conv2D case, on a symbolic input."""
    inputs = fastconv_keras.Input(shape=(10, 10, 3))
    layer = fastconv_keras.layers.Conv2D(filters=1, kernel_size=(2, 2), dilation_rate=(10, 10))
    with pytest.raises(ValueError, match=r"Computed output size would be zero or negative.*dilation_rate=\(10, 10\)"):
        layer(inputs)


@pytest.mark.parametrize("layer", ["MaxPooling2D", "AveragePooling2D"])
def test_pooling_symbolic_window_larger_than_input(layer):
    inputs = fastconv_keras.Input(shape=(3, 3, 2))
    with pytest.raises(ValueError, match=r"Computed output size would be zero or negative.*pool_size=\(4, 4\)"):
        getattr(fastconv_keras.layers, layer)(4)(inputs)
    with pytest.raises(ValueError, match="Computed output size would be zero or negative"):
        getattr(keras.layers, layer)(4)(keras.Input(shape=(3, 3, 2)))


def test_conv_invalid_configuration_on_data():
    """The same configuration on an array of that shape (derived): fastconv raises, naming the window."""
    layer = fastconv_keras.layers.Conv2D(filters=1, kernel_size=(2, 2), dilation_rate=(10, 10))
    with pytest.raises(ValueError, match="window"):
        layer(np.zeros((1, 10, 10, 3), np.float32))


def test_conv_raises_exception_on_zero_dims():
    """conv_test.test_conv_raises_exception_on_zero_dims: a 5x5 'valid' kernel on 4x4 inputs (Keras accepts any
    exception type across backends; fastconv's is ValueError)."""
    layer = fastconv_keras.layers.Conv2D(6, [5, 5], 1, "valid")
    with pytest.raises(ValueError, match="window"):
        layer(np.random.default_rng(0).random((3, 4, 4, 4)).astype(np.float32))
