"""tf.keras's ``ImageDataGenerator`` (``fastconv.image_data_generator``) against the one Keras 3 keeps
(``keras.src.legacy.preprocessing.image``, on SciPy and PIL): the same seed gives the same augmented
batches, bit for bit or to float32 rounding, for every kind of transform, fill mode and interpolation order;
the same shuffling, statistics, normalisation and validation split; ``fit`` trains on its batches."""

import warnings

import numpy as np
import pytest

from fastconv import keras as fk
from fastconv.image_data_generator import apply_affine_transform
from keras_reference import keras  # noqa: F401 (chooses Keras's backend before the legacy module imports it)
from keras.src.legacy.preprocessing import image as legacy  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore:This ImageDataGenerator specifies")

RNG = np.random.default_rng(61)
IMAGES = RNG.uniform(0, 255, (13, 9, 11, 3)).astype(np.float32)
LABELS = np.arange(13) % 4


@pytest.mark.parametrize("fill_mode", ["nearest", "constant", "reflect", "wrap"])
@pytest.mark.parametrize("order", [0, 1])
@pytest.mark.parametrize("axes", [(0, 1, 2), (1, 2, 0)])
def test_an_affine_transform_resamples_as_scipy_does_for_keras(fill_mode, order, axes):
    image = IMAGES[0] if axes == (0, 1, 2) else np.moveaxis(IMAGES[0], 2, 0)
    arguments = dict(theta=17, tx=1.5, ty=-2.2, shear=8, zx=1.1, zy=0.9, row_axis=axes[0], col_axis=axes[1],
                     channel_axis=axes[2], fill_mode=fill_mode, cval=3.0, order=order)
    expected = legacy.apply_affine_transform(image, **arguments)
    np.testing.assert_allclose(apply_affine_transform(image, **arguments), expected, rtol=0, atol=1e-3)


AUGMENTATIONS = {
    "geometry": dict(rotation_range=25, width_shift_range=0.15, height_shift_range=0.1, shear_range=12,
                     zoom_range=[0.8, 1.3], horizontal_flip=True, vertical_flip=True),
    "integer and listed shifts, constant fill": dict(width_shift_range=3, height_shift_range=[1, 2, 4],
                                                     fill_mode="constant", cval=-1.0),
    "nearest-neighbour reflect": dict(rotation_range=40, fill_mode="reflect", interpolation_order=0),
    "wrap": dict(zoom_range=0.3, fill_mode="wrap"),
    "colour": dict(channel_shift_range=30.0, brightness_range=(0.4, 1.6), rescale=1 / 255),
    "sample-wise": dict(rotation_range=10, samplewise_center=True, samplewise_std_normalization=True),
}


@pytest.mark.parametrize("arguments", AUGMENTATIONS.values(), ids=AUGMENTATIONS.keys())
def test_flow_with_a_seed_gives_keras_batches(arguments):
    ours = fk.preprocessing.image.ImageDataGenerator(**arguments).flow(IMAGES, LABELS, batch_size=5, seed=3)
    theirs = legacy.ImageDataGenerator(**arguments).flow(IMAGES, LABELS, batch_size=5, seed=3)
    assert len(ours) == len(theirs) == 3
    for epoch in range(2):
        for index in (0, 2, 1):
            (x, y), (expected_x, expected_y) = ours[index], theirs[index]
            np.testing.assert_array_equal(y, expected_y)
            np.testing.assert_allclose(x, expected_x, rtol=1e-5, atol=1e-4, err_msg=f"epoch {epoch} batch {index}")
        for batches in (ours, theirs):  # a new order from numpy's global generator, in the same state for both
            np.random.seed(11 + epoch)
            batches.on_epoch_end()


def test_next_walks_the_batches_as_keras_and_weights_and_inputs_alone_come_back():
    weights = RNG.uniform(0.5, 2, 13).astype(np.float32)
    arguments = dict(rotation_range=15, horizontal_flip=True)
    ours = fk.preprocessing.image.ImageDataGenerator(**arguments).flow(IMAGES, LABELS, batch_size=4, seed=7,
                                                                        sample_weight=weights)
    theirs = legacy.ImageDataGenerator(**arguments).flow(IMAGES, LABELS, batch_size=4, seed=7, sample_weight=weights)
    for _ in range(5):  # past the end of the samples: a new order
        for a, b in zip(next(ours), next(theirs), strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-4)
    inputs_only = fk.preprocessing.image.ImageDataGenerator().flow(IMAGES, batch_size=4, shuffle=False)
    np.testing.assert_array_equal(inputs_only[1], IMAGES[4:8])


def test_a_preprocessing_function_that_draws_is_called_image_by_image_as_keras():
    def noisy(image):
        return image + np.random.normal(0, 1, image.shape).astype(np.float32)

    arguments = dict(rotation_range=10, preprocessing_function=noisy)
    ours = fk.preprocessing.image.ImageDataGenerator(**arguments).flow(IMAGES, LABELS, batch_size=6, seed=5)
    theirs = legacy.ImageDataGenerator(**arguments).flow(IMAGES, LABELS, batch_size=6, seed=5)
    np.testing.assert_allclose(ours[1][0], theirs[1][0], rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("arguments", [dict(featurewise_center=True, featurewise_std_normalization=True),
                                       dict(zca_whitening=True, rescale=1 / 255)])
def test_fit_statistics_and_standardize_are_keras(arguments):
    ours, theirs = fk.preprocessing.image.ImageDataGenerator(**arguments), legacy.ImageDataGenerator(**arguments)
    ours.fit(IMAGES)
    theirs.fit(IMAGES)
    for name in ("mean", "std", "zca_whitening_matrix"):
        if getattr(theirs, name) is not None:
            np.testing.assert_allclose(getattr(ours, name), getattr(theirs, name), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(ours.standardize(IMAGES[:3].copy()), theirs.standardize(IMAGES[:3].copy()),
                               rtol=1e-4, atol=1e-4)
    with pytest.warns(UserWarning, match="hasn't been fit on any training data"):
        fk.preprocessing.image.ImageDataGenerator(**arguments).standardize(IMAGES[:1].copy())


def test_validation_split_subsets_as_keras():
    labels = np.arange(20) % 2
    images = RNG.uniform(0, 1, (20, 4, 4, 1)).astype(np.float32)
    for subset, size in (("training", 15), ("validation", 5)):
        ours = fk.preprocessing.image.ImageDataGenerator(validation_split=0.25).flow(
            images, labels, batch_size=32, shuffle=False, subset=subset)
        theirs = legacy.ImageDataGenerator(validation_split=0.25).flow(images, labels, batch_size=32, shuffle=False,
                                                                      subset=subset)
        assert ours.n == theirs.n == size
        np.testing.assert_array_equal(ours[0][0], theirs[0][0])
    with pytest.raises(ValueError, match="different number of classes after the split"):
        fk.preprocessing.image.ImageDataGenerator(validation_split=0.25).flow(images, np.sort(labels),
                                                                             subset="training")


def test_fit_trains_on_the_augmented_batches():
    (x, y), _ = fk.datasets.fashion_mnist.load_data()
    x, y = x[:512, ..., None], y[:512]
    generator = fk.preprocessing.image.ImageDataGenerator(rescale=1 / 255, rotation_range=10, zoom_range=0.1,
                                                           width_shift_range=0.1, height_shift_range=0.1)
    model = fk.Sequential([fk.Input((28, 28, 1)), fk.layers.Conv2D(8, 3, activation="relu"),
                           fk.layers.MaxPooling2D(), fk.layers.Flatten(), fk.layers.Dense(10, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(generator.flow(x, y, batch_size=32, seed=1), epochs=3, verbose=0,
                        validation_data=(x / 255, y))
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert history.history["val_accuracy"][-1] > 0.5


def test_what_it_cannot_do_raises_naming_it():
    generator = fk.preprocessing.image.ImageDataGenerator()
    with pytest.raises(NotImplementedError, match="`flow_from_directory` is not supported"):
        generator.flow_from_directory("images/")
    with pytest.raises(NotImplementedError, match="`save_to_dir` is not supported"):
        generator.flow(IMAGES, save_to_dir="out/")
    with pytest.raises(NotImplementedError, match="channels-last"):
        fk.preprocessing.image.ImageDataGenerator(data_format="channels_first")
    with pytest.raises(NotImplementedError, match="spline orders 2-5"):
        fk.preprocessing.image.ImageDataGenerator(interpolation_order=3)
    with pytest.raises(ValueError, match="should have rank 4"):
        generator.flow(IMAGES[0])
    with pytest.raises(ValueError, match="`zoom_range` should be a float or a tuple or list of two floats"):
        fk.preprocessing.image.ImageDataGenerator(zoom_range=[0.5, 1, 2])
    with pytest.raises(NotImplementedError, match=r"`keras\.preprocessing\.image\.smart_resize` is not implemented"):
        fk.preprocessing.image.smart_resize
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(ValueError, match="Unsupported channel number: 2"):
            fk.preprocessing.image.ImageDataGenerator(brightness_range=(0.5, 1)).random_transform(IMAGES[0, ..., :2])
