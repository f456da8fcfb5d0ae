"""``keras.saving``."""

from fastconv.models import load_model
from fastconv.saving import save_model

__all__ = ["load_model", "save_model"]
