"""Layers that move, repeat or rescale values without weights: ``ZeroPadding2D``, ``Cropping2D``,
``UpSampling2D`` (and their 1-D twins ``ZeroPadding1D``, ``Cropping1D``, ``UpSampling1D`` over
``(batch, steps, channels)``), ``Reshape``, ``Permute``, ``Rescaling`` and ``LeakyReLU``.

Each is a memory move (or an elementwise map) in numpy, so none has a numba kernel; their backward passes
are the transposed moves. Arguments, defaults, errors and ``get_config`` follow Keras 3's
``keras.src.layers.reshaping``, ``preprocessing.rescaling`` and ``activations.leaky_relu``. Layers with
weights and loops over pixels live in ``conv.py``, ``pooling.py`` and ``core.py``.
"""

import math
import warnings

import numpy as np

from fastconv.layers.base import Layer, check_channels_last

# Every interpolation Keras's `ops.image.resize` knows; fastconv runs the first two.
_SUPPORTED_INTERPOLATIONS = ("nearest", "bilinear")
_KERAS_INTERPOLATIONS = ("nearest", "bilinear", "bicubic", "area", "lanczos3", "lanczos5")


def _standardize_tuple(value, n, name, allow_zero=False):
    """An ``n``-tuple of integers from an integer or ``n`` of them, with Keras's error messages
    (``keras.src.utils.argument_validation.standardize_tuple``)."""
    message = f"The `{name}` argument must be a tuple of {n} integers. Received {name}={value}"
    if isinstance(value, (int, np.integer)):
        values = (int(value),) * n
    else:
        try:
            values = tuple(value)
        except TypeError:
            raise ValueError(message) from None
        if len(values) != n:
            raise ValueError(message)
        for single in values:
            if not isinstance(single, (int, np.integer)):
                raise ValueError(f"{message}including element {single} of type {type(single)}")
        values = tuple(int(v) for v in values)
    bad = {v for v in values if (v < 0 if allow_zero else v <= 0)}
    if bad:
        requirement = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{message}, including values {bad} that do not satisfy `value {requirement}`")
    return values


def _pairs_of_margins(value, name):
    """``((top, bottom), (left, right))`` from an int, a pair of ints or a pair of pairs, as Keras's
    ``ZeroPadding2D``/``Cropping2D`` read ``padding``/``cropping``."""
    if isinstance(value, (int, np.integer)):
        if value < 0:
            raise ValueError(f"`{name}` cannot be negative. Received: {name}={value}.")
        return ((int(value),) * 2,) * 2
    if hasattr(value, "__len__"):
        if len(value) != 2:
            raise ValueError(f"`{name}` should have two elements. Received: {name}={value}.")
        return (_standardize_tuple(value[0], 2, f"1st entry of {name}", allow_zero=True),
                _standardize_tuple(value[1], 2, f"2nd entry of {name}", allow_zero=True))
    raise ValueError(
        f"`{name}` should be either an int, a tuple of 2 ints (symmetric_height_crop, symmetric_width_crop), "
        f"or a tuple of 2 tuples of 2 ints ((top_crop, bottom_crop), (left_crop, right_crop)). "
        f"Received: {name}={value}.")


def _check_ndim(layer, input_shape, ndim):
    """Keras's ``InputSpec(ndim=...)`` check, with its message."""
    if len(input_shape) != ndim:
        raise ValueError(f'Input 0 of layer "{layer.name}" is incompatible with the layer: expected ndim={ndim}, '
                         f"found ndim={len(input_shape)}. Full shape received: {tuple(input_shape)}")


def _plus(size, extra):
    return None if size is None else size + extra


class ZeroPadding2D(Layer):
    """Pads the rows and columns of NHWC images with zeros (``keras.layers.ZeroPadding2D``).

    ``(N, H, W, C) -> (N, H + top + bottom, W + left + right, C)``.

    >>> ZeroPadding2D(((1, 0), (2, 3)))(np.ones((1, 2, 2, 1), "float32")).shape
    (1, 3, 7, 1)
    """

    def __init__(self, padding=(1, 1), data_format=None, **kwargs):
        super().__init__(**kwargs)
        check_channels_last(self, data_format)
        self.padding = _pairs_of_margins(padding, "padding")

    def build(self, input_shape):
        _check_ndim(self, input_shape, 4)

    def compute_output_shape(self, input_shape):
        (top, bottom), (left, right) = self.padding
        return (input_shape[0], _plus(input_shape[1], top + bottom), _plus(input_shape[2], left + right),
                input_shape[3])

    def forward(self, inputs, training):
        return np.pad(inputs, ((0, 0), *self.padding, (0, 0))), None

    def backward(self, context, grad_outputs, need_grad_inputs=True):
        (top, bottom), (left, right) = self.padding
        height, width = grad_outputs.shape[1:3]
        return np.ascontiguousarray(grad_outputs[:, top:height - bottom, left:width - right]), []

    def get_config(self):
        return {**super().get_config(), "padding": self.padding, "data_format": "channels_last"}


class Cropping2D(Layer):
    """Crops rows and columns off NHWC images (``keras.layers.Cropping2D``).

    ``(N, H, W, C) -> (N, H - top - bottom, W - left - right, C)``.

    >>> Cropping2D(((1, 0), (0, 1)))(np.ones((1, 3, 3, 1), "float32")).shape
    (1, 2, 2, 1)
    """

    def __init__(self, cropping=((0, 0), (0, 0)), data_format=None, **kwargs):
        super().__init__(**kwargs)
        check_channels_last(self, data_format)
        self.cropping = _pairs_of_margins(cropping, "cropping")

    def _check_fits(self, shape, what):
        (top, bottom), (left, right) = self.cropping
        if (shape[1] is not None and top + bottom >= shape[1]) or (shape[2] is not None and left + right >= shape[2]):
            raise ValueError("Values in `cropping` argument should be smaller than the corresponding spatial "
                             f"dimension of the input. Received: {what}={tuple(shape)}, cropping={self.cropping}")

    def build(self, input_shape):
        _check_ndim(self, input_shape, 4)

    def compute_output_shape(self, input_shape):
        self._check_fits(input_shape, "input_shape")
        (top, bottom), (left, right) = self.cropping
        return (input_shape[0], _plus(input_shape[1], -top - bottom), _plus(input_shape[2], -left - right),
                input_shape[3])

    def forward(self, inputs, training):
        self._check_fits(inputs.shape, "inputs.shape")
        (top, bottom), (left, right) = self.cropping
        height, width = inputs.shape[1:3]
        return np.ascontiguousarray(inputs[:, top:height - bottom, left:width - right]), None

    def backward(self, context, grad_outputs, need_grad_inputs=True):
        return np.pad(grad_outputs, ((0, 0), *self.cropping, (0, 0))), []

    def get_config(self):
        return {**super().get_config(), "cropping": self.cropping, "data_format": "channels_last"}


class ZeroPadding1D(Layer):
    """Pads the steps of ``(batch, steps, channels)`` sequences with zeros (``keras.layers.ZeroPadding1D``):
    ``padding`` an int (both sides) or ``(left, right)``.

    >>> ZeroPadding1D((1, 2))(np.ones((1, 3, 2), "float32")).shape
    (1, 6, 2)
    """

    def __init__(self, padding=1, data_format=None, **kwargs):
        super().__init__(**kwargs)
        check_channels_last(self, data_format)
        self.padding = _standardize_tuple(padding, 2, "padding", allow_zero=True)

    def build(self, input_shape):
        _check_ndim(self, input_shape, 3)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], _plus(input_shape[1], sum(self.padding)), input_shape[2])

    def forward(self, inputs, training):
        return np.pad(inputs, ((0, 0), self.padding, (0, 0))), None

    def backward(self, context, grad_outputs, need_grad_inputs=True):
        left, right = self.padding
        return np.ascontiguousarray(grad_outputs[:, left:grad_outputs.shape[1] - right]), []

    def get_config(self):
        return {**super().get_config(), "padding": self.padding, "data_format": "channels_last"}


class Cropping1D(Layer):
    """Crops steps off ``(batch, steps, channels)`` sequences (``keras.layers.Cropping1D``): ``cropping`` an int
    (both ends) or ``(start, end)``.

    >>> Cropping1D((1, 2))(np.ones((1, 5, 2), "float32")).shape
    (1, 2, 2)
    """

    def __init__(self, cropping=(1, 1), **kwargs):
        super().__init__(**kwargs)
        self.cropping = _standardize_tuple(cropping, 2, "cropping", allow_zero=True)

    def _check_fits(self, shape):
        if shape[1] is not None and sum(self.cropping) >= shape[1]:
            raise ValueError(f"`cropping` parameter of `Cropping1D` layer must be smaller than the input length. "
                             f"Received: inputs.shape={tuple(shape)}, cropping={self.cropping}")

    def build(self, input_shape):
        _check_ndim(self, input_shape, 3)

    def compute_output_shape(self, input_shape):
        self._check_fits(input_shape)
        return (input_shape[0], _plus(input_shape[1], -sum(self.cropping)), input_shape[2])

    def forward(self, inputs, training):
        self._check_fits(inputs.shape)
        start, end = self.cropping
        return np.ascontiguousarray(inputs[:, start:inputs.shape[1] - end]), None

    def backward(self, context, grad_outputs, need_grad_inputs=True):
        return np.pad(grad_outputs, ((0, 0), self.cropping, (0, 0))), []

    def get_config(self):
        return {**super().get_config(), "cropping": self.cropping}


class UpSampling1D(Layer):
    """Repeats each step of ``(batch, steps, channels)`` sequences ``size`` times
    (``keras.layers.UpSampling1D``).

    >>> UpSampling1D(3)(np.arange(2, dtype="float32").reshape(1, 2, 1))[0, :, 0].tolist()
    [0.0, 0.0, 0.0, 1.0, 1.0, 1.0]
    """

    def __init__(self, size=2, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(size, (int, np.integer)) or isinstance(size, bool):
            raise TypeError(f"Expected an integer value for `size`, got {type(size)}.")
        if size <= 0:
            raise ValueError(f"Argument `size` should be a positive integer. Received: size={size}")
        self.size = int(size)

    def build(self, input_shape):
        _check_ndim(self, input_shape, 3)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], None if input_shape[1] is None else input_shape[1] * self.size, input_shape[2])

    def forward(self, inputs, training):
        return inputs.repeat(self.size, axis=1), None

    def backward(self, context, grad_outputs, need_grad_inputs=True):
        batch, steps, channels = grad_outputs.shape
        return grad_outputs.reshape(batch, steps // self.size, self.size, channels).sum(axis=2), []

    def get_config(self):
        return {**super().get_config(), "size": self.size}


def _bilinear_matrix(in_size, factor):
    """The ``(in_size * factor, in_size)`` matrix of 1-D linear interpolation with half-pixel centres
    (``tf.image.resize``, ``torch.nn.functional.interpolate(align_corners=False)``): output ``o`` samples the
    input at ``s = (o + 1/2) / factor - 1/2``, clamped to ``[0, in_size - 1]``, and mixes its two neighbours."""
    out_size = in_size * factor
    source = np.maximum((np.arange(out_size) + 0.5) / factor - 0.5, 0.0)
    lower = np.minimum(np.floor(source).astype(np.intp), in_size - 1)
    upper = np.minimum(lower + 1, in_size - 1)
    weight = source - lower
    matrix = np.zeros((out_size, in_size))
    rows = np.arange(out_size)
    np.add.at(matrix, (rows, lower), 1.0 - weight)
    np.add.at(matrix, (rows, upper), weight)
    return matrix.astype(np.float32)


class UpSampling2D(Layer):
    """Repeats (``'nearest'``) or linearly interpolates (``'bilinear'``) the rows and columns of NHWC images
    by integer factors (``keras.layers.UpSampling2D``).

    ``(N, H, W, C) -> (N, H * size[0], W * size[1], C)``. ``'bilinear'`` is Keras's half-pixel-centre resize.

    >>> UpSampling2D((2, 3))(np.ones((1, 2, 2, 1), "float32")).shape
    (1, 4, 6, 1)
    """

    def __init__(self, size=(2, 2), data_format=None, interpolation="nearest", **kwargs):
        super().__init__(**kwargs)
        check_channels_last(self, data_format)
        self.size = _standardize_tuple(size, 2, "size")
        interpolation = str(interpolation).lower()
        if interpolation not in _KERAS_INTERPOLATIONS:
            raise ValueError(f"Invalid value for argument `interpolation`. Expected one of "
                             f"{_KERAS_INTERPOLATIONS}. Received: interpolation={interpolation!r}")
        if interpolation not in _SUPPORTED_INTERPOLATIONS:
            raise NotImplementedError(f"`UpSampling2D` in fastconv supports interpolation='nearest' and "
                                      f"'bilinear' only. Received: interpolation={interpolation!r}")
        self.interpolation = interpolation

    def build(self, input_shape):
        _check_ndim(self, input_shape, 4)

    def compute_output_shape(self, input_shape):
        height, width = (None if d is None else d * f for d, f in zip(input_shape[1:3], self.size))
        return (input_shape[0], height, width, input_shape[3])

    def forward(self, inputs, training):
        if self.interpolation == "nearest":
            return inputs.repeat(self.size[0], axis=1).repeat(self.size[1], axis=2), None
        rows, cols = (_bilinear_matrix(n, f) for n, f in zip(inputs.shape[1:3], self.size))
        outputs = np.einsum("oh,nhwc->nowc", rows, inputs, optimize=True)
        outputs = np.einsum("pw,nowc->nopc", cols, outputs, optimize=True)
        return np.ascontiguousarray(outputs, dtype=np.float32), (rows, cols)

    def backward(self, context, grad_outputs, need_grad_inputs=True):
        batch, height, width, channels = grad_outputs.shape
        (fh, fw) = self.size
        if context is None:  # nearest: each input pixel collects its fh x fw block of copies
            grad = grad_outputs.reshape(batch, height // fh, fh, width // fw, fw, channels).sum(axis=(2, 4))
            return grad.astype(np.float32, copy=False), []
        rows, cols = context
        grad = np.einsum("pw,nopc->nowc", cols, grad_outputs, optimize=True)
        grad = np.einsum("oh,nowc->nhwc", rows, grad, optimize=True)
        return np.ascontiguousarray(grad, dtype=np.float32), []

    def get_config(self):
        return {**super().get_config(), "size": self.size, "data_format": "channels_last",
                "interpolation": self.interpolation}


def _reshape_output_shape(input_shape, target_shape):
    """Keras's ``compute_reshape_output_shape``: ``target_shape`` with its ``-1`` resolved (``None`` while
    a dimension of ``input_shape`` is unknown); raises if the sizes cannot match."""
    if None in input_shape:
        return tuple(None if d == -1 else d for d in target_shape)
    size = math.prod(input_shape)
    if -1 not in target_shape:
        if size != math.prod(target_shape):
            raise ValueError("The total size of the tensor must be unchanged. Received: "
                             f"input_shape={tuple(input_shape)}, target_shape={target_shape}")
        return target_shape
    known = math.prod(d for d in target_shape if d != -1)
    if known == 0 or size % known != 0:
        raise ValueError("The total size of the tensor must be unchanged, however, the input size cannot by "
                         "divided by the specified dimensions in target_shape. Received: "
                         f"input_shape={tuple(input_shape)}, target_shape={target_shape}")
    return tuple(size // known if d == -1 else d for d in target_shape)


class Reshape(Layer):
    """Reshapes everything but the batch axis to ``target_shape`` (``keras.layers.Reshape``), in C order;
    one entry may be ``-1``.

    >>> Reshape((-1, 2))(np.ones((3, 2, 2, 1), "float32")).shape
    (3, 2, 2)
    """

    built_on_construction = True
    _fixed_image_size = True

    def __init__(self, target_shape, **kwargs):
        super().__init__(**kwargs)
        target_shape = tuple(target_shape)
        for dim in target_shape:
            if isinstance(dim, (int, np.integer)) and dim < -1:
                raise ValueError("Each dimension in `target_shape` must be a non-negative integer, or `-1` for "
                                 f"a single unknown dimension. Received: target_shape={target_shape}.")
        if target_shape.count(-1) > 1:
            raise ValueError("There must be at most one unknown dimension (-1) in `target_shape`. "
                             f"Received: target_shape={target_shape}.")
        self.target_shape = target_shape

    def compute_output_shape(self, input_shape):
        return (input_shape[0], *_reshape_output_shape(tuple(input_shape[1:]), self.target_shape))

    def forward(self, inputs, training):
        shape = _reshape_output_shape(inputs.shape[1:], self.target_shape)
        return inputs.reshape(inputs.shape[0], *shape), inputs.shape

    def backward(self, context, grad_outputs, need_grad_inputs=True):
        return grad_outputs.reshape(context), []

    def get_config(self):
        return {**super().get_config(), "target_shape": self.target_shape}


class Permute(Layer):
    """Permutes the non-batch axes (``keras.layers.Permute``): ``dims`` counts them from 1.

    >>> Permute((2, 1))(np.ones((4, 2, 3), "float32")).shape
    (4, 3, 2)
    """

    def __init__(self, dims, **kwargs):
        super().__init__(**kwargs)
        self.dims = tuple(dims)
        if sorted(self.dims) != list(range(1, len(self.dims) + 1)):
            raise ValueError("Invalid permutation argument `dims` for Permute Layer. The set of indices in `dims` "
                             f"must be consecutive and start from 1. Received dims={dims}")

    def build(self, input_shape):
        _check_ndim(self, input_shape, len(self.dims) + 1)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], *(input_shape[d] for d in self.dims))

    def forward(self, inputs, training):
        return np.ascontiguousarray(inputs.transpose(0, *self.dims)), None

    def backward(self, context, grad_outputs, need_grad_inputs=True):
        return np.ascontiguousarray(grad_outputs.transpose(0, *(np.argsort(self.dims) + 1))), []

    def get_config(self):
        return {**super().get_config(), "dims": self.dims}


def _number_or_list(value, name):
    """``scale``/``offset``: a number, or a list of them that broadcasts over the last axis."""
    if isinstance(value, (list, tuple)):
        value = [float(v) for v in value]
    elif isinstance(value, (int, float, np.integer, np.floating)):
        value = float(value) if isinstance(value, (np.integer, np.floating)) else value
    else:
        raise NotImplementedError(f"`Rescaling` in fastconv takes a number or a list of numbers for `{name}`. "
                                  f"Received: {name}={value!r}")
    return value


class Rescaling(Layer):
    """``outputs = inputs * scale + offset`` (``keras.layers.Rescaling``), in float32.

    >>> Rescaling(1 / 255)(np.full((1, 2), 255, "float32"))
    array([[1., 1.]], dtype=float32)
    """

    def __init__(self, scale, offset=0.0, **kwargs):
        super().__init__(**kwargs)
        self.scale = _number_or_list(scale, "scale")
        self.offset = _number_or_list(offset, "offset")

    def forward(self, inputs, training):
        scale = np.asarray(self.scale, np.float32)
        return (inputs * scale + np.asarray(self.offset, np.float32)).astype(np.float32, copy=False), scale

    def backward(self, context, grad_outputs, need_grad_inputs=True):
        return np.broadcast_to(grad_outputs * context, grad_outputs.shape).astype(np.float32), []

    def get_config(self):
        return {**super().get_config(), "scale": self.scale, "offset": self.offset}


class LeakyReLU(Layer):
    """``x`` for ``x >= 0``, else ``negative_slope * x`` (``keras.layers.LeakyReLU``; Keras 3's default
    slope is 0.3, and its deprecated ``alpha`` is read as ``negative_slope``).

    >>> LeakyReLU()(np.array([-1.0, 2.0], "float32"))
    array([-0.3,  2. ], dtype=float32)
    """

    built_on_construction = True

    def __init__(self, negative_slope=0.3, **kwargs):
        if "alpha" in kwargs:
            negative_slope = kwargs.pop("alpha")
            warnings.warn("Argument `alpha` is deprecated. Use `negative_slope` instead.", stacklevel=2)
        super().__init__(**kwargs)
        if negative_slope is None or negative_slope < 0:
            raise ValueError("The negative_slope value of a Leaky ReLU layer cannot be None or negative value. "
                             f"Expected a float. Received: negative_slope={negative_slope}")
        self.negative_slope = negative_slope

    def forward(self, inputs, training):
        slope = np.where(inputs >= 0, np.float32(1), np.float32(self.negative_slope))
        return inputs * slope, slope

    def backward(self, context, grad_outputs, need_grad_inputs=True):
        return grad_outputs * context, []

    def get_config(self):
        return {**super().get_config(), "negative_slope": self.negative_slope}
