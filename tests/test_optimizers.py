"""fastconv.optimizers against Keras 3 (torch backend) and against the update equations worked by hand."""

import re
import types
import warnings

import numpy as np
import pytest

from fastconv import optimizers
from fastconv.variables import Variable
from keras_reference import keras

# Keras's torch backend converts its tensors with np.array(x, copy=False), which numpy 2 deprecates.
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword")

SHAPES = {"conv2d/kernel": (3, 3, 2, 4), "conv2d/bias": (4,), "dense/kernel": (5, 3)}
STEPS = 6

CASES = [
    ("SGD", {}),
    ("SGD", {"momentum": 0.9}),
    ("SGD", {"momentum": 0.9, "nesterov": True}),
    ("Adam", {}),
    ("Adam", {"amsgrad": True}),
    ("Adam", {"learning_rate": 0.01, "beta_1": 0.8, "beta_2": 0.99, "epsilon": 1e-5}),
    ("RMSprop", {}),
    ("RMSprop", {"momentum": 0.5}),
    ("RMSprop", {"centered": True}),
    ("RMSprop", {"momentum": 0.5, "centered": True, "rho": 0.8}),
    ("Adagrad", {}),
    ("Adagrad", {"learning_rate": 0.1, "initial_accumulator_value": 0.5}),
    ("Adam", {"clipnorm": 0.5}),
    ("Adam", {"global_clipnorm": 0.5}),
    ("SGD", {"clipvalue": 0.1, "momentum": 0.5}),
    ("SGD", {"weight_decay": 0.1, "learning_rate": 0.1}),
    ("Adam", {"loss_scale_factor": 128.0}),
    ("AdamW", {}),
    ("AdamW", {"weight_decay": 0.1, "learning_rate": 0.01, "amsgrad": True}),
    ("Nadam", {}),
    ("Nadam", {"learning_rate": 0.01, "beta_1": 0.8, "weight_decay": 0.01}),
    ("Adamax", {}),
    ("Adamax", {"learning_rate": 0.01, "beta_2": 0.9, "clipnorm": 0.5}),
    ("Adadelta", {}),
    ("Adadelta", {"learning_rate": 1.0, "rho": 0.9, "epsilon": 1e-6}),
    ("Lion", {}),
    ("Lion", {"learning_rate": 0.01, "beta_1": 0.5, "beta_2": 0.9, "weight_decay": 0.01}),
]
CASE_IDS = [f"{name}-{'-'.join(f'{k}={v}' for k, v in kw.items()) or 'defaults'}" for name, kw in CASES]


def _random_problem(seed):
    rng = np.random.default_rng(seed)
    weights = {path: rng.standard_normal(shape).astype(np.float32) for path, shape in SHAPES.items()}
    grads = [{path: rng.standard_normal(shape).astype(np.float32) * 2 for path, shape in SHAPES.items()}
             for _ in range(STEPS)]
    return weights, grads


def _ours(name, kwargs, weights):
    variables = [Variable(w, name=path.split("/")[1], path=path) for path, w in weights.items()]
    return getattr(optimizers, name)(name=name.lower(), **kwargs), variables


def _theirs(name, kwargs, weights, generic):
    variables = []
    for path, w in weights.items():
        layer, weight = path.split("/")
        with keras.name_scope(layer):
            variables.append(keras.Variable(w, name=weight))
    optimizer = getattr(keras.optimizers, name)(name=name.lower(), **kwargs)
    if generic:
        # Run Keras's backend-agnostic update_step (what its TensorFlow and JAX
        # backends run) instead of the torch backend's fused rewrite.
        from keras.src.optimizers.base_optimizer import BaseOptimizer
        optimizer._backend_update_step = types.MethodType(BaseOptimizer._backend_update_step, optimizer)
    return optimizer, variables


# -- against Keras ----------------------------------------------------------------------------------------

# Nadam's generic update needs its own `_backend_update_step` (which multiplies in the momentum factors):
# its torch-fused version is the reference.
@pytest.mark.parametrize("name, kwargs, generic", [
    pytest.param(name, kwargs, generic, id=f"{case_id}-{'keras-update_step' if generic else 'keras-torch-fused'}")
    for (name, kwargs), case_id in zip(CASES, CASE_IDS) for generic in (True, False)
    if not (generic and name == "Nadam")])
def test_steps_match_keras(name, kwargs, generic):
    weights, grads = _random_problem(0)
    ours, our_vars = _ours(name, kwargs, weights)
    theirs, their_vars = _theirs(name, kwargs, weights, generic)
    for step in grads:
        ours.apply([step[p] for p in SHAPES], our_vars)
        theirs.apply([keras.ops.convert_to_tensor(step[p]) for p in SHAPES], their_vars)
        for mine, reference in zip(our_vars, their_vars):
            np.testing.assert_allclose(mine.value, keras.ops.convert_to_numpy(reference), rtol=1e-6, atol=1e-6)
    # The whole state, slot by slot, in the same order.
    assert len(ours.variables) == len(theirs.variables)
    for mine, reference in zip(ours.variables, theirs.variables):
        np.testing.assert_allclose(mine.value, keras.ops.convert_to_numpy(reference), rtol=1e-6, atol=1e-6,
                                   err_msg=mine.path)


@pytest.mark.parametrize("name, kwargs", [
    ("SGD", {}), ("SGD", {"momentum": 0.9}), ("Adam", {}), ("Adam", {"amsgrad": True}), ("RMSprop", {}),
    ("RMSprop", {"momentum": 0.5, "centered": True}), ("Adagrad", {}), ("Nadam", {}), ("Adamax", {}),
    ("Adadelta", {}), ("Lion", {}),
], ids=lambda v: str(v))
def test_variables_order_and_paths_match_keras(name, kwargs):
    weights, _ = _random_problem(1)
    ours, our_vars = _ours(name, kwargs, weights)
    theirs, their_vars = _theirs(name, kwargs, weights, generic=False)
    ours.build(our_vars)
    theirs.build(their_vars)
    def unnumbered(name):  # Nadam's `variable`, numbered in each process as Keras numbers unnamed variables
        return re.sub(r"^variable_\d+$", "variable", name)

    assert [(unnumbered(v.path), tuple(v.shape)) for v in ours.variables] == \
           [(unnumbered(v.path), tuple(v.shape)) for v in theirs.variables]
    assert [unnumbered(v.name) for v in ours.variables] == [unnumbered(v.name) for v in theirs.variables]


def test_adam_variables_interleave_momentum_and_velocity_per_weight():
    # Keras 3.15 creates both slots of one weight before moving on (add_optimizer_variables
    # with a list of names); a .keras file's optimizer/vars/0..n follow this order.
    kernel = Variable(np.zeros((2, 3)), name="kernel", path="dense/kernel")
    bias = Variable(np.zeros(3), name="bias", path="dense/bias")
    adam = optimizers.Adam(amsgrad=True, name="adam")
    adam.build([kernel, bias])
    assert [v.path for v in adam.variables] == [
        "adam/iteration", "adam/learning_rate",
        "adam/dense_kernel_momentum", "adam/dense_kernel_velocity",
        "adam/dense_bias_momentum", "adam/dense_bias_velocity",
        "adam/dense_kernel_velocity_hat", "adam/dense_bias_velocity_hat"]
    assert adam.iterations.value.shape == () and adam.iterations.dtype == np.int64
    assert adam.learning_rate.value.shape == () and adam.learning_rate.dtype == np.float32
    assert not any(v.trainable for v in adam.variables)


def test_state_written_by_keras_loads_and_continues_identically():
    weights, grads = _random_problem(2)
    theirs, their_vars = _theirs("Adam", {}, weights, generic=True)
    for step in grads[:3]:
        theirs.apply([keras.ops.convert_to_tensor(step[p]) for p in SHAPES], their_vars)
    store = {}
    theirs.save_own_variables(store)  # what a .keras file holds under optimizer/vars

    ours, our_vars = _ours("Adam", {}, {p: keras.ops.convert_to_numpy(v) for p, v in zip(SHAPES, their_vars)})
    ours.build(our_vars)
    ours.load_own_variables({k: keras.ops.convert_to_numpy(v) for k, v in store.items()})
    assert int(ours.iterations.value) == 3
    for step in grads[3:]:
        ours.apply([step[p] for p in SHAPES], our_vars)
        theirs.apply([keras.ops.convert_to_tensor(step[p]) for p in SHAPES], their_vars)
    for mine, reference in zip(our_vars, their_vars):
        np.testing.assert_allclose(mine.value, keras.ops.convert_to_numpy(reference), rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("name, kwargs", [
    ("SGD", {}), ("Adam", {}), ("RMSprop", {}), ("Adagrad", {}),
    ("SGD", {"momentum": 0.9, "nesterov": True, "learning_rate": 0.1}),
    ("Adam", {"amsgrad": True, "clipnorm": 1.0, "weight_decay": 0.004}),
    ("RMSprop", {"centered": True, "global_clipnorm": 2.0}), ("Nadam", {"beta_1": 0.8}), ("Adamax", {}),
    ("Adadelta", {"rho": 0.9}), ("Lion", {"beta_2": 0.9}),
], ids=lambda v: str(v))
def test_config_and_serialization_equal_keras(name, kwargs):
    ours = getattr(optimizers, name)(name="opt", **kwargs)
    theirs = getattr(keras.optimizers, name)(name="opt", **kwargs)
    assert ours.get_config() == theirs.get_config()
    assert list(ours.get_config()) == list(theirs.get_config())
    serialized = optimizers.serialize(ours)
    # What Keras writes under TensorFlow; its torch backend names its own module and a registered_name.
    assert serialized == {"module": "keras.optimizers", "class_name": name, "config": theirs.get_config(),
                          "registered_name": None}
    assert type(optimizers.deserialize(keras.optimizers.serialize(theirs))) is type(ours)
    again = optimizers.get(serialized)
    assert type(again) is type(ours) and again.get_config() == ours.get_config()


def test_from_config_round_trip():
    adam = optimizers.Adam(learning_rate=0.01, amsgrad=True, clipvalue=0.5, name="a")
    again = optimizers.Adam.from_config(adam.get_config())
    assert again.get_config() == adam.get_config()
    assert again is not adam and not again.built


# -- single steps worked by hand --------------------------------------------------------------------------

def _one(value):
    return Variable(np.array(value, dtype=np.float64), name="w", dtype="float64")


def _steps(optimizer, w0, grads):
    w = _one(w0)
    for g in grads:
        optimizer.apply([np.array(g, dtype=np.float64)], [w])
    return w.value


G1, G2 = np.array([0.5, -2.0, 1e-3]), np.array([-0.25, 1.0, 4.0])
W0 = np.array([1.0, -1.0, 0.5])


def test_sgd_by_hand():
    np.testing.assert_allclose(_steps(optimizers.SGD(learning_rate=0.1), W0, [G1]), W0 - 0.1 * G1, rtol=1e-6)
    m1 = -0.1 * G1
    m2 = 0.9 * m1 - 0.1 * G2
    np.testing.assert_allclose(_steps(optimizers.SGD(0.1, momentum=0.9), W0, [G1, G2]), W0 + m1 + m2,
                               rtol=1e-6)
    w1 = W0 + 0.9 * m1 - 0.1 * G1
    np.testing.assert_allclose(_steps(optimizers.SGD(0.1, momentum=0.9, nesterov=True), W0, [G1, G2]),
                               w1 + 0.9 * m2 - 0.1 * G2, rtol=1e-6)


def test_adam_by_hand():
    lr, b1, b2, eps = 0.001, 0.9, 0.999, 1e-7
    m = v = 0
    w = W0.copy()
    for t, g in enumerate([G1, G2], start=1):
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g ** 2
        w = w - lr * np.sqrt(1 - b2 ** t) / (1 - b1 ** t) * m / (np.sqrt(v) + eps)
    np.testing.assert_allclose(_steps(optimizers.Adam(), W0, [G1, G2]), w, rtol=1e-6)
    # First step: m_hat / sqrt(v_hat) = sign(g), so every weight moves by lr (less epsilon's share).
    np.testing.assert_allclose(_steps(optimizers.Adam(), W0, [G1]),
                               W0 - lr * np.sign(G1) * np.abs(G1) / (np.abs(G1) + eps / np.sqrt(1 - b2)),
                               rtol=1e-6)


def test_amsgrad_keeps_the_largest_velocity():
    # A large gradient then a tiny one: v falls, v_hat keeps the first step's v.
    lr, b1, b2, eps = 0.001, 0.9, 0.999, 1e-7
    g1, g2 = np.array([1.0]), np.array([0.01])
    m1, v1 = 0.1 * g1, 0.001 * g1 ** 2
    w1 = 0.0 - lr * np.sqrt(1 - b2) / (1 - b1) * m1 / (np.sqrt(v1) + eps)
    m2 = b1 * m1 + 0.1 * g2
    v2 = b2 * v1 + 0.001 * g2 ** 2
    assert v2 < v1
    w2 = w1 - lr * np.sqrt(1 - b2 ** 2) / (1 - b1 ** 2) * m2 / (np.sqrt(v1) + eps)
    np.testing.assert_allclose(_steps(optimizers.Adam(amsgrad=True), [0.0], [g1, g2]), w2, rtol=1e-6)
    plain = w1 - lr * np.sqrt(1 - b2 ** 2) / (1 - b1 ** 2) * m2 / (np.sqrt(v2) + eps)
    assert not np.allclose(_steps(optimizers.Adam(), [0.0], [g1, g2]), w2, rtol=1e-6)
    np.testing.assert_allclose(_steps(optimizers.Adam(), [0.0], [g1, g2]), plain, rtol=1e-6)


def test_rmsprop_by_hand():
    lr, rho, eps = 0.001, 0.9, 1e-7
    v1 = (1 - rho) * G1 ** 2
    np.testing.assert_allclose(_steps(optimizers.RMSprop(), W0, [G1]), W0 - lr * G1 / np.sqrt(v1 + eps),
                               rtol=1e-6)
    # Centered: the running mean of g is subtracted inside the root; epsilon stays inside.
    a1 = (1 - rho) * G1
    np.testing.assert_allclose(_steps(optimizers.RMSprop(centered=True), W0, [G1]),
                               W0 - lr * G1 / np.sqrt(v1 - a1 ** 2 + eps), rtol=1e-6)
    # Momentum accumulates the increments.
    v2 = rho * v1 + (1 - rho) * G2 ** 2
    inc1, inc2 = lr * G1 / np.sqrt(v1 + eps), lr * G2 / np.sqrt(v2 + eps)
    np.testing.assert_allclose(_steps(optimizers.RMSprop(momentum=0.5), W0, [G1, G2]),
                               W0 - inc1 - (0.5 * inc1 + inc2), rtol=1e-6)


def test_adagrad_by_hand():
    lr, eps = 0.001, 1e-7
    s1 = 0.1 + G1 ** 2
    s2 = s1 + G2 ** 2
    np.testing.assert_allclose(_steps(optimizers.Adagrad(), W0, [G1, G2]),
                               W0 - lr * G1 / np.sqrt(s1 + eps) - lr * G2 / np.sqrt(s2 + eps), rtol=1e-6)


def test_clipping_by_hand():
    g = np.array([3.0, 4.0])  # norm 5
    np.testing.assert_allclose(_steps(optimizers.SGD(1.0, clipnorm=1.0), [0.0, 0.0], [g]), -g / 5, rtol=1e-6)
    np.testing.assert_allclose(_steps(optimizers.SGD(1.0, clipnorm=10.0), [0.0, 0.0], [g]), -g, rtol=1e-6)
    np.testing.assert_allclose(_steps(optimizers.SGD(1.0, clipvalue=3.5), [0.0, 0.0], [g]), [-3.0, -3.5])
    a, b = _one([0.0, 0.0]), _one([0.0])
    optimizers.SGD(1.0, global_clipnorm=6.5).apply([g, np.array([12.0])], [a, b])  # global norm 13
    np.testing.assert_allclose(np.concatenate([a.value, b.value]), [-1.5, -2.0, -6.0], rtol=1e-6)


def test_float64_values_become_float32_variables_and_slots():
    w = Variable(np.array([1.0, 2.0]), name="w")
    adam = optimizers.Adam()
    adam.apply([np.array([0.5, -3.0])], [w])
    assert w.dtype == np.float32 and adam.variables[2].dtype == np.float32


# -- API ----------------------------------------------------------------------------------------------------

def test_defaults_are_keras_defaults():
    assert optimizers.SGD().get_config()["learning_rate"] == float(np.float32(0.01))
    sgd = optimizers.SGD()
    assert (sgd.momentum, sgd.nesterov) == (0.0, False)
    adam = optimizers.Adam()
    assert (float(adam.learning_rate.value), adam.beta_1, adam.beta_2, adam.epsilon, adam.amsgrad) == \
           (float(np.float32(0.001)), 0.9, 0.999, 1e-7, False)
    rms = optimizers.RMSprop()
    assert (rms.rho, rms.momentum, rms.epsilon, rms.centered) == (0.9, 0.0, 1e-7, False)
    ada = optimizers.Adagrad()
    assert (ada.initial_accumulator_value, ada.epsilon) == (0.1, 1e-7)


def test_learning_rate_is_a_settable_variable():
    w = _one([1.0])
    sgd = optimizers.SGD()
    sgd.learning_rate = 0.5
    assert sgd.learning_rate.value.dtype == np.float32 and float(sgd.learning_rate.value) == 0.5
    assert sgd.variables[1] is sgd.learning_rate
    sgd.apply([np.array([1.0])], [w])
    np.testing.assert_allclose(w.value, [0.5])
    assert sgd.get_config()["learning_rate"] == 0.5


def test_iterations_apply_gradients_and_apply_without_variables():
    w = _one([1.0, 2.0])
    sgd = optimizers.SGD(0.1)
    assert sgd.apply_gradients(zip([np.array([1.0, 1.0])], [w])) is sgd.iterations
    sgd.apply([np.array([1.0, 1.0])])  # built on [w]
    assert int(sgd.iterations.value) == 2
    np.testing.assert_allclose(w.value, [0.8, 1.8])


def test_save_and_load_own_variables_continue_identically():
    weights, grads = _random_problem(3)
    first, first_vars = _ours("RMSprop", {"momentum": 0.5, "centered": True}, weights)
    for step in grads[:3]:
        first.apply([step[p] for p in SHAPES], first_vars)
    store = {}
    first.save_own_variables(store)
    second, second_vars = _ours("RMSprop", {"momentum": 0.5, "centered": True},
                                {p: v.numpy() for p, v in zip(SHAPES, first_vars)})
    second.build(second_vars)
    second.load_own_variables(store)
    for step in grads[3:]:
        first.apply([step[p] for p in SHAPES], first_vars)
        second.apply([step[p] for p in SHAPES], second_vars)
    for a, b in zip(first.variables + first_vars, second.variables + second_vars):
        np.testing.assert_array_equal(a.value, b.value)


def test_loading_into_an_unbuilt_optimizer_warns_and_skips():
    with pytest.warns(UserWarning, match="has not been called/built yet"):
        optimizers.Adam(name="x").load_own_variables({str(i): np.zeros(()) for i in range(4)})


def test_none_gradients_are_skipped_with_a_warning():
    a, b = _one([1.0]), _one([1.0])
    sgd = optimizers.SGD(0.5)
    with pytest.warns(UserWarning, match=re.escape("Gradients do not exist for variables ['w']")):
        sgd.apply([np.array([1.0]), None], [a, b])
    assert (float(a.value[0]), float(b.value[0])) == (0.5, 1.0)
    with pytest.raises(ValueError, match="No gradients provided for any variable."):
        sgd.apply([None, None], [a, b])


def test_automatic_names_count_per_class_like_keras():
    first, second = optimizers.RMSprop(), optimizers.RMSprop()
    assert first.name.startswith("rm_sprop")
    number = 0 if first.name == "rm_sprop" else int(first.name.rsplit("_", 1)[1])
    assert second.name == f"rm_sprop_{number + 1}"
    assert second.iterations.path == f"{second.name}/iteration"


@pytest.mark.parametrize("identifier, cls", [
    ("sgd", optimizers.SGD), ("SGD", optimizers.SGD), ("adam", optimizers.Adam), ("Adam", optimizers.Adam),
    ("RMSprop", optimizers.RMSprop), ("rmsprop", optimizers.RMSprop), ("ADAGRAD", optimizers.Adagrad),
])
def test_get_resolves_names_case_insensitively(identifier, cls):
    assert type(optimizers.get(identifier)) is cls


def test_get_passes_objects_through_and_rejects_the_rest():
    adam = optimizers.Adam()
    assert optimizers.get(adam) is adam and optimizers.get(None) is None
    with pytest.raises(ValueError, match=re.escape("Could not interpret optimizer identifier: nope")):
        optimizers.get("nope")
    with pytest.raises(NotImplementedError, match=re.escape("The Keras optimizer `Ftrl` is not implemented")):
        optimizers.get("Ftrl")
    with pytest.raises(ValueError, match="Could not interpret optimizer identifier"):
        optimizers.get(3)


def test_errors():
    with pytest.raises(NotImplementedError, match=re.escape("Received: use_ema=True")):
        optimizers.Adam(use_ema=True)
    with pytest.raises(NotImplementedError, match=re.escape("Received: gradient_accumulation_steps=4")):
        optimizers.SGD(gradient_accumulation_steps=4)
    with pytest.raises(NotImplementedError, match="`learning_rate`; callables are not supported"):
        optimizers.SGD(learning_rate=lambda: 0.1)
    with pytest.raises(ValueError, match=re.escape("Argument `learning_rate` should be float")):
        optimizers.Adam(learning_rate=1)
    with pytest.raises(ValueError, match=re.escape("`momentum` must be a float between [0, 1].")):
        optimizers.SGD(momentum=1.5)
    with pytest.raises(ValueError, match=re.escape("Only one of `clipnorm`, `clipvalue` and `global_clipnorm`")):
        optimizers.SGD(clipnorm=1.0, clipvalue=1.0)
    with pytest.raises(ValueError, match=re.escape("Argument(s) not recognized: {'betas': 0.9}")):
        optimizers.Adam(betas=0.9)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(UserWarning, match="Argument `decay` is no longer supported"):
            optimizers.Adam(decay=0.1)

    w, other = _one([1.0]), _one([1.0])
    sgd = optimizers.SGD()
    sgd.apply([np.array([1.0])], [w])
    with pytest.raises(ValueError, match="Unknown variable: .* This optimizer can only be called for the variables"):
        sgd.apply([np.array([1.0])], [other])
    with pytest.raises(ValueError, match=re.escape("Invalid gradient for variable `w`: expected shape (1,). "
                                                   "Received: gradient.shape=(2,)")):
        sgd.apply([np.array([1.0, 2.0])], [w])
    with pytest.raises(TypeError, match="Received: variables\\[0\\] of type ndarray"):
        optimizers.SGD().apply([np.array([1.0])], [np.array([1.0])])


def test_learning_rate_works_as_a_number_as_in_keras():
    # A custom callback's `float(self.model.optimizer.learning_rate)` and `lr = lr * factor`.
    from fastconv import keras as fastconv_keras
    values = []
    for library in (fastconv_keras, keras):
        optimizer = library.optimizers.Adam(0.05)
        rate = optimizer.learning_rate
        values.append([float(rate), float(rate * 0.5), float(2 * rate), float(rate / 4), float(1 - rate),
                       bool(rate > 0.01), bool(rate <= 0.01), float(-rate)])
        optimizer.learning_rate = optimizer.learning_rate * 0.5
        values[-1].append(float(optimizer.learning_rate))
    np.testing.assert_allclose(values[0], values[1], rtol=1e-7)


def test_a_variable_compares_with_numbers_as_keras_and_with_variables_by_identity():
    """`optimizer.iterations == 17` in a callback, `learning_rate != 0.01`: element by element, as Keras's
    variables; between variables `==` is identity, so lists and dicts of variables work as before."""
    from fastconv.variables import Variable

    iterations = Variable(np.array(17), "iteration", dtype="int64")
    kernel = Variable(np.zeros((2, 2)), "kernel")
    assert iterations == 17 and 17 == iterations and not iterations != 17 and iterations != 3
    np.testing.assert_array_equal(kernel == 0, np.ones((2, 2), bool))
    assert iterations == iterations and kernel != iterations and kernel in [iterations, kernel]
    assert {kernel: 1}[kernel] == 1
    theirs = keras.Variable(np.array(17.0))
    assert bool(theirs == 17) and not bool(theirs != 17)


def test_a_variable_is_not_equal_to_none_or_a_string():
    """`None in [variable]` and `variable == None` are False, as for Keras's variables (not an array)."""
    from fastconv.variables import Variable

    kernel = Variable(np.zeros((2, 3)), "kernel")
    assert None not in [kernel] and "kernel" not in [kernel] and [kernel].count(None) == 0
    assert (kernel == None) is False and (kernel != None) is True  # noqa: E711 (the comparison under test)
    np.testing.assert_array_equal(kernel == [[0, 0, 0], [0, 0, 1]], [[True, True, True], [True, True, False]])
