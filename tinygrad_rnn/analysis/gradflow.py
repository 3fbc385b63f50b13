"""Gradient flow through time: ‖∂L/∂h_t‖ (and ‖∂L/∂c_t‖ for the LSTM) at every step, layer and direction.

``∂L/∂h_t`` here is the *total* gradient with respect to the state that step ``t`` outputs: what
reaches it from ``output[t]`` (and through it the layers above) plus what flows back from step
``t + 1`` (``t − 1`` for the reverse direction), plus ``∂L/∂h_n`` at the direction's last step. By
the chain rule (see :mod:`.spectrum`) the part that comes from far ahead is multiplied by one step
Jacobian per step, so a plot of these norms against ``t`` shows vanishing or exploding gradients
directly.

Two ways to measure it, one answer (a test holds them equal):

- **unrolled** (``unroll=True``): the layer builds the per-step graph; the states each step computed
  are recorded (``tr.nn.recurrent.layers.record_states``) and their gradients taken with
  ``tr.autograd.grad`` — the textbook construction;
- **fused** (default): the fused kernel's hand-written backward already computes these per-step
  gradients; setting the ``tap`` flag of each ``FusedRNN`` node's cache keeps them (no extra work).

Neither touches any parameter's ``.grad``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..autograd import grad as autograd_grad, graph_nodes
from ..backend import to_numpy
from ..nn.recurrent.fused import FusedRNN
from ..nn.recurrent.layers import record_states
from ..tensor import Tensor
from ._layer import find_recurrent_layers, layer_info


@dataclass
class GradientFlow:
    """Norms of the per-step state gradients (float64 NumPy arrays).

    Attributes:
        h: ``(L, D, T)``: ``‖∂L/∂h_t‖`` (Frobenius norm over batch and hidden units) for layer ``l``,
            direction ``d`` (0 forward, 1 reverse), time step ``t`` (0-based); zero at padded steps.
        c: the same for the LSTM cell state, else ``None``.
        loss: the loss value.
        path: ``"unrolled"`` or ``"fused"``.
    """

    h: np.ndarray
    c: np.ndarray | None
    loss: float
    path: str

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


def _norm(g) -> float:
    """Frobenius norm of a per-step gradient ``(B, H)`` (``None``: the state did not reach the loss)."""
    return 0.0 if g is None else float(np.linalg.norm(to_numpy(g._data).astype(np.float64).ravel()))


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
                         f"(RNN, LSTM or GRU), found {len(layers)}")
    info = layer_info(layers[0])
    L, D, is_lstm = info.num_layers, info.num_directions, info.kind == "lstm"
    kwargs = model_kwargs or {}

    if unroll:
        with record_states() as log:
            loss = _run(model_or_layer, x, loss_fn, hx, lengths, True, kwargs)
        if not log:
            raise RuntimeError("grad_norms_through_time: the unrolled forward recorded no states")
        T = 1 + max(e["t"] for e in log)
        tensors = [e["h"] for e in log] + ([e["c"] for e in log] if is_lstm else [])
        grads = autograd_grad(loss, tensors, allow_unused=True)
        h = np.zeros((L, D, T))
        c = np.zeros((L, D, T)) if is_lstm else None
        n = len(log)
        for j, e in enumerate(log):
            # the recorded states are the cell's outputs before the length mask: columns past their
            # sequence's end get zero gradient, as the fused tap reports them
            h[e["layer"], e["direction"], e["t"]] = _norm(grads[j])
            if is_lstm:
                c[e["layer"], e["direction"], e["t"]] = _norm(grads[n + j])
        return GradientFlow(h, c, float(loss.item()), "unrolled")

    loss = _run(model_or_layer, x, loss_fn, hx, lengths, False, kwargs)
    nodes, leaves = _graph(loss)
    fused = [nd for nd in nodes if isinstance(nd, FusedRNN)]
    if not fused:
        raise RuntimeError("grad_norms_through_time: found no fused recurrent node below the loss (was the "
                           "layer run with unroll=True, or under no_grad?)")
    caches = []
    for nd in fused:
        cache = nd.saved[-1]
        cache.tap = True
        caches.append((dict(nd.scope).get("layer", 0), cache))
    autograd_grad(loss, leaves, allow_unused=True)
    T = caches[0][1].T
    h = np.zeros((L, D, T))
    c = np.zeros((L, D, T)) if is_lstm else None
    for k, cache in caches:
        # cache.dh: (T, D, B, H) in time order -> norms over (B, H)
        h[k] = np.linalg.norm(to_numpy(cache.dh).astype(np.float64).reshape(T, D, -1), axis=2).T
        if is_lstm:
            c[k] = np.linalg.norm(to_numpy(cache.dc).astype(np.float64).reshape(T, D, -1), axis=2).T
        cache.tap, cache.dh, cache.dc = False, None, None
    return GradientFlow(h, c, float(loss.item()), "fused")

