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
        optimizer/vars/0, 1, ...      iterations, learning_rate (none with a schedule), then the slots (Keras's order)
        vars                          the model's own variables (none)

    Every ``vars`` group carries the owner's ``name`` as an attribute.
    ``<key>`` is *not* the layer's name: it is the layer class in snake case
    with a counter per class within the model (``conv2d``, ``conv2d_1``,
    ``dense``, ...), counted over ``model.layers`` in Keras's order. A second
    model built in the same process has layers named ``conv2d_2``, ... but
    keys ``conv2d``, ``conv2d_1``. A ``Sequential`` model's layers exclude its
    ``InputLayer``; a functional model's include it (an empty group).

A ``.weights.h5`` file is the ``model.weights.h5`` member on its own.

Writes go through :func:`fastconv.files.atomic_write`: the file is written
beside the target, flushed to disk and renamed over it, so a crash mid-save
leaves the previous file intact; a link is written through, an existing file
keeps its permissions, and temporaries left by a killed save are removed by the
next save of the same file. Reads check everything before they change anything:
a damaged archive, a missing member, or arrays that do not fit the model raise
``ValueError`` naming the file, and leave the model as it was.

This module knows no model classes: it writes what a model gives
(``to_json()``, its layers' and optimizer's variables) and reads a file back
into the model that ``fastconv.models.load_model`` rebuilds from the config
(the import runs one way, from ``models`` to here).

Legacy whole-model ``.h5`` files (Keras 2 / tf.keras) are ``fastconv.legacy_h5``'s:
``save_model``, ``load_model_file`` and ``load_weights`` hand ``.h5``/``.hdf5`` to it.

Not here: sharded weights, the npz and
directory variants, ``hf://`` paths, nested models and subclassed models.
"""

import contextlib
import datetime
import io
import json
import os
import struct
import warnings
import zipfile
import zlib

import h5py
import numpy as np

import fastconv
from fastconv import distribution
from fastconv.files import atomic_write
from fastconv.naming import to_snake_case

KERAS_FORMAT_VERSION = "3.15.1"
"""The Keras release whose ``.keras`` format this module writes and is tested against."""

_CONFIG_FILENAME = "config.json"
_METADATA_FILENAME = "metadata.json"
_WEIGHTS_FILENAME = "model.weights.h5"

# What zipfile raises for a damaged archive or member (a bad CRC or header, a truncated or undecodable
# stream, flags or a compression method it cannot read, offsets pointing nowhere).
_DAMAGED_ZIP = (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError, ValueError, OSError,
                struct.error)

# What h5py and numpy raise for a weights file that is damaged or not in Keras's layout.
_DAMAGED_H5 = (OSError, KeyError, TypeError, ValueError, AttributeError, RuntimeError)

# The dtype kinds a variable is loaded from: booleans, integers and floats (not strings, objects, complex).
_NUMBERS = "biuf"
_KIND_NAMES = {"S": "strings", "U": "strings", "O": "Python objects", "c": "complex numbers", "V": "records",
               "M": "dates", "m": "time spans"}


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
        Must end in ``.keras`` (or ``.h5``/``.hdf5``: the legacy format, written by
        ``fastconv.legacy_h5.save_model``). A link is written through (the file it points
        to is replaced); an existing file keeps its permissions.
    overwrite : bool
        With ``False``, an existing file raises ``FileExistsError``.
    zipped : None or True
        Only the zipped format is supported.

    Examples
    --------
    >>> import os, tempfile
    >>> from fastconv import layers, models
    >>> model = models.Sequential([layers.Dense(2, input_shape=(3,))])
    >>> with tempfile.TemporaryDirectory() as directory:
    ...     save_model(model, os.path.join(directory, "model.keras"))
    ...     restored = models.load_model(os.path.join(directory, "model.keras"))
    >>> [w.shape for w in restored.weights]
    [(3, 2), (2,)]
    """
    filepath = os.fspath(filepath)
    if not distribution.current().is_chief:  # under a distribution, process 0 writes the (identical) model
        return
    if zipped is False:
        raise NotImplementedError("fastconv saves only zipped `.keras` files. Received: zipped=False")
    if filepath.endswith((".h5", ".hdf5")):
        from fastconv import legacy_h5  # here: legacy_h5 imports this module

        return legacy_h5.save_model(model, filepath, overwrite=overwrite)
    if not filepath.endswith(".keras"):
        raise ValueError(f"Invalid `filepath` argument: expected a `.keras` extension. Received: filepath={filepath}")
    if not model.built:
        warnings.warn("You are saving a model that has not yet been built. It might not contain any weights yet. "
                      "Consider building the model first by calling it on some data.", stacklevel=2)
    config_json = model.to_json()
    metadata_json = json.dumps({
        "keras_version": KERAS_FORMAT_VERSION,
        "date_saved": datetime.datetime.now().strftime("%Y-%m-%d@%H:%M:%S"),
        "saved_by": f"fastconv {fastconv.__version__}",
    })
    with atomic_write(filepath, overwrite) as file, \
            zipfile.ZipFile(file, "w", compression=zipfile.ZIP_STORED) as archive:
        archive.writestr(_METADATA_FILENAME, metadata_json)
        archive.writestr(_CONFIG_FILENAME, config_json)
        archive.writestr(_WEIGHTS_FILENAME, _weights_h5_bytes(model))


def load_model_file(filepath, build, load_optimizer=True):
    """Read the ``.keras`` file ``filepath`` into the model that ``build(config)`` makes of its ``config.json``.

    ``fastconv.models.load_model`` is the way in; it passes ``build``, since
    rebuilding a model from its config is the models' business. Every member
    is read (and its checksum checked) before ``build`` runs; then the weights
    and, with ``load_optimizer``, the optimizer's variables are loaded.

    Raises
    ------
    ValueError
        The file is missing, not a zip archive, damaged, lacks a member, or its
        weights do not fit the model it describes; the message names the file.
    NotImplementedError
        ``build`` refused the config (a layer or argument fastconv lacks); the
        message names the file.
    """
    filepath = os.fspath(filepath)
    if filepath.endswith((".h5", ".hdf5")):
        from fastconv import legacy_h5  # here: legacy_h5 imports this module

        return legacy_h5.load_model(filepath, build, compile=load_optimizer)
    if not filepath.endswith(".keras"):
        raise ValueError(f"File format not supported: filepath={filepath}. fastconv reads Keras 3 `.keras` files "
                         "and legacy `.h5` files (and `.weights.h5` files with `model.load_weights`).")
    if not os.path.isfile(filepath):
        raise ValueError(f"File not found: filepath={filepath}. Please ensure the file is an accessible `.keras` "
                         "zip file.")
    with _open_archive(filepath) as archive:
        config = _read_json_member(archive, filepath, _CONFIG_FILENAME)
        weights = _read_member(archive, filepath, _WEIGHTS_FILENAME)
    model = rebuild(lambda: build(config), filepath, f"`{_CONFIG_FILENAME}`")
    with _open_weights(weights, filepath) as h5:
        _load_h5(model, h5, f"{filepath} ({_WEIGHTS_FILENAME})", load_optimizer=load_optimizer)
    return model


def rebuild(make, filepath, config_name="its config"):
    """``make()``, which builds something from a file's config, with its errors naming the file.

    ``NotImplementedError`` (a layer or argument fastconv lacks) stays one; a
    config that is not Keras's (a missing key, a wrong type) and any
    ``ValueError`` become ``ValueError("Cannot load FILE: ...")``.
    ``config_name`` names the config in the message.
    """
    try:
        return make()
    except NotImplementedError as error:
        raise NotImplementedError(f"Cannot load {filepath}: {error}") from error
    except (KeyError, TypeError, IndexError, AttributeError) as error:
        raise ValueError(f"Cannot load {filepath}: {config_name} is not a valid Keras model config "
                         f"({type(error).__name__}: {error}).") from error
    except ValueError as error:
        raise ValueError(f"Cannot load {filepath}: {error}") from error


def save_weights(model, filepath, overwrite=True, max_shard_size=None):
    """Write the model's (and its optimizer's) variables to a ``.weights.h5`` file in Keras's layout.

    Atomic like ``save_model``. ``filepath`` must end in ``.weights.h5``, as Keras requires.
    """
    filepath = os.fspath(filepath)
    if not distribution.current().is_chief:
        return
    if max_shard_size is not None:
        raise NotImplementedError(f"fastconv does not write sharded weights. Received: max_shard_size={max_shard_size}")
    if not filepath.endswith(".weights.h5"):
        raise ValueError(f"The filename must end in `.weights.h5`. Received: filepath={filepath}")
    if not model.built:
        raise ValueError("You are saving a model that has not yet been built. Try building the model first by "
                         "calling it on some data or by using `build()`.")
    with atomic_write(filepath, overwrite) as file:
        file.write(_weights_h5_bytes(model))


def load_weights(model, filepath, skip_mismatch=False):
    """Load variables from a ``.weights.h5`` or ``.keras`` file (Keras's layout) into ``model``.

    Layers are matched by Keras's keys (class and position), not by name, so
    weights move between models whose layers are named differently. Like
    Keras, the optimizer's variables are loaded too when the model has a
    built optimizer and the file has as many. Everything is read and checked
    before anything is assigned: a mismatch, a variable stored as anything but
    numbers, or a damaged file raises ``ValueError`` naming the file and leaves
    the model as it was (with ``skip_mismatch=True``: a warning, and the
    mismatched layers keep their values).
    """
    filepath = os.fspath(filepath)
    if not model.built:
        raise ValueError("You are loading weights into a model that has not yet been built. Try building the model "
                         "first by calling it on some data or by using `build()`.")
    if not os.path.isfile(filepath):
        raise ValueError(f"File not found: filepath={filepath}.")
    if filepath.endswith(".keras"):
        with _open_archive(filepath) as archive:
            weights = _read_member(archive, filepath, _WEIGHTS_FILENAME)
        with _open_weights(weights, filepath) as h5:
            _load_h5(model, h5, f"{filepath} ({_WEIGHTS_FILENAME})", skip_mismatch=skip_mismatch)
    elif filepath.endswith(".weights.h5"):
        try:
            h5 = h5py.File(filepath, "r")
        except OSError as error:
            raise ValueError(f"Cannot load weights from {filepath}: it is not an HDF5 file ({error}).") from error
        with h5:
            _load_h5(model, h5, filepath, skip_mismatch=skip_mismatch)
    elif filepath.endswith((".h5", ".hdf5")):
        from fastconv import legacy_h5  # here: legacy_h5 imports this module

        legacy_h5.load_weights(model, filepath, skip_mismatch=skip_mismatch)
    else:
        raise ValueError(f"File format not supported: filepath={filepath}. Expected a `.weights.h5` or `.keras` "
                         "file.")


# -- weights (model.weights.h5) --------------------------------------------------------------------------------


def weight_keys(layers):
    """``[(key, layer)]``: each of ``layers``' (a model's ``layers``, in Keras's order) group key in the weights
    file (``"conv2d_1"``).

    >>> from fastconv import layers, models
    >>> model = models.Sequential([layers.Dense(4, input_shape=(3,)), layers.Dense(2), layers.Flatten()])
    >>> [key for key, _ in weight_keys(model.layers)]
    ['dense', 'dense_1', 'flatten']
    """
    counts, keys = {}, []
    for layer in layers:
        base = to_snake_case("Functional" if type(layer).__name__ == "Model" else type(layer).__name__)  # Keras's
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
    for key, layer in weight_keys(model.saved_layers):
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
    """Read and check every array of ``h5`` against ``model``, then assign them all.

    Nothing is assigned before everything has been read, converted and
    checked, so any error leaves the model as it was. With ``skip_mismatch``
    the layers that do not fit keep their values and a warning names them.
    """
    try:
        layer_arrays, optimizer_store, problems = _read_and_check(model, h5, load_optimizer)
    except _DAMAGED_H5 as error:
        raise ValueError(f"Cannot load weights from {source}: the file is damaged or not in Keras's layout "
                         f"({type(error).__name__}: {error}).") from error
    if problems:
        message = f"Cannot load weights from {source}: " + "; ".join(problems) + "."
        if not skip_mismatch:
            raise ValueError(message)
        warnings.warn(message + " Skipped (skip_mismatch=True).", stacklevel=3)
    for variable, array in layer_arrays:
        variable.assign(array)
    if optimizer_store is not None:
        model.optimizer.load_own_variables(optimizer_store)  # warns, as Keras, when the counts differ


def _read_and_check(model, h5, load_optimizer):
    """``([(variable, array)], optimizer store or None, [problem])``: the arrays that fit, converted to their
    variables' dtypes, and what does not fit."""
    layer_arrays, problems = [], []
    stored_layers = set(h5["layers"].keys()) if "layers" in h5 else set()
    for key, layer in _weight_paths(model, h5):
        stored_layers.discard(key.split("/")[0])
        stored = _vars_group(h5, f"layers/{key}")
        owner = f"layer '{layer.name}' (group `layers/{key}`)"
        variables = layer.weights
        if len(stored) != len(variables):
            problems.append(f"{owner} expected {len(variables)} variables {[v.name for v in variables]}, but the "
                            f"file has {len(stored)}")
            continue
        arrays, layer_problems = _match_arrays(stored, variables, owner)
        problems.extend(layer_problems)
        if not layer_problems:
            layer_arrays.extend(zip(variables, arrays))
    stored_layers = {key for key in stored_layers if _vars_group(h5, f"layers/{key}")}  # empty groups: no state
    if stored_layers:
        problems.append(f"the file has weights for layers the model does not have: groups "
                        f"{sorted(f'layers/{key}' for key in stored_layers)}")
    optimizer = getattr(model, "optimizer", None)
    store = None
    if load_optimizer and optimizer is not None and "optimizer" in h5:
        store = _vars_group(h5, "optimizer")
        if len(store) == len(optimizer.variables):  # otherwise load_own_variables warns and skips, as Keras
            arrays, optimizer_problems = _match_arrays(store, optimizer.variables, f"optimizer '{optimizer.name}'")
            problems.extend(optimizer_problems)
            store = None if optimizer_problems else {str(i): array for i, array in enumerate(arrays)}
    return layer_arrays, store, problems


def _weight_paths(model, h5):
    """``[(path, layer)]`` to read ``h5`` into ``model``: Keras's groups for its layers, or, for a model loaded
    from a Keras file that nests models (``fastconv.models``' ``_nested_weight_paths``), the nested groups
    where the file has them."""
    nested = getattr(model, "_weight_paths_in_keras_files", None)
    if nested and all(f"layers/{path}" in h5 for path, _ in nested):
        return nested
    return weight_keys(model.saved_layers)


def _vars_group(h5, path):
    """The datasets of ``<path>/vars`` as ``{"0": array, ...}`` (empty when the group is absent)."""
    full = f"{path}/vars" if path else "vars"
    if full not in h5:
        return {}
    group = h5[full]
    if not isinstance(group, h5py.Group):
        raise TypeError(f"`{full}` is not an HDF5 group")
    return {name: np.asarray(dataset[()]) for name, dataset in group.items() if isinstance(dataset, h5py.Dataset)}


def _match_arrays(stored, variables, owner):
    """The stored arrays of ``variables``, in order and converted to their dtypes, or the problems found."""
    arrays, problems = [], []
    for i, variable in enumerate(variables):
        array = stored.get(str(i))
        where = f"{owner} variable {i} ('{variable.name}')"
        if array is None:
            problems.append(f"{owner} has no variable `{i}` in the file")
        elif array.dtype.kind not in _NUMBERS:
            problems.append(f"{where} holds {_KIND_NAMES.get(array.dtype.kind, 'no numbers')} (dtype {array.dtype}) "
                            "in the file, where numbers belong")
        elif array.shape != variable.shape:
            problems.append(f"{where} has shape {variable.shape} in the model but {array.shape} in the file")
        else:
            arrays.append(array.astype(variable.dtype, copy=False))
    return arrays, problems


# -- reading archives ------------------------------------------------------------------------------------------


@contextlib.contextmanager
def _open_archive(filepath):
    try:
        archive = zipfile.ZipFile(filepath, "r")
    except PermissionError:
        raise
    except _DAMAGED_ZIP as error:
        raise ValueError(f"Cannot load {filepath}: it is not a `.keras` file (not a zip archive, or a damaged one: "
                         f"{type(error).__name__}: {error}).") from error
    with archive:
        yield archive


def _read_member(archive, filepath, member):
    """The bytes of ``member``, checksum checked; a missing or damaged member raises ``ValueError`` naming the file."""
    if member not in archive.namelist():
        raise ValueError(f"Cannot load {filepath}: the archive has no `{member}` (a `.keras` file holds "
                         f"`{_METADATA_FILENAME}`, `{_CONFIG_FILENAME}` and `{_WEIGHTS_FILENAME}`).")
    try:
        return archive.read(member)
    except _DAMAGED_ZIP as error:
        raise ValueError(f"Cannot load {filepath}: the archive's `{member}` is damaged "
                         f"({type(error).__name__}: {error}).") from error


def _read_json_member(archive, filepath, member):
    data = _read_member(archive, filepath, member)
    try:
        return json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ValueError(f"Cannot load {filepath}: `{member}` is not valid JSON ({error}).") from error


@contextlib.contextmanager
def _open_weights(data, filepath):
    """``data`` (the bytes of an archive's ``model.weights.h5``) opened with h5py."""
    try:
        h5 = h5py.File(io.BytesIO(data), "r")
    except (OSError, ValueError) as error:
        raise ValueError(f"Cannot load {filepath}: `{_WEIGHTS_FILENAME}` is not an HDF5 file ({error}).") from error
    with h5:
        yield h5
