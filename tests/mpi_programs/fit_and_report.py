"""Train a small CNN data-parallel and write what each process ended with; run by ``tests/test_distribution.py``.

``python fit_and_report.py OUT [--alone] [--fail-rank R [--kill]] [--other-model-rank R] [--dropout]`` under
``mpirun -n N`` (or alone, for the single-process reference). ``--dropout`` adds a ``Dropout(0.5)`` after the
hidden Dense layer, seeds every process alike and trains on 16 samples (no empty shard), so that each sample's
mask is the one a single process draws. Each process writes ``OUT/result{rank}.npz`` (weights, history,
predict, evaluate, the predictions of the model that ``load_model`` read back) and its standard output to
``OUT/stdout{rank}.txt``; it also asks for ``OUT/log{rank}.csv``, ``OUT/checkpoint{rank}.keras`` and
``OUT/model{rank}.keras``, of which process 0 alone must write its own.
"""

import argparse
import contextlib
import json
import os
import signal
import time

import numpy as np

from fastconv import keras, parallel


class _FailOnBatch(keras.callbacks.Callback):
    """Raise (or be killed) in the second epoch's third batch: a process that fails mid-epoch."""

    def __init__(self, kill, out):
        super().__init__()
        self.kill, self.out = kill, out

    def on_train_batch_end(self, batch, logs=None):
        if self._epoch == 1 and batch == 2:
            with open(f"{self.out}/failed_at", "w") as file:
                file.write(repr(time.time()))
            if self.kill:
                os.kill(os.getpid(), signal.SIGKILL)
            raise RuntimeError(f"deliberate failure on process {keras.distribution.distribution().rank}")

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch


def _model(units, dropout):
    model = keras.Sequential([
        keras.Input(shape=(8, 8, 1)),
        keras.layers.Conv2D(4, 3, activation="relu", padding="same"),
        keras.layers.MaxPooling2D(2),
        keras.layers.Flatten(),
        keras.layers.Dense(units, activation="relu"),
        *([keras.layers.Dropout(0.5)] if dropout else []),
        keras.layers.Dense(3, activation="softmax"),
    ])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("out")
    parser.add_argument("--alone", action="store_true")
    parser.add_argument("--fail-rank", type=int)
    parser.add_argument("--kill", action="store_true")
    parser.add_argument("--other-model-rank", type=int)
    parser.add_argument("--dropout", action="store_true")
    args = parser.parse_args()
    parallel.set_num_threads(1)
    rank = 0
    if not args.alone:
        keras.distribution.set_distribution(keras.distribution.DataParallel())
        rank = keras.distribution.distribution().rank
    # Different on each process (the broadcast and shuffle must not care), except with Dropout, whose masks
    # come from every process's own stream.
    keras.utils.set_random_seed(1 if args.dropout else rank + 1)
    data = np.random.default_rng(0)
    x = data.normal(size=(22, 8, 8, 1)).astype(np.float32)
    y = data.integers(0, 3, size=22)
    if args.dropout:
        x, y = x[:20], y[:20]
    model = _model(7 if rank == args.other_model_rank else 6, args.dropout)
    callbacks = [keras.callbacks.CSVLogger(f"{args.out}/log{rank}.csv"),
                 keras.callbacks.ModelCheckpoint(f"{args.out}/checkpoint{rank}.keras"),
                 keras.callbacks.EarlyStopping(monitor="val_loss", patience=0)]
    if rank == args.fail_rank:
        callbacks.append(_FailOnBatch(args.kill, args.out))
    with open(f"{args.out}/stdout{rank}.txt", "w") as stdout, contextlib.redirect_stdout(stdout):
        # 17 training samples in batches of 4: the last global batch of 1 leaves other processes empty.
        history = model.fit(x, y, batch_size=4, epochs=6, validation_split=0.2, callbacks=callbacks, verbose=2)
        predicted = model.predict(x[:13], batch_size=4, verbose=0)
        evaluated = model.evaluate(x, y, batch_size=5, verbose=0)
    model.save(f"{args.out}/model{rank}.keras")
    if not args.alone:
        keras.distribution.distribution().barrier()
    reloaded = keras.models.load_model(f"{args.out}/model0.keras").predict(x[:13], verbose=0)
    np.savez(f"{args.out}/result{rank}.npz", *model.get_weights(), predicted=predicted, evaluated=evaluated,
             reloaded=reloaded, history=json.dumps(history.history), epochs=len(history.epoch),
             ranks=os.environ.get("OMPI_COMM_WORLD_SIZE", "1"))


if __name__ == "__main__":
    main()
