"""``Tensor`` methods: reductions (``sum``, ``max``, ``var``, ``softmax``, ``topk``, ``sort``, ...)."""

from __future__ import annotations

import builtins
from typing import TYPE_CHECKING

import numpy as np

from .. import dtypes, ops
from ..autograd import grad_mode
from . import core        # core defines Tensor and imports this module first: read core.Tensor at call time
from .shapes import _dim_aliases, _norm_dim, _norm_dims, values_indices

if TYPE_CHECKING:
    from .core import Tensor


_grad_state = grad_mode._state


class ReductionMixin:
    """Reduction methods of ``Tensor``."""

    __slots__ = ()

    # ----------------------------------------------------------------- reductions
    @_dim_aliases
    def sum(self, dim=None, keepdim: bool = False, dtype=None) -> "Tensor":
        dims = _norm_dims(dim, self.ndim)
        x = self
        if dtype is None and self.dtype.kind in "biu":
            dtype = np.dtype("int64")
        if dtype is not None:
            x = x._cast(dtypes.as_dtype(dtype))
        return ops.Sum.apply(x, dim=dims, keepdim=keepdim)

    @_dim_aliases
    def mean(self, dim=None, keepdim: bool = False, dtype=None) -> "Tensor":
        x = self if dtype is None else self._cast(dtypes.as_dtype(dtype))
        if x.dtype.kind != "f":
            raise TypeError(f"mean(): could not infer output dtype; input dtype must be floating point, "
                            f"got {x.dtype} (pass dtype=tr.float32)")
        return ops.Mean.apply(x, dim=_norm_dims(dim, self.ndim), keepdim=keepdim)

    def _max_min(self, dim, keepdim, reduce_op, arg_fn, pair_op, name):
        if isinstance(dim, core.Tensor):
            return self._binary(dim, pair_op)
        if dim is None:
            if self.numel() == 0:
                raise ValueError(f"{name}(): expected a non-empty tensor")
            return reduce_op.apply(self, dim=None, keepdim=False)
        d = _norm_dim(dim, self.ndim)
        idx = arg_fn(self._data, axis=d, keepdims=True)
        values = ops.Gather.apply(self, index=idx, dim=d) if self.ndim else self
        if not keepdim and self.ndim:
            values = values.squeeze(d)
            idx = self._xp.squeeze(idx, d)
        return values_indices(values, self._new(idx.astype(np.int64)))

    @_dim_aliases
    def max(self, dim=None, keepdim: bool = False):
        """``max()`` -> the largest value; ``max(dim)`` -> (values, indices); ``max(other)`` -> maximum."""
        return self._max_min(dim, keepdim, ops.Amax, self._xp.argmax, ops.Maximum, "max")

    @_dim_aliases
    def min(self, dim=None, keepdim: bool = False):
        """``min()`` -> the smallest value; ``min(dim)`` -> (values, indices); ``min(other)`` -> minimum."""
        return self._max_min(dim, keepdim, ops.Amin, self._xp.argmin, ops.Minimum, "min")

    @_dim_aliases
    def amax(self, dim=None, keepdim: bool = False) -> "Tensor":
        return ops.Amax.apply(self, dim=_norm_dims(dim, self.ndim), keepdim=keepdim)

    @_dim_aliases
    def amin(self, dim=None, keepdim: bool = False) -> "Tensor":
        return ops.Amin.apply(self, dim=_norm_dims(dim, self.ndim), keepdim=keepdim)

    @_dim_aliases
    def var(self, dim=None, *, correction=None, keepdim: bool = False, unbiased=None) -> "Tensor":
        """Variance with Bessel's ``correction`` (default 1, as PyTorch)."""
        if correction is None:
            correction = 1 if unbiased is None else builtins.int(builtins.bool(unbiased))
        return ops.Var.apply(self._floating(), dim=_norm_dims(dim, self.ndim), correction=correction, keepdim=keepdim)

    @_dim_aliases
    def std(self, dim=None, *, correction=None, keepdim: bool = False, unbiased=None) -> "Tensor":
        return self.var(dim, correction=correction, keepdim=keepdim, unbiased=unbiased).sqrt()

    @_dim_aliases
    def logsumexp(self, dim, keepdim: bool = False) -> "Tensor":
        return ops.Logsumexp.apply(self._floating(), dim=_norm_dim(dim, self.ndim), keepdim=keepdim)

    @_dim_aliases
    def softmax(self, dim: int) -> "Tensor":
        return ops.Softmax.apply(self._floating(), dim=_norm_dim(dim, self.ndim))

    @_dim_aliases
    def log_softmax(self, dim: int) -> "Tensor":
        return ops.LogSoftmax.apply(self._floating(), dim=_norm_dim(dim, self.ndim))

    @_dim_aliases
    def norm(self, p=2, dim=None, keepdim: bool = False) -> "Tensor":
        if p == 2:
            return (self * self).sum(dim, keepdim).sqrt()
        if p == 1:
            return self.abs().sum(dim, keepdim)
        if p == float("inf"):
            return self.abs().amax(dim, keepdim)
        return (self.abs() ** p).sum(dim, keepdim) ** (1.0 / p)

    @_dim_aliases
    def argmax(self, dim=None, keepdim: bool = False) -> "Tensor":
        if dim is None:
            return self._new(self._xp.asarray(self._data.argmax()).astype(np.int64))
        return self._new(self._data.argmax(axis=_norm_dim(dim, self.ndim), keepdims=keepdim).astype(np.int64))

    @_dim_aliases
    def argmin(self, dim=None, keepdim: bool = False) -> "Tensor":
        if dim is None:
            return self._new(self._xp.asarray(self._data.argmin()).astype(np.int64))
        return self._new(self._data.argmin(axis=_norm_dim(dim, self.ndim), keepdims=keepdim).astype(np.int64))

    @_dim_aliases
    def topk(self, k: int, dim: int = -1, largest: bool = True, sorted: bool = True):
        """The ``k`` largest (or smallest) entries along ``dim``: (values, indices); values are differentiable."""
        d = _norm_dim(dim, self.ndim)
        n = self.shape[d] if self.ndim else 1
        if not 0 <= k <= n:
            raise IndexError(f"topk: k must be in [0, {n}] for dim {dim} of size {n}, got {k}")
        key = -self._data if largest else self._data
        idx = self._xp.argsort(key, axis=d, kind="stable")
        idx = self._xp.take(idx, self._xp.arange(k), axis=d)
        return values_indices(ops.Gather.apply(self, index=idx, dim=d), self._new(idx.astype(np.int64)))

    @_dim_aliases
    def sort(self, dim: int = -1, descending: bool = False):
        d = _norm_dim(dim, self.ndim)
        key = -self._data if descending else self._data
        idx = self._xp.argsort(key, axis=d, kind="stable")
        return values_indices(ops.Gather.apply(self, index=idx, dim=d), self._new(idx.astype(np.int64)))

    @_dim_aliases
    def argsort(self, dim: int = -1, descending: bool = False) -> "Tensor":
        return self.sort(dim, descending).indices

    @_dim_aliases
    def cumsum(self, dim: int) -> "Tensor":
        if self.requires_grad and _grad_state.enabled:
            raise NotImplementedError("cumsum is not differentiable here; use it on detached tensors")
        return self._new(self._data.cumsum(axis=_norm_dim(dim, self.ndim)))
