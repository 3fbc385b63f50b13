"""Hidden-state traces: every state element and every tagged gate at every step, layer and direction.

The trace is recorded from the cells themselves: the layer runs its unrolled path (the cell module
called once per step, any cell) inside ``record_states()``, which hands over each state the cell
returned; the gate values are the outputs of the ops a cell computed inside
``tr.autograd.scope(gate=...)`` (the last op of each tagged block, read from the graph it recorded).
Nothing re-derives the equations, so the trace is the layer's own computation (a test holds it to the
layer's output and to a hand-written loop).

A layer ``k > 0`` reads the concatenated outputs of layer ``k − 1`` (both directions); the reverse
direction reads each sequence backward from its own last step; past a sequence's end the state is
frozen (as the layer does with ``lengths``) and the gates read zero.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..autograd import graph_nodes
from ..autograd.grad_mode import enable_grad
from ..backend import to_numpy
from ..nn.recurrent.layers import record_states
from ..tensor import Tensor, tensor
from ._layer import layer_info


@dataclass
class HiddenTrace:
    """What a recurrent layer computed at every step (float64 NumPy arrays, time order).

    Attributes:
        kind: the registry name (``"lstm"``, ...) or the cell's class name.
        h: ``(L, D, T, B, H)`` the first state element h_t for layer, direction, time step t (0-based), batch.
        c: ``(L, D, T, B, H)`` the LSTM cell state c_t (a state element named ``c``), else ``None``.
        gates: gate name -> ``(L, D, T, B, H)`` activations of the gates the cell tags (``i, f, g, o``
            for LSTM, ``r, z, n`` for GRU; for the vanilla RNN the single entry ``h`` is the state itself).
        lengths: ``(B,)`` sequence lengths (``T`` everywhere without padding).
        states: state name -> ``(L, D, T, B, H_k)`` for every state element (``h`` first).
    """

    kind: str
    h: np.ndarray
    c: np.ndarray | None
    gates: dict = field(default_factory=dict)
    lengths: np.ndarray | None = None
    states: dict = field(default_factory=dict)


def _as_numpy(x) -> np.ndarray:
    data = x._data if hasattr(x, "_data") else x
    return to_numpy(data).astype(np.float64)


def _as_tensor(a, like: Tensor) -> Tensor:
    if isinstance(a, Tensor):
        return a.detach()
    return tensor(np.asarray(to_numpy(a)), dtype=like.dtype, device=like.device)


def _saved_output(node):
    """The output array an op kept for its backward (σ, tanh, ReLU keep theirs), else None."""
    saved = node.saved
    if saved and len(saved) == 1 and any(c[2] == "output" and c[3] == 0 for c in node._checks):
        return saved[0]
    return None


def hidden_trace(layer, x, hx=None, *, lengths=None) -> HiddenTrace:
    """Run ``layer`` over ``x`` step by step and keep every state and every tagged gate.

    Args:
        layer: a ``tr.nn.Recurrent`` of any cell (``RNN``, ``LSTM``, ``GRU`` included), any number of
            layers, one or two directions.
        x: the input, ``(T, B, I)`` (``(B, T, I)`` when ``layer.batch_first``), a tensor or array.
        hx: initial state as the layer takes it (a tensor, or a tuple such as ``(h_0, c_0)``); zeros
            when ``None``.
        lengths: ``(B,)`` valid lengths of right-padded sequences, or ``None``.

    Returns:
        A :class:`HiddenTrace`; ``trace.h[-1, 0, t]`` is the top layer's forward state, equal to the
        layer's ``output[t, :, :H]``.

    Example::

        tr_ = tr.analysis.hidden_trace(lstm, x)
        plt.imshow(tr_.h[0, 0, :, 0].T)              # H × T heatmap of the first sequence
        tr_.gates["f"][0, 0, :, 0].mean(-1)           # mean forget gate over time
    """
    info = layer_info(layer)
    L, D = info.num_layers, info.num_directions
    like = next(layer.parameters())
    xs = _as_tensor(x, like)
    if xs.ndim != 3:
        raise ValueError(f"x: expected a 3-d input (T, B, I) or (B, T, I), got shape {tuple(xs.shape)}")
    T, B = (xs.shape[1], xs.shape[0]) if info.batch_first else (xs.shape[0], xs.shape[1])
    lens = np.full(B, T, dtype=np.int64) if lengths is None else _as_numpy(lengths).astype(np.int64).reshape(-1)
    if lens.shape != (B,) or lens.min() < 1 or lens.max() > T:
        raise ValueError(f"lengths: expected {B} lengths in 1..{T}, got {lens.tolist()}")
    if hx is not None:
        hx = tuple(_as_tensor(a, like) for a in hx) if isinstance(hx, (tuple, list)) else _as_tensor(hx, like)
    with enable_grad(), record_states() as log:
        out, h_n = layer(xs.requires_grad_(True), hx, lengths=None if lengths is None else lens, unroll=True)
    if not log:
        raise RuntimeError("hidden_trace: the layer recorded no states")
    names = log[0]["names"]
    states = {n: np.zeros((L, D, T, B, e.shape[-1])) for n, e in zip(names, log[0]["states"])}
    valid = np.arange(T)[:, None] < lens[None, :]                                   # (T, B)
    kept = {}
    for e in log:                                        # processing order: each step after its previous
        k, d, t = e["layer"], e["direction"], e["t"]
        for n, s in zip(names, e["states"]):
            new = _as_numpy(s)
            prev = kept.get((k, d, n))
            if prev is None:
                prev = np.zeros_like(new) if hx is None else _as_numpy(
                    (hx if isinstance(hx, tuple) else (hx,))[names.index(n)])[k * D + d].reshape(new.shape)
            cur = np.where(valid[t][:, None], new, prev)
            kept[(k, d, n)] = cur
            states[n][k, d, t] = cur

    # The gates: the last op of each tagged block of a step, read from the graph the cells recorded.
    gate_names = info.description.gates if info.description is not None else None
    roots = [out] + (list(h_n) if isinstance(h_n, tuple) else [h_n])
    last = {}
    for node in graph_nodes(*roots):
        sc = dict(node.scope)
        g, t = sc.get("gate"), sc.get("t")
        if g is None or t is None or g == "proj" or g in names:
            continue
        key = (sc.get("layer", 0), 0 if sc.get("direction", "forward") == "forward" else 1, t, g)
        if key not in last or node._seq > last[key]._seq:
            last[key] = node
    gates = {}
    if gate_names is None:
        gate_names = tuple(dict.fromkeys(k[3] for k in sorted(last, key=lambda k: last[k]._seq)))
    for g in gate_names:
        if g in names:
            gates[g] = states[g]
            continue
        arr = None
        for (k, d, t, gg), node in last.items():
            if gg != g:
                continue
            val = _saved_output(node)
            if val is None:
                continue
            val = _as_numpy(val).reshape(B, -1)
            if arr is None:
                arr = np.zeros((L, D, T, B, val.shape[-1]))
            arr[k, d, t] = np.where(valid[t][:, None], val, 0.0)
        if arr is not None:
            gates[g] = arr
    return HiddenTrace(info.kind, states[names[0]], states.get("c") if names == ("h", "c") else None, gates,
                       lens, states)
