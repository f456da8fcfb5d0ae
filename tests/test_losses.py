"""fastconv.losses against Keras 3 (torch backend): values, gradients (autograd, finite differences), errors."""

import re

import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st

from fastconv import losses
from keras_reference import keras

# Keras's torch backend converts its tensors with np.array(x, copy=False), which numpy 2 deprecates.
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword")

N, K = 8, 5


def _softmax(z):
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _data(kind, rng, dtype=np.float32, extreme=False):
    """(y_true, y_pred) for a loss case; ``extreme`` makes some probabilities clip at 1e-7 / 1 - 1e-7."""
    scale = 25.0 if extreme else 2.0
    logits = (rng.standard_normal((N, K)) * scale).astype(dtype)
    if kind == "sparse":
        return rng.integers(0, K, N), logits
    if kind == "sparse_col_float":
        return rng.integers(0, K, (N, 1)).astype(np.float32), logits
    if kind == "categorical":
        return np.eye(K, dtype=dtype)[rng.integers(0, K, N)], logits
    if kind == "binary":
        return rng.integers(0, 2, (N, 3)).astype(dtype), (rng.standard_normal((N, 3)) * scale).astype(dtype)
    if kind == "binary_column":  # labels (n,), predictions (n, 1): aligned by the loss object
        return rng.integers(0, 2, N), (rng.standard_normal((N, 1)) * scale).astype(dtype)
    if kind == "mse":
        return rng.standard_normal((N, 3)).astype(dtype), rng.standard_normal((N, 3)).astype(dtype)
    if kind == "mse_column":
        return rng.standard_normal(N).astype(dtype), rng.standard_normal((N, 1)).astype(dtype)
    raise AssertionError(kind)


def _probs(kind, logits):
    if kind.startswith("sparse") or kind == "categorical":
        return _softmax(logits.astype(np.float64)).astype(logits.dtype)
    return (1 / (1 + np.exp(-logits.astype(np.float64)))).astype(logits.dtype)


# (fastconv class, keras class name, kwargs, data kind)
CASES = [
    (losses.SparseCategoricalCrossentropy, "SparseCategoricalCrossentropy", {}, "sparse"),
    (losses.SparseCategoricalCrossentropy, "SparseCategoricalCrossentropy", {}, "sparse_col_float"),
    (losses.SparseCategoricalCrossentropy, "SparseCategoricalCrossentropy", {"from_logits": True}, "sparse"),
    (losses.CategoricalCrossentropy, "CategoricalCrossentropy", {}, "categorical"),
    (losses.CategoricalCrossentropy, "CategoricalCrossentropy", {"from_logits": True}, "categorical"),
    (losses.CategoricalCrossentropy, "CategoricalCrossentropy", {"label_smoothing": 0.1}, "categorical"),
    (losses.CategoricalCrossentropy, "CategoricalCrossentropy", {"from_logits": True, "label_smoothing": 0.2},
     "categorical"),
    (losses.BinaryCrossentropy, "BinaryCrossentropy", {}, "binary"),
    (losses.BinaryCrossentropy, "BinaryCrossentropy", {"from_logits": True}, "binary"),
    (losses.BinaryCrossentropy, "BinaryCrossentropy", {"label_smoothing": 0.2}, "binary"),
    (losses.BinaryCrossentropy, "BinaryCrossentropy", {}, "binary_column"),
    (losses.MeanSquaredError, "MeanSquaredError", {}, "mse"),
    (losses.MeanSquaredError, "MeanSquaredError", {}, "mse_column"),
]
CASE_IDS = [f"{c[1]}-{c[3]}-{'-'.join(f'{k}={v}' for k, v in c[2].items())}" for c in CASES]


def _inputs(kind, kwargs, rng, dtype=np.float32, extreme=False):
    y_true, raw = _data(kind, rng, dtype, extreme)
    if kind.startswith("mse") or kwargs.get("from_logits"):
        return y_true, raw
    return y_true, _probs(kind, raw)


# -- values against Keras ---------------------------------------------------------------------------------

@pytest.mark.parametrize("extreme", [False, True], ids=["moderate", "clipped"])
@pytest.mark.parametrize("ours, theirs, kwargs, kind", CASES, ids=CASE_IDS)
def test_value_matches_keras(ours, theirs, kwargs, kind, extreme):
    rng = np.random.default_rng(0)
    y_true, y_pred = _inputs(kind, kwargs, rng, extreme=extreme)
    expected = getattr(keras.losses, theirs)(**kwargs)(y_true, y_pred)
    got = ours(**kwargs)(y_true, y_pred)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, keras.ops.convert_to_numpy(expected), rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("name, kwargs, kind", [
    ("sparse_categorical_crossentropy", {}, "sparse"),
    ("sparse_categorical_crossentropy", {"from_logits": True}, "sparse_col_float"),
    ("categorical_crossentropy", {}, "categorical"),
    ("categorical_crossentropy", {"from_logits": True, "label_smoothing": 0.1}, "categorical"),
    ("binary_crossentropy", {}, "binary"),
    ("binary_crossentropy", {"from_logits": True}, "binary"),
    ("mean_squared_error", {}, "mse"),
    ("mean_squared_error", {}, "mse_column"),
])
def test_per_sample_function_matches_keras(name, kwargs, kind):
    rng = np.random.default_rng(1)
    y_true, y_pred = _inputs(kind, kwargs, rng, extreme=True)
    expected = keras.ops.convert_to_numpy(getattr(keras.losses, name)(y_true, y_pred, **kwargs))
    got = getattr(losses, name)(y_true, y_pred, **kwargs)
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("reduction", ["sum_over_batch_size", "sum", "mean", "mean_with_sample_weight", None])
@pytest.mark.parametrize("weight_shape", [None, (N,), (N, 1)])
def test_reductions_and_sample_weights_match_keras(reduction, weight_shape):
    rng = np.random.default_rng(2)
    y_true, y_pred = _inputs("sparse", {}, rng)
    sample_weight = None if weight_shape is None else rng.uniform(0, 2, weight_shape).astype(np.float32)
    expected = keras.losses.SparseCategoricalCrossentropy(reduction=reduction)(y_true, y_pred, sample_weight)
    got = losses.SparseCategoricalCrossentropy(reduction=reduction)(y_true, y_pred, sample_weight)
    np.testing.assert_allclose(got, keras.ops.convert_to_numpy(expected), rtol=1e-6, atol=1e-7)


def test_mse_of_rank_one_inputs_is_the_mean_as_in_keras():
    # mean over the last axis of (n,) leaves a scalar, which Keras's reduction passes through.
    loss = losses.MeanSquaredError()
    assert loss([1.0, 0.0, 1.0], [0.9, 0.1, 0.8]) == pytest.approx(0.02, rel=1e-6)
    np.testing.assert_allclose(loss.gradient([1.0, 0.0, 1.0], [0.9, 0.1, 0.8]),
                               2 * (np.array([0.9, 0.1, 0.8]) - [1.0, 0.0, 1.0]) / 3, rtol=1e-6)


# -- gradients against torch autograd of Keras's own expression -------------------------------------------

def _keras_gradient(theirs, kwargs, y_true, y_pred, sample_weight=None, reduction="sum_over_batch_size"):
    y_pred_t = torch.tensor(y_pred, requires_grad=True)
    weight = None if sample_weight is None else torch.tensor(sample_weight)
    value = getattr(keras.losses, theirs)(reduction=reduction, **kwargs)(torch.tensor(y_true), y_pred_t, weight)
    value.backward()
    return y_pred_t.grad.numpy()


@pytest.mark.parametrize("extreme", [False, True], ids=["moderate", "clipped"])
@pytest.mark.parametrize("ours, theirs, kwargs, kind", CASES, ids=CASE_IDS)
def test_gradient_matches_torch_autograd_of_keras(ours, theirs, kwargs, kind, extreme):
    rng = np.random.default_rng(3)
    y_true, y_pred = _inputs(kind, kwargs, rng, extreme=extreme)
    expected = _keras_gradient(theirs, kwargs, y_true, y_pred)
    got = ours(**kwargs).gradient(y_true, y_pred)
    assert got.shape == y_pred.shape and got.dtype == np.float32
    np.testing.assert_allclose(got, expected, rtol=2e-5, atol=1e-6 * np.abs(expected).max())


@pytest.mark.parametrize("reduction", ["sum_over_batch_size", "sum", "mean_with_sample_weight"])
@pytest.mark.parametrize("weight_shape", [None, (N,), (N, 1)])
def test_weighted_gradient_matches_torch_autograd_of_keras(reduction, weight_shape):
    rng = np.random.default_rng(4)
    y_true, y_pred = _inputs("categorical", {}, rng)
    sample_weight = None if weight_shape is None else rng.uniform(0, 2, weight_shape).astype(np.float32)
    expected = _keras_gradient("CategoricalCrossentropy", {}, y_true, y_pred, sample_weight, reduction)
    got = losses.CategoricalCrossentropy(reduction=reduction).gradient(y_true, y_pred, sample_weight)
    np.testing.assert_allclose(got, expected, rtol=2e-5, atol=1e-7)


def test_gradient_with_reduction_none_is_an_error():
    with pytest.raises(ValueError, match=re.escape("`gradient` needs a scalar loss: use a reduction other than "
                                                   "None (e.g. 'sum_over_batch_size').")):
        losses.MeanSquaredError(reduction=None).gradient([[1.0]], [[2.0]])


# -- gradients against finite differences in float64 ------------------------------------------------------

def _finite_difference(f, x, relative_step=1e-6):
    """Central differences; the step scales with |x| so that tiny probabilities (curvature ~1/p**3) stay accurate."""
    grad = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        step = relative_step * max(abs(x[i]), 1e-3)
        up, down = x.copy(), x.copy()
        up[i] += step
        down[i] -= step
        grad[i] = (f(up) - f(down)) / (2 * step)
    return grad


@pytest.mark.parametrize("ours, theirs, kwargs, kind", CASES, ids=CASE_IDS)
def test_gradient_matches_finite_differences_in_float64(ours, theirs, kwargs, kind):
    rng = np.random.default_rng(5)
    y_true, y_pred = _inputs(kind, kwargs, rng, dtype=np.float64)
    if not kind.startswith("mse") and not kwargs.get("from_logits") and kind != "binary_column" \
            and not kind.startswith("binary"):
        # Unnormalised positive scores exercise the division by their sum as well.
        y_pred = y_pred * rng.uniform(0.5, 2.0, (N, 1))
    sample_weight = rng.uniform(0.5, 1.5, N)
    loss = ours(dtype="float64", **kwargs)
    expected = _finite_difference(lambda p: float(loss(y_true, p, sample_weight)), y_pred)
    np.testing.assert_allclose(loss.gradient(y_true, y_pred, sample_weight), expected, rtol=1e-6,
                               atol=1e-7 * np.abs(expected).max())


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 5), k=st.integers(2, 6), from_logits=st.booleans(), seed=st.integers(0, 2**32 - 1))
def test_sparse_gradient_matches_finite_differences_for_drawn_shapes(n, k, from_logits, seed):
    rng = np.random.default_rng(seed)
    y_true = rng.integers(0, k, n)
    logits = rng.standard_normal((n, k)) * 2
    y_pred = logits if from_logits else _softmax(logits) * rng.uniform(0.5, 2.0, (n, 1))
    loss = losses.SparseCategoricalCrossentropy(from_logits=from_logits, dtype="float64")
    expected = _finite_difference(lambda p: float(loss(y_true, p)), y_pred)
    np.testing.assert_allclose(loss.gradient(y_true, y_pred), expected, rtol=1e-5, atol=1e-8)


# -- the gradient through a softmax (or sigmoid) ----------------------------------------------------------

@pytest.mark.parametrize("extreme", [False, True], ids=["moderate", "saturated"])
@pytest.mark.parametrize("ours, theirs, kwargs, kind", [
    (losses.SparseCategoricalCrossentropy, "SparseCategoricalCrossentropy", {}, "sparse"),
    (losses.SparseCategoricalCrossentropy, "SparseCategoricalCrossentropy", {}, "sparse_col_float"),
    (losses.CategoricalCrossentropy, "CategoricalCrossentropy", {}, "categorical"),
    (losses.CategoricalCrossentropy, "CategoricalCrossentropy", {"label_smoothing": 0.1}, "categorical"),
])
def test_gradient_through_softmax_matches_torch_autograd_through_softmax(ours, theirs, kwargs, kind, extreme):
    rng = np.random.default_rng(6)
    y_true, logits = _data(kind, rng, extreme=extreme)
    z = torch.tensor(logits, requires_grad=True)
    # What Keras computes under TensorFlow, where the softmax output carries its logits.
    getattr(keras.losses, theirs)(from_logits=True, **kwargs)(torch.tensor(y_true), z).backward()
    probs = keras.ops.convert_to_numpy(keras.ops.softmax(logits))
    got = ours(**kwargs).gradient_through_softmax(y_true, probs)
    np.testing.assert_allclose(got, z.grad.numpy(), rtol=1e-5, atol=1e-7)


def test_gradient_through_softmax_is_the_chain_rule_where_nothing_clips():
    rng = np.random.default_rng(7)
    y_true, logits = _data("sparse", rng)
    probs = _softmax(logits.astype(np.float64))
    loss = losses.SparseCategoricalCrossentropy(dtype="float64")
    grad_probs = loss.gradient(y_true, probs)
    chain = probs * (grad_probs - np.sum(grad_probs * probs, axis=-1, keepdims=True))  # softmax backward
    np.testing.assert_allclose(loss.gradient_through_softmax(y_true, probs), chain, rtol=1e-9, atol=1e-12)


def test_gradient_through_softmax_still_pulls_when_the_clipped_form_stops():
    # The true class has probability ~e-30, below the 1e-7 clip: the clipped
    # form passes nothing back; the fused form gives (p - 1) / n there.
    probs = _softmax(np.array([[0.0, 70.0, 0.0]]))
    loss = losses.SparseCategoricalCrossentropy(dtype="float64")
    chain = probs * (loss.gradient([0], probs) - np.sum(loss.gradient([0], probs) * probs, -1, keepdims=True))
    assert abs(chain[0, 0]) < 1e-12
    np.testing.assert_allclose(loss.gradient_through_softmax([0], probs), [[-1.0, 1.0, 0.0]], atol=1e-12)


def test_gradient_through_softmax_refuses_a_loss_on_logits():
    with pytest.raises(ValueError, match="has from_logits=True: its `gradient` already is the gradient"):
        losses.CategoricalCrossentropy(from_logits=True).gradient_through_softmax(np.eye(3), np.eye(3))


def test_gradient_through_sigmoid_matches_torch_autograd_through_sigmoid():
    rng = np.random.default_rng(8)
    y_true, logits = _data("binary", rng, extreme=True)
    z = torch.tensor(logits, requires_grad=True)
    keras.losses.BinaryCrossentropy(from_logits=True, label_smoothing=0.1)(torch.tensor(y_true), z).backward()
    probs = 1 / (1 + np.exp(-logits.astype(np.float64)))
    got = losses.BinaryCrossentropy(label_smoothing=0.1).gradient_through_sigmoid(y_true, probs.astype(np.float32))
    np.testing.assert_allclose(got, z.grad.numpy(), rtol=1e-5, atol=1e-7)


# -- hand-derived values ----------------------------------------------------------------------------------

def test_hand_derived_values():
    # -log(0.95) and -log(0.1) (Keras's docstring example), clipped -log(1e-7) for a zero probability.
    np.testing.assert_allclose(
        losses.sparse_categorical_crossentropy([1, 2, 0], [[0.05, 0.95, 0], [0.1, 0.8, 0.1], [0, 1, 0]]),
        [-np.log(0.95), -np.log(0.1), -np.log(1e-7)], rtol=1e-6)
    # log-sum-exp stays finite for huge logits.
    np.testing.assert_allclose(
        losses.sparse_categorical_crossentropy([1], [[1000.0, 0.0]], from_logits=True), [1000.0], rtol=1e-6)
    # Label smoothing 0.3 over 3 classes: targets [0.1, 0.8, 0.1].
    p = np.array([[0.2, 0.5, 0.3]])
    np.testing.assert_allclose(
        losses.categorical_crossentropy([[0, 1, 0]], p, label_smoothing=0.3),
        [-(0.1 * np.log(0.2) + 0.8 * np.log(0.5) + 0.1 * np.log(0.3))], rtol=1e-6)
    np.testing.assert_allclose(losses.binary_crossentropy([[1, 0]], [[0.8, 0.4]]),
                               [-(np.log(0.8) + np.log(0.6)) / 2], rtol=1e-6)
    np.testing.assert_allclose(losses.mse([[1.0, 2.0]], [[2.0, 4.0]]), [2.5])
    # Mean over the batch of (p - onehot) through the softmax.
    np.testing.assert_allclose(
        losses.SparseCategoricalCrossentropy().gradient_through_softmax([1, 0], [[0.2, 0.8], [0.6, 0.4]]),
        [[0.1, -0.1], [-0.2, 0.2]], rtol=1e-6)


# -- errors -----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("y_true, message", [
    ([0, 3, 10, 2], "Invalid value for argument `y_true` of `sparse_categorical_crossentropy`. Expected class "
                    "labels in the range [0, 10) for `y_pred` with 10 classes. Received: y_true=10 at index 2 "
                    "(1 of 4 labels out of range)."),
    ([-1, 3, 12, 2], "Invalid value for argument `y_true` of `sparse_categorical_crossentropy`. Expected class "
                     "labels in the range [0, 10) for `y_pred` with 10 classes. Received: y_true=-1 at index 0 "
                     "(2 of 4 labels out of range)."),
    ([[0], [3], [10.0], [2]], "Invalid value for argument `y_true` of `sparse_categorical_crossentropy`. "
                              "Expected class labels in the range [0, 10) for `y_pred` with 10 classes. "
                              "Received: y_true=10.0 at index 2 (1 of 4 labels out of range)."),
    ([0, 1.5, 2, 3], "Invalid value for argument `y_true` of `sparse_categorical_crossentropy`. Expected "
                     "integer class labels. Received: y_true=1.5 at index 1."),
    (np.zeros((4, 2)), "Invalid value for argument `y_true` of `sparse_categorical_crossentropy`. Expected "
                       "integer class labels of shape (4,) or (4, 1) for `y_pred` of shape (4, 10). "
                       "Received: y_true.shape=(4, 2)."),
    (np.eye(10)[:4], "Invalid value for argument `y_true` of `sparse_categorical_crossentropy`. Expected "
                     "integer class labels of shape (4,) or (4, 1) for `y_pred` of shape (4, 10). "
                     "Received: y_true.shape=(4, 10). If `y_true` is one-hot encoded, use "
                     "`categorical_crossentropy` instead."),
])
def test_sparse_label_errors_name_y_true_the_range_and_the_value(y_true, message):
    y_pred = np.full((4, 10), 0.1, dtype=np.float32)
    loss = losses.SparseCategoricalCrossentropy()
    for call in (loss, loss.gradient, loss.gradient_through_softmax,
                 lambda t, p: losses.sparse_categorical_crossentropy(np.asarray(t), p)):
        with pytest.raises(ValueError, match=re.escape(message)):
            call(y_true, y_pred)


def test_categorical_shape_mismatch_names_y_true_and_suggests_the_sparse_loss():
    message = ("Invalid value for argument `y_true` of `categorical_crossentropy`. Expected the shape of "
               "`y_pred`, (4, 10). Received: y_true.shape=(4,). Integer class labels go with "
               "`sparse_categorical_crossentropy` (or one-hot encode them with `keras.utils.to_categorical`).")
    loss = losses.CategoricalCrossentropy()
    for call in (loss, loss.gradient, loss.gradient_through_softmax):
        with pytest.raises(ValueError, match=re.escape(message)):
            call(np.arange(4), np.full((4, 10), 0.1))


def test_binary_shape_mismatch_names_y_true():
    with pytest.raises(ValueError, match=re.escape(
            "Invalid value for argument `y_true` of `binary_crossentropy`. Expected the shape of `y_pred`, "
            "(4, 3). Received: y_true.shape=(4, 2).")):
        losses.BinaryCrossentropy()(np.zeros((4, 2)), np.full((4, 3), 0.5))


def test_invalid_reduction_and_unsupported_arguments():
    with pytest.raises(ValueError, match=re.escape("Invalid value for argument `reduction`.")):
        losses.MeanSquaredError(reduction="average")
    with pytest.raises(NotImplementedError, match=re.escape("Received: ignore_class=255")):
        losses.SparseCategoricalCrossentropy(ignore_class=255)


# -- lookup, configs and serialization --------------------------------------------------------------------

@pytest.mark.parametrize("identifier, cls, name", [
    ("sparse_categorical_crossentropy", losses.SparseCategoricalCrossentropy, "sparse_categorical_crossentropy"),
    ("categorical_crossentropy", losses.CategoricalCrossentropy, "categorical_crossentropy"),
    ("binary_crossentropy", losses.BinaryCrossentropy, "binary_crossentropy"),
    ("mse", losses.MeanSquaredError, "mse"),
    ("MSE", losses.MeanSquaredError, "MSE"),
    ("mean_squared_error", losses.MeanSquaredError, "mean_squared_error"),
    ("SparseCategoricalCrossentropy", losses.SparseCategoricalCrossentropy, "sparse_categorical_crossentropy"),
    (losses.binary_crossentropy, losses.BinaryCrossentropy, "binary_crossentropy"),
    (losses.CategoricalCrossentropy, losses.CategoricalCrossentropy, "categorical_crossentropy"),
])
def test_get_resolves_to_loss_objects_named_as_in_compile(identifier, cls, name):
    loss = losses.get(identifier)
    assert type(loss) is cls and loss.name == name
    assert losses.get(loss) is loss
    assert losses.get(None) is None


def test_get_rejects_unknown_and_unimplemented_losses():
    with pytest.raises(ValueError, match=re.escape("Could not interpret loss identifier: nope")):
        losses.get("nope")
    with pytest.raises(NotImplementedError, match=re.escape("The Keras loss `mape` is not implemented")):
        losses.get("mape")
    with pytest.raises(NotImplementedError, match=re.escape("The Keras loss `LogCosh` is not implemented")):
        losses.get("LogCosh")


def test_a_custom_callable_computes_but_has_no_gradient():
    def my_loss(y_true, y_pred):
        return np.mean(np.abs(y_true - y_pred), axis=-1)

    loss = losses.get(my_loss)
    assert loss.name == "my_loss"
    assert loss([[1.0, 2.0]], [[2.0, 2.0]]) == pytest.approx(0.5)
    with pytest.raises(NotImplementedError, match="The loss `my_loss` has no gradient in fastconv"):
        loss.gradient([[1.0, 2.0]], [[2.0, 2.0]])


@pytest.mark.parametrize("cls_name, kwargs", [
    ("SparseCategoricalCrossentropy", {}),
    ("SparseCategoricalCrossentropy", {"from_logits": True}),
    ("CategoricalCrossentropy", {"label_smoothing": 0.1}),
    ("BinaryCrossentropy", {"from_logits": True}),
    ("MeanSquaredError", {"reduction": "sum"}),
])
def test_config_and_serialization_equal_keras(cls_name, kwargs):
    ours, theirs = getattr(losses, cls_name)(**kwargs), getattr(keras.losses, cls_name)(**kwargs)
    assert ours.get_config() == theirs.get_config()
    assert losses.serialize(ours) == keras.losses.serialize(theirs)
    again = type(ours).from_config(ours.get_config())
    assert again.get_config() == ours.get_config()
    assert losses.get(keras.losses.serialize(theirs)).get_config() == theirs.get_config()


def test_function_serialization_equals_keras():
    for name in ("sparse_categorical_crossentropy", "categorical_crossentropy", "binary_crossentropy",
                 "mean_squared_error"):
        serialized = keras.losses.serialize(getattr(keras.losses, name))
        assert losses.serialize(getattr(losses, name)) == serialized
        assert losses.deserialize(serialized) is getattr(losses, name)


def test_loss_function_wrapper_config_round_trip():
    wrapper = losses.LossFunctionWrapper(losses.binary_crossentropy, name="bce", from_logits=True)
    config = wrapper.get_config()
    assert config == {"name": "bce", "reduction": "sum_over_batch_size", "from_logits": True,
                      "fn": {"module": "builtins", "class_name": "function", "config": "binary_crossentropy",
                             "registered_name": "function"}}
    again = losses.LossFunctionWrapper.from_config(config)
    assert again.fn is losses.binary_crossentropy and again.get_config() == config


@pytest.mark.parametrize("delta", [1.0, 0.3, 2.5])
def test_huber_matches_keras_and_its_gradient_torch(delta):
    rng = np.random.default_rng(12)
    y_true, y_pred = rng.standard_normal((5, 4)) * 2, rng.standard_normal((5, 4)) * 2
    np.testing.assert_allclose(losses.huber(y_true.astype(np.float32), y_pred.astype(np.float32), delta),
                               keras.ops.convert_to_numpy(keras.losses.huber(y_true, y_pred, delta)), rtol=1e-5)
    ours, theirs = losses.Huber(delta=delta), keras.losses.Huber(delta=delta)
    np.testing.assert_allclose(ours(y_true, y_pred), keras.ops.convert_to_numpy(theirs(y_true, y_pred)), rtol=1e-5)
    assert ours.get_config() == theirs.get_config()
    t = torch.tensor(y_pred, requires_grad=True)
    torch.nn.functional.huber_loss(t, torch.tensor(y_true), delta=delta).backward()
    np.testing.assert_allclose(ours.gradient(y_true, y_pred), t.grad.numpy(), rtol=1e-5, atol=1e-8)
    assert type(losses.get("huber")).__name__ == "Huber"
