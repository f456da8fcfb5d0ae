"""``.keras`` and ``.weights.h5`` files: fastconv to fastconv, fastconv to real Keras 3, real Keras 3 to fastconv.

Real Keras runs on its torch backend (``keras_reference``). The models are the
textbook CNN (trained one small step so that the optimizer has its slots) and
small functional graphs; data are a handful of random images.
"""

import ast
import errno
import io
import json
import os
import pathlib
import re
import stat
import struct
import subprocess
import sys
import time
import zipfile

import h5py
import numpy as np
import pytest

from fastconv import layers, losses, models, optimizers, saving
from fastconv.models import Model, Sequential
from keras_reference import keras
from models_for_both import small_functional, textbook_cnn, two_heads

pytestmark = pytest.mark.filterwarnings(
    "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning",  # inside Keras's torch backend
    "ignore:Do not pass an `input_shape`:UserWarning",  # Keras's advice on the textbook's `input_shape=`
)

RNG = np.random.default_rng(7)
X = RNG.random((16, 28, 28, 1), dtype=np.float32)
Y = RNG.integers(0, 10, 16)


def fit_fastconv(model, x=X, y=Y):
    model.fit(x, y, batch_size=8, epochs=1, verbose=0, shuffle=False)
    return model


def keras_weights(model):
    return [np.asarray(w) for w in model.get_weights()]


def optimizer_arrays(optimizer):
    return [np.asarray(v.numpy()) for v in optimizer.variables]


def h5_layout(h5):
    """``{path: (attrs, shape)}`` of every group and dataset in an HDF5 file."""
    layout = {}
    h5.visititems(lambda name, obj: layout.__setitem__(
        name, ({k: str(v) for k, v in obj.attrs.items()}, getattr(obj, "shape", None))))
    return layout


def weights_member(path):
    with zipfile.ZipFile(path) as archive:
        return h5py.File(io.BytesIO(archive.read("model.weights.h5")), "r")


def config_member(path):
    with zipfile.ZipFile(path) as archive:
        return json.loads(archive.read("config.json"))


# -- fixtures: one trained model per library, saved once ----------------------------------------------------


@pytest.fixture(scope="module")
def fastconv_cnn(tmp_path_factory):
    textbook_cnn(layers, Sequential)  # a first model, so that the saved one's layer names carry counters
    model = fit_fastconv(textbook_cnn(layers, Sequential))
    path = tmp_path_factory.mktemp("fastconv") / "cnn.keras"
    model.save(path)
    return model, path


@pytest.fixture(scope="module")
def keras_cnn(tmp_path_factory):
    textbook_cnn(keras.layers, keras.Sequential)  # as above: the saved model is the second in the process
    model = textbook_cnn(keras.layers, keras.Sequential)
    model.fit(X, Y, batch_size=8, epochs=1, verbose=0, shuffle=False)
    path = tmp_path_factory.mktemp("keras") / "cnn.keras"
    model.save(path)
    return model, path


# -- fastconv -> fastconv ------------------------------------------------------------------------------------


def test_round_trip_keeps_predictions_weights_and_optimizer(fastconv_cnn):
    model, path = fastconv_cnn
    loaded = models.load_model(path)

    assert isinstance(loaded, Sequential)
    assert loaded.get_config() == model.get_config()
    np.testing.assert_array_equal(loaded.predict(X, verbose=0), model.predict(X, verbose=0))
    for ours, theirs in zip(model.weights, loaded.weights, strict=True):
        np.testing.assert_array_equal(ours.numpy(), theirs.numpy())
    assert type(loaded.optimizer) is type(model.optimizer)
    assert loaded.optimizer.get_config() == model.optimizer.get_config()
    for ours, theirs in zip(optimizer_arrays(model.optimizer), optimizer_arrays(loaded.optimizer), strict=True):
        np.testing.assert_array_equal(ours, theirs)
    assert int(loaded.optimizer.iterations.numpy()) == 2
    assert loaded.loss.get_config() == model.loss.get_config()
    assert loaded._metric_identifiers == ["accuracy"]


def test_training_continues_as_if_never_saved(tmp_path):
    from fastconv import utils

    model = fit_fastconv(textbook_cnn(layers, Sequential))
    model.save(tmp_path / "checkpoint.keras")
    loaded = models.load_model(tmp_path / "checkpoint.keras")
    for continued in (model, loaded):
        utils.set_random_seed(3)  # the same dropout masks in both runs
        fit_fastconv(continued)
    for ours, theirs in zip(model.weights, loaded.weights, strict=True):
        np.testing.assert_array_equal(ours.numpy(), theirs.numpy())
    for ours, theirs in zip(optimizer_arrays(model.optimizer), optimizer_arrays(loaded.optimizer), strict=True):
        np.testing.assert_array_equal(ours, theirs)
    assert int(loaded.optimizer.iterations.numpy()) == 4


def test_uncompiled_model_and_compile_false(tmp_path):
    model = small_functional(layers, Model)
    model.save(tmp_path / "plain.keras")
    assert config_member(tmp_path / "plain.keras")["compile_config"] == {}
    loaded = models.load_model(tmp_path / "plain.keras")
    assert not loaded.compiled
    x = RNG.random((2, 8, 8, 3), dtype=np.float32)
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))


def test_load_with_compile_false_skips_the_optimizer(fastconv_cnn):
    model, path = fastconv_cnn
    loaded = models.load_model(path, compile=False)
    assert not loaded.compiled and loaded.optimizer is None
    np.testing.assert_array_equal(loaded.predict(X, verbose=0), model.predict(X, verbose=0))


# -- fastconv -> real Keras ------------------------------------------------------------------------------------


def test_keras_loads_fastconv_file(fastconv_cnn):
    model, path = fastconv_cnn
    loaded = keras.models.load_model(path)

    np.testing.assert_allclose(loaded.predict(X, verbose=0), model.predict(X, verbose=0), atol=1e-5)
    assert loaded.compiled
    assert type(loaded.optimizer).__name__ == "Adam"
    assert loaded.loss == "sparse_categorical_crossentropy"
    for ours, theirs in zip(optimizer_arrays(model.optimizer), optimizer_arrays(loaded.optimizer), strict=True):
        np.testing.assert_array_equal(ours, theirs)
    loaded.train_on_batch(X[:4], Y[:4])  # Keras keeps training from the restored state
    assert int(loaded.optimizer.iterations.numpy()) == 3


def test_file_layout_matches_keras(fastconv_cnn, keras_cnn):
    """Same groups, datasets, shapes and dtypes as the file Keras writes; `name` attributes are each model's own."""
    (model, path), (keras_model, keras_path) = fastconv_cnn, keras_cnn
    ours, theirs = h5_layout(weights_member(path)), h5_layout(weights_member(keras_path))
    assert {k: shape for k, (_, shape) in ours.items()} == {k: shape for k, (_, shape) in theirs.items()}
    # Groups are keyed by class and counter; layer names (with their process-wide counters) are attributes.
    assert ours["layers/conv2d_1/vars"][0] == {"name": model.layers[2].name}
    assert model.layers[2].name != "conv2d_1"
    assert theirs["layers/conv2d_1/vars"][0] == {"name": keras_model.layers[2].name}
    assert ours["optimizer/vars"][0] == {"name": model.optimizer.name}
    assert ours["vars"][0] == {"name": model.name}


def _normalized(config):
    """A config without what legitimately differs: names, Keras's object ids, keys Keras adds at their off value,
    and the module Keras's torch backend records for its optimizer."""
    dropped = {"name", "shared_object_id", "input_axes", "output_axes", "quantization_config", "renorm_clipping",
               "renorm_momentum"}
    if isinstance(config, dict):
        if config.get("class_name") in ("Adam", "SGD", "RMSprop", "Adagrad"):
            config = {**config, "module": "keras.optimizers", "registered_name": None}
        return {k: _normalized(v) for k, v in config.items() if k not in dropped}
    if isinstance(config, list):
        return [_normalized(v) for v in config]
    return config


def test_config_json_matches_keras(fastconv_cnn, keras_cnn):
    assert _normalized(config_member(fastconv_cnn[1])) == _normalized(config_member(keras_cnn[1]))


# -- real Keras -> fastconv ------------------------------------------------------------------------------------


def test_fastconv_loads_keras_file(keras_cnn):
    keras_model, path = keras_cnn
    loaded = models.load_model(path)

    assert isinstance(loaded, Sequential)
    assert [layer.name for layer in loaded.layers] == [layer.name for layer in keras_model.layers]
    np.testing.assert_allclose(loaded.predict(X, verbose=0), keras_model.predict(X, verbose=0), atol=1e-5)
    for ours, theirs in zip(loaded.get_weights(), keras_weights(keras_model), strict=True):
        np.testing.assert_array_equal(ours, theirs)
    assert type(loaded.optimizer).__name__ == "Adam"
    for ours, theirs in zip(optimizer_arrays(loaded.optimizer), optimizer_arrays(keras_model.optimizer), strict=True):
        np.testing.assert_array_equal(ours, theirs)
    assert int(loaded.optimizer.iterations.numpy()) == 2
    loss, accuracy = loaded.evaluate(X, Y, verbose=0)
    keras_loss, keras_accuracy = keras_model.evaluate(X, Y, verbose=0)
    assert loss == pytest.approx(keras_loss, rel=1e-5) and accuracy == keras_accuracy


def test_second_model_in_process_both_directions(tmp_path):
    """Layer names carry process-wide counters; weight files key layers by class and position within the model."""
    for _ in range(2):
        model = textbook_cnn(layers, Sequential)
    model.save(tmp_path / "second.keras")
    assert "conv2d" not in [layer.name for layer in model.layers]
    # Compiled but never trained: 2 optimizer variables saved, 18 after building; Keras warns and skips them.
    with pytest.warns(UserWarning, match="Skipping variable loading for optimizer"):
        loaded = keras.models.load_model(tmp_path / "second.keras")
    np.testing.assert_allclose(loaded.predict(X[:4], verbose=0), model.predict(X[:4], verbose=0), atol=1e-5)

    for _ in range(2):
        keras_model = textbook_cnn(keras.layers, keras.Sequential)
    keras_model.save(tmp_path / "second_keras.keras")
    assert "conv2d" not in [layer.name for layer in keras_model.layers]
    with pytest.warns(UserWarning, match=r"Skipping variable loading for optimizer '.*', because it has 18 "
                                         "variables whereas the saved optimizer has 2 variables"):
        ours = models.load_model(tmp_path / "second_keras.keras")
    np.testing.assert_allclose(ours.predict(X[:4], verbose=0), keras_model.predict(X[:4], verbose=0), atol=1e-5)


# -- functional models ------------------------------------------------------------------------------------------


def test_functional_round_trips(tmp_path):
    x = RNG.random((6, 8, 8, 3), dtype=np.float32)
    y = RNG.integers(0, 3, 6)
    model = small_functional(layers, Model)
    model.compile(optimizer=optimizers.SGD(0.1, momentum=0.9), loss=losses.SparseCategoricalCrossentropy(),
                  metrics=["accuracy"])
    model.fit(x, y, batch_size=3, epochs=1, verbose=0, shuffle=False)
    model.save(tmp_path / "functional.keras")
    expected = model.predict(x, verbose=0)

    ours = models.load_model(tmp_path / "functional.keras")
    assert isinstance(ours, Model) and not isinstance(ours, Sequential)
    np.testing.assert_array_equal(ours.predict(x, verbose=0), expected)
    for a, b in zip(optimizer_arrays(ours.optimizer), optimizer_arrays(model.optimizer), strict=True):
        np.testing.assert_array_equal(a, b)

    theirs = keras.models.load_model(tmp_path / "functional.keras")
    np.testing.assert_allclose(theirs.predict(x, verbose=0), expected, atol=1e-5)
    assert type(theirs.optimizer).__name__ == "SGD"
    for a, b in zip(optimizer_arrays(theirs.optimizer), optimizer_arrays(model.optimizer), strict=True):
        np.testing.assert_array_equal(a, b)
    # Keras's own file for the model it loaded has our layout, input layer group included.
    theirs.save(tmp_path / "functional_keras.keras")
    assert h5_layout(weights_member(tmp_path / "functional_keras.keras")).keys() == \
        h5_layout(weights_member(tmp_path / "functional.keras")).keys()
    assert "layers/input_layer/vars" in h5_layout(weights_member(tmp_path / "functional.keras"))

    back = models.load_model(tmp_path / "functional_keras.keras")
    np.testing.assert_allclose(back.predict(x, verbose=0), expected, atol=1e-5)


def test_keras_functional_with_branches_loads_in_keras_layer_order(tmp_path):
    x = RNG.random((4, 5), dtype=np.float32)
    keras_model = two_heads(keras.layers, keras.Model)
    keras_model.save(tmp_path / "heads.keras")
    ours = models.load_model(tmp_path / "heads.keras")
    assert [layer.name for layer in ours.layers] == [layer.name for layer in keras_model.layers]
    for a, b in zip(ours.predict(x, verbose=0), keras_model.predict(x, verbose=0), strict=True):
        np.testing.assert_allclose(a, b, atol=1e-6)

    model = two_heads(layers, Model)
    model.save(tmp_path / "heads_fastconv.keras")
    theirs = keras.models.load_model(tmp_path / "heads_fastconv.keras")
    assert [layer.name for layer in theirs.layers] == [layer.name for layer in model.layers]
    for a, b in zip(theirs.predict(x, verbose=0), model.predict(x, verbose=0), strict=True):
        np.testing.assert_allclose(a, b, atol=1e-6)

    keras_model.compile(optimizer="adam", loss="mse")  # a compiled two-output model: fastconv cannot train it
    keras_model.save(tmp_path / "heads_compiled.keras")
    with pytest.raises(NotImplementedError, match=r"one output.*`load_model\(\.\.\., compile=False\)`"):
        models.load_model(tmp_path / "heads_compiled.keras")
    assert len(models.load_model(tmp_path / "heads_compiled.keras", compile=False).predict(x, verbose=0)) == 2


def test_compile_objects_round_trip_through_both_libraries(tmp_path):
    """A loss object, metric objects and an optimizer with non-default arguments, written by Keras."""
    x = RNG.random((8, 6), dtype=np.float32)
    y = RNG.integers(0, 3, 8)
    keras_model = keras.Sequential([keras.Input((6,)), keras.layers.Dense(4, activation="relu"),
                                    keras.layers.BatchNormalization(), keras.layers.Dense(3)])
    keras_model.compile(optimizer=keras.optimizers.RMSprop(0.01, momentum=0.5, centered=True),
                        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                        metrics=[keras.metrics.SparseCategoricalAccuracy(), "accuracy"])
    keras_model.fit(x, y, batch_size=4, epochs=1, verbose=0)
    keras_model.save(tmp_path / "objects.keras")

    ours = models.load_model(tmp_path / "objects.keras")
    assert type(ours.optimizer).__name__ == "RMSprop"
    assert ours.optimizer.get_config()["centered"] is True and ours.optimizer.get_config()["momentum"] == 0.5
    assert ours.loss.get_config()["from_logits"] is True
    for a, b in zip(optimizer_arrays(ours.optimizer), optimizer_arrays(keras_model.optimizer), strict=True):
        np.testing.assert_array_equal(a, b)
    expected = keras_model.evaluate(x, y, verbose=0, return_dict=True)
    logs = ours.evaluate(x, y, verbose=0, return_dict=True)
    assert logs.keys() == expected.keys()
    assert logs == pytest.approx(expected, rel=1e-5)

    ours.save(tmp_path / "objects_again.keras")
    theirs = keras.models.load_model(tmp_path / "objects_again.keras")
    assert theirs.evaluate(x, y, verbose=0, return_dict=True) == pytest.approx(expected, rel=1e-5)


def test_feature_map_model_saves(fastconv_cnn, tmp_path):
    model, _ = fastconv_cnn
    features = Model(model.inputs, model.layers[0].output)
    features.save(tmp_path / "features.keras")
    theirs = keras.models.load_model(tmp_path / "features.keras")
    np.testing.assert_allclose(theirs.predict(X[:2], verbose=0), features.predict(X[:2], verbose=0), atol=1e-5)


# -- weights files --------------------------------------------------------------------------------------------


def test_save_weights_load_weights_both_directions(fastconv_cnn, keras_cnn, tmp_path):
    model, _ = fastconv_cnn
    keras_model, _ = keras_cnn

    model.save_weights(tmp_path / "ours.weights.h5")
    target = textbook_cnn(keras.layers, keras.Sequential)  # differently named layers
    with pytest.warns(UserWarning, match="Skipping variable loading for optimizer"):  # not built yet: as Keras
        target.load_weights(tmp_path / "ours.weights.h5")
    np.testing.assert_allclose(target.predict(X, verbose=0), model.predict(X, verbose=0), atol=1e-5)

    keras_model.save_weights(tmp_path / "theirs.weights.h5")
    assert h5_layout(h5py.File(tmp_path / "ours.weights.h5")).keys() == \
        h5_layout(h5py.File(tmp_path / "theirs.weights.h5")).keys()
    ours = textbook_cnn(layers, Sequential)
    with pytest.warns(UserWarning, match="This is likely because the optimizer has not been called/built yet"):
        ours.load_weights(tmp_path / "theirs.weights.h5")
    np.testing.assert_allclose(ours.predict(X, verbose=0), keras_model.predict(X, verbose=0), atol=1e-5)

    from_archive = Sequential(textbook_cnn(layers, Sequential).layers)  # uncompiled: no optimizer to fill
    from_archive.load_weights(keras_cnn[1])  # Keras also loads weights straight from a .keras file
    np.testing.assert_array_equal(from_archive.predict(X, verbose=0), ours.predict(X, verbose=0))


def test_load_weights_restores_a_built_optimizer(fastconv_cnn, tmp_path):
    model, _ = fastconv_cnn
    model.save_weights(tmp_path / "w.weights.h5")
    fresh = fit_fastconv(textbook_cnn(layers, Sequential), X[:8], Y[:8])  # builds its optimizer
    fresh.load_weights(tmp_path / "w.weights.h5")
    for a, b in zip(optimizer_arrays(fresh.optimizer), optimizer_arrays(model.optimizer), strict=True):
        np.testing.assert_array_equal(a, b)


# -- atomic writes ------------------------------------------------------------------------------------------------


def _fail_midway(model, h5):
    h5.create_group("layers").create_dataset("0", data=np.zeros(1000))
    raise OSError("No space left on device")


@pytest.mark.parametrize("method, name", [("save", "best.keras"), ("save_weights", "best.weights.h5")])
def test_crash_mid_save_keeps_previous_file(fastconv_cnn, tmp_path, monkeypatch, method, name):
    model, _ = fastconv_cnn
    path = tmp_path / name
    getattr(model, method)(path)
    before = path.read_bytes()
    monkeypatch.setattr(saving, "_write_h5", _fail_midway)
    with pytest.raises(OSError, match="No space left"):
        getattr(model, method)(path)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == [name]  # the partial file beside it is gone


def test_new_file_gets_ordinary_permissions(fastconv_cnn, tmp_path):
    """As ``open()`` gives: 0o666 less the umask (a file that is replaced keeps its own mode, tested below)."""
    model, _ = fastconv_cnn
    path = tmp_path / "model.keras"
    model.save(path)
    assert zipfile.is_zipfile(path)
    assert os.listdir(tmp_path) == ["model.keras"]
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o666 & ~umask


def test_overwrite_false_refuses_existing_file(fastconv_cnn, tmp_path):
    model, _ = fastconv_cnn
    for name, method in (("m.keras", model.save), ("m.weights.h5", model.save_weights)):
        (tmp_path / name).write_bytes(b"keep me")
        with pytest.raises(FileExistsError, match=f"File {tmp_path / name} already exists and overwrite=False"):
            method(tmp_path / name, overwrite=False)
        assert (tmp_path / name).read_bytes() == b"keep me"


# -- errors ---------------------------------------------------------------------------------------------------------


def test_filename_errors_match_keras(fastconv_cnn, keras_cnn, tmp_path):
    model, _ = fastconv_cnn
    keras_model, _ = keras_cnn
    for bad in (tmp_path / "w.h5", tmp_path / "weights.keras"):
        with pytest.raises(ValueError) as ours:
            model.save_weights(bad)
        with pytest.raises(ValueError) as theirs:
            keras_model.save_weights(bad)
        expected = f"The filename must end in `.weights.h5`. Received: filepath={bad}"
        assert str(ours.value) == str(theirs.value) == expected
    with pytest.raises(ValueError, match=r"Invalid `filepath` argument: expected a `.keras` extension. Received: "):
        model.save(tmp_path / "model.zip")


def test_load_errors_name_the_file_and_the_problem(tmp_path):
    missing = tmp_path / "missing.keras"
    with pytest.raises(ValueError, match=f"File not found: filepath={missing}"):
        models.load_model(missing)

    not_zip = tmp_path / "text.keras"
    not_zip.write_text("hello")
    with pytest.raises(ValueError, match=rf"Cannot load {not_zip}: it is not a `.keras` file \(not a zip archive"):
        models.load_model(not_zip)

    no_config = tmp_path / "no_config.keras"
    with zipfile.ZipFile(no_config, "w") as archive:
        archive.writestr("metadata.json", "{}")
    with pytest.raises(ValueError, match=rf"Cannot load {no_config}: the archive has no `config.json`"):
        models.load_model(no_config)

    no_weights = tmp_path / "no_weights.keras"
    with zipfile.ZipFile(no_weights, "w") as archive:
        archive.writestr("config.json", json.dumps(models.serialize_model(small_functional(layers, Model))))
    with pytest.raises(ValueError, match=rf"Cannot load {no_weights}: the archive has no `model.weights.h5`"):
        models.load_model(no_weights)

    with pytest.raises(ValueError, match="File format not supported"):
        models.load_model(tmp_path / "model.pt")


def test_wrong_shapes_raise_and_leave_the_model_untouched(fastconv_cnn, tmp_path):
    model, path = fastconv_cnn
    other = Sequential([layers.Conv2D(32, 3, activation="relu", padding="same", input_shape=(28, 28, 1)),
                        layers.MaxPooling2D(2), layers.Conv2D(64, 3, activation="relu", padding="same"),
                        layers.MaxPooling2D(2), layers.Flatten(), layers.Dense(50, activation="relu"),
                        layers.Dropout(0.4), layers.Dense(10, activation="softmax")])
    before = other.get_weights()
    with pytest.raises(ValueError, match=rf"Cannot load weights from {path} \(model.weights.h5\): layer "
                                         rf"'{other.layers[5].name}' \(group `layers/dense`\) variable 0 \('kernel'\) "
                                         r"has shape \(3136, 50\) in the model but \(3136, 100\) in the file"):
        other.load_weights(path)
    for a, b in zip(before, other.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)  # the conv layers, which did fit, were not loaded either

    fewer = Sequential([layers.Flatten(input_shape=(28, 28, 1)), layers.Dense(10)])
    with pytest.raises(ValueError, match="the file has weights for layers the model does not have"):
        fewer.load_weights(path)
    with pytest.warns(UserWarning, match="skip_mismatch=True"):
        fewer.load_weights(path, skip_mismatch=True)


def _edit_config(source, target, edit):
    with zipfile.ZipFile(source) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    config = json.loads(members["config.json"])
    edit(config)
    members["config.json"] = json.dumps(config)
    with zipfile.ZipFile(target, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return target


def test_unsupported_layers_and_arguments_raise_not_implemented(keras_cnn, tmp_path):
    volumes = keras.Sequential([keras.Input((4, 4, 4, 1)), keras.layers.Conv3D(2, 3)])
    volumes.save(tmp_path / "conv3d.keras")
    with pytest.raises(NotImplementedError,
                       match=r"The Keras layer `Conv3D` \(layer '.*'\) is not supported"):
        models.load_model(tmp_path / "conv3d.keras")

    regularized = keras.Sequential([keras.Input((4, 4, 1)), keras.layers.Conv2D(2, 3, activity_regularizer="l2")])
    regularized.save(tmp_path / "regularized.keras")
    with pytest.raises(NotImplementedError, match="does not support the argument `activity_regularizer`"):
        models.load_model(tmp_path / "regularized.keras")

    def future_key(config):
        config["config"]["layers"][-1]["config"]["a_future_option"] = 1

    future = _edit_config(keras_cnn[1], tmp_path / "future.keras", future_key)
    with pytest.raises(NotImplementedError, match=r"`Dense` in fastconv does not support the argument "
                                                  r"`a_future_option` yet. Received: a_future_option=1"):
        models.load_model(future)

    def quantized(config):
        config["config"]["layers"][-1]["config"]["quantization_config"] = {"mode": "int8"}

    with pytest.raises(NotImplementedError, match="does not support the argument `quantization_config`"):
        models.load_model(_edit_config(keras_cnn[1], tmp_path / "quantized.keras", quantized))

    def subclassed(config):
        config["class_name"] = "MyModel"

    with pytest.raises(NotImplementedError, match="The model class `MyModel` is not supported"):
        models.load_model(_edit_config(keras_cnn[1], tmp_path / "subclassed.keras", subclassed))


# -- loading never half-loads, and names the file ---------------------------------------------------------------------


def dense_stack(rng, compiled=False):
    """Two Dense layers (weights drawn from ``rng``); ``compiled``: with a built Adam, so the file has its slots."""
    model = Sequential([layers.Dense(4, activation="relu", input_shape=(5,)), layers.Dense(3)])
    model.set_weights([rng.standard_normal(w.shape).astype(np.float32) for w in model.weights])
    if compiled:
        model.compile(optimizer="adam", loss="mse")
        model.optimizer.build(model.trainable_weights)
        for variable in model.optimizer.variables[2:]:
            variable.assign(rng.standard_normal(variable.shape).astype(variable.dtype))
    return model


def _rewrite_h5(h5, path, how):
    if how == "strings":
        shape = h5[path].shape
        del h5[path]
        h5[path] = np.full(shape, b"abc")
    else:  # a dataset where Keras's layout has the `vars` group
        del h5[path]
        h5[path] = np.zeros(3)


def _damage_weights(source, target, path, how):
    """A copy of the ``.weights.h5`` or ``.keras`` file ``source`` with the HDF5 object at ``path`` replaced."""
    if str(source).endswith(".weights.h5"):
        target.write_bytes(source.read_bytes())
        with h5py.File(target, "r+") as h5:
            _rewrite_h5(h5, path, how)
        return target
    with zipfile.ZipFile(source) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    buffer = io.BytesIO(members["model.weights.h5"])
    with h5py.File(buffer, "r+") as h5:
        _rewrite_h5(h5, path, how)
    members["model.weights.h5"] = buffer.getvalue()
    with zipfile.ZipFile(target, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return target


@pytest.mark.parametrize("suffix", [".weights.h5", ".keras"])
@pytest.mark.parametrize("path, how, problem", [
    ("layers/dense_1/vars/0", "strings", r"layer '.*' \(group `layers/dense_1`\) variable 0 \('kernel'\) holds "
                                          r"strings \(dtype \|S3\) in the file, where numbers belong"),
    ("optimizer/vars/4", "strings", r"optimizer '.*' variable 4 \('.*'\) holds strings"),
    ("layers/dense_1/vars", "dataset", r"the file is damaged or not in Keras's layout \(TypeError: "
                                       r"`layers/dense_1/vars` is not an HDF5 group\)"),
])
def test_failed_load_changes_nothing_and_names_the_file(rng, tmp_path, suffix, path, how, problem):
    """Everything is read and checked before anything is assigned (the first layer fits, the last does not)."""
    source = tmp_path / f"source{suffix}"
    saved = dense_stack(rng, compiled=True)
    saved.save(source) if suffix == ".keras" else saved.save_weights(source)
    damaged = _damage_weights(source, tmp_path / f"damaged{suffix}", path, how)
    shown = re.escape(f"{damaged} (model.weights.h5)" if suffix == ".keras" else str(damaged))

    model = dense_stack(rng, compiled=True)
    before = model.get_weights(), optimizer_arrays(model.optimizer)
    with pytest.raises(ValueError, match=rf"^Cannot load weights from {shown}: {problem}"):
        model.load_weights(damaged)
    for a, b in zip(before[0] + before[1], model.get_weights() + optimizer_arrays(model.optimizer), strict=True):
        np.testing.assert_array_equal(a, b)
    if suffix == ".keras":
        with pytest.raises(ValueError, match=rf"^Cannot load weights from {shown}: {problem}"):
            models.load_model(damaged)


def _zip_structure(path):
    """The byte offsets of a zip file's headers and directory (where a flipped byte is not caught by a CRC)."""
    with zipfile.ZipFile(path) as archive:
        infos = archive.infolist()
        start_dir = archive.start_dir
    data = path.read_bytes()
    offsets = set(range(start_dir, len(data)))  # the central directory and its end record
    for info in infos:
        name_length, extra_length = struct.unpack("<HH", data[info.header_offset + 26:info.header_offset + 30])
        offsets.update(range(info.header_offset, info.header_offset + 30 + name_length + extra_length))
    return sorted(offsets)


def test_damaged_archive_raises_value_error_naming_the_file(rng, tmp_path):
    """Every byte of the zip structure flipped, every 61st byte of the members, and truncations: each file loads
    (some header fields are informative only) or raises ValueError naming it, never zipfile's or zlib's errors."""
    good = tmp_path / "good.keras"
    dense_stack(rng, compiled=True).save(good)
    data = good.read_bytes()
    damaged = tmp_path / "damaged.keras"
    variants = [(f"byte {i} flipped", data[:i] + bytes([data[i] ^ 0xFF]) + data[i + 1:])
                for i in sorted(set(_zip_structure(good)) | set(range(0, len(data), 61)))]
    variants += [(f"cut at {n}", data[:n]) for n in (1, 30, len(data) // 2, len(data) - 22, len(data) - 1)]
    failures, refused = [], 0
    for what, content in variants:
        damaged.write_bytes(content)
        try:
            models.load_model(damaged)
        except ValueError as error:
            refused += 1
            if not str(error).startswith(f"Cannot load {damaged}") and \
                    not str(error).startswith(f"Cannot load weights from {damaged}"):
                failures.append(f"{what}: ValueError not naming the file: {error}")
        except Exception as error:  # collect every failure, then report them together
            failures.append(f"{what}: {type(error).__name__}: {error}")
    assert not failures, f"{len(failures)} of {len(variants)} damaged files:\n" + "\n".join(failures[:20])
    assert refused > len(variants) // 2  # the check above would pass if nothing were ever refused


# -- writing: links, permissions, folders, leftovers ---------------------------------------------------------------


@pytest.mark.parametrize("method, name", [("save", "model.keras"), ("save_weights", "model.weights.h5")])
def test_save_writes_through_links(rng, tmp_path, method, name):
    """A chain of relative links to a file in another folder, and a link to a file not there yet."""
    model = dense_stack(rng)
    store = tmp_path / "store"
    store.mkdir()
    (store / name).write_bytes(b"old")
    (tmp_path / f"latest.{name}").symlink_to(os.path.join("store", name))
    (tmp_path / f"current.{name}").symlink_to(f"latest.{name}")
    (tmp_path / f"next.{name}").symlink_to(os.path.join("store", f"next.{name}"))

    getattr(model, method)(tmp_path / f"current.{name}")
    getattr(model, method)(tmp_path / f"next.{name}")
    assert os.readlink(tmp_path / f"current.{name}") == f"latest.{name}"
    assert os.readlink(tmp_path / f"latest.{name}") == os.path.join("store", name)
    assert os.readlink(tmp_path / f"next.{name}") == os.path.join("store", f"next.{name}")
    assert sorted(os.listdir(store)) == sorted([name, f"next.{name}"])  # no temporary left in either folder
    assert sorted(os.listdir(tmp_path)) == sorted(["store", f"latest.{name}", f"current.{name}", f"next.{name}"])
    for path in (store / name, store / f"next.{name}"):
        loaded = dense_stack(rng)
        loaded.load_weights(path)
        for a, b in zip(loaded.get_weights(), model.get_weights(), strict=True):
            np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("mode", [0o600, 0o640, 0o664])
@pytest.mark.parametrize("method, name", [("save", "model.keras"), ("save_weights", "model.weights.h5")])
def test_save_keeps_the_mode_of_the_file_it_replaces(rng, tmp_path, method, name, mode):
    model = dense_stack(rng)
    path = tmp_path / name
    getattr(model, method)(path)
    path.chmod(mode)
    getattr(model, method)(path)
    assert stat.S_IMODE(os.stat(path).st_mode) == mode


@pytest.mark.parametrize("case", ["missing", "a file", "read-only"])
@pytest.mark.parametrize("method, name", [("save", "model.keras"), ("save_weights", "model.weights.h5")])
def test_save_into_an_unusable_folder_names_the_target(rng, tmp_path, monkeypatch, method, name, case):
    model = dense_stack(rng)
    folder = tmp_path / "folder"
    if case == "missing":
        error, reason = FileNotFoundError, f"the folder {folder} does not exist"
    elif case == "a file":
        folder.write_bytes(b"")
        error, reason = NotADirectoryError, f"{folder} is not a folder"
    else:
        folder.mkdir(mode=0o555)
        error, reason = PermissionError, f"the folder {folder} is not writable"
        if os.access(folder, os.W_OK):  # root ignores the mode: refuse as a read-only filesystem would
            real_open = os.open

            def refuse(path, flags, mode=0o777, *, dir_fd=None):
                if flags & os.O_CREAT and os.path.dirname(os.fspath(path)) == str(folder):
                    raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), path)
                return real_open(path, flags, mode, dir_fd=dir_fd)

            monkeypatch.setattr(os, "open", refuse)
    target = folder / name
    with pytest.raises(error, match=rf"^\[Errno \d+\] Cannot save to {re.escape(str(target))}: {re.escape(reason)}") \
            as raised:
        getattr(model, method)(target)
    assert ".tmp" not in str(raised.value)


_STALLED_SAVE = """
import sys
from fastconv import layers, models, saving
model = models.Sequential([layers.Dense(2, input_shape=(3,))], name=sys.argv[2])
write_h5 = saving._write_h5

def stalled(model, h5):  # the save stops half-way until the test says go on (or kills it)
    write_h5(model, h5)
    print("writing", flush=True)
    sys.stdin.readline()

saving._write_h5 = stalled
model.save(sys.argv[1])
"""


def _start_stalled_save(path, model_name):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(pathlib.Path(saving.__file__).parents[1]),
                                                        os.environ.get("PYTHONPATH", "")])}
    process = subprocess.Popen([sys.executable, "-c", _STALLED_SAVE, str(path), model_name], env=env,
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert process.stdout.readline() == "writing\n"
    return process


def _temporaries(folder, name):
    return sorted(p for p in os.listdir(folder) if p.startswith(f".{name}.") and p.endswith(".tmp"))


def _age(folder, names):
    """Date files an hour back: older than ``fastconv.files.STALE_AFTER_S``."""
    for name in names:
        then = time.time() - 3600
        os.utime(folder / name, (then, then))


def test_temporary_of_a_killed_save_is_removed_by_the_next_save(rng, tmp_path):
    path = tmp_path / "model.keras"
    process = _start_stalled_save(path, "killed")
    process.kill()  # kill -9 in the middle of writing
    process.wait()
    left = _temporaries(tmp_path, "model.keras")
    assert len(left) == 1
    (tmp_path / ".other.keras.0123456789ab.tmp").write_bytes(b"another file's")
    (tmp_path / ".model.keras.notes.tmp").write_bytes(b"not a temporary of fastconv's")
    _age(tmp_path, left + [".other.keras.0123456789ab.tmp", ".model.keras.notes.tmp"])

    model = dense_stack(rng)
    model.save(path)
    assert _temporaries(tmp_path, "model.keras") == [".model.keras.notes.tmp"]
    assert sorted(os.listdir(tmp_path)) == [".model.keras.notes.tmp", ".other.keras.0123456789ab.tmp",
                                            "model.keras"]
    assert models.load_model(path).name == model.name


def test_temporary_of_a_live_save_is_kept_however_old(rng, tmp_path):
    """Two processes saving one file: neither removes the other's temporary; the last rename wins, whole."""
    path = tmp_path / "model.keras"
    process = _start_stalled_save(path, "slow_writer")
    try:
        theirs = _temporaries(tmp_path, "model.keras")
        _age(tmp_path, theirs)  # old, but its writer is alive and holds its lock
        dense_stack(rng).save(path)
        assert _temporaries(tmp_path, "model.keras") == theirs
        process.stdin.write("go on\n")
        process.stdin.flush()
        assert process.wait(timeout=60) == 0
    finally:
        process.kill()
    assert models.load_model(path).name == "slow_writer"
    assert os.listdir(tmp_path) == ["model.keras"]


def test_temporary_of_a_killed_save_is_kept_while_young(rng, tmp_path):
    """The age covers the instant between creating a temporary and locking it."""
    path = tmp_path / "model.keras"
    process = _start_stalled_save(path, "killed")
    process.kill()
    process.wait()
    left = _temporaries(tmp_path, "model.keras")
    dense_stack(rng).save(path)
    assert _temporaries(tmp_path, "model.keras") == left


# -- structure --------------------------------------------------------------------------------------------------------

FASTCONV = pathlib.Path(saving.__file__).parent


def _imported_modules(tree):
    """Every module a file imports, at any depth (``from fastconv import models`` counts as ``fastconv.models``)."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def test_saving_knows_no_model_classes_and_imports_run_one_way():
    """Model structure lives in models.py; saving.py reads and writes files through models' public methods."""
    saving_tree = ast.parse((FASTCONV / "saving.py").read_text())
    assert "fastconv.models" not in _imported_modules(saving_tree)
    assert "fastconv.saving" in _imported_modules(ast.parse((FASTCONV / "models.py").read_text()))
    private = sorted({node.attr for node in ast.walk(saving_tree)
                      if isinstance(node, ast.Attribute) and node.attr.startswith("_")
                      and not node.attr.endswith("__")})
    assert private == []


def test_one_atomic_write_helper():
    """Renames and fsyncs happen only in fastconv/files.py, which saving and datasets both use."""
    calls = {}
    for path in sorted(FASTCONV.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "os" \
                    and node.attr in ("replace", "rename", "fsync"):
                calls.setdefault(path.relative_to(FASTCONV).as_posix(), set()).add(node.attr)
    assert set(calls) == {"files.py"}
    for user in ("saving.py", "datasets.py"):
        assert "fastconv.files.atomic_write" in _imported_modules(ast.parse((FASTCONV / user).read_text()))


def test_one_place_for_the_skipping_variable_loading_warning():
    holders = sorted(path.relative_to(FASTCONV).as_posix() for path in FASTCONV.rglob("*.py")
                     if "Skipping variable loading" in path.read_text())
    assert holders == ["optimizers.py"]


def test_json_architecture_moves_both_ways_and_clones_have_fresh_weights():
    from fastconv import keras as fk
    ours = textbook_cnn(fk.layers, fk.Sequential)
    theirs = keras.models.model_from_json(ours.to_json())
    assert [type(layer).__name__ for layer in theirs.layers] == [type(layer).__name__ for layer in ours.layers]
    assert theirs.count_params() == ours.count_params()
    back = fk.models.model_from_json(textbook_cnn(keras.layers, keras.Sequential).to_json(indent=2))
    assert json.loads(back.to_json())["config"]["layers"][1]["config"]["filters"] == 32
    clone = fk.models.clone_model(ours)
    assert clone.get_config() == ours.get_config()
    assert all(a is not b for a, b in zip(clone.layers, ours.layers))
    assert [w.shape for w in clone.weights] == [w.shape for w in ours.weights]
    assert any((a != b).any() for a, b in zip(clone.get_weights(), ours.get_weights()))  # newly initialized
    with pytest.raises(NotImplementedError, match="clone_function"):
        fk.models.clone_model(ours, clone_function=lambda layer: layer)


def test_clone_model_is_compiled_as_the_model_is_as_keras():
    from fastconv import keras as fk

    model = fk.Sequential([fk.Input((3,)), fk.layers.Dense(1)])
    model.compile(optimizer="adam", loss="mse", metrics=["mae"])
    clone = fk.models.clone_model(model)
    history = clone.fit(np.ones((4, 3)), np.ones((4, 1)), verbose=0).history
    assert sorted(history) == ["loss", "mae"] and type(clone.optimizer).__name__ == "Adam"
    assert clone.optimizer is not model.optimizer
    assert not fk.models.clone_model(fk.Sequential([fk.Input((3,)), fk.layers.Dense(1)])).compiled
