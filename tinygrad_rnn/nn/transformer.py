"""Multi-head attention and the Transformer (Vaswani et al. 2017), with PyTorch's names and numbers.

``MultiheadAttention``, ``TransformerEncoderLayer``, ``TransformerEncoder``, ``TransformerDecoderLayer``,
``TransformerDecoder`` and ``Transformer`` take PyTorch's arguments, defaults and parameter names, so a
torch ``state_dict`` loads and gives the same outputs and gradients. The projections are ``Linear``s,
the weights returned by ``need_weights=True`` come from the public ops (``matmul``, ``softmax``,
``dropout``), and the layers' attention goes through ``F.scaled_dot_product_attention`` (one fused
``Function`` without dropout: about 1.1–1.9x faster than the composed ops at T = 128..1024):

    head_i = softmax(Q_i K_iᵀ / √d + M) V_i,   Q_i = q W_q,iᵀ + b_q,i, ... (d = embed_dim / num_heads)
    MHA(q, k, v) = concat(head_1, ..., head_h) W_oᵀ + b_o

Masks follow PyTorch: in ``MultiheadAttention`` and the Transformer layers a **bool** ``attn_mask`` /
``key_padding_mask`` is True where attention is *not allowed*; a float mask is added to the scores
(``-inf`` forbids). (``F.scaled_dot_product_attention``'s bool mask is the opposite: True = allowed.)

PyTorch's inference fast paths (nested tensors, the fused native kernels in ``eval()`` under
``no_grad``) are not reproduced: their numbers equal the ordinary path's except that padded output
positions come back as zeros there.
"""

from __future__ import annotations

import copy
import math
import numbers
import warnings
from typing import Callable

import numpy as np

from . import functional as F, init
from ..tensor import Tensor, cat, zeros
from .containers import ModuleList
from .linear import Dropout, Linear
from .module import Module, empty_parameter
from .normalization import LayerNorm

__all__ = ["MultiheadAttention", "Transformer", "TransformerDecoder", "TransformerDecoderLayer",
           "TransformerEncoder", "TransformerEncoderLayer", "generate_square_subsequent_mask"]


def generate_square_subsequent_mask(sz: int, device=None, dtype=None) -> Tensor:
    """The (sz, sz) float causal mask: 0 on and below the diagonal, -inf above (position i sees j ≤ i)."""
    if isinstance(sz, bool) or not isinstance(sz, (int, np.integer)) or sz < 0:
        raise ValueError(f"sz: expected a non-negative int, got {sz!r}")
    from ..tensor import full
    from .module import factory_kwargs
    kw = factory_kwargs(dtype, device)
    m = full((int(sz), int(sz)), float("-inf"), **kw)
    return m._new(m._xp.triu(m._data, 1))


def _canonical_mask(mask: Tensor | None, name: str, dtype) -> Tensor | None:
    """A bool mask (True = not allowed) as a float mask of ``dtype`` (-inf where True, 0 elsewhere);
    a float mask as it is."""
    if mask is None:
        return None
    if not isinstance(mask, Tensor):
        raise TypeError(f"{name}: expected a Tensor or None, got {type(mask).__name__}")
    if mask.dtype == bool:
        xp = mask._xp
        return mask._new(xp.where(mask._data, -xp.inf, 0.0).astype(dtype))
    if mask.dtype.kind != "f":
        raise TypeError(f"{name}: only bool and floating types of masks are supported, got dtype {mask.dtype}")
    return mask


def _mask_kind(mask) -> str | None:
    return None if mask is None else ("bool" if mask.dtype == bool else "float")


def _check_masks(key_padding_mask, attn_mask) -> None:
    kinds = (_mask_kind(key_padding_mask), _mask_kind(attn_mask))
    if None not in kinds and kinds[0] != kinds[1]:
        warnings.warn("Support for mismatched key_padding_mask and attn_mask is deprecated. Use same type for both "
                      "instead.", UserWarning, stacklevel=3)


class MultiheadAttention(Module):
    """Multi-head attention: ``concat(head_1..head_h) W_oᵀ + b_o``, head_i = softmax(Q_i K_iᵀ/√d + M) V_i.

    Args:
        embed_dim: the model dimension E (of the query and the output).
        num_heads: h; E must be divisible by h (each head has d = E/h).
        dropout: dropout on the attention weights, in training mode (default 0.0).
        bias: biases on the input and output projections (default True).
        add_bias_kv: learn ``bias_k`` and ``bias_v`` appended to the keys and values as one more position.
        add_zero_attn: append a zero key and value position.
        kdim, vdim: key and value dims (default E); when they differ from E the input projections are
            ``q_proj_weight``, ``k_proj_weight``, ``v_proj_weight`` instead of one ``in_proj_weight``.
        batch_first: inputs and outputs are (N, L, E) instead of (L, N, E).
        device, dtype: of the parameters.

    Attributes:
        in_proj_weight: (3E, E), Xavier-uniform; in_proj_bias: (3E,), zeros; out_proj: ``Linear(E, E)``
        with zero bias (as PyTorch).

    Shape (``batch_first=False``): query (L, N, E), key (S, N, kdim), value (S, N, vdim); unbatched
    (L, E), (S, kdim), (S, vdim). Output (L, N, E) and, with ``need_weights``, weights (N, L, S)
    averaged over heads, or (N, h, L, S) with ``average_attn_weights=False``.
    """

    def __init__(self, embed_dim: int, num_heads: int, dropout: float = 0.0, bias: bool = True,
                 add_bias_kv: bool = False, add_zero_attn: bool = False, kdim: int | None = None,
                 vdim: int | None = None, batch_first: bool = False, device=None, dtype=None) -> None:
        super().__init__()
        for name, v in (("embed_dim", embed_dim), ("num_heads", num_heads)):
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v <= 0:
                raise ValueError(f"{name}: expected a positive int, got {v!r}")
        if embed_dim % num_heads:
            raise ValueError(f"embed_dim must be divisible by num_heads, got embed_dim={embed_dim} and "
                             f"num_heads={num_heads}")
        if isinstance(dropout, bool) or not isinstance(dropout, numbers.Real) or not 0.0 <= dropout <= 1.0:
            raise ValueError(f"dropout: expected a probability in [0, 1], got {dropout!r}")
        kw = dict(dtype=dtype, device=device)
        self.embed_dim = int(embed_dim)
        self.kdim = self.embed_dim if kdim is None else int(kdim)
        self.vdim = self.embed_dim if vdim is None else int(vdim)
        self._qkv_same_embed_dim = self.kdim == self.embed_dim and self.vdim == self.embed_dim
        self.num_heads = int(num_heads)
        self.dropout = float(dropout)
        self.batch_first = bool(batch_first)
        self.head_dim = self.embed_dim // self.num_heads
        E = self.embed_dim
        if self._qkv_same_embed_dim:
            self.in_proj_weight = empty_parameter(3 * E, E, **kw)
            self.register_parameter("q_proj_weight", None)
            self.register_parameter("k_proj_weight", None)
            self.register_parameter("v_proj_weight", None)
        else:
            self.q_proj_weight = empty_parameter(E, E, **kw)
            self.k_proj_weight = empty_parameter(E, self.kdim, **kw)
            self.v_proj_weight = empty_parameter(E, self.vdim, **kw)
            self.register_parameter("in_proj_weight", None)
        if bias:
            self.in_proj_bias = empty_parameter(3 * E, **kw)
        else:
            self.register_parameter("in_proj_bias", None)
        self.out_proj = Linear(E, E, bias=bias, **kw)
        if add_bias_kv:
            self.bias_k = empty_parameter(1, 1, E, **kw)
            self.bias_v = empty_parameter(1, 1, E, **kw)
        else:
            self.bias_k = self.bias_v = None
        self.add_zero_attn = bool(add_zero_attn)
        self._reset_parameters()

    def _reset_parameters(self) -> None:
        if self._qkv_same_embed_dim:
            init.xavier_uniform_(self.in_proj_weight)
        else:
            init.xavier_uniform_(self.q_proj_weight)
            init.xavier_uniform_(self.k_proj_weight)
            init.xavier_uniform_(self.v_proj_weight)
        if self.in_proj_bias is not None:
            init.constant_(self.in_proj_bias, 0.0)
            init.constant_(self.out_proj.bias, 0.0)
        if self.bias_k is not None:
            init.xavier_normal_(self.bias_k)
            init.xavier_normal_(self.bias_v)

    def _projections(self, query: Tensor, key: Tensor, value: Tensor) -> tuple:
        E = self.embed_dim
        b = self.in_proj_bias
        bq, bk, bv = (None, None, None) if b is None else (b[:E], b[E:2 * E], b[2 * E:])
        if self._qkv_same_embed_dim:
            w = self.in_proj_weight
            wq, wk, wv = w[:E], w[E:2 * E], w[2 * E:]
        else:
            wq, wk, wv = self.q_proj_weight, self.k_proj_weight, self.v_proj_weight
        return F.linear(query, wq, bq), F.linear(key, wk, bk), F.linear(value, wv, bv)

    def forward(self, query: Tensor, key: Tensor, value: Tensor, key_padding_mask: Tensor | None = None,
                need_weights: bool = True, attn_mask: Tensor | None = None, average_attn_weights: bool = True,
                is_causal: bool = False) -> tuple:
        """Attend from ``query`` to ``key``/``value``; returns ``(attn_output, attn_weights or None)``.

        Args:
            key_padding_mask: (N, S) (or (S,) unbatched); bool True = ignore that key, or float added.
            need_weights: also return the attention weights (then computed with an explicit softmax; a
                query with every key masked gives NaN weights there, as PyTorch).
            attn_mask: (L, S) or (N·h, L, S); bool True = not allowed, or float added to the scores.
            average_attn_weights: average the returned weights over heads.
            is_causal: a hint that ``attn_mask`` is the causal mask (it must be given, as PyTorch). With
                ``need_weights=False`` and no ``key_padding_mask`` it is trusted, as PyTorch does: the
                attention is causal and ``attn_mask`` is not read.
        """
        for name, x in (("query", query), ("key", key), ("value", value)):
            F._float_arg(x, name)
        batched = query.ndim == 3
        if query.ndim not in (2, 3) or key.ndim != query.ndim or value.ndim != query.ndim:
            raise ValueError(f"MultiheadAttention: query, key and value must all be 3-D (batched) or 2-D "
                             f"(unbatched), got shapes {tuple(query.shape)}, {tuple(key.shape)}, {tuple(value.shape)}")
        if is_causal and attn_mask is None:
            raise RuntimeError("MultiheadAttention: need attn_mask if specifying the is_causal hint (you may use "
                               "Transformer.generate_square_subsequent_mask to create it)")
        _check_masks(key_padding_mask, attn_mask)
        if batched and self.batch_first:
            query, key, value = (t.transpose(0, 1) for t in (query, key, value))
        if not batched:
            query, key, value = (t.unsqueeze(1) for t in (query, key, value))
            if key_padding_mask is not None:
                key_padding_mask = key_padding_mask.unsqueeze(0)
        L, N, E = query.shape
        S = key.shape[0]
        if E != self.embed_dim:
            raise ValueError(f"MultiheadAttention: was expecting embedding dimension of {self.embed_dim}, but got {E}")
        if key.shape[:2] != value.shape[:2] or key.shape[1] != N or key.shape[2] != self.kdim or \
                value.shape[2] != self.vdim:
            raise ValueError(f"MultiheadAttention: key (S, N, {self.kdim}) and value (S, N, {self.vdim}) must match "
                             f"the query's batch N={N}, got key {tuple(key.shape)} and value {tuple(value.shape)}")
        h, d = self.num_heads, self.head_dim
        key_padding_mask = _canonical_mask(key_padding_mask, "key_padding_mask", query.dtype)
        attn_mask = _canonical_mask(attn_mask, "attn_mask", query.dtype)
        if attn_mask is not None:
            if attn_mask.ndim == 2:
                if tuple(attn_mask.shape) != (L, S):
                    raise RuntimeError(f"The shape of the 2D attn_mask is {tuple(attn_mask.shape)}, but should be "
                                       f"{(L, S)}.")
                attn_mask = attn_mask.unsqueeze(0)
            elif attn_mask.ndim == 3:
                if tuple(attn_mask.shape) != (N * h, L, S):
                    raise RuntimeError(f"The shape of the 3D attn_mask is {tuple(attn_mask.shape)}, but should be "
                                       f"{(N * h, L, S)}.")
            else:
                raise RuntimeError(f"attn_mask's dimension {attn_mask.ndim} is not supported")
        if key_padding_mask is not None and tuple(key_padding_mask.shape) != (N, S):
            raise ValueError(f"MultiheadAttention: expected key_padding_mask of shape {(N, S)}, but got "
                             f"{tuple(key_padding_mask.shape)}")
        # As PyTorch: the hint is trusted when nothing else needs the mask (no padding mask, no weights
        # returned): the mask is dropped and the attention is causal by construction (its fast path).
        is_causal = bool(is_causal) and key_padding_mask is None and not need_weights
        if is_causal:
            attn_mask = None

        q, k, v = self._projections(query, key, value)
        if self.bias_k is not None:
            k = cat([k, self.bias_k.expand(1, N, E)])
            v = cat([v, self.bias_v.expand(1, N, E)])
            attn_mask = None if attn_mask is None else F.pad(attn_mask, (0, 1))
            key_padding_mask = None if key_padding_mask is None else F.pad(key_padding_mask, (0, 1))
        q = q.reshape(L, N * h, d).transpose(0, 1)                  # (N·h, L, d)
        k = k.reshape(k.shape[0], N * h, d).transpose(0, 1)         # (N·h, S, d)
        v = v.reshape(v.shape[0], N * h, d).transpose(0, 1)
        if self.add_zero_attn:
            z = zeros(N * h, 1, d, dtype=k.dtype, device=k.device)
            k, v = cat([k, z], 1), cat([v, z], 1)
            attn_mask = None if attn_mask is None else F.pad(attn_mask, (0, 1))
            key_padding_mask = None if key_padding_mask is None else F.pad(key_padding_mask, (0, 1))
        S = k.shape[1]
        if key_padding_mask is not None:
            kpm = key_padding_mask.reshape(N, 1, 1, S).expand(N, h, 1, S).reshape(N * h, 1, S)
            attn_mask = kpm if attn_mask is None else attn_mask + kpm
        p = self.dropout if self.training else 0.0

        if need_weights:
            scores = (q * math.sqrt(1.0 / d)).matmul(k.transpose(-2, -1))
            if attn_mask is not None:
                scores = scores + attn_mask
            weights = scores.softmax(-1)
            if p > 0.0:
                weights = F.dropout(weights, p)
            out = weights.matmul(v)                                  # (N·h, L, d)
        else:
            weights = None
            mask4 = None
            if attn_mask is not None:      # (1, L, S) -> (1, 1, L, S); (N·h, L or 1, S) -> (N, h, L or 1, S)
                mask4 = attn_mask.unsqueeze(0) if attn_mask.shape[0] == 1 else attn_mask.reshape(N, h, -1, S)
            out = F.scaled_dot_product_attention(q.reshape(N, h, L, d), k.reshape(N, h, S, d),
                                                 v.reshape(N, h, S, d), attn_mask=mask4, dropout_p=p,
                                                 is_causal=is_causal)
            out = out.reshape(N * h, L, d)
        out = out.transpose(0, 1).reshape(L * N, E)
        out = self.out_proj(out).reshape(L, N, E)
        if weights is not None:
            weights = weights.reshape(N, h, L, S)
            if average_attn_weights:
                weights = weights.mean(1)
            if not batched:
                weights = weights.squeeze(0)
        if not batched:
            out = out.squeeze(1)
        elif self.batch_first:
            out = out.transpose(0, 1)
        return out, weights

    def extra_repr(self) -> str:
        return f"embed_dim={self.embed_dim}, num_heads={self.num_heads}, batch_first={self.batch_first}"


def _activation(activation) -> Callable:
    if isinstance(activation, str):
        if activation == "relu":
            return F.relu
        if activation == "gelu":
            return F.gelu
        raise RuntimeError(f"activation should be relu/gelu, not {activation}")
    if not callable(activation):
        raise TypeError(f"activation: expected 'relu', 'gelu' or a callable, got {type(activation).__name__}")
    return activation


def _seq_len(x: Tensor, batch_first: bool) -> int:
    return x.shape[0] if x.ndim == 2 or not batch_first else x.shape[1]


def _detect_is_causal_mask(mask: Tensor | None, is_causal: bool | None, size: int) -> bool:
    """PyTorch's rule: ``is_causal`` if given, else whether ``mask`` is exactly the causal mask of ``size``
    (read back from the device, as PyTorch does)."""
    if is_causal is None and mask is not None and tuple(mask.shape) == (size, size):
        xp = mask._xp
        m = _canonical_mask(mask, "mask", np.float64)._data
        return bool((m == xp.triu(xp.full((size, size), -xp.inf), 1)).all())
    return bool(is_causal)


class TransformerEncoderLayer(Module):
    """Self-attention and a feed-forward block, each with a residual connection and a LayerNorm.

    Post-norm (default):  x = norm1(x + SA(x));  x = norm2(x + FF(x))
    Pre-norm (``norm_first=True``):  x = x + SA(norm1(x));  x = x + FF(norm2(x))
    FF(x) = linear2(dropout(activation(linear1(x)))), each block's output through its own dropout.

    Args:
        d_model, nhead: model width and number of heads.
        dim_feedforward: width of the feed-forward block (default 2048).
        dropout: dropout rate everywhere (default 0.1).
        activation: ``"relu"`` (default), ``"gelu"`` or a callable (e.g. ``nn.GELU()``).
        layer_norm_eps: the LayerNorms' ε (default 1e-5).
        batch_first: (N, L, E) instead of (L, N, E).  norm_first: pre-norm.  bias: in every Linear/LayerNorm.
        device, dtype: of the parameters.

    Shape: src (L, N, E), (N, L, E) with ``batch_first``, or unbatched (L, E) -> the same.
    """

    def __init__(self, d_model: int, nhead: int, dim_feedforward: int = 2048, dropout: float = 0.1,
                 activation: str | Callable = F.relu, layer_norm_eps: float = 1e-5, batch_first: bool = False,
                 norm_first: bool = False, bias: bool = True, device=None, dtype=None) -> None:
        super().__init__()
        kw = dict(device=device, dtype=dtype)
        self.self_attn = MultiheadAttention(d_model, nhead, dropout=dropout, bias=bias, batch_first=batch_first, **kw)
        self.linear1 = Linear(d_model, dim_feedforward, bias=bias, **kw)
        self.dropout = Dropout(dropout)
        self.linear2 = Linear(dim_feedforward, d_model, bias=bias, **kw)
        self.norm_first = bool(norm_first)
        self.norm1 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **kw)
        self.norm2 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **kw)
        self.dropout1 = Dropout(dropout)
        self.dropout2 = Dropout(dropout)
        self.activation = _activation(activation)

    def forward(self, src: Tensor, src_mask: Tensor | None = None, src_key_padding_mask: Tensor | None = None,
                is_causal: bool = False) -> Tensor:
        """One encoder layer. ``src_mask`` (L, L) or (N·h, L, L) and ``src_key_padding_mask`` (N, L): bool
        True = not allowed, or float added; ``is_causal``: a hint that ``src_mask`` is causal."""
        F._float_arg(src, "src")
        x = src
        if self.norm_first:
            x = x + self._sa_block(self.norm1(x), src_mask, src_key_padding_mask, is_causal)
            x = x + self._ff_block(self.norm2(x))
        else:
            x = self.norm1(x + self._sa_block(x, src_mask, src_key_padding_mask, is_causal))
            x = self.norm2(x + self._ff_block(x))
        return x

    def _sa_block(self, x, attn_mask, key_padding_mask, is_causal) -> Tensor:
        x = self.self_attn(x, x, x, attn_mask=attn_mask, key_padding_mask=key_padding_mask, need_weights=False,
                           is_causal=is_causal)[0]
        return self.dropout1(x)

    def _ff_block(self, x) -> Tensor:
        return self.dropout2(self.linear2(self.dropout(self.activation(self.linear1(x)))))


class TransformerDecoderLayer(Module):
    """Self-attention, attention over the encoder's ``memory``, and a feed-forward block.

    Post-norm (default):  x = norm1(x + SA(x));  x = norm2(x + MHA(x, memory));  x = norm3(x + FF(x))
    Pre-norm (``norm_first=True``):  x = x + SA(norm1(x));  x = x + MHA(norm2(x), memory);  x = x + FF(norm3(x))

    Args: as :class:`TransformerEncoderLayer`.

    Shape: tgt (T, N, E), memory (S, N, E) (batch first: (N, T, E), (N, S, E); unbatched (T, E), (S, E)).
    """

    def __init__(self, d_model: int, nhead: int, dim_feedforward: int = 2048, dropout: float = 0.1,
                 activation: str | Callable = F.relu, layer_norm_eps: float = 1e-5, batch_first: bool = False,
                 norm_first: bool = False, bias: bool = True, device=None, dtype=None) -> None:
        super().__init__()
        kw = dict(device=device, dtype=dtype)
        self.self_attn = MultiheadAttention(d_model, nhead, dropout=dropout, batch_first=batch_first, bias=bias, **kw)
        self.multihead_attn = MultiheadAttention(d_model, nhead, dropout=dropout, batch_first=batch_first, bias=bias,
                                                 **kw)
        self.linear1 = Linear(d_model, dim_feedforward, bias=bias, **kw)
        self.dropout = Dropout(dropout)
        self.linear2 = Linear(dim_feedforward, d_model, bias=bias, **kw)
        self.norm_first = bool(norm_first)
        self.norm1 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **kw)
        self.norm2 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **kw)
        self.norm3 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **kw)
        self.dropout1 = Dropout(dropout)
        self.dropout2 = Dropout(dropout)
        self.dropout3 = Dropout(dropout)
        self.activation = _activation(activation)

    def forward(self, tgt: Tensor, memory: Tensor, tgt_mask: Tensor | None = None, memory_mask: Tensor | None = None,
                tgt_key_padding_mask: Tensor | None = None, memory_key_padding_mask: Tensor | None = None,
                tgt_is_causal: bool = False, memory_is_causal: bool = False) -> Tensor:
        """One decoder layer; masks as in :meth:`MultiheadAttention.forward` (bool True = not allowed)."""
        F._float_arg(tgt, "tgt")
        F._float_arg(memory, "memory")
        x = tgt
        if self.norm_first:
            x = x + self._sa_block(self.norm1(x), tgt_mask, tgt_key_padding_mask, tgt_is_causal)
            x = x + self._mha_block(self.norm2(x), memory, memory_mask, memory_key_padding_mask, memory_is_causal)
            x = x + self._ff_block(self.norm3(x))
        else:
            x = self.norm1(x + self._sa_block(x, tgt_mask, tgt_key_padding_mask, tgt_is_causal))
            x = self.norm2(x + self._mha_block(x, memory, memory_mask, memory_key_padding_mask, memory_is_causal))
            x = self.norm3(x + self._ff_block(x))
        return x

    def _sa_block(self, x, attn_mask, key_padding_mask, is_causal) -> Tensor:
        x = self.self_attn(x, x, x, attn_mask=attn_mask, key_padding_mask=key_padding_mask, is_causal=is_causal,
                           need_weights=False)[0]
        return self.dropout1(x)

    def _mha_block(self, x, mem, attn_mask, key_padding_mask, is_causal) -> Tensor:
        x = self.multihead_attn(x, mem, mem, attn_mask=attn_mask, key_padding_mask=key_padding_mask,
                                is_causal=is_causal, need_weights=False)[0]
        return self.dropout2(x)

    def _ff_block(self, x) -> Tensor:
        return self.dropout3(self.linear2(self.dropout(self.activation(self.linear1(x)))))


def _clones(module: Module, n: int) -> ModuleList:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
        raise ValueError(f"num_layers: expected a non-negative int, got {n!r}")
    return ModuleList([copy.deepcopy(module) for _ in range(int(n))])


class TransformerEncoder(Module):
    """A stack of ``num_layers`` copies of ``encoder_layer`` (deep copies: independent parameters), then ``norm``.

    ``enable_nested_tensor`` and ``mask_check`` are accepted for PyTorch's signature; the nested-tensor
    fast path is not reproduced (see the module docstring).
    """

    def __init__(self, encoder_layer: TransformerEncoderLayer, num_layers: int, norm: Module | None = None,
                 enable_nested_tensor: bool = True, mask_check: bool = True) -> None:
        super().__init__()
        if not isinstance(encoder_layer, Module):
            raise TypeError(f"encoder_layer: expected a Module, got {type(encoder_layer).__name__}")
        self.layers = _clones(encoder_layer, num_layers)
        self.num_layers = int(num_layers)
        self.norm = norm
        self.enable_nested_tensor = enable_nested_tensor
        self.mask_check = mask_check

    def forward(self, src: Tensor, mask: Tensor | None = None, src_key_padding_mask: Tensor | None = None,
                is_causal: bool | None = None) -> Tensor:
        """Run ``src`` through every layer with the same masks; ``is_causal=None`` detects a causal ``mask``."""
        F._float_arg(src, "src")
        _check_masks(src_key_padding_mask, mask)
        bf = getattr(getattr(self.layers[0], "self_attn", None), "batch_first", False) if self.num_layers else False
        is_causal = _detect_is_causal_mask(mask, is_causal, _seq_len(src, bf))
        out = src
        for mod in self.layers:
            out = mod(out, src_mask=mask, is_causal=is_causal, src_key_padding_mask=src_key_padding_mask)
        return out if self.norm is None else self.norm(out)


class TransformerDecoder(Module):
    """A stack of ``num_layers`` copies of ``decoder_layer``, then ``norm``."""

    def __init__(self, decoder_layer: TransformerDecoderLayer, num_layers: int, norm: Module | None = None) -> None:
        super().__init__()
        if not isinstance(decoder_layer, Module):
            raise TypeError(f"decoder_layer: expected a Module, got {type(decoder_layer).__name__}")
        self.layers = _clones(decoder_layer, num_layers)
        self.num_layers = int(num_layers)
        self.norm = norm

    def forward(self, tgt: Tensor, memory: Tensor, tgt_mask: Tensor | None = None, memory_mask: Tensor | None = None,
                tgt_key_padding_mask: Tensor | None = None, memory_key_padding_mask: Tensor | None = None,
                tgt_is_causal: bool | None = None, memory_is_causal: bool = False) -> Tensor:
        """Run ``tgt`` through every layer, each attending to ``memory``; masks as the layers take them."""
        F._float_arg(tgt, "tgt")
        bf = getattr(getattr(self.layers[0], "self_attn", None), "batch_first", False) if self.num_layers else False
        tgt_is_causal = _detect_is_causal_mask(tgt_mask, tgt_is_causal, _seq_len(tgt, bf))
        out = tgt
        for mod in self.layers:
            out = mod(out, memory, tgt_mask=tgt_mask, memory_mask=memory_mask,
                      tgt_key_padding_mask=tgt_key_padding_mask, memory_key_padding_mask=memory_key_padding_mask,
                      tgt_is_causal=tgt_is_causal, memory_is_causal=memory_is_causal)
        return out if self.norm is None else self.norm(out)


class Transformer(Module):
    """The encoder–decoder Transformer of "Attention Is All You Need", PyTorch's ``nn.Transformer``.

    Args:
        d_model (512), nhead (8), num_encoder_layers (6), num_decoder_layers (6), dim_feedforward (2048),
        dropout (0.1), activation ("relu"), custom_encoder / custom_decoder (modules to use instead),
        layer_norm_eps (1e-5), batch_first (False), norm_first (False), bias (True), device, dtype.

    Every weight with more than one dimension is re-initialised Xavier-uniform (as PyTorch). The
    encoder and the decoder each end with a LayerNorm (``encoder.norm``, ``decoder.norm``).

    Shape: src (S, N, E), tgt (T, N, E) (batch first: (N, S, E), (N, T, E); unbatched (S, E), (T, E))
    -> (T, N, E). Masks: ``src_mask`` (S, S), ``tgt_mask`` (T, T), ``memory_mask`` (T, S) (or with a
    leading N·nhead), key padding masks (N, S) / (N, T); bool True = not allowed, or float added.

    Example::

        model = tr.nn.Transformer(d_model=32, nhead=4, num_encoder_layers=2, num_decoder_layers=2)
        mask = tr.nn.Transformer.generate_square_subsequent_mask(7)
        out = model(tr.randn(10, 3, 32), tr.randn(7, 3, 32), tgt_mask=mask)    # (7, 3, 32)
    """

    def __init__(self, d_model: int = 512, nhead: int = 8, num_encoder_layers: int = 6, num_decoder_layers: int = 6,
                 dim_feedforward: int = 2048, dropout: float = 0.1, activation: str | Callable = F.relu,
                 custom_encoder: Module | None = None, custom_decoder: Module | None = None,
                 layer_norm_eps: float = 1e-5, batch_first: bool = False, norm_first: bool = False,
                 bias: bool = True, device=None, dtype=None) -> None:
        super().__init__()
        kw = dict(device=device, dtype=dtype)
        if custom_encoder is not None:
            self.encoder = custom_encoder
        else:
            layer = TransformerEncoderLayer(d_model, nhead, dim_feedforward, dropout, activation, layer_norm_eps,
                                            batch_first, norm_first, bias, **kw)
            self.encoder = TransformerEncoder(layer, num_encoder_layers,
                                              LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **kw))
        if custom_decoder is not None:
            self.decoder = custom_decoder
        else:
            layer = TransformerDecoderLayer(d_model, nhead, dim_feedforward, dropout, activation, layer_norm_eps,
                                            batch_first, norm_first, bias, **kw)
            self.decoder = TransformerDecoder(layer, num_decoder_layers,
                                              LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **kw))
        self._reset_parameters()
        self.d_model = d_model
        self.nhead = nhead
        self.batch_first = batch_first

    def _reset_parameters(self) -> None:
        for p in self.parameters():
            if p.ndim > 1:
                init.xavier_uniform_(p)

    def forward(self, src: Tensor, tgt: Tensor, src_mask: Tensor | None = None, tgt_mask: Tensor | None = None,
                memory_mask: Tensor | None = None, src_key_padding_mask: Tensor | None = None,
                tgt_key_padding_mask: Tensor | None = None, memory_key_padding_mask: Tensor | None = None,
                src_is_causal: bool | None = None, tgt_is_causal: bool | None = None,
                memory_is_causal: bool = False) -> Tensor:
        """Encode ``src`` into a memory and decode ``tgt`` against it."""
        F._float_arg(src, "src")
        F._float_arg(tgt, "tgt")
        batched = src.ndim == 3
        if batched and src.shape[0 if self.batch_first else 1] != tgt.shape[0 if self.batch_first else 1]:
            raise RuntimeError("the batch number of src and tgt must be equal")
        if src.shape[-1] != self.d_model or tgt.shape[-1] != self.d_model:
            raise RuntimeError("the feature number of src and tgt must be equal to d_model")
        memory = self.encoder(src, mask=src_mask, src_key_padding_mask=src_key_padding_mask, is_causal=src_is_causal)
        return self.decoder(tgt, memory, tgt_mask=tgt_mask, memory_mask=memory_mask,
                            tgt_key_padding_mask=tgt_key_padding_mask,
                            memory_key_padding_mask=memory_key_padding_mask, tgt_is_causal=tgt_is_causal,
                            memory_is_causal=memory_is_causal)

    @staticmethod
    def generate_square_subsequent_mask(sz: int, device=None, dtype=None) -> Tensor:
        """The (sz, sz) float causal mask: 0 on and below the diagonal, -inf above."""
        return generate_square_subsequent_mask(sz, device=device, dtype=dtype)
