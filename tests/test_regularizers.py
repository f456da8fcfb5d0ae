"""Weight regularizers (``keras.regularizers.L1``, ``L2``, ``L1L2``) against real Keras 3 (penalties, configs,
a training step's loss and weights, ``evaluate``, ``model.losses``, ``.keras`` files both ways) and torch
autograd (the penalties' gradients)."""

import numpy as np
import pytest
import torch

from fastconv import keras as fk
from fastconv import regularizers
from keras_reference import keras

pytestmark = pytest.mark.filterwarnings(
    "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning",  # Keras's torch backend
)

RNG = np.random.default_rng(21)

CASES = [("L1", dict(l1=0.3)), ("L2", dict(l2=0.05)), ("L1L2", dict(l1=0.2, l2=0.7)), ("L1L2", dict(l2=0.1)),
         ("L1", dict()), ("L2", dict()), ("L1L2", dict())]


@pytest.mark.parametrize("name, kwargs", CASES, ids=str)
def test_penalty_equals_keras_and_gradient_equals_torch(name, kwargs):
    w = RNG.standard_normal((3, 4)).astype(np.float32)
    w[0, 0] = 0.0  # |w|'s gradient at 0: 0, as autograd's
    ours, theirs = getattr(regularizers, name)(**kwargs), getattr(keras.regularizers, name)(**kwargs)
    np.testing.assert_allclose(ours(w), keras.ops.convert_to_numpy(theirs(w)), rtol=1e-6)
    assert ours.get_config() == theirs.get_config()
    w64 = w.astype(np.float64)
    t = torch.tensor(w64, requires_grad=True)
    config = ours.get_config()
    penalty = config.get("l1", 0.0) * t.abs().sum() + config.get("l2", 0.0) * (t * t).sum()
    penalty.backward()
    np.testing.assert_allclose(ours(w64), penalty.item(), rtol=1e-12)
    np.testing.assert_allclose(ours.gradient(w64), t.grad.numpy(), rtol=1e-12, atol=1e-15)


IDENTIFIERS = [  # (fastconv's, Keras's)
    ("l1", "l1"), ("l2", "l2"), ("L1L2", "L1L2"), ("l1l2", "l1l2"), (regularizers.L2, keras.regularizers.L2),
    (regularizers.l1_l2(0.1), keras.regularizers.l1_l2(0.1)),
    ({"module": "keras.regularizers", "class_name": "L2", "config": {"l2": 0.3}, "registered_name": None},) * 2,
]


@pytest.mark.parametrize("ours, theirs", IDENTIFIERS, ids=str)
def test_get_reads_what_keras_reads(ours, theirs):
    ours, theirs = regularizers.get(ours), keras.regularizers.get(theirs)
    assert type(ours).__name__ == type(theirs).__name__ and ours.get_config() == theirs.get_config()
    assert regularizers.serialize(ours) == keras.regularizers.serialize(theirs)


def test_bad_factors_and_unsupported_regularizers():
    for bad in (-1, float("nan"), float("inf"), "a"):
        with pytest.raises(ValueError, match="Invalid value for argument l2"):
            regularizers.L2(bad)
    with pytest.raises(ValueError):
        keras.regularizers.L2(-1)
    for name in ("l3", "l1_l2"):  # Keras reads neither name (`l1_l2` is a function's alias only)
        with pytest.raises(ValueError, match=f"Could not interpret regularizer identifier: {name}"):
            regularizers.get(name)
        with pytest.raises(ValueError):
            keras.regularizers.get(name)
    with pytest.raises(NotImplementedError, match="function"):
        fk.layers.Dense(2, kernel_regularizer=lambda w: 0.01 * np.sum(w ** 2))
    with pytest.raises(NotImplementedError, match="OrthogonalRegularizer"):
        fk.regularizers.OrthogonalRegularizer
    with pytest.raises(NotImplementedError, match="activity_regularizer"):
        fk.layers.Conv2D(2, 3, activity_regularizer="l2")


def test_layers_keep_their_regularizers_under_keras_names():
    layer = fk.layers.SeparableConv2D(2, 3, depthwise_regularizer="l1", pointwise_regularizer="l2")
    assert type(layer.depthwise_regularizer).__name__ == "L1" and type(layer.pointwise_regularizer).__name__ == "L2"
    assert layer.bias_regularizer is None
    assert fk.layers.Dense(2, kernel_regularizer="l2").kernel_regularizer.get_config() == {"l2": 0.01}


def _model(library, regularized=True):
    """One layer of each kind that takes regularizers, each of its weights with one (or none)."""
    r = library.regularizers
    kinds = dict(kernel_regularizer=r.L2(0.02), bias_regularizer=r.L1(0.01)) if regularized else {}
    inputs = library.Input((6, 6, 2))
    x = library.layers.Conv2D(3, 3, **kinds)(inputs)
    x = library.layers.DepthwiseConv2D(3, depthwise_regularizer=r.L1L2(0.01, 0.03) if regularized else None,
                                       bias_regularizer=r.L2(0.05) if regularized else None)(x)
    x = library.layers.SeparableConv2D(4, 2, pointwise_regularizer=r.L2(0.04) if regularized else None,
                                       depthwise_regularizer=r.L1(0.02) if regularized else None)(x)
    outputs = library.layers.Dense(2, **kinds)(library.layers.Flatten()(x))
    model = library.Model(inputs, outputs)
    model.compile(optimizer=library.optimizers.SGD(0.05), loss="mse")
    return model


def _same_start():
    theirs, ours = _model(keras), _model(fk)
    weights = [np.asarray(w) + 0.1 * RNG.standard_normal(np.shape(w)).astype(np.float32)  # non-zero biases
               for w in theirs.get_weights()]
    theirs.set_weights(weights)
    ours.set_weights(weights)
    return theirs, ours


def test_training_and_evaluation_add_the_penalties_as_keras():
    theirs, ours = _same_start()
    start = ours.get_weights()
    x, y = RNG.standard_normal((8, 6, 6, 2)).astype(np.float32), RNG.standard_normal((8, 2)).astype(np.float32)
    expected_losses = [float(keras.ops.convert_to_numpy(loss)) for loss in theirs.losses]
    assert len(expected_losses) == 8
    np.testing.assert_allclose([float(loss) for loss in ours.losses], expected_losses, rtol=1e-5)
    np.testing.assert_allclose(ours.evaluate(x, y, verbose=0), theirs.evaluate(x, y, verbose=0), rtol=1e-5)
    history_ours = ours.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0).history["loss"]
    history_theirs = theirs.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0).history["loss"]
    np.testing.assert_allclose(history_ours, history_theirs, rtol=1e-5)
    for a, b in zip(ours.get_weights(), theirs.get_weights(), strict=True):
        np.testing.assert_allclose(a, np.asarray(b), rtol=1e-5, atol=1e-6)
    # Without the regularizers the same start trains to other weights: the penalties' gradients counted.
    plain = _model(fk, regularized=False)
    plain.set_weights(start)
    plain.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0)
    assert all((a != b).any() for a, b in zip(plain.get_weights(), ours.get_weights()))


def test_frozen_layers_penalties_do_not_count_as_in_keras():
    theirs, ours = _same_start()
    for model in (theirs, ours):
        model.layers[1].trainable = False
    assert len(ours.losses) == len(theirs.losses) == 6
    x, y = RNG.standard_normal((4, 6, 6, 2)).astype(np.float32), RNG.standard_normal((4, 2)).astype(np.float32)
    np.testing.assert_allclose(ours.evaluate(x, y, verbose=0), theirs.evaluate(x, y, verbose=0), rtol=1e-5)


def test_regularizers_in_keras_files_both_ways(tmp_path):
    theirs, ours = _same_start()
    ours.save(tmp_path / "ours.keras")
    in_keras = keras.models.load_model(tmp_path / "ours.keras")
    theirs.save(tmp_path / "theirs.keras")
    in_fastconv = fk.models.load_model(tmp_path / "theirs.keras")
    for model, reference in ((in_keras, ours), (in_fastconv, theirs)):
        np.testing.assert_allclose([float(keras.ops.convert_to_numpy(loss)) for loss in model.losses],
                                   [float(keras.ops.convert_to_numpy(loss)) for loss in reference.losses], rtol=1e-5)
    for a, b in zip(in_fastconv.layers[1:], theirs.layers[1:]):
        config, expected = a.get_config(), b.get_config()
        for key in config:
            if key.endswith("_regularizer"):
                assert config[key] == expected[key], key
