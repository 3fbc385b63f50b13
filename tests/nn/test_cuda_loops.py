"""The raw-launch CUDA loops of the fused kernels (``nn/recurrent/cuda.py``), checked without a GPU.

The kernels' C++ source is compiled for the host with a prelude that turns each ``__global__`` kernel
into a plain function whose ``FOR_EACH`` runs every element in turn, and the two cuBLAS calls are
replaced by a NumPy reading of cuBLAS's column-major ``gemmStridedBatched`` (offsets, leading
dimensions, strides and ``beta`` taken literally from raw memory). ``fused.forward``/``backward`` then
run the very loops the GPU runs (``cuda.RawLoop`` over the host ops, passed in as the loop), on NumPy
arrays, and must give the NumPy loop's numbers. On a GPU the same comparison runs for real
(``test_fused_kernels.py::test_cupy_matches_numpy``).
"""

from __future__ import annotations

import ctypes
import itertools
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from conftest import REQUIRE_REFS
from test_fused_kernels import make_case, upstream
from tinygrad_rnn.nn.recurrent import cuda, fused

MODES = ("lstm", "gru", "rnn_tanh", "rnn_relu")

HOST_PRELUDE = """
#include <cmath>
typedef double real;
using std::tanh;
#define __global__
#define __device__
#define __forceinline__ inline
#define FOR_EACH(i, n) for (long long i = 0; i < (n); ++i)
"""


@pytest.fixture(scope="module")
def host_library(tmp_path_factory):
    compiler = shutil.which("c++") or shutil.which("g++")
    if compiler is None:
        if REQUIRE_REFS:
            pytest.fail("a C++ compiler is required in CI (TINYGRAD_RNN_REQUIRE_REFS=1): apt-get install g++")
        pytest.skip("no C++ compiler to build the CUDA kernels for the host")
    folder = tmp_path_factory.mktemp("kernels")
    src, lib = os.path.join(folder, "kernels.cpp"), os.path.join(folder, "kernels.so")
    with open(src, "w") as f:
        f.write(HOST_PRELUDE + cuda.kernel_source())
    subprocess.run([compiler, "-O1", "-shared", "-fPIC", "-Wall", "-Werror", "-o", lib, src], check=True,
                   capture_output=True)
    return ctypes.CDLL(lib)


class HostOps:
    """``cuda.CupyOps``'s two calls on the host: the compiled kernels, and cuBLAS GEMM semantics in NumPy."""

    def __init__(self, library):
        self.library = library
        self.launches = []

    def begin(self) -> None:
        pass

    def kernel(self, name: str, n: int, *args) -> None:
        self.launches.append(name)
        converted = []
        for a in args:
            if isinstance(a, np.ndarray):
                assert a.flags.c_contiguous and a.dtype in (np.float64, np.int64), (name, a.dtype)
                converted.append(ctypes.c_void_p(a.ctypes.data))
            else:
                assert isinstance(a, np.int32), (name, type(a))        # the CUDA launch packs int32 for `int`
                converted.append(ctypes.c_int(int(a)))
        getattr(self.library, name)(*converted)

    @staticmethod
    def _col_major(buf, off, rows, cols, ld):
        """The ``rows x cols`` column-major matrix at element ``off`` of ``buf`` with leading dimension ``ld``."""
        assert buf.flags.c_contiguous and ld >= rows
        flat = buf.reshape(-1)
        assert off >= 0 and off + (rows - 1) + (cols - 1) * ld < flat.size, "GEMM reads or writes out of bounds"
        it = flat.itemsize
        return np.lib.stride_tricks.as_strided(flat[off:], shape=(rows, cols), strides=(it, ld * it))

    def gemm(self, trans_b, m, n, k, a, a_off, lda, stride_a, b, b_off, ldb, stride_b, beta, c, c_off, ldc,
             stride_c, batch) -> None:
        self.launches.append("gemm")
        for p in range(batch):
            A = self._col_major(a, a_off + p * stride_a, m, k, lda)
            Bm = self._col_major(b, b_off + p * stride_b, *((n, k) if trans_b else (k, n)), ldb)
            C = self._col_major(c, c_off + p * stride_c, m, n, ldc)
            C[...] = A @ (Bm.T if trans_b else Bm) + beta * C


def _case(mode, D, bias, T=6, B=4, H=5, seed=0):
    """Inputs and upstream gradients of one layer, from the fused-kernel tests' generators."""
    return (*make_case(mode, D, bias, T=T, B=B, H=H, seed=seed), upstream(mode, T, B, D, H, np.float64, seed + 1))


def _forward_backward(xp, mode, x, h0, c0, weights, lengths, ups, to_host, loop=None):
    out, hn, cn, cache = fused.forward(xp, mode, x, h0, c0, weights, lengths, loop=loop)
    before = [to_host(a) for a in (cache.hs, cache.gates, *cache.bufs.values())]
    dx, dh0, dc0, dws, taps = fused.backward(xp, cache, *ups, tap=True)
    after = [to_host(a) for a in (cache.hs, cache.gates, *cache.bufs.values())]
    for a, b in zip(before, after):
        np.testing.assert_array_equal(a, b, err_msg="backward wrote into the forward cache")
    flat = [out, hn, cn, dx, dh0, dc0, taps["h"], taps.get("c")] + [g for dw in dws for g in dw]
    return [None if a is None else to_host(a) for a in flat]


CASES = list(itertools.product(MODES, (1, 2), (True, False), (None, (3, 6, 1, 5))))


@pytest.mark.cpu_only      # the host build of the CUDA kernels; on a GPU test_cupy_matches_numpy runs them
@pytest.mark.parametrize("mode,D,bias,lengths", CASES)
def test_raw_loops_compiled_for_the_host_match_numpy(host_library, mode, D, bias, lengths):
    x, h0, c0, weights, ups = _case(mode, D, bias, seed=D + 2 * bias)
    L = None if lengths is None else np.array(lengths)
    ref = _forward_backward(np, mode, x, h0, c0, weights, L, ups, np.asarray)
    ops = HostOps(host_library)
    got = _forward_backward(np, mode, x, h0, c0, weights, L, ups, np.asarray, loop=cuda.RawLoop(ops))
    T = x.shape[0]
    assert ops.launches.count("gemm") == 2 * T and len(ops.launches) == 4 * T     # two launches per step
    for k, (a, b) in enumerate(zip(ref, got)):
        assert (a is None) == (b is None), k
        if a is not None:
            np.testing.assert_allclose(b, a, rtol=1e-12, atol=1e-13, err_msg=f"item {k}")


@pytest.mark.cpu_only      # as above
def test_raw_backward_leaves_the_incoming_gradients_alone(host_library):
    x, h0, c0, weights, ups = _case("lstm", 1, True, B=1, H=5)        # B = 1: (D, H, B) views are contiguous
    kept = [u.copy() for u in ups]
    out, hn, cn, cache = fused.forward(np, "lstm", x, h0, c0, weights, loop=cuda.RawLoop(HostOps(host_library)))
    fused.backward(np, cache, *ups)
    for u, k in zip(ups, kept):
        np.testing.assert_array_equal(u, k)


def test_backward_leaves_the_incoming_gradients_alone(device):
    import tinygrad_rnn as tr
    xp = tr.backend.xp_for(device)
    x, h0, c0, weights, ups = _case("lstm", 1, True, B=1, H=5)
    kept = [u.copy() for u in ups]
    dev_ups = [xp.asarray(u) for u in ups]
    out, hn, cn, cache = fused.forward(xp, "lstm", xp.asarray(x), xp.asarray(h0), xp.asarray(c0),
                                       [tuple(xp.asarray(a) for a in w) for w in weights])
    fused.backward(xp, cache, *dev_ups)
    for u, k in zip(dev_ups, kept):
        np.testing.assert_array_equal(tr.backend.to_numpy(u), k)


@pytest.mark.cpu_only      # the loop choice and its dtype check happen before any device array exists
def test_loop_is_chosen_from_the_device_and_float16_on_cuda_is_a_clear_error():
    assert fused.loop_for("cpu", np.float16) is fused.NUMPY_LOOP
    with pytest.raises(TypeError, match=r"float32 or float64, got float16.*unroll=True"):
        fused.loop_for("cuda", np.float16)
    assert not hasattr(cuda, "LOOPS") and "ElementwiseKernel" not in Path(cuda.__file__).read_text()
