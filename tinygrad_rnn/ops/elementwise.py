"""Elementwise ops: forward formula and vector–Jacobian product side by side.

Binary ops broadcast like NumPy; ``unbroadcast`` sums each gradient back to its input's shape.
"""

from __future__ import annotations

from ..autograd.function import Function, unbroadcast


class Add(Function):
    """y = a + b.   VJP: da = dy, db = dy (summed over broadcast dims)."""

    @staticmethod
    def forward(ctx, a, b):
        ctx.shapes = (a.shape, b.shape)
        return a + b

    @staticmethod
    def backward(ctx, dy):
        sa, sb = ctx.shapes
        return unbroadcast(ctx.xp, dy, sa), unbroadcast(ctx.xp, dy, sb)


class Sub(Function):
    """y = a - b.   VJP: da = dy, db = -dy."""

    @staticmethod
    def forward(ctx, a, b):
        ctx.shapes = (a.shape, b.shape)
        return a - b

    @staticmethod
    def backward(ctx, dy):
        sa, sb = ctx.shapes
        return unbroadcast(ctx.xp, dy, sa), unbroadcast(ctx.xp, -dy, sb)


class Mul(Function):
    """y = a * b.   VJP: da = dy * b, db = dy * a."""

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return a * b

    @staticmethod
    def backward(ctx, dy):
        a, b = ctx.saved
        need_a, need_b = ctx.needs_input_grad
        return (unbroadcast(ctx.xp, dy * b, a.shape) if need_a else None,
                unbroadcast(ctx.xp, dy * a, b.shape) if need_b else None)


class Div(Function):
    """y = a / b.   VJP: da = dy / b, db = -dy * a / b²."""

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return a / b

    @staticmethod
    def backward(ctx, dy):
        a, b = ctx.saved
        need_a, need_b = ctx.needs_input_grad
        return (unbroadcast(ctx.xp, dy / b, a.shape) if need_a else None,
                unbroadcast(ctx.xp, -dy * a / (b * b), b.shape) if need_b else None)


class Neg(Function):
    """y = -x.   VJP: dx = -dy."""

    @staticmethod
    def forward(ctx, x):
        return -x

    @staticmethod
    def backward(ctx, dy):
        return -dy


class Pow(Function):
    """y = a ** b (both tensors).   VJP: da = dy·b·a^(b-1), db = dy·y·log(a) (0 where a = 0, b ≥ 0)."""

    @staticmethod
    def forward(ctx, a, b):
        y = a ** b
        ctx.save_for_backward(a, b, y)
        return y

    @staticmethod
    def backward(ctx, dy):
        a, b, y = ctx.saved
        xp = ctx.xp
        need_a, need_b = ctx.needs_input_grad
        da = db = None
        if need_a:
            da = unbroadcast(xp, dy * b * a ** (b - 1), a.shape)
        if need_b:
            safe = xp.where(a == 0, 1, a)
            db = unbroadcast(xp, xp.where((a == 0) & (b >= 0), 0, dy * y * xp.log(safe)), b.shape)
        return da, db


class PowScalar(Function):
    """y = x ** p for a Python number p.   VJP: dx = dy · p · x^(p-1)."""

    @staticmethod
    def forward(ctx, x, exponent):
        ctx.exponent = exponent
        ctx.save_for_backward(x)
        return x ** exponent

    @staticmethod
    def backward(ctx, dy):
        (x,) = ctx.saved
        p = ctx.exponent
        if p == 0:
            return dy * 0
        return dy * (p * x ** (p - 1))


class RPowScalar(Function):
    """y = c ** x for a Python number c.   VJP: dx = dy · y · log(c)."""

    @staticmethod
    def forward(ctx, x, base):
        y = x.dtype.type(base) ** x
        ctx.log_base = ctx.xp.log(x.dtype.type(base)) if base > 0 else float("nan")
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, dy):
        (y,) = ctx.saved
        return dy * y * ctx.log_base


class Exp(Function):
    """y = exp(x).   VJP: dx = dy · y."""

    @staticmethod
    def forward(ctx, x):
        y = ctx.xp.exp(x)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, dy):
        (y,) = ctx.saved
        return dy * y


class Log(Function):
    """y = log(x).   VJP: dx = dy / x."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return ctx.xp.log(x)

    @staticmethod
    def backward(ctx, dy):
        (x,) = ctx.saved
        return dy / x


class Sqrt(Function):
    """y = √x.   VJP: dx = dy / (2y)."""

    @staticmethod
    def forward(ctx, x):
        y = ctx.xp.sqrt(x)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, dy):
        (y,) = ctx.saved
        return dy / (2 * y)


class Abs(Function):
    """y = |x|.   VJP: dx = dy · sign(x) (0 at x = 0, as PyTorch)."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return ctx.xp.abs(x)

    @staticmethod
    def backward(ctx, dy):
        (x,) = ctx.saved
        return dy * ctx.xp.sign(x)


class Tanh(Function):
    """y = tanh(x).   VJP: dx = dy · (1 - y²)."""

    @staticmethod
    def forward(ctx, x):
        y = ctx.xp.tanh(x)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, dy):
        (y,) = ctx.saved
        return dy * (1 - y * y)


class Sigmoid(Function):
    """y = 1 / (1 + e^-x), computed from e^-|x| so it never overflows and is exactly 0 or 1 at
    saturation.   VJP: dx = dy · y · (1 - y)."""

    @staticmethod
    def forward(ctx, x):
        xp = ctx.xp
        e = xp.exp(-xp.abs(x))
        y = xp.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(x.dtype, copy=False)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, dy):
        (y,) = ctx.saved
        return dy * (y * (1 - y))


class Relu(Function):
    """y = max(x, 0).   VJP: dx = dy · [x > 0]."""

    @staticmethod
    def forward(ctx, x):
        y = ctx.xp.maximum(x, 0)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, dy):
        (y,) = ctx.saved
        return dy * (y > 0)


def _split_ties(xp, dy, a, b, a_wins):
    """Route dy to the winning operand of max/min; ties give half to each (as PyTorch)."""
    wa = xp.where(a_wins, 1.0, xp.where(a == b, 0.5, 0.0)).astype(dy.dtype)
    return unbroadcast(xp, dy * wa, a.shape), unbroadcast(xp, dy * (1 - wa), b.shape)


class Maximum(Function):
    """y = max(a, b) elementwise.   VJP: dy to the larger input, split in half on ties."""

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return ctx.xp.maximum(a, b)

    @staticmethod
    def backward(ctx, dy):
        a, b = ctx.saved
        return _split_ties(ctx.xp, dy, a, b, a > b)


class Minimum(Function):
    """y = min(a, b) elementwise.   VJP: dy to the smaller input, split in half on ties."""

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return ctx.xp.minimum(a, b)

    @staticmethod
    def backward(ctx, dy):
        a, b = ctx.saved
        return _split_ties(ctx.xp, dy, a, b, a < b)


class Clamp(Function):
    """y = min(max(x, lo), hi).   VJP: dx = dy where lo ≤ x ≤ hi, else 0 (bounds inclusive, as PyTorch)."""

    @staticmethod
    def forward(ctx, x, min=None, max=None):
        ctx.save_for_backward(x)
        ctx.bounds = (min, max)
        y = x if min is None else ctx.xp.maximum(x, min)
        y = y if max is None else ctx.xp.minimum(y, max)
        return y.astype(x.dtype, copy=False)

    @staticmethod
    def backward(ctx, dy):
        (x,) = ctx.saved
        lo, hi = ctx.bounds
        keep = ctx.xp.ones(x.shape, dtype=bool)
        if lo is not None:
            keep &= x >= lo
        if hi is not None:
            keep &= x <= hi
        return dy * keep


class Where(Function):
    """y = a where cond else b.   VJP: da = dy · cond, db = dy · ¬cond (cond gets none)."""

    @staticmethod
    def forward(ctx, cond, a, b):
        ctx.save_for_backward(cond)
        ctx.shapes = (a.shape, b.shape)
        return ctx.xp.where(cond, a, b)

    @staticmethod
    def backward(ctx, dy):
        (cond,) = ctx.saved
        xp = ctx.xp
        sa, sb = ctx.shapes
        zero = xp.zeros((), dy.dtype)
        return (None, unbroadcast(xp, xp.where(cond, dy, zero), sa),
                unbroadcast(xp, xp.where(cond, zero, dy), sb))


class Cast(Function):
    """y = x as another dtype.   VJP: dx = dy cast back to x's dtype."""

    @staticmethod
    def forward(ctx, x, dtype):
        ctx.in_dtype = x.dtype
        return x.astype(dtype)

    @staticmethod
    def backward(ctx, dy):
        return dy.astype(ctx.in_dtype)


class Sin(Function):
    """y = sin(x).   VJP: dx = dy · cos(x)."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return ctx.xp.sin(x)

    @staticmethod
    def backward(ctx, dy):
        (x,) = ctx.saved
        return dy * ctx.xp.cos(x)


class Cos(Function):
    """y = cos(x).   VJP: dx = -dy · sin(x)."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return ctx.xp.cos(x)

    @staticmethod
    def backward(ctx, dy):
        (x,) = ctx.saved
        return -dy * ctx.xp.sin(x)


class Sinh(Function):
    """y = sinh(x).   VJP: dx = dy · cosh(x)."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return ctx.xp.sinh(x)

    @staticmethod
    def backward(ctx, dy):
        (x,) = ctx.saved
        return dy * ctx.xp.cosh(x)


class Cosh(Function):
    """y = cosh(x).   VJP: dx = dy · sinh(x)."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return ctx.xp.cosh(x)

    @staticmethod
    def backward(ctx, dy):
        (x,) = ctx.saved
        return dy * ctx.xp.sinh(x)
