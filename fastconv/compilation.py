"""Compiling the kernels: once per machine, in parallel processes, and never in silence.

numba compiles a kernel for this CPU the first time it is called and keeps
the machine code in its cache (``fastconv._jit``), so only the first run on a
machine, or the first after an upgrade, waits. That wait was most of a new
user's first training step, in one process on one core.

- :func:`prepare` is called by ``fit``, ``evaluate``, ``predict`` and the
  one-batch methods with the kernel *families* their model needs (each
  layer's ``kernel_families``, the optimizer's, and the backward ones when
  training). Families already compiled on this machine are recorded by a
  marker file next to numba's cache, keyed on fastconv's kernel sources, the
  numba version and the CPU; the others are compiled at once, shared out
  between this process and helper processes (one per CPU the process may
  use), which fill the cache that this process then loads from. The user is
  told, in one line on stderr, before the wait.
- :func:`first_call` times the first call of each kernel in a process (from
  ``fastconv.parallel.run``): if it takes longer than ``NOTICE_SECONDS`` (a
  kernel compiling that :func:`prepare` did not cover, e.g. when ``fastconv.ops``
  is used directly), the same line is printed, once per process.

Each family's work is a small run of the ops it stands for, on tiny float32
arrays shaped like a model's, so that exactly the compiled signatures that
training uses are compiled. :func:`main` compiles the families it is given
(what the helper processes run).
"""

import contextlib
import hashlib
import os
import pathlib
import subprocess
import sys
import threading

import numpy as np

from fastconv import _jit

NOTICE_SECONDS = 2.0
"""A first kernel call that takes longer than this is compiling: say so."""

WORKER_TIMEOUT_SECONDS = 600
"""A helper process that takes longer is stopped; what it did not compile is compiled when first used."""


def _one_vector():
    """Channels that make one SIMD vector: a lone vector for the tiles (``fastconv.ops._lone_vector``)."""
    from fastconv.kernels import simd
    return simd.lanes(np.float32)


def _conv(filters=32):
    from fastconv import ops
    # 32 filters make whole channel blocks of the tiles (2 vectors of 16, 4 of 8): the kernel without the
    # one-vector tiles; _one_vector() filters: the one with them (conv_forward_family).
    x = np.ones((2, 6, 6, 3), np.float32)
    ops.conv_bias_activation(x, np.ones((3, 3, 3, filters), np.float32), np.zeros(filters, np.float32),
                             padding="same", activation="relu")


def _conv_grad(need_grad_inputs, need_grad_kernel, channels=32, filters=4, groups=1):
    from fastconv import ops
    # 32 input channels: the input gradient on the tiles, whole channel blocks; _one_vector() channels: with
    # the one-vector tiles. One channel: by dot products over the filters (conv_grad_input_family), the
    # family "conv_grad_input_dot". 2 groups of 16 channels and 16 filters: the kernel gradient with the short
    # tiles (ops._grad_kernel_tile_plan; 8 + 8 rows of one vector at 16 lanes, 6 + 6 + 4 of two at 8 or 4).
    x, w = np.ones((2, 6, 6, channels), np.float32), np.ones((3, 3, channels // groups, filters), np.float32)
    out = np.ones((2, 6, 6, filters), np.float32)
    ops.conv_bias_activation_grad(x, w, out, out, padding="same", activation="relu", groups=groups,
                                  need_grad_inputs=need_grad_inputs, need_grad_kernel=need_grad_kernel)


def _conv_packed(need_grad_inputs=False, need_grad_kernel=False):
    from fastconv import ops
    # 2 groups of 4 input channels and 2 filters: the packed tiles on vectors of 16, 8 and 4 lanes (the input
    # gradient's, 4 channels from 2 filters, on 16 and 8).
    x, w = np.ones((2, 6, 6, 8), np.float32), np.ones((3, 3, 4, 4), np.float32)
    out = ops.conv_bias_activation(x, w, np.zeros(4, np.float32), padding="same", activation="relu", groups=2)
    if need_grad_inputs or need_grad_kernel:
        ops.conv_bias_activation_grad(x, w, out, out, padding="same", activation="relu", groups=2,
                                      need_grad_inputs=need_grad_inputs, need_grad_kernel=need_grad_kernel)


def _dense():
    from fastconv import ops
    ops.dense(np.ones((2, 5), np.float32), np.ones((5, 3), np.float32), np.zeros(3, np.float32))


def _dense_grad_kernel():
    from fastconv import ops
    ops.dense_grad(np.ones((2, 5), np.float32), np.ones((5, 3), np.float32), np.ones((2, 3), np.float32),
                   need_grad_inputs=False)


def _pooling():
    from fastconv import ops
    ops.max_pool(np.ones((2, 4, 4, 3), np.float32), 2)


def _pooling_grad():
    from fastconv import ops
    ops.max_pool_grad(np.ones((2, 4, 4, 3), np.float32), np.ones((2, 2, 2, 3), np.float32), 2)


def _depthwise(channels=3):
    from fastconv import ops
    ops.depthwise_conv_bias_activation(np.ones((2, 6, 6, channels), np.float32),
                                       np.ones((3, 3, channels, 1), np.float32), np.zeros(channels, np.float32),
                                       padding="same", activation="relu")


def _depthwise_grad(channels=3):
    from fastconv import ops
    x, out = np.ones((2, 6, 6, channels), np.float32), np.ones((2, 6, 6, channels), np.float32)
    ops.depthwise_conv_bias_activation_grad(x, np.ones((3, 3, channels, 1), np.float32), out, out, padding="same",
                                            activation="relu")


def _depthwise_streamed():
    with _streaming():
        _depthwise(channels=_one_vector())


def _depthwise_grad_streamed():
    with _streaming():
        _depthwise_grad(channels=_one_vector())


@contextlib.contextmanager
def _streaming():
    """Every output that can be written past the caches is (``fastconv.ops._streams``): the kernels' variants
    that do so, for ``depthwise_stream`` and ``depthwise_grad_stream``."""
    from fastconv import ops
    real = ops._streaming_bytes
    ops._streaming_bytes = lambda: 0
    try:
        yield
    finally:
        ops._streaming_bytes = real


def _affine():
    from fastconv import ops
    ops.affine_transform(np.ones((2, 4, 4, 1), np.float32), [1, 0, 0.5, 0, 1, 0, 0, 0])


def _batch_normalization():
    from fastconv import ops
    x = np.ones((2, 3, 3, 4), np.float32)
    ops.batch_normalization(x, *ops.channel_moments(x), np.zeros(4, np.float32), np.ones(4, np.float32))


def _batch_normalization_grad():
    from fastconv import ops
    x, vector = np.ones((2, 3, 3, 4), np.float32), np.ones(4, np.float32)
    for batch_statistics in (True, False):
        ops.batch_normalization_grad(x, x, vector, vector, vector, batch_statistics=batch_statistics)


def _channel_totals():
    from fastconv import ops
    ops._channel_totals(np.ones((2, 3, 3, 4), np.float32))


def _relu():
    from fastconv import ops
    x = np.ones(3, np.float32)
    ops.relu_grad(ops.relu(x), x)


def _erf():
    from fastconv import ops
    ops.erf(np.ones(3, np.float32))


def _adam():
    from fastconv import optimizers
    from fastconv.variables import Variable
    variable = Variable(np.ones(3, np.float32), name="w")
    optimizers.Adam().apply([np.ones(3, np.float32)], [variable])


FAMILIES = {
    # name: (work, seconds to compile its own kernels cold, the register tiles it links)
    "conv": (_conv, 2.0, "conv"),
    "conv_grad_input": (lambda: _conv_grad(True, False), 1.2, "conv"),
    # Channels in an odd number of vectors (16 filters, a group of 16): the tiles of their last lone vector
    # too (conv_forward_family, conv_grad_input_family; the one-vector tiles counted in, as measured after
    # "conv" and "conv_grad_input" in the same process).
    "conv_lone_vector": (lambda: _conv(_one_vector()), 2.6, "conv"),
    "conv_grad_input_lone_vector": (lambda: _conv_grad(True, False, _one_vector()), 1.8, "conv"),
    # The input gradient of a layer with a few input channels (conv_grad_input_family): never a
    # model's first layer, which gets no input gradient (about a second of compiling the textbook CNN saved).
    "conv_grad_input_dot": (lambda: _conv_grad(True, False, channels=1), 1.0, None),
    "conv_grad_kernel": (lambda: _conv_grad(False, True), 1.2, "grad"),
    # Layers whose kernel rows the main kernel-gradient tiles leave rows of (conv_grad_kernel_family): the
    # kernel with the short tiles too.
    "conv_grad_kernel_short_tiles": (lambda: _conv_grad(False, True, filters=32, groups=2), 1.8, "grad"),
    # Groups of a few channels (fastconv.ops._packed_run): the packed tiles, their own.
    "conv_packed": (_conv_packed, 1.5, None),
    "conv_packed_grad_input": (lambda: _conv_packed(need_grad_inputs=True), 1.5, None),
    "conv_packed_grad_kernel": (lambda: _conv_packed(need_grad_kernel=True), 1.0, None),
    "dense": (_dense, 1.2, "conv"),  # also the input gradient of Dense: the same kernel
    "dense_grad_kernel": (_dense_grad_kernel, 0.9, "grad"),
    "pooling": (_pooling, 0.8, None),
    "pooling_grad": (_pooling_grad, 1.7, None),
    "depthwise": (_depthwise, 4.8, None),  # the generated row helpers are most of it (kernels/depthwise.py)
    "depthwise_grad": (_depthwise_grad, 11.0, None),
    # Their variants that write outputs past the caches (fastconv.ops._streams): only for models whose
    # depthwise outputs are that large at the batch size they train or predict at.
    "depthwise_stream": (_depthwise_streamed, 4.8, None),
    "depthwise_grad_stream": (_depthwise_grad_streamed, 11.0, None),
    "affine": (_affine, 1.0, None),  # the random geometric augmentations (in training only)
    "batch_normalization": (_batch_normalization, 1.0, None),
    "batch_normalization_grad": (_batch_normalization_grad, 1.4, None),
    "channel_totals": (_channel_totals, 0.9, None),  # a transposed convolution's bias gradient
    "relu": (_relu, 0.5, None),  # the ReLU layer's forward and backward passes
    "erf": (_erf, 0.3, None),  # the gelu activation's
    "adam": (_adam, 0.4, None),
}
"""Kernel families: the work that compiles each, about how long that takes on one core of the 2-core
development machine, and the set of register tiles (``kernels/conv2d_tiles.py``) it links, which are
compiled once per process that needs them."""

TILES = {"conv": 2.6, "grad": 1.2}
"""Seconds to compile each set of register tiles (the families sharing a set share them out as a unit)."""


def streamed_depthwise_families(input_shape, output_shape, batch_size, training):
    """The families of a depthwise stage's passes that write past the caches (``depthwise_stream``, and with
    ``training`` ``depthwise_grad_stream``) for batches of ``batch_size``: its output of ``output_shape`` and
    its input gradient of ``input_shape`` (float32, the depthwise stage's own channels, no batch axis) as
    ``fastconv.ops._streamed_shape`` decides."""
    from fastconv import ops
    families = []
    if ops._streamed_shape((batch_size, *output_shape), np.float32):
        families.append("depthwise_stream")
    if training and ops._streamed_shape((batch_size, *input_shape), np.float32):
        families.append("depthwise_grad_stream")
    return tuple(families)


def conv_families(channels, filters, groups=1, kernel_width=None):
    """``(forward, input gradient, kernel gradient)``: the kernel families (tuples) of the passes of a
    convolution of ``channels`` input channels (None: not known yet, every family it may use) into ``filters``
    filters in ``groups`` groups with a kernel ``kernel_width`` wide, as ``fastconv.ops`` chooses its kernels:
    one input channel a group is a depthwise convolution, groups of a few channels run on the packed tiles."""
    from fastconv import ops
    if groups == 1:
        return (conv_forward_family(filters), conv_grad_input_family(channels),
                conv_grad_kernel_family(kernel_width, channels, filters))
    if channels is None:
        return ((*conv_forward_family(filters, groups), "conv_packed", "depthwise"),
                (*conv_grad_input_family(None), "conv_packed_grad_input", "depthwise_grad"),
                (*conv_grad_kernel_family(None, None, filters), "conv_packed_grad_kernel", "depthwise_grad"))
    if channels == groups:
        return ("depthwise",), ("depthwise_grad",), ("depthwise_grad",)
    group_channels, group_filters = channels // groups, filters // groups
    packed_forward = ops._packed_run(groups, group_filters, group_channels, np.float32) > 1
    packed_input = ops._packed_run(groups, group_channels, group_filters, np.float32) > 1
    return (("conv_packed",) if packed_forward else conv_forward_family(filters, groups),
            ("conv_packed_grad_input",) if packed_input else conv_grad_input_family(channels, groups),
            ("conv_packed_grad_kernel",) if packed_forward
            else conv_grad_kernel_family(kernel_width, channels, filters, groups))


def conv_grad_kernel_family(kernel_width, channels, filters, groups=1):
    """The family of a convolution's tiled kernel gradient, ``kernel_width`` wide, from ``channels`` input
    channels (either None: not known yet, both) into ``filters`` in ``groups`` groups: with the short tiles
    where a kernel row's gradient rows take one (``fastconv.ops._grad_kernel_tile_plan``)."""
    from fastconv import ops
    if channels is None or filters is None or (kernel_width is None and groups == 1):
        return ("conv_grad_kernel", "conv_grad_kernel_short_tiles")
    short = ops._grad_kernel_tile_plan(kernel_width, channels, filters, groups, np.float32) is not None
    return ("conv_grad_kernel_short_tiles",) if short else ("conv_grad_kernel",)


def conv_forward_family(filters, groups=1):
    """The family of a convolution's forward pass on the tiles into ``filters`` output channels in ``groups``
    groups (``None``: not known yet, both): with the one-vector tiles if a group's filters end in a lone
    vector (``fastconv.ops._lone_vector``)."""
    from fastconv import ops
    if filters is None:
        return ("conv", "conv_lone_vector")
    return ("conv",) if ops._lone_vector(filters // groups, np.float32) is None else ("conv_lone_vector",)


def conv_grad_input_family(channels, groups=1):
    """The family of a convolution's input gradient over ``channels`` input channels (``None``: not known yet,
    all three): dot products over the filters for a few channels, tiles for more, with the one-vector tiles
    if a group's channels end in a lone vector (as ``fastconv.ops`` chooses)."""
    from fastconv import ops
    if channels is None:
        return ("conv_grad_input", "conv_grad_input_lone_vector", "conv_grad_input_dot")
    if ops._grad_input_by_dot_products(channels, groups):
        return ("conv_grad_input_dot",)
    lone = ops._lone_vector(channels // groups, np.float32) is not None
    return ("conv_grad_input_lone_vector",) if lone else ("conv_grad_input",)


_ready = set()
_lock = threading.Lock()
_noticed = False


def _marker(family):
    """The file that records that ``family`` is compiled in numba's cache for this CPU and these sources."""
    from fastconv.kernels import conv2d
    from numba.core.registry import cpu_target

    machine = repr(cpu_target.target_context.codegen().magic_tuple())
    import numba
    key = hashlib.sha256(f"{_jit.SOURCE_STAMP} {numba.__version__} {sys.version} {machine}".encode()).hexdigest()
    return pathlib.Path(conv2d._zero_pad._cache.cache_path) / f"fastconv-{family}-{key[:16]}.compiled"


def _notice(detail):
    global _noticed
    if not _noticed:
        _noticed = True
        print(f"fastconv: compiling kernels for this CPU{detail}; later runs load them from numba's cache.",
              file=sys.stderr, flush=True)


def prepare(families):
    """Make sure the kernel ``families`` are compiled (see the module docstring); returns those compiled now."""
    families = [f for f in dict.fromkeys(families) if f not in _ready]
    if not families:
        return []
    with _lock:
        missing = [f for f in families if f not in _ready and not _marker(f).exists()]
        if missing:
            groups = _share_out(missing, _helper_count(len(missing)))
            _notice(f" ({len(groups)} processes, a few seconds, once per machine)" if len(groups) > 1
                    else " (a few seconds, once per machine)")
            _compile_groups(groups)
        _ready.update(families)
        return missing


def _helper_count(families):
    from fastconv import parallel
    return max(0, min(parallel.available_cpus(), families) - 1)


def _share_out(families, helpers):
    """``families`` cut into at most ``helpers + 1`` groups of about equal estimated time; group 0 is this
    process's.

    The families that link one set of tiles form a unit, so that its tiles are
    compiled once; with processes to spare, the costliest unit is cut into
    single families (each then compiles the tiles again) while that shortens
    the longest group. Units go longest first to the group with the least so far.
    """
    units = [[f for f in families if FAMILIES[f][2] == tiles] for tiles in TILES]
    units = [unit for unit in units if unit] + [[f] for f in families if FAMILIES[f][2] is None]
    groups = _longest_first(units, helpers + 1)
    while len(units) < helpers + 1:
        costliest = max(units, key=_cost)
        if len(costliest) == 1:
            break
        split = [unit for unit in units if unit is not costliest] + [[f] for f in costliest]
        split_groups = _longest_first(split, helpers + 1)
        if max(map(_group_cost, split_groups)) >= max(map(_group_cost, groups)):
            break
        units, groups = split, split_groups
    return [[f for unit in group for f in unit] for group in groups if group]


def _cost(unit):
    """Estimated seconds to compile a unit of families in one process: their kernels and their tiles."""
    return sum(FAMILIES[f][1] for f in unit) + sum(TILES[t] for t in {FAMILIES[f][2] for f in unit} if t)


def _group_cost(group):
    return sum(_cost(unit) for unit in group)


def _longest_first(units, count):
    groups = [[] for _ in range(count)]
    for unit in sorted(units, key=_cost, reverse=True):
        min(groups, key=_group_cost).append(unit)
    return groups


def _compile_groups(groups):
    workers = []
    for group in groups[1:]:
        try:
            workers.append((group, subprocess.Popen(
                [sys.executable, "-c", f"from fastconv import compilation; compilation.main({group!r})"],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE, env=dict(os.environ, FASTCONV_NUM_THREADS="1"))))
        except OSError:  # no Python to start (an embedded interpreter): compile it here
            groups[0] = groups[0] + group
    compiled = _compile(groups[0])
    for group, worker in workers:
        try:
            _, errors = worker.communicate(timeout=WORKER_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.communicate()
            continue
        if worker.returncode == 0:
            compiled += group
    for family in compiled:
        _marker(family).touch()


def _compile(families):
    """Run each family's work in this process; returns the families that completed."""
    done = []
    for family in families:
        FAMILIES[family][0]()
        done.append(family)
    return done


class first_call:
    """A context around a kernel's first call in this process: prints the compile notice if it is slow."""

    called = set()
    """Kernels that have been called in this process."""

    def __init__(self, kernel):
        first_call.called.add(kernel)
        self._timer = threading.Timer(NOTICE_SECONDS, _notice, args=("",))
        self._timer.daemon = True

    def __enter__(self):
        self._timer.start()

    def __exit__(self, *exc):
        self._timer.cancel()
        return False


def main(argv):
    """Compile the families named in ``argv`` into numba's cache (a helper process of :func:`prepare`)."""
    global _noticed
    _noticed = True  # a helper process of prepare(): the process that started it has told the user
    families = list(argv)
    unknown = [f for f in families if f not in FAMILIES]
    if unknown:
        print(f"unknown kernel families {unknown}; expected some of {list(FAMILIES)}", file=sys.stderr)
        return 2
    _compile(families)
    return 0


