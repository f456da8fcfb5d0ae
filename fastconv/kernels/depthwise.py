"""Depthwise 2-D convolution kernels over NHWC arrays: forward, input gradient, kernel (and bias) gradient.

Kernels only: every argument is preallocated and already checked by
``fastconv.ops``; nothing here validates. The kernels see one weight per
channel: ``w`` is ``(KH, KW, K)`` and output channel ``k`` reads input
channel ``k`` only. A depth multiplier ``m > 1`` (Keras's kernel
``(KH, KW, C, m)``, output channel ``c*m + j``) is the caller's: it repeats
each input channel ``m`` times (``K = C*m``, the kernel's own memory order)
and adds the ``m`` input gradients of a channel back up, so one loop nest
serves every multiplier.

Inputs are not padded. Each output pixel's window is clipped to the taps
that land on real cells (:func:`_in_range`), which is what zero padding
computes: a padded copy would be one more pass over memory, and a depthwise
convolution, with a few multiply-adds per byte, is bound by memory traffic.
(The generated row helpers below read the cells beyond the edges as zeros
instead, without touching memory: zeros add nothing, so the sums are the
clipped windows' sums, bit for bit.)

3-wide kernels at stride 1 along the width, undilated (MobileNet's, but for
its strided layers), go through row helpers generated into
``conv2d_tiles.py`` (``depthwise_row``, ``depthwise_row_reversed``,
``depthwise_grad_row``; ``_generate.DEPTHWISE_ROWS`` says why not others):
a block of pixels takes a kernel row at a time, each input vector loaded
once for every tap and pixel that reads it (6 loads for 12 multiply-adds
at stride 1, where a loop over the taps loads 12), and the kernel gradient
sums a row's three taps in three independent registers. Other kernels go
through a table of taps (forward and input gradient) or tap by tap. The
forward pass and the input gradient call their row helpers from a function
compiled on its own, for a chunk of rows at a time (``_forward_row_run``,
``_grad_input_row_run``), in which the blocks over three kernel rows have
that number as a constant.

Every loop works a vector of channels at a time with the explicit SIMD values
of ``fastconv.kernels.simd``, the loop over the window's taps inside the loop
over channel vectors, so the sum of a pixel's taps stays in a register. The
loops over whole vectors pass the vector width as the lane count of inlined
helpers, which makes their loads and stores plain ones; only the last vector
of a row of ``K`` channels that is not a whole number of vectors is loaded
and stored with a lane mask.

The forward pass and the input gradient write outputs larger than the
caches, in rows of whole vectors, with non-temporal stores (``stream``,
chosen by ``fastconv.ops._streams``: ``simd.vstore_stream``, fenced with
``simd.store_fence`` before the tasks that wrote them are counted done):
such an output would go back to memory anyway, and a store that misses the
cache first reads the line it writes, so writing whole lines past the
caches halves their memory traffic.

- Forward: one task per output row; ``acc = bias``, then one fused
  multiply-add per tap in row-major tap order, then the optional ReLU.
- Input gradient: one task per input row; each input pixel gathers the
  output pixels whose windows hold it (no two tasks write the same cell, so
  no zeroing pass and no racing additions), in row-major tap order. With
  ``relu`` the output gradient is masked by ``out > 0`` as it is loaded.
- Kernel gradient: the batch is cut into ``P`` fixed chunks; each task owns
  one (chunk, kernel row) pair of the partial sums ``(P, KH, KW, K)`` and,
  for kernel row 0, the chunk's bias gradient ``(P, K)``. For each output
  row and kernel column, a register sums the products along the row before
  one add into the partial sum. The caller adds the ``P`` partials in order:
  results do not depend on the number of threads.
"""

from fastconv._jit import helper, kernel, microkernel
from fastconv.kernels.conv2d import _source_index
from fastconv.kernels.conv2d_tiles import (
    DEPTHWISE_PIXELS, depthwise_grad_row, depthwise_row, depthwise_row_reversed, has_depthwise_row,
    has_depthwise_row_reversed)
from fastconv.kernels.pooling import _cell, _load
from fastconv.kernels.simd import (lanes_of, store_fence, vadd, vclamp_below, vfma, vrelu_floor, vselect_positive,
                                   vstore_first, vstore_stream, vzeros)
from fastconv.kernels.tasks import chunk_end, first_task, next_task

PIXELS = DEPTHWISE_PIXELS
"""Pixels of a row that the forward and input-gradient kernels compute together (one accumulator each:
four, as the table-driven blocks below are written and the generated row helpers are generated)."""


@helper
def _in_range(o, step, scale, pad, count, length):
    """``[lo, hi)``: the ``k`` in ``[0, count)`` with ``o*step - pad + k*scale`` in ``[0, length)``.

    The taps of output ``o`` that land on real input cells (``step`` the
    stride, ``scale`` the dilation), or, with the roles swapped, the outputs
    whose tap ``o`` does (``step`` the dilation, ``scale`` the stride).
    """
    start = o * step - pad
    return max(0, -(start // scale)), min(count, (length - 1 - start) // scale + 1)


@helper
def _inside(stride, dilation, pad, k, length, out_length):
    """``[first, end)``: the output pixels (along one axis) whose whole window lies inside the input."""
    first = min(out_length, -(-pad // stride))
    end = max(first, min(out_length, (length - 1 + pad - (k - 1) * dilation) // stride + 1))
    return first, end


@helper
def _gradient(grad_out, out, offset, count, relu):
    """The output gradient's vector at ``offset``, zero where the ReLU's output is not positive."""
    g = _load(grad_out, offset, count)
    if relu:
        g = vselect_positive(g, _load(out, offset, count))
    return g


@helper
def _forward_pixel(x, w, bias, out, taps, n, oh, ow, top, h_lo, h_hi, stride_w, dilation_w, pad_left, floor,
                   stream):
    """Output pixel ``(n, oh, ow)``, every channel: its window clipped to the real input cells, the kernel
    rows ``h_lo .. h_hi`` and the columns found here, once for all the vectors of channels (the integer
    divisions that find them cost more than a vector's multiply-adds), the taps' offsets from the table
    ``taps`` (see :func:`_depthwise_forward`)."""
    k_w, channels = w.shape[1], w.shape[2]
    lanes = lanes_of(x)
    whole = channels - channels % lanes
    w_lo, w_hi = _in_range(ow, stride_w, dilation_w, pad_left, k_w, x.shape[2])
    x_offset = _cell(x, n, top, ow * stride_w - pad_left, 0)  # the window's top-left cell, maybe padding
    out_offset = _cell(out, n, oh, ow, 0)
    for c in range(0, whole, lanes):  # `lanes` constant: plain loads
        _forward_taps(x, w, bias, out, taps, x_offset, out_offset, c, lanes, k_w, h_lo, h_hi, w_lo, w_hi, floor,
                      stream)
    if whole < channels:
        _forward_taps(x, w, bias, out, taps, x_offset, out_offset, whole, channels - whole, k_w, h_lo, h_hi, w_lo,
                      w_hi, floor, stream)


@helper
def _forward_taps(x, w, bias, out, taps, x_offset, out_offset, c, count, k_w, h_lo, h_hi, w_lo, w_hi, floor,
                  stream):
    """One output pixel's channels ``c`` to ``c + count`` (at most a vector) over the taps of kernel rows
    ``h_lo .. h_hi`` and columns ``w_lo .. w_hi``, in row-major order."""
    acc = _load(bias, c, count)
    for kh in range(h_lo, h_hi):
        for kw in range(w_lo, w_hi):
            t = kh * k_w + kw
            acc = vfma(_load(x, x_offset + taps[t, 0] + c, count), _load(w, taps[t, 1] + c, count), acc)
    _store(out, out_offset + c, acc, count, floor, stream)


@helper
def _store(out, offset, acc, count, floor, stream):
    """Store ``acc`` clamped below at ``floor`` (``simd.vrelu_floor``: the optional ReLU, without a branch)
    at ``offset``, its first ``count`` lanes (with ``stream``, past the caches: ``simd.vstore_stream``)."""
    vstore_stream(out, offset, vclamp_below(acc, floor), count, stream)


@helper
def _forward_block(x, w, bias, out, taps, x_offset, out_offset, c, count, first_tap, end_tap, step, floor, stream):
    """``PIXELS`` output pixels from ``out_offset``, channels ``c`` to ``c + count`` (at most a vector), whose
    windows lie inside the image along the width, over the kernel taps ``first_tap .. end_tap`` of ``taps``
    (whole kernel rows); their inputs are ``step`` apart from ``x_offset``, the window's top-left cell for
    kernel row 0. Inlined, so that where the caller passes the vector width as ``count`` the loads and stores
    are plain ones, without a mask or a test.

    One loop over the taps, whose offsets come from the table rather than from the loop counters: with two
    nested loops LLVM turned every load's address into a counter of its own, more than the registers hold,
    and the saving and reloading of them cost more than the loads (the forward pass ran 1.2 to 1.6 times as
    long on one thread)."""
    channels = out.shape[3]
    a0 = _load(bias, c, count)
    a1, a2, a3 = a0, a0, a0
    for t in range(first_tap, end_tap):
        wv = _load(w, taps[t, 1] + c, count)
        o = x_offset + taps[t, 0]
        a0 = vfma(_load(x, o, count), wv, a0)
        a1 = vfma(_load(x, o + step, count), wv, a1)
        a2 = vfma(_load(x, o + 2 * step, count), wv, a2)
        a3 = vfma(_load(x, o + 3 * step, count), wv, a3)
    _store(out, out_offset, a0, count, floor, stream)
    _store(out, out_offset + channels, a1, count, floor, stream)
    _store(out, out_offset + 2 * channels, a2, count, floor, stream)
    _store(out, out_offset + 3 * channels, a3, count, floor, stream)


@helper
def _forward_rows(x, w, bias, out, x_offset, out_offset, c, count, h_lo, h_hi, x_row, k_w, stride_w, floor, clipped,
                  column, stream):
    """What :func:`_forward_block` computes, for an undilated kernel width and stride that have a generated
    row helper (``conv2d_tiles.depthwise_row``): kernel row by kernel row, each input vector loaded once
    for every tap and pixel that reads it. The same multiply-adds in the same order, so the same bits.
    With ``clipped`` the block may reach past the image's left or right edge (its first window's first
    column is ``column``): the input there is read as the zeros of the padding, which add nothing, so the
    pixels come out as :func:`_forward_pixel` computes them."""
    channels = out.shape[3]
    a0 = _load(bias, c, count)
    a0, a1, a2, a3 = depthwise_row(k_w, stride_w, x, x, x_offset + h_lo * x_row, x_row, channels, w,
                                   h_lo * k_w * channels + c, k_w * channels, channels, h_hi - h_lo, count, False,
                                   clipped, column, x.shape[2], a0, a0, a0, a0)
    _store(out, out_offset, a0, count, floor, stream)
    _store(out, out_offset + channels, a1, count, floor, stream)
    _store(out, out_offset + 2 * channels, a2, count, floor, stream)
    _store(out, out_offset + 3 * channels, a3, count, floor, stream)


@microkernel
def _forward_row_run(x, w, bias, out, first_row, end_row, stride_h, stride_w, dilation_h, pad_top, pad_left, floor,
                     stream):
    """Output rows ``first_row`` to ``end_row`` (tasks of :func:`_depthwise_forward`, ``n * OH + oh``) through
    the generated row helper (:func:`_forward_rows`), for an undilated kernel width and stride that have one
    and rows of at least ``PIXELS`` pixels: every pixel in blocks of ``PIXELS`` (the last one moved back),
    those over three kernel rows whose windows lie inside the image in whole vectors without tests, the
    others testing the column of each input vector and reading the padding as zeros. (Blocks inside the
    image over another number of kernel rows, the top and bottom rows of a 'same' layer and the rows of
    kernels other than 3 high, test too: one more inlined copy of the row helper for them took a second
    longer to compile.)

    A function of its own, compiled once per dtype, called for a chunk of rows. Blocks over exactly three
    kernel rows (a 3x3 kernel's rows inside the image, or three rows of a taller kernel's clipped window)
    take that number as a constant: with the number of rows known only at run time, LLVM kept a loop over
    them with its counters in memory, and the 28x28x128 forward pass took 1.3 times as long. (Called once per
    row, the call itself took a fifth of a 28x28x32 layer's time.)"""
    in_h, in_w, channels = x.shape[1], x.shape[2], x.shape[3]
    out_h, out_w = out.shape[1], out.shape[2]
    k_h, k_w = w.shape[0], w.shape[1]
    lanes = lanes_of(x)
    whole = channels - channels % lanes
    x_row = dilation_h * in_w * channels
    first, end = _inside(stride_w, 1, pad_left, k_w, in_w, out_w)
    for row in range(first_row, end_row):
        n = row // out_h
        oh = row - n * out_h
        h_lo, h_hi = _in_range(oh, stride_h, dilation_h, pad_top, k_h, in_h)
        x_offset = _cell(x, n, oh * stride_h - pad_top, 0, 0)  # the windows' top row (maybe padding)
        out_offset = _cell(out, n, oh, 0, 0)
        three_rows = h_hi - h_lo == 3 and k_w == 3 and stride_w == 1
        for i in range(0, out_w, PIXELS):
            ow0 = _block_start(i, 0, out_w)
            column = ow0 * stride_w - pad_left
            xo = x_offset + column * channels
            oo = out_offset + ow0 * channels
            if three_rows and first <= ow0 and ow0 + PIXELS <= end:  # the windows inside the image
                for c in range(0, whole, lanes):  # `lanes`, 3 rows and `False` constants: no tests, no loop
                    _forward_rows(x, w, bias, out, xo + c, oo + c, c, lanes, h_lo, h_lo + 3, x_row, 3, 1, floor,
                                  False, column, stream)
            else:  # at an edge, or another number of kernel rows: the columns tested
                for c in range(0, whole, lanes):  # `lanes` constant: plain loads
                    _forward_rows(x, w, bias, out, xo + c, oo + c, c, lanes, h_lo, h_hi, x_row, k_w, stride_w,
                                  floor, True, column, stream)
            if whole < channels:  # the last part of a vector
                _forward_rows(x, w, bias, out, xo + whole, oo + whole, whole, channels - whole, h_lo, h_hi, x_row,
                              k_w, stride_w, floor, True, column, stream)


@helper
def _block_start(i, first, end):
    """Start of the ``PIXELS``-pixel block that covers pixel ``i`` of ``[first, end)``: blocks from
    ``first``, the last one moved back to end at ``end`` (it recomputes, and rewrites with the same bits,
    a few pixels of the one before)."""
    return max(first, min(i, end - PIXELS))


@helper
def _blocks(first, end):
    """``[blocks_first, blocks_end)``: the pixels of a row that go through the table of taps ``PIXELS`` at a
    time, those whose windows lie inside the image (``first`` to ``end``); none where there are fewer than
    ``PIXELS``: they go one by one."""
    if end - first >= PIXELS:
        return first, end
    return first, first


@kernel
def _depthwise_forward(job, x, w, bias, out, stride_h, stride_w, dilation_h, dilation_w, pad_top, pad_left,
                       relu, taps, stream):
    """``out[n, i, j, k] = act(bias[k] + sum_{a, b} xpad[n, i*sh + a*dh, j*sw + b*dw, k] * w[a, b, k])``.

    ``x`` ``(N, H, W, K)`` unpadded; ``out`` ``(N, OH, OW, K)`` is overwritten. ``taps`` ``(KH*KW, 2)``
    holds, for each tap in row-major order, its input offset from the window's top-left cell
    (``(a*dh*W + b*dw) * K``) and its weights' offset in ``w`` (``(a*KW + b) * K``).
    Pixels go ``PIXELS`` at a time (the last block of a row moved back to
    end with the row): each weight vector is loaded once for all of them,
    and their independent chains of multiply-adds overlap. Kernel widths and
    strides with a generated row helper go through it (:func:`_forward_row_run`),
    every pixel of the row in blocks, the blocks at the edges reading the
    padding as zeros (one pixel at a time, an edge pixel of a 14-pixel 'same'
    row cost as much as a block of four); the others through the table of
    taps (:func:`_forward_block`), whose blocks hold only pixels with their
    windows inside the image along the width, counted from the first of them.
    The optional ReLU is a clamp below at ``simd.vrelu_floor(x, relu)``, not a
    branch at every store. ``stream`` is None, or True to write ``out`` past
    the caches (see the module docstring; None compiles none of it).
    """
    n_batch, in_h, in_w, channels = x.shape
    _, out_h, out_w, _ = out.shape
    k_h, k_w, _ = w.shape
    lanes = lanes_of(x)
    whole = channels - channels % lanes
    step = stride_w * channels
    rows = dilation_w == 1 and has_depthwise_row(k_w, stride_w)
    floor = vrelu_floor(x, relu)
    n_tasks = n_batch * out_h
    row = first_task(job, n_tasks)
    if rows and out_w >= PIXELS:  # every row through the row helper, a chunk of rows at a time
        while row < n_tasks:
            end_row = chunk_end(job, row)
            _forward_row_run(x, w, bias, out, row, end_row, stride_h, stride_w, dilation_h, pad_top, pad_left, floor,
                             stream)
            if stream is not None:
                store_fence()
            row = next_task(job, end_row - 1)
    # Else pixels go PIXELS at a time where their windows lie inside the image along the width (``first`` to
    # ``end``), through the table of taps; the others one by one.
    first, end = _inside(stride_w, dilation_w, pad_left, k_w, in_w, out_w)
    blocks_first, blocks_end = _blocks(first, end)
    while row < n_tasks:
        n = row // out_h
        oh = row - n * out_h
        top = oh * stride_h - pad_top
        h_lo, h_hi = _in_range(oh, stride_h, dilation_h, pad_top, k_h, in_h)
        for i in range(blocks_first, blocks_end, PIXELS):
            ow0 = _block_start(i, blocks_first, blocks_end)
            x_offset = _cell(x, n, top, ow0 * stride_w - pad_left, 0)
            out_offset = _cell(out, n, oh, ow0, 0)
            for c in range(0, whole, lanes):
                _forward_block(x, w, bias, out, taps, x_offset + c, out_offset + c, c, lanes, h_lo * k_w,
                               h_hi * k_w, step, floor, stream)
            if whole < channels:
                _forward_block(x, w, bias, out, taps, x_offset + whole, out_offset + whole, whole, channels - whole,
                               h_lo * k_w, h_hi * k_w, step, floor, stream)
        for ow in range(out_w):
            if blocks_first <= ow < blocks_end:
                continue
            _forward_pixel(x, w, bias, out, taps, n, oh, ow, top, h_lo, h_hi, stride_w, dilation_w, pad_left, floor,
                           stream)
        if stream is not None:
            store_fence()
        row = next_task(job, row)


@helper
def _input_pixel_taps(taps, grad_out, n, ih, iw, k_h, k_w, stride_h, stride_w, dilation_h, dilation_w, pad_top,
                      pad_left):
    """Write into ``taps`` the table of the output pixels whose windows hold input pixel ``(n, ih, iw)``:
    row ``t`` holds the output gradient's offset of one (channel 0) and the weights' offset of the tap that
    reaches the input pixel, in row-major tap order; returns their number. Once per pixel (or block of
    pixels of one phase, which take the same taps from consecutive output pixels), not per vector of
    channels: the integer divisions that find the taps cost more than the multiply-adds of one vector."""
    w_channels = grad_out.shape[3]
    n_taps = 0
    for kh in range(k_h):
        oh = _source_index(ih + pad_top, kh, dilation_h, stride_h, grad_out.shape[1])
        if oh < 0:
            continue
        for kw in range(k_w):
            ow = _source_index(iw + pad_left, kw, dilation_w, stride_w, grad_out.shape[2])
            if ow < 0:
                continue
            taps[n_taps, 0] = _cell(grad_out, n, oh, ow, 0)
            taps[n_taps, 1] = (kh * k_w + kw) * w_channels
            n_taps += 1
    return n_taps


@helper
def _grad_input_pixel(grad_out, out, w, grad_x, taps, n_taps, x_offset, c, count, relu, stream):
    """Input pixel at ``x_offset``, channels ``c`` to ``c + count`` (at most a vector): the sum over the
    ``n_taps`` taps of ``taps`` (see :func:`_input_pixel_taps`), in their order."""
    acc = vzeros(grad_x)
    for t in range(n_taps):
        g = _gradient(grad_out, out, taps[t, 0] + c, count, relu)
        acc = vfma(g, _load(w, taps[t, 1] + c, count), acc)
    vstore_stream(grad_x, x_offset + c, acc, count, stream)


@helper
def _grad_input_block(grad_out, out, w, grad_x, taps, n_taps, x_offset, c, count, x_step, relu, stream):
    """``PIXELS`` input pixels of one phase, ``x_step`` apart from ``x_offset``, channels ``c`` to
    ``c + count``, whose output pixels lie inside the output along the width: the sum over the ``n_taps``
    taps of ``taps`` (the output gradient's offset for the first pixel, the weights' offset), in row-major
    tap order, as :func:`_forward_block` sums (and for the same reason, one loop over a table)."""
    channels = grad_x.shape[3]
    a0 = vzeros(grad_x)
    a1, a2, a3 = a0, a0, a0
    for t in range(n_taps):
        wv = _load(w, taps[t, 1] + c, count)
        offset = taps[t, 0] + c
        a0 = vfma(_gradient(grad_out, out, offset, count, relu), wv, a0)
        a1 = vfma(_gradient(grad_out, out, offset + channels, count, relu), wv, a1)
        a2 = vfma(_gradient(grad_out, out, offset + 2 * channels, count, relu), wv, a2)
        a3 = vfma(_gradient(grad_out, out, offset + 3 * channels, count, relu), wv, a3)
    offset = x_offset + c
    vstore_stream(grad_x, offset, a0, count, stream)
    vstore_stream(grad_x, offset + x_step, a1, count, stream)
    vstore_stream(grad_x, offset + 2 * x_step, a2, count, stream)
    vstore_stream(grad_x, offset + 3 * x_step, a3, count, stream)


@helper
def _grad_input_rows(grad_out, out, w, grad_x, g_offset, x_offset, c, count, kh_lo, n_rows, kh_step, g_row, k_w,
                     relu, clipped, column, stream):
    """What :func:`_grad_input_block` computes, at stride 1 along the width and for a kernel width with a
    generated reversed row helper (``conv2d_tiles.depthwise_row_reversed``): ``PIXELS`` consecutive input
    pixels from ``x_offset``, over ``n_rows`` kernel rows ``kh_step`` apart from ``kh_lo``; the output
    gradient at ``g_offset`` (column ``column``) for kernel row ``kh_lo``, tap 0 and the first pixel,
    ``g_row`` apart from one kernel row to the next. The same multiply-adds in the same order, so the same
    bits. With ``clipped``, output columns outside the output read as zeros, which add nothing: the pixels
    at the edges come out as :func:`_grad_input_pixel` computes them."""
    channels = grad_x.shape[3]
    a0 = vzeros(grad_x)
    a0, a1, a2, a3 = depthwise_row_reversed(k_w, grad_out, out, g_offset, g_row, channels, w,
                                            kh_lo * k_w * channels + c, kh_step * k_w * channels, channels, n_rows,
                                            count, relu, clipped, column, grad_out.shape[2], a0, a0, a0, a0)
    vstore_stream(grad_x, x_offset, a0, count, stream)
    vstore_stream(grad_x, x_offset + channels, a1, count, stream)
    vstore_stream(grad_x, x_offset + 2 * channels, a2, count, stream)
    vstore_stream(grad_x, x_offset + 3 * channels, a3, count, stream)


@microkernel
def _grad_input_row_run(grad_out, out, w, grad_x, first_row, end_row, stride_h, dilation_h, pad_top, pad_left,
                        relu, stream):
    """Input rows ``first_row`` to ``end_row`` (tasks of :func:`_depthwise_grad_input`, ``n * H + ih``) through
    the generated reversed row helper (:func:`_grad_input_rows`), at stride 1 along the width, undilated, for
    a kernel width that has one and rows of at least ``PIXELS`` pixels: every pixel in blocks of ``PIXELS``
    (the last one moved back), those over three kernel rows without the ReLU whose output pixels all lie
    inside the output in whole vectors without tests, the others testing the column of each vector of the
    output gradient and reading it beyond the output as zeros (as in :func:`_forward_row_run`; one more
    inlined copy of the row helper for the blocks inside with the ReLU took 1.5 s longer to compile, and a
    ReLU fused into a depthwise layer is rare: MobileNets put BatchNormalization between the two).

    A function of its own, compiled once per dtype, called for a chunk of rows. Blocks over exactly three
    kernel rows without the ReLU take both as constants (see :func:`_forward_row_run`; the ReLU's mask, a
    test at every load, also kept LLVM from interleaving the pixels' multiply-adds)."""
    in_h, in_w, channels = grad_x.shape[1], grad_x.shape[2], grad_x.shape[3]
    out_h, out_w = grad_out.shape[1], grad_out.shape[2]
    k_h, k_w = w.shape[0], w.shape[1]
    lanes = lanes_of(grad_x)
    whole = channels - channels % lanes
    first = max(0, k_w - 1 - pad_left)  # the pixels whose output pixels all lie inside the output
    inside_end = max(first, min(in_w, out_w - pad_left))
    for row in range(first_row, end_row):
        n = row // in_h
        ih = row - n * in_h
        kh_lo, n_rows, kh_step, oh_lo = _rows_reaching(ih, pad_top, stride_h, dilation_h, k_h, out_h)
        g_row = -(kh_step * dilation_h // stride_h) * out_w * channels
        x_offset = _cell(grad_x, n, ih, 0, 0)
        g_offset = _cell(grad_out, n, oh_lo, 0, 0)  # the output row of kernel row kh_lo, column 0
        three_rows = n_rows == 3 and k_w == 3 and not relu
        for j in range(0, in_w, PIXELS):
            iw0 = _block_start(j, 0, in_w)
            column = iw0 + pad_left
            xo = x_offset + iw0 * channels
            go = g_offset + column * channels
            if three_rows and first <= iw0 and iw0 + PIXELS <= inside_end:  # output pixels inside the output
                for c in range(0, whole, lanes):  # `lanes`, 3 rows, no ReLU and `False` constants: no tests, no loop
                    _grad_input_rows(grad_out, out, w, grad_x, go + c, xo + c, c, lanes, kh_lo, 3, kh_step, g_row,
                                     3, False, False, column, stream)
            else:  # at an edge, over another number of kernel rows, or with the ReLU: the columns tested
                for c in range(0, whole, lanes):  # `lanes` constant: plain loads
                    _grad_input_rows(grad_out, out, w, grad_x, go + c, xo + c, c, lanes, kh_lo, n_rows, kh_step,
                                     g_row, k_w, relu, True, column, stream)
            if whole < channels:  # the last part of a vector
                _grad_input_rows(grad_out, out, w, grad_x, go + whole, xo + whole, whole, channels - whole, kh_lo,
                                 n_rows, kh_step, g_row, k_w, relu, True, column, stream)


@helper
def _rows_reaching(i, pad, stride, dilation, k, out_length):
    """The kernel rows whose output rows hold input row ``i`` (at stride 1 or dilation 1): the first, their
    number, the step from one to the next (``stride`` at dilation 1, else 1) and the first one's output row
    (the next ones' are ``step * dilation / stride`` lower)."""
    start = i + pad
    step = stride if dilation == 1 else 1
    lowest = max(0, -(-(start - stride * (out_length - 1)) // dilation))
    first = lowest + (start - lowest) % step
    last = min(k - 1, start // dilation)
    count = 0 if last < first else (last - first) // step + 1
    return first, count, step, (start - first * dilation) // stride


@kernel
def _depthwise_grad_input(job, grad_out, out, w, grad_x, stride_h, stride_w, dilation_h, dilation_w, pad_top,
                          pad_left, relu, scratch, stream):
    """Gradient with respect to the unpadded input ``grad_x`` ``(N, H, W, K)`` (overwritten).

    ``out`` is the forward output, read only for the ReLU's mask. Along the
    width, input pixels ``stride`` apart (one phase) take the same kernel
    taps from consecutive output pixels: where all of them are inside the
    output, ``PIXELS`` of one phase go at a time (the last block moved back),
    as in the forward pass, over a table of their taps written into
    ``scratch[row]`` (``scratch`` is ``(N * H, KH * KW, 2)`` int64, one table
    per task); or, at stride 1 and undilated along the width, for a kernel
    width with a generated row helper, through it (:func:`_grad_input_row_run`):
    then every pixel of the row in blocks, the blocks at the edges reading
    the output gradient beyond the output as zeros. ``stream`` as in
    :func:`_depthwise_forward`.
    """
    n_batch, in_h, in_w, channels = grad_x.shape
    _, out_h, out_w, _ = grad_out.shape
    k_h, k_w, _ = w.shape
    lanes = lanes_of(grad_x)
    whole = channels - channels % lanes
    x_step = stride_w * channels
    rows = stride_w == 1 and dilation_w == 1 and has_depthwise_row_reversed(k_w) and (stride_h == 1 or dilation_h == 1)
    n_tasks = n_batch * in_h
    row = first_task(job, n_tasks)
    if rows and in_w >= PIXELS:  # every row through the row helper, a chunk of rows at a time
        while row < n_tasks:
            end_row = chunk_end(job, row)
            _grad_input_row_run(grad_out, out, w, grad_x, row, end_row, stride_h, dilation_h, pad_top, pad_left,
                                relu, stream)
            if stream is not None:
                store_fence()
            row = next_task(job, end_row - 1)
    while row < n_tasks:
        n = row // in_h
        ih = row - n * in_h
        taps = scratch[row]
        # Per phase (the input pixels ``stride_w`` apart), pixels go PIXELS at a time where their output
        # pixels are all inside the output along the width (``first``, then every ``stride_w``: ``inside`` of
        # them), over the table of taps; the others one by one.
        lo = max(0, (k_w - 1) * dilation_w - pad_left)
        hi = min(in_w, out_w * stride_w - pad_left)
        for phase in range(stride_w):
            first = phase + -(-max(0, lo - phase) // stride_w) * stride_w
            inside = max(0, -(-(hi - first) // stride_w))
            start, in_blocks = first, inside if inside >= PIXELS else 0
            for j in range(0, in_blocks, PIXELS):
                iw0 = start + _block_start(j, 0, in_blocks) * stride_w
                x_offset = _cell(grad_x, n, ih, iw0, 0)
                n_taps = _input_pixel_taps(taps, grad_out, n, ih, iw0, k_h, k_w, stride_h, stride_w, dilation_h,
                                           dilation_w, pad_top, pad_left)
                for c in range(0, whole, lanes):
                    _grad_input_block(grad_out, out, w, grad_x, taps, n_taps, x_offset, c, lanes, x_step, relu,
                                      stream)
                if whole < channels:
                    _grad_input_block(grad_out, out, w, grad_x, taps, n_taps, x_offset, whole, channels - whole,
                                      x_step, relu, stream)
            blocks_end = start + in_blocks * stride_w
            for iw in range(phase, in_w, stride_w):
                if start <= iw < blocks_end:
                    continue
                n_taps = _input_pixel_taps(taps, grad_out, n, ih, iw, k_h, k_w, stride_h, stride_w, dilation_h,
                                           dilation_w, pad_top, pad_left)
                x_offset = _cell(grad_x, n, ih, iw, 0)
                for c in range(0, whole, lanes):  # `lanes` constant: plain loads
                    _grad_input_pixel(grad_out, out, w, grad_x, taps, n_taps, x_offset, c, lanes, relu, stream)
                if whole < channels:
                    _grad_input_pixel(grad_out, out, w, grad_x, taps, n_taps, x_offset, whole, channels - whole, relu,
                                      stream)
        if stream is not None:
            store_fence()
        row = next_task(job, row)


@helper
def _add_row_products(x, grad_out, out, partial_kernel, x_offset, g_offset, k_offset, pixels, x_step, count, relu):
    """``partial_kernel[k_offset ..] += sum_i x[x_offset + i*x_step] * g[g_offset + i*K]`` over ``pixels``
    output pixels of a row, the output gradient masked by the ReLU, summed in a register first."""
    channels = grad_out.shape[3]
    acc = vzeros(x)
    for i in range(pixels):
        acc = vfma(_load(x, x_offset + i * x_step, count), _gradient(grad_out, out, g_offset + i * channels, count,
                                                                     relu), acc)
    vstore_first(partial_kernel, k_offset, vadd(_load(partial_kernel, k_offset, count), acc), count)


ROW_HELPER_MIN_PIXELS = 16
"""Output rows at least this long go through the kernel gradient's row helper, in three parts: the pixels
whose windows lie inside the image (no test per input vector), and the two edges, whose windows reach into
the padding; shorter rows go tap by tap unless no window reaches into the padding ('valid'). (On a 2-core
Zen 4, a 28-pixel 'same' row took 0.7 times as long through the helper; a 7-pixel one, 1.2 to 1.4 times
as long, in one pass or in parts.)"""


@helper
def _part(part, first, end, count):
    """``[lo, hi)`` of part 0, 1 or 2 of a row of ``count`` output pixels: those whose windows lie inside the
    image (``first`` to ``end``), then those left and right of them (with none inside, all in part 0)."""
    if first >= end:
        return (0, count) if part == 0 else (0, 0)
    if part == 0:
        return first, end
    if part == 1:
        return 0, first
    return end, count


@helper
def _add_tap_products(x, grad_out, out, partial_kernel, n, oh, ih, kw, lo, hi, k_offset, stride_w, dilation_w,
                      pad_left, relu):
    """Tap ``kw``'s products over the output pixels ``lo .. hi`` of row ``(n, oh)``, all channels, added to
    ``partial_kernel[k_offset ..]`` (one sum per channel vector, see :func:`_add_row_products`)."""
    if hi <= lo:
        return
    channels = grad_out.shape[3]
    lanes = lanes_of(x)
    whole = channels - channels % lanes
    x_offset = _cell(x, n, ih, lo * stride_w + kw * dilation_w - pad_left, 0)
    g_offset = _cell(grad_out, n, oh, lo, 0)
    for c in range(0, whole, lanes):  # whole vectors: `lanes` is a constant, no masks
        _add_row_products(x, grad_out, out, partial_kernel, x_offset + c, g_offset + c, k_offset + c, hi - lo,
                          stride_w * channels, lanes, relu)
    if whole < channels:
        _add_row_products(x, grad_out, out, partial_kernel, x_offset + whole, g_offset + whole, k_offset + whole,
                          hi - lo, stride_w * channels, channels - whole, relu)


@kernel
def _depthwise_grad_kernel(job, x, grad_out, out, partial_kernel, partial_bias, stride_h, stride_w, dilation_h,
                           dilation_w, pad_top, pad_left, relu):
    """Per-chunk partial sums of the kernel gradient ``(P, KH, KW, K)`` and the bias gradient ``(P, K)``.

    Chunk ``p`` holds batch items ``p*N//P`` to ``(p+1)*N//P``; both partial
    arrays are overwritten (see the module docstring for who writes what).
    Kernel widths and strides with a generated row helper
    (``conv2d_tiles.depthwise_grad_row``) take a row of at least
    ``ROW_HELPER_MIN_PIXELS`` output pixels (or any row without padding)
    for all the kernel row's taps at once, reading the padding beyond the
    image's edges as zeros (which add nothing); the others go tap by tap.
    """
    n_chunks, k_h, k_w, channels = partial_kernel.shape
    n_batch, in_h, in_w, _ = x.shape
    _, out_h, out_w, _ = grad_out.shape
    lanes = lanes_of(x)
    whole = channels - channels % lanes
    first, end = _inside(stride_w, dilation_w, pad_left, k_w, in_w, out_w)
    rows = (dilation_w == 1 and has_depthwise_row(k_w, stride_w)
            and (out_w >= ROW_HELPER_MIN_PIXELS or end - first == out_w))
    n_tasks = n_chunks * k_h
    task = first_task(job, n_tasks)
    while task < n_tasks:
        p = task // k_h
        kh = task - p * k_h
        partial_kernel[p, kh] = 0
        if kh == 0:
            partial_bias[p] = 0
        k_row = (p * k_h + kh) * k_w * channels
        for n in range(p * n_batch // n_chunks, (p + 1) * n_batch // n_chunks):
            for oh in range(out_h):
                if kh == 0:
                    for c in range(0, channels, lanes):
                        count = channels - c
                        acc = vzeros(x)
                        for ow in range(out_w):
                            acc = vadd(acc, _gradient(grad_out, out, _cell(grad_out, n, oh, ow, c), count, relu))
                        offset = p * channels + c
                        vstore_first(partial_bias, offset, vadd(_load(partial_bias, offset, count), acc), count)
                ih = oh * stride_h - pad_top + kh * dilation_h
                if 0 <= ih < in_h:
                    if rows:
                        # The pixels whose windows lie inside the image along the width, then those at the
                        # left and right edges, whose windows reach into the padding (read as zeros).
                        for part in range(3):
                            lo, hi = _part(part, first, end, out_w)
                            if hi <= lo:
                                continue
                            column = lo * stride_w - pad_left
                            x_offset = _cell(x, n, ih, column, 0)
                            g_offset = _cell(grad_out, n, oh, lo, 0)
                            c_rest = 0
                            if part == 0 and first < end:  # inside: whole vectors without tests
                                for c in range(0, whole, lanes):  # `lanes` and `False` constants: plain loads
                                    depthwise_grad_row(k_w, stride_w, x, x_offset + c, channels, grad_out, out,
                                                       g_offset + c, channels, hi - lo, lanes, relu, False, column,
                                                       in_w, partial_kernel, k_row + c, channels)
                                c_rest = whole
                            for c in range(c_rest, channels, lanes):  # at the edges, or the last part of a vector
                                depthwise_grad_row(k_w, stride_w, x, x_offset + c, channels, grad_out, out,
                                                   g_offset + c, channels, hi - lo, channels - c, relu, True,
                                                   column, in_w, partial_kernel, k_row + c, channels)
                    else:
                        for kw in range(k_w):
                            ow_lo, ow_hi = _in_range(kw, dilation_w, stride_w, pad_left, out_w, in_w)
                            _add_tap_products(x, grad_out, out, partial_kernel, n, oh, ih, kw, ow_lo, ow_hi,
                                              k_row + kw * channels, stride_w, dilation_w, pad_left, relu)
        task = next_task(job, task)
