"""Helpers shared by the benchmarks: the textbook CNN, skipping unsupported asv points, GFLOP/s.

The textbook's Fashion-MNIST CNN is defined here once, for the asv suite and
the comparison scripts alike: :func:`textbook_cnn` (the same code builds it
from ``fastconv.keras`` and from Keras) and its PyTorch twin,
:func:`textbook_cnn_torch`. This module imports no framework at import time
(the comparison workers time their own imports, in Pythons that may lack some
of them). No benchmark lives here, and no name here starts with ``time_``,
``track_``, ``mem_``, ``peakmem_`` or ``timeraw_`` (asv would collect it).
"""

import gc
import statistics
import time


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
