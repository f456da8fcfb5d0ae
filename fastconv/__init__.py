"""fastconv: Numba-JIT direct-loop convolution and pooling for CPU, with Keras semantics.

- ``fastconv.ops``: the functional API (``conv``, ``conv_grad``, ``max_pool``, ...).
- ``fastconv.shapes``: output-shape and padding arithmetic.
- ``fastconv.kernels``: the jitted loops behind ``ops``.
"""

__version__ = "0.1.0"

from fastconv import ops, shapes  # noqa: E402,F401
