"""``Tensor`` methods: arithmetic, elementwise math and comparisons."""

from __future__ import annotations

import builtins
import numbers
from typing import TYPE_CHECKING

from .. import dtypes, ops
from ..backend import DeviceError
from . import core        # core defines Tensor and imports this module first: read core.Tensor at call time
from .combine import where
from .promotion import _as_tensor_like, _bool_mask, _legacy_alpha, _operands
from .shapes import _dim_aliases, _int_arg, _norm_dims

if TYPE_CHECKING:
    from .core import Tensor


class ArithmeticMixin:
    """Arithmetic, elementwise and comparison methods of ``Tensor``."""

    __slots__ = ()

    # ----------------------------------------------------------------- arithmetic
    def _binary(self, other, op, reflected: bool = False) -> "Tensor":
        if isinstance(other, core.Tensor) and other._data.dtype is self._data.dtype:
            a, b = self, other              # hot path: two tensors of one dtype, nothing to promote
        else:
            a, b = _operands(self, other)
        return op.apply(b, a) if reflected else op.apply(a, b)

    def add(self, other, alpha=1) -> "Tensor":
        if type(alpha) is not int:                   # the deprecated add(Number alpha, Tensor other)
            other, alpha = _legacy_alpha("add", other, alpha)
        if alpha == 1 and isinstance(other, core.Tensor) and other._data.dtype is self._data.dtype:
            return ops.Add.apply(self, other)     # the hot path of _binary, one call shorter
        return self._binary(other if alpha == 1 else other * alpha, ops.Add)

    def sub(self, other, alpha=1) -> "Tensor":
        if type(alpha) is not int:                   # the deprecated sub(Number alpha, Tensor other)
            other, alpha = _legacy_alpha("sub", other, alpha)
        return self._binary(other if alpha == 1 else other * alpha, ops.Sub)

    def mul(self, other) -> "Tensor":
        if isinstance(other, core.Tensor) and other._data.dtype is self._data.dtype:
            return ops.Mul.apply(self, other)     # the hot path of _binary, one call shorter
        return self._binary(other, ops.Mul)

    def div(self, other) -> "Tensor":
        a, b = _operands(self, other)
        if a.dtype.kind != "f":
            a, b = a._cast(dtypes.get_default_dtype()), b._cast(dtypes.get_default_dtype())
        return ops.Div.apply(a, b)

    def neg(self) -> "Tensor":
        return ops.Neg.apply(self)

    def pow(self, exponent) -> "Tensor":
        if isinstance(exponent, core.Tensor):
            return self._binary(exponent, ops.Pow)
        if not isinstance(exponent, numbers.Number):
            raise TypeError(f"pow: exponent must be a number or a Tensor, got {type(exponent).__name__}")
        a = self if dtypes.promote_scalar(self.dtype, exponent) == self.dtype else self._cast(
            dtypes.promote_scalar(self.dtype, exponent))
        return ops.PowScalar.apply(a, exponent=exponent)

    def matmul(self, other: "Tensor") -> "Tensor":
        if not isinstance(other, core.Tensor):
            raise TypeError(f"matmul: expected a Tensor, got {type(other).__name__}")
        if self.ndim == 0 or other.ndim == 0:
            raise ValueError(f"matmul: both arguments need at least 1 dimension, got shapes {self.shape} "
                             f"and {other.shape}")
        k1 = self.shape[-1]
        k2 = other.shape[0] if other.ndim == 1 else other.shape[-2]
        if k1 != k2:
            raise ValueError(f"matmul: shapes {self.shape} and {other.shape} cannot be multiplied "
                             f"({k1} != {k2} in the contracted dimension)")
        if self.dtype != other.dtype:
            raise TypeError(f"matmul: expected both tensors of one dtype, got {self.dtype} and {other.dtype}")
        return ops.Matmul.apply(self, other)

    mm = matmul
    bmm = matmul

    __add__ = add
    __sub__ = sub
    __mul__ = mul
    __truediv__ = div
    __neg__ = neg
    __pow__ = pow
    __matmul__ = matmul

    def __radd__(self, other):
        return self._binary(other, ops.Add, reflected=True)

    def __rsub__(self, other):
        return self._binary(other, ops.Sub, reflected=True)

    def __rmul__(self, other):
        return self._binary(other, ops.Mul, reflected=True)

    def __rtruediv__(self, other):
        a, b = _operands(self, other)
        if a.dtype.kind != "f":
            a, b = a._cast(dtypes.get_default_dtype()), b._cast(dtypes.get_default_dtype())
        return ops.Div.apply(b, a)

    def __rpow__(self, other):
        if isinstance(other, numbers.Number):
            a = self._cast(dtypes.promote_scalar(self.dtype, other))
            return ops.RPowScalar.apply(a, base=other)
        return _as_tensor_like(other, self).pow(self)

    def __rmatmul__(self, other):
        return _as_tensor_like(other, self).matmul(self)

    def __abs__(self):
        return self.abs()

    # elementwise functions
    def exp(self) -> "Tensor":
        return ops.Exp.apply(self._floating())

    def log(self) -> "Tensor":
        return ops.Log.apply(self._floating())

    def sqrt(self) -> "Tensor":
        return ops.Sqrt.apply(self._floating())

    def rsqrt(self) -> "Tensor":
        return self.sqrt().reciprocal()

    def reciprocal(self) -> "Tensor":
        return 1.0 / self._floating()

    def square(self) -> "Tensor":
        return self * self

    def abs(self) -> "Tensor":
        return ops.Abs.apply(self)

    def tanh(self) -> "Tensor":
        return ops.Tanh.apply(self._floating())

    def sigmoid(self) -> "Tensor":
        return ops.Sigmoid.apply(self._floating())

    def relu(self) -> "Tensor":
        return ops.Relu.apply(self)

    def maximum(self, other) -> "Tensor":
        return self._binary(other, ops.Maximum)

    def minimum(self, other) -> "Tensor":
        return self._binary(other, ops.Minimum)

    def clamp(self, min=None, max=None) -> "Tensor":
        if min is None and max is None:
            raise ValueError("clamp: at least one of min and max must be given")
        if isinstance(min, core.Tensor) or isinstance(max, core.Tensor):
            out = self
            if min is not None:
                out = out.maximum(min)
            if max is not None:
                out = out.minimum(max)
            return out
        return ops.Clamp.apply(self, min=min, max=max)

    clip = clamp

    def where(self, condition: "Tensor", other) -> "Tensor":
        return where(condition, self, other)

    def masked_fill(self, mask: "Tensor", value) -> "Tensor":
        """Replace the elements where ``mask`` is True by ``value``."""
        mask = _bool_mask(mask, "mask")
        return where(mask, _as_tensor_like(value, self)._cast(self.dtype), self)

    def _floating(self) -> "Tensor":
        return self if self._data.dtype.kind == "f" else self._cast(dtypes.get_default_dtype())

    # ----------------------------------------------------------------- comparisons (no gradient)
    def _compare(self, other, fn) -> "Tensor":
        b = other._data if isinstance(other, core.Tensor) else other
        if isinstance(other, core.Tensor) and other._device != self._device:
            raise DeviceError(f"comparison: tensors on '{self._device}' and '{other._device}'")
        return self._new(fn(self._data, b))

    def eq(self, other) -> "Tensor":
        return self._compare(other, self._xp.equal)

    def ne(self, other) -> "Tensor":
        return self._compare(other, self._xp.not_equal)

    def lt(self, other) -> "Tensor":
        return self._compare(other, self._xp.less)

    def le(self, other) -> "Tensor":
        return self._compare(other, self._xp.less_equal)

    def gt(self, other) -> "Tensor":
        return self._compare(other, self._xp.greater)

    def ge(self, other) -> "Tensor":
        return self._compare(other, self._xp.greater_equal)

    __eq__ = eq
    __ne__ = ne
    __lt__ = lt
    __le__ = le
    __gt__ = gt
    __ge__ = ge

    def logical_not(self) -> "Tensor":
        return self._new(self._xp.logical_not(self._data))

    def __invert__(self) -> "Tensor":
        if self.dtype.kind != "b":
            return self._new(~self._data)
        return self.logical_not()

    def __and__(self, other) -> "Tensor":
        return self._compare(other, self._xp.logical_and if self.dtype.kind == "b" else self._xp.bitwise_and)

    def __or__(self, other) -> "Tensor":
        return self._compare(other, self._xp.logical_or if self.dtype.kind == "b" else self._xp.bitwise_or)

    def isnan(self) -> "Tensor":
        return self._new(self._xp.isnan(self._data))

    def isinf(self) -> "Tensor":
        return self._new(self._xp.isinf(self._data))

    def isfinite(self) -> "Tensor":
        return self._new(self._xp.isfinite(self._data))

    @_dim_aliases
    def all(self, dim=None, keepdim: bool = False) -> "Tensor":
        return self._new(self._xp.asarray(self._data.all(axis=_norm_dims(dim, self.ndim), keepdims=keepdim)))

    @_dim_aliases
    def any(self, dim=None, keepdim: bool = False) -> "Tensor":
        return self._new(self._xp.asarray(self._data.any(axis=_norm_dims(dim, self.ndim), keepdims=keepdim)))

    def equal(self, other: "Tensor") -> bool:
        return self.shape == other.shape and builtins.bool((self._data == other._data).all())

    def allclose(self, other: "Tensor", rtol: float = 1e-5, atol: float = 1e-8) -> bool:
        return builtins.bool(self._xp.allclose(self._data, other._data, rtol=rtol, atol=atol))


    # ----------------------------------------------------------------- more of PyTorch's methods
    def sin(self) -> "Tensor":
        return ops.Sin.apply(self._floating())

    def cos(self) -> "Tensor":
        return ops.Cos.apply(self._floating())

    def sinh(self) -> "Tensor":
        return ops.Sinh.apply(self._floating())

    def cosh(self) -> "Tensor":
        return ops.Cosh.apply(self._floating())

    def tril(self, diagonal: int = 0) -> "Tensor":
        """The lower triangle of the last two dims (elements above the ``diagonal``-th diagonal zeroed)."""
        return ops.Tril.apply(self._matrix("tril"), diagonal=_int_arg(diagonal, "diagonal"))

    def triu(self, diagonal: int = 0) -> "Tensor":
        """The upper triangle of the last two dims (elements below the ``diagonal``-th diagonal zeroed)."""
        return ops.Triu.apply(self._matrix("triu"), diagonal=_int_arg(diagonal, "diagonal"))

    def _matrix(self, name: str) -> "Tensor":
        if self.ndim < 2:
            raise ValueError(f"{name}: input tensor must have at least 2 dimensions, got shape {self.shape}")
        return self
