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


def conv_transpose_geometry(length, size, padding, stride, output_padding=None, dilation=1):
    """``(crop, out)`` of a transposed convolution along one axis, as Keras 3 computes it.

    Input index ``i`` adds ``x[i] * w[a]`` to position ``i * s + a * d`` of a
    full output of ``(n - 1) * s + k_eff`` cells; Keras keeps the ``out`` cells
    from position ``crop`` on (cells beyond the full output are zeros). With
    ``p`` the ``output_padding``:

    - ``padding="valid"``: ``crop = 0`` and ``out = (n - 1) * s + k_eff + p``;
      ``p`` defaults to ``max(k_eff, s) - k_eff``, so that ``out = (n - 1) * s + max(k_eff, s)``.
    - ``padding="same"``: a total padding ``t = s + k_eff - 2`` without ``p``
      (``out = n * s``), or ``t = k_eff + k_eff % 2 - 2 + p`` with it
      (``out = (n - 1) * s + k_eff % 2 + p``); the left side gets
      ``min(ceil(t / 2), k_eff - 1)`` of it, so ``crop = k_eff - 1 - min(ceil(t / 2), k_eff - 1)``
      (JAX's placement, which Keras's TensorFlow and PyTorch backends reproduce).

    A transposed convolution is the input gradient of a convolution of an
    ``out``-long input padded by ``crop`` before it, whose output is ``n`` long.

    >>> conv_transpose_geometry(7, 3, "same", 2), conv_transpose_geometry(7, 4, "same", 2)
    ((0, 14), (1, 14))
    >>> conv_transpose_geometry(7, 2, "valid", 2), conv_transpose_geometry(7, 3, "valid", 2, output_padding=1)
    ((0, 14), (0, 16))
    """
    k_eff = effective_size(size, dilation)
    if padding == "valid":
        if output_padding is None:
            output_padding = max(k_eff, stride) - k_eff
        return 0, (length - 1) * stride + k_eff + output_padding
    if output_padding is None:
        total, out = stride + k_eff - 2, length * stride
    else:
        total, out = k_eff + k_eff % 2 - 2 + output_padding, (length - 1) * stride + k_eff % 2 + output_padding
    return k_eff - 1 - min(-(-total // 2), k_eff - 1), out


def conv_transpose_output_shape(input_shape, kernel_size, filters, strides, padding, output_padding=None,
                                dilation_rate=(1, 1)):
    """NHWC output shape of a 2-D transposed convolution (:func:`conv_transpose_geometry` per axis);
    unknown (``None``) sizes stay ``None``. ``output_padding`` is ``None`` or a pair.

    >>> conv_transpose_output_shape((None, 7, 7, 128), (2, 2), 64, (2, 2), "valid")
    (None, 14, 14, 64)
    >>> conv_transpose_output_shape((None, 7, None, 8), (3, 3), 4, (2, 2), "same", (1, 0))
    (None, 14, None, 4)
    """
    batch, height, width, _ = input_shape
    paddings = (None, None) if output_padding is None else output_padding
    spatial = [None if length is None else conv_transpose_geometry(length, size, padding, stride, pad, dilation)[1]
               for length, size, stride, pad, dilation in zip((height, width), kernel_size, strides, paddings,
                                                              dilation_rate)]
    return (batch, spatial[0], spatial[1], filters)



def normalize_output_padding(value, strides):
    """``output_padding`` as Keras's transposed convolutions keep it: ``None``, or a tuple of ints ``>= 0``,
    one for each of ``strides`` (a normalised tuple: a pair in 2-D, one value in 1-D), each less than its
    stride. Raises ``ValueError`` otherwise.

    >>> normalize_output_padding(None, (2, 2)), normalize_output_padding(1, (2, 3)), normalize_output_padding(1, (2,))
    (None, (1, 1), (1,))
    """
    if value is None:
        return None
    rank = len(strides)
    items = (value,) * rank if _is_int(value) else tuple(value) if isinstance(value, (list, tuple)) else ()
    if len(items) != rank or not all(_is_int(v) and v >= 0 for v in items):
        expected = "1 non-negative integer" if rank == 1 else f"{rank} non-negative integers"
        raise ValueError("Invalid value for argument `output_padding`. Expected None, a non-negative integer or a "
                         f"tuple of {expected}. Received: output_padding={value!r}")
    paddings = tuple(int(v) for v in items)
    for axis, (pad, stride) in enumerate(zip(paddings, strides)):
        if pad >= stride:
            raise ValueError(
                "`output_padding` must be strictly less than `strides` for all dimensions. At dimension "
                f"{axis}, `output_padding` is {pad} but `strides` is {stride}. Received: "
                f"output_padding={paddings}, strides={tuple(strides)}")
    return paddings
