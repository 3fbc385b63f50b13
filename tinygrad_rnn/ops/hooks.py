"""The identity node that module backward hooks hang on (``register_full_backward_hook``)."""

from __future__ import annotations

from ..autograd.function import Function


class BackwardHookFunction(Function):
    """y_k = x_k for several tensors at once.   VJP: dx = on_backward(dy), a callback that sees all
    the gradients together and may replace them (the module's hooks run there)."""

    @staticmethod
    def forward(ctx, *xs, on_backward):
        ctx.on_backward = on_backward
        return xs if len(xs) > 1 else xs[0]

    @staticmethod
    def backward(ctx, *grads):
        out = tuple(ctx.on_backward(grads))
        return out if len(out) > 1 else out[0]
