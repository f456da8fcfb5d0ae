"""The numbers a Keras program prints come out as Keras's: the order of the logs' names, and cross-entropies
of softmax and sigmoid outputs taken from the logits, as Keras computes them under TensorFlow.

Keras on its torch backend (the reference of the other tests) clips the
probabilities instead, so the loss reference here is computed in float64
from the logits, independently of fastconv's losses.
"""

import numpy as np
import pytest

from fastconv import keras as fastconv_keras
from keras_reference import keras


def _model(library, units, activation, seed=0):
    model = library.Sequential([library.Input((6,)), library.layers.Dense(units, activation=activation)])
    rng = np.random.default_rng(seed)
    # Large weights: confident outputs, with probabilities far below the clipping bound 1e-7.
    model.set_weights([rng.standard_normal((6, units)).astype("float32") * 12,
                       rng.standard_normal(units).astype("float32")])
    return model


def test_log_names_are_in_keras_order():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((40, 6)).astype("float32")
    y = np.eye(3, dtype="float32")[np.arange(40) % 3]
    results = []
    for library in (keras, fastconv_keras):
        model = _model(library, 3, "softmax")
        model.compile(optimizer="sgd", loss="categorical_crossentropy", metrics=["mse", "accuracy"])
        history = model.fit(x, y, batch_size=8, epochs=1, validation_split=0.25, verbose=0)
        evaluated = model.evaluate(x, y, verbose=0)
        as_dict = model.evaluate(x, y, verbose=0, return_dict=True)
        on_batch = model.train_on_batch(x, y, return_dict=True)
        results.append((list(history.history), list(as_dict), list(on_batch), len(evaluated),
                        evaluated[0] == as_dict["loss"], evaluated[1] == as_dict["mse"]))
    assert results[1] == results[0]
    assert results[0][0] == ["accuracy", "loss", "mse", "val_accuracy", "val_loss", "val_mse"]


def _log_softmax(z):
    z = z - z.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


@pytest.mark.parametrize("loss, activation, units", [
    ("sparse_categorical_crossentropy", "softmax", 4),
    ("categorical_crossentropy", "softmax", 4),
    ("binary_crossentropy", "sigmoid", 1),
])
def test_cross_entropy_of_a_softmax_or_sigmoid_output_is_taken_from_its_logits(loss, activation, units):
    rng = np.random.default_rng(2)
    x = rng.standard_normal((64, 6)).astype("float32")
    model = _model(fastconv_keras, units, activation)
    kernel, bias = (w.astype(np.float64) for w in model.get_weights())
    logits = x.astype(np.float64) @ kernel + bias
    if activation == "softmax":
        labels = rng.integers(0, units, 64)
        y = labels if loss.startswith("sparse") else np.eye(units, dtype="float32")[labels]
        expected = -_log_softmax(logits)[np.arange(64), labels].mean()
        clipped = -np.log(np.clip(np.exp(_log_softmax(logits))[np.arange(64), labels], 1e-7, 1 - 1e-7)).mean()
    else:
        y = rng.integers(0, 2, (64, 1)).astype("float32")
        expected = (np.maximum(logits, 0) - logits * y + np.log1p(np.exp(-np.abs(logits)))).mean()
        p = np.clip(1 / (1 + np.exp(-logits)), 1e-7, 1 - 1e-7)
        clipped = -(y * np.log(p) + (1 - y) * np.log(1 - p)).mean()
    assert abs(clipped - expected) > 1e-2 * expected  # the clipping matters for these outputs
    model.compile(optimizer=fastconv_keras.optimizers.SGD(0.0), loss=loss)
    np.testing.assert_allclose(model.evaluate(x, y, batch_size=64, verbose=0), expected, rtol=1e-5)
    np.testing.assert_allclose(model.test_on_batch(x, y), expected, rtol=1e-5)
    np.testing.assert_allclose(model.train_on_batch(x, y), expected, rtol=1e-5)  # learning rate 0: same weights
    history = model.fit(x, y, batch_size=64, epochs=1, verbose=0)
    np.testing.assert_allclose(history.history["loss"][0], expected, rtol=1e-5)


def test_loss_on_probabilities_without_a_softmax_layer_stays_clipped():
    # A model whose output is not a softmax (here: linear outputs normalised by the data) is taken as given.
    model = _model(fastconv_keras, 4, "relu")
    model.compile(optimizer="sgd", loss="mse")
    x = np.ones((4, 6), "float32")
    np.testing.assert_allclose(model.evaluate(x, np.zeros((4, 4), "float32"), verbose=0),
                               (model.predict(x, verbose=0).astype(np.float64) ** 2).mean(), rtol=1e-5)
