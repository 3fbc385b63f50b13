"""``inference_mode``: PyTorch's faster ``no_grad`` for evaluation, here built on ``set_grad_enabled``.

Inside ``with tr.inference_mode():`` (or in a function decorated with ``@tr.inference_mode()``) ops
record no graph and their results do not require grad, exactly as under ``no_grad``. PyTorch also marks
such results as "inference tensors" that may never enter a graph later; this project does not track
that (they are ordinary tensors without history), which only matters to code that relies on the error.
"""

from __future__ import annotations

import functools
import threading

from .grad_mode import is_grad_enabled, set_grad_enabled

__all__ = ["inference_mode", "is_inference_mode_enabled"]

_local = threading.local()       # per thread, like grad mode


def is_inference_mode_enabled() -> bool:
    return getattr(_local, "depth", 0) > 0


class inference_mode:
    """Context manager and decorator: grad recording off inside (``mode=False``: leave grad mode as it is).

    Example::

        with tr.inference_mode():
            logits = model(x)          # logits.requires_grad is False

        @tr.inference_mode()
        def predict(x): ...
    """

    def __new__(cls, mode=True):
        if callable(mode) and not isinstance(mode, bool):      # bare @tr.inference_mode on a function
            return cls()(mode)
        return super().__new__(cls)

    def __init__(self, mode: bool = True) -> None:
        if not isinstance(mode, bool):
            raise TypeError(f"inference_mode: mode must be a bool, got {type(mode).__name__}")
        self.mode = mode

    def __enter__(self) -> None:
        self._prev = is_grad_enabled()
        if self.mode:
            set_grad_enabled(False)
            _local.depth = getattr(_local, "depth", 0) + 1

    def __exit__(self, *exc) -> None:
        if self.mode:
            _local.depth -= 1
        set_grad_enabled(self._prev)

    def __call__(self, fn):
        if not callable(fn):
            raise TypeError(f"inference_mode: can only decorate a callable, got {type(fn).__name__}")
        mode = self.mode

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with inference_mode(mode):
                return fn(*args, **kwargs)
        return wrapper

    def clone(self) -> "inference_mode":
        return inference_mode(self.mode)
