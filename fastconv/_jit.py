"""Every numba option fastconv uses, in one place.

Kernels are decorated with :func:`kernel` (a loop nest over the tasks it
claims, which ``fastconv.parallel`` runs on several threads), the small
functions they call with :func:`helper` (inlined), the generated SIMD
register tiles and the depthwise kernels' row functions with
:func:`microkernel` (called); no module sets a numba option anywhere else.

Why these options:

``parallel=False``
    Kernels share their work through ``fastconv.parallel``'s thread pool and
    ``fastconv.kernels.tasks``, not numba's ``prange``: on a shared CPU the
    work goes to the threads that run, forked processes and several Python
    threads may call kernels, and a new machine compiles the kernels in
    less than half the time (numba's parfor passes and separately compiled
    loop bodies were most of it). fastconv never changes numba's global
    configuration.
``fastmath=FASTMATH``
    Only flags that cannot change NaN/inf semantics: ``contract`` lets LLVM
    fuse multiply-adds into FMA instructions, ``reassoc`` and ``nsz`` let it
    vectorise reductions. ``nnan``/``ninf`` are left out on purpose so NaN and
    inf propagate as they do in numpy.
caching
    Compiled machine code is written next to the sources (or under
    ``NUMBA_CACHE_DIR``) so that a second process does not compile again.
    numba checks a cached function against its own source file only, so a
    kernel whose helpers, tiles or task loop (other files) changed would be
    loaded stale; fastconv's functions are checked against a hash of every
    source file they are compiled from instead (:data:`SOURCE_STAMP`), so
    that a new fastconv, or any edited kernel file, compiles them all afresh.
    The CPU they were compiled for is part of numba's key already.
``boundscheck=None``
    Follows ``NUMBA_BOUNDSCHECK``: off by default for speed; the test suite runs
    once with ``NUMBA_BOUNDSCHECK=1`` so out-of-range indexing raises
    ``IndexError`` instead of reading garbage (raised by ``fastconv.parallel.run``
    whichever thread hit it).
``error_model="numpy"``
    Division by zero gives inf/NaN as numpy does, without a Python exception
    check in the inner loop.
``nogil=True``
    Kernels release the GIL: the pool's threads run them at the same time.
``_nrt=False``
    No reference counting of arrays inside kernels: with numba's runtime on,
    every view and every helper call on an array counts references with
    atomic instructions, and the threads of one call fight over those
    counters' cache lines (max pooling's backward pass ran 2.7 times slower
    on one thread, slower still on two). Kernels therefore allocate nothing:
    their callers pass every array.
"""

import hashlib
import pathlib

import numba
from numba.core import caching

FASTMATH = frozenset({"contract", "reassoc", "nsz"})

_OPTIONS = dict(
    fastmath=set(FASTMATH),
    boundscheck=None,
    error_model="numpy",
    nogil=True,
    _nrt=False,
)



def _source_stamp():
    """A hash of this file and of every source file in ``fastconv/kernels``: what compiled code depends on."""
    package = pathlib.Path(__file__).resolve().parent
    digest = hashlib.sha256()
    for path in [package / "_jit.py", *sorted((package / "kernels").glob("*.py"))]:
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


SOURCE_STAMP = _source_stamp()
"""What numba's cache checks fastconv's compiled functions against (see "caching" above)."""


class _SourcesStamp:
    """numba's cache locator for a function, with :data:`SOURCE_STAMP` as its source stamp."""

    def __init__(self, locator):
        self._locator = locator

    def get_source_stamp(self):
        return SOURCE_STAMP

    def __getattr__(self, name):
        return getattr(self._locator, name)


class _CacheImpl(caching.CompileResultCacheImpl):
    def __init__(self, py_func):
        super().__init__(py_func)
        self._locator = _SourcesStamp(self._locator)


class _Cache(caching.FunctionCache):
    _impl_class = _CacheImpl


def _jit(**options):
    """``numba.njit(**options, **_OPTIONS)`` with fastconv's cache (see "caching" above)."""
    jit = numba.njit(**options, **_OPTIONS)

    def decorate(function):
        dispatcher = jit(function)
        dispatcher._cache = _Cache(function)
        return dispatcher

    return decorate


kernel = _jit(parallel=False)
"""Decorator for a kernel: ``@kernel`` above a function whose first argument is the job of
``fastconv.kernels.tasks`` and whose work is a loop over the tasks it claims."""

helper = _jit(parallel=False, inline="always")
"""Decorator for a small function that kernels call; inlined at the call site."""

microkernel = _jit(parallel=False)
"""Decorator for a serial function that kernels call: a register tile (``fastconv/kernels/conv2d_tiles.py``),
or a depthwise kernel's function for a chunk of rows (``fastconv/kernels/depthwise.py``).

Not forced inline: a tile is a few hundred unrolled lines, compiled (and
cached) once as its own function rather than again inside every kernel that
calls it; the call costs little next to the tile's reduction loop (about
55 ns on a 2-core Zen 4: numba passes each array as a dozen values). A
function of its own also gets LLVM's registers to itself: the depthwise
row loops ran 1.3 times as long inlined into their kernels.
"""
