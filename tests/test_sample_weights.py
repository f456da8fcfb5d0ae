"""``sample_weight`` and ``class_weight`` in ``fit``, ``evaluate``, ``train_on_batch`` and ``test_on_batch``, and
``validation_data`` with sample weights, against real Keras 3 (torch backend): the same weights, data and SGD
give the same losses, metrics and trained weights."""

import numpy as np
import pytest

from fastconv import keras as fk
from keras_reference import keras

pytestmark = pytest.mark.filterwarnings(
    "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning",  # Keras's torch backend
)

RNG = np.random.default_rng(41)
X = RNG.standard_normal((24, 5)).astype(np.float32)
LABELS = RNG.integers(0, 3, 24)
WEIGHTS = RNG.uniform(0, 3, 24).astype(np.float32)
WEIGHTS[3] = 0.0


def _pair(loss="sparse_categorical_crossentropy", activation="softmax"):
    models = []
    for library in (fk, keras):
        model = library.Sequential([library.Input((5,)), library.layers.Dense(6, activation="relu"),
                                    library.layers.Dense(3, activation=activation)])
        if models:
            model.set_weights([np.asarray(w) for w in models[0].get_weights()])
        model.compile(optimizer=library.optimizers.SGD(0.1), loss=loss, metrics=["accuracy"])
        models.append(model)
    return models


def _assert_same_training(ours, theirs, y=LABELS, **fit_arguments):
    histories = [model.fit(X, y, batch_size=8, epochs=2, shuffle=False, verbose=0, **fit_arguments).history
                 for model in (ours, theirs)]
    assert sorted(histories[0]) == sorted(histories[1])
    for key in histories[1]:
        np.testing.assert_allclose(histories[0][key], histories[1][key], rtol=1e-5, err_msg=key)
    for a, b in zip(ours.get_weights(), theirs.get_weights(), strict=True):
        np.testing.assert_allclose(a, np.asarray(b), rtol=1e-5, atol=1e-6)


def test_sample_weight_trains_as_keras():
    _assert_same_training(*_pair(), sample_weight=WEIGHTS)


@pytest.mark.parametrize("one_hot", [False, True])
def test_class_weight_trains_as_keras(one_hot):
    loss = "categorical_crossentropy" if one_hot else "sparse_categorical_crossentropy"
    y = np.eye(3, dtype=np.float32)[LABELS] if one_hot else LABELS
    _assert_same_training(*_pair(loss), y=y, class_weight={0: 1.0, 2: 3.5})  # class 1 left out: weight 1


def test_weighted_validation_as_keras():
    ours, theirs = _pair()
    _assert_same_training(ours, theirs, validation_data=(X[:10], LABELS[:10], WEIGHTS[:10]))
    ours, theirs = _pair()
    _assert_same_training(ours, theirs, sample_weight=WEIGHTS, validation_split=0.25)


def test_weighted_evaluate_and_one_batch_methods_as_keras():
    ours, theirs = _pair()
    for a, b in ((ours.evaluate(X, LABELS, sample_weight=WEIGHTS, verbose=0),
                  theirs.evaluate(X, LABELS, sample_weight=WEIGHTS, verbose=0)),
                 (ours.test_on_batch(X, LABELS, sample_weight=WEIGHTS),
                  theirs.test_on_batch(X, LABELS, sample_weight=WEIGHTS)),
                 (ours.train_on_batch(X, LABELS, sample_weight=WEIGHTS),
                  theirs.train_on_batch(X, LABELS, sample_weight=WEIGHTS)),
                 (ours.train_on_batch(X, LABELS, class_weight={1: 2.0}),
                  theirs.train_on_batch(X, LABELS, class_weight={1: 2.0}))):
        np.testing.assert_allclose(a, b, rtol=1e-5)
    weighted, plain = (ours.evaluate(X, LABELS, sample_weight=w, verbose=0)[0] for w in (WEIGHTS, None))
    assert weighted != plain  # the weights count


def test_bad_weights_are_errors_naming_them():
    ours, _ = _pair()
    with pytest.raises(ValueError, match="You cannot `class_weight` and `sample_weight` at the same time"):
        ours.fit(X, LABELS, sample_weight=WEIGHTS, class_weight={0: 2.0}, verbose=0)
    with pytest.raises(ValueError, match=r"`sample_weight`. Expected one weight per sample, shape \(24,\)"):
        ours.fit(X, LABELS, sample_weight=WEIGHTS[:5], verbose=0)
    with pytest.raises(ValueError, match="`class_weight`. Expected a dict"):
        ours.fit(X, LABELS, class_weight=[1.0, 2.0, 3.0], verbose=0)
    with pytest.raises(ValueError, match="`validation_data` must be a tuple"):
        ours.fit(X, LABELS, validation_data=(X, LABELS, WEIGHTS, WEIGHTS), verbose=0)
