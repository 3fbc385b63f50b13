"""A new built-in cell kind in one file, as ``docs/how_to_add_a_cell.md`` describes it: the update-gate
RNN (UGRNN, Collins, Sohl-Dickstein & Sussillo 2017), with its fused kernel (NumPy loop and raw CUDA
kernels). In the package this file would sit in ``tinygrad_rnn/nn/recurrent/kinds/`` (every module there
registers itself on import); the tests register it with :func:`register_ugrnn` and take it out again.

    g  = σ(W_ig x + b_ig + W_hg h + b_hg)
    c  = tanh(W_ic x + b_ic + W_hc h + b_hc)
    h' = g ⊙ h + (1 − g) ⊙ c                (gate order g, c)
"""

from __future__ import annotations

from tinygrad_rnn.autograd import scope
from tinygrad_rnn.nn.recurrent.cells import _affine, _CellBase
from tinygrad_rnn.nn.recurrent.kinds import REGISTRY, CellKind, register


def ugrnn_cell(x, h, w_ih, w_hh, b_ih=None, b_hh=None):
    """One UGRNN step (gate order g, c): h' = g·h + (1 − g)·c."""
    H = h.shape[-1]
    with scope(gate="proj"):
        z = _affine(x, w_ih, b_ih) + _affine(h, w_hh, b_hh)
    with scope(gate="g"):
        g = z[..., :H].sigmoid()
    with scope(gate="c"):
        c = z[..., H:].tanh()
    with scope(gate="h"):
        return g * h + (1 - g) * c


class UGRNNCell(_CellBase):
    """The UGRNN cell: ``weight_ih (2H, I)``, ``weight_hh (2H, H)``, rows ``g | c``."""

    _gates = 2

    def forward(self, input, hx=None):
        batched = self._check_input(input)
        h = self._zeros(input) if hx is None else hx
        if hx is not None:
            self._check_state(hx, input, batched, "hx")
        return ugrnn_cell(input, h, *self._weights())


class UGRNNKernel:
    """The UGRNN's part of the fused layer (see ``fused.py`` for the buffers and the protocol)."""

    def buffers(self, xp, T, D, H, B, dt, extra0):
        return {}

    def finals(self, bufs, T):
        return []

    def workspace(self, xp, D, H, B, dt):
        return None

    def forward_step(self, xp, s, g, rec, hs, bufs, b_rec, tmp, inact_s):
        H = hs.shape[2]
        g += rec
        xp.tanh(g, out=g)                               # g holds tanh(z/2), c holds tanh(z)
        gg = g[:, :H]
        gg *= 0.5
        gg += 0.5                                       # σ(z) = ½·tanh(z/2) + ½
        h = hs[s + 1]
        xp.subtract(hs[s], g[:, H:], out=h)             # h' = c + g*(h - c)
        h *= gg
        h += g[:, H:]

    def bptt_prepare(self, xp, c, d_extra, tap):
        T, D, H, B = c.T, c.D, c.H, c.B
        dt = c.hs.dtype
        g, cc = c.gates[:, :, :H], c.gates[:, :, H:]
        K = xp.empty((T, D, 2 * H, B), dtype=dt)
        Kg, Kc = K[:, :, :H], K[:, :, H:]
        xp.subtract(c.hs[:T], cc, out=Kg)               # Kg = (h_prev - c) * g(1-g)
        Kg *= g
        Kg *= 1 - g
        xp.multiply(cc, cc, out=Kc)                     # Kc = (1-g)(1-c²)
        xp.subtract(1, Kc, out=Kc)
        Kc *= 1 - g
        if c.act is not None:
            K *= c.act
            G = xp.where(c.inact, xp.asarray(1, dtype=dt), g)      # dh passes unchanged through padding
        else:
            G = g
        return {"K": K, "K2": K.reshape(T, D, 2, H, B), "G": G, "carry": xp.empty((D, H, B), dtype=dt)}

    def bptt_step(self, xp, s, dh, st):
        k2 = st["K2"][s]
        xp.multiply(k2, dh[:, None], out=k2)

    def bptt_carry(self, xp, s, dh, rec, st, c):
        xp.multiply(dh, st["G"][s], out=st["carry"])    # direct path h' = g*h + ...
        rec += st["carry"]

    def bptt_finish(self, xp, c, dH, st, need_dn):
        return None, [], []

    def raw_forward(self, ops, s, n, gates, rec, hs, bufs, b_rec, step):
        ops.kernel("ugrnn_fwd", n, gates, rec, hs, *step)

    def raw_backward_prepare(self, xp, T, D, H, B, dt, d_extra, tap):
        return {}

    def raw_backward(self, ops, s, n, dHx, c, dz, st, step):
        ops.kernel("ugrnn_bwd", n, dHx, c.gates, c.hs, dz, *step)

    def raw_backward_finish(self, st):
        return None, [], []

    CUDA_SOURCE = r"""
extern "C" __global__ void ugrnn_fwd(real* gates, const real* rec, real* hs,
                                     const long long* L, int has_len, int s, int T, int D, int H, int B) {
    FOR_EACH(i, (long long)D * H * B) {
        STEP_INDEX
        real* g = gates + ((long long)s * D + d) * 2 * hb + rem;
        const real* r = rec + (long long)d * 2 * hb + rem;
        const real gg = sig_half(g[0] + r[0]);
        const real cc = tanh(g[hb] + r[hb]);
        g[0] = gg;
        g[hb] = cc;
        const real hp = hs[at];
        hs[nx] = active ? cc + gg * (hp - cc) : hp;
    }
}

extern "C" __global__ void ugrnn_bwd(real* dHx, const real* gates, const real* hs, real* dz,
                                     const long long* L, int has_len, int s, int T, int D, int H, int B) {
    FOR_EACH(i, (long long)D * H * B) {
        STEP_INDEX
        const real dh = dHx[nx];
        const long long gk = ((long long)s * D + d) * 2 * hb + rem;
        const real* g = gates + gk;
        real* z = dz + gk;
        if (active) {
            const real gg = g[0], cc = g[hb];
            z[0] = dh * (hs[at] - cc) * gg * ((real)1 - gg);
            z[hb] = dh * ((real)1 - gg) * ((real)1 - cc * cc);
            dHx[at] += dh * gg;
        } else {
            z[0] = z[hb] = (real)0;
            dHx[at] += dh;
        }
    }
}
"""


UGRNN = CellKind(
    name="ugrnn", cell=UGRNNCell, cell_kwargs={}, gates=("g", "c"), sigmoid_gates=("g",), states=("h",),
    scope="ugrnn", title="UGRNN",
    gate_labels={"proj": "W·x + W·h + b", "g": "g  update gate σ", "c": "c  candidate tanh",
                 "h": "h' = g·h + (1-g)·c"},
    cell_fn=ugrnn_cell, fused=UGRNNKernel())


def register_ugrnn() -> CellKind:
    """Register the kind (what importing it from ``kinds/`` would do); idempotent."""
    return REGISTRY.get("ugrnn") or register(UGRNN)


def unregister_ugrnn() -> None:
    REGISTRY.pop("ugrnn", None)

