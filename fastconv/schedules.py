"""Keras 3's learning-rate schedules (``keras.optimizers.schedules``): ExponentialDecay, PiecewiseConstantDecay,
InverseTimeDecay, PolynomialDecay, CosineDecay (with warm-up) and CosineDecayRestarts, plus
``serialize``/``deserialize``.

A schedule maps the optimizer's step (``optimizer.iterations`` before the
update) to a learning rate, computed in float32 operation by operation as
Keras computes it. Pass one as an optimizer's ``learning_rate``; its
serialized form is Keras's, so ``.keras`` files with scheduled optimizers load
both ways.

>>> from fastconv import keras
>>> schedule = keras.optimizers.schedules.ExponentialDecay(0.1, decay_steps=10, decay_rate=0.5)
>>> float(schedule(10))
0.05000000074505806
"""

import math

import numpy as np

__all__ = ["CosineDecay", "CosineDecayRestarts", "ExponentialDecay", "InverseTimeDecay", "LearningRateSchedule",
           "PiecewiseConstantDecay", "PolynomialDecay", "deserialize", "serialize"]

KERAS_SCHEDULES = ("LearningRateSchedule", "ExponentialDecay", "PiecewiseConstantDecay", "PolynomialDecay",
                   "InverseTimeDecay", "CosineDecay", "CosineDecayRestarts", "serialize", "deserialize")
"""The names in Keras 3's ``keras.optimizers.schedules`` (all of them here; ``tests/test_keras_arguments.py``
checks the list against the installed Keras so that a new one is noticed)."""

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


def _check_positive(name, value):
    if value <= 0:
        raise ValueError(f"Argument `{name}` must be > 0. Received: {name}={value}")


class _DecayOverSteps(LearningRateSchedule):
    """What ``ExponentialDecay`` and ``InverseTimeDecay`` share: their arguments, config and ``step / decay_steps``
    (floored if ``staircase``)."""

    def __init__(self, initial_learning_rate, decay_steps, decay_rate, staircase, name):
        self.initial_learning_rate = initial_learning_rate
        self.decay_steps = decay_steps
        self.decay_rate = decay_rate
        self.staircase = staircase
        self.name = name
        _check_positive("decay_steps", decay_steps)

    def _steps_done(self, step):
        p = _f32(step) / _f32(self.decay_steps)
        return np.floor(p) if self.staircase else p

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate, "decay_steps": self.decay_steps,
                "decay_rate": self.decay_rate, "staircase": self.staircase, "name": self.name}


class ExponentialDecay(_DecayOverSteps):
    """``initial_learning_rate * decay_rate ** (step / decay_steps)``, the exponent floored if ``staircase``.

    >>> s = ExponentialDecay(1.0, decay_steps=2, decay_rate=0.5, staircase=True)
    >>> [float(s(t)) for t in range(4)]
    [1.0, 1.0, 0.5, 0.5]
    """

    def __init__(self, initial_learning_rate, decay_steps, decay_rate, staircase=False, name="ExponentialDecay"):
        super().__init__(initial_learning_rate, decay_steps, decay_rate, staircase, name)

    def __call__(self, step):
        return _f32(self.initial_learning_rate) * np.power(_f32(self.decay_rate), self._steps_done(step))


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
        _check_positive("decay_steps", decay_steps)

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


class InverseTimeDecay(_DecayOverSteps):
    """``initial_learning_rate / (1 + decay_rate * step / decay_steps)``, the quotient floored if ``staircase``.

    >>> s = InverseTimeDecay(1.0, decay_steps=2, decay_rate=1.0)
    >>> [round(float(s(t)), 6) for t in range(4)]
    [1.0, 0.666667, 0.5, 0.4]
    """

    def __init__(self, initial_learning_rate, decay_steps, decay_rate, staircase=False, name="InverseTimeDecay"):
        super().__init__(initial_learning_rate, decay_steps, decay_rate, staircase, name)

    def __call__(self, step):
        return _f32(self.initial_learning_rate) / (_f32(1) + _f32(self.decay_rate) * self._steps_done(step))


class PolynomialDecay(LearningRateSchedule):
    """From ``initial_learning_rate`` to ``end_learning_rate`` over ``decay_steps``::

        (initial_learning_rate - end_learning_rate) * (1 - t / decay_steps) ** power + end_learning_rate

    with ``t = min(step, decay_steps)``; with ``cycle``, ``t = step`` and ``decay_steps`` grows to the first
    multiple of itself at or above the step (``decay_steps`` itself at step 0), so the decay starts again.

    >>> s = PolynomialDecay(1.0, decay_steps=4, end_learning_rate=0.0)
    >>> [float(s(t)) for t in range(6)]
    [1.0, 0.75, 0.5, 0.25, 0.0, 0.0]
    """

    def __init__(self, initial_learning_rate, decay_steps, end_learning_rate=0.0001, power=1.0, cycle=False,
                 name="PolynomialDecay"):
        self.initial_learning_rate = initial_learning_rate
        self.decay_steps = decay_steps
        self.end_learning_rate = end_learning_rate
        self.power = power
        self.cycle = cycle
        self.name = name
        _check_positive("decay_steps", decay_steps)

    def __call__(self, step):
        lr0, end = _f32(self.initial_learning_rate), _f32(self.end_learning_rate)
        step, decay_steps = _f32(step), _f32(self.decay_steps)
        if self.cycle:
            decay_steps = decay_steps * (_f32(1) if step == 0 else np.ceil(step / decay_steps))
        else:
            step = np.minimum(step, decay_steps)
        p = step / decay_steps
        return (lr0 - end) * np.power(_f32(1) - p, _f32(self.power)) + end

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate, "decay_steps": self.decay_steps,
                "end_learning_rate": self.end_learning_rate, "power": self.power, "cycle": self.cycle,
                "name": self.name}


class CosineDecayRestarts(LearningRateSchedule):
    """Cosine decay with warm restarts (SGDR, Loshchilov & Hutter 2016).

    The first period lasts ``first_decay_steps``; period ``i`` lasts ``t_mul ** i`` times as long and starts
    at ``m_mul ** i`` times the initial rate. Within a period, at fraction ``f`` of it::

        initial_learning_rate * ((1 - alpha) * m_mul ** i * 0.5 * (1 + cos(pi * f)) + alpha)

    >>> s = CosineDecayRestarts(1.0, first_decay_steps=2, t_mul=1.0, m_mul=0.5)
    >>> [round(float(s(t)), 6) for t in range(5)]
    [1.0, 0.5, 0.5, 0.25, 0.25]
    """

    def __init__(self, initial_learning_rate, first_decay_steps, t_mul=2.0, m_mul=1.0, alpha=0.0, name="SGDRDecay"):
        self.initial_learning_rate = initial_learning_rate
        self.first_decay_steps = first_decay_steps
        self._t_mul = t_mul
        self._m_mul = m_mul
        self.alpha = alpha
        self.name = name
        _check_positive("first_decay_steps", first_decay_steps)

    def __call__(self, step):
        t_mul, m_mul, alpha = _f32(self._t_mul), _f32(self._m_mul), _f32(self.alpha)
        fraction = _f32(step) / _f32(self.first_decay_steps)
        if t_mul == 1:
            restart = np.floor(fraction)
            fraction = fraction - restart
        else:  # periods 1, t, t**2, ...: period i starts at (1 - t**i) / (1 - t) first periods
            restart = np.floor(np.log(_f32(1) - fraction * (_f32(1) - t_mul)) / np.log(t_mul))
            started = (_f32(1) - np.power(t_mul, restart)) / (_f32(1) - t_mul)
            fraction = (fraction - started) / np.power(t_mul, restart)
        cosine = _f32(0.5) * np.power(m_mul, restart) * (_f32(1) + np.cos(_f32(math.pi) * fraction))
        return _f32(self.initial_learning_rate) * ((_f32(1) - alpha) * cosine + alpha)

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate, "first_decay_steps": self.first_decay_steps,
                "t_mul": self._t_mul, "m_mul": self._m_mul, "alpha": self.alpha, "name": self.name}


_SCHEDULES = {cls.__name__: cls for cls in (ExponentialDecay, PiecewiseConstantDecay, InverseTimeDecay,
                                            PolynomialDecay, CosineDecay, CosineDecayRestarts)}


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
        raise ValueError(f"Could not interpret learning-rate schedule: {class_name}")
    return cls.from_config(dict(config.get("config", {})))
