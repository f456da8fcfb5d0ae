"""``keras.layers``: the layer classes under Keras's names (and Keras's aliases)."""

from fastconv.layers import *  # noqa: F401,F403 (every class of fastconv.layers.__all__ and its aliases)
from fastconv.layers import __all__ as _layers
from fastconv.layers.keras_names import missing_layer

__all__ = [name for name in _layers if name not in ("KerasTensor", "LAYER_CLASSES")] + ["deserialize", "serialize"]


def __getattr__(name):  # PEP 562: a Keras layer fastconv lacks raises NotImplementedError naming it
    raise missing_layer(__name__, name)


def serialize(layer):
    """Keras's serialized form of a layer (``keras.layers.serialize``)."""
    from fastconv.models import _serialize_layer

    return _serialize_layer(layer)


def deserialize(config, custom_objects=None):
    """A new layer from ``serialize``'s dict, or Keras's (``keras.layers.deserialize``)."""
    from fastconv.models import _deserialize_layer

    return _deserialize_layer(config, custom_objects)
