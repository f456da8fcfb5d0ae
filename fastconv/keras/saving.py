"""``keras.saving``."""

from fastconv.layers.keras_names import KERAS_MODULE_NAMES, missing_name
from fastconv.models import load_model
from fastconv.saving import save_model

__all__ = ["load_model", "save_model"]


def __getattr__(name):  # PEP 562: a Keras name fastconv lacks raises NotImplementedError naming it
    raise missing_name(__name__, "keras.saving", KERAS_MODULE_NAMES["keras.saving"], name)
