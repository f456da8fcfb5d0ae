"""Arrays that a training loop reuses from one step to the next, instead of new memory every step.

A training step allocates the same arrays every time (activations, padded
inputs, gradients, partial sums), several megabytes each. New memory of that
size comes from the operating system a page at a time: the kernels take a
page fault for every 4 KiB they first touch, which on the 2-core machine
fastconv is developed on made a training step 1.4 times as long.

Inside ``with reuse():`` (which ``fit``, ``evaluate`` and ``predict`` enter;
``train_on_batch`` and the other one-batch methods reuse a pool that the
model keeps) :func:`empty` and :func:`zeros` hand out arrays from a pool: an array of the
same shape and dtype that nothing outside the pool refers to any more (its
reference count says so), or a new one that joins the pool. A pooled array
is handed out again only once every array and view that the caller made of
it is gone, so reuse can never change a value anyone still holds. The pool
belongs to the ``with`` block (in the context of the thread that entered it)
and its memory is freed when the block ends (or with the model); it holds at most
``POOL_BYTES``, beyond which arrays are allocated as usual. Outside such a
block, :func:`empty` is ``np.empty``.

Every array :func:`empty` and :func:`zeros` return starts on a 64-byte
boundary (:data:`ALIGNMENT`), pooled or not: a cache line, and one AVX-512
vector. numpy's own arrays start 16 bytes past one, and then every vector a
kernel loads or stores at a channel offset that is a multiple of 16 spans two
cache lines: a depthwise convolution, which loads and stores whole vectors of
channels, took 1.2-1.3 times as long on such arrays (28x28x128, 14x14x256
and 56x56x64 layers of 4 images, one thread, in the L2 cache), and the
MobileNet-style net's epoch 1.06 times as long (the textbook CNN's tiles,
which broadcast their inputs, were unchanged: 1.01). The arrays are views of a
slightly larger byte buffer that owns the memory.

Nothing here changes the process's allocator (glibc's malloc thresholds are
left as they are).

>>> with reuse():
...     first = empty((1000, 1000), np.float32)
...     address = first.ctypes.data
...     del first
...     empty((1000, 1000), np.float32).ctypes.data == address
True
"""

import contextlib
import contextvars
import math
import sys
import threading

import numpy as np

POOL_BYTES = 512 * 1024 * 1024
"""The most memory one pool keeps (the textbook CNN's training step uses about 30 MB)."""

_POOL = contextvars.ContextVar("fastconv_buffers_pool", default=None)

ALIGNMENT = 64
"""Bytes that the address of every array from :func:`empty` and :func:`zeros` is a multiple of."""

_UNREFERENCED = 3
"""``sys.getrefcount`` of a pooled array that only the pool refers to: the pool's list, the loop
variable, and ``getrefcount``'s own argument."""

_UNREFERENCED_OWNER = 2
"""``sys.getrefcount`` of the byte buffer under a pooled array (:func:`_aligned_empty`) that nothing
but that array refers to: the array's ``base``, and ``getrefcount``'s own argument. Every view of the
array refers to this buffer, not to the array (numpy gives a view the array that owns the memory as
its base), so a view that outlives the array is counted here."""


class Pool:
    """Arrays kept for reuse (see the module docstring); :func:`reuse` makes one current."""

    def __init__(self):
        self._arrays = {}
        self._bytes = 0
        self._lock = threading.Lock()  # a copied context can take the pool to another thread

    def empty(self, shape, dtype):
        with self._lock:
            arrays = self._arrays.setdefault((shape, dtype), [])
            for array in arrays:
                if sys.getrefcount(array) == _UNREFERENCED and sys.getrefcount(array.base) == _UNREFERENCED_OWNER:
                    return array
            array = _aligned_empty(shape, dtype)
            if self._bytes + array.nbytes <= POOL_BYTES:
                arrays.append(array)
                self._bytes += array.nbytes
            return array


@contextlib.contextmanager
def reuse(pool=None):
    """Within this block (and the calls it makes from this thread), :func:`empty` and :func:`zeros` reuse
    the arrays of ``pool`` (a new :class:`Pool` if None) that nothing refers to any more. Inside another
    ``reuse`` block without a ``pool`` of its own, the enclosing block's pool is kept."""
    if pool is None and _POOL.get() is not None:
        yield
        return
    token = _POOL.set(Pool() if pool is None else pool)
    try:
        yield
    finally:
        _POOL.reset(token)


def empty(shape, dtype):
    """An uninitialised array of ``shape`` and ``dtype``: a pooled one inside :func:`reuse`."""
    shape = shape if type(shape) is tuple else tuple(shape) if np.iterable(shape) else (int(shape),)
    pool = _POOL.get()
    if pool is None:
        return _aligned_empty(shape, np.dtype(dtype))
    return pool.empty(shape, np.dtype(dtype))


def _aligned_empty(shape, dtype):
    """``np.empty(shape, dtype)`` starting at a multiple of :data:`ALIGNMENT` bytes: a view of a byte
    buffer (its ``base``) that owns the memory."""
    if min(shape, default=0) < 0:
        raise ValueError("negative dimensions are not allowed")  # as np.empty says
    size = math.prod(shape) * dtype.itemsize
    owner = np.empty(size + ALIGNMENT - 1, np.uint8)
    start = -owner.ctypes.data % ALIGNMENT
    return owner[start:start + size].view(dtype).reshape(shape)


def zeros(shape, dtype):
    """An array of zeros of ``shape`` and ``dtype``: a pooled one, zeroed, inside :func:`reuse`."""
    array = empty(shape, dtype)
    array.fill(0)
    return array
