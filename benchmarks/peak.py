"""The float32 multiply-add peak of this machine, measured: what the convolution GFLOP/s are compared with.

A convolution's FLOP count (``2*N*OH*OW*KH*KW*C*F``) is its multiply-adds;
no direct-loop kernel can run them faster than the CPU issues fused
multiply-adds. This measures that rate with the vector type and the FMA of
``fastconv.kernels.simd`` (the instructions fastconv's register tiles use):
one loop of 14 independent accumulators (as many as the 7x2 convolution
tile) that only multiply-add registers, on ``threads`` threads at once, each
in a thread of its own, for about ``seconds``. Run it as the kernels run
(same machine, same minutes): clock speeds differ between runs::

    python benchmarks/peak.py --threads 2

``compare_torch.py`` measures it at the start of every run and reports the
GFLOP/s of each row against it. A library whose GFLOP/s exceed the peak does
fewer multiply-adds than the count says: oneDNN skips the taps that fall on
'same' padding, which the count includes.
"""

import argparse
import os
import sys
import threading
import time

import numba
import numpy as np

if not __package__:  # run as a script: make fastconv importable from the repository
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from fastconv.kernels.simd import lanes, lanes_of, vbroadcast, vfma, vload, vstore  # noqa: E402

ACCUMULATORS = 14
"""Independent accumulators of the loop: enough to hide the FMA latency on two pipes."""


@numba.njit(nogil=True)
def fma_loop(values, iterations):
    """``iterations`` rounds of 14 vector multiply-adds into 14 accumulators; returns nothing.

    ``values`` (float32, see :func:`loop_values`) holds two weight vectors,
    then the 14 accumulators' starting values, then 8 scalars that the rounds
    broadcast in turn; the accumulators' final values are written over their
    starting ones, so each round's results are used (and LLVM, which cannot
    know the values, cannot drop or shorten the work); with weights and
    scalars of 1 each round adds exactly 1 to every accumulator, which is how
    the test tells that every multiply-add of every round ran."""
    n = lanes_of(values)
    b, c = vload(values, 0), vload(values, n)
    a0, a1, a2, a3 = vload(values, 2 * n), vload(values, 3 * n), vload(values, 4 * n), vload(values, 5 * n)
    a4, a5, a6, a7 = vload(values, 6 * n), vload(values, 7 * n), vload(values, 8 * n), vload(values, 9 * n)
    a8, a9, a10, a11 = vload(values, 10 * n), vload(values, 11 * n), vload(values, 12 * n), vload(values, 13 * n)
    a12, a13 = vload(values, 14 * n), vload(values, 15 * n)
    for i in range(iterations):
        s = vbroadcast(values, 16 * n + (i & 7))
        a0, a1, a2, a3 = vfma(s, b, a0), vfma(s, c, a1), vfma(s, b, a2), vfma(s, c, a3)
        a4, a5, a6, a7 = vfma(s, b, a4), vfma(s, c, a5), vfma(s, b, a6), vfma(s, c, a7)
        a8, a9, a10, a11 = vfma(s, b, a8), vfma(s, c, a9), vfma(s, b, a10), vfma(s, c, a11)
        a12, a13 = vfma(s, b, a12), vfma(s, c, a13)
    for k, a in enumerate((a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13)):
        vstore(values, (2 + k) * n, a)


def loop_values(weights=1e-8):
    """A fresh array for :func:`fma_loop`: weights ``weights``, accumulators ``1..14``, scalars ``1``."""
    n = lanes(np.float32)
    values = np.ones(16 * n + 8, np.float32)
    values[:2 * n] = weights
    values[2 * n:16 * n] = np.repeat(np.arange(1, 15, dtype=np.float32), n)
    return values


def fma_peak_gflops(threads=1, seconds=0.3):
    """``(total, per_thread)``: GFLOP/s of :func:`fma_loop` on ``threads`` threads started together (2 FLOPs per
    lane of each multiply-add), the sum of the threads' rates and their median."""
    flops_per_round = 2 * ACCUMULATORS * lanes(np.float32)
    fma_loop(loop_values(), 10)  # compile
    start = time.perf_counter()
    fma_loop(loop_values(), 100_000)
    iterations = max(1000, int(100_000 * seconds / max(time.perf_counter() - start, 1e-9)))
    rates = [0.0] * threads
    start_together = threading.Barrier(threads)

    def run(index):
        values = loop_values()
        start_together.wait()
        begin = time.perf_counter()
        fma_loop(values, iterations)
        rates[index] = flops_per_round * iterations / (time.perf_counter() - begin) / 1e9

    workers = [threading.Thread(target=run, args=(index,)) for index in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return sum(rates), sorted(rates)[threads // 2]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=0.5, help="about how long each thread runs")
    args = parser.parse_args(argv)
    total, per_thread = fma_peak_gflops(args.threads, args.seconds)
    print(f"float32 FMA peak: {total:.0f} GFLOP/s on {args.threads} threads ({per_thread:.0f} per thread), "
          f"{lanes(np.float32)} lanes per vector")
    return 0


if __name__ == "__main__":
    sys.exit(main())
