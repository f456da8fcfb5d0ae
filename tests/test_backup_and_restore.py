"""keras.callbacks.BackupAndRestore: an interrupted fit goes on where it stopped, as in real Keras (torch
backend), and ends with the weights an uninterrupted fit reaches."""

import json
import os
import signal

import numpy as np
import pytest

from fastconv import keras
from keras_reference import keras as real_keras


class Interrupt(Exception):
    pass


def interrupting(api, at_epoch=None, at_batch=None):
    """A callback of ``api`` that raises ``Interrupt`` when epoch ``at_epoch`` begins, or after batch
    ``at_batch`` of it."""

    class Interrupting(api.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.epoch = epoch
            if at_batch is None and epoch == at_epoch:
                raise Interrupt

        def on_train_batch_end(self, batch, logs=None):
            if at_batch is not None and self.epoch == at_epoch and batch == at_batch:
                raise Interrupt

    return Interrupting()


def dense_model(api, optimizer, weights=None):
    model = api.Sequential([api.Input((20,)), api.layers.Dense(10), api.layers.Dense(1)])
    model.compile(optimizer=optimizer, loss="mse")
    if weights is not None:
        model.set_weights(weights)
    return model


@pytest.fixture
def data(rng):
    return rng.standard_normal((20, 20)).astype(np.float32), rng.standard_normal((20, 1)).astype(np.float32)


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_an_interrupted_fit_goes_on_where_it_stopped(tmp_path, data, optimizer):
    """Keras's docstring example: interrupted as epoch 4 begins, the next fit runs the 6 epochs left and ends
    where an uninterrupted fit ends (the optimizer's state restored too: Adam's moments and step count)."""
    x, y = data
    weights = dense_model(keras, optimizer).get_weights()
    straight = dense_model(keras, optimizer, weights)
    straight.fit(x, y, epochs=10, batch_size=4, shuffle=False, verbose=0)

    runs = {}
    for name, api in (("fastconv", keras), ("keras", real_keras)):
        model = dense_model(api, optimizer, weights)
        backup = api.callbacks.BackupAndRestore(tmp_path / name)
        with pytest.raises(Interrupt):
            model.fit(x, y, epochs=10, batch_size=4, shuffle=False, verbose=0,
                      callbacks=[backup, interrupting(api, at_epoch=4)])
        with open(tmp_path / name / "training_metadata.json") as f:
            metadata = json.load(f)
        files = sorted(os.listdir(tmp_path / name))
        model = dense_model(api, optimizer, weights)  # a new process: the same model, built and compiled again
        history = model.fit(x, y, epochs=10, batch_size=4, shuffle=False, verbose=0, callbacks=[backup])
        runs[name] = metadata, files, history.history["loss"], model.get_weights()
        assert not os.path.exists(tmp_path / name)  # deleted when training ended

    metadata, files, losses, final = runs["fastconv"]
    assert metadata == runs["keras"][0] == {"epoch": 4, "batch": 0}
    assert files == runs["keras"][1] == ["latest.weights.h5", "training_metadata.json"]
    assert len(losses) == len(runs["keras"][2]) == 6
    np.testing.assert_allclose(losses, runs["keras"][2], rtol=1e-4)
    for ours, uninterrupted, theirs in zip(final, straight.get_weights(), runs["keras"][3]):
        np.testing.assert_array_equal(ours, uninterrupted)
        np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-5)


def test_save_freq_in_batches_and_what_is_kept(tmp_path, data):
    x, y = data
    runs = {}
    for name, api in (("fastconv", keras), ("keras", real_keras)):
        model = dense_model(api, "sgd")
        backup = api.callbacks.BackupAndRestore(tmp_path / name, save_freq=3, delete_checkpoint=False)
        with pytest.raises(Interrupt):
            model.fit(x, y, epochs=5, batch_size=4, verbose=0, callbacks=[backup, interrupting(api, 2, at_batch=3)])
        with open(tmp_path / name / "training_metadata.json") as f:
            runs[name] = json.load(f)
        model.fit(x, y, epochs=5, batch_size=4, verbose=0, callbacks=[backup])
        assert os.path.exists(tmp_path / name / "latest.weights.h5")  # delete_checkpoint=False
    assert runs["fastconv"] == runs["keras"]


def test_double_checkpoint_falls_back_on_the_backup_before(tmp_path, data):
    x, y = data
    model = dense_model(keras, "sgd")
    backup = keras.callbacks.BackupAndRestore(tmp_path, double_checkpoint=True)
    with pytest.raises(Interrupt):
        model.fit(x, y, epochs=10, batch_size=4, verbose=0, callbacks=[backup, interrupting(keras, at_epoch=3)])
    assert sorted(os.listdir(tmp_path)) == ["latest.weights.h5", "latest.weights.h5.bkp", "training_metadata.json",
                                            "training_metadata.json.bkp"]
    with open(tmp_path / "latest.weights.h5", "wb") as f:
        f.write(b"damaged")
    history = dense_model(keras, "sgd").fit(x, y, epochs=10, batch_size=4, verbose=0, callbacks=[backup])
    assert len(history.history["loss"]) == 8  # epochs 2 to 9: the backup before the last was after epoch 1


def test_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="Empty `backup_dir`"):
        keras.callbacks.BackupAndRestore("")
    with pytest.raises(ValueError, match="save_freq='often'"):
        keras.callbacks.BackupAndRestore(tmp_path, save_freq="often")


def test_a_model_built_by_fit_restores_too(tmp_path, data):
    """A Sequential without ``Input`` is built by its first data, before the callback restores (as in Keras):
    the second fit starts at epoch 1, where the first stopped, and stops at 2 with two epochs done."""
    x, y = data
    for start, stop in ((0, 1), (1, 2)):
        model = keras.Sequential([keras.layers.Dense(1)])
        model.compile("sgd", "mse")
        begun = []
        record = keras.callbacks.LambdaCallback(on_epoch_begin=lambda epoch, logs, begun=begun: begun.append(epoch))
        with pytest.raises(Interrupt):
            model.fit(x, y, epochs=4, verbose=0, callbacks=[keras.callbacks.BackupAndRestore(tmp_path), record,
                                                            interrupting(keras, at_epoch=stop)])
        assert begun == list(range(start, stop + 1))
        with open(tmp_path / "training_metadata.json") as f:
            assert json.load(f)["epoch"] == stop


def test_ctrl_c_keeps_the_backup_of_the_last_completed_epoch(tmp_path, data):
    """fastconv ends a fit stopped by Ctrl-C gracefully (Keras lets the KeyboardInterrupt through): the epoch
    cut short is not backed up as done, and the backup is kept, so the next fit ends as an uninterrupted one."""
    x, y = data
    weights = dense_model(keras, "adam").get_weights()
    straight = dense_model(keras, "adam", weights)
    straight.fit(x, y, epochs=4, batch_size=4, shuffle=False, verbose=0)

    class CtrlC(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.epoch = epoch

        def on_train_batch_end(self, batch, logs=None):
            if self.epoch == 2 and batch == 1:
                os.kill(os.getpid(), signal.SIGINT)

    model = dense_model(keras, "adam", weights)
    backup = keras.callbacks.BackupAndRestore(tmp_path / "backup")
    model.fit(x, y, epochs=4, batch_size=4, shuffle=False, verbose=0, callbacks=[backup, CtrlC()])
    with open(tmp_path / "backup" / "training_metadata.json") as f:
        assert json.load(f) == {"epoch": 2, "batch": 0}
    model = dense_model(keras, "adam", weights)
    history = model.fit(x, y, epochs=4, batch_size=4, shuffle=False, verbose=0, callbacks=[backup])
    assert len(history.history["loss"]) == 2
    for ours, uninterrupted in zip(model.get_weights(), straight.get_weights()):
        np.testing.assert_array_equal(ours, uninterrupted)
    assert not os.path.exists(tmp_path / "backup")


def test_ctrl_c_during_validation_stops_before_the_next_epoch(tmp_path, data):
    """The epoch whose validation Ctrl-C interrupted is done (and backed up); no batch of the next one runs."""
    x, y = data

    class CtrlCInValidation(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.epoch = epoch

        def on_test_batch_end(self, batch, logs=None):
            if self.epoch == 1:
                os.kill(os.getpid(), signal.SIGINT)

    model = dense_model(keras, "sgd")
    seen = []
    record = keras.callbacks.LambdaCallback(on_train_batch_begin=lambda batch, logs: seen.append(batch))
    history = model.fit(x, y, epochs=4, batch_size=4, validation_split=0.2, verbose=0,
                        callbacks=[keras.callbacks.BackupAndRestore(tmp_path / "backup"), CtrlCInValidation(), record])
    assert len(history.history["loss"]) == 2 and len(seen) == 2 * 4 and model.interrupted
    with open(tmp_path / "backup" / "training_metadata.json") as f:
        assert json.load(f)["epoch"] == 2
