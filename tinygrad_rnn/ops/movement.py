"""Ops that move, select or combine elements without arithmetic on them.

Their backward passes put each gradient element back where its value came from; repeated indices
accumulate (``scatter_add``).
"""

from __future__ import annotations

from ..autograd.function import Function, ViewFunction


def scatter_add(xp, target, index, values) -> None:
    """target[index] += values, accumulating repeated indices (NumPy ``add.at``, CuPy ``scatter_add``)."""
    if hasattr(xp.add, "at"):       # NumPy, and CuPy >= 13 (where cupyx.scatter_add is deprecated)
        xp.add.at(target, index, values)
    else:
        import cupyx
        cupyx.scatter_add(target, index, values)


def _is_basic(index) -> bool:
    """True when an index uses only ints, slices, None and Ellipsis (a view, no repeats)."""
    items = index if isinstance(index, tuple) else (index,)
    return all(i is None or i is Ellipsis or isinstance(i, (int, slice)) for i in items)


class Clone(Function):
    """y = a copy of x with its own storage.   VJP: dx = dy."""

    @staticmethod
    def forward(ctx, x):
        return x.copy()

    @staticmethod
    def backward(ctx, dy):
        return dy


class Reshape(ViewFunction):
    """y = x reshaped (a view when possible).   VJP: dx = dy reshaped back."""

    @staticmethod
    def forward(ctx, x, shape):
        ctx.in_shape = x.shape
        return x.reshape(shape)

    @staticmethod
    def backward(ctx, dy):
        return dy.reshape(ctx.in_shape)


class Permute(ViewFunction):
    """y = x with its dims reordered.   VJP: dx = dy permuted by the inverse order."""

    @staticmethod
    def forward(ctx, x, dims):
        ctx.dims = dims
        return x.transpose(dims)

    @staticmethod
    def backward(ctx, dy):
        inverse = [0] * len(ctx.dims)
        for i, d in enumerate(ctx.dims):
            inverse[d] = i
        return dy.transpose(inverse)


class Expand(ViewFunction):
    """y = x broadcast to ``shape`` (a view).   VJP: dx = dy summed over the broadcast dims."""

    @staticmethod
    def forward(ctx, x, shape):
        ctx.in_shape = x.shape
        return ctx.xp.broadcast_to(x, shape)

    @staticmethod
    def backward(ctx, dy):
        from ..autograd.function import unbroadcast
        return unbroadcast(ctx.xp, dy, ctx.in_shape)


class GetItem(ViewFunction):
    """y = x[index] (slices, ints, None, integer arrays, boolean masks).
    VJP: dx = zeros with dy scattered to index; repeated indices accumulate."""

    @staticmethod
    def forward(ctx, x, index):
        ctx.index = index
        ctx.in_shape = x.shape
        y = x[index]
        if type(y) is not type(x):     # NumPy gives a scalar for x[1] on 1-D; x[1, ...] is a 0-d view
            y = x[(index if type(index) is tuple else (index,)) + (Ellipsis,)]
        return y

    @staticmethod
    def backward(ctx, dy):
        xp = ctx.xp
        dx = xp.zeros(ctx.in_shape, dy.dtype)
        if _is_basic(ctx.index):
            dx[ctx.index] = dy
        else:
            scatter_add(xp, dx, ctx.index, dy)
        return dx


class IndexPut(Function):
    """y = x with y[index] = v (the graph form of ``x[index] = v``).
    VJP: dx = dy with dy[index] = 0, dv = dy[index] summed to v's shape."""

    @staticmethod
    def forward(ctx, x, v, index):
        ctx.index = index
        ctx.v_shape = v.shape
        y = x.copy()
        y[index] = v
        return y

    @staticmethod
    def backward(ctx, dy):
        from ..autograd.function import unbroadcast
        dx = dy.copy()
        dx[ctx.index] = 0
        return dx, unbroadcast(ctx.xp, dy[ctx.index], ctx.v_shape)


def view_of(xp, array, chain: tuple):
    """The view of ``array`` that ``chain`` makes: ``((ViewFunction subclass, attrs, output index, _), ...)``,
    as ``Tensor._view`` records it, applied with the ops' own array code."""
    for cls, attrs, i, multi in chain:
        ctx = Function.__new__(cls)
        ctx.xp = xp
        array = cls.forward(ctx, array, **attrs)
        if multi:
            array = array[i]
    return array


class CopySlices(Function):
    """y = x with its view ``chain`` replaced by v: the history of an in-place change made through a view
    (PyTorch's ``CopySlices``).   VJP: dx = dy with that view zeroed, dv = that view of dy."""

    @staticmethod
    def forward(ctx, x, v, chain):
        ctx.chain = chain
        y = x.copy()                               # C order: every chain of view ops is a view of it
        view_of(ctx.xp, y, chain)[...] = v
        return y

    @staticmethod
    def backward(ctx, dy):
        dx = dy.copy()
        view_of(ctx.xp, dx, ctx.chain)[...] = 0
        return dx, view_of(ctx.xp, dy, ctx.chain)


class Gather(Function):
    """y[i][j] = x[i][index[i][j]] along ``dim`` (PyTorch's gather).
    VJP: dx = zeros with dy added at the gathered positions."""

    @staticmethod
    def forward(ctx, x, index, dim):
        xp = ctx.xp
        ctx.in_shape, ctx.dim = x.shape, dim
        ctx.index = index
        if index.shape[:dim] + index.shape[dim + 1:] == x.shape[:dim] + x.shape[dim + 1:]:
            return xp.take_along_axis(x, index, axis=dim)
        return x[_gather_index(xp, index, dim)]

    @staticmethod
    def backward(ctx, dy):
        xp = ctx.xp
        dx = xp.zeros(ctx.in_shape, dy.dtype)
        scatter_add(xp, dx, _gather_index(xp, ctx.index, ctx.dim), dy)
        return dx


def _gather_index(xp, index, dim):
    """The full advanced index of a gather: ``index`` along ``dim``, aranges along the other dims."""
    grids = []
    for d, n in enumerate(index.shape):
        if d == dim:
            grids.append(index)
        else:
            shape = [1] * index.ndim
            shape[d] = n
            grids.append(xp.arange(n).reshape(shape))
    return tuple(grids)


class Cat(Function):
    """y = concatenation of the inputs along ``dim``.   VJP: each input gets its slice of dy."""

    @staticmethod
    def forward(ctx, *xs, dim):
        ctx.dim = dim
        ctx.sizes = [x.shape[dim] for x in xs]
        return ctx.xp.concatenate(xs, axis=dim)

    @staticmethod
    def backward(ctx, dy):
        out, start = [], 0
        index = [slice(None)] * dy.ndim
        for n, need in zip(ctx.sizes, ctx.needs_input_grad):
            index[ctx.dim] = slice(start, start + n)
            out.append(dy[tuple(index)] if need else None)
            start += n
        return tuple(out)


class Stack(Function):
    """y = the inputs stacked along a new ``dim``.   VJP: each input gets its index of dy."""

    @staticmethod
    def forward(ctx, *xs, dim):
        ctx.dim = dim
        return ctx.xp.stack(xs, axis=dim)

    @staticmethod
    def backward(ctx, dy):
        index = [slice(None)] * dy.ndim
        out = []
        for i, need in enumerate(ctx.needs_input_grad):
            index[ctx.dim] = i
            out.append(dy[tuple(index)] if need else None)
        return tuple(out)


class Split(ViewFunction):
    """(y_1, ..., y_k) = x cut along ``dim`` into pieces of the given sizes (views).
    VJP: dx = the piece gradients concatenated (zeros for unused pieces)."""

    @staticmethod
    def forward(ctx, x, sizes, dim):
        ctx.dim = dim
        out, start = [], 0
        index = [slice(None)] * x.ndim
        for n in sizes:
            index[dim] = slice(start, start + n)
            out.append(x[tuple(index)])
            start += n
        return tuple(out)

    @staticmethod
    def backward(ctx, *dys):
        return ctx.xp.concatenate(dys, axis=ctx.dim)


class Flip(Function):
    """y = x reversed along ``dims``.   VJP: dx = dy reversed along the same dims."""

    @staticmethod
    def forward(ctx, x, dims):
        ctx.dims = dims
        return ctx.xp.flip(x, axis=dims).copy()   # a copy, as in PyTorch (xp.flip is a view)

    @staticmethod
    def backward(ctx, dy):
        return ctx.xp.flip(dy, axis=ctx.dims)


class Pad(Function):
    """y = x padded with a constant; ``widths`` are (before, after) per dim, first dim first.
    VJP: dx = the unpadded window of dy."""

    @staticmethod
    def forward(ctx, x, widths, value=0.0):
        ctx.window = tuple(slice(b, b + n) for (b, _), n in zip(widths, x.shape))
        return ctx.xp.pad(x, widths, mode="constant", constant_values=value)

    @staticmethod
    def backward(ctx, dy):
        return dy[ctx.window]
