"""Keras layers over ``fastconv.ops``: thin classes that hold weights and configuration.

``base`` (Layer, Input, InputLayer, KerasTensor), ``conv`` (Conv2D), ``conv1d``
(Conv1D, Conv1DTranspose, DepthwiseConv1D, SeparableConv1D), ``conv_transpose`` (Conv2DTranspose),
``depthwise`` (DepthwiseConv2D, SeparableConv2D), ``pooling`` (Max/Average/Global pooling in 2-D),
``pooling1d`` (the same in 1-D), ``core`` (Dense, Flatten, Dropout, SpatialDropout1D/2D, GaussianNoise,
GaussianDropout, Activation, ReLU, ELU, PReLU, Softmax, Identity), ``normalization`` (BatchNormalization,
LayerNormalization, UnitNormalization, Normalization), ``reshaping`` (ZeroPadding1D/2D, Cropping1D/2D, UpSampling1D/2D,
Reshape, Permute, Rescaling, LeakyReLU), ``augmentation`` (RandomFlip, RandomTranslation,
RandomRotation, RandomZoom, RandomContrast), ``merging`` (Add, Subtract, Multiply,
Average, Maximum, Minimum, Concatenate and their functional forms).
"""

from fastconv.layers.augmentation import (RandomContrast, RandomFlip, RandomRotation, RandomTranslation,
                                          RandomZoom)
from fastconv.layers.base import Input, InputLayer, KerasTensor, Layer
from fastconv.layers.conv import Conv2D
from fastconv.layers.conv1d import Conv1D, Conv1DTranspose, DepthwiseConv1D, SeparableConv1D
from fastconv.layers.conv_transpose import Conv2DTranspose
from fastconv.layers.core import (ELU, Activation, Dense, Dropout, Flatten, GaussianDropout, GaussianNoise, Identity,
                                  Lambda, PReLU, ReLU, Softmax, SpatialDropout1D, SpatialDropout2D)
from fastconv.layers.depthwise import DepthwiseConv2D, SeparableConv2D
from fastconv.layers.merging import (Add, Average, Concatenate, Maximum, Minimum, Multiply, Subtract, add, average,
                                     concatenate, maximum, minimum, multiply, subtract)
from fastconv.layers.normalization import BatchNormalization, LayerNormalization, Normalization, UnitNormalization
from fastconv.layers.pooling import AveragePooling2D, GlobalAveragePooling2D, GlobalMaxPooling2D, MaxPooling2D
from fastconv.layers.pooling1d import AveragePooling1D, GlobalAveragePooling1D, GlobalMaxPooling1D, MaxPooling1D
from fastconv.layers.reshaping import (Cropping1D, Cropping2D, LeakyReLU, Permute, Reshape, Rescaling,
                                       UpSampling1D, UpSampling2D, ZeroPadding1D, ZeroPadding2D)

LAYER_CLASSES = {cls.__name__: cls for cls in (
    InputLayer, Conv1D, Conv2D, Conv1DTranspose, Conv2DTranspose, DepthwiseConv1D, DepthwiseConv2D, SeparableConv1D,
    SeparableConv2D, MaxPooling1D, MaxPooling2D, AveragePooling1D, AveragePooling2D,
    GlobalAveragePooling1D, GlobalAveragePooling2D, GlobalMaxPooling1D, GlobalMaxPooling2D, Dense, Flatten, Dropout,
    SpatialDropout1D, SpatialDropout2D, Activation, ReLU, Softmax, LeakyReLU, BatchNormalization, ZeroPadding1D,
    ZeroPadding2D, Cropping1D, Cropping2D, UpSampling1D, UpSampling2D, Reshape, Permute,
    RandomFlip, RandomTranslation, RandomRotation, RandomZoom, RandomContrast,
    Rescaling, Normalization, Add, Subtract, Multiply, Average, Maximum, Minimum, Concatenate, GaussianNoise,
    GaussianDropout, ELU, PReLU, Identity, LayerNormalization, UnitNormalization)}
"""Layer classes by Keras class name, for ``from_config`` and the ``.keras`` loader."""

Convolution1D = Conv1D
Convolution2D = Conv2D
Convolution1DTranspose = Conv1DTranspose
Convolution2DTranspose = Conv2DTranspose
SeparableConvolution1D = SeparableConv1D
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
           "AvgPool2D", "BatchNormalization", "Conv1D", "Conv1DTranspose", "Conv2D", "Conv2DTranspose",
           "Convolution1D", "Convolution1DTranspose", "Convolution2D", "Convolution2DTranspose", "Cropping1D",
           "Cropping2D", "DepthwiseConv1D", "DepthwiseConv2D", "SeparableConv1D", "SeparableConv2D",
           "SeparableConvolution1D", "SeparableConvolution2D", "SpatialDropout1D", "SpatialDropout2D",
           "Dense", "Dropout", "ELU", "Flatten", "GaussianDropout", "GaussianNoise", "Identity",
           "LayerNormalization", "PReLU", "UnitNormalization", "GlobalAveragePooling1D", "GlobalAveragePooling2D",
           "GlobalAvgPool1D",
           "GlobalAvgPool2D", "GlobalMaxPool1D", "GlobalMaxPool2D", "GlobalMaxPooling1D", "GlobalMaxPooling2D",
           "Input", "InputLayer", "KerasTensor", "LAYER_CLASSES", "Lambda", "Layer", "LeakyReLU", "MaxPool1D",
           "MaxPool2D", "MaxPooling1D", "MaxPooling2D", "Normalization", "Permute",
           "RandomContrast", "RandomFlip", "RandomRotation", "RandomTranslation", "RandomZoom",
           "ReLU", "Rescaling", "Reshape", "Softmax", "UpSampling1D", "UpSampling2D",
           "ZeroPadding1D", "ZeroPadding2D"]
