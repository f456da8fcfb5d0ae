"""``keras.preprocessing``: ``image.ImageDataGenerator`` (tf.keras's, see ``fastconv.image_data_generator``)."""

from fastconv.keras.preprocessing import image
from fastconv.layers.keras_names import KERAS_MODULE_NAMES, missing_name

__all__ = ["image"]


def __getattr__(name):  # PEP 562: a Keras name fastconv lacks raises NotImplementedError naming it
    raise missing_name(__name__, "keras.preprocessing", KERAS_MODULE_NAMES["keras.preprocessing"], name)
