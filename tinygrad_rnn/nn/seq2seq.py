"""Encoder–decoder (seq2seq) models: encoder, decoder, teacher forcing, scheduled sampling, decoding.

The model (Sutskever et al. 2014; with attention, Bahdanau et al. 2015 / Luong et al. 2015)::

    encoder:   o_1..o_S, h_S = RNN(embed(x_1..x_S))         run once over the source, fused layer;
                                                            each sequence stops at its own length
    bridge:    s_0 = h_S                                    (unidirectional)
               s_0 = tanh(W_b [h_S→ ; h_1←] + b_b)          (bidirectional, per layer; also for c)
    decoder:   s_t = cell(embed(y_{t-1}) [; c_t], s_{t-1})  one step per target token
               p(y_t | y_<t, x) = softmax(W_o f_t + b_o)

where ``y_0`` is ``<sos>`` and ``f_t`` is the decoder's output feature: ``s_t`` (no attention),
``[s_t; c_t]`` with ``c_t = attn(s_{t-1}, o)`` fed into the cell input (Bahdanau placement), or the
attentional hidden state ``tanh(W_c [c_t; s_t])`` with ``c_t = attn(s_t, o)`` (Luong placement, no
input feeding). ``s`` is the top layer's hidden state; an LSTM carries ``(h, c)`` per layer.

Training feeds ``y_{t-1}`` either from the ground truth (teacher forcing) or from the model's own
argmax prediction (detached), chosen by a coin flipped per example and per step with probability
``teacher_forcing_ratio`` (or a :class:`ScheduledSampling` schedule's current ratio).

Decoding (:func:`greedy_decode`, :func:`beam_search`) scores a hypothesis by its plain log-probability
``Σ_t log p(y_t | y_<t, x)`` (no length normalisation), ``<eos>`` included.

Graph scopes: the encoder's nodes are tagged ``name="encoder"``, the bridge's ``name="bridge"`` (the
context bottleneck), and decoder step ``t``'s ``name="decoder", t=t``. The recurrent layers inside
set their own ``name`` (``"lstm"``, ...), so every node also carries ``part=`` with the same value
(``"encoder"``, ``"bridge"``, ``"decoder"``), a key no inner scope overrides.
"""

from __future__ import annotations

import math
import numpy as np

from ..autograd.grad_mode import no_grad
from ..autograd.scope import scope
from ..random import default_generator
from ..tensor import Tensor, arange, cat, full, rand, stack, tensor, where
from .linear import Dropout, Embedding, Linear
from .module import Module
from .recurrent import Recurrent
from .recurrent.kinds import REGISTRY, CellKind, by_scope

__all__ = ["Encoder", "Decoder", "Seq2Seq", "ScheduledSampling", "greedy_decode", "beam_search"]

def _kind(who: str, cell: str) -> CellKind:
    """The registered cell kind named ``cell``: its scope name (``"lstm"``, ``"gru"``, ``"rnn"`` = tanh) or
    its registry name (``"rnn_relu"``, ...)."""
    kind = (REGISTRY.get(cell) or by_scope(cell)) if isinstance(cell, str) else None
    if kind is None:
        names = tuple(dict.fromkeys([k.scope for k in REGISTRY.values()] + list(REGISTRY)))
        raise ValueError(f"{who}: cell must be one of {names}, got {cell!r}")
    return kind


def _layer(kind: CellKind, *args, **kwargs) -> Recurrent:
    return Recurrent(kind.cell, *args, **kwargs, **kind.cell_kwargs)


def _check_positive_int(who: str, name: str, value) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{who}: {name} must be a positive int, got {value!r}")


def _check_tokens(who: str, name: str, x) -> None:
    """A (B, L) integer tensor of token indices."""
    if not isinstance(x, Tensor):
        raise TypeError(f"{who}: {name} must be a Tensor of token indices, got {type(x).__name__}")
    if x.ndim != 2 or x.shape[0] == 0 or x.shape[1] == 0:
        raise ValueError(f"{who}: {name} must have shape (B, L) with B, L >= 1, got {tuple(x.shape)}")
    if x.dtype.kind not in "iu":
        raise TypeError(f"{who}: {name} must hold integer token indices, got dtype {x.dtype}")


def _lengths_array(who: str, lengths, batch: int, max_len: int) -> np.ndarray:
    """Validate ``src_lengths`` (tensor, array or sequence of ints) and return it as an int64 array."""
    if isinstance(lengths, Tensor):
        if lengths.dtype.kind not in "iu":
            raise TypeError(f"{who}: src_lengths must hold integers, got dtype {lengths.dtype}")
        arr = np.asarray(lengths.tolist(), dtype=np.int64)
    else:
        arr = np.asarray(lengths)
        if arr.dtype.kind not in "iu":
            raise TypeError(f"{who}: src_lengths must hold integers, got {arr.dtype}")
        arr = arr.astype(np.int64)
    if arr.shape != (batch,):
        raise ValueError(f"{who}: src_lengths must have one entry per sequence, shape ({batch},), got "
                         f"shape {arr.shape}")
    if arr.min() < 1 or arr.max() > max_len:
        raise ValueError(f"{who}: src_lengths must lie in [1, {max_len}] (the padded source length), got "
                         f"min {arr.min()} and max {arr.max()}")
    return arr


def _select_state(state, rows: Tensor):
    """Pick batch rows (dim 1) of a recurrent state: a tensor, or an LSTM's ``(h, c)`` tuple."""
    if isinstance(state, tuple):
        return tuple(s.index_select(1, rows) for s in state)
    return state.index_select(1, rows)


# ------------------------------------------------------------------------------------------------
# Encoder


class Encoder(Module):
    """Embedding + recurrent layer over the whole padded source, each sequence up to its own length.

    Args:
        vocab_size, embed_dim: the source vocabulary and embedding size.
        hidden_size: the recurrent layer's hidden size ``H`` (also the size of the state it hands on).
        cell: ``"lstm"``, ``"gru"`` or ``"rnn"`` (tanh).
        num_layers: stacked layers.
        bidirectional: run a reverse direction too; the outputs are then ``2H`` wide.
        dropout: dropout on the embeddings and between stacked layers.
        padding_idx: the padding token (its embedding is zero and gets no gradient).

    The bridge (bidirectional only): for every layer ``l`` the final forward and reverse states are
    concatenated and projected back to ``H``::

        h0_l = tanh(W_h [h_l→ ; h_l←] + b_h)        c0_l = tanh(W_c [c_l→ ; c_l←] + b_c)   (LSTM)

    with one ``Linear(2H, H)`` per state kind (``bridge_h``, ``bridge_c``) shared by all layers. A
    unidirectional encoder hands its final states on unchanged.

    Shape:
        src ``(B, S)`` int, src_lengths ``(B,)`` ints in ``[1, S]`` →
        outputs ``(B, S, D*H)`` (batch first; zero at padded positions), state ``(num_layers, B, H)``
        (LSTM: a tuple ``(h, c)`` of those) — the decoder's initial state.
    """

    def __init__(self, vocab_size: int, embed_dim: int, hidden_size: int, cell: str = "lstm",
                 num_layers: int = 1, bidirectional: bool = False, dropout: float = 0.0,
                 padding_idx: int | None = 0, dtype=None, device=None) -> None:
        super().__init__()
        kind = _kind("Encoder", cell)
        for name, value in (("vocab_size", vocab_size), ("embed_dim", embed_dim),
                            ("hidden_size", hidden_size), ("num_layers", num_layers)):
            _check_positive_int("Encoder", name, value)
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"Encoder: dropout must lie in [0, 1), got {dropout!r}")
        self.cell, self.hidden_size, self.num_layers = cell, hidden_size, num_layers
        self.bidirectional = bool(bidirectional)
        self.num_directions = 2 if bidirectional else 1
        self.output_size = self.num_directions * hidden_size
        self.embedding = Embedding(vocab_size, embed_dim, padding_idx=padding_idx, dtype=dtype, device=device)
        self.dropout = Dropout(dropout)
        self.rnn = _layer(kind, embed_dim, hidden_size, num_layers, batch_first=True,
                          dropout=dropout if num_layers > 1 else 0.0, bidirectional=bidirectional,
                          dtype=dtype, device=device)
        if bidirectional:                       # one bridge per state element: bridge_h (and bridge_c)
            for name in kind.states:
                setattr(self, f"bridge_{name}", Linear(2 * hidden_size, hidden_size, dtype=dtype, device=device))
        self._bridges = tuple(f"bridge_{name}" for name in kind.states)

    def bridge(self, state):
        """Final states ``(L*D, B, H)`` (PyTorch's layout) → the decoder's ``(L, B, H)`` (see class doc)."""
        if not self.bidirectional:
            return state

        def merge(s: Tensor, proj: Linear) -> Tensor:
            L, B, H = self.num_layers, s.shape[1], self.hidden_size
            both = s.reshape(L, 2, B, H).permute(0, 2, 1, 3).reshape(L, B, 2 * H)   # [fwd; rev] per layer
            return proj(both).tanh()

        with scope(name="bridge", part="bridge"):
            if isinstance(state, tuple):
                return tuple(merge(s, getattr(self, b)) for s, b in zip(state, self._bridges))
            return merge(state, self.bridge_h)

    def forward(self, src: Tensor, src_lengths) -> tuple[Tensor, Tensor | tuple[Tensor, Tensor]]:
        _check_tokens("Encoder", "src", src)
        B, S = src.shape
        lengths = _lengths_array("Encoder", src_lengths, B, S)
        with scope(name="encoder", part="encoder"):
            emb = self.dropout(self.embedding(src))
            outputs, state = self.rnn(emb, lengths=lengths)
        return outputs, self.bridge(state)


# ------------------------------------------------------------------------------------------------
# Decoder


class Decoder(Module):
    """A recurrent decoder stepped one token at a time, optionally with attention.

    Args:
        vocab_size, embed_dim: the target vocabulary and embedding size.
        hidden_size: the recurrent layer's hidden size (must equal the encoder's).
        cell, num_layers: as the encoder's (must match it).
        attention: ``None`` (the encoder's final state is the only link: the bottleneck), or a
            :class:`~tinygrad_rnn.nn.BahdanauAttention` / :class:`~tinygrad_rnn.nn.LuongAttention`
            whose ``query_dim`` is ``hidden_size`` and ``key_dim`` the encoder's output size.
        dropout: dropout on the embeddings, between stacked layers and before the output projection.

    Where the context goes (the attention module's ``placement``):

    - ``"input"`` (Bahdanau): ``c_t = attn(s_{t-1}^{top}, o)``; the cell reads ``[embed(y_{t-1}); c_t]``;
      logits ``= out([s_t^{top}; c_t])``.
    - ``"output"`` (Luong, no input feeding): ``c_t = attn(s_t^{top}, o)``;
      ``h̃_t = tanh(W_c [c_t; s_t^{top}])`` (``combine``, no bias); logits ``= out(h̃_t)``.
    - no attention: logits ``= out(s_t^{top})``.

    :meth:`step` runs one step; :meth:`forward` runs the given input tokens (teacher forcing).
    """

    def __init__(self, vocab_size: int, embed_dim: int, hidden_size: int, cell: str = "lstm",
                 num_layers: int = 1, attention: Module | None = None, dropout: float = 0.0,
                 dtype=None, device=None) -> None:
        super().__init__()
        kind = _kind("Decoder", cell)
        for name, value in (("vocab_size", vocab_size), ("embed_dim", embed_dim),
                            ("hidden_size", hidden_size), ("num_layers", num_layers)):
            _check_positive_int("Decoder", name, value)
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"Decoder: dropout must lie in [0, 1), got {dropout!r}")
        placement = None
        if attention is not None:
            placement = getattr(attention, "placement", None)
            if not isinstance(attention, Module) or placement not in ("input", "output"):
                raise TypeError(f"Decoder: attention must be None, BahdanauAttention or LuongAttention, got "
                                f"{type(attention).__name__}")
            if attention.query_dim != hidden_size:
                raise ValueError(f"Decoder: attention.query_dim must equal hidden_size={hidden_size}, got "
                                 f"{attention.query_dim}")
        self.vocab_size, self.cell, self.hidden_size, self.num_layers = vocab_size, cell, hidden_size, num_layers
        self.placement = placement
        ctx = attention.key_dim if attention is not None else 0
        self.embedding = Embedding(vocab_size, embed_dim, dtype=dtype, device=device)
        self.dropout = Dropout(dropout)
        self.attention = attention
        self.rnn = _layer(kind, embed_dim + (ctx if placement == "input" else 0), hidden_size, num_layers,
                          batch_first=True, dropout=dropout if num_layers > 1 else 0.0, dtype=dtype, device=device)
        self.combine = Linear(ctx + hidden_size, hidden_size, bias=False, dtype=dtype, device=device) \
            if placement == "output" else None
        self.out = Linear(hidden_size + (ctx if placement == "input" else 0), vocab_size, dtype=dtype,
                          device=device)

    def prepare(self, keys: Tensor | None) -> Tensor | None:
        """The query-independent part of the attention scores, computed once per source batch."""
        return None if self.attention is None or keys is None else self.attention.project_keys(keys)

    def _top(self, state) -> Tensor:
        h = state[0] if isinstance(state, tuple) else state
        return h[-1]

    def step(self, token: Tensor, state, keys: Tensor | None = None, mask: Tensor | None = None,
             projected_keys: Tensor | None = None) -> tuple[Tensor, object, Tensor | None]:
        """One decoder step.

        Args:
            token: ``(B,)`` the previous token ``y_{t-1}``.
            state: ``(num_layers, B, H)`` (LSTM: ``(h, c)``), the previous state.
            keys: ``(B, S, K)`` the encoder outputs (needed with attention).
            mask: ``(B, S)`` bool, True = valid source position.
            projected_keys: :meth:`prepare`'s result, to skip recomputing it.

        Returns:
            ``(logits (B, V), new state, attention weights (B, S) or None)``.
        """
        if self.attention is not None and keys is None:
            raise ValueError("Decoder.step: this decoder has attention, so keys (the encoder outputs) are required")
        x = self.dropout(self.embedding(token))
        weights = None
        if self.placement == "input":
            context, weights = self.attention(self._top(state), keys, mask, projected_keys=projected_keys)
            x = cat([x, context], dim=1)
        out, state = self.rnn(x.unsqueeze(1), state)
        h = out.squeeze(1)
        if self.placement == "input":
            feature = cat([h, context], dim=1)
        elif self.placement == "output":
            context, weights = self.attention(h, keys, mask, projected_keys=projected_keys)
            feature = self.combine(cat([context, h], dim=1)).tanh()
        else:
            feature = h
        return self.out(self.dropout(feature)), state, weights

    def forward(self, inputs: Tensor, state, keys: Tensor | None = None,
                mask: Tensor | None = None) -> tuple[Tensor, object, Tensor | None]:
        """Run the given input tokens ``(B, T)`` (teacher forcing), one :meth:`step` each.

        Returns ``(logits (B, T, V), final state, attention weights (B, T, S) or None)``.
        """
        _check_tokens("Decoder", "inputs", inputs)
        pk = self.prepare(keys)
        logits, weights = [], []
        for t in range(inputs.shape[1]):
            with scope(name="decoder", part="decoder", t=t):
                step_logits, state, w = self.step(inputs[:, t], state, keys, mask, pk)
            logits.append(step_logits)
            weights.append(w)
        attn = stack(weights, dim=1) if self.attention is not None else None
        return stack(logits, dim=1), state, attn


# ------------------------------------------------------------------------------------------------
# Scheduled sampling


class ScheduledSampling:
    """The teacher-forcing probability ``ε_i`` decayed with the training step ``i`` (Bengio et al. 2015).

    - ``linear``:          ε_i = max(eps_min, k − c·i)                  (default k = 1.0, c = 1e-3)
    - ``exponential``:     ε_i = max(eps_min, k^i), 0 < k ≤ 1           (default k = 0.999)
    - ``inverse_sigmoid``: ε_i = max(eps_min, k / (k + exp(i/k))), k ≥ 1 (default k = 100)

    ``eps_min`` (default 0) floors every kind. ``.ratio`` is the current ε_i, ``.step()`` advances
    ``i`` by one (call it once per optimizer step, like an ``lr_scheduler``), and
    ``state_dict()``/``load_state_dict()`` save and restore the schedule. Pass it to
    ``Seq2Seq.forward(..., schedule=...)``.
    """

    KINDS = ("linear", "exponential", "inverse_sigmoid")
    DEFAULT_K = {"linear": 1.0, "exponential": 0.999, "inverse_sigmoid": 100.0}

    def __init__(self, kind: str = "linear", k: float | None = None, c: float = 1e-3, eps_min: float = 0.0) -> None:
        if kind not in self.KINDS:
            raise ValueError(f"ScheduledSampling: kind must be one of {self.KINDS}, got {kind!r}")
        k = self.DEFAULT_K[kind] if k is None else k
        for name, value in (("k", k), ("c", c), ("eps_min", eps_min)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise TypeError(f"ScheduledSampling: {name} must be a finite number, got {value!r}")
        if not 0.0 <= eps_min <= 1.0:
            raise ValueError(f"ScheduledSampling: eps_min must lie in [0, 1], got {eps_min!r}")
        if kind == "linear" and (not 0.0 <= k <= 1.0 or c < 0):
            raise ValueError(f"ScheduledSampling: linear needs 0 <= k <= 1 and c >= 0, got k={k!r}, c={c!r}")
        if kind == "exponential" and not 0.0 < k <= 1.0:
            raise ValueError(f"ScheduledSampling: exponential needs 0 < k <= 1, got k={k!r}")
        if kind == "inverse_sigmoid" and k < 1.0:
            raise ValueError(f"ScheduledSampling: inverse_sigmoid needs k >= 1, got k={k!r}")
        self.kind, self.k, self.c, self.eps_min = kind, float(k), float(c), float(eps_min)
        self.num_steps = 0

    def value(self, i: int) -> float:
        """ε_i for training step ``i``."""
        if self.kind == "linear":
            eps = self.k - self.c * i
        elif self.kind == "exponential":
            eps = self.k ** i
        else:
            x = i / self.k
            eps = self.k / (self.k + math.exp(x)) if x < 700.0 else 0.0     # exp(700) overflows soon after
        return max(self.eps_min, eps)

    @property
    def ratio(self) -> float:
        """The current teacher-forcing probability ε_i."""
        return self.value(self.num_steps)

    def step(self) -> None:
        self.num_steps += 1

    def state_dict(self) -> dict:
        return {"kind": self.kind, "k": self.k, "c": self.c, "eps_min": self.eps_min, "num_steps": self.num_steps}

    def load_state_dict(self, state_dict: dict) -> None:
        missing = {"kind", "k", "c", "eps_min", "num_steps"} - set(state_dict)
        if missing:
            raise ValueError(f"ScheduledSampling.load_state_dict: missing keys {sorted(missing)}")
        fresh = ScheduledSampling(state_dict["kind"], state_dict["k"], state_dict["c"], state_dict["eps_min"])
        steps = state_dict["num_steps"]
        if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 0:
            raise ValueError(f"ScheduledSampling.load_state_dict: num_steps must be an int >= 0, got {steps!r}")
        self.__dict__.update(fresh.__dict__)
        self.num_steps = int(steps)

    def __repr__(self) -> str:
        return (f"ScheduledSampling(kind={self.kind!r}, k={self.k}, c={self.c}, eps_min={self.eps_min}, "
                f"num_steps={self.num_steps}, ratio={self.ratio:.4f})")


# ------------------------------------------------------------------------------------------------
# The model


class Seq2Seq(Module):
    """Encoder + decoder, trained with teacher forcing or scheduled sampling.

    Args:
        encoder: an :class:`Encoder`.
        decoder: a :class:`Decoder` with the same ``cell``, ``hidden_size`` and ``num_layers``.
        sos_idx, eos_idx, pad_idx: start, end and padding tokens of the target vocabulary.

    ``forward(src, src_lengths, tgt)`` returns logits ``(B, T, V)`` aligned with ``tgt``: step ``t``
    predicts ``tgt[:, t]`` from ``<sos>, y_1..y_{t-1}``, so the loss is
    ``cross_entropy(logits.reshape(-1, V), tgt.reshape(-1), ignore_index=pad_idx)``. ``tgt`` ends with
    ``<eos>`` and is padded with ``pad_idx``.
    """

    def __init__(self, encoder: Encoder, decoder: Decoder, sos_idx: int, eos_idx: int, pad_idx: int = 0) -> None:
        super().__init__()
        if not isinstance(encoder, Encoder):
            raise TypeError(f"Seq2Seq: encoder must be an Encoder, got {type(encoder).__name__}")
        if not isinstance(decoder, Decoder):
            raise TypeError(f"Seq2Seq: decoder must be a Decoder, got {type(decoder).__name__}")
        for name in ("cell", "hidden_size", "num_layers"):
            if getattr(encoder, name) != getattr(decoder, name):
                raise ValueError(f"Seq2Seq: encoder and decoder must have the same {name}, got "
                                 f"{getattr(encoder, name)!r} and {getattr(decoder, name)!r}")
        if decoder.attention is not None and decoder.attention.key_dim != encoder.output_size:
            raise ValueError(f"Seq2Seq: decoder.attention.key_dim must equal the encoder's output size "
                             f"{encoder.output_size}, got {decoder.attention.key_dim}")
        for name, value in (("sos_idx", sos_idx), ("eos_idx", eos_idx), ("pad_idx", pad_idx)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) \
                    or not 0 <= value < decoder.vocab_size:
                raise IndexError(f"Seq2Seq: {name} must be a token index in [0, {decoder.vocab_size}), got {value!r}")
        self.encoder, self.decoder = encoder, decoder
        self.sos_idx, self.eos_idx, self.pad_idx = int(sos_idx), int(eos_idx), int(pad_idx)

    def encode(self, src: Tensor, src_lengths) -> tuple[Tensor, object, Tensor]:
        """Run the encoder: ``(outputs (B, S, D*H), decoder initial state, mask (B, S) bool True=valid)``."""
        _check_tokens("Seq2Seq", "src", src)
        B, S = src.shape
        lengths = _lengths_array("Seq2Seq", src_lengths, B, S)
        outputs, state = self.encoder(src, lengths)
        mask = arange(S, device=src.device).unsqueeze(0) < tensor(lengths, device=src.device).unsqueeze(1)
        return outputs, state, mask

    def forward(self, src: Tensor, src_lengths, tgt: Tensor, teacher_forcing_ratio: float = 1.0,
                schedule: ScheduledSampling | None = None, generator=None) -> Tensor:
        """Logits ``(B, T, V)``; ``y_{t-1}`` is the ground truth with probability ``teacher_forcing_ratio``
        (or ``schedule.ratio``), else the model's own detached argmax, one coin per example and step.
        The coins come from ``generator`` (default: tr's default generator); none are drawn when the
        ratio is exactly 0 or 1."""
        _check_tokens("Seq2Seq", "tgt", tgt)
        if schedule is not None:
            if not isinstance(schedule, ScheduledSampling):
                raise TypeError(f"Seq2Seq: schedule must be a ScheduledSampling, got {type(schedule).__name__}")
            if teacher_forcing_ratio != 1.0:
                raise ValueError("Seq2Seq: pass either teacher_forcing_ratio or schedule, not both")
            ratio = schedule.ratio
        else:
            ratio = teacher_forcing_ratio
            if isinstance(ratio, bool) or not isinstance(ratio, (int, float)) or not 0.0 <= ratio <= 1.0:
                raise ValueError(f"Seq2Seq: teacher_forcing_ratio must be a number in [0, 1], got {ratio!r}")
        B, T = tgt.shape
        if src.ndim == 2 and src.shape[0] != B:
            raise ValueError(f"Seq2Seq: src and tgt must have the same batch size, got {src.shape[0]} and {B}")
        keys, state, mask = self.encode(src, src_lengths)
        sos = full((B,), self.sos_idx, dtype=tgt.dtype, device=tgt.device)
        if ratio == 1.0:                                   # pure teacher forcing: inputs known up front
            inputs = cat([sos.unsqueeze(1), tgt[:, :-1]], dim=1)
            return self.decoder(inputs, state, keys, mask)[0]
        coins = None
        if ratio > 0.0:
            gen = default_generator if generator is None else generator
            coins = rand(B, T - 1, generator=gen, device=tgt.device) < ratio       # True = ground truth
        pk = self.decoder.prepare(keys)
        token, logits = sos, []
        for t in range(T):
            with scope(name="decoder", part="decoder", t=t):
                step_logits, state, _ = self.decoder.step(token, state, keys, mask, pk)
            logits.append(step_logits)
            if t + 1 < T:
                pred = step_logits.detach().argmax(dim=1)
                token = pred if coins is None else where(coins[:, t], tgt[:, t], pred)
        return stack(logits, dim=1)


# ------------------------------------------------------------------------------------------------
# Decoding


def _check_decode_args(who: str, model, max_len) -> None:
    if not isinstance(model, Seq2Seq):
        raise TypeError(f"{who}: model must be a Seq2Seq, got {type(model).__name__}")
    _check_positive_int(who, "max_len", max_len)


def greedy_decode(model: Seq2Seq, src: Tensor, src_lengths, max_len: int, return_attention: bool = False):
    """Feed back the argmax token until every sequence has emitted ``<eos>`` or ``max_len`` steps.

    Runs under ``no_grad``; call ``model.eval()`` first (dropout stays as the model's mode says).

    Returns:
        ``(tokens (B, L) long, scores (B,))``: tokens include the ``<eos>`` and are ``pad_idx`` after
        it; ``L <= max_len`` is the longest output; ``scores`` the summed log-probabilities of the
        emitted tokens (``<eos>`` included). With ``return_attention=True`` also the weights
        ``(B, L, S)`` (``None`` for a model without attention).
    """
    _check_decode_args("greedy_decode", model, max_len)
    with no_grad():
        keys, state, mask = model.encode(src, src_lengths)
        B = src.shape[0]
        dev = src.device
        pk = model.decoder.prepare(keys)
        token = full((B,), model.sos_idx, dtype=src.dtype, device=dev)
        pad = full((B,), model.pad_idx, dtype=src.dtype, device=dev)
        finished = full((B,), False, dtype=bool, device=dev)
        score = None
        tokens, weights = [], []
        for _ in range(max_len):
            logits, state, w = model.decoder.step(token, state, keys, mask, pk)
            logp = logits.log_softmax(dim=1)
            token = logp.argmax(dim=1)
            step_score = logp.gather(1, token.unsqueeze(1)).squeeze(1).masked_fill(finished, 0.0)
            score = step_score if score is None else score + step_score
            token = where(finished, pad, token)
            tokens.append(token)
            weights.append(w)
            finished = finished | (token == model.eos_idx)
            if bool(finished.all()):
                break
        out = stack(tokens, dim=1), score
        if return_attention:
            out = out + (stack(weights, dim=1) if model.decoder.attention is not None else None,)
        return out


def beam_search(model: Seq2Seq, src: Tensor, src_lengths, beam_size: int, max_len: int, eos: int | None = None):
    """Beam search by plain log-probability ``Σ_t log p(y_t | y_<t, x)`` (no length normalisation).

    Keeps ``beam_size`` live hypotheses per source sequence; a hypothesis that emits ``eos`` is moved
    to that sequence's finished list (kept, not dropped). A sequence stops when its best finished
    score is at least its best live score (live scores can only fall, so nothing better can appear)
    or after ``max_len`` steps, when live hypotheses compete as they are. ``beam_size=1`` is exactly
    :func:`greedy_decode`. Runs under ``no_grad``.

    Returns:
        ``(tokens (B, L) long, scores (B,))`` as :func:`greedy_decode`: the best hypothesis per
        sequence, ``eos`` included, then ``pad_idx``.
    """
    _check_decode_args("beam_search", model, max_len)
    _check_positive_int("beam_search", "beam_size", beam_size)
    eos = model.eos_idx if eos is None else eos
    if isinstance(eos, bool) or not isinstance(eos, (int, np.integer)) or not 0 <= eos < model.decoder.vocab_size:
        raise IndexError(f"beam_search: eos must be a token index in [0, {model.decoder.vocab_size}), got {eos!r}")
    K = int(beam_size)
    with no_grad():
        keys, state, mask = model.encode(src, src_lengths)
        B, dev = src.shape[0], src.device
        rows = tensor(np.repeat(np.arange(B), K), device=dev)
        keys, mask = keys.index_select(0, rows), mask.index_select(0, rows)
        state = _select_state(state, rows)
        pk = model.decoder.prepare(keys)
        scores = np.full((B, K), -np.inf)
        scores[:, 0] = 0.0                                   # one live hypothesis to start: no duplicates
        seqs = [[[] for _ in range(K)] for _ in range(B)]
        finished: list[list[tuple[float, list]]] = [[] for _ in range(B)]
        done = np.zeros(B, dtype=bool)
        token = full((B * K,), model.sos_idx, dtype=src.dtype, device=dev)
        for _ in range(max_len):
            logits, state, _ = model.decoder.step(token, state, keys, mask, pk)
            logp = logits.log_softmax(dim=1).numpy().astype(np.float64)
            V = logp.shape[1]
            cand = (scores[:, :, None] + logp.reshape(B, K, V)).reshape(B, K * V)
            order = np.argsort(-cand, axis=1, kind="stable")[:, :2 * K]
            new_scores = np.full((B, K), -np.inf)
            parent = np.zeros((B, K), dtype=np.int64)
            new_tok = np.full((B, K), model.pad_idx, dtype=np.int64)
            new_seqs = [[[] for _ in range(K)] for _ in range(B)]
            for b in range(B):
                if done[b]:
                    continue
                j = 0
                for idx in order[b]:
                    s = cand[b, idx]
                    if s == -np.inf or j == K:
                        break
                    k, tok = divmod(int(idx), V)
                    if tok == eos:
                        finished[b].append((float(s), seqs[b][k] + [tok]))
                    else:
                        new_scores[b, j], parent[b, j], new_tok[b, j] = s, k, tok
                        new_seqs[b][j] = seqs[b][k] + [tok]
                        j += 1
                best_done = max((f[0] for f in finished[b]), default=-np.inf)
                if j == 0 or best_done >= new_scores[b, 0]:
                    done[b] = True
            scores, seqs = new_scores, new_seqs
            if done.all():
                break
            sel = tensor((np.arange(B)[:, None] * K + parent).reshape(-1), device=dev)
            state = _select_state(state, sel)
            token = tensor(new_tok.reshape(-1), device=dev).to(src.dtype)
        best_tokens, best_scores = [], []
        for b in range(B):
            pool = list(finished[b])
            if not done[b]:                                  # max_len reached: live hypotheses compete too
                pool += [(float(scores[b, k]), seqs[b][k]) for k in range(K) if scores[b, k] > -np.inf]
            s, seq = max(pool, key=lambda p: p[0])
            best_tokens.append(seq)
            best_scores.append(s)
        L = max(len(s) for s in best_tokens)
        out = np.full((B, L), model.pad_idx, dtype=np.int64)
        for b, seq in enumerate(best_tokens):
            out[b, :len(seq)] = seq
        dtype = logits.dtype
        return tensor(out, device=dev).to(src.dtype), tensor(np.asarray(best_scores), device=dev).to(dtype)
