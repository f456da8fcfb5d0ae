"""``keras.models``: model classes, ``load_model``, ``save_model``, ``clone_model``, ``model_from_json``."""

from fastconv.layers.keras_names import KERAS_MODULE_NAMES, missing_name
from fastconv.models import Model, Sequential, clone_model, load_model, model_from_json
from fastconv.saving import save_model

__all__ = ["Model", "Sequential", "clone_model", "load_model", "model_from_json", "save_model"]


def __getattr__(name):  # PEP 562: a Keras name fastconv lacks raises NotImplementedError naming it
    raise missing_name(__name__, "keras.models", KERAS_MODULE_NAMES["keras.models"], name)
