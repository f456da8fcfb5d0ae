"""``keras.utils.plot_model`` and ``model_to_dot``: the graph against real Keras's, real Graphviz images, the advice.

The same code builds each model in fastconv and in Keras (the APIs are the
same), and the DOT source of the two, node ids replaced by layer names, must be
the same text: labels (names, classes, shapes, dtypes, activations, trainable),
attributes and edges. Images are drawn by the real Graphviz ``dot``; a missing
pydot or Graphviz is made by hiding the module or emptying ``PATH``, and the
advice compared with what Keras says in the same situation.
"""

import io
import os
import re
import struct
import sys
import types

import pytest

import fastconv.keras as fkeras
from fastconv import visualization
from keras_reference import keras

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


# ---------------------------------------------------------------------- models, built the same way in both libraries


def textbook_cnn(k):
    return k.Sequential([
        k.Input((28, 28, 1)),
        k.layers.Conv2D(32, 3, padding="same", activation="relu", name="conv_a"),
        k.layers.MaxPooling2D(name="pool_a"),
        k.layers.Conv2D(64, 3, padding="same", activation="relu", name="conv_b"),
        k.layers.MaxPooling2D(name="pool_b"),
        k.layers.Flatten(name="flatten"),
        k.layers.Dense(100, activation="relu", name="hidden"),
        k.layers.Dense(10, activation="softmax", name="classes"),
    ], name="textbook")


def two_heads(k):
    """A trunk that branches into two heads, the trunk's dense layer frozen."""
    image = k.Input((16, 16, 3), name="image")
    x = k.layers.Conv2D(8, 3, activation="relu", name="conv")(image)
    x = k.layers.MaxPooling2D(name="pool")(x)
    x = k.layers.Flatten(name="flatten")(x)
    trunk = k.layers.Dense(32, activation="relu", name="trunk")
    x = trunk(x)
    trunk.trainable = False
    classes = k.layers.Dense(10, activation="softmax", name="classes")(x)
    box = k.layers.Dense(4, name="box")(x)
    return k.Model(image, [classes, box], name="two_heads")


def shared_layer(k):
    """One Dense layer called twice: one node, an edge to itself."""
    inputs = k.Input((8,), name="features")
    shared = k.layers.Dense(8, activation="tanh", name="shared")
    x = k.layers.Dropout(0.5, name="dropout")(shared(shared(inputs)))
    return k.Model(inputs, k.layers.Dense(1, name="out")(x), name="shared_twice")


MODELS = [textbook_cnn, two_heads, shared_layer]


def dot_source(dot, model):
    """``dot.to_string()`` with each node id (``str(id(layer))``) replaced by the layer's name."""
    text = dot.to_string()
    for layer in model.layers:
        text = re.sub(rf"\b{id(layer)}\b", f'"{layer.name}"', text)
    return text


def png_size(data):
    """(width, height) of a PNG from its IHDR chunk, after checking the signature."""
    assert data[:8] == PNG_SIGNATURE
    assert data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


# ---------------------------------------------------------------------- the graph: the same as Keras's


SHOW = [
    {},
    {"show_shapes": True},
    {"show_shapes": True, "show_dtype": True, "show_layer_activations": True, "show_trainable": True},
    {"show_layer_names": False, "show_dtype": True},
    {"show_trainable": True, "rankdir": "LR", "dpi": 96, "splines": "curved"},
    {"show_shapes": True, "subgraph": True},
]


@pytest.mark.parametrize("show", SHOW, ids=lambda s: ",".join(f"{k}={v}" for k, v in s.items()) or "defaults")
@pytest.mark.parametrize("build", MODELS, ids=lambda f: f.__name__)
def test_model_to_dot_matches_keras(build, show):
    ours, theirs = build(fkeras), build(keras)
    assert dot_source(fkeras.utils.model_to_dot(ours, **show), ours) == \
        dot_source(keras.utils.model_to_dot(theirs, **show), theirs)


def test_textbook_cnn_nodes_shapes_and_edges():
    """What the comparison above rests on, spelled out for one model: no node or edge missing on both sides."""
    model = textbook_cnn(fkeras)
    dot = fkeras.utils.model_to_dot(model, show_shapes=True)
    names = [layer.name for layer in model.layers]
    assert names == ["conv_a", "pool_a", "conv_b", "pool_b", "flatten", "hidden", "classes"]
    labels = {node.get_name(): node.get("label") for node in dot.get_nodes() if node.get_name() != "node"}
    assert len(labels) == len(names)
    label = labels[str(id(model.get_layer("pool_b")))]
    assert "<b>pool_b</b> (MaxPooling2D)" in label
    assert "Input shape: <b>(None, 14, 14, 64)</b>" in label
    assert "Output shape: <b>(None, 7, 7, 64)</b>" in label
    assert "Output shape: <b>(None, 3136)</b>" in labels[str(id(model.get_layer("flatten")))]
    edges = [(edge.get_source(), edge.get_destination()) for edge in dot.get_edges()]
    assert edges == [(str(id(a)), str(id(b))) for a, b in zip(model.layers, model.layers[1:])]


def test_branches_draw_an_edge_per_call():
    model = two_heads(fkeras)
    dot = fkeras.utils.model_to_dot(model)
    name = {str(id(layer)): layer.name for layer in model.layers}
    edges = sorted((name[edge.get_source()], name[edge.get_destination()]) for edge in dot.get_edges())
    assert edges == [("conv", "pool"), ("flatten", "trunk"), ("image", "conv"), ("pool", "flatten"),
                     ("trunk", "box"), ("trunk", "classes")]


def test_a_layer_in_two_models_draws_only_this_models_calls():
    inputs = fkeras.Input((4,), name="first_input")
    dense = fkeras.layers.Dense(4, name="dense")
    first = fkeras.Model(inputs, dense(inputs))
    other = fkeras.Input((4,), name="other_input")
    fkeras.Model(other, dense(other))
    edges = [(e.get_source(), e.get_destination()) for e in fkeras.utils.model_to_dot(first).get_edges()]
    assert edges == [(str(id(inputs.node.layer)), str(id(dense)))]


def test_names_are_escaped():
    model = fkeras.Sequential([fkeras.Input((2,)), fkeras.layers.Dense(1, name="a<b&c")])
    assert "<b>a&lt;b&amp;c</b> (Dense)" in fkeras.utils.model_to_dot(model).to_string()


# ---------------------------------------------------------------------- images drawn by Graphviz


def test_plot_textbook_cnn_png(tmp_path):
    model = textbook_cnn(fkeras)
    path = tmp_path / "model.png"
    fkeras.utils.plot_model(model, to_file=str(path), show_shapes=True)
    data = path.read_bytes()
    width, height = png_size(data)
    assert 600 < width < 4000 and 1500 < height < 8000  # 7 boxes one under the other at 200 dpi
    assert height > 1.3 * width
    assert len(data) > 20_000
    assert not [p.name for p in tmp_path.iterdir() if p.name != "model.png"]  # no temporary left behind


def test_plot_rankdir_and_dpi_change_the_image(tmp_path):
    model = textbook_cnn(fkeras)
    fkeras.utils.plot_model(model, to_file=tmp_path / "tb.png")
    fkeras.utils.plot_model(model, to_file=tmp_path / "lr.png", rankdir="LR")
    fkeras.utils.plot_model(model, to_file=tmp_path / "small.png", dpi=50)
    tb = png_size((tmp_path / "tb.png").read_bytes())
    lr = png_size((tmp_path / "lr.png").read_bytes())
    small = png_size((tmp_path / "small.png").read_bytes())
    assert tb[1] > tb[0] and lr[0] > lr[1]
    assert small[0] == pytest.approx(tb[0] / 4, rel=0.05)


def test_plot_functional_model(tmp_path):
    path = tmp_path / "heads.svg"
    fkeras.utils.plot_model(two_heads(fkeras), to_file=path, show_layer_names=True, show_shapes=True)
    svg = path.read_text()
    assert "<svg" in svg
    for text in ("image", "conv", "trunk", "classes", "box", "(None, 10)", "(None, 4)"):
        assert f">{text}<" in svg or text in svg
    assert svg.count('class="edge"') == 6


@pytest.mark.parametrize("name, check", [
    ("model.pdf", lambda data: data.startswith(b"%PDF")),
    ("model.jpg", lambda data: data.startswith(b"\xff\xd8\xff")),
    ("model.dot", lambda data: data.startswith(b"digraph") and b"pos=" in data),  # laid out by Graphviz
    ("model", lambda data: data.startswith(PNG_SIGNATURE)),  # no extension: PNG, as Keras
    ("MODEL.PNG", lambda data: data.startswith(PNG_SIGNATURE)),
])
def test_format_follows_the_extension(tmp_path, name, check):
    from IPython import display

    shown = fkeras.utils.plot_model(textbook_cnn(fkeras), to_file=tmp_path / name)
    assert check((tmp_path / name).read_bytes())
    if name.lower().endswith((".jpg", ".png")) or "." not in name:
        assert isinstance(shown, display.Image) and shown.data == (tmp_path / name).read_bytes()


def test_unknown_extension_names_to_file_and_writes_nothing(tmp_path):
    path = tmp_path / "model.xyz"
    path.write_bytes(b"before")
    with pytest.raises(ValueError, match=r"Invalid value for argument `to_file`\. .*png.*svg.* Received: "
                                         r"to_file='.*model\.xyz'"):
        fkeras.utils.plot_model(textbook_cnn(fkeras), to_file=path)
    assert path.read_bytes() == b"before"


def test_replaces_an_existing_file(tmp_path):
    path = tmp_path / "model.png"
    path.write_bytes(b"old")
    fkeras.utils.plot_model(textbook_cnn(fkeras), to_file=path)
    assert path.read_bytes().startswith(PNG_SIGNATURE)


# ---------------------------------------------------------------------- what plot_model returns


def test_returns_an_ipython_image_of_the_file(tmp_path):
    from IPython import display

    path = tmp_path / "model.png"
    image = fkeras.utils.plot_model(textbook_cnn(fkeras), to_file=path)
    assert isinstance(image, display.Image)
    assert image.data == path.read_bytes()
    assert image._repr_png_() is not None


def test_returns_svg_none_for_pdf_and_dot(tmp_path):
    from IPython import display

    model = textbook_cnn(fkeras)
    svg = fkeras.utils.plot_model(model, to_file=tmp_path / "model.svg")
    assert isinstance(svg, display.SVG) and "<svg" in svg._repr_svg_()
    assert fkeras.utils.plot_model(model, to_file=tmp_path / "model.pdf") is None
    assert fkeras.utils.plot_model(model, to_file=tmp_path / "model.dot") is None


def test_returns_none_without_ipython(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "IPython", None)
    assert fkeras.utils.plot_model(textbook_cnn(fkeras), to_file=tmp_path / "model.png") is None
    assert (tmp_path / "model.png").read_bytes().startswith(PNG_SIGNATURE)


def test_displays_in_a_notebook(tmp_path):
    """A real Jupyter kernel runs the call; the cell's output is the PNG."""
    import base64

    import nbclient
    import nbformat

    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        "from fastconv import keras\n"
        "model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])\n"
        "keras.utils.plot_model(model, to_file='model.png', show_shapes=True)")])
    nbclient.NotebookClient(notebook, timeout=120, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = notebook.cells[0].outputs
    assert [output.output_type for output in outputs] == ["execute_result"]
    assert base64.b64decode(outputs[0].data["image/png"]) == (tmp_path / "model.png").read_bytes()


# ---------------------------------------------------------------------- missing pydot or Graphviz: Keras's advice


@pytest.fixture
def without_pydot(monkeypatch):
    """pydot cannot be imported by fastconv, nor used by Keras (which imported it at its own import)."""
    from keras.src.utils import model_visualization

    monkeypatch.setitem(sys.modules, "pydot", None)
    monkeypatch.setattr(model_visualization, "pydot", None)


@pytest.fixture
def without_graphviz(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))


@pytest.fixture
def outside_a_notebook(monkeypatch):
    """Not in a notebook, as Keras judges it: importing IPython (as the tests above do) loads this module."""
    monkeypatch.delitem(sys.modules, "IPython.core.magics.namespace", raising=False)


def keras_error(build, function, **kwargs):
    with pytest.raises(Exception) as theirs:
        function(build(keras), **kwargs)
    return theirs


def test_missing_pydot_raises_keras_advice(tmp_path, without_pydot, outside_a_notebook):
    path = tmp_path / "model.png"
    theirs = keras_error(textbook_cnn, keras.utils.plot_model, to_file=str(path))
    with pytest.raises(ImportError) as ours:
        fkeras.utils.plot_model(textbook_cnn(fkeras), to_file=path)
    assert str(ours.value) == str(theirs.value) == \
        "You must install pydot (`pip install pydot`) for `plot_model` to work."
    assert ours.type is theirs.type
    assert not path.exists()


def test_missing_pydot_model_to_dot(without_pydot):
    theirs = keras_error(textbook_cnn, keras.utils.model_to_dot)
    with pytest.raises(ImportError) as ours:
        fkeras.utils.model_to_dot(textbook_cnn(fkeras))
    assert str(ours.value) == str(theirs.value)
    assert "pip install pydot" in str(ours.value)


def test_missing_pydot_in_a_notebook_prints_the_advice(tmp_path, without_pydot, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "IPython.core.magics.namespace", types.ModuleType("namespace"))
    assert fkeras.utils.plot_model(textbook_cnn(fkeras), to_file=tmp_path / "model.png") is None
    assert capsys.readouterr().out == "You must install pydot (`pip install pydot`) for `plot_model` to work.\n"
    assert not (tmp_path / "model.png").exists()


def test_missing_graphviz_raises_keras_advice(tmp_path, without_graphviz, outside_a_notebook):
    path = tmp_path / "model.png"
    theirs = keras_error(textbook_cnn, keras.utils.plot_model, to_file=str(path))
    with pytest.raises(ImportError) as ours:
        fkeras.utils.plot_model(textbook_cnn(fkeras), to_file=path)
    assert str(ours.value) == str(theirs.value)
    assert "You must install graphviz" in str(ours.value)
    assert not path.exists()


def test_missing_graphviz_leaves_model_to_dot_working(without_graphviz):
    assert "conv_a" in fkeras.utils.model_to_dot(textbook_cnn(fkeras)).to_string()


def test_missing_graphviz_in_a_notebook_prints_the_advice(tmp_path, without_graphviz, monkeypatch):
    monkeypatch.setitem(sys.modules, "IPython.core.magics.namespace", types.ModuleType("namespace"))
    printed = io.StringIO()
    monkeypatch.setattr(sys, "stdout", printed)
    assert fkeras.utils.plot_model(textbook_cnn(fkeras), to_file=tmp_path / "model.png") is None
    assert printed.getvalue().startswith("You must install graphviz")


# ---------------------------------------------------------------------- arguments


def test_signatures_are_keras():
    import inspect

    from keras.src.utils import model_visualization

    for name in ("plot_model", "model_to_dot"):
        ours = inspect.signature(getattr(fkeras.utils, name))
        theirs = inspect.signature(getattr(model_visualization, name))
        assert ours == theirs, name


@pytest.mark.parametrize("rankdir", ["lr", "XY", None, 1])
def test_bad_rankdir_names_the_argument(tmp_path, rankdir):
    model = textbook_cnn(fkeras)
    message = rf"Invalid value for argument `rankdir`\. Expected one of 'TB', 'LR', 'BT', 'RL'.* " \
              rf"Received: rankdir={re.escape(repr(rankdir))}"
    with pytest.raises(ValueError, match=message):
        fkeras.utils.plot_model(model, to_file=tmp_path / "model.png", rankdir=rankdir)
    with pytest.raises(ValueError, match=message):
        fkeras.utils.model_to_dot(model, rankdir=rankdir)
    assert not (tmp_path / "model.png").exists()


@pytest.mark.parametrize("dpi", [0, -5, "high", True])
def test_bad_dpi_names_the_argument(dpi):
    with pytest.raises(ValueError, match=rf"`dpi`.* Received: dpi={re.escape(repr(dpi))}"):
        fkeras.utils.model_to_dot(textbook_cnn(fkeras), dpi=dpi)


@pytest.mark.parametrize("kwargs, message", [
    ({"layer_range": ["a", "b"]}, "Argument `layer_range` is no longer supported."),
    ({"show_shape": True}, "Unrecognized keyword arguments: {'show_shape': True}"),
])
def test_keyword_arguments_as_keras(tmp_path, kwargs, message):
    for function in (fkeras.utils.plot_model, keras.utils.plot_model):
        build = fkeras if function is fkeras.utils.plot_model else keras
        with pytest.raises(ValueError) as error:
            function(textbook_cnn(build), to_file=str(tmp_path / "model.png"), **kwargs)
        assert str(error.value) == message


def test_unbuilt_model_as_keras(tmp_path):
    theirs = keras_error(lambda k: k.Sequential([k.layers.Dense(2)]), keras.utils.plot_model,
                         to_file=str(tmp_path / "model.png"))
    for function in (fkeras.utils.plot_model, fkeras.utils.model_to_dot):
        with pytest.raises(ValueError) as ours:
            function(fkeras.Sequential([fkeras.layers.Dense(2)]))
        assert str(ours.value) == str(theirs.value)


def test_not_a_model_names_the_argument():
    with pytest.raises(TypeError, match=r"Invalid value for argument `model`\..* Received: model='model.h5'"):
        fkeras.utils.plot_model("model.h5")


def test_a_layer_is_one_node():
    layer = fkeras.layers.Dense(3, name="alone")
    layer.build((None, 2))
    dot = fkeras.utils.model_to_dot(layer, show_shapes=True)
    assert [n.get_name() for n in dot.get_nodes() if n.get_name() != "node"] == [str(id(layer))]
    assert "Output shape: <b>?</b>" in dot.to_string()  # never called: no tensors, as in Keras


def test_pydot_is_imported_only_when_asked():
    import subprocess

    code = "import sys, fastconv.keras; fastconv.keras.utils.plot_model; print('pydot' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                            cwd=os.path.dirname(os.path.dirname(visualization.__file__)))
    assert result.stdout.strip() == "False"
