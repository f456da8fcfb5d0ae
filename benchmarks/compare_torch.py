"""Side-by-side timings of fastconv and PyTorch CPU: convolution and pooling, forward and forward+backward.

Run from the repository root::

    python benchmarks/compare_torch.py                 # full table, about 90 s on an idle 2-core machine
    python benchmarks/compare_torch.py --quick         # smoke run (batch 4, 2 rounds), about 10 s with cached kernels
    python benchmarks/compare_torch.py --threads 2 --repeats 60 --json results.json

Method (STYLE.md, "Benchmarks"):

- One process; both libraries get the same thread count (``numba.set_num_threads``
  and ``torch.set_num_threads``; numba's global configuration is not touched).
- Before anything is timed, every implementation's outputs and gradients are
  checked against PyTorch's NCHW results; a mismatch aborts the run, so a
  broken kernel cannot produce a flattering number.
- JIT compilation is excluded: each timed callable runs once before timing.
- Interleaved rounds: each round calls fastconv, torch NCHW and torch
  channels_last once each, the order rotating from round to round, so drifts
  in clock speed or machine load hit all of them alike. A sample repeats a
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
- The share of CPU time that other processes used during the run is measured
  (Linux ``/proc/stat``) and a disturbed run says so in its report.

To add another framework (Keras, say), write a function like
:func:`torch_conv_runners` that returns :class:`Runner` objects for a
configuration and add it to ``conv_families`` (or ``pool_families``) in
:func:`main`; the table then compares fastconv with the best runner of each
other family. (No name here starts with ``time_`` or ``track_``: asv would
collect it.)
"""

import argparse
import gc
import json
import math
import os
import platform
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
from benchmarks.configs import BATCH, CONV_CONFIGS, PASSES, POOL_CONFIGS, conv_arrays, pool_arrays  # noqa: E402
from fastconv import ops  # noqa: E402


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


def fastconv_conv_runners(config, inputs, kernel, grad_output):
    args = dict(strides=config.strides, padding=config.padding)

    def forward():
        return ops.conv(inputs, kernel, **args)

    def forward_backward():
        out = ops.conv(inputs, kernel, **args)
        grad_inputs, grad_kernel = ops.conv_grad(inputs, kernel, grad_output, **args)
        return out, grad_inputs, grad_kernel

    return [Runner("fastconv", "fastconv", {"forward": forward, "forward+backward": forward_backward},
                   forward_backward)]


def _torch_padding(config):
    """``(conv2d padding, F.pad amounts or None)`` reproducing Keras's padding of ``config`` in torch.

    The symmetric part goes to ``conv2d`` (no copy); only an asymmetric
    remainder needs ``F.pad``, whose argument order is (left, right, top, bottom).
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
        return F.conv2d(x, w, stride=strides, padding=conv_padding)

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


_FASTCONV_POOL = {"max": (ops.max_pool, ops.max_pool_grad), "average": (ops.average_pool, ops.average_pool_grad)}
_TORCH_POOL = {"max": F.max_pool2d, "average": F.avg_pool2d}


def fastconv_pool_runners(config, inputs, grad_output):
    pool, pool_grad = _FASTCONV_POOL[config.mode]
    args = dict(pool_size=config.pool_size, strides=config.strides, padding=config.padding)

    def forward():
        return pool(inputs, **args)

    def forward_backward():
        return pool(inputs, **args), pool_grad(inputs, grad_output, **args)

    return [Runner("fastconv", "fastconv", {"forward": forward, "forward+backward": forward_backward},
                   forward_backward)]


def torch_pool_runners(config, inputs, grad_output):
    if config.padding != "valid":
        # Keras's 'same' average pooling divides by the real cells of an asymmetric window: no torch equivalent.
        raise NotImplementedError(f"torch comparison of padding={config.padding!r} pooling")
    pool = _TORCH_POOL[config.mode]
    args = dict(kernel_size=tuple(config.pool_size), stride=tuple(config.strides))
    runners = []
    for name, memory_format in (("torch NCHW", torch.contiguous_format),
                                ("torch channels_last", torch.channels_last)):
        x = torch.from_numpy(inputs).permute(0, 3, 1, 2).contiguous(memory_format=memory_format)
        g = torch.from_numpy(grad_output).permute(0, 3, 1, 2).contiguous(memory_format=memory_format)
        x_leaf = x.clone().requires_grad_(True)

        def forward(x=x):
            with torch.no_grad():
                return pool(x, **args)

        def forward_backward(x=x_leaf, g=g):
            out = pool(x, **args)
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
    wrong index or a missing term does not.
    """
    results = {r.name: [np.asarray(a) for a in r.results()] for r in runners}
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


def _seconds(fn, number):
    start = time.perf_counter()
    for _ in range(number):
        fn()
    return (time.perf_counter() - start) / number


def measure(callables, rounds, min_sample):
    """Median seconds per call of each callable in ``callables`` (a dict), timed in interleaved rounds.

    Each callable runs once first (compilation, caches, allocator), then the
    number of calls per sample is chosen so that a sample lasts ``min_sample``.
    Returns ``{name: {"median_s", "min_s", "q1_s", "q3_s", "rounds", "number"}}``.
    """
    number = {}
    for name, fn in callables.items():
        fn()
        number[name] = max(1, math.ceil(min_sample / _seconds(fn, 1)))
    names = list(callables)
    samples = {name: [] for name in names}
    gc.collect()
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        for i in range(rounds):
            shift = i % len(names)
            for name in names[shift:] + names[:shift]:
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
    return dict(cpu=cpu, simd=simd, logical_cpus=numba.config.NUMBA_DEFAULT_NUM_THREADS, threads=threads,
                python=platform.python_version(), numpy=np.__version__, numba=numba.__version__,
                numba_threading_layer=numba.threading_layer(), torch=torch.__version__,
                fastconv=fastconv.__version__)


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


def markdown(conv_rows, pool_rows, info, settings):
    lines = [
        f"Machine: {info['cpu']} ({info['simd']}), {info['logical_cpus']} logical CPUs; "
        f"{info['threads']} threads for both. numba {info['numba']} ({info['numba_threading_layer']} layer), "
        f"torch {info['torch']}, numpy {info['numpy']}, Python {info['python']}. "
        f"Batch {settings['batch']}, float32; median of {settings['rounds']} interleaved rounds.",
    ]
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
        for pass_name in PASSES:
            ratios = [row["ratio"] for row in conv_rows if row["pass_name"] == pass_name]
            lines.append(f"| geometric mean | {pass_name} | | | | | | {_geomean(ratios):.2f} |")
        lines.append("")
    if pool_rows:
        lines += [
            "| pooling (2x2, stride 2) | pass | fastconv ms | torch NCHW ms | torch CL ms | ratio fastconv/torch best |",
            "|---|---|--:|--:|--:|--:|",
        ]
        for row in pool_rows:
            r = row["runners"]
            lines.append(
                f"| {row['label']} | {row['pass_name']} | {_ms(r['fastconv']['median_s'])} "
                f"| {_ms(r['torch NCHW']['median_s'])} | {_ms(r['torch channels_last']['median_s'])} "
                f"| {row['ratio']:.2f} ({_short(row['torch_best'])}) |")
        lines.append("")
    lines.append("FLOPs: forward 2*N*OH*OW*KH*KW*C*F, forward+backward 3x that (input and kernel gradients). "
                 "Ratio = fastconv median time / faster torch layout's median time (below 1: fastconv faster). "
                 "CL = torch.channels_last.")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=2, help="threads for both numba and torch (default 2)")
    parser.add_argument("--repeats", type=int, default=None,
                        help="interleaved timing rounds per configuration and pass (default 60, 2 with --quick)")
    parser.add_argument("--min-sample", type=float, default=None,
                        help="seconds one timing sample lasts at least (default 0.01, 0 with --quick)")
    parser.add_argument("--batch", type=int, default=None, help="batch size (default 32, 4 with --quick)")
    parser.add_argument("--quick", action="store_true",
                        help="small batch and two rounds: a smoke run that all paths work, not a measurement")
    parser.add_argument("--no-pool", action="store_true", help="skip the pooling table")
    parser.add_argument("--json", metavar="PATH", help="also write every measurement to this JSON file")
    args = parser.parse_args(argv)
    rounds = args.repeats or (2 if args.quick else 60)
    min_sample = args.min_sample if args.min_sample is not None else (0.0 if args.quick else 0.01)
    batch = args.batch or (4 if args.quick else BATCH)

    if not 1 <= args.threads <= numba.config.NUMBA_NUM_THREADS:
        parser.error(f"--threads must be between 1 and {numba.config.NUMBA_NUM_THREADS} (numba's pool size); "
                     "set NUMBA_NUM_THREADS to allow more")
    numba.set_num_threads(args.threads)
    torch.set_num_threads(args.threads)
    info = machine_info(args.threads)
    settings = dict(batch=batch, rounds=rounds, min_sample_s=min_sample, quick=args.quick)

    counters = _cpu_counters()
    started = time.perf_counter()
    conv_families = (fastconv_conv_runners, torch_conv_runners)
    pool_families = (fastconv_pool_runners, torch_pool_runners)
    try:
        conv_rows = []
        for config in (replace(c, batch=batch) for c in CONV_CONFIGS):
            arrays = conv_arrays(config)
            runners = [r for family in conv_families for r in family(config, *arrays)]
            conv_rows += compare("conv", config, runners, rounds, min_sample, config.flops)
            print(f"  {config.label}: done ({time.perf_counter() - started:.0f} s)", file=sys.stderr)
        pool_rows = []
        for config in (replace(c, batch=batch) for c in (() if args.no_pool else POOL_CONFIGS)):
            arrays = pool_arrays(config)
            runners = [r for family in pool_families for r in family(config, *arrays)]
            pool_rows += compare("pool", config, runners, rounds, min_sample)
            print(f"  {config.label}: done ({time.perf_counter() - started:.0f} s)", file=sys.stderr)
    except MismatchError as error:
        print(f"Results differ, nothing was timed further: {error}", file=sys.stderr)
        return 1
    settings["elapsed_s"] = time.perf_counter() - started
    settings["foreign_cpu_share"] = foreign_cpu_share(counters, _cpu_counters())
    if settings["foreign_cpu_share"] is not None:
        print(f"  other processes used {settings['foreign_cpu_share']:.1%} of the CPU time", file=sys.stderr)

    print(markdown(conv_rows, pool_rows, info, settings))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(dict(machine=info, settings=settings, conv=conv_rows, pool=pool_rows), f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
