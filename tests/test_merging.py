"""Merging layers (``Add`` ... ``Concatenate`` and ``keras.layers.add`` ...) and functional models with several
inputs, against numpy definitions, real Keras 3 on its torch backend (values, gradients, shapes, errors,
configs, summaries, ``.keras`` files, training) and float64 finite differences."""

import json

import numpy as np
import pytest
import torch

from fastconv import keras as fkeras
from fastconv.models import InputArrays, Model
from keras_reference import keras

pytestmark = pytest.mark.filterwarnings(
    "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning",  # Keras's torch backend
)

# (class name, arguments, input shapes, numpy definition on the inputs after Keras's rank expansion)
CASES = [
    ("Add", {}, [(2, 3, 4)] * 3, lambda xs: xs[0] + xs[1] + xs[2]),
    ("Add", {}, [(2, 3, 4), (2, 1, 4)], lambda xs: xs[0] + xs[1]),
    ("Add", {}, [(2, 3, 4), (2, 4)], lambda xs: xs[0] + xs[1]),  # (2, 4) is read as (2, 1, 4)
    ("Subtract", {}, [(2, 5), (2, 5)], lambda xs: xs[0] - xs[1]),
    ("Subtract", {}, [(2, 1, 5), (2, 3, 5)], lambda xs: xs[0] - xs[1]),
    ("Multiply", {}, [(2, 3, 4)] * 3, lambda xs: xs[0] * xs[1] * xs[2]),
    ("Multiply", {}, [(2, 3, 4), (2, 3, 1)], lambda xs: xs[0] * xs[1]),
    ("Average", {}, [(2, 3, 4)] * 3, lambda xs: (xs[0] + xs[1] + xs[2]) / 3),
    ("Average", {}, [(2, 3, 4), (2, 4)], lambda xs: (xs[0] + xs[1]) / 2),
    ("Maximum", {}, [(2, 3, 4)] * 3, lambda xs: np.maximum(np.maximum(xs[0], xs[1]), xs[2])),
    ("Maximum", {}, [(2, 6), (2, 1)], lambda xs: np.maximum(xs[0], xs[1])),
    ("Minimum", {}, [(2, 3, 4)] * 2, lambda xs: np.minimum(xs[0], xs[1])),
    ("Minimum", {}, [(2, 3, 4), (2, 4)], lambda xs: np.minimum(xs[0], xs[1])),
    ("Concatenate", {}, [(2, 3, 4), (2, 3, 2), (2, 3, 1)], lambda xs: np.concatenate(xs, axis=-1)),
    ("Concatenate", {"axis": 1}, [(2, 3, 4), (2, 5, 4)], lambda xs: np.concatenate(xs, axis=1)),
    ("Concatenate", {"axis": -2}, [(2, 3, 4, 2), (2, 3, 1, 2)], lambda xs: np.concatenate(xs, axis=-2)),
    ("Concatenate", {"axis": 0}, [(2, 3), (1, 3)], lambda xs: np.concatenate(xs, axis=0)),
]
IDS = [f"{name}-{arguments}-{shapes}" for name, arguments, shapes, _ in CASES]
FUNCTIONS = {"Add": "add", "Subtract": "subtract", "Multiply": "multiply", "Average": "average",
             "Maximum": "maximum", "Minimum": "minimum", "Concatenate": "concatenate"}


def _inputs(shapes, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(shape).astype(np.float32) for shape in shapes]


def _keras_expanded(xs):
    """Keras's ``Merge.call``: inputs of lower rank get axes of size 1 after the batch axis."""
    rank = max(x.ndim for x in xs)
    return [x.reshape(x.shape[:1] + (1,) * (rank - x.ndim) + x.shape[1:]) for x in xs]


@pytest.mark.parametrize(("name", "arguments", "shapes", "definition"), CASES, ids=IDS)
def test_values_and_gradients_equal_numpy_and_keras(name, arguments, shapes, definition):
    xs = _inputs(shapes)
    ours = getattr(fkeras.layers, name)(**arguments)
    got = ours(xs)
    elementwise = name != "Concatenate"
    expected = definition(_keras_expanded(xs) if elementwise else xs)
    assert got.dtype == np.float32 and got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-6)
    # the functional form is the same layer
    np.testing.assert_array_equal(getattr(fkeras.layers, FUNCTIONS[name])(xs, **arguments), got)

    # Keras on torch: the same values, and torch autograd through Keras's layer gives the gradients
    leaves = [torch.tensor(x, requires_grad=True) for x in xs]
    theirs = getattr(keras.layers, name)(**arguments)(leaves)
    np.testing.assert_allclose(got, theirs.detach().numpy(), rtol=1e-6, atol=1e-6)
    grad = np.random.default_rng(1).standard_normal(got.shape).astype(np.float32)
    (theirs * torch.tensor(grad)).sum().backward()
    _, context = ours.forward(xs, training=True)
    grads, weight_grads = ours.backward(context, grad)
    assert weight_grads == [] and len(grads) == len(xs)
    for g, leaf in zip(grads, leaves, strict=True):
        assert g.shape == leaf.shape and g.dtype == np.float32
        np.testing.assert_allclose(g, leaf.grad.numpy(), rtol=1e-5, atol=1e-6)


def test_maximum_and_minimum_send_a_tie_to_the_first_input():
    """fastconv follows Keras on TensorFlow (the first input holding the maximum takes the whole gradient);
    Keras on torch splits a tie in halves at each pairwise ``torch.maximum``. Both sum to the output's."""
    xs = [np.array([[1.0, 2.0, 3.0]], np.float32), np.array([[1.0, 5.0, 3.0]], np.float32),
          np.array([[1.0, 0.0, 3.0]], np.float32)]
    grad = np.array([[8.0, 8.0, 8.0]], np.float32)
    # columns 0 and 2 are three-way ties; column 1's maximum is the second input's, its minimum the third's
    expected = {"Maximum": [[8, 0, 8], [0, 8, 0], [0, 0, 0]], "Minimum": [[8, 0, 8], [0, 0, 0], [0, 8, 0]]}
    for name, rows in expected.items():
        layer = getattr(fkeras.layers, name)()
        _, context = layer.forward(xs, training=True)
        grads, _ = layer.backward(context, grad)
        np.testing.assert_array_equal(np.concatenate(grads), rows)
    leaves = [torch.tensor(x, requires_grad=True) for x in xs]
    (keras.layers.Maximum()(leaves) * torch.tensor(grad)).sum().backward()
    np.testing.assert_array_equal(np.stack([leaf.grad.numpy()[0] for leaf in leaves])[:, 0], [2, 2, 4])


SHAPE_CASES = [("Add", [(None, 4), (None, 4)], {}), ("Add", [(None, 3, 4), (None, 4)], {}),
               ("Maximum", [(None, None, 4), (None, 1, 4)], {}), ("Multiply", [(None, 5, 1), (None, 5, 6)], {}),
               ("Subtract", [(2, 3), (None, 3)], {}), ("Average", [(None, 3), (None, 2, 1)], {}),
               ("Concatenate", [(None, 2, 3), (None, 2, 3)], {"axis": 1}),
               ("Concatenate", [(None, 2, None), (None, 2, 3)], {}),
               ("Concatenate", [(None, None, 3), (None, 2, 3)], {}), ("Concatenate", [(4, 3), (2, 3)], {"axis": 0})]


@pytest.mark.parametrize("name, shapes, arguments", SHAPE_CASES, ids=[f"{n}-{s}" for n, s, _ in SHAPE_CASES])
def test_symbolic_output_shapes_equal_keras(name, shapes, arguments):
    results = []
    for lib in (fkeras, keras):
        inputs = [lib.Input(batch_shape=shape) for shape in shapes]
        results.append(tuple(getattr(lib.layers, name)(**arguments)(inputs).shape))
    assert results[0] == results[1]


def _both_raise(build):
    messages = []
    for lib in (fkeras, keras):
        with pytest.raises(ValueError) as info:
            build(lib)
        messages.append(str(info.value))
    assert messages[0] == messages[1]
    return messages[0]


@pytest.mark.parametrize(("build", "pinned"), [
    (lambda lib: lib.layers.Add()([lib.Input((4,)), lib.Input((5,))]),
     "Inputs have incompatible shapes. Received shapes (4,) and (5,)"),
    (lambda lib: lib.layers.Subtract()([lib.Input((4,))] * 3),
     "A `Subtract` layer should be called on exactly 2 inputs. Received: input_shape=[(None, 4), (None, 4), "
     "(None, 4)]"),
    (lambda lib: lib.layers.Multiply()(lib.Input((4,))),
     "A merge layer should be called on a list of inputs. Received: input_shape=(None, 4) (not a list of shapes)"),
    (lambda lib: lib.layers.Maximum()([lib.Input(batch_shape=(2, 4)), lib.Input(batch_shape=(3, 4))]),
     "Cannot merge tensors with different batch sizes. Received tensors with shapes [(2, 4), (3, 4)]"),
    (lambda lib: lib.layers.Concatenate()([lib.Input((4, 3)), lib.Input((5, 3))]),
     "A `Concatenate` layer requires inputs with matching shapes except for the concatenation axis. "
     "Received: input_shape=[(None, 4, 3), (None, 5, 3)]"),
    (lambda lib: lib.layers.Concatenate()([lib.Input((4, 3)), lib.Input((4,))]),
     "A `Concatenate` layer requires inputs with matching shapes except for the concatenation axis. "
     "Received: input_shape=[(None, 4, 3), (None, 4)]"),
    (lambda lib: lib.layers.Add()([np.ones((2, 4)), np.ones((2, 5))]),
     "Inputs have incompatible shapes. Received shapes (4,) and (5,)"),
], ids=["add-shapes", "subtract-three", "not-a-list", "batch-sizes", "concatenate-axis", "concatenate-rank",
        "eager-arrays"])
def test_errors_equal_keras(build, pinned):
    assert _both_raise(build) == pinned


@pytest.mark.parametrize("name, arguments", [("Add", {}), ("Maximum", {"name": "m", "trainable": False}),
                                             ("Concatenate", {"axis": 1, "name": "c"})])
def test_config_equals_keras_and_round_trips(name, arguments):
    ours = getattr(fkeras.layers, name)(**arguments)
    theirs = getattr(keras.layers, name)(**arguments)
    config = ours.get_config()
    expected = theirs.get_config()
    if "name" not in arguments:
        config.pop("name"), expected.pop("name")
    assert config == expected
    again = type(ours).from_config(ours.get_config())
    assert again.get_config() == ours.get_config()


# -- models ---------------------------------------------------------------------------------------------------


def residual_block(lib, seed_layers=True):
    """``x -> Conv2D -> BatchNormalization -> ReLU -> Conv2D -> Add([.., x]) -> ReLU``, then a classifier."""
    layers = lib.layers
    x = lib.Input((6, 6, 3), name="image")
    h = layers.Conv2D(3, 3, padding="same", name="conv_a")(x)
    h = layers.BatchNormalization(name="bn")(h)
    h = layers.ReLU(name="relu_a")(h)
    h = layers.Conv2D(3, 3, padding="same", name="conv_b")(h)
    h = layers.Add(name="residual")([h, x])
    h = layers.ReLU(name="relu_b")(h)
    h = layers.GlobalAveragePooling2D(name="pool")(h)
    return lib.Model(x, layers.Dense(4, activation="softmax", name="classes")(h), name="resnet_block")


def two_inputs(lib):
    """Two inputs, each merge kind once, a tensor read by two merges and a concatenation."""
    layers = lib.layers
    a = lib.Input((5,), name="a")
    b = lib.Input((3,), name="b")
    ha = layers.Dense(4, activation="tanh", name="da")(a)
    hb = layers.Dense(4, activation="tanh", name="db")(b)
    merged = [layers.Add(name="add")([ha, hb]), layers.Subtract(name="sub")([ha, hb]),
              layers.Multiply(name="mul")([ha, hb, ha]), layers.Average(name="avg")([ha, hb]),
              layers.Maximum(name="max")([ha, hb]), layers.Minimum(name="min")([hb, ha])]
    h = layers.Concatenate(name="cat")(merged + [b])
    return lib.Model([a, b], layers.Dense(2, name="out")(h), name="two_inputs")


def _same_weights(ours, theirs, seed=3):
    rng = np.random.default_rng(seed)
    assert [layer.name for layer in ours.layers] == [layer.name for layer in theirs.layers]
    weights = [rng.uniform(-0.5, 0.5, np.shape(w)).astype(np.float32) for w in theirs.get_weights()]
    theirs.set_weights(weights)
    ours.set_weights(weights)


def test_residual_block_trains_two_sgd_steps_as_keras():
    ours, theirs = residual_block(fkeras), residual_block(keras)
    _same_weights(ours, theirs)
    before = ours.get_weights()
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, 4, 6, 6, 3)).astype(np.float32)
    y = rng.integers(0, 4, (2, 4))
    ours.compile(optimizer=fkeras.optimizers.SGD(0.1), loss="sparse_categorical_crossentropy")
    theirs.compile(optimizer=keras.optimizers.SGD(0.1), loss="sparse_categorical_crossentropy")
    losses = [[model.train_on_batch(x[step], y[step]) for step in range(2)] for model in (ours, theirs)]
    np.testing.assert_allclose(losses[0], losses[1], rtol=1e-5)
    for a, b, initial in zip(ours.get_weights(), theirs.get_weights(), before, strict=True):
        np.testing.assert_allclose(a, np.asarray(b), rtol=1e-4, atol=1e-6)
    # the steps moved every weight (so the comparison is not of two untouched copies), but conv_a's bias,
    # whose gradient is 0: BatchNormalization subtracts it again with the batch mean
    moved = [w.path for w, initial in zip(ours.weights, before) if not np.array_equal(w.numpy(), initial)]
    assert moved == [w.path for w in ours.weights if w.path != "conv_a/bias"]


def _fit_both(samples, seed, **fit_arguments):
    """``two_inputs`` in both libraries from the same weights, fitted with SGD on the same random data;
    returns the models, the data and both histories."""
    ours, theirs = two_inputs(fkeras), two_inputs(keras)
    _same_weights(ours, theirs)
    rng = np.random.default_rng(seed)
    a, b = rng.standard_normal((samples, 5)).astype(np.float32), rng.standard_normal((samples, 3)).astype(np.float32)
    y = rng.standard_normal((samples, 2)).astype(np.float32)
    histories = []
    for model, lib in ((ours, fkeras), (theirs, keras)):
        model.compile(optimizer=lib.optimizers.SGD(0.05), loss="mse")
        histories.append(model.fit([a, b], y, shuffle=False, verbose=0, **fit_arguments).history)
    for key in histories[1]:
        np.testing.assert_allclose(histories[0][key], histories[1][key], rtol=1e-5, err_msg=key)
    for w, v in zip(ours.get_weights(), theirs.get_weights(), strict=True):
        np.testing.assert_allclose(w, np.asarray(v), rtol=1e-4, atol=1e-6)
    return ours, theirs, (a, b, y), histories


def test_two_input_model_fits_evaluates_and_predicts_as_keras():
    rng = np.random.default_rng(10)
    validation = ([rng.standard_normal((4, 5)), rng.standard_normal((4, 3))], rng.standard_normal((4, 2)))
    ours, theirs, (a, b, y), histories = _fit_both(10, 11, batch_size=4, epochs=2, validation_data=validation)
    assert sorted(histories[0]) == ["loss", "val_loss"]
    np.testing.assert_allclose(ours.predict([a, b], batch_size=3, verbose=0),
                               theirs.predict([a, b], batch_size=3, verbose=0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(ours.predict({"a": a, "b": b}, verbose=0), ours.predict((a, b), verbose=0))
    np.testing.assert_allclose(ours.evaluate([a, b], y, verbose=0), theirs.evaluate([a, b], y, verbose=0),
                               rtol=1e-5)
    np.testing.assert_allclose(ours.predict_on_batch([a, b]), ours([a, b]))
    np.testing.assert_allclose(ours.train_on_batch([a, b], y), theirs.train_on_batch([a, b], y), rtol=1e-5)


def test_validation_split_takes_the_last_samples_of_every_input():
    _, _, _, histories = _fit_both(8, 12, batch_size=3, epochs=1, validation_split=0.25)
    assert sorted(histories[0]) == ["loss", "val_loss"]


def test_data_that_does_not_fit_the_inputs_raises():
    model = two_inputs(fkeras)
    model.compile(optimizer="sgd", loss="mse")
    a, b, y = np.ones((4, 5)), np.ones((4, 3)), np.ones((4, 2))
    expects = (r'Layer "two_inputs" expects 2 input\(s\), but it received 1 input tensors. Pass a list of 2 '
               r"arrays, one for each of the inputs \['a', 'b'\].")
    with pytest.raises(ValueError, match=expects):
        model.predict(a, verbose=0)
    with pytest.raises(ValueError, match=expects.replace("received 1", "received 3")):
        model.fit([a, b, b], y, verbose=0)
    with pytest.raises(ValueError, match="Data cardinality is ambiguous. Make sure all arrays contain the same "
                                         "number of samples. 'x' sizes: 4, 3"):
        model.fit([a, b[:3]], y, verbose=0)
    with pytest.raises(ValueError, match=r"Data cardinality is ambiguous.*'x' sizes: 4 'y' sizes: 3"):
        model.fit([a, b], y[:3], verbose=0)
    with pytest.raises(ValueError, match=r'Input 1 of layer "two_inputs" is incompatible with the layer: '
                                         r"expected shape=\(None, 3\), found shape=\(4, 5\)"):
        model.evaluate([a, a], y, verbose=0)
    with pytest.raises(ValueError, match=r"expects 2 input\(s\) with keys \['a', 'b'\]. Missing keys: \['b'\]"):
        model.predict({"a": a}, verbose=0)
    with pytest.raises(ValueError, match="Data cardinality is ambiguous"):
        model.fit([a, b], y, validation_data=([a, b[:2]], y), verbose=0)


def test_config_equals_keras_and_round_trips_for_merging_models():
    for build in (residual_block, two_inputs):
        ours, theirs = build(fkeras), build(keras)
        config, expected = ours.get_config(), json.loads(json.dumps(theirs.get_config()))  # tuples as lists
        for key in ("name", "input_layers", "output_layers"):
            assert config[key] == expected[key]
        def calls(config):  # the arguments of each layer call (Keras adds kwargs such as BatchNormalization's mask)
            return [(layer["name"], [node["args"] for node in layer["inbound_nodes"]]) for layer in config["layers"]]

        assert calls(config) == calls(expected)
        merges = [layer for layer in config["layers"] if layer["class_name"] in ("Add", "Concatenate")]
        assert [layer["build_config"] for layer in merges] == \
            [layer["build_config"] for layer in expected["layers"] if layer["class_name"] in ("Add", "Concatenate")]
        again = Model.from_config(config)
        assert again.get_config() == config
        assert [layer.name for layer in again.layers] == [layer.name for layer in ours.layers]


def test_dict_inputs_write_and_read_keras_dict():
    layers = fkeras.layers
    a, b = fkeras.Input((2,), name="left"), fkeras.Input((2,), name="right")
    model = Model({"x": a, "y": b}, layers.Add()([a, b]))
    config = model.get_config()
    assert config["input_layers"] == {"x": ["left", 0, 0], "y": ["right", 0, 0]}
    again = Model.from_config(config)
    np.testing.assert_array_equal(again.predict({"x": np.ones((1, 2)), "y": np.full((1, 2), 2.0)}, verbose=0),
                                  [[3.0, 3.0]])
    with pytest.warns(UserWarning, match="all keys in the dict must match the names"):  # Keras advises
        theirs = keras.Model.from_config(config)
    np.testing.assert_array_equal(theirs.predict({"x": np.ones((1, 2)), "y": np.full((1, 2), 2.0)}, verbose=0),
                                  [[3.0, 3.0]])


@pytest.mark.parametrize("build", [residual_block, two_inputs])
def test_keras_files_load_both_ways(build, tmp_path):
    ours, theirs = build(fkeras), build(keras)
    _same_weights(ours, theirs, seed=8)
    rng = np.random.default_rng(4)
    x = ([rng.standard_normal((3, *t.shape[1:])).astype(np.float32) for t in ours.inputs]
         if len(ours.inputs) > 1 else rng.standard_normal((3, 6, 6, 3)).astype(np.float32))
    expected = ours.predict(x, verbose=0)
    ours.save(tmp_path / "fastconv.keras")
    in_keras = keras.models.load_model(tmp_path / "fastconv.keras")
    assert [layer.name for layer in in_keras.layers] == [layer.name for layer in ours.layers]
    np.testing.assert_allclose(in_keras.predict(x, verbose=0), expected, rtol=1e-5, atol=1e-6)

    theirs.save(tmp_path / "keras.keras")
    in_fastconv = fkeras.models.load_model(tmp_path / "keras.keras")
    assert [layer.name for layer in in_fastconv.layers] == [layer.name for layer in theirs.layers]
    np.testing.assert_allclose(in_fastconv.predict(x, verbose=0), expected, rtol=1e-5, atol=1e-6)
    assert in_fastconv.get_config() == ours.get_config()


def _summary(model, line_length):
    lines = []
    model.summary(line_length=line_length, print_fn=lines.append)
    return "\n".join(lines)


def test_summary_has_keras_connected_to_column(monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")  # Keras's console is as wide as the terminal, and would crop the table
    for build in (residual_block, two_inputs):
        ours, theirs = build(fkeras), build(keras)
        assert "Connected to" in _summary(ours, 108)
        assert _summary(ours, 108) == _summary(theirs, 108)
    # a chain keeps the three columns
    x = fkeras.Input((3,))
    assert "Connected to" not in _summary(Model(x, fkeras.layers.Dense(2)(x)), 88)


@pytest.mark.parametrize("columns", ["80", "100", "200"])
def test_summary_is_as_wide_as_keras_makes_it_for_the_terminal(monkeypatch, columns):
    monkeypatch.setenv("COLUMNS", columns)  # a narrow terminal, or a pipe (80 columns)
    for build in (residual_block, two_inputs):
        ours, theirs = _summary(build(fkeras), None), _summary(build(keras), None)
        assert ours == theirs
        assert max(len(line) for line in ours.splitlines()) <= min(int(columns) - 4, 108)


def test_plot_model_draws_an_edge_from_every_input_of_a_merge():
    model = two_inputs(fkeras)
    dot = fkeras.utils.model_to_dot(model, show_shapes=True)
    name = {str(id(layer)): layer.name for layer in model.layers}
    edges = {(name[edge.get_source()], name[edge.get_destination()]) for edge in dot.get_edges()}
    assert {source for source, destination in edges if destination == "cat"} == \
        {"add", "sub", "mul", "avg", "max", "min", "b"}
    assert {source for source, destination in edges if destination == "mul"} == {"da", "db"}
    assert "Input shape: <b>[(None, 4), (None, 4)]</b>" in dot.to_string()


def test_merge_gradients_through_a_model_equal_float64_finite_differences():
    """The model's weight gradients (each merge's backward, the graph's accumulation over a tensor read by
    several merges, broadcasting and rank expansion) against central differences, all in float64."""
    layers = fkeras.layers
    a, b = fkeras.Input((3,), name="a"), fkeras.Input((2, 3), name="b")
    ha = layers.Dense(3, activation="tanh")(a)
    hb = layers.Dense(3)(b)  # (None, 2, 3)
    s = layers.Dense(1)(a)  # (None, 1): broadcast along the last axis
    merged = [layers.add([ha, hb]), layers.subtract([hb, ha]), layers.multiply([ha, hb, hb]),
              layers.average([hb, s]), layers.maximum([ha, hb, s]), layers.minimum([hb, ha])]
    model = Model([a, b], layers.Dense(2)(layers.Flatten()(layers.concatenate(merged, axis=1))))
    rng = np.random.default_rng(21)
    for w in model.weights:
        w.value = rng.standard_normal(w.shape)  # float64 weights: the layers then compute in float64
    x = [rng.standard_normal((4, 3)), rng.standard_normal((4, 2, 3))]
    grad = rng.standard_normal((4, 2))

    def objective():
        outputs, _ = model.forward(InputArrays(x), training=False)
        return float((outputs[0] * grad).sum())

    outputs, tape = model.forward(InputArrays(x), training=True)  # float64: past `_check_inputs`' float32
    assert outputs[0].dtype == np.float64
    grads = model.backward(tape, grad)
    eps = 1e-6
    for w in model.trainable_weights:
        numeric = np.zeros(w.shape)
        for index in np.ndindex(w.shape):
            saved = w.value[index]
            w.value[index] = saved + eps
            up = objective()
            w.value[index] = saved - eps
            down = objective()
            w.value[index] = saved
            numeric[index] = (up - down) / (2 * eps)
        np.testing.assert_allclose(grads[id(w)], numeric, rtol=1e-6, atol=1e-8, err_msg=w.path)


def _structures(namespace):
    """The same five models in fastconv or Keras: one input, lists of one, two inputs and outputs, a dict of
    inputs, and a Sequential model."""
    a, b = namespace.Input((4,), name="a"), namespace.Input((3,), name="b")
    dense = namespace.layers.Dense(2)(a)
    return [namespace.Model(a, dense), namespace.Model([a], [dense]),
            namespace.Model([a, b], [dense, namespace.layers.Dense(1)(b)]), namespace.Model({"a": a}, dense),
            namespace.Sequential([namespace.Input((4,)), namespace.layers.Dense(2)])]


def _structure(value):
    if isinstance(value, dict):
        return {key: _structure(v) for key, v in value.items()}
    if isinstance(value, list):
        return [_structure(v) for v in value]
    return ("tensor", tuple(value.shape))


def test_model_input_output_and_their_shapes_as_keras():
    *models, sequential = _structures(fkeras)
    *references, keras_sequential = _structures(keras)
    for ours, theirs in zip(models, references, strict=True):
        assert _structure(ours.input) == _structure(theirs.input)
        assert _structure(ours.output) == _structure(theirs.output)
        assert ours.input_shape == theirs.input_shape
        assert ours.output_shape == theirs.output_shape
    # Keras's torch backend lacks a Sequential model's `input` (TensorFlow's has it): its tensor lists instead.
    assert _structure(sequential.input) == _structure(keras_sequential.inputs[0])
    assert sequential.output_shape == tuple(keras_sequential.outputs[0].shape)
    # A feature extractor from a trained model's input and an inner layer's output, as in Keras.
    model = _structures(fkeras)[2]
    features = fkeras.Model(model.input, model.layers[-2].output)
    x = [np.ones((2, 4), np.float32), np.ones((2, 3), np.float32)]
    np.testing.assert_array_equal(features.predict(x, verbose=0), model.predict(x, verbose=0)[0])
    with pytest.raises(AttributeError, match="never been called"):
        fkeras.Sequential([fkeras.layers.Dense(2)]).output_shape


@pytest.mark.parametrize("columns", ["80", "200"])
@pytest.mark.parametrize("built", [True, False])
def test_summary_of_a_chain_is_drawn_as_keras_draws_it(monkeypatch, columns, built):
    monkeypatch.setenv("COLUMNS", columns)

    def chain(library):
        layers = [library.layers.Dense(4, name="hidden"), library.layers.Dense(2, name="out")]
        return library.Sequential(([library.Input((3,))] if built else []) + layers, name="chain")

    assert _summary(chain(fkeras), None) == _summary(chain(keras), None)
