"""Function modes: intercept calls to the public functions, as PyTorch's ``torch.overrides`` does.

A *mode* is a context manager; while it is active in a thread, every call of a function decorated with
:func:`dispatchable` (``tr.cat``, ``tr.zeros``, ``F.linear`` ... see ``DISPATCHABLE`` below) goes to the
mode's ``__torch_function__(func, types, args, kwargs)`` instead of running. The mode may return anything,
or call ``func(*args, **kwargs)`` for the normal answer: while its ``__torch_function__`` runs the mode is
popped from the stack, so that call does not come back to it (it goes to the next mode down, or runs)::

    class Log(tr.overrides.TorchFunctionMode):
        def __torch_function__(self, func, types, args=(), kwargs=None):
            print(func.__name__)
            return func(*args, **(kwargs or {}))

    with Log():
        tr.cat([a, b])           # prints "cat"

The stack of modes is per thread: a mode entered in one thread is not seen by another. Modes nest: the
innermost sees a call first. With no mode active in any thread a decorated function costs a call and one
global test more than the undecorated one (with a mode active in another thread, one thread-local test).

The ONNX exporter (``tr.onnx.export``) traces a model through such a mode.
"""

from __future__ import annotations

import functools
import threading
from typing import Any, Callable, TypeVar

__all__ = ["TorchFunctionMode", "BaseTorchFunctionMode", "dispatchable"]

F = TypeVar("F", bound=Callable[..., Any])


class _ModeStack(threading.local):
    stack: tuple = ()            # the class default: each thread starts with no mode


_STATE = _ModeStack()
_ACTIVE = 0                     # modes active now, in all threads: with none, a call tests only this global
_ACTIVE_LOCK = threading.Lock()


class TorchFunctionMode:
    """Base class of function modes (``torch.overrides.TorchFunctionMode``).

    Subclasses define ``__torch_function__(self, func, types, args=(), kwargs=None)``; ``with mode:``
    pushes the mode on this thread's stack and pops it on exit (also on an exception).
    ``func`` is the public function called (``tr.cat`` itself), ``types`` the distinct ``Tensor`` types among
    the arguments (one level into lists and tuples), ``args`` and ``kwargs`` the call's arguments.
    """

    def __torch_function__(self, func: Callable, types: tuple, args: tuple = (), kwargs: dict | None = None):
        raise NotImplementedError(f"{type(self).__name__}: a TorchFunctionMode subclass must define "
                                  "__torch_function__(self, func, types, args=(), kwargs=None)")

    def __enter__(self) -> TorchFunctionMode:
        global _ACTIVE
        with _ACTIVE_LOCK:
            _ACTIVE += 1
        _STATE.stack = _STATE.stack + (self,)
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        stack = _STATE.stack
        if not stack or stack[-1] is not self:
            raise RuntimeError(f"{type(self).__name__}.__exit__: the mode is not the innermost active mode of "
                               f"this thread (active: {[type(m).__name__ for m in stack]}); modes must be "
                               "exited in the reverse order of entering, in the thread that entered them")
        _STATE.stack = stack[:-1]
        global _ACTIVE
        with _ACTIVE_LOCK:
            _ACTIVE -= 1


class BaseTorchFunctionMode(TorchFunctionMode):
    """A mode whose ``__torch_function__`` runs the function (``torch.overrides.BaseTorchFunctionMode``):
    a base for modes that override a few functions and pass the rest on with ``super()``."""

    def __torch_function__(self, func: Callable, types: tuple, args: tuple = (), kwargs: dict | None = None):
        return func(*args, **(kwargs or {}))


def _get_current_function_mode_stack() -> list:
    """This thread's active modes, outermost first (``torch.overrides._get_current_function_mode_stack``)."""
    return list(_STATE.stack)


def _types(args: tuple, kwargs: dict) -> tuple:
    from .tensor.core import Tensor         # the same layer; read at call time (core imports this module's users)
    found: list = []

    def add(v) -> None:
        if isinstance(v, Tensor) and type(v) not in found:
            found.append(type(v))

    for v in (*args, *kwargs.values()):
        if isinstance(v, (list, tuple)):
            for item in v:
                add(item)
        else:
            add(v)
    return tuple(found)


def _dispatch(func: Callable, args: tuple, kwargs: dict):
    stack = _STATE.stack
    mode = stack[-1]
    _STATE.stack = stack[:-1]               # popped while it runs: func(...) inside goes to the next mode down
    try:
        return mode.__torch_function__(func, _types(args, kwargs), args, kwargs)
    finally:
        _STATE.stack = _STATE.stack + (mode,)


def dispatchable(fn: F) -> F:
    """Make ``fn`` visible to function modes: with a mode active in this thread, a call goes to the
    innermost mode's ``__torch_function__`` (with ``func`` the decorated function); otherwise ``fn`` runs."""
    @functools.wraps(fn)
    def public(*args, **kwargs):
        if _ACTIVE and _STATE.stack:
            return _dispatch(public, args, kwargs)
        return fn(*args, **kwargs)
    DISPATCHABLE.append(public)
    return public          # type: ignore[return-value]


DISPATCHABLE: list = []     # every decorated function, in the order they were defined
