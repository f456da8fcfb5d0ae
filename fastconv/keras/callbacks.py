"""``keras.callbacks``."""

from fastconv.callbacks import (Callback, CSVLogger, EarlyStopping, History, LearningRateScheduler, ModelCheckpoint,
                                ProgbarLogger, ReduceLROnPlateau, TerminateOnNaN)

__all__ = ["CSVLogger", "Callback", "EarlyStopping", "History", "LearningRateScheduler", "ModelCheckpoint",
           "ProgbarLogger", "ReduceLROnPlateau", "TerminateOnNaN"]
