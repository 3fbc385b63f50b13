"""The CUDA side of the fused kernels (``fused.py``): the raw loops over time steps on CuPy.

``fused.forward``/``fused.backward`` run the same algorithm on NumPy and CuPy. Only the loop over
time steps differs on the GPU, where a NumPy-style loop of array calls is bound by the host (each CuPy
call costs tens of microseconds of Python and dispatch, and a step makes several). The raw loops
(:class:`RawLoop`) issue per step exactly one cuBLAS ``gemmStridedBatched`` and one kernel launch, with
pointers computed from the step index; the backward kernel computes the gate gradients straight from
the saved activations, so no step-independent factors are precomputed. The kernels of each cell kind
live in its file in ``kinds/`` (``CUDA_SOURCE`` of its fused kernel); the module compiled is the
shared header and all of them (:func:`kernel_source`; plain C++ apart from the prelude: the tests
compile it for the host and hold the raw loops to the NumPy loop, no GPU needed).

The loop is chosen once from the device (``fused.loop_for``) and passed in; it serves float32 and
float64. float16 on the GPU is a clear error (the NumPy loop on the CPU takes it).

Layout: per step a gate buffer ``(D, G*H, B)`` (gate k of direction d is rows ``k*H:(k+1)*H`` of
``gates[d]``) and states ``(D, H, B)``, feature-major. The sigmoid rows hold pre-activations already
halved (scaled weights), so σ(z) = ½·tanh(z/2) + ½ reads ``0.5*tanh(v)+0.5``. Every buffer is a whole
C-contiguous array in processing order (see ``fused.py``): gates ``(T, D, G*H, B)``, states
``(T+1, D, H, B)``, per-step buffers ``(T, D, H, B)``. A kernel handles element ``i`` of the
``(D, H, B)`` block of step ``s``.

CuPy is imported on first use, so this module imports without it.
"""

from __future__ import annotations

import numpy as np

from .kinds import REGISTRY

CUDA_PRELUDE = """
typedef REAL real;
#define FOR_EACH(i, n) const long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; if (i < (n))
"""

KERNEL_HEADER = r"""
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

// Forward kernels: gates pre-activations in (sigmoid rows halved), activations out; rec = W_hh h_s (scaled).
// Backward kernels: dHx (T+1, D, H, B): dHx[s+1] is the full gradient w.r.t. the state step s outputs (the
// GEMM of step s+1 has landed); a kernel writes dz (gate pre-activations, hidden side) for step s and adds
// the direct paths to dHx[s], to which the GEMM of this step then adds W_hh^T dz.
"""


def kernel_source() -> str:
    """The shared header and every registered kind's raw kernels (read from the registry when asked)."""
    seen = []
    for kind in REGISTRY.values():
        src = getattr(kind.fused, "CUDA_SOURCE", None)
        if src and src not in seen:
            seen.append(src)
    return KERNEL_HEADER + "".join(seen)



_raw_loops: dict = {}


class CupyOps:
    """Raw launches on the current CuPy stream: a compiled kernel by name, and a strided-batched GEMM."""

    BLOCK = 256

    def __init__(self, dtype):
        import cupy
        from cupy_backends.cuda.libs import cublas

        self.dtype = np.dtype(dtype)
        real = {"float32": "float", "float64": "double"}[self.dtype.name]
        self._module = cupy.RawModule(code=CUDA_PRELUDE.replace("REAL", real) + kernel_source())
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


def raw_loop(dtype) -> "RawLoop":
    """The raw CUDA loop for ``dtype`` (float32 or float64), built once per dtype."""
    name = str(np.dtype(dtype)) if not hasattr(dtype, "name") else dtype.name
    if name not in ("float32", "float64"):
        raise TypeError(f"dtype: the fused recurrent kernels on CUDA take float32 or float64, got {name}; "
                        "run the layer with unroll=True, or convert it with .float()")
    key = (name, kernel_source())                # a kind registered later gets a module with its kernels
    loop = _raw_loops.get(key)
    if loop is None:
        loop = _raw_loops[key] = RawLoop(CupyOps(name))
    return loop


def _step_args(xp, L, T: int, D: int, H: int, B: int):
    """The trailing kernel arguments but the step: ``(L, has_len)`` then, per step, ``s, T, D, H, B``."""
    lens = (L, np.int32(1)) if L is not None else (xp.zeros(1, dtype=np.int64), np.int32(0))   # never read
    dims = (np.int32(T), np.int32(D), np.int32(H), np.int32(B))
    return lambda s: (*lens, np.int32(s), *dims)


class RawLoop:
    """The loops over time steps of ``fused.forward``/``backward`` as raw launches on ``ops`` (a
    :class:`CupyOps`, or the tests' host stand-in): per step one GEMM and one kernel of the cell kind."""

    name = "raw"
    needs_recurrent_bias = True             # the kernels read b_hn; zeros when the layer has no bias
    supports_proj = True                    # the projected output h' = W_hr m (LSTM with proj_size)

    def __init__(self, ops) -> None:
        self.ops = ops

    @staticmethod
    def project(xp, w_aug, x_aug, gates) -> None:
        gates.transpose(1, 0, 2, 3)[...] = xp.matmul(w_aug, x_aug)    # CuPy: no strided ``out=``, one copy

    def forward(self, xp, kern, gates, w_hh_s, hs, bufs, b_rec, L, inact, partial, proj=None) -> None:
        """Per step: ``rec (D, GH, B) = w_hh_s (D, GH, H) @ hs[s] (D, H, B)`` as one batched GEMM (row-major
        ``C = A B`` is column-major ``C^T = B^T A^T``), then the kind's kernel writes ``hs[s+1]`` (and its
        own buffers) and the activations into ``gates[s]``.

        ``proj``: None, or ``(w_hr (D, P, H), ms (T+1, D, H, B))`` (``hs`` is then ``(T+1, D, P, B)``): the
        kernel writes ``m = o * tanh(c)`` into ``ms[s+1]``, a second GEMM ``hs[s+1] = w_hr @ ms[s+1]``, and
        on steps with padding the finished columns of ``hs[s+1]`` are copied from ``hs[s]``."""
        ops = self.ops
        T, D, GH, B = gates.shape
        P = hs.shape[2]
        out = hs if proj is None else proj[1]               # where the kind's kernel writes its h
        H = out.shape[2]
        n, n_h = D * H * B, D * P * B
        rec = xp.empty((D, GH, B), dtype=gates.dtype)
        step = _step_args(xp, L, T, D, H, B)
        ops.begin()
        for s in range(T):
            ops.gemm(False, B, GH, P, hs, s * n_h, B, P * B, w_hh_s, 0, P, GH * P, 0.0, rec, 0, B, GH * B, D)
            kern.raw_forward(ops, s, n, gates, rec, out, bufs, b_rec, step(s))
            if proj is not None:                            # hs[s+1] (P, B) = w_hr (P, H) @ ms[s+1] (H, B)
                ops.gemm(False, B, P, H, out, (s + 1) * n, B, H * B, proj[0], 0, H, P * H, 0.0, hs, (s + 1) * n_h,
                         B, P * B, D)
                if partial[s]:
                    xp.copyto(hs[s + 1], hs[s], where=inact[s])

    def backward(self, xp, kern, c, dHx, d_extra, need_dn: bool, tap: bool):
        """BPTT over all steps: returns ``(dz (T, D, GH, B), dn, extra_taps, extra_first, dh0)``.

        ``dHx (T+1, D, H, B)`` (``P`` for ``H`` with a projection) holds in ``dHx[1:]`` the gradients from
        the outputs; on return ``dHx[s+1]`` is the total gradient w.r.t. the state step ``s`` outputs and
        ``dHx[0]`` the one w.r.t. ``h0``.
        Per step one kernel (gate gradients; direct paths added to ``dHx[s]``) and one GEMM
        ``dHx[s] += w_hh^T dz[s]``, column-major ``(B, H) += dz[s]^T (B, GH) @ w_hh (GH, H)``.
        """
        ops = self.ops
        T, D, H, B = c.T, c.D, c.H, c.B
        P = c.P
        GH = c.w_hh.shape[1]
        n, n_h = D * H * B, D * P * B
        dt = dHx.dtype
        dHx[0] = 0
        dz = xp.empty((T, D, GH, B), dtype=dt)
        st = kern.raw_backward_prepare(xp, T, D, H, B, dt, d_extra, tap)
        step = _step_args(xp, c.lengths, T, D, H, B)
        # With a projection the kernel reads dm = w_hr^T dh (dM[s+1], one more GEMM per step) instead of dh;
        # what it adds to dM[s] at padded columns is overwritten there, so the h gradient passes through
        # padding here (dHx[s] += dHx[s+1] on finished columns).
        dM = dHx if c.w_hr is None else xp.empty((T + 1, D, H, B), dtype=dt)
        ops.begin()
        for s in range(T - 1, -1, -1):
            if c.w_hr is not None:                          # dM[s+1] (H, B) = w_hr^T (H, P) @ dHx[s+1] (P, B)
                ops.gemm(True, B, H, P, dHx, (s + 1) * n_h, B, P * B, c.w_hr, 0, H, P * H, 0.0, dM, (s + 1) * n,
                         B, H * B, D)
            kern.raw_backward(ops, s, n, dM, c, dz, st, step(s))
            if c.w_hr is not None and c.partial[s]:
                dHx[s] += dHx[s + 1] * c.inact[s]
            ops.gemm(True, B, P, GH, dz, s * D * GH * B, B, GH * B, c.w_hh, 0, P, GH * P, 1.0, dHx, s * n_h, B,
                     P * B, D)
        dn, extra_taps, extra_first = kern.raw_backward_finish(st)
        return dz, dn, extra_taps, extra_first, dHx[0]
