"""``keras.models``: model classes and ``load_model``."""

from fastconv.models import Model, Sequential, load_model

__all__ = ["Model", "Sequential", "load_model"]
