"""Hidden-state traces: h_t, c_t and every gate's activation at every step, layer and direction.

The trace is recomputed on the host in float64 from the layer's own parameters (PyTorch names and
gate order), one step at a time, with the equations written out below; a test holds it to the
layer's own output. That keeps the function independent of how the layer runs (fused or unrolled,
CPU or GPU) and gives the gate values, which the fused kernel does not hand out::

    rnn:  h_t = act(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh)
    lstm: i, f, g, o = σ, σ, tanh, σ (W_ih x_t + b_ih + W_hh h_{t-1} + b_hh)   (four blocks of H rows)
          c_t = f ⊙ c_{t-1} + i ⊙ g ;  h_t = o ⊙ tanh(c_t)
    gru:  r, z = σ(W_i{r,z} x_t + b_i{r,z} + W_h{r,z} h_{t-1} + b_h{r,z})
          n = tanh(W_in x_t + b_in + r ⊙ (W_hn h_{t-1} + b_hn)) ;  h_t = (1 − z) ⊙ n + z ⊙ h_{t-1}

A layer ``k > 0`` reads the concatenated outputs of layer ``k − 1`` (both directions); the reverse
direction reads each sequence backward from its own last step; past a sequence's end the state is
frozen (as the layer does with ``lengths``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..backend import to_numpy
from ._layer import GATES, layer_info, weights


def _sigmoid(z):
    return 0.5 * np.tanh(0.5 * z) + 0.5


@dataclass
class HiddenTrace:
    """What a recurrent layer computed at every step (float64 NumPy arrays, time order).

    Attributes:
        kind: ``"rnn_tanh"``, ``"rnn_relu"``, ``"lstm"`` or ``"gru"``.
        h: ``(L, D, T, B, H)`` hidden states h_t for layer, direction, time step t (0-based), batch.
        c: ``(L, D, T, B, H)`` LSTM cell states c_t, else ``None``.
        gates: gate name -> ``(L, D, T, B, H)`` activations (``i, f, g, o`` for LSTM, ``r, z, n`` for
            GRU; for the vanilla RNN the single entry ``h`` is the state itself).
        pre: gate name -> the pre-activations (the argument of σ or tanh) with the same shape.
        lengths: ``(B,)`` sequence lengths (``T`` everywhere without padding).
    """

    kind: str
    h: np.ndarray
    c: np.ndarray | None
    gates: dict = field(default_factory=dict)
    pre: dict = field(default_factory=dict)
    lengths: np.ndarray | None = None


def _as_numpy(x) -> np.ndarray:
    data = x._data if hasattr(x, "_data") else x
    return to_numpy(data).astype(np.float64)


def step(kind: str, w, x_t, h, c):
    """One step of the equations above for a batch: returns ``h_t, c_t (or None), gates, pre``.

    ``w = (W_ih, W_hh, b_ih, b_hh)`` (biases may be None), ``x_t (B, I)``, ``h (B, H)``, ``c (B, H)``.
    """
    w_ih, w_hh, b_ih, b_hh = w
    H = w_hh.shape[1]
    xi = x_t @ w_ih.T + (0 if b_ih is None else b_ih)
    hh = h @ w_hh.T + (0 if b_hh is None else b_hh)
    if kind == "lstm":
        z = xi + hh
        zi, zf, zg, zo = (z[:, k * H:(k + 1) * H] for k in range(4))
        i, f, g, o = _sigmoid(zi), _sigmoid(zf), np.tanh(zg), _sigmoid(zo)
        c_t = f * c + i * g
        h_t = o * np.tanh(c_t)
        return h_t, c_t, {"i": i, "f": f, "g": g, "o": o}, {"i": zi, "f": zf, "g": zg, "o": zo}
    if kind == "gru":
        zr = xi[:, :H] + hh[:, :H]
        zz = xi[:, H:2 * H] + hh[:, H:2 * H]
        r, u = _sigmoid(zr), _sigmoid(zz)
        zn = xi[:, 2 * H:] + r * hh[:, 2 * H:]
        n = np.tanh(zn)
        h_t = (1 - u) * n + u * h
        return h_t, None, {"r": r, "z": u, "n": n}, {"r": zr, "z": zz, "n": zn}
    z = xi + hh
    h_t = np.tanh(z) if kind == "rnn_tanh" else np.maximum(z, 0.0)
    return h_t, None, {"h": h_t}, {"h": z}


def hidden_trace(layer, x, hx=None, *, lengths=None) -> HiddenTrace:
    """Run ``layer``'s equations over ``x`` step by step and keep every state and gate.

    Args:
        layer: a ``tr.nn.RNN``, ``LSTM`` or ``GRU`` (any number of layers, one or two directions).
        x: the input, ``(T, B, I)`` (``(B, T, I)`` when ``layer.batch_first``), a tensor or array.
        hx: initial state as the layer takes it: ``h_0 (L*D, B, H)``, for LSTM ``(h_0, c_0)``; zeros
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
    kind, H, L, D = info.kind, info.hidden_size, info.num_layers, info.num_directions
    xs = _as_numpy(x)
    if xs.ndim != 3:
        raise ValueError(f"x: expected a 3-d input (T, B, I) or (B, T, I), got shape {xs.shape}")
    if info.batch_first:
        xs = xs.transpose(1, 0, 2)
    T, B, _ = xs.shape
    h0 = c0 = None
    if hx is not None:
        if kind == "lstm":
            h0, c0 = (_as_numpy(a) for a in hx)
        else:
            h0 = _as_numpy(hx)
        if h0.shape != (L * D, B, H):
            raise ValueError(f"hx: expected initial states of shape {(L * D, B, H)}, got {h0.shape}")
    if h0 is None:
        h0 = np.zeros((L * D, B, H))
    if c0 is None:
        c0 = np.zeros((L * D, B, H))
    lens = np.full(B, T, dtype=np.int64) if lengths is None else to_numpy(
        lengths._data if hasattr(lengths, "_data") else lengths).astype(np.int64).reshape(-1)
    if lens.shape != (B,) or lens.min() < 1 or lens.max() > T:
        raise ValueError(f"lengths: expected {B} lengths in 1..{T}, got {lens.tolist()}")

    names = GATES[kind]
    h_all = np.zeros((L, D, T, B, H))
    c_all = np.zeros((L, D, T, B, H)) if kind == "lstm" else None
    gates = {g: np.zeros((L, D, T, B, H)) for g in names}
    pre = {g: np.zeros((L, D, T, B, H)) for g in names}
    inp = xs
    for k in range(L):
        for d in range(D):
            w = weights(layer, k, d)
            h, c = h0[k * D + d], c0[k * D + d]
            order = range(T) if d == 0 else range(T - 1, -1, -1)
            for t in order:
                # the reverse direction starts at each sequence's own last step: padded steps are skipped
                valid = (t < lens)[:, None]
                h_t, c_t, gs, zs = step(kind, w, inp[t], h, c)
                h = np.where(valid, h_t, h)
                if c_t is not None:
                    c = np.where(valid, c_t, c)
                    c_all[k, d, t] = c
                h_all[k, d, t] = h
                for g in names:
                    gates[g][k, d, t] = np.where(valid, gs[g], 0.0)
                    pre[g][k, d, t] = np.where(valid, zs[g], 0.0)
        valid_t = (np.arange(T)[:, None] < lens[None, :])[..., None]                  # (T, B, 1)
        inp = np.concatenate([h_all[k, d] * valid_t for d in range(D)], axis=-1)     # the layer's output
    return HiddenTrace(kind, h_all, c_all, gates, pre, lens)
