"""Legacy HDF5 model files (``.h5``): real Keras 3 to fastconv, fastconv to real Keras 3, and Keras 2 files.

Real Keras runs on its torch backend (``keras_reference``) and writes its
``.h5`` files in the tests. There is no TensorFlow here, so the Keras 2 /
tf.keras files are written with h5py in the layout tf.keras writes
(``keras_version`` 2.x, ``batch_input_shape``, initializers without
``module``, ``inbound_nodes`` as ``[[["name", 0, 0, {}]]]``, weight names
``conv2d/kernel:0``, tf.keras's optimizer configs and slots), with the weights
of a model built in real Keras, so that the predictions have a reference.
"""

import json
import os
import warnings

import h5py
import numpy as np
import pytest

from fastconv import keras as fastconv_keras
from fastconv import layers, legacy_h5, models
from fastconv.models import Model, Sequential
from keras_reference import keras
from models_for_both import small_functional, textbook_cnn, two_heads

pytestmark = pytest.mark.filterwarnings(
    "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning",  # inside Keras's torch backend
    "ignore:Do not pass an `input_shape`:UserWarning",  # Keras's advice on the textbook's `input_shape=`
    "ignore:You are saving your model as an HDF5 file:UserWarning",  # fastconv's legacy-format warning (tested once)
)

RNG = np.random.default_rng(11)
X = RNG.random((16, 28, 28, 1), dtype=np.float32)
Y = RNG.integers(0, 10, 16)


def optimizer_arrays(optimizer):
    return [np.asarray(v.numpy()) for v in optimizer.variables]


def saved_optimizer_arrays(path):
    """The arrays of a legacy file's ``optimizer_weights``, in the order its ``weight_names`` lists them."""
    with h5py.File(path) as h5:
        group = h5["optimizer_weights"]
        return [np.asarray(group[name]) for name in group.attrs["weight_names"]]


def set_dropout_rate(model, rate):
    """Both libraries read a Dropout's rate when called: with 0, a training step is the same in both."""
    for layer in model.layers:
        if type(layer).__name__ == "Dropout":
            layer.rate = rate


# -- Keras 2 / tf.keras files, written as tf.keras writes them ------------------------------------------------


def k2_initializer(class_name, **config):
    return {"class_name": class_name, "config": config}


def k2_layer(class_name, name, batch_input_shape=None, **config):
    """A tf.keras 2 layer entry: `dtype` a plain string, `batch_input_shape` on a model's first layer."""
    layer_config = {"name": name, "trainable": True, "dtype": "float32"}
    if batch_input_shape is not None:
        layer_config["batch_input_shape"] = list(batch_input_shape)
    layer_config.update(config)
    return {"class_name": class_name, "config": layer_config}


def k2_input(name, batch_input_shape):
    return {"class_name": "InputLayer", "config": {"batch_input_shape": list(batch_input_shape), "dtype": "float32",
                                                   "sparse": False, "ragged": False, "name": name}}


def k2_conv(name, filters, batch_input_shape=None, activation="relu", padding="valid"):
    return k2_layer("Conv2D", name, batch_input_shape, filters=filters, kernel_size=[3, 3], strides=[1, 1],
                    padding=padding, data_format="channels_last", dilation_rate=[1, 1], groups=1,
                    activation=activation, use_bias=True, kernel_initializer=k2_initializer("GlorotUniform", seed=None),
                    bias_initializer=k2_initializer("Zeros"), kernel_regularizer=None, bias_regularizer=None,
                    activity_regularizer=None, kernel_constraint=None, bias_constraint=None)


def k2_dense(name, units, activation="linear", batch_input_shape=None):
    return k2_layer("Dense", name, batch_input_shape, units=units, activation=activation, use_bias=True,
                    kernel_initializer=k2_initializer("GlorotUniform", seed=None),
                    bias_initializer=k2_initializer("Zeros"), kernel_regularizer=None, bias_regularizer=None,
                    activity_regularizer=None, kernel_constraint=None, bias_constraint=None)


def k2_pool(name):
    return k2_layer("MaxPooling2D", name, pool_size=[2, 2], padding="valid", strides=[2, 2],
                    data_format="channels_last")


def k2_flatten(name):
    return k2_layer("Flatten", name, data_format="channels_last")


def k2_dropout(name, rate):
    return k2_layer("Dropout", name, rate=rate, noise_shape=None, seed=None)


def k2_batch_norm(name, axis):
    return k2_layer("BatchNormalization", name, axis=[axis], momentum=0.99, epsilon=0.001, center=True, scale=True,
                    beta_initializer=k2_initializer("Zeros"), gamma_initializer=k2_initializer("Ones"),
                    moving_mean_initializer=k2_initializer("Zeros"),
                    moving_variance_initializer=k2_initializer("Ones"), beta_regularizer=None,
                    gamma_regularizer=None, beta_constraint=None, gamma_constraint=None)


def k2_graph(layers_and_inputs, name="model", class_name="Functional"):
    """A tf.keras 2 functional config: each entry ``(layer, inbound layer name or None)``."""
    entries = []
    for layer, inbound in layers_and_inputs:
        entry = {**layer, "name": layer["config"]["name"],
                 "inbound_nodes": [] if inbound is None else [[[inbound, 0, 0, {}]]]}
        entries.append(entry)
    first, last = entries[0]["name"], entries[-1]["name"]
    return {"class_name": class_name, "config": {"name": name, "layers": entries, "input_layers": [[first, 0, 0]],
                                                 "output_layers": [[last, 0, 0]]}}


# tf.keras < 2.11 (OptimizerV2): `decay`, and slots named `Adam/<weight>/m:0`, all m then all v.
K2_ADAM = {"class_name": "Adam", "config": {"name": "Adam", "learning_rate": 0.001, "decay": 0.0, "beta_1": 0.9,
                                            "beta_2": 0.999, "epsilon": 1e-07, "amsgrad": False}}
# tf.keras 2.11-2.15: the optimizer registered as `Custom>Adam`, with `jit_compile` and `is_legacy_optimizer`.
K211_ADAM = {"class_name": "Custom>Adam", "config": {
    "name": "Adam", "weight_decay": None, "clipnorm": None, "global_clipnorm": None, "clipvalue": None,
    "use_ema": False, "ema_momentum": 0.99, "ema_overwrite_frequency": None, "jit_compile": False,
    "is_legacy_optimizer": False, "learning_rate": 0.0010000000474974513, "beta_1": 0.9, "beta_2": 0.999,
    "epsilon": 1e-07, "amsgrad": False}}
K2_TRAINING = {"loss": "sparse_categorical_crossentropy", "metrics": ["acc"], "weighted_metrics": None,
               "loss_weights": None, "sample_weight_mode": None, "optimizer_config": K2_ADAM}
K211_TRAINING = {
    "loss": {"class_name": "SparseCategoricalCrossentropy", "config": {
        "reduction": "auto", "name": "sparse_categorical_crossentropy", "from_logits": False, "ignore_class": None}},
    "metrics": [[{"class_name": "MeanMetricWrapper", "config": {"name": "accuracy", "dtype": "float32",
                                                                "fn": "sparse_categorical_accuracy"}}]],
    "weighted_metrics": None, "loss_weights": None, "optimizer_config": K211_ADAM}


def write_keras2_weights(group, layer_weights, layer_names):
    """tf.keras's ``save_weights_to_hdf5_group``: names as bytes, groups sorted, datasets at ``<layer>/<w>:0``."""
    group.attrs["layer_names"] = [name.encode("utf8") for name in layer_names]
    group.attrs["backend"] = b"tensorflow"
    group.attrs["keras_version"] = b"2.12.0"
    for name in sorted(layer_names):
        layer_group = group.create_group(name)
        weights = layer_weights.get(name, [])
        weight_names = [f"{name}/{w}:0".encode("utf8") for w, _ in weights]
        layer_group.attrs["weight_names"] = weight_names
        for weight_name, (_, value) in zip(weight_names, weights):
            layer_group.create_dataset(weight_name, data=value)


def write_keras2_file(path, model_config, layer_weights, layer_names, training_config=None, optimizer=True):
    """A tf.keras 2 ``model.save("x.h5")`` file. ``layer_weights``: ``{layer: [(weight name, array), ...]}``."""
    with h5py.File(path, "w") as h5:
        h5.attrs["keras_version"] = "2.12.0"
        h5.attrs["backend"] = "tensorflow"
        h5.attrs["model_config"] = json.dumps(model_config).encode("utf8")
        if training_config is not None:
            h5.attrs["training_config"] = json.dumps(training_config).encode("utf8")
        write_keras2_weights(h5.create_group("model_weights"), layer_weights, layer_names)
        if training_config is not None and optimizer:
            # OptimizerV2's slots: the iteration count, then every m, then every v (1 + 2n variables).
            group = h5.create_group("optimizer_weights")
            slots = [(f"{layer}/{w}", value) for layer in layer_names for w, value in layer_weights.get(layer, [])]
            names = ["Adam/iter:0"] + [f"Adam/{w}/{s}:0" for s in ("m", "v") for w, _ in slots]
            group.attrs["weight_names"] = [n.encode("utf8") for n in names]
            group.create_dataset(names[0], data=np.int64(7))
            for name, (_, value) in zip(names[1:], slots + slots):
                group.create_dataset(name, data=np.full_like(value, 0.01))
    return path


def keras_layer_weights(keras_model, names=("kernel", "bias")):
    """``{layer name: [(weight name, array)]}`` of a real Keras model's layers, for a Keras 2 file."""
    weights = {}
    for layer in keras_model.layers:
        arrays = layer.get_weights()
        if arrays:
            if type(layer).__name__ == "BatchNormalization":
                names_here = ("gamma", "beta", "moving_mean", "moving_variance")
            else:
                names_here = names
            weights[layer.name] = list(zip(names_here, arrays, strict=True))
    return weights


def keras_cnn_for_keras2_file():
    """A small CNN in real Keras whose weights the Keras 2 files carry (layer names as tf.keras numbers them)."""
    keras_model = keras.Sequential([
        keras.Input((28, 28, 1)),
        keras.layers.Conv2D(4, 3, activation="relu", name="conv2d"),
        keras.layers.MaxPooling2D(2, name="max_pooling2d"),
        keras.layers.Flatten(name="flatten"),
        keras.layers.Dense(16, activation="relu", name="dense"),
        keras.layers.Dropout(0.5, name="dropout"),
        keras.layers.Dense(10, activation="softmax", name="dense_1"),
    ])
    keras_model.set_weights([RNG.standard_normal(w.shape).astype(np.float32) * 0.1 for w in keras_model.weights])
    return keras_model


def keras2_cnn_layers(first_batch_input_shape):
    return [k2_conv("conv2d", 4, batch_input_shape=first_batch_input_shape), k2_pool("max_pooling2d"),
            k2_flatten("flatten"), k2_dense("dense", 16, "relu"), k2_dropout("dropout", 0.5),
            k2_dense("dense_1", 10, "softmax")]


CNN_LAYER_NAMES = ["conv2d", "max_pooling2d", "flatten", "dense", "dropout", "dense_1"]


def keras2_functional():
    """A real Keras functional model and the tf.keras 2 config of the same graph (old nodes, `axis: [3]`)."""
    inputs = keras.Input((8, 8, 3), name="input_1")
    h = keras.layers.Conv2D(4, 3, name="conv2d")(inputs)
    h = keras.layers.BatchNormalization(name="batch_normalization")(h)
    h = keras.layers.Flatten(name="flatten")(h)
    keras_model = keras.Model(inputs, keras.layers.Dense(3, activation="softmax", name="dense")(h))
    # Non-trivial moving statistics, so that swapping or skipping the non-trainable weights shows.
    keras_model.set_weights([RNG.standard_normal(w.shape).astype(np.float32) * 0.1 + ("variance" in w.path)
                             for w in keras_model.weights])
    graph = [(k2_input("input_1", (None, 8, 8, 3)), None), (k2_conv("conv2d", 4, activation="linear"), "input_1"),
             (k2_batch_norm("batch_normalization", 3), "conv2d"), (k2_flatten("flatten"), "batch_normalization"),
             (k2_dense("dense", 3, "softmax"), "flatten")]
    return keras_model, graph, ["input_1", "conv2d", "batch_normalization", "flatten", "dense"]


# -- fixtures: files real Keras wrote -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def keras_cnn_h5(tmp_path_factory):
    """The textbook CNN trained two steps in real Keras and saved with `model.save("cnn.h5")`."""
    keras.utils.set_random_seed(1)
    keras_model = textbook_cnn(keras.layers, keras.Sequential)
    keras_model.fit(X, Y, batch_size=8, epochs=1, verbose=0, shuffle=False)
    path = tmp_path_factory.mktemp("keras") / "cnn.h5"
    keras_model.save(path)
    return keras_model, path


# -- real Keras -> fastconv ------------------------------------------------------------------------------------


def test_fastconv_loads_keras_h5_with_weights_and_optimizer(keras_cnn_h5):
    keras_model, path = keras_cnn_h5
    with h5py.File(path) as h5:  # the file is what the issue is about: a whole model in the legacy layout
        assert {"model_config", "training_config", "keras_version"} <= set(h5.attrs)
        assert {"model_weights", "optimizer_weights"} <= set(h5)
    loaded = fastconv_keras.models.load_model(path)

    assert isinstance(loaded, Sequential)
    assert [layer.name for layer in loaded.layers] == [layer.name for layer in keras_model.layers]
    for ours, theirs in zip(loaded.get_weights(), keras_model.get_weights(), strict=True):
        np.testing.assert_array_equal(ours, np.asarray(theirs))
    np.testing.assert_allclose(loaded.predict(X, verbose=0), keras_model.predict(X, verbose=0), rtol=1e-5, atol=1e-6)
    assert type(loaded.optimizer).__name__ == "Adam"
    assert loaded.optimizer.get_config()["learning_rate"] == pytest.approx(0.001)
    assert int(loaded.optimizer.iterations.numpy()) == 2
    for ours, theirs in zip(optimizer_arrays(loaded.optimizer), optimizer_arrays(keras_model.optimizer), strict=True):
        np.testing.assert_array_equal(ours, theirs)
    assert loaded._metric_identifiers == ["accuracy"]
    loss, accuracy = loaded.evaluate(X, Y, verbose=0)
    keras_loss, keras_accuracy = keras_model.evaluate(X, Y, verbose=0)
    assert loss == pytest.approx(keras_loss, rel=1e-5) and accuracy == keras_accuracy


def test_training_continues_from_keras_h5_as_in_keras(tmp_path):
    """One more step from the restored Adam state gives Keras's next step (dropout off in both: no masks).

    Keras's next step is taken by the model that wrote the file: Keras 3.15 on torch cannot train a model it
    loaded from `.h5` (its optimizer is built for other variables)."""
    keras.utils.set_random_seed(4)
    theirs = textbook_cnn(keras.layers, keras.Sequential)
    theirs.fit(X, Y, batch_size=8, epochs=1, verbose=0, shuffle=False)
    theirs.save(tmp_path / "cnn.h5")
    ours = models.load_model(tmp_path / "cnn.h5")
    for model in (ours, theirs):
        set_dropout_rate(model, 0.0)
    ours_loss = ours.train_on_batch(X[:8], Y[:8])[0]
    theirs_loss = theirs.train_on_batch(X[:8], Y[:8])[0]
    assert ours_loss == pytest.approx(float(theirs_loss), rel=1e-5)
    assert int(ours.optimizer.iterations.numpy()) == int(theirs.optimizer.iterations.numpy()) == 3
    for mine, reference in zip(ours.get_weights(), theirs.get_weights(), strict=True):
        np.testing.assert_allclose(mine, np.asarray(reference), rtol=2e-4, atol=2e-6)
    for mine, reference in zip(optimizer_arrays(ours.optimizer)[2:], optimizer_arrays(theirs.optimizer)[2:],
                               strict=True):
        np.testing.assert_allclose(mine, reference, rtol=2e-4, atol=2e-7)


def test_fastconv_loads_keras_functional_h5(tmp_path):
    x = RNG.random((6, 8, 8, 3), dtype=np.float32)
    y = RNG.integers(0, 3, 6)
    keras.utils.set_random_seed(2)
    keras_model = small_functional(keras.layers, keras.Model)
    keras_model.compile(optimizer=keras.optimizers.SGD(0.1, momentum=0.9), loss="sparse_categorical_crossentropy")
    keras_model.fit(x, y, batch_size=3, epochs=2, verbose=0, shuffle=False)
    keras_model.save(tmp_path / "functional.h5")

    ours = models.load_model(tmp_path / "functional.h5")
    assert isinstance(ours, Model) and not isinstance(ours, Sequential)
    for mine, reference in zip(ours.get_weights(), keras_model.get_weights(), strict=True):
        np.testing.assert_array_equal(mine, np.asarray(reference))  # moving mean and variance included
    np.testing.assert_allclose(ours.predict(x, verbose=0), keras_model.predict(x, verbose=0), rtol=1e-5, atol=1e-6)
    assert type(ours.optimizer).__name__ == "SGD" and ours.optimizer.get_config()["momentum"] == 0.9
    assert int(ours.optimizer.iterations.numpy()) == 4
    for mine, reference in zip(optimizer_arrays(ours.optimizer), optimizer_arrays(keras_model.optimizer),
                               strict=True):
        np.testing.assert_array_equal(mine, reference)


def test_keras_model_with_branches_loads_by_keras_layer_order(tmp_path):
    """Uncompiled, two heads at different depths; Keras does not compile it, and says so."""
    x = RNG.random((4, 5), dtype=np.float32)
    keras_model = two_heads(keras.layers, keras.Model)
    keras_model.save(tmp_path / "heads.h5")
    with pytest.warns(UserWarning, match=r"No training configuration found in the save file, so the model was "
                                         r"\*not\* compiled. Compile it manually."):
        ours = models.load_model(tmp_path / "heads.h5")
    assert not ours.compiled
    for a, b in zip(ours.predict(x, verbose=0), keras_model.predict(x, verbose=0), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_load_weights_from_keras_h5(keras_cnn_h5):
    """`model.load_weights("x.h5")` takes the weights of a whole-model file, by position: any layer names."""
    keras_model, path = keras_cnn_h5
    textbook_cnn(layers, Sequential)  # a first model, so that the second's layer names carry counters
    ours = textbook_cnn(layers, Sequential)
    assert [layer.name for layer in ours.layers] != [layer.name for layer in keras_model.layers]
    ours.load_weights(path)
    for mine, reference in zip(ours.get_weights(), keras_model.get_weights(), strict=True):
        np.testing.assert_array_equal(mine, np.asarray(reference))
    assert int(ours.optimizer.iterations.numpy()) == 0  # weights only, as Keras's legacy loader


def test_compile_false_leaves_the_model_uncompiled(keras_cnn_h5):
    keras_model, path = keras_cnn_h5
    loaded = models.load_model(path, compile=False)
    assert not loaded.compiled and loaded.optimizer is None
    np.testing.assert_allclose(loaded.predict(X[:4], verbose=0), keras_model.predict(X[:4], verbose=0),
                               rtol=1e-5, atol=1e-6)


# -- fastconv -> real Keras -------------------------------------------------------------------------------------


def test_keras_loads_fastconv_h5(tmp_path):
    fastconv_keras.utils.set_random_seed(3)
    model = textbook_cnn(layers, Sequential)
    model.fit(X, Y, batch_size=8, epochs=1, verbose=0, shuffle=False)
    path = tmp_path / "cnn.h5"
    with pytest.warns(UserWarning, match=r"^You are saving your model as an HDF5 file via `model.save\(\)` or "
                                         r"`keras.saving.save_model\(model\)`. This file format is considered legacy."):
        model.save(path)
    assert os.listdir(tmp_path) == ["cnn.h5"]  # written beside and renamed: no temporary left

    theirs = keras.models.load_model(path)
    np.testing.assert_allclose(theirs.predict(X, verbose=0), model.predict(X, verbose=0), rtol=1e-5, atol=1e-6)
    assert type(theirs.optimizer).__name__ == "Adam"
    assert theirs.loss.__name__ == "sparse_categorical_crossentropy"  # Keras turns the name into its function
    assert int(theirs.optimizer.iterations.numpy()) == int(model.optimizer.iterations.numpy()) == 2
    # Keras 3.15 on torch builds the loaded optimizer for no variables and so restores only the iteration count and
    # the learning rate; the file holds all of the state, in Keras's order.
    for mine, saved in zip(optimizer_arrays(model.optimizer), saved_optimizer_arrays(path), strict=True):
        np.testing.assert_array_equal(mine, saved)

    back = models.load_model(path)  # and fastconv reads its own file
    np.testing.assert_array_equal(back.predict(X, verbose=0), model.predict(X, verbose=0))
    for mine, reference in zip(optimizer_arrays(model.optimizer), optimizer_arrays(back.optimizer), strict=True):
        np.testing.assert_array_equal(mine, reference)
    assert back.get_config() == model.get_config()


def test_keras3_h5_with_hard_sigmoid_loads_both_ways(tmp_path):
    # Only Keras 2's hard_sigmoid (another formula) is refused: Keras 3's files, and fastconv's, have Keras 3's.
    x = np.linspace(-4, 4, 12, dtype=np.float32).reshape(4, 3)
    theirs = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, activation="hard_sigmoid")])
    theirs.save(tmp_path / "keras3.h5")
    np.testing.assert_allclose(models.load_model(tmp_path / "keras3.h5").predict(x, verbose=0),
                               theirs.predict(x, verbose=0), rtol=1e-6, atol=1e-7)
    ours = Sequential([layers.Input((3,)), layers.Dense(2, activation="hard_sigmoid")])
    with pytest.warns(UserWarning, match="legacy"):
        ours.save(tmp_path / "fastconv.h5")
    np.testing.assert_array_equal(models.load_model(tmp_path / "fastconv.h5").predict(x, verbose=0),
                                  ours.predict(x, verbose=0))


def test_fastconv_h5_has_keras_layout(keras_cnn_h5, tmp_path):
    """The attributes, groups and per-layer weight shapes Keras writes for the same model."""
    model = textbook_cnn(layers, Sequential)
    model.fit(X[:8], Y[:8], batch_size=8, epochs=1, verbose=0)
    model.save(tmp_path / "ours.h5")

    def layout(path):
        with h5py.File(path) as h5:
            group = h5["model_weights"]
            per_layer = [[group[name][w].shape for w in group[name].attrs["weight_names"]]
                         for name in group.attrs["layer_names"]]
            optimizer = [h5["optimizer_weights"][w].shape for w in h5["optimizer_weights"].attrs["weight_names"]]
            return (set(h5.attrs) - {"saved_by"}, set(h5), set(group.attrs), per_layer, optimizer,
                    sorted(json.loads(h5.attrs["training_config"])))

    assert layout(tmp_path / "ours.h5") == layout(keras_cnn_h5[1])
    with h5py.File(tmp_path / "ours.h5") as h5:
        assert h5.attrs["saved_by"].startswith("fastconv ")
        assert list(h5["model_weights"].attrs["layer_names"]) == [layer.name for layer in model.layers]


def test_keras_loads_fastconv_functional_h5(tmp_path):
    x = RNG.random((6, 8, 8, 3), dtype=np.float32)
    model = small_functional(layers, Model)
    model.compile(optimizer="rmsprop", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x, RNG.integers(0, 3, 6), batch_size=3, epochs=1, verbose=0)
    model.save(tmp_path / "functional.hdf5")
    theirs = keras.models.load_model(tmp_path / "functional.hdf5")
    np.testing.assert_allclose(theirs.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-5, atol=1e-6)
    assert type(theirs.optimizer).__name__ == "RMSprop"
    assert int(theirs.optimizer.iterations.numpy()) == int(model.optimizer.iterations.numpy()) == 2
    for mine, saved in zip(optimizer_arrays(model.optimizer), saved_optimizer_arrays(tmp_path / "functional.hdf5"),
                           strict=True):
        np.testing.assert_array_equal(mine, saved)

    heads = two_heads(layers, Model)
    heads.save(tmp_path / "heads.h5")
    theirs = keras.models.load_model(tmp_path / "heads.h5")
    vectors = RNG.random((4, 5), dtype=np.float32)
    for a, b in zip(theirs.predict(vectors, verbose=0), heads.predict(vectors, verbose=0), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_long_name_lists_are_split_as_keras_splits_them(tmp_path, monkeypatch):
    """Name lists over the HDF5 header limit go to `layer_names0`, `layer_names1`, ...; Keras joins them again."""
    model = textbook_cnn(layers, Sequential)
    monkeypatch.setattr(legacy_h5, "HDF5_OBJECT_HEADER_LIMIT", 48)
    model.save(tmp_path / "split.h5")
    with h5py.File(tmp_path / "split.h5") as h5:
        assert "layer_names" not in h5["model_weights"].attrs and "layer_names1" in h5["model_weights"].attrs
    theirs = keras.models.load_model(tmp_path / "split.h5")
    ours = models.load_model(tmp_path / "split.h5")
    np.testing.assert_allclose(theirs.predict(X[:2], verbose=0), model.predict(X[:2], verbose=0), rtol=1e-5,
                               atol=1e-6)
    np.testing.assert_array_equal(ours.predict(X[:2], verbose=0), model.predict(X[:2], verbose=0))


def test_crash_mid_save_keeps_the_previous_file(tmp_path, monkeypatch):
    """A save that fails (here while writing the weights) leaves the previous file whole, and no temporary."""
    model = textbook_cnn(layers, Sequential)
    path = tmp_path / "best.h5"
    model.save(path)
    before = path.read_bytes()

    def fail(group, model):
        raise OSError("No space left on device")

    monkeypatch.setattr(legacy_h5, "_write_model_weights", fail)
    with pytest.raises(OSError, match="No space left"):
        model.save(path)
    assert path.read_bytes() == before and os.listdir(tmp_path) == ["best.h5"]
    monkeypatch.undo()
    with pytest.raises(FileExistsError):
        model.save(path, overwrite=False)


# -- Keras 2 / tf.keras files ----------------------------------------------------------------------------------


# Keras 2.2.4 wrote a Sequential's config as its layer list alone, and its Adam without a name, with `lr`.
KERAS224_ADAM = {"class_name": "Adam", "config": {"lr": 0.0010000000474974513, "beta_1": 0.8999999761581421,
                                                  "beta_2": 0.9990000128746033, "decay": 0.0, "epsilon": 1e-07,
                                                  "amsgrad": False}}


@pytest.mark.parametrize("keras_version", ["tf.keras 2.10", "keras 2.2.4"])
def test_keras2_sequential_with_batch_input_shape_on_its_first_layer(tmp_path, keras_version):
    """Old Sequential models: no InputLayer, `batch_input_shape` on the first layer (Keras 3 itself misreads it
    as a 5-D input); OptimizerV2 Adam with `decay`, whose slots Keras 3's Adam cannot take."""
    keras_model = keras_cnn_for_keras2_file()
    layers_config = keras2_cnn_layers((None, 28, 28, 1))
    if keras_version == "keras 2.2.4":
        # Keras 2.2's he_normal: VarianceScaling with distribution "normal" (the truncated normal).
        layers_config[0]["config"]["kernel_initializer"] = k2_initializer(
            "VarianceScaling", scale=2.0, mode="fan_in", distribution="normal", seed=None)
        config = {"class_name": "Sequential", "config": layers_config}
        training = {**K2_TRAINING, "optimizer_config": KERAS224_ADAM}
    else:
        config = {"class_name": "Sequential", "config": {"name": "sequential", "layers": layers_config}}
        training = K2_TRAINING
    path = write_keras2_file(tmp_path / "old.h5", config, keras_layer_weights(keras_model), CNN_LAYER_NAMES,
                             training)
    with pytest.warns(UserWarning, match=r"^Error in loading the saved optimizer state. As a result, your model is "
                                         r"starting with a freshly initialized optimizer.") as record:
        loaded = models.load_model(path)
    assert not [w for w in record if "decay" in str(w.message)]  # `decay: 0.0` is no decay: nothing to warn about
    assert loaded.inputs[0].shape == (None, 28, 28, 1)
    assert [layer.name for layer in loaded.layers] == CNN_LAYER_NAMES
    np.testing.assert_allclose(loaded.predict(X, verbose=0), keras_model.predict(X, verbose=0), rtol=1e-5, atol=1e-6)
    assert type(loaded.optimizer).__name__ == "Adam"
    assert loaded.optimizer.get_config()["learning_rate"] == pytest.approx(0.001)
    assert loaded.optimizer.get_config()["beta_1"] == pytest.approx(0.9)
    assert int(loaded.optimizer.iterations.numpy()) == 0  # nothing half-restored (Keras 3 sets it to 7)
    assert all(not np.any(v) for v in optimizer_arrays(loaded.optimizer)[2:])
    history = loaded.fit(X, Y, batch_size=8, epochs=1, verbose=0)
    assert set(history.history) == {"loss", "acc"}


def test_keras211_sequential_with_input_layer_and_new_optimizer_config(tmp_path):
    """tf.keras 2.11+: an InputLayer with `batch_input_shape`, `Custom>Adam` with `jit_compile`, a loss object
    with `reduction="auto"` and metrics nested per output. Real Keras 3 reads the architecture and weights (its
    compile fails on `reduction="auto"`); fastconv reads all of it."""
    keras_model = keras_cnn_for_keras2_file()
    config = {"class_name": "Sequential", "config": {"name": "sequential", "layers": [
        k2_input("conv2d_input", (None, 28, 28, 1))] + keras2_cnn_layers((None, 28, 28, 1))}}
    path = write_keras2_file(tmp_path / "tf211.h5", config, keras_layer_weights(keras_model), CNN_LAYER_NAMES,
                             K211_TRAINING, optimizer=False)
    reference = keras.models.load_model(path, compile=False)
    np.testing.assert_allclose(reference.predict(X, verbose=0), keras_model.predict(X, verbose=0), atol=1e-6)

    loaded = models.load_model(path)
    np.testing.assert_allclose(loaded.predict(X, verbose=0), keras_model.predict(X, verbose=0), rtol=1e-5, atol=1e-6)
    assert loaded.optimizer.get_config()["learning_rate"] == pytest.approx(0.001)
    assert loaded.loss.get_config()["reduction"] == "sum_over_batch_size"
    keras_model.compile(loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    logs = loaded.evaluate(X, Y, verbose=0, return_dict=True)
    assert logs == pytest.approx(keras_model.evaluate(X, Y, verbose=0, return_dict=True), rel=1e-5)


@pytest.mark.parametrize("class_name", ["Functional", "Model"])  # tf.keras >= 2.4 and older
def test_keras2_functional_with_old_inbound_nodes(tmp_path, class_name):
    keras_model, graph, names = keras2_functional()
    config = k2_graph(graph, class_name=class_name)
    path = write_keras2_file(tmp_path / "functional.h5", config, keras_layer_weights(keras_model), names,
                             K2_TRAINING, optimizer=False)
    x = RNG.random((5, 8, 8, 3), dtype=np.float32)
    reference = keras.models.load_model(path, compile=False)  # the file is one Keras 3 reads
    np.testing.assert_allclose(reference.predict(x, verbose=0), keras_model.predict(x, verbose=0), atol=1e-6)

    loaded = models.load_model(path)
    assert isinstance(loaded, Model) and not isinstance(loaded, Sequential)
    assert loaded.get_layer("batch_normalization").axis == 3
    prediction = loaded.predict(x, verbose=0)
    assert isinstance(prediction, np.ndarray)  # one output, as in Keras 2 and 3: not a list of one
    np.testing.assert_allclose(prediction, keras_model.predict(x, verbose=0), rtol=1e-5, atol=1e-6)
    for mine, reference in zip(loaded.get_weights(), keras_model.get_weights(), strict=True):
        np.testing.assert_array_equal(mine, np.asarray(reference))
    assert loaded.compiled and type(loaded.optimizer).__name__ == "Adam"


def test_keras2_weights_file_loads_with_load_weights(tmp_path):
    """tf.keras's `save_weights("x.h5")`: the `model_weights` content at the file's root."""
    keras_model = keras_cnn_for_keras2_file()
    with h5py.File(tmp_path / "weights.h5", "w") as h5:
        write_keras2_weights(h5, keras_layer_weights(keras_model), CNN_LAYER_NAMES)
    ours = Sequential([layers.Input((28, 28, 1)), layers.Conv2D(4, 3, activation="relu"), layers.MaxPooling2D(2),
                       layers.Flatten(), layers.Dense(16, activation="relu"), layers.Dropout(0.5),
                       layers.Dense(10, activation="softmax")])
    ours.load_weights(tmp_path / "weights.h5")
    np.testing.assert_allclose(ours.predict(X, verbose=0), keras_model.predict(X, verbose=0), rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match=rf"No model config found in the file at {tmp_path / 'weights.h5'}"):
        models.load_model(tmp_path / "weights.h5")


def test_keras2_file_saved_again_opens_in_keras(tmp_path):
    """Loaded from Keras 2's layout, saved by fastconv in Keras 3's: real Keras 3 then compiles it too."""
    keras_model, graph, names = keras2_functional()
    path = write_keras2_file(tmp_path / "k2.h5", k2_graph(graph), keras_layer_weights(keras_model), names,
                             K211_TRAINING, optimizer=False)
    models.load_model(path).save(tmp_path / "k3.h5")
    theirs = keras.models.load_model(tmp_path / "k3.h5")
    x = RNG.random((3, 8, 8, 3), dtype=np.float32)
    np.testing.assert_allclose(theirs.predict(x, verbose=0), keras_model.predict(x, verbose=0), rtol=1e-5,
                               atol=1e-6)
    assert theirs.compiled and type(theirs.optimizer).__name__ == "Adam"


# -- errors --------------------------------------------------------------------------------------------------------


def test_save_weights_to_h5_is_refused_as_in_keras(keras_cnn_h5, tmp_path):
    keras_model, _ = keras_cnn_h5
    model = textbook_cnn(layers, Sequential)
    for bad in (tmp_path / "w.h5", tmp_path / "w.hdf5"):
        with pytest.raises(ValueError) as ours:
            model.save_weights(bad)
        with pytest.raises(ValueError) as theirs:
            keras_model.save_weights(bad)
        expected = f"The filename must end in `.weights.h5`. Received: filepath={bad}"
        assert str(ours.value) == str(theirs.value) == expected
    assert os.listdir(tmp_path) == []


def test_files_that_are_not_models_raise_value_error_naming_them(keras_cnn_h5, tmp_path):
    missing = tmp_path / "missing.h5"
    with pytest.raises(ValueError, match=f"File not found: filepath={missing}"):
        models.load_model(missing)

    text = tmp_path / "text.h5"
    text.write_text("not HDF5")
    with pytest.raises(ValueError, match=rf"Cannot load {text}: it is not an HDF5 file"):
        models.load_model(text)
    with pytest.raises(ValueError, match=rf"Cannot load {text}: it is not an HDF5 file"):
        textbook_cnn(layers, Sequential).load_weights(text)

    truncated = tmp_path / "truncated.h5"
    truncated.write_bytes(keras_cnn_h5[1].read_bytes()[:5000])
    with pytest.raises(ValueError, match=rf"Cannot load {truncated}: "):
        models.load_model(truncated)

    bad_json = tmp_path / "bad_json.h5"
    with h5py.File(bad_json, "w") as h5:
        h5.attrs["model_config"] = b'{"class_name": "Sequential", '
    with pytest.raises(ValueError, match=rf"Cannot load {bad_json}: the `model_config` attribute is not valid JSON"):
        models.load_model(bad_json)

    no_weights = tmp_path / "no_weights.h5"
    with h5py.File(keras_cnn_h5[1]) as source, h5py.File(no_weights, "w") as h5:
        h5.attrs["model_config"] = source.attrs["model_config"]
    with pytest.raises(ValueError, match=rf"Cannot load {no_weights}: the file has a `model_config` but no "
                                         "`model_weights` group"):
        models.load_model(no_weights)

    keras3_weights = tmp_path / "keras3_weights.h5"
    keras_cnn_h5[0].save_weights(tmp_path / "k.weights.h5")
    os.rename(tmp_path / "k.weights.h5", keras3_weights)
    with pytest.raises(ValueError, match=rf"Cannot load weights from {keras3_weights}: it is a Keras 3 weights "
                                         "file"):
        textbook_cnn(layers, Sequential).load_weights(keras3_weights)


def _copy_with(source, target, edit):
    target.write_bytes(source.read_bytes())
    with h5py.File(target, "r+") as h5:
        edit(h5)
    return target


def test_weights_that_do_not_fit_raise_and_change_nothing(keras_cnn_h5, tmp_path):
    keras_model, path = keras_cnn_h5
    dense = keras_model.layers[5].name

    def reshape_dense(h5):
        group = h5[f"model_weights/{dense}"]
        kernel = group.attrs["weight_names"][0]
        del group[kernel]
        group[kernel] = np.zeros((3136, 50), np.float32)

    wrong = _copy_with(path, tmp_path / "wrong.h5", reshape_dense)
    with pytest.raises(ValueError, match=rf"^Cannot load weights from {wrong}: Shape mismatch in layer #2 \(named "
                                         rf"{dense}\) for weight {dense}/kernel. Weight expects shape \(3136, 100\). "
                                         r"Received saved weight with shape \(3136, 50\)"):
        models.load_model(wrong)

    model = textbook_cnn(layers, Sequential)
    before = model.get_weights()
    with pytest.raises(ValueError, match=r"Shape mismatch in layer #2"):
        model.load_weights(wrong)
    for a, b in zip(before, model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)  # the layers that fitted were not loaded either
    with pytest.warns(UserWarning, match=r"Shape mismatch in layer #2 .* Skipped \(skip_mismatch=True\)"):
        model.load_weights(wrong, skip_mismatch=True)
    np.testing.assert_array_equal(model.layers[0].get_weights()[0], np.asarray(keras_model.layers[0].kernel))
    np.testing.assert_array_equal(model.layers[5].get_weights()[0], before[4])

    fewer = Sequential([layers.Flatten(input_shape=(28, 28, 1)), layers.Dense(10)])
    with pytest.raises(ValueError, match=rf"^Cannot load weights from {path}: Layer count mismatch when loading "
                                         r"weights from file. Model expected 1 layers, found 4 saved layers"):
        fewer.load_weights(path)

    def drop_bias(h5):
        group = h5[f"model_weights/{dense}"]
        group.attrs["weight_names"] = group.attrs["weight_names"][:1]

    no_bias = _copy_with(path, tmp_path / "no_bias.h5", drop_bias)
    with pytest.raises(ValueError, match=rf"Weight count mismatch for layer #2 \(named {dense} in the current model, "
                                         rf"{dense} in the save file\). Layer expects 2 weight\(s\). Received 1"):
        models.load_model(no_bias)

    def link_kernel(h5):
        group = h5[f"model_weights/{dense}"]
        kernel = group.attrs["weight_names"][0]
        del group[kernel]
        group[kernel] = h5py.SoftLink("/elsewhere")

    linked = _copy_with(path, tmp_path / "linked.h5", link_kernel)
    with pytest.raises(ValueError, match=rf"Cannot load {linked}: .* is a SoftLink"):
        models.load_model(linked)

    def strings(h5):
        group = h5[f"model_weights/{dense}"]
        bias = group.attrs["weight_names"][1]
        del group[bias]
        group[bias] = np.full(100, b"abc")

    with pytest.raises(ValueError, match="is stored as |S3 .* where numbers belong"):
        models.load_model(_copy_with(path, tmp_path / "strings.h5", strings))


def test_optimizer_state_of_another_optimizer_warns_and_starts_afresh(keras_cnn_h5, tmp_path):
    def shrink_slot(h5):
        group = h5["optimizer_weights"]
        name = group.attrs["weight_names"][3]
        del group[name]
        group[name] = np.zeros(3, np.float32)

    path = _copy_with(keras_cnn_h5[1], tmp_path / "slot.h5", shrink_slot)
    with pytest.warns(UserWarning, match=r"^Error in loading the saved optimizer state.* shape \(3,\)"):
        loaded = models.load_model(path)
    assert int(loaded.optimizer.iterations.numpy()) == 0


@pytest.mark.parametrize("edit, message", [
    (lambda c: c["config"]["layers"][0]["config"].update(activity_regularizer={"class_name": "L2",
                                                                                  "config": {"l2": 0.01}}),
     "does not support the argument `activity_regularizer`"),
    (lambda c: c["config"]["layers"].insert(1, {"class_name": "Lambda", "config": {"name": "lambda", "function": []}}),
     r"The Keras layer `Lambda` \(layer 'lambda'\) is not supported"),
    (lambda c: c["config"]["layers"][0]["config"].update(activation="hard_sigmoid"),
     r"the activation `hard_sigmoid` \(layer 'conv2d'\) of Keras 2\.[0-9.]*, clip\(0.2 \* x \+ 0.5, 0, 1\), is not "
     r"Keras 3's"),
    (lambda c: c["config"]["layers"][0]["config"].update(kernel_initializer={"class_name": "Orthogonal",
                                                                                "config": {"gain": 1.0}}),
     r"The initializer `Orthogonal` \(Conv2D.kernel_initializer of layer 'conv2d'\) is not supported"),
    (lambda c: c["config"]["layers"][0]["config"].update(dtype={"class_name": "Policy",
                                                                   "config": {"name": "mixed_float16"}}),
     "mixed precision is not supported"),
    (lambda c: c.update(class_name="MyModel"), "The model class `MyModel` is not supported"),
])
def test_keras2_features_fastconv_lacks_raise_not_implemented(tmp_path, edit, message):
    keras_model = keras_cnn_for_keras2_file()
    config = {"class_name": "Sequential",
              "config": {"name": "sequential", "layers": keras2_cnn_layers((None, 28, 28, 1))}}
    edit(config)
    path = write_keras2_file(tmp_path / "unsupported.h5", config, keras_layer_weights(keras_model), CNN_LAYER_NAMES)
    with pytest.raises(NotImplementedError, match=rf"^Cannot load {path}: .*{message}"):
        models.load_model(path)


def test_keras1_files_and_sample_weight_modes_raise_not_implemented(tmp_path):
    keras_model = keras_cnn_for_keras2_file()
    config = {"class_name": "Sequential",
              "config": {"name": "sequential", "layers": keras2_cnn_layers((None, 28, 28, 1))}}
    path = write_keras2_file(tmp_path / "temporal.h5", config, keras_layer_weights(keras_model), CNN_LAYER_NAMES,
                             {**K2_TRAINING, "sample_weight_mode": "temporal"}, optimizer=False)
    with pytest.raises(NotImplementedError, match=rf"^Cannot load {path}: .*`sample_weight_mode`. Received: "
                                                  "sample_weight_mode='temporal'"):
        models.load_model(path)
    assert models.load_model(path, compile=False).predict(X[:1], verbose=0).shape == (1, 10)

    with h5py.File(path, "r+") as h5:
        h5.attrs["keras_version"] = "1.2.2"
    with pytest.raises(NotImplementedError, match=rf"^Cannot load {path}: it was written by Keras 1.2.2"):
        models.load_model(path)


def test_load_model_pairs_layers_by_name_when_the_orders_disagree(tmp_path):
    """A file whose `layer_names` list another order than the model's layers (Keras's loader would fail on the
    shapes): `load_model` built the model from the file's own config, so the names pair them; `load_weights`
    pairs by position, as Keras does, and says what does not fit."""
    x = RNG.random((4, 5), dtype=np.float32)
    keras_model = two_heads(keras.layers, keras.Model)
    keras_model.compile(optimizer="sgd", loss="mse")
    path = tmp_path / "heads.h5"
    keras_model.save(path)
    with h5py.File(path, "r+") as h5:
        group = h5["model_weights"]
        group.attrs["layer_names"] = list(group.attrs["layer_names"])[::-1]
    ours = models.load_model(path, compile=False)
    for a, b in zip(ours.predict(x, verbose=0), keras_model.predict(x, verbose=0), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match=rf"Cannot load weights from {path}: Shape mismatch in layer #0"):
        two_heads(layers, Model).load_weights(path)


def test_unbuilt_and_never_trained_models_round_trip(tmp_path):
    """A Sequential without an input shape has no weights yet; a compiled model that never trained saves the two
    variables of its unbuilt optimizer, which are restored into the built one (as Keras does)."""
    unbuilt = Sequential([layers.Dense(3), layers.Dense(2)])
    unbuilt.save(tmp_path / "unbuilt.h5")
    with pytest.warns(UserWarning, match="No training configuration found"):
        loaded = models.load_model(tmp_path / "unbuilt.h5")
    assert not loaded.built and len(loaded.layers) == 2

    fresh = textbook_cnn(layers, Sequential)
    fresh.optimizer.learning_rate = 0.005
    fresh.save(tmp_path / "fresh.h5")
    with h5py.File(tmp_path / "fresh.h5") as h5:
        assert len(h5["optimizer_weights"].attrs["weight_names"]) == 2
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # not "Error in loading the saved optimizer state"
        loaded = models.load_model(tmp_path / "fresh.h5")
    assert float(loaded.optimizer.learning_rate.numpy()) == pytest.approx(0.005)
    assert len(loaded.optimizer.variables) == 18
    np.testing.assert_array_equal(loaded.predict(X[:2], verbose=0), fresh.predict(X[:2], verbose=0))
