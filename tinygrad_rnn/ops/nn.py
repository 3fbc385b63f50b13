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
