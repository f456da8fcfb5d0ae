"""asv benchmarks of JIT compile time: cold (empty cache) and from numba's on-disk cache.

Every other benchmark excludes compilation (its ``setup`` calls the kernels
once). Here each measurement runs a workload in a fresh interpreter (this
file run as a script) whose ``NUMBA_CACHE_DIR`` is a new temporary folder:

- ``track_cold``: the folder is empty, so every kernel the workload needs is
  compiled: what a user waits the first time, or after upgrading fastconv.
- ``track_cached``: the workload has run once before with the same folder, so
  every kernel is loaded from the cache: what every later process waits.

The number is the workload's first run minus its second run in the same
process (the second needs no compilation), in seconds; interpreter start-up
and ``import fastconv`` are not in it (``timeraw_import_fastconv`` times the
import). Workloads, all float32:

- ``conv``: ``ops.conv`` and ``ops.conv_grad``, and the fused
  ``conv_bias_activation`` with ReLU and its gradient (what ``Conv2D`` calls);
- ``pooling``: max and average pooling, forward and backward;
- ``training step``: build and compile the textbook CNN, one
  ``train_on_batch`` and one ``predict`` (every kernel training needs).

``FirstTrainingStep`` times what a user waits for instead: the textbook
CNN's first training step in a new process (``compare_cold_start.py``'s
fastconv worker: build, ``compile``, ``train_on_batch``), with an empty cache
(``track_cold``, kernels compiled in parallel by ``fastconv.compilation``) and
with the cache that run filled (``track_warm``).
"""

import json
import os
import subprocess
import sys
import tempfile
import time

WORKLOADS = ("conv", "pooling", "training step")


def _workload(name):
    """A callable that runs workload ``name`` once (imports happen here, outside the timed calls)."""
    import numpy as np

    from fastconv import ops

    rng = np.random.default_rng(0)
    if name == "conv":
        x = rng.standard_normal((4, 12, 12, 8), dtype=np.float32)
        w = rng.standard_normal((3, 3, 8, 16), dtype=np.float32)
        b = np.zeros(16, np.float32)

        def run():
            out = ops.conv(x, w, padding="same")
            ops.conv_grad(x, w, out, padding="same")
            out = ops.conv_bias_activation(x, w, b, padding="same", activation="relu")
            ops.conv_bias_activation_grad(x, w, out, out, padding="same", activation="relu")
    elif name == "pooling":
        x = rng.standard_normal((4, 12, 12, 8), dtype=np.float32)
        g = rng.standard_normal((4, 6, 6, 8), dtype=np.float32)

        def run():
            for pool, pool_grad in ((ops.max_pool, ops.max_pool_grad), (ops.average_pool, ops.average_pool_grad)):
                pool(x, 2)
                pool_grad(x, g, 2)
    elif name == "training step":
        from fastconv import keras

        from benchmarks.common import textbook_cnn

        x = rng.random((32, 28, 28, 1), dtype=np.float32)
        y = rng.integers(0, 10, 32)

        def run():
            model = textbook_cnn(keras)
            model.train_on_batch(x, y)
            model.predict(x, verbose=0)
    else:
        raise ValueError(f"unknown workload {name!r}; expected one of {WORKLOADS}")
    return run


def _main(name):
    """Run workload ``name`` twice in this process; print ``{"first_s", "second_s"}`` as JSON."""
    run = _workload(name)
    seconds = []
    for _ in range(2):
        start = time.perf_counter()
        run()
        seconds.append(time.perf_counter() - start)
    print(json.dumps(dict(first_s=seconds[0], second_s=seconds[1])))


def compile_seconds(workload, cache_dir, timeout=900):
    """Seconds that ``workload`` spends compiling or loading kernels in a fresh process using ``cache_dir``."""
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ, NUMBA_CACHE_DIR=cache_dir,
               PYTHONPATH=os.pathsep.join(p for p in (repo, os.environ.get("PYTHONPATH")) if p))
    result = subprocess.run([sys.executable, os.path.abspath(__file__), workload], env=env, capture_output=True,
                            text=True, timeout=timeout)
    if result.returncode != 0:
        raise RuntimeError(f"workload {workload!r} failed:\n{result.stderr}")
    times = json.loads(result.stdout.strip().splitlines()[-1])
    return times["first_s"] - times["second_s"]


class CompileTime:
    """Compile time of each workload, cold and from the cache (``unit``: seconds)."""

    params = [list(WORKLOADS)]
    param_names = ["workload"]
    unit = "seconds"
    timeout = 1200  # track_cached compiles cold first; the training step alone takes a minute or more

    def track_cold(self, workload):
        with tempfile.TemporaryDirectory(prefix="numba-cold-") as cache_dir:
            return compile_seconds(workload, cache_dir)

    def track_cached(self, workload):
        with tempfile.TemporaryDirectory(prefix="numba-cached-") as cache_dir:
            compile_seconds(workload, cache_dir)  # fills the cache; not the number reported
            return compile_seconds(workload, cache_dir)


def first_step_seconds(cache_dir, threads=2, timeout=900):
    """Seconds of the textbook CNN's first training step in a fresh process using ``cache_dir``."""
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ, NUMBA_CACHE_DIR=cache_dir,
               PYTHONPATH=os.pathsep.join(p for p in (repo, os.environ.get("PYTHONPATH")) if p))
    result = subprocess.run([sys.executable, os.path.join(repo, "benchmarks", "compare_cold_start.py"), "--worker",
                             "fastconv", "--threads", str(threads)], env=env, capture_output=True, text=True,
                            timeout=timeout)
    if result.returncode != 0:
        raise RuntimeError(f"the first training step failed:\n{result.stderr}")
    return json.loads(result.stdout.strip().splitlines()[-1])["first_step_s"]


class FirstTrainingStep:
    """The textbook CNN's first training step in a new process, 2 threads (``unit``: seconds)."""

    unit = "seconds"
    timeout = 1200

    def track_cold(self):
        with tempfile.TemporaryDirectory(prefix="numba-cold-") as cache_dir:
            return first_step_seconds(cache_dir)

    def track_warm(self):
        with tempfile.TemporaryDirectory(prefix="numba-warm-") as cache_dir:
            first_step_seconds(cache_dir)  # fills the cache; not the number reported
            return first_step_seconds(cache_dir)


def timeraw_import_fastconv():
    """``import fastconv`` in a fresh interpreter (asv times the whole subprocess)."""
    return "import fastconv"


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    _main(sys.argv[1])
