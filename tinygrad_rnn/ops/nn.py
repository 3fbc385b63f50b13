"""Ops that neural-network layers need beyond arithmetic."""

from __future__ import annotations

from ..autograd.function import Function


class Dropout(Function):
    """y = x · mask / (1 - p), mask ~ Bernoulli(1 - p) drawn from a generator.
    VJP: dx = dy · mask / (1 - p)."""

    @staticmethod
    def forward(ctx, x, keep):
        # keep: the mask already scaled by 1/(1-p), on x's device and dtype
        ctx.keep = keep
        return x * keep

    @staticmethod
    def backward(ctx, dy):
        return dy * ctx.keep


class LogSigmoid(Function):
    """y = log σ(x) = min(x, 0) - log1p(exp(-|x|)).   VJP: dx = dy · σ(-x) = dy · (1 - σ(x))."""

    @staticmethod
    def forward(ctx, x):
        xp = ctx.xp
        ctx.save_for_backward(x)
        return (xp.minimum(x, 0) - xp.log1p(xp.exp(-xp.abs(x)))).astype(x.dtype, copy=False)

    @staticmethod
    def backward(ctx, dy):
        xp = ctx.xp
        (x,) = ctx.saved
        e = xp.exp(-xp.abs(x))                       # σ(-x) without overflow: e/(1+e) for x>0, 1/(1+e) else
        s = xp.where(x > 0, e, 1) / (1 + e)
        return dy * s.astype(dy.dtype, copy=False)


def _clamped_log(xp, x, floor: float = -100.0):
    """max(log x, floor), without warnings at x = 0."""
    pos = x > 0
    return xp.maximum(xp.where(pos, xp.log(xp.where(pos, x, 1)), floor), floor).astype(x.dtype, copy=False)


class BinaryCrossEntropy(Function):
    """ℓ = -[t·max(log x, -100) + (1-t)·max(log(1-x), -100)]   (PyTorch's clamp).
    VJP (PyTorch's): dx = dy·(x - t) / max(x·(1-x), 1e-12),  dt = dy·(log(1-x) - log x) (unclamped: ±inf at 0, 1)."""

    @staticmethod
    def forward(ctx, x, t):
        xp = ctx.xp
        ctx.save_for_backward(x, t)
        return -(t * _clamped_log(xp, x) + (1 - t) * _clamped_log(xp, 1 - x))

    @staticmethod
    def backward(ctx, dy):
        xp = ctx.xp
        x, t = ctx.saved
        dx = dy * (x - t) / xp.maximum(x * (1 - x), 1e-12) if ctx.needs_input_grad[0] else None
        dt = None
        if ctx.needs_input_grad[1]:
            dt = dy * (_clamped_log(xp, 1 - x, -xp.inf) - _clamped_log(xp, x, -xp.inf))
        return dx, dt
