"""Keras 3's own files, read and written: the ``.keras`` model archive and ``.weights.h5``.

Real Keras 3 loads what this module writes, and this module loads what real
Keras 3 writes (checked against Keras 3.15.1 in ``tests/test_saving.py``).

A ``.keras`` file is a zip archive (members stored uncompressed, in this order):

``metadata.json``
    ``{"keras_version": ..., "date_saved": ...}``. Keras writes it and never
    reads it back. fastconv writes ``KERAS_FORMAT_VERSION``, the Keras release
    whose format it writes and is tested against, and adds
    ``"saved_by": "fastconv <version>"`` so nobody mistakes the file's origin.
``config.json``
    The model as Keras serializes it: ``{"module", "class_name", "config",
    "registered_name", "build_config", "compile_config"}``. A ``Sequential``
    lists its ``InputLayer`` first among its layers; a functional model
    (``class_name`` ``"Functional"``) gives each layer its ``name`` and
    ``inbound_nodes`` plus the model's ``input_layers``/``output_layers``.
    ``compile_config`` holds the optimizer, loss and metrics, so that loading
    recompiles the model.
``model.weights.h5``
    The variables, in Keras's HDF5 layout::

        layers/<key>/vars/0, 1, ...   a layer's trainable, then non-trainable variables
        optimizer/vars/0, 1, ...      iterations, learning_rate, then the slots (Keras's order)
        vars                          the model's own variables (none)

    Every ``vars`` group carries the owner's ``name`` as an attribute.
    ``<key>`` is *not* the layer's name: it is the layer class in snake case
    with a counter per class within the model (``conv2d``, ``conv2d_1``,
    ``dense``, ...), counted over ``model.layers`` in Keras's order. A second
    model built in the same process has layers named ``conv2d_2``, ... but
    keys ``conv2d``, ``conv2d_1``. A ``Sequential`` model's layers exclude its
    ``InputLayer``; a functional model's include it (an empty group).

A ``.weights.h5`` file is the ``model.weights.h5`` member on its own.

Writes are atomic: the file is written beside the target, flushed to disk and
renamed over it, so a crash mid-save leaves the previous file intact.

Not here: legacy whole-model ``.h5`` files, sharded weights, the npz and
directory variants, ``hf://`` paths, nested models and subclassed models.
"""

import contextlib
import datetime
import inspect
import io
import json
import os
import uuid
import warnings
import zipfile

import h5py
import numpy as np

import fastconv
from fastconv import losses, metrics as metrics_module, optimizers
from fastconv.layers import LAYER_CLASSES, InputLayer
from fastconv.layers.base import _dtype_name
from fastconv.naming import to_snake_case
from fastconv.models import Model, Sequential

KERAS_FORMAT_VERSION = "3.15.1"
"""The Keras release whose ``.keras`` format this module writes and is tested against."""

_CONFIG_FILENAME = "config.json"
_METADATA_FILENAME = "metadata.json"
_WEIGHTS_FILENAME = "model.weights.h5"

_FLOAT32_POLICY = {"module": "keras", "class_name": "DTypePolicy", "config": {"name": "float32"},
                   "registered_name": None}

# The layer classes for which Keras writes a `build_config` (the input shape the layer was built for).
_LAYERS_WITH_BUILD_CONFIG = {"Conv2D", "Dense", "BatchNormalization", "Flatten"}

# Keys that newer Keras 3 releases put in a layer's config for features fastconv lacks, with the value
# that means "not used". fastconv accepts them at that value only (and never writes them, so that older
# Keras 3 releases can read its files).
_KERAS_OFF_VALUES = {
    "Conv2D": {"quantization_config": None},
    "Dense": {"quantization_config": None},
    "BatchNormalization": {"renorm_clipping": None, "renorm_momentum": 0.99},
}
_INITIALIZER_OFF_VALUES = {"input_axes": None, "output_axes": None}


# -- public API -------------------------------------------------------------------------------------------


def save_model(model, filepath, overwrite=True, zipped=None):
    """Save ``model`` to a Keras 3 ``.keras`` file that real Keras's ``load_model`` opens.

    The file holds the architecture, the weights, the compile arguments and
    the optimizer's state (see the module docstring for its layout). The
    write is atomic: a crash mid-save leaves any previous file untouched.

    Parameters
    ----------
    model : Model or Sequential
    filepath : str or os.PathLike
        Must end in ``.keras``.
    overwrite : bool
        With ``False``, an existing file raises ``FileExistsError``.
    zipped : None or True
        Only the zipped format is supported.

    Examples
    --------
    >>> import os, tempfile
    >>> from fastconv import layers
    >>> model = Sequential([layers.Dense(2, input_shape=(3,))])
    >>> with tempfile.TemporaryDirectory() as directory:
    ...     save_model(model, os.path.join(directory, "model.keras"))
    ...     restored = load_model(os.path.join(directory, "model.keras"))
    >>> [w.shape for w in restored.weights]
    [(3, 2), (2,)]
    """
    filepath = os.fspath(filepath)
    if zipped is False:
        raise NotImplementedError("fastconv saves only zipped `.keras` files. Received: zipped=False")
    if filepath.endswith((".h5", ".hdf5")):
        raise NotImplementedError(
            "fastconv does not write the legacy HDF5 model format. Save to a `.keras` file instead "
            f"(Keras 3's native format). Received: filepath={filepath}")
    if not filepath.endswith(".keras"):
        raise ValueError(f"Invalid `filepath` argument: expected a `.keras` extension. Received: filepath={filepath}")
    if not model.built:
        warnings.warn("You are saving a model that has not yet been built. It might not contain any weights yet. "
                      "Consider building the model first by calling it on some data.", stacklevel=2)
    config_json = json.dumps(serialize_model(model), default=_json_default)
    metadata_json = json.dumps({
        "keras_version": KERAS_FORMAT_VERSION,
        "date_saved": datetime.datetime.now().strftime("%Y-%m-%d@%H:%M:%S"),
        "saved_by": f"fastconv {fastconv.__version__}",
    })

    def write(file):
        with zipfile.ZipFile(file, "w", compression=zipfile.ZIP_STORED) as archive:
            archive.writestr(_METADATA_FILENAME, metadata_json)
            archive.writestr(_CONFIG_FILENAME, config_json)
            archive.writestr(_WEIGHTS_FILENAME, _weights_h5_bytes(model))

    _atomic_write(filepath, write, overwrite)


def load_model(filepath, custom_objects=None, compile=True, safe_mode=True):
    """Load a ``.keras`` file written by real Keras 3 or by fastconv.

    Rebuilds the ``Sequential`` or functional model from ``config.json``,
    loads its weights and, with ``compile=True``, recompiles it with the saved
    optimizer, loss and metrics and restores the optimizer's variables, so
    that training continues where it stopped.

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
        The file is missing, not a zip archive, lacks an entry, or its
        weights do not fit the model it describes.
    NotImplementedError
        The model uses a layer, argument, optimizer or loss fastconv does not
        support yet; the message names it.
    """
    filepath = os.fspath(filepath)
    if filepath.endswith((".h5", ".hdf5")):
        raise NotImplementedError(
            "fastconv does not read the legacy HDF5 model format (Keras 2 / tf.keras `.h5` files). Load the model "
            f"in Keras and save it as a `.keras` file. Received: filepath={filepath}")
    if not filepath.endswith(".keras"):
        raise ValueError(f"File format not supported: filepath={filepath}. fastconv reads Keras 3 `.keras` files "
                         "(and `.weights.h5` files with `model.load_weights`).")
    if not os.path.isfile(filepath):
        raise ValueError(f"File not found: filepath={filepath}. Please ensure the file is an accessible `.keras` "
                         "zip file.")
    with _open_archive(filepath) as archive:
        config = _read_json_member(archive, filepath, _CONFIG_FILENAME)
        if not compile:
            config = {**config, "compile_config": None}
        try:
            model = deserialize_model(config, custom_objects)
        except NotImplementedError as error:
            raise NotImplementedError(f"Cannot load {filepath}: {error}") from error
        except (KeyError, TypeError, IndexError, AttributeError) as error:
            raise ValueError(f"Cannot load {filepath}: `{_CONFIG_FILENAME}` is not a valid Keras model config "
                             f"({type(error).__name__}: {error}).") from error
        except ValueError as error:
            raise ValueError(f"Cannot load {filepath}: {error}") from error
        with _open_weights_member(archive, filepath) as h5:
            _load_h5(model, h5, f"{filepath} ({_WEIGHTS_FILENAME})", load_optimizer=compile)
    return model


def save_weights(model, filepath, overwrite=True, max_shard_size=None):
    """Write the model's (and its optimizer's) variables to a ``.weights.h5`` file in Keras's layout.

    Atomic like ``save_model``. ``filepath`` must end in ``.weights.h5``, as Keras requires.
    """
    filepath = os.fspath(filepath)
    if max_shard_size is not None:
        raise NotImplementedError(f"fastconv does not write sharded weights. Received: max_shard_size={max_shard_size}")
    if not filepath.endswith(".weights.h5"):
        raise ValueError(f"The filename must end in `.weights.h5`. Received: filepath={filepath}")
    if not model.built:
        raise ValueError("You are saving a model that has not yet been built. Try building the model first by "
                         "calling it on some data or by using `build()`.")
    _atomic_write(filepath, lambda file: file.write(_weights_h5_bytes(model)), overwrite)


def load_weights(model, filepath, skip_mismatch=False):
    """Load variables from a ``.weights.h5`` or ``.keras`` file (Keras's layout) into ``model``.

    Layers are matched by Keras's keys (class and position), not by name, so
    weights move between models whose layers are named differently. Like
    Keras, the optimizer's variables are loaded too when the model has a
    built optimizer and the file has as many. Everything is checked before
    anything is assigned: a mismatch raises ``ValueError`` and leaves the
    model as it was (with ``skip_mismatch=True``: a warning, and the
    mismatched layers keep their values).
    """
    filepath = os.fspath(filepath)
    if not model.built:
        raise ValueError("You are loading weights into a model that has not yet been built. Try building the model "
                         "first by calling it on some data or by using `build()`.")
    if not os.path.isfile(filepath):
        raise ValueError(f"File not found: filepath={filepath}.")
    if filepath.endswith(".keras"):
        with _open_archive(filepath) as archive, _open_weights_member(archive, filepath) as h5:
            _load_h5(model, h5, f"{filepath} ({_WEIGHTS_FILENAME})", skip_mismatch=skip_mismatch)
    elif filepath.endswith(".weights.h5"):
        try:
            h5 = h5py.File(filepath, "r")
        except OSError as error:
            raise ValueError(f"Cannot load weights from {filepath}: it is not an HDF5 file ({error}).") from error
        with h5:
            _load_h5(model, h5, filepath, skip_mismatch=skip_mismatch)
    elif filepath.endswith((".h5", ".hdf5")):
        raise NotImplementedError(f"fastconv does not read legacy HDF5 weight files. Received: filepath={filepath}")
    else:
        raise ValueError(f"File format not supported: filepath={filepath}. Expected a `.weights.h5` or `.keras` "
                         "file.")


# -- the model config (config.json) ------------------------------------------------------------------------


def serialize_model(model):
    """The ``config.json`` dict of ``model``, as Keras 3 writes it."""
    if isinstance(model, Sequential):
        serialized = {"module": "keras", "class_name": "Sequential", "config": sequential_config(model),
                      "registered_name": None}
        if model.built:
            serialized["build_config"] = {"input_shape": list(model._input_layer.batch_shape)}
    else:
        serialized = {"module": "keras.src.models.functional", "class_name": "Functional",
                      "config": functional_config(model), "registered_name": "Functional",
                      "build_config": {"input_shape": None}}
    serialized["compile_config"] = _compile_config(model)
    return serialized


def deserialize_model(config, custom_objects=None):
    """A model (without its weights) from a ``config.json`` dict; compiled if it has a ``compile_config``."""
    class_name = config.get("class_name")
    if class_name == "Sequential":
        model = sequential_from_config(config["config"], custom_objects, cls=Sequential)
        build_config = config.get("build_config") or {}
        if not model.built and build_config.get("input_shape"):
            model.build(tuple(build_config["input_shape"]))
    elif class_name in ("Functional", "Model"):
        model = functional_from_config(config["config"], custom_objects, cls=Model)
    else:
        raise NotImplementedError(
            f"The model class `{class_name}` is not supported: fastconv rebuilds `Sequential` and functional "
            "(`keras.Model(inputs, outputs)`) models; subclassed models cannot be rebuilt from a config.")
    compile_config = config.get("compile_config")
    if compile_config:
        _compile_from_config(model, compile_config)
    return model


def sequential_config(model):
    """Keras's ``Sequential.get_config()``: name, trainable, dtype, the layers (``InputLayer`` first)."""
    layers = [_serialize_layer(layer) for layer in _all_sequential_layers(model)]
    config = {"name": model.name, "trainable": model.trainable, "dtype": dict(_FLOAT32_POLICY), "layers": layers}
    if model.built:
        config["build_input_shape"] = list(model._input_layer.batch_shape)
    return config


def sequential_from_config(config, custom_objects=None, cls=None):
    """The inverse of :func:`sequential_config` (and of Keras's ``Sequential.get_config``)."""
    cls = cls or Sequential
    if "dtype" in config and _dtype_name(config["dtype"]) != "float32":
        raise NotImplementedError(f"fastconv models compute in float32. Received: dtype={config['dtype']!r}")
    model = cls(name=config["name"], trainable=config.get("trainable", True))
    for layer_config in config["layers"]:
        model.add(_deserialize_layer(layer_config, custom_objects))
    build_input_shape = config.get("build_input_shape")
    if not model.built and build_input_shape:
        model.build(tuple(build_input_shape))
    return model


def functional_config(model):
    """Keras's ``Functional.get_config()``: each layer with its inbound nodes, and the graph's ends."""
    layers = model.layers
    nodes = {id(node) for node in model._nodes} | {id(t.node) for t in model.inputs}
    node_index = {}  # id(node) -> its index among its layer's nodes in this model, as Keras renumbers them
    for layer in layers:
        for index, node in enumerate(n for n in layer._inbound_nodes if id(n) in nodes):
            node_index[id(node)] = index

    def history(tensor):
        return [tensor.node.layer.name, node_index[id(tensor.node)], 0]

    layer_configs = []
    for layer in layers:
        serialized = _serialize_layer(layer)
        serialized["name"] = layer.name
        serialized["inbound_nodes"] = [
            {"args": [{"class_name": "__keras_tensor__",
                       "config": {"shape": list(node.inputs.shape), "dtype": "float32",
                                  "keras_history": history(node.inputs)}}],
             "kwargs": {}}
            for node in layer._inbound_nodes if id(node) in nodes and node.inputs is not None]
        layer_configs.append(serialized)
    outputs = [history(t) for t in model.outputs]
    return {"name": model.name, "trainable": model.trainable, "layers": layer_configs,
            "input_layers": history(model.inputs[0]),
            "output_layers": outputs[0] if model._single_output else outputs}


def functional_from_config(config, custom_objects=None, cls=None):
    """The inverse of :func:`functional_config` (and of Keras's ``Functional.get_config``).

    Layers are created in the config's order; their calls are replayed as soon
    as their inputs exist, as Keras does, so shared layers work.
    """
    cls = cls or Model
    created = {}
    pending = []  # [layer, [node data, ...]] in the config's order
    for layer_data in config["layers"]:
        layer = _deserialize_layer(layer_data, custom_objects)
        created[layer_data["name"]] = layer
        nodes = layer_data.get("inbound_nodes", [])
        if isinstance(layer, InputLayer):
            continue
        pending.append([layer, list(nodes)])

    def tensor(history):
        name, node_index, tensor_index = history
        if name not in created:
            raise ValueError(f"The layer '{name}' is used as an input but is not among the model's layers.")
        if tensor_index != 0:
            raise NotImplementedError(f"Layers with several outputs are not supported. Received: keras_history="
                                      f"{history}")
        layer = created[name]
        if node_index >= len(layer._inbound_nodes):
            return None  # not called yet: try again on the next pass
        return layer._inbound_nodes[node_index].output

    while any(nodes for _, nodes in pending):
        progress = False
        for entry in pending:
            layer, nodes = entry
            while nodes:
                inputs = tensor(_node_input_history(layer, nodes[0]))
                if inputs is None:
                    break
                layer(inputs)
                nodes.pop(0)
                progress = True
        if not progress:
            unresolved = [layer.name for layer, nodes in pending if nodes]
            raise ValueError("Invalid Functional model configuration. The graph either has loops or disconnected "
                             f"nodes. The following layers' calls could not be resolved: {unresolved}")

    def tensors(ends):
        if isinstance(ends, list) and len(ends) == 3 and isinstance(ends[0], str):
            return tensor(ends)
        return [tensors(end) for end in ends]

    return cls(inputs=tensors(config["input_layers"]), outputs=tensors(config["output_layers"]),
               name=config.get("name"), trainable=config.get("trainable", True))


def _all_sequential_layers(model):
    return ([model._input_layer] if model._input_layer is not None else []) + list(model.layers)


def _node_input_history(layer, node_data):
    """The ``keras_history`` of a serialized layer call's single input; anything else is refused."""
    if not isinstance(node_data, dict) or "args" not in node_data:
        raise NotImplementedError(
            f"The inbound nodes of layer '{layer.name}' are in the Keras 2 (tf.keras) format; fastconv reads "
            "Keras 3 `.keras` files. Load the model in Keras 3 and save it again.")
    args = node_data["args"]
    if len(args) == 1 and isinstance(args[0], list) and len(args[0]) == 1:
        args = args[0]
    if len(args) != 1 or not isinstance(args[0], dict) or args[0].get("class_name") != "__keras_tensor__":
        raise NotImplementedError(f"Layer '{layer.name}' is called on {len(args)} inputs or on a non-tensor "
                                  "argument; fastconv layers take a single tensor.")
    for key, value in node_data.get("kwargs", {}).items():
        if value is not None and not (key == "training" and value is False):
            raise NotImplementedError(f"Layer '{layer.name}' is called with the argument `{key}`={value!r}, which "
                                      "fastconv does not support.")
    return args[0]["config"]["keras_history"]


def _serialize_layer(layer):
    """Keras's serialized layer: module, class name, config (and the build input shape where Keras writes one)."""
    config = layer.get_config()
    class_name = type(layer).__name__
    serialized = {"module": "keras.layers", "class_name": class_name, "config": config, "registered_name": None}
    if class_name in _LAYERS_WITH_BUILD_CONFIG and layer._build_input_shape is not None:
        serialized["build_config"] = {"input_shape": list(layer._build_input_shape)}
    return serialized


def _deserialize_layer(layer_data, custom_objects):
    """A layer from Keras's serialized form, accepting the keys newer Keras releases add at their "off" values."""
    class_name = layer_data.get("class_name")
    config = dict(layer_data.get("config") or {})
    name = config.get("name", layer_data.get("name"))
    custom_objects = custom_objects or {}
    cls = custom_objects.get(class_name)
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


# -- compile config ------------------------------------------------------------------------------------------


def _compile_config(model):
    """Keras's ``get_compile_config()``: ``{}`` for a model that was never compiled."""
    if not getattr(model, "compiled", False):
        return {}
    return {
        "optimizer": optimizers.serialize(model.optimizer),
        "loss": _loss_identifier(model.loss),
        "loss_weights": None,
        "metrics": [_metric_identifier(m) for m in model._metric_identifiers] or None,
        "weighted_metrics": None,
        "run_eagerly": False,
        "steps_per_execution": 1,
        "jit_compile": False,
    }


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


def _compile_from_config(model, config):
    optimizer = config.get("optimizer")
    optimizer = optimizers.deserialize(optimizer) if isinstance(optimizer, dict) else optimizers.get(optimizer)
    model.compile(optimizer=optimizer, loss=config.get("loss"), loss_weights=config.get("loss_weights"),
                  metrics=config.get("metrics"), weighted_metrics=config.get("weighted_metrics"))
    if model.built:
        model.optimizer.build(model.trainable_weights)


# -- weights (model.weights.h5) --------------------------------------------------------------------------------


def weight_keys(model):
    """``[(key, layer)]``: each layer's group key in the weights file (``"conv2d_1"``), in Keras's order.

    >>> from fastconv import layers
    >>> model = Sequential([layers.Dense(4, input_shape=(3,)), layers.Dense(2), layers.Flatten()])
    >>> [key for key, _ in weight_keys(model)]
    ['dense', 'dense_1', 'flatten']
    """
    counts, keys = {}, []
    for layer in model.layers:
        base = to_snake_case(type(layer).__name__)
        count = counts.get(base)
        counts[base] = 0 if count is None else count + 1
        keys.append((base if count is None else f"{base}_{count + 1}", layer))
    return keys


def _weights_h5_bytes(model):
    buffer = io.BytesIO()
    with h5py.File(buffer, "w") as h5:
        _write_h5(model, h5)
    return buffer.getvalue()


def _write_h5(model, h5):
    layers_group = h5.create_group("layers")
    for key, layer in weight_keys(model):
        variables = layers_group.create_group(key).create_group("vars")
        variables.attrs["name"] = layer.name
        for i, variable in enumerate(layer.weights):
            variables[str(i)] = variable.numpy()
    optimizer = getattr(model, "optimizer", None)
    if optimizer is not None:
        variables = h5.create_group("optimizer").create_group("vars")
        variables.attrs["name"] = optimizer.name
        for i, variable in enumerate(optimizer.variables):
            variables[str(i)] = variable.numpy()
    h5.create_group("vars").attrs["name"] = model.name


def _load_h5(model, h5, source, load_optimizer=True, skip_mismatch=False):
    """Check every array of ``h5`` against ``model``, then assign them all (nothing is assigned on an error)."""
    assignments, problems = [], []
    stored_layers = set(h5["layers"].keys()) if "layers" in h5 else set()
    for key, layer in weight_keys(model):
        stored_layers.discard(key)
        stored = _vars_group(h5, f"layers/{key}")
        variables = layer.weights
        if len(stored) != len(variables):
            problems.append(f"layer '{layer.name}' (group `layers/{key}`) expected {len(variables)} variables "
                            f"{[v.name for v in variables]}, but the file has {len(stored)}")
            continue
        layer_assignments, layer_problems = _match_arrays(stored, variables, f"layer '{layer.name}' (group "
                                                                             f"`layers/{key}`)")
        problems.extend(layer_problems)
        if not layer_problems:
            assignments.extend(layer_assignments)
    stored_layers = {key for key in stored_layers if _vars_group(h5, f"layers/{key}")}  # empty groups: no state
    if stored_layers:
        problems.append(f"the file has weights for layers the model does not have: groups "
                        f"{sorted(f'layers/{key}' for key in stored_layers)}")
    optimizer = getattr(model, "optimizer", None)
    if load_optimizer and optimizer is not None and "optimizer" in h5:
        stored = _vars_group(h5, "optimizer")
        variables = optimizer.variables
        if len(stored) != len(variables):
            message = (f"Skipping variable loading for optimizer '{optimizer.name}', because it has "
                       f"{len(variables)} variables whereas the saved optimizer has {len(stored)} variables. ")
            if len(variables) == 2:
                message += "This is likely because the optimizer has not been called/built yet."
            warnings.warn(message, stacklevel=3)
        else:
            optimizer_assignments, optimizer_problems = _match_arrays(stored, variables,
                                                                      f"optimizer '{optimizer.name}'")
            problems.extend(optimizer_problems)
            assignments.extend(optimizer_assignments)
    if problems:
        message = f"Cannot load weights from {source}: " + "; ".join(problems) + "."
        if not skip_mismatch:
            raise ValueError(message)
        warnings.warn(message + " Skipped (skip_mismatch=True).", stacklevel=3)
    for variable, array in assignments:
        variable.assign(array.astype(variable.dtype, copy=False))


def _vars_group(h5, path):
    """The datasets of ``<path>/vars`` as ``{"0": array, ...}`` (empty when the group is absent)."""
    full = f"{path}/vars" if path else "vars"
    if full not in h5:
        return {}
    group = h5[full]
    if not isinstance(group, h5py.Group):
        raise ValueError(f"`{full}` in the weights file is not an HDF5 group.")
    return {name: np.asarray(dataset[()]) for name, dataset in group.items() if isinstance(dataset, h5py.Dataset)}


def _match_arrays(stored, variables, owner):
    assignments, problems = [], []
    for i, variable in enumerate(variables):
        array = stored.get(str(i))
        if array is None:
            problems.append(f"{owner} has no variable `{i}` in the file")
        elif array.shape != variable.shape:
            problems.append(f"{owner} variable {i} ('{variable.name}') has shape {variable.shape} in the model but "
                            f"{array.shape} in the file")
        else:
            assignments.append((variable, array))
    return assignments, problems


# -- files -------------------------------------------------------------------------------------------------


def _atomic_write(filepath, write, overwrite):
    """Call ``write(file)`` on a new file beside ``filepath``, fsync it, then rename it over ``filepath``."""
    if not overwrite and os.path.exists(filepath):
        raise FileExistsError(f"File {filepath} already exists and overwrite=False. Pass overwrite=True to "
                              "replace it.")
    directory = os.path.dirname(os.path.abspath(filepath))
    temporary = os.path.join(directory, f".{os.path.basename(filepath)}.{uuid.uuid4().hex[:12]}.tmp")
    # os.open with mode 0o666 lets the umask set the final file's permissions, as a plain open() would.
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    try:
        with os.fdopen(descriptor, "wb") as file:
            write(file)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, filepath)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
    with contextlib.suppress(OSError):  # make the rename itself durable; not possible on every platform
        directory_descriptor = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(directory_descriptor)
        finally:
            os.close(directory_descriptor)


@contextlib.contextmanager
def _open_archive(filepath):
    try:
        archive = zipfile.ZipFile(filepath, "r")
    except zipfile.BadZipFile as error:
        raise ValueError(f"Cannot load {filepath}: it is not a `.keras` file (not a zip archive: {error}).") from error
    with archive:
        yield archive


def _read_json_member(archive, filepath, member):
    if member not in archive.namelist():
        raise ValueError(f"Cannot load {filepath}: the archive has no `{member}` (a `.keras` file holds "
                         f"`{_METADATA_FILENAME}`, `{_CONFIG_FILENAME}` and `{_WEIGHTS_FILENAME}`).")
    try:
        return json.loads(archive.read(member))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ValueError(f"Cannot load {filepath}: `{member}` is not valid JSON ({error}).") from error


@contextlib.contextmanager
def _open_weights_member(archive, filepath):
    if _WEIGHTS_FILENAME not in archive.namelist():
        raise ValueError(f"Cannot load {filepath}: the archive has no `{_WEIGHTS_FILENAME}` (a `.keras` file holds "
                         f"`{_METADATA_FILENAME}`, `{_CONFIG_FILENAME}` and `{_WEIGHTS_FILENAME}`).")
    try:
        h5 = h5py.File(io.BytesIO(archive.read(_WEIGHTS_FILENAME)), "r")
    except OSError as error:
        raise ValueError(f"Cannot load {filepath}: `{_WEIGHTS_FILENAME}` is not an HDF5 file ({error}).") from error
    with h5:
        yield h5


def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"Cannot write {value!r} (of type {type(value).__name__}) to config.json.")
