"""``keras.optimizers.schedules``: Keras's names; the ones fastconv lacks raise ``NotImplementedError``."""

from fastconv.schedules import __getattr__  # noqa: F401  (PEP 562: Keras names fastconv does not implement)
from fastconv.schedules import (CosineDecay, ExponentialDecay, LearningRateSchedule, PiecewiseConstantDecay,
                                deserialize, serialize)

__all__ = ["CosineDecay", "ExponentialDecay", "LearningRateSchedule", "PiecewiseConstantDecay", "deserialize",
           "serialize"]
