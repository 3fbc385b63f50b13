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


class Tril(Function):
    """y = x with the elements above the ``diagonal``-th diagonal of the last two dims zeroed.
    VJP: dx = tril(dy) (the same mask)."""

    @staticmethod
    def forward(ctx, x, diagonal):
        ctx.diagonal = diagonal
        return ctx.xp.tril(x, diagonal)

    @staticmethod
    def backward(ctx, dy):
        return ctx.xp.tril(dy, ctx.diagonal)


class Triu(Function):
    """y = x with the elements below the ``diagonal``-th diagonal of the last two dims zeroed.
    VJP: dx = triu(dy)."""

    @staticmethod
    def forward(ctx, x, diagonal):
        ctx.diagonal = diagonal
        return ctx.xp.triu(x, diagonal)

    @staticmethod
    def backward(ctx, dy):
        return ctx.xp.triu(dy, ctx.diagonal)


class Einsum(Function):
    """y = einsum(equation, *operands), the equation in explicit form ``"ij,jk->ik"`` (one letter per dim).

    VJP: the gradient of operand k is the einsum of dy with the other operands into operand k's
    subscripts. A letter that appears only in operand k (summed away in forward) is broadcast back; a
    letter repeated within operand k (a diagonal, ``"ii->"``) gets the gradient on that diagonal only.
    """

    @staticmethod
    def forward(ctx, *operands, inputs, output):
        ctx.inputs, ctx.output = inputs, output
        ctx.shapes = tuple(a.shape for a in operands)
        ctx.save_for_backward(*operands)
        y = ctx.xp.einsum(",".join(inputs) + "->" + output, *operands)
        # NumPy returns a view for pure index shuffles ("ii->i", "ij->ji"): an op's output owns its memory
        return y.copy() if any(ctx.xp.may_share_memory(y, a) for a in operands) else y

    @staticmethod
    def backward(ctx, dy):
        xp = ctx.xp
        operands = ctx.saved
        grads = []
        for k, need in enumerate(ctx.needs_input_grad):
            if not need:
                grads.append(None)
                continue
            sub, shape = ctx.inputs[k], ctx.shapes[k]
            others = [i for i in range(len(operands)) if i != k]
            present = set(ctx.output).union(*(ctx.inputs[i] for i in others))
            size = dict(zip(sub, shape))
            # distinct letters of operand k that the other terms provide, in order of first appearance
            kept = "".join(c for i, c in enumerate(sub) if sub.index(c) == i and c in present)
            terms = [ctx.output] + [ctx.inputs[i] for i in others]
            arrays = [dy] + [operands[i] for i in others]
            g = xp.einsum(",".join(terms) + "->" + kept, *arrays)
            # letters summed away in forward: broadcast the gradient along them
            distinct = "".join(c for i, c in enumerate(sub) if sub.index(c) == i)
            if distinct != kept:
                full = tuple(size[c] for c in distinct)
                g = xp.broadcast_to(xp.expand_dims(g, tuple(i for i, c in enumerate(distinct) if c not in kept)),
                                    full)
            # repeated letters: put the gradient on the diagonal, zeros elsewhere
            if distinct != sub:
                spare = iter(c for c in "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ" if c not in sub)
                target, eyes, eye_subs = [], [], []
                for i, c in enumerate(sub):
                    if sub.index(c) == i:
                        target.append(c)
                    else:
                        c2 = next(spare)
                        target.append(c2)
                        eyes.append(xp.eye(size[c], dtype=dy.dtype))
                        eye_subs.append(c + c2)
                g = xp.einsum(",".join([distinct] + eye_subs) + "->" + "".join(target), g, *eyes)
            grads.append(xp.ascontiguousarray(g.astype(dy.dtype, copy=False)))
        return tuple(grads)
