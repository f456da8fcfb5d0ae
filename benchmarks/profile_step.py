"""Where one training step of the textbook CNN spends its time: each layer's forward and backward, and Adam.

Run from the repository root (with ``NUMBA_CACHE_DIR`` set, so kernels load
from the cache)::

    python benchmarks/profile_step.py              # 2 threads, 3 epochs of 100 steps
    python benchmarks/profile_step.py --threads 1 --steps 200

It trains the textbook model (``common.textbook_cnn``) with ``fit``
on random images, batch 32, after a warm-up fit that compiles everything,
with every layer's ``forward``/``backward`` and the optimizer's ``apply``
wrapped in a timer. It prints, per epoch, the median milliseconds of each
part and of a whole step (the epoch's time over its steps, including what the
parts leave out: the loss, metrics, batching and callbacks). Medians of one
process on a shared machine: compare parts within one run, not runs.
"""

import argparse
import os
import statistics
import sys
import time
from collections import defaultdict

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from benchmarks.common import MODELS, build_model  # noqa: E402  (imports no framework)


def _timed(function, name, times):
    def wrapper(*args, **kwargs):
        start = time.perf_counter()
        result = function(*args, **kwargs)
        times[name].append(time.perf_counter() - start)
        return result
    return wrapper


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--steps", type=int, default=100, help="training steps per epoch")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--model", choices=MODELS, default="textbook",
                        help="the textbook CNN (default) or examples/small_cnns.py's resnet or mobilenet")
    args = parser.parse_args(argv)


    from fastconv import keras, parallel

    parallel.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    x = rng.random((32 * args.steps, 28, 28, 1), dtype=np.float32)
    y = rng.integers(0, 10, len(x))
    model = build_model(args.model, keras)
    model.fit(x[:64], y[:64], batch_size=32, epochs=1, verbose=0)  # compiles (or loads) every kernel

    times = defaultdict(list)
    for layer in model.layers:
        layer.forward = _timed(layer.forward, f"{layer.name} forward", times)
        layer.backward = _timed(layer.backward, f"{layer.name} backward", times)
    model.optimizer.apply = _timed(model.optimizer.apply, f"{type(model.optimizer).__name__} update", times)

    print(f"{args.model} model, batch 32, {args.threads} threads: median ms per call")
    for epoch in range(args.epochs):
        times.clear()
        start = time.perf_counter()
        model.fit(x, y, batch_size=32, epochs=1, verbose=0)
        step_ms = (time.perf_counter() - start) / args.steps * 1e3
        parts = {name: statistics.median(values) * 1e3 for name, values in times.items()}
        print(f"\nepoch {epoch + 1}: {step_ms:.2f} ms per step; the parts below sum to "
              f"{sum(parts.values()):.2f}")
        for name, ms in parts.items():
            print(f"  {name:32s} {ms:7.3f}")


if __name__ == "__main__":
    main()
