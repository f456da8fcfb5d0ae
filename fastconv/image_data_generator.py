"""``ImageDataGenerator``: tf.keras's augmentation of numpy images, batch by batch, for ``fit``.

``tf.keras.preprocessing.image.ImageDataGenerator`` (TensorFlow 2's, which
Keras 3 keeps as ``keras.src.legacy``) is how many Keras programs augment
images: ``model.fit(datagen.flow(x, y, batch_size=32), ...)``. Here it is
with the same arguments, the same random draws from numpy's global generator
(so the same ``seed`` gives the same batches as Keras), the same transform
matrix and the same resampling as the ``scipy.ndimage.affine_transform`` that
Keras calls (order 0 or 1; the four fill modes with SciPy's rules at the
edges), written in numpy over the whole batch. ``flow`` returns a
``NumpyArrayIterator``, a ``fastconv.data.PyDataset``.

Only channels-last images of numpy arrays: ``flow_from_directory`` and
``flow_from_dataframe`` (image files), ``save_to_dir`` and
``data_format='channels_first'`` raise ``NotImplementedError``.
"""

import math
import threading
import warnings

import numpy as np

from fastconv.data import PyDataset

_FILL_MODES = ("nearest", "constant", "reflect", "wrap")


def transform_matrix(theta=0, tx=0, ty=0, shear=0, zx=1, zy=1, height=1, width=1):
    """The ``(2, 2)`` matrix and ``(2,)`` offset that map an output pixel's ``(row, col)`` to the input point
    it reads, for a rotation by ``theta`` degrees, a shift ``(tx, ty)``, a shear of ``shear`` degrees and a
    zoom ``(zx, zy)`` about the image's centre, composed as tf.keras's ``apply_affine_transform`` composes
    them (its first matrix axis is the rows': ``tx`` moves along the columns, as there); None for none."""
    parts = []
    if theta != 0:
        angle = np.deg2rad(theta)
        parts.append([[np.cos(angle), -np.sin(angle), 0], [np.sin(angle), np.cos(angle), 0], [0, 0, 1]])
    if tx != 0 or ty != 0:
        parts.append([[1, 0, tx], [0, 1, ty], [0, 0, 1]])
    if shear != 0:
        angle = np.deg2rad(shear)
        parts.append([[1, -np.sin(angle), 0], [0, np.cos(angle), 0], [0, 0, 1]])
    if zx != 1 or zy != 1:
        parts.append([[zx, 0, 0], [0, zy, 0], [0, 0, 1]])
    if not parts:
        return None
    matrix = np.linalg.multi_dot([np.asarray(p, np.float64) for p in parts]) if len(parts) > 1 else (
        np.asarray(parts[0], np.float64))
    centre = np.array([height / 2 - 0.5, width / 2 - 0.5])
    to_centre, back = np.eye(3), np.eye(3)
    to_centre[:2, 2], back[:2, 2] = centre, -centre
    matrix = to_centre @ matrix @ back
    matrix = matrix[[1, 0, 2]][:, [1, 0, 2]]  # the matrix's (x, y) are the image's (col, row)
    return matrix[:2, :2], matrix[:2, 2]


def _source_indices(index, size, fill_mode):
    """Integer input indices (any, outside ``[0, size)`` too) mapped inside as SciPy's ``fill_mode`` maps
    them ('constant' points outside are masked by the caller)."""
    if fill_mode == "reflect":  # d c b a | a b c d | d c b a
        index = np.mod(index, 2 * size)
        return np.where(index >= size, 2 * size - 1 - index, index)
    return np.clip(index, 0, size - 1)  # 'wrap' has wrapped the point already


def _wrapped(coordinates, size):
    """SciPy's 'wrap' of sample points: those outside ``[0, size - 1]`` taken modulo ``size - 1`` (the last
    and the first pixel overlap), those inside as they are."""
    if size == 1:
        return np.zeros_like(coordinates)
    return np.where((coordinates < 0) | (coordinates > size - 1), np.mod(coordinates, size - 1), coordinates)


def resample(images, matrices, offsets, fill_mode="nearest", cval=0.0, order=1):
    """``images`` ``(N, H, W, C)`` resampled through one affine map each (``matrices`` ``(N, 2, 2)``,
    ``offsets`` ``(N, 2)``: output ``(row, col)`` reads input ``matrix @ (row, col) + offset``), by
    nearest-neighbour (``order=0``) or bilinear (``order=1``) interpolation, as
    ``scipy.ndimage.affine_transform`` resamples one channel; float64 arithmetic, ``images``'s dtype out."""
    n, height, width, _ = images.shape
    rows, cols = np.meshgrid(np.arange(height, dtype=np.float64), np.arange(width, dtype=np.float64), indexing="ij")
    m, o = matrices[:, :, :, None, None], offsets[:, :, None, None]
    source_rows = m[:, 0, 0] * rows + m[:, 0, 1] * cols + o[:, 0]
    source_cols = m[:, 1, 0] * rows + m[:, 1, 1] * cols + o[:, 1]
    if fill_mode == "wrap":
        source_rows, source_cols = _wrapped(source_rows, height), _wrapped(source_cols, width)
    batch = np.arange(n)[:, None, None]
    source = images.astype(np.float64, copy=False)
    if order == 0:
        r = _source_indices(np.floor(source_rows + 0.5).astype(np.int64), height, fill_mode)
        c = _source_indices(np.floor(source_cols + 0.5).astype(np.int64), width, fill_mode)
        result = source[batch, r, c]
    else:
        top, left = np.floor(source_rows), np.floor(source_cols)
        dr, dc = (source_rows - top)[..., None], (source_cols - left)[..., None]
        top, left = top.astype(np.int64), left.astype(np.int64)
        r0, r1 = _source_indices(top, height, fill_mode), _source_indices(top + 1, height, fill_mode)
        c0, c1 = _source_indices(left, width, fill_mode), _source_indices(left + 1, width, fill_mode)
        result = ((1 - dr) * ((1 - dc) * source[batch, r0, c0] + dc * source[batch, r0, c1])
                  + dr * ((1 - dc) * source[batch, r1, c0] + dc * source[batch, r1, c1]))
    if fill_mode == "constant":  # SciPy's 'constant': no interpolation beyond the edges
        outside = (source_rows < 0) | (source_rows > height - 1) | (source_cols < 0) | (source_cols > width - 1)
        result[outside] = cval
    return result.astype(images.dtype)


def _check_fill_mode(fill_mode, order):
    if fill_mode not in _FILL_MODES:
        raise ValueError(f"Invalid value for argument `fill_mode`. Expected one of {_FILL_MODES}. "
                         f"Received: fill_mode={fill_mode!r}")
    if order not in (0, 1):
        raise NotImplementedError(f"fastconv resamples images by nearest neighbour (order 0) or bilinearly "
                                  f"(order 1); spline orders 2-5 are not supported. Received: {order!r}")


def apply_affine_transform(x, theta=0, tx=0, ty=0, shear=0, zx=1, zy=1, row_axis=1, col_axis=2, channel_axis=0,
                           fill_mode="nearest", cval=0.0, order=1):
    """tf.keras's ``apply_affine_transform``: one image (rank 3) rotated, shifted, sheared and zoomed (see
    :func:`transform_matrix`), ``row_axis``/``col_axis``/``channel_axis`` saying where its axes are."""
    x = np.asarray(x)
    if x.ndim != 3:
        raise ValueError("Input arrays must be multi-channel 2D images.")
    if sorted((row_axis, col_axis, channel_axis)) != [0, 1, 2]:
        raise ValueError("'row_axis', 'col_axis', and 'channel_axis' must be distinct and in 0, 1, 2. "
                         f"Received: {row_axis}, {col_axis}, {channel_axis}")
    _check_fill_mode(fill_mode, order)
    maps = transform_matrix(theta, tx, ty, shear, zx, zy, x.shape[row_axis], x.shape[col_axis])
    if maps is None:
        return x
    image = np.transpose(x, (row_axis, col_axis, channel_axis))
    if col_axis < row_axis:  # tf.keras swaps the matrix's axes only for rows before columns
        maps = (maps[0][::-1, ::-1], maps[1][::-1])
    result = resample(image[None], maps[0][None], maps[1][None], fill_mode, cval, order)[0]
    return np.transpose(result, np.argsort((row_axis, col_axis, channel_axis)))


def _brightness(image, factor):
    """tf.keras's brightness shift (``apply_brightness_shift(x, factor, scale=False)``, through PIL): the
    image as 8-bit pixels (scaled to 0-255 first if it lies outside), each times ``factor``, truncated."""
    if image.shape[-1] not in (1, 3, 4):  # PIL's grey, RGB and RGBA images, through which tf.keras goes
        raise ValueError(f"Unsupported channel number: {image.shape[-1]} (a brightness shift takes images of 1, 3 "
                         "or 4 channels)")
    low, high = float(image.min()), float(image.max())
    rescaled = low < 0 or high > 255
    pixels = image.astype(np.float64)
    if rescaled:
        pixels = pixels - low
        if pixels.max() != 0:
            pixels = pixels / pixels.max()
        pixels = pixels * 255
    pixels = pixels.astype(np.uint8).astype(np.float32)
    brightened = np.clip(np.trunc(pixels * np.float32(factor)), 0, 255).astype(np.float32)
    return brightened / 255 * (high - low) + low if rescaled else brightened


class ImageDataGenerator:
    """Random augmentation and normalisation of channels-last numpy images (tf.keras's ``ImageDataGenerator``).

    The arguments are tf.keras's. ``flow(x, y)`` gives the augmented batches to
    ``fit``; ``fit(x)`` computes the statistics that ``featurewise_center``,
    ``featurewise_std_normalization`` and ``zca_whitening`` use.

    >>> generator = ImageDataGenerator(rescale=1 / 255, horizontal_flip=True)
    >>> batches = generator.flow(np.zeros((10, 4, 4, 1)), np.arange(10), batch_size=4, seed=1)
    >>> len(batches), batches[2][0].shape
    (3, (2, 4, 4, 1))
    """

    def __init__(self, featurewise_center=False, samplewise_center=False, featurewise_std_normalization=False,
                 samplewise_std_normalization=False, zca_whitening=False, zca_epsilon=1e-6, rotation_range=0,
                 width_shift_range=0.0, height_shift_range=0.0, brightness_range=None, shear_range=0.0,
                 zoom_range=0.0, channel_shift_range=0.0, fill_mode="nearest", cval=0.0, horizontal_flip=False,
                 vertical_flip=False, rescale=None, preprocessing_function=None, data_format=None,
                 validation_split=0.0, interpolation_order=1, dtype=None):
        if data_format not in (None, "channels_last"):
            raise NotImplementedError("fastconv's ImageDataGenerator takes channels-last images (NHWC). "
                                      f"Received: data_format={data_format!r}")
        if dtype not in (None, "float32") and np.dtype(dtype) != np.float32:
            raise NotImplementedError(f"fastconv computes in float32. Received: dtype={dtype!r}")
        _check_fill_mode(fill_mode, interpolation_order)
        if validation_split and not 0 < validation_split < 1:
            raise ValueError(f"`validation_split` must be strictly between 0 and 1.  Received: {validation_split}")
        if isinstance(zoom_range, (int, float)):
            zoom_range = [1 - zoom_range, 1 + zoom_range]
        elif not (isinstance(zoom_range, (list, tuple)) and len(zoom_range) == 2
                  and all(isinstance(v, (int, float)) for v in zoom_range)):
            raise ValueError(f"`zoom_range` should be a float or a tuple or list of two floats. Received: {zoom_range}")
        if brightness_range is not None and not (isinstance(brightness_range, (tuple, list))
                                                 and len(brightness_range) == 2):
            raise ValueError(f"`brightness_range should be tuple or list of two floats. Received: {brightness_range}")
        for given, overriding, implied, already in (
                (zca_whitening, "zca_whitening", "featurewise_center", featurewise_center),
                (featurewise_std_normalization and not zca_whitening, "featurewise_std_normalization",
                 "featurewise_center", featurewise_center),
                (samplewise_std_normalization, "samplewise_std_normalization", "samplewise_center",
                 samplewise_center)):
            if given and not already:
                warnings.warn(f"This ImageDataGenerator specifies `{overriding}`, which overrides setting of "
                              f"`{implied}`.")
        if zca_whitening and featurewise_std_normalization:
            warnings.warn("This ImageDataGenerator specifies `zca_whitening` which overrides setting of"
                          "`featurewise_std_normalization`.")
            featurewise_std_normalization = False
        self.featurewise_center = featurewise_center or zca_whitening or featurewise_std_normalization
        self.samplewise_center = samplewise_center or samplewise_std_normalization
        self.featurewise_std_normalization = featurewise_std_normalization
        self.samplewise_std_normalization = samplewise_std_normalization
        self.zca_whitening, self.zca_epsilon = zca_whitening, zca_epsilon
        self.rotation_range, self.shear_range = rotation_range, shear_range
        self.width_shift_range, self.height_shift_range = width_shift_range, height_shift_range
        self.brightness_range, self.zoom_range = brightness_range, list(zoom_range)
        self.channel_shift_range = channel_shift_range
        self.fill_mode, self.cval, self.interpolation_order = fill_mode, cval, interpolation_order
        self.horizontal_flip, self.vertical_flip = horizontal_flip, vertical_flip
        self.rescale, self.preprocessing_function = rescale, preprocessing_function
        self.data_format, self.dtype = "channels_last", "float32"
        self.channel_axis, self.row_axis, self.col_axis = 3, 1, 2
        self._validation_split = validation_split
        self.mean = self.std = self.zca_whitening_matrix = None

    # -- batches ----------------------------------------------------------------------------------------

    def flow(self, x, y=None, batch_size=32, shuffle=True, sample_weight=None, seed=None, save_to_dir=None,
             save_prefix="", save_format="png", ignore_class_split=False, subset=None):
        """The augmented batches of ``(x, y)`` (``(x, y, sample_weight)``; ``x`` alone without ``y``), a
        ``NumpyArrayIterator``: ``len()`` batches an epoch, in a new random order each epoch with ``shuffle``;
        ``subset='training'`` or ``'validation'`` takes one side of ``validation_split``."""
        return NumpyArrayIterator(x, y, self, batch_size=batch_size, shuffle=shuffle, sample_weight=sample_weight,
                                  seed=seed, save_to_dir=save_to_dir, ignore_class_split=ignore_class_split,
                                  subset=subset)

    def flow_from_directory(self, directory, *args, **kwargs):
        raise NotImplementedError("fastconv reads no image files (it has no image decoder): "
                                  "`flow_from_directory` is not supported. Load the images into a numpy array "
                                  "and use `flow(x, y)`.")

    def flow_from_dataframe(self, dataframe, *args, **kwargs):
        raise NotImplementedError("fastconv reads no image files (it has no image decoder): "
                                  "`flow_from_dataframe` is not supported. Load the images into a numpy array "
                                  "and use `flow(x, y)`.")

    # -- one image --------------------------------------------------------------------------------------

    def get_random_transform(self, img_shape, seed=None):
        """Random parameters for one image of ``img_shape`` ``(H, W, C)``, drawn from numpy's global
        generator in tf.keras's order (so the same seed gives the same parameters)."""
        if seed is not None:
            np.random.seed(seed)
        theta = np.random.uniform(-self.rotation_range, self.rotation_range) if self.rotation_range else 0
        tx = _draw_shift(self.height_shift_range, img_shape[0])
        ty = _draw_shift(self.width_shift_range, img_shape[1])
        shear = np.random.uniform(-self.shear_range, self.shear_range) if self.shear_range else 0
        if self.zoom_range[0] == 1 and self.zoom_range[1] == 1:
            zx, zy = 1, 1
        else:
            zx, zy = np.random.uniform(self.zoom_range[0], self.zoom_range[1], 2)
        flip_horizontal = (np.random.random() < 0.5) * self.horizontal_flip
        flip_vertical = (np.random.random() < 0.5) * self.vertical_flip
        channel_shift = None
        if self.channel_shift_range != 0:
            channel_shift = np.random.uniform(-self.channel_shift_range, self.channel_shift_range)
        brightness = None
        if self.brightness_range is not None:
            brightness = np.random.uniform(self.brightness_range[0], self.brightness_range[1])
        return {"theta": theta, "tx": tx, "ty": ty, "shear": shear, "zx": zx, "zy": zy,
                "flip_horizontal": flip_horizontal, "flip_vertical": flip_vertical,
                "channel_shift_intensity": channel_shift, "brightness": brightness}

    def apply_transform(self, x, transform_parameters):
        """One image ``(H, W, C)`` transformed by ``transform_parameters`` (:meth:`get_random_transform`'s)."""
        return self._transform_batch(np.asarray(x)[None], [transform_parameters])[0]

    def random_transform(self, x, seed=None):
        """One image with a random transform applied."""
        return self.apply_transform(x, self.get_random_transform(np.shape(x), seed))

    def _transform_batch(self, images, parameters):
        """``images`` ``(N, H, W, C)``, each transformed by its parameters, in tf.keras's order: the affine
        map, the channel shift, the flips, the brightness."""
        images = np.array(images, dtype=np.float32)
        height, width = images.shape[1:3]
        maps = [transform_matrix(p.get("theta", 0), p.get("tx", 0), p.get("ty", 0), p.get("shear", 0),
                                 p.get("zx", 1), p.get("zy", 1), height, width) for p in parameters]
        moved = [i for i, m in enumerate(maps) if m is not None]
        if moved:
            images[moved] = resample(images[moved], np.stack([maps[i][0] for i in moved]),
                                     np.stack([maps[i][1] for i in moved]), self.fill_mode, self.cval,
                                     self.interpolation_order)
        for image, p in zip(images, parameters):
            if p.get("channel_shift_intensity") is not None:
                image[...] = np.clip(image + p["channel_shift_intensity"], image.min(), image.max())
            if p.get("flip_horizontal", False):
                image[...] = image[:, ::-1]
            if p.get("flip_vertical", False):
                image[...] = image[::-1]
            if p.get("brightness") is not None:
                image[...] = _brightness(image, p["brightness"])
        return images

    # -- normalisation ----------------------------------------------------------------------------------

    def standardize(self, x):
        """tf.keras's normalisation of images (in place, as there): ``preprocessing_function``, ``rescale``,
        then the sample-wise and feature-wise centring and scaling and ZCA whitening that are set."""
        if self.preprocessing_function:
            x = self.preprocessing_function(x)
        if self.rescale:
            x *= self.rescale
        if self.samplewise_center:
            x -= np.mean(x, keepdims=True)
        if self.samplewise_std_normalization:
            x /= np.std(x, keepdims=True) + 1e-6
        for flag, statistic in (("featurewise_center", self.mean), ("featurewise_std_normalization", self.std),
                                ("zca_whitening", self.zca_whitening_matrix)):
            if getattr(self, flag) and statistic is None:
                warnings.warn(f"This ImageDataGenerator specifies `{flag}`, but it hasn't been fit on any training "
                              "data. Fit it first by calling `.fit(numpy_data)`.")
        if self.featurewise_center and self.mean is not None:
            x -= self.mean
        if self.featurewise_std_normalization and self.std is not None:
            x /= self.std + 1e-6
        if self.zca_whitening and self.zca_whitening_matrix is not None:
            x = np.reshape(x.reshape(-1, math.prod(x.shape[-3:])) @ self.zca_whitening_matrix, x.shape)
        return x

    def fit(self, x, augment=False, rounds=1, seed=None):
        """The feature-wise mean and standard deviation (per channel) and the ZCA matrix of images ``x``
        (rescaled, and with ``augment`` ``rounds`` random transforms of each), for :meth:`standardize`."""
        x = np.asarray(x, dtype=np.float32)
        if x.ndim != 4:
            raise ValueError(f"Input to `.fit()` should have rank 4. Got array with shape: {x.shape}")
        if x.shape[3] not in (1, 3, 4):
            warnings.warn(f"Expected input to be images with 1, 3 or 4 channels on axis 3. However, it was passed "
                          f"an array with shape {x.shape} ({x.shape[3]} channels).")
        if seed is not None:
            np.random.seed(seed)
        x = np.copy(x)
        if self.rescale:
            x *= self.rescale
        if augment:
            x = np.concatenate([self._transform_batch(x, [self.get_random_transform(image.shape) for image in x])
                                for _ in range(rounds)])
        if self.featurewise_center:
            self.mean = np.mean(x, axis=(0, 1, 2)).reshape(1, 1, -1)
            x -= self.mean
        if self.featurewise_std_normalization:
            self.std = np.std(x, axis=(0, 1, 2)).reshape(1, 1, -1)
            x /= self.std + 1e-6
        if self.zca_whitening:
            flat = x.reshape(len(x), -1)
            u, s, _ = np.linalg.svd(flat.T, full_matrices=False)
            self.zca_whitening_matrix = (u * (np.sqrt(len(x)) / (s + self.zca_epsilon))) @ u.T


def _draw_shift(shift_range, size):
    """A shift in pixels drawn as tf.keras draws ``height_shift_range``/``width_shift_range``: from a list
    (or ``range(n)`` for an integer ``n``) with a random sign, else uniformly in ``[-f, f]``, a fraction of
    ``size`` when below 1."""
    if not shift_range:
        return 0
    try:
        shift = np.random.choice(shift_range) * np.random.choice([-1, 1])
    except ValueError:  # a float: a uniform draw
        shift = np.random.uniform(-shift_range, shift_range)
    return shift * size if np.max(shift_range) < 1 else shift


class Iterator(PyDataset):
    """tf.keras's base of ``flow``'s iterators: ``n`` samples in batches of ``batch_size``, their order drawn
    anew each epoch with ``shuffle`` (numpy's global generator, reseeded with ``seed`` plus the batches seen,
    as tf.keras reseeds it); a batch by index (``fit``) or by ``next()`` (a loop that breaks itself)."""

    def __init__(self, n, batch_size, shuffle, seed, **kwargs):
        super().__init__(**kwargs)
        self.n, self.batch_size, self.shuffle, self.seed = n, batch_size, shuffle, seed
        self.batch_index = self.total_batches_seen = 0
        self.index_array = None
        self.lock = threading.Lock()
        self.index_generator = self._flow_index()

    def _set_index_array(self):
        self.index_array = np.random.permutation(self.n) if self.shuffle else np.arange(self.n)

    def __len__(self):
        return -(-self.n // self.batch_size)

    def __getitem__(self, index):
        if index >= len(self):
            raise ValueError(f"Asked to retrieve element {index}, but the Sequence has length {len(self)}")
        if self.seed is not None:
            np.random.seed(self.seed + self.total_batches_seen)
        self.total_batches_seen += 1
        if self.index_array is None:
            self._set_index_array()
        return self._batch(self.index_array[self.batch_size * index:self.batch_size * (index + 1)])

    def on_epoch_end(self):
        self._set_index_array()

    def reset(self):
        self.batch_index = 0

    def _flow_index(self):
        self.reset()
        while True:
            if self.seed is not None:
                np.random.seed(self.seed + self.total_batches_seen)
            if self.batch_index == 0:
                self._set_index_array()
            start = (self.batch_index * self.batch_size) % self.n if self.n else 0
            self.batch_index = self.batch_index + 1 if self.n > start + self.batch_size else 0
            self.total_batches_seen += 1
            yield self.index_array[start:start + self.batch_size]

    def __iter__(self):
        return self

    def __next__(self):
        with self.lock:
            indices = next(self.index_generator)
        return self._batch(indices)

    def _batch(self, indices):
        raise NotImplementedError(f"{type(self).__name__}._batch")


class NumpyArrayIterator(Iterator):
    """``ImageDataGenerator.flow``'s batches of numpy images ``x`` (rank 4, channels last), with their
    labels ``y`` and ``sample_weight`` if given: each image transformed at random and standardized."""

    def __init__(self, x, y, image_data_generator, batch_size=32, shuffle=False, sample_weight=None, seed=None,
                 data_format=None, save_to_dir=None, save_prefix="", save_format="png", subset=None,
                 ignore_class_split=False, dtype=None):
        if save_to_dir is not None:
            raise NotImplementedError("fastconv writes no image files: `save_to_dir` is not supported. "
                                      f"Received: save_to_dir={save_to_dir!r}")
        if isinstance(x, (tuple, list)):
            raise NotImplementedError("fastconv's `flow` takes the images as one array; extra inputs beside them "
                                      "(`x=(images, other)`) are not supported.")
        if y is not None and len(x) != len(y):
            raise ValueError("`x` (images tensor) and `y` (labels) should have the same length. Found: "
                             f"x.shape = {np.shape(x)}, y.shape = {np.shape(y)}")
        if sample_weight is not None and len(x) != len(sample_weight):
            raise ValueError("`x` (images tensor) and `sample_weight` should have the same length. Found: "
                             f"x.shape = {np.shape(x)}, sample_weight.shape = {np.shape(sample_weight)}")
        if subset is not None:
            if subset not in ("training", "validation"):
                raise ValueError(f'Invalid subset name: {subset}; expected "training" or "validation".')
            split = int(len(x) * image_data_generator._validation_split)
            if y is not None and not ignore_class_split and not np.array_equal(np.unique(y[:split]),
                                                                                np.unique(y[split:])):
                raise ValueError("Training and validation subsets have different number of classes after the split. "
                                 "If your numpy arrays are sorted by the label, you might want to shuffle them.")
            part = slice(None, split) if subset == "validation" else slice(split, None)
            x = x[part]
            y = None if y is None else y[part]
            sample_weight = None if sample_weight is None else sample_weight[part]
        self.x = np.asarray(x, dtype=np.float32)
        if self.x.ndim != 4:
            raise ValueError(f"Input data in `NumpyArrayIterator` should have rank 4. You passed an array with "
                             f"shape {self.x.shape}")
        if self.x.shape[3] not in (1, 3, 4):
            warnings.warn(f'NumpyArrayIterator is set to use the data format convention "channels_last" (channels '
                          f"on axis 3), i.e. expected either 1, 3, or 4 channels on axis 3. However, it was passed "
                          f"an array with shape {self.x.shape} ({self.x.shape[3]} channels).")
        self.y = None if y is None else np.asarray(y)
        self.sample_weight = None if sample_weight is None else np.asarray(sample_weight)
        self.image_data_generator = image_data_generator
        super().__init__(len(self.x), batch_size, shuffle, seed)

    def _batch(self, indices):
        generator = self.image_data_generator
        if generator.preprocessing_function is None:  # the draws first, then the whole batch at once
            parameters = [generator.get_random_transform(self.x.shape[1:]) for _ in indices]
            images = generator._transform_batch(self.x[indices], parameters)
        else:  # image by image, as tf.keras, for a function of the user's that may draw random numbers too
            images = np.zeros((len(indices), *self.x.shape[1:]), np.float32)
        for i, index in enumerate(indices):
            if generator.preprocessing_function is not None:
                images[i] = generator.apply_transform(self.x[index], generator.get_random_transform(self.x.shape[1:]))
            images[i] = generator.standardize(images[i])
        if self.y is None:
            return images
        if self.sample_weight is None:
            return images, self.y[indices]
        return images, self.y[indices], self.sample_weight[indices]
