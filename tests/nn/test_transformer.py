"""Attention and the Transformer against PyTorch: values and every gradient in float64, masks included.

The cases live in ``tests/fixtures/make_transformer_fixtures.py`` (written once in PyTorch's spelling);
each runs against the golden fixture (PyTorch's numbers, so no torch is needed) and against live torch.
Module cases load PyTorch's ``state_dict`` and compare outputs, input gradients and the gradient of
every parameter (1e-10). Op cases are also checked against central finite differences, and in float32.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import os
import warnings

import numpy as np
import pytest
from conftest import fixture_module, require

import tinygrad_rnn as tr
import tinygrad_rnn.nn.functional as F
from tinygrad_rnn import nn

fx = fixture_module("make_transformer_fixtures")
OPS = {c.name: c for c in fx.OP_CASES}
MODULES = {c.name: c for c in fx.MODULE_CASES}
RTOL, ATOL = 1e-10, 1e-10


@functools.lru_cache(maxsize=1)
def golden() -> dict:
    with np.load(fx.FIXTURE, allow_pickle=False) as f:
        return {k: f[k] for k in f.files}


@contextlib.contextmanager
def default_device(device: str):
    """New tensors (the masks a case builds) default to ``device``."""
    old = os.environ.get("TINYGRAD_RNN_DEVICE")
    os.environ["TINYGRAD_RNN_DEVICE"] = device
    try:
        yield
    finally:
        if old is None:
            del os.environ["TINYGRAD_RNN_DEVICE"]
        else:
            os.environ["TINYGRAD_RNN_DEVICE"] = old


def assert_close(name: str, ours, ref, rtol=RTOL, atol=ATOL) -> None:
    ours, ref = np.asarray(ours), np.asarray(ref)
    assert ours.shape == ref.shape, f"{name}: shape {ours.shape}, expected {ref.shape}"
    assert ours.dtype == ref.dtype, f"{name}: dtype {ours.dtype}, expected {ref.dtype}"
    np.testing.assert_allclose(ours, ref, rtol=rtol, atol=atol, err_msg=name)


def _weighted_sum(outs, vs, device):
    loss = None
    for o, v in zip(outs, vs):
        o = tr.where(o.isnan(), 0.0, o)       # as the generator's nan_to_num: NaN weights rows carry no gradient
        term = (o * tr.tensor(v.astype(o.dtype), device=device)).sum()
        loss = term if loss is None else loss + term
    return loss


def _reference(kind: str, name: str, reference: str):
    """(inputs, outputs, vs, input grads, state, param grads) from the fixture or live torch."""
    g = golden()
    case = OPS[name] if kind == "op" else MODULES[name]
    inputs = fx.make_inputs(name, case.shapes)
    stored = [g[f"{kind}/{name}/in{i}"] for i in range(len(case.shapes))]
    for a, b in zip(inputs, stored):
        assert a.shape == b.shape, f"{name}: fixture is stale, rerun tests/fixtures/make_transformer_fixtures.py"
    if reference == "torch":
        require("torch")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            if kind == "op":
                outs, vs, grads = fx.run_torch_op(case, inputs)
                return inputs, outs, vs, grads, None, None
            state, outs, vs, grads, pgrads = fx.run_torch_module(case, inputs)
            return inputs, outs, vs, grads, state, pgrads
    n_out = sum(1 for k in g if k.startswith(f"{kind}/{name}/out"))
    outs = [g[f"{kind}/{name}/out{j}"] for j in range(n_out)]
    vs = [g[f"{kind}/{name}/v{j}"] for j in range(n_out)]
    grads = [g[f"{kind}/{name}/grad{i}"] for i in range(len(stored))]
    if kind == "op":
        return stored, outs, vs, grads, None, None
    pre = f"mod/{name}/state/"
    state = {k[len(pre):]: g[k] for k in g if k.startswith(pre)}
    pre = f"mod/{name}/pgrad/"
    pgrads = {k[len(pre):]: g[k] for k in g if k.startswith(pre)}
    return stored, outs, vs, grads, state, pgrads


def run_op(case, inputs, vs, device):
    xs = [tr.tensor(a, device=device, requires_grad=True) for a in inputs]
    with default_device(device):
        outs = fx.flat_outputs(case.fn(tr, *xs))
    _weighted_sum(outs, vs, device).backward()
    return [o.numpy() for o in outs], [np.zeros(a.shape, a.dtype) if x.grad is None else x.grad.numpy()
                                       for a, x in zip(inputs, xs)]


def check_op_case(name: str, device: str = "cpu", reference: str = "fixture") -> None:
    """An op case: values and gradients vs PyTorch, finite differences, float32 near float64 and float32."""
    case = OPS[name]
    inputs, ref_outs, vs, ref_grads, _, _ = _reference("op", name, reference)
    outs, grads = run_op(case, inputs, vs, device)
    assert len(outs) == len(ref_outs)
    for j, (o, r) in enumerate(zip(outs, ref_outs)):
        assert_close(f"{name} output {j}", o, r)
    for i, (gr, r) in enumerate(zip(grads, ref_grads)):
        assert_close(f"{name} grad of input {i}", gr, r)
    if reference != "fixture":
        return
    if case.fd:
        xs = [tr.tensor(a, device=device, requires_grad=True) for a in inputs]
        with default_device(device):
            assert tr.gradcheck(lambda *t: case.fn(tr, *t), xs)
    outs32, grads32 = run_op(case, [a.astype(np.float32) for a in inputs], vs, device)
    for label, o, r in [(f"output {j}", o, r) for j, (o, r) in enumerate(zip(outs32, ref_outs))] + \
                       [(f"grad {i}", gr, r) for i, (gr, r) in enumerate(zip(grads32, ref_grads))]:
        scale = max(1.0, float(np.abs(r).max()))
        assert_close(f"{name} float32 {label}", o, r.astype(np.float32), rtol=1e-4, atol=1e-5 * scale)


def build_loaded(case, state: dict, device: str):
    """The case's module here, with PyTorch's state_dict loaded."""
    tr.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        model = case.build(tr)
    model.load_state_dict(state)
    return model.to(device)


def check_module_case(name: str, device: str = "cpu", reference: str = "fixture") -> None:
    """A module case: PyTorch's state_dict loaded; outputs, input and parameter gradients to 1e-10."""
    case = MODULES[name]
    inputs, ref_outs, vs, ref_grads, state, ref_pgrads = _reference("mod", name, reference)
    model = build_loaded(case, state, device)
    assert sorted(model.state_dict()) == sorted(state), f"{name}: parameter names differ from PyTorch's"
    xs = [tr.tensor(a, device=device, requires_grad=True) for a in inputs]
    with default_device(device), warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        outs = fx.flat_outputs(case.call(tr, model, *xs))
    _weighted_sum(outs, vs, device).backward()
    assert len(outs) == len(ref_outs)
    for j, (o, r) in enumerate(zip(outs, ref_outs)):
        assert_close(f"{name} output {j}", o.numpy(), r)
    for i, (x, r) in enumerate(zip(xs, ref_grads)):
        assert_close(f"{name} grad of input {i}", x.grad.numpy(), r)
    params = dict(model.named_parameters())
    assert sorted(params) == sorted(ref_pgrads)
    for k, p in params.items():
        got = np.zeros(p.shape) if p.grad is None else p.grad.numpy()
        assert_close(f"{name} grad of {k}", got, ref_pgrads[k])


TRANSFORMER_OPS = [n for n in OPS if not n.startswith("layer_norm")]
TRANSFORMER_MODULES = [n for n in MODULES if not n.startswith("layernorm")]


@pytest.mark.parametrize("name", TRANSFORMER_OPS)
def test_op_golden(name, device):
    check_op_case(name, device)


# cpu_only: live torch runs on the host; the GPU counterpart is test_op_golden[cuda] (the same torch values)
@pytest.mark.cpu_only
@pytest.mark.parametrize("name", TRANSFORMER_OPS)
def test_op_live_torch(name):
    check_op_case(name, reference="torch")


@pytest.mark.parametrize("name", TRANSFORMER_MODULES)
def test_module_golden(name, device):
    check_module_case(name, device)


# cpu_only: live torch runs on the host; the GPU counterpart is test_module_golden[cuda]
@pytest.mark.cpu_only
@pytest.mark.parametrize("name", TRANSFORMER_MODULES)
def test_module_live_torch(name):
    check_module_case(name, reference="torch")


@pytest.mark.cpu_only   # reads the fixture file: no array op runs
def test_fixture_covers_tables_and_is_small():
    keys = golden()
    assert {k.split("/")[1] for k in keys if k.startswith("op/")} == set(OPS)
    assert {k.split("/")[1] for k in keys if k.startswith("mod/")} == set(MODULES)
    assert os.path.getsize(fx.FIXTURE) < 1_000_000


# --------------------------------------------------------------------- PyTorch's names, defaults, masks


def test_state_dict_names_and_shapes_are_torchs(device):
    torch = require("torch")
    pairs = [(lambda m: m.nn.MultiheadAttention(8, 2, kdim=5, vdim=3, add_bias_kv=True)),
             (lambda m: m.nn.Transformer(8, 2, 1, 1, 16)),
             (lambda m: m.nn.TransformerEncoderLayer(8, 2, 16, bias=False, norm_first=True))]
    for build in pairs:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            ref = {k: tuple(v.shape) for k, v in build(torch).state_dict().items()}
        ours = {k: tuple(v.shape) for k, v in build(tr).to(device).state_dict().items()}
        assert ours == ref


def test_defaults_and_initialisation(device):
    mha = nn.MultiheadAttention(16, 4, device=device)
    assert (mha.dropout, mha.batch_first, mha.head_dim) == (0.0, False, 4)
    assert np.all(mha.in_proj_bias.numpy() == 0) and np.all(mha.out_proj.bias.numpy() == 0)
    bound = np.sqrt(6.0 / (16 + 48))                      # xavier_uniform_ on (3E, E)
    w = mha.in_proj_weight.numpy()
    assert w.shape == (48, 16) and np.abs(w).max() <= bound and np.abs(w).max() > 0.8 * bound
    layer = nn.TransformerEncoderLayer(16, 4, device=device)
    assert layer.linear1.out_features == 2048 and layer.dropout.p == 0.1 and layer.norm1.eps == 1e-5
    assert layer.norm_first is False and layer.self_attn.batch_first is False and layer.activation is F.relu
    tf = nn.Transformer(d_model=16, nhead=4, num_encoder_layers=2, num_decoder_layers=1, dim_feedforward=8,
                        device=device)
    assert len(tf.encoder.layers) == 2 and len(tf.decoder.layers) == 1
    assert isinstance(tf.encoder.norm, nn.LayerNorm) and isinstance(tf.decoder.norm, nn.LayerNorm)
    a = tf.encoder.layers[0].linear1.weight.numpy()
    b = tf.encoder.layers[1].linear1.weight.numpy()
    assert not np.array_equal(a, b)                       # re-initialised after cloning: independent layers
    assert np.abs(a).max() <= np.sqrt(6.0 / (16 + 8))    # xavier_uniform_ on every matrix


def test_cloned_layers_have_independent_parameters(device):
    layer = nn.TransformerEncoderLayer(8, 2, 12, dropout=0.0, device=device)
    enc = nn.TransformerEncoder(layer, 2)
    assert enc.layers[0].linear1.weight is not enc.layers[1].linear1.weight
    with tr.no_grad():
        enc.layers[0].linear1.weight.add_(1.0)
    assert not np.array_equal(enc.layers[0].linear1.weight.numpy(), enc.layers[1].linear1.weight.numpy())
    assert np.array_equal(enc.layers[1].linear1.weight.numpy(), layer.linear1.weight.numpy())


def test_generate_square_subsequent_mask(device):
    m = nn.Transformer.generate_square_subsequent_mask(4, device=device)
    assert m.dtype == tr.float32 and m.shape == (4, 4) and m.device == device
    expected = np.triu(np.full((4, 4), -np.inf), 1)
    np.testing.assert_array_equal(m.numpy(), expected)
    assert nn.Transformer.generate_square_subsequent_mask(3, dtype=tr.float64).dtype == tr.float64
    torch = require("torch")
    np.testing.assert_array_equal(m.numpy(), torch.nn.Transformer.generate_square_subsequent_mask(4).numpy())


def test_bool_and_float_masks_agree(device):
    tr.manual_seed(3)
    mha = nn.MultiheadAttention(8, 2, dtype=tr.float64, device=device)
    x = tr.randn(4, 2, 8, dtype=tr.float64, device=device)
    kpm = tr.tensor([[False, False, True, False], [False, False, False, True]], device=device)
    am = tr.tensor(np.triu(np.ones((4, 4), bool), 1), device=device)
    out_b, w_b = mha(x, x, x, key_padding_mask=kpm, attn_mask=am)
    out_f, w_f = mha(x, x, x, key_padding_mask=kpm.to(tr.float64).masked_fill(kpm, float("-inf")),
                     attn_mask=am.to(tr.float64).masked_fill(am, float("-inf")))
    np.testing.assert_allclose(out_b.numpy(), out_f.numpy(), rtol=1e-12, atol=1e-12)
    assert np.all(w_b.numpy()[0, :, 2] == 0) and np.all(w_b.numpy()[1, :, 3] == 0)   # padded keys get no weight
    assert np.all(np.triu(w_b.numpy()[0], 1) == 0)                                   # nor future positions
    out_s, w_s = mha(x, x, x, key_padding_mask=kpm, attn_mask=am, need_weights=False)
    assert w_s is None
    np.testing.assert_allclose(out_s.numpy(), out_b.numpy(), rtol=1e-12, atol=1e-12)


def test_fully_masked_rows_as_torch(device):
    """A query with every key masked: zeros from scaled_dot_product_attention (PyTorch's math path), NaN
    weights from MultiheadAttention's explicit softmax (need_weights=True), and finite gradients in SDPA."""
    q = tr.randn(1, 2, 3, dtype=tr.float64, device=device, requires_grad=True)
    k = tr.randn(1, 4, 3, dtype=tr.float64, device=device)
    allowed = tr.tensor([[True, True, False, False], [False, False, False, False]], device=device)
    out = F.scaled_dot_product_attention(q, k, k, attn_mask=allowed)
    assert np.all(out.numpy()[0, 1] == 0) and np.all(np.isfinite(out.numpy()))
    out.sum().backward()
    assert np.all(np.isfinite(q.grad.numpy())) and np.all(q.grad.numpy()[0, 1] == 0)
    mha = nn.MultiheadAttention(4, 1, dtype=tr.float64, device=device)
    x = tr.randn(3, 1, 4, dtype=tr.float64, device=device)
    with np.errstate(invalid="ignore"):         # 0/0 in the softmax of an all -inf row, as PyTorch's NaN
        w = mha(x, x, x, key_padding_mask=tr.tensor([[True, True, True]], device=device))[1]
    assert np.all(np.isnan(w.numpy()))


def test_dropout_trains_seeded_and_vanishes_in_eval(device):
    layer = nn.TransformerEncoderLayer(8, 2, 16, dropout=0.5, dtype=tr.float64, device=device)
    x = tr.randn(5, 2, 8, dtype=tr.float64, device=device, requires_grad=True)
    tr.manual_seed(7)
    a = layer(x)
    tr.manual_seed(7)
    b = layer(x)
    c = layer(x)
    np.testing.assert_array_equal(a.numpy(), b.numpy())             # seeded: the same masks
    assert not np.allclose(a.numpy(), c.numpy())                      # and they do drop
    a.sum().backward()
    assert np.all(np.isfinite(x.grad.numpy()))
    layer.eval()
    np.testing.assert_array_equal(layer(x).numpy(), layer(x).numpy())
    mha = nn.MultiheadAttention(8, 2, dropout=0.9, dtype=tr.float64, device=device)
    y = x[:, :1]
    tr.manual_seed(1)
    w = mha(y, y, y)[1]
    assert np.any(w.numpy() == 0)                                     # attention weights dropped
    mha.eval()
    w = mha(y, y, y)[1]
    np.testing.assert_allclose(w.numpy().sum(-1), 1.0, rtol=1e-12)
    tr.manual_seed(2)
    s1 = F.scaled_dot_product_attention(y, y, y, dropout_p=0.5)
    tr.manual_seed(2)
    np.testing.assert_array_equal(s1.numpy(), F.scaled_dot_product_attention(y, y, y, dropout_p=0.5).numpy())


def test_is_causal_detection_and_hint(device):
    tr.manual_seed(0)
    enc = nn.TransformerEncoder(nn.TransformerEncoderLayer(8, 2, 12, dropout=0.0, dtype=tr.float64, device=device), 1)
    x = tr.randn(5, 2, 8, dtype=tr.float64, device=device)
    causal = nn.Transformer.generate_square_subsequent_mask(5, dtype=tr.float64, device=device)
    np.testing.assert_allclose(enc(x, mask=causal).numpy(), enc(x, mask=causal, is_causal=True).numpy(), rtol=1e-12)
    mha = enc.layers[0].self_attn
    with pytest.raises(RuntimeError, match="attn_mask"):
        mha(x, x, x, is_causal=True)
    with pytest.raises(RuntimeError, match="is_causal"):
        F.scaled_dot_product_attention(x, x, x, attn_mask=causal, is_causal=True)


def test_callable_module_activation_is_a_submodule(device):
    layer = nn.TransformerEncoderLayer(8, 2, 12, activation=nn.GELU(), device=device)
    assert isinstance(layer.activation, nn.GELU)
    with pytest.raises(RuntimeError, match="relu/gelu"):
        nn.TransformerEncoderLayer(8, 2, activation="tanh")


def test_deepcopy_of_a_layer_copies_values(device):
    layer = nn.TransformerDecoderLayer(8, 2, 12, device=device)
    twin = copy.deepcopy(layer)
    for (k, p), (k2, p2) in zip(layer.named_parameters(), twin.named_parameters()):
        assert k == k2 and p is not p2
        np.testing.assert_array_equal(p.numpy(), p2.numpy())


# --------------------------------------------------------------------- bad input, before any state changes


def test_bad_arguments_raise_clearly(device):
    with pytest.raises(ValueError, match="divisible"):
        nn.MultiheadAttention(10, 3)
    with pytest.raises(ValueError, match="dropout"):
        nn.MultiheadAttention(8, 2, dropout=1.5)
    mha = nn.MultiheadAttention(8, 2, device=device)
    x = tr.randn(4, 2, 8, device=device)
    with pytest.raises(ValueError, match="embedding dimension of 8"):
        mha(tr.randn(4, 2, 6, device=device), x, x)
    with pytest.raises(ValueError, match="batch"):
        mha(x, tr.randn(4, 3, 8, device=device), tr.randn(4, 3, 8, device=device))
    with pytest.raises(RuntimeError, match="2D attn_mask"):
        mha(x, x, x, attn_mask=tr.zeros(3, 3, device=device))
    with pytest.raises(RuntimeError, match="3D attn_mask"):
        mha(x, x, x, attn_mask=tr.zeros(3, 4, 4, device=device))
    with pytest.raises(ValueError, match="key_padding_mask"):
        mha(x, x, x, key_padding_mask=tr.zeros(2, 3, dtype=tr.bool, device=device))
    with pytest.raises(TypeError, match="bool and floating"):
        mha(x, x, x, key_padding_mask=tr.zeros(2, 4, dtype=tr.int64, device=device))
    with pytest.raises(TypeError, match="query"):
        mha(np.zeros((4, 2, 8)), x, x)
    with pytest.raises(ValueError, match="approximate"):
        nn.GELU("fast")
    with pytest.raises(ValueError, match="approximate"):
        F.gelu(x, approximate="erf")
    with pytest.raises(TypeError, match="floating"):
        F.silu(tr.tensor([1, 2], device=device))
    with pytest.raises(ValueError, match="scores' shape"):
        F.scaled_dot_product_attention(x, x, x, attn_mask=tr.ones(3, 3, dtype=tr.bool, device=device))
    with pytest.raises(ValueError, match="key"):
        F.scaled_dot_product_attention(x, tr.randn(4, 3, 8, device=device), x)
    tf = nn.Transformer(8, 2, 1, 1, 12, device=device)
    with pytest.raises(RuntimeError, match="batch number"):
        tf(tr.randn(5, 2, 8, device=device), tr.randn(4, 3, 8, device=device))
    with pytest.raises(RuntimeError, match="d_model"):
        tf(tr.randn(5, 2, 6, device=device), tr.randn(4, 2, 6, device=device))
    with pytest.raises(ValueError, match="sz"):
        nn.Transformer.generate_square_subsequent_mask(-1)


@pytest.mark.cpu_only   # torch tensors are host arrays: the load itself is the check
def test_torch_state_dict_tensors_load_directly_and_back():
    torch = require("torch")
    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        ref = torch.nn.Transformer(8, 2, 1, 1, 12, dropout=0.0, dtype=torch.float64)
    ours = nn.Transformer(8, 2, 1, 1, 12, dropout=0.0, dtype=tr.float64)
    ours.load_state_dict(ref.state_dict())                  # torch tensors, as they come
    rng = np.random.default_rng(0)
    src, tgt = rng.standard_normal((5, 2, 8)), rng.standard_normal((3, 2, 8))
    mask = torch.nn.Transformer.generate_square_subsequent_mask(3, dtype=torch.float64)
    want = ref(torch.tensor(src), torch.tensor(tgt), tgt_mask=mask).detach().numpy()
    got = ours(tr.tensor(src), tr.tensor(tgt), tgt_mask=nn.Transformer.generate_square_subsequent_mask(
        3, dtype=tr.float64)).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-10)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        back = torch.nn.Transformer(8, 2, 1, 1, 12, dropout=0.0, dtype=torch.float64)
    back.load_state_dict({k: torch.tensor(v.numpy()) for k, v in ours.state_dict().items()})
    np.testing.assert_allclose(back(torch.tensor(src), torch.tensor(tgt), tgt_mask=mask).detach().numpy(), want,
                               rtol=1e-12)


def test_fused_attention_equals_the_composed_dropout_path(device):
    """dropout_p > 0 takes the composed path (matmul, softmax, dropout); with p = 1e-12 nothing is dropped
    (almost surely) and it must equal the fused Function, masks and gradients included."""
    rng = np.random.default_rng(4)
    q, k, v = (rng.standard_normal(s) for s in ((2, 2, 3, 4), (2, 2, 5, 4), (2, 2, 5, 3)))
    allowed = rng.random((3, 5)) > 0.3
    allowed[1] = False                                         # a dead row
    bias = rng.standard_normal((2, 1, 3, 5))
    for mask in (None, tr.tensor(allowed, device=device), tr.tensor(bias, device=device)):
        results = []
        for p in (0.0, 1e-12):
            xs = [tr.tensor(a, device=device, requires_grad=True) for a in (q, k, v)]
            out = F.scaled_dot_product_attention(*xs, attn_mask=mask, dropout_p=p)
            (out * out).sum().backward()
            results.append([out.numpy()] + [x.grad.numpy() for x in xs])
        for a, b in zip(*results):
            np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)
