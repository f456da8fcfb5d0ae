"""Shared test settings: the hypothesis profile, the ``bounds`` marker, seeded random data, and every test's
random numbers seeded from its id."""

import os
import zlib

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

# deadline=None: the first example of a dtype may include numba compilation.
settings.register_profile(
    "fastconv", max_examples=50, deadline=None, print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
# HYPOTHESIS_PROFILE=thorough for a long bug hunt before a release.
settings.register_profile("thorough", parent=settings.get_profile("fastconv"), max_examples=2000)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "fastconv"))

DTYPES = [np.float32, np.float64]


def pytest_configure(config):
    config.addinivalue_line(
        "markers",
        "bounds: a comparison that tests/test_boundscheck.py reruns with NUMBA_BOUNDSCHECK=1",
    )


@pytest.fixture(params=DTYPES, ids=lambda d: np.dtype(d).name)
def dtype(request):
    """float32 and float64, the two dtypes fastconv computes in."""
    return np.dtype(request.param)


@pytest.fixture
def rng(request):
    """A generator seeded from the test's id, so every test sees the same data on every run."""
    return np.random.default_rng(zlib.crc32(request.node.nodeid.encode()))


@pytest.fixture(autouse=True)
def seeded_fastconv(request):
    """Every test starts with fastconv's random numbers (weights, dropout, shuffling in ``fit``; NumPy's and
    Python's global generators too) seeded from its id, as ``keras.utils.set_random_seed`` would: a test that
    trains a model and bounds its loss sees the same run every time (unseeded, one did not, once in many runs)."""
    from fastconv import utils
    utils.set_random_seed(zlib.crc32(request.node.nodeid.encode()))


@pytest.fixture
def restore_threads():
    """fastconv's thread count is set back to what it was after the test."""
    from fastconv import parallel

    threads = parallel._configured_threads
    yield
    parallel.set_num_threads(threads)
