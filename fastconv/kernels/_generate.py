"""Generator of ``fastconv/kernels/conv2d_tiles.py``: the unrolled SIMD register tiles of the convolution kernels.

A register tile keeps its accumulators in one local :class:`~fastconv.kernels.simd.Vector`
variable each, so LLVM holds them in registers for the whole reduction; that
means one line of source per accumulator, which this script writes out for
each tile shape. The source goes into a real module (not ``exec``) so that
numba can cache the compiled tiles like any other kernel.

Regenerate after editing this file (a test checks that the committed module
is what this script produces; it runs as a plain script, without importing fastconv, so that it works
while the committed module is out of date)::

    python fastconv/kernels/_generate.py

The families of tiles and helpers:

``_conv_tile_p{P}_v{V}``
    ``P`` output pixels x ``V`` vectors of output channels, reduced over a
    window of taps and input channels; the forward pass and (on the output
    gradient, with the flipped kernel) the input gradient.
``_grad_kernel_tile_r{R}_v{V}``
    ``R`` consecutive (kernel column, input channel) rows x ``V`` vectors of
    output channels of the kernel gradient, reduced over output pixels.
``_dot_tile_p{P}``
    ``P`` output pixels of one channel, each a dot product over taps and
    whole vectors of the reduced channels, one vector accumulator per pixel
    summed across its lanes at the end: the input gradient of a layer with
    very few input channels, where a vector of input channels would be mostly
    empty.
``_packed_tile_p{P}_r{R}``
    ``P`` output pixels x one vector holding ``LANES/R`` output channels of one
    group of a grouped convolution whose groups have few filters, each
    channel's sum split over ``R`` lanes: every step broadcasts a run of ``R``
    consecutive input channels and multiplies it into ``R`` filters' worth of
    weights, so no lane waits on a filter that does not exist; the ``R``
    partial sums of a channel are added at the end. The forward pass and the
    input gradient of ``Conv2D(groups=g)`` with up to ``LANES/2`` filters
    (and input channels) a group.
``_packed_grad_kernel_tile_r{ROWS}_r{R}``
    The kernel gradient of such a convolution: ``ROWS`` vectors, each
    ``R`` consecutive (input channel) rows of the gradient x ``LANES/R``
    filters (lane ``f*R + r``), reduced over output pixels; each step
    broadcasts ``R`` input values and repeats each of ``LANES/R`` output-gradient
    values ``R`` times.
``_depthwise_row_k{K}_s{S}`` and ``_depthwise_row_k{K}_reversed``
    ``DEPTHWISE_PIXELS`` output pixels of a depthwise convolution
    (``kernels/depthwise.py``) over some kernel rows, one vector of channels:
    in each kernel row, each input vector is loaded once for every pixel and
    tap that reads it (a 3-wide row at stride 1: 6 loads and 3 weights for 12
    multiply-adds, where a loop over the taps loads 12). The reversed rows
    are the stride-1 input gradient, whose pixels read the output gradient
    backwards along the kernel.
``_depthwise_grad_row_k{K}_s{S}``
    The kernel gradient of one kernel row from a row of output pixels, its
    ``K`` taps summed in ``K`` registers at once.
"""

import pathlib
import sys

CONV_TILES = {
    32: ((7, 2), (8, 2), (6, 2), (5, 2), (1, 2), (16, 1), (7, 1), (1, 1)),
    16: ((6, 2), (5, 2), (4, 2), (3, 2), (1, 2), (12, 1), (6, 1), (1, 1)),
}
"""``(pixels, vectors)`` of the convolution tiles, by the number of vector registers of the target CPU.

For 2 vectors four tiles (the driver takes the cheapest for a row: ``conv2d_tiled._tiles_cost``, the
pixels computed, weighted up for tiles too small to hide the FMA latency) and a one-pixel tail; for 1
vector (layers of 16 filters, groups of 16, the last vector of an odd number) two tiles and a tail: 16 and
7 pixels cover rows of 16 and 32, and of 7, 14, 21 and 28, exactly (a single tile of 14 computed 42 pixels
of a 32-pixel row and took 1.25-1.35 times as long; rows of 7 went pixel by pixel, on one accumulator
chain, in 2.7 times the time). A tile of ``P`` pixels x ``V`` vectors needs ``P*V`` accumulators, ``V``
weight vectors and a broadcast in registers:

- 32 registers (AVX-512): 7 for rows of 14 or 28, 8 for 16 or 32, 6 and 5 for the short rows of strided
  'valid' layers (5, 6, 10, 12, where the one-pixel tile's two accumulator chains would wait on the FMA
  latency); 14-16 accumulators, 2 vector loads and 7-8 broadcasts per 14-16 FMAs (28 accumulators spill).
- 16 registers (AVX2): at most 6 pixels x 2 vectors (12 accumulators + 2 weights + 1 broadcast = 15);
  7 x 2 spills. One vector: 12 and 6 pixels.
"""

GRAD_KERNEL_TILES = {
    32: ((6, 2), (3, 2), (4, 2), (1, 2), (12, 1), (8, 1), (1, 1)),
    16: ((6, 2), (3, 2), (4, 2), (1, 2), (12, 1), (8, 1), (1, 1)),
}
"""``(rows, vectors)`` of the kernel-gradient tiles, by the number of vector registers: a main tile and a
one-row tail for 2 and 1 vectors, and smaller tiles for what the main tile leaves, with enough independent
FMAs to hide their latency where one row has only 1 or 2: for 2 vectors 3 rows (a 3-wide kernel on one input
channel) and 4 (a group's 32 input channels are 6x4 + 4x2 rows, not 6x5 + 1 + 1), for 1 vector 8 (a group's
16 are 8 + 8, not 12 + 1 + 1 + 1 + 1: a 32x32x64 layer in 4 groups of 16 computed its kernel gradient at 43
GFLOP/s on one thread, the same layer without groups at 98). 12 accumulators fit in 16 registers as well as
in 32."""

PACKED_TILES = {
    32: (16, 14, 12, 8, 1),
    16: (12, 10, 8, 6, 1),
}
"""Pixels of the packed tiles, by the number of vector registers: the driver takes the cheapest for a row, as
for the two-vector tiles (16 for rows of 16 and 32, 14 for 14 and 28, 12 and 8 for short strided rows; one
pixel only for rows shorter than every tile). ``P`` accumulators, a weight vector and a broadcast."""

PACKED_GRAD_KERNEL_ROWS = (8, 4, 2, 1)
"""Vectors of the packed kernel-gradient tiles: the driver takes the largest that fit the rows left (a group
of 8 input channels at a run of 2 has 4 for each kernel column). Few accumulators, but every step also
loads and shuffles the output gradient."""

PACKED_RUNS = (2, 4)
"""Input channels that one step of a packed tile broadcasts (``R``): 2 for groups of up to ``LANES/2``
filters, 4 for up to ``LANES/4``."""

DOT_TILES = (8, 1)
"""Pixels of the dot-product tiles (input gradient of layers with few input channels): main and tail."""

DEPTHWISE_PIXELS = 4
"""Output pixels of a depthwise row helper: 4 accumulators, whose independent chains hide the FMA latency."""

DEPTHWISE_ROWS = ((3, 1),)
"""``(kernel width, stride)`` of the depthwise row helpers (undilated): MobileNet's 3x3 layers at stride 1;
other widths and strides take the depthwise kernels' loop over a table of taps. numba compiles a helper
into the kernels again at every call site, and compile time is what a new machine waits for: with
``(3, 2)`` as well, the depthwise kernels took 24 s to compile instead of 13 (5 s without row helpers),
the MobileNet-style net's first step 19-23 s instead of 16 (14 s), for forward passes and kernel gradients
at stride 2 only 0.8-1.0 times as long as through the table."""

DEPTHWISE_REVERSED_ROWS = (3,)
"""Kernel widths of the reversed (stride-1 input gradient) depthwise row helpers. Not stride 2: helpers for
its two phases of input pixels (each reading only its phase's taps) made the input-gradient kernel run
1.1-1.6 times as long at stride 2 on a 2-core Zen 4 (all but the smallest layers) and 1.3 times at stride 1,
whose code they crowded; the table of taps serves stride 2."""

TARGET = pathlib.Path(__file__).with_name("conv2d_tiles.py")

HEADER = '''\
"""SIMD register tiles of the convolution kernels: GENERATED by ``fastconv/kernels/_generate.py``, do not edit.

Regenerate with ``python fastconv/kernels/_generate.py`` after changing the
generator; ``tests/test_tiles.py`` checks that this file is up to date.

Each tile holds its accumulators in one local vector variable each (see
``fastconv.kernels.simd``), so they stay in registers. All offsets are flat
element offsets into C-contiguous arrays; nothing is checked here.
"""

from fastconv._jit import helper, microkernel
from fastconv.kernels.simd import (
    VECTOR_REGISTERS, lanes_of, sstore, vadd, vbroadcast, vbroadcast_run, vfma, vload, vload_first, vrelu,
    vrepeat_lanes, vselect_positive, vstore, vstore_first, vsum, vsum_runs, vzeros)

CONV_TILES = {conv_tiles!r}
"""``(pixels, vectors)`` of the convolution tiles below, by the number of vector registers."""

GRAD_KERNEL_TILES = {grad_kernel_tiles!r}
"""``(rows, vectors)`` of the kernel-gradient tiles below, by the number of vector registers."""

PACKED_TILES = {packed_tiles!r}
"""Pixels of the packed tiles below, by the number of vector registers."""

PACKED_RUNS = {packed_runs!r}
"""Input channels that one step of a packed tile broadcasts."""

PACKED_GRAD_KERNEL_ROWS = {packed_grad_kernel_rows!r}
"""Vectors of the packed kernel-gradient tiles below."""

DOT_TILES = {dot_tiles!r}
"""Pixels of the dot-product tiles below."""

DEPTHWISE_PIXELS = {depthwise_pixels!r}
"""Output pixels of the depthwise row helpers below."""

DEPTHWISE_ROWS = {depthwise_rows!r}
"""``(kernel width, stride)`` of the depthwise row helpers (forward and kernel gradient) below."""

DEPTHWISE_REVERSED_ROWS = {depthwise_reversed_rows!r}
"""Kernel widths of the reversed (stride-1 input gradient) depthwise row helpers below."""

'''

CONV_DOC = '''\
    """``count`` output pixels of a row, {pixels} at a time, x {vectors} vector(s) of output channels.

    For pixel ``p < count`` and lane ``f`` of vector ``v`` (``F = p*op + v*LANES + f``)::

        out[oo + F] = act(bias[bo + v*LANES + f]
                          + sum_{{j<nj, l<nl, k<nk}} x[xo + j*xj + l*xl + p*xp + k]
                                                   * w[wo + j*wj + l*wl + k*wk + v*LANES + f])

    summed in the order j, l, k. ``act`` is ReLU when ``relu`` is true. The
    pixels go in register tiles of {pixels}, the last tile moved back to end at
    ``count`` (recomputing, and rewriting identically, a few pixels), so
    ``count`` must be at least {pixels}. Only the first ``nf`` channels are
    stored (a masked store for the last vector), so rows whose length is not a
    multiple of the vector width end inside a tile; ``w`` and ``bias`` must be
    readable for all of it.
    """'''

GRAD_KERNEL_DOC = '''\
    """{rows} rows x {vectors} vector(s) of the kernel gradient, added to ``out``.

    For row ``r`` and lane ``f`` of vector ``v``::

        out[oo + r*ostride + v*LANES + f] += sum_{{a<na, b<nb}} x[xo + a*xa + b*xb + r]
                                                               * g[go + a*ga + b*gb + v*LANES + f]

    summed in the order a, b, after the value already in ``out``.
    """'''


def _conv_tile(pixels, vectors):
    acc = [[f"a{p}_{v}" for v in range(vectors)] for p in range(pixels)]
    lines = [
        "@microkernel",
        f"def _conv_tile_p{pixels}_v{vectors}(x, xo, xj, xl, xp, nj, nl, nk, w, wo, wj, wl, wk,",
        "                     out, oo, op, count, nf, bias, bo, relu):",
        CONV_DOC.format(pixels=pixels, vectors=vectors),
        "    lanes = lanes_of(w)",
    ]
    for v in range(vectors):
        lines.append(f"    b{v} = vload(bias, bo + {v} * lanes)")
    lines += [
        "    i = 0",
        "    while i < count:",
        f"        start = min(i, count - {pixels})",
        "        xs = xo + start * xp",
        "        os = oo + start * op",
    ]
    for p in range(pixels):
        lines.append("        " + "; ".join(f"{acc[p][v]} = b{v}" for v in range(vectors)))
    lines += [
        "        for j in range(nj):",
        "            for l in range(nl):",
        "                xr = xs + j * xj + l * xl",
        "                wr = wo + j * wj + l * wl",
        "                for k in range(nk):",
    ]
    for v in range(vectors):
        lines.append(f"                    w{v} = vload(w, wr + {v} * lanes)")
    for p in range(pixels):
        offset = "xr" if p == 0 else f"xr + {p} * xp"
        lines.append(f"                    s = vbroadcast(x, {offset})")
        for v in range(vectors):
            lines.append(f"                    {acc[p][v]} = vfma(s, w{v}, {acc[p][v]})")
    lines += [
        "                    xr += 1",
        "                    wr += wk",
        "        if relu:",
    ]
    for p in range(pixels):
        lines.append("            " + "; ".join(f"{acc[p][v]} = vrelu({acc[p][v]})" for v in range(vectors)))
    for p in range(pixels):
        for v in range(vectors):
            offset = "os" + (f" + {p} * op" if p else "") + (f" + {v} * lanes" if v else "")
            count = "nf" + (f" - {v} * lanes" if v else "")
            lines.append(f"        vstore_first(out, {offset}, {acc[p][v]}, {count})")
    lines.append(f"        i += {pixels}")
    return "\n".join(lines)


PACKED_DOC = '''\
    """``count`` output pixels of a row, {pixels} at a time, of ``nf <= LANES/{run}`` output channels whose
    sums are each split over {run} lanes.

    For pixel ``p < count`` and channel ``f < nf``::

        out[oo + p*op + f] = act(bias[bo + f]
                                 + sum_{{j<nj, l<nl, k<nk, r<{run}}} x[xo + j*xj + l*xl + p*xp + k*{run} + r]
                                                                 * w[wo + j*wj + l*wl + k*wk + f*{run} + r])

    summed in the order j, l, k over each ``r`` apart, then the {run} sums added
    pairwise. ``act`` is ReLU when ``relu`` is true. The pixels go in register
    tiles of {pixels}, the last tile moved back to end at ``count`` (so
    ``count`` must be at least {pixels}). ``w`` and ``bias`` must be readable
    for a whole vector.
    """'''


def _packed_tile(pixels, run):
    acc = [f"a{p}" for p in range(pixels)]
    lines = [
        "@microkernel",
        f"def _packed_tile_p{pixels}_r{run}(x, xo, xj, xl, xp, nj, nl, nk, w, wo, wj, wl, wk,",
        "                     out, oo, op, count, nf, bias, bo, relu):",
        PACKED_DOC.format(pixels=pixels, run=run),
        "    b = vload(bias, bo)",
        "    i = 0",
        "    while i < count:",
        f"        start = min(i, count - {pixels})",
        "        xs = xo + start * xp",
        "        os = oo + start * op",
        "        " + " = ".join(acc) + " = vzeros(w)",
        "        for j in range(nj):",
        "            for l in range(nl):",
        "                xr = xs + j * xj + l * xl",
        "                wr = wo + j * wj + l * wl",
        "                for k in range(nk):",
        "                    w0 = vload(w, wr)",
    ]
    for p in range(pixels):
        offset = "xr" if p == 0 else f"xr + {p} * xp"
        lines.append(f"                    {acc[p]} = vfma(vbroadcast_run(x, {offset}, {run}), w0, {acc[p]})")
    lines += [
        f"                    xr += {run}",
        "                    wr += wk",
    ]
    for p in range(pixels):
        lines.append(f"        {acc[p]} = vadd(vsum_runs({acc[p]}, {run}), b)")
    lines.append("        if relu:")
    for p in range(pixels):
        lines.append(f"            {acc[p]} = vrelu({acc[p]})")
    for p in range(pixels):
        offset = "os" + (f" + {p} * op" if p else "")
        lines.append(f"        vstore_first(out, {offset}, {acc[p]}, nf)")
    lines.append(f"        i += {pixels}")
    return "\n".join(lines)


def _packed_dispatch(registers):
    """``_packed_tile_{registers}``: the packed tile of ``pixels`` and ``run`` of the set for ``registers``."""
    arguments = "x, xo, xj, xl, xp, nj, nl, nk, w, wo, wj, wl, wk, out, oo, op, count, nf, bias, bo, relu"
    cases = [(f"pixels == {pixels} and run == {run}", f"_packed_tile_p{pixels}_r{run}({arguments})")
             for run in PACKED_RUNS for pixels in PACKED_TILES[registers]]
    return _dispatcher(f"_packed_tile_{registers}", f"pixels, run, {arguments}",
                       f"The packed tile of ``pixels`` and ``run`` for {registers} vector registers.", cases)


PACKED_GRAD_KERNEL_DOC = '''\
    """{rows} vector(s) of a grouped kernel gradient whose lanes are ``nf`` filters x {run} rows, added to ``out``.

    For vector ``i``, filter ``f < nf <= LANES/{run}`` and row ``r < {run}``::

        out[oo + i*LANES + f*{run} + r] += sum_{{a<na, b<nb}} x[xo + a*xa + b*xb + i*{run} + r]
                                                          * g[go + a*ga + b*gb + f]

    summed in the order a, b, after the value already in ``out`` (lanes ``f >= nf`` add zeros).
    """'''


def _packed_grad_kernel_tile(rows, run):
    acc = [f"a{i}" for i in range(rows)]
    lines = [
        "@microkernel",
        f"def _packed_grad_kernel_tile_r{rows}_r{run}(x, xo, xa, xb, g, go, ga, gb, na, nb, nf, out, oo):",
        PACKED_GRAD_KERNEL_DOC.format(rows=rows, run=run),
    ]
    if rows > 1:
        lines.append("    lanes = lanes_of(g)")
    for i in range(rows):
        lines.append(f"    {acc[i]} = vload(out, oo" + (f" + {i} * lanes)" if i else ")"))
    lines += [
        "    for a in range(na):",
        "        xr = xo + a * xa",
        "        gr = go + a * ga",
        "        for b in range(nb):",
        f"            g0 = vrepeat_lanes(vload_first(g, gr, nf), {run})",
    ]
    for i in range(rows):
        offset = "xr" if i == 0 else f"xr + {i * run}"
        lines.append(f"            {acc[i]} = vfma(vbroadcast_run(x, {offset}, {run}), g0, {acc[i]})")
    lines += [
        "            xr += xb",
        "            gr += gb",
    ]
    for i in range(rows):
        lines.append("    vstore(out, oo" + (f" + {i} * lanes" if i else "") + f", {acc[i]})")
    return "\n".join(lines)


def _packed_grad_kernel_dispatch():
    """``packed_grad_kernel_tile``: the packed kernel-gradient tile of ``rows`` and ``run``."""
    arguments = "x, xo, xa, xb, g, go, ga, gb, na, nb, nf, out, oo"
    cases = [(f"rows == {rows} and run == {run}", f"_packed_grad_kernel_tile_r{rows}_r{run}({arguments})")
             for run in PACKED_RUNS for rows in PACKED_GRAD_KERNEL_ROWS]
    return _dispatcher("packed_grad_kernel_tile", f"rows, run, {arguments}",
                       "The packed kernel-gradient tile of ``rows`` vectors and ``run``.", cases)


def _grad_kernel_tile(rows, vectors):
    acc = [[f"a{r}_{v}" for v in range(vectors)] for r in range(rows)]
    lines = [
        "@microkernel",
        f"def _grad_kernel_tile_r{rows}_v{vectors}(x, xo, xa, xb, g, go, ga, gb, na, nb, out, oo, ostride):",
        GRAD_KERNEL_DOC.format(rows=rows, vectors=vectors),
        "    lanes = lanes_of(g)",
    ]
    for r in range(rows):
        row = "oo" + (f" + {r} * ostride" if r else "")
        lines.append("    " + "; ".join(
            f"{acc[r][v]} = vload(out, {row}" + (f" + {v} * lanes)" if v else ")") for v in range(vectors)))
    lines += [
        "    for a in range(na):",
        "        xr = xo + a * xa",
        "        gr = go + a * ga",
        "        for b in range(nb):",
    ]
    for v in range(vectors):
        lines.append(f"            g{v} = vload(g, gr + {v} * lanes)")
    for r in range(rows):
        offset = "xr" if r == 0 else f"xr + {r}"
        lines.append(f"            s = vbroadcast(x, {offset})")
        for v in range(vectors):
            lines.append(f"            {acc[r][v]} = vfma(s, g{v}, {acc[r][v]})")
    lines += [
        "            xr += xb",
        "            gr += gb",
    ]
    for r in range(rows):
        row = "oo" + (f" + {r} * ostride" if r else "")
        for v in range(vectors):
            lines.append(f"    vstore(out, {row}" + (f" + {v} * lanes" if v else "") + f", {acc[r][v]})")
    return "\n".join(lines)


DOT_DOC = '''\
    """{pixels} output pixel(s) of one channel, each a dot product: ``out = sum x * w``.

    For pixel ``p``::

        out[oo + p*op] = sum_{{j<nj, l<nl, v<nv, f<LANES}} x[xo + j*xj + l*xl + p*xp + v*LANES + f]
                                                           * w[wo + j*wj + l*wl + v*LANES + f]

    each pixel's products gathered lane by lane in the order j, l, v, the lanes
    summed at the end (a fixed tree).
    """'''


def _dot_tile(pixels):
    acc = [f"a{p}" for p in range(pixels)]
    lines = [
        "@microkernel",
        f"def _dot_tile_p{pixels}(x, xo, xj, xl, xp, nj, nl, nv, w, wo, wj, wl, out, oo, op):",
        DOT_DOC.format(pixels=pixels),
        "    lanes = lanes_of(w)",
    ]
    lines += [f"    {a} = vzeros(w)" for a in acc]
    lines += [
        "    for j in range(nj):",
        "        for l in range(nl):",
        "            xr = xo + j * xj + l * xl",
        "            wr = wo + j * wj + l * wl",
        "            for v in range(nv):",
        "                wv = vload(w, wr)",
    ]
    for p in range(pixels):
        offset = "xr" if p == 0 else f"xr + {p} * xp"
        lines.append(f"                {acc[p]} = vfma(vload(x, {offset}), wv, {acc[p]})")
    lines += [
        "                xr += lanes",
        "                wr += lanes",
    ]
    for p in range(pixels):
        lines.append("    sstore(out, oo" + (f" + {p} * op" if p else "") + f", vsum({acc[p]}))")
    return "\n".join(lines)


DEPTHWISE_DOC = '''\
    """{pixels} depthwise output pixels over ``rows`` kernel rows, {description}, one vector of
    channels (its first ``count`` lanes; a plain load where ``count`` is the vector width). For pixel ``p``::

        a_p += sum_{{r<rows, k<{width}}} m(x[xo + r*xr + ({slot})*xp]) * w[wo + r*wr + k*wk]

    summed in the order r, k, where ``m`` zeroes ``x`` where ``mask`` (at the same offset) is not positive
    with ``relu``, and is the identity without. In a kernel row each input vector is loaded once for all
    its uses. With ``clipped``, the input vector of column ``column + ({slot})`` outside ``[0, columns)``
    is zero (and not read): the zero padding, which adds exact zeros, so the pixels at the edges come out
    as they would with their windows clipped to the image.
    """'''


def _load_lines(name, array, offset, column, indent, relu=False, clipped=True):
    """Source lines setting ``name`` to the vector of ``array`` at ``offset`` (its first ``count`` lanes):
    with ``relu``, zero where ``mask`` at the same offset is not positive; with ``clipped`` (the helper's
    argument), zero where ``column`` is outside ``[0, columns)``, and then nothing is read. Written out at
    each use rather than called: numba inlines a helper by copying and retyping its code at every call,
    which made these kernels take minutes to compile."""
    pad = " " * indent
    load = [f"{name} = vload_first({array}, {offset}, count)"]
    if relu:
        load += ["if relu:", f"    {name} = vselect_positive({name}, vload_first(mask, {offset}, count))"]
    if not clipped:
        return [pad + line for line in load]
    return ([pad + f"if clipped and not 0 <= {column} < columns:", pad + f"    {name} = vzeros({array})",
             pad + "else:"] + [pad + "    " + line for line in load])


def _depthwise_row(width, stride, reversed_rows=False):
    """A depthwise row helper: forward pixel ``p`` reads slot ``p*stride + k`` for tap ``k``; reversed (the
    stride-1 input gradient), slot ``p - k``."""
    accumulators = [f"a{p}" for p in range(DEPTHWISE_PIXELS)]
    if reversed_rows:
        name, description, slot_text = f"_depthwise_row_k{width}_reversed", f"a {width}-wide kernel reversed", "p - k"

        def slot(p, k):
            return p - k
    else:
        name, description = f"_depthwise_row_k{width}_s{stride}", f"a {width}-wide kernel at stride {stride}"
        slot_text = "p*{} + k".format(stride) if stride > 1 else "p + k"

        def slot(p, k):
            return p * stride + k
    slots = sorted({slot(p, k) for p in range(DEPTHWISE_PIXELS) for k in range(width)})

    def x_name(s):
        return f"x{s}" if s >= 0 else f"xm{-s}"

    lines = [
        "@helper",
        f"def {name}(x, mask, xo, xr, xp, w, wo, wr, wk, rows, count, relu, clipped, column, columns,",
        f"{' ' * (len(name) + 5)}{', '.join(accumulators)}):",
        DEPTHWISE_DOC.format(pixels=DEPTHWISE_PIXELS, description=description, width=width, slot=slot_text),
        "    for r in range(rows):",
        "        xs = xo + r * xr",
        "        ws = wo + r * wr",
    ]
    for k in range(width):
        lines.append(f"        w{k} = vload_first(w, ws" + (f" + {k} * wk" if k else "") + ", count)")
    for s in slots:
        offset = "xs" if s == 0 else f"xs + {s} * xp" if s > 0 else f"xs - {-s} * xp"
        column = "column" if s == 0 else f"column + {s}" if s > 0 else f"column - {-s}"
        lines += _load_lines(x_name(s), "x", offset, column, 8, relu=reversed_rows)
    for k in range(width):
        for p, a in enumerate(accumulators):
            lines.append(f"        {a} = vfma({x_name(slot(p, k))}, w{k}, {a})")
    lines.append(f"    return {', '.join(accumulators)}")
    return "\n".join(lines)


DEPTHWISE_GRAD_DOC = '''\
    """The kernel gradient of one row of a {width}-wide depthwise kernel at stride {stride} from ``pixels``
    (at least 1) output pixels, one vector of channels (its first ``count`` lanes), added to ``out``. For
    tap ``k``::

        out[oo + k*ok] += sum_{{i<pixels}} x[xo + ({slot})*xp] * m(g[go + i*gp])

    the sum over ``i`` in order, before it is added, where ``m`` zeroes ``g`` where ``mask`` (at the same
    offset) is not positive with ``relu``, and is the identity without. With ``clipped``, the input vector
    of column ``column + {slot}`` outside ``[0, columns)`` is zero (and not read): the zero padding, whose
    products add nothing.
    """'''


def _depthwise_grad_row(width, stride):
    """A kernel-gradient row helper: tap ``k`` of pixel ``i`` reads input slot ``i*stride + k``; the
    window's ``width`` input vectors slide by ``stride`` from one pixel to the next."""
    window = [f"v{k}" for k in range(width)]
    accumulators = [f"a{k}" for k in range(width)]
    lines = [
        "@helper",
        f"def _depthwise_grad_row_k{width}_s{stride}(x, xo, xp, g, mask, go, gp, pixels, count, relu, clipped, column,",
        f"{' ' * (len(f'_depthwise_grad_row_k{width}_s{stride}') + 5)}columns, out, oo, ok):",
        DEPTHWISE_GRAD_DOC.format(width=width, stride=stride, slot=f"i*{stride} + k" if stride > 1 else "i + k"),
        "    " + ", ".join(accumulators) + " = " + ", ".join("vzeros(g)" for _ in accumulators),
    ]
    for k, v in enumerate(window):
        lines += _load_lines(v, "x", "xo" + (f" + {k} * xp" if k else ""), "column" + (f" + {k}" if k else ""), 4)
    lines += [
        "    for i in range(pixels):",
    ]
    lines += _load_lines("gv", "g", "go + i * gp", None, 8, relu=True, clipped=False)
    for a, v in zip(accumulators, window):
        lines.append(f"        {a} = vfma({v}, gv, {a})")
    lines += [
        "        if i + 1 < pixels:",
        f"            xs = xo + (i + 1) * {stride} * xp",
    ]
    for k, v in enumerate(window):
        if k + stride < width:
            lines.append(f"            {v} = {window[k + stride]}")
        else:
            lines += _load_lines(v, "x", "xs" + (f" + {k} * xp" if k else ""),
                                 f"column + (i + 1) * {stride}" + (f" + {k}" if k else ""), 12)
    for k, a in enumerate(accumulators):
        offset = "oo" + (f" + {k} * ok" if k else "")
        lines.append(f"    vstore_first(out, {offset}, vadd(vload_first(out, {offset}, count), {a}), count)")
    return "\n".join(lines)


def _dispatcher(name, parameters, doc, cases, fallback=None):
    """A helper ``name(parameters)`` that runs the call of the first of ``cases`` (``(condition, call)``)
    whose condition holds, returning its value, or else returns ``fallback``."""
    lines = ["@helper", f"def {name}({parameters}):", f'    """{doc}"""']
    for condition, call in cases:
        lines += [f"    if {condition}:", f"        return {call}"]
    if fallback is not None:
        lines.append(f"    return {fallback}")
    return "\n".join(lines)


def _depthwise_dispatch():
    """``depthwise_row``, ``depthwise_row_reversed`` and ``depthwise_grad_row``: the helper for a kernel
    width (and stride), and ``has_depthwise_row`` / ``has_depthwise_row_reversed``, which say whether there
    is one."""
    arguments = ("x, mask, xo, xr, xp, w, wo, wr, wk, rows, count, relu, clipped, column, columns, "
                 + ", ".join(f"a{p}" for p in range(DEPTHWISE_PIXELS)))
    accumulators = ", ".join(f"a{p}" for p in range(DEPTHWISE_PIXELS))
    grad_arguments = "x, xo, xp, g, mask, go, gp, pixels, count, relu, clipped, column, columns, out, oo, ok"
    forward = [(f"width == {k} and stride == {s}", f"_depthwise_row_k{k}_s{s}({arguments})")
               for k, s in DEPTHWISE_ROWS]
    reversed_rows = [(f"width == {k}", f"_depthwise_row_k{k}_reversed({arguments})") for k in DEPTHWISE_REVERSED_ROWS]
    grad = [(f"width == {k} and stride == {s}", f"_depthwise_grad_row_k{k}_s{s}({grad_arguments})")
            for k, s in DEPTHWISE_ROWS]
    return "\n\n\n".join([
        _dispatcher("has_depthwise_row", "width, stride",
                    "Whether ``depthwise_row`` has a helper for this kernel width and stride.",
                    [(condition, "True") for condition, _ in forward], "False"),
        _dispatcher("depthwise_row", f"width, stride, {arguments}",
                    "The depthwise row helper for ``width`` and ``stride`` (see ``has_depthwise_row``).",
                    forward, accumulators),
        _dispatcher("has_depthwise_row_reversed", "width",
                    "Whether ``depthwise_row_reversed`` has a helper for this kernel width.",
                    [(condition, "True") for condition, _ in reversed_rows], "False"),
        _dispatcher("depthwise_row_reversed", f"width, {arguments}",
                    "The reversed depthwise row helper for ``width`` (see ``has_depthwise_row_reversed``).",
                    reversed_rows, accumulators),
        _dispatcher("depthwise_grad_row", f"width, stride, {grad_arguments}",
                    "The kernel-gradient row helper for ``width`` and ``stride`` (see ``has_depthwise_row``).",
                    grad),
    ])


def _aliases(family, name, size, tiles):
    """Names the drivers use: ``{family}_main_v{V}`` (the first tile of ``V`` vectors), ``{family}_alt_v{V}``,
    ``{family}_short_v{V}`` and ``{family}_short_alt_v{V}`` (the next ones, where there are),
    ``{family}_tail_v{V}`` (size 1), and ``{SIZE}_V{V}[_ALT|_SHORT|_SHORT_ALT]``."""
    lines = []
    for vectors in (2, 1):
        sizes = [s for s, v in tiles if v == vectors]
        assert 1 in sizes and 2 <= len(sizes) <= 5, \
            f"{family}: need main tile(s) and a size-1 tail for {vectors} vectors"
        for role, main in zip(("main", "alt", "short", "short_alt"), [s for s in sizes if s != 1]):
            suffix = "" if role == "main" else f"_{role.upper()}"
            lines += [
                f"{size.upper()}_V{vectors}{suffix} = {main}",
                f"{family}_{role}_v{vectors} = _{family}_tile_{name}{main}_v{vectors}",
            ]
        lines.append(f"{family}_tail_v{vectors} = _{family}_tile_{name}1_v{vectors}")
    return lines


def _roles(registers):
    """The role names bound to the tile set for ``registers`` vector registers (indented for an if block)."""
    packed = PACKED_TILES[registers]
    assert packed[-1] == 1, "the packed tiles need a one-pixel tail"
    lines = (_aliases("conv", "p", "pixels", CONV_TILES[registers])
             + _aliases("grad_kernel", "r", "rows", GRAD_KERNEL_TILES[registers])
             + [f"PACKED_PIXELS = {packed[:-1]!r}", f"packed_tile = _packed_tile_{registers}"])
    return "\n".join("    " + line for line in lines)


def _unique(tile_sets):
    """Every shape of the tile sets, once, in order of first appearance."""
    return list(dict.fromkeys(shape for tiles in tile_sets.values() for shape in tiles))


def source():
    """The text of ``conv2d_tiles.py``."""
    parts = [HEADER.format(conv_tiles=CONV_TILES, grad_kernel_tiles=GRAD_KERNEL_TILES, packed_tiles=PACKED_TILES,
                           packed_runs=PACKED_RUNS, packed_grad_kernel_rows=PACKED_GRAD_KERNEL_ROWS,
                           dot_tiles=DOT_TILES,
                           depthwise_pixels=DEPTHWISE_PIXELS, depthwise_rows=DEPTHWISE_ROWS,
                           depthwise_reversed_rows=DEPTHWISE_REVERSED_ROWS)]
    parts += [_conv_tile(*shape) for shape in _unique(CONV_TILES)]
    parts += [_grad_kernel_tile(*shape) for shape in _unique(GRAD_KERNEL_TILES)]
    parts += [_packed_tile(pixels, run) for run in PACKED_RUNS
              for pixels in dict.fromkeys(p for tiles in PACKED_TILES.values() for p in tiles)]
    parts += [_packed_dispatch(registers) for registers in sorted(PACKED_TILES, reverse=True)]
    parts += [_packed_grad_kernel_tile(rows, run) for run in PACKED_RUNS for rows in PACKED_GRAD_KERNEL_ROWS]
    parts.append(_packed_grad_kernel_dispatch())
    parts += [_dot_tile(pixels) for pixels in DOT_TILES]
    parts += [_depthwise_row(*shape) for shape in DEPTHWISE_ROWS]
    parts += [_depthwise_row(width, 1, reversed_rows=True) for width in DEPTHWISE_REVERSED_ROWS]
    parts += [_depthwise_grad_row(*shape) for shape in DEPTHWISE_ROWS]
    parts.append(_depthwise_dispatch())
    registers = sorted(CONV_TILES, reverse=True)
    assert registers == sorted(GRAD_KERNEL_TILES, reverse=True) == sorted(PACKED_TILES, reverse=True)
    assert len(registers) == 2
    parts.append("# The tiles by role, for the drivers in conv2d_tiled.py: ``PIXELS_V2`` is the pixels of\n"
                 "# ``conv_main_v2``, ``ROWS_V1`` the rows of ``grad_kernel_main_v1``, and so on. The set\n"
                 "# follows the target CPU's vector registers (numba compiles only the tiles a kernel calls).\n\n"
                 + f"if VECTOR_REGISTERS >= {registers[0]}:\n" + _roles(registers[0]) + "\n"
                 + "else:\n" + _roles(registers[1]) + "\n\n"
                 + f"DOT_PIXELS = {DOT_TILES[0]}\n"
                 + '"""Pixels of ``dot_main``."""\n'
                 + f"dot_main = _dot_tile_p{DOT_TILES[0]}\n"
                 + f"dot_tail = _dot_tile_p{DOT_TILES[1]}")
    return "\n\n".join(parts) + "\n"


def main():
    TARGET.write_text(source())
    print(f"wrote {TARGET}", file=sys.stderr)


if __name__ == "__main__":
    main()
