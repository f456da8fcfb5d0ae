"""``keras.saving``."""

from fastconv.custom_objects import (CustomObjectScope, custom_object_scope, get_custom_objects, get_registered_name,
                                     get_registered_object, register_keras_serializable)
from fastconv.layers.keras_names import KERAS_MODULE_NAMES, missing_name
from fastconv.models import load_model
from fastconv.saving import save_model

__all__ = ["CustomObjectScope", "custom_object_scope", "get_custom_objects", "get_registered_name",
           "get_registered_object", "load_model", "register_keras_serializable", "save_model"]


def __getattr__(name):  # PEP 562: a Keras name fastconv lacks raises NotImplementedError naming it
    raise missing_name(__name__, "keras.saving", KERAS_MODULE_NAMES["keras.saving"], name)
