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

Every loop works a vector of channels at a time with the explicit SIMD values
of ``fastconv.kernels.simd``, the loop over the window's taps inside the loop
over channel vectors, so the sum of a pixel's taps stays in a register. The
loops over whole vectors pass the vector width as the lane count of inlined
helpers, which makes their loads and stores plain ones; only the last vector
of a row of ``K`` channels that is not a whole number of vectors is loaded
and stored with a lane mask.

- Forward: one task per output row; ``acc = bias``, then one fused
  multiply-add per tap in row-major tap order, then the optional ReLU.
- Input gradient: one task per input row; each input pixel gathers the
  output pixels whose windows hold it (no two tasks write the same cell, so
  no zeroing pass and no racing additions). With ``relu`` the output
  gradient is masked by ``out > 0`` as it is loaded.
- Kernel gradient: the batch is cut into ``P`` fixed chunks; each task owns
  one (chunk, kernel row) pair of the partial sums ``(P, KH, KW, K)`` and,
  for kernel row 0, the chunk's bias gradient ``(P, K)``. For each output
  row and kernel column, a register sums the products along the row before
  one add into the partial sum. The caller adds the ``P`` partials in order:
  results do not depend on the number of threads.
"""

from fastconv._jit import helper, kernel
from fastconv.kernels.conv2d import _source_index
from fastconv.kernels.pooling import _cell, _load
from fastconv.kernels.simd import lanes_of, vadd, vfma, vrelu, vselect_positive, vstore_first, vzeros
from fastconv.kernels.tasks import first_task, next_task

PIXELS = 4
"""Pixels of a row that the forward and input-gradient kernels compute together (one accumulator each)."""


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
def _forward_pixel(x, w, bias, out, n, oh, ow, c, count, top, h_lo, h_hi, stride_w, dilation_h, dilation_w,
                   pad_left, relu):
    """Output pixel ``(n, oh, ow)``, channels ``c ..``: its window clipped to the real input cells."""
    k_w, channels = w.shape[1], w.shape[2]
    left = ow * stride_w - pad_left
    w_lo, w_hi = _in_range(ow, stride_w, dilation_w, pad_left, k_w, x.shape[2])
    acc = _load(bias, c, count)
    for kh in range(h_lo, h_hi):
        for kw in range(w_lo, w_hi):
            xv = _load(x, _cell(x, n, top + kh * dilation_h, left + kw * dilation_w, c), count)
            acc = vfma(xv, _load(w, (kh * k_w + kw) * channels + c, count), acc)
    _store(out, _cell(out, n, oh, ow, c), acc, count, relu)


@helper
def _store(out, offset, acc, count, relu):
    """Store ``acc`` (through the ReLU with ``relu``) at ``offset``, its first ``count`` lanes."""
    if relu:
        acc = vrelu(acc)
    vstore_first(out, offset, acc, count)


@helper
def _forward_block(x, w, bias, out, taps, x_offset, out_offset, c, count, first_tap, end_tap, step, relu):
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
    _store(out, out_offset, a0, count, relu)
    _store(out, out_offset + channels, a1, count, relu)
    _store(out, out_offset + 2 * channels, a2, count, relu)
    _store(out, out_offset + 3 * channels, a3, count, relu)


@kernel
def _depthwise_forward(job, x, w, bias, out, stride_h, stride_w, dilation_h, dilation_w, pad_top, pad_left,
                       relu, taps):
    """``out[n, i, j, k] = act(bias[k] + sum_{a, b} xpad[n, i*sh + a*dh, j*sw + b*dw, k] * w[a, b, k])``.

    ``x`` ``(N, H, W, K)`` unpadded; ``out`` ``(N, OH, OW, K)`` is overwritten. ``taps`` ``(KH*KW, 2)``
    holds, for each tap in row-major order, its input offset from the window's top-left cell
    (``(a*dh*W + b*dw) * K``) and its weights' offset in ``w`` (``(a*KW + b) * K``).
    Pixels whose windows lie inside the image along the width go ``PIXELS``
    at a time, counted from the first of them: each weight vector is loaded
    once for all of them, and their independent chains of multiply-adds
    overlap. (Blocks counted from pixel 0 lost a whole block to the one edge
    pixel of a 'same' row: a 14-pixel row went 6 pixels one by one, now 2.)
    """
    n_batch, in_h, in_w, channels = x.shape
    _, out_h, out_w, _ = out.shape
    k_h, k_w, _ = w.shape
    lanes = lanes_of(x)
    whole = channels - channels % lanes
    step = stride_w * channels
    n_tasks = n_batch * out_h
    row = first_task(job, n_tasks)
    while row < n_tasks:
        n = row // out_h
        oh = row - n * out_h
        top = oh * stride_h - pad_top
        h_lo, h_hi = _in_range(oh, stride_h, dilation_h, pad_top, k_h, in_h)
        # The pixels whose windows lie inside the image along the width, ``first`` to ``end``, go PIXELS at a
        # time from the first of them; the edges and the remainder one by one.
        first, end = _inside(stride_w, dilation_w, pad_left, k_w, in_w, out_w)
        blocks_end = first + (end - first) // PIXELS * PIXELS
        for ow0 in range(first, blocks_end, PIXELS):
            x_offset = _cell(x, n, top, ow0 * stride_w - pad_left, 0)
            out_offset = _cell(out, n, oh, ow0, 0)
            for c in range(0, whole, lanes):  # whole vectors: `lanes` is a constant, no masks
                _forward_block(x, w, bias, out, taps, x_offset + c, out_offset + c, c, lanes, h_lo * k_w,
                               h_hi * k_w, step, relu)
            if whole < channels:
                _forward_block(x, w, bias, out, taps, x_offset + whole, out_offset + whole, whole,
                               channels - whole, h_lo * k_w, h_hi * k_w, step, relu)
        for ow in range(out_w):
            if first <= ow < blocks_end:
                continue
            for c in range(0, whole, lanes):
                _forward_pixel(x, w, bias, out, n, oh, ow, c, lanes, top, h_lo, h_hi, stride_w, dilation_h,
                               dilation_w, pad_left, relu)
            if whole < channels:
                _forward_pixel(x, w, bias, out, n, oh, ow, whole, channels - whole, top, h_lo, h_hi,
                               stride_w, dilation_h, dilation_w, pad_left, relu)
        row = next_task(job, row)


@helper
def _grad_input_pixel(grad_out, out, w, grad_x, n, ih, iw, c, count, stride_h, stride_w, dilation_h, dilation_w,
                      pad_top, pad_left, relu):
    """Input pixel ``(n, ih, iw)``, channels ``c ..``: the sum over the output pixels whose windows hold it."""
    k_h, k_w, channels = w.shape
    acc = vzeros(grad_x)
    for kh in range(k_h):
        oh = _source_index(ih + pad_top, kh, dilation_h, stride_h, grad_out.shape[1])
        if oh < 0:
            continue
        for kw in range(k_w):
            ow = _source_index(iw + pad_left, kw, dilation_w, stride_w, grad_out.shape[2])
            if ow < 0:
                continue
            g = _gradient(grad_out, out, _cell(grad_out, n, oh, ow, c), count, relu)
            acc = vfma(g, _load(w, (kh * k_w + kw) * channels + c, count), acc)
    vstore_first(grad_x, _cell(grad_x, n, ih, iw, c), acc, count)


@helper
def _grad_input_block(grad_out, out, w, grad_x, taps, n_taps, x_offset, c, count, x_step, relu):
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
    vstore_first(grad_x, offset, a0, count)
    vstore_first(grad_x, offset + x_step, a1, count)
    vstore_first(grad_x, offset + 2 * x_step, a2, count)
    vstore_first(grad_x, offset + 3 * x_step, a3, count)


@kernel
def _depthwise_grad_input(job, grad_out, out, w, grad_x, stride_h, stride_w, dilation_h, dilation_w, pad_top,
                          pad_left, relu, scratch):
    """Gradient with respect to the unpadded input ``grad_x`` ``(N, H, W, K)`` (overwritten).

    ``out`` is the forward output, read only for the ReLU's mask. Along the
    width, input pixels ``stride`` apart (one phase) take the same kernel
    taps from consecutive output pixels: where all of them are inside the
    output, ``PIXELS`` of one phase go at a time, as in the forward pass,
    over a table of their taps written into ``scratch[row]``
    (``scratch`` is ``(N * H, KH * KW, 2)`` int64, one table per task).
    """
    n_batch, in_h, in_w, channels = grad_x.shape
    _, out_h, out_w, _ = grad_out.shape
    k_h, k_w, _ = w.shape
    lanes = lanes_of(grad_x)
    whole = channels - channels % lanes
    x_step = stride_w * channels
    n_tasks = n_batch * in_h
    row = first_task(job, n_tasks)
    while row < n_tasks:
        n = row // in_h
        ih = row - n * in_h
        taps = scratch[row]
        # Per phase, the input pixels whose output pixels are all inside the output along the width go PIXELS
        # at a time from the first of them (``first``, then every ``stride_w``); the others one by one.
        lo = max(0, (k_w - 1) * dilation_w - pad_left)
        hi = min(in_w, out_w * stride_w - pad_left)
        for phase in range(stride_w):
            first = phase + -(-max(0, lo - phase) // stride_w) * stride_w
            blocks = max(0, -(-(hi - first) // stride_w)) // PIXELS
            blocks_end = first + blocks * PIXELS * stride_w
            for iw0 in range(first, blocks_end, PIXELS * stride_w):
                n_taps = 0
                for kh in range(k_h):
                    oh = _source_index(ih + pad_top, kh, dilation_h, stride_h, out_h)
                    if oh < 0:
                        continue
                    for kw in range(k_w):
                        t = iw0 + pad_left - kw * dilation_w
                        if t % stride_w != 0:
                            continue
                        taps[n_taps, 0] = _cell(grad_out, n, oh, t // stride_w, 0)
                        taps[n_taps, 1] = (kh * k_w + kw) * channels
                        n_taps += 1
                x_offset = _cell(grad_x, n, ih, iw0, 0)
                for c in range(0, whole, lanes):  # whole vectors: `lanes` is a constant, no masks
                    _grad_input_block(grad_out, out, w, grad_x, taps, n_taps, x_offset, c, lanes, x_step, relu)
                if whole < channels:
                    _grad_input_block(grad_out, out, w, grad_x, taps, n_taps, x_offset, whole, channels - whole,
                                      x_step, relu)
            for iw in range(phase, in_w, stride_w):
                if first <= iw < blocks_end:
                    continue
                for c in range(0, channels, lanes):
                    _grad_input_pixel(grad_out, out, w, grad_x, n, ih, iw, c, channels - c, stride_h,
                                      stride_w, dilation_h, dilation_w, pad_top, pad_left, relu)
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


@kernel
def _depthwise_grad_kernel(job, x, grad_out, out, partial_kernel, partial_bias, stride_h, stride_w, dilation_h,
                           dilation_w, pad_top, pad_left, relu):
    """Per-chunk partial sums of the kernel gradient ``(P, KH, KW, K)`` and the bias gradient ``(P, K)``.

    Chunk ``p`` holds batch items ``p*N//P`` to ``(p+1)*N//P``; both partial
    arrays are overwritten (see the module docstring for who writes what).
    """
    n_chunks, k_h, k_w, channels = partial_kernel.shape
    n_batch, in_h, in_w, _ = x.shape
    _, out_h, out_w, _ = grad_out.shape
    lanes = lanes_of(x)
    whole = channels - channels % lanes
    x_step = stride_w * channels
    n_tasks = n_chunks * k_h
    task = first_task(job, n_tasks)
    while task < n_tasks:
        p = task // k_h
        kh = task - p * k_h
        partial_kernel[p, kh] = 0
        if kh == 0:
            partial_bias[p] = 0
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
                    for kw in range(k_w):
                        left = kw * dilation_w - pad_left
                        ow_lo, ow_hi = _in_range(kw, dilation_w, stride_w, pad_left, out_w, in_w)
                        x_offset = _cell(x, n, ih, ow_lo * stride_w + left, 0)
                        g_offset = _cell(grad_out, n, oh, ow_lo, 0)
                        k_offset = ((p * k_h + kh) * k_w + kw) * channels
                        for c in range(0, whole, lanes):  # whole vectors: `lanes` is a constant, no masks
                            _add_row_products(x, grad_out, out, partial_kernel, x_offset + c, g_offset + c,
                                              k_offset + c, ow_hi - ow_lo, x_step, lanes, relu)
                        if whole < channels:
                            _add_row_products(x, grad_out, out, partial_kernel, x_offset + whole, g_offset + whole,
                                              k_offset + whole, ow_hi - ow_lo, x_step, channels - whole, relu)
        task = next_task(job, task)
