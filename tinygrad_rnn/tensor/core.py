"""``Tensor``: an array, its gradient, and the graph node that made it.

The class stays small: every differentiable method is a one-line delegation to a ``Function`` in
``ops``; what is here is the bookkeeping — the fields, properties, ``backward`` and hooks. The methods
are grouped by theme in mixin bases beside this module (conversion, arithmetic, reductions, movement,
in-place); they and the helper modules (creation, indexing, promotion, combine) read the class from
here at call time.
"""

from __future__ import annotations

import builtins

import numpy as np

from .. import dtypes
from ..autograd import engine, function
from ..autograd.function import Function, VersionCounter
from ..backend import DeviceError, canonical_device, default_device, to_numpy
from ..autograd.names import grad_fn_name
from ..tensor_str import tensor_repr
from .arithmetic import ArithmeticMixin
from .conversion import ConversionMixin
from .creation import _to_array
from .devices import _DEVICES, _XP, _xp, device
from .inplace import InPlaceMixin
from .movement import MovementMixin
from .reductions import ReductionMixin
from .shapes import Size, _norm_dim, _shape_arg


_WRAPPED = dtypes._WRAPPED
_alloc = object.__new__


class Tensor(ConversionMixin, ArithmeticMixin, ReductionMixin, MovementMixin, InPlaceMixin, function.TensorBase):
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
