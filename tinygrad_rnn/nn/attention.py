"""Attention over an encoder's outputs: additive (Bahdanau) and multiplicative (Luong) scores.

Both modules map a query ``q`` (the decoder's hidden state, ``(B, Hq)``) and keys ``k_1..k_S`` (the
encoder's outputs, ``(B, S, Hk)``) to weights and a context vector::

    e_s = score(q, k_s)                                  one number per source position
    a   = softmax(e)  over the valid positions          padded positions get a_s = 0 exactly
    c   = Σ_s a_s k_s                                    the context, (B, Hk)

Scores:

    Bahdanau (additive)      e_s = vᵀ tanh(W_q q + W_k k_s)           (Bahdanau et al. 2015)
    Luong "dot"              e_s = qᵀ k_s                              (Luong et al. 2015, needs Hq == Hk)
    Luong "general"          e_s = qᵀ W_a k_s

Masking: ``mask`` is ``(B, S)`` bool with ``True`` = a real source token. Invalid scores are replaced by
``-inf`` before the softmax, so their weights are exactly zero; a row with no valid position at all
gets all-zero weights and a zero context (never NaN).

Where the decoder puts the context (input or output side of its cell) is each module's
``placement`` attribute, read by :class:`~tinygrad_rnn.nn.seq2seq.Decoder`: ``"input"`` for Bahdanau
(the context of the previous state is fed into the cell with the embedding), ``"output"`` for Luong
(the attentional hidden state ``tanh(W_c [c; h])`` is computed from the new state).

The part of a score that depends only on the keys (``W_k k`` or ``W_a k``) is the same at every
decoder step: :meth:`project_keys` computes it once, and ``forward(..., projected_keys=...)`` reuses it.
"""

from __future__ import annotations

from ..tensor import Tensor
from .linear import Linear
from .module import Module

__all__ = ["BahdanauAttention", "LuongAttention", "masked_softmax"]


def masked_softmax(scores: Tensor, mask: Tensor | None) -> Tensor:
    """softmax over the last dim restricted to ``mask`` (True = valid); masked entries are exactly 0.

    A row with no valid entry gets all-zero weights (its scores are left finite for the softmax and
    the result is zeroed afterwards, so no ``-inf - -inf`` NaN appears, in forward or backward).
    """
    if mask is None:
        return scores.softmax(dim=-1)
    invalid = ~mask
    fill = invalid & mask.any(dim=-1, keepdim=True)      # -inf only in rows that keep some valid entry
    weights = scores.masked_fill(fill, float("-inf")).softmax(dim=-1)
    return weights.masked_fill(invalid, 0.0)


def _check_inputs(who: str, query: Tensor, keys: Tensor, mask: Tensor | None, query_dim: int,
                  key_dim: int) -> None:
    """Shapes and dtypes of an attention call; raise before any work is done."""
    if not isinstance(query, Tensor) or not isinstance(keys, Tensor):
        raise TypeError(f"{who}: query and keys must be Tensors, got {type(query).__name__} and "
                        f"{type(keys).__name__}")
    if query.ndim != 2 or query.shape[1] != query_dim:
        raise ValueError(f"{who}: query must have shape (B, {query_dim}), got {tuple(query.shape)}")
    if keys.ndim != 3 or keys.shape[2] != key_dim or keys.shape[0] != query.shape[0]:
        raise ValueError(f"{who}: keys must have shape ({query.shape[0]}, S, {key_dim}), got "
                         f"{tuple(keys.shape)}")
    if mask is not None:
        if not isinstance(mask, Tensor) or mask.dtype != bool:
            raise TypeError(f"{who}: mask must be a bool Tensor (True = valid), got "
                            f"{getattr(mask, 'dtype', type(mask).__name__)}")
        if tuple(mask.shape) != tuple(keys.shape[:2]):
            raise ValueError(f"{who}: mask must have shape {tuple(keys.shape[:2])} (B, S), got "
                             f"{tuple(mask.shape)}")


def _attend(scores: Tensor, keys: Tensor, mask: Tensor | None) -> tuple[Tensor, Tensor]:
    """weights = masked softmax of scores (B, S); context = Σ_s weights_s keys_s (B, Hk)."""
    weights = masked_softmax(scores, mask)
    context = (weights.unsqueeze(1) @ keys).squeeze(1)
    return context, weights


class BahdanauAttention(Module):
    """Additive attention: ``e_s = vᵀ tanh(W_q q + W_k k_s)`` (Bahdanau, Cho & Bengio 2015).

    Args:
        query_dim: size ``Hq`` of the query (the decoder's hidden size).
        key_dim: size ``Hk`` of each key (the encoder's output size, ``2H`` when bidirectional).
        attn_dim: size of the hidden layer of the score network.

    Shape:
        query ``(B, Hq)``, keys ``(B, S, Hk)``, mask ``(B, S)`` bool (True = valid) or ``None``
        → context ``(B, Hk)``, weights ``(B, S)`` (rows sum to 1 over the valid positions).

    Attributes:
        query_proj.weight ``(attn_dim, Hq)`` = W_q, key_proj.weight ``(attn_dim, Hk)`` = W_k,
        v.weight ``(1, attn_dim)`` = vᵀ (no biases, as in the formula).
        placement: ``"input"`` — a decoder feeds the context into its cell's input.

    Example::

        attn = tr.nn.BahdanauAttention(32, 64, 16)
        context, weights = attn(h, encoder_outputs, mask)
    """

    placement = "input"

    def __init__(self, query_dim: int, key_dim: int, attn_dim: int, dtype=None, device=None) -> None:
        super().__init__()
        for name, value in (("query_dim", query_dim), ("key_dim", key_dim), ("attn_dim", attn_dim)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"BahdanauAttention: {name} must be a positive int, got {value!r}")
        self.query_dim, self.key_dim, self.attn_dim = query_dim, key_dim, attn_dim
        self.query_proj = Linear(query_dim, attn_dim, bias=False, dtype=dtype, device=device)
        self.key_proj = Linear(key_dim, attn_dim, bias=False, dtype=dtype, device=device)
        self.v = Linear(attn_dim, 1, bias=False, dtype=dtype, device=device)

    def project_keys(self, keys: Tensor) -> Tensor:
        """W_k k_s for every position, ``(B, S, attn_dim)``: independent of the query, compute it once."""
        return self.key_proj(keys)

    def forward(self, query: Tensor, keys: Tensor, mask: Tensor | None = None, *,
                projected_keys: Tensor | None = None) -> tuple[Tensor, Tensor]:
        _check_inputs("BahdanauAttention", query, keys, mask, self.query_dim, self.key_dim)
        pk = self.project_keys(keys) if projected_keys is None else projected_keys
        hidden = (pk + self.query_proj(query).unsqueeze(1)).tanh()          # (B, S, A)
        scores = self.v(hidden).squeeze(2)                                  # (B, S)
        return _attend(scores, keys, mask)

    def extra_repr(self) -> str:
        return f"query_dim={self.query_dim}, key_dim={self.key_dim}, attn_dim={self.attn_dim}"


class LuongAttention(Module):
    """Multiplicative attention (Luong, Pham & Manning 2015): ``e_s = qᵀ k_s`` or ``qᵀ W_a k_s``.

    Args:
        query_dim: size ``Hq`` of the query (the decoder's hidden size).
        key_dim: size ``Hk`` of each key; ``score="dot"`` needs ``key_dim == query_dim``.
        score: ``"dot"`` (no parameters) or ``"general"`` (``W_a``: ``weight`` of shape ``(Hq, Hk)``).

    Shape:
        query ``(B, Hq)``, keys ``(B, S, Hk)``, mask ``(B, S)`` bool (True = valid) or ``None``
        → context ``(B, Hk)``, weights ``(B, S)``.

    Attributes:
        placement: ``"output"`` — a decoder attends with its new state ``h_t`` and outputs the
        attentional hidden state ``tanh(W_c [c_t; h_t])``.
    """

    placement = "output"
    SCORES = ("dot", "general")

    def __init__(self, query_dim: int, key_dim: int, score: str = "general", dtype=None, device=None) -> None:
        super().__init__()
        for name, value in (("query_dim", query_dim), ("key_dim", key_dim)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"LuongAttention: {name} must be a positive int, got {value!r}")
        if score not in self.SCORES:
            raise ValueError(f"LuongAttention: score must be one of {self.SCORES}, got {score!r}")
        if score == "dot" and query_dim != key_dim:
            raise ValueError(f"LuongAttention: score='dot' needs query_dim == key_dim, got {query_dim} "
                             f"and {key_dim} (use score='general')")
        self.query_dim, self.key_dim, self.score = query_dim, key_dim, score
        # W_a k_s as a Linear over the keys: weight (Hq, Hk), so e_s = qᵀ (W_a k_s).
        self.key_proj = Linear(key_dim, query_dim, bias=False, dtype=dtype, device=device) \
            if score == "general" else None

    def project_keys(self, keys: Tensor) -> Tensor:
        """W_a k_s (``"general"``) or k_s itself (``"dot"``), ``(B, S, Hq)``; compute once per source."""
        return keys if self.key_proj is None else self.key_proj(keys)

    def forward(self, query: Tensor, keys: Tensor, mask: Tensor | None = None, *,
                projected_keys: Tensor | None = None) -> tuple[Tensor, Tensor]:
        _check_inputs("LuongAttention", query, keys, mask, self.query_dim, self.key_dim)
        pk = self.project_keys(keys) if projected_keys is None else projected_keys
        scores = (pk @ query.unsqueeze(2)).squeeze(2)                   # (B, S)
        return _attend(scores, keys, mask)

    def extra_repr(self) -> str:
        return f"query_dim={self.query_dim}, key_dim={self.key_dim}, score={self.score!r}"
