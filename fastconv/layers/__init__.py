"""Keras layers over ``fastconv.ops``: thin classes that hold weights and configuration.

``base`` (Layer, Input, InputLayer, KerasTensor), ``conv`` (Conv2D),
``pooling`` (Max/Average/Global pooling), ``core`` (Dense, Flatten, Dropout,
Activation, ReLU), ``normalization`` (BatchNormalization).
"""

from fastconv.layers.base import Input, InputLayer, KerasTensor, Layer
from fastconv.layers.conv import Conv2D
from fastconv.layers.core import Activation, Dense, Dropout, Flatten, ReLU
from fastconv.layers.normalization import BatchNormalization
from fastconv.layers.pooling import AveragePooling2D, GlobalAveragePooling2D, GlobalMaxPooling2D, MaxPooling2D

Convolution2D = Conv2D
MaxPool2D = MaxPooling2D
AveragePool2D = AveragePooling2D
AvgPool2D = AveragePooling2D
GlobalAvgPool2D = GlobalAveragePooling2D
GlobalMaxPool2D = GlobalMaxPooling2D

__all__ = ["Activation", "AveragePool2D", "AveragePooling2D", "AvgPool2D", "BatchNormalization", "Conv2D",
           "Convolution2D", "Dense", "Dropout", "Flatten", "GlobalAveragePooling2D", "GlobalAvgPool2D",
           "GlobalMaxPool2D", "GlobalMaxPooling2D", "Input", "InputLayer", "KerasTensor", "LAYER_CLASSES", "Layer",
           "MaxPool2D", "MaxPooling2D", "ReLU"]

LAYER_CLASSES = {cls.__name__: cls for cls in (
    InputLayer, Conv2D, MaxPooling2D, AveragePooling2D, GlobalAveragePooling2D, GlobalMaxPooling2D, Dense,
    Flatten, Dropout, Activation, ReLU, BatchNormalization)}
"""Layer classes by Keras class name, for ``from_config`` and the ``.keras`` loader."""
