"""The SIMD kernels follow the CPU that numba compiles for, and stay correct on a narrower one.

``fastconv.kernels.simd`` picks the vector width (and, from the number of
vector registers, the tile set of ``conv2d_tiles.py``) for the CPU named by
``NUMBA_CPU_NAME`` / ``NUMBA_CPU_FEATURES``, or the host's. On an AVX-512 host
the AVX2 build of the kernels (8 float32 lanes, 16 registers, the smaller
tiles) runs too, since the host executes AVX2 code: the kernel tests are run
again in a subprocess compiled for Haswell. numba keys its cache on the
target CPU, so the subprocess shares the cache folder with this process
without mixing machine code.
"""

import os
import pathlib
import platform
import re
import subprocess
import sys

import pytest

from fastconv.kernels import simd

ROOT = pathlib.Path(__file__).resolve().parent.parent
X86_64 = platform.machine() in ("x86_64", "AMD64")


def _run(env_update, *args):
    env = dict(os.environ)
    env.pop("NUMBA_CPU_FEATURES", None)
    env.update(env_update)
    return subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)


@pytest.mark.skipif(not X86_64, reason="the CPU names below are x86-64 ones")
@pytest.mark.parametrize("target, bits, registers", [
    ({"NUMBA_CPU_NAME": "generic"}, 128, 16),                               # numba's portable-cache setting
    ({"NUMBA_CPU_NAME": "haswell", "NUMBA_CPU_FEATURES": ""}, 256, 16),     # AVX2
    ({"NUMBA_CPU_NAME": "skylake-avx512", "NUMBA_CPU_FEATURES": ""}, 512, 32),
], ids=["generic", "haswell", "skylake-avx512"])
def test_vector_width_follows_numbas_target(target, bits, registers):
    # Only compiles (LLVM emits assembly for the target), so any x86-64 host can check every target.
    result = _run(target, "-c", "from fastconv.kernels import simd; print(simd.VECTOR_BITS, simd.VECTOR_REGISTERS)")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [str(bits), str(registers)]


_FMA_PROBE = """
import numba, numpy as np
from fastconv._jit import FASTMATH
from fastconv.kernels.simd import vfma, vload, vstore

@numba.njit(fastmath=set(FASTMATH))
def multiply_add(a, b, c, out):
    vstore(out, 0, vfma(vload(a, 0), vload(b, 0), vload(c, 0)))

a = np.full(16, 1 + 2.0**-12, np.float32)
out = np.zeros(16, np.float32)
multiply_add(a, a, np.full(16, -1.0, np.float32), out)
asm = multiply_add.inspect_asm(multiply_add.signatures[0])
print("fmaf" in asm, "vfmadd" in asm, out[0] == np.float32(2.0**-11 + 2.0**-24))
"""


@pytest.mark.skipif(not X86_64, reason="the CPU names below are x86-64 ones")
@pytest.mark.parametrize("target, expected", [
    ({"NUMBA_CPU_NAME": "generic"}, "False False False"),  # no FMA: a multiply and an add, no libm call per lane
    ({"NUMBA_CPU_NAME": "haswell", "NUMBA_CPU_FEATURES": ""}, "False True True"),  # one fused instruction
], ids=["generic", "haswell"])
def test_tiles_fuse_multiply_adds_only_where_the_cpu_can(target, expected):
    """``vfma`` is ``llvm.fmuladd``: an FMA instruction on CPUs that have one, else a multiply and an add.
    (``llvm.fma`` compiled for ``generic`` called the C library's ``fmaf`` for every lane.) The last number
    says whether ``(1 + 2**-12)**2 - 1`` kept the product's last bit, ``2**-24``, which only one rounding
    does."""
    if target.get("NUMBA_CPU_NAME") == "haswell" and "avx2" not in _host_flags():
        pytest.skip("runs AVX2 code: needs a host with AVX2")
    result = _run(target, "-c", _FMA_PROBE)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == expected


def _host_flags():
    try:
        return pathlib.Path("/proc/cpuinfo").read_text().split()
    except OSError:
        return []


@pytest.mark.skipif(simd.VECTOR_BITS != 512 or not X86_64,
                    reason="needs an AVX-512 host to run the AVX2 build beside its own")
def test_kernel_tests_pass_compiled_for_avx2():
    result = _run({"NUMBA_CPU_NAME": "haswell", "NUMBA_CPU_FEATURES": ""},
                  "-m", "pytest", "-q", "-p", "no:cacheprovider",
                  "tests/test_tiles.py", "tests/test_pooling.py", "tests/test_dense.py", "tests/test_determinism.py",
                  "tests/test_groups.py::test_small_groups_run_on_the_packed_tiles_and_match_torch",
                  "-k", "not float64")
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-3000:]
    passed = re.search(r"(\d+) passed", result.stdout)
    assert passed and int(passed.group(1)) >= 300, result.stdout[-2000:]


_PACKED_GROUPS_PROBE = """
import numpy as np, torch
import torch.nn.functional as F
from fastconv import ops
from fastconv.kernels import simd
rng = np.random.default_rng(0)
for per_group, filters_per_group in ((4, 1), (2, 2), (6, 2)):  # runs of 4, 2 and 2 on 4 lanes
    x = rng.uniform(-1, 1, (2, 5, 7, 3 * per_group)).astype(np.float32)
    w = rng.uniform(-1, 1, (3, 3, per_group, 3 * filters_per_group)).astype(np.float32)
    out = ops.conv_bias_activation(x, w, None, 1, "same", groups=3)
    g = rng.uniform(-1, 1, out.shape).astype(np.float32)
    grad_x, grad_w, _ = ops.conv_bias_activation_grad(x, w, None, g, 1, "same", groups=3)
    xt = torch.tensor(x.transpose(0, 3, 1, 2).astype(np.float64), requires_grad=True)
    wt = torch.tensor(w.transpose(3, 2, 0, 1).astype(np.float64), requires_grad=True)
    expected = F.conv2d(xt, wt, padding=1, groups=3)
    expected.backward(torch.tensor(g.transpose(0, 3, 1, 2).astype(np.float64)))
    for got, want in ((out, expected.detach().numpy().transpose(0, 2, 3, 1)),
                      (grad_x, xt.grad.numpy().transpose(0, 2, 3, 1)), (grad_w, wt.grad.numpy().transpose(2, 3, 1, 0))):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    print(simd.lanes(np.float32), ops._packed_run(3, filters_per_group, per_group, np.float32))
"""


@pytest.mark.skipif(not X86_64, reason="the CPU names below are x86-64 ones")
def test_packed_groups_compile_and_match_torch_on_four_lanes():
    """On 128-bit vectors (numba's ``generic`` CPU) a run can be the whole vector: a group of one filter at a
    run of 4 channels (the packed tiles failed to compile there: their intrinsics took runs below the width
    only)."""
    result = _run({"NUMBA_CPU_NAME": "generic"}, "-c", _PACKED_GROUPS_PROBE)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.split() == ["4", "4", "4", "2", "4", "2"]
