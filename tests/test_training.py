"""Models and training: compile/fit/evaluate/predict, callbacks, reproducibility, errors, and Keras parity.

The parity tests train the same model with the same weights and batches in
real Keras (torch backend) and in fastconv and compare the weights after each
step. The integration test trains the textbook CNN on real Fashion-MNIST.
"""

import os
import signal

import sys

import numpy as np
import pytest

import reference
from fastconv import keras
from keras_reference import keras as real_keras


def textbook_layers(api, dropout=0.4, filters=(32, 64), dense=100):
    return [
        api.layers.Conv2D(filters[0], kernel_size=3, activation="relu", padding="same", input_shape=(28, 28, 1)),
        api.layers.MaxPooling2D(2),
        api.layers.Conv2D(filters[1], kernel_size=(3, 3), activation="relu", padding="same"),
        api.layers.MaxPooling2D(2),
        api.layers.Flatten(),
        api.layers.Dense(dense, activation="relu"),
        api.layers.Dropout(dropout),
        api.layers.Dense(10, activation="softmax"),
    ]


@pytest.fixture(scope="module")
def fashion():
    (x_train, y_train), (x_test, y_test) = keras.datasets.fashion_mnist.load_data()
    return (x_train.reshape(-1, 28, 28, 1) / 255.0, y_train), (x_test.reshape(-1, 28, 28, 1) / 255.0, y_test)


def small_model(seed=0):
    keras.utils.set_random_seed(seed)
    model = keras.Sequential(textbook_layers(keras, filters=(4, 8), dense=16))
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def test_textbook_cnn_learns_fashion_mnist(fashion):
    (x, y), (x_test, y_test) = fashion
    keras.utils.set_random_seed(42)
    model = keras.Sequential(textbook_layers(keras))
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(x[:4000], y[:4000], epochs=2, validation_split=0.2, verbose=0)
    assert set(history.history) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert history.history["loss"][1] < history.history["loss"][0]
    loss, accuracy = model.evaluate(x_test[:2000], y_test[:2000], verbose=0)
    assert accuracy > 0.78, accuracy
    assert history.history["val_accuracy"][-1] > 0.78


@pytest.mark.parametrize("optimizer", ["adam", "sgd", "rmsprop", "adagrad"])
def test_training_steps_match_keras(optimizer):
    """Same weights and batches: after three steps the weights agree with real Keras to float32 rounding."""
    rng = np.random.default_rng(3)
    x = rng.random((3, 16, 28, 28, 1), dtype=np.float32)
    y = rng.integers(0, 10, (3, 16))
    ours = keras.Sequential(textbook_layers(keras, dropout=0.0, filters=(4, 6), dense=12))
    theirs = real_keras.Sequential(textbook_layers(real_keras, dropout=0.0, filters=(4, 6), dense=12))
    theirs.set_weights(ours.get_weights())
    for model in (ours, theirs):
        model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    for step in range(3):
        ours_logs = ours.train_on_batch(x[step], y[step], return_dict=True)
        theirs_logs = theirs.train_on_batch(x[step], y[step], return_dict=True)
        np.testing.assert_allclose(ours_logs["loss"], float(theirs_logs["loss"]), rtol=1e-5)
        for mine, expected in zip(ours.get_weights(), theirs.get_weights()):
            np.testing.assert_allclose(mine, expected, rtol=2e-4, atol=2e-6)


def test_evaluate_and_predict_match_keras():
    rng = np.random.default_rng(4)
    x, y = rng.random((50, 28, 28, 1), dtype=np.float32), rng.integers(0, 10, 50)
    ours = keras.Sequential(textbook_layers(keras, filters=(4, 6), dense=12))
    theirs = real_keras.Sequential(textbook_layers(real_keras, filters=(4, 6), dense=12))
    theirs.set_weights(ours.get_weights())
    for model in (ours, theirs):
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    np.testing.assert_allclose(ours.predict(x, verbose=0), theirs.predict(x, verbose=0), rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(ours.evaluate(x, y, batch_size=16, verbose=0),
                               theirs.evaluate(x, y, batch_size=16, verbose=0), rtol=1e-5)


def test_same_seed_gives_the_same_history_to_the_last_bit(fashion):
    (x, y), _ = fashion
    histories = []
    for _ in range(2):
        model = small_model(seed=7)
        histories.append(model.fit(x[:600], y[:600], epochs=2, validation_split=0.2, verbose=0).history)
    assert histories[0] == histories[1]


def test_validation_split_takes_the_last_samples_before_shuffling():
    x = np.random.default_rng(5).random((10, 28, 28, 1), dtype=np.float32)
    y = np.arange(10)
    model = small_model(seed=3)
    history = model.fit(x, y, epochs=1, batch_size=4, validation_split=0.2, verbose=0).history
    # Training saw the first 8 samples and only them: the same fit on x[:8] alone ends on the same weights.
    alone = small_model(seed=3)
    alone.fit(x[:8], y[:8], epochs=1, batch_size=4, verbose=0)
    for mine, expected in zip(model.get_weights(), alone.get_weights()):
        np.testing.assert_array_equal(mine, expected)
    # And validation scored the last 2.
    val_loss, val_accuracy = model.evaluate(x[8:], y[8:], verbose=0)
    np.testing.assert_allclose(history["val_loss"], [val_loss], rtol=1e-6)
    assert history["val_accuracy"] == [val_accuracy]


def test_early_stopping_restores_best_weights_even_without_stopping():
    model = small_model()
    rng = np.random.default_rng(0)
    x, y = rng.random((64, 28, 28, 1), dtype=np.float32), rng.integers(0, 10, 64)
    snapshots = []

    class Snapshot(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            snapshots.append((logs["val_loss"], self.model.get_weights()))

    stopper = keras.callbacks.EarlyStopping(patience=10, restore_best_weights=True)
    model.fit(x, y, epochs=4, validation_data=(x[:16], y[:16]), callbacks=[Snapshot(), stopper], verbose=0)
    assert stopper.stopped_epoch == 0
    best = min(snapshots, key=lambda item: item[0])[1]
    for mine, expected in zip(model.get_weights(), best):
        np.testing.assert_array_equal(mine, expected)


def test_early_stopping_stops_after_patience():
    model = small_model()
    x, y = np.zeros((32, 28, 28, 1), np.float32), np.zeros(32, int)

    class Worse(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            logs["val_loss"] = float(epoch)   # gets worse every epoch

    stopper = keras.callbacks.EarlyStopping(patience=2)
    history = model.fit(x, y, epochs=10, validation_data=(x, y), callbacks=[Worse(), stopper], verbose=0)
    assert len(history.epoch) == 3 and stopper.stopped_epoch == 2


def test_model_checkpoint_saves_only_improvements(tmp_path):
    model = small_model()
    x, y = np.zeros((32, 28, 28, 1), np.float32), np.zeros(32, int)
    path = tmp_path / "best.keras"
    values = iter([0.5, 0.7, 0.4])

    class Fixed(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            logs["val_loss"] = next(values)

    saved = []

    class Watch(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            saved.append(path.stat().st_mtime_ns if path.exists() else None)

    checkpoint = keras.callbacks.ModelCheckpoint(str(path), save_best_only=True)
    model.fit(x, y, epochs=3, validation_data=(x, y), callbacks=[Fixed(), checkpoint, Watch()], verbose=0)
    assert checkpoint.best == 0.4
    assert saved[0] is not None and saved[1] == saved[0] and saved[2] != saved[1]
    assert keras.models.load_model(path).count_params() == model.count_params()


def test_ctrl_c_stops_after_the_current_step_and_leaves_the_model_usable():
    model = small_model()
    x, y = np.zeros((320, 28, 28, 1), np.float32), np.zeros(320, int)
    steps = []

    class Interrupt(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            steps.append(batch)
            if batch == 2:
                os.kill(os.getpid(), signal.SIGINT)

    history = model.fit(x, y, epochs=3, callbacks=[Interrupt()], verbose=0)
    assert steps == [0, 1, 2]
    assert len(history.epoch) == 1
    assert model.optimizer.iterations.numpy() == 3
    assert model.predict(x[:2], verbose=0).shape == (2, 10)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_nan_loss_stops_training_with_a_message():
    model = small_model()
    x = np.zeros((64, 28, 28, 1), np.float32)
    x[5] = np.nan
    with pytest.warns(RuntimeWarning, match=r"Epoch 1, batch \d+: invalid loss \(nan\)"):
        history = model.fit(x, np.zeros(64, int), epochs=3, batch_size=8, shuffle=False, verbose=0)
    assert len(history.epoch) == 1


@pytest.mark.parametrize("call, message", [
    (lambda m: m.fit(np.zeros((10, 28, 28, 1)), np.zeros(9), verbose=0),
     "Data cardinality is ambiguous.*'x' sizes: 10 'y' sizes: 9"),
    (lambda m: m.fit(np.zeros((4, 28, 28, 3)), np.zeros(4), verbose=0),  # (4, 28, 28) would get its axis
     r'Input 0 of layer "sequential.*" is incompatible with the layer: expected shape=\(None, 28, 28, 1\), '
     r"found shape=\(4, 28, 28, 3\)"),
    (lambda m: m.fit(np.zeros((4, 28, 28, 1)), np.array([0, 1, 10, 2]), verbose=0),
     r"Expected class labels in the range \[0, 10\).*Received: y_true=10"),
    (lambda m: m.fit(np.zeros((4, 28, 28, 1)), np.zeros(4), batch_size=0, verbose=0),
     "Invalid value for argument `batch_size`"),
    (lambda m: m.fit(np.zeros((4, 28, 28, 1)), np.zeros(4), sample_weight=np.ones(3), verbose=0),
     r"`sample_weight`. Expected one weight per sample, shape \(4,\)"),
])
def test_bad_input_errors_say_what_and_where(call, message):
    with pytest.raises((ValueError, NotImplementedError), match=message):
        call(small_model())


def test_fit_before_compile_is_a_clear_error():
    model = keras.Sequential(textbook_layers(keras, filters=(4, 8), dense=16))
    for method in (model.fit, model.evaluate, model.train_on_batch):  # Keras's ValueError, naming the method
        message = rf"You must call `compile\(\)` before using the model in `{method.__name__}"
        with pytest.raises(ValueError, match=message):
            method(np.zeros((4, 28, 28, 1)), np.zeros(4))
    with pytest.raises(ValueError, match="compile"):
        real_keras.Sequential([real_keras.Input((3,)), real_keras.layers.Dense(2)]).fit(np.ones((2, 3)), np.ones(2))


def test_feature_maps_from_a_trained_sequential_model():
    model = small_model()
    x = np.random.default_rng(0).random((3, 28, 28, 1), dtype=np.float32)
    model.fit(x, np.arange(3), epochs=1, verbose=0)
    # conv -> relu, max-pool, conv -> relu, from the definitions in float64
    (kernel_1, bias_1), (kernel_2, bias_2) = model.layers[0].get_weights(), model.layers[2].get_weights()
    first = reference.conv(x, kernel_1, padding="same", bias=bias_1, activation="relu")
    second = reference.conv(reference.max_pool(first, 2), kernel_2, padding="same", bias=bias_2, activation="relu")
    assert first.shape == (3, 28, 28, 4) and second.shape == (3, 14, 14, 8)
    conv_acti = keras.Model(model.inputs, model.layers[0].output)
    reference.assert_close(conv_acti.predict(x, verbose=0), first, np.float32)
    two = keras.Model(model.inputs, [model.layers[0].output, model.layers[2].output])
    maps = two.predict(x, verbose=0)
    reference.assert_close(maps[0], first, np.float32)
    reference.assert_close(maps[1], second, np.float32)
    with pytest.raises(NotImplementedError, match="fastconv trains models with one output; this one has 2"):
        two.compile(optimizer="adam", loss="mse")


def test_functional_model_trains():
    keras.utils.set_random_seed(1)
    inputs = keras.Input(shape=(8, 8, 1))
    hidden = keras.layers.Conv2D(4, 3, activation="relu")(inputs)
    hidden = keras.layers.GlobalAveragePooling2D()(hidden)
    outputs = keras.layers.Dense(1, activation="sigmoid")(hidden)
    model = keras.Model(inputs, outputs)
    assert [type(layer).__name__ for layer in model.layers] == ["InputLayer", "Conv2D", "GlobalAveragePooling2D",
                                                                 "Dense"]
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="binary_crossentropy", metrics=["accuracy"])
    rng = np.random.default_rng(0)
    x = rng.random((64, 8, 8, 1), dtype=np.float32)
    y = (x.mean(axis=(1, 2, 3)) > 0.5).astype(np.float32)
    before = model.evaluate(x, y, verbose=0)[0]
    model.fit(x, y, epochs=5, verbose=0)
    assert model.evaluate(x, y, verbose=0)[0] < before


def test_summary_has_keras_columns_and_counts():
    model = keras.Sequential(textbook_layers(keras))
    lines = []
    model.summary(print_fn=lines.append)
    text = "\n".join(lines)
    for expected in ('Model: "sequential', "Layer (type)", "Output Shape", "Param #", "conv2d", "(Conv2D)",
                     "(None, 28, 28, 32)", "320", "18,496", "313,700", "1,010", "Total params: 333,526",
                     "Trainable params: 333,526", "Non-trainable params: 0"):
        assert expected in text, expected


@pytest.mark.parametrize("verbose, expected_lines", [(0, 0), (2, 4), (1, 4)])
def test_progress_output_is_one_line_per_epoch_when_not_a_terminal(capsys, monkeypatch, verbose, expected_lines):
    # Not in Jupyter either: the progress bar redraws in place under ipykernel, which a test that starts a
    # notebook kernel may have imported into this process (jupyter_client finds the kernel through it).
    monkeypatch.delitem(sys.modules, "ipykernel", raising=False)
    model = small_model()
    x, y = np.zeros((64, 28, 28, 1), np.float32), np.zeros(64, int)
    model.fit(x, y, epochs=2, verbose=verbose)
    lines = [line for line in capsys.readouterr().out.splitlines() if line.strip()]
    assert len(lines) == expected_lines
    if verbose:
        assert lines[0] == "Epoch 1/2"
        assert lines[1].startswith("2/2") and "accuracy:" in lines[1] and "loss:" in lines[1]


def test_train_and_test_on_batch():
    model = small_model()
    x, y = np.zeros((8, 28, 28, 1), np.float32), np.zeros(8, int)
    loss, accuracy = model.train_on_batch(x, y)
    assert np.isfinite(loss) and 0 <= accuracy <= 1
    logs = model.test_on_batch(x, y, return_dict=True)
    assert set(logs) == {"loss", "accuracy"}
    assert model.predict_on_batch(x).shape == (8, 10)


def _image_and_vector_model(library):
    inputs = [library.Input((6, 6, 1)), library.Input((4,))]
    image = library.layers.Flatten()(library.layers.Conv2D(2, 3)(inputs[0]))
    return library.Model(inputs, library.layers.Dense(3)(library.layers.Concatenate()([image, inputs[1]])))


def test_data_one_axis_short_or_long_of_the_inputs_is_adjusted_as_keras():
    # (N, 6, 6) images for Input((6, 6, 1)) get the channel axis, (N, 4, 1) vectors for Input((4,)) lose theirs.
    ours, theirs = _image_and_vector_model(keras), _image_and_vector_model(real_keras)
    ours.set_weights([np.asarray(w) for w in theirs.get_weights()])
    rng = np.random.default_rng(3)
    images, vectors = rng.random((5, 6, 6)).astype(np.float32), rng.random((5, 4, 1)).astype(np.float32)
    expected = np.asarray(theirs.predict([images, vectors], verbose=0))
    np.testing.assert_allclose(ours.predict([images, vectors], verbose=0), expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(ours([images, vectors]), expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(ours.predict([images, vectors], verbose=0),
                                  ours.predict([images[..., None], vectors[..., 0]], verbose=0))
    ours.compile(optimizer="sgd", loss="mse")
    history = ours.fit([images, vectors], expected, epochs=1, verbose=0, validation_data=([images, vectors], expected))
    assert sorted(history.history) == ["loss", "val_loss"]
    with pytest.raises(ValueError, match="incompatible"):  # two axes short: not adjusted
        ours.predict([images[:, 0], vectors], verbose=0)


@pytest.mark.parametrize("epochs, header", [(1, False), (2, True)])
def test_epoch_header_only_for_several_epochs_as_keras(capsys, epochs, header):
    small_model().fit(np.zeros((8, 28, 28, 1)), np.zeros(8, int), epochs=epochs, verbose=2)
    assert ("Epoch 1/" in capsys.readouterr().out) is header


@pytest.mark.parametrize("data", [
    (lambda: __import__("torch").utils.data.DataLoader(  # an iterable that is neither an array nor a PyDataset
        __import__("torch").utils.data.TensorDataset(__import__("torch").zeros(8, 28, 28, 1)), batch_size=4)),
    (lambda: type("Batches", (), {"__len__": lambda self: 1,  # a PyDataset-like object of another library
                                  "__getitem__": lambda self, i: (np.zeros((4, 28, 28, 1)), np.zeros(4))})()),
])
def test_data_fastconv_cannot_read_is_refused_by_name(data):
    model = small_model()
    for call in (lambda: model.fit(data(), verbose=0), lambda: model.predict(data(), verbose=0),
                 lambda: model.evaluate(data(), verbose=0)):
        with pytest.raises(NotImplementedError, match="take numpy arrays.*a keras.utils.PyDataset or a Python "
                                                      "generator of batches; this"):
            call()



def test_a_model_of_one_output_given_as_a_list_returns_arrays_as_keras():
    # Géron's `keras.Model(inputs=[input_], outputs=[output])`: Keras keeps the lists in `inputs`, `output`
    # and the config, and returns the one output's array from predict and calls, not a list of one.
    x = np.ones((3, 4), np.float32)
    models = []
    for library in (keras, real_keras):
        inputs = library.Input((4,))
        models.append(library.Model(inputs=[inputs], outputs=[library.layers.Dense(1, name="out")(inputs)]))
    ours, theirs = models
    ours.set_weights(theirs.get_weights())
    for result in (ours.predict(x, verbose=0), ours(x), ours.predict_on_batch(x)):
        assert isinstance(result, np.ndarray) and result.shape == (3, 1)
    np.testing.assert_allclose(ours.predict(x, verbose=0), theirs.predict(x, verbose=0), rtol=1e-6)
    assert isinstance(ours.output, list) and len(ours.output) == 1
    assert ours.get_config()["output_layers"] == theirs.get_config()["output_layers"] == [["out", 0, 0]]


def test_summary_of_a_sequential_model_before_it_is_built_prints_as_keras(capsys):
    model = keras.Sequential([keras.layers.Dense(4), keras.layers.Dense(2)])
    model.summary()
    printed = capsys.readouterr().out
    assert printed.count("0 (unbuilt)") == 2 and "dense_" in printed and "Total params: 0" in printed


def test_two_layers_of_one_name_in_a_functional_model_raise_as_keras():
    for library in (keras, real_keras):
        inputs = library.Input((4,))
        with pytest.raises(ValueError, match='The name "d" is used 2 times in the model'):
            library.Model(inputs, library.layers.Dense(2, name="d")(library.layers.Dense(4, name="d")(inputs)))


def test_data_given_a_batch_at_a_time_that_gives_none_raises_as_keras():
    for library in (keras, real_keras):
        model = library.Sequential([library.Input((4,)), library.layers.Dense(1)])
        model.compile(optimizer="sgd", loss="mse")
        with pytest.raises(ValueError, match="must yield at least one batch"):
            model.evaluate((batch for batch in []), verbose=0)
        with pytest.raises(ValueError, match="must yield at least one batch"):
            model.predict((batch for batch in []), verbose=0)
    with pytest.raises(ValueError, match="must yield at least one batch"), pytest.warns(UserWarning):
        model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
        model.compile(optimizer="sgd", loss="mse")
        model.fit((batch for batch in []), verbose=0)
