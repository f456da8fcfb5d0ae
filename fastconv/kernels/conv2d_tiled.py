"""SIMD-tiled 2-D convolution kernels over NHWC arrays (dilation 1): forward, input gradient, kernel gradient.

The fast path for float32 (``fastconv.ops`` chooses it); ``conv2d.py`` keeps
the general scalar loops (float64, dilation). Kernels only: every argument is
preallocated and checked by ``fastconv.ops`` (padded where a docstring says
so: the forward pass reads its input unpadded); nothing here validates.

The work is done by register tiles generated into ``conv2d_tiles.py`` (one
local vector variable per accumulator, see ``simd.py``); the kernels here cut
rows into tiles and call them. Channel axes that the tiles read whole vectors
of (the bias, the output gradient's channels) are zero-padded by the caller
to ``CP``/``FP``, a multiple of the vector width; results are written with
masked stores, so outputs keep their exact shapes. The convolution kernels'
weights come in channel blocks, ``(B, KH, KW, K, BLOCK)`` with ``BLOCK =
CHANNEL_BLOCK_VECTORS`` vectors: block ``b`` holds channels ``b*BLOCK`` to
``(b+1)*BLOCK``, the last one zero-padded to a whole block, so a tile, which
computes one block, streams consecutive memory rather than ``BLOCK`` of
every ``F`` channels (with 128 output channels the strided weights of a 5x5
layer missed the L2 cache: 150-160 instead of 190-205 GFLOP/s).

- Forward: each task is one output row; tiles of output pixels x output
  channel vectors, reduced over (kernel row, kernel column, input channel).
- Input gradient: the same tiles on the output gradient ``gp`` (masked by the
  ReLU, zero-bordered) with the kernel flipped and its channel axes swapped.
  For strides > 1 the input pixels of one row are taken phase by phase
  (``iw % stride``): every pixel of a phase sees the same kernel taps, every
  ``stride``-th one, and consecutive pixels of the gradient, so no zeros are
  multiplied (no dilated gradient).
  Layers with very few input channels (a model's first layer) take dot
  products over the output channels instead (:func:`_conv2d_grad_input_dot`).
- Kernel gradient: for one kernel row, the pairs (kernel column, input
  channel) are consecutive in the padded input, so the gradient of one kernel
  row is a small matrix product: rows ``q = kw*C + c`` against output channel
  vectors, summed over output pixels. The batch is cut into chunks, as few
  as give enough tasks (chunks x kernel rows x channel blocks) for 16
  threads, with private partial sums that the caller adds in order; their
  number follows from the shapes alone, so the result does not depend on
  the number of threads.

Every tile sums in a fixed order, and where a row's last tile overlaps the
one before it (the row length is not a multiple of the tile) it recomputes
and rewrites identical values, so results are bitwise identical for any
number of threads.
"""


from fastconv._jit import helper, kernel
from fastconv.kernels.conv2d import _copy_padded_row
from fastconv.kernels.tasks import chunk_end, first_task, next_task, thread_slot
from fastconv.kernels.conv2d_tiles import (
    DOT_PIXELS, PACKED_GRAD_KERNEL_ROWS, PACKED_PIXELS, PIXELS_V1, PIXELS_V1_ALT, PIXELS_V2,
    PIXELS_V2_ALT, PIXELS_V2_SHORT, PIXELS_V2_SHORT_ALT, ROWS_V1, ROWS_V1_ALT, ROWS_V2, ROWS_V2_ALT, ROWS_V2_SHORT,
    conv_alt_v1, conv_alt_v2, conv_main_v1, conv_main_v2, conv_short_alt_v2, conv_short_v2, conv_tail_v1,
    conv_tail_v2, dot_main, dot_tail, grad_kernel_alt_v1, grad_kernel_alt_v2, grad_kernel_main_v1,
    grad_kernel_main_v2, grad_kernel_short_v2, grad_kernel_tail_v1, grad_kernel_tail_v2, packed_grad_kernel_tile,
    packed_tile)
from fastconv.kernels.simd import lanes_of, prefetch, vadd, vload_first, vstore, vstore_first, vzeros

CHANNEL_BLOCK_VECTORS = 2
"""Vectors of channels that a two-vector tile computes: the width of the weights' channel blocks."""

GRAD_KERNEL_BLOCK_BYTES = 128 * 1024
"""Bytes of input rows (one input row per output row of the block) that a kernel-gradient tile call's block
of output rows reads, at most (but at least one row): the tiles of one block go through the same input rows
once for every few kernel-gradient rows, so they should stay in the L2 cache; the more rows a call takes,
the fewer times each tile loads and stores its accumulators (48 output pixels a call ran a one-channel
first layer's kernel gradient 1.3 times as long as whole images, and 1-3% slower on larger layers)."""


PREFETCH_ROWS_AHEAD = 4
"""How many output rows ahead a grouped forward pass asks for the input rows it will read (see
:func:`_conv2d_forward_tiled`)."""

CACHE_LINE_BYTES = 64
"""What one prefetch fetches (x86's and most ARM cores' cache line)."""

BAND_BYTES = 128 * 1024
"""Bytes of padded input rows a thread of a padded forward pass keeps in its band (see
:func:`_conv2d_forward_tiled`), in its L2 cache: with 3x3 kernels, a row is copied again each time the
band starts again, every R - 2 output rows."""

BAND_OUTPUT_ROWS = 4
"""Output rows a band holds the input rows of, at least (wide rows make bands beyond ``BAND_BYTES``): with
the kernel's rows alone, a 3x3 layer's band started again at every output row and copied every input row
three times."""


TILE_MIN_FMAS = 10
"""Independent FMAs a tile step needs in flight to hide the FMA latency (2 pipes x 4-5 cycles): a tile with
fewer accumulators is costed as if it had this many, so the 4- and 3-pixel tiles of the 16-register set
lose to bigger ones unless they save enough recomputed pixels (every tile of the 32-register set has more)."""


ONE_VECTOR_MIN_FMAS = 7
"""``TILE_MIN_FMAS`` for the one-vector tiles, whose short tile (7 pixels on AVX-512) ran rows of 14, 28 and
56 pixels in 0.92-0.95 times the time of a 14-pixel tile (Zen 4, 3x3 layers of 16 filters, paired calls): it
is costed by the pixels it computes. Costed at 10, the 16-pixel tile took rows of 28 and 56 (4 and 8 pixels
more), 1.1 times the time."""


@helper
def _tiles_cost(count, pixels, vectors, min_fmas=TILE_MIN_FMAS):
    """Estimated time of ``count`` pixels in tiles of ``pixels`` x ``vectors`` (a huge number if none fits)."""
    if count < pixels:
        return 1 << 62
    return -(-count // pixels) * max(vectors * pixels, min_fmas)


@helper
def _cheaper_tile(count, pixels, best, best_cost, vectors=2, min_fmas=TILE_MIN_FMAS):
    """``(pixels, cost)`` if tiles of ``pixels`` x ``vectors`` cover ``count`` pixels at a lower cost than
    ``best``'s."""
    cost = _tiles_cost(count, pixels, vectors, min_fmas)
    return (pixels, cost) if cost < best_cost else (best, best_cost)


@helper
def _one_vector_tile(count):
    """Pixels of the one-vector tile of the lowest :func:`_tiles_cost` (costed with ``ONE_VECTOR_MIN_FMAS``)
    for a row of ``count`` pixels; 1 (the one-pixel tile) only for rows shorter than every tile."""
    pixels, cost = _cheaper_tile(count, PIXELS_V1, 1, 1 << 62, 1, ONE_VECTOR_MIN_FMAS)
    return _cheaper_tile(count, PIXELS_V1_ALT, pixels, cost, 1, ONE_VECTOR_MIN_FMAS)[0]


@helper
def _conv_row(x, xo, xj, xl, xp, nj, nl, nk, w, wo, wj, wl, wk, wb, out, oo, op, count, n_out, bias, relu,
              lone_vector):
    """``count`` output pixels of one row, all ``n_out`` channels, in tiles (see ``conv2d_tiles``).

    Pixel ``i`` reads ``x`` from ``xo + i*xp`` and is written at ``oo + i*op``.
    Channels go a block of ``CHANNEL_BLOCK_VECTORS`` vectors at a time while
    more than one vector is left, then one vector (with ``lone_vector``, see
    below); block ``b``'s weights start
    at ``wo + b*wb`` (``wb`` is the block's width for weights whose channels
    are their last axis, as the dense kernel's, its whole size for weights
    stored block by block). Each block takes the two-vector tile of the lowest
    :func:`_tiles_cost` for the row (the pixels it computes, counted higher for
    tiles too small to hide the FMA latency; ties go to the first in
    ``CONV_TILES``; each tile loops over the row itself), the last lone vector
    the one-vector tile of :func:`_one_vector_tile`; rows shorter than every
    tile go pixel by pixel.

    ``lone_vector`` is True for that. None puts a lone vector in a two-vector
    tile too, with a second vector's worth of weights and bias read and not
    stored (which must be readable): numba then compiles none of the
    one-vector tiles into the kernel (a second or so of a fresh machine's
    first training step per kernel). The convolutions pass None where the
    channels make whole blocks (an even number of vectors,
    ``fastconv.ops._lone_vector``), the matrix products always, on whole
    blocks of zero-padded columns.
    """
    lanes = lanes_of(w)
    block = CHANNEL_BLOCK_VECTORS * lanes
    pixels, cost = _cheaper_tile(count, PIXELS_V2, 1, 1 << 62)  # the one-pixel tile only if none fits
    pixels, cost = _cheaper_tile(count, PIXELS_V2_ALT, pixels, cost)
    pixels, cost = _cheaper_tile(count, PIXELS_V2_SHORT, pixels, cost)
    pixels, cost = _cheaper_tile(count, PIXELS_V2_SHORT_ALT, pixels, cost)
    # Blocks, and with lone_vector one vector at the end if the number of vectors is odd. (range loops, so
    # the offsets passed to the tiles are typed int64 and not a literal 0: one compiled copy of each tile.)
    whole_blocks = (n_out + (lanes if lone_vector is not None else block) - 1) // block
    for b in range(whole_blocks):
        f0 = b * block
        if pixels == PIXELS_V2:
            conv_main_v2(x, xo, xj, xl, xp, nj, nl, nk, w, wo + b * wb, wj, wl, wk, out, oo + f0, op, count,
                         n_out - f0, bias, f0, relu)
        elif pixels == PIXELS_V2_ALT:
            conv_alt_v2(x, xo, xj, xl, xp, nj, nl, nk, w, wo + b * wb, wj, wl, wk, out, oo + f0, op, count,
                        n_out - f0, bias, f0, relu)
        elif pixels == PIXELS_V2_SHORT:
            conv_short_v2(x, xo, xj, xl, xp, nj, nl, nk, w, wo + b * wb, wj, wl, wk, out, oo + f0, op, count,
                          n_out - f0, bias, f0, relu)
        elif pixels == PIXELS_V2_SHORT_ALT:
            conv_short_alt_v2(x, xo, xj, xl, xp, nj, nl, nk, w, wo + b * wb, wj, wl, wk, out, oo + f0, op,
                              count, n_out - f0, bias, f0, relu)
        else:
            conv_tail_v2(x, xo, xj, xl, xp, nj, nl, nk, w, wo + b * wb, wj, wl, wk, out, oo + f0, op, count,
                         n_out - f0, bias, f0, relu)
    if lone_vector is None:
        return
    pixels = _one_vector_tile(count)
    for b in range(whole_blocks, (n_out + block - 1) // block):
        f0 = b * block
        if pixels == PIXELS_V1_ALT:
            conv_alt_v1(x, xo, xj, xl, xp, nj, nl, nk, w, wo + b * wb, wj, wl, wk, out, oo + f0, op, count,
                        n_out - f0, bias, f0, relu)
        elif pixels == PIXELS_V1:
            conv_main_v1(x, xo, xj, xl, xp, nj, nl, nk, w, wo + b * wb, wj, wl, wk, out, oo + f0, op, count,
                         n_out - f0, bias, f0, relu)
        else:
            conv_tail_v1(x, xo, xj, xl, xp, nj, nl, nk, w, wo + b * wb, wj, wl, wk, out, oo + f0, op, count,
                         n_out - f0, bias, f0, relu)


@kernel
def _conv2d_forward_tiled(job, x, bands, w, bias, out, stride_h, stride_w, pad_top, pad_bottom, pad_left, pad_right,
                          relu, groups, lone_vector, run):
    """``out = act(conv(x, w) + bias)``, ``act`` ReLU when ``relu`` is true, in ``groups`` groups.

    ``x`` is the input ``(N, H, W, C)``, not padded: the convolution reads it
    as if it had ``pad_top``/``pad_bottom`` rows and ``pad_left``/``pad_right``
    columns of zeros around it ('same'); ``w`` the kernel in channel
    blocks ``(G*B, KH, KW, C/G, BLOCK)``, group ``g``'s ``B`` blocks after one
    another, ``w[g*B + b, j, l, c, f] = kernel[j, l, c, g*F/G + b*BLOCK + f]``
    (zero beyond the group's ``F/G`` filters); ``bias`` ``(FP,)``, zero-padded
    to at least ``F`` plus a vector; ``out`` ``(N, OH, OW, F)`` is overwritten.
    Group ``g`` convolves input channels ``g*C/G ..`` into output channels
    ``g*F/G ..`` (``groups=1``: the ordinary convolution). Work is split over
    the ``N * OH`` output rows (times the groups, a row's groups one after
    another); each row skips the kernel rows that would fall on padding rows
    (their products are zeros).

    With padding columns, each thread copies the input rows its tasks read,
    with their zero columns, into a band of its own,
    ``bands[thread_slot(job)]`` ``(R, WP, C)`` with ``WP = W + pad_left +
    pad_right`` (:func:`_fill_band`, only the rows its chunk of tasks reads,
    each once while it stays in the band; the band starts again at the
    task's first row when the next task reads rows past its end, or another
    image), and the tiles
    read the band: its rows stay in the thread's L2 cache while the tasks of
    the next few output rows read them, and no padded copy of the whole
    input is written and read again (32x32x64 at batch 32, paired calls:
    0.84 of the time in 8 groups, 0.86 in 4, 0.94 in 2; the textbook's first
    layer 0.94). ``bands`` may come from ``np.empty``; without padding
    columns it is not read.

    ``run`` is None for the ordinary tiles. For groups of at most ``LANES/run``
    filters it is the run of the packed tiles (:func:`_packed_row`), and
    ``w`` is ``(G, KH, KW, C/G/run, LANES)``: for group ``g``, kernel row
    ``j``, column ``l`` and run ``k`` of ``run`` input channels, lane
    ``f*run + r`` holds ``kernel[j, l, k*run + r, g*F/G + f]`` (zero for
    ``f >= F/G``). numba compiles the two apart (a None argument prunes the
    other branch), so a model without such groups never compiles the packed
    tiles. ``lone_vector``: see :func:`_conv_row` (of ``F/G`` channels; None
    with the packed tiles).
    """
    n_batch, out_h, out_w, n_out = out.shape
    _, in_h, in_w, n_in = x.shape
    n_blocks, k_h, k_w, tap_weights, block = w.shape  # tap_weights: C/G, or C/G/run packed
    in_group = n_in // groups
    out_group = n_out // groups
    group_blocks = n_blocks // groups
    n_rows = n_batch * out_h
    n_tasks = groups * n_rows
    # Without groups, a kernel row's taps read one run of the input (KW pixels of C channels) against one run
    # of weights in the same order: one loop of KW*C products instead of KW loops of C, the same sum in the
    # same order (a first layer's C = 1 made loops of one product: its forward pass took 1.07 times as long).
    taps, tap_length = (1, k_w * tap_weights) if groups == 1 else (k_w, tap_weights)
    width = in_w + pad_left + pad_right
    banded = pad_left + pad_right > 0
    band = thread_slot(job) * bands.shape[1] * width * n_in if banded else 0  # this thread's band in bands
    band_image, band_top, band_end = -1, 0, 0  # the band holds image band_image's padded rows band_top..band_end
    task = first_task(job, n_tasks)
    while task < n_tasks:
        g, n, oh, top, j0, nj = _forward_task(task, groups, out_h, stride_h, pad_top, pad_bottom,
                                              in_h + pad_top + pad_bottom, k_h)
        first = top + j0  # the first padded row read
        if not banded:
            if groups > 1 and g == 0:
                # A group's task reads its slice of each input pixel's channels, a pattern the CPU's
                # prefetchers do not follow: a row's first task asks for the input rows that the row
                # PREFETCH_ROWS_AHEAD later reads first (32x32x64 in 2 to 8 groups, batch 32: 0.87-0.95 of the
                # time; a band is copied row by row, which they follow: 1.00 there).
                ahead = (n * in_h + top - pad_top + k_h + (PREFETCH_ROWS_AHEAD - 1) * stride_h) * in_w * n_in
                _prefetch(x, ahead, ahead + stride_h * in_w * n_in)
            src, xo = x, (n * in_h + first - pad_top) * in_w * n_in + g * in_group
        else:
            if nj > 0 and (n != band_image or first < band_top or first + nj > band_top + bands.shape[1]):
                band_image, band_top, band_end = n, first, first  # start again from this task's rows
            if first + nj > band_end:  # rows it reads that the band lacks (a thread's tasks go forward): those
                # and the rows that the rest of its chunk of tasks reads in this image, as far as the band goes
                last_row = (chunk_end(job, task) - 1) // groups
                rest = (min(last_row, (n + 1) * out_h - 1) - n * out_h - oh) * stride_h
                end = min(first + nj + rest, band_top + bands.shape[1])
                _fill_band(x, bands, band, n, band_top, band_end, end, pad_top, pad_left, pad_right)
                band_end = end
            src, xo = bands, band + (first - band_top) * width * n_in + g * in_group
        wo = (g * group_blocks * k_h + j0) * k_w * tap_weights * block
        oo = (n * out_h + oh) * out_w * n_out + g * out_group
        if run is None:
            _conv_row(src, xo, width * n_in, n_in, stride_w * n_in, nj, taps, tap_length, w, wo,
                      k_w * tap_weights * block, tap_weights * block, block, k_h * k_w * tap_weights * block,
                      out, oo, n_out, out_w, out_group, bias[g * out_group:], relu, lone_vector)
        else:
            _packed_row(src, xo, width * n_in, n_in, stride_w * n_in, nj, taps, tap_length, w, wo,
                        k_w * tap_weights * block, tap_weights * block, block, out, oo, n_out, out_w, out_group,
                        bias, g * out_group, relu, run)
        task = next_task(job, task)


@helper
def _fill_band(x, bands, offset, n, top, first, end, pad_top, pad_left, pad_right):
    """Write the padded rows ``first .. end`` of image ``n`` into the band at ``bands.flat[offset:]`` whose first
    row is padded row ``top`` (see :func:`_conv2d_forward_tiled`): each real row's pixels between
    ``pad_left`` and ``pad_right`` zero pixels. Rows of padding are left as they are: the kernels skip the
    kernel rows that fall there."""
    _, in_h, in_w, n_in = x.shape
    width = bands.shape[2]
    for row in range(max(first, pad_top), min(end, pad_top + in_h)):
        _copy_padded_row(x, (n * in_h + row - pad_top) * in_w * n_in, bands, offset + (row - top) * width * n_in,
                         in_w * n_in, pad_left * n_in, pad_right * n_in)


@helper
def _prefetch(x, first, end):
    """Ask for ``x.flat[first:end]`` (clipped to ``x``) in the L2 cache, a line at a time (``simd.prefetch``)."""
    for offset in range(max(first, 0), min(end, x.size), CACHE_LINE_BYTES // x.itemsize):
        prefetch(x, offset)


@helper
def _forward_task(task, groups, out_h, stride_h, pad_top, pad_bottom, in_h, k_h):
    """``(g, n, oh, top, j0, nj)`` of a forward task: output row ``oh`` of image ``n`` in group ``g``, whose
    window starts at padded input row ``top``, and its kernel rows ``j0 .. j0 + nj`` that fall on real rows.
    A row's groups are consecutive tasks: the input rows they read stay in cache (with the groups
    outermost, every group read the whole input again: with 8 groups of 8 channels, 32x32x64 at batch 32,
    the forward pass took 1.4 times as long, with 2 groups 1.06 times)."""
    row = task // groups
    g = task - row * groups
    n = row // out_h
    oh = row - n * out_h
    top = oh * stride_h
    j0 = max(0, pad_top - top)
    return g, n, oh, top, j0, max(0, min(k_h, in_h - pad_bottom - top) - j0)


@helper
def _packed_row(x, xo, xj, xl, xp, nj, nl, nk, w, wo, wj, wl, wk, out, oo, op, count, nf, bias, bo, relu, run):
    """:func:`_conv_row` for the packed tiles of ``run`` (``conv2d_tiles.packed_tile``): ``count`` pixels of
    ``nf <= LANES/run`` output channels, in the tile of ``PACKED_PIXELS`` of the lowest :func:`_tiles_cost`
    (pixel by pixel if the row is shorter than all of them)."""
    pixels, cost = 1, 1 << 62
    for size in PACKED_PIXELS:
        pixels, cost = _cheaper_tile(count, size, pixels, cost, 1)
    packed_tile(pixels, run, x, xo, xj, xl, xp, nj, nl, nk, w, wo, wj, wl, wk, out, oo, op, count, nf, bias, bo,
                relu)


@helper
def _taps(i, k, pad, stride):
    """``(t0, n_taps, o0)``: the taps of a flipped window of ``k`` that reach input index ``i``.

    Input index ``i`` (unpadded; ``pad`` is the forward padding before it)
    gets the gradient of output ``o`` through flipped tap ``t`` when
    ``i + pad + t - (k-1) = o * stride``: the taps ``t0, t0 + stride, ...``
    (``n_taps`` of them, possibly none), from outputs ``o0, o0 + 1, ...``.
    """
    t0 = (k - 1 - pad - i) % stride
    return t0, (k - t0 + stride - 1) // stride, (i + pad + t0 - (k - 1)) // stride


@helper
def _real_taps(t0, n_taps, o0, stride, n_outputs):
    """The taps of :func:`_taps`'s ``(t0, n_taps, o0)`` whose output lies in ``[0, n_outputs)``.

    The others read the zero border of the output gradient: skipping them
    changes no sum. Possibly none is left (``n_taps == 0``).
    """
    skip = max(0, -o0)
    return t0 + skip * stride, max(0, min(n_taps, n_outputs - o0) - skip), o0 + skip


@kernel
def _conv2d_grad_input_tiled(job, gp, w_t, bias, grad_x, zero_h, zero_w, out_h, pad_top, pad_left, stride_h,
                             stride_w, relu, groups, lone_vector, run):
    """Gradient with respect to the (unpadded) input: one task per input row, no two tasks write one cell.

    ``gp`` is the prepared output gradient (``fastconv.kernels.conv2d._zero_pad`` with the ReLU mask)
    with a zero border of at least ``ceil((KH-1)/stride_h)`` rows above
    (``zero_h``) and ``ceil((KW-1)/stride_w)`` columns left (``zero_w``), and
    enough below and right for every input row and column to find its taps;
    its channel axis may be padded beyond ``F``. ``w_t`` ``(B, KH, KW, F, BLOCK)``
    is the kernel flipped and transposed in blocks of input channels,
    ``w_t[b, j, l, f, c] = w[KH-1-j, KW-1-l, b*BLOCK + c, f]`` (zero beyond
    ``C``). ``bias`` (``CP >= C`` values, a multiple of the vector width; zeros
    for a plain gradient) and ``relu`` are an epilogue, ``relu(gradient +
    bias)``: a transposed convolution's forward pass. In ``groups`` groups,
    ``gp``'s channels are ``G`` equal parts (group ``g``'s ``F/G`` output
    channels first in each, zeros after), ``w_t`` is ``(G*B, KH, KW, F/G,
    BLOCK)``, each group's blocks of its ``C/G`` input channels after one
    another, and group ``g`` writes input channels ``g*C/G ..``. ``grad_x``
    ``(N, H, W, C)`` is overwritten; ``pad_top``/``pad_left`` are the forward
    pass's padding; ``out_h`` is the number of real rows of ``gp`` (after its
    top border): kernel rows that would reach only border rows are skipped.

    Input row ``ih`` of the padded input is reached by the taps ``j`` of the
    flipped kernel with ``ih + pad_top + j - (KH-1)`` a multiple of the
    stride, from output row ``(ih + pad_top + j - (KH-1)) / stride``; likewise
    for columns, phase by phase.

    ``run`` is None for the ordinary tiles. For groups of at most
    ``LANES/run`` input channels it is the run of the packed tiles, as in
    :func:`_conv2d_forward_tiled`: ``gp`` has exactly ``F`` channels (no
    padding within or between groups), ``w_t`` is ``(G, KH, KW, F/G/run,
    LANES)``, lane ``c*run + r`` of run ``k`` holding ``kernel[KH-1-j,
    KW-1-l, c, g*F/G + k*run + r]`` (zero for ``c >= C/G``), and ``bias`` has
    ``C`` plus a vector of values. ``lone_vector``: see :func:`_conv_row` (of
    ``C/G`` channels; None with the packed tiles).
    """
    n_batch, in_h, in_w, n_in = grad_x.shape
    _, g_h, g_w, g_c = gp.shape
    n_blocks, k_h, k_w, tap_weights, block = w_t.shape  # tap_weights: F/G, or F/G/run packed
    in_group = n_in // groups
    group_blocks = n_blocks // groups
    gp_group = g_c // groups
    n_rows = n_batch * in_h
    n_tasks = groups * n_rows
    task = first_task(job, n_tasks)
    while task < n_tasks:
        g, n, ih, j0, nj, oh0 = _grad_input_task(task, groups, in_h, k_h, pad_top, stride_h, out_h)
        if groups > 1 and g == 0:  # as in the forward pass: the gradient row the rows ahead read last
            ahead = (n * g_h + zero_h + oh0 + nj - 1 + -(-PREFETCH_ROWS_AHEAD // stride_h)) * g_w * g_c
            _prefetch(gp, ahead, ahead + g_w * g_c)
        for phase in range(min(stride_w, in_w)):
            l0, nl, ow0 = _taps(phase, k_w, pad_left, stride_w)
            count = (in_w - phase + stride_w - 1) // stride_w
            xo = ((n * g_h + zero_h + oh0) * g_w + zero_w + ow0) * g_c + g * gp_group
            wo = ((g * group_blocks * k_h + j0) * k_w + l0) * tap_weights * block
            oo = ((n * in_h + ih) * in_w + phase) * n_in + g * in_group
            if run is None:
                _conv_row(gp, xo, g_w * g_c, g_c, g_c, nj, nl, tap_weights, w_t, wo,
                          stride_h * k_w * tap_weights * block, stride_w * tap_weights * block, block,
                          k_h * k_w * tap_weights * block, grad_x, oo, stride_w * n_in, count, in_group, bias, relu,
                          lone_vector)
            else:
                _packed_row(gp, xo, g_w * g_c, g_c, g_c, nj, nl, tap_weights, w_t, wo,
                            stride_h * k_w * tap_weights * block, stride_w * tap_weights * block, block, grad_x, oo,
                            stride_w * n_in, count, in_group, bias, g * in_group, relu, run)
        task = next_task(job, task)


@helper
def _grad_input_task(task, groups, in_h, k_h, pad_top, stride_h, out_h):
    """``(g, n, ih, j0, nj, oh0)`` of an input-gradient task: input row ``ih`` of image ``n`` in group ``g``,
    reached by the flipped kernel's rows ``j0, j0 + stride_h, ...`` (``nj`` of them) from output rows
    ``oh0, oh0 + 1, ...`` (see :func:`_real_taps`). As in the forward pass, a row's groups are consecutive
    tasks."""
    row = task // groups
    g = task - row * groups
    n = row // in_h
    ih = row - n * in_h
    j0, nj, oh0 = _taps(ih, k_h, pad_top, stride_h)
    j0, nj, oh0 = _real_taps(j0, nj, oh0, stride_h, out_h)
    return g, n, ih, j0, nj, oh0


@kernel
def _conv2d_grad_input_dot(job, gp, w_f, grad_x, zero_h, zero_w, out_h, pad_top, pad_left, stride_h, stride_w):
    """:func:`_conv2d_grad_input_tiled` for layers with very few input channels, by dot products over ``F``.

    ``gp`` as there, its channels padded to ``FP`` (a multiple of the vector
    width) with zeros; ``w_f`` ``(KH, KW, C, FP)`` is the kernel flipped,
    ``w_f[j, l, c, f] = w[KH-1-j, KW-1-l, c, f]``, zero-padded to ``FP``.
    Each input-gradient value is one dot product, so no vector lane is spent
    on input channels that do not exist (one channel of a vector of 16).
    """
    n_batch, in_h, in_w, n_in = grad_x.shape
    _, g_h, g_w, g_c = gp.shape
    k_h, k_w, _, n_pad = w_f.shape
    n_vectors = n_pad // lanes_of(gp)
    n_tasks = n_batch * in_h
    row = first_task(job, n_tasks)
    while row < n_tasks:
        n = row // in_h
        ih = row - n * in_h
        j0, nj, oh0 = _taps(ih, k_h, pad_top, stride_h)
        j0, nj, oh0 = _real_taps(j0, nj, oh0, stride_h, out_h)
        for phase in range(min(stride_w, in_w)):
            l0, nl, ow0 = _taps(phase, k_w, pad_left, stride_w)
            count = (in_w - phase + stride_w - 1) // stride_w
            xo = ((n * g_h + zero_h + oh0) * g_w + zero_w + ow0) * g_c
            oo = ((n * in_h + ih) * in_w + phase) * n_in
            op = stride_w * n_in
            for c in range(n_in):
                wo = (j0 * k_w + l0) * n_in * n_pad + c * n_pad
                wj = stride_h * k_w * n_in * n_pad
                wl = stride_w * n_in * n_pad
                if count >= DOT_PIXELS:
                    i = 0
                    while i < count:
                        start = min(i, count - DOT_PIXELS)
                        dot_main(gp, xo + start * g_c, g_w * g_c, g_c, g_c, nj, nl, n_vectors, w_f, wo, wj, wl,
                                 grad_x, oo + start * op + c, op)
                        i += DOT_PIXELS
                else:
                    for i in range(count):
                        dot_tail(gp, xo + i * g_c, g_w * g_c, g_c, g_c, nj, nl, n_vectors, w_f, wo, wj, wl,
                                 grad_x, oo + i * op + c, op)
        row = next_task(job, row)


@helper
def _grad_kernel_block(x, xo, xa, xb, g, go, ga, gb, na, nb, out, oo, n_rows, n_pad, f_first, f_end, plan):
    """Add one block of output pixels (``na`` rows of ``nb``) to channels ``f_first:f_end`` of one kernel
    row's gradient ``out[oo:]`` ``(n_rows, n_pad)``.

    Kernel-gradient rows go in tiles (they add to ``out``, so they cannot
    overlap), channels two vectors at a time, the last odd vector alone.
    With ``plan`` None, as many main tiles as fit (``ROWS_V2`` or ``ROWS_V1``
    rows), then for two vectors the ``ROWS_V2_ALT``-row tiles, then row by
    row; else ``plan`` (``fastconv.ops._grad_kernel_plan``) counts the tiles
    of each size, ``(mains, alts, shorts, mains_v1, alts_v1)`` of
    ``ROWS_V2``, ``ROWS_V2_ALT``, ``ROWS_V2_SHORT``, ``ROWS_V1`` and
    ``ROWS_V1_ALT`` rows, the rest row by row. numba compiles the two apart
    (a None argument prunes the other's tiles): layers that need no short
    tile never compile them. Every row sums the block's pixels in the same
    order whichever tile computes it. ``f_first`` is a multiple of the
    vector width.
    """
    lanes = lanes_of(g)
    pairs_end = f_first + (f_end - f_first) // (2 * lanes) * (2 * lanes)
    if plan is None:
        mains, alts, shorts = n_rows // ROWS_V2, n_rows % ROWS_V2 // ROWS_V2_ALT, 0
        mains_v1, alts_v1 = n_rows // ROWS_V1, 0
    else:
        mains, alts, shorts, mains_v1, alts_v1 = plan
    for f0 in range(f_first, pairs_end, 2 * lanes):
        q = 0
        for _ in range(mains):
            grad_kernel_main_v2(x, xo + q, xa, xb, g, go + f0, ga, gb, na, nb, out, oo + q * n_pad + f0, n_pad)
            q += ROWS_V2
        for _ in range(alts):
            grad_kernel_alt_v2(x, xo + q, xa, xb, g, go + f0, ga, gb, na, nb, out, oo + q * n_pad + f0, n_pad)
            q += ROWS_V2_ALT
        if plan is not None:
            for _ in range(shorts):
                grad_kernel_short_v2(x, xo + q, xa, xb, g, go + f0, ga, gb, na, nb, out, oo + q * n_pad + f0,
                                     n_pad)
                q += ROWS_V2_SHORT
        for q in range(q, n_rows):
            grad_kernel_tail_v2(x, xo + q, xa, xb, g, go + f0, ga, gb, na, nb, out, oo + q * n_pad + f0, n_pad)
    for f0 in range(pairs_end, f_end, lanes):
        q = 0
        for _ in range(mains_v1):
            grad_kernel_main_v1(x, xo + q, xa, xb, g, go + f0, ga, gb, na, nb, out, oo + q * n_pad + f0, n_pad)
            q += ROWS_V1
        if plan is not None:
            for _ in range(alts_v1):
                grad_kernel_alt_v1(x, xo + q, xa, xb, g, go + f0, ga, gb, na, nb, out, oo + q * n_pad + f0,
                                   n_pad)
                q += ROWS_V1_ALT
        for q in range(q, n_rows):
            grad_kernel_tail_v1(x, xo + q, xa, xb, g, go + f0, ga, gb, na, nb, out, oo + q * n_pad + f0, n_pad)


@helper
def _grad_kernel_span(p, kh, n_chunks, n_batch, out_h, in_h, stride_h, pad_top, pad_bottom):
    """``(first, last, oh_first, oh_end)``: the images ``first .. last`` of chunk ``p`` of the batch, and the
    output rows ``oh`` whose input row ``oh*stride_h + kh`` (kernel row ``kh``) is a real row, not padding."""
    return (p * n_batch // n_chunks, (p + 1) * n_batch // n_chunks, max(0, -(-(pad_top - kh) // stride_h)),
            min(out_h, -(-(in_h - pad_bottom - kh) // stride_h)))


@kernel
def _conv2d_grad_kernel_tiled(job, x, gp, zero_h, zero_w, out_h, out_w, partial_kernel, partial_bias,
                              stride_h, stride_w, pad_top, pad_bottom, groups, plan):
    """Per-chunk partial sums of the kernel and bias gradients.

    ``x`` is the padded input ``(N, HP, WP, C)``; ``gp`` the prepared output
    gradient of :func:`_conv2d_grad_input_tiled`, output pixel ``(oh, ow)`` at
    ``gp[n, zero_h + oh, zero_w + ow]``, ``(N, HG, WG, FP)`` with ``FP`` a
    multiple of the vector width and ``out_h x out_w`` output pixels.
    ``partial_kernel`` is ``(P, KH, KW*C, FP)`` (the kernel gradient with its
    column and input-channel axes merged) and ``partial_bias`` ``(P, FP)``;
    both are overwritten. Chunk ``p`` holds batch items ``p*N//P`` to
    ``(p+1)*N//P``; each task owns one (chunk, kernel row, block of
    ``CHANNEL_BLOCK_VECTORS`` vectors of output channels in every group) and,
    for kernel row 0, that block of the chunk's bias row. The caller adds the ``P`` partials
    in order. ``pad_top`` and ``pad_bottom`` rows of ``x`` are zero padding: a
    kernel row skips the output rows whose input row is one of them.
    ``plan``: None, or the tiles of a kernel row's gradient rows (all
    ``KW*C``, or one kernel column's ``C/G`` in groups), see
    :func:`_grad_kernel_block`.

    In ``groups`` groups, ``gp``'s channels are ``G`` equal parts of whole
    vectors (group ``g``'s output channels first in each, zeros after) and
    ``partial_kernel`` is ``(P, KH, KW*C/G, FP)``: channel ``f`` of group
    ``g``'s part holds the gradient of its weights from input channels
    ``g*C/G ..``, the kernel's own layout ``(KH, KW, C/G, F)``. A task goes
    through every group of a block of rows before the next block: a group's
    input channels are a slice of each pixel's, and a task per group read
    every cache line of the input for each group.
    """
    n_chunks, k_h, n_rows, n_pad = partial_kernel.shape
    n_batch, in_h, in_w, n_in = x.shape
    _, g_h, g_w, g_c = gp.shape
    lanes = lanes_of(gp)
    task_channels = CHANNEL_BLOCK_VECTORS * lanes
    group_pad = n_pad // groups
    group_tasks = (group_pad + task_channels - 1) // task_channels
    # The rows q = kw*C/G + c of one kernel row: consecutive in the input for all channels, one run per
    # kernel column for a group's.
    segments = 1 if groups == 1 else n_rows * groups // n_in
    segment_rows = n_rows // segments
    rows_per_block = max(1, GRAD_KERNEL_BLOCK_BYTES // (in_w * n_in * x.itemsize))
    n_tasks = n_chunks * k_h * group_tasks
    task = first_task(job, n_tasks)
    while task < n_tasks:
        p = task // (k_h * group_tasks)
        kh = task // group_tasks - p * k_h
        block_first = (task - (p * k_h + kh) * group_tasks) * task_channels  # in each group's channels
        block_end = min(group_pad, block_first + task_channels)
        for g in range(groups):
            partial_kernel[p, kh, :, g * group_pad + block_first:g * group_pad + block_end] = 0
        oo = (p * k_h + kh) * n_rows * n_pad
        first, last, oh_first, oh_end = _grad_kernel_span(p, kh, n_chunks, n_batch, out_h, in_h, stride_h, pad_top,
                                                          pad_bottom)
        for n in range(first, last):
            for oh in range(oh_first, oh_end, rows_per_block):
                na = min(rows_per_block, oh_end - oh)
                for g in range(groups):  # every group of the block's rows while they are in the cache
                    for s in range(segments):
                        _grad_kernel_block(x, ((n * in_h + oh * stride_h + kh) * in_w) * n_in + s * n_in
                                           + g * segment_rows, stride_h * in_w * n_in, stride_w * n_in, gp,
                                           ((n * g_h + zero_h + oh) * g_w + zero_w) * g_c, g_w * g_c, g_c, na,
                                           out_w, partial_kernel, oo + s * segment_rows * n_pad, segment_rows,
                                           n_pad, g * group_pad + block_first, g * group_pad + block_end, plan)
        if kh == 0:
            for g in range(groups):
                for f0 in range(g * group_pad + block_first, g * group_pad + block_end, lanes):
                    vstore(partial_bias, p * n_pad + f0,
                           _output_gradient_sum(gp, first, last, out_h, out_w, zero_h, zero_w, f0, lanes))
        task = next_task(job, task)


@helper
def _output_gradient_sum(gp, first, last, out_h, out_w, zero_h, zero_w, c, count):
    """The sum of the prepared output gradient ``gp`` (see :func:`_conv2d_grad_kernel_tiled`) over the output
    pixels of images ``first .. last``, channels ``c`` to ``c + count`` (at most a vector; a plain load where
    ``count`` is the vector width): a chunk's bias gradient, pixel by pixel in order."""
    _, g_h, g_w, g_c = gp.shape
    total = vzeros(gp)
    for n in range(first, last):
        for oh in range(out_h):
            go = ((n * g_h + zero_h + oh) * g_w + zero_w) * g_c + c
            for ow in range(out_w):
                total = vadd(total, vload_first(gp, go + ow * g_c, count))
    return total


@kernel
def _conv2d_grad_kernel_packed(job, x, gp, zero_h, zero_w, out_h, out_w, partial_kernel, partial_bias, stride_h,
                               stride_w, pad_top, pad_bottom, groups, run):
    """:func:`_conv2d_grad_kernel_tiled` for groups of at most ``LANES/run`` filters, on the packed tiles.

    ``gp`` is the prepared output gradient of :func:`_conv2d_grad_input_packed`
    (``F`` channels, output pixel ``(oh, ow)`` at ``gp[n, zero_h + oh, zero_w + ow]``);
    ``partial_kernel`` is ``(P, KH, G, KW*C/G/run, LANES)``: for chunk ``p``,
    kernel row ``j`` and group ``g``, vector ``l*C/G/run + k`` holds in lane
    ``f*run + r`` the gradient of ``kernel[j, l, k*run + r, g*F/G + f]``;
    ``partial_bias`` is ``(P, F)``. Both are overwritten. Each task owns one
    (chunk, kernel row) and goes through every group of a block of rows
    before the next block: a group's channels are a few of each pixel's, and
    a task per group read every cache line of the input for each of them
    (one task per group: 1.x times the time, 32x32x64 in 8 groups). Chunks as
    there, so the result does not depend on the number of threads.
    """
    n_chunks, k_h, _, n_vectors, lanes = partial_kernel.shape
    n_batch, in_h, in_w, n_in = x.shape
    _, g_h, g_w, g_c = gp.shape
    in_group = n_in // groups
    out_group = g_c // groups
    column_vectors = in_group // run
    rows_per_block = max(1, GRAD_KERNEL_BLOCK_BYTES // (in_w * n_in * x.itemsize))
    n_tasks = n_chunks * k_h
    task = first_task(job, n_tasks)
    while task < n_tasks:
        p = task // k_h
        kh = task - p * k_h
        partial_kernel[p, kh] = 0
        first, last, oh_first, oh_end = _grad_kernel_span(p, kh, n_chunks, n_batch, out_h, in_h, stride_h, pad_top,
                                                          pad_bottom)
        for n in range(first, last):
            for oh in range(oh_first, oh_end, rows_per_block):
                na = min(rows_per_block, oh_end - oh)
                x_row = ((n * in_h + oh * stride_h + kh) * in_w) * n_in
                g_row = ((n * g_h + zero_h + oh) * g_w + zero_w) * g_c
                for g in range(groups):  # every group of the block's rows while they are in the cache
                    oo = ((p * k_h + kh) * groups + g) * n_vectors * lanes
                    for kw in range(n_vectors // column_vectors):
                        _packed_grad_kernel_rows(x, x_row + kw * n_in + g * in_group, stride_h * in_w * n_in,
                                                 stride_w * n_in, gp, g_row + g * out_group, g_w * g_c, g_c, na,
                                                 out_w, out_group, partial_kernel, oo + kw * column_vectors * lanes,
                                                 column_vectors, run)
        if kh == 0:
            for g in range(groups):
                vstore_first(partial_bias, p * g_c + g * out_group,
                             _output_gradient_sum(gp, first, last, out_h, out_w, zero_h, zero_w, g * out_group,
                                                  out_group), out_group)
        task = next_task(job, task)


@helper
def _packed_grad_kernel_rows(x, xo, xa, xb, g, go, ga, gb, na, nb, nf, out, oo, n_vectors, run):
    """``n_vectors`` consecutive vectors of a packed kernel gradient (see :func:`_conv2d_grad_kernel_packed`):
    the largest tiles of ``PACKED_GRAD_KERNEL_ROWS`` that fit what is left (tiles add to ``out``, so they
    cannot overlap)."""
    lanes = lanes_of(g)
    i = 0
    for rows in PACKED_GRAD_KERNEL_ROWS:
        while i + rows <= n_vectors:
            packed_grad_kernel_tile(rows, run, x, xo + i * run, xa, xb, g, go, ga, gb, na, nb, nf, out,
                                    oo + i * lanes)
            i += rows
