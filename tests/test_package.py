"""The package: what ``import fastconv`` gives, its version, and one place for numba's options."""

import ast
import importlib.metadata
import pathlib
import re
import subprocess
import sys
import tomllib

import pytest

import fastconv

ROOT = pathlib.Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "fastconv"


def _python(code):
    """Run ``code`` in a new interpreter (this one has imported everything already); its stdout."""
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_import_fastconv_reaches_ops_and_keras():
    out = _python("import fastconv; print(fastconv.keras.layers.Conv2D.__name__, fastconv.ops.conv.__name__, "
                  "fastconv.keras.Sequential.__name__)")
    assert out == "Conv2D conv Sequential"


def test_keras_is_imported_on_first_use():
    """``import fastconv`` for the ops does not load the models, saving or h5py."""
    assert _python("import sys, fastconv; print('fastconv.keras' in sys.modules, 'h5py' in sys.modules)") == \
        "False False"
    with pytest.raises(AttributeError, match="module 'fastconv' has no attribute 'kears'"):
        fastconv.kears  # noqa: B018


def test_version_is_the_installed_distributions():
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert fastconv.__version__ == importlib.metadata.version("fastconv") == pyproject["project"]["version"]
    # Read from the metadata, not written twice: another installed version shows.
    assert _python("import importlib.metadata as m; m.version = lambda name: '9.8.7'; import fastconv; "
                   "print(fastconv.__version__)") == "9.8.7"


# ----------------------------------------------------------------------------- numba options in one place

JIT_DECORATORS = frozenset({
    "njit", "jit", "vectorize", "guvectorize", "cfunc", "jitclass", "stencil", "generated_jit", "overload",
    "overload_method", "overload_attribute", "overload_classmethod", "register_jitable",
})
"""numba's decorators that compile Python with numba options. (``intrinsic``, which emits LLVM IR and takes no
options, and the typing hooks are not among them.)"""


def jit_decorators_outside_jit(source, filename="<source>"):
    """``["file:line name", ...]``: uses of numba's compiling decorators in ``source`` (imports of them, and
    attributes of ``numba`` or of a module imported from it)."""
    tree = ast.parse(source, filename)
    numba_names = set()
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "numba":
                    numba_names.add((alias.asname or alias.name).split(".")[0])
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "numba":
            for alias in node.names:
                if alias.name in JIT_DECORATORS:
                    found.append(f"{filename}:{node.lineno} {alias.name}")
                else:
                    numba_names.add(alias.asname or alias.name)
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr in JIT_DECORATORS:
            root = node.value
            while isinstance(root, ast.Attribute):
                root = root.value
            if isinstance(root, ast.Name) and root.id in numba_names:
                found.append(f"{filename}:{node.lineno} {node.attr}")
    return found


@pytest.mark.parametrize("source", [
    "import numba\n@numba.njit\ndef f(): pass",
    "import numba as nb\nf = nb.njit(fastmath=True)(lambda: 0)",
    "from numba import njit\n@njit(cache=True)\ndef f(): pass",
    "from numba import vectorize as v",
    "import numba.experimental\n@numba.experimental.jitclass([])\nclass A: pass",
    "from numba import experimental\n@experimental.jitclass([])\nclass A: pass",
    "from numba.extending import overload",
    "from numba.np.ufunc import guvectorize",
])
def test_the_check_finds_numba_decorators(source):
    assert jit_decorators_outside_jit(source)


def test_the_check_passes_fastconvs_own_decorators():
    assert jit_decorators_outside_jit("from fastconv._jit import kernel\nfrom numba.extending import intrinsic\n"
                                      "import numba\n@kernel\ndef f(job): pass\nnumba.config.DISABLE_JIT") == []


def test_every_numba_decorator_is_in_jit_py():
    """Kernels use ``fastconv._jit``'s ``kernel``/``helper``/``microkernel``: every numba option in one place."""
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path != PACKAGE / "_jit.py":
            found += jit_decorators_outside_jit(path.read_text(), str(path.relative_to(ROOT)))
    assert found == []
    assert jit_decorators_outside_jit((PACKAGE / "_jit.py").read_text()) != []  # the check sees the real one


def test_every_keras_layer_name_is_there_or_raises_not_implemented():
    """Each public name of the installed Keras's ``keras.layers`` is in ``fastconv.keras.layers`` or, if fastconv
    lacks it, raises ``NotImplementedError`` naming it; a name Keras does not have stays an ``AttributeError``."""
    from keras_reference import keras

    from fastconv import keras as fastconv_keras
    from fastconv.layers.keras_names import KERAS_LAYER_NAMES

    public = {name for name in dir(keras.layers)
              if not name.startswith("_") and not isinstance(getattr(keras.layers, name), type(sys))}
    public -= {"serialize", "deserialize", "InputSpec"}  # helpers of Keras's own, not layers
    assert public == set(KERAS_LAYER_NAMES), "keras_names.KERAS_LAYER_NAMES differs from the installed Keras"
    implemented = set(fastconv_keras.layers.__all__)
    missing = sorted(public - implemented)
    for name in missing:
        with pytest.raises(NotImplementedError, match=rf"`keras\.layers\.{name}` is not implemented in fastconv"):
            getattr(fastconv_keras.layers, name)
    for name in sorted(public & implemented):
        assert getattr(fastconv_keras.layers, name) is not None
    with pytest.raises(AttributeError, match="has no attribute 'Conv2d'"):
        fastconv_keras.layers.Conv2d
    with pytest.raises(AttributeError, match="has no attribute 'Conv2d'") as raised:
        fastconv_keras.layers.Conv2d
    assert not isinstance(raised.value, NotImplementedError)


_SUBMODULES = ["keras.backend", "keras.callbacks", "keras.constraints", "keras.datasets", "keras.initializers",
               "keras.losses", "keras.metrics", "keras.models", "keras.optimizers", "keras.preprocessing",
               "keras.preprocessing.image", "keras.regularizers", "keras.saving", "keras.utils"]


@pytest.mark.parametrize("module", ["keras", *_SUBMODULES])
def test_keras_names_fastconv_lacks_raise_not_implemented_naming_them(module):
    # `keras.ops.sigmoid(...)`, `keras.utils.PyDataset` or `keras.metrics.AUC()` says what fastconv lacks, and
    # probing (`hasattr`) finds it absent; a typo stays a plain AttributeError.
    import importlib

    from keras_reference import keras  # noqa: F401 (the installed Keras, on its torch backend)

    from fastconv.layers.keras_names import KERAS_MODULE_NAMES, KERAS_TOP_LEVEL_NAMES

    theirs = importlib.import_module(module)
    ours = importlib.import_module("fastconv." + module)
    public = {name for name in dir(theirs) if not name.startswith("_")}
    if module == "keras":
        public -= set(ours.__all__)
        assert public == set(KERAS_TOP_LEVEL_NAMES), "KERAS_TOP_LEVEL_NAMES differs from the installed Keras"
    else:
        assert public == set(KERAS_MODULE_NAMES[module]), f"KERAS_MODULE_NAMES[{module!r}] differs from Keras"
    for name in sorted(public - set(ours.__all__)):
        with pytest.raises(NotImplementedError, match=re.escape(f"`{module}.{name}` is not implemented in fastconv")):
            getattr(ours, name)
        assert not hasattr(ours, name)
    with pytest.raises(AttributeError, match="has no attribute 'opz'") as raised:
        ours.opz
    assert not isinstance(raised.value, NotImplementedError)


def test_probing_for_a_missing_keras_layer_finds_it_absent():
    """Programs written for several Keras versions probe for a layer before using it; a layer fastconv lacks
    must read as absent there (as in a Keras without it), not crash the probe, and still name itself when
    used."""
    from fastconv import keras

    assert not hasattr(keras.layers, "Conv3D")
    assert getattr(keras.layers, "ConvLSTM2D", None) is None
    assert hasattr(keras.layers, "Conv2D") and hasattr(keras.layers, "DepthwiseConv2D")
    with pytest.raises(NotImplementedError, match=r"`keras\.layers\.Conv3D` is not implemented in fastconv"):
        keras.layers.Conv3D(8, 3)


def test_clear_session_starts_the_automatic_names_again_as_keras():
    # Géron's notebooks call `tf.keras.backend.clear_session()` before each model, for names from `dense` again.
    from fastconv import keras
    from keras_reference import keras as real_keras

    names = []
    for library in (keras, real_keras):
        library.backend.clear_session()
        first = [library.layers.Dense(1).name, library.layers.Dense(1).name]
        library.backend.clear_session()
        names.append(first + [library.layers.Dense(1).name])
    assert names[0] == names[1] == ["dense", "dense_1", "dense"]
    assert (keras.backend.floatx(), keras.backend.epsilon(), keras.backend.image_data_format()) == (
        real_keras.backend.floatx(), real_keras.backend.epsilon(), real_keras.backend.image_data_format())
    with pytest.raises(NotImplementedError, match="only 'float32' is supported"):
        keras.backend.set_floatx("float16")


def test_importing_a_name_fastconv_lacks_says_so():
    # keras.io's guides begin with `from keras import ops`: the from-import names the missing Keras name,
    # where Python would say only "cannot import name"; probing stays quiet.
    from fastconv import keras

    for statement, name in (("from fastconv.keras import ops", "keras.ops"),
                            ("from fastconv.keras.layers import Embedding", "keras.layers.Embedding"),
                            ("from fastconv.keras.callbacks import RemoteMonitor",
                             "keras.callbacks.RemoteMonitor")):
        with pytest.raises(ImportError, match=re.escape(f"`{name}` is not implemented in fastconv")) as raised:
            exec(statement, {})
        assert isinstance(raised.value, NotImplementedError)
    assert not hasattr(keras, "ops") and not hasattr(keras.layers, "Embedding")
    with pytest.raises(ImportError, match="cannot import name 'Conv2d'"):  # a typo stays Python's error
        exec("from fastconv.keras.layers import Conv2d", {})
    config = keras.layers.serialize(keras.layers.Dense(3, name="d"))
    assert config["class_name"] == "Dense" and keras.layers.deserialize(config).get_config()["units"] == 3
