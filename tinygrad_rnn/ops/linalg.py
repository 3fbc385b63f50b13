"""Matrix products."""

from __future__ import annotations

from ..autograd.function import Function, unbroadcast


class Matmul(Function):
    """y = a @ b (1-D, 2-D and batched, NumPy/PyTorch rules).
    VJP: da = dy @ bᵀ, db = aᵀ @ dy, with 1-D operands treated as a row / column and batch dims summed."""

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return a @ b

    @staticmethod
    def backward(ctx, dy):
        a, b = ctx.saved
        xp = ctx.xp
        a2 = a[None, :] if a.ndim == 1 else a
        b2 = b[:, None] if b.ndim == 1 else b
        if b.ndim == 1:     # restore the contracted dims (b's first, so a 0-d dy from 1-D @ 1-D works)
            dy = xp.expand_dims(dy, -1)
        if a.ndim == 1:
            dy = xp.expand_dims(dy, -2)
        need_a, need_b = ctx.needs_input_grad
        da = db = None
        if need_a:
            da = dy @ xp.swapaxes(b2, -1, -2)
            da = unbroadcast(xp, da, a2.shape).reshape(a.shape)
        if need_b:
            db = xp.swapaxes(a2, -1, -2) @ dy
            db = unbroadcast(xp, db, b2.shape).reshape(b.shape)
        return da, db
