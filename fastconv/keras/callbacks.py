"""``keras.callbacks``."""

from fastconv.layers.keras_names import KERAS_MODULE_NAMES, missing_name
from fastconv.callbacks import (BackupAndRestore, Callback, CSVLogger, EarlyStopping, History, LambdaCallback,
                                LearningRateScheduler, ModelCheckpoint, ProgbarLogger, ReduceLROnPlateau, TensorBoard,
                                TerminateOnNaN)

__all__ = ["BackupAndRestore", "CSVLogger", "Callback", "EarlyStopping", "History", "LambdaCallback",
           "LearningRateScheduler", "ModelCheckpoint", "ProgbarLogger", "ReduceLROnPlateau", "TensorBoard",
           "TerminateOnNaN"]


def __getattr__(name):  # PEP 562: a Keras name fastconv lacks raises NotImplementedError naming it
    raise missing_name(__name__, "keras.callbacks", KERAS_MODULE_NAMES["keras.callbacks"], name)
