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
:func:`fused_rnn` (the autograd node over them: ``ops.FusedRNN`` with :class:`FusedKernel`).
Arguments are validated once, where the caller entered: :func:`forward` and :func:`fused_rnn` check
theirs (:func:`_check`); the layers check their own (``Recurrent.forward``) and call the unchecked
:func:`_fused_rnn`, whose kernel runs :func:`_forward` on what it is given.
"""

from __future__ import annotations

from ... import ops
from ...backend import device_of, to_numpy
from . import recording
from .kinds import REGISTRY, get_kind



def fused_modes() -> tuple:
    """The registered kinds that have a fused kernel (read from the registry when asked)."""
    return tuple(name for name, kind in REGISTRY.items() if kind.fused is not None)


MODES = fused_modes()                                    # the built-in kinds, for callers that list them
GATES = {name: REGISTRY[name].num_gates for name in MODES}


class RNNCache:
    """What :func:`forward` keeps for :func:`backward` (all arrays in processing order, see module doc)."""

    def __init__(self, **fields):
        self.__dict__.update(fields)


# --------------------------------------------------------------------------------------------------
# helpers


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
    """Validate the arguments of :func:`forward` (the checked entry point); return ``(H, P)``.

    Runs once per call of :func:`forward` or :func:`fused_rnn` by a direct caller; the layers
    (``Recurrent``) validate their own arguments and reach the kernel through :func:`_fused_rnn` and
    :func:`_forward`, which trust them, so nothing here runs on that path.
    """
    _check_mode(mode)
    return _check_shapes(mode, x, h0, c0, weights, lengths)


def _check_mode(mode) -> None:
    modes = fused_modes()
    if mode not in modes:
        raise ValueError(f"mode: expected one of {modes}, got {mode!r}")


def _check_shapes(mode, x, h0, c0, weights, lengths):
    """The part of :func:`_check` after the mode: every shape, and the lengths."""
    if x.ndim != 3:
        raise ValueError(f"x: expected shape (T, B, I), got {tuple(x.shape)}")
    T, B, I = x.shape
    if h0.ndim != 3 or h0.shape[0] not in (1, 2) or h0.shape[1] != B:
        raise ValueError(f"h0: expected shape (D, {B}, H) with D in (1, 2), got {tuple(h0.shape)}")
    D, _, P = h0.shape
    kind = REGISTRY[mode]
    two = len(kind.states) == 2
    if two != (c0 is not None):
        raise ValueError(f"c0: expected an array for a kind with a second state (mode 'lstm') and None otherwise, "
                         f"got {type(c0).__name__} for mode {mode!r}")
    if len(weights) != D:
        raise ValueError(f"weights: expected one tuple per direction ({D}), got {len(weights)}")
    if any(len(w) not in (4, 5) for w in weights) or len({len(w) for w in weights}) != 1:
        raise ValueError(f"weights: expected per direction (w_ih, w_hh, b_ih, b_hh) or (..., w_hr), the same "
                         f"for every direction, got lengths {[len(w) for w in weights]}")
    proj = len(weights[0]) == 5
    if proj and kind.proj_cell is None:
        raise ValueError(f"weights: mode {mode!r} has no projection (w_hr); only a kind with a proj_cell has")
    H = weights[0][1].shape[0] // kind.num_gates if proj else P     # with a projection h has P features
    if c0 is not None and tuple(c0.shape) != (D, h0.shape[1], H):
        raise ValueError(f"c0: expected shape {(D, h0.shape[1], H)}, got {tuple(c0.shape)}")
    GH = kind.num_gates * H
    for d, (w_ih, w_hh, b_ih, b_hh, *w_hr) in enumerate(weights):
        if tuple(w_ih.shape) != (GH, I):
            raise ValueError(f"weights[{d}][0] (w_ih): expected shape {(GH, I)}, got {tuple(w_ih.shape)}")
        if tuple(w_hh.shape) != (GH, P):
            raise ValueError(f"weights[{d}][1] (w_hh): expected shape {(GH, P)}, got {tuple(w_hh.shape)}")
        if w_hr and tuple(w_hr[0].shape) != (P, H):
            raise ValueError(f"weights[{d}][4] (w_hr): expected shape {(P, H)}, got {tuple(w_hr[0].shape)}")
        for k, b in ((2, b_ih), (3, b_hh)):
            if b is not None and tuple(b.shape) != (GH,):
                raise ValueError(f"weights[{d}][{k}] (bias): expected shape {(GH,)}, got {tuple(b.shape)}")
        if (b_ih is None) != (weights[0][2] is None) or (b_hh is None) != (b_ih is None):
            raise ValueError("weights: either every direction has both biases or none has")
    if T == 0:
        raise ValueError("x: expected at least one time step, got T = 0")
    if lengths is not None:
        host = to_numpy(lengths).astype("int64").reshape(-1)
        if host.shape[0] != B:
            raise ValueError(f"lengths: expected {B} lengths (one per batch column), got {host.shape[0]}")
        lo, hi = int(host.min()), int(host.max())
        if lo < 1 or hi > T:
            raise ValueError(f"lengths: expected every length in 1..{T}, got min {lo} and max {hi}")
    return H, P


def _sizes(mode: str, h0, weights) -> tuple:
    """``(H, P)`` of arguments already checked: P = h0's features, H = P unless there is a projection."""
    P = h0.shape[2]
    return (weights[0][1].shape[0] // REGISTRY[mode].num_gates if len(weights[0]) == 5 else P), P


def _masks(xp, lengths, T: int, B: int, D: int, dtype):
    """(lengths, act, inact, partial, min_len): masks in processing order ``(T, D, 1, B)``.

    ``act`` is 1 where the step is inside the sequence (float, dtype), ``inact`` its boolean complement,
    ``partial[s]`` tells whether step ``s`` has any padded column (host bools, so the loop skips the
    freezing work on full steps). ``lengths`` are already checked (:func:`_check`, or the layer's own
    check): ``B`` ints in 1..T.
    """
    if lengths is None:
        return None, None, None, [False] * T
    # Lengths are host metadata (as in PyTorch): read on the host, then copied to the device once,
    # so the GPU never has to be synchronised to read them back (CuPy lengths are read back here).
    host = to_numpy(lengths).astype("int64").reshape(-1)
    lo = int(host.min())
    L = xp.asarray(host)
    on_time = xp.arange(T)[:, None] < L[None, :]                           # (T, B) time order
    act_b = xp.empty((T, D, 1, B), dtype=bool)
    act_b[:, 0, 0] = on_time
    if D == 2:
        act_b[:, 1, 0] = on_time[::-1]
    partial = [(s >= lo) or (D == 2 and s < T - lo) for s in range(T)]
    return L, act_b.astype(dtype), ~act_b, partial


# --------------------------------------------------------------------------------------------------


# --------------------------------------------------------------------------------------------------
# The loops over time steps: the NumPy loop (the reference), and on CUDA the raw loops of ``cuda.py``


class NumpyLoop:
    """The recurrence as array calls, one step at a time: the reference loop (NumPy; any dtype).

    A loop object runs the two loops over time steps of :func:`forward` and :func:`backward` (the rest
    is shared array code); :func:`loop_for` picks it once from the device. The kind's kernel (its
    ``fused`` attribute, in ``kinds/``) supplies the arithmetic of one step.
    """

    name = "numpy"
    needs_recurrent_bias = False            # None stands for a zero recurrent bias
    supports_proj = True                    # the projected output h' = W_hr m (LSTM with proj_size)

    @staticmethod
    def project(xp, w_aug, x_aug, gates) -> None:
        xp.matmul(w_aug, x_aug, out=gates.transpose(1, 0, 2, 3))

    @staticmethod
    def forward(xp, kern, gates, w_hh_s, hs, bufs, b_rec, L, inact, partial, proj=None) -> None:
        """``proj``: None, or ``(w_hr (D, P, H), ms (T+1, D, H, B))``: the kernel writes its output
        ``m = o * tanh(c)`` into ``ms[s+1]`` and the state is ``hs[s+1] = W_hr m`` (one more GEMM per step)."""
        T, D, GH, B = gates.shape
        out = hs if proj is None else proj[1]                # where the kind's step writes its h
        H = out.shape[2]
        tmp = kern.workspace(xp, D, H, B, gates.dtype)
        rec = xp.empty((D, GH, B), dtype=gates.dtype)        # W_hh h, one batched GEMM per step
        for s in range(T):
            xp.matmul(w_hh_s, hs[s], out=rec)
            kern.forward_step(xp, s, gates[s], rec, out, bufs, b_rec, tmp, inact[s] if partial[s] else None)
            if proj is not None:
                xp.matmul(proj[0], out[s + 1], out=hs[s + 1])   # h = W_hr m
            if partial[s]:                                   # finished sequences keep their state
                xp.copyto(hs[s + 1], hs[s], where=inact[s])

    @staticmethod
    def backward(xp, kern, c, dHx, d_extra, need_dn: bool, tap: bool):
        """BPTT, last step first: returns ``(dz, dn, extra_taps, extra_first, dh0)`` (see :func:`backward`)."""
        st = kern.bptt_prepare(xp, c, d_extra, tap)
        K = st["K"]
        dH = dHx[1:]
        w_hh_t = c.w_hh.transpose(0, 2, 1)                     # (D, P, GH): dh_prev = W_hh^T dz
        rec = xp.empty((c.D, c.P, c.B), dtype=dH.dtype)
        if c.w_hr is not None:                                 # dm = W_hr^T dh: the kind's step sees dm
            w_hr_t = c.w_hr.transpose(0, 2, 1)                 # (D, H, P)
            dm = xp.empty((c.D, c.H, c.B), dtype=dH.dtype)
        dh0 = None
        for s in range(c.T - 1, -1, -1):
            dh = dH[s]
            if c.w_hr is None:
                kern.bptt_step(xp, s, dh, st)                  # K[s] becomes dz (hidden side) in place
            else:
                xp.matmul(w_hr_t, dh, out=dm)
                kern.bptt_step(xp, s, dm, st)
            xp.matmul(w_hh_t, K[s], out=rec)                    # W_hh^T dz
            kern.bptt_carry(xp, s, dh, rec, st, c)              # the direct paths into the previous state
            if s > 0:
                dH[s - 1] += rec
            else:
                dh0 = rec
        dn, extra_taps, extra_first = kern.bptt_finish(xp, c, dH, st, need_dn)
        return K, dn, extra_taps, extra_first, dh0


NUMPY_LOOP = NumpyLoop()


def loop_for(device: str, dtype):
    """The loop of the fused kernels for arrays on ``device``: the NumPy loop on ``"cpu"``, the raw
    CUDA loops on ``"cuda"`` (float32 and float64; anything else is a clear error)."""
    if str(device).startswith("cuda"):
        from . import cuda
        return cuda.raw_loop(dtype)
    return NUMPY_LOOP


# --------------------------------------------------------------------------------------------------
# forward


def forward(xp, mode: str, x, h0, c0, weights, lengths=None, training_cache: bool = True, loop=None):
    """Run one recurrent layer (one or two directions) over a whole sequence.

    Args:
        xp: the array module (``numpy`` or ``cupy``).
        mode: a registered kind with a fused kernel (``"rnn_tanh"``, ``"rnn_relu"``, ``"lstm"``, ``"gru"``).
        x: ``(T, B, I)`` inputs, time-major.
        h0: ``(D, B, H)`` initial states, D = 1 or 2 directions; c0 the same for LSTM, else None.
        weights: per direction ``(w_ih (G*H, I), w_hh (G*H, H), b_ih (G*H,) | None, b_hh | None)``,
            PyTorch layout and gate order (G = 1 / 4 / 3 for RNN / LSTM / GRU); for the LSTM with a
            projection, ``(..., w_hr (P, H))``: then ``h0``, ``h_n`` and ``out`` have ``P`` features
            (``w_hh`` is ``(4H, P)``) and ``c0``, ``c_n`` keep ``H``, ``h' = W_hr (o * tanh(c'))``.
        lengths: None, or ``(B,)`` ints in 1..T (any order) for right-padded input. Outputs past a
            sequence's end are zero; ``h_n``/``c_n`` are each sequence's state at its own last step;
            the reverse direction reads each sequence backward from its own last step.
        training_cache: keep what :func:`backward` needs (else the returned cache is ``None``).
        loop: the loop over time steps (:func:`loop_for`); default: the one for ``x``'s device.

    Returns:
        ``out (T, B, D*H)`` (forward direction in ``[..., :H]``, reverse in ``[..., H:]``),
        ``h_n (D, B, H)``, ``c_n (D, B, H)`` or ``None``, and the cache (an :class:`RNNCache`).

    Raises:
        ValueError: an unknown mode, shapes that do not fit together, lengths outside 1..T (checked
            here, once; the layers reach the same computation through the unchecked :func:`_forward`).
    """
    H, P = _check(mode, x, h0, c0, weights, lengths)
    return _forward(xp, mode, x, h0, c0, weights, lengths, training_cache, loop, H, P)


def _forward(xp, mode: str, x, h0, c0, weights, lengths=None, training_cache: bool = True, loop=None,
             H: int | None = None, P: int | None = None):
    """:func:`forward` without the argument checks, for arguments a checked entry point built or checked
    (``Recurrent.forward`` through :class:`FusedKernel`, or :func:`forward` itself); ``H, P`` as
    :func:`_check` returns them (computed here when not given)."""
    if H is None:
        H, P = _sizes(mode, h0, weights)
    if loop is None:
        loop = loop_for(device_of(x), x.dtype)
    proj = len(weights[0]) == 5
    if proj and not getattr(loop, "supports_proj", False):
        raise ValueError(f"loop: the {loop.name!r} loop has no projection (w_hr, an LSTM with proj_size)")
    kind = REGISTRY[mode]
    kern = kind.fused
    T, B, I = x.shape
    D = h0.shape[0]
    GH = kind.num_gates * H
    dt = x.dtype
    has_bias = weights[0][2] is not None
    L, act, inact, partial = _masks(xp, lengths, T, B, D, dt)

    # Weights: stacked per direction, sigmoid rows scaled by 1/2 for the tanh form of σ.
    w_ih = weights[0][0] if D == 1 else xp.concatenate([w[0] for w in weights])   # (D*GH, I)
    w_hh = xp.stack([w[1] for w in weights])                                        # (D, GH, H)
    scale = xp.ones((GH,), dtype=dt)
    for a, b in kind.sigmoid_rows(H):
        scale[a:b] = 0.5
    w_hh_s = w_hh * scale[:, None]
    # Input weights augmented with the bias as a last column, (D, 1, GH, I+1), against inputs
    # augmented with a row of ones: the input projection writes the biased gates directly.
    w_aug = xp.zeros((D, 1, GH, I + 1), dtype=dt)
    w_aug[:, 0, :, :I] = w_ih.reshape(D, GH, I)
    inside = [kind.gate_rows(g, H) for g in kind.recurrent_bias_gates]       # b_hh rows kept in the recurrence
    b_rec = None
    if has_bias:
        for d, (_, _, b_ih, b_hh, *_) in enumerate(weights):
            bias = w_aug[d, 0, :, I]
            xp.add(bias, b_ih, out=bias)
            folded = b_hh.copy()
            for a, b in inside:
                folded[a:b] = 0
            bias += folded
        if inside:                                          # GRU: b_hn stays inside r * (W_hn h + b_hn)
            b_rec = xp.stack([xp.concatenate([w[3][a:b] for a, b in inside]) for w in weights])[:, :, None]
    w_aug *= scale[:, None]
    if inside and b_rec is None and loop.needs_recurrent_bias:
        b_rec = xp.zeros((D, H, 1), dtype=dt)

    # The input projection of every step and both directions, as one batched GEMM straight into the
    # processing-order gate buffer (T, D, GH, B): per direction and step, W_aug (GH, I+1) @ [x_t; 1] (I+1, B).
    x_aug = xp.empty((D, T, I + 1, B), dtype=dt)
    x_aug[0, :, :I] = x.transpose(0, 2, 1)
    x_aug[0, :, I] = 1
    if D == 2:
        x_aug[1] = x_aug[0, ::-1]
    gates = xp.empty((T, D, GH, B), dtype=dt)
    loop.project(xp, w_aug, x_aug, gates)
    del x_aug

    hs = xp.empty((T + 1, D, P, B), dtype=dt)              # hs[0] = h0, hs[s+1] = state after step s
    hs[0] = h0.transpose(0, 2, 1)
    bufs = kern.buffers(xp, T, D, H, B, dt, [] if c0 is None else [c0])
    w_hr = ms = None
    if proj:                                                # ms[s+1] = o*tanh(c) of step s, before W_hr
        w_hr = xp.stack([w[4] for w in weights])            # (D, P, H)
        ms = xp.empty((T + 1, D, H, B), dtype=dt)
        loop.forward(xp, kern, gates, w_hh_s, hs, bufs, b_rec, L, inact, partial, proj=(w_hr, ms))
    else:
        loop.forward(xp, kern, gates, w_hh_s, hs, bufs, b_rec, L, inact, partial)

    # Outputs in PyTorch's layout, time order, padded rows zero.
    out = xp.empty((T, B, D * P), dtype=dt)
    out4 = out.reshape(T, B, D, P)
    out4[:, :, 0] = hs[1:, 0].transpose(0, 2, 1)
    if D == 2:
        out4[:, :, 1] = hs[:0:-1, 1].transpose(0, 2, 1)
    if L is not None:
        out *= act[:, 0, 0, :, None]                            # (T, B, 1): time-order mask of dir 0
    h_n = xp.ascontiguousarray(hs[T].transpose(0, 2, 1))
    finals = [xp.ascontiguousarray(f.transpose(0, 2, 1)) for f in kern.finals(bufs, T)]
    c_n = finals[0] if finals else None

    cache = None
    if training_cache:
        cache = RNNCache(mode=mode, T=T, B=B, I=I, D=D, H=H, P=P, x=x, w_ih=w_ih, w_hh=w_hh, w_hr=w_hr, ms=ms,
                         has_bias=has_bias, act=act, inact=inact, partial=partial, lengths=L, hs=hs, gates=gates,
                         bufs=bufs, loop=loop, n_extra=len(finals))
    return out, h_n, c_n, cache


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
        ``(dw_ih, dw_hh, db_ih, db_hh)`` (biases None when the layer has none; ``(..., dw_hr)`` with a
        projection, ``dw_hr = Σ_t dh_t m_tᵀ`` over the steps inside the sequences), and with ``tap`` a dict
        state name -> ``(T, D, B, H)`` in **time order** (``[t, 1]`` is the reverse direction at time
        ``t``): the total gradient w.r.t. the state step ``t`` outputs (from ``out[t]``, from the step
        that reads it next, from ``d_hn``/``d_cn`` at the last step), zero at padded steps; else None.
    """
    c = cache
    kind = REGISTRY[c.mode]
    T, B, I, D, H, P = c.T, c.B, c.I, c.D, c.H, c.P
    GH = kind.num_gates * H
    dt = c.hs.dtype
    act, hs = c.act, c.hs

    # dH[s]: gradient w.r.t. the state output at step s; starts as d_out, the loop adds the rest.
    # dHx[0] receives the gradient w.r.t. h0 (raw CUDA loop; the NumPy loop returns it).
    dHx = xp.empty((T + 1, D, P, B), dtype=dt)
    dH = dHx[1:]
    _to_proc(xp, d_out.reshape(T, B, D, P).transpose(0, 2, 3, 1), dH)
    if act is not None:
        dH *= act
    if d_hn is not None:
        dH[T - 1] += d_hn.transpose(0, 2, 1)

    # The recurrence, last step first. K: dz, gradient w.r.t. the gate pre-activations (hidden side),
    # (T, D, GH, B); dn: the input-side override of the recurrent-bias gates (GRU's n), or None.
    d_extra = [d_cn][:c.n_extra]
    K, dn, extra_taps, extra_first, dh0 = c.loop.backward(xp, kind.fused, c, dHx, d_extra,
                                                          need_dn=need_dx or need_dw, tap=tap)
    dh0 = xp.ascontiguousarray(dh0.transpose(0, 2, 1))
    dc0 = xp.ascontiguousarray(extra_first[0].transpose(0, 2, 1)) if extra_first else None

    # Gradients of the parameters and inputs: one GEMM each over all steps (time order, (D, GH, T*B)).
    dx = None
    dws = [(None,) * (4 if c.w_hr is None else 5) for _ in range(D)]
    if need_dx or need_dw:
        dz = xp.empty((D, GH, T, B), dtype=dt)
        dz[0] = K[:, 0].transpose(1, 0, 2)
        if D == 2:
            dz[1] = K[::-1, 1].transpose(1, 0, 2)
        dz2 = dz.reshape(D, GH, T * B)
        dw_hh = db_hh = None
        if need_dw:
            hprev = xp.empty((D, P, T, B), dtype=dt)            # time order, (P, T*B) per direction
            hprev[0] = hs[:T, 0].transpose(1, 0, 2)
            if D == 2:
                hprev[1] = hs[T - 1::-1, 1].transpose(1, 0, 2)
            dw_hh = xp.matmul(dz2, hprev.reshape(D, P, T * B).transpose(0, 2, 1))     # (D, GH, P)
            db_hh = dz2.sum(axis=2) if c.has_bias else None
        if dn is not None:                                      # input side of n: dn_pre, not r*dn_pre
            (a, b), = [kind.gate_rows(g, H) for g in kind.recurrent_bias_gates]
            dz[0, a:b] = dn[:, 0].transpose(1, 0, 2)
            if D == 2:
                dz[1, a:b] = dn[::-1, 1].transpose(1, 0, 2)
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
            if c.w_hr is not None:                              # dW_hr = Σ_s dh_s m_sᵀ: one GEMM over all steps
                dh_in = dH if act is None else dH * act         # padded steps' h is a copy, not W_hr m
                dw_hr = xp.matmul(dh_in.transpose(1, 2, 0, 3).reshape(D, P, T * B),
                                  c.ms[1:].transpose(1, 0, 3, 2).reshape(D, T * B, H))   # (D, P, H)
                dws = [dw + (dw_hr[d],) for d, dw in enumerate(dws)]

    taps = None
    if tap:
        taps = {kind.states[0]: _tap(xp, dH, act)}
        for name, buf in zip(kind.states[1:], extra_taps):
            taps[name] = _tap(xp, buf, act)
    return dx, dh0, dc0, dws, taps


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


def fused_rnn(*tensors, mode: str, lengths=None, num_directions: int = 1, has_bias: bool = True, layer: int = 0,
              loop=None, has_proj: bool = False):
    """``ops.FusedRNN.apply(*tensors, kernel=FusedKernel, **attrs)``: one layer as one graph node, for a
    direct caller (see :class:`FusedKernel` for the arguments).

    The checked entry point of the node: the tensor count, ``h0``'s directions and every shape
    (:func:`_check`) are validated here, once. The layers validate their own arguments and build the
    node through :func:`_fused_rnn`, which does not check again.
    """
    _check_mode(mode)
    k = 1 + len(REGISTRY[mode].states)
    per = (4 if has_bias else 2) + bool(has_proj)
    if len(tensors) != k + per * num_directions:
        raise ValueError(f"FusedRNN: expected {k} input tensor(s) (x and the initial states) and "
                         f"{per * num_directions} weight tensors ({num_directions} direction(s), "
                         f"has_bias={has_bias}, has_proj={has_proj}), got {len(tensors)} tensors")
    x, h0, c0, weights = _split(mode, tensors, num_directions, has_bias, has_proj)
    if h0.ndim != 3 or h0.shape[0] != num_directions:
        raise ValueError(f"h0: expected {num_directions} direction(s) in dim 0, got shape {tuple(h0.shape)}")
    _check_shapes(mode, x, h0, c0, weights, lengths)
    return _fused_rnn(*tensors, mode=mode, lengths=lengths, num_directions=num_directions, has_bias=has_bias,
                      layer=layer, loop=loop, has_proj=has_proj)


def _fused_rnn(*tensors, **attrs):
    """:func:`fused_rnn` without the checks: for arguments a layer already checked (``Recurrent``)."""
    return ops.FusedRNN.apply(*tensors, kernel=FusedKernel, **attrs)


def _split(mode: str, arrays, num_directions: int, has_bias: bool, has_proj: bool):
    """``(x, h0, c0, weights)`` from the node's flat inputs: ``x, h0, [c0,] *flat_weights`` -> per direction
    ``(w_ih, w_hh, b_ih, b_hh[, w_hr])`` (biases None without bias); no checks (:func:`fused_rnn` checks)."""
    k = 1 + len(REGISTRY[mode].states)
    per = (4 if has_bias else 2) + bool(has_proj)
    flat = arrays[k:]
    nobias = (None, None)
    weights = []
    for d in range(num_directions):
        ws = tuple(flat[d * per:(d + 1) * per])
        weights.append(ws[:2] + (ws[2:4] if has_bias else nobias) + ((ws[-1],) if has_proj else ()))
    return arrays[0], arrays[1], (arrays[2] if k == 3 else None), weights


class FusedKernel:
    """The forward and VJP of :class:`tinygrad_rnn.ops.FusedRNN` (the thin node: :func:`fused_rnn`).

    One recurrent layer (both directions) over the whole sequence as one graph node:
    ``fused_rnn(x, h0, [c0,] *flat_weights, mode=..., lengths=None, num_directions=1,
    has_bias=True, layer=0, loop=None)`` with tensors ``x (T, B, I)``, one ``(D, B, H)`` initial state per state
    element of the kind (``h0``, and ``c0`` for the LSTM), and ``flat_weights`` = per direction
    ``w_ih, w_hh[, b_ih, b_hh]`` (biases only when ``has_bias``). Returns ``(out, h_n)``, or
    ``(out, h_n, c_n)`` for LSTM. Forward and VJP: :func:`forward` and :func:`backward` (hand-written
    BPTT, no autograd calls inside); ``loop`` is the loop over time steps for the device
    (:func:`loop_for`; default: chosen from ``x``).

    The node carries what it is as attributes: ``kind`` (the registry name), ``layer``,
    ``num_directions``, ``has_bias`` and ``state_names``; pictures and analysis read these. Inside
    ``tr.analysis.record_state_grads()`` it hands its per-step state gradients to the record when
    backward runs.

    Its arguments are trusted: they were checked where the node was built (``Recurrent.forward``, or
    :func:`fused_rnn` for a direct caller), so forward runs the unchecked :func:`_forward`.
    """

    @staticmethod
    def forward(ctx, *arrays, mode: str, lengths=None, num_directions: int = 1, has_bias: bool = True,
                layer: int = 0, loop=None, has_proj: bool = False):
        kind = REGISTRY[mode]
        x, h0, c0, weights = _split(mode, arrays, num_directions, has_bias, has_proj)
        k = 1 + len(kind.states)
        flat = arrays[k:]
        training = hasattr(ctx, "needs_input_grad")
        out, h_n, c_n, cache = _forward(ctx.xp, mode, x, h0, c0, weights, lengths, training, loop)
        ctx.kind, ctx.layer, ctx.num_directions, ctx.has_bias = mode, layer, num_directions, has_bias
        ctx.has_proj = bool(has_proj)
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
            grads += list(dw[:4] if cache.has_bias else dw[:2]) + list(dw[4:])
        return tuple(g if n else None for g, n in zip(grads, need))
