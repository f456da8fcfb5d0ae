"""Keeps large freed arrays in the C heap, so that the next training step (or kernel call) reuses them.

A training step allocates the same few megabyte-sized arrays every time
(activations, padded inputs, gradients, the optimizer's temporaries). glibc's
malloc serves blocks above its *mmap threshold* straight from the kernel and
gives them back on ``free``; the next step then takes a page fault for every
4 KiB it touches, inside the parallel kernels. On a virtual machine those
faults cost microseconds each: on the 2-core machine fastconv is developed on
they doubled the textbook CNN's training step (15.8 ms against 7.9 ms).

glibc adapts on its own: each freed mapped block raises the threshold to its
size, up to 32 MiB (and the heap-trim threshold to twice that). But whether a
program ever frees a block large enough to get there depends on its history
(the same training loop ran at either speed depending on how the data had
been loaded). :func:`settle`, called when ``fastconv.ops`` is imported (so
before any kernel runs), moves glibc straight to the state its heuristic
ends in: mmap threshold 32 MiB, trim threshold 64 MiB. So a process keeps at
most 64 MiB of freed memory for reuse, and arrays above 32 MiB (whole
datasets) are still mapped and returned as before. Every library in the
process (numpy, PyTorch in a benchmark) gets the same heap.

Only glibc has ``mallopt``; elsewhere :func:`settle` does nothing. Set the
environment variable ``FASTCONV_KEEP_MALLOC=1`` to leave malloc untouched.
"""

import ctypes
import functools
import os
import platform

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 32 * 1024 * 1024
"""glibc's ``DEFAULT_MMAP_THRESHOLD_MAX`` on 64-bit systems: where its own heuristic stops."""
TRIM_THRESHOLD = 2 * MMAP_THRESHOLD


@functools.cache
def settle():
    """Set glibc's mmap and trim thresholds to their adaptive maxima, once per process.

    Returns True if they were set, False where malloc was left as it was
    (not glibc, or ``FASTCONV_KEEP_MALLOC=1``).
    """
    if os.environ.get("FASTCONV_KEEP_MALLOC", "0") not in ("", "0") or platform.libc_ver()[0] != "glibc":
        return False
    libc = ctypes.CDLL("libc.so.6")
    libc.mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    return bool(libc.mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD) and libc.mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD))
