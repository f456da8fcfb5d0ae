"""Shape and padding arithmetic: hand-computed cases, the reference's own derivation, PyTorch.

The doctests of ``fastconv.shapes`` run once, in pytest's ``--doctest-modules`` pass over ``fastconv/``.
"""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

import reference
from fastconv import ops, shapes

# (length, size, stride, dilation) -> output length and (before, after) padding for 'same', worked by hand from
# out = ceil(n / s), total = max((out - 1) * s + d * (k - 1) + 1 - n, 0), before = total // 2.
SAME_CASES = [
    ((28, 3, 1, 1), 28, (1, 1)),
    ((28, 3, 2, 1), 14, (0, 1)),  # stride 2 on an even size: the odd row goes at the bottom
    ((7, 3, 2, 1), 4, (1, 1)),
    ((6, 3, 2, 1), 3, (0, 1)),
    ((5, 4, 1, 1), 5, (1, 2)),
    ((10, 3, 3, 1), 4, (1, 1)),
    ((4, 1, 3, 1), 2, (0, 0)),
    ((2, 5, 1, 1), 2, (2, 2)),  # window larger than the input
    ((1, 2, 2, 1), 1, (0, 1)),
    ((5, 3, 1, 2), 5, (2, 2)),
    ((9, 2, 1, 3), 9, (1, 2)),
    ((14, 2, 2, 1), 7, (0, 0)),
]

# (length, size, stride, dilation) -> output length for 'valid': floor((n - d * (k - 1) - 1) / s) + 1.
VALID_CASES = [
    ((28, 3, 1, 1), 26),
    ((5, 2, 2, 1), 2),
    ((7, 3, 2, 1), 3),
    ((8, 3, 3, 1), 2),
    ((9, 3, 1, 3), 3),
    ((7, 7, 1, 1), 1),
    ((7, 7, 5, 1), 1),
    ((10, 4, 1, 2), 4),
]


@pytest.mark.parametrize("args, out, pads", SAME_CASES, ids=str)
def test_same_by_hand(args, out, pads):
    length, size, stride, dilation = args
    assert shapes.conv_output_length(length, size, "same", stride, dilation) == out
    assert shapes.same_padding(length, size, stride, dilation) == pads
    assert shapes.padding_amounts(length, size, "same", stride, dilation) == pads


@pytest.mark.parametrize("args, out", VALID_CASES, ids=str)
def test_valid_by_hand(args, out):
    length, size, stride, dilation = args
    assert shapes.conv_output_length(length, size, "valid", stride, dilation) == out
    assert shapes.padding_amounts(length, size, "valid", stride, dilation) == (0, 0)


def test_valid_window_that_does_not_fit_gives_no_positive_length():
    assert shapes.conv_output_length(6, 7, "valid", 1) <= 0
    assert shapes.conv_output_length(6, 3, "valid", 1, dilation=3) <= 0


def test_effective_size():
    assert [shapes.effective_size(k, d) for k, d in [(1, 1), (3, 1), (3, 2), (2, 4), (1, 5)]] == [1, 3, 5, 5, 1]


def test_conv_output_shape_keeps_unknown_sizes():
    assert shapes.conv_output_shape((None, 28, 28, 1), (3, 3), 32, (1, 1), "same") == (None, 28, 28, 32)
    assert shapes.conv_output_shape((4, None, 9, 3), (3, 2), 5, (2, 2), "valid") == (4, None, 4, 5)
    assert shapes.conv_output_shape((2, 9, 9, 3), (3, 3), 6, (1, 1), "valid", (2, 3)) == (2, 5, 3, 6)


@pytest.mark.parametrize("value, expected", [(3, (3, 3)), ((2, 1), (2, 1)), ([1, 4], (1, 4)),
                                             (np.int64(2), (2, 2)), ((np.int32(2), 3), (2, 3))], ids=str)
def test_normalize_tuple(value, expected):
    result = shapes.normalize_tuple(value, "strides")
    assert result == expected and all(type(v) is int for v in result)


def test_normalize_tuple_rejects_none():
    """None is never a pair (pooling's ``strides=None`` is resolved before; ``allow_none=`` was never used)."""
    with pytest.raises(ValueError, match=r"Received: strides=None$"):
        shapes.normalize_tuple(None, "strides")
    with pytest.raises(TypeError, match="allow_none"):
        shapes.normalize_tuple(None, "strides", allow_none=True)


def test_normalize_padding():
    assert [shapes.normalize_padding(p) for p in ("valid", "same", "Valid", "SAME")] == ["valid", "same"] * 2


@st.composite
def axes(draw):
    size, stride, dilation = draw(st.integers(1, 6)), draw(st.integers(1, 4)), draw(st.integers(1, 4))
    return draw(st.integers(1, 40)), size, stride, dilation


@settings(max_examples=300)
@given(axes(), st.sampled_from(["valid", "same"]))
def test_shapes_agree_with_the_reference_derivation(axis, padding):
    """``fastconv.shapes`` against ``reference.pads``, which counts windows instead of using the formula."""
    length, size, stride, dilation = axis
    before, after, out = reference.pads(length, size, stride, dilation, padding)
    if out > 0:
        assert shapes.conv_output_length(length, size, padding, stride, dilation) == out
    else:
        assert shapes.conv_output_length(length, size, padding, stride, dilation) <= 0
    assert shapes.padding_amounts(length, size, padding, stride, dilation) == (before, after)


@pytest.mark.parametrize("padding", ["valid", "same"])
@pytest.mark.parametrize("size, strides, dilation", [
    ((3, 3), (1, 1), (1, 1)), ((2, 3), (2, 2), (1, 1)), ((3, 1), (3, 2), (1, 1)), ((2, 2), (1, 1), (2, 3)),
    ((4, 4), (2, 3), (1, 1)), ((5, 2), (1, 1), (1, 1)),
], ids=str)
@pytest.mark.parametrize("spatial", [(9, 8), (10, 11)], ids=str)
def test_output_shapes_agree_with_torch_and_fastconv(spatial, size, strides, dilation, padding):
    x = np.zeros((1, *spatial, 1))
    w = np.zeros((*size, 1, 2))
    rows = shapes.padding_amounts(spatial[0], size[0], padding, strides[0], dilation[0])
    cols = shapes.padding_amounts(spatial[1], size[1], padding, strides[1], dilation[1])
    xt = F.pad(torch.zeros(1, 1, *spatial), (*cols, *rows))
    torch_shape = F.conv2d(xt, torch.zeros(2, 1, *size), stride=strides, dilation=dilation).shape
    expected = shapes.conv_output_shape(x.shape, size, 2, strides, padding, dilation)
    assert (torch_shape[0], torch_shape[2], torch_shape[3], torch_shape[1]) == expected
    assert ops.conv(x, w, strides, padding, dilation_rate=dilation).shape == expected
    assert reference.conv(x, w, strides, padding, dilation).shape == expected
    pooled = shapes.conv_output_shape(x.shape, size, 1, strides, padding)
    assert ops.max_pool(x, size, strides, padding).shape == pooled
    assert reference.average_pool(x, size, strides, padding).shape == pooled


@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel lengths:UserWarning")
@pytest.mark.parametrize("size, dilation", [(3, 1), (2, 1), (4, 1), (2, 3), (3, 2), (5, 1)])
@pytest.mark.parametrize("length", [7, 8])
def test_same_padding_agrees_with_torch_padding_same(length, size, dilation):
    """For stride 1 PyTorch's own ``padding='same'`` also puts the odd padding cell at the end, as Keras does."""
    x = torch.tensor(np.random.default_rng(length).uniform(-1, 1, (1, 1, length, length)))
    w = torch.tensor(np.random.default_rng(size).uniform(-1, 1, (1, 1, size, size)))
    before, after = shapes.same_padding(length, size, 1, dilation)
    ours = F.conv2d(F.pad(x, (before, after, before, after)), w, dilation=dilation)
    torchs = F.conv2d(x, w, padding="same", dilation=dilation)
    torch.testing.assert_close(ours, torchs, rtol=0, atol=1e-12)
