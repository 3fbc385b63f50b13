"""Whether new ops record a graph: ``no_grad()`` / ``enable_grad()`` / ``set_grad_enabled(flag)``."""

from __future__ import annotations

import functools


class _State:
    enabled = True


_state = _State()


def is_grad_enabled() -> bool:
    return _state.enabled


class set_grad_enabled:
    """Context manager (and decorator) that switches graph recording on or off."""

    def __init__(self, mode: bool) -> None:
        self.mode = bool(mode)
        self.prev = _state.enabled
        _state.enabled = self.mode   # like torch, it takes effect when called, not only as a context

    def __enter__(self) -> None:
        pass

    def __exit__(self, *exc) -> None:
        _state.enabled = self.prev


class no_grad:
    """Ops inside the block record no graph; their results do not require grad."""

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
    """Ops inside the block record a graph again (inside ``no_grad``)."""

    def __enter__(self) -> None:
        self.prev = _state.enabled
        _state.enabled = True
