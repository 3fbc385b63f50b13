"""Converters for the Transformer's pieces: LayerNorm, GELU, SiLU, MultiheadAttention, the encoder and decoder
layers and stacks, ``Transformer``, and ``F.layer_norm``/``gelu``/``silu``/``scaled_dot_product_attention``.

Each converter first runs the real op (its argument checks, its answer), then writes the ONNX nodes
that compute the same numbers:

- layer norm: ``LayerNormalization`` (opset ≥ 17), else (x - E[x]) / √(Var[x] + ε) · γ + β from
  ``ReduceMean``/``Sub``/``Mul``/``Sqrt``/``Div``;
- GELU: ``Gelu`` (opset ≥ 20), else x/2·(1 + erf(x/√2)) with ``Erf`` (or the tanh form);
- SiLU: x·σ(x);
- attention: softmax(s·q kᵀ + B) v with ``MatMul``/``Softmax``; where a bias (a mask) is added, a row
  whose scores are all -inf gets zero weights (as this project's attention), the causal mask of
  ``is_causal`` is built from ``Range`` so it follows dynamic lengths.

Calls to ``F.linear``, ``F.dropout`` and to submodules inside these converters go through the trace
(its function mode for ``nn.functional``, its ``Module.__call__`` wrapper), so they write their own nodes.
"""

from __future__ import annotations

import math

import numpy as np

from ..nn import functional as F
from ..nn.transformer import _canonical_mask
from ..tensor import Tensor
from .graph import Dim, Graph, OnnxExporterError, TracedTensor, UnsupportedOperatorError, real, where

_RELU, _GELU = F.relu, F.gelu          # the functions TransformerEncoderLayer holds by default


def _lift(g: Graph, x):
    return x if isinstance(x, TracedTensor) or x is None else TracedTensor(g, g.const(x), x)


def _named(g: Graph, t: Tensor, name: str) -> Tensor:
    """Store ``t`` (a slice of a parameter) as the initializer ``name`` the first time it is used."""
    if id(t) not in g._consts:
        g._consts[id(t)] = g.initializer(t.numpy(), name)
        g._keep.append(t)
    return t


# ------------------------------------------------------------------------------------------------
# functions (also what the modules call)


def layer_norm(g: Graph, input, normalized_shape, weight=None, bias=None, eps: float = 1e-5) -> TracedTensor:
    """``F.layer_norm``: ONNX ``LayerNormalization`` over the last ``len(normalized_shape)`` axes (opset ≥ 17),
    decomposed below it."""
    out = F.layer_norm(real(input), normalized_shape, real(weight), real(bias), eps)   # checks, the answer
    x = _lift(g, input)
    shape = F._normalized_shape(normalized_shape)
    k, dt = len(shape), out.dtype

    def param(p, fill):
        if p is None:
            return g.const(np.full(shape, fill, dtype=dt), name="layer_norm_scale")
        return g.cast(p.name if isinstance(p, TracedTensor) else g.const(p), p.dtype, dt)
    if g.opset >= 17 and not (weight is None and any(isinstance(n, Dim) for n in x.dims[x.ndim - k:])):
        ins = [x.name, param(weight, 1.0)] + ([param(bias, 0.0)] if bias is not None else [])
        name = g.node("LayerNormalization", ins, axis=-k, epsilon=float(eps))
    else:
        axes = list(range(x.ndim - k, x.ndim))
        mean = g.reduce("ReduceMean", x.name, axes, True)
        d = g.node("Sub", [x.name, mean])
        var = g.reduce("ReduceMean", g.node("Mul", [d, d]), axes, True)
        name = g.node("Div", [d, g.node("Sqrt", [g.node("Add", [var, g.const(float(eps), dtype=dt)])])])
        if weight is not None:
            name = g.node("Mul", [name, param(weight, 1.0)])
        if bias is not None:
            name = g.node("Add", [name, param(bias, 0.0)])
    return TracedTensor(g, name, out, x.dims)


def gelu(g: Graph, input, approximate: str = "none") -> TracedTensor:
    """``F.gelu``: ONNX ``Gelu`` (opset ≥ 20); below it x/2·(1 + erf(x/√2)) or, with ``approximate="tanh"``,
    x/2·(1 + tanh(√(2/π)·(x + 0.044715·x³)))."""
    out = F.gelu(real(input), approximate)
    x = _lift(g, input)

    def c(v):
        return g.const(v, dtype=out.dtype)
    if g.opset >= 20:
        name = g.node("Gelu", [x.name], approximate=approximate)
    else:
        if approximate == "none":
            inner = g.node("Erf", [g.node("Mul", [x.name, c(1.0 / math.sqrt(2.0))])])
        else:
            cube = g.node("Mul", [g.node("Mul", [x.name, x.name]), x.name])
            arg = g.node("Add", [x.name, g.node("Mul", [cube, c(0.044715)])])
            inner = g.node("Tanh", [g.node("Mul", [arg, c(math.sqrt(2.0 / math.pi))])])
        name = g.node("Mul", [g.node("Mul", [x.name, c(0.5)]), g.node("Add", [inner, c(1.0)])])
    return TracedTensor(g, name, out, x.dims)


def silu(g: Graph, input, inplace: bool = False) -> TracedTensor:
    """``F.silu``: x·σ(x)."""
    out = F.silu(real(input), inplace)
    x = _lift(g, input)
    return TracedTensor(g, g.node("Mul", [x.name, g.node("Sigmoid", [x.name])]), out, x.dims)


def _safe_softmax(g: Graph, scores: TracedTensor) -> TracedTensor:
    """Softmax over the last axis; a row that is all -inf gets zeros (not NaN), as this project's attention."""
    dt, axis = scores.dtype, scores.ndim - 1
    zero = g.const(0.0, dtype=dt)
    dead = g.node("Equal", [g.reduce("ReduceMax", scores.name, [axis], True), g.const(-np.inf, dtype=dt)])
    w = g.node("Softmax", [g.node("Where", [dead, zero, scores.name])], axis=axis)
    return TracedTensor(g, g.node("Where", [dead, zero, w]), F._safe_softmax(scores.real), scores.dims)


def _attend(q: TracedTensor, k: TracedTensor, v: TracedTensor, scale: float, bias, safe: bool) -> TracedTensor:
    """softmax(scale·q kᵀ + bias) v (q scaled first, as the project's attention computes it)."""
    scores = (q * scale) @ k.transpose(-2, -1)
    if bias is not None:
        scores = scores + bias
    weights = _safe_softmax(q.g, scores) if safe else scores.softmax(-1)
    return weights @ v


def _bool_bias(g: Graph, mask, allowed: bool, dtype) -> TracedTensor:
    """A bool mask as an additive float one: 0 where attention is allowed, -inf elsewhere. ``allowed``:
    True marks allowed positions (``F.scaled_dot_product_attention``) or forbidden ones (``nn`` layers)."""
    mask = _lift(g, mask)
    key = ("bool_bias", mask.name, allowed, np.dtype(dtype).str)       # once per mask: the layers share it
    if key not in g._consts:
        forbidden = mask.real.logical_not() if allowed else mask.real
        out = _canonical_mask(forbidden, "attn_mask", dtype)
        inf = -np.inf
        g._consts[key] = where(g, mask, 0.0 if allowed else inf, inf if allowed else 0.0, out)
    return g._consts[key]


def _causal_bias(g: Graph, L, S, like: Tensor) -> TracedTensor:
    """The (L, S) causal bias (0 where key j ≤ query i, -inf above), from ``Range`` so it follows dynamic sizes."""
    def scalar(n):
        return g.squeeze(n.onnx(), [0]) if isinstance(n, Dim) else g.scalar(int(n), np.int64)
    zero, one = g.scalar(0, np.int64), g.scalar(1, np.int64)
    rows = g.unsqueeze(g.node("Range", [zero, scalar(L), one]), [1])
    cols = g.unsqueeze(g.node("Range", [zero, scalar(S), one]), [0])
    allowed = TracedTensor(g, g.node("LessOrEqual", [cols, rows]), F._causal_mask(int(L), int(S), like), (L, S))
    return _bool_bias(g, allowed, True, like.dtype)


def scaled_dot_product_attention(g: Graph, query, key, value, attn_mask=None, dropout_p: float = 0.0,
                                 is_causal: bool = False, scale: float | None = None,
                                 enable_gqa: bool = False) -> TracedTensor:
    """``F.scaled_dot_product_attention`` with ``attn_mask`` (bool: True = allowed, or float added),
    ``is_causal``, ``scale`` and ``enable_gqa``; ``dropout_p > 0`` cannot be exported (it always drops)."""
    out = F.scaled_dot_product_attention(real(query), real(key), real(value), real(attn_mask), dropout_p,
                                         is_causal, scale, enable_gqa)                 # checks, the answer
    if dropout_p > 0:
        raise OnnxExporterError("tr.onnx.export: scaled_dot_product_attention with dropout_p > 0 cannot be "
                                "exported (the functional always drops: pass dropout_p=0 for inference)")
    q, k, v = (_lift(g, t) for t in (query, key, value))
    if enable_gqa and q.ndim >= 3 and int(k.dims[-3]) != int(q.dims[-3]):
        if isinstance(k.dims[-3], Dim) or isinstance(q.dims[-3], Dim):
            raise UnsupportedOperatorError("tr.onnx.export: enable_gqa with a dynamic number of heads")
        r = int(q.dims[-3]) // int(k.dims[-3])
        k, v = F._repeat_heads(k, r), F._repeat_heads(v, r)
    scale = 1.0 / math.sqrt(int(q.dims[-1])) if scale is None else float(scale)
    bias = None
    if is_causal:
        bias = _causal_bias(g, q.dims[-2], k.dims[-2], q.real)
    elif attn_mask is not None:
        bias = _bool_bias(g, attn_mask, True, q.dtype) if real(attn_mask).dtype == np.bool_ else _lift(g, attn_mask)
    y = _attend(q, k, v, scale, bias, safe=bias is not None)
    return TracedTensor(g, y.name, out, y.dims)


# ------------------------------------------------------------------------------------------------
# modules


def _given(names: tuple, args, kwargs) -> dict:
    given = dict(zip(names, args))
    given.update(kwargs)
    return given


def _projection_weights(g: Graph, m, path: str) -> tuple:
    """The q, k, v projection weights and biases of a MultiheadAttention (slices of ``in_proj_weight`` /
    ``in_proj_bias`` stored once per module as ``{path}.in_proj_weight.q`` ...)."""
    key = ("mha", id(m))
    if key not in g._consts:
        E, w, b = m.embed_dim, m.in_proj_weight, m.in_proj_bias
        if m._qkv_same_embed_dim:
            ws = tuple(_named(g, w[i * E:(i + 1) * E], f"{path}.in_proj_weight.{n}") for i, n in enumerate("qkv"))
        else:
            ws = (m.q_proj_weight, m.k_proj_weight, m.v_proj_weight)
        bs = (None,) * 3 if b is None else \
            tuple(_named(g, b[i * E:(i + 1) * E], f"{path}.in_proj_bias.{n}") for i, n in enumerate("qkv"))
        g._consts[key] = (ws, bs)
    return g._consts[key]


def multihead_attention(g: Graph, m, path: str, args, kwargs):
    """``nn.MultiheadAttention.forward`` step for step: projections, heads, masks (bool True = not allowed,
    or float added; ``key_padding_mask`` (N, S), ``attn_mask`` (L, S) or (N·h, L, S)), ``need_weights``
    (explicit softmax; weights averaged over heads unless ``average_attn_weights=False``)."""
    names = ("query", "key", "value", "key_padding_mask", "need_weights", "attn_mask", "average_attn_weights",
             "is_causal")
    given = _given(names, args, kwargs)
    m.forward(**{n: real(v) for n, v in given.items()})                # the real argument checks
    if m.bias_k is not None or m.add_zero_attn:
        raise UnsupportedOperatorError(f"tr.onnx.export: {path!r} (MultiheadAttention) with add_bias_kv or "
                                       "add_zero_attn is not supported")
    query, key, value = (_lift(g, given[n]) for n in names[:3])
    kpm, attn_mask = given.get("key_padding_mask"), given.get("attn_mask")
    need_weights, average = given.get("need_weights", True), given.get("average_attn_weights", True)
    batched = query.ndim == 3
    if batched and m.batch_first:
        query, key, value = (t.transpose(0, 1) for t in (query, key, value))
    if not batched:
        query, key, value = (t.unsqueeze(1) for t in (query, key, value))
        if kpm is not None:
            kpm = _lift(g, kpm).unsqueeze(0)
    L, N, E = query.dims
    S = key.dims[0]
    h, d, dt = m.num_heads, m.head_dim, query.dtype

    def as_bias(mask):
        if mask is None:
            return None
        return _bool_bias(g, mask, False, dt) if real(mask).dtype == np.bool_ else _lift(g, mask)
    kpm, attn_mask = as_bias(kpm), as_bias(attn_mask)
    if attn_mask is not None and attn_mask.ndim == 2:
        attn_mask = attn_mask.unsqueeze(0)
    (wq, wk, wv), (bq, bk, bv) = _projection_weights(g, m, path)
    q, k, v = F.linear(query, wq, bq), F.linear(key, wk, bk), F.linear(value, wv, bv)
    q = q.reshape(L, N * h, d).transpose(0, 1)                  # (N·h, L, d)
    k = k.reshape(S, N * h, d).transpose(0, 1)                  # (N·h, S, d)
    v = v.reshape(S, N * h, d).transpose(0, 1)
    if kpm is not None:
        kpm = kpm.reshape(N, 1, 1, S).expand(N, h, 1, S).reshape(N * h, 1, S)
        attn_mask = kpm if attn_mask is None else attn_mask + kpm
    if need_weights:
        scores = (q * math.sqrt(1.0 / d)) @ k.transpose(-2, -1)
        if attn_mask is not None:
            scores = scores + attn_mask
        weights = scores.softmax(-1)                            # a row with every key masked: NaN, as PyTorch
        out = weights @ v
    else:
        weights = None
        out = _attend(q, k, v, 1.0 / math.sqrt(d), attn_mask, safe=attn_mask is not None)
    out = m.out_proj(out.transpose(0, 1).reshape(L * N, E)).reshape(L, N, E)
    if weights is not None:
        weights = weights.reshape(N, h, L, S)
        if average:
            weights = weights.mean(1)
        if not batched:
            weights = weights.squeeze(0)
    if not batched:
        out = out.squeeze(1)
    elif m.batch_first:
        out = out.transpose(0, 1)
    return out, weights


def _activation(fn, x):
    if fn is _RELU or fn is _GELU:                   # the function the layer was built with: the traced one
        fn = getattr(F, fn.__name__)
    return fn(x)


def encoder_layer(g: Graph, m, path: str, args, kwargs):
    """``nn.TransformerEncoderLayer.forward`` (post-norm or ``norm_first``) on traced values (eval mode)."""
    names = ("src", "src_mask", "src_key_padding_mask", "is_causal")
    given = _given(names, args, kwargs)
    m.forward(**{n: real(v) for n, v in given.items()})                # the real argument checks
    mask, kpm, causal = given.get("src_mask"), given.get("src_key_padding_mask"), given.get("is_causal", False)

    def sa(y):
        y = m.self_attn(y, y, y, attn_mask=mask, key_padding_mask=kpm, need_weights=False, is_causal=causal)[0]
        return m.dropout1(y)

    def ff(y):
        return m.dropout2(m.linear2(m.dropout(_activation(m.activation, m.linear1(y)))))
    x = _lift(g, given["src"])
    if m.norm_first:
        x = x + sa(m.norm1(x))
        return x + ff(m.norm2(x))
    x = m.norm1(x + sa(x))
    return m.norm2(x + ff(x))


def encoder(g: Graph, m, path: str, args, kwargs):
    """``nn.TransformerEncoder.forward``: every layer with the same masks, then ``norm``."""
    from ..nn.transformer import _detect_is_causal_mask, _seq_len
    names = ("src", "mask", "src_key_padding_mask", "is_causal")
    given = _given(names, args, kwargs)
    m.forward(**{n: real(v) for n, v in given.items()})                # the real argument checks
    src, mask, kpm = _lift(g, given["src"]), given.get("mask"), given.get("src_key_padding_mask")
    bf = getattr(getattr(m.layers[0], "self_attn", None), "batch_first", False) if m.num_layers else False
    is_causal = _detect_is_causal_mask(real(mask), given.get("is_causal"), _seq_len(src.real, bf))
    out = src
    for layer in m.layers:
        out = layer(out, src_mask=mask, is_causal=is_causal, src_key_padding_mask=kpm)
    return out if m.norm is None else m.norm(out)


def decoder_layer(g: Graph, m, path: str, args, kwargs):
    """``nn.TransformerDecoderLayer.forward`` (post-norm or ``norm_first``) on traced values (eval mode)."""
    names = ("tgt", "memory", "tgt_mask", "memory_mask", "tgt_key_padding_mask", "memory_key_padding_mask",
             "tgt_is_causal", "memory_is_causal")
    given = _given(names, args, kwargs)
    m.forward(**{n: real(v) for n, v in given.items()})                # the real argument checks
    mem = _lift(g, given["memory"])

    def sa(y):
        y = m.self_attn(y, y, y, attn_mask=given.get("tgt_mask"), key_padding_mask=given.get("tgt_key_padding_mask"),
                        is_causal=given.get("tgt_is_causal", False), need_weights=False)[0]
        return m.dropout1(y)

    def mha(y):
        y = m.multihead_attn(y, mem, mem, attn_mask=given.get("memory_mask"),
                             key_padding_mask=given.get("memory_key_padding_mask"),
                             is_causal=given.get("memory_is_causal", False), need_weights=False)[0]
        return m.dropout2(y)

    def ff(y):
        return m.dropout3(m.linear2(m.dropout(_activation(m.activation, m.linear1(y)))))
    x = _lift(g, given["tgt"])
    if m.norm_first:
        x = x + sa(m.norm1(x))
        x = x + mha(m.norm2(x))
        return x + ff(m.norm3(x))
    x = m.norm1(x + sa(x))
    x = m.norm2(x + mha(x))
    return m.norm3(x + ff(x))


def decoder(g: Graph, m, path: str, args, kwargs):
    """``nn.TransformerDecoder.forward``: every layer against ``memory`` with the same masks, then ``norm``."""
    from ..nn.transformer import _detect_is_causal_mask, _seq_len
    names = ("tgt", "memory", "tgt_mask", "memory_mask", "tgt_key_padding_mask", "memory_key_padding_mask",
             "tgt_is_causal", "memory_is_causal")
    given = _given(names, args, kwargs)
    m.forward(**{n: real(v) for n, v in given.items()})                # the real argument checks
    tgt, mem = _lift(g, given["tgt"]), _lift(g, given["memory"])
    bf = getattr(getattr(m.layers[0], "self_attn", None), "batch_first", False) if m.num_layers else False
    tgt_is_causal = _detect_is_causal_mask(real(given.get("tgt_mask")), given.get("tgt_is_causal"),
                                           _seq_len(tgt.real, bf))
    out = tgt
    for layer in m.layers:
        out = layer(out, mem, tgt_mask=given.get("tgt_mask"), memory_mask=given.get("memory_mask"),
                    tgt_key_padding_mask=given.get("tgt_key_padding_mask"),
                    memory_key_padding_mask=given.get("memory_key_padding_mask"), tgt_is_causal=tgt_is_causal,
                    memory_is_causal=given.get("memory_is_causal", False))
    return out if m.norm is None else m.norm(out)


def transformer(g: Graph, m, path: str, args, kwargs):
    """``nn.Transformer.forward``: ``encoder`` over ``src``, then ``decoder`` over ``tgt`` against that memory."""
    names = ("src", "tgt", "src_mask", "tgt_mask", "memory_mask", "src_key_padding_mask", "tgt_key_padding_mask",
             "memory_key_padding_mask", "src_is_causal", "tgt_is_causal", "memory_is_causal")
    given = _given(names, args, kwargs)
    m.forward(**{n: real(v) for n, v in given.items()})                # the real argument checks
    memory = m.encoder(_lift(g, given["src"]), mask=given.get("src_mask"),
                       src_key_padding_mask=given.get("src_key_padding_mask"), is_causal=given.get("src_is_causal"))
    return m.decoder(_lift(g, given["tgt"]), memory, tgt_mask=given.get("tgt_mask"),
                     memory_mask=given.get("memory_mask"), tgt_key_padding_mask=given.get("tgt_key_padding_mask"),
                     memory_key_padding_mask=given.get("memory_key_padding_mask"),
                     tgt_is_causal=given.get("tgt_is_causal"), memory_is_causal=given.get("memory_is_causal", False))
