"""Legacy HDF5 model files (Keras 2 / tf.keras ``.h5``), read and written as Keras 3 reads and writes them.

``load_model("x.h5")`` rebuilds a model from a file that tf.keras 2, standalone
Keras 2 or Keras 3 wrote with ``model.save("x.h5")``; ``model.save("x.h5")``
writes one that Keras 3 (``keras.src.legacy.saving.legacy_h5_format``) reads;
``model.load_weights("x.h5")`` loads the weights of a whole-model file, or of a
Keras 2 ``save_weights("x.h5")`` file. ``save_weights("x.h5")`` is refused by
``fastconv.saving``, as in Keras 3 (the name must end in ``.weights.h5``).

The layout::

    attributes      keras_version, backend: strings
                    model_config: JSON {"class_name": "Sequential" | "Functional" | "Model", "config": ...}
                    training_config: JSON (compiled models only): loss, metrics, loss_weights,
                        weighted_metrics, ..., optimizer_config {"class_name", "config"}
    model_weights/  attribute layer_names: every layer of ``model.layers``, in order
      <layer name>/ attribute weight_names: the paths of its datasets, trainable weights first
        <path>      e.g. ``conv2d/kernel:0`` (Keras 2) or ``sequential/conv2d/kernel`` (Keras 3)
      top_level_model_weights/   (Keras 3) the model's own weights: none
    optimizer_weights/           attribute weight_names: the optimizer's variables, in its order

fastconv writes ``backend`` as ``"fastconv"`` (Keras never reads it back) and
adds a ``saved_by`` attribute, as in its ``.keras`` files.

A Keras 2 ``save_weights("x.h5")`` file holds what ``model_weights`` holds at
its root. Name lists longer than an HDF5 object header allows (64512 bytes)
are split into ``layer_names0``, ``layer_names1``, ... (read and written).

Weights go to layers by position, as Keras's loader does: the layers that
have weights, in ``model.layers`` order, take the file's layers that have
weights, in ``layer_names`` order (``load_model`` pairs them by name when the
orders disagree, since its model was built from the file's own config).
Everything is read and checked before anything is assigned; a count or
shape that does not fit raises ``ValueError`` naming the file and the layer.
The optimizer's state is restored when the file holds exactly the variables
of the compiled optimizer (a Keras 3 or fastconv file), or the two of an
optimizer that was never built (its iteration count and learning rate);
otherwise (a Keras 2 optimizer, whose variables differ) the optimizer starts
afresh with Keras's warning, and unlike Keras nothing of it is half-assigned.

Keras 2 configs differ from Keras 3's; :func:`keras3_model_config` and
:func:`keras3_compile_config` convert what has a Keras 3 meaning: a layer's
``batch_input_shape`` (an ``InputLayer``'s ``batch_shape``; on the first layer
of a ``Sequential`` it makes the input, which Keras 3 itself gets wrong),
``axis`` lists, initializers without ``module`` (and ``VarianceScaling``'s
``"normal"``), Keras 2's ``inbound_nodes`` lists, one-element
``input_layers``/``output_layers`` lists, the class name ``Model``; optimizer
configs with ``lr``, ``decay``, ``jit_compile``, ``is_legacy_optimizer`` and
tf.keras 2.11's ``Custom>`` names; losses with ``reduction="auto"``; metrics
nested per output. What fastconv lacks raises ``NotImplementedError`` naming
it: files of Keras 1, layers, activations, initializers and arguments it does
not have (constraints, ``Lambda``, ...), ``sample_weight_mode``, and Keras 2's
``hard_sigmoid``, whose formula Keras 3 changed.

Not here: the ``.keras`` archive and ``.weights.h5`` (``fastconv.saving``), the
model classes (``load_model`` takes a ``build(config)`` function from
``fastconv.models``, as ``fastconv.saving.load_model_file`` does), loading by
name (``by_name=True``) and ``include_optimizer=False`` through ``Model.save``.
"""

import contextlib
import io
import json
import os
import warnings

import h5py
import numpy as np

import fastconv
from fastconv import activations, initializers
from fastconv.files import atomic_write
from fastconv.saving import KERAS_FORMAT_VERSION, rebuild

HDF5_OBJECT_HEADER_LIMIT = 64512
"""Bytes an HDF5 attribute may hold; longer name lists are split into numbered attributes, as Keras does."""

BACKEND = "fastconv"
"""What fastconv writes as the file's ``backend`` (Keras writes its backend's name and never reads it back)."""

LEGACY_FORMAT_WARNING = (
    "You are saving your model as an HDF5 file via `model.save()` or `keras.saving.save_model(model)`. This file "
    "format is considered legacy. We recommend using instead the native Keras format, e.g. "
    "`model.save('my_model.keras')` or `keras.saving.save_model(model, 'my_model.keras')`.")
"""Keras 3's warning on every ``.h5`` save (Keras logs it; fastconv warns with ``UserWarning``)."""

NO_TRAINING_CONFIG_WARNING = ("No training configuration found in the save file, so the model was *not* compiled. "
                              "Compile it manually.")
OPTIMIZER_STATE_WARNING = ("Error in loading the saved optimizer state. As a result, your model is starting with a "
                           "freshly initialized optimizer.")

# What h5py raises for a file that is damaged or not in Keras's layout (our own checks raise ValueError).
_DAMAGED = (OSError, KeyError, TypeError, RuntimeError, AttributeError, UnicodeDecodeError)

# The dtype kinds a weight is loaded from: booleans, integers and floats.
_NUMBERS = "biuf"

# Keys a legacy file's layer entry has beyond Keras 3's serialized layer, and keys of Keras 3's that a legacy
# file leaves out (Keras's legacy serializer writes class_name and config, plus name and nodes in a graph).
_NOT_IN_LEGACY_LAYERS = ("module", "registered_name", "build_config")

# Optimizer config keys of tf.keras 2.11-2.15 that mean nothing to Keras 3.
_KERAS2_OPTIMIZER_KEYS = ("jit_compile", "is_legacy_optimizer")


# -- public API -------------------------------------------------------------------------------------------


def save_model(model, filepath, overwrite=True, include_optimizer=True):
    """Write ``model`` to a legacy HDF5 file that Keras 3's ``load_model`` reads, atomically.

    The file holds the architecture (``model_config``), the weights
    (``model_weights``) and, for a compiled model with ``include_optimizer``,
    the compile arguments (``training_config``) and the optimizer's variables
    (``optimizer_weights``). Warns with Keras's text that the format is legacy.

    Parameters
    ----------
    model : Model or Sequential
    filepath : str or os.PathLike
        Usually ending in ``.h5`` or ``.hdf5``.
    overwrite : bool
        With ``False``, an existing file raises ``FileExistsError``.
    include_optimizer : bool
        Write the compile arguments and the optimizer's state.

    Examples
    --------
    >>> import os, tempfile, warnings
    >>> from fastconv import layers, models
    >>> model = models.Sequential([layers.Dense(2, input_shape=(3,))])
    >>> with tempfile.TemporaryDirectory() as directory, warnings.catch_warnings():
    ...     warnings.simplefilter("ignore")  # Keras's advice to prefer `.keras`
    ...     save_model(model, os.path.join(directory, "model.h5"))
    ...     restored = models.load_model(os.path.join(directory, "model.h5"))
    >>> [w.shape for w in restored.weights]
    [(3, 2), (2,)]
    """
    filepath = os.fspath(filepath)
    warnings.warn(LEGACY_FORMAT_WARNING, stacklevel=4)
    serialized = json.loads(model.to_json())
    model_config = {"class_name": serialized["class_name"], "config": _legacy_model_config(serialized["config"])}
    optimizer = getattr(model, "optimizer", None) if include_optimizer else None
    buffer = io.BytesIO()
    with h5py.File(buffer, "w") as h5:
        h5.attrs["keras_version"] = KERAS_FORMAT_VERSION
        h5.attrs["backend"] = BACKEND
        h5.attrs["saved_by"] = f"fastconv {fastconv.__version__}"
        h5.attrs["model_config"] = json.dumps(model_config).encode("utf8")
        if optimizer is not None and getattr(model, "compiled", False):
            h5.attrs["training_config"] = json.dumps(_training_config(serialized["compile_config"])).encode("utf8")
        _write_model_weights(h5.create_group("model_weights"), model)
        if optimizer is not None and optimizer.variables:
            group = h5.create_group("optimizer_weights")
            _write_variables(group, optimizer.variables)
    with atomic_write(filepath, overwrite) as file:
        file.write(buffer.getvalue())


def load_model(filepath, build, compile=True):
    """The model a legacy HDF5 file describes, with its weights and, with ``compile``, its optimizer state.

    ``build(config)`` makes an uncompiled model of a Keras 3 serialized model
    (``{"class_name", "config"}``); ``fastconv.models.load_model`` passes it.

    Raises
    ------
    ValueError
        The file is missing, not an HDF5 file, damaged, has no ``model_config``
        (a weights-only file), or its weights do not fit the model it
        describes; the message names the file.
    NotImplementedError
        The file uses a layer, argument, optimizer or loss fastconv does not
        support; the message names the file and what is missing.
    """
    filepath = os.fspath(filepath)
    with _open(filepath) as h5:
        model_config = _json_attribute(h5, "model_config", filepath)
        if model_config is None:
            raise ValueError(f"No model config found in the file at {filepath}. It may hold weights only: build the "
                             "model and load them with `model.load_weights`.")
        _refuse_keras_1(h5, filepath)
        _refuse_keras_2_hard_sigmoid(h5, model_config, filepath)
        training_config = _json_attribute(h5, "training_config", filepath) if compile else None
        model = rebuild(lambda: build(keras3_model_config(model_config)), filepath)
        if "model_weights" not in h5:
            raise ValueError(f"Cannot load {filepath}: the file has a `model_config` but no `model_weights` group.")
        _load_weights_group(model, _group(h5, "model_weights", filepath), filepath, prefer_names=True)
        if not compile:
            return model
        if training_config is None:
            warnings.warn(NO_TRAINING_CONFIG_WARNING, stacklevel=4)
            return model
        compile_config = rebuild(lambda: keras3_compile_config(training_config), filepath)
        if compile_config["loss"] is None:
            warnings.warn(f"The training configuration of {filepath} has no loss, so the model was *not* compiled. "
                          "Compile it manually.", stacklevel=4)
            return model
        rebuild(lambda: model.compile_from_config(compile_config), filepath)
        if "optimizer_weights" in h5:
            _load_optimizer_weights(model.optimizer, _group(h5, "optimizer_weights", filepath), filepath)
    return model


def load_weights(model, filepath, skip_mismatch=False):
    """Load the weights of a legacy HDF5 file (a whole model, or Keras 2's ``save_weights``) into ``model``.

    Layers are matched by position (see the module docstring), not by name.
    A count that does not fit raises ``ValueError``; a shape that does not fit
    raises too, or with ``skip_mismatch`` warns and leaves that layer as it
    was. Nothing is assigned until everything has been read and checked.
    """
    filepath = os.fspath(filepath)
    with _open(filepath) as h5:
        group = h5
        if "layer_names" not in h5.attrs and "layer_names0" not in h5.attrs and "model_weights" in h5:
            group = _group(h5, "model_weights", filepath)
        elif "layers" in h5 and "vars" in h5:
            raise ValueError(f"Cannot load weights from {filepath}: it is a Keras 3 weights file (groups `layers/` "
                             "and `vars/`), not a legacy one; name it `*.weights.h5` to load it.")
        _load_weights_group(model, group, filepath, skip_mismatch=skip_mismatch)


# -- Keras 2 configs to Keras 3's ----------------------------------------------------------------------------


def keras3_model_config(model_config):
    """The Keras 3 serialized model (``{"class_name", "config"}``) of a legacy file's ``model_config``.

    Keras 3's own legacy configs pass through; Keras 2's are converted where
    the formats differ (see the module docstring). Whatever fastconv cannot
    build is left for the model's deserialization to refuse by name.

    >>> config = keras3_model_config({"class_name": "Model", "config": {
    ...     "name": "model", "input_layers": [["input_1", 0, 0]], "output_layers": [["dense", 0, 0]],
    ...     "layers": [
    ...         {"class_name": "InputLayer", "name": "input_1", "inbound_nodes": [],
    ...          "config": {"name": "input_1", "batch_input_shape": [None, 3], "dtype": "float32"}},
    ...         {"class_name": "Dense", "name": "dense", "inbound_nodes": [[["input_1", 0, 0, {}]]],
    ...          "config": {"name": "dense", "units": 2, "dtype": "float32"}}]}})
    >>> config["class_name"], config["config"]["output_layers"]
    ('Functional', ['dense', 0, 0])
    >>> config["config"]["layers"][0]["config"]["batch_shape"]
    [None, 3]
    >>> config["config"]["layers"][1]["inbound_nodes"][0]["args"][0]["config"]["keras_history"]
    ['input_1', 0, 0]
    """
    if not isinstance(model_config, dict) or "class_name" not in model_config or "config" not in model_config:
        raise ValueError("`model_config` is not a Keras model config: expected a JSON object with `class_name` and "
                         f"`config`. Received: {str(model_config)[:200]}")
    class_name, config = model_config["class_name"], model_config["config"]
    if class_name == "Sequential":
        if isinstance(config, list):  # Keras <= 2.2.4 wrote a Sequential's layer list alone
            config = {"name": None, "layers": config}
        config = {**config, "layers": [_keras3_layer(layer) for layer in config["layers"]]}
    elif class_name in ("Functional", "Model"):
        config = {**config, "layers": [_keras3_layer(layer) for layer in config["layers"]],
                  "input_layers": _one_end(config["input_layers"]),
                  "output_layers": _one_end(config["output_layers"])}
        class_name = "Functional"
    return {"class_name": class_name, "config": config}


def keras3_compile_config(training_config):
    """The ``compile_from_config`` dict of a legacy file's ``training_config`` (Keras 2's or Keras 3's).

    >>> keras3_compile_config({"loss": "mse", "metrics": [["accuracy"]], "loss_weights": None,
    ...                        "optimizer_config": {"class_name": "Adam", "config": {
    ...                            "name": "Adam", "lr": 0.01, "decay": 0.0, "beta_1": 0.9}}})["optimizer"]
    {'class_name': 'Adam', 'config': {'name': 'Adam', 'beta_1': 0.9, 'learning_rate': 0.01}}
    """
    if not isinstance(training_config, dict) or not isinstance(training_config.get("optimizer_config"), dict):
        raise ValueError("`training_config` is not a Keras training config: it has no `optimizer_config`.")
    sample_weight_mode = training_config.get("sample_weight_mode")
    if sample_weight_mode is not None:
        raise NotImplementedError("fastconv does not support Keras 2's `sample_weight_mode`. Received: "
                                  f"sample_weight_mode={sample_weight_mode!r}")
    return {
        "optimizer": _keras3_optimizer(training_config["optimizer_config"]),
        "loss": _keras3_loss(_one_output(training_config.get("loss"))),
        "metrics": _keras3_metrics(training_config.get("metrics")),
        "weighted_metrics": _keras3_metrics(training_config.get("weighted_metrics")),
        "loss_weights": training_config.get("loss_weights"),
    }


def _keras3_layer(layer_data):
    class_name = layer_data["class_name"]
    config = dict(layer_data["config"])
    name = config.get("name", layer_data.get("name"))
    if class_name == "InputLayer" and "batch_input_shape" in config:
        config["batch_shape"] = config.pop("batch_input_shape")
    axis = config.get("axis")
    if isinstance(axis, list) and len(axis) == 1:  # Keras 2's BatchNormalization wrote [3]
        config["axis"] = int(axis[0])
    elif isinstance(axis, float):
        config["axis"] = int(axis)
    for key, value in config.items():
        if key.endswith("_initializer") and value is not None:
            config[key] = _keras3_initializer(value, f"{class_name}.{key} of layer '{name}'")
    activation = config.get("activation")
    if isinstance(activation, str):
        try:
            activations.get(activation)
        except ValueError:
            raise NotImplementedError(f"The activation `{activation}` (layer '{name}') is not supported by fastconv "
                                      "yet.") from None
    layer = {**layer_data, "config": config}
    if layer_data.get("inbound_nodes") is not None:
        layer["inbound_nodes"] = [_keras3_node(node, name) for node in layer_data["inbound_nodes"]]
    return layer


def _keras3_initializer(value, where):
    class_name = value.get("class_name") if isinstance(value, dict) else value
    try:
        initializers.get(class_name)
    except (ValueError, TypeError):
        raise NotImplementedError(f"The initializer `{class_name}` ({where}) is not supported by fastconv "
                                  "yet.") from None
    if isinstance(value, dict) and class_name == "VarianceScaling":
        config = dict(value.get("config") or {})
        if config.get("distribution") == "normal":  # Keras 2.0's name of the truncated normal
            config["distribution"] = "truncated_normal"
        value = {**value, "config": config}
    return value


def _keras3_node(node, layer_name):
    """A Keras 3 node (``{"args", "kwargs"}``) of a Keras 2 one: ``[[inbound layer, node, tensor, kwargs], ...]``."""
    if isinstance(node, dict):
        return node
    tensors, kwargs = [], {}
    for entry in node:
        if not (isinstance(entry, list) and len(entry) in (3, 4) and isinstance(entry[0], str)):
            raise ValueError(f"The inbound nodes of layer '{layer_name}' are not in Keras's format. Received: "
                             f"{node!r}")
        tensors.append({"class_name": "__keras_tensor__",
                        "config": {"shape": None, "dtype": "float32", "keras_history": list(entry[:3])}})
        if len(entry) == 4:
            kwargs = entry[3] or {}
    return {"args": tensors if len(tensors) == 1 else [tensors], "kwargs": kwargs}


def _is_history(value):
    return isinstance(value, list) and len(value) == 3 and isinstance(value[0], str)


def _one_end(ends):
    """Keras 2 listed even a single input or output (``[["dense", 0, 0]]``); Keras 3 writes it bare."""
    return ends[0] if isinstance(ends, list) and len(ends) == 1 and _is_history(ends[0]) else ends


def _one_output(value):
    """A per-output list or dict of one item (Keras 2's ``[loss]``, ``{"dense": loss}``) as the item."""
    if isinstance(value, list) and len(value) == 1:
        return value[0]
    if isinstance(value, dict) and "class_name" not in value and len(value) == 1:
        return next(iter(value.values()))
    return value


def _keras3_optimizer(optimizer_config):
    class_name = optimizer_config["class_name"]
    if class_name.startswith("Custom>"):  # tf.keras 2.11-2.15 registered its optimizers in the "Custom" package
        class_name = class_name[len("Custom>"):]
    config = dict(optimizer_config.get("config") or {})
    for key in _KERAS2_OPTIMIZER_KEYS:
        config.pop(key, None)
    if "lr" in config and "learning_rate" not in config:  # Keras < 2.3
        config["learning_rate"] = config.pop("lr")
    if config.get("decay", None) == 0:  # Keras 2's "no decay", which Keras 3 would warn about needlessly
        del config["decay"]
    if isinstance(config.get("learning_rate"), int) and not isinstance(config["learning_rate"], bool):
        config["learning_rate"] = float(config["learning_rate"])
    return {"class_name": class_name, "config": config}


def _keras3_loss(loss):
    if isinstance(loss, dict) and isinstance(loss.get("config"), dict) and loss["config"].get("reduction") == "auto":
        # Keras 2's "auto" is "sum_over_batch_size" outside distribution strategies; Keras 3 refuses the name.
        loss = {**loss, "config": {**loss["config"], "reduction": "sum_over_batch_size"}}
    return loss


def _keras3_metrics(metrics):
    metrics = _one_output(metrics) if isinstance(metrics, dict) else metrics
    if isinstance(metrics, list) and len(metrics) == 1 and isinstance(metrics[0], list):
        metrics = metrics[0]  # tf.keras 2 nested the metrics per output
    return metrics or None


# -- Keras 3's model to a legacy file --------------------------------------------------------------------------


def _legacy_model_config(config):
    """A model's config as Keras's legacy serializer writes it: layers without ``module``, ``build_config``."""
    layers = [{key: value for key, value in layer.items() if key not in _NOT_IN_LEGACY_LAYERS}
              for layer in config["layers"]]
    return {**config, "layers": layers}


def _training_config(compile_config):
    """Keras's ``training_config``: the compile config with ``optimizer_config`` for its optimizer."""
    training_config = {key: value for key, value in compile_config.items() if key != "optimizer"}
    optimizer = compile_config["optimizer"]
    training_config["optimizer_config"] = {"class_name": optimizer["class_name"], "config": optimizer["config"]}
    return training_config


def _write_model_weights(group, model):
    _write_names(group, "layer_names", [layer.name.encode("utf8") for layer in model.layers])
    group.attrs["backend"] = BACKEND
    group.attrs["keras_version"] = KERAS_FORMAT_VERSION
    for layer in sorted(model.layers, key=lambda layer: layer.name):  # Keras sorts them: no name prefixes another
        _write_variables(group.create_group(layer.name), _legacy_weights(layer))
    _write_variables(group.create_group("top_level_model_weights"), [])


def _write_variables(group, variables):
    names, used = [], set()
    for i, variable in enumerate(variables):
        name = str(variable.path)
        if name in used or any(part in ("", ".", "..") for part in name.split("/")):
            name = f"{name.replace('/', '_')}_{i}"
        used.add(name)
        names.append(name.encode("utf8"))
        group.create_dataset(name, data=variable.numpy())
    _write_names(group, "weight_names", names)


def _write_names(group, name, names):
    """``group.attrs[name] = names``, split into ``name0``, ``name1``, ... where one attribute cannot hold them."""
    too_long = [n for n in names if len(n) > HDF5_OBJECT_HEADER_LIMIT]
    if too_long:
        raise ValueError(f"Names longer than {HDF5_OBJECT_HEADER_LIMIT} bytes cannot be saved to HDF5: {too_long}")
    array = np.asarray(names)
    chunks = 1
    while any(part.nbytes > HDF5_OBJECT_HEADER_LIMIT for part in np.array_split(array, chunks)):
        chunks += 1
    if chunks == 1:
        group.attrs[name] = names
    else:
        for i, part in enumerate(np.array_split(array, chunks)):
            group.attrs[f"{name}{i}"] = part


def _legacy_weights(layer):
    """A layer's weights in the order legacy files keep them: trainable ones first (as ``get_weights`` once did)."""
    return list(layer.trainable_weights) + list(layer.non_trainable_weights)


# -- reading ---------------------------------------------------------------------------------------------------


@contextlib.contextmanager
def _open(filepath):
    if not os.path.isfile(filepath):
        raise ValueError(f"File not found: filepath={filepath}. Please ensure the file is an accessible HDF5 file.")
    try:
        h5 = h5py.File(filepath, "r")
    except PermissionError:
        raise
    except (OSError, ValueError) as error:
        raise ValueError(f"Cannot load {filepath}: it is not an HDF5 file, or a damaged one ({error}).") from error
    with h5:
        try:
            yield h5
        except NotImplementedError:  # a RuntimeError, but a refusal rather than damage
            raise
        except _DAMAGED as error:
            raise ValueError(f"Cannot load {filepath}: the file is damaged or not in Keras's HDF5 layout "
                             f"({type(error).__name__}: {error}).") from error


def _text(value):
    if isinstance(value, np.ndarray) and value.shape == ():
        value = value[()]
    return value.decode("utf8") if isinstance(value, (bytes, np.bytes_)) else value


def _json_attribute(h5, name, filepath):
    """The JSON of a file attribute (``str`` or ``bytes``), ``None`` when absent."""
    if name not in h5.attrs:
        return None
    text = _text(h5.attrs[name])
    if not isinstance(text, str):
        raise ValueError(f"Cannot load {filepath}: the `{name}` attribute is not a JSON string.")
    try:
        return json.loads(text, object_hook=_plain_json)
    except json.JSONDecodeError as error:
        raise ValueError(f"Cannot load {filepath}: the `{name}` attribute is not valid JSON ({error}).") from error


def _plain_json(obj):
    """Keras's JSON encoding of tuples and TensorShapes (``{"class_name": "__tuple__", "items": ...}``) as lists."""
    if obj.get("class_name") in ("__tuple__", "TensorShape") and "items" in obj:
        return None if obj["items"] is None else list(obj["items"])
    return obj


def _refuse_keras_1(h5, filepath):
    version = _text(h5.attrs.get("keras_version", ""))
    if isinstance(version, str) and version.startswith("1."):
        raise NotImplementedError(f"Cannot load {filepath}: it was written by Keras {version}, whose layer configs "
                                  "fastconv does not read (Keras 2 and 3 files are supported).")


def _refuse_keras_2_hard_sigmoid(h5, model_config, filepath):
    """Keras 2's ``hard_sigmoid`` is ``clip(0.2 * x + 0.5, 0, 1)``, Keras 3's (fastconv's) ``clip(x / 6 + 0.5, 0,
    1)``: a Keras 2 layer with it would load with other numbers, so it is refused (Keras 3 files load)."""
    version = _text(h5.attrs.get("keras_version", ""))
    if not (isinstance(version, str) and version.startswith("2.")):
        return
    layers = model_config.get("config") if isinstance(model_config, dict) else None
    layers = layers.get("layers", []) if isinstance(layers, dict) else layers or []
    for layer in layers:
        config = layer.get("config", {}) if isinstance(layer, dict) else {}
        if config.get("activation") == "hard_sigmoid":
            raise NotImplementedError(
                f"Cannot load {filepath}: the activation `hard_sigmoid` (layer '{config.get('name')}') of Keras "
                f"{version}, clip(0.2 * x + 0.5, 0, 1), is not Keras 3's, clip(x / 6 + 0.5, 0, 1), which fastconv "
                "computes: the model would load with other numbers. Not supported yet.")


def _names(group, name):
    """The list attribute ``name`` of ``group`` as strings, joined from ``name0``, ``name1``, ... when split."""
    if name in group.attrs:
        values = list(np.atleast_1d(group.attrs[name]))
    else:
        values, chunk = [], 0
        while f"{name}{chunk}" in group.attrs:
            values.extend(np.atleast_1d(group.attrs[f"{name}{chunk}"]))
            chunk += 1
    names = [_text(value) for value in values]
    if not all(isinstance(n, str) for n in names):
        raise TypeError(f"the attribute `{name}` of `{group.name}` holds {names!r}, not names")
    return names


def _child(group, path, kind, filepath):
    """``group[path]`` when it is a ``kind`` in this file; links, external and virtual datasets are refused."""
    current = group
    for part in path.split("/"):
        if not part or part not in current:
            raise ValueError(f"Cannot load {filepath}: `{current.name}` has no `{part or path}` (the file lists "
                             f"`{path}` in `{group.name}`).")
        link = current.get(part, getlink=True)
        if isinstance(link, (h5py.SoftLink, h5py.ExternalLink)):
            raise ValueError(f"Cannot load {filepath}: `{current.name}/{part}` is a {type(link).__name__}, which "
                             "Keras files never hold.")
        current = current[part]
    if not isinstance(current, kind):
        raise ValueError(f"Cannot load {filepath}: `{current.name}` is not an HDF5 {kind.__name__.lower()}.")
    if isinstance(current, h5py.Dataset) and (current.external or current.is_virtual):
        raise ValueError(f"Cannot load {filepath}: `{current.name}` keeps its data outside the file.")
    return current


def _group(h5, path, filepath):
    return _child(h5, path, h5py.Group, filepath)


def _saved_layers(group, filepath):
    """``[(layer name, [dataset, ...])]`` of the file's layers that have weights, in ``layer_names`` order."""
    saved = []
    for name in _names(group, "layer_names"):
        layer_group = _child(group, name, h5py.Group, filepath)
        weight_names = _names(layer_group, "weight_names")
        if weight_names:
            saved.append((name, [_child(layer_group, w, h5py.Dataset, filepath) for w in weight_names]))
    return saved


def _load_weights_group(model, group, filepath, skip_mismatch=False, prefer_names=False):
    """Read and check every weight of ``group`` against ``model`` (Keras's order-based matching), then assign."""
    layers = [layer for layer in model.layers if _legacy_weights(layer)]
    saved = _saved_layers(group, filepath)
    prefix = f"Cannot load weights from {filepath}: "
    if len(saved) != len(layers):
        raise ValueError(f"{prefix}Layer count mismatch when loading weights from file. Model expected {len(layers)} "
                         f"layers, found {len(saved)} saved layers (layers with weights: the model's "
                         f"{[layer.name for layer in layers]}, the file's {[name for name, _ in saved]}).")
    pairs = list(zip(layers, saved))
    if prefer_names and sorted(layer.name for layer in layers) == sorted(name for name, _ in saved):
        by_name = dict(saved)
        pairs = [(layer, (layer.name, by_name[layer.name])) for layer in layers]
    if "top_level_model_weights" in group:
        top = _names(_child(group, "top_level_model_weights", h5py.Group, filepath), "weight_names")
        if top:
            raise ValueError(f"{prefix}Weight count mismatch for top-level weights when loading weights from file. "
                             f"Model expects 0 top-level weight(s). Received {len(top)} saved top-level weight(s)")
    plan, mismatched = [], []
    for k, (layer, (name, datasets)) in enumerate(pairs):
        variables = _legacy_weights(layer)
        if len(datasets) != len(variables):
            raise ValueError(f"{prefix}Weight count mismatch for layer #{k} (named {layer.name} in the current "
                             f"model, {name} in the save file). Layer expects {len(variables)} weight(s). Received "
                             f"{len(datasets)} saved weight(s)")
        problems = []
        for variable, dataset in zip(variables, datasets):
            if dataset.dtype.kind not in _NUMBERS:
                problems.append(f"Weight {variable.path} of layer #{k} (named {layer.name}) is stored as "
                                f"{dataset.dtype} in `{dataset.name}`, where numbers belong")
            elif tuple(dataset.shape) != tuple(variable.shape):
                problems.append(f"Shape mismatch in layer #{k} (named {layer.name}) for weight {variable.path}. "
                                f"Weight expects shape {tuple(variable.shape)}. Received saved weight with shape "
                                f"{tuple(dataset.shape)}")
        if problems:
            mismatched.extend(problems)
        else:
            plan.extend(zip(variables, datasets))
    if mismatched and not skip_mismatch:
        raise ValueError(prefix + "; ".join(mismatched))
    arrays = [np.asarray(dataset[()]).astype(variable.dtype, copy=False) for variable, dataset in plan]
    if mismatched:
        warnings.warn(prefix + "; ".join(mismatched) + ". Skipped (skip_mismatch=True).", stacklevel=5)
    for (variable, _), array in zip(plan, arrays):
        variable.assign(array)


def _load_optimizer_weights(optimizer, group, filepath):
    """Restore the optimizer's variables when the file holds exactly those; otherwise warn, as Keras does.

    An optimizer that was never built saves two variables (the iteration
    count and the learning rate), which Keras restores into the built one.
    """
    variables = optimizer.variables
    datasets = [_child(group, name, h5py.Dataset, filepath) for name in _names(group, "weight_names")]
    if len(datasets) == 2 < len(variables):
        variables = variables[:2]
    problem = None
    if len(datasets) != len(variables):
        problem = (f"the optimizer has {len(variables)} variables, the file {len(datasets)} (a Keras 2 optimizer's "
                   "state, or another optimizer's)")
    else:
        for variable, dataset in zip(variables, datasets):
            if dataset.dtype.kind not in _NUMBERS or tuple(dataset.shape) != tuple(variable.shape):
                problem = (f"variable {variable.path} has shape {tuple(variable.shape)}, the file's "
                           f"`{dataset.name}` shape {tuple(dataset.shape)} and dtype {dataset.dtype}")
                break
    if problem is not None:
        warnings.warn(f"{OPTIMIZER_STATE_WARNING} ({filepath}: {problem}.)", stacklevel=5)
        return
    arrays = [np.asarray(dataset[()]).astype(variable.dtype, copy=False)
              for variable, dataset in zip(variables, datasets)]
    for variable, array in zip(variables, arrays):
        variable.assign(array)
