"""``keras.callbacks``."""

from fastconv.callbacks import Callback, EarlyStopping, History, ModelCheckpoint, ProgbarLogger, TerminateOnNaN

__all__ = ["Callback", "EarlyStopping", "History", "ModelCheckpoint", "ProgbarLogger", "TerminateOnNaN"]
