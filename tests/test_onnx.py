"""``tr.onnx.export``: the file passes ``onnx.checker`` and runs in onnxruntime with this project's outputs
(float32, 1e-5), at the export batch and sequence length and, where the axes are dynamic, at others.

onnxruntime is the reference for the exported graph (the forward it is compared with is itself checked
against PyTorch by the nn tests); the ported program also compares with PyTorch running the same weights.
"""

from __future__ import annotations

import io
import subprocess
import sys

import numpy as np
import pytest

import tinygrad_rnn as tr
from tinygrad_rnn.nn import functional as F

from conftest import require

nn = tr.nn


def runtime():
    return require("onnx"), require("onnxruntime")


def export_and_load(model, args, tmp_path, **kw):
    """Export, run onnx.checker on the file, and open it in onnxruntime."""
    onnx, ort = runtime()
    path = str(tmp_path / "model.onnx")
    tr.onnx.export(model, args, path, **kw)
    proto = onnx.load(path)
    onnx.checker.check_model(proto)
    onnx.shape_inference.infer_shapes(proto, check_type=True, strict_mode=True)
    return ort.InferenceSession(path, providers=["CPUExecutionProvider"])


def flat(obj) -> list:
    if isinstance(obj, (tuple, list)):
        return [t for o in obj for t in flat(o)]
    return [] if obj is None else [obj]


def assert_runs_like(model, sess, call_args, feeds: dict):
    """onnxruntime's outputs for ``feeds`` equal ``model(*call_args)`` (float32: 1e-5)."""
    model.eval()
    with tr.no_grad():
        expected = flat(model(*call_args))
    got = sess.run(None, {k: v.numpy() for k, v in feeds.items()})
    assert len(got) == len(expected)
    for g, e, declared in zip(got, expected, sess.get_outputs()):
        assert g.shape == tuple(e.shape)
        assert len(declared.shape) == g.ndim                     # a fixed size in the file is the real one
        assert all(isinstance(d, str) or d == n for d, n in zip(declared.shape, g.shape)), (declared, g.shape)
        np.testing.assert_allclose(g, e.numpy(), rtol=1e-5, atol=1e-5)


@pytest.mark.cpu_only      # checks what an import loads, not a computation
def test_importing_tinygrad_rnn_does_not_import_onnx():
    code = "import sys, tinygrad_rnn as tr; tr.onnx.export; print('onnx' in sys.modules, 'onnxruntime' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


# ------------------------------------------------------------------------------------------------
# Feed-forward modules


def test_feedforward_modules(device, tmp_path):
    tr.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Dropout(0.5), nn.Linear(8, 8), nn.Tanh(), nn.Identity(),
                          nn.Linear(8, 5, bias=False), nn.Sigmoid(), nn.Linear(5, 4), nn.Softmax(dim=-1),
                          nn.Linear(4, 3), nn.LogSoftmax(dim=1)).to(device)
    x = tr.randn(2, 3, 6, device=device)
    sess = export_and_load(model, (x,), tmp_path, input_names=["x"], output_names=["y"],
                           dynamic_axes={"x": {0: "batch", 1: "seq"}, "y": {0: "batch", 1: "seq"}})
    for shape in [(2, 3, 6), (5, 1, 6)]:
        x = tr.randn(*shape, device=device)
        assert_runs_like(model, sess, (x,), {"x": x})


def test_embedding_and_linear_on_2d_input(device, tmp_path):
    tr.manual_seed(1)
    model = nn.Sequential(nn.Embedding(13, 6, padding_idx=0), nn.Linear(6, 4)).to(device)
    x = tr.randint(0, 13, (3, 5), device=device)
    sess = export_and_load(model, (x,), tmp_path, input_names=["tokens"],
                           dynamic_axes={"tokens": [0, 1], "output_0": [0, 1]})
    for shape in [(3, 5), (1, 9)]:
        x = tr.randint(0, 13, shape, device=device)
        assert_runs_like(model, sess, (x,), {"tokens": x})
    onnx, _ = runtime()
    names = {i.name for i in onnx.load(str(tmp_path / "model.onnx")).graph.initializer}
    assert {"0.weight", "1.weight", "1.bias"} <= names          # parameters keep their state_dict names
    flat_model = nn.Linear(6, 4).to(device)                      # 2-D input: one Gemm
    x = tr.randn(7, 6, device=device)
    sess = export_and_load(flat_model, x, tmp_path, dynamic_axes={"input_0": [0], "output_0": [0]})
    x2 = tr.randn(2, 6, device=device)
    assert_runs_like(flat_model, sess, (x2,), {"input_0": x2})
    assert [n.op_type for n in onnx.load(str(tmp_path / "model.onnx")).graph.node] == ["Gemm", "Identity"]


# ------------------------------------------------------------------------------------------------
# Recurrent layers


RECURRENT = [
    # (kind, num_layers, bidirectional, batch_first, bias)
    ("LSTM", 1, False, False, True),
    ("LSTM", 2, True, True, True),
    ("LSTM", 2, False, True, False),
    ("GRU", 1, True, False, True),
    ("GRU", 2, False, True, False),
    ("GRU", 2, True, True, True),
    ("RNN", 2, True, False, True),
    ("RNN_relu", 1, False, True, False),
]


def recurrent(kind: str, num_layers: int, bidirectional: bool, batch_first: bool, bias: bool, device: str):
    kw = dict(num_layers=num_layers, bidirectional=bidirectional, batch_first=batch_first, bias=bias)
    if kind == "RNN_relu":
        return nn.RNN(4, 5, nonlinearity="relu", **kw).to(device)
    return getattr(nn, kind)(4, 5, **kw).to(device)


def seq_input(batch_first: bool, B: int, T: int, device: str):
    return tr.randn(B, T, 4, device=device) if batch_first else tr.randn(T, B, 4, device=device)


@pytest.mark.parametrize("kind,num_layers,bidirectional,batch_first,bias", RECURRENT)
def test_recurrent_layer_dynamic_batch_and_length(kind, num_layers, bidirectional, batch_first, bias, device,
                                                  tmp_path):
    tr.manual_seed(2)
    model = recurrent(kind, num_layers, bidirectional, batch_first, bias, device)
    b, t = (0, 1) if batch_first else (1, 0)
    names = ["out", "h_n", "c_n"] if kind == "LSTM" else ["out", "h_n"]
    axes = {"x": {b: "batch", t: "seq"}, "out": {b: "batch", t: "seq"}, "h_n": {1: "batch"}}
    if kind == "LSTM":
        axes["c_n"] = {1: "batch"}
    sess = export_and_load(model, (seq_input(batch_first, 3, 4, device),), tmp_path, input_names=["x"],
                           output_names=names, dynamic_axes=axes)
    for B, T in [(3, 4), (2, 7), (1, 1)]:
        x = seq_input(batch_first, B, T, device)
        assert_runs_like(model, sess, (x,), {"x": x})


@pytest.mark.parametrize("kind", ["LSTM", "GRU", "RNN"])
def test_recurrent_layer_with_initial_state_inputs(kind, device, tmp_path):
    tr.manual_seed(3)
    model = getattr(nn, kind)(4, 5, num_layers=2, bidirectional=True, batch_first=True).to(device)

    def inputs(B, T):
        x = tr.randn(B, T, 4, device=device)
        h0 = tr.randn(4, B, 5, device=device)
        return (x, (h0, tr.randn(4, B, 5, device=device))) if kind == "LSTM" else (x, h0)
    names = ["x", "h0", "c0"] if kind == "LSTM" else ["x", "h0"]
    axes = {"x": {0: "batch", 1: "seq"}, "h0": {1: "batch"}, "c0": {1: "batch"}} if kind == "LSTM" else \
        {"x": {0: "batch", 1: "seq"}, "h0": {1: "batch"}}
    sess = export_and_load(model, inputs(2, 3), tmp_path, input_names=names, dynamic_axes=axes)
    assert [i.name for i in sess.get_inputs()] == names
    for B, T in [(2, 3), (4, 6)]:
        args = inputs(B, T)
        assert_runs_like(model, sess, args, dict(zip(names, flat(args))))


class Lengths(nn.Module):
    def __init__(self, kind: str) -> None:
        super().__init__()
        self.rnn = getattr(nn, kind)(4, 5, num_layers=2, bidirectional=True, batch_first=True)

    def forward(self, x, lengths):
        out, state = self.rnn(x, lengths=lengths)
        return out, state


@pytest.mark.parametrize("kind", ["LSTM", "GRU", "RNN"])
def test_recurrent_layer_with_lengths(kind, device, tmp_path):
    tr.manual_seed(13)
    model = Lengths(kind).to(device)

    def inputs(B, T):
        lengths = tr.tensor(np.random.default_rng(B * T).integers(1, T + 1, B))
        return tr.randn(B, T, 4, device=device), lengths
    sess = export_and_load(model, inputs(3, 5), tmp_path, input_names=["x", "lengths"],
                           dynamic_axes={"x": {0: "batch", 1: "seq"}, "lengths": {0: "batch"}})
    for B, T in [(3, 5), (4, 7)]:
        x, lengths = inputs(B, T)
        assert_runs_like(model, sess, (x, lengths), {"x": x, "lengths": lengths})
    x, lengths = inputs(3, 5)                                    # lengths as a list: a constant of the file
    model.forward = lambda x, lengths=lengths.tolist(), _m=model: Lengths.forward(_m, x, lengths)
    sess = export_and_load(model, (x,), tmp_path, input_names=["x"], dynamic_axes={"x": {1: "seq"}})
    assert_runs_like(model, sess, (x,), {"x": x})


class StepByStep(nn.Module):
    """A decoder-style loop: one GRU called once per step (its weights are stored once)."""

    def __init__(self) -> None:
        super().__init__()
        self.gru = nn.GRU(4, 4, batch_first=True)

    def forward(self, x):
        h, outs = None, []
        for _ in range(3):
            y, h = self.gru(x if not outs else outs[-1], h)
            outs.append(y)
        return tr.cat(outs, dim=1)


def test_a_layer_called_in_a_loop_stores_its_weights_once(device, tmp_path):
    model = StepByStep().to(device)
    x = tr.randn(2, 1, 4, device=device)
    sess = export_and_load(model, (x,), tmp_path, dynamic_axes={"input_0": {0: "batch"}})
    onnx, _ = runtime()
    proto = onnx.load(str(tmp_path / "model.onnx"))
    assert [n.op_type for n in proto.graph.node].count("GRU") == 3
    assert sum(1 for i in proto.graph.initializer if "onnx_W" in i.name) == 1
    x = tr.randn(5, 1, 4, device=device)
    assert_runs_like(model, sess, (x,), {"input_0": x})


def test_unbatched_recurrent_input(device, tmp_path):
    tr.manual_seed(4)
    model = nn.GRU(4, 5, num_layers=2).to(device)
    x = tr.randn(6, 4, device=device)
    sess = export_and_load(model, (x,), tmp_path, input_names=["x"], dynamic_axes={"x": {0: "seq"}})
    for T in (6, 2):
        x = tr.randn(T, 4, device=device)
        assert_runs_like(model, sess, (x,), {"x": x})


def test_static_export_keeps_the_example_shapes(device, tmp_path):
    model = nn.LSTM(4, 5).to(device)
    sess = export_and_load(model, (tr.randn(3, 2, 4, device=device),), tmp_path)
    assert sess.get_inputs()[0].shape == [3, 2, 4]
    assert [o.shape for o in sess.get_outputs()] == [[3, 2, 5], [1, 2, 5], [1, 2, 5]]
    x = tr.randn(3, 2, 4, device=device)
    assert_runs_like(model, sess, (x,), {"input_0": x})


# ------------------------------------------------------------------------------------------------
# A user's own Module: its forward composes modules and tensor ops, shapes computed from size()


class Tagger(nn.Module):
    def __init__(self, V: int = 12, E: int = 6, H: int = 5, C: int = 3) -> None:
        super().__init__()
        self.H = H
        self.emb = nn.Embedding(V, E)
        self.gru = nn.GRU(E, H, batch_first=True, bidirectional=True)
        self.proj = nn.Linear(2 * H, H)
        self.scale = nn.Parameter(tr.linspace(0.5, 1.5, H))
        self.head = nn.Sequential(nn.ReLU(), nn.Dropout(0.3), nn.Linear(H, C))

    def forward(self, tokens):
        B, T = tokens.size(0), tokens.size(1)
        h0 = tr.zeros(2, B, self.H, device=tokens.device)
        out, h_n = self.gru(self.emb(tokens), h0)
        z = F.relu(self.proj(out.contiguous().view(B * T, -1))) * self.scale + 1.0
        z = z.view(B, T, self.H)
        pooled = z.mean(dim=1) + z[:, -1] - z.sum(1) / T + 2 * z[:, 0, :] - z[:, T - 1] + z[..., 1:T, :].sum(1)
        both = tr.cat([h_n[0], h_n[1]], dim=-1).unsqueeze(1).squeeze(1)
        stacked = tr.stack([pooled, pooled.exp()], dim=1).flatten(1)
        scores = (self.head(z).permute(1, 0, 2).transpose(0, 1) @ self.head[2].weight).softmax(-1)
        first, second = both.chunk(2, dim=1)
        best, idx = scores.max(dim=-1)
        return (F.log_softmax(self.head(z), dim=-1), pooled.sigmoid().sqrt(), stacked, first - second,
                best.abs(), idx, scores.argmax(-1), tr.tanh(z.amax(1)) / 2, z.new_zeros(B, 2) + 1)


def test_user_module_with_tensor_ops(device, tmp_path):
    tr.manual_seed(5)
    model = Tagger().to(device)
    outs = ["logp", "pooled", "stacked", "diff", "best", "idx", "argmax", "amax", "ones"]
    axes = {"tokens": {0: "batch", 1: "seq"}, "logp": {0: "batch", 1: "seq"}}
    sess = export_and_load(model, (tr.randint(0, 12, (3, 4), device=device),), tmp_path, input_names=["tokens"],
                           output_names=outs, dynamic_axes=axes)
    for B, T in [(3, 4), (2, 7), (5, 1)]:
        x = tr.randint(0, 12, (B, T), device=device)
        assert_runs_like(model, sess, (x,), {"tokens": x})


class Broadcasts(nn.Module):
    """expand / repeat / unbind / narrow / clamp, with sizes read from the input (also on parameters)."""

    def __init__(self) -> None:
        super().__init__()
        self.enc = nn.LSTM(3, 4, batch_first=True)
        self.bias = nn.Parameter(tr.linspace(-1.0, 1.0, 4))
        self.h0 = nn.Parameter(tr.linspace(-0.5, 0.5, 4).view(1, 1, 4))      # a learned initial state

    def forward(self, x):
        B, T, _ = x.size()
        out, (h, _) = self.enc(x, (self.h0.expand(-1, B, -1).contiguous(), self.h0.repeat(1, B, 1)))
        last = h[-1].unsqueeze(1).expand(B, T, -1)                  # (B, T, H)
        tiled = self.bias.unsqueeze(0).expand_as(h[-1]).unsqueeze(1).repeat(1, T, 1)
        steps = tr.stack(list(out.narrow(1, 0, 2).unbind(1)), dim=1)
        y = (out - last + tiled).clamp(-0.5, 0.5) + out.clamp(min=0.0) + tr.maximum(out, last) * 0.1
        return y.data, steps.clip(max=0.1), out.narrow(1, -1, 1).squeeze(1)


def test_expand_repeat_unbind_narrow_clamp(device, tmp_path):
    tr.manual_seed(12)
    model = Broadcasts().to(device)
    sess = export_and_load(model, (tr.randn(2, 5, 3, device=device),), tmp_path,
                           dynamic_axes={"input_0": {0: "batch", 1: "seq"}})
    for B, T in [(2, 5), (3, 8)]:
        x = tr.randn(B, T, 3, device=device)
        assert_runs_like(model, sess, (x,), {"input_0": x})


class AttentionClassifier(nn.Module):
    """Masks from the tokens, a bidirectional encoder, attention over its outputs, masked outputs."""

    def __init__(self, score: str) -> None:
        super().__init__()
        self.emb = nn.Embedding(10, 6, padding_idx=0)
        self.enc = nn.GRU(6, 4, batch_first=True, bidirectional=True)
        q = 4 if score != "dot" else 8
        self.q = nn.Linear(8, q)
        self.attn = nn.BahdanauAttention(q, 8, 5) if score == "bahdanau" else nn.LuongAttention(q, 8, score=score)
        self.out = nn.Linear(8, 3)

    def forward(self, tokens):
        mask = tokens != 0
        keys, h = self.enc(self.emb(tokens))
        keys = tr.where(mask.unsqueeze(-1), keys, 0.0)
        query = self.q(tr.cat([h[0], h[1]], -1)).tanh()
        context, weights = self.attn(query, keys, mask=mask)
        valid = mask.any(dim=1, keepdim=True) & (tokens[:, :1] >= 0) | (tokens[:, :1] == 99)
        return self.out(context).masked_fill(~valid, 0.0), weights, (tokens > 4).long().sum(1)


@pytest.mark.parametrize("kind", ["LSTMCell", "GRUCell", "RNNCell"])
def test_cells_unbatched_and_without_state(kind, device, tmp_path):
    tr.manual_seed(10)
    cell = getattr(nn, kind)(3, 4, bias=kind != "GRUCell").to(device)
    x = tr.randn(2, 3, device=device)
    sess = export_and_load(cell, (x,), tmp_path, dynamic_axes={"input_0": [0]})
    for B in (2, 5):
        x = tr.randn(B, 3, device=device)
        assert_runs_like(cell, sess, (x,), {"input_0": x})
    x = tr.randn(3, device=device)
    hx = (tr.randn(4, device=device), tr.randn(4, device=device)) if kind == "LSTMCell" else tr.randn(4, device=device)
    sess = export_and_load(cell, (x, hx), tmp_path)
    assert_runs_like(cell, sess, (x, hx), dict(zip(["input_0", "input_1", "input_2"], flat((x, hx)))))


@pytest.mark.parametrize("score", ["bahdanau", "general", "dot"])
def test_attention_and_masks(score, device, tmp_path):
    tr.manual_seed(9)
    model = AttentionClassifier(score).to(device)

    def tokens(B, T):
        x = tr.randint(1, 10, (B, T), device=device)
        x[0, T // 2:] = 0                         # a padded row
        x[-1] = 0                                 # a row with no valid token: zero weights, masked output
        return x
    sess = export_and_load(model, (tokens(3, 5),), tmp_path, input_names=["tokens"],
                           dynamic_axes={"tokens": {0: "batch", 1: "seq"}})
    for B, T in [(3, 5), (4, 8)]:
        x = tokens(B, T)
        assert_runs_like(model, sess, (x,), {"tokens": x})


@pytest.mark.parametrize("opset", [14, 17, 18, 23])
def test_opset_versions(opset, device, tmp_path):
    tr.manual_seed(6)
    model = Tagger().to(device)
    x = tr.randint(0, 12, (2, 3), device=device)
    sess = export_and_load(model, (x,), tmp_path, input_names=["tokens"], opset_version=opset,
                           dynamic_axes={"tokens": {0: "batch", 1: "seq"}})
    x = tr.randint(0, 12, (4, 5), device=device)
    assert_runs_like(model, sess, (x,), {"tokens": x})


def test_export_to_a_file_object_and_keyword_arguments(device, capsys):
    onnx, ort = runtime()

    class WithState(nn.Module):
        def __init__(self):
            super().__init__()
            self.rnn = nn.LSTM(4, 3, batch_first=True)

        def forward(self, x, hx=None):
            out, (h, c) = self.rnn(x, hx)
            return out[:, -1] + h[-1]

    model = WithState().to(device)
    x = tr.randn(2, 5, 4, device=device)
    hx = (tr.randn(1, 2, 3, device=device), tr.randn(1, 2, 3, device=device))
    buf = io.BytesIO()
    tr.onnx.export(model, (x, {"hx": hx}), buf, input_names=["x", "h0", "c0"], verbose=True,
                   do_constant_folding=True, export_params=True)
    assert "WithState" in capsys.readouterr().out                  # verbose prints the graph
    onnx.checker.check_model(onnx.load_from_string(buf.getvalue()))
    sess = ort.InferenceSession(buf.getvalue(), providers=["CPUExecutionProvider"])
    assert_runs_like(model, sess, (x, hx), {"x": x, "h0": hx[0], "c0": hx[1]})


# ------------------------------------------------------------------------------------------------
# The Transformer's pieces: LayerNorm, GELU, SiLU, Flatten/Unflatten, LazyLinear, attention, encoder layers


def ops_of(tmp_path) -> list:
    onnx, _ = runtime()
    return [n.op_type for n in onnx.load(str(tmp_path / "model.onnx")).graph.node]


@pytest.mark.parametrize("opset", [14, 17, 20])
def test_layer_norm_gelu_silu_flatten_across_opsets(opset, device, tmp_path):
    tr.manual_seed(20)
    model = nn.Sequential(nn.Linear(4, 6), nn.LayerNorm(6), nn.GELU(), nn.Linear(6, 6),
                          nn.LayerNorm(6, eps=1e-3, bias=False), nn.GELU(approximate="tanh"),
                          nn.LayerNorm(6, elementwise_affine=False), nn.SiLU(), nn.Flatten(1), nn.Identity(),
                          nn.Unflatten(1, (-1, 6)), nn.Linear(6, 3), nn.Flatten(0, 1), nn.Unflatten(0, (2, -1)))
    for p in model.parameters():          # LayerNorm's γ, β away from their ones and zeros
        with tr.no_grad():
            p.add_(tr.randn(*p.shape, device=device) * 0.3)
    sess = export_and_load(model, (tr.randn(2, 3, 4, device=device),), tmp_path, input_names=["x"],
                           opset_version=opset, dynamic_axes={"x": {1: "seq"}})
    for T in (3, 7):
        x = tr.randn(2, T, 4, device=device) * 3
        assert_runs_like(model, sess, (x,), {"x": x})
    ops = ops_of(tmp_path)
    assert ("LayerNormalization" in ops) == (opset >= 17)        # one op from 17, decomposed below
    assert ("Gelu" in ops) == (opset >= 20) and ("Erf" in ops) == (opset < 20)


class Functional(nn.Module):
    """The functional forms, with every kind of attention mask as a graph input."""

    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Parameter(tr.linspace(0.5, 1.5, 8))
        self.b = nn.Parameter(tr.linspace(-0.2, 0.2, 8))

    def forward(self, x, allowed, additive):
        B, T, _ = x.shape
        y = F.silu(F.gelu(F.layer_norm(x, (8,), self.w, self.b, eps=1e-3), approximate="tanh")) + F.gelu(x)
        q = y.view(B, T, 2, 4).transpose(1, 2)                     # (B, 2 heads, T, 4)
        kv = q[:, :1]                                               # one key/value head
        causal = F.scaled_dot_product_attention(q, q, q, is_causal=True)
        masked = F.scaled_dot_product_attention(q, q, q, attn_mask=allowed)             # bool: True = allowed
        added = F.scaled_dot_product_attention(q, q * 0.5, q, attn_mask=additive, scale=0.3)
        gqa = F.scaled_dot_product_attention(q, kv, kv, enable_gqa=True)
        return causal, masked, added, gqa, F.layer_norm(y, (T, 8))


def test_functional_layer_norm_gelu_silu_and_attention_masks(device, tmp_path):
    tr.manual_seed(21)
    model = Functional().to(device)

    def inputs(B, T):
        allowed = tr.rand(B, 1, T, T, device=device) > 0.4
        allowed[0, 0, 1] = False                                    # a query row with no key: zeros
        additive = tr.where(tr.rand(T, T, device=device) > 0.3, 0.0, float("-inf"))
        additive[0] = float("-inf")
        return tr.randn(B, T, 8, device=device), allowed, additive + tr.randn(T, T, device=device)
    sess = export_and_load(model, inputs(2, 3), tmp_path, input_names=["x", "allowed", "additive"],
                           dynamic_axes={"x": {0: "batch", 1: "seq"}, "allowed": {0: "batch", 2: "L", 3: "S"},
                                         "additive": {0: "L", 1: "S"}})
    for B, T in [(2, 3), (4, 6)]:          # the causal mask and layer_norm over (T, 8) follow the length
        x, allowed, additive = inputs(B, T)
        assert_runs_like(model, sess, (x, allowed, additive), {"x": x, "allowed": allowed, "additive": additive})
        with tr.no_grad():
            assert (model(x, allowed, additive)[1][0, 0, 1] == 0).all()      # the empty row is zeros, not NaN


class SelfAttention(nn.Module):
    def __init__(self, batch_first: bool, need_weights: bool, average: bool) -> None:
        super().__init__()
        self.attn = nn.MultiheadAttention(8, 2, batch_first=batch_first)
        self.need_weights, self.average = need_weights, average

    def forward(self, x, key_padding_mask=None, attn_mask=None):
        return self.attn(x, x, x, key_padding_mask=key_padding_mask, attn_mask=attn_mask,
                         need_weights=self.need_weights, average_attn_weights=self.average)


MHA_CASES = [
    # (batch_first, need_weights, average_attn_weights, key_padding_mask kind, attn_mask kind)
    (True, True, True, None, None),
    (False, True, False, "bool", None),
    (True, False, True, "bool", "bool"),
    (False, False, True, "float", "float"),
    (True, True, True, "float", "float3d"),
    (False, False, True, None, "bool3d"),
]


@pytest.mark.parametrize("batch_first,need_weights,average,kpm_kind,mask_kind", MHA_CASES)
def test_multihead_attention_masks_and_weights(batch_first, need_weights, average, kpm_kind, mask_kind, device,
                                               tmp_path):
    tr.manual_seed(22)
    model = SelfAttention(batch_first, need_weights, average).to(device)
    with tr.no_grad():
        model.attn.in_proj_bias.add_(tr.randn(24, device=device) * 0.1)     # nonzero biases
        model.attn.out_proj.bias.add_(tr.randn(8, device=device) * 0.1)

    def inputs(B, T):
        x = tr.randn(*((B, T, 8) if batch_first else (T, B, 8)), device=device)
        args = [x]
        pad = tr.zeros(B, T, dtype=tr.bool, device=device)
        pad[0, T - 1:] = True                                      # a padded position in the first row
        if not need_weights and kpm_kind is not None:
            pad[-1] = True                                          # every key masked: zero rows, not NaN
        if kpm_kind is not None:
            args.append(pad if kpm_kind == "bool" else tr.where(pad, -1e4, 0.0) + tr.rand(B, T, device=device))
        else:
            args.append(None)
        if mask_kind is not None:
            shape = (B * 2, T, T) if mask_kind.endswith("3d") else (T, T)
            forbid = tr.rand(*shape, device=device) > 0.6
            forbid[..., 0] = False                                  # every query sees the first key
            args.append(forbid if mask_kind.startswith("bool") else tr.where(forbid, float("-inf"), 0.0) +
                        tr.rand(*shape, device=device))
        return tuple(args)
    b, t = (0, 1) if batch_first else (1, 0)
    axes = {"x": {b: "batch", t: "seq"}, "kpm": {0: "batch", 1: "seq"}, "mask": {0: "L", 1: "S"}}
    if mask_kind is not None and mask_kind.endswith("3d"):
        axes["mask"] = {0: "NH", 1: "L", 2: "S"}
    args = inputs(2, 4)
    names = [n for n, a in zip(["x", "kpm", "mask"], args) if a is not None]
    sess = export_and_load(model, args, tmp_path, input_names=names,
                           dynamic_axes={n: a for n, a in axes.items() if n in names})
    for B, T in [(2, 4), (3, 6)]:
        args = inputs(B, T)
        assert_runs_like(model, sess, args, dict(zip(names, [a for a in args if a is not None])))


class CrossAttention(nn.Module):
    """Unbatched and batched cross-attention with other key and value widths (separate projections)."""

    def __init__(self) -> None:
        super().__init__()
        self.attn = nn.MultiheadAttention(8, 4, kdim=5, vdim=3, bias=False)

    def forward(self, q, k, v):
        out, w = self.attn(q, k, v)
        out1, w1 = self.attn(q[:, 0], k[:, 0], v[:, 0], need_weights=False)
        return out, w, out1, w1


def test_multihead_attention_cross_and_unbatched(device, tmp_path):
    tr.manual_seed(23)
    model = CrossAttention().to(device)

    def inputs(B, L, S):
        return tr.randn(L, B, 8, device=device), tr.randn(S, B, 5, device=device), tr.randn(S, B, 3, device=device)
    sess = export_and_load(model, inputs(2, 3, 5), tmp_path, input_names=["q", "k", "v"],
                           dynamic_axes={"q": {0: "L", 1: "B"}, "k": {0: "S", 1: "B"}, "v": {0: "S", 1: "B"}})
    for B, L, S in [(2, 3, 5), (3, 1, 7)]:
        args = inputs(B, L, S)
        assert_runs_like(model, sess, args, dict(zip("qkv", args)))


@pytest.mark.parametrize("norm_first,activation,batch_first", [
    (False, "relu", False), (True, "gelu", True), (False, "gelu_module", True), (True, "relu", False)])
def test_transformer_encoder_with_masks(norm_first, activation, batch_first, device, tmp_path):
    tr.manual_seed(24)
    act = nn.GELU(approximate="tanh") if activation == "gelu_module" else activation
    layer = nn.TransformerEncoderLayer(8, 2, dim_feedforward=16, activation=act, batch_first=batch_first,
                                       norm_first=norm_first)
    model = nn.TransformerEncoder(layer, 2, norm=nn.LayerNorm(8) if norm_first else None).to(device)
    model.train()                                                    # exported in eval mode all the same

    def inputs(B, T):
        x = tr.randn(*((B, T, 8) if batch_first else (T, B, 8)), device=device)
        pad = tr.zeros(B, T, dtype=tr.bool, device=device)
        pad[0, T // 2 + 1:] = True
        causal = nn.Transformer.generate_square_subsequent_mask(T, device=device) == float("-inf")
        return x, causal, pad                                       # bool masks: True = not allowed
    b, t = (0, 1) if batch_first else (1, 0)
    sess = export_and_load(model, inputs(2, 4), tmp_path, input_names=["src", "mask", "pad"],
                           dynamic_axes={"src": {b: "batch", t: "seq"}, "mask": {0: "seq", 1: "seq"},
                                         "pad": {0: "batch", 1: "seq"}, "output_0": {b: "batch", t: "seq"}})
    assert model.training
    for B, T in [(2, 4), (3, 7)]:
        args = inputs(B, T)
        assert_runs_like(model, sess, args, dict(zip(["src", "mask", "pad"], args)))
    layer = model.layers[0]                                          # one layer on its own, unbatched, no mask
    x = tr.randn(5, 8, device=device)
    sess = export_and_load(layer, (x,), tmp_path, dynamic_axes={"input_0": [0]})
    x = tr.randn(3, 8, device=device)
    assert_runs_like(layer, sess, (x,), {"input_0": x})


@pytest.mark.parametrize("norm_first,batch_first", [(False, False), (True, True)])
def test_transformer_encoder_decoder_with_masks(norm_first, batch_first, device, tmp_path):
    tr.manual_seed(27)
    model = nn.Transformer(8, 2, num_encoder_layers=1, num_decoder_layers=2, dim_feedforward=16,
                           activation="gelu", batch_first=batch_first, norm_first=norm_first).to(device)

    def inputs(B, S, T):
        src = tr.randn(*((B, S, 8) if batch_first else (S, B, 8)), device=device)
        tgt = tr.randn(*((B, T, 8) if batch_first else (T, B, 8)), device=device)
        tgt_mask = nn.Transformer.generate_square_subsequent_mask(T, device=device)        # float: -inf above
        src_pad = tr.zeros(B, S, device=device)
        src_pad[0, S - 1:] = float("-inf")                           # float masks throughout (one kind)
        return src, tgt, tgt_mask, src_pad
    b, t = (0, 1) if batch_first else (1, 0)
    names = ["src", "tgt", "tgt_mask", "src_pad"]

    class Seq2Seq(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.t = model

        def forward(self, src, tgt, tgt_mask, src_pad):
            return self.t(src, tgt, tgt_mask=tgt_mask, src_key_padding_mask=src_pad,
                          memory_key_padding_mask=src_pad)
    wrapped = Seq2Seq()
    sess = export_and_load(wrapped, inputs(2, 4, 3), tmp_path, input_names=names,
                           dynamic_axes={"src": {b: "batch", t: "S"}, "tgt": {b: "batch", t: "T"},
                                         "tgt_mask": {0: "T", 1: "T"}, "src_pad": {0: "batch", 1: "S"}})
    for B, S, T in [(2, 4, 3), (3, 6, 5)]:
        args = inputs(B, S, T)
        assert_runs_like(wrapped, sess, args, dict(zip(names, args)))


def test_lazy_linear_is_exported_as_a_linear(device, tmp_path):
    tr.manual_seed(25)
    model = nn.Sequential(nn.LazyLinear(6), nn.ReLU(), nn.LazyLinear(2)).to(device)
    x = tr.randn(3, 5, 4, device=device)
    sess = export_and_load(model, (x,), tmp_path, dynamic_axes={"input_0": [0, 1]})   # materialised by the trace
    assert [type(m).__name__ for m in model] == ["Linear", "ReLU", "Linear"] and model[0].in_features == 4
    x = tr.randn(2, 7, 4, device=device)
    assert_runs_like(model, sess, (x,), {"input_0": x})
    model = nn.Sequential(nn.LazyLinear(3)).to(device)
    with tr.no_grad():
        model(tr.randn(1, 4, device=device))                         # materialised by a first call
    sess = export_and_load(model, (x,), tmp_path)
    assert_runs_like(model, sess, (x,), {"input_0": x})
    onnx, _ = runtime()
    names = {i.name for i in onnx.load(str(tmp_path / "model.onnx")).graph.initializer}
    assert {"0.weight", "0.bias"} <= names


@pytest.mark.cpu_only      # the errors are raised while tracing, before any computation is compared
def test_transformer_pieces_that_cannot_be_exported(tmp_path):
    runtime()
    f = str(tmp_path / "m.onnx")
    mha = nn.MultiheadAttention(4, 2, add_bias_kv=True)
    x = tr.randn(3, 2, 4)
    with pytest.raises(tr.onnx.UnsupportedOperatorError, match="add_bias_kv"):
        tr.onnx.export(SelfAttentionOf(mha), x, f)
    with pytest.raises(tr.onnx.OnnxExporterError, match="dropout_p"):
        tr.onnx.export(Wrap(nn.Identity(), lambda y: F.scaled_dot_product_attention(y, y, y, dropout_p=0.1)), x, f)
    with pytest.raises(ValueError, match="normalized_shape"):       # the real argument checks run first
        tr.onnx.export(Wrap(nn.Identity(), lambda y: F.layer_norm(y, (5,))), x, f)
    assert not (tmp_path / "m.onnx").exists()


class SelfAttentionOf(nn.Module):
    def __init__(self, attn) -> None:
        super().__init__()
        self.attn = attn

    def forward(self, x):
        return self.attn(x, x, x)[0]


# ------------------------------------------------------------------------------------------------
# What cannot be exported, and bad arguments


class Wrap(nn.Module):
    def __init__(self, inner, fn=None):
        super().__init__()
        self.inner = inner
        self.fn = fn

    def forward(self, x):
        return self.fn(self.inner(x)) if self.fn is not None else self.inner(x)


@pytest.mark.cpu_only      # the error is raised while tracing, before any computation is compared
def test_unsupported_module_is_named(tmp_path):
    runtime()
    model = Wrap(nn.Sequential(nn.Embedding(5, 4), nn.Encoder(5, 4, 4)))
    with pytest.raises(tr.onnx.UnsupportedOperatorError, match=r"'inner\.1'.*seq2seq\.Encoder"):
        tr.onnx.export(model, tr.randint(0, 5, (2, 3)), str(tmp_path / "m.onnx"))
    assert not (tmp_path / "m.onnx").exists()
    packed = nn.utils.rnn.pack_padded_sequence(tr.randn(4, 2, 3), [4, 3])
    with pytest.raises(tr.onnx.UnsupportedOperatorError, match="PackedSequence"):
        tr.onnx.export(Wrap(nn.Linear(3, 2), lambda h: nn.GRU(3, 2)(packed, h.unsqueeze(0))), tr.randn(2, 3),
                       str(tmp_path / "m.onnx"))


@pytest.mark.cpu_only      # the error is raised while tracing
@pytest.mark.parametrize("fn,error,match", [
    (lambda y: y.cumsum(1), tr.onnx.UnsupportedOperatorError, r"Tensor\.cumsum"),
    (lambda y: y if y.sum().item() > 0 else -y, tr.onnx.OnnxExporterError, "reads a traced tensor's values"),
    (lambda y: y * 2 if y.sum() > 0 else y, tr.onnx.OnnxExporterError, "reads a traced tensor's values"),
    (lambda y: y.topk(2), tr.onnx.UnsupportedOperatorError, r"Tensor\.topk"),
    (lambda y: F.dropout(y, 0.5), tr.onnx.OnnxExporterError, "dropout in training mode"),
    (lambda y: y.flip(0), tr.onnx.UnsupportedOperatorError, r"Tensor\.flip"),
    (lambda y: F.mse_loss(y, y), TypeError, "TracedTensor"),           # a function the exporter does not trace
])
def test_unsupported_ops_raise_clear_errors(fn, error, match, tmp_path):
    runtime()
    model = Wrap(nn.Linear(3, 4), fn)
    before = (tr.cat, tr.zeros, F.linear, nn.Module.__call__, tr.Tensor.__add__, tr.Tensor.expand,
              tr.Tensor.__getitem__, F.layer_norm, F.scaled_dot_product_attention)
    own = dict(vars(tr.Tensor))          # the methods that Tensor inherits from its mixins stay inherited
    with pytest.raises(error, match=match):
        tr.onnx.export(model, tr.randn(2, 3), str(tmp_path / "m.onnx"))
    after = (tr.cat, tr.zeros, F.linear, nn.Module.__call__, tr.Tensor.__add__, tr.Tensor.expand,
             tr.Tensor.__getitem__, F.layer_norm, F.scaled_dot_product_attention)
    assert all(a is b for a, b in zip(before, after))             # the trace's patches are undone
    assert dict(vars(tr.Tensor)) == own


@pytest.mark.cpu_only      # argument checks
def test_bad_arguments(tmp_path):
    runtime()
    model, x, f = nn.Linear(3, 2), tr.randn(2, 3), str(tmp_path / "m.onnx")
    with pytest.raises(TypeError, match="model"):
        tr.onnx.export(lambda x: x, x, f)
    with pytest.raises(ValueError, match="opset_version"):
        tr.onnx.export(model, x, f, opset_version=9)
    with pytest.raises(TypeError, match="opset_version"):
        tr.onnx.export(model, x, f, opset_version="17")
    with pytest.raises(ValueError, match="input_names"):
        tr.onnx.export(model, x, f, input_names=["a", "b"])
    with pytest.raises(ValueError, match="dynamic_axes.*'nope'"):
        tr.onnx.export(model, x, f, input_names=["x"], dynamic_axes={"nope": [0]})
    with pytest.raises(IndexError, match="axis 2"):
        tr.onnx.export(model, x, f, input_names=["x"], dynamic_axes={"x": [2]})
    with pytest.raises(TypeError, match="f:"):
        tr.onnx.export(model, x, 3)
    with pytest.raises(TypeError, match="f:"):
        tr.onnx.export(model, x)
    with pytest.raises(ValueError, match="export_params"):
        tr.onnx.export(model, x, f, export_params=False)
    with pytest.raises(ValueError, match="output_names"):
        tr.onnx.export(model, x, f, input_names=["x"], output_names=["x"])
    assert not (tmp_path / "m.onnx").exists()


@pytest.mark.cpu_only      # checks module flags, not a computation
def test_export_traces_in_eval_mode_and_restores_training_flags(tmp_path):
    _, ort = runtime()
    tr.manual_seed(7)
    model = nn.Sequential(nn.Linear(3, 8), nn.Dropout(0.9), nn.Linear(8, 2))
    model.train()
    model[1].eval()
    tr.onnx.export(model, tr.randn(4, 3), str(tmp_path / "m.onnx"))
    assert [m.training for m in model.modules()] == [True, True, False, True]
    sess = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"])
    x = tr.randn(4, 3)
    assert_runs_like(model, sess, (x,), {"input_0": x})          # Dropout is the identity in the file


# ------------------------------------------------------------------------------------------------
# The ported program: an LSTM sequence classifier written as a PyTorch user writes it
# (the recurrent-network example of a widely used PyTorch tutorial), trained a little, exported, served


def sequence_classifier(torch, device="cpu"):
    nn = torch.nn

    class RNN(nn.Module):
        def __init__(self, input_size, hidden_size, num_layers, num_classes):
            super(RNN, self).__init__()
            self.hidden_size = hidden_size
            self.num_layers = num_layers
            self.lstm = nn.LSTM(input_size, hidden_size, num_layers, batch_first=True)
            self.fc = nn.Linear(hidden_size, num_classes)

        def forward(self, x):
            # Set initial hidden and cell states
            h0 = torch.zeros(self.num_layers, x.size(0), self.hidden_size).to(device)
            c0 = torch.zeros(self.num_layers, x.size(0), self.hidden_size).to(device)
            # Forward propagate LSTM
            out, _ = self.lstm(x, (h0, c0))  # out: tensor of shape (batch_size, seq_length, hidden_size)
            # Decode the hidden state of the last time step
            out = self.fc(out[:, -1, :])
            return out

    return RNN(7, 16, 2, 4).to(device)


def train_and_export(device, path):
    tr.manual_seed(8)
    model = sequence_classifier(tr, device)
    criterion = nn.CrossEntropyLoss()
    optimizer = tr.optim.Adam(model.parameters(), lr=0.01)
    rng = np.random.default_rng(0)
    for _ in range(3):
        images = tr.tensor(rng.standard_normal((8, 5, 7)).astype(np.float32), device=device)
        labels = tr.tensor(rng.integers(0, 4, 8), device=device)
        loss = criterion(model(images), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()
    dummy = tr.randn(1, 5, 7, device=device)
    tr.onnx.export(model, dummy, path, input_names=["input"], output_names=["output"],
                   dynamic_axes={"input": {0: "batch_size", 1: "seq_len"}, "output": {0: "batch_size"}})
    return model


def test_ported_lstm_classifier_exported_runs_in_onnxruntime(device, tmp_path):
    onnx, ort = runtime()
    path = str(tmp_path / "rnn.onnx")
    model = train_and_export(device, path)
    onnx.checker.check_model(onnx.load(path))
    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    for B, T in [(1, 5), (6, 9)]:
        x = tr.randn(B, T, 7, device=device)
        assert_runs_like(model, sess, (x,), {"input": x})


def sine_predictor(torch, device="cpu"):
    """The time-sequence-prediction example (two LSTMCells and a Linear, stepped in Python), as written
    for PyTorch, with ``future`` steps that feed the prediction back."""
    nn = torch.nn

    class Sequence(nn.Module):
        def __init__(self):
            super(Sequence, self).__init__()
            self.lstm1 = nn.LSTMCell(1, 12)
            self.lstm2 = nn.LSTMCell(12, 12)
            self.linear = nn.Linear(12, 1)

        def forward(self, input, future=0):
            outputs = []
            h_t = torch.zeros(input.size(0), 12, dtype=torch.float32).to(device)
            c_t = torch.zeros(input.size(0), 12, dtype=torch.float32).to(device)
            h_t2 = torch.zeros(input.size(0), 12, dtype=torch.float32).to(device)
            c_t2 = torch.zeros(input.size(0), 12, dtype=torch.float32).to(device)

            for input_t in input.split(1, dim=1):
                h_t, c_t = self.lstm1(input_t, (h_t, c_t))
                h_t2, c_t2 = self.lstm2(h_t, (h_t2, c_t2))
                output = self.linear(h_t2)
                outputs += [output]
            for _ in range(future):  # if we should predict the future
                h_t, c_t = self.lstm1(output, (h_t, c_t))
                h_t2, c_t2 = self.lstm2(h_t, (h_t2, c_t2))
                output = self.linear(h_t2)
                outputs += [output]
            outputs = torch.cat(outputs, dim=1)
            return outputs

    return Sequence().to(device)


def test_ported_lstmcell_predictor_exported_with_dynamic_batch(device, tmp_path):
    tr.manual_seed(11)
    model = sine_predictor(tr, device)
    t = np.arange(10, dtype=np.float32)

    def data(B):
        return tr.tensor(np.sin((t[None] + np.arange(B)[:, None]) / 4.0).astype(np.float32), device=device)
    sess = export_and_load(model, (data(2), {"future": 3}), tmp_path, input_names=["input"],
                           output_names=["outputs"], dynamic_axes={"input": {0: "batch"}, "outputs": {0: "batch"}})
    for B in (2, 5):
        x = data(B)
        model.eval()
        with tr.no_grad():
            expected = model(x, future=3)
        assert expected.shape == (B, 13)
        got = sess.run(None, {"input": x.numpy()})[0]
        np.testing.assert_allclose(got, expected.numpy(), rtol=1e-5, atol=1e-5)


def test_ported_lstm_classifier_onnx_matches_torch(device, tmp_path):
    torch = require("torch")
    _, ort = runtime()
    path = str(tmp_path / "rnn.onnx")
    model = train_and_export(device, path)
    reference = sequence_classifier(torch)
    reference.load_state_dict({k: torch.from_numpy(v.numpy().copy()) for k, v in model.state_dict().items()})
    x = np.random.default_rng(1).standard_normal((3, 11, 7)).astype(np.float32)
    with torch.no_grad():
        expected = reference(torch.from_numpy(x)).numpy()
    got = ort.InferenceSession(path, providers=["CPUExecutionProvider"]).run(None, {"input": x})[0]
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


# ------------------------------------------------------------------------------------------------
# The ported program: a Transformer-encoder sequence classifier written as a PyTorch user writes it
# (the PositionalEncoding and TransformerModel of PyTorch's language-modelling tutorial, with a pooled
# classification head), trained a little, exported with dynamic batch and length, served


def transformer_classifier(torch, device="cpu"):
    import math
    nn = torch.nn

    class PositionalEncoding(nn.Module):
        def __init__(self, d_model: int, dropout: float = 0.1, max_len: int = 5000):
            super().__init__()
            self.dropout = nn.Dropout(p=dropout)
            position = torch.arange(max_len).unsqueeze(1)
            div_term = torch.exp(torch.arange(0, d_model, 2) * (-math.log(10000.0) / d_model))
            pe = torch.zeros(max_len, 1, d_model)
            pe[:, 0, 0::2] = torch.sin(position * div_term)
            pe[:, 0, 1::2] = torch.cos(position * div_term)
            self.register_buffer('pe', pe)

        def forward(self, x):
            """Arguments: x: Tensor, shape ``[seq_len, batch_size, embedding_dim]``"""
            x = x + self.pe[:x.size(0)]
            return self.dropout(x)

    class TransformerClassifier(nn.Module):
        def __init__(self, ntoken, d_model, nhead, d_hid, nlayers, nclass, dropout=0.1):
            super().__init__()
            self.model_type = 'Transformer'
            self.pos_encoder = PositionalEncoding(d_model, dropout, max_len=64)
            encoder_layers = nn.TransformerEncoderLayer(d_model, nhead, d_hid, dropout)
            self.transformer_encoder = nn.TransformerEncoder(encoder_layers, nlayers, enable_nested_tensor=False)
            self.embedding = nn.Embedding(ntoken, d_model)
            self.d_model = d_model
            self.decoder = nn.Linear(d_model, nclass)

        def forward(self, src, src_key_padding_mask):
            src = self.embedding(src) * math.sqrt(self.d_model)
            src = self.pos_encoder(src)
            output = self.transformer_encoder(src, src_key_padding_mask=src_key_padding_mask)
            keep = (~src_key_padding_mask).t().unsqueeze(-1).float()           # mean over the real tokens
            pooled = (output * keep).sum(0) / keep.sum(0)
            return self.decoder(pooled)

    return TransformerClassifier(20, 16, 2, 32, 2, 3).to(device)


def token_batch(B: int, T: int, seed: int, device: str = "cpu") -> tuple:
    rng = np.random.default_rng(seed)
    tokens = rng.integers(1, 20, (T, B))
    lengths = rng.integers(1, T + 1, B)
    lengths[0] = T
    pad = np.arange(T)[None, :] >= lengths[:, None]                          # (B, T), True = padding
    tokens[pad.T] = 0
    return tr.tensor(tokens, device=device), tr.tensor(pad, device=device)


def train_and_export_transformer(device, path):
    tr.manual_seed(26)
    model = transformer_classifier(tr, device)
    criterion = nn.CrossEntropyLoss()
    optimizer = tr.optim.Adam(model.parameters(), lr=0.01)
    for step in range(3):
        src, pad = token_batch(6, 5, step, device)
        loss = criterion(model(src, pad), tr.tensor(np.arange(6) % 3, device=device))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()
    src, pad = token_batch(2, 5, 10, device)
    tr.onnx.export(model, (src, pad), path, input_names=["src", "src_key_padding_mask"], output_names=["logits"],
                   dynamic_axes={"src": {0: "seq_len", 1: "batch_size"},
                                 "src_key_padding_mask": {0: "batch_size", 1: "seq_len"},
                                 "logits": {0: "batch_size"}})
    return model


def test_ported_transformer_classifier_exported_runs_in_onnxruntime(device, tmp_path):
    onnx, ort = runtime()
    path = str(tmp_path / "transformer.onnx")
    model = train_and_export_transformer(device, path)
    onnx.checker.check_model(onnx.load(path))
    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    for B, T in [(2, 5), (4, 9), (1, 1)]:
        src, pad = token_batch(B, T, B * T, device)
        assert_runs_like(model, sess, (src, pad), {"src": src, "src_key_padding_mask": pad})


def test_ported_transformer_classifier_onnx_matches_torch(device, tmp_path):
    torch = require("torch")
    _, ort = runtime()
    path = str(tmp_path / "transformer.onnx")
    model = train_and_export_transformer(device, path)
    reference = transformer_classifier(torch).eval()
    reference.load_state_dict({k: torch.from_numpy(v.numpy().copy()) for k, v in model.state_dict().items()})
    src, pad = token_batch(3, 11, 1)
    with torch.no_grad():
        expected = reference(torch.from_numpy(src.numpy()), torch.from_numpy(pad.numpy())).numpy()
    got = ort.InferenceSession(path, providers=["CPUExecutionProvider"]).run(
        None, {"src": src.numpy(), "src_key_padding_mask": pad.numpy()})[0]
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)
