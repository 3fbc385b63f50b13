"""New tensors: ``tensor``, ``zeros``/``ones``/``full``/``empty`` (and ``*_like``), random samples, ranges,
legacy constructors (``LongTensor(...)``, ``Variable``)."""

from __future__ import annotations

import builtins
from typing import TYPE_CHECKING

import numpy as np

from .. import dtypes
from ..autograd import grad_mode
from ..backend import canonical_device, default_device, is_device_array, move, to_numpy
from ..overrides import dispatchable
from ..random import default_generator
from . import core        # core defines Tensor and imports this module first: read core.Tensor at call time
from .devices import _xp, device
from .shapes import Size, _shape_arg

if TYPE_CHECKING:
    from .core import Tensor


def _to_array(data, dtype, dev: str):
    """Turn user data into an array on ``dev`` with PyTorch's dtype inference."""
    if isinstance(data, core.Tensor):
        data = data._data
    if is_device_array(data):
        arr = data
        if dtype is not None:
            arr = arr.astype(dtype, copy=False)
        return move(arr, dev)
    if isinstance(data, np.generic):
        arr = np.asarray(data)
    else:
        if isinstance(data, (list, tuple)) and any(isinstance(e, core.Tensor) for e in _flat(data)):
            data = _untensor(data)
        try:
            arr = np.asarray(data)
        except ValueError as e:
            raise ValueError(f"data: could not make a tensor from {type(data).__name__}: {e}") from e
        if arr.dtype == object or arr.dtype.kind in "USV":
            raise TypeError(f"data: expected numbers, nested lists of numbers or an array, got "
                            f"{type(data).__name__} holding {arr.dtype}")
        if dtype is None:
            if arr.dtype.kind == "f":
                arr = arr.astype(dtypes.get_default_dtype())
            elif arr.dtype.kind in "iu":
                arr = arr.astype(np.int64)
    if dtype is not None:
        arr = arr.astype(dtype, copy=False)
    return move(arr, dev)


def _flat(data):
    stack = [data]
    while stack:
        e = stack.pop()
        if isinstance(e, (list, tuple)):
            stack.extend(e)
        else:
            yield e


def _untensor(data):
    if isinstance(data, core.Tensor):
        return to_numpy(data._data)
    if isinstance(data, (list, tuple)):
        return [_untensor(e) for e in data]
    return data


def tensor(data, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """A new leaf tensor: Python floats -> float32, ints -> int64, bools -> bool, arrays keep their dtype."""
    dev = canonical_device(device)
    arr = _to_array(data, dtypes.as_dtype(dtype) if dtype is not None else None, dev)
    if isinstance(data, core.Tensor) or (is_device_array(data) and arr is data):
        arr = arr.copy()
    t = object.__new__(core.Tensor)
    t._init(arr, dev, requires_grad)
    return t


def as_tensor(data, dtype=None, device=None) -> Tensor:
    """Like ``tensor`` but shares memory with an array of the same dtype and device."""
    if isinstance(data, core.Tensor) and (dtype is None or data.dtype == dtype) and (device is None or
                                                                               data.device == canonical_device(device)):
        return data
    dev = canonical_device(device)
    t = object.__new__(core.Tensor)
    t._init(_to_array(data, dtypes.as_dtype(dtype) if dtype is not None else None, dev), dev, False)
    return t


def from_numpy(array: np.ndarray) -> Tensor:
    if not isinstance(array, np.ndarray):
        raise TypeError(f"from_numpy: expected a numpy.ndarray, got {type(array).__name__}")
    t = object.__new__(core.Tensor)
    t._init(array, "cpu", False)
    return t


def _factory(size, fill, dtype, device, requires_grad) -> Tensor:
    dev = canonical_device(device)
    dt = dtypes.as_dtype(dtype) if dtype is not None else dtypes.get_default_dtype()
    shape = _shape_arg(size)
    arr = _xp(dev).full(shape, fill, dtype=dt)
    t = object.__new__(core.Tensor)
    t._init(arr, dev, requires_grad)
    return t


@dispatchable
def zeros(*size, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    return _factory(size, 0, dtype, device, requires_grad)


@dispatchable
def ones(*size, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    return _factory(size, 1, dtype, device, requires_grad)


def empty(*size, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    return _factory(size, 0, dtype, device, requires_grad)


@dispatchable
def full(size, fill_value, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    if dtype is None:
        dtype = np.dtype("int64") if isinstance(fill_value, (int, np.integer)) and not isinstance(
            fill_value, bool) else (np.dtype("bool") if isinstance(fill_value, bool) else None)
    return _factory((size,) if isinstance(size, (tuple, list)) else (size,), fill_value, dtype, device,
                    requires_grad)


@dispatchable
def zeros_like(x: Tensor, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    return zeros(x.shape, dtype=dtype or x.dtype, device=device or x.device, requires_grad=requires_grad)


@dispatchable
def ones_like(x: Tensor, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    return ones(x.shape, dtype=dtype or x.dtype, device=device or x.device, requires_grad=requires_grad)


def full_like(x: Tensor, fill_value, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    return full(x.shape, fill_value, dtype=dtype or x.dtype, device=device or x.device, requires_grad=requires_grad)


def empty_like(x: Tensor, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    return zeros_like(x, dtype, device, requires_grad)


def _random(values: np.ndarray, device, requires_grad) -> Tensor:
    dev = canonical_device(device)
    t = object.__new__(core.Tensor)
    t._init(move(values, dev), dev, requires_grad)
    return t


def rand(*size, generator=None, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """Uniform samples in [0, 1)."""
    dt = dtypes.as_dtype(dtype) if dtype is not None else dtypes.get_default_dtype()
    return _random((generator or default_generator).random(_shape_arg(size), dt), device, requires_grad)


def randn(*size, generator=None, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """Standard normal samples."""
    dt = dtypes.as_dtype(dtype) if dtype is not None else dtypes.get_default_dtype()
    return _random((generator or default_generator).normal(_shape_arg(size), dt), device, requires_grad)


def randint(low, high=None, size=(), generator=None, dtype=None, device=None) -> Tensor:
    """Integers uniform in [low, high) (``randint(high, size)`` also works)."""
    if high is None or isinstance(high, (tuple, list)):
        low, high, size = 0, low, high if high is not None else size
    if high <= low:
        raise ValueError(f"randint: high ({high}) must be greater than low ({low})")
    arr = (generator or default_generator).integers(low, high, _shape_arg((size,) if isinstance(size, int) else
                                                                          (tuple(size),)))
    if dtype is not None:
        arr = arr.astype(dtypes.as_dtype(dtype))
    return _random(arr, device, False)


def randperm(n: int, generator=None, device=None) -> Tensor:
    g = generator or default_generator
    return _random(g._rng.permutation(n).astype(np.int64), device, False)


def rand_like(x: Tensor, generator=None) -> Tensor:
    return rand(x.shape, generator=generator, dtype=x.dtype, device=x.device)


def randn_like(x: Tensor, generator=None) -> Tensor:
    return randn(x.shape, generator=generator, dtype=x.dtype, device=x.device)


def arange(start, end=None, step=1, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    if end is None:
        start, end = 0, start
    is_int = all(isinstance(v, (int, np.integer)) for v in (start, end, step))
    dt = dtypes.as_dtype(dtype) if dtype is not None else (np.dtype("int64") if is_int else dtypes.get_default_dtype())
    dev = canonical_device(device)
    t = object.__new__(core.Tensor)
    t._init(_xp(dev).arange(start, end, step).astype(dt), dev, requires_grad)
    return t


def linspace(start, end, steps: int, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    dt = dtypes.as_dtype(dtype) if dtype is not None else dtypes.get_default_dtype()
    dev = canonical_device(device)
    t = object.__new__(core.Tensor)
    t._init(_xp(dev).linspace(start, end, steps).astype(dt), dev, requires_grad)
    return t


def eye(n: int, m: int | None = None, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    dt = dtypes.as_dtype(dtype) if dtype is not None else dtypes.get_default_dtype()
    dev = canonical_device(device)
    t = object.__new__(core.Tensor)
    t._init(_xp(dev).eye(n, m, dtype=dt), dev, requires_grad)
    return t


def multinomial(input: Tensor, num_samples: int, replacement: bool = False, generator=None) -> Tensor:
    """Sample indices from each row of non-negative weights (not differentiable)."""
    if input.ndim not in (1, 2):
        raise ValueError(f"multinomial: input must be 1-D or 2-D, got shape {input.shape}")
    p = to_numpy(input._data).astype(np.float64)
    if (p < 0).any() or not np.isfinite(p).all():
        raise ValueError("multinomial: weights must be finite and non-negative")
    rows = p.reshape(-1, p.shape[-1])
    total = rows.sum(axis=1, keepdims=True)
    if (total <= 0).any():
        raise ValueError("multinomial: each row must have a positive sum")
    n = rows.shape[1]
    if not replacement and num_samples > n:
        raise ValueError(f"multinomial: cannot take {num_samples} samples without replacement from {n} categories")
    g = generator or default_generator
    u = g.random((rows.shape[0], num_samples if replacement else n), np.float64)
    if replacement:
        cdf = np.cumsum(rows / total, axis=1)
        cdf[:, -1] = 1.0
        idx = (cdf[:, None, :] <= u[:, :, None]).sum(axis=2)
        idx = np.minimum(idx, n - 1)
    else:
        with np.errstate(divide="ignore"):
            keys = np.log(u) / rows          # Efraimidis–Spirakis: largest u^(1/w) without replacement
        keys[rows == 0] = -np.inf
        idx = np.argsort(-keys, axis=1, kind="stable")[:, :num_samples]
    idx = idx.reshape(p.shape[:-1] + (idx.shape[-1],)).astype(np.int64)
    return input._new(move(idx, input._device))


def normal(mean, std=1.0, size=None, *, generator=None, dtype=None, device=None,
           requires_grad: bool = False) -> Tensor:
    """Normal samples ``mean + std · N(0, 1)`` with the mean and standard deviation given per element
    (tensors, broadcast) or as numbers (then ``size`` is required). As in PyTorch, the result of tensor
    arguments that require grad requires grad too, and its gradients w.r.t. them are zero (the sample
    is not reparameterised; write ``mean + std * tr.randn_like(mean)`` for that)."""
    g = generator or default_generator
    if not isinstance(mean, core.Tensor) and not isinstance(std, core.Tensor):
        if size is None:
            raise TypeError("normal(mean: float, std: float) needs size=, e.g. tr.normal(0.0, 1.0, size=(2, 3))")
        if std < 0:
            raise ValueError(f"normal: std must be >= 0, got {std}")
        dt = dtypes.as_dtype(dtype) if dtype is not None else dtypes.get_default_dtype()
        shape = _shape_arg((size,) if isinstance(size, (tuple, list)) else (size,))
        return _random((g.normal(shape, np.float64) * std + mean).astype(dt), device, requires_grad)
    like = mean if isinstance(mean, core.Tensor) else std
    if size is not None:
        raise TypeError("normal: size= is only taken with a float mean and a float std")
    for name, v in (("mean", mean), ("std", std)):
        if isinstance(v, core.Tensor) and v.dtype.kind != "f":
            raise TypeError(f"normal: {name} must be a floating-point tensor, got dtype {v.dtype}")
    if isinstance(std, core.Tensor):
        if builtins.bool((std._data < 0).any()):
            raise ValueError("normal: std must be >= 0 everywhere")
    elif std < 0:
        raise ValueError(f"normal: std must be >= 0, got {std}")
    shape = np.broadcast_shapes(tuple(mean.shape) if isinstance(mean, core.Tensor) else (),
                                tuple(std.shape) if isinstance(std, core.Tensor) else ())
    eps = like._new(move(g.normal(shape, np.float64).astype(like._data.dtype), like._device))
    with grad_mode.no_grad():
        sample = mean + std * eps
    for v in (mean, std):      # PyTorch's gradients of normal() are zero, but the result keeps the graph
        if isinstance(v, core.Tensor) and v.requires_grad:
            sample = sample + v * 0
    return sample


_LEGACY_NAMES = {"float32": "FloatTensor", "float64": "DoubleTensor", "float16": "HalfTensor",
                 "int64": "LongTensor", "int32": "IntTensor", "int16": "ShortTensor", "int8": "CharTensor",
                 "uint8": "ByteTensor", "bool": "BoolTensor"}


class _LegacyTensorType(type):
    """``isinstance(x, tr.LongTensor)`` is true for every int64 tensor (as PyTorch)."""

    def __instancecheck__(cls, obj) -> bool:
        return isinstance(obj, core.Tensor) and obj._data.dtype == cls.legacy_dtype

    def __repr__(cls) -> str:
        return f"<class 'torch.{cls.__name__}'>"


def _legacy_new(cls, *args, device=None) -> Tensor:
    """``LongTensor(data)`` (a copy of a list, tuple or array, cast to the class's dtype),
    ``LongTensor(2, 3)`` / ``LongTensor(tr.Size([2, 3]))`` (zeros of that shape; PyTorch leaves them
    uninitialised), ``LongTensor()`` (empty)."""
    dt = np.dtype(cls.legacy_dtype)
    dev = canonical_device(device)
    if not args:
        arr = _xp(dev).zeros((0,), dt)
    elif isinstance(args[0], Size) or builtins.all(isinstance(a, (int, np.integer)) and not isinstance(a, bool)
                                                   for a in args):
        arr = _xp(dev).zeros(_shape_arg(args), dt)
    elif len(args) == 1:
        data = args[0]
        if isinstance(data, core.Tensor):
            if data._data.dtype != dt:
                raise TypeError(f"{cls.__name__}(tensor): expected a tensor of dtype {dtypes.wrap(dt)}, got "
                                f"{data.dtype}; convert with .to({dtypes.wrap(dt)})")
            return data.detach()
        arr = _to_array(data, dt, dev)
        if arr is data:
            arr = arr.copy()
    else:
        raise TypeError(f"{cls.__name__}(): expected sizes (ints) or one sequence of data, got {args!r}")
    t = object.__new__(core.Tensor)
    t._init(arr, dev, False)
    return t


FloatTensor = _LegacyTensorType("FloatTensor", (), {"legacy_dtype": dtypes.float32, "__new__": _legacy_new})
DoubleTensor = _LegacyTensorType("DoubleTensor", (), {"legacy_dtype": dtypes.float64, "__new__": _legacy_new})
HalfTensor = _LegacyTensorType("HalfTensor", (), {"legacy_dtype": dtypes.float16, "__new__": _legacy_new})
LongTensor = _LegacyTensorType("LongTensor", (), {"legacy_dtype": dtypes.int64, "__new__": _legacy_new})
IntTensor = _LegacyTensorType("IntTensor", (), {"legacy_dtype": dtypes.int32, "__new__": _legacy_new})
ByteTensor = _LegacyTensorType("ByteTensor", (), {"legacy_dtype": dtypes.uint8, "__new__": _legacy_new})
BoolTensor = _LegacyTensorType("BoolTensor", (), {"legacy_dtype": dtypes.bool, "__new__": _legacy_new})


class _VariableType(type):
    def __instancecheck__(cls, obj) -> bool:
        return isinstance(obj, core.Tensor)


class Variable(metaclass=_VariableType):
    """``torch.autograd.Variable(data, requires_grad=False)``, the pre-0.4 wrapper: it returns a tensor
    (sharing ``data``'s storage, cut from its graph) that requires grad when asked; every tensor is an
    instance of ``Variable``. ``volatile=`` is accepted and ignored, as in PyTorch."""

    def __new__(cls, data, requires_grad: bool = False, volatile: bool = False) -> Tensor:
        if not isinstance(data, core.Tensor):
            raise TypeError(f"Variable: data must be a Tensor, got {type(data).__name__}")
        t = data.detach()
        if requires_grad:
            t.requires_grad_(True)
        return t


def get_default_device() -> device:
    """The device of new tensors that name none (``tr.set_default_device`` changes it)."""
    return device(default_device())
