"""Operands of binary ops and of functions of several tensors, by PyTorch's type promotion."""

from __future__ import annotations

import numbers
import warnings
from typing import TYPE_CHECKING, Sequence

import numpy as np

from .. import dtypes
from ..backend import is_device_array
from . import core        # core defines Tensor and imports this module first: read core.Tensor at call time
from .creation import tensor

if TYPE_CHECKING:
    from .core import Tensor


_DEPRECATED_ALPHA = ("This overload of {name} is deprecated:\n\t{name}(Number alpha, Tensor other)\n"
                     "Consider using one of the following signatures instead:\n\t{name}(Tensor other, *, "
                     "Number alpha = 1)")


def _legacy_alpha(name: str, other, alpha_or_other):
    """PyTorch's deprecated overload ``x.add_(Number alpha, Tensor other)``: returns (other, alpha) and
    warns with PyTorch's text; for the current overload ``x.add_(other, alpha)`` returns it unchanged."""
    if isinstance(other, numbers.Number) and not isinstance(other, bool) and isinstance(alpha_or_other, core.Tensor):
        warnings.warn(_DEPRECATED_ALPHA.format(name=name), UserWarning, stacklevel=3)
        return alpha_or_other, other
    return other, alpha_or_other


def _as_tensor_like(value, like: Tensor) -> Tensor:
    """``value`` (a scalar, list or array) as a constant tensor on ``like``'s device."""
    if isinstance(value, core.Tensor):
        return value
    if isinstance(value, numbers.Number) and not isinstance(value, np.ndarray):
        dt = dtypes.promote_scalar(like.dtype, value)
        return like._new(like._xp.asarray(value, dtype=dt))
    return tensor(value, device=like.device)


def _operands(a: Tensor, b) -> tuple:
    """Both operands of a binary op as tensors of one dtype, by PyTorch's promotion rules."""
    if isinstance(b, core.Tensor):
        if a._data.dtype is b._data.dtype or a._data.dtype == b._data.dtype:
            return a, b
        dt = dtypes.promote(a.dtype, a.ndim, b.dtype, b.ndim)
        return a._cast(dt), b._cast(dt)
    if isinstance(b, numbers.Number):
        dt = a._data.dtype
        if dtypes.scalar_category(b) > dtypes.category(dt):
            dt = dtypes.promote_scalar(dt, b)
            a = a._cast(dt)
        # a NumPy scalar: works as an operand on NumPy and CuPy alike, with no host-to-device copy
        return a, core.Tensor._make(dt.type(b), a._device, False, None, 0)
    if is_device_array(b) or isinstance(b, (list, tuple)):
        return _operands(a, tensor(b, device=a.device) if not is_device_array(b) or b.ndim else
                         tensor(b, device=a.device))
    raise TypeError(f"unsupported operand type: Tensor and {type(b).__name__}")


def _bool_mask(mask, arg: str) -> Tensor:
    if not isinstance(mask, core.Tensor):
        raise TypeError(f"{arg}: expected a bool Tensor, got {type(mask).__name__}")
    if mask.dtype.kind != "b":
        raise TypeError(f"{arg}: expected a bool Tensor, got dtype {mask.dtype}")
    return mask


def _same_dtype(tensors: Sequence[Tensor], name: str) -> list:
    if len(tensors) == 0:
        raise ValueError(f"{name}: expected a non-empty sequence of tensors")
    for t in tensors:
        if not isinstance(t, core.Tensor):
            raise TypeError(f"{name}: expected Tensors, got {type(t).__name__}")
    dt = tensors[0].dtype
    for t in tensors[1:]:
        if t.dtype != dt:
            dt = dtypes.promote(dt, 1, t.dtype, 1)
    return [t._cast(dt) for t in tensors]
