"""The kernels under ``NUMBA_BOUNDSCHECK=1``: the comparisons still pass, and out-of-range indexing raises.

Each check runs in a subprocess, because numba reads ``NUMBA_BOUNDSCHECK`` at
import, with a fresh ``NUMBA_CACHE_DIR``, because numba's cache index does not
record the bounds-check flag and would hand back machine code compiled
without checks. The subprocesses run kernels on 3 threads: an ``IndexError``
raised on any of them, a helper thread of ``fastconv.parallel`` included, is
raised by the call.

The explicit SIMD loads and stores (``fastconv.kernels.simd``, used by the
convolution tiles and the pooling kernels) are not bounds-checked even under
the flag: those kernels are guarded by ``fastconv.ops``'s shape checks and by
the reference comparisons, which run on shapes that exercise every tail.
"""

import os
import pathlib
import re
import subprocess
import sys
import textwrap

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def boundscheck_env(tmp_path_factory):
    env = dict(os.environ)
    env.update(
        NUMBA_BOUNDSCHECK="1",
        NUMBA_CACHE_DIR=str(tmp_path_factory.mktemp("numba-boundscheck-cache")),
        FASTCONV_NUM_THREADS="3",
    )
    return env


def _run(env, *args):
    return subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)


def test_comparisons_pass_with_boundscheck(boundscheck_env):
    # float64 only: indexing does not depend on the dtype, and each dtype is another full compilation.
    result = _run(boundscheck_env, "-m", "pytest", "-q", "-m", "bounds", "-k", "float64", "-p", "no:cacheprovider",
                  "tests/test_conv.py", "tests/test_pooling.py", "tests/test_conv_transpose.py",
                  "tests/test_depthwise.py")
    assert result.returncode == 0, result.stdout + result.stderr
    passed = re.search(r"(\d+) passed", result.stdout)
    assert passed and int(passed.group(1)) >= 15, result.stdout


# Each snippet calls a kernel directly (kernels never validate) with one array too small for the loops.
TOO_SMALL = {
    "zero_pad_relu_mask": """
        x, padded = np.ones((2, 4, 4, 3)), np.empty((2, 6, 6, 3))
        mask = np.ones((2, 4, 4, 2))  # one channel short
        parallel.run(conv2d._zero_pad, x, padded, 1, 1, True, mask)
    """,
    "conv_grad_kernel_partial_bias": """
        x, g = np.ones((4, 5, 5, 2)), np.ones((4, 3, 3, 3))
        partial_kernel = np.empty((4, 3, 3, 2, 3))
        partial_bias = np.empty((1, 3))  # one chunk's row instead of four
        scratch = np.empty((12, 3))
        parallel.run(conv2d._conv2d_grad_kernel, x, g, g, partial_kernel, partial_bias, 1, 1, 1, 1, conv2d.LINEAR,
                     scratch)
    """,
    "depthwise_grad_kernel_partial_bias": """
        from fastconv.kernels import depthwise
        x, g = np.ones((4, 5, 5, 3)), np.ones((4, 3, 3, 3))
        partial_kernel = np.empty((4, 3, 3, 3))
        partial_bias = np.empty((1, 3))  # one chunk's row instead of four
        parallel.run(depthwise._depthwise_grad_kernel, x, g, g, partial_kernel, partial_bias, 1, 1, 1, 1, 0, 0, False)
    """,
    "conv_forward_out": """
        x, w, bias = np.ones((2, 5, 5, 2)), np.ones((3, 3, 2, 4)), np.zeros(4)
        out = np.empty((2, 3, 3, 4))
        parallel.run(conv2d._conv2d_forward, x, w, bias[:2], out, 1, 1, 1, 1, conv2d.LINEAR)  # 2 of 4 filters
    """,
}


@pytest.mark.parametrize("snippet", TOO_SMALL)
def test_out_of_range_index_raises(boundscheck_env, snippet):
    script = ("import numpy as np\nfrom fastconv import parallel\nfrom fastconv.kernels import conv2d\n"
              + textwrap.dedent(TOO_SMALL[snippet])) + textwrap.dedent("""
        print("no error")
    """)
    wrapped = textwrap.dedent("""
        import sys
        try:
            exec(compile(sys.argv[1], "snippet", "exec"))
        except BaseException as error:
            print("raised", type(error).__name__)
    """)
    result = _run(boundscheck_env, "-c", wrapped, script)
    assert result.returncode == 0, result.stderr
    assert "no error" not in result.stdout
    assert re.search(r"^raised IndexError$", result.stdout, re.M), result.stdout + result.stderr
