"""fastconv.metrics against Keras 3 (torch backend): streaming results, compile's 'accuracy' rule, configs."""

import re

import numpy as np
import pytest

from fastconv import losses, metrics
from keras_reference import keras

# Keras's torch backend converts its tensors with np.array(x, copy=False), which numpy 2 deprecates.
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword")


def _batches(kind, rng, n_batches=4):
    """Batches of (y_true, y_pred, sample_weight) for one metric case."""
    out = []
    for i in range(n_batches):
        n = 7 + i  # unequal batch sizes, as the last batch of an epoch
        weight = rng.uniform(0, 2, n).astype(np.float32) if i % 2 else None
        if kind == "sparse":
            out.append((rng.integers(0, 4, n), rng.random((n, 4)).astype(np.float32), weight))
        elif kind == "sparse_column_float":
            out.append((rng.integers(0, 4, (n, 1)).astype(np.float32), rng.random((n, 4)).astype(np.float32),
                        weight))
        elif kind == "categorical":
            out.append((np.eye(4, dtype=np.float32)[rng.integers(0, 4, n)], rng.random((n, 4)).astype(np.float32),
                        weight))
        elif kind == "binary_column":
            out.append((rng.integers(0, 2, (n, 1)), rng.random((n, 1)).astype(np.float32), weight))
        elif kind == "binary_flat_labels":
            out.append((rng.integers(0, 2, n), rng.random((n, 1)).astype(np.float32), weight))
        elif kind == "binary_multilabel":
            out.append((rng.integers(0, 2, (n, 3)).astype(np.float32), rng.random((n, 3)).astype(np.float32),
                        weight))
        elif kind == "exact":
            out.append((rng.integers(0, 3, (n, 1)), rng.integers(0, 3, (n, 1)), weight))
        else:
            raise AssertionError(kind)
    return out


CASES = [
    ("SparseCategoricalAccuracy", {}, "sparse"),
    ("SparseCategoricalAccuracy", {}, "sparse_column_float"),
    ("CategoricalAccuracy", {}, "categorical"),
    ("BinaryAccuracy", {}, "binary_column"),
    ("BinaryAccuracy", {}, "binary_flat_labels"),
    ("BinaryAccuracy", {"threshold": 0.7}, "binary_multilabel"),
    ("Accuracy", {}, "exact"),
]


@pytest.mark.parametrize("cls_name, kwargs, kind", CASES, ids=[f"{c}-{k}" for c, _, k in CASES])
def test_streaming_results_match_keras(cls_name, kwargs, kind):
    rng = np.random.default_rng(0)
    ours, theirs = getattr(metrics, cls_name)(**kwargs), getattr(keras.metrics, cls_name)(**kwargs)
    for epoch in range(2):
        for y_true, y_pred, weight in _batches(kind, rng):
            ours.update_state(y_true, y_pred, sample_weight=weight)
            theirs.update_state(y_true, y_pred, sample_weight=weight)
            result = ours.result()
            assert result.dtype == np.float32
            np.testing.assert_allclose(result, keras.ops.convert_to_numpy(theirs.result()), rtol=1e-6)
        ours.reset_state()
        theirs.reset_state()
        assert float(ours.result()) == 0.0


@pytest.mark.parametrize("values, weight", [
    (np.arange(6, dtype=np.float32), None),
    (np.arange(6, dtype=np.float32), np.array([1, 0, 2, 1, 1, 0.5], dtype=np.float32)),
    (np.arange(12, dtype=np.float32).reshape(6, 2), None),
    (np.arange(12, dtype=np.float32).reshape(6, 2), np.array([1, 0, 2, 1, 1, 0.5], dtype=np.float32)),
    (np.arange(12, dtype=np.float32).reshape(6, 2), np.arange(12, dtype=np.float32).reshape(6, 2)),
    (np.float32(2.5), np.float32(32)),  # fit's running loss: one batch mean weighted by the batch size
])
def test_mean_matches_keras(values, weight):
    ours, theirs = metrics.Mean(name="loss"), keras.metrics.Mean(name="loss")
    for scale in (1.0, 3.0, 0.5):
        ours.update_state(values * scale, sample_weight=weight)
        theirs.update_state(values * scale, sample_weight=weight)
        np.testing.assert_allclose(ours.result(), keras.ops.convert_to_numpy(theirs.result()), rtol=1e-6)
    np.testing.assert_allclose(ours.count.value, keras.ops.convert_to_numpy(theirs.count), rtol=1e-6)


def test_mean_and_accuracies_by_hand():
    mean = metrics.Mean()
    mean.update_state([1, 3, 5, 7])
    mean.update_state([1, 3], sample_weight=[1, 0])
    assert float(mean.result()) == pytest.approx(17 / 5)
    sparse = metrics.SparseCategoricalAccuracy()
    sparse.update_state([2, 1, 0], [[0.1, 0.6, 0.3], [0.05, 0.95, 0], [0.5, 0.2, 0.3]])
    sparse.update_state([[0]], [[0.1, 0.9, 0.0]])
    assert float(sparse.result()) == pytest.approx(2 / 4)
    binary = metrics.BinaryAccuracy(threshold=0.5)
    binary.update_state([1, 0, 1], [0.5, 0.2, 0.7])  # 0.5 is not > 0.5
    assert float(binary.result()) == pytest.approx(2 / 3)
    # float32(0.3) is above the float64 0.3 but equal to it in float32, the precision Keras compares in.
    assert metrics.binary_accuracy([0], np.array([0.3], dtype=np.float32), threshold=0.3)[0] == 1.0
    assert metrics.accuracy([[1], [2]], [1, 3]).tolist() == [[1.0], [0.0]]
    assert float(metrics.Accuracy()([1, 2, 3, 4], [1, 2, 0, 4])) == pytest.approx(0.75)


@pytest.mark.parametrize("cls_name", ["Mean", "Accuracy", "BinaryAccuracy", "CategoricalAccuracy",
                                      "SparseCategoricalAccuracy"])
def test_names_configs_variables_and_serialization_equal_keras(cls_name):
    ours, theirs = getattr(metrics, cls_name)(), getattr(keras.metrics, cls_name)()
    assert ours.name == theirs.name
    assert ours.get_config() == theirs.get_config()
    assert [(v.path, tuple(v.shape), str(v.dtype)) for v in ours.variables] == \
           [(v.path, tuple(v.shape), str(v.dtype)) for v in theirs.variables]
    assert metrics.serialize(ours) == keras.metrics.serialize(theirs)
    again = metrics.deserialize(keras.metrics.serialize(theirs))
    assert type(again) is type(ours) and again.get_config() == ours.get_config()


def test_binary_accuracy_threshold_in_config_round_trip():
    metric = metrics.BinaryAccuracy(name="acc", threshold=0.3)
    assert metric.get_config() == {"name": "acc", "dtype": "float32", "threshold": 0.3}
    assert metrics.BinaryAccuracy.from_config(metric.get_config()).threshold == 0.3


# -- compile's rule for 'accuracy' ------------------------------------------------------------------------

SHAPE_CASES = [
    ((32,), (32, 10)),    # integer labels, softmax: sparse
    ((32, 1), (32, 10)),  # integer labels in a column: sparse
    ((32, 10), (32, 10)),  # one-hot: categorical
    ((32,), (32, 1)),     # binary labels, sigmoid: binary
    ((32, 1), (32, 1)),
    ((32, 3), (32, 3)),   # multi-label sigmoid with binary_crossentropy: Keras 3 picks categorical
    ((32, 5, 5), (32, 5, 5, 4)),  # per-pixel labels: sparse
]


@pytest.mark.parametrize("identifier", ["accuracy", "acc", "ACC", "Accuracy"])
@pytest.mark.parametrize("y_true_shape, y_pred_shape", SHAPE_CASES, ids=str)
def test_resolve_metric_matches_keras_compile(identifier, y_true_shape, y_pred_shape):
    from keras.src.trainers.compile_utils import get_metric

    y_true, y_pred = np.zeros(y_true_shape), np.zeros(y_pred_shape)
    theirs = get_metric(identifier, y_true, y_pred)
    ours = metrics.resolve_metric(identifier, y_true, y_pred, losses.get("binary_crossentropy"))
    assert (type(ours).__name__, ours.name) == (type(theirs).__name__, theirs.name)


@pytest.mark.parametrize("identifier", ["mse", "sparse_categorical_accuracy", "binary_crossentropy",
                                        "CategoricalAccuracy"])
def test_resolve_other_metrics_like_keras(identifier):
    from keras.src.trainers.compile_utils import get_metric

    rng = np.random.default_rng(1)
    y_true, y_pred = np.eye(3, dtype=np.float32)[rng.integers(0, 3, 6)], rng.random((6, 3)).astype(np.float32)
    if identifier == "sparse_categorical_accuracy":
        y_true = rng.integers(0, 3, 6)
    theirs, ours = get_metric(identifier, y_true, y_pred), metrics.resolve_metric(identifier, y_true, y_pred)
    assert ours.name == theirs.name == identifier
    assert isinstance(ours, metrics.MeanMetricWrapper)
    ours.update_state(y_true, y_pred)
    theirs.update_state(y_true, y_pred)
    np.testing.assert_allclose(ours.result(), keras.ops.convert_to_numpy(theirs.result()), rtol=1e-6)


def test_resolve_metric_keeps_metric_objects_and_their_names():
    metric = metrics.BinaryAccuracy(name="bin_acc", threshold=0.2)
    assert metrics.resolve_metric(metric, np.zeros(4), np.zeros((4, 1))) is metric
    assert metric.name == "bin_acc"

    def hit_rate(y_true, y_pred):
        return np.ones(len(y_true), dtype=np.float32)

    wrapped = metrics.resolve_metric(hit_rate, np.zeros(4), np.zeros((4, 1)))
    assert isinstance(wrapped, metrics.MeanMetricWrapper) and wrapped.name == "hit_rate"
    with pytest.raises(ValueError, match=re.escape("Expected metric, received `None`")):
        metrics.resolve_metric(None, np.zeros(4), np.zeros((4, 1)))


def test_get_errors():
    with pytest.raises(NotImplementedError, match=re.escape("The Keras metric `r2_score` is not implemented")):
        metrics.get("r2_score")
    with pytest.raises(ValueError, match=re.escape("Could not interpret metric identifier: nope")):
        metrics.get("nope")
    assert metrics.get("accuracy") is metrics.accuracy  # the exact-match function, as keras.metrics.get
    assert type(metrics.get("Mean")) is metrics.Mean


def test_metric_objects_start_afresh_for_validation_and_every_evaluate_as_in_keras():
    # compile(metrics=[SparseCategoricalAccuracy()]) shares one object between the training batches, the
    # validation pass and evaluate: each pass counts its own samples only, as Keras's.
    from fastconv import keras as fastconv_keras
    rng = np.random.default_rng(7)
    x, y = rng.standard_normal((48, 6)).astype(np.float32), rng.integers(0, 3, 48)
    xv, yv = rng.standard_normal((16, 6)).astype(np.float32), rng.integers(0, 3, 16)
    results = []
    for library in (fastconv_keras, keras):
        model = library.Sequential([library.Input((6,)), library.layers.Dense(3, activation="softmax")])
        if results:
            model.set_weights(results[0]["weights"])
        model.compile(optimizer=library.optimizers.SGD(0.1), loss="sparse_categorical_crossentropy",
                      metrics=[library.metrics.SparseCategoricalAccuracy()])
        weights = [np.asarray(w) for w in model.get_weights()]
        history = model.fit(x, y, batch_size=16, epochs=2, shuffle=False, validation_data=(xv, yv), verbose=0)
        results.append(dict(weights=weights, history=history.history,
                            evaluate=[model.evaluate(xv, yv, verbose=0)[1] for _ in range(2)],
                            one=model.evaluate(xv[:1], yv[:1], verbose=0)[1]))
    ours, theirs = results
    for key in theirs["history"]:
        np.testing.assert_allclose(ours["history"][key], theirs["history"][key], rtol=1e-5, err_msg=key)
    np.testing.assert_allclose(ours["evaluate"], theirs["evaluate"], rtol=1e-6)
    assert ours["evaluate"][0] == ours["evaluate"][1] and ours["one"] == theirs["one"]


NEW_METRICS = [
    ("Precision", {}, "binary"), ("Precision", {"thresholds": 0.3}, "binary"), ("Recall", {}, "binary"),
    ("Recall", {"thresholds": 0.7}, "binary"), ("Precision", {"class_id": 1}, "one_hot"),
    ("Recall", {}, "one_hot"), ("MeanAbsoluteError", {}, "regression"), ("MeanSquaredError", {}, "regression"),
    ("RootMeanSquaredError", {}, "regression"), ("TopKCategoricalAccuracy", {"k": 2}, "one_hot"),
    ("TopKCategoricalAccuracy", {}, "one_hot"), ("SparseTopKCategoricalAccuracy", {"k": 2}, "sparse"),
]


def _two_batches(kind, rng):
    for _ in range(2):
        if kind == "binary":
            yield rng.integers(0, 2, (6, 1)).astype(np.float32), rng.random((6, 1)).astype(np.float32)
        elif kind == "regression":
            yield rng.standard_normal((6, 3)).astype(np.float32), rng.standard_normal((6, 3)).astype(np.float32)
        else:
            labels = rng.integers(0, 6, 6)
            scores = rng.random((6, 6)).astype(np.float32)
            scores[0, :] = 0.5  # a tie at the top-k boundary
            yield (labels if kind == "sparse" else np.eye(6, dtype=np.float32)[labels]), scores


@pytest.mark.parametrize("name, kwargs, kind", NEW_METRICS, ids=str)
@pytest.mark.parametrize("weighted", [False, True])
def test_more_metrics_match_keras(name, kwargs, kind, weighted):
    rng = np.random.default_rng(9)
    ours, theirs = getattr(metrics, name)(name="m", **kwargs), getattr(keras.metrics, name)(name="m", **kwargs)
    for y_true, y_pred in _two_batches(kind, rng):
        weight = rng.uniform(0, 2, len(y_true)).astype(np.float32) if weighted else None
        ours.update_state(y_true, y_pred, sample_weight=weight)
        theirs.update_state(y_true, y_pred, sample_weight=weight)
    np.testing.assert_allclose(ours.result(), keras.ops.convert_to_numpy(theirs.result()), rtol=1e-6, atol=1e-7)
    assert ours.get_config() == theirs.get_config()
    ours.reset_state()
    assert float(ours.result()) == 0


@pytest.mark.parametrize("identifier, loss, kind", [("precision", "binary_crossentropy", "binary"),
                                                    ("recall", "binary_crossentropy", "binary"),
                                                    ("mae", "mse", "regression"),
                                                    ("root_mean_squared_error", "mae", "regression"),
                                                    ("top_k_categorical_accuracy", "categorical_crossentropy",
                                                     "one_hot")])
def test_metric_and_loss_names_in_compile_train_as_keras(identifier, loss, kind):
    from fastconv import keras as fastconv_keras
    rng = np.random.default_rng(10)
    x = rng.standard_normal((16, 5)).astype(np.float32)
    y = np.concatenate([batch[0] for batch in _two_batches(kind, rng)] + [next(_two_batches(kind, rng))[0]])[:16]
    units, activation = {"binary": (1, "sigmoid"), "regression": (3, None), "one_hot": (6, "softmax")}[kind]
    histories, start = [], None
    for library in (fastconv_keras, keras):
        model = library.Sequential([library.Input((5,)), library.layers.Dense(units, activation=activation)])
        start = start or [np.asarray(w) for w in model.get_weights()]
        model.set_weights(start)
        model.compile(optimizer=library.optimizers.SGD(0.1), loss=loss, metrics=[identifier])
        histories.append(model.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0).history)
    assert sorted(histories[0]) == sorted(histories[1])
    for key in histories[1]:
        np.testing.assert_allclose(histories[0][key], histories[1][key], rtol=1e-5, err_msg=key)


def test_mean_absolute_error_loss_gradient_matches_torch():
    import torch
    rng = np.random.default_rng(11)
    y_true, y_pred = rng.standard_normal((4, 3)), rng.standard_normal((4, 3))
    y_pred[0, 0] = y_true[0, 0]  # |0|'s gradient: 0, as autograd's
    t = torch.tensor(y_pred, requires_grad=True)
    torch.mean(torch.abs(t - torch.tensor(y_true))).backward()
    np.testing.assert_allclose(losses.MeanAbsoluteError().gradient(y_true, y_pred), t.grad.numpy(), rtol=1e-6)
    np.testing.assert_allclose(losses.get("mae")(y_true, y_pred),
                               keras.ops.convert_to_numpy(keras.losses.get("mae")(y_true, y_pred)).mean(), rtol=1e-6)


# -- AUC and the F-scores ---------------------------------------------------------------------------------

AUC_CASES = {
    "ROC": ({}, "binary_column"),
    "PR interpolation": ({"curve": "PR"}, "binary_column"),
    "PR minoring": ({"curve": "PR", "summation_method": "minoring"}, "binary_flat_labels"),
    "ROC majoring, 7 thresholds": ({"summation_method": "majoring", "num_thresholds": 7}, "binary_column"),
    "PRGAIN": ({"curve": "PRGAIN"}, "binary_column"),
    "given thresholds": ({"thresholds": [0.1, 0.35, 0.5, 0.9]}, "binary_column"),
    "labels flattened, label weights": ({"label_weights": [0.5, 1.0, 2.0]}, "binary_multilabel"),
    "multi-label": ({"multi_label": True}, "binary_multilabel"),
    "multi-label, weighted PR": ({"multi_label": True, "label_weights": [1.0, 0.0, 3.0], "curve": "PR"},
                                 "binary_multilabel"),
    "from logits": ({"from_logits": True}, "binary_column"),
}


@pytest.mark.parametrize("kwargs, kind", AUC_CASES.values(), ids=AUC_CASES.keys())
def test_auc_streams_as_keras(kwargs, kind):
    rng = np.random.default_rng(5)
    ours, theirs = metrics.AUC(**kwargs), keras.metrics.AUC(**kwargs)
    for epoch in range(2):
        for y_true, y_pred, weight in _batches(kind, rng):
            if kwargs.get("from_logits"):
                y_pred = (y_pred - 0.5) * 8
            ours.update_state(y_true, y_pred, sample_weight=weight)
            theirs.update_state(y_true, y_pred, sample_weight=weight)
            np.testing.assert_allclose(ours.result(), keras.ops.convert_to_numpy(theirs.result()), rtol=2e-5,
                                       atol=1e-6)
        for a, b in zip(ours.variables, theirs.variables, strict=True):
            np.testing.assert_allclose(a.value, keras.ops.convert_to_numpy(b), rtol=1e-5, atol=1e-5)
        ours.reset_state()
        theirs.reset_state()
    expected = {**theirs.get_config(), "name": ""}
    if expected["label_weights"] is not None:  # Keras keeps its tensor in the config
        expected["label_weights"] = keras.ops.convert_to_numpy(expected["label_weights"]).tolist()
    assert {**ours.get_config(), "name": ""} == expected
    assert ours.name.startswith("auc") and metrics.AUC().name != metrics.AUC().name  # auc, auc_1, as Keras names


def test_metrics_without_a_name_are_named_as_keras_names_them():
    for cls_name in ("Precision", "Recall", "AUC", "F1Score", "Mean", "RootMeanSquaredError"):
        first, second = getattr(metrics, cls_name)(), getattr(metrics, cls_name)()
        theirs = getattr(keras.metrics, cls_name)(), getattr(keras.metrics, cls_name)()
        assert (first.name == second.name) == (theirs[0].name == theirs[1].name), cls_name


F_CASES = {
    "F1 per class": ("F1Score", {}),
    "F1 macro": ("F1Score", {"average": "macro"}),
    "F1 micro, threshold": ("F1Score", {"average": "micro", "threshold": 0.4}),
    "F2 weighted": ("FBetaScore", {"average": "weighted", "beta": 2.0}),
}


@pytest.mark.parametrize("cls_name, kwargs", F_CASES.values(), ids=F_CASES.keys())
def test_f_scores_stream_as_keras(cls_name, kwargs):
    rng = np.random.default_rng(9)
    ours, theirs = getattr(metrics, cls_name)(**kwargs), getattr(keras.metrics, cls_name)(**kwargs)
    for y_true, y_pred, weight in _batches("categorical", rng) + _batches("categorical", rng):
        ours.update_state(y_true, y_pred, sample_weight=weight)
        theirs.update_state(y_true, y_pred, sample_weight=weight)
        np.testing.assert_allclose(ours.result(), keras.ops.convert_to_numpy(theirs.result()), rtol=1e-5, atol=1e-7)
    assert ours.get_config() == theirs.get_config() and ours.name == theirs.name


def test_auc_and_f1_in_fit_give_keras_histories():
    from fastconv import keras as fastconv_keras

    rng = np.random.default_rng(13)
    x, y = rng.standard_normal((64, 5)).astype(np.float32), rng.integers(0, 2, (64, 1)).astype(np.float32)
    histories, weights = [], None
    for library in (fastconv_keras, keras):
        model = library.Sequential([library.Input((5,)), library.layers.Dense(1, activation="sigmoid")])
        if weights is None:
            weights = model.get_weights()
        model.set_weights(weights)
        model.compile(optimizer=library.optimizers.SGD(0.1), loss="binary_crossentropy",
                      metrics=[library.metrics.AUC(name="auc"), library.metrics.AUC(curve="PR", name="pr_auc"),
                               library.metrics.F1Score(threshold=0.5)])
        histories.append(model.fit(x, y, batch_size=16, epochs=2, validation_split=0.25, shuffle=False,
                                   verbose=0).history)
    assert sorted(histories[0]) == sorted(histories[1])
    for key in histories[1]:
        np.testing.assert_allclose(np.asarray(histories[0][key], np.float32),
                                   np.asarray([keras.ops.convert_to_numpy(v) for v in histories[1][key]]),
                                   rtol=1e-4, atol=1e-6, err_msg=key)
    assert np.shape(histories[0]["f1_score"][0]) == (1,)  # one score per class, an array, as Keras's


def test_auc_and_f_score_arguments_are_checked_as_keras():
    with pytest.raises(ValueError, match="Invalid AUC curve value"):
        metrics.AUC(curve="XY")
    with pytest.raises(ValueError, match="must be an integer > 1"):
        metrics.AUC(num_thresholds=1)
    with pytest.raises(ValueError, match="Invalid `average` argument value"):
        metrics.F1Score(average="mean")
    with pytest.raises(ValueError, match="It should be a Python float"):
        metrics.FBetaScore(beta=2)
    with pytest.raises(ValueError, match="FBetaScore expects 2D inputs"):
        metrics.F1Score().update_state(np.zeros(3), np.zeros(3))
    assert isinstance(metrics.get("auc"), metrics.AUC) and isinstance(metrics.get("f1_score"), metrics.F1Score)


def test_a_metric_of_your_own_with_add_weight_trains_and_evaluates():
    # Chollet's chapter 7 root mean squared error, its update written with numpy (fastconv has no keras.ops).
    from fastconv import keras as fastconv_keras

    class RootMeanSquaredError(fastconv_keras.metrics.Metric):
        def __init__(self, name="rmse", **kwargs):
            super().__init__(name=name, **kwargs)
            self.mse_sum = self.add_weight(name="mse_sum", initializer="zeros")
            self.total_samples = self.add_weight(name="total_samples", initializer="zeros", dtype="int32")

        def update_state(self, y_true, y_pred, sample_weight=None):
            y_true = np.eye(y_pred.shape[1])[np.asarray(y_true).astype(int).ravel()]
            self.mse_sum.assign_add(np.sum(np.square(y_true - y_pred)))
            self.total_samples.assign_add(len(y_pred))

        def result(self):
            return np.sqrt(self.mse_sum / self.total_samples)

        def reset_state(self):
            self.mse_sum.assign(0.0)
            self.total_samples.assign(0)

    rng = np.random.default_rng(21)
    x, y = rng.standard_normal((40, 5)).astype(np.float32), rng.integers(0, 3, 40)
    model = fastconv_keras.Sequential([fastconv_keras.Input((5,)),
                                       fastconv_keras.layers.Dense(3, activation="softmax")])
    model.compile(optimizer="rmsprop", loss="sparse_categorical_crossentropy",
                  metrics=["accuracy", RootMeanSquaredError()])
    history = model.fit(x, y, epochs=2, batch_size=8, verbose=0)
    assert "rmse" in history.history and np.all(np.isfinite(history.history["rmse"]))
    logs = model.evaluate(x, y, return_dict=True, verbose=0)
    expected = np.sqrt(np.sum((np.eye(3)[y] - model.predict(x, verbose=0)) ** 2) / len(x))
    assert logs["rmse"] == pytest.approx(expected, rel=1e-5)
    metric = RootMeanSquaredError()
    assert [v.path for v in metric.variables] == ["rmse/mse_sum", "rmse/total_samples"]
    assert metric.total_samples.dtype == np.int32


@pytest.mark.parametrize("cls_name, kwargs, kind", [
    ("BinaryCrossentropy", {}, "binary_column"), ("BinaryCrossentropy", {"from_logits": True}, "binary_multilabel"),
    ("BinaryCrossentropy", {"label_smoothing": 0.1}, "binary_column"),
    ("CategoricalCrossentropy", {}, "categorical"), ("CategoricalCrossentropy", {"from_logits": True}, "categorical"),
    ("SparseCategoricalCrossentropy", {}, "sparse"), ("SparseCategoricalCrossentropy", {"from_logits": True}, "sparse"),
], ids=str)
def test_loss_metrics_stream_as_keras(cls_name, kwargs, kind):
    # The Overfit-and-underfit tutorial: `metrics=[keras.metrics.BinaryCrossentropy(from_logits=True, ...)]`.
    rng = np.random.default_rng(23)
    ours, theirs = getattr(metrics, cls_name)(**kwargs), getattr(keras.metrics, cls_name)(**kwargs)
    for y_true, y_pred, weight in _batches(kind, rng):
        if not kwargs.get("from_logits"):
            y_pred = np.clip(y_pred, 0.01, 0.99)
        ours.update_state(y_true, y_pred, sample_weight=weight)
        theirs.update_state(y_true, y_pred, sample_weight=weight)
        np.testing.assert_allclose(ours.result(), keras.ops.convert_to_numpy(theirs.result()), rtol=1e-5)
    assert ours.get_config() == theirs.get_config()
    assert type(metrics.deserialize(keras.metrics.serialize(theirs))) is type(ours)


@pytest.mark.parametrize("kwargs", [{"num_thresholds": 11}, {"num_thresholds": 11, "curve": "PR"},
                                    {"thresholds": [0.3, 0.5, 0.6]}, {"num_thresholds": 5, "multi_label": True}],
                         ids=str)
def test_auc_of_predictions_on_the_thresholds_as_keras(kwargs):
    # Rounded scores fall on the thresholds: a prediction equal to one is not above it, in float32, as Keras.
    y_true = np.array([[0, 1], [1, 1], [0, 0], [1, 0], [1, 1], [0, 1]], np.float32)
    y_pred = np.array([[.3, .3], [.7, .6], [.2, .5], [.5, .25], [.3, .75], [.5, .5]], np.float32)
    if not kwargs.get("multi_label"):
        y_true, y_pred = y_true[:, :1], y_pred[:, :1]
    ours, theirs = metrics.AUC(**kwargs), keras.metrics.AUC(**kwargs)
    ours.update_state(y_true, y_pred)
    theirs.update_state(y_true, y_pred)
    np.testing.assert_allclose(ours.result(), keras.ops.convert_to_numpy(theirs.result()), rtol=1e-6)
    for mine, reference in zip(ours.variables, theirs.variables, strict=True):
        np.testing.assert_array_equal(mine.value, keras.ops.convert_to_numpy(reference))


@pytest.mark.parametrize("cls_name", ["TruePositives", "FalsePositives", "TrueNegatives", "FalseNegatives"])
@pytest.mark.parametrize("thresholds", [None, 0.3, [0.0, 0.25, 0.5, 0.9, 1.0]])
@pytest.mark.parametrize("kind", ["binary_column", "binary_flat_labels", "binary_multilabel"])
def test_condition_counts_stream_as_keras(cls_name, thresholds, kind):
    """The tutorials' imbalanced-data metrics (``TruePositives(name='tp')``, ...): the same counts as Keras,
    batch by batch, with and without sample weights, at one threshold or several (then a vector)."""
    rng = np.random.default_rng(3)
    ours = getattr(metrics, cls_name)(thresholds=thresholds)
    theirs = getattr(keras.metrics, cls_name)(thresholds=thresholds)
    for y_true, y_pred, weight in _batches(kind, rng):
        y_pred[:2] = 0.5  # on the default threshold: not positive
        ours.update_state(y_true, y_pred, sample_weight=weight)
        theirs.update_state(y_true, y_pred, sample_weight=weight)
        result = ours.result()
        assert result.dtype == np.float32 and np.shape(result) == ((5,) if isinstance(thresholds, list) else ())
        np.testing.assert_allclose(result, keras.ops.convert_to_numpy(theirs.result()), rtol=1e-6)
    assert ours.get_config() | {"name": None} == theirs.get_config() | {"name": None}
    assert [v.path.split("/")[1] for v in ours.variables] == ["accumulator"]
    ours.reset_state()
    assert not np.any(ours.result())


def test_condition_counts_by_name_in_compile():
    from fastconv import keras as fastconv_keras

    model = fastconv_keras.Sequential([fastconv_keras.Input((3,)),
                                       fastconv_keras.layers.Dense(1, activation="sigmoid")])
    model.compile("sgd", "binary_crossentropy",
                  metrics=["true_positives", fastconv_keras.metrics.FalseNegatives(name="fn")])
    x, y = np.random.default_rng(0).random((16, 3), dtype=np.float32), np.arange(16) % 2
    logs = model.evaluate(x, y, verbose=0, return_dict=True)
    predicted = model.predict(x, verbose=0)[:, 0] > 0.5
    assert logs["true_positives"] == np.sum(predicted & (y == 1))
    assert logs["fn"] == np.sum(~predicted & (y == 1))
    with pytest.raises(ValueError, match="Threshold values must be in \\[0, 1\\]"):
        metrics.TruePositives(thresholds=[0.5, 1.5])


@pytest.mark.parametrize("cls_name, kwargs", [("TruePositives", {}), ("FalseNegatives", {"thresholds": [0.5]}),
                                              ("TrueNegatives", {"thresholds": np.float32(0.3)}),
                                              ("Precision", {}), ("Recall", {})])
@pytest.mark.parametrize("weight", ["per element", "number", "per sample"])
def test_confusion_metrics_broadcast_weights_and_thresholds_as_keras(cls_name, kwargs, weight):
    """A weight per element or one number broadcast as Keras broadcasts it; one threshold in a list, or a numpy
    number, gives a number."""
    y_true, y_pred = np.array([[0, 1], [1, 1], [1, 0]]), np.array([[0.2, 0.7], [0.6, 0.4], [0.9, 0.1]], np.float32)
    sample_weight = {"per element": np.array([[1, 2], [3, 4], [5, 6]], np.float32), "number": 0.5,
                     "per sample": np.array([1, 0, 2], np.float32)}[weight]
    ours, theirs = getattr(metrics, cls_name)(**kwargs), getattr(keras.metrics, cls_name)(**kwargs)
    ours.update_state(y_true, y_pred, sample_weight=sample_weight)
    theirs.update_state(y_true, y_pred, sample_weight=sample_weight)
    expected = keras.ops.convert_to_numpy(theirs.result())
    assert np.shape(ours.result()) == np.shape(expected) == ()
    np.testing.assert_allclose(ours.result(), expected, rtol=1e-6)


def test_metric_objects_count_from_zero_in_fit_after_evaluate_or_another_fit():
    """The imbalanced-data tutorial evaluates before it fits: the first epoch counts only its own batches, as
    Keras's (a second fit too)."""
    from fastconv import keras as fastconv_keras

    histories = {}
    for name, library in (("fastconv", fastconv_keras), ("keras", keras)):
        model = library.Sequential([library.Input((2,)), library.layers.Dense(1, activation="sigmoid")])
        model.compile("sgd", "binary_crossentropy", metrics=[library.metrics.TrueNegatives(name="tn"),
                                                             library.metrics.BinaryAccuracy(name="acc")])
        x, y = np.zeros((100, 2), np.float32), np.zeros((100, 1), np.float32)
        model.evaluate(x, y, verbose=0)
        first = model.fit(x[:10], y[:10], epochs=2, verbose=0).history
        second = model.fit(x[:10], y[:10], epochs=1, verbose=0).history
        histories[name] = first["tn"] + second["tn"], first["acc"] + second["acc"]
    assert histories["fastconv"][0] == [10.0, 10.0, 10.0]
    np.testing.assert_allclose(histories["fastconv"], histories["keras"])


def test_get_metrics_result_and_reset_metrics_as_keras():
    from fastconv import keras as fastconv_keras

    results = {}
    x, y = np.random.default_rng(0).random((12, 2), dtype=np.float32), (np.arange(12) % 2)[:, None]
    for name, library in (("fastconv", fastconv_keras), ("keras", keras)):
        model = library.Sequential([library.Input((2,)), library.layers.Dense(1, activation="sigmoid")])
        model.layers[-1].set_weights([np.array([[0.5], [-1.0]], np.float32), np.array([0.1], np.float32)])
        model.compile("sgd", "binary_crossentropy", metrics=[library.metrics.TruePositives(name="tp")])

        def result(model=model):  # as numbers now: Keras's are tensors of the metrics' variables, zeroed by a reset
            return {k: float(keras.ops.convert_to_numpy(v)) for k, v in model.get_metrics_result().items()}

        model.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0)
        after_fit = result()
        model.evaluate(x, y, verbose=0)
        after_evaluate = result()
        model.reset_metrics()
        results[name] = [after_fit, after_evaluate, result()]
    assert [list(r) for r in results["fastconv"]] == [["loss", "tp"]] * 3
    for ours, theirs in zip(results["fastconv"], results["keras"]):
        assert ours == pytest.approx(theirs, rel=1e-5)
    assert results["fastconv"][2] == {"loss": 0.0, "tp": 0.0}


@pytest.mark.parametrize("cls_name, kwargs, weight", [
    (cls_name, kwargs, weight)
    for cls_name, kwargs in (("Precision", {"class_id": 1}), ("Recall", {"class_id": 1}), ("AUC", {}),
                             ("AUC", {"multi_label": True}), ("Precision", {}))
    for weight in ("per sample (N, 1)", "number", "per element")
    if not (weight == "per element" and "class_id" in kwargs)])  # Keras cannot: it slices the class first
def test_weights_of_every_shape_as_keras(cls_name, kwargs, weight):
    y_true = np.array([[0, 1, 0], [0, 1, 1], [1, 0, 0], [0, 1, 0]], np.float32)
    y_pred = np.array([[.1, .9, .2], [.3, .6, .7], [.8, .4, .1], [.2, .3, .9]], np.float32)
    sample_weight = {"per sample (N, 1)": np.array([[1.0], [2.0], [3.0], [4.0]], np.float32), "number": 0.5,
                     "per element": np.arange(12, dtype=np.float32).reshape(4, 3) / 4}[weight]
    ours, theirs = getattr(metrics, cls_name)(**kwargs), getattr(keras.metrics, cls_name)(**kwargs)
    ours.update_state(y_true, y_pred, sample_weight=sample_weight)
    theirs.update_state(y_true, y_pred, sample_weight=sample_weight)
    np.testing.assert_allclose(ours.result(), keras.ops.convert_to_numpy(theirs.result()), rtol=1e-5)


def test_get_metrics_result_after_validation_and_one_batch_calls_as_keras():
    """After a fit with validation data the metrics hold the validation's values, strings and objects alike; a
    train_on_batch or test_on_batch, that batch's loss and metrics."""
    from fastconv import keras as fastconv_keras

    rng = np.random.default_rng(1)
    x, y = rng.random((16, 3), dtype=np.float32), (np.arange(16) % 2)[:, None].astype(np.float32)
    results = {}
    for name, library in (("fastconv", fastconv_keras), ("keras", keras)):
        model = library.Sequential([library.Input((3,)), library.layers.Dense(1, activation="sigmoid")])
        model.layers[-1].set_weights([np.array([[0.5], [-1.0], [0.3]], np.float32), np.array([0.1], np.float32)])
        model.compile("sgd", "binary_crossentropy", metrics=["accuracy", library.metrics.AUC(name="auc"), "mae"])

        def result(model=model):
            return {k: float(keras.ops.convert_to_numpy(v)) for k, v in model.get_metrics_result().items()}

        model.train_on_batch(x[:8], y[:8])
        after_train_batch = result()
        model.fit(x, y, batch_size=4, epochs=1, shuffle=False, verbose=0, validation_data=(x[:8], y[:8]))
        after_fit = result()
        model.test_on_batch(x[8:], y[8:])
        results[name] = [after_train_batch, after_fit, result()]
    for ours, theirs in zip(results["fastconv"], results["keras"]):
        assert list(ours) == ["loss", "accuracy", "auc", "mae"]
        assert ours == pytest.approx(theirs, rel=1e-5)


def test_metric_results_have_numpy_as_keras_tensors_do():
    """`metric.result().numpy()` and `{k: v.numpy() for k, v in model.get_metrics_result().items()}`, as written
    for Keras, on every metric (one of your own too)."""
    from fastconv import keras as fastconv_keras

    class Count(fastconv_keras.metrics.Metric):
        def __init__(self, name="count"):
            super().__init__(name=name)
            self.total = self.add_weight(name="total")

        def update_state(self, y_true, y_pred, sample_weight=None):
            self.total.assign_add(len(y_true))

        def result(self):
            return self.total.value

    y_true, y_pred = [0, 1, 1, 1], [0.2, 0.6, 0.4, 0.9]
    for metric in (metrics.TruePositives(), metrics.TruePositives(thresholds=[0.3, 0.7]), metrics.AUC(),
                   metrics.BinaryAccuracy(), metrics.Precision(), Count()):
        value = metric(y_true, y_pred)
        np.testing.assert_array_equal(value.numpy(), metric.result().numpy())
        assert type(value.numpy()) in (np.float32, np.ndarray)
    model = fastconv_keras.Sequential([fastconv_keras.Input((1,)),
                                       fastconv_keras.layers.Dense(1, activation="sigmoid")])
    model.compile("sgd", "binary_crossentropy", metrics=[metrics.TruePositives(name="tp"), "accuracy"])
    model.evaluate(np.array(y_pred)[:, None], np.array(y_true), verbose=0)
    assert sorted({k: float(v.numpy()) for k, v in model.get_metrics_result().items()}) == ["accuracy", "loss", "tp"]
