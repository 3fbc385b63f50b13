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
vector–Jacobian products give ``J_t`` row by row. For the built-in kinds they are also written out
(:func:`step_jacobians`, a test holds the two equal):

    rnn:  J = diag(act'(z_t)) W_hh
    gru:  J = diag(z) + diag(1 − z) ∂n/∂h + diag(h_{t−1} − n) diag(z(1 − z)) W_hz,
          ∂n/∂h = diag(1 − n²) [diag(r) W_hn + diag(W_hn h_{t−1} + b_hn) diag(r(1 − r)) W_hr]
    lstm: ∂c/∂h = diag(c_{t−1}) F' + diag(g) I' + diag(i) G',  ∂c/∂c = diag(f)
          ∂h/∂h = diag(tanh c_t) O' + diag(o(1 − tanh² c_t)) ∂c/∂h,  ∂h/∂c = diag(o(1 − tanh² c_t) f)
          with I' = diag(i(1 − i)) W_hi, F' = diag(f(1 − f)) W_hf, G' = diag(1 − g²) W_hg, O' = diag(o(1 − o)) W_ho.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..autograd import grad as autograd_grad
from ..autograd.grad_mode import enable_grad
from ..tensor import cat, tensor
from ._layer import check_index, layer_info, weights
from .traces import _as_numpy, hidden_trace


@dataclass
class JacobianSpectrum:
    """Singular values of the step Jacobians of one layer and direction (float64, time order).

    Attributes:
        kind: the cell kind.
        step: ``(T, B, S)`` singular values (descending) of ``J_t = ∂s_t/∂s_{t−1}`` (``S = H``, or ``2H``
            for the LSTM state ``(h, c)``); the identity (all ones) at padded steps.
        to_end: ``(T, B, S)`` singular values of ``∂s_last/∂s_t = J_last ⋯ J_{t+1}`` — the factor that
            carries the gradient at the direction's last step back to step ``t`` (ones at the last step).
        from_start: ``(T, B, S)`` singular values of the running product ``∂s_t/∂s_init = J_t ⋯ J_first``.
        spectral_radius: ``ρ(W_hh) = max |eig(W_hh)|`` (vanilla RNN only, else ``None``).
        sigma_max: ``σ_max(W_hh)`` (vanilla RNN only, else ``None``).
        gamma: the bound on the activation's derivative: 1 for tanh and ReLU (vanilla RNN only).
        jacobians: ``(T, B, S, S)`` the step Jacobians themselves.
    """

    kind: str
    step: np.ndarray
    to_end: np.ndarray
    from_start: np.ndarray
    spectral_radius: float | None
    sigma_max: float | None
    gamma: float | None
    jacobians: np.ndarray

    def bound(self) -> np.ndarray:
        """``(T,)``: γ·σ_max(W_hh) raised to the number of steps from t to the last (vanilla RNN only)."""
        if self.sigma_max is None:
            raise ValueError("bound: only defined for the vanilla RNN (kind 'rnn_tanh' or 'rnn_relu')")
        T = self.step.shape[0]
        return (self.gamma * self.sigma_max) ** np.arange(T - 1, -1, -1, dtype=np.float64)


def _rows(v, M):
    """diag(v) @ M for a batch: v (B, H), M (H, K) -> (B, H, K)."""
    return v[:, :, None] * M[None]


def step_jacobians(kind: str, w, h_prev, h, c_prev=None, c=None, gates=None) -> np.ndarray:
    """``∂s_t/∂s_{t−1}`` for a batch, ``(B, S, S)``, from one step of a trace (see the module doc)."""
    _, w_hh, _, b_hh = w
    H = w_hh.shape[1]
    if kind in ("rnn_tanh", "rnn_relu"):
        dact = 1.0 - h * h if kind == "rnn_tanh" else (h > 0).astype(np.float64)
        return _rows(dact, w_hh)
    blocks = [w_hh[k * H:(k + 1) * H] for k in range(w_hh.shape[0] // H)]
    B = h.shape[0]
    eye = np.eye(H)[None]
    if kind == "gru":
        r, z, n = gates["r"], gates["z"], gates["n"]
        W_hr, W_hz, W_hn = blocks
        hn = h_prev @ W_hn.T + (0 if b_hh is None else b_hh[2 * H:])
        dr = _rows(r * (1 - r), W_hr)
        dn = (1 - n * n)[:, :, None] * (_rows(r, W_hn) + hn[:, :, None] * dr)
        dz = _rows(z * (1 - z), W_hz)
        return z[:, :, None] * eye + (1 - z)[:, :, None] * dn + (h_prev - n)[:, :, None] * dz
    i, f, g, o = gates["i"], gates["f"], gates["g"], gates["o"]
    W_hi, W_hf, W_hg, W_ho = blocks
    tc = np.tanh(c)
    dc_dh = (c_prev[:, :, None] * _rows(f * (1 - f), W_hf) + g[:, :, None] * _rows(i * (1 - i), W_hi)
             + i[:, :, None] * _rows(1 - g * g, W_hg))
    k = o * (1 - tc * tc)
    J = np.zeros((B, 2 * H, 2 * H))
    J[:, :H, :H] = tc[:, :, None] * _rows(o * (1 - o), W_ho) + k[:, :, None] * dc_dh
    J[:, :H, H:] = (k * f)[:, :, None] * eye
    J[:, H:, :H] = dc_dh
    J[:, H:, H:] = f[:, :, None] * eye
    return J


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


def jacobian_spectrum(layer, x, hx=None, *, lengths=None, layer_index: int = 0, direction: int = 0
                      ) -> JacobianSpectrum:
    """Singular values of the step Jacobians ∂s_t/∂s_{t−1} of ``layer`` on input ``x``, and of their products.

    Args:
        layer: a ``tr.nn.Recurrent`` of any cell (``RNN``, ``LSTM``, ``GRU`` included).
        x, hx, lengths: as for the layer (see :func:`hidden_trace`); every sequence of the batch gets
            its own Jacobians, so keep the batch small (each step costs ``B`` SVDs of ``S × S``).
        layer_index, direction: which layer (0-based) and direction (0 forward, 1 reverse).

    Returns:
        A :class:`JacobianSpectrum`.

    Example::

        spec = tr.analysis.jacobian_spectrum(rnn, x[:, :4])
        spec.spectral_radius, spec.step[:, 0, 0]      # ρ(W_hh) and σ_max(J_t) of the first sequence
    """
    info = layer_info(layer)
    k = check_index("layer_index", layer_index, info.num_layers)
    d = check_index("direction", direction, info.num_directions)
    trace = hidden_trace(layer, x, hx, lengths=lengths)
    kind = info.kind
    names = tuple(trace.states)
    L, D, T, B, _ = trace.h.shape
    sizes = [trace.states[n].shape[-1] for n in names]
    S = sum(sizes)
    lens = trace.lengths
    valid_t = (np.arange(T)[:, None] < lens[None, :])[..., None]                   # (T, B, 1)
    if k == 0:
        xs = _as_numpy(x)
        inp = xs.transpose(1, 0, 2) if info.batch_first else xs
    else:
        inp = np.concatenate([trace.h[k - 1, dd] * valid_t for dd in range(D)], axis=-1)
    if hx is None:
        init = [np.zeros((B, n)) for n in sizes]
    else:
        hs = hx if isinstance(hx, (tuple, list)) else (hx,)
        init = [_as_numpy(a)[k * D + d] for a in hs]
    cell = layer.get_cell(k, d)
    like = next(layer.parameters())
    order = list(range(T)) if d == 0 else list(range(T - 1, -1, -1))
    Js = np.zeros((T, B, S, S))
    prev_t = None
    for t in order:
        prev = init if prev_t is None else [trace.states[n][k, d, prev_t] for n in names]
        Js[t] = _autograd_jacobian(cell, tensor(inp[t], dtype=like.dtype, device=like.device), prev, like)
        Js[t][~(t < lens)] = np.eye(S)                          # padded steps leave the state unchanged
        prev_t = t

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
    if kind in ("rnn_tanh", "rnn_relu"):
        w = weights(layer, k, d)
        rho = float(np.abs(np.linalg.eigvals(w[1])).max())
        sig = float(np.linalg.norm(w[1], 2))
        gamma = 1.0
    return JacobianSpectrum(kind, step, to_end, from_start, rho, sig, gamma, Js)
