"""Numba kernels: bare ``@kernel`` loop nests over preallocated, already-checked NHWC arrays.

``conv2d`` holds convolution forward and backward, ``pooling`` max and average
pooling forward and backward. The public entry points are in ``fastconv.ops``.
"""
