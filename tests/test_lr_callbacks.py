"""ReduceLROnPlateau, LearningRateScheduler and CSVLogger against Keras 3 (torch backend)."""

import csv

import numpy as np
import pytest

from fastconv import keras
from keras_reference import keras as real_keras


def _fit(api, callbacks, epochs=8, lr=0.0):
    """A Dense model whose loss cannot change (learning rate 0 unless a callback sets it): a plateau."""
    api.utils.set_random_seed(0)
    model = api.Sequential([api.Input((3,)), api.layers.Dense(1)])
    model.compile(optimizer=api.optimizers.SGD(learning_rate=lr), loss="mse")
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(16, 3)).astype("float32"), rng.normal(size=(16, 1)).astype("float32")
    return model.fit(x, y, validation_data=(x, y), epochs=epochs, batch_size=8, verbose=0, callbacks=callbacks)


def test_reduce_lr_on_plateau_cooldown_matches_keras():
    # min_delta=10 makes every epoch after the first a non-improvement: patience and cooldown decide.
    histories = [_fit(api, [api.callbacks.ReduceLROnPlateau(factor=0.5, patience=2, cooldown=1, min_delta=10.0,
                                                            min_lr=0.01)], epochs=10, lr=0.1)
                 for api in (keras, real_keras)]
    ours, theirs = (h.history["learning_rate"] for h in histories)
    np.testing.assert_allclose(ours, theirs, rtol=1e-6)
    np.testing.assert_allclose(ours, [0.1, 0.1, 0.1, 0.05, 0.05, 0.025, 0.025, 0.0125, 0.0125, 0.01], rtol=1e-6)


def test_reduce_lr_on_plateau_sequence_matches_keras_from_real_rate():
    def run(api):
        model_history = _fit(api, [api.callbacks.ReduceLROnPlateau(monitor="loss", factor=0.5, patience=1,
                                                                   min_delta=10.0, min_lr=0.02)],
                             epochs=6, lr=0.1)
        return model_history.history["learning_rate"]
    ours, theirs = run(keras), run(real_keras)
    np.testing.assert_allclose(ours, theirs, rtol=1e-6)
    np.testing.assert_allclose(ours, [0.1, 0.1, 0.05, 0.025, 0.02, 0.02], rtol=1e-6)


def test_reduce_lr_on_plateau_rejects_factor():
    for api in (keras, real_keras):
        with pytest.raises(ValueError, match=r"does not support a factor >= 1.0. Received factor=1.5"):
            api.callbacks.ReduceLROnPlateau(factor=1.5)


@pytest.mark.parametrize("schedule", [lambda epoch: 0.1 / (epoch + 1), lambda epoch, lr: lr * 0.5])
def test_learning_rate_scheduler_matches_keras(schedule):
    seen = []
    for api in (keras, real_keras):
        history = _fit(api, [api.callbacks.LearningRateScheduler(schedule)], epochs=4, lr=0.2)
        seen.append(history.history["learning_rate"])
    np.testing.assert_allclose(seen[0], seen[1], rtol=1e-6)
    assert seen[0][0] != pytest.approx(0.2)


def test_learning_rate_scheduler_rejects_non_float():
    for api in (keras, real_keras):
        with pytest.raises(ValueError, match=r"The output of the `schedule` function should be a float. Got: 1$"):
            _fit(api, [api.callbacks.LearningRateScheduler(lambda epoch: 1)], epochs=1, lr=0.1)


def test_csv_logger_structure_matches_keras(tmp_path):
    rows = []
    for name, api in (("ours", keras), ("keras", real_keras)):
        path = tmp_path / f"{name}.csv"
        history = _fit(api, [api.callbacks.LearningRateScheduler(lambda e, lr: lr),
                             api.callbacks.CSVLogger(path)], epochs=3, lr=0.1)
        with open(path, newline="") as f:
            rows.append((list(csv.reader(f)), history.history))
    (ours, our_history), (theirs, _) = rows
    assert ours[0] == theirs[0] == ["epoch", "learning_rate", "loss", "val_loss"]
    assert [r[0] for r in ours] == [r[0] for r in theirs] == ["epoch", "0", "1", "2"]
    for i, row in enumerate(ours[1:]):
        for key, text in zip(ours[0][1:], row[1:]):
            assert text == str(our_history[key][i])


def test_csv_logger_append_and_separator(tmp_path):
    path = tmp_path / "log.csv"
    _fit(keras, [keras.callbacks.CSVLogger(path, separator=";")], epochs=2, lr=0.1)
    _fit(keras, [keras.callbacks.CSVLogger(path, separator=";", append=True)], epochs=2, lr=0.1)
    lines = path.read_text().splitlines()
    assert lines[0] == "epoch;loss;val_loss"
    assert [line.split(";")[0] for line in lines[1:]] == ["0", "1", "0", "1"]
    _fit(keras, [keras.callbacks.CSVLogger(path)], epochs=1, lr=0.1)
    assert len(path.read_text().splitlines()) == 2


def test_csv_logger_flushes_each_row(tmp_path):
    path = tmp_path / "log.csv"
    sizes = []

    class Size(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            sizes.append(path.read_text().count("\n"))

    _fit(keras, [keras.callbacks.CSVLogger(path), Size()], epochs=3, lr=0.1)
    assert sizes == [2, 3, 4]


def test_lambda_callback_calls_the_same_hooks_as_keras():
    """Which hooks run, in which order and with which arguments, as Keras's LambdaCallback calls them."""
    calls = {}
    for api in (keras, real_keras):
        seen = calls[api] = []
        callback = api.callbacks.LambdaCallback(
            on_train_begin=lambda logs, seen=seen: seen.append("train_begin"),
            on_epoch_begin=lambda epoch, logs, seen=seen: seen.append(("epoch_begin", epoch)),
            on_epoch_end=lambda epoch, logs, seen=seen: seen.append(("epoch_end", epoch, sorted(logs))),
            on_train_batch_end=lambda batch, logs, seen=seen: seen.append(("batch_end", batch)),
            on_train_end=lambda logs, seen=seen: seen.append("train_end"))
        _fit(api, [callback], epochs=2)
    assert calls[keras] == calls[real_keras]
    assert calls[keras][:3] == ["train_begin", ("epoch_begin", 0), ("batch_end", 0)]
    assert calls[keras][-1] == "train_end"


def test_lambda_callback_rejects_unknown_hooks():
    with pytest.raises(TypeError, match="Unrecognized keyword argument passed to LambdaCallback: on_epoch_finish"):
        keras.callbacks.LambdaCallback(on_epoch_finish=print)
