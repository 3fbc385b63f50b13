"""Dtypes and PyTorch's type-promotion rules.

A dtype (``tr.float32``, ``x.dtype``) is a small ``dtype`` object that prints as PyTorch's does
(``torch.float32``) and stands for a NumPy dtype everywhere NumPy or CuPy takes one (``np.dtype(d)``,
``arr.astype(d)``); it compares equal to that NumPy dtype, so ``x.dtype == tr.float32`` and
``x.dtype == np.float32`` both hold, and it answers NumPy's attributes (``d.kind``, ``d.itemsize``).
Promotion follows PyTorch, not NumPy: a Python or NumPy scalar never upcasts a tensor of its own
category (bool < integer < floating), and a float scalar turns an integer tensor into the default
float dtype (float32).
"""

from __future__ import annotations

import builtins

import numpy as np



class dtype:
    """A tensor's element type (``torch.dtype``): ``tr.float32``, ``tr.int64``, ``tr.bool``, ...

    ``str(tr.float32)`` is ``"torch.float32"`` (PyTorch's text, so ported programs print the same);
    ``np.dtype(tr.float32)`` is NumPy's float32 (through the ``dtype`` attribute NumPy reads), and
    NumPy's attributes (``kind``, ``itemsize``, ``type``, ``name``) are answered from it.
    """

    __slots__ = ("dtype",)

    def __init__(self, np_dtype) -> None:
        object.__setattr__(self, "dtype", np.dtype(np_dtype))

    def __getattr__(self, name: str):
        return getattr(object.__getattribute__(self, "dtype"), name)

    def __setattr__(self, name, value) -> None:
        raise AttributeError("dtype objects are immutable")

    @property
    def is_floating_point(self) -> "builtins.bool":
        return self.dtype.kind == "f"

    @property
    def is_complex(self) -> "builtins.bool":
        return self.dtype.kind == "c"

    @property
    def is_signed(self) -> "builtins.bool":
        return self.dtype.kind in "fic"

    def __eq__(self, other) -> "builtins.bool":
        if isinstance(other, dtype):
            return self.dtype == other.dtype
        if isinstance(other, str):      # torch.float32 == "float32" is False: names are not dtypes
            return False
        try:
            return self.dtype == np.dtype(other)
        except TypeError:
            return NotImplemented

    def __ne__(self, other) -> "builtins.bool":
        eq = self.__eq__(other)
        return eq if eq is NotImplemented else not eq

    def __hash__(self) -> "builtins.int":
        return hash(self.dtype)

    def __repr__(self) -> str:
        return "torch." + _TORCH_NAMES.get(self.dtype.name, self.dtype.name)

    __str__ = __repr__

    def __reduce__(self):
        return (wrap, (self.dtype.str,))


_TORCH_NAMES = {"bool": "bool"}
_WRAPPED: dict = {}


def wrap(np_dtype) -> dtype:
    """The ``dtype`` object for a NumPy dtype (one object per dtype)."""
    d = np.dtype(np_dtype)
    w = _WRAPPED.get(d)
    if w is None:
        w = _WRAPPED[d] = dtype(d)
    return w


float16 = half = wrap("float16")
float32 = float = wrap("float32")
float64 = double = wrap("float64")
int8 = wrap("int8")
uint8 = wrap("uint8")
int16 = short = wrap("int16")
int32 = int = wrap("int32")
int64 = long = wrap("int64")
bool = wrap("bool")

_default_float = np.dtype("float32")
_dtype_class = dtype


def get_default_dtype() -> dtype:
    return wrap(_default_float)


def set_default_dtype(dtype) -> None:
    global _default_float
    d = as_dtype(dtype)
    if d.kind != "f":
        raise TypeError(f"set_default_dtype: expected a floating dtype, got {d}")
    _default_float = d


def as_dtype(dtype) -> np.dtype:
    """A NumPy dtype from a dtype, a type or a name; ``TypeError`` for anything else."""
    try:
        return np.dtype(dtype.dtype if isinstance(dtype, _dtype_class) else dtype)
    except TypeError as e:
        raise TypeError(f"dtype: expected a dtype such as tr.float32, got {dtype!r}") from e


def category(dtype: np.dtype) -> "int":
    """0 for bool, 1 for integers, 2 for floating point."""
    return 0 if dtype.kind == "b" else (2 if dtype.kind in "fc" else 1)


def scalar_category(value) -> "int":
    if isinstance(value, (np.bool_,)) or type(value).__name__ == "bool":
        return 0
    if isinstance(value, (np.floating, np.complexfloating)) or isinstance(value, type(1.0)):
        return 2
    return 1


def promote_scalar(dtype: np.dtype, value) -> np.dtype:
    """The result dtype of ``tensor(dtype) <op> scalar``."""
    cat = scalar_category(value)
    if cat <= category(dtype):
        return dtype
    return np.dtype(_default_float) if cat == 2 else np.dtype("int64")


def promote(a_dtype: np.dtype, a_ndim: "int", b_dtype: np.dtype, b_ndim: "int") -> np.dtype:
    """The result dtype of ``tensor <op> tensor`` (0-d tensors act like scalars of their dtype)."""
    a_dtype, b_dtype = np.dtype(a_dtype), np.dtype(b_dtype)
    if a_dtype == b_dtype:
        return a_dtype
    ca, cb = category(a_dtype), category(b_dtype)
    a_dims, b_dims = a_ndim > 0, b_ndim > 0
    if a_dims != b_dims:
        dimmed, zero_d = (a_dtype, b_dtype) if a_dims else (b_dtype, a_dtype)
        return dimmed if category(zero_d) <= category(dimmed) else zero_d
    if ca != cb:
        return a_dtype if ca > cb else b_dtype
    return np.result_type(a_dtype, b_dtype)
