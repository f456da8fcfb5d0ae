"""Learning-rate schedules against Keras 3: values, optimizer steps and training, configs, and ``.keras`` files."""

import numpy as np
import pytest

from fastconv import keras as fk
from fastconv import optimizers, schedules
from fastconv.variables import Variable
from keras_reference import keras

# Keras's torch backend converts its tensors with np.array(x, copy=False), which numpy 2 deprecates.
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword",
                                        "ignore:Do not pass an `input_shape`")

SCHEDULES = [
    ("ExponentialDecay", (0.1, 7, 0.5), {}),
    ("ExponentialDecay", (0.1, 7, 0.5), {"staircase": True}),
    ("ExponentialDecay", (2.0, 3, 1.5), {}),
    ("PiecewiseConstantDecay", ([5, 12, 30], [0.5, 0.2, 0.05, 0.001]), {}),
    ("PiecewiseConstantDecay", ([10], [1.0, 0.1]), {}),
    ("PiecewiseConstantDecay", ([2.5, 7.9], [1.0, 0.1, 0.01]), {}),
    ("CosineDecay", (0.1, 25), {}),
    ("CosineDecay", (0.1, 25), {"alpha": 0.2}),
    ("CosineDecay", (0.0, 20), {"warmup_target": 0.2, "warmup_steps": 8}),
    ("CosineDecay", (0.05, 10), {"alpha": 0.1, "warmup_target": 0.5, "warmup_steps": 3}),
    ("InverseTimeDecay", (0.1, 7, 0.5), {}),
    ("InverseTimeDecay", (0.1, 7, 0.5), {"staircase": True}),
    ("InverseTimeDecay", (2.0, 3, 1.5), {"name": "slow"}),
    ("PolynomialDecay", (0.1, 25), {}),
    ("PolynomialDecay", (0.1, 25), {"end_learning_rate": 0.01, "power": 2.0}),
    ("PolynomialDecay", (0.1, 7), {"end_learning_rate": 0.02, "power": 0.5, "cycle": True}),
    ("PolynomialDecay", (0.3, 10), {"cycle": True}),
    ("CosineDecayRestarts", (0.1, 5), {}),  # restarts at steps 5, 15, 35
    ("CosineDecayRestarts", (0.1, 4), {"t_mul": 1.0, "m_mul": 0.8, "alpha": 0.1}),
    ("CosineDecayRestarts", (0.2, 3), {"t_mul": 1.5, "m_mul": 0.5, "alpha": 0.05, "name": "sgdr"}),
    ("CosineDecayRestarts", (0.1, 7), {"t_mul": 3.0, "m_mul": 1.2}),
]
IDS = [f"{name}-{i}" for i, (name, _, _) in enumerate(SCHEDULES)]


def _both(name, args, kwargs):
    return getattr(schedules, name)(*args, **kwargs), getattr(keras.optimizers.schedules, name)(*args, **kwargs)


@pytest.mark.parametrize("name, args, kwargs", SCHEDULES, ids=IDS)
def test_values_equal_keras(name, args, kwargs):
    ours, theirs = _both(name, args, kwargs)
    steps = np.arange(120)
    mine = np.array([ours(t) for t in steps])
    reference = np.array([keras.ops.convert_to_numpy(theirs(keras.ops.convert_to_tensor(t, "int32"))) for t in steps])
    assert mine.dtype == np.float32
    # Cosines (and logarithms) in float32 differ between numpy and torch by an ulp: near the end of a cosine
    # period, 1 + cos(pi * f) cancels, leaving an ulp of the initial rate (7e-9 for 0.1) as the difference.
    np.testing.assert_allclose(mine, reference, rtol=2e-7, atol=1e-8)


@pytest.mark.parametrize("name, args, kwargs", SCHEDULES, ids=IDS)
def test_config_and_serialization_equal_keras(name, args, kwargs):
    ours, theirs = _both(name, args, kwargs)
    assert schedules.serialize(ours) == keras.optimizers.schedules.serialize(theirs)
    again = schedules.deserialize(keras.optimizers.schedules.serialize(theirs))
    assert type(again) is type(ours) and again.get_config() == theirs.get_config()


SHAPES = {"dense/kernel": (5, 3), "dense/bias": (3,)}


@pytest.mark.parametrize("optimizer, kwargs", [("Adam", {}), ("SGD", {"momentum": 0.9}), ("RMSprop", {}),
                                               ("Adagrad", {}), ("SGD", {"weight_decay": 0.1})])
@pytest.mark.parametrize("name, args, kwargs_schedule", [SCHEDULES[1], SCHEDULES[3], SCHEDULES[8], SCHEDULES[11],
                                                         SCHEDULES[15], SCHEDULES[19]],
                         ids=["exponential", "piecewise", "cosine-warmup", "inverse-time", "polynomial-cycle",
                              "cosine-restarts"])
def test_optimizer_steps_match_keras(optimizer, kwargs, name, args, kwargs_schedule):
    """Each step uses schedule(iterations) before the update; the variables list has no learning rate."""
    from keras.src.optimizers.base_optimizer import BaseOptimizer
    rng = np.random.default_rng(1)
    weights = {p: rng.standard_normal(s).astype(np.float32) for p, s in SHAPES.items()}
    ours_s, theirs_s = _both(name, args, kwargs_schedule)
    ours = getattr(optimizers, optimizer)(learning_rate=ours_s, **kwargs)
    theirs = getattr(keras.optimizers, optimizer)(learning_rate=theirs_s, **kwargs)
    # Keras's backend-agnostic update_step, as in test_optimizers.py.
    theirs._backend_update_step = BaseOptimizer._backend_update_step.__get__(theirs)
    our_vars = [Variable(w, name=p.split("/")[1], path=p) for p, w in weights.items()]
    their_vars = [keras.Variable(w) for w in weights.values()]
    for _ in range(14):
        assert float(np.asarray(ours.learning_rate)) == pytest.approx(
            float(keras.ops.convert_to_numpy(theirs.learning_rate)), rel=1e-6)
        grads = [rng.standard_normal(s).astype(np.float32) for s in SHAPES.values()]
        ours.apply(grads, our_vars)
        theirs.apply([keras.ops.convert_to_tensor(g) for g in grads], their_vars)
        for mine, reference in zip(our_vars, their_vars):
            np.testing.assert_allclose(mine.value, keras.ops.convert_to_numpy(reference), rtol=1e-5, atol=1e-6)
    assert len(ours.variables) == len(theirs.variables)
    # The same config but the name, which each library numbers by its own count of optimizers made so far.
    assert {**ours.get_config(), "name": None} == {**theirs.get_config(), "name": None}


def _dense(lib, sequential):
    model = sequential([lib.Input(shape=(4,)), lib.layers.Dense(6, activation="tanh"), lib.layers.Dense(2)])
    return model


DATA_X = np.random.default_rng(2).standard_normal((32, 4)).astype(np.float32)
DATA_Y = np.random.default_rng(3).standard_normal((32, 2)).astype(np.float32)


def _fit(model, epochs=1):
    model.fit(DATA_X, DATA_Y, batch_size=4, epochs=epochs, shuffle=False, verbose=0)


def _keras_weights(model):
    return [keras.ops.convert_to_numpy(w) for w in model.weights]


def test_training_dense_model_with_scheduled_adam_matches_keras():
    ours = _dense(fk, fk.Sequential)
    theirs = _dense(keras, keras.Sequential)
    theirs.set_weights(ours.get_weights())
    ours.compile(optimizer=fk.optimizers.Adam(fk.optimizers.schedules.ExponentialDecay(0.05, 3, 0.5)), loss="mse")
    theirs.compile(optimizer=keras.optimizers.Adam(keras.optimizers.schedules.ExponentialDecay(0.05, 3, 0.5)),
                   loss="mse")
    _fit(ours, epochs=2)
    _fit(theirs, epochs=2)
    assert int(ours.optimizer.iterations.numpy()) == int(keras.ops.convert_to_numpy(theirs.optimizer.iterations)) == 16
    for mine, reference in zip(ours.get_weights(), _keras_weights(theirs), strict=True):
        np.testing.assert_allclose(mine, reference, rtol=1e-5, atol=1e-6)
    assert float(np.asarray(ours.optimizer.learning_rate)) == pytest.approx(0.05 * 0.5 ** (16 / 3), rel=1e-6)


def test_learning_rate_reads_the_schedule_and_cannot_be_assigned():
    schedule = schedules.PiecewiseConstantDecay([1], [0.5, 0.25])
    optimizer = optimizers.SGD(learning_rate=schedule)
    assert float(np.asarray(optimizer.learning_rate)) == 0.5
    w = Variable(np.ones(2, np.float32), name="w")
    optimizer.apply([np.ones(2, np.float32)], [w])
    np.testing.assert_array_equal(w.value, [0.5, 0.5])
    optimizer.apply([np.ones(2, np.float32)], [w])
    np.testing.assert_array_equal(w.value, [0.0, 0.0])  # step 1 <= boundary 1: still 0.5
    assert float(np.asarray(optimizer.learning_rate)) == 0.25
    with pytest.raises(TypeError, match="created with a `LearningRateSchedule`.*not settable"):
        optimizer.learning_rate = 0.1
    assert [v.name for v in optimizer.variables] == ["iteration"]
    plain = optimizers.SGD(learning_rate=0.1)
    plain.learning_rate = schedule
    assert [v.name for v in plain.variables] == ["iteration"] and plain.get_config()["learning_rate"]["config"] == \
        schedule.get_config()


def test_from_config_with_a_serialized_schedule():
    optimizer = optimizers.Adam(schedules.CosineDecay(0.1, 10, warmup_target=0.2, warmup_steps=2))
    again = optimizers.Adam.from_config(optimizer.get_config())
    assert isinstance(again._learning_rate, schedules.CosineDecay)
    assert again.get_config() == optimizer.get_config()
    assert optimizers.deserialize(optimizers.serialize(optimizer)).get_config() == optimizer.get_config()


def test_keras_file_with_a_schedule_loads_both_ways(tmp_path):
    # fastconv -> Keras
    ours = _dense(fk, fk.Sequential)
    ours.compile(optimizer=fk.optimizers.Adam(fk.optimizers.schedules.ExponentialDecay(0.05, 3, 0.5)), loss="mse")
    _fit(ours)
    ours.save(tmp_path / "ours.keras")
    theirs = keras.models.load_model(tmp_path / "ours.keras")
    assert theirs.optimizer.get_config()["learning_rate"] == ours.optimizer.get_config()["learning_rate"]
    assert isinstance(theirs.optimizer._learning_rate, keras.optimizers.schedules.ExponentialDecay)
    assert int(keras.ops.convert_to_numpy(theirs.optimizer.iterations)) == 8
    assert len(theirs.optimizer.variables) == len(ours.optimizer.variables)
    for mine, reference in zip(ours.optimizer.variables, theirs.optimizer.variables, strict=True):
        np.testing.assert_array_equal(mine.numpy(), keras.ops.convert_to_numpy(reference))
    # Both continue at step 8, with the rate of step 8.
    assert float(keras.ops.convert_to_numpy(theirs.optimizer.learning_rate)) == pytest.approx(
        float(np.asarray(ours.optimizer.learning_rate)), rel=1e-6)
    _fit(ours)
    _fit(theirs)
    for mine, reference in zip(ours.get_weights(), _keras_weights(theirs), strict=True):
        np.testing.assert_allclose(mine, reference, rtol=1e-5, atol=1e-6)

    # Keras -> fastconv
    keras_model = _dense(keras, keras.Sequential)
    keras_model.compile(optimizer=keras.optimizers.SGD(
        keras.optimizers.schedules.PiecewiseConstantDecay([3, 6], [0.1, 0.05, 0.01]), momentum=0.9), loss="mse")
    _fit(keras_model)
    keras_model.save(tmp_path / "theirs.keras")
    loaded = fk.models.load_model(tmp_path / "theirs.keras")
    assert loaded.optimizer.get_config()["learning_rate"] == keras_model.optimizer.get_config()["learning_rate"]
    assert int(loaded.optimizer.iterations.numpy()) == 8
    for mine, reference in zip(loaded.optimizer.variables, keras_model.optimizer.variables, strict=True):
        np.testing.assert_array_equal(mine.numpy(), keras.ops.convert_to_numpy(reference))
    assert float(np.asarray(loaded.optimizer.learning_rate)) == np.float32(0.01)
    _fit(loaded)
    _fit(keras_model)
    for mine, reference in zip(loaded.get_weights(), _keras_weights(keras_model), strict=True):
        np.testing.assert_allclose(mine, reference, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name, args, kwargs", [SCHEDULES[11], SCHEDULES[15], SCHEDULES[20]],
                         ids=["inverse-time", "polynomial-cycle", "cosine-restarts"])
def test_keras_files_with_the_other_schedules_load_both_ways(name, args, kwargs, tmp_path):
    models = {}
    for lib in (fk, keras):
        model = _dense(lib, lib.Sequential)
        model.compile(optimizer=lib.optimizers.Adam(getattr(lib.optimizers.schedules, name)(*args, **kwargs)),
                      loss="mse")
        _fit(model)
        model.save(tmp_path / f"{lib.__name__}.keras")
        models[lib] = model
    for source, loader in ((fk, keras.models.load_model), (keras, fk.models.load_model)):
        loaded = loader(tmp_path / f"{source.__name__}.keras")
        schedule = loaded.optimizer.get_config()["learning_rate"]
        assert schedule == models[source].optimizer.get_config()["learning_rate"]
        assert schedule["class_name"] == name and type(loaded.optimizer._learning_rate).__name__ == name
        # Both continue at step 8, with the rate of step 8.
        assert float(keras.ops.convert_to_numpy(loaded.optimizer.learning_rate)) == pytest.approx(
            float(keras.ops.convert_to_numpy(models[source].optimizer.learning_rate)), rel=1e-6)
        _fit(loaded)
        _fit(models[source])
        for mine, reference in zip(loaded.get_weights(), models[source].get_weights(), strict=True):
            np.testing.assert_allclose(keras.ops.convert_to_numpy(mine), keras.ops.convert_to_numpy(reference),
                                       rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("make, message", [
    (lambda s: s.ExponentialDecay(0.1, 0, 0.5), r"Argument `decay_steps` must be > 0. Received: decay_steps=0"),
    (lambda s: s.ExponentialDecay(0.1, -3, 0.5), r"Received: decay_steps=-3"),
    (lambda s: s.CosineDecay(0.1, 0), r"Argument `decay_steps` must be > 0. Received: decay_steps=0"),
    (lambda s: s.InverseTimeDecay(0.1, 0, 0.5), r"Argument `decay_steps` must be > 0. Received: decay_steps=0"),
    (lambda s: s.PolynomialDecay(0.1, -1), r"Argument `decay_steps` must be > 0. Received: decay_steps=-1"),
    (lambda s: s.CosineDecayRestarts(0.1, 0),
     r"Argument `first_decay_steps` must be > 0. Received: first_decay_steps=0"),
    (lambda s: s.PiecewiseConstantDecay([1, 2], [0.1, 0.2]),
     r"The length of boundaries should be 1 less than the length of values. Received: boundaries=\[1, 2\] of "
     r"length 2, and values=\[0.1, 0.2\] of length 2."),
])
def test_bad_arguments_raise_like_keras(make, message):
    with pytest.raises(ValueError, match=message):
        make(schedules)
    with pytest.raises(ValueError, match=message):
        make(keras.optimizers.schedules)


def test_unknown_schedule_names_raise():
    with pytest.raises(ValueError, match="Could not interpret learning-rate schedule: WarmupDecay"):
        schedules.deserialize({"class_name": "WarmupDecay", "config": {}})


def test_callables_are_still_refused():
    with pytest.raises(NotImplementedError, match="callables"):
        optimizers.Adam(learning_rate=lambda: 0.1)
