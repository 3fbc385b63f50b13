"""RNNCell / LSTMCell / GRUCell: PyTorch parity (golden fixtures and live), gradcheck, gate scopes, errors."""

from __future__ import annotations


import numpy as np
import pytest

import tinygrad_rnn as tr
from conftest import fixture_module
from tests.conftest import require
from tinygrad_rnn.nn.recurrent.cells import gru_cell, lstm_cell, rnn_cell

fx = fixture_module("make_rnn_fixtures")

CELLS = {"rnn_tanh": tr.nn.RNNCell, "rnn_relu": tr.nn.RNNCell, "lstm": tr.nn.LSTMCell, "gru": tr.nn.GRUCell}
CASES = list(fx.cell_cases())


@pytest.fixture(scope="module")
def golden() -> dict:
    with np.load(fx.PATH, allow_pickle=False) as f:
        return {k: f[k] for k in f.files}


def make_cell(mode, bias=True, dtype=tr.float64, device="cpu"):
    kw = {"nonlinearity": mode[4:]} if mode.startswith("rnn") else {}
    return CELLS[mode](fx.I, fx.H, bias=bias, dtype=dtype, device=device, **kw)


def run_cell(mode, bias, weights, case, dtype=tr.float64, device="cpu") -> dict:
    m = make_cell(mode, bias, dtype, device)
    m.load_state_dict(weights)
    x = tr.tensor(case["x"], dtype=dtype, device=device, requires_grad=True)
    h = None if case["h"] is None else tr.tensor(case["h"], dtype=dtype, device=device, requires_grad=True)
    c = None if case["c"] is None else tr.tensor(case["c"], dtype=dtype, device=device, requires_grad=True)
    out = m(x, None if h is None else (h, c) if mode == "lstm" else h)
    h1, c1 = out if mode == "lstm" else (out, None)
    loss = (h1 * tr.tensor(case["r_h"], dtype=dtype, device=device)).sum()
    if c1 is not None:
        loss = loss + (c1 * tr.tensor(case["r_c"], dtype=dtype, device=device)).sum()
    loss.backward()
    res = {"h": h1, "c": c1, "grad/x": x.grad, "grad/h": None if h is None else h.grad,
           "grad/c": None if c is None else c.grad}
    res.update({f"grad/{n}": p.grad for n, p in m.named_parameters()})
    return {k: v.detach().numpy() for k, v in res.items() if v is not None}


def check(ours, ref, rtol, atol, what):
    assert set(ours) == set(ref), what
    for k, want in ref.items():
        assert ours[k].shape == want.shape, (what, k)
        np.testing.assert_allclose(ours[k], want, rtol=rtol, atol=atol, err_msg=f"{what} {k}")


def cid(c) -> str:
    return fx.cell_key(*c).replace("/", "-")


def load(golden, c):
    mode, bias = c[:2]
    ref = fx.split_results(golden[fx.cell_key(*c)], fx.cell_result_shapes(*c))
    return fx.cell_weights(golden, mode, bias), fx.cell_case_inputs(golden, mode, *c[2:]), ref


@pytest.mark.parametrize("c", CASES, ids=cid)
def test_cell_parity_golden(golden, c, device):
    weights, case, ref = load(golden, c)
    check(run_cell(*c[:2], weights, case, tr.float64, device), ref, 1e-8, 1e-8, cid(c))
    check(run_cell(*c[:2], weights, case, tr.float32, device), ref, 1e-4, 1e-5, cid(c) + " float32")


@pytest.mark.parametrize("c", CASES, ids=cid)
def test_cell_parity_live_torch(golden, c, device):
    require("torch")
    weights, case, _ = load(golden, c)
    for dtype, rtol, atol in (("float64", 1e-8, 1e-8), ("float32", 1e-4, 1e-5)):
        ref = fx.torch_cell_reference(*c[:2], weights, case, dtype)
        check(run_cell(*c[:2], weights, case, getattr(tr, dtype), device), ref, rtol, atol, f"{cid(c)} {dtype}")


def test_names_shapes_repr_like_torch(device):
    torch = require("torch")
    for ours, theirs in [(tr.nn.LSTMCell(3, 5, device=device), torch.nn.LSTMCell(3, 5)),
                         (tr.nn.GRUCell(3, 5, bias=False, device=device), torch.nn.GRUCell(3, 5, bias=False)),
                         (tr.nn.RNNCell(3, 5, nonlinearity="relu", device=device),
                          torch.nn.RNNCell(3, 5, nonlinearity="relu"))]:
        assert [(n, tuple(p.shape)) for n, p in ours.named_parameters()] == \
            [(n, tuple(p.shape)) for n, p in theirs.named_parameters()]
        assert repr(ours) == repr(theirs)


def test_init_uniform_range(device):
    tr.manual_seed(0)
    m = tr.nn.LSTMCell(4, 25, device=device)
    for p in m.parameters():
        assert p.device == device
        a = p.numpy()
        assert np.abs(a).max() <= 0.2 and a.std() > 0.08


# ------------------------------------------------------------------------------------------------
# gradcheck over a few steps through the cell functions (inputs, state and every weight)


@pytest.mark.parametrize("mode", list(CELLS))
@pytest.mark.parametrize("bias", [True, False])
def test_gradcheck_cells_three_steps(mode, bias, device):
    rng = np.random.default_rng(0)
    B, I, H = 2, 2, 3
    G = fx.GATES[mode] * H
    x = tr.tensor(rng.standard_normal((3, B, I)), device=device, requires_grad=True)
    h = tr.tensor(rng.standard_normal((B, H)) * 0.5, device=device, requires_grad=True)
    c = tr.tensor(rng.standard_normal((B, H)) * 0.5, device=device, requires_grad=True)
    shapes = [(G, I), (G, H)] + ([(G,), (G,)] if bias else [])
    ws = [tr.tensor(rng.uniform(-0.8, 0.8, s), device=device, requires_grad=True) for s in shapes]

    def fn(x, h, c, *w):
        w = tuple(w) + (None, None) * (not bias)
        outs = []
        for t in range(3):
            if mode == "lstm":
                h, c = lstm_cell(x[t], h, c, *w)
                outs.append(c)
            elif mode == "gru":
                h = gru_cell(x[t], h, *w)
            else:
                h = rnn_cell(x[t], h, *w, nonlinearity=mode[4:])
            outs.append(h)
        return tuple(outs)

    assert tr.gradcheck(fn, (x, h, c, *ws))


@pytest.mark.parametrize("mode", list(CELLS))
def test_gradcheck_cell_module_unbatched(mode, device):
    m = make_cell(mode, device=device)
    x = tr.randn(fx.I, dtype=tr.float64, device=device, requires_grad=True)
    h = tr.randn(fx.H, dtype=tr.float64, device=device, requires_grad=True)
    hx = (h, h * 0.3) if mode == "lstm" else h
    assert tr.gradcheck(lambda x, h: m(x, (h, h * 0.3) if mode == "lstm" else h), (x, h))
    out = m(x, hx)
    assert (out[0] if mode == "lstm" else out).shape == (fx.H,)


# ------------------------------------------------------------------------------------------------
# The cell is one step of the unrolled layer; gates are tagged for graph pictures


@pytest.mark.parametrize("mode", list(CELLS))
def test_cell_is_one_layer_step(mode, device):
    cell = make_cell(mode, device=device)
    kw = {"nonlinearity": mode[4:]} if mode.startswith("rnn") else {}
    layer = {"lstm": tr.nn.LSTM, "gru": tr.nn.GRU}.get(mode, tr.nn.RNN)(fx.I, fx.H, dtype=tr.float64, device=device,
                                                                        **kw)
    layer.load_state_dict({k + "_l0": v for k, v in cell.state_dict().items()})
    x = tr.randn(5, 2, fx.I, dtype=tr.float64, device=device)
    state = None
    for t in range(5):
        state = cell(x[t], state)
    out, hn = layer(x)
    want = state[0] if mode == "lstm" else state
    np.testing.assert_allclose(out[-1].numpy(), want.numpy(), atol=1e-12)


def _scopes(t):
    return [dict(n.scope) for n in tr.autograd.graph_nodes(t)]


@pytest.mark.parametrize("mode,gates", [("lstm", {"proj", "i", "f", "g", "o", "c", "h"}),
                                        ("gru", {"proj", "r", "z", "n", "h"}), ("rnn_tanh", {"proj", "h"})])
def test_gate_scopes(mode, gates, device):
    m = make_cell(mode, device=device)
    out = m(tr.randn(2, fx.I, dtype=tr.float64, device=device), None)
    h = out[0] if mode == "lstm" else out
    tags = {s.get("gate") for s in _scopes(h)}
    assert tags == gates


# ------------------------------------------------------------------------------------------------
# Bad input


@pytest.mark.parametrize("mode", list(CELLS))
def test_cell_bad_input(mode, device):
    m = make_cell(mode, dtype=tr.float32, device=device)
    x = tr.randn(2, fx.I, device=device)
    with pytest.raises(ValueError, match=r"input_size=3.*\(2, 5\)"):
        m(tr.randn(2, 5, device=device))
    with pytest.raises(ValueError, match="1-D .* or 2-D"):
        m(tr.randn(1, 2, 3, device=device))
    bad = tr.zeros(1, fx.H, device=device)        # batch 1: NumPy would broadcast it
    with pytest.raises(ValueError, match=r"expected shape \(2, 4\).*got \(1, 4\)"):
        m(x, (bad, bad) if mode == "lstm" else bad)
    with pytest.raises(TypeError, match="input"):
        m(x.double())
    with pytest.raises(TypeError):
        m(x, 3.0)
    if mode == "lstm":
        with pytest.raises(TypeError, match=r"tuple \(h_0, c_0\)"):
            m(x, tr.zeros(2, fx.H, device=device))
    with pytest.raises(ValueError, match="hidden_size"):
        CELLS[mode](3, 0)
