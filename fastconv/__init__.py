"""fastconv: Numba-JIT direct-loop convolution and pooling for CPU, with Keras semantics.

- ``fastconv.ops``: the functional API (``conv``, ``conv_grad``, ``max_pool``, ...).
- ``fastconv.shapes``: output-shape and padding arithmetic.
- ``fastconv.kernels``: the jitted loops behind ``ops`` (every numba option is in ``fastconv._jit``).
- ``fastconv.parallel``: the thread pool the kernels run on (``set_num_threads``/``get_num_threads``
  are re-exported here).
- ``fastconv.keras``: the drop-in for ``from tensorflow import keras``; its objects live in
  ``layers``, ``models`` (with ``training``), ``optimizers``, ``losses``, ``metrics``,
  ``callbacks``, ``saving``, ``datasets`` and ``utils``.
"""

__version__ = "0.1.0"

from fastconv import ops, shapes  # noqa: E402,F401
from fastconv.parallel import get_num_threads, set_num_threads  # noqa: E402,F401
