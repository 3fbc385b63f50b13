"""One description per built-in cell kind, in one registry.

A :class:`CellKind` says everything the rest of the package needs to know about a kind of cell: its
gates (names, in the order their rows are stacked in ``weight_ih``/``weight_hh``) and which of them go
through σ, its state elements and their names (``h``, ``c``), the cell module and the equation
function, the fused kernel that runs a whole layer, and the labels pictures use. Layers, the fused
and CUDA loops, viz, analysis, seq2seq, the experiments and the CLI read it; nothing guesses a kind
from names.

Each built-in kind lives in its own file of this package (``rnn.py``, ``lstm.py``, ``gru.py``), which
calls :func:`register`; every module here is imported when the package is, so adding a kind is one
new file.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from dataclasses import dataclass
from typing import Callable


@dataclass(frozen=True)
class CellKind:
    """The description of one cell kind.

    Attributes:
        name: the registry name (``"lstm"``), also the layers' ``mode``.
        cell: the cell module class (``tr.nn.LSTMCell``).
        cell_kwargs: the constructor arguments that select this kind (``{"nonlinearity": "relu"}``).
        gates: gate names in the order of their ``hidden_size`` row blocks in the weights.
        sigmoid_gates: the gates that go through σ (the fused kernel scales their rows by ½).
        states: names of the state elements, in the order the cell takes and returns them.
        scope: the ``scope(name=...)`` the layers give their nodes (``"lstm"``).
        title: how pictures and tables name the kind (``"LSTM"``).
        gate_labels: ``scope(gate=...)`` tag -> label of a gate box in pictures.
        cell_fn: the equations of one step (the function the cell module calls).
        recurrent_bias_gates: gates whose ``bias_hh`` rows stay inside the recurrence (GRU's ``n``:
            ``r * (W_hn h + b_hn)``) instead of being folded into the input projection.
        fused: the kind's part of the fused kernel of a whole layer (``None``: no fused path), an object
            with the per-step arithmetic of the NumPy loop (``buffers``, ``finals``, ``workspace``,
            ``forward_step``, ``bptt_prepare``, ``bptt_step``, ``bptt_carry``, ``bptt_finish``), the launches
            of the raw CUDA loop (``raw_forward``, ``raw_backward_prepare``, ``raw_backward``,
            ``raw_backward_finish``) and its kernels' C++ source ``CUDA_SOURCE`` (see ``fused.py``,
            ``cuda.py`` and ``lstm.py`` for an example).
        proj_cell: the cell class of the kind with a projected output ``h' = W_hr h`` (PyTorch's LSTM with
            ``proj_size``: ``LSTMPCell``, built with ``proj_size=P``), or ``None``. Its fused kernel must
            write ``h`` of a step without reading the previous ``h`` (the loop projects after the step).
        step_jacobian: the analytic step Jacobian ``∂s_t/∂s_{t−1}`` (``None``: analysis takes it through
            autograd on the cell), called as ``step_jacobian(w, prev, new, gates, xp=np)`` with
            ``w = (W_ih, W_hh, b_ih, b_hh)`` (biases ``None`` without; ``W_hr`` appended for ``proj_cell``),
            ``prev``/``new`` the state elements before and after the step (tuples of ``(N, H_k)``, in
            ``states`` order), ``gates`` name -> ``(N, H)`` activations; returns ``(N, S, S)`` with the
            state ``s`` the state elements concatenated (``S = Σ H_k``). It must cover ``proj_cell``
            too when the kind names one. ``tr.analysis.jacobian_spectrum`` uses it for the exact cell.
    """

    name: str
    cell: type
    cell_kwargs: dict
    gates: tuple
    sigmoid_gates: tuple
    states: tuple
    scope: str
    title: str
    gate_labels: dict
    cell_fn: Callable
    recurrent_bias_gates: tuple = ()
    fused: object = None
    proj_cell: type | None = None
    step_jacobian: Callable | None = None

    @property
    def num_gates(self) -> int:
        return len(self.gates)

    def gate_rows(self, gate: str, H: int) -> tuple[int, int]:
        """The row range ``(start, stop)`` of ``gate`` in the stacked weights."""
        k = self.gates.index(gate)
        return k * H, (k + 1) * H

    def sigmoid_rows(self, H: int) -> tuple:
        """Row ranges (of the G*H gate rows) that go through σ."""
        return tuple(self.gate_rows(g, H) for g in self.sigmoid_gates)

    def matches(self, cell: type, cell_kwargs: dict) -> bool:
        """Whether ``cell(…, **cell_kwargs)`` is this kind (the exact class: a subclass may change forward)."""
        projected = self.proj_cell is not None and cell is self.proj_cell
        if cell is not self.cell and not projected:
            return False
        params = inspect.signature(cell).parameters
        given = {k: v for k, v in cell_kwargs.items() if k not in ("dtype", "device") + (("proj_size",) * projected)}
        for k, v in self.cell_kwargs.items():
            if given.pop(k, params[k].default) != v:
                return False
        return not given


def diag_rows(v, M):
    """``diag(v) @ M`` for a batch: ``v`` ``(N, H)``, ``M`` ``(H, K)`` -> ``(N, H, K)`` (for step Jacobians)."""
    return v[:, :, None] * M[None]


REGISTRY: dict[str, CellKind] = {}


def register(kind: CellKind) -> CellKind:
    """Add ``kind`` to the registry (its name must be new)."""
    if not isinstance(kind, CellKind):
        raise TypeError(f"kind: expected a CellKind, got {type(kind).__name__}")
    if kind.name in REGISTRY:
        raise ValueError(f"kind: a cell kind named {kind.name!r} is already registered")
    REGISTRY[kind.name] = kind
    return kind


def get_kind(name: str) -> CellKind:
    """The registered kind called ``name`` (``"rnn_tanh"``, ``"rnn_relu"``, ``"lstm"``, ``"gru"``, ...)."""
    kind = REGISTRY.get(name)
    if kind is None:
        raise ValueError(f"kind: expected one of {tuple(REGISTRY)}, got {name!r}")
    return kind


def kind_of(cell: type, cell_kwargs: dict | None = None) -> CellKind | None:
    """The registered kind of cell class ``cell`` built with ``cell_kwargs``, or ``None`` (run unrolled)."""
    for kind in REGISTRY.values():
        if kind.matches(cell, cell_kwargs or {}):
            return kind
    return None


def by_scope(scope_name: str) -> CellKind | None:
    """The first registered kind whose layers tag their nodes ``scope(name=scope_name)``."""
    for kind in REGISTRY.values():
        if kind.scope == scope_name:
            return kind
    return None


for _info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
    importlib.import_module(f"{__name__}.{_info.name}")
