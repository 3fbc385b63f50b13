"""Gradient flow through time: ‖∂L/∂h_t‖ (and ‖∂L/∂c_t‖ for the LSTM) at every step, layer and direction.

``∂L/∂h_t`` here is the *total* gradient with respect to the state that step ``t`` outputs: what
reaches it from ``output[t]`` (and through it the layers above) plus what flows back from step
``t + 1`` (``t − 1`` for the reverse direction), plus ``∂L/∂h_n`` at the direction's last step. By
the chain rule (see :mod:`.spectrum`) the part that comes from far ahead is multiplied by one step
Jacobian per step, so a plot of these norms against ``t`` shows vanishing or exploding gradients
directly.

Two ways to measure it, one answer (a test holds them equal), both through
:func:`record_state_grads`:

- **unrolled** (``unroll=True``, and any cell that is not a registered kind): a hook on every state
  tensor a cell returned catches its gradient — the textbook construction;
- **fused** (default): the fused node's hand-written backward already computes these per-step
  gradients and hands them to the record (no extra work).

Neither touches any parameter's ``.grad``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from ..autograd import grad as autograd_grad, graph_nodes
from ..nn.recurrent.recording import record_state_grads
from ..tensor import Tensor
from ._layer import find_recurrent_layers, layer_info


@dataclass
class GradientFlow:
    """Norms of the per-step state gradients (float64 NumPy arrays).

    Attributes:
        h: ``(L, D, T)``: ``‖∂L/∂h_t‖`` (Frobenius norm over batch and hidden units) for layer ``l``,
            direction ``d`` (0 forward, 1 reverse), time step ``t`` (0-based), for the cell's first state
            element; zero at padded steps.
        c: the same for the LSTM cell state, else ``None``.
        loss: the loss value.
        path: ``"unrolled"`` or ``"fused"``.
        states: state name -> ``(L, D, T)`` norms, for every state element of the cell (``h`` first).
    """

    h: np.ndarray
    c: np.ndarray | None
    loss: float
    path: str
    states: dict = field(default_factory=dict)

    def first_step(self, layer: int = 0, direction: int = 0) -> float:
        """``‖∂L/∂h_1‖``: the gradient at the direction's first step (t = 0 forward, T−1 reverse)."""
        return float(self.h[layer, direction, 0 if direction == 0 else -1])

    def ratio(self, layer: int = 0, direction: int = 0) -> np.ndarray:
        """``(T,)``: each step's norm divided by the norm at the direction's last step (1 there)."""
        row = self.h[layer, direction]
        last = row[-1] if direction == 0 else row[0]
        with np.errstate(divide="ignore", invalid="ignore"):
            return row / last


def _run(model, x, loss_fn, hx, lengths, unroll: bool, model_kwargs: dict):
    if find_recurrent_layers(model) == [model]:
        output = model(x, hx, lengths=lengths, unroll=unroll)
    else:
        if hx is not None or lengths is not None:
            raise ValueError("hx, lengths: only accepted when a recurrent layer itself is analysed; pass a "
                             "model's extra inputs through model_kwargs")
        kwargs = dict(model_kwargs)
        if unroll:
            kwargs["unroll"] = True
        output = model(x, **kwargs)
    loss = loss_fn(output)
    if not isinstance(loss, Tensor) or loss.numel() != 1:
        raise ValueError(f"loss_fn: expected a scalar Tensor, got {type(loss).__name__}"
                         + (f" of shape {tuple(loss.shape)}" if isinstance(loss, Tensor) else ""))
    if not loss.requires_grad:
        raise RuntimeError("loss_fn: the loss does not require grad (were the parameters frozen, or was "
                           "grad mode off?)")
    return loss


def _graph(loss: Tensor):
    """Every node below ``loss`` (iterative walk) and the leaf tensors that require grad."""
    nodes = graph_nodes(loss)
    leaves = {id(e): e for node in nodes for e in node.edges if type(e) is not tuple and e.requires_grad}
    return nodes, list(leaves.values())


def grad_norms_through_time(model_or_layer, x, loss_fn: Callable, *, hx=None, lengths=None, unroll: bool = False,
                            model_kwargs: dict | None = None) -> GradientFlow:
    """Measure ``‖∂L/∂h_t‖`` (and ``‖∂L/∂c_t‖``) for every step, layer and direction.

    Args:
        model_or_layer: a ``tr.nn.RNN/LSTM/GRU``, or a module holding exactly one of them whose forward
            takes ``(x, **model_kwargs)`` (and ``unroll=True`` when ``unroll`` is asked for).
        x: the input sequence, as the layer or model takes it.
        loss_fn: maps what the layer or model returned (for a layer: ``(output, h_n)``, LSTM
            ``(output, (h_n, c_n))``) to a scalar loss tensor.
        hx, lengths: passed to the layer (layer only).
        unroll: measure on the unrolled per-step graph (``True``) or the fused kernel (``False``).
        model_kwargs: extra keyword arguments for a model's forward.

    Returns:
        A :class:`GradientFlow` with ``h`` (and ``c``) of shape ``(num_layers, num_directions, T)``.

    Example::

        lstm = tr.nn.LSTM(2, 32)
        x, y = tr.tasks.adding_problem(T=50, batch=64, seed=0)
        head = tr.nn.Linear(32, 1)
        flow = tr.analysis.grad_norms_through_time(
            lstm, x, lambda out: tr.nn.functional.mse_loss(head(out[0][-1]), y))
        flow.h[0, 0]                                  # (50,) norms, step 1 first
    """
    layers = find_recurrent_layers(model_or_layer)
    if len(layers) != 1:
        raise ValueError(f"model_or_layer: expected a recurrent layer or a module holding exactly one "
                         f"(tr.nn.Recurrent, RNN, LSTM or GRU), found {len(layers)}")
    info = layer_info(layers[0])
    L, D = info.num_layers, info.num_directions
    kwargs = model_kwargs or {}
    with record_state_grads() as rec:
        loss = _run(model_or_layer, x, loss_fn, hx, lengths, unroll, kwargs)
    entries = [e for e in rec.layers if e.layer < L]
    if not entries:
        raise RuntimeError("grad_norms_through_time: the forward recorded no recurrent states (was grad mode "
                           "off?)")
    _, leaves = _graph(loss)
    autograd_grad(loss, leaves, allow_unused=True)
    names, T = entries[0].states, entries[0].T
    states = {n: np.zeros((L, D, T)) for n in names}
    for e in entries:
        for n in names:
            g = e.grads(n)                                       # (T, D, B, H)
            states[n][e.layer] = np.linalg.norm(g.reshape(T, D, -1), axis=2).T
    return GradientFlow(states[names[0]], states.get("c") if names == ("h", "c") else None, float(loss.item()),
                        entries[0].path, states)
