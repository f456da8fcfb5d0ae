"""Callbacks: the hooks that fit, evaluate and predict call (against real Keras), the `callbacks` argument,
ModelCheckpoint's edge cases and the progress line of an interrupted epoch."""

import ast
import inspect
import os
import signal
import sys
import types

import numpy as np
import pytest

import fastconv.callbacks
import fastconv.training
from fastconv import keras
from keras_reference import keras as real_keras

INDEXED_HOOKS = ["on_epoch_begin", "on_epoch_end", "on_train_batch_begin", "on_train_batch_end",
                 "on_test_batch_begin", "on_test_batch_end", "on_predict_batch_begin", "on_predict_batch_end"]
PLAIN_HOOKS = ["on_train_begin", "on_train_end", "on_test_begin", "on_test_end", "on_predict_begin",
               "on_predict_end"]
BAD_CALLBACKS = ("Invalid value for argument `callbacks`. Expected a `keras.callbacks.Callback` (from "
                 "`fastconv.keras.callbacks`) or a list of them. Received")


def tiny_model(api):
    model = api.Sequential([api.layers.Conv2D(3, 3, activation="relu", input_shape=(8, 8, 1)), api.layers.Flatten(),
                            api.layers.Dense(4, activation="softmax")])
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


@pytest.fixture
def data(rng):
    return rng.random((20, 8, 8, 1), dtype=np.float32), rng.integers(0, 4, 20)


def _describe(logs):
    if logs is None:  # Keras passes a dict to every hook, `{}` where it has nothing to say
        return None
    if "outputs" in logs:
        return "outputs", tuple(logs["outputs"].shape)
    return tuple(sorted(logs))


def recorder(api):
    """A callback of ``api`` that records every hook called on it: name, batch or epoch, and the logs' keys."""

    class Recorder(api.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.events = []

    for name in INDEXED_HOOKS:
        setattr(Recorder, name, lambda self, index, logs=None, name=name:
                self.events.append((name, index, _describe(logs))))
    for name in PLAIN_HOOKS:
        setattr(Recorder, name, lambda self, logs=None, name=name: self.events.append((name, _describe(logs))))
    return Recorder()


def _run_all(api, x, y, wrap=lambda callback: [callback]):
    model, record = tiny_model(api), recorder(api)
    model.fit(x, y, batch_size=8, epochs=2, validation_data=(x[:10], y[:10]), validation_batch_size=4,
              callbacks=wrap(record), verbose=0)
    model.evaluate(x, y, batch_size=8, callbacks=wrap(record), verbose=0)
    model.predict(x, batch_size=8, callbacks=wrap(record), verbose=0)
    return record.events


def test_fit_evaluate_and_predict_call_the_hooks_keras_calls(data):
    x, y = data
    events = _run_all(keras, x, y)
    assert events == _run_all(real_keras, x, y)
    assert ("on_test_batch_end", 2, ("accuracy", "loss")) in events        # validation: 10 samples, 4 a batch
    assert ("on_predict_batch_end", 2, ("outputs", (4, 4))) in events


@pytest.mark.parametrize("wrap", [lambda callback: callback, lambda callback: (callback,),
                                  lambda callback: [[callback], []]], ids=["one", "tuple", "nested"])
def test_callbacks_may_be_one_callback_or_nested_lists_as_in_keras(data, wrap):
    x, y = data
    assert _run_all(keras, x, y, wrap) == _run_all(keras, x, y)


def test_on_batch_hooks_are_the_training_batch_hooks_as_in_keras(data):
    x, y = data
    counts = []
    for api in (keras, real_keras):
        class Count(api.callbacks.Callback):
            begun = ended = 0

            def on_batch_begin(self, batch, logs=None):
                self.begun += 1

            def on_batch_end(self, batch, logs=None):
                self.ended += 1

        model, count = tiny_model(api), Count()
        model.fit(x, y, batch_size=8, epochs=2, validation_data=(x, y), callbacks=[count], verbose=0)
        model.evaluate(x, y, callbacks=[count], verbose=0)
        model.predict(x, callbacks=[count], verbose=0)
        counts.append((count.begun, count.ended))
    assert counts[0] == counts[1] == (6, 6)   # 3 batches in each of 2 epochs


def test_callbacks_can_stop_evaluate_and_predict_as_in_keras(data):
    x, y = data
    for api in (keras, real_keras):
        class StopAfterTheFirstBatch(api.callbacks.Callback):
            def on_test_batch_end(self, batch, logs=None):
                self.model.stop_evaluating = True

            def on_predict_batch_end(self, batch, logs=None):
                self.model.stop_predicting = True

        model = tiny_model(api)
        assert model.predict(x, batch_size=8, callbacks=[StopAfterTheFirstBatch()], verbose=0).shape == (8, 4)
        stopped = model.evaluate(x, y, batch_size=8, callbacks=[StopAfterTheFirstBatch()], verbose=0)
        np.testing.assert_allclose(stopped, model.evaluate(x[:8], y[:8], verbose=0), rtol=1e-6)


def test_fit_takes_one_callback_as_keras_does(data):
    x, y = data
    model, terminate = tiny_model(keras), keras.callbacks.TerminateOnNaN()
    history = model.fit(x, y, epochs=2, callbacks=terminate, verbose=0)
    assert terminate.model is model and len(history.epoch) == 2


@pytest.mark.parametrize("method", ["fit", "evaluate", "predict"])
@pytest.mark.parametrize("callbacks, received", [
    ("checkpoint", ": callbacks='checkpoint'"),
    (0, ": callbacks=0"),
    ({"stop": None}, ": callbacks={'stop': None}"),
    ([keras.callbacks.History(), print], " a list holding <built-in function print>"),
])
def test_callbacks_argument_is_checked(data, method, callbacks, received):
    x, y = data
    model = tiny_model(keras)
    arguments = (x,) if method == "predict" else (x, y)
    with pytest.raises(TypeError) as info:
        getattr(model, method)(*arguments, callbacks=callbacks, verbose=0)
    assert str(info.value) == BAD_CALLBACKS + received


@pytest.mark.parametrize("mode", ["min", "max"])
def test_model_checkpoint_passes_over_a_nan_first_value(tmp_path, capsys, data, mode):
    x, y = data
    values = iter([float("nan"), 0.5, 0.7 if mode == "min" else 0.3])

    class Fixed(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            logs["val_loss"] = next(values)

    path = tmp_path / "best.keras"
    checkpoint = keras.callbacks.ModelCheckpoint(str(path), save_best_only=True, verbose=1, mode=mode)
    history = tiny_model(keras).fit(x, y, epochs=3, validation_data=(x, y), callbacks=[Fixed(), checkpoint],
                                    verbose=0)
    assert len(history.epoch) == 3
    out = capsys.readouterr().out
    assert "Epoch 1: val_loss did not improve from None\n" in out  # Keras 3.15 would save a NaN as the best
    assert f"Epoch 2: val_loss improved from None to 0.50000, saving model to {path}\n" in out
    assert "Epoch 3: val_loss did not improve from 0.50000\n" in out
    assert checkpoint.best == 0.5 and path.exists()


def test_model_checkpoint_takes_the_filepaths_keras_takes(tmp_path, data):
    # `best_model.h5` (the legacy format, common in tutorials) saves a whole model, as in Keras.
    x, y = data
    path = tmp_path / "best_model.h5"
    model = tiny_model(keras)
    with pytest.warns(UserWarning, match="legacy"):
        model.fit(x, y, validation_data=(x, y), epochs=1, verbose=0,
                  callbacks=[keras.callbacks.ModelCheckpoint(path, save_best_only=True)])
    np.testing.assert_array_equal(keras.models.load_model(path).predict(x, verbose=0), model.predict(x, verbose=0))
    for api in (keras, real_keras):
        for filepath, weights_only in (("w.h5", True), ("model", False), ("model.weights", True)):
            with pytest.raises(ValueError, match="must end in"):
                api.callbacks.ModelCheckpoint(str(tmp_path / filepath), save_weights_only=weights_only)
        api.callbacks.ModelCheckpoint(str(tmp_path / "m.h5"))


def test_model_checkpoint_names_a_filepath_key_the_logs_lack(tmp_path, data):
    x, y = data
    path = str(tmp_path / "m-{epoch:02d}-{val_loss:.2f}.keras")
    with pytest.raises(KeyError) as info:
        tiny_model(keras).fit(x, y, callbacks=[keras.callbacks.ModelCheckpoint(path)], verbose=0)
    assert info.value.args[0] == (
        f'Failed to format the `ModelCheckpoint` filepath "{path}": epoch 1 has no `val_loss`; the filepath can use '
        "`epoch` and the keys of the logs of that epoch: `accuracy`, `loss`. Keys starting with `val_` need "
        "`validation_data` or `validation_split` in `fit`.")


@pytest.mark.parametrize("verbose, expected", [(1, " 3/10 " + "\u2501" * 6 + " " * 14 + " 6s 2s/step - accuracy: "),
                                               (2, "3/10 - 6s - 2s/step - accuracy: ")])
def test_ctrl_c_progress_line_counts_and_times_the_steps_that_ran(capsys, monkeypatch, rng, verbose, expected):
    monkeypatch.delitem(sys.modules, "ipykernel", raising=False)  # as not in Jupyter, whatever ran before
    clock = [0.0]
    monkeypatch.setattr(fastconv.callbacks, "time", types.SimpleNamespace(perf_counter=lambda: clock[0]))

    class TwoSecondStepsInterruptedAfterTheThird(keras.callbacks.Callback):
        def on_train_batch_begin(self, batch, logs=None):
            clock[0] += 2.0

        def on_train_batch_end(self, batch, logs=None):
            if batch == 2:
                os.kill(os.getpid(), signal.SIGINT)

    x, y = rng.random((80, 8, 8, 1), dtype=np.float32), rng.integers(0, 4, 80)
    tiny_model(keras).fit(x, y, batch_size=8, epochs=2, callbacks=[TwoSecondStepsInterruptedAfterTheThird()],
                          verbose=verbose)
    lines = [line for line in capsys.readouterr().out.splitlines() if line]
    assert lines[0] == "Epoch 1/2" and lines[1].startswith("Training interrupted")
    assert lines[2].startswith(expected), lines[2]
    assert len(lines) == 3


def test_the_logs_are_built_in_one_place():
    """fit's batch and epoch logs, evaluate's and the one-batch methods' all come from one builder."""
    tree = ast.parse(inspect.getsource(fastconv.training))
    builders = [node.lineno for node in ast.walk(tree) if isinstance(node, ast.Dict)
                and any(isinstance(key, ast.Constant) and key.value == "loss" for key in node.keys)]
    assert len(builders) == 1, builders


def test_model_checkpoint_every_few_batches_writes_the_files_keras_writes(tmp_path):
    # The Save-and-load tutorial: `ModelCheckpoint(..., save_weights_only=True, save_freq=5 * n_batches)`.
    from fastconv import keras as fastconv_keras
    from keras_reference import keras as real_keras

    x, y = np.ones((20, 3), np.float32), np.ones((20, 1), np.float32)
    written = []
    for library in (fastconv_keras, real_keras):
        directory = tmp_path / library.__name__
        directory.mkdir()
        model = library.Sequential([library.Input((3,)), library.layers.Dense(1)])
        model.compile(optimizer="sgd", loss="mse")
        checkpoint = library.callbacks.ModelCheckpoint(str(directory / "cp-{epoch:02d}-{batch:02d}.weights.h5"),
                                                       save_weights_only=True, save_freq=3)
        model.fit(x, y, batch_size=4, epochs=3, callbacks=[checkpoint], verbose=0)
        written.append(sorted(path.name for path in directory.iterdir()))
    assert written[0] == written[1] and len(written[0]) == 5  # 15 batches: after every third
    with pytest.raises(ValueError, match="Unrecognized save_freq"):
        fastconv_keras.callbacks.ModelCheckpoint("m.keras", save_freq="batch")


def test_callbacks_params_are_kerass():
    # Keras's `params`: the `verbose` given ('auto' by default), the epochs and the steps of an epoch.
    from fastconv import keras as fastconv_keras
    from keras_reference import keras as real_keras

    seen = []
    for library in (fastconv_keras, real_keras):
        class Recorder(library.callbacks.Callback):
            def on_train_begin(self, logs=None):
                seen.append(dict(self.params))

        model = library.Sequential([library.Input((3,)), library.layers.Dense(1)])
        model.compile(optimizer="sgd", loss="mse")
        model.fit(np.ones((10, 3)), np.ones((10, 1)), batch_size=4, epochs=2, callbacks=[Recorder()])
    assert seen[0] == seen[1] == {"verbose": "auto", "epochs": 2, "steps": 3}


@pytest.mark.parametrize("monitor, values", [("loss", [1.0, 0.95, 0.94, 0.93, 0.5, 0.49]),
                                             ("accuracy", [0.5, 0.55, 0.56, 0.57, 0.9, 0.91])])
def test_early_stopping_min_delta_is_an_improvement_to_beat_in_either_direction_as_keras(monitor, values):
    # keras.io's training guide: `EarlyStopping(monitor="val_loss", min_delta=1e-2, patience=2)`; a loss must
    # fall by more than min_delta (and an accuracy rise by more) to count as an improvement.
    from fastconv import keras as fastconv_keras
    from keras_reference import keras as real_keras

    stopped = []
    for library in (fastconv_keras, real_keras):
        class Scripted(library.callbacks.Callback):
            def on_epoch_end(self, epoch, logs=None):
                logs[monitor] = values[epoch]

        model = library.Sequential([library.Input((2,)), library.layers.Dense(1)])
        model.compile(optimizer="sgd", loss="mse")
        stopping = library.callbacks.EarlyStopping(monitor=monitor, min_delta=0.1, patience=1,
                                                   mode="max" if monitor == "accuracy" else "min")
        history = model.fit(np.ones((4, 2)), np.ones((4, 1)), epochs=6, verbose=0, callbacks=[Scripted(), stopping])
        stopped.append((len(history.epoch), stopping.stopped_epoch))
    assert stopped[0] == stopped[1] == (2, 1)


def test_the_epoch_line_shows_what_callbacks_add_to_the_logs_as_keras(capsys):
    # Keras runs the program's callbacks before its progress bar: the line shows ReduceLROnPlateau's rate.
    from fastconv import keras as fastconv_keras

    model = fastconv_keras.Sequential([fastconv_keras.Input((3,)), fastconv_keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    model.fit(np.ones((8, 3)), np.ones((8, 1)), epochs=1, verbose=2,
              callbacks=[fastconv_keras.callbacks.ReduceLROnPlateau(monitor="loss")])
    assert "learning_rate: 0.0100" in capsys.readouterr().out


@pytest.mark.parametrize("save_best_only", [False, True])
def test_model_checkpoint_says_what_keras_says(tmp_path, capsys, data, save_best_only):
    """verbose=1: the same lines as Keras's, "saving model to" before and "finished saving model to" after."""
    x, y = data
    printed = {}
    for name, library in (("fastconv", keras), ("keras", real_keras)):
        values = iter([0.5, 0.7, 0.3])

        class Fixed(library.callbacks.Callback):
            def on_epoch_end(self, epoch, logs=None, values=values):
                logs["val_loss"] = next(values)

        path = tmp_path / "best.keras"
        checkpoint = library.callbacks.ModelCheckpoint(str(path), save_best_only=save_best_only, verbose=1)
        capsys.readouterr()
        tiny_model(library).fit(x, y, epochs=3, validation_data=(x, y), callbacks=[Fixed(), checkpoint], verbose=0)
        printed[name] = [line for line in capsys.readouterr().out.splitlines() if line.startswith("Epoch ")]
    assert printed["fastconv"] == printed["keras"]
    assert any("finished saving model to" in line for line in printed["fastconv"])
