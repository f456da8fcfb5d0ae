"""Train the textbook's Fashion-MNIST CNN with fastconv, PyTorch and Keras (TensorFlow), side by side.

Each framework trains in its own process on the same data (one 80/20
train/validation split, written once to an ``.npz``), with the same model,
Adam, batch size 32 and thread count. ``--epochs E`` times E epochs per
framework, and ``--rounds R`` repeats that in turn (fastconv, PyTorch, Keras,
fastconv, ...) so that a noisy machine hits all three alike; the report gives
the median seconds per epoch and the ratio to the faster of PyTorch and
Keras. ``--full`` instead trains each once to convergence (up to 20 epochs,
EarlyStopping with patience 2 and the best weights restored) and reports
validation and test accuracy as well.

Keras runs from a Python that has TensorFlow (``--keras-python``), so that
TensorFlow need not share fastconv's environment::

    python -m venv /tmp/tfenv && /tmp/tfenv/bin/pip install tensorflow-cpu==2.21.0
    python benchmarks/compare_training.py --keras-python /tmp/tfenv/bin/python --epochs 2 --rounds 2

Without it, the Keras column is left out. Compile and graph-building time is
excluded: each worker runs a short warm-up fit on 64 images before timing.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

FRAMEWORKS = ("fastconv", "torch", "keras")


def _split(seed=42):
    from fastconv.datasets import fashion_mnist_load_data

    (x, y), (x_test, y_test) = fashion_mnist_load_data()
    x = (x.reshape(-1, 28, 28, 1) / 255.0).astype(np.float32)
    order = np.random.default_rng(seed).permutation(len(x))
    n_val = len(x) // 5
    return dict(x_train=x[order[n_val:]], y_train=y[order[n_val:]], x_val=x[order[:n_val]], y_val=y[order[:n_val]],
                x_test=(x_test.reshape(-1, 28, 28, 1) / 255.0).astype(np.float32), y_test=y_test)


# ------------------------------------------------------------------------------------------ workers


class _Result:
    """What a worker reports: seconds of each epoch, and accuracies when it trained to convergence."""

    def __init__(self):
        self.epoch_seconds, self.val_accuracy, self.test_accuracy, self.epochs = [], None, None, 0

    def as_dict(self):
        return dict(epoch_seconds=self.epoch_seconds, val_accuracy=self.val_accuracy,
                    test_accuracy=self.test_accuracy, epochs=self.epochs)


def _keras_like(keras, data, epochs, full, result, threads):
    """fastconv and Keras run the same program: that is the point of fastconv.keras."""
    keras.utils.set_random_seed(42)
    model = keras.Sequential([
        keras.Input(shape=(28, 28, 1)),
        keras.layers.Conv2D(32, kernel_size=3, activation="relu", padding="same"),
        keras.layers.MaxPooling2D(2),
        keras.layers.Conv2D(64, kernel_size=(3, 3), activation="relu", padding="same"),
        keras.layers.MaxPooling2D(2),
        keras.layers.Flatten(),
        keras.layers.Dense(100, activation="relu"),
        keras.layers.Dropout(0.4),
        keras.layers.Dense(10, activation="softmax"),
    ])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(data["x_train"][:64], data["y_train"][:64], epochs=1, verbose=0)  # compile / trace once

    class Timer(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            result.epoch_seconds.append(time.perf_counter() - self.start)

    callbacks = [Timer()]
    if full:
        callbacks.append(keras.callbacks.EarlyStopping(patience=2, restore_best_weights=True))
    history = model.fit(data["x_train"], data["y_train"], batch_size=32, epochs=20 if full else epochs, verbose=0,
                        validation_data=(data["x_val"], data["y_val"]), callbacks=callbacks)
    result.epochs = len(history.epoch)
    if full:
        result.val_accuracy = float(model.evaluate(data["x_val"], data["y_val"], verbose=0)[1])
        result.test_accuracy = float(model.evaluate(data["x_test"], data["y_test"], verbose=0)[1])


def run_fastconv(data, epochs, full, result, threads):
    import numba

    from fastconv import keras

    numba.set_num_threads(threads)
    _keras_like(keras, data, epochs, full, result, threads)


def run_keras(data, epochs, full, result, threads):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf
    from tensorflow import keras

    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    _keras_like(keras, data, epochs, full, result, threads)


def run_torch(data, epochs, full, result, threads):
    import torch
    from torch import nn

    torch.set_num_threads(threads)
    torch.manual_seed(42)
    model = nn.Sequential(
        nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(3136, 100), nn.ReLU(), nn.Dropout(0.4), nn.Linear(100, 10))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-7)   # Keras's defaults
    loss_fn = nn.CrossEntropyLoss()
    to_nchw = lambda a: torch.from_numpy(np.ascontiguousarray(a.transpose(0, 3, 1, 2)))  # noqa: E731
    x, y = to_nchw(data["x_train"]), torch.from_numpy(data["y_train"].astype(np.int64))

    def accuracy(xs, ys):
        model.eval()
        with torch.no_grad():
            correct = sum(int((model(to_nchw(xs[i:i + 32])).argmax(1).numpy() == ys[i:i + 32]).sum())
                          for i in range(0, len(xs), 32))
        return correct / len(xs)

    def val_loss():
        model.eval()
        with torch.no_grad():
            xs, ys = to_nchw(data["x_val"]), torch.from_numpy(data["y_val"].astype(np.int64))
            return float(sum(loss_fn(model(xs[i:i + 32]), ys[i:i + 32]) * len(ys[i:i + 32])
                             for i in range(0, len(xs), 32)) / len(xs))

    def epoch(indices):
        model.train()
        for start in range(0, len(indices), 32):
            batch = indices[start:start + 32]
            optimizer.zero_grad()
            loss_fn(model(x[batch]), y[batch]).backward()
            optimizer.step()

    epoch(torch.arange(64))   # warm-up
    best, best_state, waited = None, None, 0
    for number in range(20 if full else epochs):
        start = time.perf_counter()
        epoch(torch.randperm(len(x)))
        current = val_loss()   # Keras validates inside each epoch too
        result.epoch_seconds.append(time.perf_counter() - start)
        result.epochs = number + 1
        if full:
            if best is None or current < best:
                best, waited = current, 0
                best_state = {k: v.clone() for k, v in model.state_dict().items()}
            else:
                waited += 1
                if waited >= 2:
                    break
    if full:
        model.load_state_dict(best_state)
        result.val_accuracy = accuracy(data["x_val"], data["y_val"])
        result.test_accuracy = accuracy(data["x_test"], data["y_test"])


def _worker(args):
    data = dict(np.load(args.data))
    result = _Result()
    {"fastconv": run_fastconv, "torch": run_torch, "keras": run_keras}[args.worker](
        data, args.epochs, args.full, result, args.threads)
    with open(args.out, "w") as f:
        json.dump(result.as_dict(), f)


# ------------------------------------------------------------------------------------------ driver


def _run_worker(python, framework, data_path, args):
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as out:
        out_path = out.name
    env = dict(os.environ, NUMBA_NUM_THREADS=str(args.threads), OMP_NUM_THREADS=str(args.threads),
               PYTHONPATH=os.pathsep.join(p for p in (os.environ.get("PYTHONPATH"), _REPO) if p))
    command = [python, os.path.abspath(__file__), "--worker", framework, "--data", data_path, "--out", out_path,
               "--epochs", str(args.epochs), "--threads", str(args.threads)] + (["--full"] if args.full else [])
    subprocess.run(command, check=True, env=env)
    with open(out_path) as f:
        result = json.load(f)
    os.unlink(out_path)
    return result


_REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--full", action="store_true", help="train to convergence and report accuracy")
    parser.add_argument("--keras-python", default=None, help="a Python with tensorflow installed")
    parser.add_argument("--frameworks", default=",".join(FRAMEWORKS))
    parser.add_argument("--json", default=None, help="write the results here")
    parser.add_argument("--worker", choices=FRAMEWORKS, help=argparse.SUPPRESS)
    parser.add_argument("--data", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return _worker(args)

    frameworks = [f for f in args.frameworks.split(",") if f != "keras" or args.keras_python]
    with tempfile.TemporaryDirectory() as tmp:
        data_path = os.path.join(tmp, "split.npz")
        np.savez(data_path, **_split())
        results = {f: [] for f in frameworks}
        for round_number in range(1 if args.full else args.rounds):
            for framework in frameworks:
                python = args.keras_python if framework == "keras" else sys.executable
                results[framework].append(_run_worker(python, framework, data_path, args))
                print(f"round {round_number + 1}: {framework} done", file=sys.stderr, flush=True)
    _report(results, args)


def _report(results, args):
    summary = {}
    for framework, runs in results.items():
        seconds = [s for run in runs for s in run["epoch_seconds"]]
        summary[framework] = dict(median_epoch_seconds=statistics.median(seconds), epochs=[r["epochs"] for r in runs],
                                  val_accuracy=runs[-1]["val_accuracy"], test_accuracy=runs[-1]["test_accuracy"])
    references = [summary[f]["median_epoch_seconds"] for f in ("torch", "keras") if f in summary]
    best = min(references) if references else None
    print(f"\nTextbook CNN on Fashion-MNIST (48,000 training images, batch 32, Adam), {args.threads} threads each;")
    print("median seconds per epoch (training + validation) over all timed epochs.\n")
    print("| framework | s/epoch | vs faster of PyTorch/Keras | epochs | val accuracy | test accuracy |")
    print("|---|---|---|---|---|---|")
    for framework, row in summary.items():
        ratio = f"{row['median_epoch_seconds'] / best:.2f}x" if best else "-"
        val = "-" if row["val_accuracy"] is None else f"{row['val_accuracy']:.4f}"
        test = "-" if row["test_accuracy"] is None else f"{row['test_accuracy']:.4f}"
        print(f"| {framework} | {row['median_epoch_seconds']:.1f} | {ratio} | {row['epochs']} | {val} | {test} |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(summary, f, indent=2)


if __name__ == "__main__":
    main()
