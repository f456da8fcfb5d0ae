"""Keras arguments of compile, fit, evaluate, optimizers and layers: those fastconv honours do what Keras does,
the others raise errors that name the argument and what was received (or, for `jit_compile=True`, warn)."""

import warnings

import numpy as np
import pytest

import fastconv.schedules
from fastconv import keras
from keras_reference import keras as real_keras


def tiny_layers(api):
    return [api.layers.Conv2D(3, 3, activation="relu", input_shape=(8, 8, 1)), api.layers.Flatten(),
            api.layers.Dense(4, activation="softmax")]


def tiny_model(optimizer="sgd", **compile_arguments):
    keras.utils.set_random_seed(0)
    model = keras.Sequential(tiny_layers(keras))
    model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy", metrics=["accuracy"],
                  **compile_arguments)
    return model


@pytest.fixture
def data(rng):
    return rng.random((20, 8, 8, 1), dtype=np.float32), rng.integers(0, 4, 20)


def _raises(exception, message, function, *args, **kwargs):
    with pytest.raises(exception) as info:
        function(*args, **kwargs)
    assert type(info.value) is exception
    assert str(info.value) == message


# ----------------------------------------------------------------------------- loss_scale_factor


def test_loss_scale_factor_leaves_training_unchanged(data):
    """The loss is scaled by 128 before differentiating and the gradients divided by 128: powers of two
    are exact in float32, so the weights after training are the same to the last bit."""
    x, y = data
    weights = []
    for factor in (None, 128.0):
        model = tiny_model(keras.optimizers.SGD(0.1, loss_scale_factor=factor))
        history = model.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
        weights.append(model.get_weights())
        assert history.history["loss"][1] < history.history["loss"][0]
    for scaled, plain in zip(weights[1], weights[0]):
        np.testing.assert_array_equal(scaled, plain)


@pytest.mark.parametrize("optimizer", ["SGD", "Adam"])
def test_loss_scale_factor_steps_match_keras(rng, optimizer):
    x = rng.random((3, 8, 8, 8, 1), dtype=np.float32)
    y = rng.integers(0, 4, (3, 8))
    ours, theirs = keras.Sequential(tiny_layers(keras)), real_keras.Sequential(tiny_layers(real_keras))
    theirs.set_weights(ours.get_weights())
    for api, model in ((keras, ours), (real_keras, theirs)):
        model.compile(optimizer=getattr(api.optimizers, optimizer)(learning_rate=0.1, loss_scale_factor=64.0),
                      loss="sparse_categorical_crossentropy")
    for step in range(3):
        np.testing.assert_allclose(ours.train_on_batch(x[step], y[step]),
                                   float(theirs.train_on_batch(x[step], y[step])), rtol=1e-5)
        for mine, reference in zip(ours.get_weights(), theirs.get_weights()):
            np.testing.assert_allclose(mine, reference, rtol=2e-4, atol=2e-6)


# ----------------------------------------------------------------------------- compile


@pytest.mark.parametrize("arguments", [
    {}, {"run_eagerly": True}, {"run_eagerly": False}, {"jit_compile": "auto"}, {"jit_compile": False},
    {"steps_per_execution": 1}, {"auto_scale_loss": False},
    {"run_eagerly": None, "jit_compile": None, "steps_per_execution": None},   # tf.keras 2's defaults
])
def test_compile_accepts_the_execution_fastconv_runs(data, arguments):
    model = keras.Sequential(tiny_layers(keras))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", **arguments)
    assert model.run_eagerly is bool(arguments.get("run_eagerly"))
    assert model.jit_compile is False and model.steps_per_execution == 1
    model.fit(*data, verbose=0)


def test_compile_jit_compile_true_warns_and_proceeds_without(data):
    with pytest.warns(UserWarning, match=r"cannot compile a whole training step .* Proceeding with "
                                         r"`jit_compile=False`\.$"):
        model = tiny_model(jit_compile=True)
    assert model.jit_compile is False
    model.fit(*data, verbose=0)


@pytest.mark.parametrize("arguments, exception, message", [
    ({"run_eagerly": "yes"}, ValueError,
     "Invalid value for argument `run_eagerly`. Expected True or False. Received: run_eagerly='yes'"),
    ({"jit_compile": "xla"}, ValueError,
     "Invalid value for argument `jit_compile`. Expected True, False or 'auto'. Received: jit_compile='xla'"),
    ({"steps_per_execution": 0}, ValueError,
     "Invalid value for argument `steps_per_execution`. Expected a positive integer. Received: steps_per_execution=0"),
    ({"steps_per_execution": 2.0}, ValueError,
     "Invalid value for argument `steps_per_execution`. Expected a positive integer. "
     "Received: steps_per_execution=2.0"),
    ({"steps_per_execution": 4}, NotImplementedError,
     "fastconv runs one batch per step and calls the batch hooks of callbacks after each one, as Keras's PyTorch "
     "backend does (which needs `steps_per_execution=1` too). Received: steps_per_execution=4"),
])
def test_compile_execution_arguments_it_cannot_honour_raise(arguments, exception, message):
    _raises(exception, message, tiny_model, **arguments)


# ----------------------------------------------------------------------------- fit and evaluate


@pytest.mark.parametrize("arguments, message", [
    ({"validation_split": "0.2"},
     "Invalid value for argument `validation_split`. Expected a float in [0, 1). Received: validation_split='0.2'"),
    ({"validation_split": 1.0},
     "Invalid value for argument `validation_split`. Expected a float in [0, 1). Received: validation_split=1.0"),
    ({"validation_split": True},
     "Invalid value for argument `validation_split`. Expected a float in [0, 1). Received: validation_split=True"),
    ({"validation_split": 0.2, "validation_batch_size": 0},
     "Invalid value for argument `validation_batch_size`. Expected a positive integer. "
     "Received: validation_batch_size=0"),
    ({"validation_split": 0.2, "validation_batch_size": 2.5},
     "Invalid value for argument `validation_batch_size`. Expected a positive integer. "
     "Received: validation_batch_size=2.5"),
    ({"validation_freq": 0},
     "Invalid value for argument `validation_freq`. Expected a positive integer or a list of epochs (counted "
     "from 1). Received: validation_freq=0"),
    ({"validation_freq": [1, 0]},
     "Invalid value for argument `validation_freq`. Expected a positive integer or a list of epochs (counted "
     "from 1). Received: validation_freq=[1, 0]"),
])
def test_fit_arguments_are_checked(data, arguments, message):
    _raises(ValueError, message, tiny_model().fit, *data, verbose=0, **arguments)


def test_validation_batch_size_and_validation_freq_are_honoured(data):
    x, y = data
    batches = []

    class CountValidationBatches(keras.callbacks.Callback):
        def on_test_batch_end(self, batch, logs=None):
            batches.append(batch)

    history = tiny_model().fit(x, y, epochs=3, validation_split=0.5, validation_batch_size=4,
                               validation_freq=[1, 3], callbacks=[CountValidationBatches()], verbose=0)
    assert batches == [0, 1, 2] * 2      # 10 validation samples, 4 a batch, after epochs 1 and 3
    assert len(history.history["loss"]) == 3 and len(history.history["val_loss"]) == 2


def test_fit_and_evaluate_need_samples(data):
    x, y = data
    model = tiny_model()
    empty = "`{}` needs at least one sample. Received: {} with 0 samples, of shape (0, 8, 8, 1)"
    _raises(ValueError, "Invalid value for argument `x`: " + empty.format("fit", "x"), model.fit, x[:0], y[:0])
    _raises(ValueError, "Invalid value for argument `x`: " + empty.format("evaluate", "x"),
            model.evaluate, x[:0], y[:0])
    _raises(ValueError, "Invalid value for argument `validation_data`: " + empty.format("fit", "validation_data"),
            model.fit, x, y, validation_data=(x[:0], y[:0]))
    assert model.optimizer.iterations.numpy() == 0


@pytest.mark.parametrize("samples, validation_split", [(1, 0.5), (3, 0.7), (10, 0.95)])
def test_a_validation_split_that_leaves_no_training_sample_raises_as_in_keras(data, samples, validation_split):
    x, y = data
    message = (f"Training data contains {samples} samples, which is not sufficient to split it into a validation "
               f"and training set as specified by `validation_split={validation_split}`. Either provide more data, "
               "or a different value for the `validation_split` argument.")
    _raises(ValueError, message, tiny_model().fit, x[:samples], y[:samples], validation_split=validation_split,
            verbose=0)
    theirs = real_keras.Sequential(tiny_layers(real_keras))
    theirs.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    _raises(ValueError, message, theirs.fit, x[:samples], y[:samples], validation_split=validation_split,
            verbose=0)


# ----------------------------------------------------------------------------- layers and optimizers


@pytest.mark.parametrize("dtype, exception, message", [
    ("mixed_float16", NotImplementedError,
     "fastconv layers compute in float32; mixed precision is not supported. Received: dtype='mixed_float16'. "
     "Leave `dtype` unset (or pass 'float32')."),
    ({"class_name": "DTypePolicy", "config": {"name": "mixed_bfloat16"}}, NotImplementedError,
     "fastconv layers compute in float32; mixed precision is not supported. Received: dtype={'class_name': "
     "'DTypePolicy', 'config': {'name': 'mixed_bfloat16'}}. Leave `dtype` unset (or pass 'float32')."),
    ("float64", NotImplementedError, "fastconv layers compute in float32. Received: dtype='float64'"),
    ("bfloat16", NotImplementedError, "fastconv layers compute in float32. Received: dtype='bfloat16'"),
    ("floaty", ValueError,
     "Invalid value for argument `dtype`. Expected a dtype or dtype policy name such as 'float32'. "
     "Received: dtype='floaty'"),
    ("mixed_float32", ValueError,
     "Invalid value for argument `dtype`. Expected a dtype or dtype policy name such as 'float32'. "
     "Received: dtype='mixed_float32'"),
])
def test_layer_dtypes_other_than_float32_raise(dtype, exception, message):
    _raises(exception, message, keras.layers.Conv2D, 4, 3, dtype=dtype)
    _raises(exception, message, keras.layers.Dense, 4, dtype=dtype)


@pytest.mark.parametrize("dtype", [None, "float32", np.float32, np.dtype("float32"),
                                   {"class_name": "DTypePolicy", "config": {"name": "float32"}}])
def test_layer_dtype_float32_in_any_spelling(dtype):
    assert keras.layers.Conv2D(4, 3, dtype=dtype)(np.ones((1, 5, 5, 1))).dtype == np.float32


def test_learning_rate_schedules_are_all_there():
    assert set(fastconv.schedules.KERAS_SCHEDULES) == {
        name for name in dir(real_keras.optimizers.schedules) if not name.startswith("_")}
    assert set(keras.optimizers.schedules.__all__) == set(fastconv.schedules.KERAS_SCHEDULES)
    with pytest.raises(AttributeError, match="has no attribute 'ExponentialDecayy'"):
        keras.optimizers.schedules.ExponentialDecayy


def test_numpy_integer_filters_are_accepted_as_in_keras():
    # A loop over `2 ** np.arange(...)` filter counts, as tutorials write it.
    layers = [keras.layers.Conv2D(f, 3) for f in 2 ** np.arange(2, 4)]
    assert [layer.filters for layer in layers] == [4, 8] and all(type(layer.filters) is int for layer in layers)
    separable = keras.layers.SeparableConv2D(np.int64(4), 3, depth_multiplier=np.int32(2))
    assert (separable.filters, separable.depth_multiplier) == (4, 2)
    assert keras.layers.Conv1D(np.int64(6), 3, groups=np.int64(2)).get_config()["groups"] == 2
    assert real_keras.layers.Conv2D(np.int64(4), 3).get_config()["filters"] == 4  # Keras accepts them too
