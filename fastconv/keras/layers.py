"""``keras.layers``: the layer classes under Keras's names (and Keras's aliases)."""

from fastconv.layers import *  # noqa: F401,F403 (every class of fastconv.layers.__all__ and its aliases)
from fastconv.layers import __all__ as _layers

__all__ = [name for name in _layers if name not in ("KerasTensor", "LAYER_CLASSES")]
