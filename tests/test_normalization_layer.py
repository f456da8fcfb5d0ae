"""``keras.layers.Normalization`` against real Keras 3 (torch backend): ``adapt`` on arrays and on batches,
each choice of axes, given values, ``invert``, training a model behind it (Géron's chapter 10 MLP), and
``.keras`` files both ways."""

import numpy as np
import pytest

from fastconv import keras as fk
from keras_reference import keras

pytestmark = pytest.mark.filterwarnings(
    "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning",  # Keras's torch backend
)

RNG = np.random.default_rng(83)
IMAGES = RNG.normal(100, 40, (20, 5, 6, 3)).astype(np.float32)


@pytest.mark.parametrize("kwargs", [{}, {"axis": None}, {"axis": (1, 2)}, {"axis": -1, "invert": True}], ids=str)
@pytest.mark.parametrize("batched", [False, True], ids=["array", "batches"])
def test_adapt_learns_keras_statistics(kwargs, batched):
    ours, theirs = fk.layers.Normalization(**kwargs), keras.layers.Normalization(**kwargs)
    # Batches are combined by count: the statistics of all of them (Keras's batch path needs TensorFlow, so its
    # statistics of the whole array are the reference there).
    ours.adapt([IMAGES[:7], IMAGES[7:15], IMAGES[15:]] if batched else IMAGES)
    theirs.adapt(IMAGES)
    for mine, reference in zip(ours.weights, theirs.weights, strict=True):
        assert mine.path == reference.path and mine.shape == tuple(reference.shape)
        np.testing.assert_allclose(mine.value, keras.ops.convert_to_numpy(reference), rtol=2e-5, atol=1e-3)
    np.testing.assert_allclose(ours(IMAGES[:4]), keras.ops.convert_to_numpy(theirs(IMAGES[:4])), rtol=1e-4,
                               atol=1e-4)
    assert ours.get_config() == {**theirs.get_config(), "name": ours.name}


def test_given_mean_and_variance_as_keras():
    for kwargs in ({"mean": 3.0, "variance": 4.0}, {"mean": [1.0, 2.0, 3.0], "variance": [1.0, 4.0, 9.0]},
                   {"axis": (2, 3), "mean": RNG.random((6, 3)).tolist(), "variance": RNG.random((6, 3)).tolist()}):
        ours, theirs = fk.layers.Normalization(**kwargs), keras.layers.Normalization(**kwargs)
        np.testing.assert_allclose(ours(IMAGES[:2]), keras.ops.convert_to_numpy(theirs(IMAGES[:2])), rtol=1e-5)
        assert ours.weights == [] and ours.get_config() == {**theirs.get_config(), "name": ours.name}
    with pytest.raises(ValueError, match="both `mean` and `variance` must be set"):
        fk.layers.Normalization(mean=1.0)


def test_a_model_behind_a_normalization_trains_as_keras(tmp_path):
    x = RNG.normal(50, 10, (32, 8)).astype(np.float32)
    y = (x @ RNG.standard_normal((8, 1)) / 50).astype(np.float32)
    models = []
    for library in (fk, keras):
        norm = library.layers.Normalization()
        norm.adapt(x)
        models.append(library.Sequential([library.Input((8,)), norm, library.layers.Dense(4, activation="relu"),
                                          library.layers.Dense(1)]))
    ours, theirs = models
    ours.set_weights([np.asarray(w) for w in theirs.get_weights()])
    for model, library in ((ours, fk), (theirs, keras)):
        model.compile(optimizer=library.optimizers.SGD(0.01), loss="mse")
    losses = [model.fit(x, y, batch_size=8, epochs=3, shuffle=False, verbose=0).history["loss"]
              for model in (ours, theirs)]
    np.testing.assert_allclose(losses[0], losses[1], rtol=1e-4)
    ours.save(tmp_path / "ours.keras")
    np.testing.assert_allclose(keras.models.load_model(tmp_path / "ours.keras").predict(x, verbose=0),
                               ours.predict(x, verbose=0), rtol=1e-5, atol=1e-5)
    theirs.save(tmp_path / "theirs.keras")
    np.testing.assert_allclose(fk.models.load_model(tmp_path / "theirs.keras").predict(x, verbose=0),
                               np.asarray(theirs.predict(x, verbose=0)), rtol=1e-5, atol=1e-5)


def test_a_vector_of_samples_adapted_without_axes_feeds_a_model_and_shows_its_statistics_as_keras():
    # TensorFlow's Basic regression tutorial: `Normalization(input_shape=[1,], axis=None)` adapted on a vector,
    # then `normalizer.mean.numpy()`.
    horsepower = RNG.uniform(50, 200, 20).astype(np.float32)
    outputs, means = [], []
    for library in (fk, keras):
        normalizer = library.layers.Normalization(input_shape=[1, ], axis=None)
        normalizer.adapt(horsepower)
        model = library.Sequential([normalizer, library.layers.Dense(1, kernel_initializer="ones")])
        outputs.append(np.asarray(model.predict(horsepower[:3], verbose=0)))
        means.append(keras.ops.convert_to_numpy(normalizer.mean))
    np.testing.assert_allclose(outputs[0], outputs[1], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(means[0], means[1], rtol=1e-6)
    assert outputs[0].shape == (3, 1)
