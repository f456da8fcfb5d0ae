"""Image files as Keras reads and writes them: ``load_img``, ``img_to_array``, ``array_to_img``, ``save_img``.

The step after training that most tutorials show: classify a photo of your
own (``img = keras.utils.load_img(path, target_size=(28, 28),
color_mode="grayscale")``, then ``keras.utils.img_to_array(img)``). Files are
read and written by Pillow (``pip install pillow``), as Keras does; an image is
a ``PIL.Image`` between the calls, an array is ``(height, width, channels)``
float32. Only ``data_format='channels_last'``, fastconv's one layout.
"""

import io
import pathlib
import warnings

import numpy as np

INTERPOLATIONS = ("nearest", "bilinear", "bicubic", "hamming", "box", "lanczos")
"""Resampling filters of ``load_img`` (Pillow's, by Keras's names)."""


def _pil_image(function):
    try:
        from PIL import Image
    except ImportError as error:
        raise ImportError(f"Could not import PIL.Image. The use of `{function}` requires PIL: "
                          "pip install pillow") from error
    return Image


def _channels_last(data_format):
    if data_format not in (None, "channels_last"):
        raise NotImplementedError(f"fastconv supports only data_format='channels_last'. "
                                  f"Received: data_format={data_format!r}")


def load_img(path, color_mode="rgb", target_size=None, interpolation="nearest", keep_aspect_ratio=False):
    """The image of file ``path`` (a path or an ``io.BytesIO``) as a ``PIL.Image`` in ``color_mode``
    (``'grayscale'``, ``'rgb'`` or ``'rgba'``), resized to ``target_size`` ``(height, width)`` with
    ``interpolation``; with ``keep_aspect_ratio``, the largest centred box of the target's aspect ratio is
    resized (``keras.utils.load_img``)."""
    image_module = _pil_image("load_img")
    if isinstance(path, io.BytesIO):
        image = image_module.open(path)
    elif isinstance(path, (str, bytes, pathlib.Path)):
        with open(path, "rb") as f:
            image = image_module.open(io.BytesIO(f.read()))
    else:
        raise TypeError(f"path should be path-like or io.BytesIO, not {type(path)}")
    modes = {"grayscale": ("L", ("L", "I;16", "I")), "rgb": ("RGB", ("RGB",)), "rgba": ("RGBA", ("RGBA",))}
    if color_mode not in modes:
        raise ValueError('color_mode must be "grayscale", "rgb", or "rgba"')
    mode, kept = modes[color_mode]
    if image.mode not in kept:
        image = image.convert(mode)
    if target_size is None or image.size == (target_size[1], target_size[0]):
        return image
    if interpolation not in INTERPOLATIONS:
        raise ValueError(f"Invalid interpolation method {interpolation} specified. Supported methods are "
                         f"{', '.join(INTERPOLATIONS)}")
    resample = getattr(image_module.Resampling, interpolation.upper())
    target_width, target_height = target_size[1], target_size[0]
    box = None
    if keep_aspect_ratio:
        width, height = image.size
        crop_width = min(width, height * target_width // target_height)
        crop_height = min(height, width * target_height // target_width)
        left, top = (width - crop_width) // 2, (height - crop_height) // 2
        box = (left, top, left + crop_width, top + crop_height)
    return image.resize((target_width, target_height), resample, box=box)


def img_to_array(img, data_format=None, dtype=None):
    """An image (a ``PIL.Image`` or anything array-like) as a ``(height, width, channels)`` array of ``dtype``
    (float32 by default), a grayscale image with one channel (``keras.utils.img_to_array``)."""
    _channels_last(data_format)
    array = np.asarray(img, dtype=dtype or "float32")
    if array.ndim == 2:
        return array.reshape(*array.shape, 1)
    if array.ndim != 3:
        raise ValueError(f"Unsupported image shape: {array.shape}")
    return array


def array_to_img(x, data_format=None, scale=True, dtype=None):
    """A ``(height, width, channels)`` array as a ``PIL.Image``: 1 channel grayscale (32-bit integers if
    values exceed 255), 3 RGB, 4 RGBA; with ``scale``, values first shifted and stretched to ``[0, 255]``
    (``keras.utils.array_to_img``)."""
    _channels_last(data_format)
    image_module = _pil_image("array_to_img")
    x = np.array(x, dtype=dtype or "float32")
    if x.ndim != 3:
        raise ValueError(f"Expected image array to have rank 3 (single image). Got array with shape: {x.shape}")
    if scale:
        x -= np.min(x)
        top = np.max(x)
        if top != 0:
            x /= top
        x *= 255
    channels = x.shape[2]
    if channels in (3, 4):
        return image_module.fromarray(x.astype("uint8"), "RGB" if channels == 3 else "RGBA")
    if channels == 1:
        if np.max(x) > 255:
            return image_module.fromarray(x[:, :, 0].astype("int32"), "I")
        return image_module.fromarray(x[:, :, 0].astype("uint8"), "L")
    raise ValueError(f"Unsupported channel number: {channels}")


def save_img(path, x, data_format=None, file_format=None, scale=True, **kwargs):
    """Write the array ``x`` as an image file (``keras.utils.save_img``): the format from ``file_format`` or
    the file's extension, ``kwargs`` to Pillow's ``Image.save``; an RGBA image saved as JPEG loses its alpha,
    with a warning."""
    if file_format is None and isinstance(path, (str, pathlib.Path)):
        file_format = pathlib.Path(path).suffix[1:].lower()
    if file_format and file_format.lower() == "jpg":
        file_format = "jpeg"
    image = array_to_img(x, data_format=data_format, scale=scale)
    if image.mode == "RGBA" and file_format == "jpeg":
        warnings.warn("The JPEG format does not support RGBA images, converting to RGB.", stacklevel=2)
        image = image.convert("RGB")
    image.save(path, format=file_format, **kwargs)
