"""The LSTM (gate order i, f, g, o; state (h, c)): ``c' = f·c + i·g``, ``h' = o·tanh(c')``.

The description, and the kind's part of the fused kernel: the per-step arithmetic of the NumPy loop
(the reference), its BPTT factors, and the two raw CUDA kernels (see ``fused.py`` for the buffers and
the protocol). The gate buffer of a step is ``(D, 4H, B)``, its σ rows hold halved pre-activations,
so σ(z) = ½·tanh(v) + ½ and one ``tanh`` serves the whole buffer.
"""

from __future__ import annotations

import numpy as np

from ..cells import LSTMCell, LSTMPCell, lstm_cell
from . import CellKind, diag_rows, register


def lstm_step_jacobian(w, prev, new, gates, xp=np):
    """``∂(h_t, c_t)/∂(h_{t−1}, c_{t−1})`` ``(N, P+H, P+H)`` of the LSTM (the kind's ``step_jacobian``, see
    ``CellKind``), with ``m = o·tanh(c_t)`` and ``h_t = W_hr m`` (``W_hr = I``, ``P = H`` without ``proj_size``)::

        ∂c/∂h = diag(c_{t−1}) F' + diag(g) I' + diag(i) G',          ∂c/∂c = diag(f)
        ∂m/∂h = diag(tanh c_t) O' + diag(o(1 − tanh² c_t)) ∂c/∂h,    ∂m/∂c = diag(o(1 − tanh² c_t) f)
        ∂h/∂h = W_hr ∂m/∂h,                                           ∂h/∂c = W_hr ∂m/∂c

    with ``I' = diag(i(1 − i)) W_hi``, ``F' = diag(f(1 − f)) W_hf``, ``G' = diag(1 − g²) W_hg``,
    ``O' = diag(o(1 − o)) W_ho`` (the row blocks of ``W_hh``, ``H × P``).
    """
    w_hh, w_hr = w[1], (w[4] if len(w) > 4 else None)
    c_prev, c = prev[1], new[1]
    N, H = c.shape
    P = w_hh.shape[1]
    i, f, g, o = gates["i"], gates["f"], gates["g"], gates["o"]
    W_hi, W_hf, W_hg, W_ho = (w_hh[k * H:(k + 1) * H] for k in range(4))
    tc = xp.tanh(c)
    dc_dh = (c_prev[:, :, None] * diag_rows(f * (1 - f), W_hf) + g[:, :, None] * diag_rows(i * (1 - i), W_hi)
             + i[:, :, None] * diag_rows(1 - g * g, W_hg))
    k = o * (1 - tc * tc)
    dm_dh = tc[:, :, None] * diag_rows(o * (1 - o), W_ho) + k[:, :, None] * dc_dh         # (N, H, P)
    J = xp.zeros((N, P + H, P + H), dtype=c.dtype)
    if w_hr is None:
        J[:, :P, :P] = dm_dh
        J[:, :P, P:] = (k * f)[:, :, None] * xp.eye(H)[None]
    else:
        J[:, :P, :P] = w_hr[None] @ dm_dh
        J[:, :P, P:] = w_hr[None] * (k * f)[:, None, :]
    J[:, P:, :P] = dc_dh
    J[:, P:, P:] = f[:, :, None] * xp.eye(H)[None]
    return J


class LSTMKernel:
    """The LSTM's part of the fused layer: extra state ``c`` (``cs``), ``tanh(c)`` kept per step (``tcs``)."""

    def buffers(self, xp, T, D, H, B, dt, extra0):
        cs = xp.empty((T + 1, D, H, B), dtype=dt)
        cs[0] = extra0[0].transpose(0, 2, 1)
        return {"cs": cs, "tcs": xp.empty((T, D, H, B), dtype=dt)}      # tanh(c_s), reused by h and backward

    def finals(self, bufs, T):
        return [bufs["cs"][T]]

    # ---------------------------------------------------------------- NumPy loop (the reference)
    def workspace(self, xp, D, H, B, dt):
        return xp.empty((D, H, B), dtype=dt)

    def forward_step(self, xp, s, g, rec, hs, bufs, b_rec, tmp, inact_s):
        H = hs.shape[2]
        cs, tcs = bufs["cs"], bufs["tcs"]
        g += rec
        xp.tanh(g, out=g)                               # i,f,o hold tanh(z/2), g holds tanh(z)
        for a, b in ((0, 2 * H), (3 * H, 4 * H)):
            gs = g[:, a:b]
            gs *= 0.5
            gs += 0.5                                   # σ(z) = ½·tanh(z/2) + ½
        i, f, gg, o = g[:, :H], g[:, H:2 * H], g[:, 2 * H:3 * H], g[:, 3 * H:]
        c = cs[s + 1]
        xp.multiply(f, cs[s], out=c)
        xp.multiply(i, gg, out=tmp)
        c += tmp
        xp.tanh(c, out=tcs[s])
        xp.multiply(o, tcs[s], out=hs[s + 1])
        if inact_s is not None:
            xp.copyto(cs[s + 1], cs[s], where=inact_s)

    def bptt_prepare(self, xp, c, d_extra, tap):
        """Step-independent factors for all steps at once: in the loop, dz[s] = (dh or dc)[s] * K[s]."""
        T, D, H, B = c.T, c.D, c.H, c.B
        dt = c.hs.dtype
        gates, tcs, cs = c.gates, c.bufs["tcs"], c.bufs["cs"]
        i, f, g, o = (gates[:, :, k * H:(k + 1) * H] for k in range(4))
        K = xp.empty((T, D, 4 * H, B), dtype=dt)
        Ki, Kf, Kg, Ko = (K[:, :, k * H:(k + 1) * H] for k in range(4))
        K1 = xp.multiply(tcs, tcs)                              # K1 = o * (1 - tanh²c): dc += dh * K1
        xp.subtract(1, K1, out=K1)
        K1 *= o
        xp.subtract(1, o, out=Ko)                               # Ko = tanh(c) * o(1-o)
        Ko *= o
        Ko *= tcs
        xp.subtract(1, f, out=Kf)                               # Kf = c_prev * f(1-f)
        Kf *= f
        Kf *= cs[:T]
        xp.multiply(g, g, out=Kg)                               # Kg = i * (1 - g²)
        xp.subtract(1, Kg, out=Kg)
        Kg *= i
        xp.subtract(1, i, out=Ki)                               # Ki = g * i(1-i)
        Ki *= i
        Ki *= g
        if c.act is not None:
            K *= c.act
            K1 *= c.act
            F = xp.where(c.inact, xp.asarray(1, dtype=dt), f)  # dc passes unchanged through padding
        else:
            F = f
        dc_init = xp.zeros((D, H, B), dtype=dt) if d_extra[0] is None else d_extra[0].transpose(0, 2, 1).copy()
        return {"K": K, "K4": K.reshape(T, D, 4, H, B), "K1": K1, "F": F,
                "dc_total": xp.empty((T, D, H, B), dtype=dt) if tap else None,
                "dc_scratch": xp.empty((D, H, B), dtype=dt), "dc_next": dc_init,
                "dc_spare": xp.empty((D, H, B), dtype=dt)}

    def bptt_step(self, xp, s, dh, st):
        dc = st["dc_total"][s] if st["dc_total"] is not None else st["dc_scratch"]
        xp.multiply(dh, st["K1"][s], out=dc)                    # dc = dc_next + dh * o(1 - tanh²c)
        dc += st["dc_next"]
        k4 = st["K4"][s]
        xp.multiply(k4[:, :3], dc[:, None], out=k4[:, :3])      # dz_{i,f,g} = dc * K
        xp.multiply(k4[:, 3], dh, out=k4[:, 3])                 # dz_o = dh * K
        xp.multiply(dc, st["F"][s], out=st["dc_spare"])         # dc_prev = dc * f
        st["dc_next"], st["dc_spare"] = st["dc_spare"], st["dc_next"]

    def bptt_carry(self, xp, s, dh, rec, st, c):
        if c.partial[s]:
            rec += dh * c.inact[s]                              # padded columns: dh passes through

    def bptt_finish(self, xp, c, dH, st, need_dn):
        return None, [st["dc_total"]], [st["dc_next"]]

    # ---------------------------------------------------------------- raw CUDA loop
    def raw_forward(self, ops, s, n, gates, rec, hs, bufs, b_rec, step):
        ops.kernel("lstm_fwd", n, gates, rec, bufs["cs"], bufs["tcs"], hs, *step)

    def raw_backward_prepare(self, xp, T, D, H, B, dt, d_extra, tap):
        dc_init = xp.zeros((D, H, B), dtype=dt) if d_extra[0] is None else d_extra[0].transpose(0, 2, 1).copy()
        bufs = (xp.empty((D, H, B), dtype=dt), xp.empty((D, H, B), dtype=dt))
        return {"dc_next": dc_init, "bufs": bufs, "tap": tap,
                "dc_tap": xp.empty((T, D, H, B), dtype=dt) if tap else bufs[0]}     # not written unless tap

    def raw_backward(self, ops, s, n, dHx, c, dz, st, step):
        dc_prev = st["bufs"][s % 2]
        ops.kernel("lstm_bwd", n, dHx, c.gates, c.bufs["cs"], c.bufs["tcs"], st["dc_next"], dc_prev, st["dc_tap"],
                   np.int32(st["tap"]), dz, *step)
        st["dc_next"] = dc_prev

    def raw_backward_finish(self, st):
        return None, [st["dc_tap"] if st["tap"] else None], [st["dc_next"]]

    CUDA_SOURCE = r"""
// LSTM forward. gates: pre-activations in (sigmoid rows halved), activations out; rec = W_hh h_s (scaled).
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
"""


LSTM = register(CellKind(
    name="lstm", cell=LSTMCell, cell_kwargs={}, gates=("i", "f", "g", "o"), sigmoid_gates=("i", "f", "o"),
    states=("h", "c"), scope="lstm", title="LSTM",
    gate_labels={"proj": "W·x + W·h + b", "i": "i  input gate σ", "f": "f  forget gate σ",
                 "g": "g  candidate tanh", "o": "o  output gate σ", "c": "c' = f·c + i·g", "h": "h' = o·tanh(c')"},
    cell_fn=lstm_cell, fused=LSTMKernel(), proj_cell=LSTMPCell, step_jacobian=lstm_step_jacobian))
