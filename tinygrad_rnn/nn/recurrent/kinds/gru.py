"""The GRU (gate order r, z, n): ``n = tanh(W_in x + b_in + r·(W_hn h + b_hn))``, ``h' = (1-z)·n + z·h``.

The description, and the kind's part of the fused kernel (see ``fused.py``): ``b_hn`` stays inside
the recurrence (``recurrent_bias_gates``), so each step keeps ``W_hn h + b_hn`` (``hn_rec``) for backward.
"""

from __future__ import annotations

import numpy as np

from ..cells import GRUCell, gru_cell
from . import CellKind, diag_rows, register


def gru_step_jacobian(w, prev, new, gates, xp=np):
    """``∂h_t/∂h_{t−1}`` ``(N, H, H)`` of the GRU (the kind's ``step_jacobian``, see ``CellKind``)::

        J = diag(z) + diag(1 − z) ∂n/∂h + diag(h_{t−1} − n) diag(z(1 − z)) W_hz
        ∂n/∂h = diag(1 − n²) [diag(r) W_hn + diag(W_hn h_{t−1} + b_hn) diag(r(1 − r)) W_hr]
    """
    _, w_hh, _, b_hh = w
    h_prev = prev[0]
    H = h_prev.shape[1]
    r, z, n = gates["r"], gates["z"], gates["n"]
    W_hr, W_hz, W_hn = w_hh[:H], w_hh[H:2 * H], w_hh[2 * H:]
    hn = h_prev @ W_hn.T
    if b_hh is not None:
        hn = hn + b_hh[2 * H:]
    dr = diag_rows(r * (1 - r), W_hr)
    dn = (1 - n * n)[:, :, None] * (diag_rows(r, W_hn) + hn[:, :, None] * dr)
    dz = diag_rows(z * (1 - z), W_hz)
    return z[:, :, None] * xp.eye(H)[None] + (1 - z)[:, :, None] * dn + (h_prev - n)[:, :, None] * dz


class GRUKernel:
    """The GRU's part of the fused layer."""

    def buffers(self, xp, T, D, H, B, dt, extra0):
        return {"hn_rec": xp.empty((T, D, H, B), dtype=dt)}             # W_hn h + b_hn per step

    def finals(self, bufs, T):
        return []

    # ---------------------------------------------------------------- NumPy loop (the reference)
    def workspace(self, xp, D, H, B, dt):
        return xp.empty((D, H, B), dtype=dt)

    def forward_step(self, xp, s, g, rec, hs, bufs, b_hn, tmp, inact_s):
        H = hs.shape[2]
        hn_rec = bufs["hn_rec"]
        rz, n = g[:, :2 * H], g[:, 2 * H:]
        rz += rec[:, :2 * H]
        xp.tanh(rz, out=rz)
        rz *= 0.5
        rz += 0.5
        if b_hn is None:
            hn_rec[s] = rec[:, 2 * H:]
        else:
            xp.add(rec[:, 2 * H:], b_hn, out=hn_rec[s])
        xp.multiply(g[:, :H], hn_rec[s], out=tmp)
        n += tmp
        xp.tanh(n, out=n)
        h = hs[s + 1]
        xp.subtract(hs[s], n, out=h)                    # h' = n + z*(h - n)
        h *= g[:, H:2 * H]
        h += n

    def bptt_prepare(self, xp, c, d_extra, tap):
        T, D, H, B = c.T, c.D, c.H, c.B
        dt = c.hs.dtype
        gates, hn_rec, hs = c.gates, c.bufs["hn_rec"], c.hs
        r, z, n = (gates[:, :, k * H:(k + 1) * H] for k in range(3))
        K = xp.empty((T, D, 3 * H, B), dtype=dt)               # [Kr, Kz, Krn]; becomes dz (hidden side)
        Kr, Kz, Krn = (K[:, :, k * H:(k + 1) * H] for k in range(3))
        Kn = xp.multiply(n, n)                                  # Kn = (1-z)(1-n²): dn_pre = dh * Kn
        xp.subtract(1, Kn, out=Kn)
        xp.subtract(1, z, out=Krn)
        Kn *= Krn
        xp.multiply(Kn, r, out=Krn)                             # Krn = Kn * r: d(W_hn h + b_hn)
        xp.subtract(1, r, out=Kr)                               # Kr = Kn * hn * r(1-r)
        Kr *= r
        Kr *= hn_rec
        Kr *= Kn
        xp.subtract(hs[:T], n, out=Kz)                          # Kz = (h_prev - n) * z(1-z)
        Kz *= z
        zc = xp.subtract(1, z)
        Kz *= zc
        del zc
        if c.act is not None:
            K *= c.act
            Kn *= c.act
            Z = xp.where(c.inact, xp.asarray(1, dtype=dt), z)  # dh passes unchanged through padding
        else:
            Z = z
        return {"K": K, "K3": K.reshape(T, D, 3, H, B), "Kn": Kn, "Z": Z, "carry": xp.empty((D, H, B), dtype=dt)}

    def bptt_step(self, xp, s, dh, st):
        k3 = st["K3"][s]
        xp.multiply(k3, dh[:, None], out=k3)                    # dz_{r,z}, d(W_hn h + b_hn)

    def bptt_carry(self, xp, s, dh, rec, st, c):
        xp.multiply(dh, st["Z"][s], out=st["carry"])            # direct path h' = ... + z*h (and padding)
        rec += st["carry"]

    def bptt_finish(self, xp, c, dH, st, need_dn):
        return (xp.multiply(dH, st["Kn"]) if need_dn else None), [], []    # input side of n: dn_pre

    # ---------------------------------------------------------------- raw CUDA loop
    def raw_forward(self, ops, s, n, gates, rec, hs, bufs, b_hn, step):
        ops.kernel("gru_fwd", n, gates, rec, b_hn, bufs["hn_rec"], hs, *step)

    def raw_backward_prepare(self, xp, T, D, H, B, dt, d_extra, tap):
        return {"dn": xp.empty((T, D, H, B), dtype=dt)}

    def raw_backward(self, ops, s, n, dHx, c, dz, st, step):
        ops.kernel("gru_bwd", n, dHx, c.gates, c.hs, c.bufs["hn_rec"], dz, st["dn"], *step)

    def raw_backward_finish(self, st):
        return st["dn"], [], []

    CUDA_SOURCE = r"""
// GRU forward. gates (D, 3H, B): r,z,n; rec = W_hh h (r,z rows scaled); b_hn (D, H) (zeros if no bias).
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
"""


GRU = register(CellKind(
    name="gru", cell=GRUCell, cell_kwargs={}, gates=("r", "z", "n"), sigmoid_gates=("r", "z"),
    states=("h",), scope="gru", title="GRU",
    gate_labels={"proj": "W·x + b, W·h + b", "r": "r  reset gate σ", "z": "z  update gate σ",
                 "n": "n  new gate tanh", "h": "h' = (1-z)·n + z·h"},
    cell_fn=gru_cell, recurrent_bias_gates=("n",), fused=GRUKernel(), step_jacobian=gru_step_jacobian))
