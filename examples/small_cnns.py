"""The CNNs people build after the textbook, trained with fastconv: a small ResNet and a MobileNet-style net.

Both are Keras functional models written with ``from fastconv import keras``
(the same code runs with ``from tensorflow import keras``):

- ``small_resnet``: a 3x3 stem, then three residual stages (32, 64 and 128
  filters, the last two halving the resolution with strided convolutions),
  each block Conv2D -> BatchNormalization -> ReLU -> Conv2D ->
  BatchNormalization, added to its shortcut (a strided 1x1 convolution where
  the shape changes) with ``Add``, then ReLU; global average pooling and a
  softmax classifier.
- ``mobilenet_style``: a 3x3 stem, then depthwise separable blocks
  (DepthwiseConv2D -> BatchNormalization -> ReLU -> 1x1 Conv2D ->
  BatchNormalization -> ReLU) widening from 64 to 256 channels and striding
  twice; global average pooling and a softmax classifier.

Both train on Fashion-MNIST (an 80/20 train/validation split, Adam, batch 32,
random horizontal flips as augmentation), with EarlyStopping keeping the
best weights, and report validation and test accuracy and seconds per epoch.
``benchmarks/compare_training.py --model resnet`` (or ``mobilenet``) times
the same models against PyTorch and Keras.

Run: ``python examples/small_cnns.py --model resnet [--epochs 10] [--limit N]``.
"""

import argparse
import time

import numpy as np


def _inputs(keras, input_shape, preprocessing):
    """The model's input and what ``preprocessing`` (layers, e.g. augmentation) makes of it."""
    inputs = x = keras.Input(shape=input_shape)
    for layer in preprocessing:
        x = layer(x)
    return inputs, x


def _classifier(keras, inputs, x, classes, name):
    """Global average pooling and a softmax layer on ``x``: the model, compiled with Adam."""
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(classes, activation="softmax")(x)
    model = keras.Model(inputs, outputs, name=name)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def small_resnet(keras, input_shape=(28, 28, 1), classes=10, preprocessing=()):
    """A small ResNet (3 stages of one residual block each), compiled with Adam."""
    layers = keras.layers

    def conv_bn(x, filters, kernel_size, strides=1):
        x = layers.Conv2D(filters, kernel_size, strides=strides, padding="same", use_bias=False)(x)
        return layers.BatchNormalization()(x)

    def residual_block(x, filters, strides):
        shortcut = x
        if strides != 1 or x.shape[-1] != filters:
            shortcut = conv_bn(x, filters, 1, strides)
        y = layers.ReLU()(conv_bn(x, filters, 3, strides))
        y = conv_bn(y, filters, 3)
        return layers.ReLU()(layers.Add()([y, shortcut]))

    inputs, x = _inputs(keras, input_shape, preprocessing)
    x = layers.ReLU()(conv_bn(x, 32, 3))
    for filters, strides in ((32, 1), (64, 2), (128, 2)):
        x = residual_block(x, filters, strides)
    return _classifier(keras, inputs, x, classes, "small_resnet")


def mobilenet_style(keras, input_shape=(28, 28, 1), classes=10, preprocessing=()):
    """A MobileNet-style net of depthwise separable blocks, compiled with Adam."""
    layers = keras.layers

    def separable_block(x, filters, strides):
        x = layers.DepthwiseConv2D(3, strides=strides, padding="same", use_bias=False)(x)
        x = layers.ReLU()(layers.BatchNormalization()(x))
        x = layers.Conv2D(filters, 1, use_bias=False)(x)
        return layers.ReLU()(layers.BatchNormalization()(x))

    inputs, x = _inputs(keras, input_shape, preprocessing)
    x = layers.Conv2D(32, 3, padding="same", use_bias=False)(x)
    x = layers.ReLU()(layers.BatchNormalization()(x))
    for filters, strides in ((64, 1), (128, 2), (128, 1), (256, 2)):
        x = separable_block(x, filters, strides)
    return _classifier(keras, inputs, x, classes, "mobilenet_style")


MODELS = {"resnet": small_resnet, "mobilenet": mobilenet_style}
"""The builders by the name ``--model`` (here and in ``benchmarks/compare_training.py``) gives them."""


def main():
    from fastconv import keras

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=sorted(MODELS), default="resnet")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--limit", type=int, default=None, help="train on the first N images only (a quick try)")
    args = parser.parse_args()

    keras.utils.set_random_seed(args.seed)
    (train_input, train_target), (test_input, test_target) = keras.datasets.fashion_mnist.load_data()
    if args.limit:
        train_input, train_target = train_input[:args.limit], train_target[:args.limit]
    images = train_input.reshape(-1, 28, 28, 1).astype("float32") / 255.0
    order = np.random.default_rng(args.seed).permutation(len(images))
    n_val = len(order) // 5
    x_val, y_val = images[order[:n_val]], train_target[order[:n_val]]
    x_train, y_train = images[order[n_val:]], train_target[order[n_val:]]

    # Augmentation runs in fit only (predict and evaluate see the images as they are).
    model = MODELS[args.model](keras, preprocessing=[keras.layers.RandomFlip("horizontal", seed=args.seed)])
    model.summary()

    starts, seconds = [], []
    timer = keras.callbacks.LambdaCallback(
        on_epoch_begin=lambda epoch, logs: starts.append(time.perf_counter()),
        on_epoch_end=lambda epoch, logs: seconds.append(time.perf_counter() - starts[-1]))
    history = model.fit(x_train, y_train, epochs=args.epochs, batch_size=32, validation_data=(x_val, y_val),
                        callbacks=[keras.callbacks.EarlyStopping(patience=2, restore_best_weights=True), timer])
    _, val_accuracy = model.evaluate(x_val, y_val, verbose=0)
    _, test_accuracy = model.evaluate(test_input.reshape(-1, 28, 28, 1).astype("float32") / 255.0, test_target,
                                      verbose=0)
    print()
    print(f"model:                {args.model}")
    print(f"epochs run:           {len(history.epoch)}")
    print(f"validation accuracy:  {val_accuracy:.4f}")
    print(f"test accuracy:        {test_accuracy:.4f}")
    print(f"seconds per epoch:    {np.median(seconds):.1f} (median of {len(seconds)})")


if __name__ == "__main__":
    main()
