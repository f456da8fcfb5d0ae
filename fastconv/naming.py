"""Keras's automatic names: ``snake_case`` class names and per-process counters (``conv2d``, ``conv2d_1``).

Layers, models, optimizers, losses and metrics all take their default names
from here, as Keras's do, so a program prints the same names in both.
"""

import re

_COUNTS = {}


def to_snake_case(name):
    """Keras's rule: ``'MaxPooling2D'`` -> ``'max_pooling2d'``, ``'ReLU'`` -> ``'re_lu'``.

    >>> to_snake_case("MaxPooling2D"), to_snake_case("RMSprop")
    ('max_pooling2d', 'rm_sprop')
    """
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


def unique_name(base):
    """``base``, then ``base_1``, ``base_2``, ... within this process."""
    count = _COUNTS.get(base, 0)
    _COUNTS[base] = count + 1
    return base if count == 0 else f"{base}_{count}"


def next_count(base):
    """How many times ``base`` has been counted, this one included (Keras's ``get_uid``: 1, 2, ...)."""
    _COUNTS[base] = _COUNTS.get(base, 0) + 1
    return _COUNTS[base]


def reset():
    """Forget every count: the next names are ``base`` again (``keras.backend.clear_session``)."""
    _COUNTS.clear()
