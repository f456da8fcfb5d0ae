"""Weight initializers with Keras's names, defaults and variance-scaling formulas.

Every initializer is called as ``init(shape, dtype)`` and draws from
``fastconv.utils.rng()`` unless it was given a ``seed``, so
``keras.utils.set_random_seed`` makes model construction reproducible.

For a kernel of shape ``(..., fan_in_axis, fan_out_axis)`` with receptive
field ``r = prod(shape[:-2])``: ``fan_in = shape[-2] * r`` and
``fan_out = shape[-1] * r``. ``VarianceScaling(scale, mode, distribution)``
draws with variance ``scale / n`` where ``n`` is ``fan_in``, ``fan_out`` or
their mean; the uniform variant uses ``limit = sqrt(3 * scale / n)``; the
truncated normal is cut at two standard deviations and rescaled by
``0.87962566103423978`` as in Keras.
"""

import numpy as np

from fastconv import utils

_TRUNCATION_STDDEV_CORRECTION = 0.87962566103423978


def compute_fans(shape):
    """``(fan_in, fan_out)`` of a weight shape, as Keras computes them.

    >>> compute_fans((3, 3, 1, 32))
    (9, 288)
    """
    shape = tuple(shape)
    if len(shape) == 0:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    receptive = int(np.prod(shape[:-2])) if len(shape) > 2 else 1
    return shape[-2] * receptive, shape[-1] * receptive


class Initializer:
    """Base class: ``__call__(shape, dtype)`` returns a new array; ``get_config`` gives Keras's config."""

    def __init__(self, seed=None):
        if seed is not None and not (isinstance(seed, int) and seed >= 0):
            raise ValueError(f"Invalid value for argument `seed`. Expected a non-negative integer or None. "
                             f"Received: seed={seed!r}")
        self.seed = seed

    def _rng(self):
        return utils.rng() if self.seed is None else np.random.default_rng(self.seed)

    def get_config(self):
        return {"seed": self.seed}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        # Keras 3.15 writes these for its variance-scaling initializers; only their default (None) means the same here.
        for key in ("input_axes", "output_axes"):
            if config.get(key, None) is None:
                config.pop(key, None)
        return cls(**config)


class Zeros(Initializer):
    def __init__(self):
        super().__init__()

    def __call__(self, shape, dtype="float32"):
        return np.zeros(shape, dtype)

    def get_config(self):
        return {}


class Ones(Zeros):
    def __call__(self, shape, dtype="float32"):
        return np.ones(shape, dtype)


class Constant(Initializer):
    def __init__(self, value=0.0):
        super().__init__()
        self.value = value

    def __call__(self, shape, dtype="float32"):
        return np.full(shape, self.value, dtype)

    def get_config(self):
        return {"value": self.value}


class RandomNormal(Initializer):
    def __init__(self, mean=0.0, stddev=0.05, seed=None):
        super().__init__(seed)
        self.mean, self.stddev = mean, stddev

    def __call__(self, shape, dtype="float32"):
        return self._rng().normal(self.mean, self.stddev, shape).astype(dtype)

    def get_config(self):
        return {"mean": self.mean, "stddev": self.stddev, "seed": self.seed}


class TruncatedNormal(RandomNormal):
    def __call__(self, shape, dtype="float32"):
        return (self.mean + self.stddev * _truncated_standard_normal(self._rng(), shape)).astype(dtype)


class RandomUniform(Initializer):
    def __init__(self, minval=-0.05, maxval=0.05, seed=None):
        super().__init__(seed)
        self.minval, self.maxval = minval, maxval

    def __call__(self, shape, dtype="float32"):
        return self._rng().uniform(self.minval, self.maxval, shape).astype(dtype)

    def get_config(self):
        return {"minval": self.minval, "maxval": self.maxval, "seed": self.seed}


class VarianceScaling(Initializer):
    def __init__(self, scale=1.0, mode="fan_in", distribution="truncated_normal", seed=None):
        super().__init__(seed)
        if mode not in ("fan_in", "fan_out", "fan_avg"):
            raise ValueError("Invalid value for argument `mode`. Expected 'fan_in', 'fan_out' or 'fan_avg'. "
                             f"Received: mode={mode!r}")
        if distribution not in ("truncated_normal", "untruncated_normal", "uniform"):
            raise ValueError("Invalid value for argument `distribution`. Expected 'truncated_normal', "
                             f"'untruncated_normal' or 'uniform'. Received: distribution={distribution!r}")
        self.scale, self.mode, self.distribution = scale, mode, distribution

    def __call__(self, shape, dtype="float32"):
        fan_in, fan_out = compute_fans(shape)
        n = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2}[self.mode]
        variance = self.scale / max(1.0, n)
        rng = self._rng()
        if self.distribution == "uniform":
            limit = np.sqrt(3.0 * variance)
            values = rng.uniform(-limit, limit, shape)
        elif self.distribution == "untruncated_normal":
            values = rng.normal(0.0, np.sqrt(variance), shape)
        else:
            stddev = np.sqrt(variance) / _TRUNCATION_STDDEV_CORRECTION
            values = stddev * _truncated_standard_normal(rng, shape)
        return values.astype(dtype)

    def get_config(self):
        return {"scale": self.scale, "mode": self.mode, "distribution": self.distribution, "seed": self.seed}


def _variance_scaling_preset(class_name, scale, mode, distribution):
    """A Keras preset of :class:`VarianceScaling` whose config holds only ``seed``."""

    def __init__(self, seed=None):
        VarianceScaling.__init__(self, scale, mode, distribution, seed)

    def get_config(self):
        return {"seed": self.seed}

    doc = f"``VarianceScaling({scale}, {mode!r}, {distribution!r})``."
    return type(class_name, (VarianceScaling,), {"__init__": __init__, "get_config": get_config, "__doc__": doc})


GlorotUniform = _variance_scaling_preset("GlorotUniform", 1.0, "fan_avg", "uniform")
GlorotNormal = _variance_scaling_preset("GlorotNormal", 1.0, "fan_avg", "truncated_normal")
HeUniform = _variance_scaling_preset("HeUniform", 2.0, "fan_in", "uniform")
HeNormal = _variance_scaling_preset("HeNormal", 2.0, "fan_in", "truncated_normal")
LecunUniform = _variance_scaling_preset("LecunUniform", 1.0, "fan_in", "uniform")
LecunNormal = _variance_scaling_preset("LecunNormal", 1.0, "fan_in", "truncated_normal")


def _truncated_standard_normal(rng, shape):
    """Standard normal samples redrawn until all lie within two standard deviations."""
    values = rng.standard_normal(shape)
    outside = np.abs(values) > 2
    while outside.any():
        values[outside] = rng.standard_normal(int(outside.sum()))
        outside = np.abs(values) > 2
    return values


_CLASSES = {cls.__name__: cls for cls in (
    Zeros, Ones, Constant, RandomNormal, TruncatedNormal, RandomUniform, VarianceScaling,
    GlorotUniform, GlorotNormal, HeUniform, HeNormal, LecunUniform, LecunNormal)}
_SNAKE_NAMES = {"zeros": Zeros, "ones": Ones, "constant": Constant, "random_normal": RandomNormal,
                "truncated_normal": TruncatedNormal, "random_uniform": RandomUniform,
                "variance_scaling": VarianceScaling, "glorot_uniform": GlorotUniform,
                "glorot_normal": GlorotNormal, "he_uniform": HeUniform, "he_normal": HeNormal,
                "lecun_uniform": LecunUniform, "lecun_normal": LecunNormal}


def get(identifier, argument="kernel_initializer"):
    """Resolve a name (``'glorot_uniform'``), a config dict or an :class:`Initializer` to an initializer; None
    is Keras's default for a weight (``add_weight``'s): ``GlorotUniform`` (``Dense(bias_initializer=None)``,
    as TensorFlow's imbalanced-data tutorial passes it)."""
    if identifier is None:
        return GlorotUniform()
    if isinstance(identifier, Initializer):
        return identifier
    if isinstance(identifier, str):
        cls = _SNAKE_NAMES.get(identifier.lower()) or _CLASSES.get(identifier)
        if cls is not None:
            return cls()
    if isinstance(identifier, dict) and identifier.get("class_name") in _CLASSES:
        return _CLASSES[identifier["class_name"]].from_config(identifier.get("config") or {})
    raise ValueError(
        f"Invalid value for argument `{argument}`. Expected one of {sorted(_SNAKE_NAMES)}, an initializer "
        f"object or its serialized dict. Received: {argument}={identifier!r}"
    )


def serialize(initializer):
    """Keras's serialized form: ``{"module": "keras.initializers", "class_name": ..., "config": ...}``."""
    return {"module": "keras.initializers", "class_name": type(initializer).__name__,
            "config": initializer.get_config(), "registered_name": None}
