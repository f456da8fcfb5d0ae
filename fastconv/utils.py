"""``keras.utils``'s helpers that fastconv supports, and the one random generator of the library.

What lives here: ``to_categorical`` (one-hot encoding of class labels),
``set_random_seed`` and ``rng()``, the ``np.random.Generator`` that every
source of randomness in fastconv draws from (weight initializers, ``Dropout``,
shuffling in ``fit``). What does not: data loading (``fastconv.datasets``).

Always call ``rng()`` at the moment of drawing and never keep the generator it
returns: ``set_random_seed`` replaces it, and code holding the old one would
escape the seed.

>>> set_random_seed(1)
>>> first = rng().integers(0, 100, 3)
>>> set_random_seed(1)
>>> bool((rng().integers(0, 100, 3) == first).all())
True
"""

import random

import numpy as np

_SEED_LIMIT = 2 ** 32
"""Seeds must be below this: NumPy's legacy global generator (``np.random.seed``) takes no larger ones."""

_rng = np.random.default_rng()


def rng():
    """The ``np.random.Generator`` that fastconv draws all its random numbers from.

    Seeded from the operating system's entropy at import, and replaced by a
    generator seeded with ``seed`` on each call of ``set_random_seed(seed)``.
    Call it each time you draw; do not keep the generator it returns.

    Returns
    -------
    numpy.random.Generator
    """
    return _rng


def set_random_seed(seed):
    """Seed every random number generator a fastconv program uses, as ``keras.utils.set_random_seed`` does.

    Seeds Python's ``random``, NumPy's global generator (``np.random.seed``) and
    replaces ``fastconv.utils.rng()`` with ``np.random.default_rng(seed)``, so
    that two runs of the same program (weight initialization, dropout masks,
    the shuffling in ``fit``) give the same results to the last bit.

    Parameters
    ----------
    seed : int
        A non-negative integer below ``2**32``.

    Raises
    ------
    ValueError
        If ``seed`` is not such an integer.

    Examples
    --------
    >>> set_random_seed(42)
    >>> rng().integers(0, 10, 5)
    array([0, 7, 6, 4, 4])
    >>> set_random_seed(-1)
    Traceback (most recent call last):
    ...
    ValueError: Invalid value for argument `seed`. Expected a non-negative integer. Received: seed=-1
    """
    global _rng
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"Invalid value for argument `seed`. Expected a non-negative integer. "
                         f"Received: seed={seed!r}")
    if seed >= _SEED_LIMIT:
        raise ValueError(f"Invalid value for argument `seed`. Expected a non-negative integer below 2**32 "
                         f"(NumPy's global generator takes no larger seed). Received: seed={seed!r}")
    seed = int(seed)
    random.seed(seed)
    np.random.seed(seed)
    _rng = np.random.default_rng(seed)


def normalize(x, axis=-1, order=2):
    """``x`` divided by its ``order``-norm along ``axis`` (``keras.utils.normalize``); zero vectors stay zero.

    >>> normalize(np.array([[3.0, 4.0], [0.0, 0.0]]))
    array([[0.6, 0.8],
           [0. , 0. ]])
    """
    x = np.asarray(x)
    norm = np.atleast_1d(np.linalg.norm(x, order, axis))
    norm[norm == 0] = 1
    return x / np.expand_dims(norm, axis)


def to_categorical(x, num_classes=None):
    """One-hot encode integer class labels, as ``keras.utils.to_categorical`` does.

    A label ``k`` becomes a row of ``num_classes`` zeros with a one at index
    ``k``. The class axis is appended last; as in Keras, a trailing axis of
    length 1 is dropped first, so labels of shape ``(n, 1)`` give ``(n, num_classes)``.

    Parameters
    ----------
    x : array_like of int
        Class labels from 0 to ``num_classes - 1``, of any shape. Floats are
        accepted when every value is a whole number.
    num_classes : int, optional
        The number of classes. ``None`` (the default) takes ``max(x) + 1``.

    Returns
    -------
    numpy.ndarray of float32
        Shape ``x.shape + (num_classes,)``, or ``x.shape[:-1] + (num_classes,)``
        when ``x.ndim > 1`` and ``x.shape[-1] == 1``. Keras 3 returns float64
        for NumPy input; fastconv returns float32, the dtype it computes in
        (the values are the same).

    Raises
    ------
    ValueError
        If ``num_classes`` is not a positive integer, or a label is negative,
        not a whole number, or not below ``num_classes``.

    Examples
    --------
    >>> to_categorical([0, 2, 1])
    array([[1., 0., 0.],
           [0., 0., 1.],
           [0., 1., 0.]], dtype=float32)
    >>> to_categorical([[1], [3]], num_classes=4).shape
    (2, 4)
    """
    if num_classes is not None and (isinstance(num_classes, (bool, np.bool_))
                                    or not isinstance(num_classes, (int, np.integer)) or num_classes < 1):
        raise ValueError(f"Invalid value for argument `num_classes`. Expected a positive integer or None. "
                         f"Received: num_classes={num_classes!r}")
    labels = np.asarray(x)
    if labels.dtype.kind not in "biuf":
        raise ValueError(f"Invalid value for argument `x`. Expected integer class labels. "
                         f"Received: x with dtype {labels.dtype}")
    if labels.dtype.kind == "f":
        fractional = ~(np.isfinite(labels) & (labels == np.round(labels)))
        if fractional.any():
            where = _index_of_first(fractional)
            raise ValueError(f"Invalid value for argument `x`. Expected integer class labels. "
                             f"Received: {_element(where)}={labels[where].item()}")
    labels = labels.astype(np.int64)

    shape = labels.shape
    if len(shape) > 1 and shape[-1] == 1:
        shape = shape[:-1]
    if num_classes is None:
        if labels.size == 0:
            raise ValueError("Invalid value for argument `num_classes`. Expected a positive integer when `x` is "
                             "empty (there is no largest label to infer it from). Received: num_classes=None")
        negative = labels < 0
        if negative.any():
            where = _index_of_first(negative)
            raise ValueError(f"Invalid value for argument `x`. Expected non-negative integer class labels. "
                             f"Received: {_element(where)}={labels[where]}")
        num_classes = int(labels.max()) + 1
    num_classes = int(num_classes)
    outside = (labels < 0) | (labels >= num_classes)
    if outside.any():
        where = _index_of_first(outside)
        raise ValueError(f"Invalid value for argument `x`. Expected class labels from 0 to num_classes - 1 = "
                         f"{num_classes - 1}. Received: {_element(where)}={labels[where]}")

    flat = labels.reshape(-1)
    categorical = np.zeros((flat.size, num_classes), dtype=np.float32)
    categorical[np.arange(flat.size), flat] = 1.0
    return categorical.reshape(shape + (num_classes,))


def _index_of_first(mask):
    """The index of the first true element of ``mask``, as a tuple (``()`` for a 0-d mask)."""
    return tuple(int(i) for i in np.unravel_index(int(np.argmax(mask)), mask.shape))


def _element(index):
    """How an error message names ``x[index]``: ``x[3]``, ``x[1, 0]``, or ``x`` for a scalar."""
    return f"x[{', '.join(map(str, index))}]" if index else "x"
