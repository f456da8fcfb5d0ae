"""Data-parallel training on MPI (``fastconv.distribution``): measured on this machine, modelled for 1-64 machines.

``python benchmarks/compare_mpi.py`` trains the textbook CNN on the first
``--images`` Fashion-MNIST training images (9,600 by default) for ``--epochs``
epochs at the global batch ``--batch-size`` (32), ``--rounds`` times in turn:
``mpirun -n 2`` with 1 thread per process, then one process with 2 threads
(the next round in the other order, so a drifting machine hits both alike).
It reports the median seconds per epoch (the first epoch, which loads the
compiled kernels, is left out when there are two or more), the median of the
per-round ratios, and each run's training and test accuracy (all 10,000 test
images, evaluated sharded).

``--scaling`` measures what a model of the step time rests on, for the
textbook CNN and a larger CNN (``_larger_cnn``): the compute time of one
training step on one thread at per-process batches of 4 to 128 (fitted as
``a + c * batch``), and, under ``mpirun -n 2``, the time of the step's
allreduce of all the gradients (one float32 buffer) and of the small
allreduce of the logs. It then models the step time on N machines with a ring
allreduce at 10 and 100 Gb/s::

    T(N, B) = a + c * B / N + 2 (N - 1) alpha + 2 (N - 1) / N * S / bandwidth + 2 ceil(log2 N) alpha

(``S`` the gradients' bytes, ``alpha`` the latency of one message, the last
term the logs' allreduce), and prints the efficiency ``T(1, B) / (N T(N, B))``
and the smallest global batch that keeps it at or above 80 %.

``--allreduce-worker`` (under ``mpirun``) prints the median milliseconds of
the allreduce of one step of the textbook CNN; ``benchmarks/bench_distribution.py``
tracks it.
"""

import argparse
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks.common import textbook_cnn  # noqa: E402

NETWORKS = {"10 Gb/s": (10e9 / 8, 20e-6), "100 Gb/s": (100e9 / 8, 5e-6)}
"""Bandwidth (bytes/s) and the latency of one message (s) assumed for each network: TCP over 10 GbE; RDMA."""
MACHINES = [1, 2, 4, 8, 16, 32, 64]
BATCHES = [4, 8, 16, 32, 64, 128]


def _larger_cnn(keras):
    """A wider CNN of 3.4 M parameters: Conv2D(64), Conv2D(128), Dense(512), as for a harder image task."""
    model = keras.Sequential([
        keras.Input(shape=(28, 28, 1)),
        keras.layers.Conv2D(64, 3, activation="relu", padding="same"),
        keras.layers.MaxPooling2D(2),
        keras.layers.Conv2D(128, 3, activation="relu", padding="same"),
        keras.layers.MaxPooling2D(2),
        keras.layers.Flatten(),
        keras.layers.Dense(512, activation="relu"),
        keras.layers.Dense(10, activation="softmax"),
    ])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


MODELS = {"textbook CNN": textbook_cnn, "larger CNN": _larger_cnn}


def _mpirun(processes, *arguments):
    """The command that runs this script under ``mpirun -n processes``.

    Not ``--oversubscribe``: with it Open MPI binds no process to a core, and two
    processes that poll for each other's messages on two unbound cores made the
    gradient allreduce 32 ms instead of 0.16 ms here.
    """
    mpirun = shutil.which("mpirun", path=os.pathsep.join([os.path.dirname(sys.executable), os.environ["PATH"]]))
    return [mpirun or "mpirun", "-n", str(processes), sys.executable, os.path.abspath(__file__),
            *arguments]


def _last_json_line(command):
    """Run ``command`` (Open MPI allowed to run as root) and parse the last line of its output that is JSON."""
    environment = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    result = subprocess.run(command, capture_output=True, text=True, timeout=3600, env=environment)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{result.stdout}\n{result.stderr}")
    return json.loads([line for line in result.stdout.splitlines() if line.startswith("{")][-1])


# ------------------------------------------------------------------------------------------ workers


def _epoch_worker(args):
    """Train and print one JSON line (from process 0): seconds per epoch, training and test accuracy."""
    from fastconv import keras, parallel
    from fastconv.datasets import fashion_mnist_load_data

    parallel.set_num_threads(args.threads)
    if args.distributed:
        keras.distribution.set_distribution(keras.distribution.DataParallel())
    keras.utils.set_random_seed(0)
    (x, y), (x_test, y_test) = fashion_mnist_load_data()
    x = (x[:args.images].reshape(-1, 28, 28, 1) / 255.0).astype(np.float32)
    x_test = (x_test.reshape(-1, 28, 28, 1) / 255.0).astype(np.float32)
    model = textbook_cnn(keras)
    seconds = []

    class Timer(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            seconds.append(time.perf_counter() - self.start)

    history = model.fit(x, y[:args.images], batch_size=args.batch_size, epochs=args.epochs, verbose=0,
                        callbacks=[Timer()])
    test_loss, test_accuracy = model.evaluate(x_test, y_test, batch_size=256, verbose=0)
    distribution = keras.distribution.distribution()
    if distribution is None or distribution.is_chief:
        print(json.dumps({"epoch_seconds": seconds, "accuracy": history.history["accuracy"][-1],
                          "test_accuracy": test_accuracy}))


def _gradients_and_variables(model, batch):
    """One training step's gradients of ``model`` (random images), as ``fit`` hands them to the allreduce."""
    x = np.random.default_rng(0).random((batch, 28, 28, 1), np.float32)
    y = np.arange(batch) % 10
    outputs, tape = model.forward(x, training=True)
    grad, through_softmax = model._loss_gradient(y, outputs[0])
    return model.backward(tape, grad.astype(np.float32), through_softmax), model.trainable_weights


def _allreduce_worker(args):
    """Median seconds of the gradient allreduce (``average_gradients``) and of the logs' (``summed``)."""
    from fastconv import keras, metrics, parallel

    parallel.set_num_threads(1)
    distribution = keras.distribution.DataParallel()
    result = {}
    for name, build in MODELS.items():
        gradients, variables = _gradients_and_variables(build(keras), 4)
        loss, accuracy = metrics.Mean(name="loss"), metrics.Mean(name="accuracy")
        timings = {"allreduce": [], "logs": []}
        for _ in range(args.repeats):
            distribution.barrier()
            start = time.perf_counter()
            distribution.average_gradients(variables, gradients, 2)
            middle = time.perf_counter()
            with distribution.summed(loss, accuracy):
                pass
            timings["allreduce"].append(middle - start)
            timings["logs"].append(time.perf_counter() - middle)
        result[name] = {"parameters": int(sum(np.prod(v.shape) for v in variables)),
                        **{key: statistics.median(values) for key, values in timings.items()}}
    if distribution.is_chief:
        print(json.dumps(result))


def _compute_worker(args):
    """Median seconds of one ``train_on_batch`` step on one thread at each per-process batch."""
    from fastconv import keras, parallel

    from benchmarks.common import median_seconds

    parallel.set_num_threads(1)
    result = {}
    for name, build in MODELS.items():
        model = build(keras)
        result[name] = {}
        for batch in BATCHES:
            x = np.random.default_rng(0).random((batch, 28, 28, 1), np.float32)
            y = np.arange(batch) % 10
            model.train_on_batch(x, y)
            result[name][batch] = median_seconds(lambda m=model, x=x, y=y: m.train_on_batch(x, y), min_total=1.0,
                                                 min_calls=5)
    print(json.dumps(result))


# ------------------------------------------------------------------------------------------ reports


def _compare_epochs(args):
    common = ["--epoch-worker", "--images", str(args.images), "--epochs", str(args.epochs),
              "--batch-size", str(args.batch_size)]
    runs = {"mpirun -n 2, 1 thread each": _mpirun(2, *common, "--threads", "1", "--distributed"),
            "1 process, 2 threads": [sys.executable, os.path.abspath(__file__), *common, "--threads", "2"]}
    results = {name: [] for name in runs}
    for round_ in range(args.rounds):
        for name in (list(runs) if round_ % 2 == 0 else list(runs)[::-1]):
            results[name].append(_last_json_line(runs[name]))
            print(f"round {round_ + 1}: {name}: {results[name][-1]}", flush=True)
    skip = 1 if args.epochs > 1 else 0

    def epoch(result):
        return statistics.median(result["epoch_seconds"][skip:])

    print(f"\n{args.images} images, global batch {args.batch_size}, {args.epochs} epochs, {args.rounds} rounds")
    for name, rows in results.items():
        print(f"{name:28s} median epoch {statistics.median(epoch(r) for r in rows):6.2f} s   training accuracy "
              f"{[round(r['accuracy'], 4) for r in rows]}   test accuracy "
              f"{[round(r['test_accuracy'], 4) for r in rows]}")
    two, one = results.values()
    ratios = [epoch(a) / epoch(b) for a, b in zip(two, one)]
    print(f"epoch time, 2 processes / 1 process: median of per-round ratios {statistics.median(ratios):.3f} "
          f"({', '.join(f'{r:.3f}' for r in ratios)})")


def _fit_line(points):
    """``(a, c)`` of the least-squares line ``a + c * batch`` through ``{batch: seconds}``."""
    batches = np.array([float(b) for b in points])
    c, a = np.polyfit(batches, np.array(list(points.values())), 1)
    return max(a, 0.0), c


def _step_seconds(a, c, size, machines, batch, bandwidth, latency):
    communication = 0.0
    if machines > 1:
        communication = (2 * (machines - 1) * latency + 2 * (machines - 1) / machines * size / bandwidth
                         + 2 * math.ceil(math.log2(machines)) * latency)
    return a + c * batch / machines + communication


def _scaling(args):
    compute = _last_json_line([sys.executable, os.path.abspath(__file__), "--compute-worker"])
    reduce = _last_json_line(_mpirun(2, "--allreduce-worker", "--repeats", str(args.repeats)))
    report = {"compute_seconds": compute, "allreduce_2_processes_one_machine": reduce, "model": {}}
    for name in MODELS:
        a, c = _fit_line({int(b): s for b, s in compute[name].items()})
        size = 4 * reduce[name]["parameters"]
        print(f"\n{name}: {reduce[name]['parameters']:,} parameters = {size / 1e6:.2f} MB of float32 gradients; "
              f"step compute on 1 thread {' '.join(f'b{b}: {s * 1e3:.1f} ms' for b, s in compute[name].items())}"
              f" -> a = {a * 1e3:.2f} ms + c = {c * 1e3:.3f} ms/sample; allreduce between 2 processes on this "
              f"machine {reduce[name]['allreduce'] * 1e3:.3f} ms (logs {reduce[name]['logs'] * 1e6:.0f} us)")
        report["model"][name] = {"a": a, "c": c, "bytes": size, "networks": {}}
        for network, (bandwidth, latency) in NETWORKS.items():
            print(f"  {network} (latency {latency * 1e6:.0f} us): efficiency at global batch B on N machines; "
                  f"smallest B (multiple of N) for >= 80 %")
            rows = {}
            for machines in MACHINES:
                efficiency = {batch: _step_seconds(a, c, size, 1, batch, bandwidth, latency)
                              / (machines * _step_seconds(a, c, size, machines, batch, bandwidth, latency))
                              for batch in (256, 1024, 4096)}
                smallest = next((b for b in range(machines, 2 ** 20, machines)
                                 if _step_seconds(a, c, size, 1, b, bandwidth, latency)
                                 >= 0.8 * machines * _step_seconds(a, c, size, machines, b, bandwidth, latency)),
                                None)
                rows[machines] = {"efficiency": efficiency, "smallest_batch_80": smallest}
                print(f"    N={machines:3d}  " + "  ".join(f"B={b}: {e * 100:5.1f} %" for b, e in efficiency.items())
                      + f"  B>={smallest}")
            report["model"][name]["networks"][network] = rows
    if args.json:
        with open(args.json, "w") as file:
            json.dump(report, file, indent=1)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=9600)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--scaling", action="store_true")
    parser.add_argument("--repeats", type=int, default=200)
    parser.add_argument("--json", help="with --scaling: write the measurements and the model's figures here")
    parser.add_argument("--threads", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--distributed", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--epoch-worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--compute-worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--allreduce-worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.epoch_worker:
        _epoch_worker(args)
    elif args.compute_worker:
        _compute_worker(args)
    elif args.allreduce_worker:
        _allreduce_worker(args)
    elif args.scaling:
        _scaling(args)
    else:
        _compare_epochs(args)


if __name__ == "__main__":
    main()
