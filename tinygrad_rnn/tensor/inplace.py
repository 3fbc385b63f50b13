"""``Tensor`` methods: in-place changes, version-counted (and, with history, rebased as in PyTorch)."""

from __future__ import annotations

import numbers
from typing import TYPE_CHECKING

import numpy as np

from .. import ops
from ..autograd import function, grad_mode
from ..backend import DeviceError, move
from ..ops.movement import CopySlices
from ..random import default_generator
from . import core        # core defines Tensor and imports this module first: read core.Tensor at call time
from .combine import where
from .creation import tensor
from .indexing import _convert_index
from .promotion import _legacy_alpha
from .shapes import _norm_dim, _norm_dims, _shape_arg

if TYPE_CHECKING:
    from .core import Tensor


_grad_state = grad_mode._state


class InPlaceMixin:
    """In-place methods of ``Tensor``: each bumps the version counter it shares with its views."""

    __slots__ = ()

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
        if _grad_state.enabled and (self.requires_grad or (isinstance(other, core.Tensor) and other.requires_grad)
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
        old = core.Tensor._make(self._data.copy(), self._device, self.requires_grad, self._node, self._idx)
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
        old_root = core.Tensor._make(root._data.copy(), root._device, root.requires_grad, root._node, root._idx)
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
        if not isinstance(src, core.Tensor):
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
        if isinstance(value, core.Tensor):
            if value.ndim != 0:
                raise ValueError(f"fill_: only supports a 0-dimension value tensor, got shape {value.shape}")
            if value._device != self._device:
                value = value.to(self._device)
        elif not isinstance(value, (numbers.Number, np.generic)):
            raise TypeError(f"fill_: value must be a number or a 0-d Tensor, got {type(value).__name__}")
        return self._inplace("fill_", lambda a, b: _overwrite(a, b._cast(a.dtype) if isinstance(b, core.Tensor) else b),
                             value, write=_fill_array)

    def uniform_(self, a: float = 0.0, b: float = 1.0, generator=None) -> "Tensor":
        g = generator or default_generator
        return self._fill_random(g.random(self.shape, np.float64) * (b - a) + a)

    def normal_(self, mean: float = 0.0, std: float = 1.0, generator=None) -> "Tensor":
        g = generator or default_generator
        return self._fill_random(g.normal(self.shape, np.float64) * std + mean)

    def _fill_random(self, values: np.ndarray) -> "Tensor":
        with grad_mode.no_grad():
            return self.copy_(core.Tensor._make(move(values.astype(self.dtype), self._device), self._device,
                                           False, None, 0))

    def __setitem__(self, index, value) -> None:
        idx = _convert_index(index, self)
        v = value if isinstance(value, core.Tensor) else tensor(value, dtype=self.dtype, device=self.device)
        if v._device != self._device:
            raise DeviceError(f"__setitem__: value is on '{v._device}', tensor on '{self._device}'")
        v = v._cast(self.dtype)
        self._inplace("__setitem__", lambda a, b: ops.IndexPut.apply(a, b, index=idx), v,
                      write=lambda arr, b: arr.__setitem__(idx, b._data))

    # in-place shape changes: this tensor takes the new shape (and, when it has history, the view's node)
    def _inplace_view(self, name: str, fn) -> "Tensor":
        record = _grad_state.enabled and self.requires_grad
        if record and self._node is None:
            raise RuntimeError(f"{name}: a leaf Variable that requires grad is being used in an in-place "
                               "operation; wrap it in `with tr.no_grad():` or use the out-of-place form")
        if record:
            out = fn(core.Tensor._make(self._data, self._device, True, self._node, self._idx))
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
    arr[...] = value._data if isinstance(value, core.Tensor) else value
