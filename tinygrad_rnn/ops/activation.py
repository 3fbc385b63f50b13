"""The Transformer's activations: GELU (exact and tanh form) and SiLU, with the error function they need."""

from __future__ import annotations

import math

from ..autograd.function import Function

_TWO_OVER_SQRT_PI = 2.0 / math.sqrt(math.pi)
_SQRT_PI = math.sqrt(math.pi)
_SQRT1_2 = 1.0 / math.sqrt(2.0)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
_GELU_BETA = math.sqrt(2.0 / math.pi)     # the tanh form's √(2/π) and κ = 0.044715 (PyTorch's constants)
_GELU_KAPPA = 0.044715


def erf(xp, x):
    """erf(x) = 2/√π ∫₀ˣ e^(-s²) ds elementwise, to about 1e-15 in float64, on any array module.

    |x| < 2: the series erf(x) = 2/√π · e^(-x²) · Σ_n 2ⁿ x^(2n+1) / (1·3·…·(2n+1)), whose terms are all
    positive (no cancellation); |x| ≥ 2: erf = 1 - erfc with the continued fraction
    erfc(x) = e^(-x²)/√π · 1/(x + (1/2)/(x + 1/(x + (3/2)/(x + …)))), evaluated from depth 60 up.
    """
    ax = xp.abs(x)
    small = ax < 2.0
    xs = xp.where(small, ax, 0.0).astype(x.dtype, copy=False)
    x2 = xs * xs
    term = xs.copy()
    total = xs.copy()
    for n in range(1, 40):
        term *= (2.0 / (2 * n + 1)) * x2
        total += term
    series = _TWO_OVER_SQRT_PI * xp.exp(-x2) * total
    xl = xp.where(small, 2.0, ax).astype(x.dtype, copy=False)
    frac = xl.copy()
    for k in range(60, 0, -1):
        frac = xl + (k / 2.0) / frac
    tail = 1.0 - xp.exp(-xl * xl) / (_SQRT_PI * frac)
    return xp.copysign(xp.where(small, series, tail), x).astype(x.dtype, copy=False)


class Gelu(Function):
    """y = x·Φ(x) = x/2 · (1 + erf(x/√2)).   VJP: dx = dy · (Φ(x) + x·φ(x)), φ(x) = e^(-x²/2)/√(2π)."""

    @staticmethod
    def forward(ctx, x):
        cdf = 0.5 * (1.0 + erf(ctx.xp, x * _SQRT1_2))
        ctx.save_for_backward(x, cdf)
        return x * cdf

    @staticmethod
    def backward(ctx, dy):
        x, cdf = ctx.saved
        pdf = _INV_SQRT_2PI * ctx.xp.exp(-0.5 * x * x)
        return dy * (cdf + x * pdf)


class GeluTanh(Function):
    """y = x/2 · (1 + tanh(u)), u = √(2/π)·(x + 0.044715·x³)   (``approximate="tanh"``).
    VJP: dx = dy · [(1 + tanh u)/2 + x/2 · (1 - tanh² u) · √(2/π)·(1 + 3·0.044715·x²)]."""

    @staticmethod
    def forward(ctx, x):
        t = ctx.xp.tanh(_GELU_BETA * (x + _GELU_KAPPA * x * x * x))
        ctx.save_for_backward(x, t)
        return 0.5 * x * (1.0 + t)

    @staticmethod
    def backward(ctx, dy):
        x, t = ctx.saved
        left = 0.5 * (1.0 + t)
        right = 0.5 * x * (1.0 - t * t) * (_GELU_BETA * (1.0 + 3.0 * _GELU_KAPPA * x * x))
        return dy * (left + right)


class Silu(Function):
    """y = x·σ(x) (the swish).   VJP: dx = dy · σ(x)·(1 + x·(1 - σ(x)))."""

    @staticmethod
    def forward(ctx, x):
        xp = ctx.xp
        e = xp.exp(-xp.abs(x))                        # σ without overflow, as ops.Sigmoid
        s = xp.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(x.dtype, copy=False)
        ctx.save_for_backward(x, s)
        return x * s

    @staticmethod
    def backward(ctx, dy):
        x, s = ctx.saved
        return dy * (s * (1.0 + x * (1.0 - s)))
