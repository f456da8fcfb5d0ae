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
import sys
import threading

import numpy as np

POOL_BYTES = 512 * 1024 * 1024
"""The most memory one pool keeps (the textbook CNN's training step uses about 30 MB)."""

_POOL = contextvars.ContextVar("fastconv_buffers_pool", default=None)

_UNREFERENCED = 3
"""``sys.getrefcount`` of a pooled array that only the pool refers to: the pool's list, the loop
variable, and ``getrefcount``'s own argument."""


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
                if sys.getrefcount(array) == _UNREFERENCED:
                    return array
            array = np.empty(shape, dtype)
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
    pool = _POOL.get()
    if pool is None:
        return np.empty(shape, dtype)
    return pool.empty(shape if type(shape) is tuple else tuple(shape) if np.iterable(shape) else (int(shape),),
                      np.dtype(dtype))


def zeros(shape, dtype):
    """An array of zeros of ``shape`` and ``dtype``: a pooled one, zeroed, inside :func:`reuse`."""
    array = empty(shape, dtype)
    array.fill(0)
    return array
