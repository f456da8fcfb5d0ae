"""The ``Layer`` base class, symbolic ``KerasTensor``s and ``Input``/``InputLayer``.

A layer holds its configuration and its weights (``fastconv.variables.Variable``)
and computes on numpy arrays. Subclasses implement

- ``build(input_shape)``: create weights with ``add_weight``;
- ``compute_output_shape(input_shape)``: pure shape arithmetic;
- ``forward(inputs, training) -> (outputs, context)`` and
  ``backward(context, grad_outputs, need_grad_inputs) -> (grad_inputs, grads)``,
  where ``grads`` lines up with ``trainable_weights``. A merging layer
  (``takes_list``) takes a list of arrays and returns a list of gradients.

Calling a layer on a numpy array computes it; calling it on a ``KerasTensor``
(from ``Input`` or another layer) records a graph node and returns a new
``KerasTensor``, which is how Sequential and functional models are wired.
Loops over pixels live in ``fastconv.ops``, never here.

A user's layer that overrides ``call`` and not ``forward`` (Keras's subclassing,
``class ResidualUnit(keras.layers.Layer)``) is a *composite* layer: called on
symbolic tensors, its ``call`` runs on them once (:func:`trace_call`), so the
layers it calls, and the ``+``, ``-``, ``*`` between tensors (``KerasTensor``'s
operators, which call ``Add``, ``Subtract``, ``Multiply`` or ``Rescaling``), join
the model's graph; its weights are those of the layers it holds.
"""

import contextlib
import functools
import inspect
import threading
import warnings

import numpy as np

from fastconv import constraints, initializers, regularizers, shapes
from fastconv.eager import eager
from fastconv.naming import to_snake_case, unique_name
from fastconv.variables import Variable

class KerasTensor:
    """A symbolic tensor: a shape (``None`` for the batch), a dtype and the graph node that produced it."""

    def __init__(self, shape, dtype="float32", node=None, name=None):
        self.shape = tuple(shape)
        self.dtype = dtype
        self.node = node
        self.name = name or unique_name("keras_tensor")
        # The model (nesting) or composite layer whose call on tensors returned this one, for `get_layer`.
        self.called = None

    @property
    def ndim(self):
        return len(self.shape)

    def __repr__(self):
        return f"<KerasTensor shape={self.shape}, dtype={self.dtype}, sparse=False, name={self.name}>"

    # Arithmetic in a subclassed model's or layer's `call` (`z + shortcut`, `inputs / 255`) records the layer
    # that computes it; numpy's functions on a KerasTensor raise (they have no gradient here).
    __array_ufunc__ = None

    def __add__(self, other):
        return _arithmetic("Add", self, other, scale=1.0, offset=other)

    def __radd__(self, other):
        return _arithmetic("Add", other, self, scale=1.0, offset=other)

    def __sub__(self, other):
        return _arithmetic("Subtract", self, other, scale=1.0, offset=_negated(other))

    def __rsub__(self, other):
        return _arithmetic("Subtract", other, self, scale=-1.0, offset=other)

    def __mul__(self, other):
        return _arithmetic("Multiply", self, other, scale=other, offset=0.0)

    def __rmul__(self, other):
        return _arithmetic("Multiply", other, self, scale=other, offset=0.0)

    def __truediv__(self, other):
        if isinstance(other, KerasTensor):
            raise NotImplementedError("fastconv cannot divide a tensor by a tensor in a model; divide by a number "
                                      f"instead. Received: {self!r} / {other!r}")
        return _arithmetic("Multiply", self, other, scale=_reciprocal(other), offset=0.0)

    def __neg__(self):
        return _arithmetic("Multiply", self, -1.0, scale=-1.0, offset=0.0)


def _is_number(value):
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)


def _negated(value):
    return -value if _is_number(value) else value


def _reciprocal(value):
    return 1.0 / value if _is_number(value) else value


def _arithmetic(merge, first, second, scale, offset):
    """``first <op> second`` where one or both are KerasTensors: the merging layer ``merge`` for two tensors,
    ``Rescaling(scale, offset)`` for a tensor and a number."""
    from fastconv.layers import merging, reshaping  # they import this module

    if isinstance(first, KerasTensor) and isinstance(second, KerasTensor):
        return getattr(merging, merge)()([first, second])
    tensor, number = (first, second) if isinstance(first, KerasTensor) else (second, first)
    if not _is_number(number):
        raise NotImplementedError(f"fastconv computes a tensor with another tensor or with a number in a model. "
                                  f"Received: {type(number).__name__} with {tensor!r}")
    return reshaping.Rescaling(float(scale), float(offset))(tensor)


class _TracingTraining:
    """The ``training`` argument that a subclassed model's or layer's ``call`` gets while fastconv runs it on
    symbolic tensors: passed on to layers (``self.dropout(x, training=training)``) it lets ``fit`` and
    ``predict`` choose, as Keras's own layers do; a Python branch on it cannot be recorded, and raises."""

    def __bool__(self):
        raise NotImplementedError(
            "fastconv runs a subclassed model's (or layer's) `call()` once, on symbolic tensors, to record the "
            "layers it calls, so a Python branch on `training` (`if training:`) cannot be recorded. Pass "
            "`training=training` to the layers instead: Dropout, BatchNormalization and the augmentation layers "
            "then train in `fit` and infer in `predict` and `evaluate`, as in Keras.")

    def __repr__(self):
        return "<training: chosen by fit/predict>"


TRACING = _TracingTraining()

_depths = threading.local()  # per thread: how many trace_call()s (`tracing`) and inlinings (`inlining`) we are in


def _depth(kind):
    return getattr(_depths, kind, 0)


@contextlib.contextmanager
def _within(kind):
    setattr(_depths, kind, _depth(kind) + 1)
    try:
        yield
    finally:
        setattr(_depths, kind, _depth(kind) - 1)


def inlining():
    """Within: the layer calls being made are a composite layer's, a subclassed model's or another model's,
    inlined in a model's graph (``Node.inlined``: Keras keeps them inside that one, so their names may repeat
    other layers' in the model)."""
    return _within("inlining")


_capturing = threading.local()  # `lists`: {id(layer): [(outputs, context)]} of forward_through_call, per thread


def _captures():
    if not hasattr(_capturing, "lists"):
        _capturing.lists = {}
    return _capturing.lists


_CALL_CHANGED_OUTPUTS = object()
"""The context of a forward pass whose layer's own ``call`` changed what its fastconv ``forward`` computed:
there is no backward pass for it (see ``Layer.forward_through_call``)."""


def check_trainable_context(layer, context):
    """Raise ``NotImplementedError`` where ``context`` is of a forward pass that ``layer``'s own ``call`` changed
    (a model's backward pass asks before each layer's)."""
    if context is _CALL_CHANGED_OUTPUTS:
        base = next(c.__name__ for c in type(layer).__mro__[1:] if "forward" in c.__dict__)
        raise NotImplementedError(
            f"The layer '{layer.name}' ({type(layer).__name__}, a {base}) overrides `call()` and returns something "
            f"other than what its {base} computes: fastconv can run it (predict, evaluate) but not train through "
            f"it, having no gradient for your code. Return `super().call(...)` as it is (passing `training` as you "
            "wish), or build the computation from layers in a `keras.layers.Layer` subclass.")


def _takes_training(call):
    """Whether ``call`` (a bound method or a function) has a ``training`` parameter (or ``**kwargs``)."""
    return _function_takes_training(getattr(call, "__func__", call))


@functools.lru_cache(maxsize=None)
def _function_takes_training(function):
    try:
        parameters = inspect.signature(function).parameters
    except (TypeError, ValueError):
        return False
    return "training" in parameters or any(p.kind is p.VAR_KEYWORD for p in parameters.values())


def trace_call(owner, call, inputs, training=None):
    """Run ``call`` (a subclassed model's or composite layer's ``call``) on symbolic ``inputs`` and return its
    outputs (a ``KerasTensor`` or a list of them), which the layers it called have joined to the graph.
    ``training`` is what the call was given: a bool is passed on (and the calls it reaches keep it), else
    :data:`TRACING`, which lets fit and predict choose."""
    kwargs = {"training": bool(training) if isinstance(training, (bool, np.bool_)) else TRACING} if (
        _takes_training(call)) else {}
    kind = "model" if not isinstance(owner, Layer) else "layer"
    try:
        with _within("tracing"), inlining():
            outputs = call(inputs, **kwargs)
    except (TypeError, AttributeError) as error:
        raise NotImplementedError(
            f"fastconv could not run `call()` of the {kind} '{owner.name}' ({type(owner).__name__}) on symbolic "
            f"tensors: {type(error).__name__}: {error}. fastconv runs `call()` once to record what it computes, "
            "so `call()` may call fastconv layers and models, `keras.activations`, and +, -, * between tensors "
            "or with numbers; other functions (numpy's, tf's) have no gradient here.") from error
    returned = outputs if isinstance(outputs, (list, tuple)) else [outputs]
    if not returned or not all(isinstance(t, KerasTensor) for t in returned):
        raise NotImplementedError(
            f"`call()` of the {kind} '{owner.name}' ({type(owner).__name__}) returned {outputs!r}: fastconv needs "
            "a tensor (or a list of tensors) computed by layers from its inputs.")
    return list(outputs) if isinstance(outputs, (list, tuple)) else outputs


class Node:
    """One call of ``layer`` on symbolic ``inputs`` giving ``output``.

    ``inputs`` is what the layer was called on: a KerasTensor, a list of them
    (a merging layer's call) or ``None`` (an ``InputLayer``'s own node).
    """

    def __init__(self, layer, inputs, training=None):
        self.layer = layer
        self.inputs = inputs
        self.output = None
        # The `training` the call was given (`Dropout(0.5)(x, training=True)`), or None. In a subclassed model's
        # or layer's `call` (`fixed`: recorded while fastconv ran it, see `trace_call`) it always applies, as
        # eager code would; in a functional model only to a call of the model without `training`, which fit,
        # predict and evaluate give, as in Keras.
        self.training = bool(training) if isinstance(training, (bool, np.bool_)) else None
        self.fixed = _depth("tracing") > 0
        self.inlined = _depth("inlining") > 0

    def training_for(self, training):
        """The ``training`` this call runs with when the model runs with ``training`` (None: a plain call)."""
        if self.training is not None and (self.fixed or training is None):
            return self.training
        return self.layer.default_training if training is None else training

    @property
    def input_tensors(self):
        """The KerasTensors the call read, as a list (empty for an ``InputLayer``)."""
        if self.inputs is None:
            return []
        return list(self.inputs) if isinstance(self.inputs, list) else [self.inputs]


def _dtype_name(dtype):
    """The name of a dtype or Keras dtype policy: ``'float32'`` for ``None``, ``np.float32`` or a ``DTypePolicy``
    config of float32; a name numpy does not know (``'mixed_float16'``) as it is."""
    if isinstance(dtype, dict):  # a Keras DTypePolicy config, as stored in .keras files
        return dtype.get("config", {}).get("name", "float32")
    if dtype is None:
        return "float32"
    try:
        return str(np.dtype(dtype))
    except TypeError:
        return str(dtype)


def _check_dtype(dtype):
    """Layers compute in float32: any other dtype or Keras policy raises, naming what was received."""
    name = _dtype_name(dtype)
    if name == "float32":
        return
    if name in ("mixed_float16", "mixed_bfloat16"):
        raise NotImplementedError(
            f"fastconv layers compute in float32; mixed precision is not supported. Received: dtype={dtype!r}. "
            "Leave `dtype` unset (or pass 'float32').")
    try:
        np.dtype(name)
    except TypeError:
        if name != "bfloat16":  # a Keras dtype that numpy lacks
            raise ValueError(f"Invalid value for argument `dtype`. Expected a dtype or dtype policy name such as "
                             f"'float32'. Received: dtype={dtype!r}") from None
    raise NotImplementedError(f"fastconv layers compute in float32. Received: dtype={dtype!r}")


class Layer:
    """Base class of all fastconv layers (Keras's ``keras.layers.Layer``)."""

    kernel_families = ()
    """The ``fastconv.compilation`` kernel families this layer's forward pass runs."""

    gradient_kernel_families = ()
    """The ``fastconv.compilation`` kernel families this layer's backward pass runs."""

    input_gradient_kernel_families = ()
    """The kernel families of this layer's input gradient where they are not among
    ``gradient_kernel_families``: a training step runs them only if a layer before this one needs the
    gradient (a model's first layer gets none)."""

    def streamed_kernel_families(self, batch_size, training):
        """Kernel families this layer runs only at large batches, for batches of ``batch_size`` (with
        ``training``, in a training step too): none, but for a depthwise convolution's passes that write past
        the caches (``fastconv.compilation.streamed_depthwise_families``)."""
        return ()

    takes_list = False
    """Whether the layer is called on a list of tensors (a merging layer): its ``forward`` then takes a list of
    arrays and its ``backward`` returns a list of gradients, one for each."""

    relu_output = False
    """Whether the layer's outputs are a ReLU's: its ``backward`` then takes ``skip_activation=True`` for a
    gradient that already is the one before the ReLU (see ``folds_relu_mask``)."""

    folds_relu_mask = False
    """Whether the layer's ``backward`` takes ``relu_inputs=True``: inputs that are a ReLU's outputs, and the
    gradient it returns the one before that ReLU (the ReLU's mask applied in its own pass)."""

    takes_output_relu = False
    """Whether the layer's ``forward`` takes ``relu=True``: a ReLU of its outputs applied in the same pass (its
    ``backward`` then takes the gradient after that ReLU, which its context remembers)."""

    plain_relu = False
    """Whether the layer is ``max(x, 0)`` and nothing else, so that the layer before may apply it instead."""

    built_on_construction = False
    """Whether ``built`` is true from the start, as Keras has it for layers without weights that do not
    override ``build`` (pooling, ``Dropout``, ``Activation``, ``ReLU``)."""

    default_training = False
    """What a call without ``training`` runs (``layer(x)``, ``model(x)``): Keras's default of the layer's
    ``call``, the inference pass for most layers, training for the augmentation layers. ``fit`` passes
    ``True`` and ``predict`` and ``evaluate`` pass ``False`` to every layer."""

    def __init__(self, name=None, trainable=True, dtype=None, input_shape=None, batch_input_shape=None,
                 input_dim=None, **kwargs):
        if kwargs:
            raise TypeError(f"Unrecognized keyword arguments passed to {type(self).__name__}: {kwargs}")
        _check_dtype(dtype)
        self.name = name or unique_name(to_snake_case(type(self).__name__))
        self.trainable = trainable
        self.built = self.built_on_construction
        self._trainable_weights = []
        self._non_trainable_weights = []
        self._build_input_shape = None
        self._inbound_nodes = []
        self._batch_input_shape = _batch_shape_from_kwargs(input_shape, batch_input_shape, input_dim)

    # -- weights -----------------------------------------------------------------------------------

    _fixed_image_size = False  # Flatten, Reshape, Lambda: their outputs' sizes follow the inputs' sizes

    @property
    def any_image_size(self):
        """Whether this layer runs on inputs of any size between the batch and the last (channel) axis, not
        only the sizes it was built for: fastconv's layers but ``Flatten``, ``Reshape``, ``Lambda`` and those
        with weights over those axes (a model of them runs on images of any size, as in Keras); a layer of
        yours does not, unless it says so."""
        return type(self).__module__.startswith("fastconv.") and not self._fixed_image_size

    def add_weight(self, shape, initializer="zeros", name=None, trainable=True, regularizer=None, constraint=None):
        value = initializers.get(initializer)(tuple(shape), "float32")
        variable = Variable(value, name=name, trainable=trainable, path=f"{self.name}/{name}",
                            regularizer=regularizers.get(regularizer), constraint=constraints.get(constraint))
        (self._trainable_weights if trainable else self._non_trainable_weights).append(variable)
        return variable

    @property
    def trainable(self):
        return self._trainable

    @trainable.setter
    def trainable(self, value):
        """Freeze (``False``) or unfreeze the layer, and every layer a composite layer holds, as Keras does."""
        self._trainable = bool(value)
        for layer in self._sublayers():
            layer.trainable = value

    @property
    def trainable_weights(self):
        if not self.trainable:
            return []
        return list(self._trainable_weights) + [w for layer in self._sublayers() for w in layer.trainable_weights]

    @property
    def non_trainable_weights(self):
        trainable = {id(w) for w in self.trainable_weights}
        return [w for w in self.weights if id(w) not in trainable]

    @property
    def weights(self):
        return self._trainable_weights + self._non_trainable_weights + [
            w for layer in self._sublayers() for w in layer.weights]

    # -- composite layers (a user's subclass that overrides `call`) ------------------------------------------

    @classmethod
    def runs_own_call(cls):
        """Whether this is a user's subclass of a fastconv layer that overrides ``call``
        (``class MCDropout(Dropout)`` whose ``call`` passes ``training=True`` on): its ``call`` runs in every
        forward pass (:meth:`forward_through_call`), and it shares no pass with its neighbours."""
        return cls.call is not Layer.call and cls.forward is not Layer.forward

    def forward_through_call(self, inputs, training):
        """``forward`` for a layer that :meth:`runs_own_call`: the user's ``call`` on the arrays, with the context
        of the fastconv ``forward`` it ran when it returned that forward's outputs as they are (then the layer
        trains as its base class), else ``None``: it then predicts, but cannot train (``backward`` raises)."""
        captures = _captures()
        captures[id(self)] = []
        try:
            outputs = self.call(inputs, **({"training": training} if _takes_training(self.call) else {}))
            contexts = [context for produced, context in captures[id(self)] if produced is outputs]
        finally:
            del captures[id(self)]
        return _as_float32(outputs), (contexts[0] if contexts else _CALL_CHANGED_OUTPUTS)

    @classmethod
    def is_composite(cls):
        """Whether this is a user's layer computed by its ``call`` (Keras's subclassing) rather than by
        fastconv's ``forward``/``backward``: its ``call`` is run on symbolic tensors (:func:`trace_call`)."""
        return cls.call is not Layer.call and cls.forward is Layer.forward

    def _sublayers(self):
        """The layers a composite layer holds in its attributes (directly, or in a list, tuple or dict), as
        Keras tracks them; none for fastconv's own layers."""
        if not self.is_composite():
            return []
        found = []
        for value in vars(self).values():
            items = value.values() if isinstance(value, dict) else value if isinstance(value, (list, tuple)) else (
                [value])
            for item in items:
                if isinstance(item, Layer) and item is not self and all(item is not f for f in found):
                    found.append(item)
        return found

    def _call_composite(self, inputs, training):
        """A composite layer's call: on symbolic tensors, its ``call`` (which adds the layers it calls to the
        graph); on arrays, the functional model of that graph for the arrays' shape (built once a shape)."""
        symbolic = isinstance(inputs, KerasTensor) or (
            isinstance(inputs, (list, tuple)) and inputs and all(isinstance(t, KerasTensor) for t in inputs))
        if not symbolic:
            from fastconv.models import Model  # models import the layers

            arrays = [_as_float32(t) for t in inputs] if isinstance(inputs, (list, tuple)) else _as_float32(inputs)
            key = tuple(_shape_of(arrays)[1:]) if not isinstance(arrays, list) else tuple(
                s[1:] for s in _shape_of(arrays))
            models = self.__dict__.setdefault("_eager_models", {})
            if key not in models:
                tensors = ([Input(shape=a.shape[1:]) for a in arrays] if isinstance(arrays, list)
                           else Input(shape=arrays.shape[1:]))
                models[key] = Model(tensors, self(tensors))
            return models[key](arrays, training=training)
        inputs = list(inputs) if isinstance(inputs, (list, tuple)) else inputs
        if not self.built:
            self.build(_shape_of(inputs))
        if self._trainable_weights or self._non_trainable_weights:
            raise NotImplementedError(
                f"The layer '{self.name}' ({type(self).__name__}) creates weights of its own (`add_weight`) and "
                "computes with them in `call()`: fastconv needs the gradient of everything a model computes, so "
                "a layer of yours may call fastconv layers in `call()` (and +, -, * between tensors), not compute "
                "with weights itself.")
        outputs = trace_call(self, self.call, inputs, training)
        if not self.trainable:
            self.trainable = False  # the layers it called, frozen with it
        node = Node(self, inputs)  # for its `input`, `output` and `output_shape`; the graph holds the inner calls
        node.output = outputs
        self._inbound_nodes.append(node)
        for output in outputs if isinstance(outputs, list) else [outputs]:
            output.called = self  # so that a model's `get_layer` finds this layer by its name
        return outputs

    @property
    def variables(self):
        return self.weights

    def get_weights(self):
        return [w.numpy() for w in self.weights]

    def set_weights(self, weights):
        weights = list(weights)
        if len(weights) != len(self.weights):
            raise ValueError(
                f"Layer {self.name} expects {len(self.weights)} weight arrays. Received: {len(weights)} arrays")
        for variable, value in zip(self.weights, weights):
            value = np.asarray(value)
            if value.shape != variable.shape:
                raise ValueError(
                    f"Layer {self.name} weight shape {variable.shape} is not compatible with provided weight "
                    f"shape {value.shape}.")
        for variable, value in zip(self.weights, weights):
            variable.assign(value)

    def count_params(self):
        if not self.built:
            raise ValueError(
                f"You tried to call `count_params` on layer '{self.name}', but the layer isn't built. "
                "Call the layer on an input (or build the model) first.")
        return int(sum(int(np.prod(w.shape)) for w in self.weights))

    # -- shapes and building -------------------------------------------------------------------------

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "build" in cls.__dict__:
            cls.build = _marks_built(cls.__dict__["build"])

    def build(self, input_shape):
        """Create the weights; layers without weights need not override this.

        As in Keras, calling ``build`` (directly or on the first call) marks the
        layer built and records ``input_shape``.
        """

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def _maybe_build(self, input_shape):
        if not self.built:
            self.build(tuple(input_shape))

    def check_input_shape(self, input_shape):
        """Raise a clear error if inputs of ``input_shape`` do not fit this (built) layer."""
        expected = self._build_input_shape
        if expected is None:
            return
        if len(input_shape) != len(expected):
            raise ValueError(
                f'Input 0 of layer "{self.name}" is incompatible with the layer: expected ndim={len(expected)}, '
                f"found ndim={len(input_shape)}. Full shape received: {tuple(input_shape)}")
        for axis in self._fixed_axes():
            if expected[axis] is not None and input_shape[axis] is not None and input_shape[axis] != expected[axis]:
                hint = shapes.channels_first_hint(input_shape, expected[axis]) if axis == -1 else ""
                raise ValueError(
                    f'Input 0 of layer "{self.name}" is incompatible with the layer: expected axis {axis} of '
                    f"input shape to have value {expected[axis]}, but received input with shape "
                    f"{tuple(input_shape)}{hint}")

    def _fixed_axes(self):
        """Axes whose size the built weights fix (the last one for layers with weights)."""
        return (-1,) if self.weights else ()

    # -- calling -------------------------------------------------------------------------------------

    def __call__(self, inputs, training=None):
        if self.is_composite():
            return self._call_composite(inputs, training)
        if isinstance(inputs, (list, tuple)):
            if self.takes_list and all(isinstance(t, KerasTensor) for t in inputs):
                return self._call_symbolic(list(inputs), training)
            if self.takes_list:
                inputs = [_as_float32(t) for t in inputs]
            elif len(inputs) == 1:
                inputs = inputs[0]
        if isinstance(inputs, KerasTensor):
            return self._call_symbolic(inputs, training)
        if not isinstance(inputs, list):
            inputs = _as_float32(inputs)
        self._maybe_build(_shape_of(inputs))
        self.check_input_shape(_shape_of(inputs))
        training = self.default_training if training is None else bool(training)
        if self.runs_own_call():
            return eager(self.forward_through_call(inputs, training)[0])
        return eager(self.forward(inputs, training)[0])

    def call(self, inputs, training=False):
        outputs, context = self.forward(inputs, training)
        captured = _captures().get(id(self))
        if captured is not None:  # inside forward_through_call, in this thread
            captured.append((outputs, context))
        return outputs

    def _call_symbolic(self, inputs, training=None):
        self._maybe_build(_shape_of(inputs))
        self.check_input_shape(_shape_of(inputs))
        node = Node(self, inputs, training)
        node.output = KerasTensor(self.compute_output_shape(_shape_of(inputs)), node=node)
        self._inbound_nodes.append(node)
        return node.output

    def forward(self, inputs, training):
        raise NotImplementedError(f"{type(self).__name__}.forward")

    def pre_activation(self, context):
        """The values this layer's activation was applied to, in the forward pass that returned ``context``
        (None for a layer without an activation): the logits of a softmax or sigmoid output."""
        return None

    def backward(self, context, grad_outputs, need_grad_inputs=True):
        raise NotImplementedError(f"{type(self).__name__}.backward")

    # -- graph attributes ---------------------------------------------------------------------------------

    def _only_node(self, attribute):
        if not self._inbound_nodes:
            raise AttributeError(
                f"Layer '{self.name}' has never been called and thus has no defined {attribute}. "
                "Build the model with an input shape (e.g. `input_shape=` on the first layer or `keras.Input`).")
        return self._inbound_nodes[0]

    @property
    def input(self):
        return self._only_node("input").inputs

    @property
    def output(self):
        return self._only_node("output").output

    @property
    def input_shape(self):
        return self.input.shape

    @property
    def output_shape(self):
        return self.output.shape

    # -- configuration ------------------------------------------------------------------------------------

    def get_config(self):
        config = {
            "name": self.name,
            "trainable": self.trainable,
            "dtype": {"module": "keras", "class_name": "DTypePolicy", "config": {"name": "float32"},
                      "registered_name": None},
        }
        return config

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name}, built={self.built}>"


def _marks_built(build):
    """Wrap a layer's ``build`` so that it runs once and records the shape it was built for."""

    @functools.wraps(build)
    def build_once(self, input_shape):
        if self.built:
            return
        build(self, tuple(input_shape))
        self._build_input_shape = tuple(input_shape)
        self.built = True

    return build_once


Layer.build = _marks_built(Layer.build)


def reject_unsupported(layer, **arguments):
    """Raise ``NotImplementedError`` for a Keras argument that fastconv does not support yet.

    Each keyword is ``name=(value, default)``; only the default is accepted.
    """
    for name, (value, default) in arguments.items():
        if value != default:
            raise NotImplementedError(
                f"`{type(layer).__name__}` in fastconv does not support the argument `{name}` yet. "
                f"Received: {name}={value!r} (only {name}={default!r} is supported)")


def check_channels_last(layer, data_format):
    """Accept ``None``/``'channels_last'``; ``'channels_first'`` is not supported yet."""
    if data_format not in (None, "channels_last"):
        raise NotImplementedError(
            f"`{type(layer).__name__}` in fastconv supports only data_format='channels_last' (NHWC). "
            f"Received: data_format={data_format!r}")


def _batch_shape_from_kwargs(input_shape, batch_input_shape, input_dim):
    if batch_input_shape is not None:
        return tuple(batch_input_shape)
    if input_shape is not None:
        return (None, *tuple(input_shape))
    if input_dim is not None:
        return (None, int(input_dim))
    return None


def _shape_of(inputs):
    """The shape of an array or KerasTensor, or the list of shapes of a list of them."""
    if isinstance(inputs, list):
        return [tuple(t.shape) for t in inputs]
    return tuple(inputs.shape)


def _as_float32(inputs):
    array = np.asarray(inputs)
    if array.dtype.kind not in "fiub":
        raise TypeError(f"Layers take real-valued inputs. Received: inputs.dtype={array.dtype}")
    return np.ascontiguousarray(array, dtype=np.float32)


class InputLayer(Layer):
    """The layer behind ``keras.Input``: it produces the model's input KerasTensor and passes data through."""

    def __init__(self, shape=None, batch_size=None, dtype=None, sparse=None, batch_shape=None,
                 input_tensor=None, name=None, optional=False, **kwargs):
        if sparse:
            raise NotImplementedError("fastconv does not support sparse inputs. Received: sparse=True")
        if input_tensor is not None:
            raise NotImplementedError("fastconv does not support `input_tensor`. Pass `shape=` instead.")
        kwargs.pop("ragged", None)
        if shape is None and batch_shape is None and kwargs.get("input_shape") is not None:
            warnings.warn("Argument `input_shape` is deprecated. Use `shape` instead.", stacklevel=2)  # Keras's
            shape = kwargs.pop("input_shape")
        super().__init__(name=name or unique_name("input_layer"), dtype=dtype, **kwargs)
        if batch_shape is None:
            if shape is None:
                raise ValueError("You must pass a `shape` argument to `Input`/`InputLayer`. Received: shape=None")
            shape = (shape,) if isinstance(shape, int) else tuple(shape)
            batch_shape = (batch_size, *shape)
        self.batch_shape = tuple(None if d is None else int(d) for d in batch_shape)
        self.built = True
        node = Node(self, None)
        node.output = KerasTensor(self.batch_shape, node=node, name=self.name)
        self._inbound_nodes.append(node)

    def forward(self, inputs, training):
        return inputs, None

    def backward(self, context, grad_outputs, need_grad_inputs=True):
        return grad_outputs, []

    def get_config(self):
        return {"batch_shape": self.batch_shape, "dtype": "float32", "sparse": False, "ragged": False,
                "name": self.name, "optional": False}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config.pop("ragged", None)
        batch_input_shape = config.pop("batch_input_shape", None)  # the Keras 2 name of `batch_shape`
        if config.get("batch_shape") is None and batch_input_shape is not None:
            config["batch_shape"] = batch_input_shape
        return cls(**config)


def Input(shape=None, batch_size=None, dtype=None, sparse=None, batch_shape=None, name=None,
          tensor=None, optional=False):
    """A symbolic model input (``keras.Input``): returns the ``KerasTensor`` of a new ``InputLayer``.

    >>> Input(shape=(28, 28, 1)).shape
    (None, 28, 28, 1)
    """
    layer = InputLayer(shape=shape, batch_size=batch_size, dtype=dtype, sparse=sparse,
                       batch_shape=batch_shape, input_tensor=tensor, name=name, optional=optional)
    return layer.output
