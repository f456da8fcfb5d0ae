"""``keras.optimizers.schedules``: Keras's learning-rate schedules under Keras's names."""

from fastconv.schedules import (CosineDecay, CosineDecayRestarts, ExponentialDecay, InverseTimeDecay,
                                LearningRateSchedule, PiecewiseConstantDecay, PolynomialDecay, deserialize, serialize)

__all__ = ["CosineDecay", "CosineDecayRestarts", "ExponentialDecay", "InverseTimeDecay", "LearningRateSchedule",
           "PiecewiseConstantDecay", "PolynomialDecay", "deserialize", "serialize"]
