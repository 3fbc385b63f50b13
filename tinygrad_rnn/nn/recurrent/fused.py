"""Fused sequence kernels: one layer of RNN (tanh/relu), LSTM or GRU over a whole sequence, both directions.

The equations are PyTorch's (``torch.nn.RNN/LSTM/GRU``, gate order LSTM i,f,g,o; GRU r,z,n)::

    rnn:  h' = act(W_ih x + b_ih + W_hh h + b_hh)                    act = tanh or relu
    lstm: i,f,g,o = σ,σ,tanh,σ(W_ih x + b_ih + W_hh h + b_hh)
          c' = f*c + i*g ;  h' = o*tanh(c')
    gru:  r,z = σ(W_i{r,z} x + b_i{r,z} + W_h{r,z} h + b_h{r,z})
          n = tanh(W_in x + b_in + r*(W_hn h + b_hn)) ;  h' = (1-z)*n + z*h

and the kernels are the fast path of ``cells.py`` (the unrolled path), held to the same numbers by
the tests. Everything is array code over ``xp`` (NumPy or CuPy) except the loop over time steps on
CuPy: there ``cuda.py`` runs it with one cuBLAS call and one kernel launch per step (the raw loops), or,
as the reference, with CuPy ``ElementwiseKernel`` twins of the per-step gate arithmetic below.

How the work is laid out (what makes it fast on NumPy):

- **one GEMM** projects the inputs of all steps and both directions, ``x (T*B, I) @ W_ih_all.T``;
- inside the kernel the state is **feature-major**, ``(H, B)``, and every big buffer is stored in
  *processing order* ``(T, D, rows, B)``: step ``s`` of the forward direction is time ``s``, of the
  reverse direction time ``T-1-s``. So ``buf[s]`` holds both directions contiguously, each gate block
  is a contiguous slab, and one batched GEMM per step (``(D, GH, H) @ (D, H, B)``) serves both
  directions;
- σ(z) = ½·tanh(z/2) + ½, with the ½ folded into a scaled copy of the sigmoid rows of the weights
  (exact: a power of two), so the LSTM takes **one** ``tanh`` over its whole gate buffer per step;
- backward computes every factor that does not depend on the incoming gradient for all steps at once
  before the loop; the loop does only what the recurrence needs (a few multiplies and one GEMM per
  step); the weight gradients are **one GEMM over all steps** after the loop;
- variable lengths freeze a finished sequence's state (its columns are not updated past its end), so
  ``h_n`` is simply the last state and the reverse direction naturally starts at each sequence's own
  last step; gate gradients of padded steps are masked to zero, and state gradients pass through;
- every buffer is allocated per call, and backward never writes into the cache (two forwards before
  one backward, or ``retain_graph=True`` and two backwards, stay correct).

Public entry points: :func:`forward`, :func:`backward` (pure array functions for one layer) and
:class:`FusedRNN` (the autograd node over them).
"""

from __future__ import annotations

from ...autograd.function import Function
from ...backend import to_numpy
from . import recording
from .kinds import REGISTRY, get_kind

MODES = tuple(name for name, kind in REGISTRY.items() if kind.fused)
GATES = {name: REGISTRY[name].num_gates for name in MODES}


class RNNCache:
    """What :func:`forward` keeps for :func:`backward` (all arrays in processing order, see module doc)."""

    def __init__(self, **fields):
        self.__dict__.update(fields)


# --------------------------------------------------------------------------------------------------
# helpers


def _gate_kernels(xp):
    """The CuPy kernels module when ``xp`` is CuPy, else ``None`` (NumPy path)."""
    if xp.__name__ == "cupy":
        from . import cuda
        return cuda
    return None


def _sigmoid_rows(mode: str, H: int):
    """Row ranges (of the G*H gate rows) that go through σ, computed as ½·tanh(z/2) + ½ (from the kind)."""
    return get_kind(mode).sigmoid_rows(H)


def _to_proc(xp, src, out):
    """Copy a time-ordered ``(T, D, ...)`` view into processing order (reverse direction flipped)."""
    out[:, 0] = src[:, 0]
    if out.shape[1] == 2:
        out[:, 1] = src[::-1, 1]
    return out


def _check(mode, x, h0, c0, weights, lengths):
    if mode not in MODES:
        raise ValueError(f"mode: expected one of {MODES}, got {mode!r}")
    if x.ndim != 3:
        raise ValueError(f"x: expected shape (T, B, I), got {tuple(x.shape)}")
    T, B, I = x.shape
    if h0.ndim != 3 or h0.shape[0] not in (1, 2) or h0.shape[1] != B:
        raise ValueError(f"h0: expected shape (D, {B}, H) with D in (1, 2), got {tuple(h0.shape)}")
    D, _, H = h0.shape
    if (mode == "lstm") != (c0 is not None):
        raise ValueError(f"c0: expected an array for mode 'lstm' and None otherwise, got "
                         f"{type(c0).__name__} for mode {mode!r}")
    if c0 is not None and tuple(c0.shape) != tuple(h0.shape):
        raise ValueError(f"c0: expected shape {tuple(h0.shape)}, got {tuple(c0.shape)}")
    if len(weights) != D:
        raise ValueError(f"weights: expected one tuple per direction ({D}), got {len(weights)}")
    GH = GATES[mode] * H
    for d, (w_ih, w_hh, b_ih, b_hh) in enumerate(weights):
        if tuple(w_ih.shape) != (GH, I):
            raise ValueError(f"weights[{d}][0] (w_ih): expected shape {(GH, I)}, got {tuple(w_ih.shape)}")
        if tuple(w_hh.shape) != (GH, H):
            raise ValueError(f"weights[{d}][1] (w_hh): expected shape {(GH, H)}, got {tuple(w_hh.shape)}")
        for k, b in ((2, b_ih), (3, b_hh)):
            if b is not None and tuple(b.shape) != (GH,):
                raise ValueError(f"weights[{d}][{k}] (bias): expected shape {(GH,)}, got {tuple(b.shape)}")
        if (b_ih is None) != (weights[0][2] is None) or (b_hh is None) != (b_ih is None):
            raise ValueError("weights: either every direction has both biases or none has")
    if T == 0:
        raise ValueError("x: expected at least one time step, got T = 0")


def _masks(xp, lengths, T: int, B: int, D: int, dtype):
    """(lengths, act, inact, partial, min_len): masks in processing order ``(T, D, 1, B)``.

    ``act`` is 1 where the step is inside the sequence (float, dtype), ``inact`` its boolean complement,
    ``partial[s]`` tells whether step ``s`` has any padded column (host bools, so the loop skips the
    freezing work on full steps).
    """
    if lengths is None:
        return None, None, None, [False] * T
    # Lengths are host metadata (as in PyTorch): checked on the host, then copied to the device once,
    # so the GPU never has to be synchronised to read them back (CuPy lengths are read back here).
    host = to_numpy(lengths).astype("int64").reshape(-1)
    if host.shape[0] != B:
        raise ValueError(f"lengths: expected {B} lengths (one per batch column), got {host.shape[0]}")
    lo, hi = int(host.min()), int(host.max())
    L = xp.asarray(host)
    if lo < 1 or hi > T:
        raise ValueError(f"lengths: expected every length in 1..{T}, got min {lo} and max {hi}")
    on_time = xp.arange(T)[:, None] < L[None, :]                           # (T, B) time order
    act_b = xp.empty((T, D, 1, B), dtype=bool)
    act_b[:, 0, 0] = on_time
    if D == 2:
        act_b[:, 1, 0] = on_time[::-1]
    partial = [(s >= lo) or (D == 2 and s < T - lo) for s in range(T)]
    return L, act_b.astype(dtype), ~act_b, partial


# --------------------------------------------------------------------------------------------------
# forward


def forward(xp, mode: str, x, h0, c0, weights, lengths=None, training_cache: bool = True):
    """Run one recurrent layer (one or two directions) over a whole sequence.

    Args:
        xp: the array module (``numpy`` or ``cupy``).
        mode: ``"rnn_tanh"``, ``"rnn_relu"``, ``"lstm"`` or ``"gru"``.
        x: ``(T, B, I)`` inputs, time-major.
        h0: ``(D, B, H)`` initial states, D = 1 or 2 directions; c0 the same for LSTM, else None.
        weights: per direction ``(w_ih (G*H, I), w_hh (G*H, H), b_ih (G*H,) | None, b_hh | None)``,
            PyTorch layout and gate order (G = 1 / 4 / 3 for RNN / LSTM / GRU).
        lengths: None, or ``(B,)`` ints in 1..T (any order) for right-padded input. Outputs past a
            sequence's end are zero; ``h_n``/``c_n`` are each sequence's state at its own last step;
            the reverse direction reads each sequence backward from its own last step.
        training_cache: keep what :func:`backward` needs (else the returned cache is ``None``).

    Returns:
        ``out (T, B, D*H)`` (forward direction in ``[..., :H]``, reverse in ``[..., H:]``),
        ``h_n (D, B, H)``, ``c_n (D, B, H)`` or ``None``, and the cache (an :class:`RNNCache`).
    """
    _check(mode, x, h0, c0, weights, lengths)
    T, B, I = x.shape
    D, _, H = h0.shape
    G = GATES[mode]
    GH = G * H
    dt = x.dtype
    kern = _gate_kernels(xp)
    has_bias = weights[0][2] is not None
    L, act, inact, partial = _masks(xp, lengths, T, B, D, dt)

    # Weights: stacked per direction, sigmoid rows scaled by 1/2 for the tanh form of σ.
    w_ih = weights[0][0] if D == 1 else xp.concatenate([w[0] for w in weights])   # (D*GH, I)
    w_hh = xp.stack([w[1] for w in weights])                                        # (D, GH, H)
    scale = xp.ones((GH,), dtype=dt)
    for a, b in _sigmoid_rows(mode, H):
        scale[a:b] = 0.5
    w_hh_s = w_hh * scale[:, None]
    # Input weights augmented with the bias as a last column, (D, 1, GH, I+1), against inputs
    # augmented with a row of ones: the input projection writes the biased gates directly.
    w_aug = xp.zeros((D, 1, GH, I + 1), dtype=dt)
    w_aug[:, 0, :, :I] = w_ih.reshape(D, GH, I)
    b_hn = None
    if has_bias:
        for d, (_, _, b_ih, b_hh) in enumerate(weights):
            bias = w_aug[d, 0, :, I]
            xp.add(bias, b_ih, out=bias)
            if mode == "gru":                       # b_hn stays inside r * (W_hn h + b_hn)
                bias[:2 * H] += b_hh[:2 * H]
            else:
                bias += b_hh
        if mode == "gru":
            b_hn = xp.stack([w[3][2 * H:] for w in weights])[:, :, None]          # (D, H, 1)
    w_aug *= scale[:, None]

    # The input projection of every step and both directions, as one batched GEMM straight into the
    # processing-order gate buffer (T, D, GH, B): per direction and step, W_aug (GH, I+1) @ [x_t; 1] (I+1, B).
    x_aug = xp.empty((D, T, I + 1, B), dtype=dt)
    x_aug[0, :, :I] = x.transpose(0, 2, 1)
    x_aug[0, :, I] = 1
    if D == 2:
        x_aug[1] = x_aug[0, ::-1]
    gates = xp.empty((T, D, GH, B), dtype=dt)
    if kern is None:
        xp.matmul(w_aug, x_aug, out=gates.transpose(1, 0, 2, 3))
    else:                                                   # CuPy: no strided ``out=``, one copy instead
        gates.transpose(1, 0, 2, 3)[...] = xp.matmul(w_aug, x_aug)
    del x_aug

    hs = xp.empty((T + 1, D, H, B), dtype=dt)              # hs[0] = h0, hs[s+1] = state after step s
    hs[0] = h0.transpose(0, 2, 1)
    cs = tcs = hn_rec = None
    if mode == "lstm":
        cs = xp.empty((T + 1, D, H, B), dtype=dt)
        cs[0] = c0.transpose(0, 2, 1)
        tcs = xp.empty((T, D, H, B), dtype=dt)              # tanh(c_s), reused by h and backward
    elif mode == "gru":
        hn_rec = xp.empty((T, D, H, B), dtype=dt)           # W_hn h + b_hn per step (backward needs it)
        if kern is not None and b_hn is None:
            b_hn = xp.zeros((D, H, 1), dtype=dt)

    raw = kern.raw_ops(dt) if kern is not None else None
    if raw is not None:                                     # CuPy: two raw launches per step
        kern.forward_loop(xp, raw, mode, gates, w_hh_s, hs, cs, tcs, hn_rec, b_hn, L)
    else:
        _forward_steps(xp, kern, mode, gates, w_hh_s, hs, cs, tcs, hn_rec, b_hn, inact, partial)

    # Outputs in PyTorch's layout, time order, padded rows zero.
    out = xp.empty((T, B, D * H), dtype=dt)
    out4 = out.reshape(T, B, D, H)
    out4[:, :, 0] = hs[1:, 0].transpose(0, 2, 1)
    if D == 2:
        out4[:, :, 1] = hs[:0:-1, 1].transpose(0, 2, 1)
    if L is not None:
        out *= act[:, 0, 0, :, None]                            # (T, B, 1): time-order mask of dir 0
    h_n = xp.ascontiguousarray(hs[T].transpose(0, 2, 1))
    c_n = xp.ascontiguousarray(cs[T].transpose(0, 2, 1)) if mode == "lstm" else None

    cache = None
    if training_cache:
        cache = RNNCache(mode=mode, T=T, B=B, I=I, D=D, H=H, x=x, w_ih=w_ih, w_hh=w_hh,
                         has_bias=has_bias, act=act, inact=inact, partial=partial, lengths=L,
                         hs=hs, gates=gates if mode in ("lstm", "gru") else None,
                         cs=cs, tcs=tcs, hn_rec=hn_rec)
    return out, h_n, c_n, cache


def _forward_steps(xp, kern, mode, gates, w_hh_s, hs, cs, tcs, hn_rec, b_hn, inact, partial) -> None:
    """The forward loop of :func:`forward` on array calls (NumPy; CuPy with the elementwise kernels)."""
    T, D, GH, B = gates.shape
    H = hs.shape[2]
    dt = gates.dtype
    tmp = xp.empty((D, H, B), dtype=dt) if mode in ("lstm", "gru") else None
    rec = xp.empty((D, GH, B), dtype=dt)                    # W_hh h, one batched GEMM per step
    for s in range(T):
        xp.matmul(w_hh_s, hs[s], out=rec)
        g = gates[s]
        if mode == "lstm":
            if kern is not None:
                kern.lstm_forward_step(g, rec, cs[s], cs[s + 1], tcs[s], hs[s + 1], H, B)
            else:
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
            if partial[s]:
                xp.copyto(cs[s + 1], cs[s], where=inact[s])
        elif mode == "gru":
            if kern is not None:
                kern.gru_forward_step(g, rec, b_hn, hs[s], hn_rec[s], hs[s + 1], H, B)
            else:
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
        else:
            h = hs[s + 1]
            if kern is not None:
                kern.rnn_forward_step(g, rec, h, mode == "rnn_relu")
            else:
                xp.add(g, rec, out=h)
                if mode == "rnn_tanh":
                    xp.tanh(h, out=h)
                else:
                    xp.maximum(h, 0, out=h)
        if partial[s]:                                          # finished sequences keep their state
            xp.copyto(hs[s + 1], hs[s], where=inact[s])


# --------------------------------------------------------------------------------------------------
# backward


def backward(xp, cache: RNNCache, d_out, d_hn, d_cn=None, need_dx: bool = True, need_dw: bool = True,
             tap: bool = False):
    """Hand-written BPTT through one layer; the cache is left unchanged (backward may run twice).

    Args:
        cache: from :func:`forward`.
        d_out: ``(T, B, D*H)`` gradient of ``out``; d_hn, d_cn: ``(D, B, H)`` or None (zeros).
        need_dx, need_dw: skip the GEMMs of gradients nobody needs (their results are ``None``).
        tap: also return the per-step state gradients.

    Returns:
        ``dx (T, B, I)``, ``dh0 (D, B, H)``, ``dc0`` (LSTM, else None), per direction
        ``(dw_ih, dw_hh, db_ih, db_hh)`` (biases None when the layer has none), and with ``tap`` a dict
        state name -> ``(T, D, B, H)`` in **time order** (``[t, 1]`` is the reverse direction at time
        ``t``): the total gradient w.r.t. the state step ``t`` outputs (from ``out[t]``, from the step
        that reads it next, from ``d_hn``/``d_cn`` at the last step), zero at padded steps; else None.
    """
    c = cache
    mode, T, B, I, D, H = c.mode, c.T, c.B, c.I, c.D, c.H
    G = GATES[mode]
    GH = G * H
    dt = c.hs.dtype
    kern = _gate_kernels(xp)
    act, hs = c.act, c.hs

    # dH[s]: gradient w.r.t. the state output at step s; starts as d_out, the loop adds the rest.
    # dHx[0] receives the gradient w.r.t. h0 (raw CUDA loop; the NumPy loop returns it).
    dHx = xp.empty((T + 1, D, H, B), dtype=dt)
    dH = dHx[1:]
    _to_proc(xp, d_out.reshape(T, B, D, H).transpose(0, 2, 3, 1), dH)
    if act is not None:
        dH *= act
    if d_hn is not None:
        dH[T - 1] += d_hn.transpose(0, 2, 1)

    dc_init = None
    if mode == "lstm":                                          # gradient w.r.t. c_T, (D, H, B), a copy
        dc_init = xp.zeros((D, H, B), dtype=dt) if d_cn is None else d_cn.transpose(0, 2, 1).copy()

    # The recurrence, last step first. K: dz, gradient w.r.t. the gate pre-activations (hidden side),
    # (T, D, GH, B); dn: GRU's input-side gradient of n; dc_total: per-step dc when tapped.
    raw = kern.raw_ops(dt) if kern is not None else None
    if raw is not None:
        dHx[0] = 0
        K, dn, dc_total, dc_first = kern.backward_loop(xp, raw, mode, dHx, c.w_hh, c.gates, hs, c.cs, c.tcs,
                                                       c.hn_rec, dc_init, c.lengths, tap)
        dh0 = dHx[0]
    else:
        K, dn, dc_total, dc_first, dh0 = _bptt_steps(xp, kern, c, dH, dc_init, need_dn=need_dx or need_dw,
                                                     tap=tap)
    dh0 = xp.ascontiguousarray(dh0.transpose(0, 2, 1))
    dc0 = xp.ascontiguousarray(dc_first.transpose(0, 2, 1)) if mode == "lstm" else None

    # Gradients of the parameters and inputs: one GEMM each over all steps (time order, (D, GH, T*B)).
    dx = None
    dws = [(None, None, None, None) for _ in range(D)]
    if need_dx or need_dw:
        dz = xp.empty((D, GH, T, B), dtype=dt)
        dz[0] = K[:, 0].transpose(1, 0, 2)
        if D == 2:
            dz[1] = K[::-1, 1].transpose(1, 0, 2)
        dz2 = dz.reshape(D, GH, T * B)
        dw_hh = db_hh = None
        if need_dw:
            hprev = xp.empty((D, H, T, B), dtype=dt)            # time order, (H, T*B) per direction
            hprev[0] = hs[:T, 0].transpose(1, 0, 2)
            if D == 2:
                hprev[1] = hs[T - 1::-1, 1].transpose(1, 0, 2)
            dw_hh = xp.matmul(dz2, hprev.reshape(D, H, T * B).transpose(0, 2, 1))     # (D, GH, H)
            db_hh = dz2.sum(axis=2) if c.has_bias else None
        if mode == "gru":                                       # input side of n: dn_pre, not r*dn_pre
            dz[0, 2 * H:] = dn[:, 0].transpose(1, 0, 2)
            if D == 2:
                dz[1, 2 * H:] = dn[::-1, 1].transpose(1, 0, 2)
            del dn
        dzf = dz.reshape(D * GH, T * B)
        if need_dx:
            dx = (dzf.T @ c.w_ih).reshape(T, B, I)
        if need_dw:
            dw_ih = dzf @ c.x.reshape(T * B, I)                 # (D*GH, I)
            db_ih = dzf.sum(axis=1) if c.has_bias else None
            dws = [(dw_ih[d * GH:(d + 1) * GH], dw_hh[d],
                    None if db_ih is None else db_ih[d * GH:(d + 1) * GH],
                    None if db_hh is None else db_hh[d]) for d in range(D)]

    taps = None
    if tap:
        taps = {"h": _tap(xp, dH, act)}
        if mode == "lstm":
            taps["c"] = _tap(xp, dc_total, act)
    return dx, dh0, dc0, dws, taps


def _bptt_steps(xp, kern, c: RNNCache, dH, dc_init, need_dn: bool, tap: bool = False):
    """The BPTT loop of :func:`backward` on array calls (NumPy; CuPy with the elementwise kernels).

    Adds the recurrent gradients into ``dH`` in place and returns ``(K, dn, dc_total, dc_first, dh0)``
    as :func:`backward` uses them (``dh0``, ``dc_first`` in processing layout ``(D, H, B)``).
    """
    mode, T, D, H, B = c.mode, c.T, c.D, c.H, c.B
    GH = GATES[mode] * H
    dt = c.hs.dtype
    act, inact, partial = c.act, c.inact, c.partial
    hs = c.hs
    w_hh_t = c.w_hh.transpose(0, 2, 1)                         # (D, H, GH): dh_prev = W_hh^T dz
    dn = dc_total = dc_next = None
    # Step-independent factors for all steps at once: in the loop, dz[s] = (dh or dc)[s] * K[s].
    if mode == "lstm":
        gates, tcs, cs = c.gates, c.tcs, c.cs
        i, f, g, o = (gates[:, :, k * H:(k + 1) * H] for k in range(4))
        K = xp.empty((T, D, GH, B), dtype=dt)
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
        if act is not None:
            K *= act
            K1 *= act
            F = xp.where(inact, xp.asarray(1, dtype=dt), f)    # dc passes unchanged through padding
        else:
            F = f
        K4 = K.reshape(T, D, 4, H, B)
        dc_total = xp.empty((T, D, H, B), dtype=dt) if tap else None
        dc_scratch = xp.empty((D, H, B), dtype=dt)
        dc_next = dc_init
        dc_spare = xp.empty((D, H, B), dtype=dt)
    elif mode == "gru":
        gates, hn_rec = c.gates, c.hn_rec
        r, z, n = (gates[:, :, k * H:(k + 1) * H] for k in range(3))
        K = xp.empty((T, D, GH, B), dtype=dt)                  # [Kr, Kz, Krn]; becomes dz (hidden side)
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
        if act is not None:
            K *= act
            Kn *= act
            Z = xp.where(inact, xp.asarray(1, dtype=dt), z)    # dh passes unchanged through padding
        else:
            Z = z
        K3 = K.reshape(T, D, 3, H, B)
        carry = xp.empty((D, H, B), dtype=dt)
    else:
        hcur = hs[1:]
        if mode == "rnn_tanh":
            K = xp.multiply(hcur, hcur)
            xp.subtract(1, K, out=K)
        else:
            K = (hcur > 0).astype(dt)
        if act is not None:
            K *= act

    rec = xp.empty((D, H, B), dtype=dt)
    dh0 = None
    for s in range(T - 1, -1, -1):
        dh = dH[s]
        if mode == "lstm":
            dc = dc_total[s] if dc_total is not None else dc_scratch
            if kern is not None:
                kern.lstm_backward_step(dh, dc_next, K1[s], F[s], K[s], dc, dc_spare, H, B)
            else:
                xp.multiply(dh, K1[s], out=dc)                  # dc = dc_next + dh * o(1 - tanh²c)
                dc += dc_next
                k4 = K4[s]
                xp.multiply(k4[:, :3], dc[:, None], out=k4[:, :3])   # dz_{i,f,g} = dc * K
                xp.multiply(k4[:, 3], dh, out=k4[:, 3])              # dz_o = dh * K
                xp.multiply(dc, F[s], out=dc_spare)             # dc_prev = dc * f
            dc_next, dc_spare = dc_spare, dc_next
        elif mode == "gru":
            k3 = K3[s]
            xp.multiply(k3, dh[:, None], out=k3)                # dz_{r,z}, d(W_hn h + b_hn)
        else:
            xp.multiply(K[s], dh, out=K[s])
        xp.matmul(w_hh_t, K[s], out=rec)                        # W_hh^T dz
        if mode == "gru":
            if kern is not None:
                kern.gru_backward_carry(rec, dh, Z[s])
            else:
                xp.multiply(dh, Z[s], out=carry)                # direct path h' = ... + z*h
                rec += carry
        elif partial[s]:
            rec += dh * inact[s]                                # padded columns: dh passes through
        if s > 0:
            dH[s - 1] += rec
        else:
            dh0 = rec

    if mode == "gru" and need_dn:                               # input side of n: dn_pre, not r*dn_pre
        dn = xp.multiply(dH, Kn)
    return K, dn, dc_total, dc_next, dh0


def _tap(xp, buf, act):
    """Processing-order (T, D, H, B) -> time-order (T, D, B, H), zero at padded steps."""
    if act is not None:
        buf = buf * act
    T, D = buf.shape[:2]
    out = xp.empty((T, D, buf.shape[3], buf.shape[2]), dtype=buf.dtype)
    out[:, 0] = buf[:, 0].transpose(0, 2, 1)
    if D == 2:
        out[:, 1] = buf[::-1, 1].transpose(0, 2, 1)
    return out


# --------------------------------------------------------------------------------------------------
# autograd node


class FusedRNN(Function):
    """One recurrent layer (both directions) over the whole sequence as one graph node.

    ``FusedRNN.apply(x, h0, [c0,] *flat_weights, mode=..., lengths=None, num_directions=1,
    has_bias=True, layer=0)`` with tensors ``x (T, B, I)``, one ``(D, B, H)`` initial state per state
    element of the kind (``h0``, and ``c0`` for the LSTM), and ``flat_weights`` = per direction
    ``w_ih, w_hh[, b_ih, b_hh]`` (biases only when ``has_bias``). Returns ``(out, h_n)``, or
    ``(out, h_n, c_n)`` for LSTM. Forward and VJP: :func:`forward` and :func:`backward` (hand-written
    BPTT, no autograd calls inside).

    The node carries what it is as attributes: ``kind`` (the registry name), ``layer``,
    ``num_directions``, ``has_bias`` and ``state_names``; pictures and analysis read these. Inside
    ``tr.analysis.record_state_grads()`` it hands its per-step state gradients to the record when
    backward runs.
    """

    @staticmethod
    def forward(ctx, *arrays, mode: str, lengths=None, num_directions: int = 1, has_bias: bool = True,
                layer: int = 0):
        if mode not in MODES:
            raise ValueError(f"mode: expected one of {MODES}, got {mode!r}")
        kind = REGISTRY[mode]
        x, h0 = arrays[0], arrays[1]
        k = 1 + len(kind.states)
        c0 = arrays[2] if k == 3 else None
        per = 4 if has_bias else 2
        flat = arrays[k:]
        if len(flat) != per * num_directions:
            raise ValueError(f"FusedRNN: expected {per * num_directions} weight tensors "
                             f"({num_directions} direction(s), has_bias={has_bias}), got {len(flat)}")
        if h0.shape[0] != num_directions:
            raise ValueError(f"h0: expected {num_directions} direction(s) in dim 0, got shape {tuple(h0.shape)}")
        weights = [tuple(flat[d * per:(d + 1) * per]) + ((None, None) if not has_bias else ())
                   for d in range(num_directions)]
        training = hasattr(ctx, "needs_input_grad")
        out, h_n, c_n, cache = forward(ctx.xp, mode, x, h0, c0, weights, lengths, training_cache=training)
        ctx.kind, ctx.layer, ctx.num_directions, ctx.has_bias = mode, layer, num_directions, has_bias
        ctx.state_names = kind.states
        ctx.record = None
        if training:
            ctx.n_state = k
            ctx.save_for_backward(x, *flat, cache)              # version-checked inputs, then the cache
            rec = recording.active()
            if rec is not None:
                ctx.record = recording.LayerStateGrads(layer, mode, kind.states, "fused", x.shape[0],
                                                       num_directions, x.shape[1])
                rec.layers.append(ctx.record)
        return (out, h_n, c_n) if k == 3 else (out, h_n)

    @staticmethod
    def backward(ctx, d_out, d_hn, d_cn=None):
        cache = ctx.saved[-1]
        need = ctx.needs_input_grad
        dx, dh0, dc0, dws, taps = backward(ctx.xp, cache, d_out, d_hn, d_cn, need_dx=need[0],
                                           need_dw=any(need[ctx.n_state:]), tap=ctx.record is not None)
        if taps is not None:
            ctx.record._full.update(taps)
        grads = [dx, dh0] + ([dc0] if ctx.n_state == 3 else [])
        for dw in dws:
            grads += list(dw if cache.has_bias else dw[:2])
        return tuple(g if n else None for g, n in zip(grads, need))
