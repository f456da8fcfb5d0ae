"""keras.utils.load_img, img_to_array, array_to_img and save_img against real Keras 3 (the same Pillow images,
pixel for pixel)."""

import io
import warnings

import numpy as np
import pytest
from PIL import Image

from fastconv import keras as fastconv_keras
from keras_reference import keras


@pytest.fixture(scope="module")
def image_files(tmp_path_factory):
    """Files of every kind load_img converts from: RGB (PNG and JPEG), RGBA, 8- and 16-bit grayscale."""
    folder = tmp_path_factory.mktemp("images")
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (21, 30, 3), dtype=np.uint8)
    paths = {}
    for name, image in (("rgb.png", Image.fromarray(rgb, "RGB")), ("rgb.jpg", Image.fromarray(rgb, "RGB")),
                        ("rgba.png", Image.fromarray(rng.integers(0, 256, (21, 30, 4), dtype=np.uint8), "RGBA")),
                        ("gray.png", Image.fromarray(rgb[..., 0], "L")),
                        ("gray16.png", Image.fromarray(rng.integers(0, 65536, (21, 30)).astype(np.uint16)))):
        image.save(folder / name)
        paths[name] = folder / name
    return paths


@pytest.mark.parametrize("name", ["rgb.png", "rgb.jpg", "rgba.png", "gray.png", "gray16.png"])
@pytest.mark.parametrize("color_mode", ["rgb", "rgba", "grayscale"])
@pytest.mark.parametrize("target_size, interpolation, keep_aspect_ratio", [
    (None, "nearest", False), ((13, 9), "nearest", False), ((13, 9), "bilinear", True), ((30, 21), "bicubic", False),
    ((8, 40), "lanczos", True), ((10, 10), "box", False), ((12, 5), "hamming", True), ((21, 30), "bilinear", True)])
def test_load_img_and_img_to_array_equal_keras(image_files, name, color_mode, target_size, interpolation,
                                                keep_aspect_ratio):
    kwargs = dict(color_mode=color_mode, target_size=target_size, interpolation=interpolation,
                  keep_aspect_ratio=keep_aspect_ratio)
    ours = fastconv_keras.utils.load_img(image_files[name], **kwargs)
    theirs = keras.utils.load_img(image_files[name], **kwargs)
    assert (ours.mode, ours.size) == (theirs.mode, theirs.size)
    np.testing.assert_array_equal(np.asarray(ours), np.asarray(theirs))
    for dtype in (None, "uint8", "float64"):
        array = fastconv_keras.utils.img_to_array(ours, dtype=dtype)
        expected = keras.utils.img_to_array(theirs, dtype=dtype)
        assert array.dtype == expected.dtype and array.shape == expected.shape
        np.testing.assert_array_equal(array, expected)
    with open(image_files[name], "rb") as f:  # a file object in memory, as Keras takes it
        np.testing.assert_array_equal(np.asarray(fastconv_keras.utils.load_img(io.BytesIO(f.read()), **kwargs)),
                                      np.asarray(theirs))


@pytest.mark.parametrize("channels", [1, 3, 4])
@pytest.mark.parametrize("scale", [True, False])
@pytest.mark.parametrize("top", [1.0, 255.0, 1000.0])
def test_array_to_img_and_save_img_equal_keras(channels, scale, top, tmp_path):
    x = np.random.default_rng(channels).random((6, 9, channels)) * top
    ours = fastconv_keras.utils.array_to_img(x, scale=scale)
    theirs = keras.utils.array_to_img(x, scale=scale)
    assert (ours.mode, ours.size) == (theirs.mode, theirs.size)
    np.testing.assert_array_equal(np.asarray(ours), np.asarray(theirs))
    if ours.mode == "I":  # 32-bit grayscale: Pillow writes it neither as PNG nor as JPEG, for Keras either
        for library in (fastconv_keras, keras):
            with pytest.raises(OSError, match="cannot write mode I"):
                library.utils.save_img(tmp_path / "image.png", x, scale=scale)
        return
    for extension in ("png", "jpg"):
        with warnings.catch_warnings(record=True) as ours_warnings:
            warnings.simplefilter("always")
            fastconv_keras.utils.save_img(tmp_path / f"ours.{extension}", x, scale=scale)
        keras.utils.save_img(tmp_path / f"theirs.{extension}", x, scale=scale)
        with Image.open(tmp_path / f"ours.{extension}") as a, Image.open(tmp_path / f"theirs.{extension}") as b:
            assert a.mode == b.mode and a.format == b.format
            np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
        assert bool(ours_warnings) == (channels == 4 and extension == "jpg")  # RGBA as JPEG loses its alpha


def test_a_photo_of_your_own_classified_as_tutorials_do(image_files):
    """Load a file at the model's input size, as an array with a batch axis, and predict."""
    model = fastconv_keras.Sequential([fastconv_keras.Input((28, 28, 1)), fastconv_keras.layers.Rescaling(1 / 255),
                                       fastconv_keras.layers.Flatten(), fastconv_keras.layers.Dense(10)])
    image = fastconv_keras.utils.load_img(image_files["rgb.jpg"], color_mode="grayscale", target_size=(28, 28))
    batch = fastconv_keras.utils.img_to_array(image)[None]
    assert batch.shape == (1, 28, 28, 1) and batch.dtype == np.float32
    assert model.predict(batch, verbose=0).shape == (1, 10)


def test_bad_arguments_raise_as_in_keras(image_files):
    with pytest.raises(ValueError, match='color_mode must be "grayscale", "rgb", or "rgba"'):
        fastconv_keras.utils.load_img(image_files["rgb.png"], color_mode="cmyk")
    with pytest.raises(ValueError, match="Invalid interpolation method cubic"):
        fastconv_keras.utils.load_img(image_files["rgb.png"], target_size=(5, 5), interpolation="cubic")
    with pytest.raises(TypeError, match="path should be path-like or io.BytesIO"):
        fastconv_keras.utils.load_img(3)
    with pytest.raises(ValueError, match="Expected image array to have rank 3"):
        fastconv_keras.utils.array_to_img(np.zeros((2, 4, 4, 3)))
    with pytest.raises(ValueError, match="Unsupported channel number: 2"):
        fastconv_keras.utils.array_to_img(np.zeros((4, 4, 2)))
    with pytest.raises(ValueError, match="Unsupported image shape"):
        fastconv_keras.utils.img_to_array(np.zeros(4))
    with pytest.raises(NotImplementedError, match="channels_last"):
        fastconv_keras.utils.img_to_array(np.zeros((4, 4)), data_format="channels_first")
