"""Whether new ops record a graph: ``no_grad()`` / ``enable_grad()`` / ``set_grad_enabled(flag)``.

Grad mode is per thread (as in PyTorch): a block in one thread never changes what another records, and
a new thread starts with grad mode on. ``Function.apply`` reads ``_state.enabled`` on every op: a
``threading.local`` subclass whose class attribute is the default, so the read stays one attribute
look-up (about 15 ns more than a plain object's).
"""

from __future__ import annotations

import functools
import threading


class _State(threading.local):
    enabled = True      # the default every thread starts with (a class attribute: no per-thread __init__)


_state = _State()


def is_grad_enabled() -> bool:
    """Whether ops in this thread record a graph now."""
    return _state.enabled


class set_grad_enabled:
    """Context manager (and decorator) that switches graph recording on or off in this thread."""

    def __init__(self, mode: bool) -> None:
        self.mode = bool(mode)
        self.prev = _state.enabled
        _state.enabled = self.mode   # like torch, it takes effect when called, not only as a context

    def __enter__(self) -> None:
        pass

    def __exit__(self, *exc) -> None:
        _state.enabled = self.prev


class no_grad:
    """Ops inside the block record no graph in this thread; their results do not require grad."""

    def __enter__(self) -> None:
        self.prev = _state.enabled
        _state.enabled = False

    def __exit__(self, *exc) -> None:
        _state.enabled = self.prev

    def __call__(self, fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with self.__class__():
                return fn(*args, **kwargs)
        return wrapper


class enable_grad(no_grad):
    """Ops inside the block record a graph again (inside ``no_grad``), in this thread."""

    def __enter__(self) -> None:
        self.prev = _state.enabled
        _state.enabled = True
