"""The linear recurrence h_t = a_t ⊙ h_{t-1} + b_t over a whole sequence, as one ``Function``.

Two algorithms compute the same h (to rounding):

- ``"scan"``: the odd–even (Blelloch-style) parallel scan. Pairs of steps combine into one step,
  (a₂, b₂)∘(a₁, b₁) = (a₂a₁, a₂b₁ + b₂), the half-length recurrence is solved the same way, and the
  skipped steps are filled in from their predecessor: O(T) work, O(log T) depth (≈ 2·log₂T array
  ops on halving slices). This is the algorithm for a GPU, and on NumPy it wins whenever one step's
  slice is small, since a Python loop over T steps then costs T op dispatches.
- ``"loop"``: the sequential loop, one multiply–add per step. On one CPU core a big slice makes each
  step memory-bound and the loop reads a and b and writes h exactly once, which no reordering beats;
  ``"auto"`` takes it on NumPy when a step's slice holds at least ``LOOP_MIN_BYTES`` bytes.

The backward is itself a reverse linear scan. With g_t = ∂L/∂h_t (all paths):

    g_t = dh_t + a_{t+1} ⊙ g_{t+1}      (g_{T-1} = dh_{T-1}), a scan over the reversed sequence
    db_t = g_t,   da_t = g_t ⊙ h_{t-1},   dh0 = a_0 ⊙ g_0      (h_{-1} = h0, or 0 without h0)

each summed back to its input's broadcast shape.
"""

from __future__ import annotations

from ..autograd.function import Function, unbroadcast

# NumPy: from this many bytes per time step on, the sequential loop's per-step dispatch cost is small
# beside its memory traffic and it beats the scan, which moves about twice the data (bench/linear_scan.py:
# at T = 4096, float32, the scan is 5x faster at 128 elements a step, 1.8x at 256, even at ~384).
LOOP_MIN_BYTES = 1536
# Below this length the scan's recursion stops and a short loop finishes the job.
SCAN_BASE = 16


def _loop(xp, a, b, out, first):
    """out_t = a_t ⊙ out_{t-1} + b_t along axis 0 for t ≥ 1, out_0 = ``first``."""
    out[0] = first
    for t in range(1, a.shape[0]):
        xp.multiply(a[t], out[t - 1], out=out[t])
        out[t] += b[t]
    return out


def _scan(xp, a, b, out, first):
    """The odd–even parallel scan of the same recurrence (out_0 = ``first``; a_0 and b_0 are not read)."""
    T = a.shape[0]
    if T <= SCAN_BASE:
        return _loop(xp, a, b, out, first)
    n = T // 2
    a_odd = a[1:2 * n:2]
    pair_a = a_odd * a[0:2 * n:2]               # the two steps 2i, 2i+1 as one: (a₂a₁, a₂b₁ + b₂)
    pair_b = a_odd * b[0:2 * n:2]
    pair_b[0] = a_odd[0] * first                # the first pair starts from out_0 itself
    pair_b += b[1:2 * n:2]
    _scan(xp, pair_a, pair_b, out[1:2 * n:2], pair_b[0])   # h at the odd positions
    out[0] = first
    m = (T - 1) // 2                             # the even positions 2, 4, ...: one step from h_{2i-1}
    even = out[2::2]
    xp.multiply(a[2::2], out[1:2 * m:2], out=even)
    even += b[2::2]
    return out


def linear_recurrence(xp, a, b, out=None, first=None, method: str = "auto"):
    """out with out_t = a_t ⊙ out_{t-1} + b_t along axis 0 and out_0 = ``first`` (default b_0, i.e. a zero
    initial state); ``a`` and ``b`` of one shape (views of any strides), ``out`` written in place."""
    if out is None:
        out = xp.empty(b.shape, dtype=b.dtype)
    if a.shape[0] == 0:
        return out
    if first is None:
        first = b[0]
    work = out
    if a.ndim == 1:                              # per-step slices must be arrays (written with out=)
        a, b, work = a[:, None], b[:, None], out[:, None]
    if method == "auto":
        step = a.dtype.itemsize
        for n in a.shape[1:]:
            step *= n
        method = "loop" if xp.__name__ == "numpy" and step >= LOOP_MIN_BYTES else "scan"
    (_loop if method == "loop" else _scan)(xp, a, b, work, first)
    return out


class LinearScan(Function):
    """h_t = a_t ⊙ h_{t-1} + b_t along ``dim`` (h_{-1} = h0, zeros without it).
    VJP: g = reverse scan of dh with coefficients a_{t+1}; db = g, da_t = g_t ⊙ h_{t-1}, dh0 = a_0 ⊙ g_0."""

    @staticmethod
    def forward(ctx, a, b, h0=None, dim=0, shape=(), method="auto"):
        xp = ctx.xp
        ctx.shapes = (a.shape, b.shape, None if h0 is None else h0.shape)
        ctx.dim, ctx.method, ctx.shape = dim, method, shape
        a_t = xp.moveaxis(xp.broadcast_to(a, shape), dim, 0)
        b_t = xp.moveaxis(xp.broadcast_to(b, shape), dim, 0)
        first = None if h0 is None or a_t.shape[0] == 0 else a_t[0] * h0 + b_t[0]   # h_0 = a_0 h0 + b_0
        y = xp.moveaxis(linear_recurrence(xp, a_t, b_t, first=first, method=method), 0, dim)
        ctx.save_for_backward(a, y, h0)           # the input and output arrays: version-checked
        return y

    @staticmethod
    def backward(ctx, dh):
        xp = ctx.xp
        a, y, h0 = ctx.saved
        sa, sb, s0 = ctx.shapes
        dim = ctx.dim
        a_t = xp.moveaxis(xp.broadcast_to(a, ctx.shape), dim, 0)
        h = xp.moveaxis(y, dim, 0)
        T = h.shape[0]
        if T == 0:                                # an empty sequence: every gradient is zero
            zero = [None if s is None else xp.zeros(s, dh.dtype) for s in (sa, sb, s0)]
            return tuple(z if n else None for z, n in zip(zero, ctx.needs_input_grad))
        # reversed time s = T-1-t: G_s = a_{T-s} ⊙ G_{s-1} + D_s, G_0 = D_0, with D the reversed dh
        d = xp.moveaxis(dh, dim, 0)[::-1]
        g_rev = xp.empty(h.shape, dtype=h.dtype)
        g_rev[0] = d[0]
        if T > 1:
            coef = a_t[:0:-1]                      # a_{T-1}, ..., a_1 (a view)
            linear_recurrence(xp, coef, d[1:], out=g_rev[1:], first=coef[0] * d[0] + d[1], method=ctx.method)
        g = g_rev[::-1]
        needs = ctx.needs_input_grad
        da = db = dh0 = None
        if needs[1]:
            db = unbroadcast(xp, xp.moveaxis(g, 0, dim), sb)
        if needs[0]:
            prod = xp.empty(h.shape, dtype=h.dtype)
            prod[0] = 0 if h0 is None else g[0] * h0
            xp.multiply(g[1:], h[:-1], out=prod[1:])
            da = unbroadcast(xp, xp.moveaxis(prod, 0, dim), sa)
        if len(needs) > 2 and needs[2]:
            dh0 = unbroadcast(xp, a_t[0] * g[0], s0)
        return (da, db, dh0) if len(needs) > 2 else (da, db)
