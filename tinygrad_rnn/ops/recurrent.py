"""The fused recurrent layer as one graph node: a thin ``Function`` over the kernel its layer passes in."""

from __future__ import annotations

from ..autograd.function import Function


class FusedRNN(Function):
    """One recurrent layer (both directions) over a whole sequence as one graph node.

    ``FusedRNN.apply(x, h0, [c0,] *weights, kernel=K, mode=..., ...)``: the outputs and final states of
    the layer, ``K.forward(ctx, *arrays, mode=..., ...)``; VJP: the hand-written BPTT,
    ``K.backward(ctx, *grads)``. The kernel (``nn.recurrent.fused.FusedKernel``: the kinds' NumPy loop
    or the raw CUDA loops) is the layer's, passed in as an attribute: this class records the node, so
    that ``ops/`` holds every ``Function`` while the recurrence's arithmetic lives with the cell kinds.
    """

    @staticmethod
    def forward(ctx, *arrays, kernel, **attrs):
        ctx.kernel = kernel
        return kernel.forward(ctx, *arrays, **attrs)

    @staticmethod
    def backward(ctx, *grads):
        return ctx.kernel.backward(ctx, *grads)
