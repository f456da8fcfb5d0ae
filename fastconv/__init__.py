"""fastconv: Numba-JIT direct-loop convolution and pooling for CPU, with Keras semantics.

- ``fastconv.ops``: the functional API (``conv``, ``conv_grad``, ``max_pool``, ...), on NHWC arrays.
- ``fastconv.shapes``: output-shape and padding arithmetic.
- ``fastconv.kernels``: the jitted loops behind ``ops`` (every numba option is in ``fastconv._jit``).
- ``fastconv.parallel``: the thread pool the kernels run on (``set_num_threads``/``get_num_threads``
  are re-exported here).
- ``fastconv.keras``: the drop-in for ``from tensorflow import keras``; its objects live in
  ``layers``, ``models`` (with ``training``), ``optimizers``, ``losses``, ``metrics``,
  ``callbacks``, ``saving``, ``datasets`` and ``utils``. Imported on first use
  (``fastconv.keras.layers.Conv2D`` after ``import fastconv`` works), so that a program that
  needs only the ops does not load the rest.

>>> import fastconv
>>> fastconv.keras.layers.Conv2D.__name__
'Conv2D'
"""

from importlib import metadata as _metadata

try:
    __version__ = _metadata.version("fastconv")
    """The installed distribution's version (``pyproject.toml``'s)."""
except _metadata.PackageNotFoundError:  # a source tree that was never installed
    __version__ = "0+unknown"

from fastconv import ops, shapes  # noqa: E402,F401
from fastconv.parallel import get_num_threads, set_num_threads  # noqa: E402,F401


def __getattr__(name):
    if name == "keras":
        import importlib

        return importlib.import_module("fastconv.keras")  # also binds it here: asked once
    raise AttributeError(f"module 'fastconv' has no attribute {name!r}")
