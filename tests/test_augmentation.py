"""The augmentation layers (``RandomFlip``, ``RandomTranslation``, ``RandomRotation``, ``RandomZoom``,
``RandomContrast``) and ``fastconv.ops.affine_transform`` against real Keras 3 (torch backend).

Random draws differ between the libraries (numpy's stream against Keras's), so the comparisons use factors
whose draw is certain (``(f, f)``: every image gets ``f``); the draws themselves are checked for their range
and spread.
"""

import json
import math
import zipfile

import numpy as np
import pytest

from fastconv import keras as fastconv_keras
from fastconv import ops
from keras_reference import keras

FILL_MODES = ["reflect", "wrap", "constant", "nearest"]
INTERPOLATIONS = ["bilinear", "nearest"]


def _images(shape=(3, 7, 9, 2), seed=0, dtype=np.float32):
    return (np.random.default_rng(seed).random(shape) * 255).astype(dtype)


def _transforms(height, width):
    """A rotation about the centre, a zoom with a shift, a plain shift by fractions of a pixel, a shear."""
    angle = 0.4
    cos, sin = math.cos(angle), math.sin(angle)
    cx, cy = (width - 1) / 2, (height - 1) / 2
    return np.array([[cos, -sin, cx - cx * cos + cy * sin, sin, cos, cy - cx * sin - cy * cos, 0, 0],
                     [1.3, 0, -2.2, 0, 0.7, 1.1, 0, 0],
                     [1, 0, -3.6, 0, 1, 4.3, 0, 0],
                     [1, 0.45, -1.0, -0.3, 1, 0.5, 0, 0]], np.float32)


def _keras_affine(images, transform, *args):
    return keras.ops.convert_to_numpy(keras.ops.image.affine_transform(images, transform.copy(), *args))


# -- the op ---------------------------------------------------------------------------------------------------


@pytest.mark.bounds
@pytest.mark.parametrize("fill_mode", FILL_MODES)
@pytest.mark.parametrize("interpolation", INTERPOLATIONS)
def test_affine_transform_equals_keras(interpolation, fill_mode, dtype):
    images = _images((4, 7, 9, 3), dtype=dtype)
    transforms = _transforms(7, 9)
    got = ops.affine_transform(images, transforms, interpolation, fill_mode, 17.5)
    expected = _keras_affine(images.astype(np.float32), transforms, interpolation, fill_mode, 17.5)
    assert got.dtype == dtype and got.shape == images.shape
    # float32 coordinates in Keras: a sample point may sit 1e-6 pixels away, a few 1e-4 of a 255 range.
    np.testing.assert_allclose(got, expected, rtol=0, atol=3e-4)
    # Far outside the image, where the fill mode alone decides (a shift by 1.5 images both ways).
    far = np.tile(np.array([1, 0, 13.5, 0, 1, -10.5, 0, 0], np.float32), (4, 1))
    np.testing.assert_allclose(ops.affine_transform(images, far[0], interpolation, fill_mode, 17.5),
                               _keras_affine(images.astype(np.float32), far, interpolation, fill_mode, 17.5),
                               rtol=0, atol=3e-4)


def test_affine_transform_of_one_image_and_integer_shifts_by_hand():
    image = np.arange(5, dtype=np.float32).reshape(1, 5, 1)  # one row: a b c d e = 0 1 2 3 4
    shift_right_by_2 = np.array([1, 0, -2, 0, 1, 0, 0, 0], np.float32)
    by_hand = {"reflect": [1, 0, 0, 1, 2], "wrap": [3, 4, 0, 1, 2], "constant": [9, 9, 0, 1, 2],
               "nearest": [0, 0, 0, 1, 2]}
    for fill_mode, expected in by_hand.items():
        for interpolation in INTERPOLATIONS:
            got = ops.affine_transform(image, shift_right_by_2, interpolation, fill_mode, 9)
            assert got.shape == image.shape
            np.testing.assert_array_equal(got[0, :, 0], expected)


def test_affine_transform_projective_rows_divide_by_k():
    """TensorFlow's definition (Keras's torch backend ignores c0, c1): a point maps to ``(a.x / k, b.x / k)``."""
    image = _images((1, 6, 6, 1))
    transform = np.array([1, 0, 0, 0, 1, 0, 0.1, 0], np.float32)
    got = ops.affine_transform(image, transform, "nearest", "nearest")
    cols, rows = np.meshgrid(np.arange(6), np.arange(6))
    k = 0.1 * cols + 1
    expected = image[0, np.clip(np.round(rows / k), 0, 5).astype(int), np.clip(np.round(cols / k), 0, 5).astype(int)]
    np.testing.assert_array_equal(got[0], expected)


def test_affine_transform_argument_errors():
    images = _images((2, 4, 4, 1))
    with pytest.raises(ValueError, match="`interpolation`.*Received: interpolation='cubic'"):
        ops.affine_transform(images, np.eye(3).ravel()[:8], interpolation="cubic")
    with pytest.raises(ValueError, match="`fill_mode`.*Received: fill_mode='mirror'"):
        ops.affine_transform(images, np.eye(3).ravel()[:8], fill_mode="mirror")
    with pytest.raises(ValueError, match=r"`transform`.*Received: transform.shape=\(3, 8\)"):
        ops.affine_transform(images, np.zeros((3, 8)))
    with pytest.raises(ValueError, match=r"`images`.*Received: images.shape=\(4, 4\)"):
        ops.affine_transform(images[0, :, :, 0], np.zeros(8))
    with pytest.raises(NotImplementedError, match="channels_last"):
        ops.affine_transform(images, np.zeros(8), data_format="channels_first")


# -- the layers, with certain draws, against Keras --------------------------------------------------------------


CERTAIN = [
    ("RandomFlip", {"mode": "horizontal"}),
    ("RandomFlip", {"mode": "vertical"}),
    ("RandomFlip", {}),
    ("RandomTranslation", {"height_factor": (0.25, 0.25), "width_factor": (-0.3, -0.3)}),
    ("RandomTranslation", {"height_factor": (-0.5, -0.5), "width_factor": (0.2, 0.2), "fill_mode": "wrap",
                           "interpolation": "nearest"}),
    ("RandomRotation", {"factor": (0.1, 0.1), "fill_mode": "constant", "fill_value": 3.0}),
    ("RandomRotation", {"factor": (-0.3, -0.3), "fill_mode": "nearest", "interpolation": "nearest"}),
    ("RandomZoom", {"height_factor": (0.2, 0.2), "width_factor": (-0.3, -0.3)}),
    ("RandomZoom", {"height_factor": (-0.4, -0.4), "fill_mode": "constant", "interpolation": "nearest"}),
    ("RandomContrast", {"factor": (-0.5, 0.5)}),  # contrast factor in [1.5, 1.5]
    ("RandomContrast", {"factor": (-0.3, 0.3), "value_range": (0, 1)}),
]
CERTAIN_IDS = [f"{name}-{arguments}" for name, arguments in CERTAIN]


def _pair(class_name, arguments, **extra):
    return (getattr(fastconv_keras.layers, class_name)(**arguments, **extra),
            getattr(keras.layers, class_name)(**arguments, **extra))


DRAWN = [(name, arguments) for name, arguments in CERTAIN if name != "RandomFlip"]  # flips: see below


@pytest.mark.parametrize(("name", "arguments"), DRAWN, ids=[f"{n}-{a}" for n, a in DRAWN])
def test_training_output_equals_keras(name, arguments):
    ours, theirs = _pair(name, arguments)
    x = _images((4, 6, 7, 3), seed=1)
    got = ours(x, training=True)
    expected = keras.ops.convert_to_numpy(theirs(x, training=True))
    assert got.dtype == np.float32 and got.shape == x.shape
    np.testing.assert_allclose(got, expected, rtol=0, atol=3e-4)
    assert np.abs(got - x).max() > 1  # the draw changed the images


def _flip(image, mode):
    if mode != "vertical":
        image = image[:, ::-1]
    if mode != "horizontal":
        image = image[::-1]
    return image


@pytest.mark.parametrize("mode", ["horizontal", "vertical", "horizontal_and_vertical"])
def test_flip_flips_about_half_the_images_each_way_keras_flips_them(mode):
    ours, theirs = _pair("RandomFlip", {"mode": mode}, seed=5)
    x = _images((400, 3, 4, 1), seed=2)
    got = ours(x, training=True)
    flipped = np.array([(out == _flip(image, mode)).all() for image, out in zip(x, got)])
    kept = np.array([(out == image).all() for image, out in zip(x, got)])
    assert (flipped | kept).all() and 150 < flipped.sum() < 250
    keras_out = keras.ops.convert_to_numpy(theirs(x, training=True))  # Keras flips the same way, or keeps
    assert all((k == _flip(i, mode)).all() or (k == i).all() for i, k in zip(x, keras_out))


@pytest.mark.parametrize(("name", "arguments"), DRAWN, ids=[f"{n}-{a}" for n, a in DRAWN])
def test_inference_is_the_identity_and_a_plain_call_augments_as_keras(name, arguments):
    ours, theirs = _pair(name, arguments)
    x = _images((2, 5, 6, 3), seed=3)
    np.testing.assert_array_equal(ours(x, training=False), x)
    np.testing.assert_array_equal(ours(x, training=False), keras.ops.convert_to_numpy(theirs(x, training=False)))
    # Called without `training`, an augmentation layer augments, in Keras too (its call's default).
    np.testing.assert_allclose(ours(x), keras.ops.convert_to_numpy(theirs(x)), atol=1e-4)
    assert not np.allclose(ours(x), x)
    assert ours.weights == [] and ours.count_params() == 0 and ours.built


def test_a_model_called_without_training_augments_and_predict_does_not():
    # keras.io's loop that shows a few augmented images calls the augmentation model on them.
    x = _images((16, 6, 6, 1), seed=4)
    augmenter = fastconv_keras.Sequential([fastconv_keras.layers.RandomFlip("horizontal", seed=1),
                                           fastconv_keras.layers.RandomRotation(0.2, seed=2),
                                           fastconv_keras.layers.Dropout(0.5)])
    changed = augmenter(x)
    assert not np.allclose(changed, x) and (changed != 0).mean() > 0.9  # augmented, Dropout's default off
    np.testing.assert_array_equal(augmenter(x, training=False), x)
    np.testing.assert_array_equal(augmenter.predict(x, verbose=0), x)


def test_a_functional_call_with_training_applies_to_plain_calls_as_in_keras(tmp_path):
    # `Dropout(0.5)(x, training=True)` in a functional model: Keras drops out when the model is called without
    # `training`, and predict (training=False) overrides it; the same in fastconv, built or loaded.
    inputs = keras.Input((100,))
    theirs = keras.Model(inputs, keras.layers.Dropout(0.5)(inputs, training=True))
    theirs.save(tmp_path / "mc_dropout.keras")
    inputs = fastconv_keras.Input((100,))
    built = fastconv_keras.Model(inputs, fastconv_keras.layers.Dropout(0.5)(inputs, training=True))
    x = np.ones((2, 100), np.float32)
    for model in (theirs, built, fastconv_keras.models.load_model(tmp_path / "mc_dropout.keras")):
        assert (np.asarray(model.predict(x, verbose=0)) == 0).sum() == 0
        assert 40 < (keras.ops.convert_to_numpy(model(x)) == 0).sum() < 160
    built.save(tmp_path / "ours.keras")
    assert '"training": true' in _config_text(tmp_path / "ours.keras")
    assert 40 < (keras.ops.convert_to_numpy(keras.models.load_model(tmp_path / "ours.keras")(x)) == 0).sum() < 160


def test_keras_functional_file_with_augmentation_loads(tmp_path):
    # Keras records each augmentation layer's call as made with training=True (its default) in the file.
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.RandomFlip(seed=1)(inputs)
    x = keras.layers.RandomRotation(0.1, seed=2)(x)
    theirs = keras.Model(inputs, keras.layers.Dense(2)(keras.layers.Flatten()(x)))
    theirs.save(tmp_path / "functional.keras")
    assert '"training": true' in _config_text(tmp_path / "functional.keras")
    ours = fastconv_keras.models.load_model(tmp_path / "functional.keras")
    images = _images((4, 8, 8, 3), seed=5)
    np.testing.assert_allclose(ours.predict(images, verbose=0), theirs.predict(images, verbose=0), rtol=1e-5,
                               atol=1e-5)


@pytest.mark.parametrize(("name", "arguments"), CERTAIN, ids=CERTAIN_IDS)
def test_config_equals_keras_and_round_trips(name, arguments):
    ours, theirs = _pair(name, arguments, name="the_layer", seed=11)
    config = ours.get_config()
    assert config == theirs.get_config()
    assert type(ours).from_config(config).get_config() == config
    assert type(theirs).from_config(config).get_config() == config
    assert type(ours).from_config(theirs.get_config()).get_config() == config
    assert ours.built == theirs.built
    symbolic = ours(fastconv_keras.Input((5, 6, 3)))
    assert tuple(symbolic.shape) == tuple(theirs(keras.Input((5, 6, 3))).shape) == (None, 5, 6, 3)


def test_unbatched_images_get_one_draw():
    layer = fastconv_keras.layers.RandomRotation((0.25, 0.25), fill_mode="constant")
    image = _images((5, 5, 2))
    np.testing.assert_allclose(layer(image, training=True), np.rot90(image, 1), atol=3e-4)  # a quarter turn


# -- draws ------------------------------------------------------------------------------------------------------


def _spread(values, low, high):
    """The draws lie in [low, high] and cover it (uniform: the extremes of 2000 draws are near the bounds)."""
    values = np.asarray(values, np.float64)
    width = high - low
    assert values.min() >= low - 1e-5 and values.max() <= high + 1e-5
    assert values.min() < low + 0.01 * width and values.max() > high - 0.01 * width
    assert abs(values.mean() - (low + high) / 2) < 0.05 * width


def test_translation_draws():
    layer = fastconv_keras.layers.RandomTranslation((-0.2, 0.3), 0.1, seed=1)
    transforms = layer.transforms(2000, 10, 20, np.random.default_rng(0))
    _spread(-transforms[:, 5] / 10, -0.2, 0.3)  # rows moved down, as a fraction of the height
    _spread(-transforms[:, 2] / 20, -0.1, 0.1)
    assert (transforms[:, [0, 4]] == 1).all() and (transforms[:, [1, 3, 6, 7]] == 0).all()


def test_rotation_draws():
    layer = fastconv_keras.layers.RandomRotation((-0.1, 0.05))
    transforms = layer.transforms(2000, 9, 9, np.random.default_rng(0))
    angle = np.arctan2(transforms[:, 3], transforms[:, 0]) / (2 * np.pi)
    _spread(angle, -0.1, 0.05)
    # The centre pixel stays where it is.
    centre = transforms[:, [0, 1]] @ [4, 4] + transforms[:, 2], transforms[:, [3, 4]] @ [4, 4] + transforms[:, 5]
    np.testing.assert_allclose(centre, 4, atol=1e-4)


def test_zoom_draws_keep_the_aspect_ratio_without_width_factor():
    transforms = fastconv_keras.layers.RandomZoom(0.3).transforms(2000, 8, 8, np.random.default_rng(0))
    _spread(transforms[:, 4], 0.7, 1.3)
    np.testing.assert_array_equal(transforms[:, 0], transforms[:, 4])
    both = fastconv_keras.layers.RandomZoom((-0.5, 0.1), (0.2, 0.4)).transforms(2000, 8, 8, np.random.default_rng(0))
    _spread(both[:, 4], 0.5, 1.1)
    _spread(both[:, 0], 1.2, 1.4)


def test_contrast_draws():
    layer = fastconv_keras.layers.RandomContrast(0.4, value_range=(-1e9, 1e9))  # (0, 0.4) as in Keras
    x = np.zeros((2000, 2, 1, 1), np.float32)
    x[:, 1] = 1  # a channel of mean 1/2: the output's spread is the contrast factor
    got = layer(x, training=True)
    _spread(got[:, 1, 0, 0] - got[:, 0, 0, 0], 1.0, 1.4)


# -- seeds ------------------------------------------------------------------------------------------------------


def _augmenter(library, seed):
    layers = library.layers
    return [layers.RandomFlip(seed=seed), layers.RandomTranslation(0.2, 0.2, seed=seed),
            layers.RandomRotation(0.2, seed=seed), layers.RandomZoom(0.2, seed=seed),
            layers.RandomContrast(0.3, seed=seed)]


def _augment(augmenter, x, steps=3):
    outputs = []
    for _ in range(steps):
        y = x
        for layer in augmenter:
            y = layer(y, training=True)
        outputs.append(y)
    return np.stack(outputs)


def test_a_seed_gives_the_same_batches_every_run():
    x = _images((4, 8, 8, 3))
    first, second = _augment(_augmenter(fastconv_keras, 3), x), _augment(_augmenter(fastconv_keras, 3), x)
    np.testing.assert_array_equal(first, second)
    assert not (first[0] == first[1]).all()  # each step draws anew
    assert not (first == _augment(_augmenter(fastconv_keras, 4), x)).all()


def test_without_a_seed_set_random_seed_decides():
    x = _images((4, 8, 8, 3))
    fastconv_keras.utils.set_random_seed(9)
    first = _augment(_augmenter(fastconv_keras, None), x)
    fastconv_keras.utils.set_random_seed(9)
    np.testing.assert_array_equal(_augment(_augmenter(fastconv_keras, None), x), first)


# -- models and files -------------------------------------------------------------------------------------------


def _model(library, seed=1):
    layers = library.layers
    model = library.Sequential([library.Input((8, 8, 3)), *_augmenter(library, seed), layers.Rescaling(1 / 255),
                                layers.Conv2D(2, 3), layers.Flatten(), layers.Dense(3)])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    return model


def test_a_model_with_augmentation_fits_and_predicts_without_it():
    x, y = _images((8, 8, 8, 3)), np.arange(8) % 3
    model = _model(fastconv_keras)
    plain = fastconv_keras.Sequential([fastconv_keras.Input((8, 8, 3)), fastconv_keras.layers.Rescaling(1 / 255),
                                       fastconv_keras.layers.Conv2D(2, 3), fastconv_keras.layers.Flatten(),
                                       fastconv_keras.layers.Dense(3)])
    plain.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    plain.set_weights(model.get_weights())
    np.testing.assert_array_equal(model.predict(x, verbose=0), plain.predict(x, verbose=0))
    assert model.evaluate(x, y, verbose=0) == plain.evaluate(x, y, verbose=0)
    before = model.get_weights()
    history = model.fit(x, y, batch_size=4, epochs=2, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    assert any((a != b).any() for a, b in zip(before, model.get_weights()))


def test_augmentation_after_a_layer_with_weights_refuses_to_train():
    layers = fastconv_keras.layers
    model = fastconv_keras.Sequential([fastconv_keras.Input((6, 6, 1)), layers.Conv2D(2, 3, padding="same"),
                                       layers.RandomFlip(name="the_flip"), layers.Flatten(), layers.Dense(2)])
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    x, y = _images((4, 6, 6, 1)), np.array([0, 1, 0, 1])
    with pytest.raises(NotImplementedError, match=r"`RandomFlip` layer 'the_flip' comes after 'conv2d.*', which "
                                                  r"has trainable weights.*Put the augmentation layers first"):
        model.fit(x, y, verbose=0)
    assert model.predict(x, verbose=0).shape == (4, 2)  # inference needs no gradient
    assert model(x).shape == (4, 2)  # nor a call that augments


def test_augmentation_after_a_layer_without_weights_trains_also_in_a_branching_graph():
    """No gradient flows back through the flip; the Rescaling before it also feeds a convolution directly."""
    layers = fastconv_keras.layers
    inputs = fastconv_keras.Input((8, 8, 1))
    scaled = layers.Rescaling(1 / 255)(inputs)
    flipped = layers.Conv2D(2, 3, padding="same", name="after_flip")(layers.RandomFlip(seed=0)(scaled))
    direct = layers.Conv2D(2, 3, padding="same", name="direct")(scaled)
    model = fastconv_keras.Model(inputs, layers.Dense(2)(layers.Flatten()(layers.Add()([flipped, direct]))))
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    before = {name: model.get_layer(name).get_weights()[0] for name in ("after_flip", "direct")}
    model.fit(_images((4, 8, 8, 1)), np.array([0, 1, 0, 1]), verbose=0)
    for name, kernel in before.items():
        assert (model.get_layer(name).get_weights()[0] != kernel).any()


def _json(config):
    return json.loads(json.dumps(config))


def _config_text(path):
    with zipfile.ZipFile(path) as archive:
        return archive.read("config.json").decode()


def _layer_entries(path):
    with zipfile.ZipFile(path) as archive:
        entries = json.loads(archive.read("config.json"))["config"]["layers"][1:6]
    for entry in entries:
        entry["config"].pop("name")
        entry["config"]["dtype"].pop("shared_object_id", None)  # Keras's id of a policy object its layers share
    return entries


def test_keras_files_load_both_ways(tmp_path):
    x = _images((4, 8, 8, 3), seed=6)
    ours = _model(fastconv_keras)
    ours.fit(x, np.arange(4) % 3, verbose=0)
    ours.save(tmp_path / "fastconv.keras")
    in_keras = keras.models.load_model(tmp_path / "fastconv.keras")
    assert [type(layer).__name__ for layer in in_keras.layers[:5]] == [
        "RandomFlip", "RandomTranslation", "RandomRotation", "RandomZoom", "RandomContrast"]
    np.testing.assert_allclose(in_keras.predict(x, verbose=0), ours.predict(x, verbose=0), rtol=1e-5, atol=1e-5)

    theirs = _model(keras)
    theirs.save(tmp_path / "keras.keras")
    with pytest.warns(UserWarning, match="Skipping variable loading for optimizer"):  # Keras's is untrained
        in_fastconv = fastconv_keras.models.load_model(tmp_path / "keras.keras")
    assert [_json(layer.get_config()) for layer in in_fastconv.layers[:5]] == \
        [_json(layer.get_config()) for layer in theirs.layers[:5]]
    np.testing.assert_allclose(in_fastconv.predict(x, verbose=0), theirs.predict(x, verbose=0), rtol=1e-5, atol=1e-5)
    assert _layer_entries(tmp_path / "fastconv.keras") == _layer_entries(tmp_path / "keras.keras")


# -- errors -----------------------------------------------------------------------------------------------------


KERAS_REJECTS = [
    ("RandomTranslation", {"height_factor": 1.5, "width_factor": 0.1}),
    ("RandomTranslation", {"height_factor": (0.1, 0.2, 0.3), "width_factor": 0.1}),
    ("RandomTranslation", {"height_factor": 0.1, "width_factor": (-1.2, 0.1)}),
    ("RandomTranslation", {"height_factor": 0.1, "width_factor": "wide"}),
    ("RandomRotation", {"factor": 1.5}),
    ("RandomRotation", {"factor": (2, 3)}),
    ("RandomRotation", {"factor": (0.1,)}),
    ("RandomRotation", {"factor": "a lot"}),
    ("RandomZoom", {"height_factor": -1.0}),
    ("RandomZoom", {"height_factor": (0.1, 1.1)}),
    ("RandomZoom", {"height_factor": 0.1, "width_factor": [0.1]}),
    ("RandomContrast", {"factor": 1.5}),
    ("RandomContrast", {"factor": -0.1}),
    ("RandomContrast", {"factor": (0.1, -0.2)}),
    ("RandomContrast", {"factor": None}),
]


@pytest.mark.parametrize(("name", "arguments"), KERAS_REJECTS, ids=[f"{n}-{a}" for n, a in KERAS_REJECTS])
def test_bad_factors_raise_as_in_keras(name, arguments):
    with pytest.raises(ValueError) as theirs:
        getattr(keras.layers, name)(**arguments)
    with pytest.raises(ValueError) as ours:
        getattr(fastconv_keras.layers, name)(**arguments)
    assert str(ours.value) == str(theirs.value)


@pytest.mark.parametrize("name", ["RandomTranslation", "RandomRotation", "RandomZoom"])
def test_bad_fill_mode_and_interpolation_raise_as_in_keras(name):
    factors = {"RandomTranslation": (0.1, 0.1)}.get(name, (0.1,))
    for bad in ({"fill_mode": "mirror"}, {"interpolation": "bicubic"}):
        with pytest.raises(NotImplementedError) as theirs:
            getattr(keras.layers, name)(*factors, **bad)
        with pytest.raises(NotImplementedError) as ours:
            getattr(fastconv_keras.layers, name)(*factors, **bad)
        assert str(ours.value) == str(theirs.value)


def test_flip_mode_and_image_rank_errors():
    with pytest.raises(ValueError, match="`mode`.*Received: mode='diagonal'"):
        fastconv_keras.layers.RandomFlip("diagonal")
    with pytest.raises(ValueError, match=r"rank 3 \(single image\) or 4.*Received: data.shape=\(2, 3\)"):
        fastconv_keras.layers.RandomFlip()(np.ones((2, 3), np.float32), training=True)
    with pytest.raises(NotImplementedError, match="channels_last"):
        fastconv_keras.layers.RandomZoom(0.1, data_format="channels_first")
