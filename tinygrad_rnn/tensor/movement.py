"""``Tensor`` methods: shape and movement (``reshape``, ``permute``, ``expand``, ``split``, indexing, ...)."""

from __future__ import annotations

import builtins
from typing import TYPE_CHECKING, Sequence

import numpy as np

from .. import ops
from ..backend import DeviceError
from . import core        # core defines Tensor and imports this module first: read core.Tensor at call time
from .combine import cat, dropout, pad_fn
from .indexing import _check_range, _convert_index
from .promotion import _bool_mask
from .shapes import _dim_aliases, _infer_shape, _norm_dim, _norm_dims, _shape_arg, _shape_arg_neg

if TYPE_CHECKING:
    from .core import Tensor


class MovementMixin:
    """Shape, movement and indexing methods of ``Tensor``."""

    __slots__ = ()

    # ----------------------------------------------------------------- shape and movement
    def reshape(self, *shape) -> "Tensor":
        target = _infer_shape(_shape_arg_neg(shape), self.numel(), self.shape)
        if target == self.shape:
            return self
        return ops.Reshape.apply(self, shape=target)

    view = reshape

    def view_as(self, other: "Tensor") -> "Tensor":
        return self.reshape(other.shape)

    reshape_as = view_as

    def flatten(self, start_dim: int = 0, end_dim: int = -1) -> "Tensor":
        if self.ndim == 0:
            return self.reshape(1)
        s, e = _norm_dim(start_dim, self.ndim), _norm_dim(end_dim, self.ndim)
        n = 1
        for k in self.shape[s:e + 1]:
            n *= k
        return self.reshape(self.shape[:s] + (n,) + self.shape[e + 1:])

    def unflatten(self, dim: int, sizes) -> "Tensor":
        d = _norm_dim(dim, self.ndim)
        return self.reshape(self.shape[:d] + tuple(sizes) + self.shape[d + 1:])

    def contiguous(self) -> "Tensor":
        return self

    def clone(self) -> "Tensor":
        """A copy with its own storage (and version counter); gradients flow back to this tensor."""
        return ops.Clone.apply(self)

    def permute(self, *dims) -> "Tensor":
        if len(dims) == 1 and isinstance(dims[0], (tuple, list)):
            dims = tuple(dims[0])
        if len(dims) != self.ndim:
            raise ValueError(f"permute: expected {self.ndim} dims for shape {self.shape}, got {dims}")
        dims = tuple(_norm_dim(d, self.ndim) for d in dims)
        if sorted(dims) != list(range(self.ndim)):
            raise ValueError(f"permute: dims must be a permutation of 0..{self.ndim - 1}, got {dims}")
        if dims == tuple(range(self.ndim)):
            return self
        return ops.Permute.apply(self, dims=dims)

    def transpose(self, dim0: int, dim1: int) -> "Tensor":
        if self.ndim == 0:
            return self
        d0, d1 = _norm_dim(dim0, self.ndim, "dim0"), _norm_dim(dim1, self.ndim, "dim1")
        dims = list(range(self.ndim))
        dims[d0], dims[d1] = dims[d1], dims[d0]
        return self.permute(*dims)

    swapaxes = transpose

    def t(self) -> "Tensor":
        if self.ndim > 2:
            raise ValueError(f"t(): expects a tensor with <= 2 dimensions, got {self.ndim}")
        return self.transpose(0, 1) if self.ndim == 2 else self

    @_dim_aliases
    def squeeze(self, dim=None) -> "Tensor":
        if dim is None:
            shape = tuple(n for n in self.shape if n != 1)
        else:
            dims = _norm_dims(dim, self.ndim)
            dims = dims if isinstance(dims, tuple) else (dims,)
            shape = tuple(n for i, n in enumerate(self.shape) if not (i in dims and n == 1))
        return self.reshape(shape)

    @_dim_aliases
    def unsqueeze(self, dim: int) -> "Tensor":
        d = _norm_dim(dim, self.ndim + 1)
        return self.reshape(self.shape[:d] + (1,) + self.shape[d:])

    def expand(self, *sizes) -> "Tensor":
        sizes = _shape_arg_neg(sizes)
        if len(sizes) < self.ndim:
            raise ValueError(f"expand: the number of sizes ({len(sizes)}) must be at least the number of "
                             f"dims ({self.ndim}) of shape {self.shape}")
        lead = len(sizes) - self.ndim
        target = []
        for i, n in enumerate(sizes):
            cur = self.shape[i - lead] if i >= lead else None
            if n == -1:
                if cur is None:
                    raise ValueError("expand: -1 is not allowed for a new leading dim")
                n = cur
            if cur is not None and cur != 1 and cur != n:
                raise ValueError(f"expand: size {n} does not match {cur} at dim {i} of shape {self.shape}")
            target.append(n)
        target = tuple(target)
        return self if target == self.shape else ops.Expand.apply(self, shape=target)

    def expand_as(self, other: "Tensor") -> "Tensor":
        return self.expand(*other.shape)

    def repeat(self, *sizes) -> "Tensor":
        sizes = _shape_arg(sizes)
        x = self.reshape((1,) * (len(sizes) - self.ndim) + self.shape)
        for d, r in enumerate(sizes):
            if r != 1:
                x = cat([x] * r, dim=d)
        return x

    def flip(self, *dims) -> "Tensor":
        if len(dims) == 1 and isinstance(dims[0], (tuple, list)):
            dims = tuple(dims[0])
        return ops.Flip.apply(self, dims=tuple(_norm_dim(d, self.ndim) for d in dims))

    @_dim_aliases
    def narrow(self, dim: int, start: int, length: int) -> "Tensor":
        d = _norm_dim(dim, self.ndim)
        n = self.shape[d]
        if start < 0:
            start += n
        if not (0 <= start and length >= 0 and start + length <= n):
            raise IndexError(f"narrow: start ({start}) + length ({length}) exceeds dimension size ({n})")
        index = [slice(None)] * self.ndim
        index[d] = slice(start, start + length)
        return ops.GetItem.apply(self, index=tuple(index))

    def split(self, split_size_or_sections, dim: int = 0) -> tuple:
        """Cut into pieces of ``split_size`` (the last may be smaller) or of the listed sizes."""
        d = _norm_dim(dim, self.ndim)
        n = self.shape[d]
        if isinstance(split_size_or_sections, (int, np.integer)):
            s = builtins.int(split_size_or_sections)
            if s <= 0:
                raise ValueError(f"split: split_size must be positive, got {s}")
            sizes = [s] * (n // s) + ([n % s] if n % s else [])
            if n == 0:
                sizes = [0]
        else:
            sizes = [builtins.int(k) for k in split_size_or_sections]
            if builtins.sum(sizes) != n or builtins.any(k < 0 for k in sizes):
                raise ValueError(f"split: sizes {sizes} must be non-negative and sum to {n} (dim {dim})")
        out = ops.Split.apply(self, sizes=sizes, dim=d)
        return out if isinstance(out, tuple) else (out,)

    @_dim_aliases
    def chunk(self, chunks: int, dim: int = 0) -> tuple:
        if chunks <= 0:
            raise ValueError(f"chunk: chunks must be positive, got {chunks}")
        n = self.shape[_norm_dim(dim, self.ndim)]
        return self.split(builtins.max(-(-n // chunks), 1), dim)

    @_dim_aliases
    def unbind(self, dim: int = 0) -> tuple:
        d = _norm_dim(dim, self.ndim)
        return tuple(p.squeeze(d) for p in self.split(1, d)) if self.shape[d] else ()

    @_dim_aliases
    def gather(self, dim: int, index: "Tensor") -> "Tensor":
        d = _norm_dim(dim, self.ndim)
        if not isinstance(index, core.Tensor) or index.dtype.kind not in "iu":
            raise TypeError(f"gather: index must be an integer Tensor, got "
                            f"{index.dtype if isinstance(index, core.Tensor) else type(index).__name__}")
        if index.ndim != self.ndim:
            raise ValueError(f"gather: index must have {self.ndim} dims like the input, got shape {index.shape}")
        if index._device != self._device:                       # as torch: no implicit copy for gather
            raise DeviceError(f"gather: index is on '{index._device}' but the tensor is on '{self._device}'")
        _check_range(index._data, self.shape[d], "index")
        return ops.Gather.apply(self, index=index._data, dim=d)

    def __getitem__(self, index) -> "Tensor":
        idx = _convert_index(index, self)
        return ops.GetItem.apply(self, index=idx)

    def index_select(self, dim: int, index: "Tensor") -> "Tensor":
        d = _norm_dim(dim, self.ndim)
        full = [slice(None)] * self.ndim
        full[d] = index
        return self[tuple(full)]

    def masked_select(self, mask: "Tensor") -> "Tensor":
        return self[_bool_mask(mask, "mask").expand_as(self)]

    def pad(self, pad: Sequence[int], value: float = 0.0) -> "Tensor":
        return pad_fn(self, pad, value=value)

    def dropout(self, p: float = 0.5, training: bool = True, generator=None) -> "Tensor":
        return dropout(self, p, training, generator=generator)
