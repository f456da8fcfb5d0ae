"""``keras.callbacks``."""

from fastconv.callbacks import (Callback, CSVLogger, EarlyStopping, History, LambdaCallback, LearningRateScheduler,
                                ModelCheckpoint, ProgbarLogger, ReduceLROnPlateau, TerminateOnNaN)

__all__ = ["CSVLogger", "Callback", "EarlyStopping", "History", "LambdaCallback", "LearningRateScheduler",
           "ModelCheckpoint", "ProgbarLogger", "ReduceLROnPlateau", "TerminateOnNaN"]
