"""Shape and dim arguments: ``Size``, dim normalisation, shape parsing, NumPy keyword aliases."""

from __future__ import annotations

import builtins
import collections
import functools

import numpy as np


values_indices = collections.namedtuple("values_indices", ["values", "indices"])


def _norm_dim(dim: int, ndim: int, arg: str = "dim") -> int:
    if isinstance(dim, bool) or not isinstance(dim, (int, np.integer)):
        raise TypeError(f"{arg}: expected an int, got {type(dim).__name__}")
    n = builtins.max(ndim, 1)
    if not -n <= dim < n:
        raise IndexError(f"{arg}: dimension out of range (expected to be in range of [{-n}, {n - 1}], "
                         f"but got {dim})")
    return int(dim) % n


def _norm_dims(dim, ndim: int):
    if dim is None:
        return None
    if isinstance(dim, (tuple, list)):
        return tuple(_norm_dim(d, ndim) for d in dim)
    return _norm_dim(dim, ndim)


def _shape_arg(size) -> tuple:
    """(2, 3), ((2, 3),) and ([2, 3],) all mean shape (2, 3)."""
    if len(size) == 1 and isinstance(size[0], (tuple, list)):
        size = tuple(size[0])
    for n in size:
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
            raise ValueError(f"size: expected non-negative ints, got {tuple(size)}")
    return tuple(int(n) for n in size)


def _int_arg(value, arg: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{arg}: expected an int, got {type(value).__name__}")
    return int(value)


class Size(tuple):
    """A shape (``torch.Size``): a tuple of ints with ``numel()``; ``Tensor.size()`` returns one."""

    def numel(self) -> int:
        n = 1
        for k in self:
            n *= k
        return n

    def __getitem__(self, index):
        out = tuple.__getitem__(self, index)
        return Size(out) if isinstance(index, slice) else out

    def __add__(self, other) -> "Size":
        return Size(tuple(self) + tuple(other))

    def __repr__(self) -> str:
        return f"torch.Size({list(self)})"


def _dim_aliases(fn):
    """Accept NumPy's keyword spellings ``axis=`` and ``keepdims=`` for ``dim=`` and ``keepdim=``, as
    PyTorch does (``x.sum(axis=0, keepdims=True)``); giving both spellings is a ``TypeError``."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        if kwargs:
            for alias, name in (("axis", "dim"), ("keepdims", "keepdim")):
                if alias in kwargs:
                    if name in kwargs:
                        raise TypeError(f"{fn.__name__}(): got both {name}= and its alias {alias}=")
                    kwargs[name] = kwargs.pop(alias)
        return fn(*args, **kwargs)
    return wrapper


def _shape_arg_neg(shape) -> tuple:
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    out = []
    for n in shape:
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)):
            raise TypeError(f"shape: expected ints, got {shape}")
        out.append(builtins.int(n))
    return tuple(out)


def _infer_shape(shape: tuple, numel: int, old: tuple) -> tuple:
    if builtins.sum(1 for n in shape if n == -1) > 1:
        raise ValueError(f"reshape: only one dimension can be -1, got {shape}")
    known = 1
    for n in shape:
        if n != -1:
            if n < 0:
                raise ValueError(f"reshape: invalid size {n} in {shape}")
            known *= n
    if -1 in shape:
        if known == 0 or numel % known:
            raise ValueError(f"reshape: shape {shape} is invalid for input of size {numel} (shape {old})")
        shape = tuple(numel // known if n == -1 else n for n in shape)
    elif known != numel:
        raise ValueError(f"reshape: shape {shape} is invalid for input of size {numel} (shape {old})")
    return shape
