"""``keras.optimizers.schedules``: Keras's names, each raising ``NotImplementedError`` (see ``fastconv.schedules``)."""

from fastconv.schedules import __getattr__  # noqa: F401  (PEP 562: looked up for every name used from here)

__all__ = []
