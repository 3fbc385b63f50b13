"""Dtypes and PyTorch's type-promotion rules.

Dtypes are NumPy dtype objects, so ``x.dtype == tr.float32`` and ``x.dtype == np.float32`` both hold.
Promotion follows PyTorch, not NumPy: a Python or NumPy scalar never upcasts a tensor of its own
category (bool < integer < floating), and a float scalar turns an integer tensor into the default
float dtype (float32).
"""

from __future__ import annotations

import numpy as np

float16 = half = np.dtype("float16")
float32 = float = np.dtype("float32")
float64 = double = np.dtype("float64")
int8 = np.dtype("int8")
uint8 = np.dtype("uint8")
int16 = short = np.dtype("int16")
int32 = int = np.dtype("int32")
int64 = long = np.dtype("int64")
bool = np.dtype("bool")

_default_float = np.dtype("float32")


def get_default_dtype() -> np.dtype:
    return _default_float


def set_default_dtype(dtype) -> None:
    global _default_float
    d = np.dtype(dtype)
    if d.kind != "f":
        raise TypeError(f"set_default_dtype: expected a floating dtype, got {d}")
    _default_float = d


def as_dtype(dtype) -> np.dtype:
    """A NumPy dtype from a dtype, a type or a name; ``TypeError`` for anything else."""
    try:
        return np.dtype(dtype)
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
    return _default_float if cat == 2 else np.dtype("int64")


def promote(a_dtype: np.dtype, a_ndim: "int", b_dtype: np.dtype, b_ndim: "int") -> np.dtype:
    """The result dtype of ``tensor <op> tensor`` (0-d tensors act like scalars of their dtype)."""
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
