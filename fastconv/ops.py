"""The public functional API: convolution (also depthwise, transposed and grouped) and pooling on NHWC numpy
arrays, the Dense layer's matrix products and batch normalization, forward and backward; the affine resampling of the
augmentation layers (``affine_transform``); and the ReLU, and the one softmax and sigmoid that activations and
losses share.

Each function here validates and normalises its arguments (with Keras's
names and error messages), allocates the result, pads where needed and calls
a kernel from ``fastconv.kernels``. Shapes come from ``fastconv.shapes``.
Signatures mirror ``keras.ops`` so that a Keras user needs no manual.

Dtypes: float32 and float64 are computed in their own precision; integer,
boolean and float16 inputs are computed in float32 (Keras's default float
type) and float16 results are cast back to float16. Anything else raises
``TypeError``. When ``inputs`` and ``kernel`` differ, the wider float wins.

>>> import numpy as np
>>> x = np.ones((1, 5, 5, 1), np.float32)
>>> conv(x, np.ones((3, 3, 1, 2), np.float32), padding="same")[0, :, :, 0]
array([[4., 6., 6., 6., 4.],
       [6., 9., 9., 9., 6.],
       [6., 9., 9., 9., 6.],
       [6., 9., 9., 9., 6.],
       [4., 6., 6., 6., 4.]], dtype=float32)
>>> max_pool(x, 2).shape
(1, 2, 2, 1)
"""

import functools
import glob
import itertools
import math

import numpy as np

from fastconv import buffers, parallel, shapes
from fastconv.kernels import affine as _affine
from fastconv.kernels import conv2d as _conv2d
from fastconv.kernels import conv2d_tiled as _tiled
from fastconv.kernels import conv2d_tiles as _tiles
from fastconv.kernels import dense as _dense
from fastconv.kernels import depthwise as _depthwise
from fastconv.kernels import elementwise as _elementwise
from fastconv.kernels import normalization as _normalization
from fastconv.kernels import pooling as _pooling
from fastconv.kernels import simd as _simd

ACTIVATIONS = {None: _conv2d.LINEAR, "linear": _conv2d.LINEAR, "relu": _conv2d.RELU}
"""Activations that the convolution kernels can fuse, by Keras name."""

_GRAD_KERNEL_CHUNKS = 16
"""Batch chunks whose kernel gradients are summed separately, at most: as many as the batch has items
(up to this) in the scalar kernel, as few as give ``_TASKS`` tasks in the tiled one (see
:func:`_grad_kernel_chunks`). Never the thread count, so results do not depend on it."""

_TASKS = 48
"""Tasks a kernel's work is cut into at least, where the shapes allow it and the tasks stay large enough
to be worth sharing (``_POOL_TASK_CELLS``, ``_MATMUL_TASK_FMAS``): three for each of 16 threads, so that a
16-core machine has work for every core and a thread that the operating system parks leaves little
behind. Task sizes follow from the shapes alone (never the thread count), and every output element
is computed the same way whatever task computes it, so results do not depend on them. For the tiled kernel
gradient, tasks are chunks x kernel rows x channel blocks; more chunks only add partial sums to write and
add up (16 chunks of a 5x5 layer with 64 -> 128 channels are 13 MB, a fifth of its time)."""

_POOL_TASK_CELLS = 1 << 17
"""Window cells (times channels) that a pooling forward task reads at least: some 20 us of work, more than
it costs to share work with another thread, also while other programs keep the CPUs busy (one image of
14x14x64, 3x3 windows at stride 1, 113 thousand cells: 13 us in one task, 17 us in two, on 2 cores)."""

_MATMUL_TASK_FMAS = 1 << 19
"""Multiply-adds that a task of the dense products makes at least, where they are cut finer for more
tasks: some 10 us of work (the tiles make about 50 a nanosecond), more than it costs to share work with
another thread (32 x 1024 -> 128 units in 16 tasks of 260 thousand ran 5% slower on 2 cores than in 8)."""

_FLOAT32 = np.dtype(np.float32)

_TILED_DTYPES = (_FLOAT32,)
"""Dtypes that go to the SIMD-tiled kernels (``kernels/conv2d_tiled.py``); the rest to the scalar loops."""

_DOT_CHANNELS_DIVISOR = 4
"""The input gradient takes dot products over the filters when the input channels fill at most this
fraction of a vector (up to 4 float32 channels with AVX-512: RGB or grey images), where a vector of
input channels would be mostly empty lanes."""


def _grad_input_by_dot_products(channels, groups=1, dtype=np.float32):
    """Whether the tiled input gradient of a convolution of ``channels`` input channels takes dot products over
    the filters (``_conv2d_grad_input_dot``) rather than tiles of input channels (see ``_DOT_CHANNELS_DIVISOR``).

    >>> _grad_input_by_dot_products(1), _grad_input_by_dot_products(32)
    (True, False)
    """
    return groups == 1 and channels * _DOT_CHANNELS_DIVISOR <= _simd.lanes(dtype)


# ----------------------------------------------------------------------------- convolution


def conv(inputs, kernel, strides=1, padding="valid", data_format=None, dilation_rate=1):
    """2-D convolution (cross-correlation, as in Keras) of NHWC ``inputs`` with ``kernel``.

    Parameters
    ----------
    inputs : array_like, shape ``(N, H, W, C)``
    kernel : array_like, shape ``(KH, KW, C, F)``
    strides, dilation_rate : int or pair of ints
    padding : ``'valid'`` or ``'same'``
    data_format : ``None`` or ``'channels_last'`` (``'channels_first'`` is not supported)

    Returns
    -------
    ndarray, shape ``(N, OH, OW, F)`` with
    ``out[n, i, j, f] = sum_{a, b, c} xpad[n, i*sh + a*dh, j*sw + b*dw, c] * kernel[a, b, c, f]``,
    where ``xpad`` is ``inputs`` zero-padded as ``fastconv.shapes`` describes.
    """
    return conv_bias_activation(inputs, kernel, None, strides, padding, data_format, dilation_rate, None)


def conv_grad(inputs, kernel, grad_output, strides=1, padding="valid", data_format=None, dilation_rate=1):
    """Gradients of ``sum(conv(inputs, kernel, ...) * grad_output)``: returns ``(grad_inputs, grad_kernel)``.

    ``grad_output`` has the shape of ``conv``'s result; ``grad_inputs`` that of
    ``inputs``, ``grad_kernel`` that of ``kernel``. The kernel gradient is
    summed over the batch in a fixed order, so it is bitwise identical whatever
    the number of threads.
    """
    grad_inputs, grad_kernel, _ = conv_bias_activation_grad(
        inputs, kernel, None, grad_output, strides, padding, data_format, dilation_rate, None
    )
    return grad_inputs, grad_kernel


def conv_bias_activation(inputs, kernel, bias=None, strides=1, padding="valid", data_format=None,
                         dilation_rate=1, activation=None, groups=1):
    """``activation(conv(inputs, kernel) + bias)`` in one pass over the output (what ``Conv2D`` computes).

    ``bias`` is ``None`` or shape ``(F,)``; ``activation`` is ``None``,
    ``'linear'`` or ``'relu'``. With ``groups=g`` the kernel is
    ``(KH, KW, C/g, F)`` and group ``i`` convolves input channels
    ``i*C/g .. (i+1)*C/g`` into output channels ``i*F/g .. (i+1)*F/g`` (see
    :func:`grouped_conv_bias_activation`).
    """
    if groups != 1:
        return grouped_conv_bias_activation(inputs, kernel, bias, strides, padding, data_format, dilation_rate,
                                            activation, groups)
    spec = _ConvSpec(inputs, kernel, bias, None, strides, padding, data_format, dilation_rate, activation)
    return spec.result(_conv_forward(spec))


def _conv_forward(spec):
    """The forward kernels on a checked ``spec``: ``activation(conv + bias)`` in ``spec.dtype``."""
    out = buffers.empty(spec.output_shape, spec.dtype)
    if spec.tiled:
        _, _, in_group, n_filters = spec.kernel.shape
        # A group's tiles read the bias a whole vector at a time from its first channel.
        bias = _pad_last_axis(spec.bias, _padded_channels(n_filters, spec.dtype)
                              + (_simd.lanes(spec.dtype) if spec.groups > 1 else 0))
        relu = spec.activation == _conv2d.RELU
        run = _packed_run(spec.groups, n_filters // spec.groups, in_group, spec.dtype)
        weights = (_packed_weights(spec.kernel, spec.groups, run) if run > 1
                   else _channel_blocks(spec.kernel, spec.groups, 3))
        lone_vector = None if run > 1 else _lone_vector(n_filters // spec.groups, spec.dtype)
        threads = parallel.get_num_threads()
        parallel.run(_tiled._conv2d_forward_tiled, spec.inputs, _input_bands(spec, threads), weights, bias, out,
                     *spec.strides, *spec.pads[0], *spec.pads[1], relu, spec.groups, lone_vector,
                     run if run > 1 else None, threads=threads)
    else:
        parallel.run(_conv2d._conv2d_forward, spec.padded_inputs(), spec.kernel, spec.bias, out, *spec.strides,
                                *spec.dilation_rate, spec.activation)
    return out


def _input_bands(spec, threads):
    """The tiled forward kernel's bands of padded input rows, one for each of ``threads`` threads
    (``_tiled._conv2d_forward_tiled``, which writes them); the inputs themselves where no padding column
    needs one. ``BAND_BYTES`` of rows, but at least ``BAND_OUTPUT_ROWS`` output rows' worth and no more
    than the padded image."""
    (top, bottom), (left, right) = spec.pads
    if left == right == 0:
        return spec.inputs
    n_batch, height, width, channels = spec.inputs.shape
    row_bytes = max(1, (width + left + right) * channels * spec.inputs.itemsize)
    least = spec.kernel.shape[0] + (_tiled.BAND_OUTPUT_ROWS - 1) * spec.strides[0]
    rows = min(height + top + bottom, max(least, _tiled.BAND_BYTES // row_bytes))
    return buffers.empty((threads, rows, width + left + right, channels), spec.dtype)


def conv_bias_activation_grad(inputs, kernel, outputs, grad_output, strides=1, padding="valid",
                              data_format=None, dilation_rate=1, activation=None, need_grad_inputs=True,
                              need_grad_kernel=True, groups=1):
    """Backward pass of :func:`conv_bias_activation`: returns ``(grad_inputs, grad_kernel, grad_bias)``.

    ``outputs`` is what the forward pass returned; it is read only when
    ``activation='relu'``, whose mask (``outputs > 0``) is applied to
    ``grad_output`` as it is loaded, and may be ``None`` otherwise. With
    ``need_grad_inputs=False`` (a model's first layer) the input gradient is
    not computed and ``grad_inputs`` is ``None``; with ``need_grad_kernel=False``
    (a frozen layer) ``grad_kernel`` and ``grad_bias`` are ``None``. ``groups``
    as in :func:`conv_bias_activation`.
    """
    if groups != 1:
        return grouped_conv_bias_activation_grad(inputs, kernel, outputs, grad_output, strides, padding, data_format,
                                                 dilation_rate, activation, need_grad_inputs, need_grad_kernel, groups)
    spec = _ConvSpec(inputs, kernel, None, grad_output, strides, padding, data_format, dilation_rate, activation)
    return _conv_backward(spec, spec.mask_source(outputs), need_grad_inputs, need_grad_kernel)


def _conv_backward(spec, outputs, need_grad_inputs, need_grad_kernel, bias=None, relu=False):
    """The backward kernels on a checked ``spec``: ``(grad_inputs, grad_kernel, grad_bias)`` as
    :func:`conv_bias_activation_grad` returns them. ``bias`` (``(C,)``) and ``relu`` are an epilogue of the
    input gradient, ``relu(grad_inputs + bias)``: a transposed convolution's forward pass."""
    if spec.tiled:
        return _conv_grad_tiled(spec, outputs, need_grad_inputs, need_grad_kernel, bias, relu)
    grad_output = spec.grad_output
    n_batch, height, width, channels = spec.input_shape
    k_h, k_w, _, n_filters = spec.kernel.shape

    grad_inputs = None
    if need_grad_inputs:
        grad_inputs = buffers.empty(spec.input_shape, spec.dtype)
        kernel_t = np.ascontiguousarray(spec.kernel.transpose(0, 1, 3, 2))
        scratch = buffers.empty((n_batch * height, n_filters), spec.dtype)
        parallel.run(_conv2d._conv2d_grad_input, grad_output, outputs, kernel_t, grad_inputs, spec.pads[0][0],
                                   spec.pads[1][0], *spec.strides, *spec.dilation_rate, spec.activation, scratch)
        grad_inputs = spec.result(_bias_relu(grad_inputs, bias, relu))
    if not need_grad_kernel:
        return grad_inputs, None, None

    chunks = min(n_batch, _GRAD_KERNEL_CHUNKS)
    partial_kernel = buffers.empty((chunks, k_h, k_w, channels, n_filters), spec.dtype)
    partial_bias = buffers.empty((chunks, n_filters), spec.dtype)
    scratch = buffers.empty((chunks * k_h, n_filters), spec.dtype)
    parallel.run(_conv2d._conv2d_grad_kernel, spec.padded_inputs(), grad_output, outputs, partial_kernel, partial_bias,
                                *spec.strides, *spec.dilation_rate, spec.activation, scratch)
    grad_kernel = partial_kernel.sum(axis=0)
    grad_bias = partial_bias.sum(axis=0)
    return grad_inputs, spec.result(grad_kernel), spec.result(grad_bias)


def _conv_grad_tiled(spec, outputs, need_grad_inputs, need_grad_kernel, bias=None, relu=False):
    """:func:`_conv_backward` on the SIMD-tiled kernels (``spec.tiled``)."""
    n_batch, height, width, channels = spec.input_shape
    k_h, k_w, _, n_filters = spec.kernel.shape
    _, out_h, out_w, _ = spec.output_shape
    stride_h, stride_w = spec.strides
    (pad_top, _), (pad_left, _) = spec.pads
    # The masked output gradient with its channels padded to whole vectors and, for the input gradient,
    # a zero border wide enough for every input pixel's taps (see _conv2d_grad_input_tiled).
    if need_grad_inputs:
        zero_h, zero_w = -(-(k_h - 1) // stride_h), -(-(k_w - 1) // stride_w)
        g_h = zero_h + max(out_h, (height - 1 + pad_top) // stride_h + 1)
        g_w = zero_w + max(out_w, (width - 1 + pad_left) // stride_w + 1)
    else:
        zero_h = zero_w = 0
        g_h, g_w = out_h, out_w
    groups = spec.groups
    group_filters = n_filters // groups
    group_channels = channels // groups
    group_pad = _padded_channels(group_filters, spec.dtype)  # each group's output channels in whole vectors
    f_pad = groups * group_pad
    # Groups of few channels go through the packed tiles, which read the output gradient with exactly F channels.
    run_inputs = _packed_run(groups, group_channels, group_filters, spec.dtype) if need_grad_inputs else 1
    run_kernel = _packed_run(groups, group_filters, group_channels, spec.dtype) if need_grad_kernel else 1
    gradient = gp = None
    if max(run_inputs, run_kernel) > 1:
        gradient = _gradient_with_border(spec, outputs, (n_batch, g_h, g_w, n_filters), zero_h, zero_w)
    if (need_grad_inputs and run_inputs == 1) or (need_grad_kernel and run_kernel == 1):
        if groups == 1 or group_pad == group_filters:
            gp = _gradient_with_border(spec, outputs, (n_batch, g_h, g_w, f_pad), zero_h, zero_w)
        else:
            gp = _grouped_gradient(spec, outputs, (n_batch, g_h, g_w, groups, group_pad), zero_h, zero_w)

    grad_inputs = None
    if need_grad_inputs:
        grad_inputs = buffers.empty(spec.input_shape, spec.dtype)
        if run_inputs > 1:
            _grad_input_packed(spec, gradient, grad_inputs, zero_h, zero_w, run_inputs, bias, relu)
        elif _grad_input_by_dot_products(channels, groups, spec.dtype):
            kernel_f = _pad_last_axis(spec.kernel[::-1, ::-1], f_pad)
            parallel.run(_tiled._conv2d_grad_input_dot, gp, kernel_f, grad_inputs, zero_h, zero_w, out_h, pad_top,
                         pad_left, stride_h, stride_w)
            _bias_relu(grad_inputs, bias, relu)
        else:
            c_pad = _padded_channels(channels, spec.dtype)
            kernel_t = _channel_blocks(spec.kernel[::-1, ::-1].transpose(0, 1, 3, 2), groups, 2)
            epilogue = buffers.zeros(c_pad, spec.dtype) if bias is None else _pad_last_axis(bias, c_pad)
            parallel.run(_tiled._conv2d_grad_input_tiled, gp, kernel_t, epilogue, grad_inputs,
                         zero_h, zero_w, out_h, pad_top, pad_left, stride_h, stride_w, relu, groups,
                         _lone_vector(group_channels, spec.dtype), None)
        grad_inputs = spec.result(grad_inputs)
    if not need_grad_kernel:
        return grad_inputs, None, None
    if run_kernel > 1:
        grad_kernel, grad_bias = _grad_kernel_packed(spec, gradient, zero_h, zero_w, run_kernel)
        return grad_inputs, spec.result(grad_kernel), spec.result(grad_bias)

    chunks = _grad_kernel_chunks(n_batch, k_h, group_pad, spec.dtype)
    partial_kernel = buffers.empty((chunks, k_h, k_w * group_channels, f_pad), spec.dtype)
    partial_bias = buffers.empty((chunks, f_pad), spec.dtype)
    parallel.run(_tiled._conv2d_grad_kernel_tiled, spec.padded_inputs(), gp, zero_h, zero_w, out_h, out_w,
                 partial_kernel, partial_bias, stride_h, stride_w, *spec.pads[0], groups,
                 _grad_kernel_tile_plan(k_w, channels, n_filters, groups, spec.dtype))
    grad_kernel = buffers.empty(spec.kernel.shape, spec.dtype)
    parts = partial_kernel.reshape(chunks, k_h, k_w, group_channels, groups, group_pad)[..., :group_filters]
    np.sum(parts, axis=0, out=grad_kernel.reshape(k_h, k_w, group_channels, groups, group_filters))
    grad_bias = partial_bias.sum(axis=0).reshape(groups, group_pad)[:, :group_filters].reshape(n_filters)
    return grad_inputs, spec.result(grad_kernel), spec.result(grad_bias)


def _grad_input_packed(spec, gradient, grad_inputs, zero_h, zero_w, run, bias, relu):
    """The input gradient of a convolution in groups of few input channels, on the packed tiles, into
    ``grad_inputs``; ``gradient`` the prepared output gradient with ``F`` channels; ``bias`` and ``relu`` an
    epilogue as in :func:`_conv_backward`."""
    channels, groups = spec.input_shape[3], spec.groups
    k_h, k_w, group_channels, n_filters = spec.kernel.shape
    # The flipped kernel with its channel axes swapped within each group: (KH, KW, F/G, C).
    kernel_t = (spec.kernel[::-1, ::-1].reshape(k_h, k_w, group_channels, groups, n_filters // groups)
                .transpose(0, 1, 4, 3, 2).reshape(k_h, k_w, n_filters // groups, channels))
    epilogue = buffers.zeros(channels + _simd.lanes(spec.dtype), spec.dtype)  # the tiles read a whole vector
    if bias is not None:
        epilogue[:channels] = bias
    parallel.run(_tiled._conv2d_grad_input_tiled, gradient, _packed_weights(kernel_t, groups, run), epilogue,
                 grad_inputs, zero_h, zero_w, spec.output_shape[1], spec.pads[0][0], spec.pads[1][0], *spec.strides,
                 relu, groups, None, run)


def _grad_kernel_packed(spec, gradient, zero_h, zero_w, run):
    """``(grad_kernel, grad_bias)`` of a convolution in groups of few filters, on the packed tiles;
    ``gradient`` as in :func:`_grad_input_packed`."""
    n_batch, _, _, channels = spec.input_shape
    k_h, k_w, group_channels, n_filters = spec.kernel.shape
    groups, group_filters = spec.groups, n_filters // spec.groups
    chunks = _chunks_for(n_batch, k_h)
    partial_kernel = buffers.empty((chunks, k_h, groups, k_w * group_channels // run, _simd.lanes(spec.dtype)),
                                   spec.dtype)
    partial_bias = buffers.empty((chunks, n_filters), spec.dtype)
    parallel.run(_tiled._conv2d_grad_kernel_packed, spec.padded_inputs(), gradient, zero_h, zero_w,
                 *spec.output_shape[1:3], partial_kernel, partial_bias, *spec.strides, *spec.pads[0], groups, run)
    # Lane f*run + r of vector (l, k) is the gradient of kernel[j, l, k*run + r, g*F/G + f].
    parts = partial_kernel[..., :group_filters * run].reshape(chunks, k_h, groups, k_w, group_channels // run,
                                                              group_filters, run)
    sums = np.sum(parts, axis=0, out=buffers.empty(parts.shape[1:], spec.dtype))
    grad_kernel = buffers.empty(spec.kernel.shape, spec.dtype)
    np.copyto(grad_kernel.reshape(k_h, k_w, group_channels // run, run, groups, group_filters),
              sums.transpose(0, 2, 3, 5, 1, 4))
    return grad_kernel, partial_bias.sum(axis=0)


def _bias_relu(array, bias, relu):
    """``array`` with ``bias`` (or nothing, if None) added and then ``relu`` applied, in place; returned."""
    if bias is not None:
        array += bias
    if relu:
        np.maximum(array, 0, out=array)
    return array


def _grad_kernel_tile_plan(kernel_width, channels, filters, groups, dtype):
    """The ``plan`` of the tiled kernel gradient (``_tiled._grad_kernel_block``) of a convolution of
    ``channels`` input channels into ``filters`` in ``groups`` groups with a kernel ``kernel_width`` wide:
    :func:`_grad_kernel_plan` of its kernel rows' gradient rows (``KW*C``, or a group's ``C/G`` a kernel
    column) where the channel blocks it has take a short tile (the kernel compiled with them, family
    ``conv_grad_kernel_short_tiles``), else None (the main tiles as long as they fit, then what does: the
    same tiles as the plan for those blocks). Blocks of two vectors take the plan's first three counts, a
    last lone vector (an odd number of vectors of filters) the last two.

    >>> lanes = _simd.lanes(np.float32)
    >>> _grad_kernel_tile_plan(3, 32, 2 * lanes, 1, np.float32)  # 96 rows: 16 main tiles of 6
    >>> _grad_kernel_tile_plan(3, 3, lanes, 1, np.float32)  # RGB, one vector of filters: 9 rows = 8 + 1
    (1, 1, 0, 0, 1)
    """
    rows = kernel_width * channels if groups == 1 else channels // groups
    vectors = _padded_channels(filters // groups, dtype) // _simd.lanes(dtype)
    plan = _grad_kernel_plan(rows)
    shorts, alts_v1 = plan[2] if vectors >= 2 else 0, plan[4] if vectors % 2 else 0
    return plan if shorts or alts_v1 else None


@functools.cache
def _grad_kernel_plan(n_rows):
    """``(mains, alts, shorts, mains_v1, alts_v1)``: how many kernel-gradient tiles of each size
    (``_tiled._grad_kernel_block``) cover ``n_rows`` gradient rows, two vectors wide (tiles of
    ``ROWS_V2``, ``ROWS_V2_ALT`` and ``ROWS_V2_SHORT`` rows, the rest one by one) and one vector wide
    (``ROWS_V1``, ``ROWS_V1_ALT``): at the lowest cost, a tile costed by its accumulators, those too few to
    hide the FMA latency as ``TILE_MIN_FMAS`` (a one-row tile is a single chain of multiply-adds a vector).

    >>> _grad_kernel_plan(32)[:3], _grad_kernel_plan(16)[3:]  # 6x4 + 4x2 rows; 8 + 8, not 12 + 1 + 1 + 1 + 1
    ((4, 0, 2), (0, 2))
    """
    two = _rows_in_tiles(n_rows, (_tiles.ROWS_V2, _tiles.ROWS_V2_ALT, _tiles.ROWS_V2_SHORT), 2)
    one = _rows_in_tiles(n_rows, (_tiles.ROWS_V1, _tiles.ROWS_V1_ALT), 1)
    return (*two, *one)


def _rows_in_tiles(n_rows, sizes, vectors):
    """How many tiles of each of ``sizes`` rows (the first the largest), then one-row tiles, cover ``n_rows``
    rows exactly at the lowest cost (see :func:`_grad_kernel_plan`)."""
    def cost(rows):
        return max(rows * vectors, _tiled.TILE_MIN_FMAS)

    mains = max(0, n_rows // sizes[0] - 1)  # the choice is in the last two main tiles' worth of rows
    left = n_rows - mains * sizes[0]
    best = None
    for counts in itertools.product(*(range(left // size + 1) for size in sizes)):
        rest = left - sum(c * size for c, size in zip(counts, sizes))
        if rest >= 0:
            total = sum(c * cost(size) for c, size in zip(counts, sizes)) + rest * cost(1)
            if best is None or total < best[0]:
                best = (total, counts)
    return (best[1][0] + mains, *best[1][1:])


def _grad_kernel_chunks(n_batch, k_h, group_pad, dtype):
    """Batch chunks of the tiled kernel gradient: the fewest that make ``_TASKS`` tasks with
    ``k_h`` kernel rows and ``group_pad`` output channels a group (a task works its block of them in every
    group), but at least 1 and at most ``_GRAD_KERNEL_CHUNKS`` and the batch."""
    return _chunks_for(n_batch, k_h * -(-group_pad // _channel_block(dtype)))


def _chunks_for(n_batch, tasks_per_chunk):
    """Batch chunks of a kernel gradient whose chunks have ``tasks_per_chunk`` tasks each: the fewest that make
    ``_TASKS`` tasks, but at least 1 and at most ``_GRAD_KERNEL_CHUNKS`` and the batch."""
    return max(1, min(n_batch, _GRAD_KERNEL_CHUNKS, -(-_TASKS // max(1, tasks_per_chunk))))


def _channel_block(dtype):
    """Channels in one block of the tiled kernels' weights (``_tiled.CHANNEL_BLOCK_VECTORS`` vectors)."""
    return _tiled.CHANNEL_BLOCK_VECTORS * _simd.lanes(dtype)


def _lone_vector(channels, dtype):
    """The tiled kernels' ``lone_vector`` for rows of ``channels`` channels: None when they make whole channel
    blocks (an even number of vectors), so that the kernel compiled for them has no one-vector tiles; else
    True (see ``conv2d_tiled._conv_row``)."""
    return None if -(-channels // _simd.lanes(dtype)) % _tiled.CHANNEL_BLOCK_VECTORS == 0 else True


def _padded_channels(count, dtype):
    """``count`` rounded up to whole SIMD vectors of ``dtype``."""
    lanes = _simd.lanes(dtype)
    return -(-count // lanes) * lanes


def _pad_last_axis(array, length):
    """``array`` as a C-contiguous array with its last axis zero-padded to ``length``.

    Copies only what needs copying: an array that is already contiguous and
    of that length is returned as it is (the kernels only read it).
    """
    if array.shape[-1] == length:
        return np.ascontiguousarray(array)
    padded = buffers.empty((*array.shape[:-1], length), array.dtype)
    padded[..., :array.shape[-1]] = array
    padded[..., array.shape[-1]:] = 0
    return padded


def _gradient_with_border(spec, outputs, shape, zero_h, zero_w):
    """The output gradient in ``shape`` ``(N, HG, WG, FP)``, at ``(zero_h, zero_w)``, zeros around it and in its
    channels beyond ``F`` (and, with a ReLU, where ``outputs`` is not positive)."""
    if shape == spec.grad_output.shape and spec.activation != _conv2d.RELU:
        return spec.grad_output  # nothing to pad or mask (e.g. a first layer whose ReLU a pooling folded in)
    gp = buffers.empty(shape, spec.dtype)
    parallel.run(_conv2d._zero_pad, spec.grad_output, gp, zero_h, zero_w, spec.activation == _conv2d.RELU, outputs)
    return gp


def _packed_run(groups, outputs, reduced, dtype):
    """The run of channels that a packed tile's step broadcasts (``_tiled._packed_row``) for a pass
    of a convolution in ``groups > 1`` groups that computes ``outputs`` channels a group from ``reduced`` a
    group (the forward pass: filters from input channels; the input gradient: the other way round): the
    longest of ``PACKED_RUNS`` whose ``outputs*run`` lanes fit in a vector and that divides ``reduced``; 1,
    the ordinary tiles, where none does or without groups. (Eight filters a group used half of every 16-lane
    vector of the ordinary tiles.)"""
    lanes = _simd.lanes(dtype)
    runs = [run for run in _tiles.PACKED_RUNS if outputs * run <= lanes and reduced % run == 0]
    return max(runs) if groups > 1 and runs else 1


def _packed_weights(kernel, groups, run):
    """A grouped kernel ``(KH, KW, R, G*O)`` (``R`` channels a group reduced, ``O`` computed) as the packed
    tiles read it: ``(G, KH, KW, R/run, LANES)``, lane ``o*run + r`` of run ``k`` holding
    ``kernel[:, :, k*run + r, g*O + o]``, zeros beyond ``O*run`` lanes."""
    k_h, k_w, reduced, total = kernel.shape
    outputs = total // groups
    packed = buffers.zeros((groups, k_h, k_w, reduced // run, _simd.lanes(kernel.dtype)), kernel.dtype)
    packed[..., :outputs * run] = (kernel.reshape(k_h, k_w, reduced // run, run, groups, outputs)
                                   .transpose(4, 0, 1, 2, 5, 3).reshape(*packed.shape[:4], outputs * run))
    return packed


def _grouped_gradient(spec, outputs, shape, zero_h, zero_w):
    """The output gradient as the tiled gradient kernels read it in groups whose channels are not whole
    vectors: ``shape`` ``(N, HG, WG, G, FGP)``, group ``g``'s channels first in part ``g``, zeros around (and
    where ``outputs``, with a ReLU, is not positive); returned with the last two axes merged."""
    n_batch, out_h, out_w, n_filters = spec.output_shape
    groups = shape[3]
    grad = spec.grad_output.reshape(n_batch, out_h, out_w, groups, n_filters // groups)
    if spec.activation == _conv2d.RELU:
        grad = np.where(outputs.reshape(grad.shape) > 0, grad, 0).astype(spec.dtype, copy=False)
    gp = buffers.zeros(shape, spec.dtype)
    gp[:, zero_h:zero_h + out_h, zero_w:zero_w + out_w, :, :grad.shape[4]] = grad
    return gp.reshape(*shape[:3], -1)


def _channel_blocks(array, groups=1, axis=-1):
    """``array`` ``(..., K)`` as ``(B, ..., BLOCK)``, its last axis cut into blocks stored one after another.

    The tiled convolution kernels' weight layout: ``BLOCK`` is
    :func:`_channel_block`'s, and the last block is zero-padded. With
    ``groups``, the array is first cut into that many equal parts along
    ``axis`` (a kernel's filters, or a transposed kernel's), each part's
    blocks after the previous part's.
    """
    block = _channel_block(array.dtype)
    size = array.shape[axis] // groups
    parts = [array[(slice(None),) * (axis % array.ndim) + (slice(g * size, (g + 1) * size),)] for g in range(groups)]
    count = parts[0].shape[-1]
    per_part = -(-count // block)
    blocks = buffers.zeros((groups * per_part, *parts[0].shape[:-1], block), array.dtype)
    for g, part in enumerate(parts):
        for b, first in enumerate(range(0, count, block)):
            blocks[g * per_part + b, ..., :min(block, count - first)] = part[..., first:first + block]
    return blocks


def _memoized(function):
    """``function`` with its results cached, keyed on the ``repr`` of its arguments.

    For the pure argument checks and shape arithmetic that every call of an
    op repeats with the same arguments (a layer calls its op with the same
    configuration every step). The ``repr`` rather than the arguments
    themselves, because equal arguments can differ in what they mean here:
    ``(2.0, 2)`` equals ``(2, 2)`` but is rejected, and a list is not
    hashable. Calls that raise are not cached; the cache is emptied when it
    reaches 1024 entries.
    """
    cache = {}

    @functools.wraps(function)
    def call(*args):
        key = repr(args)
        if key not in cache:
            if len(cache) >= 1024:
                cache.clear()
            cache[key] = function(*args)
        return cache[key]

    return call


@_memoized
def _conv_geometry(input_shape, kernel_shape, strides, padding, dilation_rate, activation, depthwise=False):
    """``(strides, dilation_rate, padding, activation, pads, output_shape)`` of a convolution, checked and
    normalised (``activation`` as the kernels' code). A ``depthwise`` kernel ``(KH, KW, C, m)`` gives ``C*m``
    output channels, and takes strides and dilation together (as Keras's ``DepthwiseConv2D`` does)."""
    strides, dilation_rate, padding = _conv_arguments(kernel_shape, strides, padding, dilation_rate, activation,
                                                      strided_dilation=depthwise)
    if depthwise and kernel_shape[3] == 0:
        raise ValueError(
            "Invalid shape for argument `kernel`. Expected a depth multiplier (kernel.shape[3]) of at least 1. "
            f"Received: kernel.shape={kernel_shape}"
        )
    if kernel_shape[2] != input_shape[3]:
        raise ValueError(
            "Invalid shapes for arguments `inputs` and `kernel`: kernel.shape[2] (input channels) must "
            f"equal inputs.shape[3]. Received: inputs.shape={input_shape}, kernel.shape={kernel_shape}"
            + shapes.channels_first_hint(input_shape, kernel_shape[2])
        )
    pads = tuple(
        shapes.padding_amounts(length, size, padding, stride, dilation)
        for length, size, stride, dilation in zip(input_shape[1:3], kernel_shape[:2], strides, dilation_rate)
    )
    if padding == "valid":
        _check_window_fits(input_shape, kernel_shape[:2], dilation_rate, "kernel")
    filters = kernel_shape[2] * kernel_shape[3] if depthwise else kernel_shape[3]
    output_shape = shapes.conv_output_shape(input_shape, kernel_shape[:2], filters, strides, padding, dilation_rate)
    return strides, dilation_rate, padding, ACTIVATIONS[activation], pads, output_shape


def _conv_arguments(kernel_shape, strides, padding, dilation_rate, activation, strided_dilation=False):
    """``(strides, dilation_rate, padding)`` of a convolution normalised, after the checks that every convolution
    makes: the activation is one the kernels fuse, the kernel has taps, and strides and dilation are not both
    above 1 unless ``strided_dilation``."""
    strides = shapes.normalize_tuple(strides, "strides")
    dilation_rate = shapes.normalize_tuple(dilation_rate, "dilation_rate")
    padding = shapes.normalize_padding(padding)
    if not strided_dilation and max(strides) > 1 and max(dilation_rate) > 1:
        raise ValueError(
            "`strides > 1` is not supported together with `dilation_rate > 1`. "
            f"Received: strides={strides} and dilation_rate={dilation_rate}"
        )
    if activation not in ACTIVATIONS:
        raise ValueError(
            f"Invalid value for argument `activation`. Expected one of {list(ACTIVATIONS)}. "
            f"Received: activation={activation!r}"
        )
    if 0 in kernel_shape[:2]:
        raise ValueError(
            "Invalid shape for argument `kernel`. Expected a kernel height and width of at least 1. "
            f"Received: kernel.shape={kernel_shape}"
        )
    return strides, dilation_rate, padding


class _ConvSpec:
    """Checked, normalised arguments of one convolution call, and the shapes that follow from them."""

    groups = 1  # what _ConvTransposeSpec, which sets itself up without __init__, convolves in

    def __init__(self, inputs, kernel, bias, grad_output, strides, padding, data_format, dilation_rate,
                 activation, depthwise=False, groups=1):
        _check_data_format(data_format)
        inputs = _as_float_array(inputs, "inputs")
        kernel = _as_float_array(kernel, "kernel")
        _check_ndim(inputs, "inputs", 4, "(batch, height, width, channels)")
        _check_ndim(kernel, "kernel", 4, "(kernel_height, kernel_width, input_channels, "
                    + ("depth_multiplier)" if depthwise else "filters)"))
        self.groups = groups  # checked by _groups: the kernel's input channels are one group's
        (self.strides, self.dilation_rate, self.padding, self.activation, self.pads,
         self.output_shape) = _conv_geometry((*inputs.shape[:3], inputs.shape[3] // groups), kernel.shape, strides,
                                             padding, dilation_rate, activation, depthwise)
        self.result_dtype, self.dtype = _dtypes(inputs, kernel)
        self.inputs = _kernel_array(inputs, self.dtype)
        self.input_shape = self.inputs.shape
        self.kernel = _kernel_array(kernel, self.dtype)
        n_filters = self.output_shape[3]
        if bias is None:
            self.bias = buffers.zeros(n_filters, self.dtype)
        else:
            self.bias = _as_checked_like(bias, "bias", (n_filters,), self.dtype)
        if grad_output is not None:
            self.grad_output = _as_checked_like(grad_output, "grad_output", self.output_shape, self.dtype)
        # The tiled kernels cover undilated convolutions; their partial sums are private per chunk too.
        self.tiled = not depthwise and self.dtype in _TILED_DTYPES and self.dilation_rate == (1, 1)

    def mask_source(self, outputs):
        """What the backward kernels read the ReLU's mask from: the checked forward ``outputs`` with
        ``activation='relu'`` (required then), else any array of their shape (never read)."""
        if self.activation != _conv2d.RELU:
            return self.grad_output
        if outputs is None:
            raise ValueError("Argument `outputs` is required when `activation='relu'`. Received: outputs=None")
        return _as_checked_like(outputs, "outputs", self.output_shape, self.dtype)

    def padded_inputs(self):
        """The inputs with the zero padding of 'same' (a copy only when there is padding)."""
        (top, bottom), (left, right) = self.pads
        if top == bottom == left == right == 0:
            return self.inputs
        n_batch, height, width, channels = self.inputs.shape
        padded = buffers.empty((n_batch, height + top + bottom, width + left + right, channels), self.dtype)
        parallel.run(_conv2d._zero_pad, self.inputs, padded, top, left, False, self.inputs)
        return padded

    def result(self, array):
        return array.astype(self.result_dtype, copy=False)


# ----------------------------------------------------------------------------- depthwise convolution


def depthwise_conv(inputs, kernel, strides=1, padding="valid", data_format=None, dilation_rate=1):
    """Depthwise 2-D convolution of NHWC ``inputs`` (``keras.ops.depthwise_conv``): each input channel
    convolved with its own ``m`` filters, never mixed with the other channels.

    Parameters
    ----------
    inputs : array_like, shape ``(N, H, W, C)``
    kernel : array_like, shape ``(KH, KW, C, m)``, ``m`` the depth multiplier
    strides, dilation_rate : int or pair of ints (both may exceed 1 together, as in Keras)
    padding : ``'valid'`` or ``'same'``
    data_format : ``None`` or ``'channels_last'``

    Returns
    -------
    ndarray, shape ``(N, OH, OW, C*m)`` with
    ``out[n, i, j, c*m + q] = sum_{a, b} xpad[n, i*sh + a*dh, j*sw + b*dw, c] * kernel[a, b, c, q]``,
    where ``xpad`` is ``inputs`` zero-padded as ``fastconv.shapes`` describes (the same output shape and
    padding as :func:`conv` with ``C*m`` filters).

    >>> x = np.ones((1, 4, 4, 2), np.float32)
    >>> w = np.ones((3, 3, 2, 1), np.float32)
    >>> w[:, :, 1] = 2  # channel 1's filter
    >>> depthwise_conv(x, w, padding="same")[0, :, :, 1]
    array([[ 8., 12., 12.,  8.],
           [12., 18., 18., 12.],
           [12., 18., 18., 12.],
           [ 8., 12., 12.,  8.]], dtype=float32)
    """
    return depthwise_conv_bias_activation(inputs, kernel, None, strides, padding, data_format, dilation_rate)


def depthwise_conv_grad(inputs, kernel, grad_output, strides=1, padding="valid", data_format=None, dilation_rate=1):
    """Gradients of ``sum(depthwise_conv(inputs, kernel, ...) * grad_output)``: ``(grad_inputs, grad_kernel)``,
    bitwise identical whatever the number of threads."""
    grad_inputs, grad_kernel, _ = depthwise_conv_bias_activation_grad(
        inputs, kernel, None, grad_output, strides, padding, data_format, dilation_rate)
    return grad_inputs, grad_kernel


def depthwise_conv_bias_activation(inputs, kernel, bias=None, strides=1, padding="valid", data_format=None,
                                   dilation_rate=1, activation=None):
    """``activation(depthwise_conv(inputs, kernel) + bias)`` in one pass (what ``DepthwiseConv2D`` computes).

    ``bias`` is ``None`` or shape ``(C*m,)``; ``activation`` is ``None``, ``'linear'`` or ``'relu'``.
    """
    spec = _ConvSpec(inputs, kernel, bias, None, strides, padding, data_format, dilation_rate, activation,
                     depthwise=True)
    out = buffers.empty(spec.output_shape, spec.dtype)
    parallel.run(_depthwise._depthwise_forward, _repeated_channels(spec), _depthwise_weights(spec), spec.bias, out,
                 *_depthwise_geometry(spec), _depthwise_taps(spec), _streams(out))
    return spec.result(out)


def depthwise_conv_bias_activation_grad(inputs, kernel, outputs, grad_output, strides=1, padding="valid",
                                        data_format=None, dilation_rate=1, activation=None, need_grad_inputs=True,
                                        need_grad_kernel=True):
    """Backward pass of :func:`depthwise_conv_bias_activation`: ``(grad_inputs, grad_kernel, grad_bias)``.

    ``outputs``, ``need_grad_inputs`` and ``need_grad_kernel`` as in
    :func:`conv_bias_activation_grad`. The kernel and bias gradients are
    summed over fixed chunks of the batch in a fixed order, so they do not
    depend on the number of threads.
    """
    spec = _ConvSpec(inputs, kernel, None, grad_output, strides, padding, data_format, dilation_rate, activation,
                     depthwise=True)
    outputs = spec.mask_source(outputs)
    geometry = _depthwise_geometry(spec)
    n_batch, height, width, channels = spec.inputs.shape
    k_h, k_w, _, multiplier = spec.kernel.shape
    grad_inputs = None
    if need_grad_inputs:
        grad = buffers.empty((n_batch, height, width, channels * multiplier), spec.dtype)
        scratch = buffers.empty((n_batch * height, k_h * k_w, 2), np.int64)  # each task's table of taps
        parallel.run(_depthwise._depthwise_grad_input, spec.grad_output, outputs, _depthwise_weights(spec), grad,
                     *geometry, scratch, _streams(grad))
        if multiplier > 1:  # each input channel fed m output channels: add their gradients up, in order
            grad = grad.reshape(n_batch, height, width, channels, multiplier).sum(axis=-1)
        grad_inputs = spec.result(grad)
    if not need_grad_kernel:
        return grad_inputs, None, None
    chunks = min(n_batch, _GRAD_KERNEL_CHUNKS)
    partial_kernel = buffers.empty((chunks, k_h, k_w, channels * multiplier), spec.dtype)
    partial_bias = buffers.empty((chunks, channels * multiplier), spec.dtype)
    parallel.run(_depthwise._depthwise_grad_kernel, _repeated_channels(spec), spec.grad_output, outputs,
                 partial_kernel, partial_bias, *geometry)
    grad_kernel = partial_kernel.sum(axis=0).reshape(spec.kernel.shape)
    return grad_inputs, spec.result(grad_kernel), spec.result(partial_bias.sum(axis=0))


def _streams(out):
    """True if a memory-bound kernel writes ``out`` past the caches (``simd.vstore_stream``), else None: an
    array whose every store is a whole vector at an aligned address and that :func:`_streamed_shape` says
    is large enough."""
    if not _streamed_shape(out.shape, out.dtype):  # first: the address costs a microsecond to read
        return None
    return True if out.ctypes.data % (_simd.lanes(out.dtype) * out.itemsize) == 0 else None


def _streamed_shape(shape, dtype):
    """Whether an (aligned) output of ``shape`` and ``dtype`` is written past the caches: its rows whole
    vectors (a line written partly past the caches and partly through them made layers of 24 or 40 channels
    2 to 5 times slower), and at least :func:`_streaming_bytes` large, so that it would go back to memory
    anyway. (Depthwise 3x3 forward passes, batch 16, 2 threads, paired calls: 56x56x64, a 12.8 MB output,
    0.63 of the time; 112x112x32, 24.8 MB, 0.81; 28x28x128, 6.4 MB, 1.05, and 1.6 MB outputs up to 1.2: a
    small output is read from the cache by the next layer, and is written there faster.)"""
    return shape[-1] % _simd.lanes(dtype) == 0 and math.prod(shape) * np.dtype(dtype).itemsize >= _streaming_bytes()


@functools.cache
def _streaming_bytes():
    """A quarter of this machine's last-level cache (Linux's sysfs; 8 MB where it cannot be read): outputs
    that large do not stay in the cache beside the inputs they are computed from (the cache is shared with
    the other cores and, on a virtual machine, with other machines: on the development machine's 32 MB,
    kernels slowed down between a 4.5 MB and a 9 MB working set)."""
    units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    largest = 0
    for path in glob.glob("/sys/devices/system/cpu/cpu0/cache/index*/size"):
        try:
            with open(path) as f:
                text = f.read().strip()  # "32768K"
            largest = max(largest, int(text[:-1]) * units[text[-1]] if text[-1] in units else int(text))
        except (OSError, ValueError, IndexError):
            continue
    return largest // 4 if largest else 8 << 20


def _repeated_channels(spec):
    """The inputs with each channel repeated ``m`` times, as the depthwise kernels read them (``m = 1``: as
    they are; see ``kernels/depthwise.py``)."""
    multiplier = spec.kernel.shape[3]
    return spec.inputs if multiplier == 1 else np.repeat(spec.inputs, multiplier, axis=3)


def _depthwise_weights(spec):
    """The depthwise kernel ``(KH, KW, C, m)`` as the kernels' ``(KH, KW, C*m)`` (a view)."""
    k_h, k_w, channels, multiplier = spec.kernel.shape
    return spec.kernel.reshape(k_h, k_w, channels * multiplier)


def _depthwise_taps(spec):
    """The forward kernel's table of tap offsets ``(KH*KW, 2)``: input and weight offset of each tap."""
    k_h, k_w, channels, multiplier = spec.kernel.shape
    return _tap_offsets(k_h, k_w, *spec.dilation_rate, spec.inputs.shape[2], channels * multiplier)


@functools.lru_cache(maxsize=256)
def _tap_offsets(k_h, k_w, dilation_h, dilation_w, width, depth):
    """:func:`_depthwise_taps` of a kernel and input width, made once (the kernels only read it; a layer asks
    for the same table every step: 4 us to build)."""
    return np.array([((a * dilation_h * width + b * dilation_w) * depth, (a * k_w + b) * depth)
                     for a in range(k_h) for b in range(k_w)], np.int64).reshape(k_h * k_w, 2)


def _depthwise_geometry(spec):
    """The depthwise kernels' trailing arguments: strides, dilation, top and left padding, ReLU or not."""
    return (*spec.strides, *spec.dilation_rate, spec.pads[0][0], spec.pads[1][0],
            spec.activation == _conv2d.RELU)


# ----------------------------------------------------------------------------- conv2d_transpose


def conv_transpose(inputs, kernel, strides=1, padding="valid", output_padding=None, data_format=None,
                   dilation_rate=1):
    """2-D transposed convolution of NHWC ``inputs`` (``keras.ops.conv_transpose``): the input gradient of
    a convolution, as Keras 3 defines it.

    Parameters
    ----------
    inputs : array_like, shape ``(N, H, W, C)``
    kernel : array_like, shape ``(KH, KW, F, C)`` (Keras's layout: output channels before input channels)
    strides, dilation_rate : int or pair of ints (not both above 1)
    padding : ``'valid'`` or ``'same'``
    output_padding : None, or an int or pair of ints each less than its stride
    data_format : ``None`` or ``'channels_last'``

    Returns
    -------
    ndarray, shape ``(N, OH, OW, F)`` with
    ``out[n, o, p, f] = sum x[n, i, j, c] * kernel[a, b, f, c]`` over ``i*sh + a*dh = o + crop_h``,
    ``j*sw + b*dw = p + crop_w``; ``OH``, ``crop_h`` (and the same along the width) from
    ``fastconv.shapes.conv_transpose_geometry``.

    >>> conv_transpose(np.ones((1, 2, 2, 1), np.float32), np.ones((3, 3, 1, 1), np.float32), 2)[0, :, :, 0]
    array([[1., 1., 2., 1., 1.],
           [1., 1., 2., 1., 1.],
           [2., 2., 4., 2., 2.],
           [1., 1., 2., 1., 1.],
           [1., 1., 2., 1., 1.]], dtype=float32)
    """
    return conv_transpose_bias_activation(inputs, kernel, None, strides, padding, output_padding, data_format,
                                          dilation_rate)


def conv_transpose_grad(inputs, kernel, grad_output, strides=1, padding="valid", output_padding=None,
                        data_format=None, dilation_rate=1):
    """Gradients of ``sum(conv_transpose(inputs, kernel, ...) * grad_output)``: ``(grad_inputs, grad_kernel)``,
    bitwise identical whatever the number of threads."""
    grad_inputs, grad_kernel, _ = conv_transpose_bias_activation_grad(
        inputs, kernel, None, grad_output, strides, padding, output_padding, data_format, dilation_rate)
    return grad_inputs, grad_kernel


def conv_transpose_bias_activation(inputs, kernel, bias=None, strides=1, padding="valid", output_padding=None,
                                   data_format=None, dilation_rate=1, activation=None):
    """``activation(conv_transpose(inputs, kernel) + bias)`` (what ``Conv2DTranspose`` computes).

    ``bias`` is ``None`` or shape ``(F,)``; ``activation`` is ``None``,
    ``'linear'`` or ``'relu'``. The input-gradient kernels of the
    convolution run it, with the bias and ReLU fused into their store where
    the SIMD tiles compute it.
    """
    spec = _ConvTransposeSpec(inputs, kernel, bias, None, strides, padding, output_padding, data_format,
                              dilation_rate, activation)
    out, _, _ = _conv_backward(spec, spec.grad_output, True, False, spec.transpose_bias, spec.relu)
    return out


def conv_transpose_bias_activation_grad(inputs, kernel, outputs, grad_output, strides=1, padding="valid",
                                        output_padding=None, data_format=None, dilation_rate=1, activation=None,
                                        need_grad_inputs=True, need_grad_kernel=True):
    """Backward pass of :func:`conv_transpose_bias_activation`: ``(grad_inputs, grad_kernel, grad_bias)``.

    ``outputs``, ``need_grad_inputs`` and ``need_grad_kernel`` as in
    :func:`conv_bias_activation_grad`. The input gradient is a forward
    convolution of ``grad_output``, the kernel gradient that convolution's
    kernel gradient with ``inputs`` as its output gradient.
    """
    spec = _ConvTransposeSpec(inputs, kernel, None, grad_output, strides, padding, output_padding, data_format,
                              dilation_rate, activation)
    if spec.relu:
        if outputs is None:
            raise ValueError("Argument `outputs` is required when `activation='relu'`. Received: outputs=None")
        mask = _as_checked_like(outputs, "outputs", spec.input_shape, spec.dtype) > 0
        spec.inputs = np.where(mask, spec.inputs, spec.dtype.type(0))
    grad_inputs = spec.result(_conv_forward(spec)) if need_grad_inputs else None
    if not need_grad_kernel:
        return grad_inputs, None, None
    _, grad_kernel, _ = _conv_backward(spec, spec.grad_output, False, True)
    return grad_inputs, grad_kernel, spec.result(_channel_totals(spec.inputs))


@_memoized
def _conv_transpose_geometry(input_shape, kernel_shape, strides, padding, output_padding, dilation_rate,
                             activation):
    """``(strides, dilation_rate, relu, pads, output_shape)`` of a transposed convolution, checked and
    normalised: ``pads`` are the top/bottom and left/right padding of the convolution whose input gradient
    it is (its input shaped like ``output_shape``, its output like ``input_shape``)."""
    strides, dilation_rate, padding = _conv_arguments(kernel_shape, strides, padding, dilation_rate, activation)
    output_padding = shapes.normalize_output_padding(output_padding, strides)
    if kernel_shape[3] != input_shape[3]:
        raise ValueError(
            "Invalid shapes for arguments `inputs` and `kernel`: kernel.shape[3] (input channels of a transposed "
            f"convolution) must equal inputs.shape[3]. Received: inputs.shape={input_shape}, "
            f"kernel.shape={kernel_shape}" + shapes.channels_first_hint(input_shape, kernel_shape[3])
        )
    pads = []
    for length, size, stride, pad, dilation in zip(input_shape[1:3], kernel_shape[:2], strides,
                                                   output_padding or (None, None), dilation_rate):
        crop, out = shapes.conv_transpose_geometry(length, size, padding, stride, pad, dilation)
        # Below: what makes the convolution's output `length` long, or none if the input is long enough.
        pads.append((crop, max(0, (length - 1) * stride + shapes.effective_size(size, dilation) - crop - out)))
    output_shape = shapes.conv_transpose_output_shape(input_shape, kernel_shape[:2], kernel_shape[2], strides,
                                                      padding, output_padding, dilation_rate)
    return strides, dilation_rate, ACTIVATIONS[activation] == _conv2d.RELU, tuple(pads), output_shape


class _ConvTransposeSpec(_ConvSpec):
    """Checked arguments of one transposed convolution, as the :class:`_ConvSpec` of the convolution whose
    input gradient it is: that convolution's input (``inputs``, ``input_shape``) is the transposed one's
    output gradient and shape, its output gradient (``grad_output``) the transposed one's inputs, its kernel
    the same array; it has no bias or activation of its own (``bias`` is zeros), the transposed
    convolution's are ``transpose_bias`` and ``relu``."""

    def __init__(self, inputs, kernel, bias, grad_output, strides, padding, output_padding, data_format,
                 dilation_rate, activation):
        _check_data_format(data_format)
        inputs = _as_float_array(inputs, "inputs")
        kernel = _as_float_array(kernel, "kernel")
        _check_ndim(inputs, "inputs", 4, "(batch, height, width, channels)")
        _check_ndim(kernel, "kernel", 4, "(kernel_height, kernel_width, filters, input_channels)")
        (self.strides, self.dilation_rate, self.relu, self.pads, self.input_shape) = _conv_transpose_geometry(
            inputs.shape, kernel.shape, strides, padding, output_padding, dilation_rate, activation)
        self.output_shape = inputs.shape
        self.activation = _conv2d.LINEAR
        self.result_dtype, self.dtype = _dtypes(inputs, kernel)
        self.grad_output = _kernel_array(inputs, self.dtype)
        self.kernel = _kernel_array(kernel, self.dtype)
        self.bias = buffers.zeros(kernel.shape[3], self.dtype)
        self.transpose_bias = None if bias is None else _as_checked_like(bias, "bias", (kernel.shape[2],), self.dtype)
        self.inputs = None
        if grad_output is not None:
            self.inputs = _as_checked_like(grad_output, "grad_output", self.input_shape, self.dtype)
        self.tiled = self.dtype in _TILED_DTYPES and self.dilation_rate == (1, 1)


# ----------------------------------------------------------------------------- grouped convolution


def grouped_conv_bias_activation(inputs, kernel, bias=None, strides=1, padding="valid", data_format=None,
                                 dilation_rate=1, activation=None, groups=1):
    """:func:`conv_bias_activation` in ``groups`` groups (``Conv2D(groups=g)``): the kernel is
    ``(KH, KW, C/g, F)`` and group ``i`` convolves input channels ``i*C/g .. (i+1)*C/g`` with kernel
    channels ``i*F/g .. (i+1)*F/g`` into those output channels.

    float32 runs on the tiled kernels, every group of a row in one task, reading and writing the groups'
    channels in place; float64 and dilated convolutions run one call of the general kernels per group, on
    copies of its channel slices, the outputs joined along the channels. With one input channel per group
    (``groups = C``) it is a depthwise convolution with ``F/C`` filters per channel, and runs as one
    (:func:`depthwise_conv_bias_activation`).

    >>> x = np.ones((1, 3, 3, 4), np.float32)
    >>> grouped_conv_bias_activation(x, np.ones((1, 1, 2, 2), np.float32), groups=2)[0, 0, 0]
    array([2., 2.], dtype=float32)
    """
    inputs, kernel = _groups(inputs, kernel, groups, strides, padding, dilation_rate, activation)
    if kernel.shape[2] == 1:
        return depthwise_conv_bias_activation(inputs, _as_depthwise(kernel, groups), bias, strides, padding,
                                              data_format, dilation_rate, activation)
    spec = _ConvSpec(inputs, kernel, bias, None, strides, padding, data_format, dilation_rate, activation,
                     groups=groups)
    if spec.tiled:
        return spec.result(_conv_forward(spec))
    if bias is not None:
        bias = _as_checked_like(bias, "bias", (kernel.shape[3],), np.float64)
    parts = [conv_bias_activation(inputs[..., c], kernel[..., f], None if bias is None else bias[f], strides, padding,
                                  data_format, dilation_rate, activation) for c, f in _group_slices(kernel, groups)]
    return np.concatenate(parts, axis=3)


def grouped_conv_bias_activation_grad(inputs, kernel, outputs, grad_output, strides=1, padding="valid",
                                      data_format=None, dilation_rate=1, activation=None, need_grad_inputs=True,
                                      need_grad_kernel=True, groups=1):
    """Backward pass of :func:`grouped_conv_bias_activation`: ``(grad_inputs, grad_kernel, grad_bias)`` as
    :func:`conv_bias_activation_grad` returns them, on the same kernels as the forward pass."""
    inputs, kernel = _groups(inputs, kernel, groups, strides, padding, dilation_rate, activation)
    if kernel.shape[2] == 1:
        grad_inputs, grad_kernel, grad_bias = depthwise_conv_bias_activation_grad(
            inputs, _as_depthwise(kernel, groups), outputs, grad_output, strides, padding, data_format, dilation_rate,
            activation, need_grad_inputs, need_grad_kernel)
        return grad_inputs, None if grad_kernel is None else grad_kernel.reshape(kernel.shape), grad_bias
    spec = _ConvSpec(inputs, kernel, None, grad_output, strides, padding, data_format, dilation_rate, activation,
                     groups=groups)
    if spec.tiled:
        return _conv_backward(spec, spec.mask_source(outputs), need_grad_inputs, need_grad_kernel)
    grad_output = _as_float_array(grad_output, "grad_output")  # its shape checked by the spec
    outputs = None if outputs is None else _as_float_array(outputs, "outputs")
    parts = [conv_bias_activation_grad(inputs[..., c], kernel[..., f], None if outputs is None else outputs[..., f],
                                       grad_output[..., f], strides, padding, data_format, dilation_rate, activation,
                                       need_grad_inputs, need_grad_kernel) for c, f in _group_slices(kernel, groups)]
    grad_inputs = np.concatenate([p[0] for p in parts], axis=3) if need_grad_inputs else None
    if not need_grad_kernel:
        return grad_inputs, None, None
    return grad_inputs, np.concatenate([p[1] for p in parts], axis=3), np.concatenate([p[2] for p in parts])


def _as_depthwise(kernel, groups):
    """A grouped kernel ``(KH, KW, 1, C*m)`` of one input channel per group as the depthwise ``(KH, KW, C, m)``
    (group ``c``'s filters are output channels ``c*m .. (c+1)*m``, as in a depthwise convolution)."""
    return kernel.reshape(*kernel.shape[:2], groups, -1)


def _groups(inputs, kernel, groups, strides, padding, dilation_rate, activation):
    """``(inputs, kernel)`` of a grouped convolution, checked."""
    if not (isinstance(groups, int) and not isinstance(groups, bool) and groups > 0):
        raise ValueError("Invalid value for argument `groups`. Expected a positive integer. "
                         f"Received: groups={groups!r}")
    inputs = _as_float_array(inputs, "inputs")
    kernel = _as_float_array(kernel, "kernel")
    _check_ndim(inputs, "inputs", 4, "(batch, height, width, channels)")
    _check_ndim(kernel, "kernel", 4, "(kernel_height, kernel_width, input_channels / groups, filters)")
    _conv_arguments(kernel.shape, strides, padding, dilation_rate, activation)
    channels, filters = inputs.shape[3], kernel.shape[3]
    if kernel.shape[2] * groups != channels:
        raise ValueError(
            "Invalid shapes for arguments `inputs` and `kernel`: kernel.shape[2] (input channels per group) times "
            f"groups must equal inputs.shape[3]. Received: inputs.shape={inputs.shape}, kernel.shape={kernel.shape}, "
            f"groups={groups}")
    if filters % groups:
        raise ValueError(
            "Invalid shape for argument `kernel`: kernel.shape[3] (filters) must be divisible by groups. "
            f"Received: kernel.shape={kernel.shape}, groups={groups}")
    return inputs, kernel


def _group_slices(kernel, groups):
    """Each group's ``(input channels, output channels)`` slices of a checked grouped ``kernel``."""
    per_c, per_f = kernel.shape[2], kernel.shape[3] // groups
    return [(slice(g * per_c, (g + 1) * per_c), slice(g * per_f, (g + 1) * per_f)) for g in range(groups)]


# ----------------------------------------------------------------------------- pooling


def max_pool(inputs, pool_size, strides=None, padding="valid", data_format=None):
    """2-D max pooling of NHWC ``inputs``; padded cells are never picked.

    ``strides`` defaults to ``pool_size``. Returns ``(N, OH, OW, C)``.
    """
    spec = _PoolSpec(inputs, None, pool_size, strides, padding, data_format)
    return spec.forward(_pooling.MAX)


def max_pool_grad(inputs, grad_output, pool_size, strides=None, padding="valid", data_format=None,
                  relu_inputs=False):
    """Gradient of ``sum(max_pool(inputs, ...) * grad_output)`` with respect to ``inputs``.

    Each window's gradient goes to its first maximum in row-major order;
    overlapping windows add up. With ``relu_inputs=True``, ``inputs`` are the
    outputs of a ReLU and the gradient returned is the one *before* that
    ReLU: a window whose maximum is not positive passes none (the ReLU's
    mask, applied in the same pass; a model folds it in where a
    ``Conv2D(activation='relu')`` feeds a ``MaxPooling2D`` alone).
    """
    _check_flag(relu_inputs, "relu_inputs")
    spec = _PoolSpec(inputs, grad_output, pool_size, strides, padding, data_format)
    return spec.backward(_pooling.MAX_OF_RELU if relu_inputs else _pooling.MAX)


def average_pool(inputs, pool_size, strides=None, padding="valid", data_format=None):
    """2-D average pooling of NHWC ``inputs``, dividing by the number of real (unpadded) cells in each window."""
    spec = _PoolSpec(inputs, None, pool_size, strides, padding, data_format)
    return spec.forward(_pooling.AVERAGE)


def average_pool_grad(inputs, grad_output, pool_size, strides=None, padding="valid", data_format=None):
    """Gradient of ``sum(average_pool(inputs, ...) * grad_output)`` with respect to ``inputs``."""
    spec = _PoolSpec(inputs, grad_output, pool_size, strides, padding, data_format)
    return spec.backward(_pooling.AVERAGE)


@_memoized
def _pool_geometry(input_shape, pool_size, strides, padding):
    """``(pool_size, strides, padding, pads, output_shape, kernel_geometry, rows_per_task, largest)`` of a
    pooling, checked and normalised.

    ``kernel_geometry`` is ``(pool_h, pool_w, stride_h, stride_w, pad_top, pad_left)`` as the kernels get
    it (see :func:`_kernel_window`); ``rows_per_task`` the kernels' task sizes, forward and backward (see
    ``kernels/pooling.py``); ``largest`` the most real cells a window can hold.

    Forward tasks are an image's rows cut into as many tasks as read ``_POOL_TASK_CELLS`` window cells
    each, so one large image is shared out over the threads while a small one stays one task. Backward
    tasks are one image where windows overlap along the height (neighbouring rows add into the same
    cells), else one row.

    >>> _pool_geometry((1, 112, 112, 64), 3, 2, "same")[6], _pool_geometry((1, 14, 14, 64), 3, 1, "same")[6]
    ((5, 56), (14, 14))
    """
    pool_size = shapes.normalize_tuple(pool_size, "pool_size")
    strides = shapes.normalize_tuple(pool_size if strides is None else strides, "strides")
    padding = shapes.normalize_padding(padding)
    pads = tuple(shapes.padding_amounts(length, size, padding, stride)
                 for length, size, stride in zip(input_shape[1:3], pool_size, strides))
    if padding == "valid":
        _check_window_fits(input_shape, pool_size, (1, 1), "pool_size")
    output_shape = shapes.conv_output_shape(input_shape, pool_size, input_shape[3], strides, padding)
    (pool_h, stride_h, pad_top), (pool_w, stride_w, pad_left) = (
        _kernel_window(length, out, size, stride, pad[0])
        for length, out, size, stride, pad in zip(input_shape[1:3], output_shape[1:3], pool_size, strides, pads))
    largest = min(pool_h, input_shape[1]) * min(pool_w, input_shape[2])
    _, out_h, out_w, channels = output_shape
    forward_tasks = max(1, min(out_h, out_h * out_w * channels * largest // _POOL_TASK_CELLS))
    forward_rows = max(1, -(-out_h // forward_tasks))
    backward_rows = max(out_h, 1) if stride_h < pool_h else 1
    return (pool_size, strides, padding, pads, output_shape, (pool_h, pool_w, stride_h, stride_w, pad_top, pad_left),
            (forward_rows, backward_rows), largest)


def _kernel_window(length, out, size, stride, pad):
    """``(size, stride, pad)`` along one axis as the pooling kernels get them: no larger than about twice
    ``length``, so that what a pooling costs follows the image, however large the pool or stride.

    The kernels clip output ``o``'s window ``[o*stride - pad, o*stride - pad + size)`` to the real cells
    ``[0, length)``; these numbers give every one of the ``out`` windows the same clipped cells:

    - where every window starts before the image (a pool larger than the image, with 'same'), the padding
      is cut to what puts the last window's start at 0, and the pool by as much (the ends do not move);
    - the pool is cut to ``length + pad``: a window that ended beyond the image still does;
    - a stride matters only between windows, and with two or more windows it is less than ``length``.

    Whether windows overlap (``stride < size``) changes only where the clipped windows do not overlap.

    >>> _kernel_window(8, 1, 10**6, 10**6, (10**6 - 8) // 2)
    (8, 16, 0)
    >>> _kernel_window(28, 14, 2, 2, 0)
    (2, 2, 0)
    """
    last_start = max(out - 1, 0) * stride
    if pad > last_start:
        size -= pad - last_start
        pad = last_start
    size = max(1, min(size, length + pad))
    return size, min(stride, size + length), pad


class _PoolSpec:
    """Checked, normalised arguments of one pooling call, and the kernel calls that use them."""

    def __init__(self, inputs, grad_output, pool_size, strides, padding, data_format):
        _check_data_format(data_format)
        inputs = _as_float_array(inputs, "inputs")
        _check_ndim(inputs, "inputs", 4, "(batch, height, width, channels)")
        (self.pool_size, self.strides, self.padding, self.pads, self.output_shape, self.kernel_geometry,
         self.rows_per_task, largest) = _pool_geometry(inputs.shape, pool_size, strides, padding)
        self.result_dtype, self.dtype = _dtypes(inputs)
        self.reciprocals = _reciprocals(largest, self.dtype)
        self.inputs = _kernel_array(inputs, self.dtype)
        if grad_output is not None:
            self.grad_output = _as_checked_like(grad_output, "grad_output", self.output_shape, self.dtype)

    def forward(self, mode):
        out = buffers.empty(self.output_shape, self.dtype)
        parallel.run(_pooling._pool2d_forward, self.inputs, out, *self.kernel_geometry, mode, self.rows_per_task[0],
                     self.reciprocals)
        return out.astype(self.result_dtype, copy=False)

    def backward(self, mode):
        grad_inputs = buffers.empty(self.inputs.shape, self.dtype)  # the kernel writes every cell (no serial memset)
        parallel.run(_pooling._pool2d_backward, self.inputs, self.grad_output, grad_inputs, *self.kernel_geometry,
                     mode, self.rows_per_task[1], self.reciprocals)
        return grad_inputs.astype(self.result_dtype, copy=False)


_RECIPROCALS = {}


def _reciprocals(largest, dtype):
    """A table ``r`` with ``r[k] = 1 / k`` in ``dtype`` for ``k`` in ``1 .. largest`` at least (``r[0]`` is 0,
    never read): the average pooling kernels' (see ``kernels/pooling.py``). One table per dtype, shared
    between calls and grown when a call needs more (kernels only read it; a call keeps the table it got)."""
    table = _RECIPROCALS.get(dtype)
    if table is None or len(table) <= largest:
        table = np.zeros(largest + 1, dtype)
        table[1:] = 1.0 / np.arange(1, largest + 1)
        _RECIPROCALS[dtype] = table
    return table


# ----------------------------------------------------------------------------- dense


def dense(inputs, kernel, bias=None):
    """``inputs @ kernel + bias`` over the last axis of ``inputs`` (what ``Dense`` computes before its activation).

    Parameters
    ----------
    inputs : array_like, shape ``(..., K)``, ``K >= 1`` (the leading axes may be empty)
    kernel : array_like, shape ``(K, N)``, ``N >= 1``
    bias : array_like, shape ``(N,)``, or None

    Returns ``(..., N)``. float32 runs on the SIMD-tiled kernels of
    ``fastconv/kernels/dense.py`` on fastconv's threads, float64 on numpy.

    >>> import numpy as np
    >>> dense(np.ones((2, 3), np.float32), np.ones((3, 4), np.float32), np.arange(4, dtype=np.float32))
    array([[3., 4., 5., 6.],
           [3., 4., 5., 6.]], dtype=float32)
    """
    spec = _DenseSpec(inputs, kernel, bias, None)
    if not spec.tiled:
        return spec.result((spec.inputs @ spec.kernel + spec.bias).reshape(spec.output_shape))
    # The tiles read whole blocks of the kernel's columns: a kernel of at least one block is read in place (its
    # last columns, if they make no whole block, as the block that ends at its last column); a smaller one is
    # zero-padded to a block (copying the textbook's 3136 x 100 kernel, 1.25 MB, took longer than the product).
    block = _channel_block(spec.dtype)
    weights, bias = spec.kernel, spec.bias
    if spec.units < block:
        weights, bias = _pad_last_axis(weights, block), _pad_last_axis(bias, block)
    out = buffers.empty((len(spec.inputs), spec.units), spec.dtype)
    _matmul(spec.inputs, weights, bias, out)
    return spec.result(out.reshape(spec.output_shape))


def dense_grad(inputs, kernel, grad_output, need_grad_inputs=True, need_grad_kernel=True):
    """Gradients of ``sum(dense(inputs, kernel, bias) * grad_output)``: ``(grad_inputs, grad_kernel, grad_bias)``.

    ``grad_inputs`` is None when ``need_grad_inputs`` is false, ``grad_kernel``
    and ``grad_bias`` when ``need_grad_kernel`` is.
    """
    spec = _DenseSpec(inputs, kernel, None, grad_output)
    x, g = spec.inputs, spec.grad_output
    if not spec.tiled:
        grad_inputs = (g @ spec.kernel.T).reshape(spec.input_shape) if need_grad_inputs else None
        if not need_grad_kernel:
            return grad_inputs, None, None
        return grad_inputs, spec.result(x.T @ g), spec.result(g.sum(axis=0))
    if need_grad_kernel:
        lanes = _simd.lanes(spec.dtype)
        grad_kernel = buffers.empty(spec.kernel.shape, spec.dtype)
        tail = buffers.empty((spec.kernel.shape[0], lanes) if spec.units % lanes else (0, 0), spec.dtype)
        n_pad = _padded_channels(spec.units, spec.dtype)
        parallel.run(_dense._matmul_tn_tiled, x, _pad_last_axis(g, n_pad), grad_kernel, tail,
                     _matmul_tn_rows_per_task(spec.kernel.shape[0], n_pad, len(x)),
                     threads=_matmul_threads(x.size * n_pad))
    grad_inputs = None
    if need_grad_inputs:
        # (g @ kernel.T).T = kernel @ g.T: the kernel's rows are the many "pixels" that the tiles are made for;
        # each task writes its block of the product back transposed, into the input gradient.
        batch = len(x)
        grad_inputs = buffers.empty(spec.input_shape, spec.dtype)
        block = _channel_block(spec.dtype)
        batch_pad = -(-batch // block) * block  # whole channel blocks, as in dense()
        _matmul(spec.kernel, _pad_last_axis(g.T, batch_pad), buffers.zeros(batch_pad, spec.dtype),
                buffers.empty((spec.kernel.shape[0], batch), spec.dtype), transposed=grad_inputs.reshape(batch, -1))
        grad_inputs = spec.result(grad_inputs)
    if not need_grad_kernel:
        return grad_inputs, None, None
    return grad_inputs, spec.result(grad_kernel), spec.result(g.sum(axis=0))


def _matmul(a, b, bias, out, transposed=None):
    """``out = a @ b[:, :N] + bias[:N]`` on the tiles (``kernels/dense.py``: ``b`` and ``bias`` at least one
    block of columns wide), and ``transposed = out.T`` unless it is None."""
    if transposed is None:
        transposed = np.empty((0, 0), out.dtype)
    block = _channel_block(out.dtype)
    tail = buffers.empty((len(a), block) if out.shape[1] > b.shape[1] // block * block else (0, 0), out.dtype)
    parallel.run(_dense._matmul_tiled, a, b, bias, out, _matmul_rows_per_task(*out.shape, a.shape[1], out.dtype),
                 False, transposed, tail, threads=_matmul_threads(a.size * -(-out.shape[1] // block) * block))


def _matmul_threads(fmas):
    """``threads`` for a dense product of ``fmas`` multiply-adds: 1 (the calling thread alone) for less than
    one task's worth (``_MATMUL_TASK_FMAS``, some 10 us), which costs less than waking a helper thread;
    else None, every thread. The same tasks either way: the results do not change."""
    return 1 if fmas < _MATMUL_TASK_FMAS else None


def _matmul_rows_per_task(n_rows, n_out, depth, dtype):
    """Rows of ``a`` per task of ``_dense._matmul_tiled`` for an ``(n_rows, n_out)`` result of ``depth``
    products each.

    16 (a task is 16 rows x 2 vectors of columns); 8 where 16 make fewer than
    ``_TASKS`` tasks and 8 rows still make ``_MATMUL_TASK_FMAS`` multiply-adds.
    Each output element is computed alike however the rows are cut, so
    results do not depend on it.

    >>> _matmul_rows_per_task(32, 96, 3136, np.float32), _matmul_rows_per_task(512, 96, 3136, np.float32)
    (8, 16)
    """
    columns = _dense.VECTORS_PER_TASK * _simd.lanes(dtype)
    if -(-n_rows // 16) * -(-n_out // columns) < _TASKS and 8 * columns * depth >= _MATMUL_TASK_FMAS:
        return 8
    return 16


def _matmul_tn_rows_per_task(depth, n_pad, n_rows):
    """Rows of the ``(depth, n_pad)`` result per task of ``_dense._matmul_tn_tiled`` (each a sum over
    ``n_rows`` rows of ``a``): 48, or fewer where that gives more of the ``_TASKS`` tasks and each still
    makes ``_MATMUL_TASK_FMAS`` multiply-adds; in multiples of 12 (whole tiles of 6, 3 and 12 rows, the
    kernel-gradient tiles of ``conv2d_tiles.py``).

    >>> _matmul_tn_rows_per_task(3136, 112, 32), _matmul_tn_rows_per_task(1000, 128, 256)
    (48, 24)
    >>> _matmul_tn_rows_per_task(100, 16, 32)  # 48 x 16 x 32 multiply-adds: a few microseconds
    48
    """
    rows = max(-(-depth // _TASKS), -(-_MATMUL_TASK_FMAS // max(1, n_pad * n_rows)))
    return min(48, max(12, -(-rows // 12) * 12))


class _DenseSpec:
    """Checked arguments of one dense call, inputs flattened to ``(rows, K)``."""

    def __init__(self, inputs, kernel, bias, grad_output):
        inputs = _as_float_array(inputs, "inputs")
        kernel = _as_float_array(kernel, "kernel")
        _check_ndim(kernel, "kernel", 2, "(input_dim, units)")
        if kernel.shape[1] == 0:
            raise ValueError(
                "Invalid shape for argument `kernel`. Expected at least one unit: kernel.shape[1] (units) must "
                f"be positive. Received: kernel.shape={kernel.shape}")
        if inputs.ndim < 1 or inputs.shape[-1] != kernel.shape[0]:
            raise ValueError(
                "Invalid shapes for arguments `inputs` and `kernel`: the last axis of inputs must equal "
                f"kernel.shape[0]. Received: inputs.shape={inputs.shape}, kernel.shape={kernel.shape}")
        if kernel.shape[0] == 0:
            raise ValueError(
                "Invalid shape for argument `inputs`. Expected at least one input feature: the last axis of "
                f"inputs must be positive. Received: inputs.shape={inputs.shape}, kernel.shape={kernel.shape}")
        self.result_dtype, self.dtype = _dtypes(inputs, kernel)
        self.units = kernel.shape[1]
        self.input_shape = inputs.shape
        self.output_shape = (*inputs.shape[:-1], self.units)
        self.inputs = _kernel_array(inputs, self.dtype).reshape(-1, kernel.shape[0])
        self.kernel = _kernel_array(kernel, self.dtype)
        self.bias = (buffers.zeros(self.units, self.dtype) if bias is None
                     else _as_checked_like(bias, "bias", (self.units,), self.dtype))
        if grad_output is not None:
            self.grad_output = _as_checked_like(grad_output, "grad_output", self.output_shape,
                                                self.dtype).reshape(-1, self.units)
        self.tiled = self.dtype in _TILED_DTYPES and len(self.inputs) > 0

    def result(self, array):
        return array.astype(self.result_dtype, copy=False)


# ----------------------------------------------------------------------------- batch normalization

_NORMALIZATION_TASK_ELEMENTS = 1 << 12
"""Elements per task of the batch normalization kernels: whole rows of channels, from 8 to 64 rows (the longest
chain of float32 additions in their sums)."""


def _channel_totals(x):
    """The sums of the array ``x`` ``(..., C)`` over every axis but the last: ``(C,)``, of its dtype, on
    fastconv's threads, from partial sums of a few rows each added in float64 (the same for any number of
    threads). What a transposed convolution's bias gradient is; numpy's ``sum`` took 0.29 ms on one thread
    for a (32, 28, 28, 32) batch."""
    if x.size == 0:  # no rows, or no channels (a layer of no filters)
        return np.zeros(x.shape[-1], x.dtype)
    rows = np.ascontiguousarray(x).reshape(-1, x.shape[-1])
    rows_per_task = _normalization_rows_per_task(rows.shape[1])
    partial_sum = buffers.empty((-(-len(rows) // rows_per_task), rows.shape[1]), rows.dtype)
    parallel.run(_normalization._channel_totals, rows, partial_sum, rows_per_task)
    return partial_sum.sum(axis=0, dtype=np.float64).astype(rows.dtype)


def channel_moments(x):
    """The mean and the (biased) variance of ``x`` ``(..., C)`` over every axis but the last: two ``(C,)`` arrays.

    What ``BatchNormalization`` normalises a training batch with. One pass
    over ``x``: each task of a few rows (8 to 64) takes their mean, then the
    sums of their deviations from it and of the squares, while the rows are
    in the cache; the tasks' moments are combined in float64 (Chan, Golub and
    LeVeque's formula: the sum of the tasks' squared deviations plus the
    spread of their means about the mean), in the same order for any number
    of threads.

    >>> channel_moments(np.array([[1, 2], [3, 6]], np.float32))
    (array([2., 4.], dtype=float32), array([1., 4.], dtype=float32))
    """
    rows, result_dtype, dtype = _channel_rows(x, "x")
    count, channels = rows.shape
    if count == 0:
        raise ValueError(f"Invalid shape for argument `x`. Expected at least one value per channel. "
                         f"Received: x.shape={np.shape(x)}")
    rows_per_task = _normalization_rows_per_task(channels)
    n_tasks = -(-count // rows_per_task)
    task_rows = np.full(n_tasks, rows_per_task, np.float64)
    task_rows[-1] = count - rows_per_task * (n_tasks - 1)
    negated_centers, sums, squares = (buffers.empty((n_tasks, channels), dtype) for _ in range(3))
    parallel.run(_normalization._channel_moments, rows, (-1 / task_rows).astype(dtype), negated_centers, sums,
                 squares, rows_per_task)
    mean, variance = np.empty(channels), np.empty(channels)
    parallel.run(_normalization._combined_moments, negated_centers, sums, squares, task_rows, mean, variance,
                 threads=1)
    return mean.astype(result_dtype, copy=False), variance.astype(result_dtype, copy=False)


def batch_normalization(x, mean, variance, offset=None, scale=None, epsilon=1e-3, relu=False):
    """``(x - mean) / sqrt(variance + epsilon) * scale + offset``, the vectors ``(C,)`` along the last axis of ``x``.

    ``keras.ops.batch_normalization`` with ``axis=-1``; ``offset`` and
    ``scale`` may be None (0 and 1). One pass over ``x``; with ``relu=True``
    a ReLU of the result in the same pass (what a model computes for a
    ``BatchNormalization`` whose output only a ``ReLU`` reads).

    >>> batch_normalization(np.array([[1, 2], [3, 6]], np.float32), np.float32([2, 4]), np.float32([1, 4]),
    ...                     epsilon=0)
    array([[-1., -1.],
           [ 1.,  1.]], dtype=float32)
    """
    rows, result_dtype, dtype = _channel_rows(x, "x")
    _check_flag(relu, "relu")
    mean, multiplier, offset, _ = _normalization_vectors(rows.shape[1], dtype, mean, variance, offset, scale, epsilon)
    out = buffers.empty(rows.shape, dtype)
    parallel.run(_normalization._normalize, rows, -mean, multiplier, offset, out,
                 _normalization_rows_per_task(rows.shape[1]), relu)
    return out.reshape(np.shape(x)).astype(result_dtype, copy=False)


def batch_normalization_grad(x, grad_output, mean, variance, scale=None, epsilon=1e-3, batch_statistics=True,
                             offset=None, relu=False):
    """Gradients of :func:`batch_normalization`: ``(grad_x, grad_scale, grad_offset)``.

    With ``batch_statistics`` (a training step), ``mean`` and ``variance``
    are :func:`channel_moments` of ``x`` and depend on it too, and
    ``grad_x`` includes that dependence; otherwise (the moving statistics)
    they are constants. ``grad_scale`` and ``grad_offset`` are ``(C,)``.
    With ``relu=True`` (and the forward pass's ``offset``), ``grad_output`` is
    the gradient after the ReLU of ``batch_normalization(..., relu=True)``:
    its mask (``z >= 0``, as ``relu_grad``) is taken from the normalised
    values computed again, exactly as the forward pass computed them.
    """
    rows, result_dtype, dtype = _channel_rows(x, "x")
    _check_flag(relu, "relu")
    _check_flag(batch_statistics, "batch_statistics")
    channels, count = rows.shape[1], len(rows)
    grad_rows = _as_checked_like(grad_output, "grad_output", np.shape(x), dtype).reshape(rows.shape)
    mean, multiplier, offset, (scale, inv_std) = _normalization_vectors(channels, dtype, mean, variance, offset,
                                                                        scale, epsilon)
    rows_per_task = _normalization_rows_per_task(channels)
    n_tasks = -(-count // rows_per_task)
    partial_grad = buffers.empty((n_tasks, channels), dtype)
    partial_product = buffers.empty((n_tasks, channels), dtype)
    parallel.run(_normalization._channel_sums, rows, grad_rows, -mean, multiplier, offset, partial_grad,
                 partial_product, rows_per_task, relu)
    grad_offset = partial_grad.sum(axis=0, dtype=np.float64).astype(dtype)
    grad_scale = (partial_product.sum(axis=0, dtype=np.float64) * inv_std).astype(dtype)
    grad_x = buffers.empty(rows.shape, dtype)
    if batch_statistics:
        factor = scale * inv_std / dtype.type(count)
        parallel.run(_normalization._grad_inputs, rows, grad_rows, -mean, multiplier, offset, inv_std,
                     np.full(channels, count, dtype), -grad_offset, -grad_scale, factor, grad_x, rows_per_task, relu)
    else:  # constant statistics: the same kernel with the sums' terms zero, grad_x = g * scale * inv_std
        factor, zeros = scale * inv_std, np.zeros(channels, dtype)
        parallel.run(_normalization._grad_inputs, rows, grad_rows, -mean, multiplier, offset, zeros,
                     np.ones(channels, dtype), zeros, zeros, factor, grad_x, rows_per_task, relu)
    return (grad_x.reshape(np.shape(x)).astype(result_dtype, copy=False), grad_scale.astype(result_dtype),
            grad_offset.astype(result_dtype))


def _normalization_vectors(channels, dtype, mean, variance, offset, scale, epsilon):
    """Checked ``(mean, multiplier, offset, (scale, inv_std))`` of a normalisation, ``(C,)`` arrays of
    ``dtype``: ``multiplier = scale / sqrt(variance + epsilon)``."""
    mean, variance = (_as_checked_like(value, name, (channels,), dtype)
                      for value, name in ((mean, "mean"), (variance, "variance")))
    offset = _as_checked_like(np.zeros(channels) if offset is None else offset, "offset", (channels,), dtype)
    scale = _as_checked_like(np.ones(channels) if scale is None else scale, "scale", (channels,), dtype)
    inv_std = 1 / np.sqrt(variance + dtype.type(epsilon))
    return mean, inv_std * scale, offset, (scale, inv_std)


def _channel_rows(x, name):
    """``x`` as a C-contiguous ``(rows, C)`` array of its compute dtype: ``(rows, result_dtype, dtype)``."""
    array, result_dtype, dtype = _computed(x, name)
    shape = np.shape(x)  # the argument's own (a contiguous copy of a 0-d array has one axis)
    if len(shape) < 1 or shape[-1] == 0:
        raise ValueError(f"Invalid shape for argument `{name}`. Expected channels along the last axis. "
                         f"Received: {name}.shape={shape}")
    return array.reshape(-1, shape[-1]), result_dtype, dtype


def _normalization_rows_per_task(channels):
    """Rows per task of the batch normalization kernels: ``_NORMALIZATION_TASK_ELEMENTS`` values, whole rows,
    8 to 64 of them."""
    return min(64, max(8, _NORMALIZATION_TASK_ELEMENTS // channels))


# ----------------------------------------------------------------------------- affine transform (augmentation)

_AFFINE_INTERPOLATIONS = {"nearest": _affine.NEAREST, "bilinear": _affine.BILINEAR}
_AFFINE_FILL_MODES = {"reflect": _affine.REFLECT, "wrap": _affine.WRAP, "constant": _affine.CONSTANT,
                      "nearest": _affine.NEAREST_FILL}


def affine_transform(images, transform, interpolation="bilinear", fill_mode="constant", fill_value=0,
                     data_format=None):
    """Resample NHWC ``images`` through projective transforms (``keras.ops.image.affine_transform``).

    ``transform`` is ``(a0, a1, a2, b0, b1, b2, c0, c1)`` for all images, or one such row per image
    (``(N, 8)``): output pixel ``(row, col)`` takes the input at column ``(a0 col + a1 row + a2) / k`` and
    row ``(b0 col + b1 row + b2) / k``, with ``k = c0 col + c1 row + 1`` (pixel ``i`` at coordinate ``i``).
    ``interpolation`` is ``'nearest'`` or ``'bilinear'``; points outside are read as ``fill_mode`` says:
    ``'reflect'`` ``(d c b a | a b c d | d c b a)``, ``'wrap'`` ``(a b c d | a b c d | a b c d)``,
    ``'nearest'`` ``(a a a a | a b c d | d d d d)`` or ``'constant'`` (``fill_value``). The kernel is
    ``fastconv.kernels.affine``. Images of shape ``(H, W, C)`` give one image back.

    >>> x = np.arange(4, dtype=np.float32).reshape(1, 1, 4, 1)
    >>> affine_transform(x, [1, 0, -1, 0, 1, 0, 0, 0], fill_mode="reflect")[0, 0, :, 0]  # shift right by 1
    array([0., 0., 1., 2.], dtype=float32)
    """
    _check_data_format(data_format)
    interpolation = _code_of(_AFFINE_INTERPOLATIONS, "interpolation", interpolation)
    fill_mode = _code_of(_AFFINE_FILL_MODES, "fill_mode", fill_mode)
    images = _as_float_array(images, "images")
    if images.ndim not in (3, 4):
        raise ValueError("Invalid value for argument `images`. Expected rank 3 (single image) or rank 4 (batch "
                         f"of images). Received: images.shape={images.shape}")
    transform = np.asarray(transform, np.float64)
    batch = images.reshape((-1, *images.shape[-3:]))
    if transform.ndim == 1:
        transform = np.broadcast_to(transform, (len(batch), transform.shape[0]))
    if transform.ndim != 2 or transform.shape != (len(batch), 8):
        raise ValueError("Invalid value for argument `transform`. Expected shape (8,) or (batch, 8), one row of "
                         f"8 values per image. Received: transform.shape={transform.shape}")
    result_dtype, dtype = _dtypes(images)
    batch = _kernel_array(batch, dtype)
    out = buffers.empty(batch.shape, dtype)
    parallel.run(_affine._affine_transform, batch, _kernel_array(transform, np.float64), out, interpolation,
                 fill_mode, float(fill_value))
    return out.reshape(images.shape).astype(result_dtype, copy=False)


def _code_of(codes, name, value):
    """The kernel's code for the option ``value`` of argument ``name`` (``codes[value]``), or Keras's error."""
    if value not in codes:
        raise ValueError(f"Invalid value for argument `{name}`. Expected one of {tuple(codes)}. "
                         f"Received: {name}={value!r}")
    return codes[value]


# ----------------------------------------------------------------------------- softmax and sigmoid


def relu(x):
    """``max(x, 0)`` elementwise (``keras.ops.relu``): NaN stays NaN, ``-inf`` becomes 0.

    >>> relu(np.array([-1.5, 0, 2], np.float32))
    array([0., 0., 2.], dtype=float32)
    """
    return _map(_elementwise._relu, x)


def relu_grad(x, grad_output):
    """The gradient of :func:`relu`: ``grad_output`` where ``x >= 0`` (Keras's ReLU at 0), else ``grad_output * 0``.

    >>> relu_grad(np.array([-1.5, 0, 2], np.float32), np.ones(3, np.float32))
    array([0., 1., 1.], dtype=float32)
    """
    array, result_dtype, dtype = _computed(x, "x")
    grad = _as_checked_like(grad_output, "grad_output", np.shape(x), dtype)
    out = buffers.empty(array.size, dtype)
    parallel.run(_elementwise._relu_grad, array.reshape(-1), grad.reshape(-1), out)
    return out.reshape(np.shape(x)).astype(result_dtype, copy=False)


def erf(x):
    """The error function elementwise (``keras.ops.erf``), in ``x``'s float dtype: ``gelu``'s.

    >>> erf(np.array([0.0, 1.0, -np.inf]))
    array([ 0.        ,  0.84270079, -1.        ])
    """
    return _map(_elementwise._erf, x)


def _map(kernel, x):
    """``kernel`` (``_elementwise``'s ``(job, x, out)``) over ``x`` flattened, in ``x``'s float dtype."""
    array, result_dtype, dtype = _computed(x, "x")
    out = buffers.empty(array.size, dtype)
    parallel.run(kernel, array.reshape(-1), out)
    return out.reshape(np.shape(x)).astype(result_dtype, copy=False)


def softmax(x, axis=-1):
    """``exp(x) / sum(exp(x))`` along ``axis`` (``keras.ops.softmax``), shifted by the maximum so that
    ``exp`` never overflows; in ``x``'s float dtype. The one softmax of fastconv: the ``softmax`` activation
    and the losses' gradients from logits use it.

    >>> softmax(np.array([1000.0, 1000.0]))
    array([0.5, 0.5])
    """
    x = np.asarray(x)
    e = np.exp(x - np.max(x, axis=axis, keepdims=True))
    return e / np.sum(e, axis=axis, keepdims=True)


def sigmoid(x):
    """``1 / (1 + exp(-x))`` elementwise (``keras.ops.sigmoid``), as ``exp(x) / (1 + exp(x))`` for negative
    ``x`` so that ``exp`` never overflows; in ``x``'s float dtype. The one sigmoid of fastconv: the
    activations and the losses use it.

    >>> sigmoid(np.array([-1000.0, 0.0, 1000.0]))
    array([0. , 0.5, 1. ])
    """
    x = np.asarray(x)
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e))


# ----------------------------------------------------------------------------- argument checks


def _check_flag(value, name):
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"Invalid value for argument `{name}`. Expected True or False. Received: {name}={value!r}")


def _check_data_format(data_format):
    if data_format in (None, "channels_last"):
        return
    if data_format == "channels_first":
        raise NotImplementedError(
            "fastconv supports only `data_format='channels_last'` (NHWC). Received: data_format='channels_first'. "
            "Transpose your inputs with `np.transpose(x, (0, 2, 3, 1))`."
        )
    raise ValueError(
        "Invalid value for argument `data_format`. Expected 'channels_last' or None. "
        f"Received: data_format={data_format!r}"
    )


def _as_float_array(value, name):
    array = np.asarray(value)
    if array.dtype.kind not in "fiub" or array.dtype.itemsize > 8:
        raise TypeError(
            f"Invalid dtype for argument `{name}`. Expected a real floating point, integer or boolean array. "
            f"Received: {name}.dtype={array.dtype}. Convert it with `.astype('float32')`."
        )
    return array


def _dtypes(*arrays):
    """``(result_dtype, compute_dtype)`` for these arrays (see the module docstring)."""
    if all(a.dtype == _FLOAT32 for a in arrays):
        return _FLOAT32, _FLOAT32  # the common case, without numpy's slower type promotion
    floats = [a.dtype for a in arrays if a.dtype.kind == "f"]
    result = np.result_type(*floats) if floats else np.dtype(np.float32)
    compute = np.dtype(np.float64) if result == np.float64 else np.dtype(np.float32)
    return result, compute


def _check_ndim(array, name, ndim, layout):
    if array.ndim != ndim:
        raise ValueError(
            f"Invalid shape for argument `{name}`. Expected a {ndim}-D array {layout}. "
            f"Received: {name}.shape={array.shape}"
        )


def _as_checked_like(value, name, shape, dtype):
    array = _as_float_array(value, name)
    if array.shape != tuple(shape):
        raise ValueError(
            f"Invalid shape for argument `{name}`. Expected {tuple(shape)}. Received: {name}.shape={array.shape}"
        )
    return _kernel_array(array, dtype)


def _computed(x, name):
    """``(array, result_dtype, dtype)``: ``x`` checked, as a C-contiguous array of its compute dtype (see the
    module docstring), and the dtype of the result."""
    x = _as_float_array(x, name)
    result_dtype, dtype = _dtypes(x)
    return _kernel_array(x, dtype), result_dtype, dtype


def _kernel_array(array, dtype):
    """``array`` as a C-contiguous, writeable array of ``dtype``, copied only when it is not one already.

    Writeable because numba compiles a separate copy of every kernel for
    read-only arrays; a copy is cheaper than that compilation.
    """
    array = np.ascontiguousarray(array, dtype)
    return array if array.flags.writeable else array.copy()


def _check_window_fits(input_shape, window, dilation_rate, name):
    """Raise if a window (kernel or pool) is larger than the input, which 'valid' padding does not allow.

    ('same' padding always pads enough for one window.)
    """
    for axis, (length, size, dilation) in enumerate(zip(input_shape[1:3], window, dilation_rate)):
        extent = shapes.effective_size(size, dilation)
        if length < extent:
            raise ValueError(
                f"Invalid value for argument `{name}`: with padding='valid' the window (effective size {extent} "
                f"along axis {axis + 1}) must fit in the input (size {length}). "
                f"Received: inputs.shape={tuple(input_shape)}, {name}={tuple(window)}. "
                "Use padding='same' or a smaller window."
            )
