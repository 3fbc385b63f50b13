"""RNN / LSTM / GRU layers: PyTorch parity (golden fixtures and live), fused = unrolled, dropout,
gradcheck, long sequences, graph size, bad input, state_dict interop."""

from __future__ import annotations

import random

import numpy as np
import pytest

import tinygrad_rnn as tr
from conftest import fixture_module
from tests.conftest import require

fx = fixture_module("make_rnn_fixtures")

CLASSES = {"rnn_tanh": tr.nn.RNN, "rnn_relu": tr.nn.RNN, "lstm": tr.nn.LSTM, "gru": tr.nn.GRU}


@pytest.fixture(scope="module")
def golden() -> dict:
    with np.load(fx.PATH, allow_pickle=False) as f:
        return {k: f[k] for k in f.files}


def make_layer(mode, bias, layers, bidir, batch_first=False, dtype=tr.float64, device="cpu", dropout=0.0):
    kw = {"nonlinearity": mode[4:]} if mode.startswith("rnn") else {}
    return CLASSES[mode](fx.I, fx.H, num_layers=layers, bias=bias, batch_first=batch_first, dropout=dropout,
                         bidirectional=bidir, dtype=dtype, device=device, **kw)


def run_ours(mode, bias, layers, bidir, weights, case, dtype=tr.float64, unroll=False, batch_first=False,
             device="cpu", packed=False) -> dict:
    """Our out, h_n, c_n and gradients for one case, keyed as the fixtures (time-major, NumPy)."""
    m = make_layer(mode, bias, layers, bidir, batch_first, dtype, device)
    m.load_state_dict(weights)
    unbatched = case["x"].ndim == 2
    x = tr.tensor(case["x"], dtype=dtype, device=device, requires_grad=True)
    xin = x.transpose(0, 1) if batch_first and not unbatched else x
    h0 = None if case["h0"] is None else tr.tensor(case["h0"], dtype=dtype, device=device, requires_grad=True)
    c0 = None if case["c0"] is None else tr.tensor(case["c0"], dtype=dtype, device=device, requires_grad=True)
    hx = None if h0 is None else (h0, c0) if mode == "lstm" else h0
    if packed:
        seq = tr.nn.utils.rnn.pack_padded_sequence(xin, case["lengths"], batch_first=batch_first,
                                                   enforce_sorted=False)
        out, hn = m(seq, hx, unroll=unroll)
        out, _ = tr.nn.utils.rnn.pad_packed_sequence(out, batch_first=batch_first, total_length=fx.T)
    else:
        out, hn = m(xin, hx, lengths=case["lengths"], unroll=unroll)
    if batch_first and not unbatched:
        out = out.transpose(0, 1)
    h_n, c_n = hn if mode == "lstm" else (hn, None)
    r = {k: tr.tensor(case[k], dtype=dtype, device=device) for k in ("r_out", "r_h", "r_c")}
    loss = (out * r["r_out"]).sum() + (h_n * r["r_h"]).sum()
    if c_n is not None:
        loss = loss + (c_n * r["r_c"]).sum()
    loss.backward()
    res = {"out": out, "h_n": h_n, "c_n": c_n, "grad/x": x.grad,
           "grad/h0": None if h0 is None else h0.grad, "grad/c0": None if c0 is None else c0.grad}
    res.update({f"grad/{name}": p.grad for name, p in m.named_parameters()})
    return {k: v.detach().numpy() for k, v in res.items() if v is not None}


def assert_results(ours: dict, ref: dict, rtol: float, atol: float, what: str = "") -> None:
    assert set(ours) == set(ref), f"{what}: keys differ: {sorted(set(ours) ^ set(ref))}"
    for key, want in ref.items():
        got = ours[key]
        assert got.shape == want.shape, f"{what} {key}: shape {got.shape}, PyTorch {want.shape}"
        np.testing.assert_allclose(got, want, rtol=rtol, atol=atol, err_msg=f"{what} {key}")


CASES = [(*cfg, has_h0, kind) for cfg in fx.configs() for has_h0, kind in fx.variants()]


def case_id(c) -> str:
    return fx.case_key(*c).replace("/", "-")


def load_case(golden, mode, bias, layers, bidir, has_h0, kind):
    case = fx.case_inputs(golden, mode, layers, bidir, has_h0, kind)
    ref = fx.split_results(golden[fx.case_key(mode, bias, layers, bidir, has_h0, kind)],
                           fx.result_shapes(mode, bias, layers, bidir, has_h0, kind))
    return fx.config_weights(golden, mode, bias, layers, bidir), case, ref


# ------------------------------------------------------------------------------------------------
# Parity against PyTorch: golden fixtures (no torch needed)


@pytest.mark.parametrize("unroll", [False, True], ids=["fused", "unrolled"])
@pytest.mark.parametrize("c", CASES, ids=case_id)
def test_parity_golden_float64(golden, c, unroll, device):
    """The full matrix, float64, both paths; batch_first alternates over the cases (it changes no number)."""
    weights, case, ref = load_case(golden, *c)
    batch_first = CASES.index(c) % 2 == 1
    ours = run_ours(*c[:4], weights, case, tr.float64, unroll, batch_first, device)
    assert_results(ours, ref, rtol=1e-8, atol=1e-8, what=case_id(c))


@pytest.mark.parametrize("c", CASES[::3], ids=case_id)
def test_parity_golden_float32(golden, c, device):
    """float32 against PyTorch's float64 numbers, rtol 1e-4 (a third of the matrix, both paths)."""
    weights, case, ref = load_case(golden, *c)
    for unroll in (False, True):
        ours = run_ours(*c[:4], weights, case, tr.float32, unroll, CASES.index(c) % 2 == 0, device)
        assert_results(ours, ref, rtol=1e-4, atol=1e-5, what=case_id(c))


@pytest.mark.parametrize("c", [c for c in CASES if c[5] == "lengths"][::4], ids=case_id)
def test_parity_golden_packed_input(golden, c, device):
    """A PackedSequence in, a PackedSequence out: the same numbers as lengths=."""
    weights, case, ref = load_case(golden, *c)
    for unroll in (False, True):
        ours = run_ours(*c[:4], weights, case, tr.float64, unroll, batch_first=unroll, device=device, packed=True)
        assert_results(ours, ref, rtol=1e-8, atol=1e-8, what=case_id(c))


# Parity against PyTorch, live: a sampled subset of the matrix with batch_first both ways, float32 and 64.
LIVE = random.Random(3).sample([(*c, bf) for c in CASES for bf in (False, True)], 24)


@pytest.mark.parametrize("c", LIVE, ids=lambda c: case_id(c[:6]) + f"-bf{int(c[6])}")
def test_parity_live_torch(golden, c, device):
    require("torch")
    *c, batch_first = c
    weights, case, _ = load_case(golden, *c)
    for dtype, rtol, atol in (("float64", 1e-8, 1e-8), ("float32", 1e-4, 1e-5)):
        ref = fx.torch_reference(*c[:4], weights, case, dtype=dtype, batch_first=batch_first)
        for unroll in (False, True):
            ours = run_ours(*c[:4], weights, case, getattr(tr, dtype), unroll, batch_first, device)
            assert_results(ours, ref, rtol=rtol, atol=atol, what=f"{case_id(c)} {dtype} unroll={unroll}")


@pytest.mark.cpu_only          # checks the stored fixture against its generator and torch: no tinygrad_rnn arrays
def test_golden_fixture_is_current(golden):
    """The stored inputs are what the generator makes, and a sample of the stored results is what this
    torch computes (regenerate the fixture if not)."""
    for key, value in fx.make_inputs().items():
        np.testing.assert_array_equal(golden[key], value, err_msg=key)
    require("torch")
    for c in CASES[::16]:
        weights, case, ref = load_case(golden, *c)
        assert_results(fx.torch_reference(*c[:4], weights, case), ref, rtol=1e-12, atol=1e-12, what=case_id(c))


# ------------------------------------------------------------------------------------------------
# Fused = unrolled


def _both_paths(mode, layers, bidir, T=7, B=4, I=3, H=5, lengths=None, dropout=0.0, training=False, seed=0,
                device="cpu"):
    kw = {"nonlinearity": mode[4:]} if mode.startswith("rnn") else {}
    tr.manual_seed(seed)
    m = CLASSES[mode](I, H, num_layers=layers, bidirectional=bidir, dropout=dropout, dtype=tr.float64, **kw)
    m.to(device)
    m.train(training)
    rng = np.random.default_rng(seed)
    x0 = rng.standard_normal((T, B, I))
    D = 2 if bidir else 1
    h00 = rng.standard_normal((layers * D, B, H))
    results = []
    for unroll in (False, True):
        x = tr.tensor(x0, device=device, requires_grad=True)
        h0 = tr.tensor(h00, device=device, requires_grad=True)
        hx = (h0, h0 * 0.5) if mode == "lstm" else h0
        m.zero_grad()
        tr.manual_seed(seed + 1)                      # the same dropout masks on both paths
        out, hn = m(x, hx, lengths=lengths, unroll=unroll)
        h_n = hn[0] if mode == "lstm" else hn
        loss = (out * out).sum() + (h_n * 1.5).sum()
        if mode == "lstm":
            loss = loss + (hn[1] * hn[1]).sum()
        loss.backward()
        res = {"out": out.numpy(), "h_n": h_n.numpy(), "dx": x.grad.numpy(), "dh0": h0.grad.numpy()}
        res.update({n: p.grad.numpy() for n, p in m.named_parameters()})
        results.append(res)
    return results


@pytest.mark.parametrize("mode", list(CLASSES))
@pytest.mark.parametrize("lengths", [None, [7, 3, 1, 5]], ids=["full", "lengths"])
def test_fused_equals_unrolled_float64(mode, lengths, device):
    fused, unrolled = _both_paths(mode, 2, True, lengths=lengths, device=device)
    for key in fused:
        np.testing.assert_allclose(fused[key], unrolled[key], rtol=0, atol=1e-10, err_msg=key)


# ------------------------------------------------------------------------------------------------
# Dropout between layers


def test_dropout_fused_equals_unrolled_same_seed(device):
    fused, unrolled = _both_paths("lstm", 3, True, dropout=0.4, training=True, device=device)
    for key in fused:
        np.testing.assert_allclose(fused[key], unrolled[key], rtol=0, atol=1e-10, err_msg=key)


@pytest.mark.parametrize("unroll", [False, True], ids=["fused", "unrolled"])
def test_dropout_rate_scale_and_gradient(unroll, device):
    """Identity layers (W_ih = I, W_hh = 0, ReLU, positive input), so output = x · mask/(1-p) exactly."""
    p, T, B, H = 0.3, 40, 30, 6
    m = tr.nn.RNN(H, H, num_layers=3, nonlinearity="relu", dropout=p, dtype=tr.float64, device=device)
    with tr.no_grad():
        for name, w in m.named_parameters():
            w.copy_(tr.eye(H, dtype=tr.float64, device=device) if name.startswith("weight_ih") else w * 0)
    x = (tr.rand(T, B, H, dtype=tr.float64, device=device) + 0.1).requires_grad_(True)
    out, _ = m(x, generator=tr.Generator().manual_seed(5), unroll=unroll)
    ratio = out.numpy() / x.numpy()
    kept = ratio > 0
    assert abs((1 - kept.mean()) - (1 - (1 - p) ** 2)) < 0.02         # two dropout layers between three
    np.testing.assert_allclose(np.unique(np.round(ratio[kept], 12)), [1 / (1 - p) ** 2])
    out.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), ratio, rtol=1e-12)   # gradient = mask × scale
    again, _ = m(x, generator=tr.Generator().manual_seed(5), unroll=not unroll)
    np.testing.assert_array_equal(again.numpy(), out.numpy())          # same seed -> same masks, both paths
    other, _ = m(x, generator=tr.Generator().manual_seed(6), unroll=unroll)
    assert not np.array_equal(other.numpy(), out.numpy())
    m.eval()
    np.testing.assert_array_equal(m(x, unroll=unroll)[0].numpy(), x.numpy())   # no dropout in eval


# ------------------------------------------------------------------------------------------------
# gradcheck through each layer type, a few steps, lengths included


@pytest.mark.parametrize("mode", list(CLASSES))
@pytest.mark.parametrize("unroll", [False, True], ids=["fused", "unrolled"])
def test_gradcheck_layers(mode, unroll, device):
    from tinygrad_rnn.nn.recurrent.layers import run_layers
    rng = np.random.default_rng(1)
    T, B, I, H, D = 3, 2, 2, 2, 2
    G = fx.GATES[mode] * H
    shapes = [(G, I), (G, H), (G,), (G,)] * D + [(G, D * H), (G, H), (G,), (G,)] * D
    ws = [tr.tensor(rng.uniform(-0.8, 0.8, s), device=device, requires_grad=True) for s in shapes]
    x = tr.tensor(rng.standard_normal((T, B, I)), device=device, requires_grad=True)
    h0 = tr.tensor(rng.standard_normal((2 * D, B, H)) * 0.5, device=device, requires_grad=True)
    c0 = (tr.tensor(rng.standard_normal((2 * D, B, H)) * 0.5, device=device, requires_grad=True)
          if mode == "lstm" else None)
    lengths = np.array([3, 2])

    def fn(x, h0, *rest):
        c = rest[0] if mode == "lstm" else None
        w = rest[1:] if mode == "lstm" else rest
        per = [tuple(w[i:i + 4]) for i in range(0, len(w), 4)]
        out, h_n, c_n = run_layers(mode, x, h0, c, [per[:D], per[D:]], lengths, unroll=unroll)
        return (out, h_n) if c_n is None else (out, h_n, c_n)

    args = (x, h0) + ((c0,) if c0 is not None else ()) + tuple(ws)
    assert tr.gradcheck(fn, args)


# ------------------------------------------------------------------------------------------------
# Long sequences and graph size


@pytest.mark.parametrize("unroll", [False, True], ids=["fused", "unrolled"])
def test_lstm_2000_steps_no_recursion_error(unroll, device):
    tr.manual_seed(0)
    m = tr.nn.LSTM(2, 3, device=device)
    x = tr.randn(2000, 2, 2, device=device, requires_grad=True)
    out, (h, c) = m(x, unroll=unroll)
    (out.sum() + h.sum()).backward()
    assert x.grad.shape == (2000, 2, 2) and np.isfinite(x.grad.numpy()).all()
    assert m.weight_hh_l0.grad is not None


def test_fused_graph_size_independent_of_T(device):
    m = tr.nn.LSTM(2, 3, num_layers=2, bidirectional=True, device=device)
    sizes = [len(tr.autograd.graph_nodes(m(tr.randn(T, 2, 2, device=device, requires_grad=True))[0].sum()))
             for T in (3, 50)]
    assert sizes[0] == sizes[1]
    fused = [n for n in tr.autograd.graph_nodes(m(tr.randn(5, 2, 2, device=device))[0]) if n.name == "FusedRNN"]
    assert len(fused) == 2                     # one node per layer, both directions
    unrolled = len(tr.autograd.graph_nodes(m(tr.randn(5, 2, 2, device=device), unroll=True)[0].sum()))
    assert unrolled > 10 * sizes[0]


def test_unrolled_nodes_are_tagged(device):
    m = tr.nn.GRU(2, 3, num_layers=2, bidirectional=True, device=device)
    out, _ = m(tr.randn(4, 2, 2, device=device), unroll=True)
    nodes = tr.autograd.graph_nodes(out)
    steps = [dict(n.scope) for n in nodes if "t" in dict(n.scope)]
    assert {s["name"] for s in steps} == {"gru"}
    assert {(s["layer"], s["direction"]) for s in steps} == {(k, d) for k in (0, 1) for d in ("forward", "reverse")}
    assert {s["t"] for s in steps} == {0, 1, 2, 3}
    assert {"r", "z", "n", "h", "proj"} <= {s.get("gate") for s in steps}
    fused = [n for n in tr.autograd.graph_nodes(m(tr.randn(4, 2, 2, device=device))[0]) if n.name == "FusedRNN"]
    assert sorted(dict(n.scope)["layer"] for n in fused) == [0, 1]


# ------------------------------------------------------------------------------------------------
# Module surface


def test_parameters_names_shapes_repr_like_torch(device):
    torch = require("torch")
    for ours, theirs in [(tr.nn.LSTM(3, 5, num_layers=2, bidirectional=True, batch_first=True, device=device),
                          torch.nn.LSTM(3, 5, num_layers=2, bidirectional=True, batch_first=True)),
                         (tr.nn.GRU(3, 5, bias=False, dropout=0.5, num_layers=2, device=device),
                          torch.nn.GRU(3, 5, bias=False, dropout=0.5, num_layers=2)),
                         (tr.nn.RNN(3, 5, nonlinearity="relu", device=device),
                          torch.nn.RNN(3, 5, nonlinearity="relu"))]:
        assert [(n, tuple(p.shape)) for n, p in ours.named_parameters()] == \
            [(n, tuple(p.shape)) for n, p in theirs.named_parameters()]
        assert repr(ours) == repr(theirs)
        assert [[tuple(w.shape) for w in ws] for ws in ours.all_weights] == \
            [[tuple(w.shape) for w in ws] for ws in theirs.all_weights]


def test_init_range_and_flatten_parameters(device):
    m = tr.nn.LSTM(3, 16, num_layers=2, device=device)
    m.flatten_parameters()
    for p in m.parameters():
        assert p.device == device
        a = p.numpy()
        assert np.abs(a).max() <= 0.25 and a.std() > 0.1
    tr.manual_seed(4)
    a = tr.nn.GRU(2, 3, device=device).state_dict()
    tr.manual_seed(4)
    b = tr.nn.GRU(2, 3, device=device).state_dict()
    assert all(np.array_equal(a[k].numpy(), b[k].numpy()) for k in a)


def test_state_dict_interop_both_ways(tmp_path, device):
    torch = require("torch")
    torch.manual_seed(0)
    theirs = torch.nn.LSTM(3, 4, num_layers=2, bidirectional=True, dtype=torch.float64)
    path = tmp_path / "sd.npz"
    np.savez(path, **{k: v.numpy() for k, v in theirs.state_dict().items()})
    ours = tr.nn.LSTM(3, 4, num_layers=2, bidirectional=True, dtype=tr.float64, device=device)
    with np.load(path, allow_pickle=False) as f:
        ours.load_state_dict({k: f[k] for k in f.files})
    assert all(p.device == device for p in ours.parameters())
    x = np.random.default_rng(0).standard_normal((5, 2, 3))
    want, _ = theirs(torch.from_numpy(x))
    got, _ = ours(tr.tensor(x, device=device))
    np.testing.assert_allclose(got.numpy(), want.detach().numpy(), atol=1e-12)
    # and back: ours -> torch
    ours2 = tr.nn.GRU(3, 4, bias=False, device=device)
    theirs2 = torch.nn.GRU(3, 4, bias=False)
    theirs2.load_state_dict({k: torch.from_numpy(v.numpy()) for k, v in ours2.state_dict().items()})
    x32 = x.astype(np.float32)
    np.testing.assert_allclose(ours2(tr.tensor(x32, device=device))[0].numpy(),
                               theirs2(torch.from_numpy(x32))[0].detach().numpy(), rtol=1e-5, atol=1e-6)


def test_no_grad_forward_and_eval(device):
    m = tr.nn.GRU(2, 3, num_layers=2, dropout=0.5, device=device)
    m.eval()
    x = tr.randn(4, 2, 2, device=device)
    with tr.no_grad():
        a, _ = m(x)
    b, _ = m(x, unroll=True)
    assert a.grad_fn is None
    np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-5, atol=1e-6)


# ------------------------------------------------------------------------------------------------
# Bad input: clear errors, raised before anything runs


@pytest.mark.parametrize("mode", ["rnn_tanh", "lstm", "gru"])
def test_bad_input(mode, device):
    m = make_layer(mode, True, 2, True, dtype=tr.float32, device=device)
    x = tr.randn(4, 3, fx.I, device=device)
    h = tr.zeros(4, 3, fx.H, device=device)
    hx = (h, h) if mode == "lstm" else h
    with pytest.raises(ValueError, match=r"input_size=3.*\(4, 3, 5\)"):
        m(tr.randn(4, 3, 5, device=device))
    with pytest.raises(ValueError, match=r"input: expected a 3-D"):
        m(tr.randn(4, 3, 3, 1, device=device))
    bad = tr.zeros(4, 1, 4, device=device)                                       # NumPy would broadcast
    with pytest.raises(ValueError, match=r"expected shape \(4, 3, 4\).*got \(4, 1, 4\)"):
        m(x, ((bad, h) if mode == "lstm" else bad))
    bad = tr.zeros(2, 3, 4, device=device)
    with pytest.raises(ValueError, match=r"expected shape \(4, 3, 4\).*got \(2, 3, 4\)"):
        m(x, ((bad, h) if mode == "lstm" else bad))
    with pytest.raises(ValueError, match=r"lengths: expected every length in 1\.\.4.*\[5, 1, 2\]"):
        m(x, hx, lengths=[5, 1, 2])
    with pytest.raises(ValueError, match=r"lengths: expected every length in 1\.\.4.*\[0, 1, 2\]"):
        m(x, lengths=[0, 1, 2])
    with pytest.raises(ValueError, match=r"lengths: expected 3 lengths.*got 2"):
        m(x, lengths=[1, 2])
    with pytest.raises(TypeError, match="lengths"):
        m(x, lengths=[1.5, 2, 3])
    with pytest.raises(TypeError, match="input"):
        m(x.double())
    with pytest.raises(TypeError, match="input"):
        m(x.numpy())
    if mode == "lstm":
        with pytest.raises(TypeError, match=r"hx: LSTM expects a tuple"):
            m(x, h)
    else:
        with pytest.raises(TypeError, match=r"hx: .* expects a Tensor"):
            m(x, (h, h))
    # unbatched input needs a 2-D state
    with pytest.raises(ValueError, match=r"expected shape \(4, 4\)"):
        m(x[:, 0], hx)


@pytest.mark.cpu_only          # pure argument checks: they raise in the constructor before any array exists
def test_bad_constructor_args():
    for p in (-0.1, 1.0, 1.5, True):
        with pytest.raises(ValueError, match="dropout"):
            tr.nn.LSTM(3, 4, num_layers=2, dropout=p)
    with pytest.raises(ValueError, match="nonlinearity"):
        tr.nn.RNN(3, 4, nonlinearity="sigmoid")
    with pytest.raises(ValueError, match="hidden_size"):
        tr.nn.GRU(3, 0)
    with pytest.raises(ValueError, match="num_layers"):
        tr.nn.GRU(3, 4, num_layers=0)
    with pytest.warns(UserWarning, match="num_layers=1"):
        tr.nn.GRU(3, 4, dropout=0.2)
