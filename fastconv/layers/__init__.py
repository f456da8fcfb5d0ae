"""Keras layers over ``fastconv.ops``: thin classes that hold weights and configuration.

``base`` (Layer, Input, InputLayer, KerasTensor), ``conv`` (Conv2D), ``conv1d``
(Conv1D), ``conv_transpose`` (Conv2DTranspose), ``depthwise`` (DepthwiseConv2D,
SeparableConv2D), ``pooling`` (Max/Average/Global pooling in 2-D), ``pooling1d`` (the same
in 1-D), ``core`` (Dense, Flatten, Dropout, Activation, ReLU), ``normalization``
(BatchNormalization), ``reshaping`` (ZeroPadding2D, Cropping2D, UpSampling2D,
Reshape, Permute, Rescaling, LeakyReLU), ``augmentation`` (RandomFlip, RandomTranslation,
RandomRotation, RandomZoom, RandomContrast), ``merging`` (Add, Subtract, Multiply,
Average, Maximum, Minimum, Concatenate and their functional forms).
"""

from fastconv.layers.augmentation import (RandomContrast, RandomFlip, RandomRotation, RandomTranslation,
                                          RandomZoom)
from fastconv.layers.base import Input, InputLayer, KerasTensor, Layer
from fastconv.layers.conv import Conv2D
from fastconv.layers.conv1d import Conv1D
from fastconv.layers.conv_transpose import Conv2DTranspose
from fastconv.layers.core import Activation, Dense, Dropout, Flatten, ReLU
from fastconv.layers.depthwise import DepthwiseConv2D, SeparableConv2D
from fastconv.layers.merging import (Add, Average, Concatenate, Maximum, Minimum, Multiply, Subtract, add, average,
                                     concatenate, maximum, minimum, multiply, subtract)
from fastconv.layers.normalization import BatchNormalization
from fastconv.layers.pooling import AveragePooling2D, GlobalAveragePooling2D, GlobalMaxPooling2D, MaxPooling2D
from fastconv.layers.pooling1d import AveragePooling1D, GlobalAveragePooling1D, GlobalMaxPooling1D, MaxPooling1D
from fastconv.layers.reshaping import (Cropping2D, LeakyReLU, Permute, Reshape, Rescaling, UpSampling2D,
                                       ZeroPadding2D)

LAYER_CLASSES = {cls.__name__: cls for cls in (
    InputLayer, Conv1D, Conv2D, Conv2DTranspose,
    DepthwiseConv2D, SeparableConv2D, MaxPooling1D, MaxPooling2D, AveragePooling1D, AveragePooling2D,
    GlobalAveragePooling1D, GlobalAveragePooling2D, GlobalMaxPooling1D, GlobalMaxPooling2D, Dense, Flatten, Dropout,
    Activation, ReLU, LeakyReLU, BatchNormalization, ZeroPadding2D, Cropping2D, UpSampling2D, Reshape, Permute,
    RandomFlip, RandomTranslation, RandomRotation, RandomZoom, RandomContrast,
    Rescaling, Add, Subtract, Multiply, Average, Maximum, Minimum, Concatenate)}
"""Layer classes by Keras class name, for ``from_config`` and the ``.keras`` loader."""

Convolution1D = Conv1D
Convolution2D = Conv2D
Convolution2DTranspose = Conv2DTranspose
SeparableConvolution2D = SeparableConv2D
MaxPool1D = MaxPooling1D
MaxPool2D = MaxPooling2D
AveragePool1D = AvgPool1D = AveragePooling1D
AveragePool2D = AvgPool2D = AveragePooling2D
GlobalAvgPool1D = GlobalAveragePooling1D
GlobalAvgPool2D = GlobalAveragePooling2D
GlobalMaxPool1D = GlobalMaxPooling1D
GlobalMaxPool2D = GlobalMaxPooling2D

__all__ = ["Activation", "Add", "Average", "Concatenate", "Maximum", "Minimum", "Multiply", "Subtract", "add",
           "average", "concatenate", "maximum", "minimum", "multiply", "subtract",
           "AveragePool1D", "AveragePool2D", "AveragePooling1D", "AveragePooling2D", "AvgPool1D",
           "AvgPool2D", "BatchNormalization", "Conv1D", "Conv2D", "Conv2DTranspose", "Convolution1D", "Convolution2D",
           "Convolution2DTranspose", "Cropping2D",
           "DepthwiseConv2D", "SeparableConv2D", "SeparableConvolution2D",
           "Dense", "Dropout", "Flatten", "GlobalAveragePooling1D", "GlobalAveragePooling2D", "GlobalAvgPool1D",
           "GlobalAvgPool2D", "GlobalMaxPool1D", "GlobalMaxPool2D", "GlobalMaxPooling1D", "GlobalMaxPooling2D",
           "Input", "InputLayer", "KerasTensor", "LAYER_CLASSES", "Layer", "LeakyReLU", "MaxPool1D", "MaxPool2D",
           "MaxPooling1D", "MaxPooling2D", "Permute",
           "RandomContrast", "RandomFlip", "RandomRotation", "RandomTranslation", "RandomZoom",
           "ReLU", "Rescaling", "Reshape", "UpSampling2D",
           "ZeroPadding2D"]
