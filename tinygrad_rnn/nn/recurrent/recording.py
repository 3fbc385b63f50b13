"""Per-step state gradients of recurrent layers, recorded on either path.

Inside ``with record_state_grads() as rec:`` every recurrent layer that runs with gradients enabled
adds one :class:`LayerStateGrads` per stacked layer to ``rec.layers``. The gradients arrive when
backward runs (inside the block or after it): on the unrolled path a hook on every state tensor a
cell returned catches its gradient; the fused node computes them in its hand-written BPTT. Public as
``tr.analysis.record_state_grads``.
"""

from __future__ import annotations

import threading
from contextlib import contextmanager

import numpy as np

from ...backend import to_numpy

_local = threading.local()


class LayerStateGrads:
    """The per-step state gradients of one stacked layer (both directions).

    Attributes:
        layer: the layer index ``k``. kind: the registry name, or the cell's class name.
        states: the names of the state elements (``("h", "c")`` for the LSTM).
        path: ``"fused"`` or ``"unrolled"``.
        T, D, B: steps, directions, batch.

    ``grads(name)`` is ``(T, D, B, H_k)`` float64 in time order (``[t, 1]`` is the reverse direction at
    time ``t``): the total gradient of the loss w.r.t. the state the cell returned at step ``t``
    (from the outputs, from the next step, from ``h_n``), zero at padded steps and where nothing
    reached it.
    """

    def __init__(self, layer: int, kind: str, states: tuple, path: str, T: int, D: int, B: int) -> None:
        self.layer, self.kind, self.states, self.path = layer, kind, tuple(states), path
        self.T, self.D, self.B = T, D, B
        self._full = {}           # name -> (T, D, B, H) array (fused)
        self._steps = {}          # (name, d, t) -> (B, H) array (unrolled)
        self._sizes = {}

    def _put_step(self, name: str, d: int, t: int, g) -> None:
        key = (name, d, t)
        a = to_numpy(g).astype(np.float64)
        self._steps[key] = a if key not in self._steps else self._steps[key] + a

    def grads(self, name: str) -> np.ndarray:
        if name not in self.states:
            raise ValueError(f"name: expected one of the state names {self.states}, got {name!r}")
        if name in self._full:
            return to_numpy(self._full[name]).astype(np.float64)
        out = np.zeros((self.T, self.D, self.B, self._sizes.get(name, 0)))
        for (n, d, t), g in self._steps.items():
            if n == name:
                out[t, d] = g
        return out


class StateGradRecord:
    """What :func:`record_state_grads` collected: ``layers``, one :class:`LayerStateGrads` per layer run."""

    def __init__(self) -> None:
        self.layers: list[LayerStateGrads] = []

    def __len__(self) -> int:
        return len(self.layers)


def active() -> StateGradRecord | None:
    """The innermost record in force on this thread, or ``None``."""
    stack = getattr(_local, "stack", None)
    return stack[-1] if stack else None


@contextmanager
def record_state_grads():
    """Record the per-step state gradients of every recurrent layer whose forward runs in the block.

    Example::

        with tr.analysis.record_state_grads() as rec:
            out, (h_n, c_n) = lstm(x)
        out.sum().backward()
        rec.layers[0].grads("c")          # (T, D, B, H): dL/dc_t per step
    """
    rec = StateGradRecord()
    stack = getattr(_local, "stack", None)
    if stack is None:
        stack = _local.stack = []
    stack.append(rec)
    try:
        yield rec
    finally:
        stack.pop()


def watch_step(entry: LayerStateGrads, d: int, t: int, state: tuple) -> None:
    """Hook the state tensors a cell returned at step ``t`` of direction ``d`` (unrolled path)."""
    for name, s in zip(entry.states, state):
        entry._sizes[name] = s.shape[-1]
        if s.requires_grad:
            s.register_hook(lambda g, name=name: entry._put_step(name, d, t, g._data))
