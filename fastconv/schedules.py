"""Keras's learning-rate schedules (``keras.optimizers.schedules``), which fastconv does not implement yet.

Every name Keras 3 has there resolves to a ``NotImplementedError`` that says
so, rather than an ``AttributeError`` that reads like a typo. Optimizers take
a float ``learning_rate``; to change it during training, assign
``model.optimizer.learning_rate`` from a callback.

>>> from fastconv import keras
>>> keras.optimizers.schedules.ExponentialDecay(0.1, decay_steps=1000, decay_rate=0.9)  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
NotImplementedError: Learning-rate schedules (`keras.optimizers.schedules.ExponentialDecay`) are not ...
"""

__all__ = []

KERAS_SCHEDULES = ("LearningRateSchedule", "ExponentialDecay", "PiecewiseConstantDecay", "PolynomialDecay",
                   "InverseTimeDecay", "CosineDecay", "CosineDecayRestarts", "serialize", "deserialize")
"""The names in Keras 3's ``keras.optimizers.schedules``."""


def __getattr__(name):
    if name in KERAS_SCHEDULES:
        raise NotImplementedError(
            f"Learning-rate schedules (`keras.optimizers.schedules.{name}`) are not implemented in fastconv yet. "
            "Pass a float `learning_rate`, and change it during training with "
            "`model.optimizer.learning_rate = value` in a callback.")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
