"""``Module`` and ``Parameter``: the containers every layer is built from, with PyTorch's behaviour.

A ``Module`` registers the ``Parameter``s, buffers and sub-modules assigned to it as attributes, and
from that registry gives ``parameters()``/``named_parameters()`` (PyTorch's names and order; a tied
``Parameter`` is listed once), ``state_dict()``/``load_state_dict()`` (moves both ways with PyTorch),
``train()``/``eval()``, ``to(device|dtype)`` and a PyTorch-like ``repr``.

``Module.to`` replaces the arrays *inside* the existing ``Parameter`` objects, so an optimizer built
before the move still holds the right tensors.
"""

from __future__ import annotations

import collections
import collections.abc
import functools
import numbers
import warnings
from collections import OrderedDict
from typing import Any, Callable, Iterator

import numpy as np

from .. import dtypes
from ..autograd import grad_mode
from ..autograd.function import VersionCounter
from ..backend import canonical_device, device_of, is_device_array, move
from ..ops import BackwardHookFunction
from ..tensor import _DEVICES, Tensor, _xp, zeros

__all__ = ["Module", "Parameter", "RemovableHandle", "StateDictError", "StateDictValueError", "empty_parameter",
           "factory_kwargs"]

_IncompatibleKeys = collections.namedtuple("IncompatibleKeys", ["missing_keys", "unexpected_keys"])


class StateDictError(RuntimeError, ValueError):
    """A state_dict does not fit the module (missing/unexpected keys, shape or type mismatch).

    A ``RuntimeError`` as PyTorch raises it and a ``ValueError`` by this project's rules.
    """


class StateDictValueError(StateDictError, TypeError):
    """A state_dict value that is not a numeric array (a string or object array, a str, ...), naming its key.

    A ``TypeError`` by this project's rules, and a ``RuntimeError`` as PyTorch raises it.
    """


class Parameter(Tensor):
    """A tensor that a ``Module`` registers as one of its learnable parameters.

    ``Parameter(data, requires_grad=True)`` shares ``data``'s array and version counter (no copy).
    ``param._name`` holds its ``state_dict`` name: the attribute name when assigned to a module,
    refreshed to the full dotted path by ``named_parameters()`` (graph pictures label it so).

    Example::

        w = tr.nn.Parameter(tr.zeros(3, 4))
        w.requires_grad, w._name     # True, None
    """

    def __init__(self, data: Tensor | None = None, requires_grad: bool = True) -> None:
        if data is None:
            data = zeros(0)
        if not isinstance(data, Tensor):
            raise TypeError(f"Parameter: data must be a Tensor, got {type(data).__name__}")
        self._init(data._data, data._device, requires_grad)
        self._version = data._version

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()

    def __deepcopy__(self, memo) -> "Parameter":
        if id(self) in memo:
            return memo[id(self)]
        p = Parameter(Tensor._make(self._data.copy(), self._device, False, None, 0), self.requires_grad)
        p._name = self._name
        if self.grad is not None:
            p.grad = self.grad._new(self.grad._data.copy())
        memo[id(self)] = p
        return p


def factory_kwargs(dtype=None, device=None) -> dict:
    """Validate a layer's ``dtype=``/``device=`` arguments: ``{"dtype": floating dtype, "device": "cpu"|"cuda"}``."""
    dt = dtypes.as_dtype(dtype) if dtype is not None else dtypes.get_default_dtype()
    if dt.kind != "f":
        raise TypeError(f"dtype: parameters must have a floating dtype, got {dt}")
    return {"dtype": dt, "device": canonical_device(device)}


def empty_parameter(*shape, dtype=None, device=None) -> Parameter:
    """A zero-filled ``Parameter`` of ``shape`` (layers fill it with their initialisation)."""
    return Parameter(zeros(*shape, **factory_kwargs(dtype, device)))


def _addindent(text: str, n: int) -> str:
    lines = text.split("\n")
    if len(lines) == 1:
        return text
    return lines[0] + "\n" + "\n".join(" " * n + line for line in lines[1:])


def _as_array(value, key: str):
    """A state_dict value (our Tensor, a NumPy/CuPy array, or anything with ``__array__``) as an array."""
    if isinstance(value, Tensor):
        arr = value._data
    elif is_device_array(value):
        arr = value
    else:
        if hasattr(value, "detach") and hasattr(value, "cpu"):      # a torch tensor
            value = value.detach().cpu()
        if not (isinstance(value, (numbers.Number, np.generic)) or hasattr(value, "__array__")):
            raise StateDictValueError(f"load_state_dict: value for {key!r} must be a Tensor or an array, "
                                      f"got {type(value).__name__}")
        arr = np.asarray(value)
    if arr.dtype.kind not in "biuf":      # strings, objects, dates, complex: refused before anything is copied
        raise StateDictValueError(f"load_state_dict: value for {key!r} has dtype {arr.dtype}, expected a bool, "
                                  "integer or floating-point array")
    return arr


class Module:
    """Base class of layers and models (``torch.nn.Module``).

    Subclasses call ``super().__init__()`` first, assign ``Parameter``s, sub-modules and buffers
    (``register_buffer``) as attributes, and define ``forward``; ``module(x)`` calls ``forward(x)``.

    Attributes:
        training: True in training mode (``train()``), False after ``eval()``.
    """

    training: bool

    def __init__(self) -> None:
        object.__setattr__(self, "training", True)
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_non_persistent_buffers_set", set())
        object.__setattr__(self, "_modules", OrderedDict())

    def forward(self, *args, **kwargs):
        raise NotImplementedError(f"Module [{type(self).__name__}] is missing the required \"forward\" function")

    def __call__(self, *args, **kwargs):
        if "_hooks" not in self.__dict__:        # no hook was ever registered: the plain call
            return self.forward(*args, **kwargs)
        return _call_with_hooks(self, args, kwargs)

    # ----------------------------------------------------------------- hooks
    def _hook_table(self) -> "_Hooks":
        hooks = self.__dict__.get("_hooks")
        if hooks is None:
            hooks = _Hooks()
            object.__setattr__(self, "_hooks", hooks)
        return hooks

    def register_forward_pre_hook(self, hook: Callable, *, prepend: bool = False,
                                  with_kwargs: bool = False) -> "RemovableHandle":
        """Call ``hook(module, args)`` before every forward; a returned value replaces ``args`` (a
        non-tuple is wrapped in one). With ``with_kwargs=True``: ``hook(module, args, kwargs)``, which
        returns ``None`` or a new ``(args, kwargs)``. ``prepend=True`` runs it before the others."""
        return self._hook_table().add("forward_pre", hook, prepend, with_kwargs=with_kwargs)

    def register_forward_hook(self, hook: Callable, *, prepend: bool = False, with_kwargs: bool = False,
                              always_call: bool = False) -> "RemovableHandle":
        """Call ``hook(module, args, output)`` after every forward (``hook(module, args, kwargs, output)``
        with ``with_kwargs=True``); a returned value replaces the output. ``always_call=True`` also
        calls it when forward raised (then the exception propagates)."""
        return self._hook_table().add("forward", hook, prepend, with_kwargs=with_kwargs, always_call=always_call)

    def register_full_backward_pre_hook(self, hook: Callable, prepend: bool = False) -> "RemovableHandle":
        """Call ``hook(module, grad_output)`` when the gradients w.r.t. the module's outputs are known;
        a returned tuple replaces ``grad_output`` for the rest of backward."""
        return self._hook_table().add("backward_pre", hook, prepend)

    def register_full_backward_hook(self, hook: Callable, prepend: bool = False) -> "RemovableHandle":
        """Call ``hook(module, grad_input, grad_output)`` once the gradients w.r.t. the module's positional
        inputs are computed (PyTorch's semantics).

        ``grad_output`` has one entry per element of the output (a Tensor or tuple): the gradient of a
        tensor output, ``None`` for a non-tensor element or an output that got no gradient.
        ``grad_input`` has one entry per positional argument (``None`` for non-tensors). A returned tuple
        of the same length replaces ``grad_input``. When no input requires grad, the hook runs as soon
        as ``grad_output`` is known, with ``grad_input`` all ``None`` (and PyTorch's warning), and must
        return ``None``. Keyword arguments are not tracked (as PyTorch).
        """
        return self._hook_table().add("backward", hook, prepend)

    # ----------------------------------------------------------------- registration
    def _check_init(self, what: str) -> None:
        if "_parameters" not in self.__dict__:
            raise AttributeError(f"cannot assign {what} before Module.__init__() call "
                                 f"(call super().__init__() first in {type(self).__name__}.__init__)")

    @staticmethod
    def _check_name(name, what: str) -> None:
        if not isinstance(name, str):
            raise TypeError(f"{what} name should be a string, got {type(name).__name__}")
        if name == "" or "." in name:
            raise KeyError(f"{what} name can't be empty or contain \".\", got {name!r}")

    def register_parameter(self, name: str, param: Parameter | None) -> None:
        """Register ``param`` (or ``None``: a declared but absent parameter, e.g. ``bias=False``)."""
        self._check_init("parameters")
        self._check_name(name, "parameter")
        if hasattr(self, name) and name not in self._parameters:
            raise KeyError(f"attribute {name!r} already exists")
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(f"cannot assign '{type(param).__name__}' object to parameter '{name}' "
                            "(tr.nn.Parameter or None required)")
        if param is not None and param._name is None:
            param._name = name
        self._parameters[name] = param

    def register_buffer(self, name: str, tensor: Tensor | None, persistent: bool = True) -> None:
        """Register a non-learnable tensor saved in ``state_dict`` (unless ``persistent=False``)."""
        self._check_init("buffers")
        self._check_name(name, "buffer")
        if hasattr(self, name) and name not in self._buffers:
            raise KeyError(f"attribute {name!r} already exists")
        if tensor is not None and not isinstance(tensor, Tensor):
            raise TypeError(f"cannot assign '{type(tensor).__name__}' object to buffer '{name}' "
                            "(Tensor or None required)")
        self._buffers[name] = tensor
        if persistent:
            self._non_persistent_buffers_set.discard(name)
        else:
            self._non_persistent_buffers_set.add(name)

    def add_module(self, name: str, module: "Module | None") -> None:
        """Register a sub-module under ``name``."""
        self._check_init("modules")
        self._check_name(name, "module")
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"{type(module).__name__} is not a Module subclass")
        if hasattr(self, name) and name not in self._modules:
            raise KeyError(f"attribute {name!r} already exists")
        self._modules[name] = module

    register_module = add_module

    def __setattr__(self, name: str, value: Any) -> None:
        d = self.__dict__
        params = d.get("_parameters")
        if isinstance(value, Parameter):
            self._check_init("parameters")
            self._remove_from(name, d, self._buffers, self._modules)
            self.register_parameter(name, value)
        elif params is not None and name in params:
            if value is not None:
                raise TypeError(f"cannot assign '{type(value).__name__}' as parameter '{name}' "
                                "(tr.nn.Parameter or None expected)")
            params[name] = None
        elif isinstance(value, Module):
            self._check_init("modules")
            self._remove_from(name, d, self._parameters, self._buffers)
            self._modules[name] = value
        elif d.get("_modules") is not None and name in self._modules:
            if value is not None:
                raise TypeError(f"cannot assign '{type(value).__name__}' as child module '{name}' "
                                "(tr.nn.Module or None expected)")
            self._modules[name] = None
        elif d.get("_buffers") is not None and name in self._buffers:
            if value is not None and not isinstance(value, Tensor):
                raise TypeError(f"cannot assign '{type(value).__name__}' as buffer '{name}' (Tensor or None expected)")
            self._buffers[name] = value
        else:
            object.__setattr__(self, name, value)

    @staticmethod
    def _remove_from(name: str, *dicts) -> None:
        for d in dicts:
            if name in d:
                del d[name]

    def __getattr__(self, name: str) -> Any:
        d = self.__dict__
        for registry in ("_parameters", "_buffers", "_modules"):
            r = d.get(registry)
            if r is not None and name in r:
                return r[name]
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def __delattr__(self, name: str) -> None:
        for registry in (self._parameters, self._buffers, self._modules):
            if name in registry:
                del registry[name]
                self._non_persistent_buffers_set.discard(name)
                return
        object.__delattr__(self, name)

    def __dir__(self):
        return sorted(set(super().__dir__()) | set(self._parameters) | set(self._buffers) | set(self._modules))

    # ----------------------------------------------------------------- traversal
    def named_modules(self, memo: set | None = None, prefix: str = "",
                      remove_duplicate: bool = True) -> Iterator[tuple[str, "Module"]]:
        """(dotted name, module) for this module and every descendant, depth first, each once."""
        if memo is None:
            memo = set()
        if remove_duplicate:
            if id(self) in memo:
                return
            memo.add(id(self))
        yield prefix, self
        for name, module in self._modules.items():
            if module is None:
                continue
            sub = prefix + ("." if prefix else "") + name
            yield from module.named_modules(memo, sub, remove_duplicate)

    def modules(self) -> Iterator["Module"]:
        for _, m in self.named_modules():
            yield m

    def named_children(self) -> Iterator[tuple[str, "Module"]]:
        seen = set()
        for name, m in self._modules.items():
            if m is not None and id(m) not in seen:
                seen.add(id(m))
                yield name, m

    def children(self) -> Iterator["Module"]:
        for _, m in self.named_children():
            yield m

    def _named_members(self, get, prefix: str, recurse: bool, remove_duplicate: bool = True):
        seen = set()
        mods = self.named_modules(prefix=prefix, remove_duplicate=remove_duplicate) if recurse else [(prefix, self)]
        for mod_prefix, mod in mods:
            for name, v in get(mod).items():
                if v is None or id(v) in seen:
                    continue
                if remove_duplicate:
                    seen.add(id(v))
                yield mod_prefix + ("." if mod_prefix else "") + name, v

    def named_parameters(self, prefix: str = "", recurse: bool = True,
                         remove_duplicate: bool = True) -> Iterator[tuple[str, Parameter]]:
        """(dotted name, parameter) in PyTorch's order; a tied parameter once, under its first name.

        Each parameter's ``_name`` is refreshed to the name given here.
        """
        for name, p in self._named_members(lambda m: m._parameters, prefix, recurse, remove_duplicate):
            p._name = name
            yield name, p

    def parameters(self, recurse: bool = True) -> Iterator[Parameter]:
        for _, p in self.named_parameters(recurse=recurse):
            yield p

    def named_buffers(self, prefix: str = "", recurse: bool = True,
                      remove_duplicate: bool = True) -> Iterator[tuple[str, Tensor]]:
        yield from self._named_members(lambda m: m._buffers, prefix, recurse, remove_duplicate)

    def buffers(self, recurse: bool = True) -> Iterator[Tensor]:
        for _, b in self.named_buffers(recurse=recurse):
            yield b

    def get_submodule(self, target: str) -> "Module":
        """The sub-module at dotted path ``target`` (``""`` is this module)."""
        mod = self
        for part in target.split(".") if target else []:
            child = mod._modules.get(part)
            if child is None:
                raise AttributeError(f"{type(mod).__name__} has no submodule {part!r} (path {target!r})")
            mod = child
        return mod

    def get_parameter(self, target: str) -> Parameter:
        path, _, name = target.rpartition(".")
        mod = self.get_submodule(path)
        if name not in mod._parameters or mod._parameters[name] is None:
            raise AttributeError(f"{type(mod).__name__} has no parameter {name!r} (path {target!r})")
        return mod._parameters[name]

    def apply(self, fn: Callable[["Module"], None]) -> "Module":
        """Call ``fn`` on every sub-module (children first) and then on this module."""
        for m in self.children():
            m.apply(fn)
        fn(self)
        return self

    # ----------------------------------------------------------------- modes and gradients
    def train(self, mode: bool = True) -> "Module":
        if not isinstance(mode, bool):
            raise TypeError(f"train: mode is expected to be a bool, got {type(mode).__name__}")
        for m in self.modules():
            object.__setattr__(m, "training", mode)
        return self

    def eval(self) -> "Module":
        return self.train(False)

    def requires_grad_(self, requires_grad: bool = True) -> "Module":
        for p in self.parameters():
            p.requires_grad_(requires_grad)
        return self

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Reset every parameter's gradient: to ``None`` (default), or to zeros in place."""
        for p in self.parameters():
            if p.grad is None:
                continue
            if set_to_none:
                p.grad = None
            else:
                p.grad._data[...] = 0
                p.grad._version.value += 1

    # ----------------------------------------------------------------- devices and dtypes
    def to(self, *args, **kwargs) -> "Module":
        """Move and/or cast in place: ``to(device)``, ``to(dtype)``, ``to(device, dtype)``, ``to(tensor)``.

        Only floating-point parameters and buffers change dtype. The ``Parameter`` objects stay the
        same (their arrays are replaced), so optimizers keep working; their gradients move with them.
        """
        dev, dtype = kwargs.pop("device", None), kwargs.pop("dtype", None)
        kwargs.pop("non_blocking", None)
        if kwargs:
            raise TypeError(f"to(): unexpected keyword arguments {sorted(kwargs)}")
        for a in args:
            if isinstance(a, Tensor):
                dev, dtype = a.device, a.dtype
            elif isinstance(a, str):
                dev = a
            elif a is not None:
                dtype = a
        if dtype is not None:
            dtype = dtypes.as_dtype(dtype)
            if dtype.kind != "f":
                raise TypeError(f"Module.to only accepts floating point dtypes, but got desired dtype={dtype}")
        if dev is not None:
            dev = canonical_device(dev)
            _xp(dev)      # a clear error now if the device cannot be used
        return self._apply_arrays(dev, dtype)

    def _apply_arrays(self, dev, dtype) -> "Module":
        def convert(arr):
            if dtype is not None and arr.dtype.kind == "f" and arr.dtype != dtype:
                arr = arr.astype(dtype)
            return move(arr, dev) if dev is not None else arr

        for m in self.modules():
            for p in m._parameters.values():
                if p is not None:
                    _replace_array(p, convert(p._data))
                    if p.grad is not None:
                        _replace_array(p.grad, convert(p.grad._data))
            for name, b in m._buffers.items():
                if b is not None:
                    arr = convert(b._data)
                    if arr is not b._data:
                        m._buffers[name] = Tensor._make(arr, device_of(arr), False, None, 0)
        return self

    def float(self) -> "Module":
        return self.to(dtypes.float32)

    def double(self) -> "Module":
        return self.to(dtypes.float64)

    def half(self) -> "Module":
        return self.to(dtypes.float16)

    def cpu(self) -> "Module":
        return self.to("cpu")

    def cuda(self, device=None) -> "Module":
        return self.to("cuda" if device is None else device)

    # ----------------------------------------------------------------- state dict
    def state_dict(self, destination=None, prefix: str = "", keep_vars: bool = False) -> OrderedDict:
        """Parameters then persistent buffers of each module, depth first, as detached tensors.

        The order and the keys are PyTorch's (tied parameters appear under every name). Values share
        storage with the module: copy them (``{k: v.clone() ...}``) to keep a snapshot.
        """
        out = OrderedDict() if destination is None else destination
        for name, p in self._parameters.items():
            if p is not None:
                out[prefix + name] = p if keep_vars else p.detach()
        for name, b in self._buffers.items():
            if b is not None and name not in self._non_persistent_buffers_set:
                out[prefix + name] = b if keep_vars else b.detach()
        for name, m in self._modules.items():
            if m is not None:
                m.state_dict(out, prefix + name + ".", keep_vars)
        return out

    def load_state_dict(self, state_dict, strict: bool = True, assign: bool = False):
        """Copy values into the parameters and buffers: ``(missing_keys, unexpected_keys)``.

        Accepts our tensors, NumPy arrays and anything with ``__array__`` (such as PyTorch tensors).
        Values are cast to each parameter's dtype and moved to its device. Everything is checked
        before anything is copied: a missing or unexpected key (with ``strict=True``) or a shape
        mismatch raises ``StateDictError``; a value that is not a bool/integer/float array (strings,
        objects, dates, complex numbers, other types) raises ``StateDictValueError`` (a ``TypeError``,
        and a ``RuntimeError`` as in PyTorch) naming its key. Either way the module is unchanged.
        """
        if assign:
            raise NotImplementedError("load_state_dict(assign=True) is not supported; values are copied")
        if not isinstance(state_dict, collections.abc.Mapping):
            raise TypeError(f"load_state_dict: expected a dict-like state_dict, got {type(state_dict).__name__}")
        for name, m in self.named_modules():       # lazy modules take their shapes from the state_dict first
            materialize = getattr(m, "_materialize_from_state", None)
            if materialize is not None:
                materialize(state_dict, name + "." if name else "")
        targets = self.state_dict(keep_vars=True)
        missing = [k for k in targets if k not in state_dict]
        unexpected = [k for k in state_dict if k not in targets]
        errors = []
        if strict:
            if unexpected:
                errors.append("Unexpected key(s) in state_dict: " + ", ".join(f'"{k}"' for k in unexpected) + ".")
            if missing:
                errors.append("Missing key(s) in state_dict: " + ", ".join(f'"{k}"' for k in missing) + ".")
        staged = []
        for key, target in targets.items():
            if key not in state_dict:
                continue
            arr = _as_array(state_dict[key], key)
            if tuple(arr.shape) != tuple(target.shape):
                errors.append(f"size mismatch for {key}: copying a param with shape {tuple(arr.shape)} from "
                              f"checkpoint, the shape in current model is {tuple(target.shape)}.")
                continue
            staged.append((target, arr))
        if errors:
            raise StateDictError(f"Error(s) in loading state_dict for {type(self).__name__}:\n\t" + "\n\t".join(errors))
        converted = [(t, move(a, t._device).astype(t.dtype, copy=False)) for t, a in staged]
        with grad_mode.no_grad():
            for target, arr in converted:
                target.copy_(Tensor._make(arr, target._device, False, None, 0))
        return _IncompatibleKeys(missing, unexpected)

    # ----------------------------------------------------------------- repr
    def extra_repr(self) -> str:
        """The layer's arguments shown inside its ``repr`` (override in subclasses)."""
        return ""

    def _get_name(self) -> str:
        return type(self).__name__

    def __repr__(self) -> str:
        extra = self.extra_repr()
        lines = extra.split("\n") if extra else []
        children = [f"({k}): " + _addindent(repr(m), 2) for k, m in self._modules.items()]
        body = lines + children
        s = self._get_name() + "("
        if body:
            if len(lines) == 1 and not children:
                s += lines[0]
            else:
                s += "\n  " + "\n  ".join(body) + "\n"
        return s + ")"


class RemovableHandle:
    """What ``register_*_hook`` returns: ``handle.remove()`` unregisters the hook (also as a context manager)."""

    _next_id = 0

    def __init__(self, table: dict, extra: tuple = ()) -> None:
        self.id = RemovableHandle._next_id
        RemovableHandle._next_id += 1
        self._table, self._extra = table, extra

    def remove(self) -> None:
        self._table.pop(self.id, None)
        for d in self._extra:
            d.discard(self.id)

    def __enter__(self) -> "RemovableHandle":
        return self

    def __exit__(self, *exc) -> None:
        self.remove()


class _Hooks:
    """A module's hooks: ordered id -> hook tables, and which ids take kwargs / are always called."""

    def __init__(self) -> None:
        self.forward_pre, self.forward = OrderedDict(), OrderedDict()
        self.backward_pre, self.backward = OrderedDict(), OrderedDict()
        self.with_kwargs, self.always_call = set(), set()

    def add(self, kind: str, hook, prepend: bool, with_kwargs: bool = False,
            always_call: bool = False) -> RemovableHandle:
        if not callable(hook):
            raise TypeError(f"register_{kind}_hook: hook must be callable, got {type(hook).__name__}")
        table = getattr(self, kind)
        handle = RemovableHandle(table, (self.with_kwargs, self.always_call))
        table[handle.id] = hook
        if prepend:
            table.move_to_end(handle.id, last=False)
        if with_kwargs:
            self.with_kwargs.add(handle.id)
        if always_call:
            self.always_call.add(handle.id)
        return handle


def _call_with_hooks(module: Module, args: tuple, kwargs: dict):
    """``Module.__call__`` when hooks are registered, in PyTorch's order: forward pre-hooks, the input
    side of the backward hooks, forward, forward hooks, the output side of the backward hooks."""
    hooks = module._hooks
    for hid, hook in list(hooks.forward_pre.items()):
        if hid in hooks.with_kwargs:
            result = hook(module, args, kwargs)
            if result is not None:
                if not (isinstance(result, tuple) and len(result) == 2):
                    raise RuntimeError("forward pre-hook must return None or a tuple of (new_args, new_kwargs), "
                                       f"but got {result}.")
                args, kwargs = result
        else:
            result = hook(module, args)
            if result is not None:
                args = result if isinstance(result, tuple) else (result,)
    backward = _BackwardHooks(module, hooks) if (hooks.backward or hooks.backward_pre) else None
    if backward is not None:
        args = backward.wrap_inputs(args)
    try:
        output = module.forward(*args, **kwargs)
    except Exception:
        for hid, hook in list(hooks.forward.items()):
            if hid in hooks.always_call:
                try:
                    hook(module, args, kwargs, None) if hid in hooks.with_kwargs else hook(module, args, None)
                except Exception:    # the forward's exception is the one to report
                    pass
        raise
    for hid, hook in list(hooks.forward.items()):
        result = hook(module, args, kwargs, output) if hid in hooks.with_kwargs else hook(module, args, output)
        if result is not None:
            output = result
    if backward is not None:
        output = backward.wrap_outputs(output)
    return output


class _BackwardHooks:
    """One forward's link between the gradients w.r.t. the outputs and those w.r.t. the inputs.

    The tensor inputs pass through one identity node and the tensor outputs through another
    (``ops.BackwardHookFunction``). Tensor hooks on the wrapped outputs record which outputs got a
    gradient (the others are ``None`` in ``grad_output``, as PyTorch); the output node runs the
    pre-hooks; the input node calls the module's hooks with ``grad_input`` and ``grad_output`` and
    passes on what they return.
    """

    def __init__(self, module: Module, hooks: _Hooks) -> None:
        self.module, self.hooks = module, hooks
        self.n_inputs = 0
        self.input_index = None       # positions of the tensor inputs, None when no input requires grad
        self.grad_outputs = None

    @staticmethod
    def _tensors(items) -> list:
        return [i for i, a in enumerate(items) if isinstance(a, Tensor)]

    def _wrap(self, items, index: list, on_backward, watch=None) -> list:
        out = BackwardHookFunction.apply(*[items[i] for i in index], on_backward=on_backward)
        out = list(out) if isinstance(out, tuple) else [out]
        items = list(items)
        for k, (i, t) in enumerate(zip(index, out)):
            if watch is not None:
                t.register_hook(functools.partial(watch, k))
            items[i] = t
        return items

    def wrap_inputs(self, args: tuple) -> tuple:
        self.n_inputs = len(args)
        index = self._tensors(args)
        if not (grad_mode.is_grad_enabled() and any(args[i].requires_grad for i in index)):
            return args
        self.input_index = index
        self.input_requires_grad = [args[i].requires_grad for i in index]
        self.seen_inputs = {}
        return tuple(self._wrap(args, index, self._on_inputs, self._watch_input))

    def wrap_outputs(self, output):
        single = not isinstance(output, tuple)
        items = (output,) if single else output
        index = self._tensors(items)
        if not (grad_mode.is_grad_enabled() and any(items[i].requires_grad for i in index)):
            if not isinstance(output, (Tensor, tuple)):
                warnings.warn("For backward hooks to be called, module output should be a Tensor or a tuple of "
                              f"Tensors but received {type(output)}", stacklevel=3)
            return output
        self.n_outputs, self.output_index, self.seen_outputs = len(items), index, {}
        items = self._wrap(items, index, self._on_outputs, self._watch_output)
        return items[0] if single else tuple(items)

    def _watch_output(self, k: int, grad: Tensor) -> None:
        self.seen_outputs[k] = grad

    def _watch_input(self, k: int, grad: Tensor) -> None:
        self.seen_inputs[k] = grad

    def _on_outputs(self, grads: tuple) -> tuple:
        grad_outputs = [None] * self.n_outputs
        for k, i in enumerate(self.output_index):
            grad_outputs[i] = self.seen_outputs.get(k)
        grad_outputs = tuple(grad_outputs)
        for hook in list(self.hooks.backward_pre.values()):
            result = hook(self.module, grad_outputs)
            if result is not None:
                result = tuple(result) if isinstance(result, (tuple, list)) else (result,)
                if len(result) != len(grad_outputs):
                    raise RuntimeError("Backward pre hook returned an invalid number of grad_output, got "
                                       f"{len(result)}, but expected {len(grad_outputs)}")
                grad_outputs = result
        self.grad_outputs = grad_outputs
        if self.input_index is None and self.hooks.backward:
            warnings.warn("Full backward hook is firing when gradients are computed with respect to module "
                          "outputs since no inputs require gradients. See https://docs.pytorch.org/docs/main/"
                          "generated/torch.nn.Module.html#torch.nn.Module.register_full_backward_hook for more "
                          "details.", stacklevel=2)
            grad_inputs = (None,) * self.n_inputs
            for hook in list(self.hooks.backward.values()):
                result = hook(self.module, grad_inputs, grad_outputs)
                if result is not None and not (isinstance(result, tuple) and all(r is None for r in result)):
                    raise RuntimeError("Backward hook for Modules where no input requires gradient should always "
                                       "return None or None for all gradients.")
            self.grad_outputs = None
        return tuple(_grad_array(grad_outputs[i], g) for i, g in zip(self.output_index, grads))

    def _on_inputs(self, grads: tuple) -> tuple:
        if self.grad_outputs is None:          # the output side was never reached: nothing to report
            return grads
        grad_inputs = [None] * self.n_inputs
        for k, i in enumerate(self.input_index):
            g = self.seen_inputs.get(k)
            if not self.input_requires_grad[k]:     # PyTorch reports zeros for a tensor input without grad
                g = Tensor._make(grads[k] * 0, device_of(grads[k]), False, None, 0)
            grad_inputs[i] = g
        grad_inputs = tuple(grad_inputs)
        for hook in list(self.hooks.backward.values()):
            result = hook(self.module, grad_inputs, self.grad_outputs)
            if result is None:
                continue
            result = tuple(result) if isinstance(result, (tuple, list)) else (result,)
            if len(result) != len(grad_inputs):
                raise RuntimeError("Backward hook returned an invalid number of grad_input, got "
                                   f"{len(result)}, but expected {len(grad_inputs)}")
            grad_inputs = result
        self.grad_outputs = None
        return tuple(_grad_array(grad_inputs[i], g) for i, g in zip(self.input_index, grads))


def _grad_array(value, default):
    """A hook's gradient (a Tensor or None) as the array backward passes on."""
    if value is None:
        return None
    if not isinstance(value, Tensor):
        raise TypeError(f"backward hook: expected gradients as Tensors or None, got {type(value).__name__}")
    if tuple(value.shape) != tuple(default.shape):
        raise ValueError(f"backward hook: a returned gradient has shape {tuple(value.shape)}, expected "
                         f"{tuple(default.shape)}")
    return value._data.astype(default.dtype, copy=False)


def _replace_array(t: Tensor, arr) -> None:
    """Put ``arr`` inside ``t`` (same object), as a fresh version: caches keyed on the version see it."""
    if arr is t._data:
        return
    dev = device_of(arr)
    t._xp = _xp(dev)
    t._data = arr
    t._device = _DEVICES[dev]
    counter = VersionCounter()
    counter.value = t._version.value + 1      # a new counter: graphs that saved the old array stay valid
    t._version = counter
