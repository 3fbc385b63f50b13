"""Scaled dot-product attention as one ``Function``: the (L, S) weights are made and used in place.

Composed from ``matmul``, ``softmax`` and friends, attention keeps half a dozen (…, L, S) arrays per
call (scores, scaled scores, shifted, exponentials, weights, and as many in backward); at long T
those memory-bound passes, not the matrix products, set the time. Here the scores are scaled through
q (an (L, E) array), shifted, exponentiated and normalised in one buffer, and backward reuses its
gradient buffer the same way.
"""

from __future__ import annotations

from ..autograd.function import Function, unbroadcast


class Attention(Function):
    """y = W v,  W = softmax(s·q kᵀ + B) over the last dim (a row that is all -inf gets W = 0, not NaN).
    VJP: dv = Wᵀ dy;  dW = dy vᵀ;  dS = W ⊙ (dW - Σ_j dW⊙W);  dq = s·dS k;  dk = s·dSᵀ q;  dB = dS.
    ``B`` (an optional additive bias, e.g. a mask of 0 / -inf) broadcasts to the scores' shape."""

    @staticmethod
    def forward(ctx, q, k, v, bias=None, scale=1.0):
        xp = ctx.xp
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
        ctx.scale = scale
        ctx.bias_shape = None if bias is None else bias.shape
        return w @ v

    @staticmethod
    def backward(ctx, dy):
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
