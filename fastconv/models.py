"""Models: the functional ``Model(inputs, outputs)`` graph and ``Sequential``, with ``summary()``.

A model is a graph of layer calls recorded on ``KerasTensor``s; running it
calls each layer's ``forward`` in topological order and, for training, each
``backward`` in reverse. Training (``compile``/``fit``/``evaluate``/
``predict``) comes from ``fastconv.training.Trainer``; saving from
``fastconv.saving``.
"""

import sys

import numpy as np
import rich.console
import rich.markup
import rich.table

from fastconv.layers.base import InputLayer, KerasTensor, Layer, _as_float32
from fastconv.naming import unique_name
from fastconv.training import Trainer


class Model(Trainer):
    """A functional model (``keras.Model(inputs, outputs)``).

    ``inputs`` is a ``KerasTensor`` from ``keras.Input`` (or a list of one);
    ``outputs`` is a ``KerasTensor`` computed from it, or a list of them.

    >>> from fastconv import layers
    >>> x = layers.Input((4,))
    >>> model = Model(x, layers.Dense(2)(x))
    >>> model.predict(np.ones((3, 4)), verbose=0).shape
    (3, 2)
    """

    def __init__(self, inputs=None, outputs=None, name=None, trainable=True, **kwargs):
        if kwargs:
            raise TypeError(f"Unrecognized keyword arguments passed to Model: {kwargs}")
        if inputs is None or outputs is None:
            raise NotImplementedError(
                "fastconv supports functional models `keras.Model(inputs, outputs)` and `keras.Sequential`; "
                "subclassed models (overriding `call`) are not supported yet.")
        super().__init__()
        self.name = name or unique_name("functional")
        self.trainable = trainable
        self._set_graph(inputs, outputs)

    # -- the graph ------------------------------------------------------------------------------------

    def _set_graph(self, inputs, outputs):
        self._single_output = isinstance(outputs, KerasTensor)
        self.inputs = _tensor_list(inputs, "inputs")
        self.outputs = _tensor_list(outputs, "outputs")
        if len(self.inputs) != 1:
            raise NotImplementedError(f"fastconv models take exactly one input. Received: {len(self.inputs)} inputs")
        self._nodes, self._first_seen = _walk_graph(self.inputs, self.outputs)

    @property
    def layers(self):
        """The layers in Keras's order (the input layers first; see :func:`_keras_layer_order`)."""
        return _keras_layer_order(self.inputs, self._nodes, self._first_seen)

    def get_layer(self, name=None, index=None):
        if index is not None:
            return self.layers[index]
        for layer in self.layers:
            if layer.name == name:
                return layer
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
        return int(sum(int(np.prod(w.shape)) for w in self.weights))

    @property
    def built(self):
        return True

    # -- running ----------------------------------------------------------------------------------------

    def _check_inputs(self, x):
        x = _as_float32(x)
        expected = self.inputs[0].shape
        if x.ndim != len(expected) or any(e is not None and e != a for e, a in zip(expected[1:], x.shape[1:])):
            raise ValueError(f'Input 0 of layer "{self.name}" is incompatible with the layer: expected '
                             f"shape={expected}, found shape={x.shape}")
        return x

    def forward(self, x, training):
        """Run the graph on checked inputs: returns ``(outputs list, tape)`` where the tape feeds ``backward``."""
        values = {id(self.inputs[0]): x}
        tape = []
        for node in self._nodes:
            y, context = node.layer.forward(values[id(node.inputs)], training)
            values[id(node.output)] = y
            tape.append(context)
        return [values[id(t)] for t in self.outputs], tape

    def backward(self, tape, grad_output, skip_output_activation=False):
        """Gradients of the trainable weights (``{id(variable): grad}``) given the output's gradient.

        With ``skip_output_activation``, ``grad_output`` is already the gradient
        before the last layer's activation (a fused softmax + cross-entropy).
        """
        grads = {id(self.outputs[0]): grad_output}
        weight_grads = {}
        input_id = id(self.inputs[0])
        last_node = self._nodes[-1]
        for node, context in zip(reversed(self._nodes), reversed(tape)):
            grad = grads.pop(id(node.output), None)
            if grad is None:
                continue
            need_grad_inputs = id(node.inputs) != input_id
            if skip_output_activation and node is last_node:
                grad_inputs, layer_grads = node.layer.backward(context, grad, need_grad_inputs, skip_activation=True)
            else:
                grad_inputs, layer_grads = node.layer.backward(context, grad, need_grad_inputs)
            if node.layer.trainable:
                for variable, g in zip(node.layer._trainable_weights, layer_grads):
                    key = id(variable)  # a layer called twice adds its gradients (no copy when called once)
                    weight_grads[key] = weight_grads[key] + g if key in weight_grads else g
            if need_grad_inputs:
                key = id(node.inputs)
                grads[key] = grads[key] + grad_inputs if key in grads else grad_inputs
        return weight_grads

    def __call__(self, inputs, training=False):
        if isinstance(inputs, KerasTensor):
            raise NotImplementedError("Calling a fastconv model on a symbolic tensor (nesting models) is not "
                                      "supported yet.")
        outputs, _ = self.forward(self._check_inputs(inputs), bool(training))
        return outputs[0] if self._single_output else outputs

    # -- summary and config -----------------------------------------------------------------------------

    def summary(self, line_length=None, positions=None, print_fn=None, expand_nested=False,
                show_trainable=False, layer_range=None):
        """Print Keras's summary table: each layer's name (type), output shape and parameter count."""
        print_summary(self, line_length, print_fn)

    # -- config and saving: Keras 3's formats, implemented in fastconv.saving ------------------------------

    def get_config(self):
        """Keras's model config: what a ``.keras`` file's ``config.json`` holds under ``"config"``."""
        from fastconv import saving
        return saving.sequential_config(self) if isinstance(self, Sequential) else saving.functional_config(self)

    @classmethod
    def from_config(cls, config, custom_objects=None):
        """The model (new layers, fresh weights) that ``get_config()``'s dict, or Keras's, describes."""
        from fastconv import saving
        if issubclass(cls, Sequential):
            return saving.sequential_from_config(config, custom_objects, cls=cls)
        return saving.functional_from_config(config, custom_objects, cls=cls)

    def save(self, filepath, overwrite=True, zipped=None):
        """Save to a Keras 3 ``.keras`` file (``fastconv.saving.save_model``), atomically."""
        from fastconv import saving
        saving.save_model(self, filepath, overwrite=overwrite, zipped=zipped)

    def save_weights(self, filepath, overwrite=True, max_shard_size=None):
        """Save the weights to a ``.weights.h5`` file in Keras's layout (``fastconv.saving.save_weights``)."""
        from fastconv import saving
        saving.save_weights(self, filepath, overwrite=overwrite, max_shard_size=max_shard_size)

    def load_weights(self, filepath, skip_mismatch=False):
        """Load weights from a ``.weights.h5`` or ``.keras`` file (``fastconv.saving.load_weights``)."""
        from fastconv import saving
        saving.load_weights(self, filepath, skip_mismatch=skip_mismatch)

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name}, built={self.built}>"


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
        self.trainable = trainable
        self._stack = []
        self._input_layer = None
        self.inputs = self.outputs = None
        self._nodes = []
        for layer in layers or []:
            self.add(layer)

    def add(self, layer):
        if isinstance(layer, KerasTensor) and isinstance(layer.node.layer, InputLayer):
            layer = layer.node.layer
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

    def count_params(self):
        if not self.built:
            raise ValueError(f"You tried to call `count_params` on model '{self.name}', but the model isn't "
                             "built. Build it with an input shape first (e.g. `input_shape=` on its first layer).")
        return super().count_params()


def _tensor_list(tensors, argument):
    items = [tensors] if isinstance(tensors, KerasTensor) else list(tensors)
    for item in items:
        if not isinstance(item, KerasTensor):
            raise ValueError(f"Invalid value for argument `{argument}`: expected KerasTensors (from `keras.Input` "
                             f"or a layer's `.output`). Received: {item!r}")
    return items


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
            visit(node.inputs)
        done.add(id(node))
        order.append(node)

    for tensor in outputs:
        visit(tensor)
    calls = [node for node in order if node.inputs is not None]
    return calls, first_seen


def _keras_layer_order(inputs, nodes, first_seen):
    """Keras's ``model.layers`` order for a functional graph, which also numbers a ``.keras`` file's groups.

    Input layers first, then by decreasing depth (layer calls between a layer
    and the outputs), ties broken by the order the walk from the outputs first
    met each layer. For a chain that is input to output; with branches it can
    differ from the order the layers were called in.
    """
    node_depth, layer_depth = {}, {}
    in_graph = {id(node) for node in nodes}
    for node in reversed(nodes):
        depth = max(node_depth.setdefault(id(node), 0), layer_depth.get(id(node.layer), 0))
        layer_depth[id(node.layer)] = node_depth[id(node)] = depth
        parent = node.inputs.node
        if id(parent) in in_graph:
            node_depth[id(parent)] = max(depth + 1, node_depth.get(id(parent), 0))
    layers = {id(node.layer): node.layer for node in nodes}
    ordered = sorted(layers.values(), key=lambda layer: (-layer_depth[id(layer)], first_seen[id(layer)]))
    return [tensor.node.layer for tensor in inputs] + ordered


def print_summary(model, line_length=None, print_fn=None):
    """Keras's model summary table, drawn with rich (plain text when ``print_fn`` is given)."""
    line_length = line_length or 88
    widths = (int(0.45 * line_length), int(0.84 * line_length) - int(0.45 * line_length),
              line_length - int(0.84 * line_length))
    table = rich.table.Table(
        rich.table.Column("Layer (type)", width=widths[0]),
        rich.table.Column("Output Shape", width=widths[1]),
        rich.table.Column("Param #", justify="right", width=widths[2]),
        width=line_length, show_lines=True)
    for layer in model.layers:
        if isinstance(layer, InputLayer) and isinstance(model, Sequential):
            continue
        try:
            shape = str(layer.output_shape)
        except AttributeError:
            shape = "?"
        params = f"{layer.count_params():,}" if layer.built else "0 (unbuilt)"
        table.add_row(rich.markup.escape(f"{layer.name} ({type(layer).__name__})"), shape, params)

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
