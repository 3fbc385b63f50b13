"""Reductions over ``dim`` (an int, a tuple, or ``None`` for all), with PyTorch's ``keepdim``.

Each backward re-expands the reduced gradient to the input's shape.
"""

from __future__ import annotations

from ..autograd.function import Function


def _expand_back(xp, dy, shape, dim, keepdim):
    """Reshape a reduced gradient so it broadcasts against the input again."""
    if dim is None:
        return dy.reshape((1,) * len(shape)) if shape else dy
    if not keepdim:
        dy = xp.expand_dims(dy, dim)
    return dy


class Sum(Function):
    """y = Σ_dim x.   VJP: dx = dy broadcast back over dim."""

    @staticmethod
    def forward(ctx, x, dim=None, keepdim=False, dtype=None):
        ctx.args = (x.shape, dim, keepdim)
        ctx.in_dtype = x.dtype
        return x.sum(axis=dim, keepdims=keepdim, dtype=dtype)

    @staticmethod
    def backward(ctx, dy):
        shape, dim, keepdim = ctx.args
        dx = ctx.xp.empty(shape, ctx.in_dtype)      # filling is much cheaper than xp.broadcast_to on tiny arrays
        dx[...] = _expand_back(ctx.xp, dy, shape, dim, keepdim)
        return dx


class Mean(Function):
    """y = mean_dim x.   VJP: dx = dy / n broadcast back over dim."""

    @staticmethod
    def forward(ctx, x, dim=None, keepdim=False):
        ctx.args = (x.shape, dim, keepdim)
        y = x.mean(axis=dim, keepdims=keepdim)
        ctx.n = x.size // max(y.size, 1) if x.size else 0
        return y.astype(x.dtype, copy=False)

    @staticmethod
    def backward(ctx, dy):
        shape, dim, keepdim = ctx.args
        g = _expand_back(ctx.xp, dy, shape, dim, keepdim) / ctx.n
        return ctx.xp.broadcast_to(g, shape)


def _extreme_forward(ctx, x, y, dim, keepdim):
    """Shared by Amax/Amin: ``y`` is the reduction with keepdims=True."""
    ctx.save_for_backward(x, y)
    ctx.args = (dim, keepdim)
    return y if keepdim else (y.reshape(()) if dim is None else ctx.xp.squeeze(y, dim))


def _extreme_backward(ctx, dy):
    """dy shared evenly by the entries equal to the extreme value (as ``torch.amax``/``amin``)."""
    x, y = ctx.saved
    dim, keepdim = ctx.args
    mask = (x == y)
    count = mask.sum(axis=dim, keepdims=True)
    return mask * (_expand_back(ctx.xp, dy, x.shape, dim, keepdim) / count)


class Amax(Function):
    """y = max_dim x.   VJP: dy shared evenly by the entries equal to the max."""

    @staticmethod
    def forward(ctx, x, dim=None, keepdim=False):
        return _extreme_forward(ctx, x, x.max(axis=dim, keepdims=True), dim, keepdim)

    backward = staticmethod(_extreme_backward)


class Amin(Function):
    """y = min_dim x.   VJP: dy shared evenly by the entries equal to the min."""

    @staticmethod
    def forward(ctx, x, dim=None, keepdim=False):
        return _extreme_forward(ctx, x, x.min(axis=dim, keepdims=True), dim, keepdim)

    backward = staticmethod(_extreme_backward)


class Var(Function):
    """y = Σ (x - x̄)² / (n - correction).   VJP: dx = dy · 2 (x - x̄) / (n - correction)."""

    @staticmethod
    def forward(ctx, x, dim=None, correction=1, keepdim=False):
        xp = ctx.xp
        mean = x.mean(axis=dim, keepdims=True)
        centered = x - mean
        n = x.size // max(mean.size, 1) if x.size else 0
        denom = max(n - correction, 0)
        y = (centered * centered).sum(axis=dim, keepdims=keepdim)
        y = y / denom if denom > 0 else y * xp.nan
        ctx.save_for_backward(centered)
        ctx.args = (dim, keepdim, denom)
        return y.astype(x.dtype, copy=False)

    @staticmethod
    def backward(ctx, dy):
        (centered,) = ctx.saved
        dim, keepdim, denom = ctx.args
        g = _expand_back(ctx.xp, dy, centered.shape, dim, keepdim)
        return g * centered * (2.0 / denom if denom > 0 else ctx.xp.nan)


def _stable_max(xp, x, dim):
    """max over dim (keepdims), with rows that are all -inf (or empty) set to 0 so x - m stays finite."""
    m = x.max(axis=dim, keepdims=True) if x.size else xp.zeros(
        tuple(1 if i == dim % x.ndim else n for i, n in enumerate(x.shape)), x.dtype)
    return xp.where(xp.isfinite(m), m, 0).astype(x.dtype, copy=False)


class Logsumexp(Function):
    """y = log Σ_dim exp(x), shifted by the max.   VJP: dx = dy · softmax(x)."""

    @staticmethod
    def forward(ctx, x, dim, keepdim=False):
        xp = ctx.xp
        m = _stable_max(xp, x, dim)
        s = xp.exp(x - m).sum(axis=dim, keepdims=True)
        with _quiet(xp):
            y = xp.log(s) + m
        ctx.save_for_backward(x, y)
        ctx.args = (dim, keepdim)
        return y if keepdim else xp.squeeze(y, dim)

    @staticmethod
    def backward(ctx, dy):
        x, y = ctx.saved
        xp = ctx.xp
        dim, keepdim = ctx.args
        g = dy if keepdim else xp.expand_dims(dy, dim)
        p = xp.exp(x - xp.where(xp.isfinite(y), y, 0))
        p = xp.where(y == -xp.inf, 0, p)
        return g * p


class Softmax(Function):
    """y = exp(x - max) / Σ exp(x - max).   VJP: dx = y · (dy - Σ dy·y)."""

    @staticmethod
    def forward(ctx, x, dim):
        xp = ctx.xp
        e = xp.exp(x - _stable_max(xp, x, dim))
        y = e / e.sum(axis=dim, keepdims=True)
        ctx.save_for_backward(y)
        ctx.dim = dim
        return y

    @staticmethod
    def backward(ctx, dy):
        (y,) = ctx.saved
        return y * (dy - (dy * y).sum(axis=ctx.dim, keepdims=True))


class LogSoftmax(Function):
    """y = x - logsumexp(x).   VJP: dx = dy - softmax(x) · Σ dy."""

    @staticmethod
    def forward(ctx, x, dim):
        xp = ctx.xp
        shifted = x - _stable_max(xp, x, dim)
        with _quiet(xp):
            y = shifted - xp.log(xp.exp(shifted).sum(axis=dim, keepdims=True))
        ctx.save_for_backward(y)
        ctx.dim = dim
        return y

    @staticmethod
    def backward(ctx, dy):
        (y,) = ctx.saved
        return dy - ctx.xp.exp(y) * dy.sum(axis=ctx.dim, keepdims=True)


class _quiet:
    """log(0) = -inf is the right answer for an all -inf row: do not let errstate turn it into an error."""

    def __init__(self, xp):
        self.cm = xp.errstate(divide="ignore") if hasattr(xp, "errstate") else None

    def __enter__(self):
        if self.cm is not None:
            self.cm.__enter__()

    def __exit__(self, *exc):
        if self.cm is not None:
            self.cm.__exit__(*exc)
