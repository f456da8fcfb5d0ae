"""Models: the functional ``Model(inputs, outputs)`` graph and ``Sequential``, with ``summary()``.

A model is a graph of layer calls recorded on ``KerasTensor``s; running it
calls each layer's ``forward`` in topological order and, for training, each
``backward`` in reverse. Training (``compile``/``fit``/``evaluate``/
``predict``) comes from ``fastconv.training.Trainer``.

A model's structure is here too, in Keras's serialized form (``get_config``/
``from_config``, ``serialize_model``/``deserialize_model``: a ``.keras`` file's
``config.json``), and ``load_model``, which rebuilds a model from that config.
The file formats themselves (the zip archive, the HDF5 weights, atomic writes)
are ``fastconv.saving``'s, which knows nothing of the model classes: the import
runs one way, from here to there.
"""

import inspect
import json
import shutil
import sys

import numpy as np
import rich.console
import rich.markup
import rich.table

from fastconv import data, losses, metrics as metrics_module, optimizers, saving
from fastconv.custom_objects import get_registered_object
from fastconv.eager import eager
from fastconv.layers import (LAYER_CLASSES, GlobalAveragePooling1D, GlobalAveragePooling2D, GlobalMaxPooling1D,
                             GlobalMaxPooling2D)
from fastconv.layers.base import (Input, InputLayer, KerasTensor, Layer, _as_float32, _dtype_name, _takes_training,
                                  check_trainable_context, inlining, trace_call)
from fastconv.naming import to_snake_case, unique_name
from fastconv.training import Trainer


def _takes_input_gradient(node, input_ids):
    """Whether the backward pass computes ``node``'s input gradient: unless it reads only model inputs
    (``input_ids``, the ids of the model's input tensors), whose gradients nobody uses."""
    return any(id(t) not in input_ids for t in node.input_tensors)


class Model(Trainer):
    """A functional model (``keras.Model(inputs, outputs)``), or a subclass of it that defines ``call``.

    ``inputs`` is a ``KerasTensor`` from ``keras.Input``, or a list (or dict)
    of them for a model with several inputs, whose data is then a list (or a
    dict by the same keys, or by input name) of arrays; ``outputs`` is a
    ``KerasTensor`` computed from them, or a list of them.

    >>> from fastconv import layers
    >>> x = layers.Input((4,))
    >>> model = Model(x, layers.Dense(2)(x))
    >>> model.predict(np.ones((3, 4)), verbose=0).shape
    (3, 2)
    """

    _subclassed = False  # Sequential models are not

    def __init__(self, inputs=None, outputs=None, name=None, trainable=True, **kwargs):
        if kwargs:
            raise TypeError(f"Unrecognized keyword arguments passed to Model: {kwargs}")
        super().__init__()
        self._trainable = bool(trainable)  # the model's flag only: its layers may be in other models too
        self._subclassed = inputs is None and outputs is None and type(self).call is not Model.call
        if self._subclassed:  # Keras's subclassing: the graph is `call`'s, recorded on the first data
            self.name = name or unique_name(to_snake_case(type(self).__name__))
            self._single_output, self._input_keys, self._given_inputs = True, True, None
            self.inputs, self.outputs, self._nodes, self._first_seen = [], [], [], {}
            return
        if inputs is None or outputs is None:
            raise ValueError("A functional model needs both `inputs` and `outputs` (`keras.Model(inputs, outputs)`"
                             "), or a subclass of `keras.Model` that defines `call()`. "
                             f"Received: inputs={inputs!r}, outputs={outputs!r}")
        self.name = name or unique_name("functional")
        self._set_graph(inputs, outputs)

    def call(self, inputs, training=None):
        """The model's outputs for ``inputs`` (arrays); a subclass of ``Model`` defines its own ``call``, which
        fastconv runs once on symbolic tensors (see :meth:`build`)."""
        return self(inputs, training=training)

    def build(self, input_shape):
        """Build a subclassed model for inputs of ``input_shape`` (the batch axis included, usually ``None``; a
        list of shapes for several inputs), as Keras's ``model.build``: its ``call()`` runs once on
        ``keras.Input`` tensors of that shape and the layers it calls become the model's graph, which ``fit``,
        ``predict``, ``summary()`` and ``save`` then use (a ``.keras`` file holds that graph: Keras and fastconv
        load it as a functional model, without the subclass). Without ``build``, the first data builds it."""
        if not self._subclassed or self.outputs:
            return
        several = isinstance(input_shape, (list, tuple)) and input_shape and isinstance(input_shape[0], (list, tuple))
        inputs = [Input(shape=tuple(s)[1:]) for s in input_shape] if several else Input(shape=tuple(input_shape)[1:])
        self._set_graph(inputs, trace_call(self, self.call, inputs))
        if not self._trainable:
            self.trainable = False

    # -- the graph ------------------------------------------------------------------------------------

    def _set_graph(self, inputs, outputs):
        self._single_output = isinstance(outputs, KerasTensor)
        # How the inputs were given, which `get_config` writes back: one tensor, a list, or a dict's keys.
        self._input_keys = list(inputs) if isinstance(inputs, dict) else isinstance(inputs, KerasTensor)
        self._given_inputs = dict(inputs) if isinstance(inputs, dict) else inputs if self._input_keys else list(inputs)
        self.inputs = _tensor_list(list(inputs.values()) if isinstance(inputs, dict) else inputs, "inputs")
        self.outputs = _tensor_list(outputs, "outputs")
        self._nodes, self._first_seen = _walk_graph(self.inputs, self.outputs)
        _check_unique_names(self._nodes, self.inputs)

    @property
    def trainable(self):
        return self._trainable

    @trainable.setter
    def trainable(self, value):
        """Freeze (``False``) or unfreeze every layer of the model, as Keras's setter does; while the model is
        frozen it has no trainable weights, whatever its layers say."""
        self._trainable = bool(value)
        for layer in self.layers:
            layer.trainable = bool(value)

    @property
    def input(self):
        """The input tensor(s) as given to the model (one ``KerasTensor``, a list or a dict), Keras's
        ``model.input``: ``keras.Model(model.input, model.layers[-2].output)`` is a feature extractor."""
        self._check_called("input")
        return self._given_inputs

    @property
    def output(self):
        """The output tensor, or the list of them for a model with several."""
        self._check_called("output")
        return self.outputs[0] if self._single_output else list(self.outputs)

    @property
    def input_shape(self):
        """The input's shape (the batch axis ``None``), or a list of shapes for a model with several."""
        self._check_called("input")
        return _shape_or_shapes(self.inputs)

    @property
    def output_shape(self):
        """The output's shape (the batch axis ``None``), or a list of shapes for a model with several."""
        self._check_called("output")
        return _shape_or_shapes(self.outputs)

    def _check_called(self, what):
        if not self.outputs and self._subclassed:
            raise ValueError(f"This model has not yet been built, and thus has no defined {what}. Build the model "
                             "first by calling `build()` or by calling the model on a batch of data.")
        if not self.outputs:  # a Sequential model without its input shape yet
            raise AttributeError(f"The model {self.name} has never been called and thus has no defined {what}. "
                                 "Give its first layer `input_shape=` or start it with `keras.Input`.")

    @property
    def layers(self):
        """The layers in Keras's order (the input layers first, but in a subclassed model, which has none;
        see :func:`_keras_layer_order`)."""
        layers = _keras_layer_order(self.inputs, self._nodes, self._first_seen)
        return [layer for layer in layers if not isinstance(layer, InputLayer)] if self._subclassed else layers

    @property
    def saved_layers(self):
        """The layers as the model's ``.keras`` file lists them, which number its weights' groups: those of the
        functional graph (a subclassed model's, or a Sequential's of composite layers, is saved as one), else
        ``layers``."""
        if self._subclassed or any(layer.is_composite() for layer in self.layers):
            return _keras_layer_order(self.inputs, self._nodes, self._first_seen)
        return self.layers

    def get_layer(self, name=None, index=None):
        """The layer at ``index`` or named ``name``; a model or a composite layer called inside this one (whose
        layers this one lists) by its name too, as Keras finds it (``autoencoder.get_layer("encoder")``)."""
        if index is not None:
            return self.layers[index]
        for layer in self.layers:
            if layer.name == name:
                return layer
        for node in self._nodes:
            if node.output.called is not None and node.output.called.name == name:
                return node.output.called
        raise ValueError(f"No such layer: {name}. Existing layers are: {[layer.name for layer in self.layers]}.")

    @property
    def weights(self):
        seen, weights = set(), []
        for layer in self.layers:
            for w in layer.weights:
                if id(w) not in seen:
                    seen.add(id(w))
                    weights.append(w)
        return weights

    @property
    def trainable_weights(self):
        if not self.trainable:
            return []
        return [w for layer in self.layers for w in layer.trainable_weights]

    @property
    def non_trainable_weights(self):
        trainable = {id(w) for w in self.trainable_weights}
        return [w for w in self.weights if id(w) not in trainable]

    @property
    def variables(self):
        return self.weights

    def get_weights(self):
        return [w.numpy() for w in self.weights]

    def set_weights(self, weights):
        weights = list(weights)
        if len(weights) != len(self.weights):
            raise ValueError(f"Model {self.name} expects {len(self.weights)} weight arrays. "
                             f"Received: {len(weights)} arrays")
        for layer in self.layers:
            count = len(layer.weights)
            layer.set_weights(weights[:count])
            weights = weights[count:]

    def count_params(self):
        if not self.built:
            raise ValueError(f"You tried to call `count_params` on model '{self.name}', but the model isn't built. "
                             "Build it first by calling `build()` or by calling the model on a batch of data.")
        return int(sum(int(np.prod(w.shape)) for w in self.weights))

    @property
    def built(self):
        return bool(self.outputs) or not self._subclassed

    # -- running ----------------------------------------------------------------------------------------

    def _check_inputs(self, x):
        """The model's data as ``forward`` takes it: an array for a model with one input, else an
        ``InputArrays`` (one array for each input, in the order of ``self.inputs``), each checked. A
        subclassed model not built yet is built for it."""
        if not self.built and not isinstance(x, InputArrays):
            several = isinstance(x, (list, tuple)) and x and all(isinstance(a, np.ndarray) for a in x)
            shapes = [np.shape(a) for a in x] if several else np.shape(x)
            self.build(shapes[0] if several and len(shapes) == 1 else shapes)
        arrays = [_adjust_rank(array, tensor.shape) for tensor, array in zip(self.inputs, self._input_list(x))]
        for index, (tensor, array) in enumerate(zip(self.inputs, arrays)):
            expected = tensor.shape
            # As in Keras, a Sequential model whose layers do not depend on the sizes between the batch and the
            # channels (convolutions, pooling, ...) runs on images of any size, whatever size it was built for.
            checked = expected[1:] if len(expected) < 3 or not self._any_image_size() else expected[-1:]
            if array.ndim != len(expected) or any(e is not None and e != a
                                                  for e, a in zip(checked, array.shape[-len(checked):])):
                raise ValueError(f'Input {index} of layer "{self.name}" is incompatible with the layer: expected '
                                 f"shape={expected}, found shape={array.shape}")
        if len(arrays) == 1:
            return arrays[0]
        if len({len(array) for array in arrays}) > 1:
            raise ValueError("Data cardinality is ambiguous. Make sure all arrays contain the same number of "
                             f"samples. 'x' sizes: {', '.join(str(len(array)) for array in arrays)}")
        return InputArrays(arrays)

    def _any_image_size(self):
        """Whether the model runs on inputs of other sizes between the batch and the last (channel) axis than it
        was built for: a Sequential model may (see ``Sequential._any_image_size``); a functional model's inputs
        are its ``Input``'s shapes, and a subclassed model's ``call`` ran for the sizes it was built for, as Keras
        3 refuses other sizes for a functional model."""
        return False

    def _input_list(self, x):
        """One float32 array for each of the model's inputs, from an array, a list or a dict of them."""
        if isinstance(x, InputArrays):
            return x.arrays
        data.reject_unreadable(x)
        if isinstance(x, dict):
            keys = self._input_keys if isinstance(self._input_keys, list) else [t.node.layer.name
                                                                               for t in self.inputs]
            missing = [key for key in keys if key not in x]
            if missing:
                raise ValueError(f'Layer "{self.name}" expects {len(keys)} input(s) with keys {keys}. Missing '
                                 f"keys: {missing}. Received keys: {list(x)}")
            return [_as_float32(x[key]) for key in keys]
        if len(self.inputs) == 1:
            if isinstance(x, (list, tuple)) and len(x) == 1 and isinstance(x[0], np.ndarray):
                x = x[0]
            return [_as_float32(x)]
        if not isinstance(x, (list, tuple)) or len(x) != len(self.inputs):
            received = len(x) if isinstance(x, (list, tuple)) else 1
            raise ValueError(f'Layer "{self.name}" expects {len(self.inputs)} input(s), but it received '
                             f"{received} input tensors. Pass a list of {len(self.inputs)} arrays, one for each "
                             f"of the inputs {[t.node.layer.name for t in self.inputs]}.")
        return [_as_float32(array) for array in x]

    def forward(self, x, training):
        """Run the graph on checked inputs (``_check_inputs``'s): returns ``(outputs list, tape)`` where the
        tape feeds ``backward``. ``training`` None (a call without it) runs each layer's ``default_training``."""
        arrays = x.arrays if isinstance(x, InputArrays) else [x]
        values = {id(tensor): array for tensor, array in zip(self.inputs, arrays)}
        tape = []
        relu_takers, taken_relus = self._relu_fusions()
        for node in self._nodes:
            layer_training = node.training_for(training)
            if node.layer.runs_own_call():  # a user's subclass of a fastconv layer, with its own call()
                y, context = node.layer.forward_through_call(
                    [values[id(t)] for t in node.inputs] if isinstance(node.inputs, list) else values[id(node.inputs)],
                    layer_training)
            elif isinstance(node.inputs, list):
                y, context = node.layer.forward([values[id(t)] for t in node.inputs], layer_training)
            elif id(node) in taken_relus:  # the layer before applied it
                y, context = values[id(node.inputs)], None
            elif id(node) in relu_takers:
                y, context = node.layer.forward(values[id(node.inputs)], layer_training, relu=True)
            else:
                y, context = node.layer.forward(values[id(node.inputs)], layer_training)
            values[id(node.output)] = y
            tape.append(context)
        return [values[id(t)] for t in self.outputs], tape

    def _layers_taking_input_gradients(self):
        """The layers whose input gradients a training step computes: not those that read only the model's
        inputs (all of them while the model is not built)."""
        if not self._nodes:
            return list(self.layers)
        input_ids = {id(t) for t in self.inputs}
        return [node.layer for node in self._nodes if _takes_input_gradient(node, input_ids)]

    def backward(self, tape, grad_output, skip_output_activation=False):
        """Gradients of the trainable weights (``{id(variable): grad}``) given the output's gradient.

        With ``skip_output_activation``, ``grad_output`` is already the gradient
        before the last layer's activation (a fused softmax + cross-entropy).
        """
        grads = {id(self.outputs[0]): grad_output}
        weight_grads = {}
        input_ids = {id(t) for t in self.inputs}
        last_node = self._nodes[-1]
        relu_producers, relu_folders = self._relu_folds()
        _, taken_relus = self._relu_fusions()
        for node, context in zip(reversed(self._nodes), reversed(tape)):
            grad = grads.pop(id(node.output), None)
            if grad is None:
                continue
            need_grad_inputs = _takes_input_gradient(node, input_ids)
            check_trainable_context(node.layer, context)
            if id(node) in taken_relus:  # the layer before takes the gradient after it
                grad_inputs, layer_grads = grad, []
            elif (skip_output_activation and node is last_node) or id(node) in relu_producers:
                grad_inputs, layer_grads = node.layer.backward(context, grad, need_grad_inputs, skip_activation=True)
            elif id(node) in relu_folders:
                grad_inputs, layer_grads = node.layer.backward(context, grad, need_grad_inputs, relu_inputs=True)
            else:
                grad_inputs, layer_grads = node.layer.backward(context, grad, need_grad_inputs)
            if node.layer.trainable:
                for variable, g in zip(node.layer._trainable_weights, layer_grads):
                    key = id(variable)  # a layer called twice adds its gradients (no copy when called once)
                    weight_grads[key] = weight_grads[key] + g if key in weight_grads else g
            if not need_grad_inputs or grad_inputs is None:  # None: no gradient flows back (augmentation layers)
                continue
            # A tensor read twice (a residual shortcut, a tensor merged with itself) adds its gradients.
            for tensor, g in zip(node.input_tensors, grad_inputs if isinstance(node.inputs, list) else [grad_inputs]):
                key = id(tensor)
                if key not in input_ids:
                    grads[key] = grads[key] + g if key in grads else g
        return weight_grads

    def _relu_fusions(self):
        """``(takers, relus)``: ids of the nodes whose layer applies the next node's ReLU in its own passes
        (``takes_output_relu``: ``BatchNormalization``), and of those ReLU nodes (``plain_relu``: a plain
        ``ReLU()``), which then pass values and gradients through untouched: one pass over the batch each way
        instead of two. Pairs as :meth:`_fused_pairs` finds them."""
        return self._fused_pairs()[0]

    def _relu_folds(self):
        """``(producers, folders)``: ids of the nodes whose ReLU's backward mask the next node applies in its own
        backward pass (``relu_output``: a ``Conv2D(activation='relu')``), and of those next nodes
        (``folds_relu_mask``: ``MaxPooling2D``): one select per pooling window instead of a pass over the
        convolution's whole output gradient. Pairs as :meth:`_fused_pairs` finds them."""
        return self._fused_pairs()[1]

    def _fused_pairs(self):
        """:meth:`_relu_fusions` and :meth:`_relu_folds`, worked out once for this graph: pairs of a node and the
        one node that reads its output, which is not a model output, whose layers say they can share the work."""
        key = tuple(id(node) for node in self._nodes)
        if getattr(self, "_fused_pairs_key", None) != key:
            readers = {}
            for node in self._nodes:
                for tensor in node.input_tensors:
                    readers.setdefault(id(tensor), []).append(node)
            outputs = {id(t) for t in self.outputs}

            def pairs(first_can, second_can):
                firsts, seconds = set(), set()
                for node in self._nodes:
                    reading = readers.get(id(node.output), [])
                    if (first_can(node.layer) and len(reading) == 1 and second_can(reading[0].layer)
                            and id(node.output) not in outputs
                            and not node.layer.runs_own_call() and not reading[0].layer.runs_own_call()):
                        firsts.add(id(node))
                        seconds.add(id(reading[0]))
                return firsts, seconds

            self._fused_pairs_plan = (pairs(lambda layer: layer.takes_output_relu, lambda layer: layer.plain_relu),
                                      pairs(lambda layer: layer.relu_output, lambda layer: layer.folds_relu_mask))
            self._fused_pairs_key = key
        return self._fused_pairs_plan

    def _loop_training(self, training):
        """The ``training`` that ``fit`` (True) or ``predict`` and ``evaluate`` (False) run the model with: as
        Keras's loops, none for a subclassed model whose ``call`` takes no ``training`` (its layers then run at
        their defaults: inference, augmentation for the augmentation layers)."""
        if self._subclassed and not _takes_training(self.call):
            return None
        return training

    def __call__(self, inputs, training=None):
        if training is None and self._subclassed:  # `call(self, x, training=True)`: the default of its call
            training = _call_default_training(self.call)
        if isinstance(inputs, KerasTensor) or (isinstance(inputs, (list, tuple, dict)) and any(
                isinstance(t, KerasTensor) for t in (inputs.values() if isinstance(inputs, dict) else inputs))):
            if not self.built:
                self.build(_shape_or_shapes(_tensor_list(inputs, "inputs")) if not isinstance(inputs, KerasTensor)
                           else inputs.shape)
            return self._call_symbolic(inputs, training)
        outputs, _ = self.forward(self._check_inputs(inputs), None if training is None else bool(training))
        return eager(outputs[0] if len(outputs) == 1 else outputs)  # one output as it is, as Keras unpacks `[output]`

    def _call_symbolic(self, inputs, training=None):
        """The model called on symbolic tensors, as a part of another model (``x = augmenter(inputs)``): each of
        its layers is called in turn on them, so the other model's graph holds this model's layers themselves
        (the same objects, with their weights: training one trains the other). The other model lists them one
        by one, in its ``layers``, its summary and its ``.keras`` file, where Keras lists this model as one
        layer; the numbers are the same. A ``training`` given (``base(x, training=False)``) goes to each call
        that has none of its own."""
        given = _tensor_list(list(inputs.values()) if isinstance(inputs, dict) else inputs, "inputs")
        if len(given) != len(self.inputs):
            raise ValueError(f'Model "{self.name}" expects {len(self.inputs)} input(s), but it was called on '
                             f"{len(given)} tensors.")
        for index, (expected, tensor) in enumerate(zip(self.inputs, given)):
            if len(expected.shape) != len(tensor.shape) or any(
                    e is not None and t is not None and e != t for e, t in zip(expected.shape[1:], tensor.shape[1:])):
                raise ValueError(f'Input {index} of model "{self.name}" is incompatible with it: expected '
                                 f"shape={expected.shape}, found shape={tensor.shape}")
        if not self._trainable:  # frozen here, its layers stay frozen in the other model (whose weights they become)
            self.trainable = False
        produced = {id(inner): outer for inner, outer in zip(self.inputs, given)}
        with inlining():
            self._replay(produced, training)
        outputs = [produced[id(t)] for t in self.outputs]
        for output in outputs:
            output.called = self  # so that the outer model's `get_layer` finds this model by its name
        return outputs[0] if len(outputs) == 1 else outputs  # one output as it is, as Keras unpacks `[output]`

    def _replay(self, produced, training):
        """Call each of this model's layers in turn on the tensors ``produced`` so far (``{id(inner tensor):
        outer tensor}``), adding their outputs."""
        for node in self._nodes:
            node_training = node.training if node.training is not None else training
            if isinstance(node.inputs, list):
                output = node.layer([produced[id(t)] for t in node.inputs], training=node_training)
            else:
                output = node.layer(produced[id(node.inputs)], training=node_training)
            produced[id(node.output)] = output

    # -- summary and config -----------------------------------------------------------------------------

    def summary(self, line_length=None, positions=None, print_fn=None, expand_nested=False,
                show_trainable=False, layer_range=None):
        """Print Keras's summary table: each layer's name (type), output shape and parameter count (``?`` and
        ``0 (unbuilt)`` for a Sequential model's layers before it is built, as Keras prints them)."""
        if self._subclassed:
            self._check_called("summary")  # Keras's error: a subclassed model's layers are known once built
        print_summary(self, line_length, print_fn)

    # -- config: Keras's serialized model (a `.keras` file's config.json) -------------------------------------

    def get_config(self):
        """Keras's ``Functional.get_config()``: each layer with its inbound nodes, and the graph's ends (a
        subclassed model's: the graph its ``call()`` built)."""
        if not self.built:
            raise ValueError(f"The model '{self.name}' has not been built yet: call `build(input_shape)` or call it "
                             "on a batch of data before saving it or asking for its config.")
        layers = _keras_layer_order(self.inputs, self._nodes, self._first_seen)
        nodes = {id(node) for node in self._nodes} | {id(t.node) for t in self.inputs}
        node_index = {}  # id(node) -> its index among its layer's nodes in this model, as Keras renumbers them
        for layer in layers:
            for index, node in enumerate(n for n in layer._inbound_nodes if id(n) in nodes):
                node_index[id(node)] = index
        names = _unique_layer_names(layers)

        def history(tensor):
            return [names[id(tensor.node.layer)], node_index[id(tensor.node)], 0]

        def argument(tensor):
            return {"class_name": "__keras_tensor__",
                    "config": {"shape": list(tensor.shape), "dtype": "float32", "keras_history": history(tensor)}}

        layer_configs = []
        for layer in layers:
            serialized = _serialize_layer(layer)
            serialized["name"] = serialized["config"]["name"] = names[id(layer)]
            serialized["inbound_nodes"] = [  # a call on a list of tensors has that list as its one argument
                {"args": [[argument(t) for t in node.inputs] if isinstance(node.inputs, list)
                          else argument(node.inputs)],
                 "kwargs": {} if node.training is None else {"training": node.training}}
                for node in layer._inbound_nodes if id(node) in nodes and node.inputs is not None]
            layer_configs.append(serialized)
        inputs = [history(t) for t in self.inputs]
        if isinstance(self._input_keys, list):
            inputs = dict(zip(self._input_keys, inputs))
        elif self._input_keys:
            inputs = inputs[0]
        outputs = [history(t) for t in self.outputs]
        return {"name": self.name, "trainable": self.trainable, "layers": layer_configs, "input_layers": inputs,
                "output_layers": outputs[0] if self._single_output else outputs}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        """The model (new layers, fresh weights) that ``get_config()``'s dict, or Keras's, describes.

        Layers are created in the config's order; their calls are replayed as
        soon as their inputs exist, as Keras does, so shared layers work. A model
        in the config (Keras nests them) is rebuilt and called as a model in code
        is (:meth:`_call_symbolic`); where Keras keeps its weights in the file is
        remembered for loading them (``_weight_paths_in_keras_files``).
        """
        created = {}
        calls = {}  # a nested model's outputs, call by call (it has no nodes of its own)
        pending = []  # [layer, [node data, ...]] in the config's order
        for layer_data in config["layers"]:
            layer = _deserialize_layer(layer_data, custom_objects)
            created[layer_data["name"]] = layer
            nodes = layer_data.get("inbound_nodes", [])
            if isinstance(layer, Model):
                calls[layer_data["name"]] = []
            if isinstance(layer, InputLayer):
                continue
            pending.append([layer, list(nodes)])

        def tensor(history, end=False):
            name, node_index, tensor_index = history
            if name not in created:
                raise ValueError(f"The layer '{name}' is used as an input but is not among the model's layers.")
            layer = created[name]
            if end and isinstance(layer, Model) and not isinstance(layer, Sequential):
                node_index -= 1  # Keras counts a nested functional model's calls from 1 in the model's ends
            outputs = calls[name] if name in calls else [node.output for node in layer._inbound_nodes]
            if tensor_index != 0 and not (name in calls and not layer._single_output):
                raise NotImplementedError(f"Layers with several outputs are not supported. Received: "
                                          f"keras_history={history}")
            if node_index >= len(outputs):
                return None  # not called yet: try again on the next pass
            return outputs[node_index][tensor_index] if isinstance(outputs[node_index], list) else outputs[node_index]

        while any(nodes for _, nodes in pending):
            progress = False
            for entry in pending:
                layer, nodes = entry
                while nodes:
                    history = _node_input_history(layer, nodes[0])
                    inputs = [tensor(h) for h in history] if isinstance(history[0], list) else tensor(history)
                    if inputs is None or (isinstance(inputs, list) and None in inputs):
                        break
                    # Keras records the `training` a call was given (an augmentation layer's default, True, or
                    # the program's): it applies to a call of the model without `training`, as in Keras.
                    outputs = layer(inputs, training=nodes[0].get("kwargs", {}).get("training"))
                    if isinstance(layer, Model):
                        calls[layer.name].append(outputs)
                    nodes.pop(0)
                    progress = True
            if not progress:
                unresolved = [layer.name for layer, nodes in pending if nodes]
                raise ValueError("Invalid Functional model configuration. The graph either has loops or "
                                 f"disconnected nodes. The following layers' calls could not be resolved: "
                                 f"{unresolved}")

        def tensors(ends):
            if isinstance(ends, dict):
                return {key: tensors(end) for key, end in ends.items()}
            if isinstance(ends, list) and len(ends) == 3 and isinstance(ends[0], str):
                return tensor(ends, end=True)
            return [tensors(end) for end in ends]

        model = cls(inputs=tensors(config["input_layers"]), outputs=tensors(config["output_layers"]),
                    name=config.get("name"), trainable=config.get("trainable", True))
        if calls:
            model._weight_paths_in_keras_files = _nested_weight_paths([created[d["name"]] for d in config["layers"]])
        return model

    def get_build_config(self):
        """Keras's build config: a functional model writes ``{"input_shape": None}`` (its inputs say it all)."""
        return {"input_shape": None}

    def build_from_config(self, config):
        """Nothing to do: a functional model is built by its layers' calls."""

    def get_compile_config(self):
        """Keras's ``get_compile_config()``: the ``compile()`` arguments, ``{}`` for a model never compiled."""
        if not self.compiled:
            return {}
        return {
            "optimizer": optimizers.serialize(self.optimizer),
            "loss": _loss_identifier(self.loss),
            "loss_weights": None,
            "metrics": [_metric_identifier(m) for m in self._metric_identifiers] or None,
            "weighted_metrics": None,
            "run_eagerly": False,
            "steps_per_execution": 1,
            "jit_compile": False,
        }

    def compile_from_config(self, config):
        """Compile as ``get_compile_config()``'s dict (or Keras's) says, and build the optimizer, whose variables
        a file then fills."""
        optimizer = config.get("optimizer")
        optimizer = optimizers.deserialize(optimizer) if isinstance(optimizer, dict) else optimizers.get(optimizer)
        self.compile(optimizer=optimizer, loss=config.get("loss"), loss_weights=config.get("loss_weights"),
                     metrics=config.get("metrics"), weighted_metrics=config.get("weighted_metrics"))
        if self.built:
            self.optimizer.build(self.trainable_weights)

    def to_json(self, **kwargs):
        """The model as Keras serializes it (``serialize_model``), as JSON: a ``.keras`` file's ``config.json``."""
        return json.dumps(serialize_model(self), default=_json_default, **kwargs)

    # -- saving: Keras 3's files, written and read by fastconv.saving ------------------------------------------

    def save(self, filepath, overwrite=True, zipped=None):
        """Save to a Keras 3 ``.keras`` file (``fastconv.saving.save_model``), atomically."""
        saving.save_model(self, filepath, overwrite=overwrite, zipped=zipped)

    def save_weights(self, filepath, overwrite=True, max_shard_size=None):
        """Save the weights to a ``.weights.h5`` file in Keras's layout (``fastconv.saving.save_weights``)."""
        saving.save_weights(self, filepath, overwrite=overwrite, max_shard_size=max_shard_size)

    def load_weights(self, filepath, skip_mismatch=False):
        """Load weights from a ``.weights.h5`` or ``.keras`` file (``fastconv.saving.load_weights``)."""
        saving.load_weights(self, filepath, skip_mismatch=skip_mismatch)

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name}, built={self.built}>"


def _adjust_rank(array, expected):
    """Keras's rank adjustment of a model's data: an axis of size 1 added at the end where the input has
    one more axis and its last is 1 (``(N, 28, 28)`` images for ``Input((28, 28, 1))``), or dropped where the
    data has one more axis and its last is 1; a view either way. Other shapes are the caller's to check.

    >>> _adjust_rank(np.zeros((5, 28, 28)), (None, 28, 28, 1)).shape, _adjust_rank(np.zeros((5, 3, 1)), (None, 3)).shape
    ((5, 28, 28, 1), (5, 3))
    """
    if array.ndim == len(expected) - 1 and expected[-1] == 1:
        return array[..., None]
    if array.ndim == len(expected) + 1 and array.shape[-1] == 1:
        return array[..., 0]
    return array


def _call_default_training(call):
    """The default of ``call``'s ``training`` parameter where it is a bool (``call(self, x, training=True)``),
    else None."""
    try:
        parameter = inspect.signature(call).parameters.get("training")
    except (TypeError, ValueError):
        return None
    default = None if parameter is None else parameter.default
    return default if isinstance(default, bool) else None


def _shape_or_shapes(tensors):
    shapes = [tuple(t.shape) for t in tensors]
    return shapes[0] if len(shapes) == 1 else shapes


class Sequential(Model):
    """A plain stack of layers (``keras.Sequential``), each called on the previous one's output.

    The model is built as soon as its input shape is known: from a first
    ``keras.Input``/``InputLayer``, from ``input_shape=`` on its first layer, or
    from the first data it sees.

    >>> from fastconv import layers
    >>> model = Sequential([layers.Dense(3, input_shape=(4,)), layers.Dense(1)])
    >>> model.count_params()
    19
    """

    def __init__(self, layers=None, trainable=True, name=None):
        Trainer.__init__(self)
        self.name = name or unique_name("sequential")
        self._stack = []
        self._input_layer = None
        self.inputs = self.outputs = None
        self._nodes = []
        self._trainable = bool(trainable)
        for layer in layers or []:
            self.add(layer)

    def add(self, layer):
        """Append ``layer``; a ``Sequential`` model appends its layers, one by one (the same objects, as
        :meth:`Model._call_symbolic` puts a model's layers in another model's graph)."""
        if isinstance(layer, KerasTensor) and isinstance(layer.node.layer, InputLayer):
            layer = layer.node.layer
        if isinstance(layer, Sequential):
            if not self._stack and self._input_layer is None and layer._input_layer is not None:
                self._input_layer = InputLayer(batch_shape=layer._input_layer.batch_shape)
            for inner in layer.layers:
                self.add(inner)
            return
        if isinstance(layer, Model):
            raise NotImplementedError(f"A functional model ('{layer.name}') in a Sequential model is not supported "
                                      "yet: call it on a tensor in a functional model (`x = model(x)`), or add a "
                                      "Sequential model.")
        if not isinstance(layer, Layer):
            raise TypeError(f"Only instances of `keras.Layer` can be added to a Sequential model. "
                            f"Received: {layer!r} (of type {type(layer).__name__})")
        if isinstance(layer, InputLayer):
            if self._stack or self._input_layer is not None:
                raise ValueError("An `Input`/`InputLayer` can only be the first layer of a Sequential model.")
            self._input_layer = layer
            return
        if not self._stack and self._input_layer is None and layer._batch_input_shape is not None:
            self._input_layer = InputLayer(batch_shape=layer._batch_input_shape)
        if any(existing.name == layer.name for existing in self._stack):
            raise ValueError(f"All layers added to a Sequential model should have unique names. "
                             f"Name '{layer.name}' is already the name of a layer in this model.")
        self._stack.append(layer)
        if self._input_layer is not None:
            output = self.outputs[0] if self.outputs else self._input_layer.output
            self._set_graph(self._input_layer.output, layer(output))

    def pop(self):
        if not self._stack:
            raise TypeError("There are no layers in the model.")
        layer = self._stack.pop()
        if self._input_layer is not None:
            last = self._stack[-1].output if self._stack else self._input_layer.output
            self._set_graph(self._input_layer.output, last)
        return layer

    @property
    def layers(self):
        return list(self._stack)

    @property
    def built(self):
        return self._input_layer is not None

    def build(self, input_shape):
        """Build the model for inputs of ``input_shape`` (the batch axis included, usually ``None``)."""
        if self._input_layer is not None:
            return
        self._input_layer = InputLayer(batch_shape=(None, *tuple(input_shape)[1:]))
        output = self._input_layer.output
        for layer in self._stack:
            output = layer(output)
        self._set_graph(self._input_layer.output, output)

    def _check_inputs(self, x):
        if not self.built:
            self.build(np.shape(x))
        return super()._check_inputs(x)

    def _any_image_size(self):
        """Keras runs a Sequential model on images of any size: fastconv does where each layer before a global
        pooling (after which no size varies) runs on any size (``Layer.any_image_size``: not ``Flatten``,
        ``Reshape``, ``Lambda``, weights over positions, or layers of yours)."""
        for layer in self.layers:
            if isinstance(layer, _GLOBAL_POOLING):
                return True
            if not layer.any_image_size:
                return False
        return True

    def _call_symbolic(self, inputs, training=None):
        if not self.built and isinstance(inputs, KerasTensor):  # built for the tensor, as Keras builds it
            self.build(inputs.shape)
        return super()._call_symbolic(inputs, training)

    def count_params(self):
        if not self.built:
            raise ValueError(f"You tried to call `count_params` on model '{self.name}', but the model isn't "
                             "built. Build it with an input shape first (e.g. `input_shape=` on its first layer).")
        return super().count_params()

    # -- config -----------------------------------------------------------------------------------------------

    def get_config(self):
        """Keras's ``Sequential.get_config()``: name, trainable, dtype, the layers (``InputLayer`` first)."""
        stack = ([self._input_layer] if self._input_layer is not None else []) + self._stack
        config = {"name": self.name, "trainable": self.trainable, "dtype": dict(_FLOAT32_POLICY),
                  "layers": [_serialize_layer(layer) for layer in stack]}
        if self.built:
            config["build_input_shape"] = list(self._input_layer.batch_shape)
        return config

    @classmethod
    def from_config(cls, config, custom_objects=None):
        """The model (new layers, fresh weights) that ``get_config()``'s dict, or Keras's, describes."""
        if "dtype" in config and _dtype_name(config["dtype"]) != "float32":
            raise NotImplementedError(f"fastconv models compute in float32. Received: dtype={config['dtype']!r}")
        model = cls(name=config["name"], trainable=config.get("trainable", True))
        stack = [_deserialize_layer(layer_config, custom_objects) for layer_config in config["layers"]]
        for layer in stack:
            model.add(layer)
        if any(isinstance(layer, Model) for layer in stack):  # Keras keeps a nested model's weights in its group
            model._weight_paths_in_keras_files = _nested_weight_paths(
                [layer for layer in stack if not isinstance(layer, InputLayer)])
        build_input_shape = config.get("build_input_shape")
        if not model.built and build_input_shape:
            model.build(tuple(build_input_shape))
        return model

    def get_build_config(self):
        """Keras's build config: the batch input shape, or ``None`` before the model is built."""
        return {"input_shape": list(self._input_layer.batch_shape)} if self.built else None

    def build_from_config(self, config):
        """Build for ``config["input_shape"]`` (``get_build_config()``'s dict) unless already built."""
        if not self.built and config.get("input_shape"):
            self.build(tuple(config["input_shape"]))


def load_model(filepath, custom_objects=None, compile=True, safe_mode=True):
    """Load a ``.keras`` file written by real Keras 3 or by fastconv (``keras.models.load_model``).

    Rebuilds the ``Sequential`` or functional model from ``config.json``
    (:func:`deserialize_model`), loads its weights and, with ``compile=True``,
    recompiles it with the saved optimizer, loss and metrics and restores the
    optimizer's variables, so that training continues where it stopped.
    Reading the file is ``fastconv.saving.load_model_file``'s.

    Parameters
    ----------
    filepath : str or os.PathLike
        A ``.keras`` file.
    custom_objects : dict, optional
        Layer classes by Keras class name, consulted before fastconv's own.
    compile : bool
        Recompile the model (and restore the optimizer state) as saved.
    safe_mode : bool
        Accepted for Keras compatibility. fastconv never deserializes code
        (there is no ``Lambda`` layer), so there is nothing unsafe to refuse.

    Raises
    ------
    ValueError
        The file is missing, not a zip archive, damaged, lacks an entry, or its
        weights do not fit the model it describes; the message names the file.
    NotImplementedError
        The model uses a layer, argument, optimizer or loss fastconv does not
        support yet; the message names it.

    Examples
    --------
    >>> import os, tempfile
    >>> from fastconv import layers
    >>> model = Sequential([layers.Dense(2, input_shape=(3,))])
    >>> with tempfile.TemporaryDirectory() as directory:
    ...     model.save(os.path.join(directory, "model.keras"))
    ...     restored = load_model(os.path.join(directory, "model.keras"))
    >>> [w.shape for w in restored.weights]
    [(3, 2), (2,)]
    """
    def build(config):
        return deserialize_model(config if compile else {**config, "compile_config": None}, custom_objects)

    return saving.load_model_file(filepath, build, load_optimizer=compile)


# -- Keras's serialized form: what a `.keras` file's config.json holds -------------------------------------------

_FLOAT32_POLICY = {"module": "keras", "class_name": "DTypePolicy", "config": {"name": "float32"},
                   "registered_name": None}

_GLOBAL_POOLING = (GlobalAveragePooling1D, GlobalAveragePooling2D, GlobalMaxPooling1D, GlobalMaxPooling2D)
"""Layers after which no size between the batch and the channels varies (see ``Sequential._any_image_size``)."""

# The layer classes for which Keras writes a `build_config` (the input shape the layer was built for).
_LAYERS_WITH_BUILD_CONFIG = {"Conv2D", "Dense", "BatchNormalization", "Flatten", "ZeroPadding2D", "Cropping2D",
                             "UpSampling2D", "Permute", "Rescaling"}
_LAYERS_WITH_BUILD_CONFIG |= {"Conv1D", "Conv1DTranspose", "Conv2DTranspose", "ZeroPadding1D", "Cropping1D",
                              "UpSampling1D"}
_LAYERS_WITH_BUILD_CONFIG |= {"DepthwiseConv1D", "DepthwiseConv2D", "SeparableConv1D", "SeparableConv2D"}
_LAYERS_WITH_BUILD_CONFIG |= {"Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum", "Concatenate"}
_LAYERS_WITH_BUILD_CONFIG |= {"RandomFlip", "RandomTranslation", "RandomRotation", "RandomZoom", "RandomContrast"}
_LAYERS_WITH_BUILD_CONFIG |= {"PReLU", "LayerNormalization"}

# Keys that newer Keras 3 releases put in a layer's config for features fastconv lacks, with the value
# that means "not used". fastconv accepts them at that value only (and never writes them, so that older
# Keras 3 releases can read its files).
_KERAS_OFF_VALUES = {
    "Conv2D": {"quantization_config": None},
    "Conv1D": {"quantization_config": None},
    "Dense": {"quantization_config": None},
    "BatchNormalization": {"renorm_clipping": None, "renorm_momentum": 0.99},
}
_INITIALIZER_OFF_VALUES = {"input_axes": None, "output_axes": None}


def serialize_model(model):
    """The ``config.json`` dict of ``model``, as Keras 3 writes it (its ``serialize_keras_object``).

    >>> from fastconv import layers
    >>> serialized = serialize_model(Sequential([layers.Dense(2, input_shape=(3,))]))
    >>> serialized["class_name"], serialized["build_config"], serialized["compile_config"]
    ('Sequential', {'input_shape': [None, 3]}, {})
    """
    if isinstance(model, Sequential) and not any(layer.is_composite() for layer in model.layers):
        serialized = {"module": "keras", "class_name": "Sequential", "config": model.get_config(),
                      "registered_name": None}
        build_config = model.get_build_config()
    else:  # a functional model; a Sequential of composite layers (`Lambda`, yours) as the graph of their calls
        serialized = {"module": "keras.src.models.functional", "class_name": "Functional",
                      "config": Model.get_config(model), "registered_name": "Functional"}
        build_config = Model.get_build_config(model)
    if build_config is not None:
        serialized["build_config"] = build_config
    serialized["compile_config"] = model.get_compile_config()
    return serialized


def model_from_json(json_string, custom_objects=None):
    """A model with fresh weights from :meth:`Model.to_json`'s string (or Keras's ``model.to_json()``).

    >>> from fastconv import layers
    >>> model = Sequential([layers.Dense(2, input_shape=(3,))])
    >>> [w.shape for w in model_from_json(model.to_json()).weights]
    [(3, 2), (2,)]
    """
    return deserialize_model(json.loads(json_string), custom_objects)


def clone_model(model, input_tensors=None, clone_function=None, call_function=None, recursive=False, **kwargs):
    """A new model of ``model``'s architecture with new layers and fresh weights (``keras.models.clone_model``):
    built from its config, and compiled as ``model`` is (a new optimizer of the same config). Keras's hooks to
    change the clone (``input_tensors``, ``clone_function``, ``call_function``) raise ``NotImplementedError``.

    >>> from fastconv import layers
    >>> model = Sequential([layers.Dense(2, input_shape=(3,))])
    >>> clone = clone_model(model)
    >>> clone.layers[0] is model.layers[0], [w.shape for w in clone.weights]
    (False, [(3, 2), (2,)])
    """
    if kwargs:
        raise TypeError(f"Unrecognized keyword arguments passed to clone_model: {kwargs}")
    for name, value in (("input_tensors", input_tensors), ("clone_function", clone_function),
                        ("call_function", call_function)):
        if value is not None:
            raise NotImplementedError(f"`clone_model` in fastconv does not support `{name}` yet: it clones the "
                                      "model as it is.")
    return deserialize_model(serialize_model(model))  # compiled as the model is, as Keras's clones are


def deserialize_model(config, custom_objects=None):
    """A model (without its weights) from a ``config.json`` dict; compiled if it has a ``compile_config``."""
    class_name = config.get("class_name")
    if class_name == "Sequential":
        cls = Sequential
    elif class_name in ("Functional", "Model"):
        cls = Model
    else:
        raise NotImplementedError(
            f"The model class `{class_name}` is not supported: fastconv rebuilds `Sequential` and functional "
            "(`keras.Model(inputs, outputs)`) models; subclassed models cannot be rebuilt from a config.")
    model = cls.from_config(config["config"], custom_objects)
    model.build_from_config(config.get("build_config") or {})
    compile_config = config.get("compile_config")
    if compile_config:
        try:
            model.compile_from_config(compile_config)
        except NotImplementedError as error:
            raise NotImplementedError(f"{error} The model was saved compiled: `load_model(..., compile=False)` "
                                      "loads it without its training configuration, for `predict`.") from error
    return model


def _node_input_history(layer, node_data):
    """The ``keras_history`` of a serialized layer call's input, or for a merging layer's call (on a list of
    tensors) the list of its inputs' histories; anything else is refused."""
    if not isinstance(node_data, dict) or "args" not in node_data:
        raise NotImplementedError(
            f"The inbound nodes of layer '{layer.name}' are in the Keras 2 (tf.keras) format; fastconv reads "
            "Keras 3 `.keras` files. Load the model in Keras 3 and save it again.")
    args = node_data["args"]
    tensors = args[0] if len(args) == 1 and isinstance(args[0], list) else args
    if (len(args) != 1 or not tensors or (len(tensors) > 1 and not layer.takes_list) or
            any(not isinstance(t, dict) or t.get("class_name") != "__keras_tensor__" for t in tensors)):
        raise NotImplementedError(f"Layer '{layer.name}' is called on {len(args)} arguments or on a non-tensor "
                                  "argument; fastconv layers take one tensor (merging layers a list of them).")
    for key, value in node_data.get("kwargs", {}).items():
        if value is not None and key != "training":
            raise NotImplementedError(f"Layer '{layer.name}' is called with the argument `{key}`={value!r}, which "
                                      "fastconv does not support.")
    if isinstance(args[0], list) and layer.takes_list:
        return [t["config"]["keras_history"] for t in tensors]
    return tensors[0]["config"]["keras_history"]


def _serialize_layer(layer):
    """Keras's serialized layer: module, class name, config (and the build input shape where Keras writes one)."""
    config = layer.get_config()
    class_name = type(layer).__name__
    serialized = {"module": "keras.layers", "class_name": class_name, "config": config, "registered_name": None}
    if class_name in _LAYERS_WITH_BUILD_CONFIG and layer._build_input_shape is not None:
        shape = layer._build_input_shape
        serialized["build_config"] = {"input_shape": [list(s) for s in shape] if layer.takes_list else list(shape)}
    return serialized


def _nested_weight_paths(layers):
    """``[(path, layer)]``: where a Keras ``.weights.h5`` keeps each layer's weights, for ``layers`` in Keras's
    order, where a model among them (nested) keeps its own layers under its group (``sequential/layers/conv2d``).
    """
    paths = []
    for key, layer in saving.weight_keys(layers):
        if isinstance(layer, Model):
            inner = getattr(layer, "_weight_paths_in_keras_files", None) or _nested_weight_paths(layer.layers)
            paths += [(f"{key}/layers/{inner_key}", inner_layer) for inner_key, inner_layer in inner]
        else:
            paths.append((key, layer))
    return paths


def _deserialize_layer(layer_data, custom_objects):
    """A layer from Keras's serialized form, accepting the keys newer Keras releases add at their "off" values;
    a nested model (``Sequential``, ``Functional``) as a model."""
    class_name = layer_data.get("class_name")
    if class_name in ("Sequential", "Functional", "Model"):
        return deserialize_model({**layer_data, "compile_config": None}, custom_objects)
    config = dict(layer_data.get("config") or {})
    name = config.get("name", layer_data.get("name"))
    custom_objects = custom_objects or {}
    cls = custom_objects.get(class_name) or get_registered_object(layer_data.get("registered_name") or class_name)
    if cls is None and layer_data.get("registered_name") not in (None, class_name):
        raise NotImplementedError(
            f"Layer '{name}' is the custom class `{layer_data['registered_name']}`; pass its fastconv "
            "implementation in `custom_objects`.")
    cls = cls or LAYER_CLASSES.get(class_name)
    if cls is None:
        supported = ", ".join(sorted(LAYER_CLASSES))
        raise NotImplementedError(f"The Keras layer `{class_name}` (layer '{name}') is not supported by fastconv "
                                  f"yet. Supported layers: {supported}.")
    for key, off in _KERAS_OFF_VALUES.get(class_name, {}).items():
        if key in config:
            value = config.pop(key)
            if value != off:
                raise NotImplementedError(f"`{class_name}` in fastconv does not support the argument `{key}` yet. "
                                          f"Received: {key}={value!r} (layer '{name}')")
    for key, value in config.items():
        if isinstance(value, dict) and value.get("module") == "keras.initializers":
            config[key] = _initializer_config(value, f"{class_name}.{key}")
    unknown = sorted(set(config) - _constructor_arguments(cls))
    if unknown:
        raise NotImplementedError(
            f"`{class_name}` in fastconv does not support the argument `{unknown[0]}` yet. "
            f"Received: {unknown[0]}={config[unknown[0]]!r} (layer '{name}')")
    return cls.from_config(config)


def _initializer_config(serialized, where):
    config = dict(serialized.get("config") or {})
    for key, off in _INITIALIZER_OFF_VALUES.items():
        if key in config:
            value = config.pop(key)
            if value != off:
                raise NotImplementedError(f"Initializers with `{key}` are not supported by fastconv yet. "
                                          f"Received: {key}={value!r} in {where}")
    return {**serialized, "config": config}


def _constructor_arguments(cls):
    """The keyword arguments ``cls(...)`` accepts, following ``**kwargs`` up to ``Layer.__init__``."""
    names = set()
    for klass in cls.__mro__:
        if "__init__" not in vars(klass):
            continue
        parameters = inspect.signature(vars(klass)["__init__"]).parameters.values()
        names.update(p.name for p in parameters
                     if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and p.name != "self")
        if not any(p.kind is p.VAR_KEYWORD for p in parameters):
            break
    if issubclass(cls, InputLayer):
        names.add("ragged")  # InputLayer.from_config drops it
    return names


def _loss_identifier(loss):
    """A loss by its Keras function name (``"sparse_categorical_crossentropy"``) when that rebuilds it exactly."""
    name = getattr(loss, "name", None)
    if isinstance(name, str):
        try:
            by_name = losses.get(name)
        except (ValueError, NotImplementedError):
            by_name = None
        if type(by_name) is type(loss) and by_name.get_config() == loss.get_config():
            return name
    return losses.serialize(loss)


def _metric_identifier(metric):
    """A metric as ``compile`` received it: a name or a serialized dict as is, an object serialized."""
    return metric if isinstance(metric, (str, dict)) else metrics_module.serialize(metric)


def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"Cannot write {value!r} (of type {type(value).__name__}) to config.json.")


# -- graphs ---------------------------------------------------------------------------------------------------------


class InputArrays:
    """The data of a model with several inputs: one array for each, with the same samples, which ``len``,
    indexing and slicing treat as one (``x[batch]`` takes the batch's samples from every array), so that
    ``fastconv.training`` batches, shuffles and splits them as it does one array."""

    def __init__(self, arrays):
        self.arrays = list(arrays)

    def __len__(self):
        return len(self.arrays[0])

    def __getitem__(self, index):
        return InputArrays([array[index] for array in self.arrays])

    @property
    def shape(self):
        """The arrays' shapes (for messages about the data)."""
        return tuple(array.shape for array in self.arrays)


def _tensor_list(tensors, argument):
    items = [tensors] if isinstance(tensors, KerasTensor) else list(tensors)
    for item in items:
        if not isinstance(item, KerasTensor):
            raise ValueError(f"Invalid value for argument `{argument}`: expected KerasTensors (from `keras.Input` "
                             f"or a layer's `.output`). Received: {item!r}")
    return items


def _check_unique_names(nodes, inputs):
    """Keras's check of a functional model: two layers of one name raise ``ValueError``. Layers called inside
    a composite layer, a subclassed model or another model (which Keras keeps inside that one) may share a
    name (``get_config`` numbers them)."""
    seen = {}
    for node in [tensor.node for tensor in inputs] + list(nodes):
        other = seen.setdefault(node.layer.name, node.layer)
        if other is not node.layer and not (node.inlined or any(n.inlined for n in other._inbound_nodes)):
            count = len({id(n.layer) for n in [t.node for t in inputs] + list(nodes)
                         if n.layer.name == node.layer.name})
            raise ValueError(f'The name "{node.layer.name}" is used {count} times in the model. All operation names '
                             "should be unique.")


def _unique_layer_names(layers):
    """``{id(layer): name}`` for a model's config: each layer's own name, the second and later of a name that a
    composite layer's inner layers share numbered ``name_1``, ``name_2``... (names no layer has)."""
    taken = {layer.name for layer in layers}
    names, used = {}, set()
    for layer in layers:
        name, count = layer.name, 0
        while name in used or (count and name in taken):
            count += 1
            name = f"{layer.name}_{count}"
        used.add(name)
        names[id(layer)] = name
    return names


def _walk_graph(inputs, outputs):
    """The layer calls between ``inputs`` and ``outputs``, each after the calls it depends on.

    Returns the nodes (a depth-first walk from the outputs, in post-order, as
    Keras's ``map_graph`` walks) and, for each layer, the index at which the
    walk first met it.
    """
    input_ids = {id(t) for t in inputs}
    order, done, first_seen = [], set(), {}

    def visit(tensor):
        node = tensor.node
        if node is None or (node.inputs is None and id(tensor) not in input_ids):
            raise ValueError(f"Graph disconnected: cannot obtain the value of tensor {tensor} from the model's "
                             f"inputs {inputs}.")
        if id(node) in done:
            return
        first_seen.setdefault(id(node.layer), len(first_seen))
        if id(tensor) not in input_ids:
            for parent in node.input_tensors:
                visit(parent)
        done.add(id(node))
        order.append(node)

    for tensor in outputs:
        visit(tensor)
    calls = [node for node in order if node.inputs is not None]
    return calls, first_seen


def _graph_depths(inputs, nodes):
    """Keras's depths (``map_graph``) of the layer calls ``nodes`` and of the inputs' nodes: the most layer
    calls on a path from a node to an output (0 for an output, and for an input that no output uses).
    Returns ``(node depths, layer depths)`` by ``id``; a layer called more than once has its deepest call's."""
    node_depth, layer_depth = {}, {}
    input_nodes = [tensor.node for tensor in inputs]
    in_graph = {id(node) for node in nodes} | {id(node) for node in input_nodes}
    for node in reversed(input_nodes + nodes):  # the inputs' nodes after every call that reads them
        depth = max(node_depth.setdefault(id(node), 0), layer_depth.get(id(node.layer), 0))
        layer_depth[id(node.layer)] = node_depth[id(node)] = depth
        for parent in (t.node for t in node.input_tensors):
            if id(parent) in in_graph:
                node_depth[id(parent)] = max(depth + 1, node_depth.get(id(parent), 0))
    return node_depth, layer_depth


def _keras_layer_order(inputs, nodes, first_seen):
    """Keras's ``model.layers`` order for a functional graph, which also numbers a ``.keras`` file's groups.

    By decreasing depth (layer calls between a layer and the outputs), input
    layers included, ties broken by the order the walk from the outputs first
    met each layer. For a chain that is input to output; with branches it can
    differ from the order the layers were called in, and a second input can
    come after layers that the first one feeds.
    """
    _, layer_depth = _graph_depths(inputs, nodes)
    layers = {id(layer): layer for layer in [tensor.node.layer for tensor in inputs] + [node.layer for node in nodes]}
    return sorted(layers.values(), key=lambda layer: (-layer_depth[id(layer)], first_seen.get(id(layer), -1)))


def _sequential_like(model):
    """Whether Keras's summary draws ``model`` as a chain, without the "Connected to" column: no two calls at
    one depth, no call on several tensors and no layer called twice."""
    if isinstance(model, Sequential):
        return True
    node_depth, _ = _graph_depths(model.inputs, model._nodes)
    layers = [node.layer for node in model._nodes]
    return (len(set(node_depth.values())) == len(node_depth) and len(set(map(id, layers))) == len(layers)
            and all(len(node.input_tensors) <= 1 for node in model._nodes))


def _connections(model, layer):
    """Keras's "Connected to" cell: ``name[node index][tensor index]`` of each tensor the layer's calls read."""
    calls = {id(node) for node in model._nodes}
    sources = [f"{t.node.layer.name}[{t.node.layer._inbound_nodes.index(t.node)}][0]"
               for node in layer._inbound_nodes if id(node) in calls for t in node.input_tensors]
    return ", ".join(sources) or "-"


def print_summary(model, line_length=None, print_fn=None):
    """Keras's model summary table, drawn with rich (plain text when ``print_fn`` is given)."""
    chain = _sequential_like(model)
    # Keras's width: 88 or 108 columns, at most the terminal's (80 columns when the output is not a terminal) less 4
    line_length = line_length or min(88 if chain else 108, shutil.get_terminal_size().columns - 4)
    positions = (0.45, 0.80, 1.0) if chain else (0.3, 0.56, 0.74, 1.0)
    ends = [int(position * line_length) for position in positions]
    widths = [end - start for start, end in zip([0] + ends, ends)]
    columns = [rich.table.Column("Layer (type)", width=widths[0]),
               rich.table.Column("Output Shape", width=widths[1]),
               rich.table.Column("Param #", justify="right", width=widths[2])]
    if not chain:
        columns.append(rich.table.Column("Connected to", width=widths[3]))
    table = rich.table.Table(*columns, width=line_length, show_lines=True)
    for layer in model.layers:
        if isinstance(layer, InputLayer) and isinstance(model, Sequential):
            continue
        try:
            shape = str(layer.output_shape)
        except AttributeError:
            shape = "?"
        params = f"{layer.count_params():,}" if layer.built else "0 (unbuilt)"
        row = [rich.markup.escape(f"{layer.name} ({type(layer).__name__})"), shape, params]
        table.add_row(*row, *([] if chain else [rich.markup.escape(_connections(model, layer))]))

    def size(weights):
        return sum(int(np.prod(w.shape)) for w in weights), sum(w.value.nbytes for w in weights)

    counts = [("Total params", size(model.weights)), ("Trainable params", size(model.trainable_weights)),
              ("Non-trainable params", size(model.non_trainable_weights))]
    optimizer = getattr(model, "optimizer", None)
    if optimizer is not None and getattr(optimizer, "built", False):
        opt = size(optimizer.variables)
        counts[0] = ("Total params", (counts[0][1][0] + opt[0], counts[0][1][1] + opt[1]))
        counts.append(("Optimizer params", opt))

    if print_fn:
        console = rich.console.Console(highlight=False, force_terminal=False, color_system=None, width=line_length)
        console.begin_capture()
    else:
        console = rich.console.Console(highlight=False, width=line_length if not sys.stdout.isatty() else None)
    console.print(f'[bold]Model: "{rich.markup.escape(model.name)}"[/]')
    console.print(table)
    for label, (count, nbytes) in counts:
        console.print(f"[bold] {label}: [/]{count:,} ({_readable_size(nbytes)})")
    if print_fn:
        print_fn(console.end_capture())


def _readable_size(nbytes):
    for unit in ("B", "KB", "MB", "GB"):
        if nbytes < 1024:
            return f"{nbytes:.2f} {unit}"
        nbytes /= 1024
    return f"{nbytes:.2f} TB"
