"""Data given a batch at a time (``fastconv.data``): a ``keras.utils.PyDataset`` and Python generators in
``fit`` (with ``steps_per_epoch``, ``validation_data``, ``validation_steps``), ``evaluate`` and ``predict``
(``steps``), and ``steps_per_epoch`` over arrays. Against real Keras 3 on its torch backend, with the same
dataset class written once for both and the same initial weights: the same histories, weights, losses and
predictions; the same epochs when a pass runs out; Keras's errors for arguments that do not go with it."""

import warnings

import numpy as np
import pytest

from fastconv import keras as fk
from keras_reference import keras

pytestmark = pytest.mark.filterwarnings(
    "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning",  # Keras's torch backend
)

RNG = np.random.default_rng(53)
X = RNG.standard_normal((40, 6, 6, 1)).astype(np.float32)
Y = RNG.integers(0, 3, 40)
W = RNG.uniform(0.2, 2.0, 40).astype(np.float32)


def _dataset_class(library):
    class Batches(library.utils.PyDataset):
        """Batches of 8 of (X, Y[, W]) starting at ``start``; counts the epochs it saw end."""

        def __init__(self, start=0, stop=40, weighted=False, targets=True, **kwargs):
            super().__init__(**kwargs)
            self.start, self.stop, self.weighted, self.targets = start, stop, weighted, targets
            self.epochs_ended, self.requested = 0, []

        def __len__(self):
            return (self.stop - self.start + 7) // 8

        def __getitem__(self, index):
            self.requested.append(index)
            rows = slice(self.start + 8 * index, min(self.start + 8 * index + 8, self.stop))
            if not self.targets:
                return X[rows]
            return (X[rows], Y[rows], W[rows]) if self.weighted else (X[rows], Y[rows])

        def on_epoch_end(self):
            self.epochs_ended += 1

    return Batches


def _model(library):
    layers = library.layers
    return library.Sequential([library.Input((6, 6, 1)), layers.Conv2D(4, 3, activation="relu"),
                               layers.Flatten(), layers.Dense(3, activation="softmax")])


def _pair():
    ours, theirs = _model(fk), _model(keras)
    weights = [np.asarray(w) + 0.1 * RNG.standard_normal(np.shape(w)).astype(np.float32)
               for w in theirs.get_weights()]
    for model, library in ((ours, fk), (theirs, keras)):
        model.set_weights(weights)
        model.compile(optimizer=library.optimizers.SGD(0.1), loss="sparse_categorical_crossentropy",
                      metrics=["accuracy"])
    return ours, theirs


def _cycle(count, targets=True):
    """A generator of ``count`` batches of 8, cycling through X and Y."""
    for step in range(count):
        rows = slice(8 * (step % 5), 8 * (step % 5) + 8)
        yield (X[rows], Y[rows]) if targets else X[rows]


def _assert_same_history(ours, theirs, rtol=1e-5):
    assert sorted(ours) == sorted(theirs)
    for key in theirs:
        np.testing.assert_allclose(ours[key], theirs[key], rtol=rtol, atol=1e-6, err_msg=key)


def test_a_pydataset_trains_and_validates_as_in_keras():
    ours, theirs = _pair()
    datasets = {}
    histories = []
    for model, library in ((ours, fk), (theirs, keras)):
        batches = _dataset_class(library)
        train, validation = batches(stop=32, weighted=True), batches(start=32)
        histories.append(model.fit(train, validation_data=validation, epochs=3, shuffle=False, verbose=0).history)
        datasets[library.__name__] = train
    _assert_same_history(*histories)
    for a, b in zip(ours.get_weights(), theirs.get_weights(), strict=True):
        np.testing.assert_allclose(a, np.asarray(b), rtol=1e-4, atol=1e-6)
    assert datasets["fastconv.keras"].epochs_ended == 3 <= datasets["keras"].epochs_ended  # Keras's build reads one
    assert datasets["fastconv.keras"].requested == [0, 1, 2, 3] * 3


def test_a_generator_with_steps_per_epoch_goes_on_across_epochs_as_in_keras():
    # Each validation starts the PyDataset again and reads `validation_steps` batches of it.
    ours, theirs = _pair()
    histories = [model.fit(_cycle(100), steps_per_epoch=3, epochs=3, verbose=0,
                           validation_data=_dataset_class(library)(start=16), validation_steps=2).history
                 for model, library in ((ours, fk), (theirs, keras))]
    _assert_same_history(*histories)
    for a, b in zip(ours.get_weights(), theirs.get_weights(), strict=True):
        np.testing.assert_allclose(a, np.asarray(b), rtol=1e-4, atol=1e-6)


def test_steps_per_epoch_over_arrays_shortens_the_epoch_that_ends_a_pass_as_in_keras():
    ours, theirs = _pair()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        history = ours.fit(X[:20], Y[:20], batch_size=4, steps_per_epoch=2, epochs=4, shuffle=False, verbose=0)
    assert any("ran out of data" in str(w.message) for w in caught)  # the third epoch has one batch left
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = theirs.fit(X[:20], Y[:20], batch_size=4, steps_per_epoch=2, epochs=4, shuffle=False, verbose=0)
    _assert_same_history(history.history, expected.history)


def test_a_finite_generator_trains_one_pass_then_stops_with_a_warning():
    ours, theirs = _pair()
    with pytest.warns(UserWarning, match="ran out of data"):
        history = ours.fit(_cycle(5), epochs=3, verbose=0)
    assert len(history.history["loss"]) == 1 and history.epoch == [0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = theirs.fit(_cycle(5), epochs=1, verbose=0).history
    _assert_same_history(history.history, expected)


def test_evaluate_and_predict_read_pydatasets_and_generators_as_keras():
    ours, theirs = _pair()
    ours_batches, keras_batches = _dataset_class(fk), _dataset_class(keras)
    np.testing.assert_allclose(ours.evaluate(ours_batches(weighted=True), verbose=0),
                               theirs.evaluate(keras_batches(weighted=True), verbose=0), rtol=1e-5)
    np.testing.assert_allclose(ours.evaluate(_cycle(100), steps=3, verbose=0),
                               theirs.evaluate(_cycle(100), steps=3, verbose=0), rtol=1e-5)
    expected = theirs.predict(X, verbose=0)
    np.testing.assert_allclose(ours.predict(ours_batches(), verbose=0), expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(ours.predict(ours_batches(targets=False), verbose=0), expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(ours.predict(_cycle(100, targets=False), steps=2, verbose=0), expected[:16],
                               rtol=1e-5, atol=1e-6)


def test_the_order_of_a_pydatasets_batches_is_shuffled_each_epoch_and_repeatable():
    def requested(seed):
        fk.utils.set_random_seed(seed)
        model, _ = _pair()
        dataset = _dataset_class(fk)()
        model.fit(dataset, epochs=3, verbose=0)
        return dataset.requested

    first = requested(1)
    assert [sorted(first[i:i + 5]) for i in (0, 5, 10)] == [[0, 1, 2, 3, 4]] * 3  # every batch once an epoch
    assert first[:5] != first[5:10] or first[5:10] != first[10:]
    assert requested(1) == first


def test_a_subclassed_model_is_built_by_the_first_batch():
    class Classifier(fk.Model):
        def __init__(self):
            super().__init__()
            self.flatten, self.dense = fk.layers.Flatten(), fk.layers.Dense(3, activation="softmax")

        def call(self, inputs):
            return self.dense(self.flatten(inputs))

    model = Classifier()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.fit(_dataset_class(fk)(), epochs=1, verbose=0)
    assert model.input_shape == (None, 6, 6, 1)


def test_arguments_that_do_not_go_with_batches_given_a_batch_at_a_time_raise_as_keras():
    ours, _ = _pair()
    batches = _dataset_class(fk)()
    with pytest.raises(ValueError, match="When providing `x` as a PyDataset, `y` should not be passed"):
        ours.fit(batches, Y, verbose=0)
    with pytest.raises(ValueError, match="When providing `x` as a generator, `sample_weight` should not be passed"):
        ours.evaluate(_cycle(2), sample_weight=W, verbose=0)
    with pytest.raises(ValueError, match="`validation_split` is only supported for NumPy arrays"):
        ours.fit(batches, validation_split=0.2, verbose=0)
    with pytest.raises(ValueError, match="Invalid value for argument `steps_per_epoch`"):
        ours.fit(X, Y, steps_per_epoch=0, verbose=0)
    with pytest.raises(ValueError, match="each batch of a PyDataset or generator must be `\\(x, y\\)`"):
        ours.fit(_cycle(2, targets=False), verbose=0)
    with pytest.raises(ValueError, match="must be `x`, `\\(x,\\)`, `\\(x, y\\)` or `\\(x, y, sample_weight\\)`"):
        ours.fit((batch + (W[:8], W[:8]) for batch in _cycle(2)), verbose=0)
