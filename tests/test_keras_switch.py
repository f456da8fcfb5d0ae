"""Keras programs run unchanged: ``python -m fastconv.keras SCRIPT.py``, ``%load_ext fastconv.keras`` in a
real Jupyter kernel, and the subset of TensorFlow they reach (``fastconv.tensorflow_subset``).

Programs run in their own processes, as users start them: this test process
has real Keras imported (the reference of other tests), which the switch must
not disturb. Each route runs twice: beside the installed Keras (the test extra
has it) and with ``keras`` and ``tensorflow`` made unimportable, as on a
machine with fastconv alone.
"""

import json
import os
import pathlib
import re
import subprocess
import sys
import textwrap

import nbformat
import numpy as np
import pytest
from nbclient import NotebookClient

import fastconv
from fastconv import keras_switch, parallel, tensorflow_subset

ROOT = pathlib.Path(__file__).resolve().parent.parent

HIDE_KERAS_AND_TENSORFLOW = textwrap.dedent("""
    # sitecustomize for these tests: keras and tensorflow cannot be imported, as if not installed.
    import importlib.abc, sys

    class _NotInstalled(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.partition(".")[0] in ("keras", "tensorflow"):
                raise ModuleNotFoundError(f"No module named {name!r}", name=name)
            return None

    sys.meta_path.insert(0, _NotInstalled())
""")


@pytest.fixture(params=["beside installed Keras", "without Keras"])
def environment(request, tmp_path):
    """The environment of a program's process: with the installed Keras importable, or hidden."""
    env = dict(os.environ, PYTHONPATH=str(ROOT), KERAS_BACKEND="torch")
    if request.param == "without Keras":
        site = tmp_path / "site"
        site.mkdir()
        (site / "sitecustomize.py").write_text(HIDE_KERAS_AND_TENSORFLOW)
        env["PYTHONPATH"] = os.pathsep.join([str(site), str(ROOT)])
    return env


def _run(args, env, cwd, timeout=600):
    return subprocess.run([sys.executable, *args], env=env, cwd=cwd, capture_output=True, text=True,
                          timeout=timeout)


KERAS_IO_SCRIPT = textwrap.dedent("""
    import json
    import sys

    import numpy as np
    import keras
    from keras import layers
    import tensorflow as tf
    from tensorflow import keras as tf_keras
    from tensorflow.keras import layers as tf_layers
    import tensorflow.keras.callbacks

    tf.keras.utils.set_random_seed(42)
    tf.config.experimental.enable_op_determinism()
    model = keras.Sequential([
        keras.Input(shape=(12, 12, 1)),
        layers.Conv2D(4, kernel_size=(3, 3), activation="relu"),
        layers.MaxPooling2D(pool_size=(2, 2)),
        layers.Flatten(),
        layers.Dense(3, activation="softmax"),
    ])
    model.compile(loss="sparse_categorical_crossentropy", optimizer="adam", metrics=["accuracy"])
    x = np.random.default_rng(0).random((64, 12, 12, 1), dtype=np.float32)
    y = (x.mean(axis=(1, 2, 3)) * 30).astype(int) % 3
    history = model.fit(x, y, batch_size=16, epochs=2, verbose=0)
    print(json.dumps({
        "argv": sys.argv, "name": __name__, "path0": sys.path[0],
        "modules": sorted({type(model).__module__, keras.__name__, layers.__name__, tf.keras.__name__,
                           tf_keras.__name__, tf_layers.__name__, tensorflow.keras.callbacks.__name__}),
        "same_layers": layers is tf_layers,
        "loss": history.history["loss"],
    }))
    sys.exit(int(sys.argv[1]))
""")


def test_script_runs_unchanged_through_python_m_fastconv_keras(tmp_path, environment):
    script = tmp_path / "programs" / "train.py"
    script.parent.mkdir()
    script.write_text(KERAS_IO_SCRIPT)
    result = _run(["-m", "fastconv.keras", "programs/train.py", "7", "--flag"], environment, tmp_path)
    assert result.returncode == 7, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["argv"] == ["programs/train.py", "7", "--flag"]
    assert report["name"] == "__main__"
    assert report["path0"] == str(script.parent)
    assert report["modules"] == ["fastconv.keras", "fastconv.keras.callbacks", "fastconv.keras.layers",
                                 "fastconv.models"]
    assert report["same_layers"]
    assert len(report["loss"]) == 2 and all(np.isfinite(report["loss"]))


def test_script_loss_is_fastconvs_own_to_the_bit(tmp_path):
    # The switch changes where names come from, nothing else: the same program written against
    # fastconv.keras directly trains to the same losses.
    switched = tmp_path / "switched.py"
    switched.write_text(KERAS_IO_SCRIPT)
    direct = tmp_path / "direct.py"
    direct.write_text(KERAS_IO_SCRIPT.replace("import keras\n", "from fastconv import keras\n")
                      .replace("from keras import layers", "from fastconv.keras import layers")
                      .replace("import tensorflow as tf\n", "from fastconv import tensorflow_subset as tf\n")
                      .replace("from tensorflow import keras as tf_keras", "from fastconv import keras as tf_keras")
                      .replace("from tensorflow.keras import layers as tf_layers",
                               "from fastconv.keras import layers as tf_layers")
                      .replace("import tensorflow.keras.callbacks\n", "import fastconv.keras.callbacks\n")
                      .replace("tensorflow.keras.callbacks.__name__", "fastconv.keras.callbacks.__name__"))
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    losses = [json.loads(_run(args, env, tmp_path).stdout.strip().splitlines()[-1])["loss"]
              for args in (["-m", "fastconv.keras", "switched.py", "0"], ["direct.py", "0"])]
    assert losses[0] == losses[1]


FAILING_SCRIPT = textwrap.dedent("""
    import sys


    def inner(value):
        return 1 / value


    print("started", sys.argv[1:])
    if sys.argv[1] == "raise":
        inner(0)
    sys.exit(sys.argv[1])
""")


@pytest.mark.parametrize("argument", ["raise", "5", "a message"])
def test_tracebacks_and_exit_status_are_pythons(tmp_path, argument):
    # The reference is `python SCRIPT.py` itself: the same stdout, stderr (traceback with the script's
    # own frames and line numbers, or sys.exit's message) and exit status.
    script = tmp_path / "fails.py"
    script.write_text(FAILING_SCRIPT)
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    plain = _run(["fails.py", argument], env, tmp_path)
    switched = _run(["-m", "fastconv.keras", "fails.py", argument], env, tmp_path)
    assert plain.returncode != 0
    assert (switched.returncode, switched.stdout, switched.stderr) == (plain.returncode, plain.stdout,
                                                                       plain.stderr)


def test_module_runs_with_dash_m(tmp_path, environment):
    package = tmp_path / "project"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "train.py").write_text("import sys, keras\nprint(__name__, keras.__name__, sys.argv[1:])\n")
    result = _run(["-m", "fastconv.keras", "-m", "project.train", "x"], environment, tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["__main__", "fastconv.keras", "['x']"]


def test_usage_errors(tmp_path):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    missing = _run(["-m", "fastconv.keras", "missing.py"], env, tmp_path)
    assert missing.returncode == 2 and "can't open file" in missing.stderr and "missing.py" in missing.stderr
    nothing = _run(["-m", "fastconv.keras"], env, tmp_path)
    assert nothing.returncode == 2 and "usage: python -m fastconv.keras SCRIPT.py" in nothing.stderr


def test_what_fastconv_lacks_raises_naming_it(tmp_path, environment):
    script = tmp_path / "lacks.py"
    script.write_text(textwrap.dedent("""
        import tensorflow as tf
        for attempt in ("tf.data", "tf.config.experimental.set_memory_growth", "tf.random.uniform"):
            try:
                eval(attempt)
            except AttributeError as error:
                print(attempt, "->", error)
        for name in ("keras.src", "tensorflow.data", "keras.applications"):
            try:
                __import__(name)
            except ModuleNotFoundError as error:
                print(name, "->", error.name, "|", error)
    """))
    result = _run(["-m", "fastconv.keras", "lacks.py"], environment, tmp_path)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 6
    for line, name in zip(lines[:3], ["tensorflow.data", "tensorflow.config.experimental.set_memory_growth",
                                      "tensorflow.random.uniform"]):
        assert f"fastconv provides Keras, not TensorFlow: {name} is not available" in line
    for line, name in zip(lines[3:], ["keras.src", "tensorflow.data", "keras.applications"]):
        assert line.startswith(f"{name} -> {name} |") and "under fastconv's Keras switch" in line


def test_installed_keras_is_untouched_outside_the_switch(tmp_path):
    script = textwrap.dedent("""
        from fastconv import keras_switch
        keras_switch.install()
        import keras
        inside = keras.__name__
        keras_switch.uninstall()  # also forgets the aliases in sys.modules
        import keras
        print(inside, keras.__name__, keras.__version__)
    """)
    result = _run(["-c", script], dict(os.environ, PYTHONPATH=str(ROOT), KERAS_BACKEND="torch"), tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["fastconv.keras", "keras", "3.15.1"]


def test_switch_warns_when_keras_was_imported_first(tmp_path):
    script = textwrap.dedent("""
        import warnings
        import keras
        from fastconv import keras_switch
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            keras_switch.install()
        print(caught[0].category.__name__, "|", caught[0].message)
    """)
    result = _run(["-c", script], dict(os.environ, PYTHONPATH=str(ROOT), KERAS_BACKEND="torch"), tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("RuntimeWarning | keras already imported in this process")
    assert "%load_ext fastconv.keras" in result.stdout


def test_target_names():
    assert keras_switch.target_name("keras") == "fastconv.keras"
    assert keras_switch.target_name("keras.layers") == "fastconv.keras.layers"
    assert keras_switch.target_name("tensorflow") == "fastconv.tensorflow_subset"
    assert keras_switch.target_name("tensorflow.keras") == "fastconv.keras"
    assert keras_switch.target_name("tensorflow.keras.datasets.fashion_mnist") == \
        "fastconv.keras.datasets.fashion_mnist"
    assert keras_switch.target_name("tensorflow.data") == "fastconv.tensorflow_subset.data"
    assert keras_switch.target_name("kerastuner") is None
    assert keras_switch.target_name("tensorflow_datasets") is None


def test_tensorflow_threads_set_fastconvs(restore_threads):
    assert tensorflow_subset.config.threading.get_intra_op_parallelism_threads() == 0
    try:
        tensorflow_subset.config.threading.set_intra_op_parallelism_threads(1)
        assert fastconv.get_num_threads() == 1
        assert tensorflow_subset.config.threading.get_intra_op_parallelism_threads() == 1
        tensorflow_subset.config.threading.set_intra_op_parallelism_threads(0)
        assert fastconv.get_num_threads() == parallel._default_threads()
        tensorflow_subset.config.threading.set_inter_op_parallelism_threads(2)
        assert tensorflow_subset.config.threading.get_inter_op_parallelism_threads() == 2
        with pytest.raises(ValueError, match=r"set_intra_op_parallelism_threads expects .* received -1"):
            tensorflow_subset.config.threading.set_intra_op_parallelism_threads(-1)
        with pytest.raises(ValueError, match=r"set_inter_op_parallelism_threads expects .* received '2'"):
            tensorflow_subset.config.threading.set_inter_op_parallelism_threads("2")
    finally:
        tensorflow_subset.config.threading.set_inter_op_parallelism_threads(0)
        tensorflow_subset.config.threading.set_intra_op_parallelism_threads(0)


def test_tensorflow_set_seed_seeds_fastconv():
    from fastconv import keras

    def weights():
        tensorflow_subset.random.set_seed(7)
        layer = keras.layers.Dense(5)
        layer.build((None, 4))
        return layer.get_weights()[0]

    first, second = weights(), weights()
    np.testing.assert_array_equal(first, second)
    tensorflow_subset.random.set_seed(8)
    other = keras.layers.Dense(5)
    other.build((None, 4))
    assert not np.array_equal(other.get_weights()[0], first)


def test_tensorflow_devices():
    assert tensorflow_subset.config.list_physical_devices("GPU") == []
    assert tensorflow_subset.config.list_physical_devices("cpu") == [
        tensorflow_subset.PhysicalDevice("/physical_device:CPU:0", "CPU")]
    with pytest.raises(TypeError, match="device_type"):
        tensorflow_subset.config.list_physical_devices(0)


TEXTBOOK_NOTEBOOK = [
    "%load_ext fastconv.keras",
    """\
import numpy as np
import tensorflow as tf
from tensorflow import keras

tf.keras.utils.set_random_seed(42)
tf.config.experimental.enable_op_determinism()""",
    """\
fashion_mnist = keras.datasets.fashion_mnist.load_data()
(X_train_full, y_train_full), (X_test, y_test) = fashion_mnist
X_train_full = np.expand_dims(X_train_full, axis=-1).astype(np.float32) / 255
X_test = np.expand_dims(X_test, axis=-1).astype(np.float32) / 255
X_train, y_train = X_train_full[:4000], y_train_full[:4000]
X_valid, y_valid = X_train_full[-1000:], y_train_full[-1000:]
X_train.shape""",
    """\
from functools import partial

DefaultConv2D = partial(keras.layers.Conv2D, kernel_size=3, padding="same", activation="relu",
                        kernel_initializer="he_normal")
model = keras.Sequential([
    keras.layers.Input(shape=[28, 28, 1]),
    DefaultConv2D(filters=32),
    keras.layers.MaxPool2D(),
    DefaultConv2D(filters=64),
    keras.layers.MaxPool2D(),
    keras.layers.Flatten(),
    keras.layers.Dense(units=100, activation="relu", kernel_initializer="he_normal"),
    keras.layers.Dropout(0.5),
    keras.layers.Dense(units=10, activation="softmax"),
])
model.summary()""",
    'keras.utils.plot_model(model, show_shapes=True)',
    """\
model.compile(loss="sparse_categorical_crossentropy", optimizer="adam", metrics=["accuracy"])
history = model.fit(X_train, y_train, epochs=3, validation_data=(X_valid, y_valid), verbose=0)
test_loss, test_accuracy = model.evaluate(X_test[:2000], y_test[:2000], verbose=0)
print(type(model).__module__, list(history.history), round(test_accuracy, 4))""",
    """\
model.save("my_fashion_cnn.keras")
reloaded = keras.models.load_model("my_fashion_cnn.keras")
print(np.array_equal(reloaded.predict(X_test[:64], verbose=0), model.predict(X_test[:64], verbose=0)))""",
]


def test_textbook_notebook_runs_with_load_ext_as_its_only_added_line(tmp_path, environment):
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source) for source in TEXTBOOK_NOTEBOOK])
    NotebookClient(notebook, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(tmp_path)}}).execute(env=environment)
    outputs = [re.sub(r"\x1b\[[0-9;]*m", "", "".join(output.get("text", "") or output.get("data", {}).get(
        "text/plain", "") for output in cell.outputs)) for cell in notebook.cells]  # without terminal colours
    assert outputs[2] == "(4000, 28, 28, 1)"
    assert "conv2d_1 (Conv2D)" in outputs[3] and "Total params: 333,526" in outputs[3]
    assert [output.get("data", {}).get("image/png", "")[:8] for output in notebook.cells[4].outputs] == \
        ["iVBORw0K"]  # one PNG, displayed (base64 of the PNG signature)
    module, keys, accuracy = outputs[5].split(" [")[0], outputs[5].split("[")[1].split("]")[0], \
        float(outputs[5].rsplit(" ", 1)[1])
    assert module == "fastconv.models"
    assert sorted(keys.split(", ")) == ["'accuracy'", "'loss'", "'val_accuracy'", "'val_loss'"]
    assert accuracy > 0.75  # the textbook CNN on 4,000 images, 3 epochs (Keras gets about 0.8)
    assert outputs[6].strip() == "True"
    assert (tmp_path / "my_fashion_cnn.keras").stat().st_size > 100_000


TENSORFLOW_QUICKSTART = textwrap.dedent("""
    # TensorFlow 2 quickstart for beginners, as written there (Fashion-MNIST in place of MNIST, which this
    # machine does not have, and 3,000 training images to keep it short).
    import tensorflow as tf
    print("TensorFlow version:", tf.__version__)

    mnist = tf.keras.datasets.fashion_mnist
    (x_train, y_train), (x_test, y_test) = mnist.load_data()
    x_train, x_test = x_train / 255.0, x_test / 255.0
    x_train, y_train = x_train[:3000], y_train[:3000]

    model = tf.keras.models.Sequential([
      tf.keras.layers.Flatten(input_shape=(28, 28)),
      tf.keras.layers.Dense(128, activation='relu'),
      tf.keras.layers.Dropout(0.2),
      tf.keras.layers.Dense(10)
    ])
    predictions = model(x_train[:1]).numpy()
    print("probabilities", tf.nn.softmax(predictions).numpy().sum())
    loss_fn = tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    print("initial loss", loss_fn(y_train[:1], predictions).numpy())
    model.compile(optimizer='adam', loss=loss_fn, metrics=['accuracy'])
    model.fit(x_train, y_train, epochs=2)
    print("evaluate", model.evaluate(x_test,  y_test, verbose=2))
    probability_model = tf.keras.Sequential([
      model,
      tf.keras.layers.Softmax()
    ])
    print("rows", probability_model(x_test[:5]).numpy().sum(axis=1))
""")


def test_tensorflows_quickstart_runs_unchanged(tmp_path, environment):
    (tmp_path / "quickstart.py").write_text(TENSORFLOW_QUICKSTART)
    result = _run(["-m", "fastconv.keras", "quickstart.py"], environment, tmp_path)
    assert result.returncode == 0, result.stderr
    lines = {line.split()[0]: line for line in result.stdout.splitlines() if line.split()}
    assert float(lines["probabilities"].split()[1]) == pytest.approx(1, abs=1e-5)
    assert 1.0 < float(lines["initial"].split()[2]) < 5.0  # about log(10) for an untrained model
    accuracy = float(lines["evaluate"].split()[-1].strip("]"))
    assert accuracy > 0.6
    assert np.allclose(np.array(lines["rows"].split("[")[1].strip("]").split(), float), 1, atol=1e-5)


def test_tensorflow_activation_functions_serve_as_activations():
    # TensorFlow 2's Fashion-MNIST tutorial: `Dense(10, activation=tf.nn.softmax)`.
    from fastconv import keras

    for function, name in ((tensorflow_subset.nn.softmax, "softmax"), (tensorflow_subset.nn.relu, "relu"),
                           (tensorflow_subset.nn.sigmoid, "sigmoid")):
        assert keras.layers.Dense(2, activation=function).get_config()["activation"] == name
    with pytest.warns(UserWarning, match="`input_shape` is deprecated"):
        assert keras.layers.InputLayer(input_shape=(28, 28, 1)).batch_shape == (None, 28, 28, 1)


TENSORBOARD_SCRIPT = textwrap.dedent("""
    import glob

    import numpy as np
    import tensorflow as tf
    from tensorboard.backend.event_processing import event_accumulator

    model = tf.keras.Sequential([tf.keras.Input((4,)), tf.keras.layers.Dense(2, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(np.ones((8, 4), "float32"), np.arange(8) % 2, epochs=2, verbose=0,
              callbacks=[tf.keras.callbacks.TensorBoard("logs")])
    reader = event_accumulator.EventAccumulator(glob.glob("logs/train")[0])
    reader.Reload()
    print(sorted(reader.Tags()["tensors"]))
""")


def test_tensorboard_reads_and_writes_beside_the_switch(tmp_path):
    """A program under the switch reads its TensorBoard logs with tensorboard's own reader: tensorboard then uses
    its own stub of TensorFlow, not fastconv's subset (with which it failed)."""
    (tmp_path / "tb.py").write_text(TENSORBOARD_SCRIPT)
    result = _run(["-m", "fastconv.keras", "tb.py"], dict(os.environ, PYTHONPATH=str(ROOT)), tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == (
        "['epoch_accuracy', 'epoch_learning_rate', 'epoch_loss', 'keras']")
