"""Layer normalisation as one ``Function``: the statistics once in forward, the closed-form VJP in backward."""

from __future__ import annotations

from ..autograd.function import Function


class LayerNorm(Function):
    """y = x̂ ⊙ w + b,  x̂ = (x - μ) · r,  μ = mean(x),  r = 1/√(var(x) + ε)  over the last ``k`` dims
    (var biased, as PyTorch).
    VJP: with g = dy ⊙ w:  dx = r · (g - mean(g) - x̂ · mean(g ⊙ x̂)),  dw = Σ dy ⊙ x̂,  db = Σ dy
    (means over the normalised dims, sums over the others). ``w`` and ``b`` are optional inputs."""

    @staticmethod
    def forward(ctx, x, *affine, k=1, eps=1e-5, has_weight=False, has_bias=False):
        xp = ctx.xp
        axes = tuple(range(x.ndim - k, x.ndim))
        mu = x.mean(axis=axes, keepdims=True)
        xc = x - mu
        r = 1.0 / xp.sqrt((xc * xc).mean(axis=axes, keepdims=True) + eps)
        xhat = xc * r
        w = affine[0] if has_weight else None
        b = affine[int(has_weight)] if has_bias else None
        y = xhat if w is None else xhat * w
        if b is not None:
            y = y + b
        ctx.axes, ctx.flags = axes, (has_weight, has_bias)
        ctx.save_for_backward(xhat, r, w)
        return y.astype(x.dtype, copy=False)

    @staticmethod
    def backward(ctx, dy):
        xhat, r, w = ctx.saved
        axes = ctx.axes
        has_weight, has_bias = ctx.flags
        outer = tuple(range(dy.ndim - len(axes)))
        needs = ctx.needs_input_grad
        grads = []
        if needs[0]:
            g = dy if w is None else dy * w
            dx = r * (g - g.mean(axis=axes, keepdims=True) - xhat * (g * xhat).mean(axis=axes, keepdims=True))
            grads.append(dx)
        else:
            grads.append(None)
        i = 1
        if has_weight:
            grads.append((dy * xhat).sum(axis=outer) if needs[i] else None)
            i += 1
        if has_bias:
            grads.append(dy.sum(axis=outer) if needs[i] else None)
        return tuple(grads)
