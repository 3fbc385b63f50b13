"""Scaled dot-product attention as one ``Function``: the (L, S) weights are made and used in place.

Composed from ``matmul``, ``softmax`` and friends, attention keeps half a dozen (…, L, S) arrays per
call (scores, scaled scores, shifted, exponentials, weights, and as many in backward); at long T
those memory-bound passes, not the matrix products, set the time. Two paths, one answer
(``tests/nn/test_attention_tiled.py``):

- **dense** (with an additive bias, on CuPy, and up to ``DENSE_MAX`` weights): the scores are scaled
  through q (an (L, E) array), shifted, exponentiated and normalised in one buffer, and backward reuses
  its gradient buffer the same way;
- **tiled** (NumPy without a bias, ``causal`` for the lower-triangular mask): blocks of query rows, each
  block's (rows, keys) tile small enough to stay in the CPU's cache, as in FlashAttention (Dao et al.
  2022). Forward keeps the output and each row's log-sum-exp, not the weights; backward recomputes a
  tile's weights from them and uses ``Σ_j dW⊙W = dy·y`` per row. A causal block reads only the keys up
  to its last row, half the work of the dense path with its mask of -inf. At T = 1000 (batch 32, 2
  heads of 8) the road's Transformer step takes 1.1 s instead of 2.5 s (see docs/road.md).
"""

from __future__ import annotations

import math

from ..autograd.function import Function, unbroadcast

TILE = 1 << 17
"""Elements of one (groups, rows, keys) tile of the tiled path (512 KiB in float32: half an L2 cache)."""
DENSE_MAX = 1 << 20
"""Up to this many elements of (…, L, S) weights the dense path is taken: they stay in cache anyway, and it
does not recompute them in backward (at T = 100, batch 32, 2 heads: 6.4e5, dense 10 % faster)."""


def causal_bias(xp, L: int, S: int, dtype):
    """(L, S): 0 on and below the diagonal (top-left aligned), -inf above: the causal mask as a bias."""
    return xp.where(xp.tril(xp.ones((L, S), dtype=bool)), 0.0, -xp.inf).astype(dtype)


class Attention(Function):
    """y = W v,  W = softmax(s·q kᵀ + B) over the last dim (a row that is all -inf gets W = 0, not NaN).
    VJP: dv = Wᵀ dy;  dW = dy vᵀ;  dS = W ⊙ (dW - Σ_j dW⊙W);  dq = s·dS k;  dk = s·dSᵀ q;  dB = dS.
    ``B`` (an optional additive bias, e.g. a mask of 0 / -inf) broadcasts to the scores' shape;
    ``causal=True`` (without ``B``) masks every key after the query's position (row i sees keys j ≤ i)."""

    @staticmethod
    def forward(ctx, q, k, v, bias=None, scale=1.0, causal=False):
        xp = ctx.xp
        ctx.scale = scale
        ctx.bias_shape = None if bias is None else bias.shape
        L, S = q.shape[-2], k.shape[-2]
        ctx.tiled = (bias is None and xp.__name__ == "numpy" and L > 0 and S > 0 and
                     math.prod(q.shape[:-1]) * S > DENSE_MAX)
        if ctx.tiled:
            return _tiled_forward(ctx, q, k, v, scale, causal)
        if causal:
            bias = causal_bias(xp, L, S, q.dtype)
        w = (q * scale) @ xp.swapaxes(k, -1, -2)
        if bias is not None:
            fits = bias.ndim <= w.ndim and all(b in (1, n) for b, n in zip(bias.shape[::-1], w.shape[::-1]))
            w = xp.add(w, bias, out=w) if fits else w + bias        # in place unless the bias adds batch dims
        m = w.max(axis=-1, keepdims=True)
        m = xp.where(xp.isfinite(m), m, 0).astype(w.dtype, copy=False)     # rows of -inf stay -inf: exp gives 0
        w -= m
        xp.exp(w, out=w)
        total = w.sum(axis=-1, keepdims=True)
        w /= xp.where(total == 0, 1, total).astype(w.dtype, copy=False)
        ctx.save_for_backward(q, k, v, w)
        return w @ v

    @staticmethod
    def backward(ctx, dy):
        if ctx.tiled:
            return _tiled_backward(ctx, dy)
        xp = ctx.xp
        q, k, v, w = ctx.saved
        s = ctx.scale
        needs = ctx.needs_input_grad
        dv = unbroadcast(xp, xp.swapaxes(w, -1, -2) @ dy, v.shape) if needs[2] else None
        ds = dy @ xp.swapaxes(v, -1, -2)
        ds -= (ds * w).sum(axis=-1, keepdims=True)
        ds *= w
        dq = unbroadcast(xp, (ds @ k) * s, q.shape) if needs[0] else None
        dk = unbroadcast(xp, (xp.swapaxes(ds, -1, -2) @ q) * s, k.shape) if needs[1] else None
        if len(needs) > 3:
            return dq, dk, dv, (unbroadcast(xp, ds, ctx.bias_shape) if needs[3] else None)
        return dq, dk, dv


def _rows(L: int, S: int) -> int:
    """Query rows per tile: as many as fit ``TILE`` elements with every key (at least one)."""
    return max(1, min(L, TILE // S))


def _tiles(G: int, L: int, S: int, causal: bool):
    """``(g0, g1, r0, r1, c1)``: groups g0:g1 and query rows r0:r1 attend keys 0:c1, at most ``TILE``
    elements per tile (rows first, then as many groups as fit)."""
    rows = _rows(L, S)
    groups = max(1, min(G, TILE // (rows * S)))
    for g0 in range(0, G, groups):
        for r0 in range(0, L, rows):
            r1 = min(L, r0 + rows)
            yield g0, min(G, g0 + groups), r0, r1, (min(r1, S) if causal else S)


def _scores(xp, qs, k, r0, r1, c1, causal, tri):
    """A tile's scaled scores ``qs kᵀ``, with -inf above the diagonal when causal."""
    w = qs @ xp.swapaxes(k, -1, -2)
    if causal and c1 > r0 + 1:         # the tile crosses the diagonal: keys r0+1 .. c1-1 are later for some rows
        w[..., r0:c1] += tri[:r1 - r0, :c1 - r0]
    return w


def _tiled_forward(ctx, q, k, v, scale, causal):
    import numpy as xp
    batch = xp.broadcast_shapes(q.shape[:-2], k.shape[:-2], v.shape[:-2])
    G = math.prod(batch)
    L, S, Ev = q.shape[-2], k.shape[-2], v.shape[-1]
    q3, k3, v3 = (xp.broadcast_to(a, batch + a.shape[-2:]).reshape(G, *a.shape[-2:]) for a in (q, k, v))
    y = xp.empty((G, L, Ev), q.dtype)
    lse = xp.empty((G, L, 1), q.dtype)
    tri = causal_bias(xp, _rows(L, S), _rows(L, S), q.dtype) if causal else None   # a tile's diagonal block
    for g0, g1, r0, r1, c1 in _tiles(G, L, S, causal):
        w = _scores(xp, q3[g0:g1, r0:r1] * scale, k3[g0:g1, :c1], r0, r1, c1, causal, tri)
        m = w.max(axis=-1, keepdims=True)
        w -= m
        xp.exp(w, out=w)
        total = w.sum(axis=-1, keepdims=True)
        out = y[g0:g1, r0:r1]
        xp.matmul(w, v3[g0:g1, :c1], out=out)
        out /= total
        xp.log(total, out=total)
        lse[g0:g1, r0:r1] = m + total
    y = y.reshape(batch + (L, Ev))          # saved as returned, so an in-place change to it is caught
    ctx.save_for_backward(q3, k3, v3, y, lse)
    ctx.shapes = (q.shape, k.shape, v.shape, batch)
    ctx.causal, ctx.tri = causal, tri
    return y


def _tiled_backward(ctx, dy):
    import numpy as xp
    q3, k3, v3, y, lse = ctx.saved
    q_shape, k_shape, v_shape, batch = ctx.shapes
    s, causal, tri, needs = ctx.scale, ctx.causal, ctx.tri, ctx.needs_input_grad
    G, L, _ = q3.shape
    S = k3.shape[1]
    y = y.reshape(G, L, -1)
    dy3 = dy.reshape(y.shape)
    delta = (dy3 * y).sum(axis=-1, keepdims=True)          # Σ_j dW⊙W per row = dy · y
    dq3, dk3, dv3 = xp.empty_like(q3), xp.zeros_like(k3), xp.zeros_like(v3)
    for g0, g1, r0, r1, c1 in _tiles(G, L, S, causal):
        qs = q3[g0:g1, r0:r1] * s
        kt, vt, dyt = k3[g0:g1, :c1], v3[g0:g1, :c1], dy3[g0:g1, r0:r1]
        w = _scores(xp, qs, kt, r0, r1, c1, causal, tri)
        w -= lse[g0:g1, r0:r1]
        xp.exp(w, out=w)                                    # the tile's weights, recomputed
        dv3[g0:g1, :c1] += xp.swapaxes(w, -1, -2) @ dyt
        ds = dyt @ xp.swapaxes(vt, -1, -2)
        ds -= delta[g0:g1, r0:r1]
        ds *= w
        xp.matmul(ds, kt, out=dq3[g0:g1, r0:r1])
        dk3[g0:g1, :c1] += xp.swapaxes(ds, -1, -2) @ qs     # s·dSᵀ q, the scale already in qs
    dq3 *= s

    def back(a, shape):
        return unbroadcast(xp, a.reshape(batch + a.shape[1:]), shape)
    return (back(dq3, q_shape) if needs[0] else None, back(dk3, k_shape) if needs[1] else None,
            back(dv3, v_shape) if needs[2] else None)
