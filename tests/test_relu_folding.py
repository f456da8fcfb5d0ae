"""A ReLU's backward mask folded into the max pooling that reads its outputs.

Where a ``Conv2D(activation='relu')`` feeds one ``MaxPooling2D`` alone, the
model asks the pooling's backward pass for the gradient before the ReLU
(``ops.max_pool_grad(..., relu_inputs=True)``: a window whose maximum is not
positive passes nothing) and the convolution's backward pass for no mask of
its own. The results must be exactly those of the two passes apart: the
ReLU's mask is ``outputs > 0``, and the only cell of a window that gets a
gradient is its maximum. The training tests compare the folded models with
Keras; these check the fold itself and where it applies.
"""

import numpy as np
import pytest

from fastconv import keras, ops

CASES = [dict(pool_size=2), dict(pool_size=3, strides=1, padding="same"), dict(pool_size=(2, 3), strides=(1, 2))]


@pytest.mark.bounds
@pytest.mark.parametrize("case", CASES, ids=str)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_max_pool_grad_of_relu_inputs_is_the_masked_gradient(case, dtype, rng):
    # ReLU outputs with many exact zeros (whole windows of them too), and a NaN.
    x = np.maximum(rng.standard_normal((3, 9, 10, 19)), 0).astype(dtype)
    x[0, :4, :4] = 0
    x[1, 2, 3, 4] = np.nan
    pooled = ops.max_pool(x, **case)
    grad = rng.standard_normal(pooled.shape).astype(dtype)
    folded = ops.max_pool_grad(x, grad, **case, relu_inputs=True)
    expected = ops.max_pool_grad(x, grad, **case) * (x > 0)  # the pooling's gradient, then the ReLU's mask
    np.testing.assert_array_equal(folded, expected)
    assert (folded == 0).any() and (folded != 0).any()


def test_relu_inputs_must_be_a_bool():
    x = np.ones((1, 2, 2, 1), np.float32)
    with pytest.raises(TypeError, match="Invalid value for argument `relu_inputs`. Expected True or False. "
                                        "Received: relu_inputs='yes'"):
        ops.max_pool_grad(x, np.ones((1, 1, 1, 1), np.float32), 2, relu_inputs="yes")


def _textbook_like():
    return keras.Sequential([
        keras.Input(shape=(10, 10, 3)),
        keras.layers.Conv2D(16, 3, activation="relu", padding="same"),  # a first layer: no input gradient
        keras.layers.MaxPooling2D(2),
        keras.layers.Conv2D(20, 3, activation="relu"),
        keras.layers.MaxPooling2D(3, strides=1, padding="same"),  # overlapping windows
        keras.layers.Flatten(),
        keras.layers.Dense(3),
    ])


def _gradients(model, x, grad, fold):
    outputs, tape = model.forward(x, training=True)
    if not fold:
        model._relu_folds = lambda: (set(), set())
    try:
        grads = model.backward(tape, grad)
    finally:
        model.__dict__.pop("_relu_folds", None)
    return [grads[id(v)] for v in model.trainable_weights]


def test_a_model_folds_the_relu_into_its_pooling_with_the_same_gradients(rng):
    model = _textbook_like()
    producers, folders = model._relu_folds()
    assert len(producers) == len(folders) == 2
    x = rng.standard_normal((6, 10, 10, 3)).astype(np.float32)
    grad = rng.standard_normal((6, 3)).astype(np.float32)
    folded, apart = _gradients(model, x, grad, True), _gradients(model, x, grad, False)
    assert len(folded) == 6
    for a, b in zip(folded, apart):
        np.testing.assert_array_equal(a, b)


def test_no_fold_where_the_relu_outputs_are_read_twice_or_are_an_output():
    inputs = keras.Input(shape=(8, 8, 2))
    h = keras.layers.Conv2D(4, 3, activation="relu", padding="same")(inputs)
    pooled = keras.layers.MaxPooling2D(2)(h)
    shortcut = keras.layers.AveragePooling2D(2)(h)  # a second reader of h
    both = keras.Model(inputs, keras.layers.Add()([pooled, shortcut]))
    assert both._relu_folds() == (set(), set())
    g = keras.layers.Conv2D(4, 3, activation="relu")(inputs)
    as_output = keras.Model(inputs, [g, keras.layers.MaxPooling2D(2)(g)])
    assert as_output._relu_folds() == (set(), set())
    linear = keras.Sequential([keras.Input(shape=(8, 8, 2)), keras.layers.Conv2D(4, 3), keras.layers.MaxPooling2D()])
    assert linear._relu_folds() == (set(), set())


def _mobilenet_like():
    inputs = keras.Input(shape=(10, 10, 3))
    x = keras.layers.ReLU()(keras.layers.BatchNormalization()(keras.layers.Conv2D(8, 3, padding="same")(inputs)))
    x = keras.layers.ReLU()(keras.layers.BatchNormalization()(keras.layers.DepthwiseConv2D(3, strides=2)(x)))
    y = keras.layers.BatchNormalization()(keras.layers.Conv2D(8, 1)(x))
    y = keras.layers.ReLU()(keras.layers.Add()([y, keras.layers.Conv2D(8, 1)(x)]))  # Add -> ReLU: not taken
    return keras.Model(inputs, keras.layers.Dense(3)(keras.layers.GlobalAveragePooling2D()(y)))


def test_batch_normalization_takes_the_relu_after_it_with_the_same_results(rng):
    model = _mobilenet_like()
    takers, relus = model._relu_fusions()
    assert len(takers) == len(relus) == 2
    x = rng.standard_normal((6, 10, 10, 3)).astype(np.float32)
    grad = rng.standard_normal((6, 3)).astype(np.float32)
    results, weights = [], model.get_weights()
    for fuse in (True, False):
        model.set_weights(weights)  # the same moving statistics before each training-mode pass
        if not fuse:
            model._relu_fusions = lambda: (set(), set())
        outputs, tape = model.forward(x, training=True)
        grads = model.backward(tape, grad)
        results.append([outputs[0]] + [grads[id(v)] for v in model.trainable_weights])
        results[-1] += [v.numpy() for v in model.non_trainable_weights]  # moving statistics
        results[-1].append(model.predict(x, verbose=0))  # inference: the moving statistics, the same ReLU
    for a, b in zip(*results):
        np.testing.assert_array_equal(a, b)


def test_no_relu_taken_where_the_normalized_values_are_read_twice():
    inputs = keras.Input(shape=(4, 4, 2))
    h = keras.layers.BatchNormalization()(inputs)
    model = keras.Model(inputs, keras.layers.Add()([keras.layers.ReLU()(h), h]))
    assert model._relu_fusions() == (set(), set())
    leaky = keras.Sequential([keras.Input(shape=(4, 4, 2)), keras.layers.BatchNormalization(),
                              keras.layers.ReLU(negative_slope=0.1)])
    assert leaky._relu_fusions() == (set(), set())
