"""``fastconv.compilation``: kernels compiled once per machine, in parallel processes, and never in silence.

The subprocess tests run with a new, empty numba cache, as on a fresh machine.
"""

import os
import pathlib
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from fastconv import compilation

ROOT = pathlib.Path(__file__).resolve().parent.parent

TEXTBOOK_FAMILIES = ["conv", "pooling", "dense", "conv_grad_input", "conv_grad_kernel", "pooling_grad",
                     "dense_grad_kernel", "adam"]

_TRAIN_STEP = textwrap.dedent("""
    import sys, time
    import numpy as np
    from fastconv import keras
    model = keras.Sequential([keras.Input((12, 12, 1)), keras.layers.Conv2D(32, 3, activation="relu", padding="same"),
                              keras.layers.MaxPooling2D(2), keras.layers.Conv2D(64, 3, activation="relu"),
                              keras.layers.Flatten(), keras.layers.Dense(10, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.train_on_batch(np.random.rand(4, 12, 12, 1), np.arange(4))
    model.predict(np.random.rand(4, 12, 12, 1), verbose=0)
    from fastconv.kernels import conv2d, conv2d_tiled, conv2d_tiles, dense, optimizers, pooling
    misses = [name for module in (conv2d, conv2d_tiled, conv2d_tiles, dense, optimizers, pooling)
              for name, value in vars(module).items()
              if hasattr(value, "stats") and sum(value.stats.cache_misses.values())]
    print("compiled here:", " ".join(sorted(misses)) or "nothing")
""")


def _run(script, cache, **env):
    return subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=900,
                          env={**os.environ, "NUMBA_CACHE_DIR": str(cache), **env})


def test_first_training_step_compiles_once_with_one_notice(tmp_path):
    first = _run(_TRAIN_STEP, tmp_path)
    assert first.returncode == 0, first.stderr
    notices = [line for line in first.stderr.splitlines() if line.startswith("fastconv: compiling")]
    assert notices == ["fastconv: compiling kernels for this CPU (2 processes, a few seconds, once per machine); "
                       "later runs load them from numba's cache."] or \
        notices == ["fastconv: compiling kernels for this CPU (a few seconds, once per machine); later runs load "
                    "them from numba's cache."], first.stderr
    # A second process finds every kernel in the cache: it compiles nothing and says nothing.
    second = _run(_TRAIN_STEP, tmp_path)
    assert second.returncode == 0, second.stderr
    assert second.stdout.strip() == "compiled here: nothing", second.stdout
    assert "fastconv: compiling" not in second.stderr
    assert len(list(tmp_path.rglob("fastconv-*.compiled"))) == len(TEXTBOOK_FAMILIES)


def test_helper_processes_compile_what_training_runs(tmp_path):
    # The families' small runs compile exactly the signatures a real training step uses: after prepare()
    # alone, a training step in another process loads everything from the cache.
    script = "from fastconv import compilation\ncompilation.prepare(%r)\n" % TEXTBOOK_FAMILIES
    prepared = _run(script, tmp_path)
    assert prepared.returncode == 0, prepared.stderr
    step = _run(_TRAIN_STEP, tmp_path)
    assert step.stdout.strip() == "compiled here: nothing", step.stdout + step.stderr


def test_slow_first_kernel_call_is_announced_once(tmp_path):
    # fastconv.ops used directly, without a model to prepare for: the first call compiles for seconds.
    script = textwrap.dedent("""
        import numpy as np
        from fastconv import ops
        x = np.ones((2, 8, 8, 3), np.float32)
        ops.conv(x, np.ones((3, 3, 3, 4), np.float32), padding="same")
        ops.max_pool(x, 2)
    """)
    result = _run(script, tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stderr.count("fastconv: compiling kernels for this CPU; later runs load them from numba's "
                               "cache.") == 1, result.stderr


def test_share_out_keeps_tile_sets_together_on_few_processes():
    for helpers in range(0, 16):
        groups = compilation._share_out(TEXTBOOK_FAMILIES, helpers)
        assert sorted(f for group in groups for f in group) == sorted(TEXTBOOK_FAMILIES)
        assert 1 <= len(groups) <= helpers + 1
    groups = compilation._share_out(TEXTBOOK_FAMILIES, 1)
    by_tiles = {tiles: {i for i, group in enumerate(groups) for f in group if compilation.FAMILIES[f][2] == tiles}
                for tiles in compilation.TILES}
    assert all(len(indices) == 1 for indices in by_tiles.values())  # each tile set compiled in one process
    # With a process per family to spare, the costliest tile set is shared out: the longest group is shorter.
    assert max(map(compilation._group_cost, [[[f] for f in g] for g in compilation._share_out(
        TEXTBOOK_FAMILIES, 15)])) < compilation._group_cost([[f] for f in groups[0]])


def test_unknown_family_is_an_error():
    with pytest.raises(KeyError):
        compilation.prepare(["no_such_family"])


_SMALL_CNN_STEP = textwrap.dedent("""
    import numpy as np
    from fastconv import keras
    inputs = keras.Input((12, 12, 2))
    x = keras.layers.RandomRotation(0.1, seed=1)(inputs)
    x = keras.layers.DepthwiseConv2D(3, padding="same", activation="relu")(x)
    x = keras.layers.BatchNormalization()(x)
    x = keras.layers.SeparableConv2D(4, 3, strides=2, padding="same")(x)
    x = keras.layers.Conv2DTranspose(4, 2, strides=2)(x)
    outputs = keras.layers.Dense(3, activation="softmax")(keras.layers.GlobalAveragePooling2D()(x))
    model = keras.Model(inputs, outputs)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.train_on_batch(np.random.rand(4, 12, 12, 2), np.arange(4) % 3)
    from fastconv.kernels import affine, depthwise, normalization
    misses = [name for module in (affine, depthwise, normalization) for name, value in vars(module).items()
              if hasattr(value, "stats") and sum(value.stats.cache_misses.values())]
    print("compiled here:", " ".join(sorted(misses)) or "nothing")
""")


def test_depthwise_and_augmentation_families_compile_what_training_runs(tmp_path):
    # A model with the depthwise, affine and batch-normalization kernels and a transposed convolution's bias
    # gradient, prepared for by their families in other processes: its
    # training step loads them all from the cache (were a family missing or different, it would compile here).
    prepared = _run(_SMALL_CNN_STEP.replace("model.train_on_batch", "model._prepare_kernels(True) or print"),
                    tmp_path)
    assert prepared.returncode == 0, prepared.stderr
    step = _run(_SMALL_CNN_STEP, tmp_path)
    assert step.returncode == 0, step.stderr
    assert step.stdout.strip() == "compiled here: nothing", step.stdout + step.stderr


_STREAMED_DEPTHWISE_STEP = textwrap.dedent("""
    import numpy as np
    from fastconv import keras, ops
    ops._streaming_bytes = lambda: 4096  # outputs of 4 KB and more go past the caches
    inputs = keras.Input((12, 12, 16))
    x = keras.layers.DepthwiseConv2D(3, padding="same")(inputs)
    outputs = keras.layers.Dense(3, activation="softmax")(keras.layers.GlobalAveragePooling2D()(x))
    model = keras.Model(inputs, outputs)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.train_on_batch(np.random.rand(4, 12, 12, 16), np.arange(4) % 3)
    assert ops._streams(ops.buffers.empty((4, 12, 12, 16), np.float32))
    from fastconv.kernels import depthwise
    misses = [name for name, value in vars(depthwise).items()
              if hasattr(value, "stats") and sum(value.stats.cache_misses.values())]
    print("compiled here:", " ".join(sorted(misses)) or "nothing")
""")


def test_streamed_depthwise_families_compile_what_training_runs(tmp_path):
    # A depthwise layer whose outputs go past the caches: prepare() compiles the kernels' streaming variants
    # too, in other processes, so that the training step loads them (it does not compile them in the middle
    # of the first epoch).
    script = _STREAMED_DEPTHWISE_STEP.replace("model.train_on_batch", "model._prepare_kernels(True, 4) or print")
    prepared = _run(script, tmp_path)
    assert prepared.returncode == 0, prepared.stderr
    assert len(list(tmp_path.rglob("fastconv-depthwise*_stream*.compiled"))) == 2
    step = _run(_STREAMED_DEPTHWISE_STEP, tmp_path)
    assert step.returncode == 0, step.stderr
    assert step.stdout.strip() == "compiled here: nothing", step.stdout + step.stderr


@pytest.mark.parametrize("channels, batch, threshold, expected", [
    (32, 4, 4096, {"depthwise_stream", "depthwise_grad_stream"}),
    (32, 4, 1 << 30, set()),  # outputs smaller than the threshold
    (24, 4, 4096, set()),  # rows that are not whole vectors are never streamed
])
def test_streamed_families_follow_the_output_size(monkeypatch, channels, batch, threshold, expected):
    from fastconv import keras, ops
    monkeypatch.setattr(ops, "_streaming_bytes", lambda: threshold)
    model = keras.Sequential([keras.Input((12, 12, channels)), keras.layers.DepthwiseConv2D(3, padding="same")])
    families = []
    monkeypatch.setattr(compilation, "prepare", lambda names: families.extend(names))
    model._prepare_kernels(training=True, batch_size=batch)
    assert {f for f in families if f.endswith("_stream")} == expected
    families.clear()
    model._prepare_kernels(training=False, batch_size=batch)
    assert {f for f in families if f.endswith("_stream")} == expected - {"depthwise_grad_stream"}


def _prepared_families(model, monkeypatch):
    families = []
    monkeypatch.setattr(compilation, "prepare", lambda names: families.extend(names))
    model._prepare_kernels(training=True)
    return set(families)


def test_input_gradient_family_follows_the_layer_that_needs_it(monkeypatch):
    """A model's first layer gets no input gradient, so the textbook CNN's one-channel first convolution
    does not compile the dot-product input gradient (a second of a fresh machine's first step); a later
    convolution of a few input channels does, and one of 32 the tiled one."""
    from fastconv import keras
    textbook = keras.Sequential([keras.Input((12, 12, 1)), keras.layers.Conv2D(32, 3, padding="same"),
                                 keras.layers.Conv2D(4, 3)])
    textbook.compile(optimizer="adam", loss="mse")
    assert {"conv_grad_input", "conv_grad_kernel"} <= _prepared_families(textbook, monkeypatch)
    assert "conv_grad_input_dot" not in _prepared_families(textbook, monkeypatch)
    from fastconv.kernels import simd
    few = simd.lanes(np.float32) // 4  # the most channels that take dot products (4 with AVX-512, 2 with AVX2)
    few_channels = keras.Sequential([keras.Input((12, 12, 1)), keras.layers.Conv2D(few, 3, padding="same"),
                                     keras.layers.Conv2D(4, 3)])
    few_channels.compile(optimizer="adam", loss="mse")
    families = _prepared_families(few_channels, monkeypatch)
    assert "conv_grad_input_dot" in families and "conv_grad_input" not in families
    first_only = keras.Sequential([keras.Input((12, 12, 3)), keras.layers.Conv2D(4, 3), keras.layers.Flatten(),
                                   keras.layers.Dense(2)])
    first_only.compile(optimizer="adam", loss="mse")
    assert not {"conv_grad_input", "conv_grad_input_dot"} & _prepared_families(first_only, monkeypatch)
    # A transposed convolution's forward pass is that input gradient, of as many channels as its filters; a
    # separable one's pointwise stage takes it over the depthwise stage's channels, built or not.
    assert keras.layers.Conv2DTranspose(32, 3).kernel_families == ("conv_grad_input",)
    assert keras.layers.Conv2DTranspose(1, 3).kernel_families == ("conv_grad_input_dot",)
    tiled = {"conv_grad_input", "conv_grad_input_lone_vector", "conv_grad_input_dot"}
    for channels, family in ((64, "conv_grad_input"), (8, "conv_grad_input_lone_vector"), (2, "conv_grad_input_dot")):
        separable = keras.layers.SeparableConv2D(4, 3)
        assert tiled <= set(separable.gradient_kernel_families)  # not built
        separable(np.zeros((1, 6, 6, channels), np.float32))
        assert tiled & set(separable.gradient_kernel_families) == {family}


_CONV_STEP = textwrap.dedent("""
    import numpy as np
    from fastconv import keras
    model = keras.Sequential([keras.Input((12, 12, 1)), keras.layers.Conv2D(CHANNELS, 3, padding="same"),
                              keras.layers.Conv2D(FILTERS, 3, activation="relu", groups=GROUPS),
                              keras.layers.Flatten(), keras.layers.Dense(2, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.train_on_batch(np.random.rand(4, 12, 12, 1), np.arange(4) % 2)
    from fastconv.kernels import conv2d_tiled, conv2d_tiles
    misses = [name for module in (conv2d_tiled, conv2d_tiles) for name, value in vars(module).items()
              if hasattr(value, "stats") and sum(value.stats.cache_misses.values())]
    print("compiled here:", " ".join(sorted(misses)) or "nothing")
""")


def _assert_prepared_families_cover_the_step(tmp_path, channels, filters, groups):
    """The training step of a model whose second convolution has ``channels`` input channels, ``filters``
    and ``groups``, its families prepared in other processes first, compiles nothing (were a family missing
    or different, it would compile here)."""
    script = (_CONV_STEP.replace("CHANNELS", str(channels)).replace("FILTERS", str(filters))
              .replace("GROUPS", str(groups)))
    prepared = _run(script.replace("model.train_on_batch", "model._prepare_kernels(True) or print"), tmp_path)
    assert prepared.returncode == 0, prepared.stderr
    step = _run(script, tmp_path)
    assert step.returncode == 0, step.stderr
    assert step.stdout.strip() == "compiled here: nothing", step.stdout + step.stderr


def test_dot_product_input_gradient_family_compiles_what_training_runs(tmp_path):
    # A convolution of 3 input channels after the first layer: its input gradient takes dot products.
    _assert_prepared_families_cover_the_step(tmp_path, channels=3, filters=4, groups=1)


def test_grouped_convolutions_prepare_the_families_their_kernels_are_in(monkeypatch):
    """Groups of a few channels run on the packed tiles, one channel a group is a depthwise convolution, groups
    of whole vectors run on the ordinary tiles; a layer not built yet prepares every family it may use."""
    from fastconv import keras
    from fastconv.kernels import simd
    lanes = simd.lanes(np.float32)

    def model(channels, filters, groups):
        built = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Conv2D(channels, 1),
                                  keras.layers.Conv2D(filters, 3, groups=groups)])
        built.compile(optimizer="adam", loss="mse")
        return _prepared_families(built, monkeypatch)

    packed = model(2 * lanes // 2, 2 * lanes // 2, 2)  # lanes/2 channels and filters a group
    assert {"conv_packed", "conv_packed_grad_input", "conv_packed_grad_kernel"} <= packed
    assert not {"conv_grad_input", "conv_grad_input_dot", "depthwise", "depthwise_grad"} & packed
    depthwise = model(4, 8, 4)
    assert {"depthwise", "depthwise_grad"} <= depthwise
    assert not {"conv_packed", "conv_packed_grad_input", "conv_grad_input", "conv_grad_input_dot"} & depthwise
    whole = model(4 * lanes, 4 * lanes, 2)  # two vectors of channels and filters a group: a channel block
    assert {"conv", "conv_grad_input", "conv_grad_kernel"} <= whole
    assert not {"conv_packed", "conv_packed_grad_input", "conv_packed_grad_kernel", "depthwise"} & whole
    assert not {"conv_lone_vector", "conv_grad_input_lone_vector"} & whole
    assert "conv_grad_kernel_short_tiles" in whole  # 2 vectors of channels a group: rows the main tiles leave
    assert "conv_grad_kernel_short_tiles" not in model(24, 24, 2)  # 12 a group: two main tiles of 6 rows
    lone = model(2 * lanes, 2 * lanes, 2)  # one vector a group: the one-vector tiles
    assert {"conv_lone_vector", "conv_grad_input_lone_vector", "conv_grad_kernel"} <= lone
    assert "conv_grad_kernel_short_tiles" in lone
    assert not {"conv_grad_input", "conv_packed"} & lone  # ("conv": the first layer, 2 vectors)
    unbuilt = keras.layers.Conv2D(8, 3, groups=2)
    assert {"conv_lone_vector", "conv_packed", "depthwise"} <= set(unbuilt.kernel_families)
    assert {"conv_grad_kernel", "conv_grad_kernel_short_tiles", "conv_packed_grad_kernel"} <= set(
        unbuilt.gradient_kernel_families)


def test_lone_vector_families_compile_what_training_runs(tmp_path):
    # 16 channels and 16 filters, a single vector (AVX-512) or two (AVX2): the kernels with the one-vector
    # tiles, or without them.
    _assert_prepared_families_cover_the_step(tmp_path, channels=16, filters=16, groups=1)


def test_kernel_gradient_short_tiles_family_compiles_what_training_runs(tmp_path):
    # 2 groups of 16 channels: rows that the main kernel-gradient tiles leave (conv_grad_kernel_short_tiles).
    _assert_prepared_families_cover_the_step(tmp_path, channels=32, filters=32, groups=2)


def test_kernel_gradient_short_tiles_follow_the_rows(monkeypatch):
    """The kernel gradient takes the short tiles where its kernel rows' gradient rows leave what the main
    tiles do not cover in the channel blocks it has: 3 input channels of a 3x3 kernel are 9 rows, 8 + 1 for
    a single vector of filters; 32 channels are 96 rows, whole main tiles; 1 channel, 3 rows, the 3-row
    tile of two vectors."""
    from fastconv import keras
    from fastconv.kernels import simd
    lanes = simd.lanes(np.float32)

    def families(channels, filters):
        model = keras.Sequential([keras.Input((8, 8, channels)), keras.layers.Conv2D(filters, 3)])
        model.compile(optimizer="adam", loss="mse")
        return _prepared_families(model, monkeypatch)

    assert "conv_grad_kernel_short_tiles" in families(3, lanes)
    assert "conv_grad_kernel_short_tiles" not in families(32, lanes)
    assert "conv_grad_kernel_short_tiles" not in families(1, 2 * lanes)
    transpose = keras.Sequential([keras.Input((8, 8, lanes)), keras.layers.Conv2DTranspose(3, 3)])
    transpose.compile(optimizer="adam", loss="mse")
    assert "conv_grad_kernel_short_tiles" in _prepared_families(transpose, monkeypatch)  # 3 filters: 9 rows


def test_ungrouped_short_tiles_family_compiles_what_training_runs(tmp_path):
    # The second convolution: 3 input channels (9 rows of a 3x3 kernel), one vector of filters.
    from fastconv.kernels import simd
    _assert_prepared_families_cover_the_step(tmp_path, channels=3, filters=simd.lanes(np.float32), groups=1)


def test_lone_vector_families_follow_the_channels(monkeypatch):
    """Channels in an odd number of vectors prepare the kernels with the one-vector tiles, an even number
    the ones without (the textbook's 32 and 64 filters: a fresh machine compiles no one-vector tile into
    its convolutions)."""
    from fastconv import keras
    from fastconv.kernels import simd
    lanes = simd.lanes(np.float32)
    assert compilation.conv_forward_family(2 * lanes) == ("conv",)
    assert compilation.conv_forward_family(3 * lanes - 1) == ("conv_lone_vector",)
    assert compilation.conv_forward_family(lanes // 2) == ("conv_lone_vector",)
    assert compilation.conv_grad_input_family(lanes + 1) == ("conv_grad_input",)
    assert compilation.conv_grad_input_family(lanes) == ("conv_grad_input_lone_vector",)
    assert keras.layers.Conv2DTranspose(4, 3).gradient_kernel_families[:2] == ("conv", "conv_lone_vector")
    transposed = keras.layers.Conv2DTranspose(4, 3)
    transposed(np.zeros((1, 6, 6, lanes), np.float32))  # its input gradient: a convolution into lanes channels
    assert "conv_lone_vector" in transposed.gradient_kernel_families
    assert "conv" not in transposed.gradient_kernel_families
    assert keras.layers.SeparableConv2D(2 * lanes, 3).kernel_families == ("depthwise", "conv")


def test_packed_families_compile_what_training_runs(tmp_path):
    # A convolution in groups of 4 channels and 4 filters after the first layer: forward, input and kernel
    # gradients on the packed tiles.
    _assert_prepared_families_cover_the_step(tmp_path, channels=8, filters=8, groups=2)
