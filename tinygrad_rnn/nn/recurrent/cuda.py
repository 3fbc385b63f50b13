"""The CUDA side of the fused kernels (``fused.py``): two ways to run the recurrent loop on CuPy.

``fused.forward``/``fused.backward`` run the same algorithm on NumPy and CuPy. Only the loop over
time steps differs on the GPU, where a NumPy-style loop of array calls is bound by the host (each CuPy
call costs tens of microseconds of Python and dispatch, and a step makes several):

- **raw** (the default, :data:`LOOPS`): :func:`forward_loop` and :func:`backward_loop` issue per step
  exactly one cuBLAS ``gemmStridedBatched`` and one kernel launch, with pointers computed from the
  step index; the backward kernel computes the gate gradients straight from the saved activations, so
  no step-independent factors are precomputed. Source: :data:`KERNEL_SOURCE` (C++, also compiled for
  the host by the tests).
- **elementwise**: CuPy ``matmul`` plus the ``ElementwiseKernel`` twins below of the NumPy ufunc calls
  of one step; the reference the raw loops are tested and benchmarked against.

Layout (both): per step a gate buffer ``(D, G*H, B)`` (gate k of direction d is rows ``k*H:(k+1)*H`` of
``gates[d]``) and states ``(D, H, B)``, feature-major. The sigmoid rows hold pre-activations already
halved (scaled weights), so σ(z) = ½·tanh(z/2) + ½ reads ``0.5*tanh(v)+0.5``.

CuPy is imported on first use, so this module imports without it. Kernels are generic over float32 and
float64.
"""

from __future__ import annotations

import numpy as np

_kernels: dict = {}

_PREAMBLE = """
const int hb = H * B;
const int d = i / hb;
const int rem = i - d * hb;
const T half = 0.5;
"""

_SOURCES = {
    # gates (D, 4H, B) raw: in pre-activations (gx), out activations i,f,g,o; rec = W_hh h (scaled).
    "lstm_forward": (
        "T c_prev, raw T rec, int32 H, int32 B",
        "raw T gates, T c, T tc, T h",
        _PREAMBLE + """
        const int k = d * 4 * hb + rem;
        const T ig = half * tanh(gates[k] + rec[k]) + half;
        const T fg = half * tanh(gates[k + hb] + rec[k + hb]) + half;
        const T gg = tanh(gates[k + 2 * hb] + rec[k + 2 * hb]);
        const T og = half * tanh(gates[k + 3 * hb] + rec[k + 3 * hb]) + half;
        gates[k] = ig;
        gates[k + hb] = fg;
        gates[k + 2 * hb] = gg;
        gates[k + 3 * hb] = og;
        c = fg * c_prev + ig * gg;
        tc = tanh(c);
        h = og * tc;
        """),
    # gates (D, 3H, B) raw: r,z,n; rec = W_hh h (r,z rows scaled); b_hn (D, H) raw (zeros if no bias).
    "gru_forward": (
        "T h_prev, raw T rec, raw T b_hn, int32 H, int32 B",
        "raw T gates, T hn, T h",
        _PREAMBLE + """
        const int k = d * 3 * hb + rem;
        const T r = half * tanh(gates[k] + rec[k]) + half;
        const T z = half * tanh(gates[k + hb] + rec[k + hb]) + half;
        hn = rec[k + 2 * hb] + b_hn[d * H + rem / B];
        const T n = tanh(gates[k + 2 * hb] + r * hn);
        gates[k] = r;
        gates[k + hb] = z;
        gates[k + 2 * hb] = n;
        h = n + z * (h_prev - n);
        """),
    "rnn_forward": (
        "T g, T rec, int32 relu",
        "T h",
        """
        const T v = g + rec;
        h = relu ? (v > (T)0 ? v : (T)0) : tanh(v);
        """),
    # K (D, 4H, B) raw: in the step-independent factors, out dz (i,f,g by dc, o by dh).
    "lstm_backward": (
        "T dh, T dc_next, T k1, T f, int32 H, int32 B",
        "raw T K, T dc, T dc_prev",
        _PREAMBLE + """
        const int k = d * 4 * hb + rem;
        const T v = dh * k1 + dc_next;
        dc = v;
        K[k] *= v;
        K[k + hb] *= v;
        K[k + 2 * hb] *= v;
        K[k + 3 * hb] *= dh;
        dc_prev = v * f;
        """),
    "gru_backward_carry": (
        "T dh, T z",
        "T rec",
        "rec += dh * z;"),
}


def _kernel(name: str):
    k = _kernels.get(name)
    if k is None:
        import cupy

        ins, outs, body = _SOURCES[name]
        k = _kernels[name] = cupy.ElementwiseKernel(ins, outs, body, f"tinygrad_rnn_{name}")
    return k


def lstm_forward_step(gates, rec, c_prev, c, tc, h, H: int, B: int) -> None:
    """One LSTM step: activate ``gates`` in place, write ``c``, ``tc = tanh(c)`` and ``h``."""
    _kernel("lstm_forward")(c_prev, rec, H, B, gates, c, tc, h)


def gru_forward_step(gates, rec, b_hn, h_prev, hn, h, H: int, B: int) -> None:
    """One GRU step: activate ``gates`` in place, write ``hn = W_hn h + b_hn`` and ``h``."""
    _kernel("gru_forward")(h_prev, rec, b_hn, H, B, gates, hn, h)


def rnn_forward_step(g, rec, h, relu: bool) -> None:
    """One Elman step: ``h = act(g + rec)``."""
    _kernel("rnn_forward")(g, rec, int(relu), h)


def lstm_backward_step(dh, dc_next, k1, f, K, dc, dc_prev, H: int, B: int) -> None:
    """One LSTM BPTT step: ``dc = dc_next + dh*k1``; gate factors ``K`` become dz in place; ``dc_prev = dc*f``."""
    _kernel("lstm_backward")(dh, dc_next, k1, f, H, B, K, dc, dc_prev)


def gru_backward_carry(rec, dh, z) -> None:
    """``rec += dh * z``: the direct path of ``h' = (1-z)*n + z*h`` added to ``W_hh^T dz``."""
    _kernel("gru_backward_carry")(dh, z, rec)


# --------------------------------------------------------------------------------------------------
# Whole-sequence loops with raw launches (the default CUDA path)
#
# The loops below run the same recurrence as the per-step code of ``fused.py`` but issue, per step,
# exactly one cuBLAS call and one kernel launch, with pointers computed on the host from the step
# index: no CuPy array views, no ufunc dispatch. On a GPU the elementwise path spends ~40 us of host
# time per CuPy call, which left the recurrent loop host-bound; here a step costs two thin launches.
#
# Every buffer is a whole C-contiguous array in processing order (see ``fused.py``): gates
# ``(T, D, G*H, B)``, states ``hs``/``cs`` ``(T+1, D, H, B)``, per-step ``tcs``/``hn_rec``
# ``(T, D, H, B)``. A kernel handles element ``i`` of the ``(D, H, B)`` block of step ``s``.
#
# The kernel source is plain C++ apart from the prelude, so the tests compile it for the host too and
# check it, with a NumPy stand-in for the two GEMMs, against the NumPy path (no GPU needed).

CUDA_PRELUDE = """
typedef REAL real;
#define FOR_EACH(i, n) const long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; if (i < (n))
"""

KERNEL_SOURCE = r"""
// One step of the recurrence for element i of the (D, H, B) block: d = direction, rem = (feature, batch).
// Offsets: `at` indexes step s of a (T[+1], D, H, B) array, `at + D*hb` step s + 1.
#define STEP_INDEX                                                   \
    const long long hb = (long long)H * B;                           \
    const int d = (int)(i / hb);                                     \
    const long long rem = i - d * hb;                                \
    const long long at = ((long long)s * D + d) * hb + rem;          \
    const long long nx = at + D * hb;                                \
    const bool active = !has_len || (d == 0 ? s : T - 1 - s) < L[rem % B];

__device__ __forceinline__ real sig_half(real v) { return (real)0.5 * tanh(v) + (real)0.5; }

// Forward. gates: pre-activations in (sigmoid rows halved), activations out; rec = W_hh h_s (scaled).
extern "C" __global__ void lstm_fwd(real* gates, const real* rec, real* cs, real* tcs, real* hs,
                                    const long long* L, int has_len, int s, int T, int D, int H, int B) {
    FOR_EACH(i, (long long)D * H * B) {
        STEP_INDEX
        real* g = gates + ((long long)s * D + d) * 4 * hb + rem;
        const real* r = rec + (long long)d * 4 * hb + rem;
        const real ig = sig_half(g[0] + r[0]);
        const real fg = sig_half(g[hb] + r[hb]);
        const real gg = tanh(g[2 * hb] + r[2 * hb]);
        const real og = sig_half(g[3 * hb] + r[3 * hb]);
        g[0] = ig;
        g[hb] = fg;
        g[2 * hb] = gg;
        g[3 * hb] = og;
        const real c = fg * cs[at] + ig * gg;
        const real tc = tanh(c);
        tcs[at] = tc;
        cs[nx] = active ? c : cs[at];            // a finished sequence keeps its state
        hs[nx] = active ? og * tc : hs[at];
    }
}

extern "C" __global__ void gru_fwd(real* gates, const real* rec, const real* b_hn, real* hn_rec, real* hs,
                                   const long long* L, int has_len, int s, int T, int D, int H, int B) {
    FOR_EACH(i, (long long)D * H * B) {
        STEP_INDEX
        real* g = gates + ((long long)s * D + d) * 3 * hb + rem;
        const real* r = rec + (long long)d * 3 * hb + rem;
        const real rg = sig_half(g[0] + r[0]);
        const real zg = sig_half(g[hb] + r[hb]);
        const real hn = r[2 * hb] + b_hn[(long long)d * H + rem / B];
        const real ng = tanh(g[2 * hb] + rg * hn);
        g[0] = rg;
        g[hb] = zg;
        g[2 * hb] = ng;
        hn_rec[at] = hn;
        const real hp = hs[at];
        hs[nx] = active ? ng + zg * (hp - ng) : hp;
    }
}

extern "C" __global__ void rnn_fwd(const real* gates, const real* rec, real* hs, int relu,
                                   const long long* L, int has_len, int s, int T, int D, int H, int B) {
    FOR_EACH(i, (long long)D * H * B) {
        STEP_INDEX
        const real v = gates[at] + rec[i];
        const real h = relu ? (v > (real)0 ? v : (real)0) : tanh(v);
        hs[nx] = active ? h : hs[at];
    }
}

// Backward. dHx (T+1, D, H, B): dHx[s+1] is the full gradient w.r.t. the state step s outputs (the
// GEMM of step s+1 has landed); this kernel writes dz (gate pre-activations, hidden side) for step s and
// adds the direct paths to dHx[s], to which the GEMM of this step then adds W_hh^T dz.
extern "C" __global__ void lstm_bwd(real* dHx, const real* gates, const real* cs, const real* tcs,
                                    const real* dc_next, real* dc_prev, real* dc_tap, int tap, real* dz,
                                    const long long* L, int has_len, int s, int T, int D, int H, int B) {
    FOR_EACH(i, (long long)D * H * B) {
        STEP_INDEX
        const real dh = dHx[nx];
        const long long gk = ((long long)s * D + d) * 4 * hb + rem;
        const real* g = gates + gk;
        real* z = dz + gk;
        real dc = dc_next[i];
        if (active) {
            const real ig = g[0], fg = g[hb], gg = g[2 * hb], og = g[3 * hb], tc = tcs[at];
            dc += dh * (og * ((real)1 - tc * tc));
            z[0] = dc * (gg * ig * ((real)1 - ig));
            z[hb] = dc * (cs[at] * fg * ((real)1 - fg));
            z[2 * hb] = dc * (ig * ((real)1 - gg * gg));
            z[3 * hb] = dh * (tc * og * ((real)1 - og));
            dc_prev[i] = dc * fg;
        } else {                                 // padding: no gate gradient, dh and dc pass through
            z[0] = z[hb] = z[2 * hb] = z[3 * hb] = (real)0;
            dc_prev[i] = dc;
            dHx[at] += dh;
        }
        if (tap) dc_tap[at] = dc;
    }
}

extern "C" __global__ void gru_bwd(real* dHx, const real* gates, const real* hs, const real* hn_rec,
                                   real* dz, real* dn, const long long* L, int has_len,
                                   int s, int T, int D, int H, int B) {
    FOR_EACH(i, (long long)D * H * B) {
        STEP_INDEX
        const real dh = dHx[nx];
        const long long gk = ((long long)s * D + d) * 3 * hb + rem;
        const real* g = gates + gk;
        real* z = dz + gk;
        if (active) {
            const real rg = g[0], zg = g[hb], ng = g[2 * hb];
            const real dnv = dh * (((real)1 - ng * ng) * ((real)1 - zg));   // d(n pre-activation)
            z[0] = dnv * hn_rec[at] * rg * ((real)1 - rg);
            z[hb] = dh * (hs[at] - ng) * zg * ((real)1 - zg);
            z[2 * hb] = dnv * rg;                                          // d(W_hn h + b_hn)
            dn[at] = dnv;
            dHx[at] += dh * zg;                                            // h' = (1-z)*n + z*h
        } else {
            z[0] = z[hb] = z[2 * hb] = (real)0;
            dn[at] = (real)0;
            dHx[at] += dh;
        }
    }
}

extern "C" __global__ void rnn_bwd(real* dHx, const real* hs, real* dz, int relu,
                                   const long long* L, int has_len, int s, int T, int D, int H, int B) {
    FOR_EACH(i, (long long)D * H * B) {
        STEP_INDEX
        const real dh = dHx[nx];
        const real h = hs[nx];
        if (active) {
            dz[at] = dh * (relu ? (h > (real)0 ? (real)1 : (real)0) : (real)1 - h * h);
        } else {
            dz[at] = (real)0;
            dHx[at] += dh;
        }
    }
}
"""

LOOPS = "raw"
"""Which CUDA loop the fused kernels use: ``"raw"`` (one cuBLAS call and one kernel launch per step,
the default) or ``"elementwise"`` (CuPy ``matmul`` and the ``ElementwiseKernel`` twins above; kept as
the reference the tests and ``bench/recurrent.py --loops`` compare against)."""

_raw_ops: dict = {}


class CupyOps:
    """Raw launches on the current CuPy stream: a compiled kernel by name, and a strided-batched GEMM."""

    BLOCK = 256

    def __init__(self, dtype):
        import cupy
        from cupy_backends.cuda.libs import cublas

        self.dtype = np.dtype(dtype)
        real = {"float32": "float", "float64": "double"}[self.dtype.name]
        self._module = cupy.RawModule(code=CUDA_PRELUDE.replace("REAL", real) + KERNEL_SOURCE)
        self._functions = {}
        self._cublas = cublas
        self._gemm = cublas.sgemmStridedBatched if real == "float" else cublas.dgemmStridedBatched
        self._scalars = [np.full(1, v, dtype=self.dtype) for v in (0.0, 1.0)]      # host alpha/beta,
        self._pointers = {float(a[0]): a.ctypes.data for a in self._scalars}            # kept alive here
        self._device = cupy.cuda.device

    def kernel(self, name: str, n: int, *args) -> None:
        """Launch kernel ``name`` over ``n`` elements (arrays pass as pointers, ints must be int32)."""
        fn = self._functions.get(name)
        if fn is None:
            fn = self._functions[name] = self._module.get_function(name)
        fn(((n + self.BLOCK - 1) // self.BLOCK,), (self.BLOCK,), args)

    def gemm(self, trans_b: bool, m: int, n: int, k: int, a, a_off: int, lda: int, stride_a: int,
             b, b_off: int, ldb: int, stride_b: int, beta: float, c, c_off: int, ldc: int, stride_c: int,
             batch: int) -> None:
        """Column-major ``C = A @ op(B) + beta*C`` per batch (cuBLAS semantics), offsets in elements."""
        it = self.dtype.itemsize
        handle = self._device.get_cublas_handle()
        self._gemm(handle, 0, 1 if trans_b else 0, m, n, k, self._pointers[1.0],
                   a.data.ptr + a_off * it, lda, stride_a, b.data.ptr + b_off * it, ldb, stride_b,
                   self._pointers[beta], c.data.ptr + c_off * it, ldc, stride_c, batch)

    def begin(self) -> None:
        """Host pointer mode for the alpha/beta scalars (CuPy's default; set in case it was changed)."""
        cublas = self._cublas
        cublas.setPointerMode(self._device.get_cublas_handle(), cublas.CUBLAS_POINTER_MODE_HOST)


def raw_ops(dtype):
    """The raw-launch backend for ``dtype`` (float32/float64), or ``None`` to use the elementwise path."""
    if LOOPS != "raw" or str(dtype) not in ("float32", "float64"):
        return None
    ops = _raw_ops.get(str(dtype))
    if ops is None:
        ops = _raw_ops[str(dtype)] = CupyOps(dtype)
    return ops


def _step_args(xp, L, T: int, D: int, H: int, B: int):
    """The trailing kernel arguments but the step: ``(L, has_len)`` then, per step, ``s, T, D, H, B``."""
    lens = (L, np.int32(1)) if L is not None else (xp.zeros(1, dtype=np.int64), np.int32(0))   # never read
    dims = (np.int32(T), np.int32(D), np.int32(H), np.int32(B))
    return lambda s: (*lens, np.int32(s), *dims)


def forward_loop(xp, ops, mode: str, gates, w_hh_s, hs, cs, tcs, hn_rec, b_hn, L) -> None:
    """Run the forward recurrence over all steps in place (see ``fused.forward`` for the buffers).

    Per step: ``rec (D, GH, B) = w_hh_s (D, GH, H) @ hs[s] (D, H, B)`` as one batched GEMM (row-major
    ``C = A B`` is column-major ``C^T = B^T A^T``), then the gate kernel writes ``hs[s+1]`` (and
    ``cs[s+1]``, ``tcs[s]`` / ``hn_rec[s]``) and the activations into ``gates[s]``.
    """
    T, D, GH, B = gates.shape
    H = hs.shape[2]
    n = D * H * B
    rec = xp.empty((D, GH, B), dtype=gates.dtype)
    step = _step_args(xp, L, T, D, H, B)
    relu = np.int32(mode == "rnn_relu")
    ops.begin()
    for s in range(T):
        ops.gemm(False, B, GH, H, hs, s * n, B, H * B, w_hh_s, 0, H, GH * H, 0.0, rec, 0, B, GH * B, D)
        if mode == "lstm":
            ops.kernel("lstm_fwd", n, gates, rec, cs, tcs, hs, *step(s))
        elif mode == "gru":
            ops.kernel("gru_fwd", n, gates, rec, b_hn, hn_rec, hs, *step(s))
        else:
            ops.kernel("rnn_fwd", n, gates, rec, hs, relu, *step(s))


def backward_loop(xp, ops, mode: str, dHx, w_hh, gates, hs, cs, tcs, hn_rec, dc_init, L, tap: bool):
    """BPTT over all steps: returns ``dz (T, D, GH, B)``, GRU's input-side ``dn`` (else None), the LSTM's
    per-step ``dc`` when ``tap`` (else None) and its ``dc`` into the first step (else None).

    ``dHx (T+1, D, H, B)`` holds in ``dHx[1:]`` the gradients from the outputs and zeros in ``dHx[0]``;
    on return ``dHx[s+1]`` is the total gradient w.r.t. the state step ``s`` outputs and ``dHx[0]`` the
    one w.r.t. ``h0``. Per step one kernel (gate gradients; direct paths added to ``dHx[s]``) and one
    GEMM ``dHx[s] += w_hh^T dz[s]``, column-major ``(B, H) += dz[s]^T (B, GH) @ w_hh (GH, H)``.
    ``dc_init (D, H, B)`` (LSTM) is read, never written.
    """
    T, D, H, B = dHx.shape[0] - 1, dHx.shape[1], dHx.shape[2], dHx.shape[3]
    GH = w_hh.shape[1]
    n = D * H * B
    dt = dHx.dtype
    dz = xp.empty((T, D, GH, B), dtype=dt)
    dn = xp.empty((T, D, H, B), dtype=dt) if mode == "gru" else None
    step = _step_args(xp, L, T, D, H, B)
    relu = np.int32(mode == "rnn_relu")
    dc_next = dc_init
    if mode == "lstm":
        dc_bufs = (xp.empty((D, H, B), dtype=dt), xp.empty((D, H, B), dtype=dt))
        dc_tap = xp.empty((T, D, H, B), dtype=dt) if tap else dc_bufs[0]     # not written unless tap
    ops.begin()
    for s in range(T - 1, -1, -1):
        if mode == "lstm":
            dc_prev = dc_bufs[s % 2]
            ops.kernel("lstm_bwd", n, dHx, gates, cs, tcs, dc_next, dc_prev, dc_tap, np.int32(tap), dz, *step(s))
            dc_next = dc_prev
        elif mode == "gru":
            ops.kernel("gru_bwd", n, dHx, gates, hs, hn_rec, dz, dn, *step(s))
        else:
            ops.kernel("rnn_bwd", n, dHx, hs, dz, relu, *step(s))
        ops.gemm(True, B, H, GH, dz, s * D * GH * B, B, GH * B, w_hh, 0, H, GH * H, 1.0, dHx, s * n, B, H * B, D)
    if mode != "lstm":
        return dz, dn, None, None
    return dz, None, (dc_tap if tap else None), dc_next
