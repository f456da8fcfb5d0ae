"""Sequential models of convolutions and global pooling run on images of any size, whatever size they were built
for, as in Keras; models whose layers need the size they were built for (Flatten before a global pooling, weights
over positions), functional models with fixed input sizes and subclassed models say so, as Keras refuses the
functional ones (and a subclassed model's recorded call ran for one size)."""

import numpy as np
import pytest

from fastconv import keras as fastconv_keras
from keras_reference import keras


def _inputs(shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def _same_weights(ours, theirs):
    for ours_layer, theirs_layer in zip(ours.layers, theirs.layers):
        weights = [_inputs(w.shape, seed=10 + i) * 0.3 for i, w in enumerate(ours_layer.get_weights())]
        ours_layer.set_weights(weights)
        theirs_layer.set_weights(weights)


def _global_pooling_cnn(library, with_input):
    layers = library.layers
    return library.Sequential(([library.Input((10, 10, 1))] if with_input else []) + [
        layers.Conv2D(4, 3, padding="same", activation="relu"), layers.BatchNormalization(), layers.MaxPooling2D(),
        layers.PReLU(shared_axes=[1, 2]), layers.LayerNormalization(), layers.GlobalAveragePooling2D(),
        layers.Dense(3, activation="softmax")])


@pytest.mark.parametrize("with_input", [False, True], ids=["built-from-data", "Input"])
def test_a_global_pooling_cnn_runs_and_trains_on_other_sizes_as_keras(with_input):
    ours, theirs = _global_pooling_cnn(fastconv_keras, with_input), _global_pooling_cnn(keras, with_input)
    first = _inputs((4, 10, 10, 1))
    ours.predict(first, verbose=0)
    theirs.predict(first, verbose=0)
    _same_weights(ours, theirs)
    for shape in ((4, 10, 10, 1), (3, 12, 14, 1), (2, 17, 9, 1)):
        x = _inputs(shape, seed=shape[1])
        np.testing.assert_allclose(ours.predict(x, verbose=0), theirs.predict(x, verbose=0), rtol=1e-5, atol=1e-6)
    x, y = _inputs((8, 16, 12, 1), seed=3), np.arange(8) % 3
    for model in (ours, theirs):
        model.compile("sgd", "sparse_categorical_crossentropy")
        model.fit(x, y, batch_size=4, epochs=1, shuffle=False, verbose=0)
    for got, expected in zip(ours.get_weights(), theirs.get_weights()):
        np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(ours.evaluate(x, y, verbose=0), theirs.evaluate(x, y, verbose=0), rtol=1e-5)


@pytest.mark.parametrize("layers_after", [
    lambda L: [L.GlobalAveragePooling2D(), L.Flatten(), L.Dense(2)],
    lambda L: [L.GlobalAveragePooling2D(), L.Reshape((1, 1, 2)), L.Conv2D(2, 1)],  # squeeze-and-excitation's
    lambda L: [L.GlobalMaxPooling2D(keepdims=True), L.Flatten(), L.Lambda(lambda t: t * 2)],
], ids=["Flatten-after-global-pooling", "Reshape-after-global-pooling", "keepdims-Flatten-Lambda"])
def test_layers_after_a_global_pooling_take_any_size_as_in_keras(layers_after):
    models = [library.Sequential([library.Input((10, 10, 1)), library.layers.Conv2D(2, 3)]
                                 + layers_after(library.layers)) for library in (fastconv_keras, keras)]
    _same_weights(*models)
    x = _inputs((2, 13, 9, 1))
    np.testing.assert_allclose(models[0].predict(x, verbose=0), models[1].predict(x, verbose=0), rtol=1e-5,
                               atol=1e-6)


def test_functional_and_subclassed_models_keep_their_sizes():
    """Keras refuses other sizes for a functional model's fixed Input; a subclassed model's call ran for the
    size it was built for (Python on ``x.shape`` in it would not run again)."""
    inputs = fastconv_keras.Input((10, 10, 1))
    outputs = fastconv_keras.layers.GlobalAveragePooling2D()(fastconv_keras.layers.Conv2D(2, 3)(inputs))
    functional = fastconv_keras.Model(inputs, outputs)
    k_inputs = keras.Input((10, 10, 1))
    theirs = keras.Model(k_inputs, keras.layers.GlobalAveragePooling2D()(keras.layers.Conv2D(2, 3)(k_inputs)))

    class Subclassed(fastconv_keras.Model):
        def __init__(self):
            super().__init__()
            self.conv, self.pool = fastconv_keras.layers.Conv2D(2, 3), fastconv_keras.layers.GlobalAveragePooling2D()

        def call(self, x):
            return self.pool(self.conv(x))

    subclassed = Subclassed()
    subclassed.predict(_inputs((2, 10, 10, 1)), verbose=0)
    x = _inputs((2, 13, 10, 1))
    with pytest.raises(ValueError, match=r"expected shape=\(None, 10, 10, 1\), found shape=\(2, 13, 10"):
        theirs.predict(x, verbose=0)
    for model in (functional, subclassed):
        with pytest.raises(ValueError, match=r"expected shape=\(None, 10, 10, 1\), found shape=\(2, 13, 10, 1\)"):
            model.predict(x, verbose=0)


@pytest.mark.parametrize("layers_after", [
    lambda L: [L.Flatten(), L.Dense(2)],
    lambda L: [L.PReLU(), L.GlobalAveragePooling2D()],
    lambda L: [L.LayerNormalization(axis=[1, 2, 3]), L.GlobalAveragePooling2D()],
    lambda L: [L.Reshape((-1,)), L.Dense(2)],
], ids=["Flatten", "PReLU-per-position", "LayerNormalization-over-positions", "Reshape"])
def test_layers_that_need_the_built_size_keep_the_clear_error(layers_after):
    model = fastconv_keras.Sequential([fastconv_keras.Input((10, 10, 1)), fastconv_keras.layers.Conv2D(2, 3)]
                                      + layers_after(fastconv_keras.layers))
    model.predict(_inputs((2, 10, 10, 1)), verbose=0)
    with pytest.raises(ValueError, match=r"expected shape=\(None, 10, 10, 1\), found shape=\(2, 12, 10, 1\)"):
        model.predict(_inputs((2, 12, 10, 1)), verbose=0)


def test_the_channels_and_the_rank_are_still_checked():
    model = _global_pooling_cnn(fastconv_keras, with_input=True)
    for shape in ((2, 12, 12, 3), (2, 12, 12, 1, 1, 2)):
        with pytest.raises(ValueError, match=r"expected shape=\(None, 10, 10, 1\)"):
            model.predict(_inputs(shape), verbose=0)
