"""Keras's third way of building a model: subclasses of ``keras.Model`` and ``keras.layers.Layer`` that
define ``call()`` (Géron's ``ResidualUnit``, keras.io's "Making new layers and models via subclassing").
fastconv runs ``call()`` once on symbolic tensors and trains the graph it records. Against real Keras 3 on
its torch backend, with the same classes written once for both: the same weights give the same predictions,
the same training gives the same losses and weights, the weights and their freezing are counted as Keras
counts them, and the saved file loads in Keras. What cannot be recorded raises, naming what to change."""

import numpy as np
import pytest

from fastconv import keras as fk
from keras_reference import keras

pytestmark = pytest.mark.filterwarnings(
    "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning",  # Keras's torch backend
)

RNG = np.random.default_rng(47)


def _classes(library, dropout=0.3):
    """The same user code for fastconv and Keras: a residual unit as a layer, a small ResNet as a model."""
    layers = library.layers

    class ResidualUnit(layers.Layer):
        def __init__(self, filters, strides=1, activation="relu", **kwargs):
            super().__init__(**kwargs)
            self.activation = library.activations.get(activation)
            self.main_layers = [
                layers.Conv2D(filters, 3, strides=strides, padding="same", use_bias=False),
                layers.BatchNormalization(),
                layers.Activation(activation),
                layers.Conv2D(filters, 3, padding="same", use_bias=False),
                layers.BatchNormalization()]
            self.skip_layers = []
            if strides > 1:
                self.skip_layers = [layers.Conv2D(filters, 1, strides=strides, padding="same", use_bias=False),
                                    layers.BatchNormalization()]

        def call(self, inputs):
            z = inputs
            for layer in self.main_layers:
                z = layer(z)
            skip = inputs
            for layer in self.skip_layers:
                skip = layer(skip)
            return self.activation(z + skip)

    class SmallResNet(library.Model):
        def __init__(self, classes=3, **kwargs):
            super().__init__(**kwargs)
            self.stem = layers.Conv2D(8, 3, padding="same", activation="relu")
            self.unit1 = ResidualUnit(8)
            self.unit2 = ResidualUnit(16, strides=2)
            self.pool = layers.GlobalAveragePooling2D()
            self.dropout = layers.Dropout(dropout)
            self.classifier = layers.Dense(classes, activation="softmax")

        def call(self, inputs, training=None):
            x = self.stem(inputs / 255.0)
            x = self.unit2(self.unit1(x))
            return self.classifier(self.dropout(self.pool(x), training=training))

    return ResidualUnit, SmallResNet


def _layers_of(model):
    """The model's layers that hold weights, in the same order in both libraries (paired by attribute)."""
    units = [model.unit1, model.unit2]
    return [model.stem] + [layer for unit in units for layer in unit.main_layers + unit.skip_layers] + [
        model.classifier]


def _same_weights(ours, theirs):
    for mine, keras_layer in zip(_layers_of(ours), _layers_of(theirs), strict=True):
        weights = [np.asarray(w) + 0.05 * RNG.standard_normal(np.shape(w)).astype(np.float32)
                   for w in keras_layer.get_weights()]
        weights = [np.abs(w) if w.ndim == 1 and i == 3 else w for i, w in enumerate(weights)]  # a variance > 0
        keras_layer.set_weights(weights)
        mine.set_weights(weights)


def _images(n):
    return RNG.uniform(0, 255, (n, 8, 8, 1)).astype(np.float32)


def _built_pair(dropout=0.3):
    ours, theirs = _classes(fk, dropout)[1](), _classes(keras, dropout)[1]()
    x = _images(4)
    ours.build((None, 8, 8, 1))
    theirs(x)  # a Keras subclassed model is built by its first call
    _same_weights(ours, theirs)
    return ours, theirs


def test_subclassed_resnet_predicts_as_keras_and_counts_its_weights_as_keras():
    ours, theirs = _built_pair()
    x = _images(10)
    np.testing.assert_allclose(ours.predict(x, verbose=0), theirs.predict(x, verbose=0), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(ours(x), np.asarray(theirs(x).detach()), rtol=1e-4, atol=1e-5)
    assert ours.count_params() == theirs.count_params()
    assert len(ours.weights) == len(theirs.weights) and len(ours.trainable_weights) == len(theirs.trainable_weights)
    assert len(ours.unit2.weights) == len(theirs.unit2.weights) == 15
    assert not np.allclose(ours(x, training=True), ours(x, training=False))  # training=training reaches Dropout


def test_subclassed_resnet_trains_as_keras():
    ours, theirs = _built_pair(dropout=0.0)  # the same training needs no random dropout
    x, y = _images(16), np.arange(16) % 3
    for model, library in ((ours, fk), (theirs, keras)):
        model.compile(optimizer=library.optimizers.SGD(0.05, momentum=0.9), loss="sparse_categorical_crossentropy",
                      metrics=["accuracy"])
    histories = [model.fit(x, y, batch_size=4, epochs=3, shuffle=False, verbose=0).history for model in (ours, theirs)]
    np.testing.assert_allclose(histories[0]["loss"], histories[1]["loss"], rtol=1e-4)
    assert histories[0]["loss"][-1] < histories[0]["loss"][0]
    for mine, keras_layer in zip(_layers_of(ours), _layers_of(theirs), strict=True):
        for a, b in zip(mine.get_weights(), keras_layer.get_weights(), strict=True):
            np.testing.assert_allclose(a, np.asarray(b), rtol=1e-3, atol=1e-5)
    np.testing.assert_allclose(ours.evaluate(x, y, verbose=0), theirs.evaluate(x, y, verbose=0), rtol=1e-4)


def test_freezing_a_composite_layer_freezes_the_layers_it_holds_as_keras():
    ours, theirs = _built_pair()
    for model in (ours, theirs):
        model.unit1.trainable = False
    assert len(ours.trainable_weights) == len(theirs.trainable_weights)
    assert len(ours.unit1.non_trainable_weights) == len(theirs.unit1.non_trainable_weights) == 10
    assert not ours.unit1.main_layers[0].trainable
    ours.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    frozen = [w.copy() for layer in ours.unit1.main_layers for w in layer.get_weights()]
    ours.fit(_images(8), np.arange(8) % 3, epochs=1, verbose=0)
    after = [w for layer in ours.unit1.main_layers for w in layer.get_weights()]
    assert all(np.array_equal(a, b) for a, b in zip(frozen, after, strict=True))
    assert not np.array_equal(ours.stem.get_weights()[0], theirs.stem.get_weights()[0])  # the rest trained


def test_a_composite_layer_computes_on_arrays_as_keras():
    unit_class, keras_unit_class = _classes(fk)[0], _classes(keras)[0]
    ours, theirs = unit_class(4, strides=2), keras_unit_class(4, strides=2)
    x = RNG.standard_normal((3, 6, 6, 2)).astype(np.float32)
    theirs(x)
    ours(x)
    for mine, keras_layer in zip(ours.main_layers + ours.skip_layers, theirs.main_layers + theirs.skip_layers):
        mine.set_weights([np.asarray(w) for w in keras_layer.get_weights()])
    np.testing.assert_allclose(ours(x), np.asarray(theirs(x).detach()), rtol=1e-5, atol=1e-5)


def test_a_subclassed_model_saves_as_the_functional_model_of_its_call(tmp_path):
    ours, theirs = _built_pair()
    path = str(tmp_path / "resnet.keras")
    ours.save(path)
    x = _images(6)
    expected = theirs.predict(x, verbose=0)
    np.testing.assert_allclose(keras.models.load_model(path).predict(x, verbose=0), expected, rtol=1e-4, atol=1e-5)
    reloaded = fk.models.load_model(path)
    np.testing.assert_allclose(reloaded.predict(x, verbose=0), ours.predict(x, verbose=0), rtol=0, atol=0)
    weights_path = str(tmp_path / "resnet.weights.h5")
    ours.save_weights(weights_path)
    other = _classes(fk)[1]()
    other.build((None, 8, 8, 1))
    other.load_weights(weights_path)
    np.testing.assert_array_equal(other.predict(x, verbose=0), ours.predict(x, verbose=0))


def _arithmetic_model(library):
    layers = library.layers

    class Arithmetic(library.Model):
        def __init__(self):
            super().__init__()
            self.first = layers.Dense(5)
            self.second = layers.Dense(5, activation="tanh")
            self.concatenate = layers.Concatenate()

        def call(self, inputs):
            a, b = inputs
            u, v = self.first(a), self.second(b)
            w = (u - v) * u + 2 - v / 4 - (1 - u) * 0.5 + (-v)
            return self.concatenate([w, library.activations.sigmoid(u + v)])

    return Arithmetic()


def test_arithmetic_between_tensors_and_numbers_and_several_inputs_as_keras():
    ours, theirs = _arithmetic_model(fk), _arithmetic_model(keras)
    a, b = RNG.standard_normal((7, 3)).astype(np.float32), RNG.standard_normal((7, 4)).astype(np.float32)
    theirs([a, b])
    ours.build([(None, 3), (None, 4)])
    for name in ("first", "second"):
        getattr(ours, name).set_weights([np.asarray(w) for w in getattr(theirs, name).get_weights()])
    np.testing.assert_allclose(ours.predict([a, b], verbose=0), theirs.predict([a, b], verbose=0),
                               rtol=1e-5, atol=1e-5)
    ours.compile(optimizer="sgd", loss="mse")
    theirs.compile(optimizer="sgd", loss="mse")
    y = RNG.standard_normal((7, 10)).astype(np.float32)
    losses = [model.fit([a, b], y, batch_size=7, epochs=3, verbose=0).history["loss"] for model in (ours, theirs)]
    np.testing.assert_allclose(losses[0], losses[1], rtol=1e-5)


def test_an_unbuilt_subclassed_model_says_so_and_the_first_data_builds_it():
    model = _classes(fk)[1]()
    assert not model.built and model.layers == []
    with pytest.raises(ValueError, match="not yet been built"):
        model.summary()
    with pytest.raises(ValueError, match="isn't built"):
        model.count_params()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.fit(_images(8), np.arange(8) % 3, epochs=1, verbose=0)
    assert model.built and model.count_params() == _built_pair()[1].count_params()
    assert model.input_shape == (None, 8, 8, 1) and model.output_shape == (None, 3)
    assert "InputLayer" not in {type(layer).__name__ for layer in model.layers}  # as Keras lists them


def test_what_call_cannot_record_raises_naming_it():
    class BranchesOnTraining(fk.Model):
        def __init__(self):
            super().__init__()
            self.dense = fk.layers.Dense(2)

        def call(self, inputs, training=False):
            if training:
                inputs = inputs * 2
            return self.dense(inputs)

    with pytest.raises(NotImplementedError, match=r"branch on `training`"):
        BranchesOnTraining().build((None, 3))

    class NumpyInCall(fk.Model):
        def __init__(self):
            super().__init__(name="numpy_in_call")
            self.dense = fk.layers.Dense(2)

        def call(self, inputs):
            return self.dense(np.maximum(inputs, 0))

    with pytest.raises(NotImplementedError, match=r"'numpy_in_call' \(NumpyInCall\).*numpy's"):
        NumpyInCall().predict(np.ones((2, 3)), verbose=0)

    class OwnWeights(fk.layers.Layer):
        def build(self, input_shape):
            self.w = self.add_weight((input_shape[-1], 2), initializer="ones", name="w")

        def call(self, inputs):
            return inputs @ self.w

    inputs = fk.Input((3,))
    with pytest.raises(NotImplementedError, match=r"creates weights of its own \(`add_weight`\)"):
        OwnWeights()(inputs)
    with pytest.raises(NotImplementedError, match="divide a tensor by a tensor"):
        fk.layers.Dense(2)(inputs) / fk.layers.Dense(2)(inputs)
    with pytest.raises(ValueError, match="needs both `inputs` and `outputs`"):
        fk.Model(inputs=inputs)


def test_a_custom_train_step_raises_rather_than_being_skipped():
    # Chollet's chapter 7: `class CustomModel(keras.Model): def train_step(self, data): ...`, built functionally.
    class CustomModel(fk.Model):
        def train_step(self, data):
            return {"loss": 0.0}

    inputs = fk.Input((3,))
    model = CustomModel(inputs, fk.layers.Dense(1)(inputs))
    with pytest.raises(NotImplementedError, match="overrides `train_step`: fastconv runs its own"):
        model.compile(optimizer="sgd", loss="mse")

    class CustomPredict(fk.Model):
        def predict_step(self, data):
            return data

    model = CustomPredict(inputs, fk.layers.Dense(1)(inputs))
    with pytest.raises(NotImplementedError, match="overrides `predict_step`"):
        model.predict(np.ones((2, 3)), verbose=0)


def _mc_dropout_classes(library):
    class MCDropout(library.layers.Dropout):  # Géron's Monte Carlo dropout: dropout at inference too
        def call(self, inputs, training=False):
            return super().call(inputs, training=True)

    class Doubled(library.layers.Dense):
        def call(self, inputs):
            return 2 * super().call(inputs)

    return MCDropout, Doubled


def test_a_subclass_of_a_layer_that_overrides_call_runs_its_call_as_keras():
    mc_dropout, doubled = _mc_dropout_classes(fk)
    keras_mc_dropout, keras_doubled = _mc_dropout_classes(keras)
    x = np.ones((4, 100), np.float32)
    ours = fk.Sequential([fk.Input((100,)), mc_dropout(0.5)])
    dropped = ours.predict(x, verbose=0)
    assert 100 < np.sum(dropped == 0) < 300 and set(np.unique(dropped)) == {0.0, 2.0}  # dropout in predict
    assert np.sum(mc_dropout(0.5)(x) == 0) > 100  # and when called
    ours, theirs = fk.Sequential([fk.Input((3,)), doubled(2)]), keras.Sequential([keras.Input((3,)), keras_doubled(2)])
    ours.set_weights(theirs.get_weights())
    np.testing.assert_allclose(ours.predict(x[:2, :3], verbose=0), theirs.predict(x[:2, :3], verbose=0), rtol=1e-6)
    ours.compile(optimizer="sgd", loss="mse")
    with pytest.raises(NotImplementedError, match=r"'doubled' \(Doubled, a Dense\) overrides `call\(\)` and returns"):
        ours.fit(x[:2, :3], np.zeros((2, 2)), verbose=0)


def test_a_model_with_mc_dropout_trains_as_with_dropout():
    # MCDropout returns Dropout's outputs as they are: the model trains through it, with Dropout's gradient.
    mc_dropout, _ = _mc_dropout_classes(fk)
    fk.utils.set_random_seed(3)
    with_mc = fk.Sequential([fk.Input((8,)), fk.layers.Dense(16, activation="relu"), mc_dropout(0.3),
                             fk.layers.Dense(1)])
    fk.utils.set_random_seed(3)
    plain = fk.Sequential([fk.Input((8,)), fk.layers.Dense(16, activation="relu"), fk.layers.Dropout(0.3),
                           fk.layers.Dense(1)])
    x, y = RNG.standard_normal((32, 8)).astype(np.float32), RNG.standard_normal((32, 1)).astype(np.float32)
    losses = []
    for model in (with_mc, plain):
        model.compile(optimizer="sgd", loss="mse")
        fk.utils.set_random_seed(4)
        losses.append(model.fit(x, y, epochs=2, batch_size=8, shuffle=False, verbose=0).history["loss"])
    np.testing.assert_allclose(losses[0], losses[1], rtol=1e-6)


def test_lambda_layers_compute_train_and_save_without_their_code(tmp_path):
    # `keras.layers.Lambda(lambda x: x / 255.0)`: the arithmetic joins the model as layers, so the saved file
    # is a functional model that Keras loads with the same numbers (Keras itself would save the bytecode).
    model = fk.Sequential([fk.Input((4,)), fk.layers.Lambda(lambda x: x / 255.0, name="scale"),
                           fk.layers.Dense(3), fk.layers.Lambda(lambda t, k: k * t, arguments={"k": 2.0})])
    assert [type(layer).__name__ for layer in model.layers] == ["Lambda", "Dense", "Lambda"]
    assert model.get_layer("scale").output_shape == (None, 4)
    x = RNG.uniform(0, 255, (5, 4)).astype(np.float32)
    kernel, bias = model.layers[1].get_weights()
    np.testing.assert_allclose(model.predict(x, verbose=0), 2 * (x / 255 @ kernel + bias), rtol=1e-5, atol=1e-6)
    model.compile(optimizer="sgd", loss="mse")
    model.fit(x, np.zeros((5, 3)), verbose=0)
    model.save(tmp_path / "lambda.keras")
    reloaded = keras.models.load_model(tmp_path / "lambda.keras")
    np.testing.assert_allclose(reloaded.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-5, atol=1e-6)
    clone = fk.models.clone_model(model)
    assert clone.count_params() == model.count_params() and clone.output_shape == (None, 3)
    with pytest.raises(NotImplementedError, match=r"'bad' \(Lambda\).*numpy's"):
        fk.Sequential([fk.Input((4,)), fk.layers.Lambda(lambda x: np.tanh(x), name="bad")])


def _explicit_training_classes(library):
    layers = library.layers

    class MonteCarlo(library.Model):
        def __init__(self):
            super().__init__()
            self.dense, self.dropout = layers.Dense(8), layers.Dropout(0.5)

        def call(self, inputs):
            return self.dropout(self.dense(inputs), training=True)

    class FrozenStatistics(library.Model):
        def __init__(self):
            super().__init__()
            self.norm, self.out = layers.BatchNormalization(), layers.Dense(1)

        def call(self, inputs, training=None):
            return self.out(self.norm(inputs, training=False))

    return MonteCarlo, FrozenStatistics


def test_a_training_written_in_call_always_applies_as_in_keras():
    # Keras runs a subclassed model's call eagerly: `training=True` there drops out in predict (Monte Carlo
    # dropout), `training=False` keeps a BatchNormalization's moving statistics in fit (the transfer idiom).
    x = RNG.standard_normal((4, 3)).astype(np.float32) * 5
    for library in (fk, keras):
        monte_carlo, frozen = _explicit_training_classes(library)
        model = monte_carlo()
        first, second = (np.asarray(model.predict(x, verbose=0)) for _ in range(2))
        assert (first == 0).sum() > 5 and not np.array_equal(first, second), library.__name__
        model = frozen()
        model.compile(optimizer="sgd", loss="mse")
        model.fit(x, np.zeros((4, 1)), epochs=2, verbose=0)
        assert np.array_equal(keras.ops.convert_to_numpy(model.norm.moving_mean), np.zeros(3)), library.__name__


def test_predict_on_a_subclassed_layer_from_two_threads():
    # forward_through_call keeps what each thread's call captured apart.
    import threading
    import time

    class SlowMonteCarlo(fk.layers.Dropout):
        def call(self, inputs, training=False):
            time.sleep(0.1 if threading.current_thread().name == "slow" else 0.01)
            return super().call(inputs, training=True)

    model = fk.Sequential([fk.Input((10,)), SlowMonteCarlo(0.5)])
    results, errors = {}, []

    def predict(name):
        try:
            results[name] = model.predict(np.ones((2, 10), np.float32), verbose=0)
        except Exception as error:  # noqa: BLE001 (reported below)
            errors.append(error)

    threads = [threading.Thread(target=predict, args=(name,), name=name) for name in ("slow", "fast")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors and {name: r.shape for name, r in results.items()} == {"slow": (2, 10), "fast": (2, 10)}


def test_a_sequential_of_a_layer_of_yours_with_weights_saves_and_loads(tmp_path):
    class Residual(fk.layers.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.first, self.second = fk.layers.Dense(4), fk.layers.Dense(4)

        def call(self, inputs):
            return inputs + self.second(self.first(inputs))

    model = fk.Sequential([fk.Input((4,)), Residual(name="res"), fk.layers.Dense(1)])
    x = RNG.standard_normal((3, 4)).astype(np.float32)
    model.save(tmp_path / "res.keras")
    np.testing.assert_array_equal(fk.models.load_model(tmp_path / "res.keras").predict(x, verbose=0),
                                  model.predict(x, verbose=0))
    np.testing.assert_allclose(keras.models.load_model(tmp_path / "res.keras").predict(x, verbose=0),
                               model.predict(x, verbose=0), rtol=1e-5, atol=1e-6)
    model.save_weights(tmp_path / "res.weights.h5")
    other = fk.Sequential([fk.Input((4,)), Residual(), fk.layers.Dense(1)])
    other.load_weights(tmp_path / "res.weights.h5")
    np.testing.assert_array_equal(other.predict(x, verbose=0), model.predict(x, verbose=0))


def test_get_layer_finds_a_layer_of_yours_by_its_name():
    unit_class = _classes(fk)[0]
    inputs = fk.Input((8, 8, 4))
    unit = unit_class(4, name="unit")
    model = fk.Model(inputs, fk.layers.GlobalAveragePooling2D()(unit(inputs)))
    assert model.get_layer("unit") is unit and unit.output_shape == (None, 8, 8, 4)


def _no_training_classes(library):
    layers = library.layers

    class NoTraining(library.Model):  # call() takes no `training`: Keras's loops call it without one
        def __init__(self):
            super().__init__()
            self.norm, self.dropout, self.out = layers.BatchNormalization(), layers.Dropout(0.9), layers.Dense(1)

        def call(self, inputs):
            return self.out(self.dropout(self.norm(inputs)))

    class TrainingByDefault(library.Model):
        def __init__(self):
            super().__init__()
            self.dropout = layers.Dropout(0.5)

        def call(self, inputs, training=True):
            return self.dropout(inputs, training=training)

    return NoTraining, TrainingByDefault


def test_a_call_without_training_runs_its_layers_at_their_defaults_as_keras():
    x = RNG.standard_normal((16, 3)).astype(np.float32) * 4 + 2
    for library in (fk, keras):
        no_training, by_default = _no_training_classes(library)
        model = no_training()
        model.compile(optimizer="sgd", loss="mse")
        history = model.fit(x, np.zeros((16, 1)), batch_size=16, epochs=1, shuffle=False, verbose=0).history
        assert np.array_equal(keras.ops.convert_to_numpy(model.norm.moving_mean), np.zeros(3)), library.__name__
        assert np.isfinite(history["loss"][0])
        dropped = keras.ops.convert_to_numpy(by_default()(np.ones((4, 50), np.float32)))
        assert (dropped == 0).sum() > 20, library.__name__  # the call's default, training=True


def test_register_keras_serializable_and_custom_object_scope_as_keras():
    # keras.io's subclassing examples decorate their classes; Keras's registry answers by "package>name".
    classes = {}
    for library in (fk, keras):
        package = "Test" + library.__name__.replace(".", "_")

        @library.saving.register_keras_serializable(package=package)
        class Scale(library.layers.Layer):
            def call(self, inputs):
                return inputs * 2.0

        registered = library.saving.get_registered_name(Scale)
        assert registered == f"{package}>Scale"
        assert library.saving.get_registered_object(registered) is Scale
        assert library.saving.get_custom_objects()[registered] is Scale
        with library.saving.custom_object_scope({"Doubler": Scale}):
            assert library.saving.get_registered_object("Doubler") is Scale
        assert library.saving.get_registered_object("Doubler") is None
        classes[library] = Scale
    model = fk.Sequential([fk.Input((2,)), classes[fk]()])  # the decorated class, unchanged, as a layer
    np.testing.assert_array_equal(model.predict(np.ones((1, 2), np.float32), verbose=0), [[2.0, 2.0]])


def test_a_layer_of_yours_used_twice_with_named_inner_layers_saves_a_file_both_load(tmp_path):
    class Unit(fk.layers.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.fc = fk.layers.Dense(4, activation="relu", name="fc")  # a name, so two units repeat it

        def call(self, inputs):
            return self.fc(inputs) + inputs

    inputs = fk.Input((4,))
    model = fk.Model(inputs, fk.layers.Dense(2)(Unit()(Unit()(inputs))))
    model.save(tmp_path / "units.keras")
    x = RNG.standard_normal((3, 4)).astype(np.float32)
    np.testing.assert_array_equal(fk.models.load_model(tmp_path / "units.keras").predict(x, verbose=0),
                                  model.predict(x, verbose=0))
    np.testing.assert_allclose(keras.models.load_model(tmp_path / "units.keras").predict(x, verbose=0),
                               model.predict(x, verbose=0), rtol=1e-5, atol=1e-6)
