"""Moving a tensor between devices, as a graph node."""

from __future__ import annotations

from ..autograd import grad_mode
from ..autograd.function import Function, next_seq
from ..autograd.scope import _scope_tuple
from ..backend import device_of, move

_grad_state = grad_mode._state


class ToDevice(Function):
    """y = x on another device.   VJP: dx = dy moved back."""

    @staticmethod
    def forward(ctx, x, dev):
        ctx.src = device_of(x)
        return move(x, dev)

    @staticmethod
    def backward(ctx, dy):
        return move(dy, ctx.src)

    @classmethod
    def apply_to(cls, x, dev: str):
        """``apply``, except that the output lives on ``dev`` (a canonical device name the tensor class
        knows), not on the input's device; the node is recorded by hand as ``apply`` records one."""
        ctx = cls.__new__(cls)
        ctx.xp = x._xp
        record = _grad_state.enabled and x.requires_grad
        out = type(x)._make(cls.forward(ctx, x._data, dev), dev, record, ctx if record else None, 0)
        if record:
            ctx.needs_input_grad = (True,)
            ctx.edges = (x if x._node is None else (x._node, x._idx),)
            ctx.out_meta = ((out.shape, out.dtype),)
            ctx.scope = _scope_tuple()
            ctx._seq = next_seq()
        return out
