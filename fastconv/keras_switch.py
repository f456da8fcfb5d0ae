"""The switch that runs Keras programs unchanged on fastconv: ``python -m fastconv.keras`` and ``%load_ext``.

While the switch is on (:func:`install`), these imports resolve to fastconv
in this process:

- ``import keras``, ``from keras import layers``, ``import keras.layers``:
  ``fastconv.keras`` and its modules;
- ``import tensorflow as tf``: :mod:`fastconv.tensorflow_subset`, with
  ``tf.keras`` and the reproducibility and thread settings;
- ``from tensorflow import keras``, ``from tensorflow.keras import layers``,
  ``import tensorflow.keras.layers``: ``fastconv.keras`` again.

A module that fastconv does not have (``keras.src``, ``tensorflow.data``, ...)
raises ``ModuleNotFoundError`` naming it and saying what fastconv provides.
An installed TensorFlow or Keras is not touched: other processes, and this one
before the switch or after :func:`uninstall`, import them as usual. Names
imported before the switch keep what they were, so the switch goes first:
:func:`install` warns if ``keras`` or ``tensorflow`` is already imported.

:func:`main` is ``python -m fastconv.keras SCRIPT.py [ARGS...]`` (or
``-m MODULE [ARGS...]``): it turns the switch on and runs the program as
``python`` would, with its ``sys.argv``, ``__name__ == "__main__"``, its
directory first on ``sys.path``, tracebacks that start in the program, and
its exit status. :func:`load_ipython_extension` is ``%load_ext fastconv.keras``.
"""

import builtins
import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import os
import runpy
import sys
import types
import warnings
import zipfile

ROOTS = {"keras": "fastconv.keras", "tensorflow": "fastconv.tensorflow_subset"}
"""The top-level names the switch takes over, and the fastconv module each resolves to."""

USAGE = """usage: python -m fastconv.keras SCRIPT.py [ARGS...]
       python -m fastconv.keras -m MODULE [ARGS...]

Runs a Keras program on fastconv, unchanged: import keras, from keras import
layers, from tensorflow import keras and import tensorflow as tf (tf.keras...)
resolve to fastconv for this run."""


def target_name(name):
    """The fastconv module that the import of ``name`` resolves to under the switch, or None if not taken over.

    >>> target_name("keras.layers"), target_name("tensorflow.keras.layers"), target_name("numpy")
    ('fastconv.keras.layers', 'fastconv.keras.layers', None)
    >>> target_name("tensorflow")
    'fastconv.tensorflow_subset'
    """
    root, _, rest = name.partition(".")
    if root not in ROOTS:
        return None
    if root == "tensorflow" and (rest == "keras" or rest.startswith("keras.")):
        root, _, rest = rest.partition(".")
    return ROOTS[root] + ("." + rest if rest else "")


_TENSORBOARD_WITHOUT_TENSORFLOW = "tensorboard.compat.notf"
"""The module whose presence makes the ``tensorboard`` package use its own stub of TensorFlow rather than
``import tensorflow``: under the switch that import is fastconv's subset, which TensorBoard cannot use
(reading event files, ``tensorboard.plugins.hparams`` in a program)."""

_NO_TENSORFLOW = types.ModuleType(_TENSORBOARD_WITHOUT_TENSORFLOW, "TensorBoard's marker for its TensorFlow stub, "
                                  "given by fastconv's Keras switch.")


class _Alias(importlib.abc.Loader):
    """Loads a taken-over name as the fastconv module itself (the same object, not a copy)."""

    def __init__(self, module):
        self._module = module

    def create_module(self, spec):
        return self._module

    def exec_module(self, module):
        pass  # already imported under its own name


class _Finder(importlib.abc.MetaPathFinder):
    """First on ``sys.meta_path`` while the switch is on: finds ``keras...`` and ``tensorflow...`` in fastconv."""

    def find_spec(self, name, path=None, target=None):
        if name == _TENSORBOARD_WITHOUT_TENSORFLOW:
            return importlib.util.spec_from_loader(name, _Alias(_NO_TENSORFLOW))
        target_module = target_name(name)
        if target_module is None:
            return None
        try:
            module = importlib.import_module(target_module)
        except ModuleNotFoundError as error:
            if error.name is not None and error.name != target_module \
                    and not target_module.startswith(error.name + "."):
                raise  # something the fastconv module itself imports is missing
            raise ModuleNotFoundError(
                f"No module named {name!r} under fastconv's Keras switch: fastconv provides keras "
                f"(fastconv.keras and its modules) and a subset of tensorflow (tf.keras, tf.random.set_seed, "
                f"tf.config); {name} is not one of them", name=name) from None
        return importlib.util.spec_from_loader(name, _Alias(module))


_FINDER = _Finder()


def is_installed():
    """Whether the switch is on in this process."""
    return _FINDER in sys.meta_path


def install():
    """Turn the switch on: from now on ``keras`` and ``tensorflow`` imports resolve to fastconv.

    Warns (``RuntimeWarning``) if ``keras`` or ``tensorflow`` is imported
    already: those modules, and names taken from them, stay what they are
    (restart the program or kernel and turn the switch on first).
    """
    if is_installed():
        return
    taken = [name for name in sys.modules
             if name.partition(".")[0] in ROOTS and not _is_fastconv(sys.modules[name])]
    if taken:
        roots = sorted({name.partition(".")[0] for name in taken})
        warnings.warn(f"{' and '.join(roots)} already imported in this process: names imported before "
                      f"fastconv's Keras switch stay {' and '.join(roots)}'s own, and so do these modules "
                      f"for later imports; turn the switch on first (restart the kernel, then "
                      f"%load_ext fastconv.keras)", RuntimeWarning, stacklevel=2)
    sys.meta_path.insert(0, _FINDER)


def uninstall():
    """Turn the switch off: later imports of ``keras`` and ``tensorflow`` find the installed packages (if any)."""
    while _FINDER in sys.meta_path:
        sys.meta_path.remove(_FINDER)
    for name in [name for name in sys.modules if name.partition(".")[0] in ROOTS]:
        if _is_fastconv(sys.modules[name]):
            del sys.modules[name]
    if sys.modules.get(_TENSORBOARD_WITHOUT_TENSORFLOW) is _NO_TENSORFLOW:
        del sys.modules[_TENSORBOARD_WITHOUT_TENSORFLOW]


def _is_fastconv(module):
    return getattr(module, "__name__", "").partition(".")[0] == "fastconv"


def load_ipython_extension(ipython):
    """``%load_ext fastconv.keras``: the switch for the rest of the IPython or Jupyter session."""
    install()


def unload_ipython_extension(ipython):
    """``%unload_ext fastconv.keras``: the switch off again."""
    uninstall()


def main(argv=None):
    """``python -m fastconv.keras SCRIPT.py [ARGS...]`` or ``-m MODULE [ARGS...]``: run a Keras program on fastconv.

    Returns the exit status for ``sys.exit``: the program's own (``sys.exit``
    in it propagates as with ``python``), 1 after an uncaught exception,
    whose traceback is printed from the program's first frame on, and 2 for
    bad usage.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(USAGE, file=sys.stdout if argv else sys.stderr)
        return 0 if argv else 2
    if argv[0] == "-m":
        if len(argv) < 2:
            print(f"python -m fastconv.keras: -m needs a module name\n{USAGE}", file=sys.stderr)
            return 2
        module, program_args = argv[1], argv[2:]
        sys.argv = [module, *program_args]  # runpy puts the module's file in sys.argv[0]
        sys.path[0] = os.getcwd()
        run = lambda: runpy.run_module(module, run_name="__main__", alter_sys=True)  # noqa: E731
    else:
        script, program_args = argv[0], argv[1:]
        if not os.path.exists(script):
            print(f"python -m fastconv.keras: can't open file {os.path.abspath(script)!r}: "
                  f"[Errno 2] No such file or directory", file=sys.stderr)
            return 2
        sys.argv = [script, *program_args]
        sys.path[0] = os.path.dirname(os.path.abspath(script))
        run = lambda: _run_script(os.path.abspath(script))  # noqa: E731
    install()
    try:
        run()
    except SystemExit:
        raise
    except KeyboardInterrupt:
        raise  # Python's own handling: the traceback, and the SIGINT exit status
    except BaseException as error:  # noqa: BLE001 (printed as python would, then the status python gives)
        program_traceback = _program_traceback(error.__traceback__)
        sys.excepthook(type(error), error.with_traceback(program_traceback), program_traceback)
        return 1
    return 0


def _run_script(path):
    """Run the file at ``path`` as ``python path`` runs it: as module ``__main__``, named by its absolute path.

    A directory or zip file with a ``__main__.py`` goes through ``runpy.run_path``.
    """
    if os.path.isdir(path) or zipfile.is_zipfile(path):
        runpy.run_path(path, run_name="__main__")
        return
    main = types.ModuleType("__main__")
    main.__file__ = path
    main.__cached__ = None
    main.__loader__ = importlib.machinery.SourceFileLoader("__main__", path)
    main.__builtins__ = builtins
    with open(path, "rb") as source:  # bytes: compile() reads the file's coding declaration
        code = compile(source.read(), path, "exec")
    sys.modules["__main__"] = main
    exec(code, main.__dict__)


def _program_traceback(tb):
    """``tb`` without its first frames in this module and in ``runpy``: the traceback starts in the program."""
    while tb is not None and (tb.tb_frame.f_code.co_filename in (__file__, runpy.__file__)
                              or tb.tb_frame.f_globals.get("__name__") == "runpy"):
        tb = tb.tb_next
    return tb

