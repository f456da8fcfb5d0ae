"""Every numba option fastconv uses, in one place.

Kernels are decorated with :func:`kernel` (a parallel loop nest),
:func:`helper` (a small function inlined into kernels) or :func:`microkernel`
(a generated SIMD register tile that kernels call); no module sets a numba
option anywhere else.

Why these options:

``parallel=True``
    Kernels distribute independent output work with ``prange``. The number of
    threads is numba's: ``NUMBA_NUM_THREADS`` or ``numba.set_num_threads``.
    fastconv never changes numba's global configuration.
``fastmath=FASTMATH``
    Only flags that cannot change NaN/inf semantics: ``contract`` lets LLVM
    fuse multiply-adds into FMA instructions, ``reassoc`` and ``nsz`` let it
    vectorise reductions. ``nnan``/``ninf`` are left out on purpose so NaN and
    inf propagate as they do in numpy.
``cache=True``
    Compiled machine code is written next to the sources (or under
    ``NUMBA_CACHE_DIR``) so that a second process does not compile again.
``boundscheck=None``
    Follows ``NUMBA_BOUNDSCHECK``: off by default for speed; the test suite runs
    once with ``NUMBA_BOUNDSCHECK=1`` so out-of-range indexing raises
    ``IndexError`` instead of reading garbage. (Run such a check with
    ``NUMBA_NUM_THREADS=1``: numba 0.68 loses an ``IndexError`` raised on a
    worker thread of a parallel loop, or wraps it in a ``SystemError``.)
``error_model="numpy"``
    Division by zero gives inf/NaN as numpy does, without a Python exception
    check in the inner loop.
``nogil=True``
    Kernels release the GIL so several Python threads can run them.
"""

import numba

FASTMATH = frozenset({"contract", "reassoc", "nsz"})

_OPTIONS = dict(
    fastmath=set(FASTMATH),
    cache=True,
    boundscheck=None,
    error_model="numpy",
    nogil=True,
)

kernel = numba.njit(parallel=True, **_OPTIONS)
"""Decorator for a parallel kernel: ``@kernel`` above a function with ``prange`` loops."""

helper = numba.njit(parallel=False, inline="always", **_OPTIONS)
"""Decorator for a serial helper that kernels call; inlined at the call site."""

microkernel = numba.njit(parallel=False, **_OPTIONS)
"""Decorator for a serial register tile (``fastconv/kernels/conv2d_tiles.py``) that kernels call.

Not forced inline: a tile is a few hundred unrolled lines, compiled (and
cached) once as its own function rather than again inside every kernel that
calls it; the call costs little next to the tile's reduction loop.
"""
