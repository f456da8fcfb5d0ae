"""Drawing a model as a graph: ``keras.utils.model_to_dot`` and ``keras.utils.plot_model``, through pydot and Graphviz.

What lives here: the picture Keras 3 draws of a model. One node per layer,
labelled with an HTML-like table as Keras labels it (the layer's name and
class, then on request its activation, input and output shapes, output dtype
and whether it trains), and one edge per layer call: a ``Sequential`` model is
a chain, a functional model's edges run from the layer that made each call's
input to the layer called. Shared layers are one node, as in Keras.

pydot and Graphviz (the ``dot`` program) are optional, as they are for Keras:
they are imported or run only when a plot is asked for, and their absence is
told with Keras's own advice (``pip install pydot``, install graphviz), never
a traceback from deep inside. The image is written whole or not at all
(``fastconv.files.atomic_write``).

What does not live here: the model's graph itself (``fastconv.models``).
"""

import html
import os
import sys
import tempfile

from fastconv.files import atomic_write
from fastconv.layers.base import Layer

RANKDIRS = ("TB", "LR", "BT", "RL")
"""Graphviz's ``rankdir`` values; Graphviz silently draws top to bottom for anything else (``'lr'`` included)."""

_PYDOT_ADVICE = "You must install pydot (`pip install pydot`) for {} to work."
_GRAPHVIZ_ADVICE = ("You must install graphviz (see instructions at https://graphviz.gitlab.io/download/) "
                    "for `plot_model` to work.")
_NOT_BUILT = ("This model has not yet been built. Build the model first by calling `build()` or by calling the "
              "model on a batch of data.")


def model_to_dot(model, show_shapes=False, show_dtype=False, show_layer_names=True, rankdir="TB",
                 expand_nested=False, dpi=200, subgraph=False, show_layer_activations=False, show_trainable=False,
                 splines="ortho", **kwargs):
    """The ``pydot.Dot`` graph of ``model`` that Keras 3 draws (``keras.utils.model_to_dot``).

    Each layer is a node whose id is ``str(id(layer))`` and whose label is an
    HTML-like table: ``name (Class)`` (``Class`` alone with
    ``show_layer_names=False``), then, on request, ``Activation: name``, then
    one row of cells: ``Input shape: (None, 28, 28, 1)`` (not for an
    ``InputLayer``), ``Output shape: ...``, ``Output dtype: float32`` and
    ``Trainable``/``Non-trainable`` (layers with weights only). A
    ``Sequential`` model's nodes are its layers without the ``InputLayer``,
    joined in a chain; a functional model's include its input layers and are
    joined by its layer calls.

    Parameters
    ----------
    model : fastconv.models.Model or Sequential
        A built model. A single layer is drawn as one node, as Keras draws a
        subclassed model.
    show_shapes, show_dtype, show_layer_names, show_layer_activations, show_trainable : bool
        What the labels show, as above.
    rankdir : {'TB', 'LR', 'BT', 'RL'}
        The direction of the graph: top to bottom, left to right, ...
    expand_nested : bool
        Accepted for Keras compatibility: fastconv models do not nest, so
        there is nothing to expand.
    dpi : int or float
        The resolution of the image Graphviz draws from the graph.
    subgraph : bool
        Return a ``pydot.Cluster`` (a dashed box named after the model) to
        place in another graph, instead of a ``pydot.Dot``.
    splines : str
        How Graphviz draws edges: ``'ortho'`` (right angles), ``'curved'``,
        ``'polyline'``, ``'spline'``, ``'line'``.

    Returns
    -------
    pydot.Dot or pydot.Cluster

    Raises
    ------
    ValueError
        The model is not built, ``rankdir`` or ``dpi`` is not a valid value,
        or an unknown keyword argument was given.
    ImportError
        pydot is not installed; the message says to ``pip install pydot``.

    Examples
    --------
    >>> from fastconv import layers, models
    >>> model = models.Sequential([layers.Input((4,)), layers.Dense(2, name="out")])
    >>> dot = model_to_dot(model, show_shapes=True)
    >>> "<b>out</b> (Dense)" in dot.to_string(), "Output shape: <b>(None, 2)</b>" in dot.to_string()
    (True, True)
    """
    from fastconv.models import Model, Sequential  # models import much; this module is imported by keras.utils

    _check_built(model)
    pydot = _import_pydot()
    if pydot is None:
        raise ImportError(_PYDOT_ADVICE.format("model_to_dot"))
    if rankdir not in RANKDIRS:
        raise ValueError(f"Invalid value for argument `rankdir`. Expected one of {', '.join(map(repr, RANKDIRS))} "
                         f"(Graphviz's names, in capitals). Received: rankdir={rankdir!r}")
    if isinstance(dpi, bool) or not isinstance(dpi, (int, float)) or not dpi > 0:
        raise ValueError(f"Invalid value for argument `dpi`. Expected a positive number of dots per inch. "
                         f"Received: dpi={dpi!r}")
    _check_kwargs(kwargs)

    if subgraph:
        dot = pydot.Cluster(style="dashed", graph_name=model.name)
        dot.set("label", model.name)
        dot.set("labeljust", "l")
    else:
        dot = pydot.Dot()
        dot.set("rankdir", rankdir)
        dot.set("concentrate", True)
        dot.set("dpi", dpi)
        dot.set("splines", splines)
        dot.set_node_defaults(shape="record")
    show = {"show_layer_names": show_layer_names, "show_layer_activations": show_layer_activations,
            "show_dtype": show_dtype, "show_shapes": show_shapes, "show_trainable": show_trainable}

    if not isinstance(model, Model):  # a layer: one node, as Keras draws a subclassed model
        dot.add_node(_node(pydot, model, **show))
        return dot
    layers = model.layers
    for layer in layers:
        dot.add_node(_node(pydot, layer, **show))
    if isinstance(model, Sequential):  # its layers hold no InputLayer: a chain from the first layer
        for source, destination in zip(layers, layers[1:]):
            _add_edge(pydot, dot, source, destination)
        return dot
    calls = {id(node) for node in model._nodes}
    for layer in layers:
        for node in layer._inbound_nodes:
            if id(node) in calls:  # a shared layer's calls in other models draw no edge here
                for tensor in node.input_tensors:  # a merge has an edge from each of its inputs
                    _add_edge(pydot, dot, tensor.node.layer, layer)
    return dot


def plot_model(model, to_file="model.png", show_shapes=False, show_dtype=False, show_layer_names=False, rankdir="TB",
               expand_nested=False, dpi=200, show_layer_activations=False, show_trainable=False, splines="ortho",
               **kwargs):
    """Draw ``model`` with Graphviz into ``to_file`` (``keras.utils.plot_model``).

    The graph is :func:`model_to_dot`'s; the format of the file is its
    extension's (``.png``, ``.svg``, ``.pdf``, ``.jpg``, ``.dot``, any format
    the installed Graphviz writes), PNG for a name without one.

    Parameters
    ----------
    model : fastconv.models.Model or Sequential
        A built model.
    to_file : str or os.PathLike
        The file to write; replaced whole if it exists.
    show_shapes, show_dtype, show_layer_names, rankdir, expand_nested, dpi, show_layer_activations
        As for :func:`model_to_dot` (but ``show_layer_names=False`` here, as in Keras).
    show_trainable, splines
        As for :func:`model_to_dot`.

    Returns
    -------
    IPython.display.Image, IPython.display.SVG or None
        Where IPython is installed, an object that shows the image in a
        notebook: an ``Image`` of a PNG, JPEG or GIF file, an ``SVG`` of an
        SVG file (Keras raises ``ValueError`` there, after writing the file);
        ``None`` for other formats (PDF, DOT, ...) or without IPython.

    Raises
    ------
    ImportError
        pydot or Graphviz is missing: the message says what to install. In a
        notebook (IPython's namespace magics loaded) the message is printed
        and ``None`` returned instead, as Keras does.
    ValueError
        The model is not built, the extension of ``to_file`` is not a format
        Graphviz writes, or an argument is invalid (see :func:`model_to_dot`).
    RuntimeError
        Graphviz failed to draw the graph; the message carries its own.

    Examples
    --------
    >>> import os, tempfile
    >>> from fastconv import layers, models
    >>> model = models.Sequential([layers.Input((4,)), layers.Dense(2)])
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     _ = plot_model(model, to_file=os.path.join(folder, "model.png"), show_shapes=True)
    ...     with open(os.path.join(folder, "model.png"), "rb") as file:
    ...         file.read(8)
    b'\\x89PNG\\r\\n\\x1a\\n'
    """
    _check_built(model)
    pydot = _import_pydot()
    if pydot is None:
        return _advise(_PYDOT_ADVICE.format("`plot_model`"))
    if not _graphviz_runs(pydot):
        return _advise(_GRAPHVIZ_ADVICE)
    _check_kwargs(kwargs)

    dot = model_to_dot(model, show_shapes=show_shapes, show_dtype=show_dtype, show_layer_names=show_layer_names,
                       rankdir=rankdir, expand_nested=expand_nested, dpi=dpi,
                       show_layer_activations=show_layer_activations, show_trainable=show_trainable,
                       splines=splines)
    to_file = os.fspath(to_file)
    extension = os.path.splitext(to_file)[1][1:].lower() or "png"
    image = _draw(pydot, dot, extension, to_file)
    with atomic_write(to_file) as file:
        file.write(image)
    return _display(to_file, extension)


def _check_built(model):
    from fastconv.models import Model

    if not isinstance(model, (Model, Layer)):
        raise TypeError(f"Invalid value for argument `model`. Expected a fastconv (Keras) model. "
                        f"Received: model={model!r} (of type {type(model).__name__})")
    if not model.built:
        raise ValueError(_NOT_BUILT)


def _check_kwargs(kwargs):
    if kwargs.pop("layer_range", None) is not None:
        raise ValueError("Argument `layer_range` is no longer supported.")
    if kwargs:
        raise ValueError(f"Unrecognized keyword arguments: {kwargs}")


def _import_pydot():
    """The pydot module, or ``None`` when it is not installed."""
    try:
        import pydot
    except ImportError:
        return None
    return pydot


def _advise(message):
    """Keras's way with a missing pydot or Graphviz: raise ``ImportError``, but only print it in a notebook."""
    if "IPython.core.magics.namespace" in sys.modules:  # a notebook's tests must not crash where graphviz is absent
        print(message)
        return None
    raise ImportError(message)


def _graphviz_runs(pydot):
    """Whether Graphviz's ``dot`` program can be run (Keras draws an empty graph for the same question)."""
    try:
        with tempfile.TemporaryDirectory() as folder:
            _, _, process = pydot.call_graphviz(program="dot", arguments=["-V"], working_dir=folder)
    except OSError:
        return False
    return process.returncode == 0


def _draw(pydot, dot, extension, to_file):
    """The bytes of ``dot`` drawn by Graphviz in the format ``extension`` (``to_file``'s, named in errors)."""
    with tempfile.TemporaryDirectory() as folder:
        source = os.path.join(folder, "model.gv")
        dot.write(source, format="raw")
        image, errors, process = pydot.call_graphviz(program="dot", arguments=[f"-T{extension}", source],
                                                     working_dir=folder)
    if process.returncode == 0:
        return image
    errors = errors.decode(errors="replace") if isinstance(errors, bytes) else str(errors)
    if "not recognized" in errors:  # Graphviz lists the formats it writes after "Use one of:"
        formats = errors.partition("Use one of:")[2].strip()
        raise ValueError(f"Invalid value for argument `to_file`. Expected a file name whose extension is an image "
                         f"format that Graphviz writes ({formats or 'png, svg, pdf, ...'}). "
                         f"Received: to_file={to_file!r}")
    raise RuntimeError(f"Graphviz could not draw the model into {to_file!r} (`dot -T{extension}` exited with "
                       f"{process.returncode}): {errors.strip()}")


def _display(to_file, extension):
    """What shows the image in a notebook, where IPython is installed (Keras's return value)."""
    if extension == "pdf":
        return None
    try:
        from IPython import display
    except ImportError:
        return None
    if extension in ("png", "jpg", "jpeg", "gif"):  # the format said, for a name without extension ("model")
        return display.Image(filename=to_file, format="jpeg" if extension == "jpg" else extension)
    if extension == "svg":
        return display.SVG(filename=to_file)
    return None  # IPython cannot show it (Keras's `Image` raises "Cannot embed the 'dot' image format")


def _add_edge(pydot, dot, source, destination):
    source_id, destination_id = str(id(source)), str(id(destination))
    if not dot.get_edge(source_id, destination_id):
        edge = pydot.Edge(source_id, destination_id)
        edge.set("penwidth", "2")
        dot.add_edge(edge)


def _node(pydot, layer, **show):
    node = pydot.Node(str(id(layer)), label=_label(layer, **show))
    node.set("fontname", "Helvetica")
    node.set("border", "0")
    node.set("margin", "0")
    return node


def _cell(text, bgcolor="white", color=None, colspan=None):
    span = f' colspan="{colspan}"' if colspan is not None else ""
    font = f' color="{color}"' if color else ""
    return f'<td bgcolor="{bgcolor}"{span}><font point-size="14"{font}>{text}</font></td>'


def _label(layer, show_layer_names, show_layer_activations, show_dtype, show_shapes, show_trainable):
    """Keras's HTML-like table for ``layer``: a title row, an activation row, a row of shape/dtype/trainable cells."""
    class_name = type(layer).__name__
    colspan = max(1, int(show_dtype) + int(show_trainable) + (2 if show_shapes else 0))
    title = f"<b>{_escape(layer.name)}</b> ({class_name})" if show_layer_names else f"<b>{class_name}</b>"
    rows = [f'<tr><td colspan="{colspan}" bgcolor="black"><font point-size="16" color="white">{title}</font></td></tr>']
    activation = getattr(layer, "activation", None)
    if show_layer_activations and activation is not None:
        name = getattr(activation, "name", None) or getattr(activation, "__name__", None) or str(activation)
        rows.append(f'<tr><td bgcolor="white" colspan="{colspan}"><font point-size="14">'
                    f"Activation: <b>{_escape(name)}</b></font></td></tr>")
    cells = []
    if show_shapes:
        if class_name != "InputLayer":
            cells.append(_cell(f"Input shape: <b>{_tensor_attribute(layer, 'input', _shape)}</b>"))
        cells.append(_cell(f"Output shape: <b>{_tensor_attribute(layer, 'output', _shape)}</b>"))
    if show_dtype:
        cells.append(_cell(f"Output dtype: <b>{_tensor_attribute(layer, 'output', lambda t: t.dtype)}</b>"))
    if show_trainable and layer.weights:
        if layer.trainable:
            cells.append(_cell("<b>Trainable</b>", bgcolor="forestgreen", color="white"))
        else:
            cells.append(_cell("<b>Non-trainable</b>", bgcolor="firebrick", color="white"))
    if cells:
        rows.append(f"<tr>{''.join(cells)}</tr>")
    return f'<<table border="0" cellborder="1" bgcolor="black" cellpadding="10">{"".join(rows)}</table>>'


def _tensor_attribute(layer, which, attribute):
    """``attribute`` of the layer's first call's input or output tensor (Keras's ``layer.input``), ``?`` if none."""
    try:
        tensor = getattr(layer, which)
    except (AttributeError, ValueError):  # a layer never called
        return "?"
    return "?" if tensor is None else _escape(str(attribute(tensor)))


def _shape(tensor):
    """A shape as Keras prints it: ``(None, 28, 28, 1)``, with Python integers whatever made them; a merging
    layer's list of inputs as the list of their shapes."""
    if isinstance(tensor, list):
        return f"[{', '.join(_shape(t) for t in tensor)}]"
    return str(tuple(None if d is None else int(d) for d in tensor.shape))


def _escape(text):
    """Text for an HTML-like label: a layer name with ``<`` or ``&`` would otherwise break Graphviz's parser."""
    return html.escape(str(text), quote=False)
