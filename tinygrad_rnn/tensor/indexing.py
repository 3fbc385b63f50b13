"""PyTorch-style indices (ints, slices, lists, bool masks, tensors) turned into array indices, range-checked."""

from __future__ import annotations

import builtins
from typing import TYPE_CHECKING

import numpy as np

from ..backend import DeviceError, is_device_array, move
from . import core        # core defines Tensor and imports this module first: read core.Tensor at call time

if TYPE_CHECKING:
    from .core import Tensor


def _check_range(idx, n: int, arg: str) -> None:
    """Index range check. On the GPU this synchronises (CuPy would wrap out-of-range indices silently)."""
    if idx.size == 0:
        return
    lo, hi = builtins.int(idx.min()), builtins.int(idx.max())
    if lo < -n or hi >= n:
        bad = hi if hi >= n else lo
        raise IndexError(f"{arg}: index {bad} is out of range for a dimension of size {n} "
                         f"(valid: {-n}..{n - 1})")


def _convert_index(index, x: Tensor):
    """Turn a PyTorch-style index (with tensors, lists) into one for the array module, range-checked."""
    items = []
    for it in (index if isinstance(index, tuple) else (index,)):
        if isinstance(it, core.Tensor):
            if it._device != x._device and it._device != "cpu":   # CPU indices may index any device (as torch)
                raise DeviceError(f"index is on '{it._device}' but the tensor is on '{x._device}'; indices must "
                                  "be on the CPU or on the tensor's device")
            it = move(it._data, x._device)
        elif isinstance(it, list):
            it = x._xp.asarray(np.asarray(it))
        elif is_device_array(it):
            it = move(it, x._device)
        items.append(it)

    def width(it) -> int:   # how many dims of x an index item consumes
        if it is None or it is Ellipsis or isinstance(it, (bool, np.bool_)):
            return 0
        return it.ndim if is_device_array(it) and it.dtype.kind == "b" else 1

    if builtins.sum(1 for it in items if it is Ellipsis) > 1:
        raise IndexError("index: an index can only have a single ellipsis ('...')")
    out = []
    dim = 0
    for k, it in enumerate(items):
        if it is Ellipsis:
            out.append(it)
            dim = x.ndim - builtins.sum(width(i) for i in items[k + 1:])
            continue
        if it is None or isinstance(it, (bool, np.bool_)):
            out.append(it)
            continue
        if dim + width(it) > x.ndim:
            raise IndexError(f"index: too many indices for a tensor of {x.ndim} dims (shape {x.shape})")
        if isinstance(it, (int, np.integer)):
            n = x.shape[dim]
            if not -n <= it < n:
                raise IndexError(f"index {builtins.int(it)} is out of range for dim {dim} of size {n}")
            out.append(builtins.int(it))
        elif isinstance(it, slice):
            out.append(it)
        elif is_device_array(it) and it.dtype.kind == "b":
            if it.shape != x.shape[dim:dim + it.ndim]:
                raise IndexError(f"index: boolean mask of shape {it.shape} does not match the tensor's "
                                 f"shape {x.shape[dim:dim + it.ndim]} at dim {dim}")
            out.append(it)
        elif is_device_array(it) and it.dtype.kind in "iu":
            _check_range(it, x.shape[dim], f"index (dim {dim})")
            out.append(it)
        elif is_device_array(it):
            raise IndexError(f"index: tensors used as indices must be long or bool, got {it.dtype}")
        else:
            raise TypeError(f"index: unsupported index type {type(it).__name__}")
        dim += width(it)
    return tuple(out) if isinstance(index, tuple) or len(out) != 1 else out[0]
