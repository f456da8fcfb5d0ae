"""Models inside models, as Keras programs write them: a ``Sequential`` of augmentation layers called on a
functional model's input (keras.io's pattern), an encoder and a decoder called in turn (an autoencoder),
a ``Sequential`` added to a ``Sequential``; freezing a part with ``part.trainable = False``. Against real
Keras 3 on its torch backend: the same weights give the same predictions, the same training gives the same
losses and weights, and fastconv's ``.keras`` files load in Keras."""

import numpy as np
import pytest

from fastconv import keras as fk
from keras_reference import keras

pytestmark = pytest.mark.filterwarnings(
    "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning",  # Keras's torch backend
)

RNG = np.random.default_rng(31)


def _augmented_classifier(library):
    layers = library.layers
    augmenter = library.Sequential([layers.RandomFlip("horizontal", seed=1), layers.RandomRotation(0.1, seed=2)])
    features = library.Sequential([layers.Conv2D(4, 3, padding="same", activation="relu"), layers.MaxPooling2D()])
    inputs = library.Input((8, 8, 1))
    x = features(layers.Rescaling(1 / 255)(augmenter(inputs)))
    return library.Model(inputs, layers.Dense(3, activation="softmax")(layers.Flatten()(x)))


def _autoencoder(library):
    layers = library.layers
    encoder_input = library.Input((10,))
    encoder = library.Model(encoder_input, layers.Dense(4, activation="relu")(encoder_input), name="encoder")
    decoder = library.Sequential([library.Input((4,)), layers.Dense(10)], name="decoder")
    inputs = library.Input((10,))
    autoencoder = library.Model(inputs, decoder(encoder(inputs)))
    return autoencoder, encoder, decoder


def _same_weights(ours, theirs):
    weights = [np.asarray(w) + 0.05 * RNG.standard_normal(np.shape(w)).astype(np.float32)
               for w in theirs.get_weights()]
    theirs.set_weights(weights)
    ours.set_weights(weights)


def test_augmentation_model_inside_a_model_predicts_as_keras_and_trains():
    ours, theirs = _augmented_classifier(fk), _augmented_classifier(keras)
    assert len(ours.weights) == len(theirs.weights) == 4 and ours.count_params() == theirs.count_params()
    _same_weights(ours, theirs)
    x = RNG.uniform(0, 255, (6, 8, 8, 1)).astype(np.float32)
    np.testing.assert_allclose(ours.predict(x, verbose=0), theirs.predict(x, verbose=0), rtol=1e-5, atol=1e-6)
    assert not np.allclose(ours(x), ours(x, training=False))  # called without `training`: augments, as Keras
    ours.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    before = ours.get_weights()
    ours.fit(x, np.arange(6) % 3, epochs=1, verbose=0)
    assert all((a != b).any() for a, b in zip(ours.get_weights(), before))


def test_autoencoder_of_two_models_trains_as_keras():
    (ours, *_), (theirs, *_) = _autoencoder(fk), _autoencoder(keras)
    _same_weights(ours, theirs)
    x = RNG.standard_normal((16, 10)).astype(np.float32)
    for model, library in ((ours, fk), (theirs, keras)):
        model.compile(optimizer=library.optimizers.SGD(0.05), loss="mse")
    losses = [model.fit(x, x, batch_size=4, epochs=2, shuffle=False, verbose=0).history["loss"]
              for model in (ours, theirs)]
    np.testing.assert_allclose(losses[0], losses[1], rtol=1e-5)
    for a, b in zip(ours.get_weights(), theirs.get_weights(), strict=True):
        np.testing.assert_allclose(a, np.asarray(b), rtol=1e-5, atol=1e-6)


def test_get_layer_finds_an_inner_model_by_name_as_in_keras():
    # autoencoder.get_layer("encoder"): the encoder alone, for the codes of new data.
    (ours, encoder, decoder), (theirs, *_) = _autoencoder(fk), _autoencoder(keras)
    assert ours.get_layer("encoder") is encoder and ours.get_layer("decoder") is decoder
    assert type(theirs.get_layer("encoder")).__name__ == "Functional"
    x = RNG.standard_normal((3, 10)).astype(np.float32)
    assert ours.get_layer("encoder").predict(x, verbose=0).shape == (3, 4)
    with pytest.raises(ValueError, match="No such layer: nope"):
        ours.get_layer("nope")


def test_a_frozen_part_keeps_its_weights_as_in_keras():
    (ours, encoder, _), (theirs, keras_encoder, _) = _autoencoder(fk), _autoencoder(keras)
    encoder.trainable = keras_encoder.trainable = False
    assert [layer.trainable for layer in encoder.layers] == [layer.trainable for layer in keras_encoder.layers]
    assert len(ours.trainable_weights) == len(theirs.trainable_weights) == 2
    frozen = encoder.get_weights()
    ours.compile(optimizer="adam", loss="mse")
    ours.fit(RNG.standard_normal((8, 10)), RNG.standard_normal((8, 10)), epochs=1, verbose=0)
    assert all((a == b).all() for a, b in zip(encoder.get_weights(), frozen))
    encoder.trainable = True
    assert all(layer.trainable for layer in encoder.layers) and len(ours.trainable_weights) == 4


def test_a_model_built_frozen_leaves_the_layers_it_shares_alone_as_in_keras():
    # keras.Model(inputs, hidden, trainable=False): a frozen feature extractor over another model's layers.
    for library in (fk, keras):
        inputs = library.Input((4,))
        hidden = library.layers.Dense(3)(inputs)
        base = library.Model(inputs, library.layers.Dense(2)(hidden))
        extractor = library.Model(inputs, hidden, trainable=False)
        assert len(base.trainable_weights) == 4 and extractor.trainable_weights == []
        assert [layer.trainable for layer in base.layers] == [True, True, True]


def test_sequential_inside_sequential_adds_its_layers():
    block = fk.Sequential([fk.layers.Dense(4, activation="relu"), fk.layers.Dense(4)])
    model = fk.Sequential([fk.Input((3,)), block, fk.layers.Dense(1)])
    assert [type(layer).__name__ for layer in model.layers] == ["Dense", "Dense", "Dense"]
    assert model.layers[0] is block.layers[0] and model.output_shape == (None, 1)
    x = RNG.standard_normal((5, 3)).astype(np.float32)
    np.testing.assert_allclose(model.predict(x, verbose=0), model.layers[2](block(x)), rtol=1e-6)
    encoder_input = fk.Input((3,))
    functional = fk.Model(encoder_input, fk.layers.Dense(2)(encoder_input))
    with pytest.raises(NotImplementedError, match="functional model .* in a Sequential model"):
        fk.Sequential([fk.Input((3,)), functional])


def test_a_model_called_on_a_tensor_of_another_shape_is_an_error():
    (_, encoder, _) = _autoencoder(fk)
    with pytest.raises(ValueError, match=r'Input 0 of model "encoder" is incompatible with it: expected '
                                         r"shape=\(None, 10\), found shape=\(None, 7\)"):
        encoder(fk.Input((7,)))


def test_nested_models_save_to_keras_files_keras_loads(tmp_path):
    ours, theirs = _augmented_classifier(fk), _augmented_classifier(keras)
    _same_weights(ours, theirs)
    ours.save(tmp_path / "nested.keras")
    loaded = keras.models.load_model(tmp_path / "nested.keras")
    x = RNG.uniform(0, 255, (4, 8, 8, 1)).astype(np.float32)
    np.testing.assert_allclose(np.asarray(loaded.predict(x, verbose=0)), theirs.predict(x, verbose=0), rtol=1e-5,
                               atol=1e-6)
    np.testing.assert_array_equal(fk.models.load_model(tmp_path / "nested.keras").predict(x, verbose=0),
                                  ours.predict(x, verbose=0))


def _nesting_both_kinds(library):
    layers = library.layers
    block = library.Sequential([layers.Conv2D(4, 3, padding="same", activation="relu"), layers.MaxPooling2D()])
    head_input = library.Input((4, 4, 4))
    head = library.Model(head_input, layers.Conv2D(2, 1)(head_input))
    inputs = library.Input((8, 8, 1))
    return library.Model(inputs, layers.Dense(3)(layers.Flatten()(head(block(inputs)))))


def test_keras_files_that_nest_models_load_and_go_back(tmp_path):
    theirs = _nesting_both_kinds(keras)
    theirs.set_weights([np.asarray(w) + 0.1 for w in theirs.get_weights()])  # non-zero biases
    theirs.save(tmp_path / "keras_nested.keras")
    ours = fk.models.load_model(tmp_path / "keras_nested.keras")
    assert [type(ours.get_layer(layer.name)).__name__ for layer in theirs.layers[1:3]] == ["Sequential", "Model"]
    x = RNG.standard_normal((3, 8, 8, 1)).astype(np.float32)
    expected = np.asarray(theirs.predict(x, verbose=0))
    np.testing.assert_allclose(ours.predict(x, verbose=0), expected, rtol=1e-5, atol=1e-6)
    assert ours.count_params() == theirs.count_params()
    ours.save(tmp_path / "back.keras")  # flat: Keras reads it as the same numbers
    np.testing.assert_allclose(np.asarray(keras.models.load_model(tmp_path / "back.keras").predict(x, verbose=0)),
                               expected, rtol=1e-5, atol=1e-6)
    theirs.save_weights(tmp_path / "keras_nested.weights.h5")
    ours.set_weights([np.zeros_like(w) for w in ours.get_weights()])
    ours.load_weights(tmp_path / "keras_nested.weights.h5")
    np.testing.assert_allclose(ours.predict(x, verbose=0), expected, rtol=1e-5, atol=1e-6)


def _keras_nestings():
    layers = keras.layers
    inner = keras.Sequential([keras.Input((6,)), layers.Dense(4), layers.Dense(3)], name="base")
    yield "Sequential in Sequential (the quickstart's probability model)", keras.Sequential(
        [inner, layers.Activation("softmax")])
    yield "Sequential without an input in Sequential", keras.Sequential(
        [keras.Input((6,)), keras.Sequential([layers.Dense(4), layers.Dense(3)]), layers.Activation("softmax")])
    i = keras.Input((6,))
    encoder = keras.Model(i, layers.Dense(4)(i), name="encoder")
    j = keras.Input((4,))
    decoder = keras.Model(j, layers.Dense(3)(j), name="decoder")
    k = keras.Input((6,))
    yield "functional encoder into functional decoder", keras.Model(k, decoder(encoder(k)), name="autoencoder")


@pytest.mark.parametrize("case", [name for name, _ in _keras_nestings()])
def test_keras_files_that_nest_models_load_with_keras_numbers(case, tmp_path):
    model = dict(_keras_nestings())[case]
    x = RNG.standard_normal((5, 6)).astype(np.float32)
    model.set_weights([np.asarray(w) + 0.1 * RNG.standard_normal(np.shape(w)).astype(np.float32)
                       for w in model.get_weights()])
    path = str(tmp_path / "nested.keras")
    model.save(path)
    ours = fk.models.load_model(path)
    np.testing.assert_allclose(ours.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-5, atol=1e-6)
