"""Weight constraints (``fastconv.constraints``) against real Keras 3 (torch backend): the same projections,
the same training with ``kernel_constraint=max_norm(...)`` (Géron's max-norm regularization), the same configs
and ``.keras`` files both ways."""

import numpy as np
import pytest

from fastconv import constraints
from fastconv import keras as fk
from keras_reference import keras

pytestmark = pytest.mark.filterwarnings(
    "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning",  # Keras's torch backend
)

RNG = np.random.default_rng(71)


@pytest.mark.parametrize("name, kwargs", [
    ("MaxNorm", {}), ("MaxNorm", {"max_value": 0.5, "axis": [0, 1, 2]}), ("MinMaxNorm", {}),
    ("MinMaxNorm", {"min_value": 0.5, "max_value": 2.0, "rate": 0.3, "axis": 1}), ("NonNeg", {}),
    ("UnitNorm", {}), ("UnitNorm", {"axis": -1}),
], ids=str)
def test_constraints_project_as_keras(name, kwargs):
    w = RNG.standard_normal((3, 3, 4, 5)).astype(np.float32)
    ours, theirs = getattr(constraints, name)(**kwargs), getattr(keras.constraints, name)(**kwargs)
    np.testing.assert_allclose(ours(w), keras.ops.convert_to_numpy(theirs(w)), rtol=1e-6, atol=1e-7)
    assert ours(w).dtype == np.float32
    assert constraints.serialize(ours) == keras.constraints.serialize(theirs)
    assert type(constraints.get(keras.constraints.serialize(theirs))) is type(ours)


def _model(library, constraint):
    layers = library.layers
    return library.Sequential([
        library.Input((6, 6, 1)),
        layers.Conv2D(3, 3, kernel_constraint=constraint(library), bias_constraint=library.constraints.NonNeg()),
        layers.SeparableConv2D(4, 3, depthwise_constraint=library.constraints.UnitNorm(axis=[0, 1]),
                               pointwise_constraint=library.constraints.max_norm(0.5)),
        layers.Flatten(),
        layers.Dense(2, kernel_constraint=library.constraints.MinMaxNorm(0.1, 0.8, rate=0.5))])


def test_training_with_constraints_gives_keras_weights(tmp_path):
    ours = _model(fk, lambda library: library.constraints.max_norm(1.0, axis=[0, 1, 2]))
    theirs = _model(keras, lambda library: library.constraints.max_norm(1.0, axis=[0, 1, 2]))
    ours.set_weights([np.asarray(w) for w in theirs.get_weights()])
    x, y = RNG.standard_normal((12, 6, 6, 1)).astype(np.float32), RNG.standard_normal((12, 2)).astype(np.float32)
    for model, library in ((ours, fk), (theirs, keras)):
        model.compile(optimizer=library.optimizers.SGD(0.5), loss="mse")
    losses = [model.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0).history["loss"]
              for model in (ours, theirs)]
    np.testing.assert_allclose(losses[0], losses[1], rtol=1e-4)
    for a, b in zip(ours.get_weights(), theirs.get_weights(), strict=True):
        np.testing.assert_allclose(a, np.asarray(b), rtol=1e-4, atol=1e-5)
    kernel = ours.layers[0].kernel.numpy()
    assert np.sqrt(np.sum(kernel ** 2, axis=(0, 1, 2))).max() <= 1.0 + 1e-5  # each filter's norm at most 1
    assert ours.layers[0].bias.numpy().min() >= 0
    for layer, keras_layer in zip(ours.layers, theirs.layers):
        config, expected = layer.get_config(), keras_layer.get_config()
        assert {k: v for k, v in config.items() if k.endswith("_constraint")} == {
            k: v for k, v in expected.items() if k.endswith("_constraint")}
    ours.save(tmp_path / "ours.keras")
    again = keras.models.load_model(tmp_path / "ours.keras")
    assert again.layers[0].kernel_constraint.get_config() == {"max_value": 1.0, "axis": [0, 1, 2]}
    theirs.save(tmp_path / "theirs.keras")
    assert fk.models.load_model(tmp_path / "theirs.keras").layers[-1].kernel_constraint.get_config() == {
        "min_value": 0.1, "max_value": 0.8, "rate": 0.5, "axis": 0}


def test_unknown_constraints_raise():
    with pytest.raises(ValueError, match="Could not interpret constraint identifier: nope"):
        fk.layers.Dense(2, kernel_constraint="nope")
    with pytest.raises(NotImplementedError, match="MaxNorm, MinMaxNorm, NonNeg and UnitNorm"):
        fk.layers.Dense(2, kernel_constraint=lambda w: w)
