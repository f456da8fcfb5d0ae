"""``keras.layers``: the layer classes under Keras's names (and Keras's aliases)."""

from fastconv.layers import (Activation, AveragePooling2D, AveragePool2D, AvgPool2D, BatchNormalization, Conv2D,
                             Convolution2D, Dense, Dropout, Flatten, GlobalAveragePooling2D, GlobalAvgPool2D,
                             GlobalMaxPool2D, GlobalMaxPooling2D, Input, InputLayer, Layer, MaxPool2D,
                             MaxPooling2D, ReLU)

__all__ = ["Activation", "AveragePooling2D", "AveragePool2D", "AvgPool2D", "BatchNormalization", "Conv2D",
           "Convolution2D", "Dense", "Dropout", "Flatten", "GlobalAveragePooling2D", "GlobalAvgPool2D",
           "GlobalMaxPool2D", "GlobalMaxPooling2D", "Input", "InputLayer", "Layer", "MaxPool2D", "MaxPooling2D",
           "ReLU"]
