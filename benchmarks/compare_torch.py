"""Side-by-side timings of fastconv and PyTorch CPU: convolution and pooling, forward and forward+backward.

Run from the repository root::

    python benchmarks/compare_torch.py                 # short table, about a minute on an idle 2-core machine
    python benchmarks/compare_torch.py --quick         # smoke run (batch 4, 2 rounds), about 10 s with cached kernels
    python benchmarks/compare_torch.py --threads 2 --repeats 60 --json results.json
    python benchmarks/compare_torch.py --grid --json grid.json     # the issue's grid and goals, 4-6 minutes
    python benchmarks/compare_torch.py --grid --only "5x5 s2"      # part of it (a regex on the row labels)
    python benchmarks/compare_torch.py --transpose                 # Conv2DTranspose (U-Net decoder layers)
    python benchmarks/compare_torch.py --groups                    # Conv2D(groups=g)
    python benchmarks/compare_torch.py --depthwise --batch 16      # DepthwiseConv2D, MobileNet-like layers

``--grid`` times, at batch 32, every convolution of the grid of
``configs.py`` ({valid, same} x stride {1, 2} x {3x3, 5x5} x the four
``GRID_LAYERS``: 32 configurations, forward and forward+backward) and every
pooling layer of its pooling grid (modes x paddings x strides x sizes x
inputs: 32 layers, 28 of them comparable with torch). The report ends with
the geometric mean and the worst ratio of each pass and a verdict against the
goals: per pass, geometric mean of the ratios <= 1.0 and no configuration
above 1.3 (``configs.GOAL_*``). Its default is 40 rounds, not 60: the grid
does about 5x the work of the short table per round (the 32x32x64->64 5x5
forward+backward alone takes about 100 ms per call and implementation). On an
idle 2-core AVX-512 machine with both libraries near 150 GFLOP/s on the large
layers, that is about 4 minutes of convolutions (3.7 s a round, plus checks
and calibration) and 1 minute of pooling; were every convolution twice as
slow, 7 minutes. The progress lines on stderr give the elapsed time, and the
JSON's ``settings.elapsed_s`` the total. ``--grid --quick`` (batch 4, 2
rounds) is a smoke run of every path, under half a minute with cached kernels.

Method (STYLE.md, "Benchmarks"):

- One process; both libraries get the same thread count (``fastconv.parallel.set_num_threads``
  and ``torch.set_num_threads``).
- Before anything is timed, every implementation's outputs and gradients are
  checked against PyTorch's NCHW results; a mismatch aborts the run, so a
  broken kernel cannot produce a flattering number.
- JIT compilation is excluded: each timed callable runs once before timing.
- fastconv's calls run inside a ``buffers.reuse`` pool, as a model's do in
  ``fit`` and ``predict`` (:func:`fastconv_runner`): its arrays are reused from
  call to call, as PyTorch's caching allocator reuses its memory.
- Interleaved rounds: each round calls fastconv, torch NCHW and torch
  channels_last once each, the order rotating from round to round, so drifts
  in clock speed or machine load hit all of them alike. Each timed sample
  follows a pause of 20 ms and an untimed call of the same implementation,
  so that the one timed before no longer holds the cores (PyTorch's OpenMP
  threads poll for milliseconds after each call) and the one timed has its
  threads awake, as in a training loop that calls one library. A sample repeats a
  call until it lasts ``--min-sample`` seconds (small layers), and the
  reported time is the median over rounds.
- PyTorch "at its best": contiguous NCHW and ``torch.channels_last`` are both
  timed and the faster one per configuration and pass is compared against.
  Each is timed in its own native layout (no conversion in the timed region).
  Keras's 'same' padding is symmetric at stride 1 (``conv2d``'s own
  ``padding``); where it is asymmetric (stride 2 on even sizes), the extra
  row/column is added by ``F.pad`` inside the timed region, as it is part of
  the operation.
- The ratio is ``fastconv time / best torch time``: below 1 fastconv is faster.
  Each table ends with the geometric mean of the ratios of each pass and its
  worst configuration; the convolution table with the verdict on the goals.
- Pooling: Keras's 'same' max pooling is torch's ``max_pool2d`` with its own
  (symmetric) padding plus, where Keras pads asymmetrically, an ``F.pad`` with
  -inf in the timed region. 'same' average pooling divides by the real cells
  of each window: ``count_include_pad=False`` does that for symmetric padding;
  asymmetric 'same' average pooling has no torch equivalent and is listed as
  not compared.
- The share of CPU time that other processes used during the run is measured
  (Linux ``/proc/stat``) and a disturbed run says so in its report.
- The machine's float32 multiply-add peak on the same threads is measured
  before and after the timings (``benchmarks/peak.py``) and reported with
  them: on this project's shared 2-vCPU machine it moved between about 118
  and 233 GFLOP/s within one evening (one thread alone: 116), so a GFLOP/s
  means little without the peak of its own minutes.

To add another framework (Keras, say), write a function like
:func:`torch_conv_runners` that returns :class:`Runner` objects for a
configuration and add it to ``CONV_FAMILIES`` (or ``POOL_FAMILIES``); the
table then compares fastconv with the best runner of each other family. A
family that cannot express a configuration raises ``NotImplementedError``
and the configuration is listed as not compared. (No name here starts with
``time_`` or ``track_``: asv would collect it.)
"""

import argparse
import gc
import json
import math
import os
import platform
import re
import statistics
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

import numba
import numpy as np
import torch
import torch.nn.functional as F

if not __package__:  # run as a script: make the `benchmarks` package importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import fastconv  # noqa: E402
from benchmarks.configs import (BATCH, CONV_CONFIGS, DEPTHWISE_BATCH, GOAL_GEOMEAN_RATIO,  # noqa: E402
                                GOAL_WORST_RATIO, GROUPED_CONFIGS, PASSES, POOL_CONFIGS, POOL_GOAL_RATIO,
                                TRANSPOSE_CONFIGS, conv_arrays, conv_grid, depthwise_grid, pool_arrays, pool_grid)
from benchmarks.peak import fma_peak_gflops  # noqa: E402
from fastconv import buffers, ops, parallel  # noqa: E402


FOREIGN_CPU_WARNING = 0.05
"""Share of the machine's CPU time used by other processes above which the report carries a warning."""


@dataclass
class Runner:
    """One implementation of one configuration, ready to call.

    ``passes`` maps each name in ``PASSES`` to a callable without arguments;
    ``results`` returns the forward output and the gradients as NHWC (and
    (KH, KW, C, F) for a kernel) numpy arrays, for the correctness check.
    ``family`` groups runners of one library: the table shows the best of each.
    """

    name: str
    family: str
    passes: dict
    results: Callable[[], tuple]


# ----------------------------------------------------------------------------- implementations


def fastconv_runner(forward, forward_backward):
    """fastconv's runner of two passes, each call inside one ``buffers.reuse`` pool (the runner's own), as a
    model's calls run in ``fit`` and ``predict``: arrays come back from the pool on the next call, as PyTorch's
    caching allocator hands back its memory. (Outside a pool each call took fresh memory from the operating
    system, a page fault every 4 KiB: 30% of a large grouped convolution's forward pass.)"""
    pool = buffers.Pool()

    def in_pool(function):
        def call():
            with buffers.reuse(pool):
                return function()
        return call

    return Runner("fastconv", "fastconv", {"forward": in_pool(forward), "forward+backward": in_pool(forward_backward)},
                  in_pool(forward_backward))


def fastconv_conv_runners(config, inputs, kernel, grad_output):
    args = dict(strides=config.strides, padding=config.padding, groups=getattr(config, "groups", 1))

    def forward():
        return ops.conv_bias_activation(inputs, kernel, **args)

    def forward_backward():
        out = ops.conv_bias_activation(inputs, kernel, **args)
        grad_inputs, grad_kernel, _ = ops.conv_bias_activation_grad(inputs, kernel, None, grad_output, **args)
        return out, grad_inputs, grad_kernel

    return [fastconv_runner(forward, forward_backward)]


def _torch_padding(config):
    """``(conv2d/pool padding, F.pad amounts or None)`` reproducing Keras's padding of ``config`` in torch.

    The symmetric part goes to ``conv2d`` or the pooling call (no copy); only
    an asymmetric remainder needs ``F.pad``, whose argument order is (left,
    right, top, bottom).
    """
    (top, bottom), (left, right) = config.pads
    sym_h, sym_w = min(top, bottom), min(left, right)
    extra = (left - sym_w, right - sym_w, top - sym_h, bottom - sym_h)
    return (sym_h, sym_w), (extra if any(extra) else None)


def torch_conv_runners(config, inputs, kernel, grad_output):
    conv_padding, extra_pad = _torch_padding(config)
    strides = tuple(config.strides)

    def conv(x, w):
        if extra_pad is not None:
            x = F.pad(x, extra_pad)
        return F.conv2d(x, w, stride=strides, padding=conv_padding, groups=getattr(config, "groups", 1))

    return _torch_runners(conv, inputs, kernel, grad_output)


def _torch_runners(conv, inputs, kernel, grad_output):
    """A :class:`Runner` of the torch function ``conv(x, w)`` for each memory format (NCHW, channels_last), on
    copies of the arrays in that format: ``x`` is ``inputs`` as NCHW, ``w`` is ``kernel`` with its two channel
    axes first (``permute(3, 2, 0, 1)``)."""
    runners = []
    for name, memory_format in (("torch NCHW", torch.contiguous_format),
                                ("torch channels_last", torch.channels_last)):
        x = torch.from_numpy(inputs).permute(0, 3, 1, 2).contiguous(memory_format=memory_format)
        w = torch.from_numpy(kernel).permute(3, 2, 0, 1).contiguous(memory_format=memory_format)
        g = torch.from_numpy(grad_output).permute(0, 3, 1, 2).contiguous(memory_format=memory_format)
        x_leaf = x.clone().requires_grad_(True)
        w_leaf = w.clone().requires_grad_(True)

        def forward(x=x, w=w):
            with torch.no_grad():
                return conv(x, w)

        def forward_backward(x=x_leaf, w=w_leaf, g=g):
            out = conv(x, w)
            grad_inputs, grad_kernel = torch.autograd.grad(out, (x, w), g)
            return out, grad_inputs, grad_kernel

        def results(forward_backward=forward_backward):
            out, grad_inputs, grad_kernel = forward_backward()
            return (out.detach().permute(0, 2, 3, 1).numpy(), grad_inputs.permute(0, 2, 3, 1).numpy(),
                    grad_kernel.permute(2, 3, 1, 0).numpy())

        runners.append(Runner(name, "torch", {"forward": forward, "forward+backward": forward_backward}, results))
    return runners


# ----------------------------------------------------------------------------- transposed convolution (--transpose)


def _fastconv_runners(op, op_grad, inputs, kernel, grad_output, **args):
    """fastconv's runner of an ``op(inputs, kernel, **args)`` whose ``op_grad`` gives the input and kernel
    gradients."""
    def forward():
        return op(inputs, kernel, **args)

    def forward_backward():
        out = op(inputs, kernel, **args)
        grad_inputs, grad_kernel = op_grad(inputs, kernel, grad_output, **args)
        return out, grad_inputs, grad_kernel

    return [fastconv_runner(forward, forward_backward)]


def fastconv_transpose_runners(config, inputs, kernel, grad_output):
    return _fastconv_runners(ops.conv_transpose, ops.conv_transpose_grad, inputs, kernel, grad_output,
                             strides=config.strides, padding=config.padding, output_padding=config.output_padding)


def torch_transpose_runners(config, inputs, kernel, grad_output):
    """``F.conv_transpose2d`` without padding (the full output) and Keras's window of it cut out by ``F.pad``
    with negative amounts, as Keras's torch backend computes it (torch's symmetric ``padding`` cannot place
    Keras's 'same' window); the cut is part of the timed operation."""
    (top, bottom), (left, right) = config.crops
    strides = tuple(config.strides)

    def conv_transpose(x, w):
        return F.pad(F.conv_transpose2d(x, w, stride=strides), (-left, -right, -top, -bottom))

    return _torch_runners(conv_transpose, inputs, kernel, grad_output)  # the kernel as torch's (C, F, KH, KW)


# ----------------------------------------------------------------------------- depthwise convolution (--depthwise)

def fastconv_depthwise_runners(config, inputs, kernel, grad_output):
    return _fastconv_runners(ops.depthwise_conv, ops.depthwise_conv_grad, inputs, kernel, grad_output,
                             strides=config.strides, padding=config.padding)


def torch_depthwise_runners(config, inputs, kernel, grad_output):
    """``F.conv2d(groups=C)`` (``config.groups``) with the weight ``(C*m, 1, KH, KW)``: Keras's kernel
    ``(KH, KW, C, m)`` seen as a convolution's ``(KH, KW, 1, C*m)``; the kernel gradient is given back in
    Keras's shape for the check."""

    def in_keras_shape(results):
        out, grad_inputs, grad_kernel = results()
        return out, grad_inputs, grad_kernel.reshape(kernel.shape)

    return [replace(runner, results=lambda results=runner.results: in_keras_shape(results))
            for runner in torch_conv_runners(config, inputs, kernel.reshape(*kernel.shape[:2], 1, -1), grad_output)]


def copy_bandwidth(megabytes=512, repeats=5):
    """Bytes per second that a numpy copy of a ``megabytes`` array moves (read plus write), the best of
    ``repeats``: the memory bandwidth a memory-bound kernel can hope for on one thread."""
    source = np.ones(megabytes * 2**20 // 4, np.float32)
    target = np.empty_like(source)
    best = min(_seconds(lambda: np.copyto(target, source), 1) for _ in range(repeats))
    return 2 * source.nbytes / best


def depthwise_bandwidth_lines(rows, bandwidth):
    """A table of the bytes each pass of each depthwise row must move (``DepthwiseConfig.bytes``) per second
    of its median time, for fastconv and the best torch, against ``bandwidth`` (:func:`copy_bandwidth`)."""
    lines = [f"Memory traffic (the least each pass must move, float32) per second of its median time; a numpy "
             f"copy of 512 MB moves {bandwidth / 1e9:.1f} GB/s on one thread. (The GFLOP/s above count a depthwise "
             "layer's 2*N*OH*OW*KH*KW*C*m FLOPs.)", "",
             "| layer | pass | fastconv GB/s | fastconv / copy | torch best GB/s |", "|---|---|--:|--:|--:|"]
    for row in rows:
        moved = depthwise_grid_config(row).bytes(row["pass_name"])
        fast = moved / row["runners"]["fastconv"]["median_s"]
        best = moved / row["runners"][row["torch_best"]]["median_s"]
        lines.append(f"| {row['label']} | {row['pass_name']} | {fast / 1e9:.1f} | {fast / bandwidth:.0%} "
                     f"| {best / 1e9:.1f} ({_short(row['torch_best'])}) |")
    return lines


def depthwise_grid_config(row):
    """The ``DepthwiseConfig`` of a result row."""
    return next(c for c in depthwise_grid(row["config"]["batch"]) if c.label == row["label"])


# ----------------------------------------------------------------------------- pooling


_FASTCONV_POOL = {"max": (ops.max_pool, ops.max_pool_grad), "average": (ops.average_pool, ops.average_pool_grad)}
_TORCH_POOL = {"max": F.max_pool2d, "average": F.avg_pool2d}


def fastconv_pool_runners(config, inputs, grad_output):
    pool, pool_grad = _FASTCONV_POOL[config.mode]
    args = dict(pool_size=config.pool_size, strides=config.strides, padding=config.padding)

    def forward():
        return pool(inputs, **args)

    def forward_backward():
        return pool(inputs, **args), pool_grad(inputs, grad_output, **args)

    return [fastconv_runner(forward, forward_backward)]


def torch_pool_runners(config, inputs, grad_output):
    pool_padding, extra_pad = _torch_padding(config)
    args = dict(kernel_size=tuple(config.pool_size), stride=tuple(config.strides), padding=pool_padding)
    if config.mode == "average":
        if extra_pad is not None:
            # Keras divides each window by its real cells; a zero F.pad would count the padded ones.
            raise NotImplementedError("no torch equivalent of asymmetric 'same' average pooling")
        args.update(count_include_pad=False)  # the real cells only, as Keras (a no-op without padding)

    def pool(x):
        if extra_pad is not None:  # max pooling: -inf is never a window's maximum (every window has a real cell)
            x = F.pad(x, extra_pad, value=-math.inf)
        return _TORCH_POOL[config.mode](x, **args)

    runners = []
    for name, memory_format in (("torch NCHW", torch.contiguous_format),
                                ("torch channels_last", torch.channels_last)):
        x = torch.from_numpy(inputs).permute(0, 3, 1, 2).contiguous(memory_format=memory_format)
        g = torch.from_numpy(grad_output).permute(0, 3, 1, 2).contiguous(memory_format=memory_format)
        x_leaf = x.clone().requires_grad_(True)

        def forward(x=x):
            with torch.no_grad():
                return pool(x)

        def forward_backward(x=x_leaf, g=g):
            out = pool(x)
            (grad_inputs,) = torch.autograd.grad(out, (x,), g)
            return out, grad_inputs

        def results(forward_backward=forward_backward):
            return tuple(t.detach().permute(0, 2, 3, 1).numpy() for t in forward_backward())

        runners.append(Runner(name, "torch", {"forward": forward, "forward+backward": forward_backward}, results))
    return runners


# ----------------------------------------------------------------------------- checking and timing


class MismatchError(AssertionError):
    pass


def check_runners(label, runners, reference_name="torch NCHW", rtol=1e-3):
    """Compare every runner's outputs and gradients with the reference runner's; raise on a mismatch.

    The tolerance is relative to the largest reference value of each array:
    float32 rounding over a few thousand terms stays far below it, while a
    wrong index or a missing term does not. Each runner is checked on its
    second call, the first one's arrays dropped: fastconv's then computes into
    the recycled buffers of its pool, as every timed call does, so a kernel
    that left cells unwritten would not pass on fresh, zeroed memory.
    """
    results = {r.name: _second_results(r) for r in runners}
    reference = results[reference_name]
    names = ("output", "grad_inputs", "grad_kernel")
    for runner_name, arrays in results.items():
        for what, got, want in zip(names, arrays, reference):
            if got.shape != want.shape:
                raise MismatchError(f"{label}: {runner_name} {what} has shape {got.shape}, expected {want.shape}")
            scale = float(np.abs(want).max()) or 1.0
            error = float(np.abs(got.astype(np.float64) - want).max())
            if not error <= rtol * scale:  # also catches NaN
                raise MismatchError(f"{label}: {runner_name} {what} differs from {reference_name}: "
                                    f"max abs error {error:.3g}, largest value {scale:.3g}")


def _second_results(runner):
    runner.results()
    return [np.asarray(a) for a in runner.results()]


SETTLE_SECONDS = 0.02
"""Pause before each timed sample: longer than PyTorch's OpenMP threads poll after a call (libgomp's
default, 300,000 polls, was about 5 ms here) and fastconv's helpers (``parallel.SPIN_SECONDS``)."""


CALIBRATION_SECONDS = 0.05
"""How long :func:`measure` calls each callable, untimed but for the mean, to choose its calls per sample."""

WAKE_SECONDS = 0.001
"""Untimed calls before each sample, after the pause, for at least this long (at least one call): a library's
first calls after a pause run 2 to 5 times as long as the next ones, both libraries' (threads asleep)."""


def _call_for(fn, seconds):
    """Call ``fn`` at least once and until ``seconds`` have passed; returns the mean seconds per call."""
    start, calls = time.perf_counter(), 0
    while True:
        fn()
        calls += 1
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            return elapsed / calls


def _calls_per_sample(fn, min_sample):
    """Calls of ``fn`` that take ``min_sample`` seconds, after a first call (compilation, caches, allocator) and
    a pause in which the threads of what ran before go idle."""
    fn()
    time.sleep(SETTLE_SECONDS)
    return max(1, math.ceil(min_sample / _call_for(fn, CALIBRATION_SECONDS)))


def _seconds(fn, number):
    start = time.perf_counter()
    for _ in range(number):
        fn()
    return (time.perf_counter() - start) / number


def measure(callables, rounds, min_sample):
    """Median seconds per call of each callable in ``callables`` (a dict), timed in interleaved rounds.

    Each callable runs once first (compilation, caches, allocator), then the
    number of calls per sample is chosen so that a sample lasts ``min_sample``,
    from the mean time of the calls made in ``CALIBRATION_SECONDS`` (a
    library's first calls after a pause are 2 to 5 times as slow as the next
    ones: calibrated on one call, samples of a small layer were a few calls
    long and timed the waking up). Every sample follows a
    pause of ``SETTLE_SECONDS``, in which the threads of the library timed
    before go idle, and then ``WAKE_SECONDS`` of untimed calls of the same
    callable, which wake its own: each library is timed as a training loop
    calls it, its threads busy and nobody else's. (PyTorch's OpenMP threads
    poll for milliseconds after a call: a fastconv call right after one took
    11.1 ms instead of 7.4, a 32x32x64->64 grouped forward pass; 20 fastconv
    calls of the 14x14x32->64 3x3 forward after 20 of PyTorch's took 1.69 ms
    each with one untimed call between, 1.26 ms with a pause of 20 ms.)
    Returns ``{name: {"median_s", "min_s", "q1_s", "q3_s", "rounds", "number"}}``.
    """
    number = {name: _calls_per_sample(fn, min_sample) for name, fn in callables.items()}
    names = list(callables)
    samples = {name: [] for name in names}
    gc.collect()
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        for i in range(rounds):
            shift = i % len(names)
            for name in names[shift:] + names[:shift]:
                time.sleep(SETTLE_SECONDS)
                _call_for(callables[name], WAKE_SECONDS)
                samples[name].append(_seconds(callables[name], number[name]))
    finally:
        if gc_was_enabled:
            gc.enable()
    stats = {}
    for name, values in samples.items():
        q1, median, q3 = statistics.quantiles(values, n=4, method="inclusive") if len(values) > 1 else values * 3
        stats[name] = dict(median_s=median, min_s=min(values), q1_s=q1, q3_s=q3, rounds=len(values),
                           number=number[name])
    return stats


def compare(kind, config, runners, rounds, min_sample, flops=None):
    """Check, then time every pass of ``runners``; return one result row per pass."""
    check_runners(config.label, runners)
    rows = []
    for pass_name in PASSES:
        stats = measure({r.name: r.passes[pass_name] for r in runners}, rounds, min_sample)
        best = {}
        for runner in runners:
            if runner.family not in best or stats[runner.name]["median_s"] < stats[best[runner.family]]["median_s"]:
                best[runner.family] = runner.name
        fast_s = stats[best["fastconv"]]["median_s"]
        torch_s = stats[best["torch"]]["median_s"]
        row = dict(kind=kind, config=config.as_dict(), label=config.label, pass_name=pass_name, runners=stats,
                   torch_best=best["torch"], ratio=fast_s / torch_s)
        if flops is not None:
            count = flops(pass_name)
            row.update(flops=count, fastconv_gflops=count / fast_s / 1e9, torch_gflops=count / torch_s / 1e9)
        rows.append(row)
    return rows


CONV_FAMILIES = (fastconv_conv_runners, torch_conv_runners)
POOL_FAMILIES = (fastconv_pool_runners, torch_pool_runners)
TRANSPOSE_FAMILIES = (fastconv_transpose_runners, torch_transpose_runners)
DEPTHWISE_FAMILIES = (fastconv_depthwise_runners, torch_depthwise_runners)
_ARRAYS = {"conv": conv_arrays, "pool": pool_arrays, "transpose": conv_arrays, "depthwise": conv_arrays}


def run_configs(kind, configs, families, rounds, min_sample, log=None):
    """:func:`compare` every configuration of ``configs`` (``kind`` ``"conv"`` or ``"pool"``) with the runners
    that ``families`` build for it.

    Returns ``(rows, skipped)``: all the rows, and for each configuration
    that a family cannot express (it raised ``NotImplementedError``) a dict
    ``{"kind", "label", "config", "reason"}``. ``log``, if given, receives a
    progress line after each configuration.
    """
    rows, skipped = [], []
    for number, config in enumerate(configs, start=1):
        arrays = _ARRAYS[kind](config)
        try:
            runners = [r for family in families for r in family(config, *arrays)]
        except NotImplementedError as error:
            skipped.append(dict(kind=kind, label=config.label, config=config.as_dict(), reason=str(error)))
            outcome = f"not compared ({error})"
        else:
            rows += compare(kind, config, runners, rounds, min_sample, getattr(config, "flops", None))
            outcome = "done"
        if log is not None:
            log(f"[{kind} {number}/{len(configs)}] {config.label}: {outcome}")
    return rows, skipped


def summarize(rows):
    """Per pass: the geometric mean of the ratios, the worst configuration, the ones above the goal's bound.

    Returns ``{pass_name: {"configurations", "geomean_ratio", "worst_label",
    "worst_ratio", "above_bound", "goals_met"}}`` for each pass with rows;
    ``above_bound`` lists ``{"label", "ratio"}``, worst first, of every
    ratio above ``GOAL_WORST_RATIO``, and ``goals_met`` says whether the
    geometric mean is at most ``GOAL_GEOMEAN_RATIO`` and that list is empty.

    >>> rows = [dict(pass_name="forward", label=label, ratio=ratio) for label, ratio in (("a", 0.5), ("b", 1.5))]
    >>> summary = summarize(rows)["forward"]
    >>> round(summary["geomean_ratio"], 3), summary["worst_label"], summary["above_bound"], summary["goals_met"]
    (0.866, 'b', [{'label': 'b', 'ratio': 1.5}], False)
    """
    summary = {}
    for pass_name in PASSES:
        ratios = sorted(((row["ratio"], row["label"]) for row in rows if row["pass_name"] == pass_name), reverse=True)
        if not ratios:
            continue
        geomean = _geomean([ratio for ratio, _ in ratios])
        above = [dict(label=label, ratio=ratio) for ratio, label in ratios if ratio > GOAL_WORST_RATIO]
        summary[pass_name] = dict(configurations=len(ratios), geomean_ratio=geomean, worst_label=ratios[0][1],
                                  worst_ratio=ratios[0][0], above_bound=above,
                                  goals_met=geomean <= GOAL_GEOMEAN_RATIO and not above)
    return summary


def verdict(summary):
    """One line: does each pass of ``summary`` (from :func:`summarize`) meet the goals, and if not, why.

    >>> print(verdict(summarize([dict(pass_name="forward", label="a", ratio=0.9),
    ...                          dict(pass_name="forward+backward", label="b", ratio=1.4)])))
    ... # doctest: +NORMALIZE_WHITESPACE
    Goals (per pass: geometric mean of the ratios <= 1.0, no configuration above 1.3): NOT MET.
    forward: met (geometric mean 0.90, worst 0.90: a);
    forward+backward: NOT met (geometric mean 1.40 > 1.0; 1 configuration above 1.3: b 1.40).
    """
    parts = []
    for pass_name, s in summary.items():
        if s["goals_met"]:
            parts.append(f"{pass_name}: met (geometric mean {s['geomean_ratio']:.2f}, "
                         f"worst {s['worst_ratio']:.2f}: {s['worst_label']})")
            continue
        why = []
        if s["geomean_ratio"] > GOAL_GEOMEAN_RATIO:
            why.append(f"geometric mean {s['geomean_ratio']:.2f} > {GOAL_GEOMEAN_RATIO}")
        else:
            why.append(f"geometric mean {s['geomean_ratio']:.2f}")
        if s["above_bound"]:
            count = len(s["above_bound"])
            why.append(f"{count} configuration{'s' * (count > 1)} above {GOAL_WORST_RATIO}: "
                       + ", ".join(f"{a['label']} {a['ratio']:.2f}" for a in s["above_bound"]))
        parts.append(f"{pass_name}: NOT met ({'; '.join(why)})")
    met = all(s["goals_met"] for s in summary.values())
    return (f"Goals (per pass: geometric mean of the ratios <= {GOAL_GEOMEAN_RATIO}, no configuration above "
            f"{GOAL_WORST_RATIO}): {'met' if met else 'NOT MET'}. " + "; ".join(parts) + ".")


def pool_verdict(rows):
    """One line: is every pooling row at most ``POOL_GOAL_RATIO`` times PyTorch, with the worst of each pass.

    >>> print(pool_verdict([dict(pass_name="forward", label="a", ratio=0.5),
    ...                     dict(pass_name="forward+backward", label="a", ratio=1.2)]))
    ... # doctest: +NORMALIZE_WHITESPACE
    Pooling goal (every configuration and pass <= 1.0): NOT met.
    forward: worst 0.50 (a); forward+backward: worst 1.20 (a).
    """
    worst = {}
    for row in rows:
        if row["pass_name"] not in worst or row["ratio"] > worst[row["pass_name"]]["ratio"]:
            worst[row["pass_name"]] = row
    met = all(row["ratio"] <= POOL_GOAL_RATIO for row in rows)
    return (f"Pooling goal (every configuration and pass <= {POOL_GOAL_RATIO}): {'met' if met else 'NOT met'}. "
            + "; ".join(f"{name}: worst {row['ratio']:.2f} ({row['label']})" for name, row in worst.items()) + ".")


# ----------------------------------------------------------------------------- report


def machine_info(threads):
    cpu, flags = platform.machine(), set()
    try:
        with open("/proc/cpuinfo") as f:  # Linux; elsewhere the architecture name has to do
            for line in f:
                key, _, value = line.partition(":")
                if key.strip() == "model name":
                    cpu = value.strip()
                elif key.strip() == "flags":
                    flags = set(value.split())
                    break
    except OSError:
        pass
    simd = next((s for s in ("avx512f", "avx2", "neon") if s in flags), "")
    return dict(cpu=cpu, simd=simd, logical_cpus=os.cpu_count(), threads=threads,
                python=platform.python_version(), numpy=np.__version__, numba=numba.__version__,
                torch=torch.__version__, fastconv=fastconv.__version__)


def _cpu_counters():
    """``(busy seconds of all CPUs, total seconds of all CPUs, this process's CPU seconds)``, or None off Linux."""
    try:
        with open("/proc/stat") as f:
            fields = [int(v) for v in f.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    tick = os.sysconf("SC_CLK_TCK")
    idle = fields[3] + fields[4]  # idle, iowait
    own = os.times()
    return (sum(fields[:8]) - idle) / tick, sum(fields[:8]) / tick, own.user + own.system


def foreign_cpu_share(before, after):
    """Fraction of all CPU time between two :func:`_cpu_counters` readings used by other processes."""
    if before is None or after is None or after[1] <= before[1]:
        return None
    busy, total, own = (b - a for a, b in zip(before, after))
    return max(0.0, busy - own) / total


def _ms(seconds):
    return f"{seconds * 1e3:.3f}" if seconds < 0.01 else f"{seconds * 1e3:.2f}"


def _short(name):
    return {"torch NCHW": "NCHW", "torch channels_last": "CL"}.get(name, name)


def _geomean(values):
    return math.exp(sum(math.log(v) for v in values) / len(values))


def _summary_lines(rows, columns):
    """The table's last lines: geometric mean and worst configuration of each pass, ratio in the last column."""
    blanks = "| " * (columns - 3)
    lines = []
    for pass_name, s in summarize(rows).items():
        lines.append(f"| geometric mean ({s['configurations']} configurations) | {pass_name} {blanks}"
                     f"| {s['geomean_ratio']:.2f} |")
        lines.append(f"| worst: {s['worst_label']} | {pass_name} {blanks}| {s['worst_ratio']:.2f} |")
    return lines


def markdown(conv_rows, pool_rows, info, settings, skipped=()):
    lines = [
        f"Machine: {info['cpu']} ({info['simd']}), {info['logical_cpus']} logical CPUs; "
        f"{info['threads']} threads for both. numba {info['numba']}, "
        f"torch {info['torch']}, numpy {info['numpy']}, Python {info['python']}. "
        f"Batch {settings['batch']}, float32; median of {settings['rounds']} interleaved rounds"
        f"{' over the grid' if settings.get('grid') else ''}"
        f"{', rows matching ' + repr(settings['only']) if settings.get('only') else ''}.",
    ]
    peak = settings.get("fma_peak_gflops")
    if peak:
        lines.append(f"float32 multiply-add peak on {info['threads']} threads (benchmarks/peak.py), measured before "
                     f"and after the timings: {peak[0]:.0f} and {peak[1]:.0f} GFLOP/s; a GFLOP/s above it did fewer "
                     "multiply-adds than the count (oneDNN skips the taps on 'same' padding).")
    if settings.get("quick"):
        lines.append("**Smoke run (--quick): these numbers are not a measurement.**")
    foreign = settings.get("foreign_cpu_share")
    if foreign is not None and foreign > FOREIGN_CPU_WARNING:
        lines.append(f"**Warning: other processes used {foreign:.0%} of the CPU time during this run; "
                     "these numbers are disturbed. Rerun on a quiet machine.**")
    lines.append("")
    if conv_rows:
        lines += [
            "| layer (NHWC in -> filters) | pass | fastconv ms | fastconv GFLOP/s | torch NCHW ms | torch CL ms "
            "| torch best GFLOP/s | ratio fastconv/torch |",
            "|---|---|--:|--:|--:|--:|--:|--:|",
        ]
        for row in conv_rows:
            r = row["runners"]
            lines.append(
                f"| {row['label']} | {row['pass_name']} | {_ms(r['fastconv']['median_s'])} "
                f"| {row['fastconv_gflops']:.1f} | {_ms(r['torch NCHW']['median_s'])} "
                f"| {_ms(r['torch channels_last']['median_s'])} "
                f"| {row['torch_gflops']:.1f} ({_short(row['torch_best'])}) | {row['ratio']:.2f} |")
        lines += _summary_lines(conv_rows, 8)
        scope = "" if settings.get("grid") and not settings.get("only") else \
            "On this table only (the goals are judged on the whole --grid): "
        lines += ["", scope + verdict(summarize(conv_rows)), ""]
    if pool_rows:
        lines += [
            "| pooling (window, stride, padding, NHWC input) | pass | fastconv ms | torch NCHW ms | torch CL ms "
            "| ratio fastconv/torch best |",
            "|---|---|--:|--:|--:|--:|",
        ]
        for row in pool_rows:
            r = row["runners"]
            lines.append(
                f"| {row['label']} | {row['pass_name']} | {_ms(r['fastconv']['median_s'])} "
                f"| {_ms(r['torch NCHW']['median_s'])} | {_ms(r['torch channels_last']['median_s'])} "
                f"| {row['ratio']:.2f} ({_short(row['torch_best'])}) |")
        lines += _summary_lines(pool_rows, 6)
        lines += ["", pool_verdict(pool_rows), ""]
    for reason in dict.fromkeys(s["reason"] for s in skipped):
        labels = [s["label"] for s in skipped if s["reason"] == reason]
        lines += [f"Not compared ({reason}): {', '.join(labels)}.", ""]
    lines.append("FLOPs: forward 2*N*OH*OW*KH*KW*C*F, forward+backward 3x that (input and kernel gradients). "
                 "Ratio = fastconv median time / faster torch layout's median time (below 1: fastconv faster). "
                 "CL = torch.channels_last.")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=2, help="threads for both fastconv and torch (default 2)")
    parser.add_argument("--repeats", type=int, default=None,
                        help="interleaved timing rounds per configuration and pass "
                             "(default 60, 40 with --grid, 2 with --quick)")
    parser.add_argument("--min-sample", type=float, default=None,
                        help="seconds one timing sample lasts at least (default 0.01, 0 with --quick)")
    parser.add_argument("--batch", type=int, default=None, help="batch size (default 32, 4 with --quick)")
    parser.add_argument("--quick", action="store_true",
                        help="small batch and two rounds: a smoke run that all paths work, not a measurement")
    parser.add_argument("--grid", action="store_true",
                        help="time the issue's convolution grid (configs.conv_grid: {valid, same} x stride {1, 2} "
                             "x {3x3, 5x5} x the four GRID_LAYERS, 32 configurations) and the whole pooling grid "
                             "(configs.pool_grid: modes x paddings x strides x sizes x inputs, 32 layers, about a "
                             "minute of the total; the 4 asymmetric 'same' average ones have no torch equivalent "
                             "and are listed as not compared) instead of the short tables, and judge the goals; "
                             "4-6 minutes on an idle 2-core machine")
    parser.add_argument("--transpose", action="store_true",
                        help="time the transposed convolutions of configs.TRANSPOSE_CONFIGS (U-Net-decoder-like "
                             "upsampling layers) instead of the convolution table; no pooling")
    parser.add_argument("--groups", action="store_true",
                        help="time the grouped convolutions of configs.GROUPED_CONFIGS instead of the convolution "
                             "table; no pooling")
    parser.add_argument("--depthwise", action="store_true",
                        help="time the depthwise convolutions of configs.depthwise_grid (MobileNet-like layers, 3x3, "
                             "strides 1 and 2, 'valid' and 'same'; batch 16 unless --batch) instead of the "
                             "convolution table, with the bytes each pass moves per second against a numpy copy's")
    parser.add_argument("--only", metavar="REGEX",
                        help="time only the configurations whose table label matches this regular expression "
                             "(re.search), e.g. '5x5 s2' or '^max'")
    parser.add_argument("--no-pool", action="store_true", help="skip the pooling table")
    parser.add_argument("--json", metavar="PATH", help="also write every measurement to this JSON file")
    args = parser.parse_args(argv)
    rounds = args.repeats or (2 if args.quick else 40 if args.grid else 60)
    min_sample = args.min_sample if args.min_sample is not None else (0.0 if args.quick else 0.01)
    batch = args.batch or (4 if args.quick else BATCH)
    if args.grid:
        conv_configs, pool_configs = conv_grid(batch), pool_grid(batch)
    else:
        conv_configs, pool_configs = (tuple(replace(c, batch=batch) for c in table)
                                      for table in (CONV_CONFIGS, POOL_CONFIGS))
    conv_kind, conv_families = "conv", CONV_FAMILIES
    if args.transpose or args.groups:
        if args.grid or (args.transpose and args.groups):
            parser.error("--transpose, --groups and --grid are one table each: give one of them")
        pool_configs = ()
        if args.transpose:
            conv_kind, conv_families = "transpose", TRANSPOSE_FAMILIES
        conv_configs = tuple(replace(c, batch=batch) for c in (TRANSPOSE_CONFIGS if args.transpose
                                                                else GROUPED_CONFIGS))
    if args.depthwise:
        if args.grid or args.transpose or args.groups:
            parser.error("--depthwise, --transpose, --groups and --grid are one table each: give one of them")
        batch = args.batch or (4 if args.quick else DEPTHWISE_BATCH)
        pool_configs = ()
        conv_kind, conv_families, conv_configs = "depthwise", DEPTHWISE_FAMILIES, depthwise_grid(batch)
    if args.no_pool:
        pool_configs = ()
    if args.only:
        try:
            pattern = re.compile(args.only)
        except re.error as error:
            parser.error(f"--only {args.only!r} is not a regular expression: {error}")
        conv_configs, pool_configs = ([c for c in configs if pattern.search(c.label)]
                                      for configs in (conv_configs, pool_configs))
        if not conv_configs and not pool_configs:
            parser.error(f"--only {args.only!r} matches no configuration's label")

    if args.threads < 1:
        parser.error("--threads must be at least 1")
    parallel.set_num_threads(args.threads)
    torch.set_num_threads(args.threads)
    info = machine_info(args.threads)
    settings = dict(batch=batch, rounds=rounds, min_sample_s=min_sample, quick=args.quick, grid=args.grid,
                    only=args.only, transpose=args.transpose, groups=args.groups)

    peak_before = fma_peak_gflops(args.threads)[0]
    counters = _cpu_counters()
    started = time.perf_counter()

    def log(line):
        print(f"  {line} ({time.perf_counter() - started:.0f} s)", file=sys.stderr, flush=True)

    try:
        conv_rows, conv_skipped = run_configs(conv_kind, conv_configs, conv_families, rounds, min_sample, log)
        pool_rows, pool_skipped = run_configs("pool", pool_configs, POOL_FAMILIES, rounds, min_sample, log)
    except MismatchError as error:
        print(f"Results differ, nothing was timed further: {error}", file=sys.stderr)
        return 1
    settings["elapsed_s"] = time.perf_counter() - started
    settings["foreign_cpu_share"] = foreign_cpu_share(counters, _cpu_counters())
    settings["fma_peak_gflops"] = [peak_before, fma_peak_gflops(args.threads)[0]]
    if settings["foreign_cpu_share"] is not None:
        print(f"  other processes used {settings['foreign_cpu_share']:.1%} of the CPU time", file=sys.stderr)

    skipped = conv_skipped + pool_skipped
    if args.depthwise:
        settings["copy_bandwidth_bytes_per_s"] = copy_bandwidth()
    print(markdown(conv_rows, pool_rows, info, settings, skipped))
    if args.depthwise:
        print("\n".join(["", *depthwise_bandwidth_lines(conv_rows, settings["copy_bandwidth_bytes_per_s"])]))
    if args.json:
        summary = dict(conv=summarize(conv_rows), pool=summarize(pool_rows))
        goals = dict(geomean_ratio=GOAL_GEOMEAN_RATIO, worst_ratio=GOAL_WORST_RATIO, judged_on="conv",
                     met=all(s["goals_met"] for s in summary["conv"].values()) if conv_rows else None,
                     pool=dict(ratio=POOL_GOAL_RATIO,
                               met=all(row["ratio"] <= POOL_GOAL_RATIO for row in pool_rows) if pool_rows else None))
        with open(args.json, "w") as f:
            json.dump(dict(machine=info, settings=settings, conv=conv_rows, pool=pool_rows, skipped=skipped,
                           summary=summary, goals=goals), f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
