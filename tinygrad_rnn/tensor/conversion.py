"""``Tensor`` methods: conversion (to NumPy, Python scalars, other dtypes and devices) and new tensors
like this one."""

from __future__ import annotations

import builtins
from typing import TYPE_CHECKING

import numpy as np

from .. import dtypes, ops
from ..backend import canonical_device, to_numpy
from . import core        # core defines Tensor and imports this module first: read core.Tensor at call time
from .creation import _LEGACY_NAMES, full, ones, tensor, zeros
from .devices import _xp, device

if TYPE_CHECKING:
    from .core import Tensor


class ConversionMixin:
    """Conversion and ``new_*`` methods of ``Tensor``."""

    __slots__ = ()

    # ----------------------------------------------------------------- conversion
    def numpy(self) -> np.ndarray:
        """The data as a NumPy array: shared with the tensor on the CPU, a copy from the GPU."""
        return to_numpy(self._data)

    def tolist(self):
        return to_numpy(self._data).tolist()

    def item(self):
        if self._data.size != 1:
            raise ValueError(f"item(): only one-element tensors can be converted to a Python scalar, "
                             f"got shape {self.shape}")
        return to_numpy(self._data).reshape(()).item()

    def __float__(self) -> float:
        return builtins.float(self.item())

    def __int__(self) -> int:
        return builtins.int(self.item())

    def __index__(self) -> int:
        if self._data.dtype.kind not in "iub" or self._data.size != 1:
            raise TypeError("only integer tensors of a single element can be converted to an index")
        return builtins.int(self.item())

    def __bool__(self) -> bool:
        if self._data.size != 1:
            raise RuntimeError(f"Boolean value of Tensor with more than one value is ambiguous (shape {self.shape})")
        return builtins.bool(self.item())

    def __array__(self, dtype=None, copy=None):
        arr = to_numpy(self._data)
        return arr if dtype is None else arr.astype(dtype)

    def to(self, *args, **kwargs) -> "Tensor":
        """``to(device)``, ``to(dtype)``, ``to(device, dtype)``, ``to(other)``, or keywords."""
        dev, dtype = kwargs.pop("device", None), kwargs.pop("dtype", None)
        kwargs.pop("non_blocking", None)
        kwargs.pop("copy", None)
        if kwargs:
            raise TypeError(f"to(): unexpected keyword arguments {sorted(kwargs)}")
        for a in args:
            if isinstance(a, core.Tensor):
                dev, dtype = a.device, a.dtype
            elif isinstance(a, str) or isinstance(a, device):
                dev = a
            else:
                dtype = a
        out = self
        if dtype is not None and dtypes.as_dtype(dtype) != self.dtype:
            out = out._cast(dtypes.as_dtype(dtype))
        if dev is not None:
            dev = canonical_device(dev)
            if dev != out._device:
                _xp(dev)                       # registers the device for Tensor._make
                out = ops.ToDevice.apply_to(out, dev)
        return out

    def cpu(self) -> "Tensor":
        return self.to("cpu")

    def cuda(self) -> "Tensor":
        return self.to("cuda")

    def _cast(self, dtype) -> "Tensor":
        if self._data.dtype == dtype:
            return self
        if self.requires_grad and np.dtype(dtype).kind in "fc":
            return ops.Cast.apply(self, dtype=dtype)
        return self._new(self._data.astype(dtype))

    def type(self, dtype=None):
        """``type()``: PyTorch's type name (``"torch.FloatTensor"``); ``type(dtype)`` or
        ``type(tr.LongTensor)``: this tensor cast."""
        if dtype is None:
            name = _LEGACY_NAMES.get(self._data.dtype.name, "Tensor")
            return f"torch.{'cuda.' if self._device == 'cuda' else ''}{name}"
        if isinstance(dtype, str):
            for np_name, legacy in _LEGACY_NAMES.items():
                if dtype in (f"torch.{legacy}", f"torch.cuda.{legacy}"):
                    return self.to("cuda" if ".cuda." in dtype else "cpu", dtypes.wrap(np_name))
        return self.to(getattr(dtype, "legacy_dtype", dtype))

    def type_as(self, other: "Tensor") -> "Tensor":
        return self.to(other.dtype)

    def float(self) -> "Tensor":
        return self._cast(dtypes.float32)

    def double(self) -> "Tensor":
        return self._cast(dtypes.float64)

    def half(self) -> "Tensor":
        return self._cast(dtypes.float16)

    def long(self) -> "Tensor":
        return self._cast(dtypes.int64)

    def int(self) -> "Tensor":
        return self._cast(dtypes.int32)

    def bool(self) -> "Tensor":
        return self._cast(dtypes.bool)

    # ----------------------------------------------------------------- new tensors like this one
    def new_zeros(self, *size, dtype=None, device=None, requires_grad=False) -> "Tensor":
        return zeros(*size, dtype=dtype or self.dtype, device=device or self.device, requires_grad=requires_grad)

    def new_ones(self, *size, dtype=None, device=None, requires_grad=False) -> "Tensor":
        return ones(*size, dtype=dtype or self.dtype, device=device or self.device, requires_grad=requires_grad)

    def new_full(self, size, fill_value, dtype=None, device=None, requires_grad=False) -> "Tensor":
        return full(size, fill_value, dtype=dtype or self.dtype, device=device or self.device,
                    requires_grad=requires_grad)

    def new_empty(self, *size, dtype=None, device=None, requires_grad=False) -> "Tensor":
        return self.new_zeros(*size, dtype=dtype, device=device, requires_grad=requires_grad)

    def new_tensor(self, data, dtype=None, device=None, requires_grad=False) -> "Tensor":
        return tensor(data, dtype=dtype or self.dtype, device=device or self.device, requires_grad=requires_grad)
