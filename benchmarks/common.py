"""Helpers shared by the benchmarks: the models trained, skipping unsupported asv points, GFLOP/s.

The textbook's Fashion-MNIST CNN is defined here once, for the asv suite and
the comparison scripts alike: :func:`textbook_cnn` (the same code builds it
from ``fastconv.keras`` and from Keras) and its PyTorch twin,
:func:`textbook_cnn_torch`; :func:`build_model` and :func:`build_torch_model`
add ``examples/small_cnns.py``'s small ResNet and MobileNet-style net. This module imports no framework at import time
(the comparison workers time their own imports, in Pythons that may lack some
of them). No benchmark lives here, and no name here starts with ``time_``,
``track_``, ``mem_``, ``peakmem_`` or ``timeraw_`` (asv would collect it).
"""

import gc
import importlib.util
import pathlib
import statistics
import time

MODELS = ("textbook", "resnet", "mobilenet")
"""The models ``compare_training.py --model`` trains: the textbook CNN and ``examples/small_cnns.py``'s two."""


def textbook_cnn(keras):
    """The textbook CNN, compiled, built from ``keras``: ``fastconv.keras`` or Keras itself.

    Conv2D(32, 3x3, relu, same), MaxPooling2D(2), Conv2D(64, 3x3, relu,
    same), MaxPooling2D(2), Flatten, Dense(100, relu), Dropout(0.4), Dense(10,
    softmax) on 28x28x1 images; Adam, sparse categorical cross-entropy and the
    accuracy metric. One program for both frameworks: that is the point of
    ``fastconv.keras``.
    """
    model = keras.Sequential([
        keras.Input(shape=(28, 28, 1)),
        keras.layers.Conv2D(32, kernel_size=3, activation="relu", padding="same"),
        keras.layers.MaxPooling2D(2),
        keras.layers.Conv2D(64, kernel_size=(3, 3), activation="relu", padding="same"),
        keras.layers.MaxPooling2D(2),
        keras.layers.Flatten(),
        keras.layers.Dense(100, activation="relu"),
        keras.layers.Dropout(0.4),
        keras.layers.Dense(10, activation="softmax"),
    ])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def textbook_cnn_torch():
    """:func:`textbook_cnn` in PyTorch (NCHW): the same layers and sizes, uncompiled.

    It returns logits: the softmax is in ``nn.CrossEntropyLoss``. Keras's Adam
    is ``torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-7)``.
    """
    from torch import nn

    return nn.Sequential(
        nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(3136, 100), nn.ReLU(), nn.Dropout(0.4), nn.Linear(100, 10))


def build_model(name, keras):
    """The compiled model ``name`` (one of :data:`MODELS`) built from ``keras``: ``fastconv.keras`` or Keras.

    ``resnet`` and ``mobilenet`` are ``examples/small_cnns.py``'s builders, so
    the benchmark times the very models the example trains.
    """
    if name == "textbook":
        return textbook_cnn(keras)
    path = pathlib.Path(__file__).resolve().parent.parent / "examples" / "small_cnns.py"
    spec = importlib.util.spec_from_file_location("small_cnns", path)
    examples = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(examples)
    return examples.MODELS[name](keras)


def build_torch_model(name):
    """:func:`build_model`'s model in PyTorch (NCHW, logits out): the same layers, sizes and BatchNorm settings.

    Keras's BatchNormalization (momentum 0.99, epsilon 1e-3) is
    ``nn.BatchNorm2d(momentum=0.01, eps=1e-3)``. Keras's 'same' padding of a
    strided 3x3 convolution on an even size puts the extra row and column at
    the bottom and right; PyTorch's ``padding=1`` puts one on each side: the
    output shapes and the work are the same.
    """
    if name == "textbook":
        return textbook_cnn_torch()
    import torch
    from torch import nn

    def conv_bn(cin, cout, kernel_size, stride=1, groups=1):
        return [nn.Conv2d(cin, cout, kernel_size, stride, padding=kernel_size // 2, groups=groups, bias=False),
                nn.BatchNorm2d(cout, eps=1e-3, momentum=0.01)]

    class Residual(nn.Module):
        def __init__(self, cin, cout, stride):
            super().__init__()
            self.body = nn.Sequential(*conv_bn(cin, cout, 3, stride), nn.ReLU(), *conv_bn(cout, cout, 3))
            self.shortcut = (nn.Sequential(*conv_bn(cin, cout, 1, stride)) if stride != 1 or cin != cout
                             else nn.Identity())

        def forward(self, x):
            return torch.relu(self.body(x) + self.shortcut(x))

    layers, cin = [*conv_bn(1, 32, 3), nn.ReLU()], 32
    if name == "resnet":
        for filters, stride in ((32, 1), (64, 2), (128, 2)):
            layers.append(Residual(cin, filters, stride))
            cin = filters
    else:
        for filters, stride in ((64, 1), (128, 2), (128, 1), (256, 2)):
            layers += [*conv_bn(cin, cin, 3, stride, groups=cin), nn.ReLU(), *conv_bn(cin, filters, 1), nn.ReLU()]
            cin = filters
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(cin, 10))


def require_supported(config):
    """Raise ``NotImplementedError`` (asv then skips the point) where ``config`` has no output.

    asv skips a parameter combination whose ``setup`` raises
    ``NotImplementedError``; a grid point where the window does not fit the
    (padded) input is not an operation at all.
    """
    from fastconv import shapes

    window = getattr(config, "kernel_size", None) or config.pool_size
    output = shapes.conv_output_shape(config.input_shape, window, 1, config.strides, config.padding)
    if min(output[1:3]) < 1:
        raise NotImplementedError(f"{config.label}: the window does not fit the input")


def median_seconds(fn, min_total=0.2, min_calls=3, max_calls=200):
    """Median wall time of one call of ``fn``, over at least ``min_calls`` calls lasting ``min_total`` seconds.

    Used by the ``track_*`` benchmarks, which report GFLOP/s: asv records
    whatever a ``track_`` method returns, so it has to time for itself. The
    caller has already called ``fn`` once (the JIT is warm). The garbage
    collector is off while timing, as in asv's own ``time_`` benchmarks.
    """
    samples = []
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        started = time.perf_counter()
        while len(samples) < min_calls or (time.perf_counter() - started < min_total and len(samples) < max_calls):
            start = time.perf_counter()
            fn()
            samples.append(time.perf_counter() - start)
    finally:
        if was_enabled:
            gc.enable()
    return statistics.median(samples)


def gflops_per_second(flops, fn):
    """``flops / median_seconds(fn) / 1e9``: the GFLOP/s that a ``track_`` benchmark returns."""
    return flops / median_seconds(fn) / 1e9
