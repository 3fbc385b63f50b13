"""``tr.onnx.export``: trace a model's forward on proxies and write the ONNX graph (see its docstring)."""

from __future__ import annotations

import builtins
import numbers
import os
import threading
from contextlib import contextmanager

import numpy as np

from ..autograd.grad_mode import no_grad
from ..nn import functional as F
from ..nn.activation import GELU, SiLU
from ..nn.attention import BahdanauAttention, LuongAttention, masked_softmax
from ..nn.containers import ModuleDict, ModuleList, Sequential
from ..nn.flatten import Flatten, Unflatten
from ..nn.lazy import LazyLinear
from ..nn.linear import Dropout, Embedding, Identity, Linear, LogSoftmax, ReLU, Sigmoid, Softmax, Tanh
from ..nn.module import Module
from ..nn.normalization import LayerNorm
from ..nn.recurrent.cells import GRUCell, LSTMCell, RNNCell
from ..nn.recurrent.layers import GRU, LSTM, RNN, RNNBase
from ..nn.transformer import (MultiheadAttention, Transformer, TransformerDecoder, TransformerDecoderLayer,
                              TransformerEncoder, TransformerEncoderLayer)
from ..nn.utils.rnn import PackedSequence, _lengths_array
from ..overrides import BaseTorchFunctionMode
from ..tensor import Tensor, cat, full, ones, ones_like, stack, where as where_, zeros, zeros_like
from . import transformer as tf
from .graph import (Dim, Graph, OnnxExporterError, UnsupportedOperatorError, TracedTensor, full_like_shape, getitem,
                    has_value, is_dynamic, real, where)

_INHERITED = object()               # a patched attribute that the patched object did not hold itself

DEFAULT_OPSET = 20                  # PyTorch's default
MIN_OPSET, MAX_OPSET = 14, 23


# ------------------------------------------------------------------------------------------------
# Modules: each supported class has a converter; containers and the user's own modules run their forward


def _linear(g: Graph, x, weight: Tensor, bias: Tensor | None = None) -> TracedTensor:
    if not isinstance(x, TracedTensor):
        return F.linear(x, weight, bias)
    out = F.linear(x.real, real(weight), real(bias))
    w = weight.name if isinstance(weight, TracedTensor) else g.const(weight)
    if x.ndim == 2 and not isinstance(weight, TracedTensor) and not isinstance(bias, TracedTensor):
        ins = [x.name, w] + ([g.const(bias)] if bias is not None else [])
        name = g.node("Gemm", ins, transB=1)
    else:
        name = g.node("MatMul", [x.name, g.node("Transpose", [w], perm=[1, 0])])
        if bias is not None:
            name = g.node("Add", [name, bias.name if isinstance(bias, TracedTensor) else g.const(bias)])
    return TracedTensor(g, name, out, x.dims[:-1] + (out.shape[-1],))


def _embedding(g: Graph, idx, weight: Tensor, padding_idx=None, max_norm=None, *args, **kwargs) -> TracedTensor:
    if max_norm is not None:
        raise UnsupportedOperatorError("tr.onnx.export: Embedding with max_norm (it renormalises the weight in "
                                       "place during forward) is not supported")
    if not isinstance(idx, TracedTensor):
        return F.embedding(idx, weight, padding_idx, max_norm, *args, **kwargs)
    out = F.embedding(idx.real, real(weight), padding_idx)
    w = weight.name if isinstance(weight, TracedTensor) else g.const(weight)
    return TracedTensor(g, g.node("Gather", [w, idx.name], axis=0), out, idx.dims + (out.shape[-1],))


def _dropout(g: Graph, x, p: float = 0.5, training: bool = True, inplace: bool = False, generator=None):
    if not isinstance(x, TracedTensor):
        return F.dropout(x, p, training, inplace, generator)
    if training and p > 0:
        raise OnnxExporterError("tr.onnx.export: dropout in training mode cannot be exported (the graph is "
                                "exported for inference: pass training=self.training, or p=0)")
    F.dropout(x.real, p, False, inplace, generator)      # the real argument checks
    return x


def _softmax_like(method: str):
    def convert(g, x, dim=None, dtype=None, *rest, **kw):
        if dtype is not None:
            x = x.to(dtype)
        if dim is None:
            dim = F._softmax_dim(x, None, method)
        return getattr(x, method)(dim)
    return convert


# the free functions that ported code calls on traced tensors (tr.cat, F.relu, ...)
def _cat(g: Graph, tensors, dim: int = 0) -> TracedTensor:
    ts = list(tensors)
    out = cat([real(t) for t in ts], dim)
    d = dim + out.ndim if dim < 0 else dim
    names = [g.cast(t.name if isinstance(t, TracedTensor) else g.const(t), real(t).dtype, out.dtype) for t in ts]
    first = next(t for t in ts if isinstance(t, TracedTensor))
    total = 0
    for t in ts:
        total = total + (t.dims[d] if isinstance(t, TracedTensor) else t.shape[d])
    dims = [total if i == d else s for i, s in enumerate(first.dims)]
    return TracedTensor(g, g.node("Concat", names, axis=d), out, dims)


def _where(g: Graph, condition, input, other) -> TracedTensor:
    return where(g, condition, input, other, where_(real(condition), real(input), real(other)))


def _stack(g: Graph, tensors, dim: int = 0) -> TracedTensor:
    ts = list(tensors)
    out = stack([real(t) for t in ts], dim)
    d = dim + out.ndim if dim < 0 else dim
    lifted = [t.unsqueeze(d) for t in ts]
    return _cat(g, lifted, d) if any(isinstance(t, TracedTensor) for t in lifted) else out


def _like(fill):
    def convert(g, x, dtype=None, device=None, requires_grad=False):
        if isinstance(x, TracedTensor):
            return full_like_shape(g, x.shape, fill, dtype or x.dtype, device or x.device)
        return (zeros_like if fill == 0 else ones_like)(x, dtype=dtype)
    return convert


def _recurrent(g: Graph, m: RNNBase, path: str, args, kwargs):
    """An ``nn.RNN``/``LSTM``/``GRU`` as one ONNX RNN/LSTM/GRU node per layer (gates reordered as ONNX
    orders them: LSTM i,o,f,c from PyTorch's i,f,g,o; GRU z,r,h from r,z,n with linear_before_reset=1)."""
    input = args[0] if args else kwargs.get("input")
    hx = args[1] if len(args) > 1 else kwargs.get("hx")
    lengths = kwargs.get("lengths")
    if isinstance(input, PackedSequence):
        raise UnsupportedOperatorError(f"tr.onnx.export: {path} ({type(m).__name__}) on a PackedSequence is "
                                       "not supported; pass the padded input and lengths= instead")
    real_out = m.forward(real(input), real(hx), lengths=real(lengths),
                         unroll=kwargs.get("unroll", False))          # the real argument checks and answer
    if not isinstance(input, TracedTensor):
        input = TracedTensor(g, g.const(input), input)
    H, D, L = m.hidden_size, 2 if m.bidirectional else 1, m.num_layers
    mode = m.mode
    op = {"lstm": "LSTM", "gru": "GRU"}.get(mode, "RNN")
    order = {"lstm": [0, 3, 1, 2], "gru": [1, 0, 2]}.get(mode, [0])
    batched = input.ndim == 3
    x = input
    if not batched:
        x = x.unsqueeze(1)
    elif m.batch_first:
        x = x.transpose(0, 1)
    T, B = x.dims[0], x.dims[1]
    states = []
    if hx is not None:
        for h in (hx if mode == "lstm" else (hx,)):
            if not isinstance(h, TracedTensor):
                h = TracedTensor(g, g.const(h), h)
            states.append(h if batched else h.unsqueeze(1))
    name, h_ns, c_ns = x.name, [], []
    seq_lens = ""                              # every sequence is T long
    if lengths is not None:                    # ONNX's sequence_lens: the same semantics as lengths=
        if not batched:
            raise UnsupportedOperatorError(f"tr.onnx.export: {path}: lengths= with unbatched input")
        seq_lens = g.cast(lengths.name, lengths.dtype, np.int32) if isinstance(lengths, TracedTensor) else \
            g.const(_lengths_array(lengths).astype(np.int32))

    def gates(w):                             # PyTorch's gate blocks in ONNX's order
        a = w.numpy()
        return np.concatenate([a[k * H:(k + 1) * H] for k in order], axis=0)

    def weights(k: int) -> list:              # W, R, B of layer k in ONNX's layout, once per module
        key = ("recurrent", id(m), k)
        if key not in g._consts:
            ws = m.all_weights[k * D:(k + 1) * D]
            W = g.initializer(np.stack([gates(w[0]) for w in ws]), f"{path}.onnx_W_l{k}")
            R = g.initializer(np.stack([gates(w[1]) for w in ws]), f"{path}.onnx_R_l{k}")
            B = g.initializer(np.stack([np.concatenate([gates(w[2]), gates(w[3])]) for w in ws]),
                              f"{path}.onnx_B_l{k}") if m.bias else ""
            g._consts[key] = [W, R, B]
        return g._consts[key]

    for k in range(L):
        ins = [name, *weights(k), seq_lens]
        for s in states:
            ins.append(g.node("Slice", [s.name, g.ints([k * D]), g.ints([(k + 1) * D]), g.ints([0])]))
        attrs = {"hidden_size": H, "direction": "bidirectional" if D == 2 else "forward"}
        if op == "GRU":
            attrs["linear_before_reset"] = 1
        if op == "RNN":
            attrs["activations"] = ["Relu" if mode == "rnn_relu" else "Tanh"] * D
        outs = g.node(op, ins, n_out=3 if op == "LSTM" else 2, **attrs)
        y = outs[0]                                                  # (T, D, B, H)
        if D == 1:
            name = g.squeeze(y, [1])
        else:
            name = g.node("Reshape", [g.node("Transpose", [y], perm=[0, 2, 1, 3]), g.ints([0, 0, -1])])
        h_ns.append(outs[1])
        if op == "LSTM":
            c_ns.append(outs[2])
    out_real, state_real = real_out
    out = TracedTensor(g, name, _time_major(out_real, batched, m.batch_first), (T, B, D * H))
    if not batched:
        out = out.squeeze(1)
    elif m.batch_first:
        out = out.transpose(0, 1)

    def final(names, r):
        n = names[0] if len(names) == 1 else g.node("Concat", names, axis=0)
        v = TracedTensor(g, n, r.unsqueeze(1) if not batched else r, (L * D, B, H))
        return v if batched else v.squeeze(1)
    if mode == "lstm":
        return out, (final(h_ns, state_real[0]), final(c_ns, state_real[1]))
    return out, final(h_ns, state_real)


def _lift(g: Graph, x):
    return x if isinstance(x, TracedTensor) or x is None else TracedTensor(g, g.const(x), x)


def _masked_softmax(g: Graph, scores: TracedTensor, mask) -> TracedTensor:
    """``nn.attention.masked_softmax``: -inf where masked (in rows with a valid entry), then zeros."""
    if mask is None:
        return scores.softmax(-1)
    mask = _lift(g, mask)
    out = masked_softmax(scores.real, mask.real)
    invalid = g.node("Not", [mask.name])
    valid_row = g.reduce("ReduceMax", g.cast(mask.name, np.bool_, np.float32), [mask.ndim - 1], True)
    fill = g.node("And", [invalid, g.cast(valid_row, np.float32, np.bool_)])
    w = g.node("Where", [fill, g.const(-np.inf, dtype=out.dtype), scores.name])
    w = g.node("Softmax", [w], axis=scores.ndim - 1)
    return TracedTensor(g, g.node("Where", [invalid, g.const(0.0, dtype=out.dtype), w]), out, scores.dims)


def _attention(g: Graph, m, path: str, args, kwargs):
    """Bahdanau (additive) and Luong (dot / general) attention, as their forward computes them."""
    names = ("query", "keys", "mask")
    given = dict(zip(names, args), **kwargs)
    query, keys, mask, pk = (given.get(n) for n in (*names, "projected_keys"))
    m.forward(real(query), real(keys), real(mask), projected_keys=real(pk))      # the real argument checks
    query, keys, pk = _lift(g, query), _lift(g, keys), _lift(g, pk)
    if pk is None:
        pk = m.project_keys(keys)
    if isinstance(m, BahdanauAttention):
        scores = m.v((pk + m.query_proj(query).unsqueeze(1)).tanh()).squeeze(2)
    else:
        scores = (pk @ query.unsqueeze(2)).squeeze(2)
    weights = _masked_softmax(g, scores, mask)
    return (weights.unsqueeze(1) @ keys).squeeze(1), weights


def _cell(g: Graph, m, path: str, args, kwargs):
    """``RNNCell``/``LSTMCell``/``GRUCell``: one step of the cell's equations (a Gemm per projection)."""
    x = args[0] if args else kwargs.get("input")
    hx = args[1] if len(args) > 1 else kwargs.get("hx")
    m.forward(real(x), real(hx))                                      # the real argument checks
    x = _lift(g, x)
    batched = x.ndim == 2
    if not batched:
        x = x.unsqueeze(0)
    H, lstm = m.hidden_size, isinstance(m, LSTMCell)
    if hx is None:
        zero = full_like_shape(g, (x.dims[0], H), 0.0, x.dtype, x.device)
        states = [zero, zero] if lstm else [zero]
    else:
        states = [s if batched else s.unsqueeze(0) for s in (list(hx) if lstm else [hx])]
    b_ih, b_hh = (m.bias_ih, m.bias_hh) if m.bias else (None, None)
    gi, gh = _linear(g, x, m.weight_ih, b_ih), _linear(g, states[0], m.weight_hh, b_hh)
    h = states[0]
    if isinstance(m, GRUCell):                                        # gate order r, z, n
        r = (gi[:, 0:H] + gh[:, 0:H]).sigmoid()
        z = (gi[:, H:2 * H] + gh[:, H:2 * H]).sigmoid()
        n = (gi[:, 2 * H:3 * H] + r * gh[:, 2 * H:3 * H]).tanh()
        out = [(1 - z) * n + z * h]
    elif lstm:                                                        # gate order i, f, g, o
        zs = gi + gh
        i, f = zs[:, 0:H].sigmoid(), zs[:, H:2 * H].sigmoid()
        c = f * states[1] + i * zs[:, 2 * H:3 * H].tanh()
        out = [zs[:, 3 * H:4 * H].sigmoid() * c.tanh(), c]
    else:
        zs = gi + gh
        out = [zs.tanh() if m.nonlinearity == "tanh" else zs.relu()]
    if not batched:
        out = [o.squeeze(0) for o in out]
    return tuple(out) if lstm else out[0]


def _time_major(out: Tensor, batched: bool, batch_first: bool) -> Tensor:
    if not batched:
        return out.unsqueeze(1)
    return out.transpose(0, 1) if batch_first else out


def _convert_module(g: Graph, m: Module, path: str, args, kwargs):
    t = type(m)
    if isinstance(m, (RNN, LSTM, GRU)) and t.forward is RNNBase.forward:
        if getattr(m, "proj_size", 0):
            raise UnsupportedOperatorError(f"tr.onnx.export: {path!r} is an LSTM with proj_size="
                                           f"{m.proj_size}; ONNX's LSTM has no projection")
        return _recurrent(g, m, path, args, kwargs)
    if t in (BahdanauAttention, LuongAttention):
        return _attention(g, m, path, args, kwargs)
    if t in (RNNCell, LSTMCell, GRUCell):
        return _cell(g, m, path, args, kwargs)
    if t is MultiheadAttention:
        return tf.multihead_attention(g, m, path, args, kwargs)
    if t is TransformerEncoderLayer:
        return tf.encoder_layer(g, m, path, args, kwargs)
    if t is TransformerEncoder:
        return tf.encoder(g, m, path, args, kwargs)
    if t is TransformerDecoderLayer:
        return tf.decoder_layer(g, m, path, args, kwargs)
    if t is TransformerDecoder:
        return tf.decoder(g, m, path, args, kwargs)
    if t is Transformer:
        return tf.transformer(g, m, path, args, kwargs)
    x = args[0] if args else kwargs.get("input")
    supported = t in (Linear, Embedding, Dropout, Identity, Tanh, Sigmoid, ReLU, Softmax, LogSoftmax, LayerNorm,
                      GELU, SiLU, Flatten, Unflatten, LazyLinear) or \
        (isinstance(m, (Linear, Embedding)) and t.forward in (Linear.forward, Embedding.forward))
    if supported and not isinstance(x, TracedTensor):
        return None                       # a traced value elsewhere in the arguments: the module's own forward
    if t is LazyLinear:                   # its first call: the shapes from the input, then it is a Linear
        m.initialize_parameters(x.real)
        return _linear(g, x, m.weight, m.bias)
    if t is LayerNorm:
        return tf.layer_norm(g, x, m.normalized_shape, m.weight, m.bias, m.eps)
    if t is GELU:
        return tf.gelu(g, x, m.approximate)
    if t is SiLU:
        return tf.silu(g, x)
    if t is Flatten:
        return x.flatten(m.start_dim, m.end_dim)
    if t is Unflatten:
        m.forward(x.real)                 # the real size check
        return x.unflatten(m.dim, m.unflattened_size)
    if t is Linear or (isinstance(m, Linear) and t.forward is Linear.forward):
        return _linear(g, x, m.weight, m.bias)
    if t is Embedding or (isinstance(m, Embedding) and t.forward is Embedding.forward):
        return _embedding(g, x, m.weight, m.padding_idx, m.max_norm)
    if t is Dropout:
        return _dropout(g, x, m.p, m.training)
    if t is Identity:
        return x
    if t in (Tanh, Sigmoid, ReLU):
        return getattr(x, {Tanh: "tanh", Sigmoid: "sigmoid", ReLU: "relu"}[t])()
    if t in (Softmax, LogSoftmax):
        return _softmax_like("softmax" if t is Softmax else "log_softmax")(g, x, m.dim)
    if t in (Sequential, ModuleList, ModuleDict):
        return None
    if t.__module__.startswith("tinygrad_rnn."):
        raise UnsupportedOperatorError(
            f"tr.onnx.export: module {path!r} ({t.__module__}.{t.__name__}) is not supported by the ONNX "
            f"exporter; supported: {', '.join(SUPPORTED_MODULES)}, and your own Modules whose forward "
            "composes those with the supported tensor ops")
    return None                           # a user's Module: its forward runs on the traced values


SUPPORTED_MODULES = ("Linear", "LazyLinear", "Embedding", "Dropout", "Identity", "Tanh", "Sigmoid", "ReLU", "GELU",
                     "SiLU", "Softmax", "LogSoftmax", "LayerNorm", "Flatten", "Unflatten", "RNN", "LSTM", "GRU",
                     "RNNCell", "LSTMCell", "GRUCell", "BahdanauAttention", "LuongAttention", "MultiheadAttention",
                     "TransformerEncoderLayer", "TransformerEncoder", "TransformerDecoderLayer",
                     "TransformerDecoder", "Transformer", "Sequential", "ModuleList", "ModuleDict")


# ------------------------------------------------------------------------------------------------
# The trace: a function mode and class wrappers while forward runs


class _ExportMode(BaseTorchFunctionMode):
    """The trace's function mode: a call of ``tr.cat``, ``tr.zeros``, ``F.linear`` ... that carries a traced
    value (or a dynamic size) goes to its converter; any other call runs as usual."""

    def __init__(self, g: Graph):
        self.g = g
        self.converters = {
            cat: _cat, stack: _stack, where_: _where, zeros_like: _like(0), ones_like: _like(1),
            F.linear: _linear, F.embedding: _embedding, F.dropout: _dropout,
            F.softmax: _softmax_like("softmax"), F.log_softmax: _softmax_like("log_softmax"),
            F.relu: lambda g, x, inplace=False: x.relu(), F.tanh: lambda g, x: x.tanh(),
            F.sigmoid: lambda g, x: x.sigmoid(), F.layer_norm: tf.layer_norm, F.gelu: tf.gelu, F.silu: tf.silu,
            F.scaled_dot_product_attention: tf.scaled_dot_product_attention}

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func is zeros or func is ones:          # tr.zeros/ones(*size): ConstantOfShape for a dynamic size
            flat = args[0] if len(args) == 1 and isinstance(args[0], (tuple, list)) else args
            if is_dynamic(flat):                   # floats: the default dtype
                return full_like_shape(self.g, flat, 0.0 if func is zeros else 1.0, kwargs.get("dtype"),
                                       kwargs.get("device"))
        elif func is full:                         # tr.full(size, fill_value)
            size = args[0] if args else kwargs.get("size")
            if isinstance(size, (tuple, list)) and is_dynamic(size):
                fill = args[1] if len(args) > 1 else kwargs["fill_value"]
                return full_like_shape(self.g, tuple(size), fill, kwargs.get("dtype"), kwargs.get("device"))
        else:
            convert = self.converters.get(func)
            if convert is not None and has_value(*args, *kwargs.values()):
                return convert(self.g, *args, **kwargs)
        return func(*args, **kwargs)


def _tensor_dunder(orig, reflected: str):
    """``tensor + value`` (a parameter on the left): the traced value's reflected op."""
    def wrapper(self, other, *rest, **kwargs):
        if isinstance(other, TracedTensor):
            if rest or kwargs:
                raise UnsupportedOperatorError(f"tr.onnx.export: Tensor.{orig.__name__} with extra arguments "
                                               "on a traced tensor")
            return getattr(other, reflected)(self)
        return orig(self, other, *rest, **kwargs)
    return wrapper


def _tensor_sizes(orig, name: str):
    """``param.expand(B, -1)``, ``h0.repeat(1, B, 1)``, ``w.view(B, -1)`` ... on a tensor with a dynamic
    size (or ``expand_as`` a traced value): the traced method on the tensor as a constant."""
    def wrapper(self, *args, **kwargs):
        trace = _TRACE.state
        if trace is None:
            return orig(self, *args, **kwargs)
        g = trace[0]
        sizes = args[0] if len(args) == 1 and isinstance(args[0], (tuple, list)) else args
        if (name == "expand_as" and isinstance(args[0], TracedTensor)) or \
                (name != "expand_as" and is_dynamic(sizes)) or has_value(*args):
            lifted = TracedTensor(g, g.const(self), self)
            if name in ("new_zeros", "new_ones"):
                return full_like_shape(g, sizes, 0.0 if name == "new_zeros" else 1.0,
                                       kwargs.get("dtype") or self.dtype, kwargs.get("device") or self.device)
            return getattr(lifted, name)(*args, **kwargs)
        return orig(self, *args, **kwargs)
    return wrapper


def _traced_index(index) -> bool:
    for it in (index if isinstance(index, tuple) else (index,)):
        if isinstance(it, (Dim, TracedTensor)) or \
                (isinstance(it, slice) and any(isinstance(b, Dim) for b in (it.start, it.stop, it.step))):
            return True
    return False


def _tensor_getitem(orig):
    """``self.pe[:x.size(1)]``, ``table[traced_index]`` on a tensor (a buffer, a parameter): the traced
    indexing of the tensor as a constant, so a slice bound by a dynamic size follows it."""
    def wrapper(self, index):
        trace = _TRACE.state
        if trace is not None and _traced_index(index):
            g = trace[0]
            return getitem(TracedTensor(g, g.const(self), self), index)
        return orig(self, index)
    return wrapper


def _module_call(orig_call):
    def traced_call(self, *args, **kwargs):
        trace = _TRACE.state
        if trace is not None and has_value(*args, *kwargs.values()):
            g, paths = trace
            out = _convert_module(g, self, paths.get(id(self), type(self).__name__), args, kwargs)
            if out is not None:
                return out
        return orig_call(self, *args, **kwargs)
    return traced_call


class _Trace(threading.local):
    state = None                # (graph, module paths) of this thread's export; None: no export in this thread


_TRACE = _Trace()
_PATCH_LOCK = threading.Lock()
_patches: list = []             # (class, name, what the class held) while any thread exports
_exports = 0                    # how many exports run now, in all threads


def _patch_classes() -> None:
    """``Module.__call__`` and a few ``Tensor`` methods (``param + traced``, ``h0.expand(B, ...)``,
    ``pe[:x.size(0)]``) are wrapped while any export runs; the wrappers read this thread's trace, so in
    a thread that does not export they run the original."""
    def patch(cls, name, new):
        # what cls itself holds (_INHERITED: nothing, as Tensor's methods that come from its mixin bases)
        _patches.append((cls, name, cls.__dict__.get(name, _INHERITED)))
        setattr(cls, name, new)

    for dunder, refl in (("__add__", "__radd__"), ("__sub__", "__rsub__"), ("__mul__", "__rmul__"),
                         ("__truediv__", "__rtruediv__"), ("__matmul__", "__rmatmul__"),
                         ("add", "__radd__"), ("mul", "__rmul__"), ("matmul", "__rmatmul__")):
        patch(Tensor, dunder, _tensor_dunder(getattr(Tensor, dunder), refl))
    for name in ("expand", "expand_as", "repeat", "reshape", "view", "new_zeros", "new_ones"):
        if hasattr(Tensor, name):
            patch(Tensor, name, _tensor_sizes(getattr(Tensor, name), name))
    patch(Tensor, "__getitem__", _tensor_getitem(Tensor.__getitem__))
    patch(Module, "__call__", _module_call(Module.__dict__.get("__call__", Module.__call__)))


def _unpatch_classes() -> None:
    while _patches:
        cls, name, old = _patches.pop()
        if old is _INHERITED:
            delattr(cls, name)
        else:
            setattr(cls, name, old)


@contextmanager
def _tracing(g: Graph, paths: dict):
    """Inside the block, in this thread, the entry points that traced values reach (``tr.cat``,
    ``F.linear`` through the function mode; ``Module.__call__``, ``tensor + value`` through the class
    wrappers) build the graph; everything is restored on exit, also on error."""
    global _exports
    with _PATCH_LOCK:
        if _exports == 0:
            _patch_classes()
        _exports += 1
    outer, _TRACE.state = _TRACE.state, (g, paths)
    try:
        with _ExportMode(g):
            yield
    finally:
        _TRACE.state = outer
        with _PATCH_LOCK:
            _exports -= 1
            if _exports == 0:
                _unpatch_classes()


# ------------------------------------------------------------------------------------------------
# export


def _flatten(obj, out: list) -> None:
    if isinstance(obj, dict):
        obj = list(obj.values())
    if isinstance(obj, (tuple, list)):
        for o in obj:
            _flatten(o, out)
    elif obj is not None:
        out.append(obj)


def _check_names(names, what: str) -> list:
    if names is None:
        return []
    if isinstance(names, str) or not isinstance(names, (list, tuple)) or \
            not all(isinstance(n, str) for n in names):
        raise TypeError(f"{what}: expected a list of str, got {names!r}")
    if len(set(names)) != len(names):
        raise ValueError(f"{what}: expected distinct names, got {list(names)}")
    return list(names)


def _check_dynamic_axes(dynamic_axes, known: set) -> dict:
    if dynamic_axes is None:
        return {}
    if not isinstance(dynamic_axes, dict):
        raise TypeError(f"dynamic_axes: expected a dict {{name: [axes] or {{axis: name}}}}, got "
                        f"{type(dynamic_axes).__name__}")
    out = {}
    for key, axes in dynamic_axes.items():
        if key not in known:
            raise ValueError(f"dynamic_axes: {key!r} is not an input or output name; the names are "
                             f"{sorted(known)}")
        if isinstance(axes, dict):
            items = list(axes.items())
        elif isinstance(axes, (list, tuple)):
            items = [(a, f"{key}_dynamic_axes_{i + 1}") for i, a in enumerate(axes)]
        else:
            raise TypeError(f"dynamic_axes[{key!r}]: expected a list of axes or a dict {{axis: name}}, got "
                            f"{type(axes).__name__}")
        for a, n in items:
            if isinstance(a, bool) or not isinstance(a, numbers.Integral) or not isinstance(n, str):
                raise TypeError(f"dynamic_axes[{key!r}]: expected int axes and str names, got {axes!r}")
        out[key] = {builtins.int(a): n for a, n in items}
    return out


def _check_axes(name: str, axes: dict, ndim: int) -> dict:
    fixed = {}
    for a, n in axes.items():
        if not -ndim <= a < ndim:
            raise IndexError(f"dynamic_axes[{name!r}]: axis {a} is out of range for a {ndim}-D value")
        fixed[a % ndim] = n
    return fixed


def export(model: Module, args=(), f=None, *, kwargs: dict | None = None, verbose: bool | None = None,
           input_names: list[str] | None = None, output_names: list[str] | None = None,
           opset_version: int | None = None, dynamic_axes: dict | None = None, export_params: bool = True,
           keep_initializers_as_inputs: bool = False, do_constant_folding: bool = True, dynamo: bool = True,
           external_data: bool = True) -> None:
    """Write ``model`` as an ONNX file that computes ``model(*args)`` (PyTorch's ``torch.onnx.export``).

    The model is traced in eval mode under ``no_grad`` (its training flags are restored afterwards):
    ``forward`` runs once on proxies of ``args`` that compute the real values and record ONNX nodes.
    The trace is the exporting thread's own: the functions listed below reach it through a
    :class:`tr.overrides.TorchFunctionMode`, and ``Module.__call__`` and a few ``Tensor`` methods are wrapped
    while any export runs (restored afterwards, also on error) by wrappers that read the calling thread's
    trace, so other threads run models untraced meanwhile and exports in several threads may overlap.

    Args:
        model: a :class:`~tinygrad_rnn.nn.Module`.
        args: the example inputs: a Tensor, or a tuple of them (nested tuples such as ``(x, (h0, c0))``
            and ``None`` allowed); as in PyTorch, a dict as the last element holds keyword arguments.
        f: a path (str or ``os.PathLike``) or a binary file object (required here).
        kwargs: keyword arguments of ``forward`` (their tensors are graph inputs after those of ``args``).
        input_names, output_names: names of the graph inputs (the tensors of ``args``, flattened in
            order) and outputs (the model's outputs, nested tuples flattened). Default ``input_0, ...``
            and ``output_0, ...``.
        dynamic_axes: ``{name: [axis, ...]}`` or ``{name: {axis: "symbol"}}`` for inputs and outputs
            whose sizes may differ at run time (batch, sequence length).
        opset_version: ONNX opset, 14 to 23. Default 20 (PyTorch's default).
        verbose: print the graph (``onnx.printer.to_text``).
        do_constant_folding, dynamo, external_data: accepted so ported calls run; no effect (the graph is
            written directly: sizes that are not dynamic are already constants).
        export_params, keep_initializers_as_inputs: only the defaults (parameters stored in the file as
            initializers) are supported.

    Supported:
        - modules: ``Linear``, ``LazyLinear`` (materialised by the trace if not yet: then a ``Linear``),
          ``Embedding`` (no ``max_norm``), ``Dropout`` (identity: eval mode), ``Identity``, ``Tanh``,
          ``Sigmoid``, ``ReLU``, ``GELU`` (``Gelu`` from opset 20, ``Erf``/``Tanh`` below), ``SiLU``,
          ``Softmax``, ``LogSoftmax``, ``LayerNorm`` (``LayerNormalization`` from opset 17, decomposed
          below), ``Flatten``, ``Unflatten``, ``Sequential`` / ``ModuleList`` / ``ModuleDict``,
          ``MultiheadAttention`` (``batch_first`` either way, ``kdim``/``vdim``, bool or float
          ``key_padding_mask`` and 2-D/3-D ``attn_mask``, ``need_weights``, ``average_attn_weights``,
          unbatched input; not ``add_bias_kv``/``add_zero_attn``), ``TransformerEncoderLayer`` (post- or
          pre-norm, relu/gelu or a module activation), ``TransformerEncoder``, ``TransformerDecoderLayer``,
          ``TransformerDecoder`` and ``Transformer`` (eval mode: no dropout),
          and ``RNN`` (tanh/relu), ``LSTM``, ``GRU`` with any ``num_layers``, ``bidirectional``,
          ``batch_first``, ``bias``, optional ``hx`` and ``lengths=``
          (ONNX's ``sequence_lens``; pass the lengths as an input tensor for a dynamic batch), batched
          or unbatched input (not a ``PackedSequence``), ``RNNCell``/``LSTMCell``/``GRUCell``
          (one step: a Python loop over steps is unrolled), ``BahdanauAttention`` and
          ``LuongAttention`` (with or without a mask); a user's own ``Module`` subclass
          whose ``forward`` composes these with the tensor ops below. Any other module of this package
          raises :class:`UnsupportedOperatorError` naming it.
        - tensor methods: ``+ - * / **`` and ``@`` (with tensors, parameters and numbers), ``add``,
          ``sub``, ``mul``, ``div``, ``pow``, ``matmul``, ``tanh``, ``sigmoid``, ``relu``, ``exp``,
          ``log``, ``sqrt``, ``abs``, ``neg``, ``softmax``, ``log_softmax``, ``sum``, ``mean``,
          ``amax``, ``max``, ``argmax``, ``view``/``reshape``, ``flatten``, ``permute``,
          ``transpose``, ``t``, ``squeeze``, ``unsqueeze``, ``split``, ``chunk``, ``unbind``,
          ``narrow``, ``unflatten``, ``expand``/``expand_as``, ``repeat``, ``clamp``, ``maximum``/``minimum``,
          ``data``,
          indexing with ints, slices (step > 0), ``None``, ``...`` or one integer tensor, ``contiguous``,
          ``detach``,
          ``float``/``long``/``to(dtype)``, ``size()``/``shape``, ``new_zeros``/``new_ones``,
          comparisons (``== != < <= > >=``, ``eq`` ...), ``~ & |`` on bool tensors, ``any``,
          ``masked_fill``, ``where``;
        - functions: ``tr.cat``/``stack``/``where``/``zeros``/``ones``/``full``/``zeros_like``/``ones_like``/
          ``softmax``/``log_softmax``, the ``tr.*`` spellings of the methods above, and
          ``F.linear``/``embedding``/``dropout``/``relu``/``tanh``/``sigmoid``/``softmax``/
          ``log_softmax``/``layer_norm``/``gelu``/``silu``/``scaled_dot_product_attention`` (bool or float
          ``attn_mask``, ``is_causal`` (a causal mask that follows dynamic lengths), ``scale``,
          ``enable_gqa``; ``dropout_p=0`` only). Attention with a mask gives a query row whose keys are
          all masked zero weights, as this project's attention does (``need_weights=True``: NaN, as PyTorch).
        - indexing a tensor (a buffer such as a positional-encoding table, a parameter) with a slice
          bound by a dynamic size (``self.pe[:x.size(0)]``) or with a traced index tensor.
        Any other tensor method raises :class:`UnsupportedOperatorError`; reading values in Python
        (``bool``, ``item``) raises :class:`OnnxExporterError`.

    float32 is the dtype to export for onnxruntime: a float64 model gives a valid file, but
    onnxruntime's CPU kernels of ONNX's LSTM, GRU and RNN run float32 only.

    Dynamic sizes: ``x.size(0)`` of a dynamic axis is a symbolic int, so shapes computed from it
    (``view(B * T, -1)``, ``tr.zeros(L, B, H)``, ``self.h0.expand(-1, B, -1)``) follow the run-time
    size. A Python loop over a dynamic axis (``for t in range(x.size(1))``) is unrolled at the export
    length. ``tr.zeros``, ``tr.cat``, ``F.linear`` ... are traced however they were imported (``from
    tinygrad_rnn import zeros`` too): the trace is a :class:`tr.overrides.TorchFunctionMode` of the
    exporting thread, so other threads keep running them untraced meanwhile.

    Example::

        >>> tr.onnx.export(model, (tokens,), "lm.onnx", input_names=["tokens"], output_names=["logits"],
        ...                dynamic_axes={"tokens": {0: "batch", 1: "seq"}, "logits": {0: "batch", 1: "seq"}})
    """
    try:
        import onnx
    except ImportError as e:
        raise ImportError("tr.onnx.export needs the onnx package: pip install 'tinygrad-rnn[onnx]'") from e
    if not isinstance(model, Module):
        raise TypeError(f"model: expected a tr.nn.Module, got {type(model).__name__}")
    if opset_version is None:
        opset_version = DEFAULT_OPSET
    if isinstance(opset_version, bool) or not isinstance(opset_version, numbers.Integral):
        raise TypeError(f"opset_version: expected an int, got {type(opset_version).__name__}")
    if not MIN_OPSET <= opset_version <= MAX_OPSET:
        raise ValueError(f"opset_version: expected {MIN_OPSET}..{MAX_OPSET}, got {opset_version}")
    if not (isinstance(f, (str, os.PathLike)) or hasattr(f, "write")):
        raise TypeError(f"f: expected a path or a binary file object, got {type(f).__name__}")
    if export_params is not True or keep_initializers_as_inputs is not False:
        raise ValueError("export_params=False and keep_initializers_as_inputs=True are not supported: the "
                         "parameters are stored in the file as initializers")
    if kwargs is not None and not isinstance(kwargs, dict):
        raise TypeError(f"kwargs: expected a dict, got {type(kwargs).__name__}")
    kwargs = dict(kwargs or {})
    if not isinstance(args, tuple):
        args = (args,)
    if args and isinstance(args[-1], dict):
        args, kwargs = args[:-1], {**args[-1], **kwargs}
    flat_in: list = []
    _flatten((args, tuple(kwargs.values())), flat_in)
    for t in flat_in:
        if not isinstance(t, (Tensor, numbers.Number, str)):
            raise TypeError(f"args: expected Tensors (or tuples of them, None, numbers), got {type(t).__name__}")
    tensors_in = [t for t in flat_in if isinstance(t, Tensor)]
    input_names = _check_names(input_names, "input_names")
    output_names = _check_names(output_names, "output_names")
    if len(input_names) > len(tensors_in):
        raise ValueError(f"input_names: got {len(input_names)} names for {len(tensors_in)} input tensors")
    input_names = input_names + [f"input_{i}" for i in range(len(input_names), len(tensors_in))]
    known = set(input_names) | set(output_names)
    axes = _check_dynamic_axes(dynamic_axes, known | {f"output_{i}" for i in range(64)})
    param_names = {id(t): n for n, t in model.state_dict(keep_vars=True).items()}
    g = Graph(onnx, opset_version, param_names)
    for n in input_names:
        g._used.add(n)
    helper = onnx.helper

    graph_inputs, traced = [], {}
    for name, t in zip(input_names, tensors_in):
        ax = _check_axes(name, axes.get(name, {}), t.ndim)
        dims = [g.dim_of(name, i, s) if i in ax else s for i, s in enumerate(t.shape)]
        traced[id(t)] = TracedTensor(g, name, t, dims)
        shape = [ax.get(i, s) for i, s in enumerate(t.shape)]
        graph_inputs.append(helper.make_tensor_value_info(name, helper.np_dtype_to_tensor_dtype(t.dtype), shape))

    def lift(obj):
        if isinstance(obj, Tensor):
            return traced[id(obj)]
        if isinstance(obj, (tuple, list)):
            return type(obj)(lift(o) for o in obj)
        return obj

    modes = [(m, m.training) for m in model.modules()]
    paths = {id(m): (n or type(m).__name__) for n, m in model.named_modules()}
    try:
        model.eval()
        with no_grad(), _tracing(g, paths):
            result = model(*lift(args), **{k: lift(v) for k, v in kwargs.items()})
    finally:
        for m, mode in modes:
            m.training = mode
    flat_out: list = []
    _flatten(result, flat_out)
    if not flat_out:
        raise OnnxExporterError("tr.onnx.export: the model returned no tensors")
    if len(output_names) > len(flat_out):
        raise ValueError(f"output_names: got {len(output_names)} names for {len(flat_out)} outputs")
    output_names = output_names + [f"output_{i}" for i in range(len(output_names), len(flat_out))]
    extra = set(axes) - set(input_names) - set(output_names)
    if extra:
        raise ValueError(f"dynamic_axes: {sorted(extra)} are not input or output names; the names are "
                         f"{input_names + output_names}")
    graph_outputs = []
    for name, v in zip(output_names, flat_out):
        if isinstance(v, Tensor):
            v = TracedTensor(g, g.const(v), v)
        if not isinstance(v, TracedTensor):
            raise OnnxExporterError(f"tr.onnx.export: output {name!r} is a {type(v).__name__}, not a tensor")
        if name in g._used:
            raise ValueError(f"output_names: {name!r} is already the name of an input or a parameter")
        g.nodes.append(helper.make_node("Identity", [v.name], [name], name=f"output_{name}"))
        ax = _check_axes(name, axes.get(name, {}), v.ndim)
        shape = [ax[i] if i in ax else f"{name}_dim_{i}" if isinstance(d, Dim) else builtins.int(d)
                 for i, d in enumerate(v.dims)]
        graph_outputs.append(helper.make_tensor_value_info(name, helper.np_dtype_to_tensor_dtype(v.dtype), shape))
    graph = helper.make_graph(g.nodes, type(model).__name__, graph_inputs, graph_outputs, g.initializers)
    opset = helper.make_opsetid("", opset_version)
    proto = helper.make_model(graph, opset_imports=[opset], producer_name="tinygrad_rnn",
                              ir_version=helper.find_min_ir_version_for([opset]))
    onnx.checker.check_model(proto)
    if verbose:
        print(onnx.printer.to_text(proto.graph))
    onnx.save_model(proto, f)

