"""``fastconv._heap``: while fastconv trains, freed arrays are reused instead of faulting fresh pages in."""

import platform
import subprocess
import sys

import pytest

pytestmark = pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt is glibc's")

# Allocates three 4 MiB arrays and frees them, 50 times (a training step's pattern: several arrays of a few
# MiB), and prints the minor page faults that took, after an optional fit of a tiny model. Left to itself,
# glibc raises its mmap threshold to 4 MiB after the first free, but the 12 MiB freed at the end of each
# round exceed its trim threshold (twice that), so it hands them back and the next round faults them in.
_PROGRAM = """
import resource, sys
import numpy as np
if sys.argv[1] == "import":
    import fastconv.ops
if sys.argv[1] == "fit":
    from fastconv import keras
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    model.compile(loss="mse")
    model.fit(np.zeros((8, 4)), np.zeros((8, 2)), verbose=0)
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(50):
    arrays = [np.ones(1 << 20, np.float32) for _ in range(3)]
    del arrays
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def _faults(mode, **env):
    import os
    result = subprocess.run([sys.executable, "-c", _PROGRAM, mode], capture_output=True, text=True, check=True,
                            env={**os.environ, **env})
    return int(result.stdout.split()[-1])


def test_fit_keeps_freed_arrays_for_reuse():
    # Without fastconv, most rounds fault their pages in again (1024 faults per 4 MiB).
    assert _faults("plain") > 25 * 1024
    # After fit, or just importing fastconv's kernels, the same loop reuses the heap: only the first round
    # faults its pages in.
    assert _faults("fit") < 5 * 1024
    assert _faults("import") < 5 * 1024


def test_the_environment_variable_leaves_malloc_alone():
    assert _faults("fit", FASTCONV_KEEP_MALLOC="1") > 25 * 1024


def test_settle_reports_what_it_did():
    from fastconv import _heap
    assert _heap.settle() is True
    assert _heap.settle() is True  # once per process; later calls return the first answer
