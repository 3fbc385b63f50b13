"""The Elman RNN, tanh and ReLU: ``h' = act(W_ih x + b_ih + W_hh h + b_hh)``.

Two descriptions (``rnn_tanh``, ``rnn_relu``) and the kind's part of the fused kernel (see ``fused.py``).
"""

from __future__ import annotations

from functools import partial

import numpy as np

from ..cells import RNNCell, rnn_cell
from . import CellKind, diag_rows, register


def rnn_step_jacobian(w, prev, new, gates, xp=np, relu: bool = False):
    """``∂h_t/∂h_{t−1} = diag(act'(z_t)) W_hh`` ``(N, H, H)``, with ``act'`` read from ``h_t``:
    ``1 − h_t²`` for tanh, ``[h_t > 0]`` for ReLU (the kind's ``step_jacobian``, see ``CellKind``)."""
    h = new[0]
    dact = (h > 0).astype(h.dtype) if relu else 1 - h * h
    return diag_rows(dact, w[1])


class RNNKernel:
    """The Elman RNN's part of the fused layer (no extra state, no extra buffer)."""

    def __init__(self, relu: bool) -> None:
        self.relu = relu

    def buffers(self, xp, T, D, H, B, dt, extra0):
        return {}

    def finals(self, bufs, T):
        return []

    # ---------------------------------------------------------------- NumPy loop (the reference)
    def workspace(self, xp, D, H, B, dt):
        return None

    def forward_step(self, xp, s, g, rec, hs, bufs, b_rec, tmp, inact_s):
        h = hs[s + 1]
        xp.add(g, rec, out=h)
        if self.relu:
            xp.maximum(h, 0, out=h)
        else:
            xp.tanh(h, out=h)

    def bptt_prepare(self, xp, c, d_extra, tap):
        hcur = c.hs[1:]
        if self.relu:
            K = (hcur > 0).astype(c.hs.dtype)
        else:
            K = xp.multiply(hcur, hcur)
            xp.subtract(1, K, out=K)
        if c.act is not None:
            K *= c.act
        return {"K": K}

    def bptt_step(self, xp, s, dh, st):
        K = st["K"]
        xp.multiply(K[s], dh, out=K[s])

    def bptt_carry(self, xp, s, dh, rec, st, c):
        if c.partial[s]:
            rec += dh * c.inact[s]                              # padded columns: dh passes through

    def bptt_finish(self, xp, c, dH, st, need_dn):
        return None, [], []

    # ---------------------------------------------------------------- raw CUDA loop
    def raw_forward(self, ops, s, n, gates, rec, hs, bufs, b_rec, step):
        ops.kernel("rnn_fwd", n, gates, rec, hs, np.int32(self.relu), *step)

    def raw_backward_prepare(self, xp, T, D, H, B, dt, d_extra, tap):
        return {}

    def raw_backward(self, ops, s, n, dHx, c, dz, st, step):
        ops.kernel("rnn_bwd", n, dHx, c.hs, dz, np.int32(self.relu), *step)

    def raw_backward_finish(self, st):
        return None, [], []

    CUDA_SOURCE = r"""
extern "C" __global__ void rnn_fwd(const real* gates, const real* rec, real* hs, int relu,
                                   const long long* L, int has_len, int s, int T, int D, int H, int B) {
    FOR_EACH(i, (long long)D * H * B) {
        STEP_INDEX
        const real v = gates[at] + rec[i];
        const real h = relu ? (v > (real)0 ? v : (real)0) : tanh(v);
        hs[nx] = active ? h : hs[at];
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


for _act in ("tanh", "relu"):
    register(CellKind(
        name=f"rnn_{_act}", cell=RNNCell, cell_kwargs={"nonlinearity": _act}, gates=("h",), sigmoid_gates=(),
        states=("h",), scope="rnn", title="RNN" if _act == "tanh" else "RNN (ReLU)",
        gate_labels={"proj": "W·x + W·h + b", "h": f"h' = {_act}(·)"}, cell_fn=rnn_cell,
        fused=RNNKernel(relu=_act == "relu"), step_jacobian=partial(rnn_step_jacobian, relu=_act == "relu")))
