"""The SIMD-tiled float32 convolution kernels: every tile shape and tail case against the reference.

``fastconv.ops`` sends undilated float32 convolutions to ``kernels/conv2d_tiled.py``.
The shapes below are written in terms of the host's vector width and of the
generated tile sizes, so that on any CPU they reach each tile: the main tiles,
the one-pixel / one-row tails, a row's last tile moved back over the one
before it, one and two channel vectors, channel counts that end inside a
vector (masked stores), and both ways of computing the input gradient (tiles
over input channels, or dot products when there are only a few).
"""

import itertools

import numpy as np
import pytest

import reference
from fastconv import ops, parallel
from fastconv.kernels import _generate, conv2d_tiled, conv2d_tiles, simd

LANES = simd.lanes(np.float32)
P2, P2_ALT = conv2d_tiles.PIXELS_V2, conv2d_tiles.PIXELS_V2_ALT
P1, P1_ALT = conv2d_tiles.PIXELS_V1, conv2d_tiles.PIXELS_V1_ALT
P2_SHORT, P2_SHORT_ALT = conv2d_tiles.PIXELS_V2_SHORT, conv2d_tiles.PIXELS_V2_SHORT_ALT
R2, R1 = conv2d_tiles.ROWS_V2, conv2d_tiles.ROWS_V1

FILTERS = {
    "part of one vector": LANES // 4 + 1,         # V=1 tiles, masked store
    "one vector": LANES,                          # V=1 tiles, full store
    "two vectors, second partial": LANES + 3,     # V=2 tiles, masked second vector
    "two and a half vectors": 2 * LANES + 5,      # V=2 then V=1 tiles
    "several channel blocks": 5 * LANES - 3,      # two weight blocks of V=2 tiles, then V=1, masked
}

WIDTHS = {
    "shorter than a tile": P2_SHORT_ALT - 1,      # one-pixel tails only
    "one short tile": P2_SHORT,                   # the short two-vector tiles (small strided outputs)
    "the other short tile": P2_SHORT_ALT,
    "short tiles overlapping": 2 * P2_SHORT_ALT - 1,  # two short tiles, the second moved back
    "two short tiles": 2 * P2_SHORT_ALT,          # fewer pixels computed than with the main tiles
    "one main tile": P2,
    "main tiles overlapping": P2 + 3,             # the last tile moved back
    "alternative tiles": 2 * P2_ALT,              # the other two-vector tile covers it exactly
    "long one-vector rows": 2 * P1 - 1,           # the long one-vector tile, the last moved back
    "one short one-vector tile": P1_ALT,
    "short one-vector tiles overlapping": 2 * P1_ALT + 1,
}

CHANNELS = {
    "one": 1,                                     # input gradient by dot products; kernel-gradient small tiles
    "a quarter vector": LANES // 4,               # the most channels that still take dot products
    "odd": LANES // 4 + 1,                        # input-gradient tiles, one masked vector; KW*C not a multiple of 6
    "a vector and a bit": LANES + 3,              # input-gradient tiles, two vectors, the second masked
    "several channel blocks": 4 * LANES + 3,      # input-gradient tiles over two weight blocks, then one vector
}


def test_generated_tiles_are_up_to_date():
    """``conv2d_tiles.py`` is what ``python fastconv/kernels/_generate.py`` writes."""
    assert _generate.TARGET.read_text() == _generate.source()


def test_float32_goes_to_the_tiles_and_the_rest_does_not():
    x, w = np.ones((1, 5, 5, 2), np.float32), np.ones((3, 3, 2, 4), np.float32)
    assert ops._ConvSpec(x, w, None, None, 1, "same", None, 1, None).tiled
    assert not ops._ConvSpec(x, w, None, None, 1, "same", None, 2, None).tiled
    assert not ops._ConvSpec(x.astype(np.float64), w, None, None, 1, "same", None, 1, None).tiled


def _check(rng, x_shape, kernel_size, filters, strides, padding, activation="relu"):
    x = reference.random(rng, x_shape, np.float32)
    w = reference.random(rng, (*kernel_size, x_shape[3], filters), np.float32)
    bias = reference.random(rng, (filters,), np.float32)
    out = ops.conv_bias_activation(x, w, bias, strides, padding, activation=activation)
    expected = reference.conv(x, w, strides, padding, 1, bias, activation)
    if activation == "relu":
        expected = np.maximum(expected, 0)
    reference.assert_close(out, expected, np.float32)
    g = reference.random(rng, out.shape, np.float32)
    grad_x, grad_w, grad_b = ops.conv_bias_activation_grad(x, w, out, g, strides, padding, activation=activation)
    want_x, want_w, want_b = reference.conv_grad(x, w, g, strides, padding, 1, bias, activation)
    reference.assert_close(grad_x, want_x, np.float32)
    reference.assert_close(grad_w, want_w, np.float32)
    reference.assert_close(grad_b, want_b, np.float32)


@pytest.mark.parametrize("filters", FILTERS.values(), ids=list(FILTERS))
@pytest.mark.parametrize("width", WIDTHS.values(), ids=list(WIDTHS))
def test_tile_shapes_and_tails(rng, width, filters):
    _check(rng, (2, 4, width, 3), (3, 3), filters, 1, "same")


def test_one_vector_rows_take_the_tiles_that_compute_the_fewest_pixels():
    """A row's last lone vector of channels (16 filters, a group of 16, an odd number of vectors) takes
    the one-vector tile that computes the fewest pixels, and goes pixel by pixel only if no tile fits."""
    assert conv2d_tiled._one_vector_tile(P1_ALT - 1) == 1
    for count in (P1_ALT, 3 * P1_ALT):
        assert conv2d_tiled._one_vector_tile(count) == P1_ALT
    for count in (P1, 2 * P1):
        assert conv2d_tiled._one_vector_tile(count) == P1
    assert conv2d_tiled._one_vector_tile(P1 + 1) == P1_ALT  # 3 short tiles, not 2 long ones


def _cheapest_cover(n_rows, sizes, vectors):
    """The lowest cost of covering ``n_rows`` rows with tiles of ``sizes`` rows and one-row tiles, each tile
    costed by its accumulators but at least ``TILE_MIN_FMAS``: every combination tried."""
    def cost(rows):
        return max(rows * vectors, conv2d_tiled.TILE_MIN_FMAS)
    best = n_rows * cost(1)
    for counts in itertools.product(*(range(n_rows // size + 1) for size in sizes)):
        covered = sum(c * size for c, size in zip(counts, sizes))
        if covered <= n_rows:
            best = min(best, sum(c * cost(size) for c, size in zip(counts, sizes)) + (n_rows - covered) * cost(1))
    return best


def test_kernel_gradient_rows_take_the_cheapest_tiles():
    """A kernel row's gradient rows are covered exactly by the kernel-gradient tiles at the lowest cost that
    any combination of them has: the one-row tiles (one FMA chain per vector) only where nothing else fits,
    e.g. a group's 16 input channels in two 8-row tiles of one vector, not 12 + four single rows."""
    two = (conv2d_tiles.ROWS_V2, conv2d_tiles.ROWS_V2_ALT, conv2d_tiles.ROWS_V2_SHORT)
    one = (conv2d_tiles.ROWS_V1, conv2d_tiles.ROWS_V1_ALT)

    def cost(counts, sizes, n_rows, vectors):
        covered = sum(c * size for c, size in zip(counts, sizes))
        assert 0 <= covered <= n_rows and min(counts) >= 0
        return (sum(c * max(size * vectors, conv2d_tiled.TILE_MIN_FMAS) for c, size in zip(counts, sizes))
                + (n_rows - covered) * conv2d_tiled.TILE_MIN_FMAS)

    for n_rows in range(60):
        plan = ops._grad_kernel_plan(n_rows)
        assert cost(plan[:3], two, n_rows, 2) == _cheapest_cover(n_rows, two, 2), n_rows
        assert cost(plan[3:], one, n_rows, 1) == _cheapest_cover(n_rows, one, 1), n_rows
    assert ops._grad_kernel_plan(16)[3:] == (0, 2)
    assert ops._grad_kernel_plan(32)[:3] == (4, 0, 2)


@pytest.mark.parametrize("filters_per_group", [LANES, 2 * LANES], ids=["one vector", "two vectors"])
@pytest.mark.parametrize("per_group", [2, 3, 4, 5, 7, 8, 10, 13, 16, 17, 20, 32])
def test_kernel_gradient_of_every_row_count(rng, per_group, filters_per_group):
    """Grouped layers' kernel gradients go a kernel column at a time, ``per_group`` rows: every mix of tiles
    against the reference (the other gradients with them). (One channel a group is a depthwise layer.)"""
    x = reference.random(rng, (2, 5, 6, 2 * per_group), np.float32)
    w = reference.random(rng, (3, 3, per_group, 2 * filters_per_group), np.float32)
    out = ops.conv_bias_activation(x, w, None, 1, "same", groups=2)
    g = reference.random(rng, out.shape, np.float32)
    grads = ops.conv_bias_activation_grad(x, w, None, g, 1, "same", groups=2)
    wanted = reference.grouped_grad(x, w, g, 2, 1, "same", 1)
    for actual, expected in zip(grads, wanted):
        reference.assert_close(actual, expected, np.float32)


@pytest.mark.parametrize("channels, groups", [(3, 1), (5, 1), (32, 2), (26, 2), (40, 4)], ids=str)
def test_kernel_gradient_short_tiles_give_the_same_bits(rng, monkeypatch, channels, groups):
    """Every row sums the same pixels in the same order whichever tile computes it: the kernel gradient
    with the short tiles (the plan) and without (None) are bitwise equal, one and two vectors of filters."""
    x = reference.random(rng, (3, 7, 9, channels), np.float32)
    w = reference.random(rng, (3, 3, channels // groups, 3 * LANES * groups), np.float32)
    g = reference.random(rng, ops.conv_bias_activation(x, w, None, 1, "same", groups=groups).shape, np.float32)
    results = []
    for choose in (lambda kw, c, f, groups, dtype: ops._grad_kernel_plan(kw * c if groups == 1 else c // groups),
                   lambda *args: None):
        monkeypatch.setattr(ops, "_grad_kernel_tile_plan", choose)
        results.append(ops.conv_bias_activation_grad(x, w, None, g, 1, "same", groups=groups,
                                                     need_grad_inputs=False)[1])
    assert results[0].tobytes() == results[1].tobytes()
    reference.assert_close(results[0], reference.grouped_grad(x, w, g, groups, 1, "same", 1)[1], np.float32)


@pytest.mark.parametrize("channels", CHANNELS.values(), ids=list(CHANNELS))
@pytest.mark.parametrize("kernel_size", [(1, 1), (3, 3), (2, 3), (5, 5)], ids=str)
def test_channel_counts(rng, kernel_size, channels):
    _check(rng, (3, 7, P2 + 4, channels), kernel_size, 2 * LANES + 1, 1, "valid")


@pytest.mark.parametrize("channels", [3, LANES + 3], ids=["dot products", "tiles"])
@pytest.mark.parametrize("padding", ["valid", "same"])
@pytest.mark.parametrize("strides", [2, 3, (1, 2), (2, 1)], ids=str)
@pytest.mark.parametrize("kernel_size", [(1, 1), (3, 3), (2, 3), (5, 4)], ids=str)
def test_strided_phases(rng, kernel_size, strides, padding, channels):
    """Strides > 1: the input gradient phase by phase, including phases that no kernel tap reaches."""
    _check(rng, (2, 11, 2 * P2 + 5, channels), kernel_size, LANES + 3, strides, padding)


def test_linear_activation_keeps_negative_values(rng):
    _check(rng, (2, 6, P2 + 1, 4), (3, 3), LANES + 1, 1, "same", activation=None)


def test_textbook_layers(rng):
    _check(rng, (3, 28, 28, 1), (3, 3), 32, 1, "same")
    _check(rng, (3, 14, 14, 32), (3, 3), 64, 1, "same")


def test_nan_and_inf_propagate(rng):
    x = reference.random(rng, (2, 5, P2 + 2, 3), np.float32)
    w = reference.random(rng, (3, 3, 3, LANES + 2), np.float32)
    x[0, 2, 3, 1] = np.nan
    x[1, 1, 1, 0] = np.inf
    out = ops.conv(x, w, 1, "same")
    with np.errstate(invalid="ignore"):  # inf * 0 in the reference's matmul, as in the kernels
        expected = reference.conv(x, w, 1, "same")
    np.testing.assert_array_equal(np.isnan(out), np.isnan(expected))
    finite = np.isfinite(expected)
    reference.assert_close(out[finite], expected[finite], np.float32)


def test_empty_batch():
    x = np.ones((0, 6, 6, 3), np.float32)
    w = np.ones((3, 3, 3, 5), np.float32)
    assert ops.conv(x, w, 1, "same").shape == (0, 6, 6, 5)
    grad_x, grad_w = ops.conv_grad(x, w, np.ones((0, 6, 6, 5), np.float32), 1, "same")
    assert grad_x.shape == x.shape
    np.testing.assert_array_equal(grad_w, np.zeros_like(w))


def test_tails_are_bitwise_identical_for_any_number_of_threads(restore_threads):
    rng = np.random.default_rng(3)
    x = reference.random(rng, (20, 9, P2 + 3, LANES + 3), np.float32)
    w = reference.random(rng, (3, 3, LANES + 3, 2 * LANES + 5), np.float32)
    bias = reference.random(rng, (w.shape[3],), np.float32)

    def run():
        out = ops.conv_bias_activation(x, w, bias, 1, "same", activation="relu")
        grads = ops.conv_bias_activation_grad(x, w, out, out, 1, "same", activation="relu")
        strided = ops.conv_grad(x, w, ops.conv(x, w, 2, "same"), 2, "same")
        return (out, *grads, *strided)

    parallel.set_num_threads(1)
    single = run()
    for threads in (2, 3, 8):
        parallel.set_num_threads(threads)
        for actual, wanted in zip(run(), single):
            assert actual.tobytes() == wanted.tobytes()
