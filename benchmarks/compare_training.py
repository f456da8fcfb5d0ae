"""Train the textbook's Fashion-MNIST CNN with fastconv, PyTorch and Keras (TensorFlow), and predict with it,
side by side.

``--model resnet`` or ``--model mobilenet`` trains ``examples/small_cnns.py``'s
small ResNet or MobileNet-style net instead (the same Keras code for fastconv
and Keras, its twin of ``benchmarks/common.py`` for PyTorch; goal: an epoch
at most 0.7x the faster reference's, against 0.5x for the textbook CNN).

Each framework trains in its own process on the same data (one 80/20
train/validation split, written once to an ``.npz``), with the same model,
Adam, batch size 32 and thread count. ``--epochs E`` times E epochs per
framework, and ``--rounds R`` repeats that in turn (fastconv, PyTorch, Keras;
then PyTorch, Keras, fastconv; ...) so that a noisy machine hits all three
alike; the report gives the median seconds per epoch, the ratio of medians to
the faster of PyTorch and Keras, and the epoch goal's verdict on the median of
the per-round ratios (fastconv's epoch over the faster reference's in the same
round, minutes apart: on a machine whose speed drifts by tens of percent over
a half-hour run, a steadier number than the ratio of medians). ``--full``
instead trains each once to convergence (up to 20 epochs, EarlyStopping with
patience 2 and the best weights restored) and reports validation and test
accuracy as well.

``--predict`` also times inference on the 10,000 test images, after the
training (``--epochs 0`` skips the training and implies ``--predict``: a
predict-only comparison). fastconv and Keras run the same call,
``model.predict(x_test, batch_size=32, verbose=0)`` on the NHWC float32 numpy
array; PyTorch runs ``model.eval()`` and, under ``torch.no_grad()``, the
model and a softmax (the Keras model ends with one) on batches of 32,
collected into one numpy array. PyTorch runs in ``torch.channels_last``, its
faster layout for this model here (one training step 14.1 ms against 16.5 ms
in NCHW, medians of 5 x 100 interleaved steps, 2 threads): the model's weights
and the training images are converted once, before timing. For predict it gets
the same NHWC numpy array and converts each batch to a channels_last tensor
inside the timed region: each framework is timed from the same numpy input
to a numpy output, whatever layout work it needs on the way. Each worker runs
predict once untimed (compilation, tracing, allocator), then
``--predict-repeats`` times (5 by default) timed; the report gives the median
over all rounds and the ratio of fastconv to the faster of PyTorch and Keras,
against the goal of at most 0.7.

Keras runs from a Python that has TensorFlow (``--keras-python``), so that
TensorFlow need not share fastconv's environment::

    python -m venv /tmp/tfenv && /tmp/tfenv/bin/pip install tensorflow-cpu==2.21.0
    python benchmarks/compare_training.py --keras-python /tmp/tfenv/bin/python --epochs 2 --rounds 2
    python benchmarks/compare_training.py --keras-python /tmp/tfenv/bin/python --epochs 0   # predict only
    python benchmarks/compare_training.py --keras-python /tmp/tfenv/bin/python --epochs 1 --predict

Without it, the Keras column is left out. Compile and graph-building time is
excluded: each worker runs a short warm-up fit on 64 images before timing
epochs, and one untimed predict before timing predict. A predict-only run
(2 rounds of 1 untimed and 5 timed predicts per framework) should take one to
two minutes on 2 cores for the three frameworks, much of it process start,
imports and TensorFlow's tracing (an estimate from smoke runs on one thread:
one predict of the 10,000 images takes about a second with fastconv, two with
PyTorch).
Shared-machine mode, ``--busy 0,1,3``: each round runs every framework alone
and then beside 1 and 3 busy processes (``python -c "while True: pass"``, one
CPU each, as a browser tab or another kernel would take), the frameworks in
rotating order within each level. The report gives each framework's median
seconds per epoch at each level and its slowdown against its own time alone,
and the shared-machine goals' verdicts (``SHARED_GOAL_ONE_BUSY``; beside 3
busy processes, fastconv slows down no more than the better of PyTorch and
Keras), and the epoch goal's alone, on the median of the per-round ratios as
above (with the ratio of the medians beside it). ``--images N`` trains on the first N images of the training split and
validates on the first N/4 of the validation split: shorter epochs, so that
a run of all levels and frameworks takes minutes (the issue that asked for
this mode measured 4,800 images)::

    python benchmarks/compare_training.py --keras-python /tmp/tfenv/bin/python \\
        --busy 0,1,3 --images 4800 --epochs 2 --rounds 3

``--limit N`` keeps the first N images of each split: a smoke run whose
numbers mean nothing.
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

if not __package__:  # run as a script: make the `benchmarks` package importable
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks.common import MODELS, build_model, build_torch_model  # noqa: E402  (imports no framework)

FRAMEWORKS = ("fastconv", "torch", "keras")
PREDICT_GOAL_RATIO = 0.7
"""The goal for inference: fastconv's predict time / the faster of PyTorch's and Keras's, at most this."""
MODEL_TITLES = {"textbook": "Textbook CNN", "resnet": "Small ResNet", "mobilenet": "MobileNet-style net"}
EPOCH_GOAL_RATIOS = {"textbook": 0.5, "resnet": 0.7, "mobilenet": 0.7}
"""The goal for training, per ``--model``: fastconv's epoch time / the faster of PyTorch's and Keras's, at most
this."""
SHARED_GOAL_ONE_BUSY = 1.6
"""The shared-machine goal: fastconv's epoch beside one busy process / its epoch alone, at most this (a fair
share of two cores among three busy threads is 1.5)."""
PREDICT_BATCH = 32


def _split(seed=42, limit=None):
    """The 80/20 train/validation split and the test set, scaled to [0, 1], NHWC float32; ``limit`` keeps the first
    ``limit`` images of each."""
    from fastconv.datasets import fashion_mnist_load_data

    (x, y), (x_test, y_test) = fashion_mnist_load_data()
    x = (x.reshape(-1, 28, 28, 1) / 255.0).astype(np.float32)
    order = np.random.default_rng(seed).permutation(len(x))
    n_val = len(x) // 5
    split = dict(x_train=x[order[n_val:]], y_train=y[order[n_val:]], x_val=x[order[:n_val]], y_val=y[order[:n_val]],
                 x_test=(x_test.reshape(-1, 28, 28, 1) / 255.0).astype(np.float32), y_test=y_test)
    return {name: array[:limit] for name, array in split.items()}


# ------------------------------------------------------------------------------------------ workers


class _Result:
    """What a worker reports: seconds of each epoch, accuracies when it trained to convergence, and seconds of each
    timed predict over ``predict_images`` images with the shape of what it returned."""

    def __init__(self):
        self.epoch_seconds, self.val_accuracy, self.test_accuracy, self.epochs = [], None, None, 0
        self.predict_seconds, self.predict_images, self.predict_shape = [], 0, None

    def as_dict(self):
        return dict(epoch_seconds=self.epoch_seconds, val_accuracy=self.val_accuracy,
                    test_accuracy=self.test_accuracy, epochs=self.epochs, predict_seconds=self.predict_seconds,
                    predict_images=self.predict_images, predict_shape=self.predict_shape)


def _time_predict(predict, x, repeats, result):
    """Call ``predict(x)`` once untimed (compilation, tracing, allocator), then ``repeats`` times timed."""
    out = predict(x)
    result.predict_images, result.predict_shape = len(x), list(np.shape(out))
    for _ in range(repeats):
        start = time.perf_counter()
        predict(x)
        result.predict_seconds.append(time.perf_counter() - start)


def _keras_like(keras, data, epochs, full, result, threads, predict_repeats=0, model_name="textbook"):
    """fastconv and Keras run the same program: that is the point of fastconv.keras."""
    keras.utils.set_random_seed(42)
    model = build_model(model_name, keras)

    def fit():
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

    if full or epochs:
        fit()
    if predict_repeats:
        _time_predict(lambda x: model.predict(x, batch_size=PREDICT_BATCH, verbose=0), data["x_test"],
                      predict_repeats, result)


def run_fastconv(data, epochs, full, result, threads, predict_repeats=0, model_name="textbook"):
    from fastconv import keras, parallel

    parallel.set_num_threads(threads)
    _keras_like(keras, data, epochs, full, result, threads, predict_repeats, model_name)


def run_keras(data, epochs, full, result, threads, predict_repeats=0, model_name="textbook"):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf
    from tensorflow import keras

    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    _keras_like(keras, data, epochs, full, result, threads, predict_repeats, model_name)


def run_torch(data, epochs, full, result, threads, predict_repeats=0, model_name="textbook"):
    import torch
    from torch import nn

    torch.set_num_threads(threads)
    torch.manual_seed(42)
    model = build_torch_model(model_name).to(memory_format=torch.channels_last)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-7)   # Keras's defaults
    loss_fn = nn.CrossEntropyLoss()

    def to_nchw(a):
        """NHWC numpy -> an NCHW-shaped tensor stored channels_last (the same memory order as NHWC)."""
        return torch.from_numpy(a).permute(0, 3, 1, 2).contiguous(memory_format=torch.channels_last)

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

    def predict(xs):
        # What Keras's predict does: batches of 32, NHWC numpy in (converted per batch), probabilities out.
        model.eval()
        with torch.no_grad():
            return np.concatenate([torch.softmax(model(to_nchw(xs[i:i + PREDICT_BATCH])), dim=1).numpy()
                                   for i in range(0, len(xs), PREDICT_BATCH)])

    def fit():
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

    if full or epochs:
        fit()
    if predict_repeats:
        _time_predict(predict, data["x_test"], predict_repeats, result)


def _worker(args):
    data = dict(np.load(args.data))
    result = _Result()
    {"fastconv": run_fastconv, "torch": run_torch, "keras": run_keras}[args.worker](
        data, args.epochs, args.full, result, args.threads, args.predict_repeats if args.predict else 0, args.model)
    with open(args.out, "w") as f:
        json.dump(result.as_dict(), f)


# ------------------------------------------------------------------------------------------ driver


def _run_worker(python, framework, data_path, args):
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as out:
        out_path = out.name
    env = dict(os.environ, FASTCONV_NUM_THREADS=str(args.threads), OMP_NUM_THREADS=str(args.threads),
               PYTHONPATH=os.pathsep.join(p for p in (os.environ.get("PYTHONPATH"), _REPO) if p))
    command = [python, os.path.abspath(__file__), "--worker", framework, "--data", data_path, "--out", out_path,
               "--epochs", str(args.epochs), "--threads", str(args.threads),
               "--predict-repeats", str(args.predict_repeats), "--model", args.model]
    command += (["--full"] if args.full else []) + (["--predict"] if args.predict else [])
    subprocess.run(command, check=True, env=env)
    with open(out_path) as f:
        result = json.load(f)
    os.unlink(out_path)
    return result


_REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=1,
                        help="epochs timed per round (default 1); 0: no training, time predict only")
    parser.add_argument("--rounds", type=int, default=2,
                        help="worker processes per framework, run in turn (default 2; 1 with --full)")
    parser.add_argument("--threads", type=int, default=2, help="threads for every framework (default 2)")
    parser.add_argument("--model", choices=MODELS, default="textbook",
                        help="the textbook CNN (default) or examples/small_cnns.py's resnet or mobilenet")
    parser.add_argument("--full", action="store_true", help="train to convergence and report accuracy")
    parser.add_argument("--predict", action="store_true",
                        help="also time model.predict on the test images (implied by --epochs 0)")
    parser.add_argument("--predict-repeats", type=int, default=5,
                        help="timed predicts per worker, after an untimed one (default 5)")
    parser.add_argument("--busy", default=None, metavar="LEVELS",
                        help="shared-machine mode: comma-separated numbers of busy processes to run beside the "
                             "frameworks, e.g. 0,1,3")
    parser.add_argument("--images", type=int, default=None, metavar="N",
                        help="train on the first N training images and validate on N/4 (default: all)")
    parser.add_argument("--limit", type=int, default=None, metavar="N",
                        help="keep the first N images of each split: a smoke run, not a measurement")
    parser.add_argument("--keras-python", default=None, help="a Python with tensorflow installed")
    parser.add_argument("--frameworks", default=",".join(FRAMEWORKS),
                        help=f"comma-separated, some of {','.join(FRAMEWORKS)} (default all; keras needs "
                             "--keras-python)")
    parser.add_argument("--json", default=None,
                        help="write the results here: {frameworks: {name: medians, ratios, raw seconds, ...}, "
                             "predict_goal, settings}")
    parser.add_argument("--worker", choices=FRAMEWORKS, help=argparse.SUPPRESS)
    parser.add_argument("--data", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        return _worker(args)
    if args.epochs < 0 or args.rounds < 1 or args.predict_repeats < 1 or (args.limit is not None and args.limit < 1):
        parser.error("--epochs must be at least 0, and --rounds, --predict-repeats and --limit at least 1")
    if args.epochs == 0 and not args.full:
        args.predict = True
    unknown = set(args.frameworks.split(",")) - set(FRAMEWORKS)
    if unknown:
        parser.error(f"--frameworks: unknown {', '.join(sorted(unknown))}; expected some of {', '.join(FRAMEWORKS)}")

    frameworks = [f for f in args.frameworks.split(",") if f != "keras" or args.keras_python]
    if args.busy is not None:
        try:
            levels = [int(level) for level in args.busy.split(",")]
        except ValueError:
            levels = []
        if not levels or min(levels) < 0 or levels[0] != 0:
            parser.error("--busy takes comma-separated counts of busy processes, starting with 0, e.g. 0,1,3")
        if args.full or args.epochs < 1:
            parser.error("--busy times epochs: it needs --epochs of at least 1 and no --full")
        return _shared_machine(frameworks, levels, args)
    with tempfile.TemporaryDirectory() as tmp:
        data_path = os.path.join(tmp, "split.npz")
        split = _split(limit=args.limit)
        np.savez(data_path, **split)
        results = {f: [] for f in frameworks}
        for round_number in range(1 if args.full else args.rounds):
            # Each round starts with the next framework, so none always runs right after the same other one.
            shift = round_number % len(frameworks)
            for framework in frameworks[shift:] + frameworks[:shift]:
                python = args.keras_python if framework == "keras" else sys.executable
                results[framework].append(_run_worker(python, framework, data_path, args))
                print(f"round {round_number + 1}: {framework} done", file=sys.stderr, flush=True)
    return _report(results, args, train_images=len(split["x_train"]))


def _busy_processes(count):
    """``count`` processes that each keep one CPU busy, as other programs on a shared machine do."""
    return [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(count)]


def _shared_machine(frameworks, levels, args):
    """Each round: every level of busy processes in turn, and at each level every framework in turn."""
    with tempfile.TemporaryDirectory() as tmp:
        data_path = os.path.join(tmp, "split.npz")
        split = _split(limit=args.limit)
        if args.images:
            split = {name: array[:args.images if "train" in name else max(1, args.images // 4)]
                     for name, array in split.items()}
        np.savez(data_path, **split)
        results = {(framework, level): [] for framework in frameworks for level in levels}
        for round_number in range(args.rounds):
            for level in levels:
                busy = _busy_processes(level)
                try:
                    shift = (round_number + level) % len(frameworks)
                    for framework in frameworks[shift:] + frameworks[:shift]:
                        python = args.keras_python if framework == "keras" else sys.executable
                        results[framework, level].append(_run_worker(python, framework, data_path, args))
                        print(f"round {round_number + 1}, {level} busy: {framework} done", file=sys.stderr,
                              flush=True)
                finally:
                    for process in busy:
                        process.kill()
                        process.wait()
    return _report_shared(results, frameworks, levels, args, train_images=len(split["x_train"]))


def _report_shared(results, frameworks, levels, args, train_images):
    seconds = {key: _median([s for run in runs for s in run["epoch_seconds"]]) for key, runs in results.items()}
    slowdown = {(f, level): seconds[f, level] / seconds[f, 0] for f in frameworks for level in levels}
    print(f"\n{MODEL_TITLES[args.model]} on Fashion-MNIST ({train_images:,} training images, batch 32, Adam), "
          f"{args.threads} threads each, beside busy processes; {args.rounds} round(s); s/epoch: median seconds per "
          f"epoch (training + validation); in brackets the slowdown against the framework's own epoch alone.\n")
    print("| framework | " + " | ".join("alone" if level == 0 else f"+{level} busy" for level in levels) + " |")
    print("|---|" + "--:|" * len(levels))
    for f in frameworks:
        print(f"| {f} | " + " | ".join(f"{seconds[f, level]:.2f}" + ("" if level == 0 else
                                                                      f" ({slowdown[f, level]:.2f}x)")
                                       for level in levels) + " |")
    goals = {}
    references = [f for f in ("torch", "keras") if f in frameworks]
    if "fastconv" in frameworks and references:
        # As the plain mode judges it: the median of the per-round ratios (alone), not the ratio of medians.
        round_ratios, limit = _round_ratios({f: results[f, 0] for f in frameworks}), EPOCH_GOAL_RATIOS[args.model]
        ratio = _median(round_ratios)
        goals["quiet"] = dict(ratio=ratio, round_ratios=round_ratios, limit=limit, met=ratio <= limit)
        print(f"\nAlone, fastconv / the faster of PyTorch and Keras <= {limit}, median of the per-round ratios: "
              f"{'met' if goals['quiet']['met'] else 'NOT met'} ({ratio:.2f}; rounds "
              f"{', '.join(f'{r:.2f}' for r in round_ratios)}; ratio of the medians "
              f"{seconds['fastconv', 0] / min(seconds[f, 0] for f in references):.2f}).")
    if "fastconv" in frameworks and 1 in levels:
        ratio = slowdown["fastconv", 1]
        goals["one_busy"] = dict(ratio=ratio, limit=SHARED_GOAL_ONE_BUSY, met=ratio <= SHARED_GOAL_ONE_BUSY)
        print(f"Beside 1 busy process, fastconv's slowdown <= {SHARED_GOAL_ONE_BUSY}: "
              f"{'met' if goals['one_busy']['met'] else 'NOT met'} ({ratio:.2f}x).")
    for level in levels:
        if level > 1 and "fastconv" in frameworks and references:
            best = min(slowdown[f, level] for f in references)
            goals[f"{level}_busy"] = dict(ratio=slowdown["fastconv", level], limit=best,
                                          met=slowdown["fastconv", level] <= best)
            print(f"Beside {level} busy processes, fastconv's slowdown <= the better of PyTorch's and Keras's "
                  f"({best:.2f}x): {'met' if goals[f'{level}_busy']['met'] else 'NOT met'} "
                  f"({slowdown['fastconv', level]:.2f}x).")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(dict(seconds={f"{fw} +{level}": value for (fw, level), value in seconds.items()},
                           raw={f"{fw} +{level}": runs for (fw, level), runs in results.items()}, goals=goals,
                           settings=dict(model=args.model, epochs=args.epochs, rounds=args.rounds, threads=args.threads,
                                         busy=levels, images=args.images)), f, indent=2)
    return 0


def _median(values):
    return statistics.median(values) if values else None


def _ratios(summary, key):
    """``{framework: its median / the faster of PyTorch's and Keras's}`` for ``key``, and which was faster."""
    references = {f: summary[f][key] for f in ("torch", "keras") if f in summary and summary[f][key] is not None}
    if not references:
        return {}, None
    faster = min(references, key=references.get)
    return {f: row[key] / references[faster] for f, row in summary.items() if row[key] is not None}, faster


def _round_ratios(results):
    """Per round, fastconv's epoch time / the faster reference's epoch time in the same round: a ratio of
    runs minutes apart, which a machine whose speed drifts over a long run disturbs less than a ratio of
    medians over all rounds. Empty without fastconv, a reference, or timed epochs."""
    references = [f for f in ("torch", "keras") if f in results]
    if "fastconv" not in results or not references:
        return []
    ratios = []
    for number, run in enumerate(results["fastconv"]):
        reference = min(_median(results[f][number]["epoch_seconds"]) or float("inf") for f in references)
        own = _median(run["epoch_seconds"])
        if own is not None and reference != float("inf"):
            ratios.append(own / reference)
    return ratios


def _report(results, args, train_images):
    summary = {}
    for framework, runs in results.items():
        summary[framework] = dict(
            median_epoch_seconds=_median([s for run in runs for s in run["epoch_seconds"]]),
            round_epoch_seconds=[_median(run["epoch_seconds"]) for run in runs],
            epochs=[r["epochs"] for r in runs], val_accuracy=runs[-1]["val_accuracy"],
            test_accuracy=runs[-1]["test_accuracy"],
            median_predict_seconds=_median([s for run in runs for s in run.get("predict_seconds", [])]),
            predict_seconds=[s for run in runs for s in run.get("predict_seconds", [])],
            predict_images=runs[-1].get("predict_images", 0), predict_shape=runs[-1].get("predict_shape"))
    epoch_ratios, epoch_reference = _ratios(summary, "median_epoch_seconds")
    round_ratios = _round_ratios(results)
    predict_ratios, predict_reference = _ratios(summary, "median_predict_seconds")
    for framework, row in summary.items():
        row.update(epoch_ratio=epoch_ratios.get(framework), predict_ratio=predict_ratios.get(framework))

    print(f"\n{MODEL_TITLES[args.model]} on Fashion-MNIST ({train_images:,} training images, batch 32, Adam), "
          f"{args.threads} threads each, {args.rounds if not args.full else 1} round(s) of worker processes.")
    if args.epochs or args.full:
        print("s/epoch: median seconds per epoch (training + validation) over all timed epochs.")
    if args.predict:
        images = next(iter(summary.values()))["predict_images"] if summary else 0
        print(f"predict: median seconds of one predict of the {images:,} test images, batch {PREDICT_BATCH}, over "
              f"{args.predict_repeats} timed calls per round (one untimed call first).")
    if args.limit:
        print(f"**Smoke run (--limit {args.limit}): these numbers are not a measurement.**")
    print("Ratios: the framework's median time / the faster of PyTorch's and Keras's (Keras only with "
          "--keras-python).\n")
    print("| framework | s/epoch | epoch vs faster of PyTorch/Keras | predict s | predict vs faster of PyTorch/Keras "
          "| epochs | val accuracy | test accuracy |")
    print("|---|--:|--:|--:|--:|---|--:|--:|")

    def fmt(value, pattern):
        return "-" if value is None else pattern.format(value)

    for framework, row in summary.items():
        print(f"| {framework} | {fmt(row['median_epoch_seconds'], '{:.1f}')} | {fmt(row['epoch_ratio'], '{:.2f}x')} "
              f"| {fmt(row['median_predict_seconds'], '{:.3f}')} | {fmt(row['predict_ratio'], '{:.2f}x')} "
              f"| {row['epochs']} | {fmt(row['val_accuracy'], '{:.4f}')} | {fmt(row['test_accuracy'], '{:.4f}')} |")
    epoch_goal = None
    if round_ratios:
        ratio, limit = _median(round_ratios), EPOCH_GOAL_RATIOS[args.model]
        epoch_goal = dict(ratio=ratio, round_ratios=round_ratios, limit=limit, met=ratio <= limit)
        print(f"\nEpoch goal ({args.model}), fastconv / faster of PyTorch and Keras <= {limit}, median of the "
              "per-round "
              f"ratios: {'met' if epoch_goal['met'] else 'NOT met'} ({ratio:.2f}; rounds "
              f"{', '.join(f'{r:.2f}' for r in round_ratios)}).")
    goal = None
    if args.predict and "fastconv" in summary and predict_reference is not None:
        ratio = summary["fastconv"]["predict_ratio"]
        missing = [name for f, name in (("torch", "PyTorch"), ("keras", "Keras")) if f not in summary]
        goal = dict(ratio=ratio, limit=PREDICT_GOAL_RATIO, reference=predict_reference, met=ratio <= PREDICT_GOAL_RATIO)
        print(f"\nPredict goal, fastconv / faster of PyTorch and Keras <= {PREDICT_GOAL_RATIO}"
              f"{' (' + ' and '.join(missing) + ' not run)' if missing else ''}: "
              f"{'met' if goal['met'] else 'NOT met'} ({ratio:.2f}, against {predict_reference}).")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(dict(frameworks=summary, epoch_goal=epoch_goal, predict_goal=goal,
                           settings=dict(model=args.model, epochs=args.epochs, rounds=args.rounds, threads=args.threads,
                                         full=args.full, predict=args.predict,
                                         predict_repeats=args.predict_repeats, limit=args.limit)), f, indent=2)


if __name__ == "__main__":
    sys.exit(main())
