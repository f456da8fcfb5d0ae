"""Keras's registry of your own classes and functions: ``register_keras_serializable`` (the decorator on
keras.io's subclassing examples), ``custom_object_scope``, ``get_custom_objects``, ``get_registered_name`` and
``get_registered_object``, as ``keras.saving`` has them.

fastconv saves a model of your classes as the functional model of what they compute (see
``fastconv.layers.base``), so a file never needs them back; the registry is what a program asks of it, and
``load_model`` consults it (and ``custom_objects``) for a layer class by its registered name.
"""

import contextlib
import threading

_REGISTERED = {}  # "package>name" -> object
_NAMES = {}  # id(object) -> "package>name"
_scopes = threading.local()  # `stack`: the custom_object_scope dicts entered in this thread


def register_keras_serializable(package="Custom", name=None):
    """A decorator that registers a class or function as ``package>name`` (its own name by default) and
    returns it unchanged.

    >>> @register_keras_serializable(package="Shapes")
    ... class Square:
    ...     pass
    >>> get_registered_name(Square), get_registered_object("Shapes>Square") is Square
    ('Shapes>Square', True)
    """
    def register(obj):
        registered_name = f"{package}>{name or obj.__name__}"
        if registered_name in _REGISTERED and _REGISTERED[registered_name] is not obj:
            raise ValueError(f"{registered_name} has already been registered to {_REGISTERED[registered_name]}")
        _REGISTERED[registered_name] = obj
        _NAMES[id(obj)] = registered_name
        return obj

    return register


def get_custom_objects():
    """The registered objects, by registered name (Keras's global dict; changing it registers)."""
    return _REGISTERED


def get_registered_name(obj):
    """``package>name`` of a registered object, else its ``__name__``."""
    return _NAMES.get(id(obj), getattr(obj, "__name__", None))


def get_registered_object(name, custom_objects=None, module_objects=None):
    """The object registered (or given in a ``custom_object_scope``, ``custom_objects`` or ``module_objects``)
    under ``name``, or None."""
    for scope in reversed(getattr(_scopes, "stack", [])):
        if name in scope:
            return scope[name]
    for objects in (custom_objects, _REGISTERED, module_objects):
        if objects and name in objects:
            return objects[name]
    return None


@contextlib.contextmanager
def custom_object_scope(custom_objects):
    """Within the ``with`` block, ``custom_objects`` (``{name: object}``) are found by name as registered ones."""
    _scopes.stack = getattr(_scopes, "stack", []) + [dict(custom_objects or {})]
    try:
        yield
    finally:
        _scopes.stack = _scopes.stack[:-1]


CustomObjectScope = custom_object_scope
