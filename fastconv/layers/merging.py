"""Layers that merge a list of tensors into one: ``Add``, ``Subtract``, ``Multiply``, ``Average``, ``Maximum``,
``Minimum`` and ``Concatenate``, with Keras's functional forms ``add``, ``subtract``, ... ``concatenate``.

Each is called on a list of tensors (``layers.Add()([x, shortcut])``), which is how residual blocks and
U-Nets join their branches. Shape rules and error messages follow Keras 3's
``keras.src.layers.merging``: the elementwise merges broadcast as numpy does, after inputs of lower rank
have been given axes of size 1 after the batch axis (Keras's ``Merge.call``), so ``(N, 4)`` merges with
``(N, 3, 4)``; ``Concatenate`` needs the shapes to agree except on its axis.

The arithmetic is numpy's (one ufunc per input, no loops over pixels); a backward pass sums each
input's gradient back over the axes that broadcasting repeated it along. ``Maximum`` and ``Minimum`` pass
the gradient of each output element to the first input that attains the maximum (minimum), as Keras
on TensorFlow does (its ``Maximum`` gradient sends ties to the left operand of each pairwise
``maximum``). Keras on PyTorch differs at ties only: ``torch.maximum`` splits a tie's gradient in halves
between the two operands of each pairwise call (``tests/test_merging.py`` pins both).
"""

import numpy as np

from fastconv.layers.base import Layer


def _shapes_text(input_shape):
    """A list of shapes as Keras prints it in messages (``[(None, 4), (None, 5)]``)."""
    if isinstance(input_shape, (list, tuple)) and input_shape and isinstance(input_shape[0], (list, tuple)):
        return str([tuple(shape) for shape in input_shape])
    return str(tuple(input_shape) if isinstance(input_shape, list) else input_shape)


def _check_list_of_shapes(input_shape, what="A merge layer"):
    if not isinstance(input_shape[0] if len(input_shape) else None, (list, tuple)):
        if not len(input_shape):
            raise ValueError(f"{what} should be called on a list of at least 1 input. Received 0 inputs. "
                             "Full input_shape received: []")
        raise ValueError(f"{what} should be called on a list of inputs. "
                         f"Received: input_shape={_shapes_text(input_shape)} (not a list of shapes)")


def _elementwise_shape(shape1, shape2):
    """Keras's ``Merge._compute_elemwise_op_output_shape``: numpy's broadcasting of two shapes (without the
    batch axis), aligned on the right, ``None`` where either size is unknown."""
    if len(shape1) < len(shape2):
        shape1, shape2 = shape2, shape1
    if not shape2:
        return tuple(shape1)
    output = list(shape1[:len(shape1) - len(shape2)])
    for i, j in zip(shape1[len(shape1) - len(shape2):], shape2):
        if i is None or j is None:
            output.append(None)
        elif i == 1 or j == 1:
            output.append(j if i == 1 else i)
        elif i != j:
            raise ValueError(f"Inputs have incompatible shapes. Received shapes {tuple(shape1)} and {tuple(shape2)}")
        else:
            output.append(i)
    return tuple(output)


def _sum_to_shape(grad, shape):
    """The gradient of an input of ``shape`` (of ``grad``'s rank) that broadcasting stretched to ``grad.shape``:
    ``grad`` summed over the axes it was repeated along."""
    axes = tuple(axis for axis, size in enumerate(shape) if size == 1 and grad.shape[axis] != 1)
    return grad.sum(axis=axes, keepdims=True) if axes else grad


def _sum(inputs):
    outputs = inputs[0]
    for x in inputs[1:]:
        outputs = outputs + x
    return outputs


class _Merge(Layer):
    """Keras's ``Merge``: an elementwise merge of a list of tensors (the shape rules and the backward pass);
    a subclass says what ``_merge`` computes and ``_merge_grads`` its gradient for each input."""

    takes_list = True

    def build(self, input_shape):
        self.check_input_shape(input_shape)

    def check_input_shape(self, input_shape):
        """Keras's ``Merge.build`` checks: a list of at least one shape, one batch size, broadcastable shapes."""
        _check_list_of_shapes(input_shape)
        batch_sizes = {shape[0] for shape in input_shape if shape} - {None}
        if len(batch_sizes) > 1:
            raise ValueError(f"Cannot merge tensors with different batch sizes. Received tensors with shapes "
                             f"{_shapes_text(input_shape)}")
        self.compute_output_shape(input_shape)

    def compute_output_shape(self, input_shape):
        output = tuple(input_shape[0][1:])
        for shape in input_shape[1:]:
            output = _elementwise_shape(output, tuple(shape[1:]))
        batch_sizes = {shape[0] for shape in input_shape} - {None}
        return (batch_sizes.pop() if len(batch_sizes) == 1 else None, *output)

    def forward(self, inputs, training):
        # Keras gives inputs of lower rank axes of size 1 after the batch axis, then broadcasts.
        rank = max(x.ndim for x in inputs)
        expanded = [x.reshape(x.shape[:1] + (1,) * (rank - x.ndim) + x.shape[1:]) for x in inputs]
        outputs = self._merge(expanded)
        return outputs, (inputs, expanded, outputs)

    def backward(self, context, grad_outputs, need_grad_inputs=True):
        inputs, expanded, outputs = context
        if not need_grad_inputs:
            return [None] * len(inputs), []
        grads = self._merge_grads(expanded, outputs, grad_outputs)  # each of the outputs' shape
        return [_sum_to_shape(g, e.shape).reshape(x.shape) for x, e, g in zip(inputs, expanded, grads)], []

    def _merge(self, inputs):
        raise NotImplementedError

    def _merge_grads(self, inputs, outputs, grad_outputs):
        raise NotImplementedError


class Add(_Merge):
    """The elementwise sum of a list of tensors (``keras.layers.Add``).

    >>> x = np.ones((2, 3), "float32")
    >>> Add()([x, 2 * x, 3 * x])[0]
    array([6., 6., 6.], dtype=float32)
    """

    def _merge(self, inputs):
        return _sum(inputs)

    def _merge_grads(self, inputs, outputs, grad_outputs):
        return [grad_outputs] * len(inputs)


class Subtract(_Merge):
    """``inputs[0] - inputs[1]`` for a list of exactly two tensors (``keras.layers.Subtract``).

    >>> Subtract()([np.full((1, 2), 5.0), np.ones((1, 2))])
    array([[4., 4.]], dtype=float32)
    """

    def check_input_shape(self, input_shape):
        super().check_input_shape(input_shape)
        if len(input_shape) != 2:
            raise ValueError(f"A `Subtract` layer should be called on exactly 2 inputs. "
                             f"Received: input_shape={_shapes_text(input_shape)}")

    def _merge(self, inputs):
        return inputs[0] - inputs[1]

    def _merge_grads(self, inputs, outputs, grad_outputs):
        return [grad_outputs, -grad_outputs]


class Multiply(_Merge):
    """The elementwise product of a list of tensors (``keras.layers.Multiply``).

    >>> Multiply()([np.full((1, 2), 3.0), np.full((1, 2), 2.0)])
    array([[6., 6.]], dtype=float32)
    """

    def _merge(self, inputs):
        outputs = inputs[0]
        for x in inputs[1:]:
            outputs = outputs * x
        return outputs

    def _merge_grads(self, inputs, outputs, grad_outputs):
        # The product of the other inputs (not outputs / x, which fails where x is 0).
        return [self._merge([grad_outputs] + inputs[:i] + inputs[i + 1:]) for i in range(len(inputs))]


class Average(_Merge):
    """The elementwise mean of a list of tensors (``keras.layers.Average``).

    >>> Average()([np.zeros((1, 2)), np.full((1, 2), 4.0)])
    array([[2., 2.]], dtype=float32)
    """

    def _merge(self, inputs):
        return _sum(inputs) / np.float32(len(inputs))

    def _merge_grads(self, inputs, outputs, grad_outputs):
        return [grad_outputs / np.float32(len(inputs))] * len(inputs)


class Maximum(_Merge):
    """The elementwise maximum of a list of tensors (``keras.layers.Maximum``); each output element's
    gradient goes to the first input holding the maximum.

    >>> Maximum()([np.array([[1.0, 5.0]]), np.array([[3.0, 2.0]])])
    array([[3., 5.]], dtype=float32)
    """

    _ufunc = np.maximum

    def _merge(self, inputs):
        outputs = inputs[0]
        for x in inputs[1:]:
            outputs = self._ufunc(outputs, x)
        return outputs

    def _merge_grads(self, inputs, outputs, grad_outputs):
        taken = np.zeros(outputs.shape, bool)
        grads = []
        for x in inputs:
            first = (x == outputs) & ~taken
            taken |= first
            grads.append(grad_outputs * first)  # a mask product: numpy's `where` is 30 times slower here
        return grads


class Minimum(Maximum):
    """The elementwise minimum of a list of tensors (``keras.layers.Minimum``); each output element's
    gradient goes to the first input holding the minimum.

    >>> Minimum()([np.array([[1.0, 5.0]]), np.array([[3.0, 2.0]])])
    array([[1., 2.]], dtype=float32)
    """

    _ufunc = np.minimum


class Concatenate(Layer):
    """Joins a list of tensors along ``axis`` (``keras.layers.Concatenate``); the other axes must agree.

    >>> Concatenate()([np.ones((2, 3)), np.zeros((2, 1))]).shape
    (2, 4)
    """

    takes_list = True

    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        self.axis = axis

    def build(self, input_shape):
        self.check_input_shape(input_shape)

    def check_input_shape(self, input_shape):
        """Keras's ``Concatenate.build``: the shapes without the concatenation axis must agree where known."""
        if not len(input_shape) or not isinstance(input_shape[0], (list, tuple)):
            raise ValueError(f"A `Concatenate` layer should be called on a list of at least 1 input. "
                             f"Received: input_shape={_shapes_text(input_shape)}")
        reduced = set()
        for shape in input_shape:
            shape = list(shape)
            if len(shape) > self.axis:  # as Keras: a negative axis is always removed
                del shape[self.axis]
            reduced.add(tuple(shape))
        if len(reduced) > 1:
            mismatched = len({len(shape) for shape in reduced}) > 1 or any(
                len({shape[axis] for shape in reduced} - {None}) > 1 for axis in range(len(next(iter(reduced)))))
            if mismatched:
                raise ValueError("A `Concatenate` layer requires inputs with matching shapes except for the "
                                 f"concatenation axis. Received: input_shape={_shapes_text(input_shape)}")

    def compute_output_shape(self, input_shape):
        output = list(input_shape[0])
        for shape in input_shape[1:]:
            if output[self.axis] is None or shape[self.axis] is None:
                output[self.axis] = None
                break
            output[self.axis] += shape[self.axis]
        return tuple(output)

    def forward(self, inputs, training):
        return np.concatenate(inputs, axis=self.axis), [x.shape[self.axis] for x in inputs]

    def backward(self, context, grad_outputs, need_grad_inputs=True):
        if not need_grad_inputs:
            return [None] * len(context), []
        ends = np.cumsum(context)[:-1]
        return [np.ascontiguousarray(g) for g in np.split(grad_outputs, ends, axis=self.axis)], []

    def get_config(self):
        return {**super().get_config(), "axis": self.axis}


def add(inputs, **kwargs):
    """Functional interface to :class:`Add` (``keras.layers.add``): ``Add(**kwargs)(inputs)``."""
    return Add(**kwargs)(inputs)


def subtract(inputs, **kwargs):
    """Functional interface to :class:`Subtract` (``keras.layers.subtract``)."""
    return Subtract(**kwargs)(inputs)


def multiply(inputs, **kwargs):
    """Functional interface to :class:`Multiply` (``keras.layers.multiply``)."""
    return Multiply(**kwargs)(inputs)


def average(inputs, **kwargs):
    """Functional interface to :class:`Average` (``keras.layers.average``)."""
    return Average(**kwargs)(inputs)


def maximum(inputs, **kwargs):
    """Functional interface to :class:`Maximum` (``keras.layers.maximum``)."""
    return Maximum(**kwargs)(inputs)


def minimum(inputs, **kwargs):
    """Functional interface to :class:`Minimum` (``keras.layers.minimum``)."""
    return Minimum(**kwargs)(inputs)


def concatenate(inputs, axis=-1, **kwargs):
    """Functional interface to :class:`Concatenate` (``keras.layers.concatenate``)."""
    return Concatenate(axis=axis, **kwargs)(inputs)
