"""``fastconv.utils``: ``to_categorical`` against real Keras, ``set_random_seed`` and ``rng()``.

The module's doctests run once, in pytest's ``--doctest-modules`` pass over ``fastconv/``.
"""

import random
import re
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from fastconv import initializers, utils
from keras_reference import keras


@pytest.fixture(autouse=True)
def restore_random_state():
    """Leave every generator as the test found it, so seeding here does not leak into other tests."""
    saved = utils._rng, random.getstate(), np.random.get_state()
    yield
    utils._rng = saved[0]
    random.setstate(saved[1])
    np.random.set_state(saved[2])


# ---------------------------------------------------------------------- to_categorical


def _assert_like_keras(x, num_classes=None):
    ours = utils.to_categorical(x, num_classes)
    theirs = keras.utils.to_categorical(np.asarray(x), num_classes)
    assert ours.dtype == np.float32  # Keras 3 gives float64 for NumPy input; the values are the same
    assert ours.shape == theirs.shape
    np.testing.assert_array_equal(ours, theirs)


@pytest.mark.parametrize("x, num_classes", [
    ([0, 1, 2, 3], None),
    ([0, 1, 2, 3], 4),
    ([3, 1], 10),
    (np.array([[1], [3], [0]]), None),  # (n, 1): the trailing 1 is dropped, as in Keras
    (np.array([[1], [3], [0]]), 5),
    (np.array([[1, 2], [0, 4]]), None),  # (n, 2) stays: (2, 2, 5)
    (np.array([[[1]], [[2]]]), 3),  # (2, 1, 1): only the last axis is dropped
    (np.array([1]), 2),  # (1,): not dropped, one dimension only
    (np.array(2), 4),  # a scalar gives one row
    (np.array([0, 2, 1], dtype=np.uint8), None),
    (np.array([0.0, 2.0, 1.0]), None),  # whole-number floats, e.g. labels kept as float
    ([True, False], None),
])
def test_to_categorical_like_keras(x, num_classes):
    _assert_like_keras(x, num_classes)


@given(labels=hnp.arrays(np.int64, hnp.array_shapes(min_dims=1, max_dims=3, max_side=5),
                         elements=st.integers(0, 6)),
       extra=st.integers(0, 3), infer=st.booleans())
def test_to_categorical_like_keras_on_drawn_labels(labels, extra, infer):
    _assert_like_keras(labels, None if infer else int(labels.max()) + 1 + extra)


def test_to_categorical_of_real_labels():
    y = np.array([9, 0, 0, 3, 0, 2, 7, 2, 5, 5], dtype=np.uint8)
    one_hot = utils.to_categorical(y)
    assert one_hot.shape == (10, 10)
    np.testing.assert_array_equal(one_hot.argmax(axis=1), y)
    np.testing.assert_array_equal(one_hot.sum(axis=1), 1)


def test_to_categorical_empty_with_num_classes():
    assert utils.to_categorical(np.zeros(0, dtype=int), 3).shape == (0, 3)


@pytest.mark.parametrize("x, num_classes, message", [
    ([0, -1, 2], None, "Invalid value for argument `x`. Expected non-negative integer class labels. "
                       "Received: x[1]=-1"),
    ([0, -1, 2], 3, "Invalid value for argument `x`. Expected class labels from 0 to num_classes - 1 = 2. "
                    "Received: x[1]=-1"),
    ([[0], [5]], 3, "Invalid value for argument `x`. Expected class labels from 0 to num_classes - 1 = 2. "
                    "Received: x[1, 0]=5"),
    ([0, 3], 3, "Invalid value for argument `x`. Expected class labels from 0 to num_classes - 1 = 2. "
                "Received: x[1]=3"),
    (7, 3, "Invalid value for argument `x`. Expected class labels from 0 to num_classes - 1 = 2. Received: x=7"),
    ([0.0, 1.5], None, "Invalid value for argument `x`. Expected integer class labels. Received: x[1]=1.5"),
    ([0.0, np.nan], 3, "Invalid value for argument `x`. Expected integer class labels. Received: x[1]=nan"),
    (["a", "b"], None, "Invalid value for argument `x`. Expected integer class labels. Received: x with dtype <U1"),
    ([], None, "Invalid value for argument `num_classes`. Expected a positive integer when `x` is empty"),
    ([0, 1], 0, "Invalid value for argument `num_classes`. Expected a positive integer or None. "
                "Received: num_classes=0"),
    ([0, 1], 2.0, "Invalid value for argument `num_classes`. Expected a positive integer or None. "
                  "Received: num_classes=2.0"),
    ([0, 1], True, "Invalid value for argument `num_classes`. Expected a positive integer or None. "
                   "Received: num_classes=True"),
])
def test_to_categorical_errors(x, num_classes, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        utils.to_categorical(x, num_classes)


def test_to_categorical_accepts_numpy_integer_num_classes():
    np.testing.assert_array_equal(utils.to_categorical([1], np.int64(3)), [[0, 1, 0]])


# ---------------------------------------------------------------------- set_random_seed and rng


def _draws():
    return random.random(), np.random.rand(), utils.rng().random(), initializers.GlorotUniform()((3, 4))


def test_set_random_seed_repeats_every_generator():
    utils.set_random_seed(123)
    first = _draws()
    utils.set_random_seed(123)
    second = _draws()
    assert first[:3] == second[:3]
    np.testing.assert_array_equal(first[3], second[3])
    utils.set_random_seed(124)
    assert _draws()[:3] != first[:3]


def test_set_random_seed_seeds_like_keras():
    # Keras seeds Python's and NumPy's global generators with the seed itself.
    utils.set_random_seed(7)
    ours = random.random(), np.random.rand()
    keras.utils.set_random_seed(7)
    assert (random.random(), np.random.rand()) == ours


def test_set_random_seed_replaces_the_generator():
    before = utils.rng()
    utils.set_random_seed(5)
    assert utils.rng() is not before and isinstance(utils.rng(), np.random.Generator)
    assert utils.rng().random() == np.random.default_rng(5).random()


def test_set_random_seed_accepts_numpy_integers():
    utils.set_random_seed(np.int64(5))
    assert utils.rng().random() == np.random.default_rng(5).random()


def test_rng_is_not_seeded_the_same_in_two_processes():
    program = "import fastconv.utils as u; print(u.rng().integers(2**62))"
    runs = {subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, check=True).stdout
            for _ in range(2)}
    assert len(runs) == 2


@pytest.mark.parametrize("seed, message", [
    (-1, "Invalid value for argument `seed`. Expected a non-negative integer. Received: seed=-1"),
    (1.5, "Invalid value for argument `seed`. Expected a non-negative integer. Received: seed=1.5"),
    ("1", "Invalid value for argument `seed`. Expected a non-negative integer. Received: seed='1'"),
    (None, "Invalid value for argument `seed`. Expected a non-negative integer. Received: seed=None"),
    (True, "Invalid value for argument `seed`. Expected a non-negative integer. Received: seed=True"),
    (2 ** 32, "Invalid value for argument `seed`. Expected a non-negative integer below 2**32 (NumPy's global "
              "generator takes no larger seed). Received: seed=4294967296"),
])
def test_set_random_seed_errors(seed, message):
    before = utils.rng()
    with pytest.raises(ValueError, match=re.escape(message)):
        utils.set_random_seed(seed)
    assert utils.rng() is before


def test_largest_seed():
    utils.set_random_seed(2 ** 32 - 1)
    assert utils.rng().random() == np.random.default_rng(2 ** 32 - 1).random()


@pytest.mark.parametrize("axis, order", [(-1, 2), (1, 1)])
def test_normalize_like_keras(axis, order):
    x = np.random.default_rng(4).standard_normal((4, 3))
    x[1] = 0  # a zero vector stays zero
    np.testing.assert_allclose(utils.normalize(x, axis, order), keras.utils.normalize(x, axis, order), rtol=1e-12)
    # Along axis 0 (which Keras 3.15 reads as -1, `axis or -1`, and fails on): each column over its norm.
    np.testing.assert_allclose(utils.normalize(x, 0), x / np.sqrt((x * x).sum(axis=0)), rtol=1e-12)
