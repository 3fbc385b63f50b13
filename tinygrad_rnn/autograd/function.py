"""``Function``: one class per differentiable op; an instance is one node of the graph.

An op writes ``forward(ctx, *arrays, **attrs)`` and ``backward(ctx, *grads)`` side by side as static
methods over raw arrays, reaching NumPy or CuPy only through ``ctx.xp``, so one definition serves
both backends. ``Function.apply(*tensors, **attrs)`` runs ``forward`` and, when grad mode is on and
some input requires grad, records the node:

- ``ctx.edges``: per input, in order, where its gradient goes: ``(node, output_index)`` for a
  tensor made by an op, the tensor itself for a leaf;
- ``ctx.out_meta``: ``(shape, dtype)`` per output; ``ctx.scope``: the scope in force (see ``scope``);
- ``ctx.saved``: what ``ctx.save_for_backward`` kept, with the version of every saved input so a
  backward after an in-place change raises instead of returning a wrong gradient;
- ``ctx._seq``: the node's creation number, from ``next_seq`` (backward runs nodes latest-first). Code
  that records a node without ``apply`` (``ops.ToDevice``) must stamp it too.

Autograd imports nothing above it (no tensor code, lazily or not). It works on arrays and nodes, and on
tensors only through :class:`TensorBase`, the fields and constructors every tensor class provides:
``apply`` makes its outputs with the first input's class (``type(x)._wrap_output``), the engine makes
a leaf's ``.grad`` with the leaf's class (``type(leaf)._make``). ``tensor`` and ``ops`` both import
this module, never each other in a circle.

Views (``ViewFunction``: reshape, permute, expand, basic indexing, split): an output whose array is a
view of the input's storage shares the input's ``VersionCounter`` (as in PyTorch), so an in-place change
through any alias is seen by every saved array of that storage, and it remembers how it was made from
its root base (``_view``: root tensor, chain of view ops, whether made under ``no_grad``) so an in-place
change through it can rebase the root's history (``tensor._inplace``).
"""

from __future__ import annotations

import itertools
import weakref

from ..backend import DeviceError
from . import grad_mode, scope as _scope

_grad_state = grad_mode._state
_scope_state = _scope._state
_new = object.__new__
# Creation counter stamped on every recorded node as ``_seq``: a node's inputs always come from nodes with a
# smaller number, so backward runs nodes in decreasing ``_seq`` (see engine.run_backward).
next_seq = itertools.count(1).__next__


class VersionCounter:
    """How many times the storage of a tensor (shared by its views and ``detach()``) was changed in place."""

    __slots__ = ("value",)

    def __init__(self) -> None:
        self.value = 0


class TensorBase:
    """What autograd needs of a tensor; ``tinygrad_rnn.Tensor`` subclasses it (as ``torch.Tensor`` does
    ``torch._C.TensorBase``). It holds no state and no code: it names the protocol, so autograd can
    tell a tensor from other arguments without importing the tensor layer.

    Fields autograd reads (and, for ``grad`` and a leaf's gradient, writes): ``_data`` (the array),
    ``_device`` (its device), ``_xp`` (NumPy or CuPy), ``requires_grad``, ``grad``, ``_node`` and ``_idx``
    (the node that made it and which of its outputs; ``None`` and 0 for a leaf), ``_version`` (the
    ``VersionCounter`` shared with its views), ``_hooks`` (a leaf's hooks: functions of its gradient
    tensor, returning ``None`` or a replacement).

    Constructors autograd calls:

    - ``type(x)._wrap_output(array, device, xp, requires_grad, node, idx)`` (static): the tensor an op
      returns, given the input's device and array module;
    - ``type(x)._make(array, device, requires_grad, node, idx)`` (static): the same from a device name
      (a leaf's ``.grad`` and its hooks' argument; ``ops.ToDevice``'s output);
    - ``x._wrap_grad(array)``: a constant tensor on ``x``'s device (``retain_grad``, ``autograd.grad``);
    - ``x._grad_array(gradient)``: the array of a root gradient given for ``x`` (``None``: ones for a
      one-element ``x``), checked against ``x``'s shape and device.
    """

    __slots__ = ()


def unbroadcast(xp, grad, shape: tuple):
    """Sum ``grad`` down to ``shape``: undo NumPy broadcasting in a backward pass."""
    if grad.shape == shape:
        return grad
    extra = grad.ndim - len(shape)
    axes = tuple(range(extra)) + tuple(i + extra for i, n in enumerate(shape) if n == 1 and grad.shape[i + extra] != 1)
    if axes:
        grad = grad.sum(axis=axes, keepdims=True)
    return grad.reshape(shape)


class Function:
    """Base class of ops. Subclasses define static ``forward`` and ``backward``.

    ``forward(ctx, *arrays, **attrs)`` returns an array (or a tuple of arrays for several outputs).
    ``backward(ctx, *grads)`` gets one gradient per output (zeros for outputs nobody used) and returns
    one gradient per tensor input (an array, or ``None`` where ``ctx.needs_input_grad`` is false).
    """

    # Defaults shared by every node; set per node only where used.
    saved: tuple | None = ()
    hooks: dict | None = None        # output index -> hooks registered on that output tensor
    retained: dict | None = None     # output index -> weakref of a tensor that asked retain_grad()
    grad_norms: list | None = None   # filled by backward inside autograd.record_grad_norms()
    _checks: list | tuple = ()     # (version counter, version when saved, "input"/"output", position)

    def save_for_backward(self, *arrays) -> None:
        """Keep arrays for ``backward``; saved inputs are version-checked when backward runs."""
        self.saved = arrays

    @property
    def name(self) -> str:
        """The op's name, as graph pictures label it."""
        return type(self).__name__

    def __repr__(self) -> str:
        """As PyTorch prints ``tensor.grad_fn``: ``<AddBackward0 object at 0x...>``."""
        from .names import grad_fn_name
        return f"<{grad_fn_name(self)} object at {id(self):#x}>"

    @classmethod
    def apply(cls, *inputs, **attrs):
        """Run the op on tensors; record a graph node when grad mode is on and an input requires grad."""
        # The hot path of every op: one- and two-input ops are unrolled, no generators or comprehensions.
        first = inputs[0]
        device = first._device
        n = len(inputs)
        if n == 1:
            record = first.requires_grad
        elif n == 2:
            second = inputs[1]
            record = first.requires_grad or second.requires_grad
            if second._device is not device and second._device != device:
                raise _device_error(cls, device, second._device)
        else:
            record = False
            for t in inputs:
                if t.requires_grad:
                    record = True
                if t._device is not device and t._device != device:
                    raise _device_error(cls, device, t._device)
        record = record and _grad_state.enabled
        ctx = _new(cls)
        ctx.xp = xp = first._xp
        if n == 1:
            if record:
                ctx.needs_input_grad = (True,)
            out = cls.forward(ctx, first._data, **attrs) if attrs else cls.forward(ctx, first._data)
        elif n == 2:
            if record:
                ctx.needs_input_grad = (first.requires_grad, second.requires_grad)
            out = (cls.forward(ctx, first._data, second._data, **attrs) if attrs else
                   cls.forward(ctx, first._data, second._data))
        else:
            if record:
                ctx.needs_input_grad = tuple([t.requires_grad for t in inputs])
            out = cls.forward(ctx, *[t._data for t in inputs], **attrs)
        make = type(first)._wrap_output
        if type(out) is tuple:
            out = tuple([o if type(o) is xp.ndarray else xp.asarray(o) for o in out])
        elif type(out) is not xp.ndarray:
            out = xp.asarray(out)     # NumPy returns scalars from 0-d results: tensors always hold arrays
        if not record:
            if type(out) is tuple:
                return tuple([make(o, device, xp, False, None, i) for i, o in enumerate(out)])
            return make(out, device, xp, False, None, 0)
        if type(out) is tuple:
            outs = tuple([make(o, device, xp, True, ctx, i) for i, o in enumerate(out)])
            ctx.out_meta = tuple([(o.shape, o.dtype) for o in out])
        else:
            outs = make(out, device, xp, True, ctx, 0)
            ctx.out_meta = ((out.shape, out.dtype),)
        node = first._node
        e0 = first if node is None else (node, first._idx)
        if n == 1:
            ctx.edges = (e0,)
        elif n == 2:
            node = second._node
            ctx.edges = (e0, second if node is None else (node, second._idx))
        else:
            ctx.edges = tuple([t if t._node is None else (t._node, t._idx) for t in inputs])
        ctx.scope = _scope_state.current
        ctx._seq = next_seq()
        saved = ctx.saved
        if saved:
            ctx._checks = _version_checks(saved, inputs, outs)
        return outs


_apply = Function.apply.__func__      # Function.apply for any subclass, bypassing an override


class ViewFunction(Function):
    """An op whose output may be a view of its first input's storage (``x.reshape``, ``x[1:]`` ...).

    ``apply`` marks every output that is a view: it shares the input's version counter and records its
    root base and the chain of view ops from it (see ``mark_views``). Only these ops pay for the check.
    """

    @classmethod
    def apply(cls, x, **attrs):
        out = _apply(cls, x, **attrs)
        if type(out) is not tuple:           # the common case, inlined: one output whose base is x's storage
            src, arr = x._data, out._data
            b = arr.base
            if b is not None and (b is src or b is src.base) and x._view is None:
                enabled = _grad_state.enabled
                out._version = x._version
                out._view = (x, ((cls, attrs, 0, False),), not enabled)
                if enabled and (x._node is not None or not x.requires_grad):
                    _register(x, out)
                return out
        mark_views(cls, x, out, attrs)
        return out


class ViewRegistry:
    """Weak references to the live views of one root tensor, so an in-place change that rebases the
    root's history can rebase theirs too (dead references are dropped in amortised O(1))."""

    __slots__ = ("refs", "limit")

    def __init__(self) -> None:
        self.refs: list = []
        self.limit = 16

    def add(self, t) -> None:
        refs = self.refs
        if len(refs) >= self.limit:
            refs[:] = [r for r in refs if r() is not None]
            self.limit = 2 * len(refs) + 16
        refs.append(weakref.ref(t))

    def live(self) -> list:
        return [t for t in (r() for r in self.refs) if t is not None]


def _is_view_of(xp, out, src) -> bool:
    """Whether array ``out`` is a view of array ``src``'s storage (NumPy keeps the owner as ``.base``)."""
    if out is src:
        return True
    b = out.base
    if b is None:
        return False
    if b is src or (src.base is not None and b is src.base):
        return True
    return bool(xp.may_share_memory(out, src))      # another base chain (e.g. CuPy): the bounds test


def mark_views(cls, base, out, attrs: dict) -> None:
    """Make each output of the view op ``cls`` whose array views ``base``'s storage share ``base``'s version
    counter, and record ``(root, chain, made under no_grad)`` on it as ``_view``. With grad mode on, register
    it with the root too, unless the root is a leaf that requires grad (in-place on it is refused, so its
    history never changes); views made under ``no_grad`` are never re-derived, so they are not registered."""
    src = base._data
    xp = base._xp
    parent = base._view
    enabled = _grad_state.enabled
    if parent is None:
        root, chain, no_grad = base, (), not enabled
    else:
        root, chain, no_grad = parent[0], parent[1], parent[2] or not enabled
    register = enabled and (root._node is not None or not root.requires_grad)
    if type(out) is not tuple:
        if _is_view_of(xp, out._data, src):
            out._version = base._version
            out._view = (root, chain + ((cls, attrs, 0, False),), no_grad)
            if register:
                _register(root, out)
        return
    for i, o in enumerate(out):
        if _is_view_of(xp, o._data, src):
            o._version = base._version
            o._view = (root, chain + ((cls, attrs, i, True),), no_grad)
            if register:
                _register(root, o)


def _register(root, view) -> None:
    views = root._views
    if views is None:
        views = root._views = ViewRegistry()
    views.add(view)


def _device_error(cls, device, other) -> DeviceError:
    return DeviceError(f"{cls.__name__}: expected all tensors on one device, but input 0 is on "
                       f"'{device}' and another is on '{other}'; move one with .to()")


def _version_checks(saved, inputs, outputs) -> list:
    """(counter, version now, "input"/"output", position, index in saved) for every saved array that is an
    input's or an output's storage, or a view of it made inside ``forward`` (the message is only formatted
    if a check fails). ``outputs``: a tensor or a tuple."""
    checks = []
    j = 0
    for a in saved:
        i = 0
        for t in inputs:
            if a is t._data:
                v = t._version
                checks.append((v, v.value, "input", i, j))
                break
            i += 1
        else:
            i = 0
            for t in outputs if type(outputs) is tuple else (outputs,):
                if a is t._data:
                    v = t._version
                    checks.append((v, v.value, "output", i, j))
                    break
                i += 1
            else:
                base = getattr(a, "base", None)   # a view made in forward (x.T, x[..., None]): its owner's counter
                if base is not None:
                    _view_check(checks, base, inputs, outputs, j)
        j += 1
    return checks


def _view_check(checks: list, base, inputs, outputs, j: int) -> None:
    for kind, ts in (("input", inputs), ("output", outputs if type(outputs) is tuple else (outputs,))):
        for i, t in enumerate(ts):
            d = t._data
            if base is d or base is d.base:
                v = t._version
                checks.append((v, v.value, kind, i, j))
                return
