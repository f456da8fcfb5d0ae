"""Random image augmentation layers: ``RandomFlip``, ``RandomTranslation``, ``RandomRotation``, ``RandomZoom``
and ``RandomContrast``.

Keras 3's layers of the same names (``keras.src.layers.preprocessing.image_preprocessing``): the same
arguments, defaults, errors, ``get_config``, draws and formulas. They change the images only in training
(``fit``, or a call with ``training=True``) and are the identity in ``predict`` and ``evaluate``; they have
no weights. Each image of a batch gets its own draw.

Randomness: a layer with a ``seed`` draws from its own ``np.random.default_rng(seed)``, so the same seed gives
the same augmented batches in every run; without one it draws from ``fastconv.utils.rng()`` (which
``keras.utils.set_random_seed`` seeds). The stream is numpy's, not Keras's, so the exact pixels differ from
real Keras's for the same seed; the distributions are the same.

The geometric layers resample through ``fastconv.ops.affine_transform`` (a numba kernel); flips and contrast
are numpy expressions. No input gradient is computed through them: they belong in front of the first layer
with weights, and training a model that has a layer with trainable weights before one raises
``NotImplementedError``.
"""

import math

import numpy as np

from fastconv import ops, utils
from fastconv.layers.base import Layer, check_channels_last

_FILL_MODES = ("reflect", "wrap", "constant", "nearest")
_INTERPOLATIONS = ("nearest", "bilinear")


def _bounds(factor, low, high):
    """Keras's ``BaseImagePreprocessingLayer._set_factor``: ``(lower, upper)`` from a number or a pair, checked
    against ``[low, high]`` (a number ``f`` gives ``(max(-|f|, low), |f|)``)."""
    message = (f"The `factor` argument should be a number (or a list of two numbers) in the range [{low}, {high}]. "
               f"Received: factor={factor}")
    if isinstance(factor, (tuple, list)):
        if len(factor) != 2 or factor[0] > high or factor[1] < low:
            raise ValueError(message)
        lower, upper = sorted(factor)
    elif isinstance(factor, (int, float)):
        if factor < low or factor > high:
            raise ValueError(message)
        factor = abs(factor)
        lower, upper = max(-factor, low), factor
    else:
        raise ValueError(message)
    return lower, upper


def _shift_bounds(factor, name, message, out_of_range):
    """``(lower, upper)`` of ``RandomTranslation``'s and ``RandomZoom``'s ``height_factor``/``width_factor``
    (their own ``_set_factor``): ``out_of_range(value)`` says which numbers Keras refuses."""
    def check(value):
        if out_of_range(value):
            raise ValueError(f"{message}Received: input_number={value}")

    if isinstance(factor, (tuple, list)):
        if len(factor) != 2:
            raise ValueError(f"{message}Received: {name}={factor}")
        check(factor[0])
        check(factor[1])
        lower, upper = sorted(factor)
    elif isinstance(factor, (int, float)):
        check(factor)
        lower, upper = -abs(factor), abs(factor)
    else:
        raise ValueError(f"{message}Received: {name}={factor}")
    return lower, upper


def _outside_translation_range(value):
    return value > 1.0 or value < -1.0


def _outside_zoom_range(value):
    return value > 1.0 or value <= -1.0


def _upstream_layer_with_weights(layer):
    """A layer with trainable weights that feeds ``layer`` in a model graph, or None."""
    pending = [tensor for node in layer._inbound_nodes for tensor in node.input_tensors]
    seen = set()
    while pending:
        node = pending.pop().node
        if node is None or id(node) in seen:
            continue
        seen.add(id(node))
        if node.layer.trainable_weights:
            return node.layer
        pending.extend(node.input_tensors)
    return None


class _RandomImageLayer(Layer):
    """What the augmentation layers share: the seed, training-only application, no input gradient."""

    default_training = True  # Keras's: a layer (or a model) called on images augments them

    def __init__(self, seed=None, data_format=None, **kwargs):
        super().__init__(**kwargs)
        check_channels_last(self, data_format)
        self.seed = seed
        self._rng = None if seed is None else np.random.default_rng(seed)

    def forward(self, inputs, training):
        if inputs.ndim not in (3, 4):
            raise ValueError("Expected image tensor to have rank 3 (single image) or 4 (batch of images). "
                             f"Received: data.shape={inputs.shape}")
        if not training:
            return inputs, None
        batch = inputs.reshape((-1, *inputs.shape[-3:]))
        return self.augment(batch, self._rng or utils.rng()).reshape(inputs.shape), None

    def augment(self, batch, rng):
        """The augmented ``(N, H, W, C)`` batch, drawing from ``rng``."""
        raise NotImplementedError(f"{type(self).__name__}.augment")

    def backward(self, context, grad_outputs, need_grad_inputs=True):
        # No gradient reaches the layers before: refused where one of them has weights to train. (A model
        # called on images without `training` augments too, with no backward pass: no refusal there.)
        upstream = _upstream_layer_with_weights(self) if need_grad_inputs else None
        if upstream is not None:
            raise NotImplementedError(
                f"`{type(self).__name__}` layer '{self.name}' comes after '{upstream.name}', which has trainable "
                "weights: fastconv computes no gradient through random augmentation layers. Put the augmentation "
                "layers first in the model, right after the input.")
        return None, []

    def get_config(self):
        return {**super().get_config(), "data_format": "channels_last", "seed": self.seed}


class _RandomAffineLayer(_RandomImageLayer):
    """A random geometric transform per image, resampled by ``fastconv.ops.affine_transform``."""

    gradient_kernel_families = ("affine",)  # what a training step runs (at inference the layer is the identity)

    def __init__(self, fill_mode="reflect", interpolation="bilinear", seed=None, fill_value=0.0, data_format=None,
                 **kwargs):
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        if fill_mode not in _FILL_MODES:
            raise NotImplementedError(f"Unknown `fill_mode` {fill_mode}. Expected of one {_FILL_MODES}.")
        if interpolation not in _INTERPOLATIONS:
            raise NotImplementedError(f"Unknown `interpolation` {interpolation}. Expected of one {_INTERPOLATIONS}.")
        self.fill_mode, self.interpolation, self.fill_value = fill_mode, interpolation, fill_value

    def transforms(self, batch_size, height, width, rng):
        """``(batch_size, 8)`` transforms of ``fastconv.ops.affine_transform``, one drawn per image."""
        raise NotImplementedError(f"{type(self).__name__}.transforms")

    def augment(self, batch, rng):
        transforms = self.transforms(*batch.shape[:3], rng)
        return ops.affine_transform(batch, transforms, self.interpolation, self.fill_mode, self.fill_value)

    def get_config(self):
        return {**super().get_config(), "fill_mode": self.fill_mode, "interpolation": self.interpolation,
                "fill_value": self.fill_value}


class RandomFlip(_RandomImageLayer):
    """Flips each image of a batch left-right (``'horizontal'``), top-bottom (``'vertical'``) or both
    (``'horizontal_and_vertical'``) with probability 1/2, in training (``keras.layers.RandomFlip``).

    As in Keras 3, ``'horizontal_and_vertical'`` draws once per image: it flips both ways or not at all.

    >>> x = np.arange(4, dtype="float32").reshape(1, 2, 2, 1)
    >>> bool((RandomFlip()(x, training=False) == x).all())  # inference: the identity
    True
    """

    def __init__(self, mode="horizontal_and_vertical", seed=None, data_format=None, **kwargs):
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        modes = ("horizontal", "vertical", "horizontal_and_vertical")
        if mode not in modes:
            raise ValueError(f"Invalid value for argument `mode`. Expected one of {modes}. Received: mode={mode!r}")
        self.mode = mode

    def augment(self, batch, rng):
        flips = rng.uniform(size=len(batch)) <= 0.5
        flipped = batch.copy()
        if self.mode != "vertical":
            flipped[flips] = flipped[flips, :, ::-1]
        if self.mode != "horizontal":
            flipped[flips] = flipped[flips, ::-1]
        return flipped

    def get_config(self):
        return {**super().get_config(), "mode": self.mode}


class RandomTranslation(_RandomAffineLayer):
    """Shifts each image by a random fraction of its height and width, in training
    (``keras.layers.RandomTranslation``).

    ``height_factor``/``width_factor``: a number ``f`` in ``[-1, 1]`` (shifts drawn from ``[-|f|, |f|]``) or a
    pair of bounds; a positive shift moves the image down or right. Uncovered pixels are filled as
    ``fill_mode`` says (see ``fastconv.ops.affine_transform``).

    >>> RandomTranslation(0.2, 0.2).get_config()["fill_mode"]
    'reflect'
    """

    _MESSAGE = "The `factor` argument should be a number (or a list of two numbers) in the range [-1.0, 1.0]. "

    def __init__(self, height_factor, width_factor, fill_mode="reflect", interpolation="bilinear", seed=None,
                 fill_value=0.0, data_format=None, **kwargs):
        out_of_range = _outside_translation_range
        self.height_lower, self.height_upper = _shift_bounds(height_factor, "height_factor", self._MESSAGE,
                                                             out_of_range)
        self.width_lower, self.width_upper = _shift_bounds(width_factor, "width_factor", self._MESSAGE, out_of_range)
        super().__init__(fill_mode, interpolation, seed, fill_value, data_format, **kwargs)
        self.height_factor, self.width_factor = height_factor, width_factor

    def transforms(self, batch_size, height, width, rng):
        down = (rng.uniform(self.height_lower, self.height_upper, batch_size) * height).astype(np.float32)
        right = (rng.uniform(self.width_lower, self.width_upper, batch_size) * width).astype(np.float32)
        transforms = np.zeros((batch_size, 8), np.float32)
        transforms[:, 0] = transforms[:, 4] = 1
        transforms[:, 2], transforms[:, 5] = -right, -down
        return transforms

    def get_config(self):
        return {**super().get_config(), "height_factor": self.height_factor, "width_factor": self.width_factor}


class RandomRotation(_RandomAffineLayer):
    """Rotates each image about its centre by a random angle, in training (``keras.layers.RandomRotation``).

    ``factor``: a fraction of a full turn, a number ``f`` (angles drawn from ``[-|f|, |f|] * 360`` degrees) or
    a pair of bounds; positive angles turn counter-clockwise.

    >>> RandomRotation(0.1).get_config()["factor"]
    (-0.1, 0.1)
    """

    def __init__(self, factor, fill_mode="reflect", interpolation="bilinear", seed=None, fill_value=0.0,
                 data_format=None, **kwargs):
        self.factor = _bounds(factor or 0.0, -1, 1)
        super().__init__(fill_mode, interpolation, seed, fill_value, data_format, **kwargs)

    def transforms(self, batch_size, height, width, rng):
        degrees = rng.uniform(self.factor[0] * 360.0, self.factor[1] * 360.0, batch_size).astype(np.float32)
        angle = degrees * np.float32(math.pi / 180.0)
        cos, sin = np.cos(angle), np.sin(angle)
        cx, cy = np.float32(0.5 * (width - 1)), np.float32(0.5 * (height - 1))
        zeros = np.zeros_like(cos)
        return np.stack([cos, -sin, cx - cx * cos + cy * sin, sin, cos, cy - cx * sin - cy * cos, zeros, zeros],
                        axis=1)

    def get_config(self):
        return {**super().get_config(), "factor": self.factor}


class RandomZoom(_RandomAffineLayer):
    """Zooms each image about its centre by random factors, in training (``keras.layers.RandomZoom``).

    ``height_factor``: a number ``f`` in ``(-1, 1]`` (the sampled extent is ``1 + z`` times the image, ``z``
    drawn from ``[-|f|, |f|]``: a positive ``z`` zooms out, a negative one in) or a pair of bounds.
    ``width_factor``: the same for the width; ``None`` keeps the aspect ratio (the height's draw).

    >>> RandomZoom(0.2).get_config()["width_factor"] is None
    True
    """

    _MESSAGE = ("The `height_factor` and `width_factor` arguments should be a number (or a list of two numbers) "
                "in the range (-1.0, 1.0]. ")

    def __init__(self, height_factor, width_factor=None, fill_mode="reflect", interpolation="bilinear", seed=None,
                 fill_value=0.0, data_format=None, **kwargs):
        out_of_range = _outside_zoom_range
        self.height_lower, self.height_upper = _shift_bounds(height_factor, "height_factor", self._MESSAGE,
                                                             out_of_range)
        if width_factor is not None:
            self.width_lower, self.width_upper = _shift_bounds(width_factor, "width_factor", self._MESSAGE,
                                                               out_of_range)
        super().__init__(fill_mode, interpolation, seed, fill_value, data_format, **kwargs)
        self.height_factor, self.width_factor = height_factor, width_factor

    def transforms(self, batch_size, height, width, rng):
        zoom_y = rng.uniform(1.0 + self.height_lower, 1.0 + self.height_upper, batch_size).astype(np.float32)
        zoom_x = zoom_y if self.width_factor is None else \
            rng.uniform(1.0 + self.width_lower, 1.0 + self.width_upper, batch_size).astype(np.float32)
        transforms = np.zeros((batch_size, 8), np.float32)
        transforms[:, 0], transforms[:, 4] = zoom_x, zoom_y
        transforms[:, 2] = np.float32((width - 1) / 2) * (1 - zoom_x)
        transforms[:, 5] = np.float32((height - 1) / 2) * (1 - zoom_y)
        return transforms

    def get_config(self):
        return {**super().get_config(), "height_factor": self.height_factor, "width_factor": self.width_factor}


class RandomContrast(_RandomImageLayer):
    """Scales each channel of each image about its mean by a random factor, in training
    (``keras.layers.RandomContrast``): ``clip((x - mean) * c + mean, *value_range)``, ``mean`` over the
    channel's pixels.

    ``factor``: a number ``f`` in ``[0, 1]`` or a pair ``(lower, upper)``; ``c`` is drawn from
    ``[1 - lower, 1 + upper]``. As in Keras 3, a single number gives ``(lower, upper) = (0, f)``, so ``c`` in
    ``[1, 1 + f]``.

    >>> RandomContrast(0.5).get_config()["factor"]
    (0, 0.5)
    """

    def __init__(self, factor, value_range=(0, 255), seed=None, **kwargs):
        self.factor = _bounds(factor, 0, 1)
        super().__init__(seed=seed, **kwargs)
        self.value_range = value_range

    def augment(self, batch, rng):
        contrast = rng.uniform(1.0 - self.factor[0], 1.0 + self.factor[1], (len(batch), 1, 1, 1)).astype(np.float32)
        mean = batch.mean(axis=1, keepdims=True).mean(axis=2, keepdims=True)
        return np.clip((batch - mean) * contrast + mean, *self.value_range).astype(np.float32, copy=False)

    def get_config(self):
        return {**super().get_config(), "factor": self.factor, "value_range": self.value_range}
