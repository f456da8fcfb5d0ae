"""``keras.saving``."""

from fastconv.saving import load_model, save_model

__all__ = ["load_model", "save_model"]
