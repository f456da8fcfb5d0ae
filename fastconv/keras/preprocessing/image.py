"""``keras.preprocessing.image``: tf.keras's ``ImageDataGenerator`` and its iterators, for numpy images, and the
image files' functions."""

from fastconv.image_data_generator import ImageDataGenerator, Iterator, NumpyArrayIterator, apply_affine_transform
from fastconv.image_files import array_to_img, img_to_array, load_img, save_img
from fastconv.layers.keras_names import KERAS_MODULE_NAMES, missing_name

__all__ = ["ImageDataGenerator", "Iterator", "NumpyArrayIterator", "apply_affine_transform", "array_to_img",
           "img_to_array", "load_img", "save_img"]


def __getattr__(name):  # PEP 562: a Keras name fastconv lacks raises NotImplementedError naming it
    raise missing_name(__name__, "keras.preprocessing.image", KERAS_MODULE_NAMES["keras.preprocessing.image"],
                       name)
