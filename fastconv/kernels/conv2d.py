"""Direct-loop 2-D convolution kernels over NHWC arrays: forward, input gradient, kernel gradient.

The general path: any float dtype, dilation. ``fastconv.ops`` sends undilated
float32 convolutions to the SIMD-tiled kernels of ``conv2d_tiled.py`` instead.

Kernels only: every argument is preallocated, already padded where the
docstring says so, of matching dtypes and already checked by ``fastconv.ops``.
Nothing here validates. Layouts are Keras's: inputs ``(N, H, W, C)``, kernel
``(KH, KW, C, F)``, outputs ``(N, OH, OW, F)``.

The fused epilogue (bias add, then an activation) and its backward (the
activation's mask applied to the incoming gradient) are flags on the same
loops, selected by ``activation`` (``LINEAR`` or ``RELU``), so there is one
copy of each loop nest.

In every innermost loop the index runs over the contiguous channel axis, so
LLVM vectorises it.
"""


from fastconv._jit import helper, kernel
from fastconv.kernels.simd import lanes_of, vload, vload_first, vstore, vstore_first, vzeros
from fastconv.kernels.tasks import first_task, next_task

LINEAR = 0
RELU = 1


@helper
def _copy_flat(src, src_offset, dst, dst_offset, count):
    """``dst.flat[dst_offset:][:count] = src.flat[src_offset:][:count]``, a vector at a time."""
    lanes = lanes_of(src)
    whole = count - count % lanes
    for k in range(0, whole, lanes):
        vstore(dst, dst_offset + k, vload(src, src_offset + k))
    if whole < count:
        vstore_first(dst, dst_offset + whole, vload_first(src, src_offset + whole, count - whole), count - whole)


@helper
def _copy_padded_row(src, src_offset, dst, dst_offset, count, left, right):
    """``dst.flat[dst_offset:]`` = ``left`` zeros, ``src.flat[src_offset:][:count]``, ``right`` zeros: a padded
    row whose pixels are contiguous in both arrays, a vector at a time."""
    _zero_flat(dst, dst_offset, left)
    _copy_flat(src, src_offset, dst, dst_offset + left, count)
    _zero_flat(dst, dst_offset + left + count, right)


@helper
def _zero_flat(arr, offset, count):
    """``arr.flat[offset:offset + count] = 0``, a vector at a time."""
    for k in range(0, count, lanes_of(arr)):
        vstore_first(arr, offset + k, vzeros(arr), count - k)


@kernel
def _zero_pad(job, x, padded, top, left, relu, mask):
    """Copy ``x`` ``(N, H, W, C)`` into ``padded`` ``(N, HP, WP, CP)`` at ``(top, left)``, zeros around it.

    Zeros also fill the channels ``c >= C`` when ``CP > C``. With ``relu``,
    cells where ``mask`` (same shape as ``x``, the forward output) is not
    ``> 0`` are zeroed as well: the ReLU's backward mask, applied while the
    output gradient is padded for the tiled gradient kernels. Every cell of
    ``padded`` is written once (it may come from ``np.empty``), each row by
    the thread that owns it.
    """
    n_batch, in_h, in_w, n_channels = x.shape
    _, pad_h, _, _ = padded.shape
    n_tasks = n_batch * pad_h
    row = first_task(job, n_tasks)
    while row < n_tasks:
        n = row // pad_h
        ih = row - n * pad_h - top
        dst_row = padded[n, row - n * pad_h]
        if ih < 0 or ih >= in_h:
            dst_row[:] = 0
        elif not relu and n_channels == padded.shape[3]:
            # The row's pixels are contiguous in both: one flat copy (a loop per pixel cost more than the
            # copy for few channels, the first layer's one).
            _copy_padded_row(x, (n * in_h + ih) * in_w * n_channels, padded, row * padded.shape[2] * n_channels,
                             in_w * n_channels, left * n_channels, (padded.shape[2] - left - in_w) * n_channels)
        else:
            dst_row[:left] = 0
            dst_row[left + in_w:] = 0
            for iw in range(in_w):
                dst = dst_row[left + iw]
                for c in range(n_channels):
                    v = x[n, ih, iw, c]
                    if relu and not mask[n, ih, iw, c] > 0:
                        v = 0
                    dst[c] = v
                dst[n_channels:] = 0
        row = next_task(job, row)


@kernel
def _conv2d_forward(job, x, w, bias, out, stride_h, stride_w, dilation_h, dilation_w, activation):
    """``out = activation(conv(x, w) + bias)``.

    ``x`` is the padded input ``(N, HP, WP, C)``; ``out`` ``(N, OH, OW, F)`` is
    overwritten. Work is split over the ``N * OH`` output rows.
    """
    n_batch, out_h, out_w, n_filters = out.shape
    k_h, k_w, n_channels, _ = w.shape
    n_tasks = n_batch * out_h
    row = first_task(job, n_tasks)
    while row < n_tasks:
        n = row // out_h
        oh = row - n * out_h
        for ow in range(out_w):
            acc = out[n, oh, ow]
            for f in range(n_filters):
                acc[f] = bias[f]
            for kh in range(k_h):
                ih = oh * stride_h + kh * dilation_h
                for kw in range(k_w):
                    iw = ow * stride_w + kw * dilation_w
                    for c in range(n_channels):
                        xv = x[n, ih, iw, c]
                        for f in range(n_filters):
                            acc[f] += xv * w[kh, kw, c, f]
            if activation == RELU:
                for f in range(n_filters):
                    if acc[f] < 0:
                        acc[f] = 0
        row = next_task(job, row)


@helper
def _gradient_row(grad_out, out, n, oh, ow, activation, row):
    """Incoming gradient at one output pixel with the activation's mask applied, into ``row`` ``(F,)``."""
    for f in range(row.shape[0]):
        g = grad_out[n, oh, ow, f]
        if activation == RELU and not out[n, oh, ow, f] > 0:
            g = 0
        row[f] = g


@helper
def _source_index(i, k, dilation, stride, out_len):
    """Output index whose window puts tap ``k`` on padded input index ``i``, or -1 if none."""
    t = i - k * dilation
    if t < 0 or t % stride != 0:
        return -1
    o = t // stride
    return o if o < out_len else -1


@kernel
def _conv2d_grad_input(job, grad_out, out, w_t, grad_x, pad_top, pad_left,
                       stride_h, stride_w, dilation_h, dilation_w, activation, scratch):
    """Gradient with respect to the (unpadded) input, gathered so that no two tasks write the same cell.

    ``w_t`` is the kernel with its channel axes swapped, ``(KH, KW, F, C)``, so
    the innermost loop runs over contiguous input channels. ``out`` is the
    forward output, read only for the activation's mask. ``grad_x``
    ``(N, H, W, C)`` is overwritten. ``scratch`` is ``(N * H, F)``: one masked
    gradient row per task. Work is split over the ``N * H`` input rows.
    """
    n_batch, in_h, in_w, n_channels = grad_x.shape
    _, out_h, out_w, n_filters = grad_out.shape
    k_h, k_w = w_t.shape[0], w_t.shape[1]
    n_tasks = n_batch * in_h
    row = first_task(job, n_tasks)
    while row < n_tasks:
        n = row // in_h
        ih = row - n * in_h
        g = scratch[row]
        for iw in range(in_w):
            acc = grad_x[n, ih, iw]
            for c in range(n_channels):
                acc[c] = 0
            for kh in range(k_h):
                oh = _source_index(ih + pad_top, kh, dilation_h, stride_h, out_h)
                if oh < 0:
                    continue
                for kw in range(k_w):
                    ow = _source_index(iw + pad_left, kw, dilation_w, stride_w, out_w)
                    if ow < 0:
                        continue
                    _gradient_row(grad_out, out, n, oh, ow, activation, g)
                    for f in range(n_filters):
                        gf = g[f]
                        for c in range(n_channels):
                            acc[c] += gf * w_t[kh, kw, f, c]
        row = next_task(job, row)


@kernel
def _conv2d_grad_kernel(job, x, grad_out, out, partial_kernel, partial_bias,
                        stride_h, stride_w, dilation_h, dilation_w, activation, scratch):
    """Per-chunk partial sums of the kernel and bias gradients.

    ``x`` is the padded input. The batch is cut into ``P = partial_kernel.shape[0]``
    fixed chunks (chunk ``p`` holds items ``p*N//P`` to ``(p+1)*N//P``), and each
    task owns one (chunk, kernel row) pair of ``partial_kernel``
    ``(P, KH, KW, C, F)`` and, for kernel row 0, the chunk's ``partial_bias``
    ``(P, F)``. The caller adds the ``P`` partials in order, so the result does
    not depend on the number of threads. Both partial arrays are overwritten.
    ``scratch`` is ``(P * KH, F)``, one masked gradient row per task.
    """
    n_chunks, k_h, k_w, n_channels, n_filters = partial_kernel.shape
    n_batch, out_h, out_w, _ = grad_out.shape
    n_tasks = n_chunks * k_h
    task = first_task(job, n_tasks)
    while task < n_tasks:
        p = task // k_h
        kh = task - p * k_h
        acc = partial_kernel[p, kh]
        acc[:] = 0
        bias_acc = partial_bias[p]
        if kh == 0:
            bias_acc[:] = 0
        g = scratch[task]
        for n in range(p * n_batch // n_chunks, (p + 1) * n_batch // n_chunks):
            for oh in range(out_h):
                ih = oh * stride_h + kh * dilation_h
                for ow in range(out_w):
                    _gradient_row(grad_out, out, n, oh, ow, activation, g)
                    if kh == 0:
                        for f in range(n_filters):
                            bias_acc[f] += g[f]
                    for kw in range(k_w):
                        iw = ow * stride_w + kw * dilation_w
                        for c in range(n_channels):
                            xv = x[n, ih, iw, c]
                            for f in range(n_filters):
                                acc[kw, c, f] += xv * g[f]
        task = next_task(job, task)
