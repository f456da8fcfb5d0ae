"""keras.callbacks.TensorBoard: the event files fastconv writes, read back by TensorBoard's own reader.

Keras's callback needs TensorFlow to write, so the reference here is TensorBoard's reader (its
``EventFileLoader`` checks each record's CRC and parses the protocol buffers) and the records Keras 3.15
writes on TensorFlow 2.21 for the same program: the same tags, steps, plugins, data classes, dtypes and
shapes in the same order (``KERAS_TRAIN``/``KERAS_VALIDATION``, from running it), with the values checked
against the training's own logs and weights, and histograms against ``numpy.histogram``.
"""

import glob
import json
import os
import re

import numpy as np
import pytest

from tensorboard.backend.event_processing import event_file_loader
from tensorboard.util import tensor_util

from fastconv import keras, summary

HISTOGRAMS = [f"sequential/{layer}/{name}/histogram" for layer in ("conv2d", "dense") for name in ("kernel", "bias")]
EPOCH = ["epoch_accuracy", "epoch_loss", "epoch_learning_rate"]
BATCH = ["batch_accuracy", "batch_loss"]
# (step, tag) of each summary, in file order, as Keras writes them for `fit` below (2 epochs of 2 batches,
# validation, histogram_freq=1, update_freq=1)
KERAS_TRAIN = ([(0, "keras")] + [(1, t) for t in BATCH] + [(2, t) for t in BATCH] + [(0, t) for t in EPOCH]
               + [(0, t) for t in HISTOGRAMS] + [(3, t) for t in BATCH] + [(4, t) for t in BATCH]
               + [(1, t) for t in EPOCH] + [(1, t) for t in HISTOGRAMS])
EVALUATION = ["evaluation_accuracy_vs_iterations", "evaluation_loss_vs_iterations"]
KERAS_VALIDATION = ([(2, t) for t in EVALUATION] + [(0, "epoch_accuracy"), (0, "epoch_loss")]
                    + [(4, t) for t in EVALUATION] + [(1, "epoch_accuracy"), (1, "epoch_loss")])
PLUGINS = {"scalars": (1, np.float32, ()), "histograms": (2, np.float64, (30, 3)),
           "graph_keras_model": (3, object, (1,))}


def read_events(log_dir):
    """``[(step, tag, plugin, array)]`` of the one event file in ``log_dir``, checked as TensorBoard reads it."""
    paths = glob.glob(os.path.join(log_dir, "events.out.tfevents.*"))
    assert len(paths) == 1, paths
    assert re.fullmatch(r"events\.out\.tfevents\.\d+\.[^.]+(\.[^.]+)*\.\d+\.\d+\.v2", os.path.basename(paths[0]))
    events = list(event_file_loader.EventFileLoader(paths[0]).Load())
    assert events[0].file_version == "brain.Event:2"
    out = []
    for event in events[1:]:
        (value,) = event.summary.value
        plugin = value.metadata.plugin_data.plugin_name
        data_class, dtype, shape = PLUGINS[plugin]
        array = tensor_util.make_ndarray(value.tensor)
        assert (value.metadata.data_class, array.dtype, array.shape) == (data_class, np.dtype(dtype), shape)
        out.append((event.step, value.tag, plugin, array))
    return out


def small_model(rng):
    keras.backend.clear_session()  # the names below: `sequential`, `conv2d`, `dense`
    x = rng.random((64, 8, 8, 1), dtype=np.float32)
    y = rng.integers(0, 3, 64)
    model = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Conv2D(2, 3, activation="relu"),
                              keras.layers.Flatten(), keras.layers.Dense(3, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    return model, x, y


def test_fit_writes_what_keras_writes(tmp_path, rng):
    model, x, y = small_model(rng)
    batch_logs, weights = [], []
    record = keras.callbacks.LambdaCallback(
        on_train_batch_end=lambda batch, logs: batch_logs.append(dict(logs)),
        on_epoch_end=lambda epoch, logs: weights.append({w.path: np.array(w.value) for w in model.weights}))
    history = model.fit(x, y, epochs=2, batch_size=32, validation_split=0.25, verbose=0, callbacks=[
        record, keras.callbacks.TensorBoard(tmp_path, histogram_freq=1, update_freq="batch")])
    assert sorted(os.listdir(tmp_path)) == ["train", "validation"]

    train = read_events(tmp_path / "train")
    assert [(step, tag) for step, tag, _, _ in train] == KERAS_TRAIN
    (config,) = [array for _, tag, _, array in train if tag == "keras"]
    assert json.loads(config[0]) == json.loads(model.to_json())
    scalars = {(step, tag): float(array) for step, tag, plugin, array in train if plugin == "scalars"}
    for step, logs in enumerate(batch_logs, start=1):
        assert scalars[step, "batch_loss"] == np.float32(logs["loss"])
        assert scalars[step, "batch_accuracy"] == np.float32(logs["accuracy"])
    for epoch in range(2):
        assert scalars[epoch, "epoch_loss"] == np.float32(history.history["loss"][epoch])
        assert scalars[epoch, "epoch_accuracy"] == np.float32(history.history["accuracy"][epoch])
        assert scalars[epoch, "epoch_learning_rate"] == np.float32(0.001)
    for step, tag, plugin, buckets in train:
        if plugin != "histograms":
            continue
        values = weights[step][tag[len("sequential/"):-len("/histogram")]].ravel().astype(np.float64)  # as TensorBoard
        counts, edges = np.histogram(values, bins=30, range=(values.min(), values.max()))
        np.testing.assert_allclose(buckets[:, 0], edges[:-1], rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(buckets[:, 1], edges[1:], rtol=1e-12, atol=1e-15)
        np.testing.assert_array_equal(buckets[:, 2], counts)

    validation = read_events(tmp_path / "validation")
    assert [(step, tag) for step, tag, _, _ in validation] == KERAS_VALIDATION
    values = {(step, tag): float(array) for step, tag, _, array in validation}
    for epoch, iterations in ((0, 2), (1, 4)):
        for name in ("loss", "accuracy"):
            expected = np.float32(history.history[f"val_{name}"][epoch])
            assert values[epoch, f"epoch_{name}"] == expected
            assert values[iterations, f"evaluation_{name}_vs_iterations"] == expected


def test_update_freq_and_what_evaluate_writes(tmp_path, rng):
    model, x, y = small_model(rng)
    model.fit(x, y, epochs=2, batch_size=16, verbose=0,
              callbacks=[keras.callbacks.TensorBoard(tmp_path / "every2", update_freq=2, write_graph=False)])
    steps = [(step, tag) for step, tag, _, _ in read_events(tmp_path / "every2" / "train")]
    assert [s for s in steps if s[1].startswith("batch_")] == [(n, t) for n in (2, 4, 6, 8) for t in BATCH]
    assert "keras" not in [tag for _, tag in steps]
    assert not (tmp_path / "every2" / "validation").exists()  # nothing to write there: no file, as in Keras

    model.fit(x, y, epochs=1, batch_size=16, verbose=0, callbacks=[keras.callbacks.TensorBoard(tmp_path / "epoch")])
    assert not [tag for _, tag, _, _ in read_events(tmp_path / "epoch" / "train") if tag.startswith("batch_")]

    loss, accuracy = model.evaluate(x, y, verbose=0, callbacks=[keras.callbacks.TensorBoard(tmp_path / "eval")])
    assert [tag for _, tag, _, _ in read_events(tmp_path / "eval" / "train")] == ["keras"]
    assert [(step, tag, float(array)) for step, tag, _, array in read_events(tmp_path / "eval" / "validation")] == [
        (12, "evaluation_accuracy_vs_iterations", np.float32(accuracy)),
        (12, "evaluation_loss_vs_iterations", np.float32(loss))]


def test_weight_paths_as_keras_names_them(tmp_path, rng):
    """A functional model's weights have no model prefix in Keras; a subclassed model's have its name, and
    Keras writes no configuration for it."""
    inputs = keras.Input((4,))
    functional = keras.Model(inputs, keras.layers.Dense(2, name="head")(inputs))

    class Subclassed(keras.Model):
        def __init__(self):
            super().__init__(name="mine")
            self.head = keras.layers.Dense(2, name="head")

        def call(self, x):
            return self.head(x)

    x, y = rng.random((8, 4), dtype=np.float32), rng.random((8, 2), dtype=np.float32)
    for name, model, prefix, config in (("functional", functional, "", ["keras"]),
                                        ("subclassed", Subclassed(), "mine/", [])):
        model.compile("sgd", "mse")
        model.fit(x, y, epochs=1, verbose=0, callbacks=[keras.callbacks.TensorBoard(tmp_path / name, histogram_freq=1)])
        tags = [tag for _, tag, _, _ in read_events(tmp_path / name / "train")]
        assert tags == config + ["epoch_loss", "epoch_learning_rate", f"{prefix}head/kernel/histogram",
                                 f"{prefix}head/bias/histogram"]


@pytest.mark.parametrize("kwargs, error, message", [
    (dict(write_images=True), NotImplementedError, "write_images=True"),
    (dict(embeddings_freq=1), NotImplementedError, "embeddings_freq"),
    (dict(profile_batch=2), ValueError, "profile_batch=2"),
    (dict(update_freq="often"), ValueError, "update_freq='often'"),
    (dict(update_freq=0), ValueError, "update_freq=0"),
    (dict(histogram_freq=-1), ValueError, "histogram_freq=-1"),
])
def test_bad_arguments_say_which(kwargs, error, message):
    with pytest.raises(error, match=re.escape(message)):
        keras.callbacks.TensorBoard("logs", **kwargs)


def test_histogram_edge_cases():
    """TensorBoard's rules where numpy.histogram has none: one value repeated, and no values."""
    np.testing.assert_array_equal(summary.histogram_buckets(np.full(5, 2.5), buckets=3),
                                  [[2.5, 2.5, 0], [2.5, 2.5, 0], [2.5, 2.5, 5]])
    np.testing.assert_array_equal(summary.histogram_buckets(np.zeros(0)), np.zeros((30, 3)))


def test_nan_weights_and_array_metrics_do_not_stop_training(tmp_path, rng):
    """A NaN weight gets a histogram of NaN edges and no counts (as TensorFlow's), not an exception; a metric
    that gives an array (several thresholds) has no scalar summary, the others are written."""
    keras.backend.clear_session()
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1, activation="sigmoid")])
    model.compile(keras.optimizers.SGD(0.0), "binary_crossentropy",
                  metrics=[keras.metrics.TruePositives(thresholds=[0.3, 0.6], name="tp"), "accuracy"])
    kernel = model.layers[0].kernel
    kernel.assign(np.array([[np.nan], [1], [2], [3]], np.float32))
    x, y = rng.random((8, 4), dtype=np.float32), np.arange(8) % 2
    with pytest.warns(RuntimeWarning, match="invalid loss"):  # fastconv stops at a NaN loss, as TerminateOnNaN
        history = model.fit(x, y, epochs=1, verbose=0,
                            callbacks=[keras.callbacks.TensorBoard(tmp_path, histogram_freq=1)])
    assert history.history["tp"][0].shape == (2,)
    events = {tag: array for _, tag, _, array in read_events(tmp_path / "train")}
    assert "epoch_tp" not in events and "epoch_accuracy" in events and "epoch_loss" in events
    buckets = events["sequential/dense/kernel/histogram"]
    assert np.isnan(buckets[:, :2]).all() and not buckets[:, 2].any()
