"""The textbook's program with fastconv against the same program with Keras: epoch time as the program reports it.

``examples/fashion_mnist_cnn.py`` (the README's main job) is the textbook
chapter's Keras program with one line changed, ``from fastconv import keras``.
This runs it as its readers run it: a new process each time, float64 images
from ``/ 255.0``, 48,000 training and 12,000 validation images,
``verbose=1`` into a pipe (as into a log file), ModelCheckpoint and
EarlyStopping, the framework's default threads; and the same file with that
line back to ``from tensorflow import keras`` under a Python that has
TensorFlow (``--keras-python``). Both read the same Fashion-MNIST files (a
temporary ``KERAS_HOME`` links them, so Keras downloads nothing). The rounds
alternate which framework goes first.

Each run trains ``--epochs`` epochs (3 by default) and prints its own
``seconds per epoch`` (the median of its epochs, training plus validation
plus the callbacks): with 3 epochs the median leaves out Keras's first epoch,
which traces its graph. The report gives both per round, fastconv's over
Keras's per round and the median of those ratios, against the goal of
``GOAL_RATIO``::

    python benchmarks/compare_program.py --keras-python /tmp/tfenv/bin/python --rounds 3

``--limit N`` passes ``--limit N`` to the program (its first N images): a
smoke run whose numbers mean nothing.
"""

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile

REPOSITORY = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PROGRAM = os.path.join(REPOSITORY, "examples", "fashion_mnist_cnn.py")
FASTCONV_IMPORT = "from fastconv import keras"
KERAS_IMPORT = "from tensorflow import keras"
"""The textbook's import, put back for the Keras run (``--keras-import`` may name another, e.g. ``import keras``
for Keras 3 on whatever backend the Python has)."""
GOAL_RATIO = 0.5
"""The goal: the program's epoch with fastconv / the same program's epoch with Keras, at most this."""
_SECONDS = re.compile(r"^seconds per epoch:\s+([0-9.]+)", re.MULTILINE)


def keras_program(source, keras_import=KERAS_IMPORT):
    """The program's source with ``keras_import`` instead of fastconv's import (the one line that differs)."""
    lines = source.splitlines(keepends=True)
    imports = [i for i, line in enumerate(lines) if line.rstrip() == FASTCONV_IMPORT]
    if len(imports) != 1:
        raise ValueError(f"{PROGRAM} should have exactly one line {FASTCONV_IMPORT!r}; found {len(imports)}")
    lines[imports[0]] = keras_import + "\n"
    return "".join(lines)


def seconds_per_epoch(output):
    """The ``seconds per epoch`` the program printed, or ValueError quoting the end of its output."""
    match = _SECONDS.search(output)
    if match is None:
        raise ValueError("the program printed no 'seconds per epoch' line; its output ended with:\n" + output[-2000:])
    return float(match.group(1))


def _dataset_home(folder):
    """A KERAS_HOME whose ``datasets/fashion-mnist`` links the gzip files of Debian's package (or of Keras's own
    cache, where they are), so that the Keras run downloads nothing and both read the same files."""
    from fastconv.datasets import SYSTEM_DIR, _keras_home

    names = [f"{kind}-{part}-idx{dims}-ubyte.gz" for kind in ("train", "t10k")
             for part, dims in (("images", 3), ("labels", 1))]
    sources = [os.path.join(SYSTEM_DIR, "fashion-mnist"), os.path.join(_keras_home(), "datasets", "fashion-mnist")]
    source = next((s for s in sources if all(os.path.isfile(os.path.join(s, n)) for n in names)), None)
    if source is None:
        raise SystemExit(f"Fashion-MNIST's gzip files {names} are in none of {sources}: "
                         "apt-get install -y dataset-fashion-mnist")
    target = os.path.join(folder, "datasets", "fashion-mnist")
    os.makedirs(target)
    for name in names:
        os.symlink(os.path.join(source, name), os.path.join(target, name))
    return folder


def _run(python, program, args, home, folder):
    env = dict(os.environ, KERAS_HOME=home, TF_CPP_MIN_LOG_LEVEL="2")
    command = [python, program, "--epochs", str(args.epochs), "--checkpoint", os.path.join(folder, "best.keras")]
    if args.limit:
        command += ["--limit", str(args.limit)]
    done = subprocess.run(command, env=env, cwd=folder, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed ({done.returncode}):\n{done.stdout[-2000:]}"
                           f"\n{done.stderr[-3000:]}")
    return seconds_per_epoch(done.stdout)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keras-python", required=True, help="a Python with tensorflow installed")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--limit", type=int, default=None, metavar="N")
    parser.add_argument("--keras-import", default=KERAS_IMPORT,
                        help=f"the Keras run's import (default: {KERAS_IMPORT!r})")
    parser.add_argument("--json", default=None, help="also write the results to this JSON file")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as folder:
        home = _dataset_home(os.path.join(folder, "keras-home"))
        with open(PROGRAM) as f:
            keras_path = os.path.join(folder, "fashion_mnist_cnn_keras.py")
            with open(keras_path, "w") as out:
                out.write(keras_program(f.read(), args.keras_import))
        runs = {"fastconv": (sys.executable, PROGRAM), "keras": (args.keras_python, keras_path)}
        seconds = {name: [] for name in runs}
        for round_ in range(args.rounds):
            order = list(runs) if round_ % 2 == 0 else list(runs)[::-1]
            for name in order:
                seconds[name].append(_run(*runs[name], args, home, folder))
                print(f"round {round_ + 1}: {name} {seconds[name][-1]:.1f} s per epoch", flush=True)

    ratios = [f / k for f, k in zip(seconds["fastconv"], seconds["keras"])]
    median_ratio = statistics.median(ratios)
    print(f"\nthe textbook program, {args.epochs} epochs per run, {args.rounds} rounds (seconds per epoch, "
          "as the program reports it)")
    print("| framework | median | per round |\n|---|--:|---|")
    for name, values in seconds.items():
        print(f"| {name} | {statistics.median(values):.1f} | {', '.join(f'{v:.1f}' for v in values)} |")
    met = median_ratio <= GOAL_RATIO
    print(f"\nfastconv / Keras per round: {', '.join(f'{r:.2f}' for r in ratios)}; median "
          f"{median_ratio:.2f} (goal <= {GOAL_RATIO}: {'met' if met else 'NOT met'})")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"epochs": args.epochs, "seconds_per_epoch": seconds, "ratios": ratios,
                       "goal": {"ratio": median_ratio, "limit": GOAL_RATIO, "met": met}}, f, indent=1)


if __name__ == "__main__":
    main()
