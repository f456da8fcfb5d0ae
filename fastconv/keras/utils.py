"""``keras.utils``."""

from fastconv.custom_objects import (CustomObjectScope, custom_object_scope, get_custom_objects, get_registered_name,
                                     get_registered_object, register_keras_serializable)
from fastconv.data import PyDataset, Sequence
from fastconv.image_files import array_to_img, img_to_array, load_img, save_img
from fastconv.layers.keras_names import KERAS_MODULE_NAMES, missing_name
from fastconv.utils import normalize, set_random_seed, to_categorical
from fastconv.visualization import model_to_dot, plot_model

__all__ = ["CustomObjectScope", "PyDataset", "Sequence", "array_to_img", "custom_object_scope", "get_custom_objects",
           "get_registered_name", "get_registered_object", "img_to_array", "load_img", "model_to_dot", "normalize",
           "plot_model", "register_keras_serializable", "save_img", "set_random_seed", "to_categorical"]


def __getattr__(name):  # PEP 562: a Keras name fastconv lacks raises NotImplementedError naming it
    raise missing_name(__name__, "keras.utils", KERAS_MODULE_NAMES["keras.utils"], name)
