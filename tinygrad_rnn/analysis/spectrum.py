"""Jacobian spectra: how much a recurrent step stretches or shrinks a perturbation of the state.

The gradient of a loss at step T with respect to the state at step t is, by the chain rule,

    ∂L/∂s_t = (∂s_T/∂s_t)ᵀ ∂L/∂s_T,     ∂s_T/∂s_t = J_T J_{T−1} ⋯ J_{t+1},    J_k = ∂s_k/∂s_{k−1},

so its norm is bounded by ∏ σ_max(J_k): it shrinks geometrically when the step Jacobians are
contractions and may grow geometrically when they expand. For the vanilla RNN h_t = tanh(W_hh h_{t−1}
+ ...), J_k = diag(1 − h_k²) W_hh, so σ_max(J_k) ≤ γ·σ_max(W_hh) with γ = 1 for tanh (and for ReLU):
gradients must vanish when σ_max(W_hh) < 1, and the spectral radius ρ(W_hh) > 1 is needed (not
sufficient) for them to explode (Pascanu, Mikolov & Bengio 2013).

The state s is every state element of the cell, concatenated: h for the vanilla RNN and the GRU and
the pair (h, c) for the LSTM (2H numbers), so for the LSTM the cell path ∂c_t/∂c_{t−1} = diag(f_t)
shows up directly. :func:`jacobian_spectrum` takes the step Jacobians of any cell through autograd:
at every step the cell module is called once on the state of a :func:`hidden_trace` and ``S``
vector–Jacobian products give ``J_t`` row by row. A registered kind may write them out in its
description (``CellKind.step_jacobian``; the built-in ones do, with their formulas, in
``nn/recurrent/kinds/{rnn,lstm,gru}.py``); for a layer whose cell is exactly that kind's cell they are
computed from the trace for all steps at once instead (``method="auto"``), and a test holds the two
paths equal. :func:`step_jacobians` calls a kind's written-out Jacobian directly.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..autograd import grad as autograd_grad
from ..autograd.grad_mode import enable_grad
from ..nn.recurrent.cells import RNNCell
from ..nn.recurrent.kinds import CellKind, get_kind
from ..tensor import cat, tensor
from ._layer import check_index, layer_info, weights
from .traces import _as_numpy, hidden_trace

METHODS = ("auto", "autograd", "analytic")


@dataclass
class JacobianSpectrum:
    """Singular values of the step Jacobians of one layer and direction (float64, time order).

    Attributes:
        kind: the cell kind.
        step: ``(T, B, S)`` singular values (descending) of ``J_t = ∂s_t/∂s_{t−1}`` (``S = H``, or ``2H``
            for the LSTM state ``(h, c)``, ``P + H`` with ``proj_size``); the identity (all ones) at padded steps.
        to_end: ``(T, B, S)`` singular values of ``∂s_last/∂s_t = J_last ⋯ J_{t+1}`` — the factor that
            carries the gradient at the direction's last step back to step ``t`` (ones at the last step).
        from_start: ``(T, B, S)`` singular values of the running product ``∂s_t/∂s_init = J_t ⋯ J_first``.
        spectral_radius: ``ρ(W_hh) = max |eig(W_hh)|`` (vanilla RNN only, else ``None``).
        sigma_max: ``σ_max(W_hh)`` (vanilla RNN only, else ``None``).
        gamma: the bound on the activation's derivative: 1 for tanh and ReLU (vanilla RNN only).
        jacobians: ``(T, B, S, S)`` the step Jacobians themselves.
        method: how they were taken: ``"analytic"`` (the kind's ``step_jacobian``) or ``"autograd"``.
    """

    kind: str
    step: np.ndarray
    to_end: np.ndarray
    from_start: np.ndarray
    spectral_radius: float | None
    sigma_max: float | None
    gamma: float | None
    jacobians: np.ndarray
    method: str = "autograd"

    def bound(self) -> np.ndarray:
        """``(T,)``: γ·σ_max(W_hh) raised to the number of steps from t to the last (vanilla RNN only)."""
        if self.sigma_max is None:
            raise ValueError("bound: only defined for the vanilla RNN (kind 'rnn_tanh' or 'rnn_relu')")
        T = self.step.shape[0]
        return (self.gamma * self.sigma_max) ** np.arange(T - 1, -1, -1, dtype=np.float64)


def step_jacobians(kind: str | CellKind, w, prev, new, gates: dict | None = None) -> np.ndarray:
    """``∂s_t/∂s_{t−1}`` ``(B, S, S)`` of one step of a registered kind, from its written-out Jacobian.

    Args:
        kind: a registered kind (``"rnn_tanh"``, ``"rnn_relu"``, ``"lstm"``, ``"gru"``) or its ``CellKind``.
        w: ``(W_ih, W_hh, b_ih, b_hh)`` arrays of the layer and direction (biases ``None`` without), with
            ``W_hr`` appended for an LSTM with ``proj_size``.
        prev, new: the state elements before and after the step, in the kind's ``states`` order (a
            tuple of ``(B, H_k)`` arrays, or one array for a single-state kind).
        gates: gate name -> ``(B, H)`` activations of the step (as :func:`hidden_trace` gives them).

    Returns:
        ``(B, S, S)``, the state elements concatenated (``S = H``, ``2H`` for the LSTM's ``(h, c)``).
    """
    desc = kind if isinstance(kind, CellKind) else get_kind(kind)
    if desc.step_jacobian is None:
        raise ValueError(f"kind: {desc.name!r} has no analytic step Jacobian (CellKind.step_jacobian is None)")
    prev, new = (tuple(a) if isinstance(a, (tuple, list)) else (a,) for a in (prev, new))
    if len(prev) != len(desc.states) or len(new) != len(desc.states):
        raise ValueError(f"prev, new: expected {len(desc.states)} state elements {desc.states} each, got "
                         f"{len(prev)} and {len(new)}")
    return desc.step_jacobian(tuple(w), prev, new, dict(gates or {}), xp=np)


def _analytic_kind(layer, desc: CellKind | None) -> CellKind | None:
    """The kind whose written-out Jacobian applies to ``layer``'s cell: the exact registered cell class (or
    its ``proj_cell``), never a subclass or a user cell (which may compute something else)."""
    if desc is None or desc.step_jacobian is None:
        return None
    return desc if layer.cell is desc.cell or (desc.proj_cell is not None and layer.cell is desc.proj_cell) else None


def _autograd_jacobian(cell, x_t, prev: list, like) -> np.ndarray:
    """``∂s_t/∂s_{t−1}`` ``(B, S, S)`` of one call of ``cell`` at the state ``prev`` (arrays), by autograd."""
    with enable_grad():
        state = [tensor(a, dtype=like.dtype, device=like.device, requires_grad=True) for a in prev]
        new = cell(x_t, state[0] if len(state) == 1 else tuple(state))
        new = list(new) if isinstance(new, (tuple, list)) else [new]
        out = cat(new, 1) if len(new) > 1 else new[0]
    B, S = out.shape
    J = np.zeros((B, S, S))
    for j in range(S):
        onehot = np.zeros((B, S))
        onehot[:, j] = 1.0
        gs = autograd_grad([out], state, grad_outputs=[tensor(onehot, dtype=like.dtype, device=like.device)],
                           retain_graph=j < S - 1, allow_unused=True)
        J[:, j] = np.concatenate([np.zeros(a.shape) if g is None else _as_numpy(g) for g, a in zip(gs, prev)],
                                 axis=1)
    return J


def jacobian_spectrum(layer, x, hx=None, *, lengths=None, layer_index: int = 0, direction: int = 0,
                      method: str = "auto") -> JacobianSpectrum:
    """Singular values of the step Jacobians ∂s_t/∂s_{t−1} of ``layer`` on input ``x``, and of their products.

    Args:
        layer: a ``tr.nn.Recurrent`` of any cell (``RNN``, ``LSTM``, ``GRU`` included).
        x, hx, lengths: as for the layer (see :func:`hidden_trace`); every sequence of the batch gets
            its own Jacobians, so keep the batch small (each step costs ``B`` SVDs of ``S × S``).
        layer_index, direction: which layer (0-based) and direction (0 forward, 1 reverse).
        method: ``"auto"`` (the kind's written-out ``step_jacobian`` when the layer's cell is exactly the
            registered kind's cell, else autograd), ``"autograd"`` (always autograd on the cell) or
            ``"analytic"`` (the written-out one; a ValueError where there is none).

    Returns:
        A :class:`JacobianSpectrum`.

    Example::

        spec = tr.analysis.jacobian_spectrum(rnn, x[:, :4])
        spec.spectral_radius, spec.step[:, 0, 0]      # ρ(W_hh) and σ_max(J_t) of the first sequence
    """
    info = layer_info(layer)
    k = check_index("layer_index", layer_index, info.num_layers)
    d = check_index("direction", direction, info.num_directions)
    if not isinstance(method, str):
        raise TypeError(f"method: expected a str, one of {METHODS}, got {type(method).__name__}")
    if method not in METHODS:
        raise ValueError(f"method: expected one of {METHODS}, got {method!r}")
    desc = _analytic_kind(layer, info.description) if method != "autograd" else None
    if method == "analytic" and desc is None:
        raise ValueError(f"method: 'analytic' needs a registered kind with a step_jacobian and its exact cell; "
                         f"this layer's cell is {layer.cell.__name__} (kind {info.kind!r}): use 'auto' or 'autograd'")
    trace = hidden_trace(layer, x, hx, lengths=lengths)
    kind = info.kind
    names = tuple(trace.states)
    L, D, T, B, _ = trace.h.shape
    sizes = [trace.states[n].shape[-1] for n in names]
    S = sum(sizes)
    lens = trace.lengths
    if hx is None:
        init = [np.zeros((B, n)) for n in sizes]
    else:
        hs = hx if isinstance(hx, (tuple, list)) else (hx,)
        init = [_as_numpy(a)[k * D + d] for a in hs]
    cell = layer.get_cell(k, d)
    order = list(range(T)) if d == 0 else list(range(T - 1, -1, -1))
    if desc is not None:
        # every step at once: the state before step t is the one after the step processed before it
        new = [trace.states[n][k, d] for n in names]                                 # (T, B, H_k)
        prev = [np.concatenate([a0[None], a[:-1]]) if d == 0 else np.concatenate([a[1:], a0[None]])
                for a0, a in zip(init, new)]
        flat = [tuple(a.reshape(T * B, -1) for a in arrs) for arrs in (prev, new)]
        gates = {g: a[k, d].reshape(T * B, -1) for g, a in trace.gates.items()}
        Js = desc.step_jacobian(weights(layer, k, d), *flat, gates, xp=np).reshape(T, B, S, S)
    else:
        valid_t = (np.arange(T)[:, None] < lens[None, :])[..., None]               # (T, B, 1)
        if k == 0:
            xs = _as_numpy(x)
            inp = xs.transpose(1, 0, 2) if info.batch_first else xs
        else:
            inp = np.concatenate([trace.h[k - 1, dd] * valid_t for dd in range(D)], axis=-1)
        like = next(layer.parameters())
        Js = np.zeros((T, B, S, S))
        prev_t = None
        for t in order:
            prev = init if prev_t is None else [trace.states[n][k, d, prev_t] for n in names]
            Js[t] = _autograd_jacobian(cell, tensor(inp[t], dtype=like.dtype, device=like.device), prev, like)
            prev_t = t
    Js[~(np.arange(T)[:, None] < lens[None, :])] = np.eye(S)         # padded steps leave the state unchanged

    step = np.linalg.svd(Js, compute_uv=False)
    from_start = np.zeros_like(step)
    P = np.broadcast_to(np.eye(S), (B, S, S)).copy()
    for t in order:
        P = Js[t] @ P
        from_start[t] = np.linalg.svd(P, compute_uv=False)
    to_end = np.zeros_like(step)
    Q = np.broadcast_to(np.eye(S), (B, S, S)).copy()
    for idx in range(len(order) - 1, -1, -1):
        t = order[idx]
        to_end[t] = np.linalg.svd(Q, compute_uv=False)
        Q = Q @ Js[t]

    rho = sig = gamma = None
    if info.description is not None and info.description.cell is RNNCell and layer.cell is RNNCell:
        w = weights(layer, k, d)
        rho = float(np.abs(np.linalg.eigvals(w[1])).max())
        sig = float(np.linalg.norm(w[1], 2))
        gamma = 1.0
    return JacobianSpectrum(kind, step, to_end, from_start, rho, sig, gamma, Js,
                            "analytic" if desc is not None else "autograd")
