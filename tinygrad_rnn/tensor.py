"""``Tensor``: an array, its gradient, and the graph node that made it.

The class stays small: every differentiable method is a one-line delegation to a ``Function`` in
``ops``; what is here is the bookkeeping — dtypes, devices, the version counter of in-place changes,
``backward`` and hooks.
"""

from __future__ import annotations

import builtins
import collections
import functools
import numbers
import warnings
from typing import Sequence

import numpy as np

from . import dtypes, ops
from .autograd import engine, function, grad_mode
from .autograd.function import Function, VersionCounter
from .backend import DeviceError, canonical_device, default_device, is_device_array, move, to_numpy, xp_for
from .ops.movement import CopySlices
from .random import default_generator
from .autograd.names import grad_fn_name
from .tensor_str import tensor_repr

_grad_state = grad_mode._state
_WRAPPED = dtypes._WRAPPED
_XP = {"cpu": np}
_alloc = object.__new__

values_indices = collections.namedtuple("values_indices", ["values", "indices"])


class device(str):
    """A device name that compares equal to ``"cpu"``/``"cuda"`` and has PyTorch's ``.type``/``.index``.

    ``tr.device("cuda")``, ``tr.device("cuda:0")`` and ``tr.device("cuda", 0)`` are all the one GPU and
    are taken wherever a device is (``tensor(..., device=)``, ``.to()``, ``Module.to()``).
    """

    def __new__(cls, type="cpu", index=None):
        if isinstance(type, device):
            return type
        if index is not None:
            if isinstance(index, bool) or not isinstance(index, (int, np.integer)) or index < 0:
                raise DeviceError(f"device: index must be a non-negative int, got {index!r}")
            if ":" in str(type):
                raise DeviceError(f"device: type {type!r} already holds an index; pass index separately only "
                                  "with a bare type")
            type = f"{type}:{int(index)}"
        obj = super().__new__(cls, canonical_device(type))
        obj._index = 0 if isinstance(type, str) and type.endswith(":0") else None
        return obj

    @property
    def type(self) -> str:
        return str(self)

    @property
    def index(self):
        """As PyTorch: None unless given (``"cuda:0"``); a CUDA tensor's device has index 0."""
        return self._index

    def __repr__(self) -> str:
        return f"device(type='{self}')" if self._index is None else f"device(type='{self}', index={self._index})"


_DEVICES = {"cpu": device("cpu")}


def _xp(dev: str):
    xp = _XP.get(dev)
    if xp is None:
        xp = _XP[dev] = xp_for(dev)
        _DEVICES[dev] = device(dev, 0) if dev == "cuda" else device(dev)
    return xp


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


_DEPRECATED_ALPHA = ("This overload of {name} is deprecated:\n\t{name}(Number alpha, Tensor other)\n"
                     "Consider using one of the following signatures instead:\n\t{name}(Tensor other, *, "
                     "Number alpha = 1)")


def _legacy_alpha(name: str, other, alpha_or_other):
    """PyTorch's deprecated overload ``x.add_(Number alpha, Tensor other)``: returns (other, alpha) and
    warns with PyTorch's text; for the current overload ``x.add_(other, alpha)`` returns it unchanged."""
    if isinstance(other, numbers.Number) and not isinstance(other, bool) and isinstance(alpha_or_other, Tensor):
        warnings.warn(_DEPRECATED_ALPHA.format(name=name), UserWarning, stacklevel=3)
        return alpha_or_other, other
    return other, alpha_or_other


def _to_array(data, dtype, dev: str):
    """Turn user data into an array on ``dev`` with PyTorch's dtype inference."""
    if isinstance(data, Tensor):
        data = data._data
    if is_device_array(data):
        arr = data
        if dtype is not None:
            arr = arr.astype(dtype, copy=False)
        return move(arr, dev)
    if isinstance(data, np.generic):
        arr = np.asarray(data)
    else:
        if isinstance(data, (list, tuple)) and any(isinstance(e, Tensor) for e in _flat(data)):
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
    if isinstance(data, Tensor):
        return to_numpy(data._data)
    if isinstance(data, (list, tuple)):
        return [_untensor(e) for e in data]
    return data


class Tensor(function.TensorBase):
    """A multi-dimensional array that records the ops applied to it for reverse-mode autograd.

    ``Tensor(data)`` makes a float32 tensor (as ``torch.Tensor``); ``tr.tensor(data)`` infers the
    dtype (Python floats -> float32, ints -> int64, arrays keep theirs). Writing into the array that
    ``.numpy()`` returned bypasses the version counter: autograd cannot see such changes.
    """

    __slots__ = ("_data", "_device", "_xp", "requires_grad", "_grad", "_node", "_idx", "_version",
                 "_hooks", "_name", "__weakref__", "__dict__")
    __array_priority__ = 1000   # so ndarray <op> Tensor defers to Tensor's reflected operator
    # Set (in the instance dict) only on views, by autograd.function.mark_views: (root base, chain of view
    # ops from it, made under no_grad); and on a root with live views, their ViewRegistry.
    _view = None
    _views = None

    def __init__(self, *data, dtype=None, device=None, requires_grad: bool = False) -> None:
        dev = canonical_device(device)
        dt = dtypes.as_dtype(dtype) if dtype is not None else dtypes.get_default_dtype()
        if len(data) == 1 and not isinstance(data[0], (int, np.integer)):
            arr = _to_array(data[0], dt, dev)       # torch.Tensor(data): always the default float dtype
            if isinstance(data[0], Tensor) or arr is data[0]:
                arr = arr.copy()
        else:
            arr = _xp(dev).zeros(_shape_arg(data) if data else (0,), dt)
        self._init(arr, dev, requires_grad)

    def _init(self, arr, dev, requires_grad) -> None:
        self._data = arr
        self._device = _DEVICES.get(dev) or device(dev)
        self._xp = _xp(dev)
        if requires_grad and arr.dtype.kind not in "fc":
            raise TypeError(f"requires_grad: only floating-point tensors can require gradients, got {arr.dtype}")
        self.requires_grad = builtins.bool(requires_grad)
        self._grad = None
        self._node = None
        self._idx = 0
        self._version = VersionCounter()
        self._hooks = None
        self._name = None

    @staticmethod
    def _make(arr, dev, requires_grad, node, idx):
        """Fast internal constructor (no checks): wrap an array (static: no bound method made per call)."""
        return _wrap_output(arr, _DEVICES[dev], _XP[dev], requires_grad, node, idx)

    def _new(self, arr) -> "Tensor":
        """A constant tensor on this tensor's device."""
        return Tensor._make(arr, self._device, False, None, 0)

    def _wrap_grad(self, arr) -> "Tensor":
        return Tensor._make(arr, self._device, False, None, 0)

    def _grad_array(self, gradient):
        """The array of a gradient given for this tensor as a backward root (see ``autograd.TensorBase``)."""
        return _grad_array(self, gradient)

    # ----------------------------------------------------------------- properties
    @property
    def shape(self) -> tuple:
        return self._data.shape

    def size(self, dim: int | None = None):
        """The shape (``torch.Size``-like tuple), or the length of one dim."""
        if dim is None:
            return Size(self._data.shape)
        return self._data.shape[_norm_dim(dim, self.ndim)]

    @property
    def ndim(self) -> int:
        return self._data.ndim

    def dim(self) -> int:
        return self._data.ndim

    def numel(self) -> int:
        return int(self._data.size)

    @property
    def dtype(self) -> dtypes.dtype:
        """The element type (``tr.float32``, ...): prints as PyTorch's, compares equal to NumPy's."""
        d = self._data.dtype
        return _WRAPPED.get(d) or dtypes.wrap(d)

    @property
    def device(self) -> device:
        return self._device

    @property
    def grad(self) -> "Tensor | None":
        """The gradient accumulated by ``backward`` (``None`` until one runs, or after ``zero_grad``).

        Assigning checks it as PyTorch does: a Tensor of this tensor's shape, dtype and device, or ``None``.
        (The engine writes ``_grad`` directly: no checks on its hot path.)
        """
        return self._grad

    @grad.setter
    def grad(self, value: "Tensor | None") -> None:
        if value is not None:
            if not isinstance(value, Tensor):
                raise TypeError(f"assigned grad expected to be a Tensor or None but got grad of type "
                                f"{type(value).__name__}")
            if value is self:
                raise RuntimeError("can't assign Variable as its own grad")
            if value._device != self._device:
                raise DeviceError(f"attempting to assign a gradient located on device '{value._device}' to a "
                                  f"tensor located on device '{self._device}'. Please ensure that the gradient "
                                  "and the tensor are on the same device")
            if value._data.shape != self._data.shape:
                raise engine.GradientError(
                    f"attempting to assign a gradient of size '{list(value.shape)}' to a tensor of size "
                    f"'{list(self.shape)}'. Please ensure that the gradient and the tensor are the same size")
            if value._data.dtype != self._data.dtype:
                raise engine.GradientError(
                    f"attempting to assign a gradient with dtype '{value.dtype}' to a tensor with dtype "
                    f"'{self.dtype}'. Please ensure that the gradient and the tensor have the same dtype")
        self._grad = value

    @grad.deleter
    def grad(self) -> None:
        self._grad = None

    @property
    def is_leaf(self) -> bool:
        return self._node is None

    @property
    def grad_fn(self) -> Function | None:
        """The graph node that made this tensor (``None`` for leaves)."""
        return self._node

    @property
    def is_cuda(self) -> bool:
        return self._device == "cuda"

    @property
    def data(self) -> "Tensor":
        """A detached tensor sharing storage; its in-place changes are not version-counted (as PyTorch)."""
        return self._new(self._data)

    @data.setter
    def data(self, value: "Tensor") -> None:
        if not isinstance(value, Tensor):
            raise TypeError(f"data: expected a Tensor, got {type(value).__name__}")
        self._data = value._data
        self._device, self._xp = value._device, value._xp

    @property
    def T(self) -> "Tensor":
        return self.permute(*reversed(range(self.ndim)))

    @property
    def mT(self) -> "Tensor":
        return self.transpose(-2, -1)

    def is_floating_point(self) -> bool:
        return self._data.dtype.kind == "f"

    def __repr__(self) -> str:
        """PyTorch's layout: ``tensor([[0.7620, -1.2000]], dtype=torch.float64, grad_fn=<AddBackward0>)``."""
        dev = None if self._device == default_device() else ("cuda:0" if self._device == "cuda" else "cpu")
        return tensor_repr(to_numpy(self._data), dtype_name=str(self.dtype), default_float=dtypes._default_float,
                           device=dev, grad_fn=None if self._node is None else grad_fn_name(self._node),
                           requires_grad=self.requires_grad)

    def __len__(self) -> int:
        if self.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self._data.shape[0]

    def __iter__(self):
        if self.ndim == 0:
            raise TypeError("iteration over a 0-d tensor")
        return iter(self.unbind(0))

    def __hash__(self) -> int:
        return id(self)

    def __deepcopy__(self, memo) -> "Tensor":
        """``copy.deepcopy``: a leaf's data, ``requires_grad`` and ``.grad`` copied (as PyTorch)."""
        if self._node is not None:
            raise RuntimeError("Only Tensors created explicitly by the user (graph leaves) support the "
                               "deepcopy protocol; call .detach() first")
        t = Tensor._make(self._data.copy(), self._device, self.requires_grad, None, 0)
        if self._grad is not None:
            t._grad = self._new(self._grad._data.copy())
        memo[id(self)] = t
        return t

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
            if isinstance(a, Tensor):
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

    # ----------------------------------------------------------------- autograd
    def backward(self, gradient=None, retain_graph: bool | None = None, create_graph: bool = False,
                 inputs=None) -> None:
        """Accumulate d(self)/d(leaf) into every leaf's ``.grad``.

        Args:
            gradient: d(loss)/d(self), needed when ``self`` is not a single element.
            retain_graph: keep the saved arrays so a second backward can run (default False).
            inputs: accumulate only into these tensors' ``.grad`` (leaves or, as in PyTorch, non-leaves).
        """
        if create_graph:
            raise NotImplementedError("create_graph=True: higher-order gradients are not supported")
        if not self.requires_grad:
            raise RuntimeError("element 0 of tensors does not require grad and does not have a grad_fn "
                               "(did you build it under no_grad(), or from tensors without requires_grad=True?)")
        g = _grad_array(self, gradient)
        if inputs is None:
            engine.run_backward([self], [g], builtins.bool(retain_graph))
            return
        inputs = [inputs] if isinstance(inputs, Tensor) else list(inputs)
        for i, t in enumerate(inputs):
            if not isinstance(t, Tensor) or not t.requires_grad:
                raise RuntimeError(f"backward: inputs[{i}] must be a tensor that requires grad")
        got = engine.run_backward([self], [g], builtins.bool(retain_graph), capture=inputs)
        for t, grad in zip(inputs, got):
            if grad is None:
                continue
            if t._grad is None:
                t._grad = t._wrap_grad(grad.copy())
            else:
                t._grad._data = t._grad._data + grad
                t._grad._version.value += 1

    def detach(self) -> "Tensor":
        """A tensor sharing data and version counter, cut from the graph."""
        t = self._new(self._data)
        t._version = self._version
        return t

    def detach_(self) -> "Tensor":
        if self._view is not None:
            raise RuntimeError("detach_(): Can't detach views in-place. Use detach() instead")
        self._node, self._idx, self.requires_grad = None, 0, False
        return self

    def requires_grad_(self, requires_grad: bool = True) -> "Tensor":
        if self._node is not None and not requires_grad:
            raise RuntimeError("requires_grad_(False): you can only change requires_grad of leaf tensors; "
                               "use detach()")
        if requires_grad and self._data.dtype.kind not in "fc":
            raise TypeError(f"requires_grad_: only floating-point tensors can require gradients, got {self.dtype}")
        self.requires_grad = builtins.bool(requires_grad)
        return self

    def retain_grad(self) -> None:
        """Keep ``.grad`` of this non-leaf tensor after backward."""
        if not self.requires_grad:
            raise RuntimeError("retain_grad(): can't retain_grad on a tensor that has requires_grad=False")
        if self._node is not None:
            engine.add_retain(self._node, self._idx, self)

    def register_hook(self, fn):
        """Call ``fn(grad)`` when this tensor's gradient is computed; a returned tensor replaces it."""
        if not self.requires_grad:
            raise RuntimeError("register_hook(): cannot register a hook on a tensor that doesn't require gradient")
        if not callable(fn):
            raise TypeError(f"register_hook: fn must be callable, got {type(fn).__name__}")
        if self._node is None:
            if self._hooks is None:
                self._hooks = []
            self._hooks.append(fn)
        else:
            dev = self._device

            def on_array(g):                   # the engine runs a node's hooks on arrays
                r = fn(Tensor._make(g, dev, False, None, 0))
                return None if r is None else engine._hook_result(fn, r, g.shape, g.dtype, dev)
            engine.add_hook(self._node, self._idx, on_array)
        return fn

    # ----------------------------------------------------------------- arithmetic
    def _binary(self, other, op, reflected: bool = False) -> "Tensor":
        if isinstance(other, Tensor) and other._data.dtype is self._data.dtype:
            a, b = self, other              # hot path: two tensors of one dtype, nothing to promote
        else:
            a, b = _operands(self, other)
        return op.apply(b, a) if reflected else op.apply(a, b)

    def add(self, other, alpha=1) -> "Tensor":
        if type(alpha) is not int:                   # the deprecated add(Number alpha, Tensor other)
            other, alpha = _legacy_alpha("add", other, alpha)
        if alpha == 1 and isinstance(other, Tensor) and other._data.dtype is self._data.dtype:
            return ops.Add.apply(self, other)     # the hot path of _binary, one call shorter
        return self._binary(other if alpha == 1 else other * alpha, ops.Add)

    def sub(self, other, alpha=1) -> "Tensor":
        if type(alpha) is not int:                   # the deprecated sub(Number alpha, Tensor other)
            other, alpha = _legacy_alpha("sub", other, alpha)
        return self._binary(other if alpha == 1 else other * alpha, ops.Sub)

    def mul(self, other) -> "Tensor":
        if isinstance(other, Tensor) and other._data.dtype is self._data.dtype:
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
        if isinstance(exponent, Tensor):
            return self._binary(exponent, ops.Pow)
        if not isinstance(exponent, numbers.Number):
            raise TypeError(f"pow: exponent must be a number or a Tensor, got {type(exponent).__name__}")
        a = self if dtypes.promote_scalar(self.dtype, exponent) == self.dtype else self._cast(
            dtypes.promote_scalar(self.dtype, exponent))
        return ops.PowScalar.apply(a, exponent=exponent)

    def matmul(self, other: "Tensor") -> "Tensor":
        if not isinstance(other, Tensor):
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
        if isinstance(min, Tensor) or isinstance(max, Tensor):
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
        b = other._data if isinstance(other, Tensor) else other
        if isinstance(other, Tensor) and other._device != self._device:
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
        if isinstance(dim, Tensor):
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
        if not isinstance(index, Tensor) or index.dtype.kind not in "iu":
            raise TypeError(f"gather: index must be an integer Tensor, got "
                            f"{index.dtype if isinstance(index, Tensor) else type(index).__name__}")
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

    # ----------------------------------------------------------------- in-place (version-counted)
    def _inplace(self, name: str, compute, other=None, write=None) -> "Tensor":
        """Overwrite this tensor's data with ``compute(self, other)`` and bump the version counter it
        shares with its base and every view of that storage (``write(array, other)``, when given, does
        the same write directly where no history is recorded).

        With grad recording on and a tensor that requires grad involved, the history is rebased as in
        PyTorch: the result is computed out of place from a copy that carries the old history, and this
        tensor becomes its output. Through a view, the root base's history becomes ``CopySlices`` (the old
        root with the view's region replaced by the result). Either way every live view of the root is
        re-derived from its new history. Refused with a RuntimeError, before anything changes: a leaf that
        requires grad or a view of one (outside ``no_grad``), a view made under ``no_grad`` of a base that
        requires grad, an output of a multi-view op (``split``, ``chunk``, ``unbind``), and a view in which
        several elements share one memory location (``expand``).
        """
        view = self._view
        if view is not None and _overlapping(self._data):
            raise RuntimeError(f"{name}: unsupported operation: more than one element of the written-to tensor "
                               "refers to a single memory location (an expand() view). Please clone() the tensor "
                               "before performing the operation.")
        if _grad_state.enabled and (self.requires_grad or (isinstance(other, Tensor) and other.requires_grad)
                                    or (view is not None and view[0].requires_grad)):
            if view is None:
                self._rebase(name, compute, other)
            else:
                self._rebase_view(name, compute, other, view)
        elif write is not None:
            write(self._data, other)
        else:
            with grad_mode.no_grad():
                out = compute(self, other)
            if out._data is not self._data:
                _check_result(name, out, self)
                self._xp.copyto(self._data, out._data, casting="same_kind")
        self._version.value += 1
        return self

    def _rebase(self, name: str, compute, other) -> None:
        """In-place with history on a tensor that is not a view: it becomes the output of ``compute``."""
        if self._node is None and self.requires_grad:
            raise RuntimeError(f"{name}: a leaf Variable that requires grad is being used in an in-place "
                               "operation. Wrap it in `with tr.no_grad():` (as optimizers and init do) or use "
                               "the out-of-place form")
        old = Tensor._make(self._data.copy(), self._device, self.requires_grad, self._node, self._idx)
        out = _check_result(name, compute(old, other), self)
        self._xp.copyto(self._data, out._data, casting="same_kind")
        self._node, self._idx, self.requires_grad = out._node, out._idx, out.requires_grad
        _rederive_views(self)

    def _rebase_view(self, name: str, compute, other, view: tuple) -> None:
        """In-place with history through a view: the root's history becomes CopySlices(old root, result)."""
        root, chain, made_without_grad = view
        if root._node is None and root.requires_grad:
            raise RuntimeError(f"{name}: a view of a leaf Variable that requires grad is being used in an "
                               "in-place operation. Wrap it in `with tr.no_grad():` (as optimizers and init do) "
                               "or use the out-of-place form")
        if made_without_grad:
            raise RuntimeError(f"{name}: A view was created in no_grad mode and is being modified inplace with "
                               "grad mode enabled. Given that this use case is ambiguous and error-prone, it is "
                               "forbidden. Move both the view and the in-place change inside the no_grad block "
                               "(if the change is not to be tracked) or both outside (if it is)")
        for cls, _, i, multi in chain:
            if multi:
                raise RuntimeError(f"{name}: Output {i} of {cls.__name__} is a view and is being modified inplace. "
                                   "This view is the output of a function that returns multiple views (split, "
                                   "chunk, unbind). Such functions do not allow the output views to be modified "
                                   "inplace. You should replace the inplace operation by an out-of-place one.")
        old_root = Tensor._make(root._data.copy(), root._device, root.requires_grad, root._node, root._idx)
        out = _check_result(name, compute(_derive(old_root, chain), other), self)
        self._xp.copyto(self._data, out._data, casting="same_kind")      # the view's region of the root
        new_root = CopySlices.apply(old_root, out, chain=chain)
        root._node, root._idx, root.requires_grad = new_root._node, new_root._idx, new_root.requires_grad
        _rederive_views(root)

    def add_(self, other, alpha=1) -> "Tensor":
        """``self += alpha * other``; the deprecated ``add_(Number alpha, Tensor other)`` of old
        tutorials (``p.data.add_(-lr, p.grad.data)``) works too, with PyTorch's warning."""
        other, alpha = _legacy_alpha("add_", other, alpha)
        return self._inplace("add_", lambda a, b: a.add(b, alpha=alpha), other)

    def sub_(self, other, alpha=1) -> "Tensor":
        other, alpha = _legacy_alpha("sub_", other, alpha)
        return self._inplace("sub_", lambda a, b: a.sub(b, alpha=alpha), other)

    def mul_(self, other) -> "Tensor":
        return self._inplace("mul_", lambda a, b: a * b, other)

    def div_(self, other) -> "Tensor":
        return self._inplace("div_", lambda a, b: a / b, other)

    def pow_(self, exponent) -> "Tensor":
        return self._inplace("pow_", lambda a, b: a ** b, exponent)

    def sqrt_(self) -> "Tensor":
        return self._inplace("sqrt_", lambda a, _: a.sqrt())

    def clamp_(self, min=None, max=None) -> "Tensor":
        return self._inplace("clamp_", lambda a, _: a.clamp(min, max))

    def addcmul_(self, tensor1, tensor2, value=1) -> "Tensor":
        return self._inplace("addcmul_", lambda a, _: a + value * tensor1 * tensor2)

    def addcdiv_(self, tensor1, tensor2, value=1) -> "Tensor":
        return self._inplace("addcdiv_", lambda a, _: a + value * tensor1 / tensor2)

    def lerp_(self, end, weight) -> "Tensor":
        return self._inplace("lerp_", lambda a, b: a + weight * (b - a), end)

    def masked_fill_(self, mask, value) -> "Tensor":
        return self._inplace("masked_fill_", lambda a, _: a.masked_fill(mask, value))

    def copy_(self, src) -> "Tensor":
        """Copy ``src`` (broadcast, cast to this dtype, moved to this device) into this tensor."""
        if not isinstance(src, Tensor):
            src = tensor(src, dtype=self.dtype, device=self.device)
        if src._device != self._device:
            src = src.to(self._device)
        try:
            if np.broadcast_shapes(src.shape, self.shape) != self.shape:
                raise ValueError
        except ValueError:
            raise ValueError(f"copy_: source of shape {src.shape} cannot be broadcast to {self.shape}") from None
        return self._inplace("copy_", lambda a, b: _overwrite(a, b._cast(a.dtype)), src,
                             write=lambda arr, b: self._xp.copyto(arr, b._data, casting="unsafe"))

    def zero_(self) -> "Tensor":
        return self.fill_(0)

    def fill_(self, value) -> "Tensor":
        """Set every element to ``value`` (a number, or a 0-d tensor: then differentiable w.r.t. it)."""
        if isinstance(value, Tensor):
            if value.ndim != 0:
                raise ValueError(f"fill_: only supports a 0-dimension value tensor, got shape {value.shape}")
            if value._device != self._device:
                value = value.to(self._device)
        elif not isinstance(value, (numbers.Number, np.generic)):
            raise TypeError(f"fill_: value must be a number or a 0-d Tensor, got {type(value).__name__}")
        return self._inplace("fill_", lambda a, b: _overwrite(a, b._cast(a.dtype) if isinstance(b, Tensor) else b),
                             value, write=_fill_array)

    def uniform_(self, a: float = 0.0, b: float = 1.0, generator=None) -> "Tensor":
        g = generator or default_generator
        return self._fill_random(g.random(self.shape, np.float64) * (b - a) + a)

    def normal_(self, mean: float = 0.0, std: float = 1.0, generator=None) -> "Tensor":
        g = generator or default_generator
        return self._fill_random(g.normal(self.shape, np.float64) * std + mean)

    def _fill_random(self, values: np.ndarray) -> "Tensor":
        with grad_mode.no_grad():
            return self.copy_(Tensor._make(move(values.astype(self.dtype), self._device), self._device,
                                           False, None, 0))

    def __setitem__(self, index, value) -> None:
        idx = _convert_index(index, self)
        v = value if isinstance(value, Tensor) else tensor(value, dtype=self.dtype, device=self.device)
        if v._device != self._device:
            raise DeviceError(f"__setitem__: value is on '{v._device}', tensor on '{self._device}'")
        v = v._cast(self.dtype)
        self._inplace("__setitem__", lambda a, b: ops.IndexPut.apply(a, b, index=idx), v,
                      write=lambda arr, b: arr.__setitem__(idx, b._data))

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

    # in-place shape changes: this tensor takes the new shape (and, when it has history, the view's node)
    def _inplace_view(self, name: str, fn) -> "Tensor":
        record = _grad_state.enabled and self.requires_grad
        if record and self._node is None:
            raise RuntimeError(f"{name}: a leaf Variable that requires grad is being used in an in-place "
                               "operation; wrap it in `with tr.no_grad():` or use the out-of-place form")
        if record:
            out = fn(Tensor._make(self._data, self._device, True, self._node, self._idx))
            self._node, self._idx = out._node, out._idx
        else:
            with grad_mode.no_grad():
                out = fn(self)
        self._data = out._data
        self._version.value += 1
        return self

    def unsqueeze_(self, dim: int) -> "Tensor":
        _norm_dim(dim, self.ndim + 1)
        return self._inplace_view("unsqueeze_", lambda a: a.unsqueeze(dim))

    def squeeze_(self, dim=None) -> "Tensor":
        _norm_dims(dim, self.ndim)
        return self._inplace_view("squeeze_", lambda a: a.squeeze(dim))

    def transpose_(self, dim0: int, dim1: int) -> "Tensor":
        _norm_dim(dim0, self.ndim, "dim0"), _norm_dim(dim1, self.ndim, "dim1")
        return self._inplace_view("transpose_", lambda a: a.transpose(dim0, dim1))

    def t_(self) -> "Tensor":
        if self.ndim > 2:
            raise ValueError(f"t_(): expects a tensor with <= 2 dimensions, got {self.ndim}")
        return self._inplace_view("t_", lambda a: a.t())

    def resize_(self, *sizes) -> "Tensor":
        """Give this tensor the shape ``sizes``, keeping its first elements in order; new elements
        (when it grows) are zeros (PyTorch leaves them uninitialised). Not differentiable."""
        shape = _shape_arg(sizes)
        if self.requires_grad:
            raise RuntimeError("resize_: cannot resize variables that require grad")
        n = 1
        for k in shape:
            n *= k
        flat = self._data.reshape(-1)
        if n > flat.size:
            grown = self._xp.zeros(n, self._data.dtype)
            grown[:flat.size] = flat
            flat = grown
        self._data = flat[:n].reshape(shape)
        self._version.value += 1
        return self

    def resize_as_(self, other: "Tensor") -> "Tensor":
        return self.resize_(other.shape)

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


def _wrap_output(arr, dev, xp, requires_grad, node, idx) -> Tensor:
    """``Tensor._make`` for ``Function.apply``, which already holds the canonical device and its array
    module: the same fields, without two dict look-ups on every op."""
    t = _alloc(Tensor)
    t._data = arr
    t._device = dev
    t._xp = xp
    t.requires_grad = requires_grad
    t._grad = None
    t._node = node
    t._idx = idx
    t._version = VersionCounter()
    t._hooks = None
    t._name = None
    return t


# Function.apply makes its outputs through its first input's class (autograd imports no tensor code).
Tensor._wrap_output = staticmethod(_wrap_output)


# --------------------------------------------------------------------- helpers


def _overlapping(arr) -> bool:
    """Whether several elements of ``arr`` share one memory location (a stride-0 dim: an ``expand`` view)."""
    for st, n in zip(arr.strides, arr.shape):
        if st == 0 and n > 1:
            return True
    return False


def _check_result(name: str, out: Tensor, target: Tensor) -> Tensor:
    """The result of an in-place op, checked to fit ``target`` (its shape; a float dtype cast to target's)."""
    if out._data.shape != target._data.shape:
        raise ValueError(f"{name}: the result has shape {out.shape}, which cannot be written into a tensor of "
                         f"shape {target.shape}")
    if out._data.dtype != target._data.dtype and out.dtype.kind == "f" and target.dtype.kind == "f":
        out = out._cast(target.dtype)
    return out


def _derive(root: Tensor, chain: tuple) -> Tensor:
    """The view ``chain`` (as ``Tensor._view`` records it) of ``root``, recorded as graph nodes; not itself
    marked as a view (a temporary, or the new history of one that already is)."""
    t = root
    for cls, attrs, i, multi in chain:
        out = function._apply(cls, t, **attrs)
        t = out[i] if multi else out
    return t


def _rederive_views(root: Tensor) -> None:
    """After ``root``'s history changed in place: every live view of it made with grad on gets its history
    from the new one (PyTorch regenerates a view's grad_fn the same way, lazily)."""
    views = root._views
    if views is None:
        return
    for v in views.live():
        if v._view[2]:
            continue            # made under no_grad: stays out of the graph (as PyTorch)
        new = _derive(root, v._view[1])
        v._node, v._idx, v.requires_grad = new._node, new._idx, new.requires_grad


def _overwrite(a: Tensor, b) -> Tensor:
    """``b`` broadcast to ``a``'s shape with a's history kept at zero gradient (``copy_``/``fill_`` with grad):
    a where-select, so an inf or nan in ``a`` never leaks into the result as ``a * 0`` would."""
    return where(a._new(a._xp.ones(a.shape, dtype=bool)), b, a)


def _fill_array(arr, value) -> None:
    arr[...] = value._data if isinstance(value, Tensor) else value


def _grad_array(root: Tensor, gradient):
    if gradient is None:
        data = root._data
        if data.size != 1:
            raise RuntimeError(f"grad can be implicitly created only for scalar outputs: backward() on a tensor "
                               f"of shape {root.shape} needs gradient= of that shape")
        one = root._xp.array(1, data.dtype)     # several times cheaper than xp.ones on tiny shapes
        return one if data.ndim == 0 else one.reshape(data.shape)
    g = gradient._data if isinstance(gradient, Tensor) else _to_array(gradient, root.dtype, root._device)
    if isinstance(gradient, Tensor) and gradient._device != root._device:
        raise DeviceError(f"backward: gradient is on '{gradient._device}' but the tensor is on '{root._device}'")
    if g.shape != root.shape:
        raise ValueError(f"backward: gradient has shape {g.shape}, expected the tensor's shape {root.shape}")
    return g.astype(root.dtype, copy=False)


def _as_tensor_like(value, like: Tensor) -> Tensor:
    """``value`` (a scalar, list or array) as a constant tensor on ``like``'s device."""
    if isinstance(value, Tensor):
        return value
    if isinstance(value, numbers.Number) and not isinstance(value, np.ndarray):
        dt = dtypes.promote_scalar(like.dtype, value)
        return like._new(like._xp.asarray(value, dtype=dt))
    return tensor(value, device=like.device)


def _operands(a: Tensor, b) -> tuple:
    """Both operands of a binary op as tensors of one dtype, by PyTorch's promotion rules."""
    if isinstance(b, Tensor):
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
        return a, Tensor._make(dt.type(b), a._device, False, None, 0)
    if is_device_array(b) or isinstance(b, (list, tuple)):
        return _operands(a, tensor(b, device=a.device) if not is_device_array(b) or b.ndim else
                         tensor(b, device=a.device))
    raise TypeError(f"unsupported operand type: Tensor and {type(b).__name__}")


def _bool_mask(mask, arg: str) -> Tensor:
    if not isinstance(mask, Tensor):
        raise TypeError(f"{arg}: expected a bool Tensor, got {type(mask).__name__}")
    if mask.dtype.kind != "b":
        raise TypeError(f"{arg}: expected a bool Tensor, got dtype {mask.dtype}")
    return mask


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
        if isinstance(it, Tensor):
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


# --------------------------------------------------------------------- factories


def tensor(data, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """A new leaf tensor: Python floats -> float32, ints -> int64, bools -> bool, arrays keep their dtype."""
    dev = canonical_device(device)
    arr = _to_array(data, dtypes.as_dtype(dtype) if dtype is not None else None, dev)
    if isinstance(data, Tensor) or (is_device_array(data) and arr is data):
        arr = arr.copy()
    t = object.__new__(Tensor)
    t._init(arr, dev, requires_grad)
    return t


def as_tensor(data, dtype=None, device=None) -> Tensor:
    """Like ``tensor`` but shares memory with an array of the same dtype and device."""
    if isinstance(data, Tensor) and (dtype is None or data.dtype == dtype) and (device is None or
                                                                               data.device == canonical_device(device)):
        return data
    dev = canonical_device(device)
    t = object.__new__(Tensor)
    t._init(_to_array(data, dtypes.as_dtype(dtype) if dtype is not None else None, dev), dev, False)
    return t


def from_numpy(array: np.ndarray) -> Tensor:
    if not isinstance(array, np.ndarray):
        raise TypeError(f"from_numpy: expected a numpy.ndarray, got {type(array).__name__}")
    t = object.__new__(Tensor)
    t._init(array, "cpu", False)
    return t


def _factory(size, fill, dtype, device, requires_grad) -> Tensor:
    dev = canonical_device(device)
    dt = dtypes.as_dtype(dtype) if dtype is not None else dtypes.get_default_dtype()
    shape = _shape_arg(size)
    arr = _xp(dev).full(shape, fill, dtype=dt)
    t = object.__new__(Tensor)
    t._init(arr, dev, requires_grad)
    return t


def zeros(*size, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    return _factory(size, 0, dtype, device, requires_grad)


def ones(*size, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    return _factory(size, 1, dtype, device, requires_grad)


def empty(*size, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    return _factory(size, 0, dtype, device, requires_grad)


def full(size, fill_value, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    if dtype is None:
        dtype = np.dtype("int64") if isinstance(fill_value, (int, np.integer)) and not isinstance(
            fill_value, bool) else (np.dtype("bool") if isinstance(fill_value, bool) else None)
    return _factory((size,) if isinstance(size, (tuple, list)) else (size,), fill_value, dtype, device,
                    requires_grad)


def zeros_like(x: Tensor, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    return zeros(x.shape, dtype=dtype or x.dtype, device=device or x.device, requires_grad=requires_grad)


def ones_like(x: Tensor, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    return ones(x.shape, dtype=dtype or x.dtype, device=device or x.device, requires_grad=requires_grad)


def full_like(x: Tensor, fill_value, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    return full(x.shape, fill_value, dtype=dtype or x.dtype, device=device or x.device, requires_grad=requires_grad)


def empty_like(x: Tensor, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    return zeros_like(x, dtype, device, requires_grad)


def _random(values: np.ndarray, device, requires_grad) -> Tensor:
    dev = canonical_device(device)
    t = object.__new__(Tensor)
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
    t = object.__new__(Tensor)
    t._init(_xp(dev).arange(start, end, step).astype(dt), dev, requires_grad)
    return t


def linspace(start, end, steps: int, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    dt = dtypes.as_dtype(dtype) if dtype is not None else dtypes.get_default_dtype()
    dev = canonical_device(device)
    t = object.__new__(Tensor)
    t._init(_xp(dev).linspace(start, end, steps).astype(dt), dev, requires_grad)
    return t


def eye(n: int, m: int | None = None, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    dt = dtypes.as_dtype(dtype) if dtype is not None else dtypes.get_default_dtype()
    dev = canonical_device(device)
    t = object.__new__(Tensor)
    t._init(_xp(dev).eye(n, m, dtype=dt), dev, requires_grad)
    return t


# --------------------------------------------------------------------- functions of several tensors


def _same_dtype(tensors: Sequence[Tensor], name: str) -> list:
    if len(tensors) == 0:
        raise ValueError(f"{name}: expected a non-empty sequence of tensors")
    for t in tensors:
        if not isinstance(t, Tensor):
            raise TypeError(f"{name}: expected Tensors, got {type(t).__name__}")
    dt = tensors[0].dtype
    for t in tensors[1:]:
        if t.dtype != dt:
            dt = dtypes.promote(dt, 1, t.dtype, 1)
    return [t._cast(dt) for t in tensors]


@_dim_aliases
def cat(tensors: Sequence[Tensor], dim: int = 0) -> Tensor:
    """Concatenate along an existing ``dim``."""
    ts = _same_dtype(list(tensors), "cat")
    d = _norm_dim(dim, ts[0].ndim)
    ref = ts[0].shape
    for i, t in enumerate(ts):
        if t.ndim != len(ref) or t.shape[:d] + t.shape[d + 1:] != ref[:d] + ref[d + 1:]:
            raise ValueError(f"cat: sizes of tensors must match except in dim {d}: tensor 0 has shape {ref}, "
                             f"tensor {i} has shape {t.shape}")
    return ops.Cat.apply(*ts, dim=d)


concat = cat


@_dim_aliases
def stack(tensors: Sequence[Tensor], dim: int = 0) -> Tensor:
    """Stack along a new ``dim``."""
    ts = _same_dtype(list(tensors), "stack")
    for i, t in enumerate(ts):
        if t.shape != ts[0].shape:
            raise ValueError(f"stack: expects each tensor to be equal size, but got {ts[0].shape} at entry 0 "
                             f"and {t.shape} at entry {i}")
    d = _norm_dim(dim, ts[0].ndim + 1)
    return ops.Stack.apply(*ts, dim=d)


def where(condition: Tensor, input, other) -> Tensor:
    """``input`` where ``condition`` else ``other`` (broadcast; scalars allowed)."""
    cond = _bool_mask(condition, "condition")
    like = input if isinstance(input, Tensor) else other if isinstance(other, Tensor) else None
    if like is None:
        like = cond._new(cond._xp.asarray(input, dtype=dtypes.promote_scalar(np.dtype("bool"), input)))
    a = _as_tensor_like(input, like)
    b = _as_tensor_like(other, like)
    if a.dtype != b.dtype:
        a, b = _operands(a, b)
    return ops.Where.apply(cond, a, b)


def pad_fn(x: Tensor, pad: Sequence[int], mode: str = "constant", value: float = 0.0) -> Tensor:
    """Pad with a constant; ``pad`` = (last_before, last_after, second_last_before, ...) as in PyTorch."""
    if mode != "constant":
        raise ValueError(f"pad: only mode='constant' is supported, got {mode!r}")
    pad = list(pad)
    if len(pad) % 2 or len(pad) // 2 > x.ndim:
        raise ValueError(f"pad: expected an even number of widths, at most 2 per dim ({2 * x.ndim}), got {pad}")
    widths = [(0, 0)] * x.ndim
    for i in range(len(pad) // 2):
        before, after = pad[2 * i], pad[2 * i + 1]
        if before < 0 or after < 0:
            raise ValueError(f"pad: negative widths are not supported, got {pad}")
        widths[x.ndim - 1 - i] = (before, after)
    return ops.Pad.apply(x, widths=tuple(widths), value=value)


def dropout(x: Tensor, p: float = 0.5, training: bool = True, generator=None) -> Tensor:
    """Zero each element with probability ``p`` and scale the rest by 1/(1-p), in training only."""
    if isinstance(p, bool) or not isinstance(p, numbers.Real) or not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout: p must be a probability in [0, 1], got {p!r}")
    if not training or p == 0.0:
        return x
    if p == 1.0:
        return x * 0.0
    g = generator or default_generator
    keep = (g.random(x.shape, np.float64) >= p).astype(x.dtype) * x.dtype.type(1.0 / (1.0 - p))
    return ops.Dropout.apply(x, keep=move(keep, x._device))


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


# --------------------------------------------------------------------- PyTorch spellings of ported programs


def meshgrid(*tensors: Tensor, indexing: str | None = None) -> tuple:
    """Coordinate grids from 1-D tensors: output ``k`` holds ``tensors[k]`` along dim ``k`` (``"ij"``,
    the default, as PyTorch) or with the first two dims swapped (``"xy"``). Differentiable."""
    if len(tensors) == 1 and isinstance(tensors[0], (list, tuple)):
        tensors = tuple(tensors[0])
    if indexing is None:          # PyTorch's default, with PyTorch's warning
        warnings.warn("torch.meshgrid: in an upcoming release, it will be required to pass the indexing "
                      "argument.", UserWarning, stacklevel=2)
        indexing = "ij"
    if indexing not in ("ij", "xy"):
        raise ValueError(f"meshgrid: indexing must be 'ij' or 'xy', got {indexing!r}")
    if not tensors:
        raise ValueError("meshgrid: expected at least one tensor")
    for k, t in enumerate(tensors):
        if not isinstance(t, Tensor):
            raise TypeError(f"meshgrid: tensors[{k}] must be a Tensor, got {type(t).__name__}")
        if t.ndim > 1:
            raise ValueError(f"meshgrid: expected 0-D or 1-D tensors, got shape {t.shape} at {k}")
    ts = _same_dtype(list(tensors), "meshgrid")
    order = list(range(len(ts)))
    if indexing == "xy" and len(ts) >= 2:
        order[0], order[1] = 1, 0          # 'xy': the grid's first dim follows the second tensor
    shape = tuple(ts[i].numel() for i in order)
    out = []
    for k, t in enumerate(ts):
        pos = order.index(k)
        view = [1] * len(ts)
        view[pos] = t.numel()
        out.append(t.reshape(tuple(view)).expand(*shape))
    return tuple(out)


def normal(mean, std=1.0, size=None, *, generator=None, dtype=None, device=None,
           requires_grad: bool = False) -> Tensor:
    """Normal samples ``mean + std · N(0, 1)`` with the mean and standard deviation given per element
    (tensors, broadcast) or as numbers (then ``size`` is required). As in PyTorch, the result of tensor
    arguments that require grad requires grad too, and its gradients w.r.t. them are zero (the sample
    is not reparameterised; write ``mean + std * tr.randn_like(mean)`` for that)."""
    g = generator or default_generator
    if not isinstance(mean, Tensor) and not isinstance(std, Tensor):
        if size is None:
            raise TypeError("normal(mean: float, std: float) needs size=, e.g. tr.normal(0.0, 1.0, size=(2, 3))")
        if std < 0:
            raise ValueError(f"normal: std must be >= 0, got {std}")
        dt = dtypes.as_dtype(dtype) if dtype is not None else dtypes.get_default_dtype()
        shape = _shape_arg((size,) if isinstance(size, (tuple, list)) else (size,))
        return _random((g.normal(shape, np.float64) * std + mean).astype(dt), device, requires_grad)
    like = mean if isinstance(mean, Tensor) else std
    if size is not None:
        raise TypeError("normal: size= is only taken with a float mean and a float std")
    for name, v in (("mean", mean), ("std", std)):
        if isinstance(v, Tensor) and v.dtype.kind != "f":
            raise TypeError(f"normal: {name} must be a floating-point tensor, got dtype {v.dtype}")
    if isinstance(std, Tensor):
        if builtins.bool((std._data < 0).any()):
            raise ValueError("normal: std must be >= 0 everywhere")
    elif std < 0:
        raise ValueError(f"normal: std must be >= 0, got {std}")
    shape = np.broadcast_shapes(tuple(mean.shape) if isinstance(mean, Tensor) else (),
                                tuple(std.shape) if isinstance(std, Tensor) else ())
    eps = like._new(move(g.normal(shape, np.float64).astype(like._data.dtype), like._device))
    with grad_mode.no_grad():
        sample = mean + std * eps
    for v in (mean, std):      # PyTorch's gradients of normal() are zero, but the result keeps the graph
        if isinstance(v, Tensor) and v.requires_grad:
            sample = sample + v * 0
    return sample


def einsum(equation: str, *operands) -> Tensor:
    """Sum of products over the subscripts of ``equation`` (``"ij,jk->ik"``, ``"bij,bjk"``, ``"ii"``,
    ``"...ij,...jk->...ik"``), with PyTorch's rules: without ``->`` the output holds the letters that
    appear once, in alphabetical order, after any ``...`` dims. Operands may also come as one list.
    Differentiable in every operand (see ``ops.Einsum``). A letter must have one size in all operands."""
    if not isinstance(equation, str):
        raise TypeError(f"einsum: equation must be a str, got {type(equation).__name__}")
    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands = tuple(operands[0])
    ts = _same_dtype(list(operands), "einsum")
    eq = equation.replace(" ", "")
    lhs, arrow, out = eq.partition("->")
    terms = lhs.split(",")
    if len(terms) != len(ts):
        raise ValueError(f"einsum: the equation {equation!r} has {len(terms)} operand(s), got {len(ts)} tensors")
    used = set(c for c in eq if c.isalpha())
    free = iter(c for c in "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ" if c not in used)
    n_ell = builtins.max([t.ndim - len(term.replace("...", "")) for term, t in zip(terms, ts) if "..." in term] or [0])
    ell = "".join(next(free) for _ in range(n_ell))
    subs = []
    for k, (term, t) in enumerate(zip(terms, ts)):
        if any(not c.isalpha() for c in term.replace("...", "")) or term.count("...") > 1:
            raise ValueError(f"einsum: operand {k} has an invalid subscript {term!r} in {equation!r}")
        if "..." in term:
            k_ell = t.ndim - len(term.replace("...", ""))
            if k_ell < 0:
                raise ValueError(f"einsum: operand {k} has {t.ndim} dims, fewer than its subscripts {term!r}")
            term = term.replace("...", ell[n_ell - k_ell:])
        if len(term) != t.ndim:
            raise ValueError(f"einsum: operand {k} has {t.ndim} dims but its subscripts {term!r} name {len(term)}")
        subs.append(term)
    sizes = {}
    for k, (term, t) in enumerate(zip(subs, ts)):
        for c, n in zip(term, t.shape):
            if sizes.setdefault(c, n) != n:
                raise ValueError(f"einsum: subscript {c!r} has size {n} in operand {k} but {sizes[c]} earlier "
                                 f"(equation {equation!r})")
    if arrow:
        if out.count("...") > 1 or any(not c.isalpha() for c in out.replace("...", "")):
            raise ValueError(f"einsum: invalid output subscripts {out!r}")
        out = out.replace("...", ell)
        for c in out:
            if c not in sizes:
                raise ValueError(f"einsum: output subscript {c!r} does not appear in any operand of {equation!r}")
        if len(set(out)) != len(out):
            raise ValueError(f"einsum: output subscript repeated in {equation!r}")
    else:
        counts = collections.Counter("".join(subs))
        out = ell + "".join(sorted(c for c in counts if counts[c] == 1 and c not in ell))
    return ops.Einsum.apply(*ts, inputs=tuple(subs), output=out)


_LEGACY_NAMES = {"float32": "FloatTensor", "float64": "DoubleTensor", "float16": "HalfTensor",
                 "int64": "LongTensor", "int32": "IntTensor", "int16": "ShortTensor", "int8": "CharTensor",
                 "uint8": "ByteTensor", "bool": "BoolTensor"}


class _LegacyTensorType(type):
    """``isinstance(x, tr.LongTensor)`` is true for every int64 tensor (as PyTorch)."""

    def __instancecheck__(cls, obj) -> bool:
        return isinstance(obj, Tensor) and obj._data.dtype == cls.legacy_dtype

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
        if isinstance(data, Tensor):
            if data._data.dtype != dt:
                raise TypeError(f"{cls.__name__}(tensor): expected a tensor of dtype {dtypes.wrap(dt)}, got "
                                f"{data.dtype}; convert with .to({dtypes.wrap(dt)})")
            return data.detach()
        arr = _to_array(data, dt, dev)
        if arr is data:
            arr = arr.copy()
    else:
        raise TypeError(f"{cls.__name__}(): expected sizes (ints) or one sequence of data, got {args!r}")
    t = object.__new__(Tensor)
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
        return isinstance(obj, Tensor)


class Variable(metaclass=_VariableType):
    """``torch.autograd.Variable(data, requires_grad=False)``, the pre-0.4 wrapper: it returns a tensor
    (sharing ``data``'s storage, cut from its graph) that requires grad when asked; every tensor is an
    instance of ``Variable``. ``volatile=`` is accepted and ignored, as in PyTorch."""

    def __new__(cls, data, requires_grad: bool = False, volatile: bool = False) -> Tensor:
        if not isinstance(data, Tensor):
            raise TypeError(f"Variable: data must be a Tensor, got {type(data).__name__}")
        t = data.detach()
        if requires_grad:
            t.requires_grad_(True)
        return t


def get_default_device() -> device:
    """The device of new tensors that name none (``tr.set_default_device`` changes it)."""
    return device(default_device())
