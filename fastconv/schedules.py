"""Keras 3's learning-rate schedules (``keras.optimizers.schedules``): ExponentialDecay, PiecewiseConstantDecay
and CosineDecay (with warm-up), plus ``serialize``/``deserialize``.

A schedule maps the optimizer's step (``optimizer.iterations`` before the
update) to a learning rate, computed in float32 operation by operation as
Keras computes it. Pass one as an optimizer's ``learning_rate``; its
serialized form is Keras's, so ``.keras`` files with scheduled optimizers load
both ways. Keras's other schedules (``InverseTimeDecay``, ``PolynomialDecay``,
``CosineDecayRestarts``) are not here: their names raise ``NotImplementedError``.

>>> from fastconv import keras
>>> schedule = keras.optimizers.schedules.ExponentialDecay(0.1, decay_steps=10, decay_rate=0.5)
>>> float(schedule(10))
0.05000000074505806
>>> keras.optimizers.schedules.InverseTimeDecay(0.1, 10, 0.5)  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
NotImplementedError: The learning-rate schedule `keras.optimizers.schedules.InverseTimeDecay` is not ...
"""

import math

import numpy as np

__all__ = ["CosineDecay", "ExponentialDecay", "LearningRateSchedule", "PiecewiseConstantDecay", "deserialize",
           "serialize"]

KERAS_SCHEDULES = ("LearningRateSchedule", "ExponentialDecay", "PiecewiseConstantDecay", "PolynomialDecay",
                   "InverseTimeDecay", "CosineDecay", "CosineDecayRestarts", "serialize", "deserialize")
"""The names in Keras 3's ``keras.optimizers.schedules``."""

_f32 = np.float32


class LearningRateSchedule:
    """Base class: a schedule is called with the step and returns a float32 learning rate."""

    def __call__(self, step):
        raise NotImplementedError(
            f"Learning rate schedule '{type(self).__name__}' must override `__call__(self, step)`.")

    def get_config(self):
        raise NotImplementedError(f"Learning rate schedule '{type(self).__name__}' must override `get_config()` "
                                  "in order to be serializable.")

    @classmethod
    def from_config(cls, config):
        """A new schedule from ``get_config()``'s dict."""
        return cls(**config)


class ExponentialDecay(LearningRateSchedule):
    """``initial_learning_rate * decay_rate ** (step / decay_steps)``, the exponent floored if ``staircase``.

    >>> s = ExponentialDecay(1.0, decay_steps=2, decay_rate=0.5, staircase=True)
    >>> [float(s(t)) for t in range(4)]
    [1.0, 1.0, 0.5, 0.5]
    """

    def __init__(self, initial_learning_rate, decay_steps, decay_rate, staircase=False, name="ExponentialDecay"):
        self.initial_learning_rate = initial_learning_rate
        self.decay_steps = decay_steps
        self.decay_rate = decay_rate
        self.staircase = staircase
        self.name = name
        if self.decay_steps <= 0:
            raise ValueError(f"Argument `decay_steps` must be > 0. Received: decay_steps={self.decay_steps}")

    def __call__(self, step):
        p = _f32(step) / _f32(self.decay_steps)
        if self.staircase:
            p = np.floor(p)
        return _f32(self.initial_learning_rate) * np.power(_f32(self.decay_rate), p)

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate, "decay_steps": self.decay_steps,
                "decay_rate": self.decay_rate, "staircase": self.staircase, "name": self.name}


class PiecewiseConstantDecay(LearningRateSchedule):
    """``values[0]`` while ``step <= boundaries[0]``, ``values[i]`` while ``boundaries[i-1] < step <= boundaries[i]``,
    ``values[-1]`` after ``boundaries[-1]``.

    >>> s = PiecewiseConstantDecay([2, 4], [1.0, 0.5, 0.25])
    >>> [float(s(t)) for t in range(6)]
    [1.0, 1.0, 1.0, 0.5, 0.5, 0.25]
    """

    def __init__(self, boundaries, values, name="PiecewiseConstant"):
        if len(boundaries) != len(values) - 1:
            raise ValueError(
                "The length of boundaries should be 1 less than the length of values. Received: "
                f"boundaries={boundaries} of length {len(boundaries)}, and values={values} of length {len(values)}.")
        self.boundaries = boundaries
        self.values = values
        self.name = name

    def __call__(self, step):
        # The first range whose upper boundary the step has not passed (Keras sums masked values: same result).
        # Keras casts the boundaries to the step's dtype, so 2.5 is 2 for an integer step.
        step = np.asarray(step)
        boundaries = np.asarray(self.boundaries)
        if step.dtype.kind in "iu":
            boundaries = boundaries.astype(step.dtype)
        i = int(np.searchsorted(boundaries, step, side="left"))
        return _f32(self.values[i])

    def get_config(self):
        return {"boundaries": self.boundaries, "values": self.values, "name": self.name}


class CosineDecay(LearningRateSchedule):
    """Optional linear warm-up, then cosine decay to ``alpha`` times the peak over ``decay_steps``.

    Without ``warmup_target``, for ``t = min(step, decay_steps)``::

        initial_learning_rate * ((1 - alpha) * 0.5 * (1 + cos(pi * t / decay_steps)) + alpha)

    With it, the rate rises linearly from ``initial_learning_rate`` to
    ``warmup_target`` over ``warmup_steps``, then decays from ``warmup_target``
    as above over the next ``decay_steps``.

    >>> s = CosineDecay(1.0, decay_steps=2)
    >>> [round(float(s(t)), 6) for t in range(4)]
    [1.0, 0.5, 0.0, 0.0]
    """

    def __init__(self, initial_learning_rate, decay_steps, alpha=0.0, name="CosineDecay", warmup_target=None,
                 warmup_steps=0):
        self.initial_learning_rate = initial_learning_rate
        self.decay_steps = decay_steps
        self.alpha = alpha
        self.name = name
        self.warmup_steps = warmup_steps
        self.warmup_target = warmup_target
        if self.decay_steps <= 0:
            raise ValueError(f"Argument `decay_steps` must be > 0. Received: decay_steps={self.decay_steps}")

    def _decay(self, step, decay_steps, decay_from_lr):
        fraction = step / decay_steps
        cosine = _f32(0.5) * (_f32(1.0) + np.cos(_f32(math.pi) * fraction))
        return decay_from_lr * (_f32(1 - self.alpha) * cosine + _f32(self.alpha))

    def __call__(self, step):
        lr0 = _f32(self.initial_learning_rate)
        decay_steps = _f32(self.decay_steps)
        step = _f32(step)
        if self.warmup_target is None:
            return self._decay(np.minimum(step, decay_steps), decay_steps, lr0)
        target = _f32(self.warmup_target)
        warmup_steps = _f32(self.warmup_steps)
        step = np.minimum(step, decay_steps + warmup_steps)
        if step < warmup_steps:
            return (target - lr0) * (step / warmup_steps) + lr0
        return self._decay(step - warmup_steps, decay_steps, target)

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate, "decay_steps": self.decay_steps,
                "alpha": self.alpha, "name": self.name, "warmup_target": self.warmup_target,
                "warmup_steps": self.warmup_steps}


_SCHEDULES = {cls.__name__: cls for cls in (ExponentialDecay, PiecewiseConstantDecay, CosineDecay)}


def serialize(learning_rate_schedule):
    """Keras's serialized form: ``{"module": "keras.optimizers.schedules", "class_name", "config",
    "registered_name": None}``."""
    return {"module": "keras.optimizers.schedules", "class_name": type(learning_rate_schedule).__name__,
            "config": learning_rate_schedule.get_config(), "registered_name": None}


def deserialize(config, custom_objects=None):
    """A schedule from ``serialize``'s dict (only ``class_name`` and ``config`` are read)."""
    class_name = config["class_name"]
    if custom_objects and class_name in custom_objects:
        return custom_objects[class_name].from_config(dict(config.get("config", {})))
    cls = _SCHEDULES.get(class_name)
    if cls is None:
        if class_name in KERAS_SCHEDULES:
            __getattr__(class_name)
        raise ValueError(f"Could not interpret learning-rate schedule: {class_name}")
    return cls.from_config(dict(config.get("config", {})))


def __getattr__(name):
    if name in KERAS_SCHEDULES:
        raise NotImplementedError(
            f"The learning-rate schedule `keras.optimizers.schedules.{name}` is not implemented in fastconv yet. "
            f"Implemented: {', '.join(_SCHEDULES)}.")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
