"""Output-shape and padding arithmetic for convolution and pooling, in pure Python.

One formula, one place: ``fastconv.ops`` uses these to allocate and pad, the
layers use them for ``compute_output_shape`` and ``summary()``. Nothing here
touches array data. The conventions are Keras's (and TensorFlow's) exactly.

For one spatial axis of length ``n``, window ``k``, stride ``s`` and dilation
``d`` the effective window is ``k_eff = d * (k - 1) + 1`` and

- ``padding="valid"``: ``out = floor((n - k_eff) / s) + 1`` and no padding.
- ``padding="same"``: ``out = ceil(n / s)``; the total padding is
  ``max((out - 1) * s + k_eff - n, 0)``, of which the top/left side gets
  ``total // 2`` and the bottom/right side the rest, so an odd total puts the
  extra row or column at the bottom/right.

>>> conv_output_length(28, 3, "same", 2)
14
>>> same_padding(28, 3, 2)
(0, 1)
"""

PADDINGS = ("valid", "same")


def normalize_tuple(value, name):
    """Return ``value`` as a pair of positive ints, as Keras's layers accept them.

    ``value`` is an int or a sequence of two ints. Raises ``ValueError`` naming
    the argument ``name`` otherwise.

    >>> normalize_tuple(3, "kernel_size")
    (3, 3)
    >>> normalize_tuple((2, 1), "strides")
    (2, 1)
    """
    expected = f"Expected a positive integer or a tuple of 2 positive integers. Received: {name}={value!r}"
    if _is_int(value):
        pair = (int(value), int(value))
    else:
        try:
            items = tuple(value)
        except TypeError:
            raise ValueError(f"Invalid value for argument `{name}`. {expected}") from None
        if len(items) != 2 or not all(_is_int(v) for v in items):
            raise ValueError(f"Invalid value for argument `{name}`. {expected}")
        pair = (int(items[0]), int(items[1]))
    if pair[0] <= 0 or pair[1] <= 0:
        raise ValueError(f"Invalid value for argument `{name}`. {expected}")
    return pair


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool) or (
        hasattr(value, "dtype") and getattr(value, "shape", None) == () and value.dtype.kind in "iu"
    )


def normalize_padding(padding):
    """Return ``padding`` lower-cased if it is ``'valid'`` or ``'same'``; raise ``ValueError`` otherwise.

    >>> normalize_padding("SAME")
    'same'
    """
    if isinstance(padding, str) and padding.lower() in PADDINGS:
        return padding.lower()
    raise ValueError(
        f"Invalid value for argument `padding`. Expected 'valid' or 'same'. Received: padding={padding!r}"
    )


def effective_size(size, dilation):
    """Extent of a window of ``size`` taps spaced ``dilation`` apart: ``dilation * (size - 1) + 1``."""
    return dilation * (size - 1) + 1


def conv_output_length(length, size, padding, stride, dilation=1):
    """Output length along one axis (see the module docstring for the equations).

    Returns a negative or zero number when a 'valid' window does not fit; callers
    that need a positive length check for that and raise.

    >>> conv_output_length(28, 3, "valid", 1)
    26
    >>> conv_output_length(5, 2, "valid", 2)
    2
    >>> conv_output_length(5, 2, "same", 2)
    3
    """
    if padding == "same":
        return -(-length // stride)
    return (length - effective_size(size, dilation)) // stride + 1


def same_padding(length, size, stride, dilation=1):
    """``(before, after)`` padding for ``'same'`` along one axis; ``after`` gets the odd one.

    >>> same_padding(28, 3, 1)
    (1, 1)
    >>> same_padding(14, 2, 2)
    (0, 0)
    >>> same_padding(7, 2, 2)
    (0, 1)
    """
    out = conv_output_length(length, size, "same", stride, dilation)
    total = max((out - 1) * stride + effective_size(size, dilation) - length, 0)
    return total // 2, total - total // 2


def padding_amounts(length, size, padding, stride, dilation=1):
    """``(before, after)`` padding along one axis for ``'valid'`` (always zero) or ``'same'``."""
    if padding == "same":
        return same_padding(length, size, stride, dilation)
    return 0, 0


def channels_first_hint(input_shape, channels):
    """The end of an error about inputs whose channels are not ``channels``: a hint if ``input_shape`` looks
    channels-first, else nothing.

    fastconv's arrays are NHWC (channels last, Keras's default). A batch of
    images in PyTorch's NCHW layout has its channels on axis 1: where axis 1
    holds the expected number of channels and the last axis does not, the
    error says what to do (the message it ends has no full stop of its own).

    >>> print(channels_first_hint((8, 3, 32, 32), 3))  # doctest: +NORMALIZE_WHITESPACE
    . The inputs look channels-first (NCHW): fastconv takes NHWC arrays (channels last), so transpose
    them with `np.transpose(x, (0, 2, 3, 1))`.
    >>> channels_first_hint((8, 32, 32, 3), 1)
    ''
    """
    if len(input_shape) == 4 and input_shape[1] == channels and input_shape[3] != channels:
        return (". The inputs look channels-first (NCHW): fastconv takes NHWC arrays (channels last), "
                "so transpose them with `np.transpose(x, (0, 2, 3, 1))`.")
    return ""


def is_empty(output_shape):
    """Whether a known spatial size of the NHWC ``output_shape`` is zero or negative (the window never fits).

    >>> is_empty((None, 0, 5, 8)), is_empty((None, None, 5, 8)), is_empty((2, 1, 1, 8))
    (True, False, False)
    """
    return any(length is not None and length <= 0 for length in output_shape[1:3])


def conv_output_shape(input_shape, kernel_size, filters, strides, padding, dilation_rate=(1, 1)):
    """NHWC output shape of a 2-D convolution or pooling.

    ``input_shape`` is ``(batch, height, width, channels)``; ``batch`` and the
    spatial sizes may be ``None`` (unknown), which stays ``None``. ``filters``
    is the output channel count (pooling passes the input's).

    >>> conv_output_shape((None, 28, 28, 1), (3, 3), 32, (1, 1), "same")
    (None, 28, 28, 32)
    >>> conv_output_shape((None, 28, 28, 32), (2, 2), 32, (2, 2), "valid")
    (None, 14, 14, 32)
    """
    batch, height, width, _ = input_shape
    spatial = []
    for length, size, stride, dilation in zip((height, width), kernel_size, strides, dilation_rate):
        spatial.append(None if length is None else conv_output_length(length, size, padding, stride, dilation))
    return (batch, spatial[0], spatial[1], filters)
