"""The first training step of the textbook CNN in a new process, with fastconv, PyTorch and Keras, side by side.

What a user waits for on a fresh machine (an empty compile cache) and on every
later run (a warm one): each sample is a new Python process that imports the
framework, builds the textbook's Fashion-MNIST CNN, compiles it (Keras's and
fastconv's ``compile``; PyTorch's model and Adam), and takes one training step
on a batch of 32 images (``train_on_batch``; PyTorch's forward, backward and
optimizer step). Reported per framework, medians over ``--rounds`` rounds:

- ``import``: seconds to import the framework;
- ``first step``: seconds from building the model to the end of the first
  step (fastconv compiles its kernels here: ``fastconv.compilation``);
- fastconv twice: ``cold``, with a new, empty ``NUMBA_CACHE_DIR`` (a fresh
  machine, or a new fastconv), and ``warm``, with the cache that the cold run
  of the same round filled. PyTorch and Keras keep no compiled code between
  processes (Keras/TensorFlow traces its graph in every new process), so each
  has one row.

Frameworks run in turn, their order rotating from round to round, each in its
own process with ``--threads`` threads. Keras runs from a Python that has
TensorFlow (``--keras-python``), as in ``compare_training.py``::

    python benchmarks/compare_cold_start.py --keras-python /tmp/tfenv/bin/python --rounds 3

``--json`` writes the samples and medians.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

if not __package__:  # run as a script: make the `benchmarks` package importable
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks.common import textbook_cnn, textbook_cnn_torch  # noqa: E402  (imports no framework)

GOAL_COLD_SECONDS = 10.0
"""fastconv's first step with an empty cache: at most this (the stretch goal is Keras's own first step)."""
GOAL_WARM_SECONDS = 1.0
"""fastconv's first step with a warm cache: at most this."""


def _worker(framework, threads):
    start = time.perf_counter()
    if framework == "torch":
        import numpy as np
        import torch
        from torch import nn
        imported = time.perf_counter()
        torch.set_num_threads(threads)
        model = textbook_cnn_torch()
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-7)
        rng = np.random.default_rng(0)
        x = torch.from_numpy(rng.random((32, 1, 28, 28), dtype=np.float32))
        y = torch.from_numpy(rng.integers(0, 10, 32))
        optimizer.zero_grad()
        nn.CrossEntropyLoss()(model(x), y).backward()
        optimizer.step()
    else:
        if framework == "keras":
            os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
            import numpy as np
            import tensorflow as tf
            from tensorflow import keras
            tf.config.threading.set_intra_op_parallelism_threads(threads)
            tf.config.threading.set_inter_op_parallelism_threads(1)
        else:
            import numpy as np

            from fastconv import keras, parallel
            parallel.set_num_threads(threads)
        imported = time.perf_counter()
        model = textbook_cnn(keras)
        rng = np.random.default_rng(0)
        model.train_on_batch(rng.random((32, 28, 28, 1), dtype=np.float32), rng.integers(0, 10, 32))
    done = time.perf_counter()
    print(json.dumps(dict(import_s=imported - start, first_step_s=done - imported)))


def _sample(python, framework, threads, cache_dir=None):
    env = dict(os.environ, FASTCONV_NUM_THREADS=str(threads), OMP_NUM_THREADS=str(threads),
               PYTHONPATH=os.pathsep.join(p for p in (os.environ.get("PYTHONPATH"), _REPO) if p))
    if cache_dir is not None:
        env["NUMBA_CACHE_DIR"] = cache_dir
    result = subprocess.run([python, os.path.abspath(__file__), "--worker", framework, "--threads", str(threads)],
                            env=env, capture_output=True, text=True, timeout=1800)
    if result.returncode != 0:
        raise RuntimeError(f"{framework} worker failed:\n{result.stderr}")
    return json.loads(result.stdout.strip().splitlines()[-1])


_REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3, help="samples per framework, in turn (default 3)")
    parser.add_argument("--threads", type=int, default=2, help="threads for every framework (default 2)")
    parser.add_argument("--keras-python", default=None, help="a Python with tensorflow installed")
    parser.add_argument("--frameworks", default="fastconv,torch,keras",
                        help="comma-separated, some of fastconv,torch,keras (keras needs --keras-python)")
    parser.add_argument("--json", default=None, help="write the samples and medians here")
    parser.add_argument("--worker", choices=("fastconv", "torch", "keras"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        return _worker(args.worker, args.threads)
    if args.rounds < 1 or args.threads < 1:
        parser.error("--rounds and --threads must be at least 1")
    frameworks = [f for f in args.frameworks.split(",") if f != "keras" or args.keras_python]
    rows = {name: [] for f in frameworks for name in ((f"{f} cold", f"{f} warm") if f == "fastconv" else (f,))}
    for round_number in range(args.rounds):
        shift = round_number % len(frameworks)
        for framework in frameworks[shift:] + frameworks[:shift]:
            if framework == "fastconv":
                with tempfile.TemporaryDirectory(prefix="fastconv-cold-") as cache_dir:
                    rows["fastconv cold"].append(_sample(sys.executable, framework, args.threads, cache_dir))
                    rows["fastconv warm"].append(_sample(sys.executable, framework, args.threads, cache_dir))
            else:
                python = args.keras_python if framework == "keras" else sys.executable
                rows[framework].append(_sample(python, framework, args.threads))
            print(f"round {round_number + 1}: {framework} done", file=sys.stderr, flush=True)
    return _report(rows, args)


def _report(rows, args):
    medians = {name: {key: statistics.median(s[key] for s in samples) for key in ("import_s", "first_step_s")}
               for name, samples in rows.items()}
    print(f"\nFirst training step of the textbook CNN (batch 32) in a new process, {args.threads} threads, "
          f"medians of {args.rounds} rounds (frameworks in turn).\n")
    print("| framework | import s | first step s | import + first step s |")
    print("|---|--:|--:|--:|")
    for name, median in medians.items():
        print(f"| {name} | {median['import_s']:.2f} | {median['first_step_s']:.2f} | "
              f"{median['import_s'] + median['first_step_s']:.2f} |")
    goals = {}
    if "fastconv cold" in medians:
        cold, warm = medians["fastconv cold"]["first_step_s"], medians["fastconv warm"]["first_step_s"]
        goals = dict(cold=dict(seconds=cold, limit=GOAL_COLD_SECONDS, met=cold <= GOAL_COLD_SECONDS),
                     warm=dict(seconds=warm, limit=GOAL_WARM_SECONDS, met=warm <= GOAL_WARM_SECONDS))
        if "keras" in medians:
            goals["stretch"] = dict(seconds=cold, limit=medians["keras"]["first_step_s"],
                                    met=cold < medians["keras"]["first_step_s"])
        print(f"\nCold first step <= {GOAL_COLD_SECONDS:.0f} s: {'met' if goals['cold']['met'] else 'NOT met'} "
              f"({cold:.1f} s); warm <= {GOAL_WARM_SECONDS:.0f} s: {'met' if goals['warm']['met'] else 'NOT met'} "
              f"({warm:.2f} s)" + (f"; below Keras's first step ({goals['stretch']['limit']:.1f} s): "
                                   f"{'met' if goals['stretch']['met'] else 'not met'}" if "stretch" in goals else "")
              + ".")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(dict(samples=rows, medians=medians, goals=goals,
                           settings=dict(rounds=args.rounds, threads=args.threads)), f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
