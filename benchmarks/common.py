"""Helpers shared by the asv benchmark modules (``bench_*.py``): skipping unsupported points, GFLOP/s.

No benchmark lives here, and no name here starts with ``time_``, ``track_``,
``mem_``, ``peakmem_`` or ``timeraw_`` (asv would collect it).
"""

import gc
import statistics
import time

from fastconv import shapes


def require_supported(config):
    """Raise ``NotImplementedError`` (asv then skips the point) where ``config`` has no output.

    asv skips a parameter combination whose ``setup`` raises
    ``NotImplementedError``; a grid point where the window does not fit the
    (padded) input is not an operation at all.
    """
    window = getattr(config, "kernel_size", None) or config.pool_size
    output = shapes.conv_output_shape(config.input_shape, window, 1, config.strides, config.padding)
    if min(output[1:3]) < 1:
        raise NotImplementedError(f"{config.label}: the window does not fit the input")


def median_seconds(fn, min_total=0.2, min_calls=3, max_calls=200):
    """Median wall time of one call of ``fn``, over at least ``min_calls`` calls lasting ``min_total`` seconds.

    Used by the ``track_*`` benchmarks, which report GFLOP/s: asv records
    whatever a ``track_`` method returns, so it has to time for itself. The
    caller has already called ``fn`` once (the JIT is warm). The garbage
    collector is off while timing, as in asv's own ``time_`` benchmarks.
    """
    samples = []
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        started = time.perf_counter()
        while len(samples) < min_calls or (time.perf_counter() - started < min_total and len(samples) < max_calls):
            start = time.perf_counter()
            fn()
            samples.append(time.perf_counter() - start)
    finally:
        if was_enabled:
            gc.enable()
    return statistics.median(samples)


def gflops_per_second(flops, fn):
    """``flops / median_seconds(fn) / 1e9``: the GFLOP/s that a ``track_`` benchmark returns."""
    return flops / median_seconds(fn) / 1e9
