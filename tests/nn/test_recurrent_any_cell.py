"""``tr.nn.Recurrent``: any cell through one machinery.

- ``Recurrent(RNNCell/LSTMCell/GRUCell)`` equals ``nn.RNN/LSTM/GRU`` with the same state_dict on every
  configuration of the parity matrix (float64, 1e-12, outputs and every gradient), both paths;
- a cell written outside the package (the minimal gated unit, ``tests/mgu_cell.py``) through
  ``Recurrent`` with 2 layers, both directions, batch_first and lengths equals a hand-written
  per-step loop (float64, 1e-12, outputs and every gradient);
- the registry, names, errors.
"""

from __future__ import annotations

import numpy as np
import pytest

import tinygrad_rnn as tr
from conftest import fixture_module
from tests.mgu_cell import MGUCell

fx = fixture_module("make_rnn_fixtures")

CELLS = {"rnn_tanh": tr.nn.RNNCell, "rnn_relu": tr.nn.RNNCell, "lstm": tr.nn.LSTMCell, "gru": tr.nn.GRUCell}
LAYERS = {"rnn_tanh": tr.nn.RNN, "rnn_relu": tr.nn.RNN, "lstm": tr.nn.LSTM, "gru": tr.nn.GRU}
CASES = [(*cfg, has_h0, kind) for cfg in fx.configs() for has_h0, kind in fx.variants()]


@pytest.fixture(scope="module")
def golden() -> dict:
    with np.load(fx.PATH, allow_pickle=False) as f:
        return {k: f[k] for k in f.files}


def run(m, mode, case, unroll, batch_first, device) -> dict:
    """Outputs and every gradient of one case (time-major NumPy)."""
    m.zero_grad()
    unbatched = case["x"].ndim == 2
    x = tr.tensor(case["x"], device=device, requires_grad=True)
    xin = x.transpose(0, 1) if batch_first and not unbatched else x
    h0 = None if case["h0"] is None else tr.tensor(case["h0"], device=device, requires_grad=True)
    c0 = None if case["c0"] is None else tr.tensor(case["c0"], device=device, requires_grad=True)
    hx = None if h0 is None else (h0, c0) if mode == "lstm" else h0
    out, hn = m(xin, hx, lengths=case["lengths"], unroll=unroll)
    if batch_first and not unbatched:
        out = out.transpose(0, 1)
    h_n, c_n = hn if mode == "lstm" else (hn, None)
    loss = (out * tr.tensor(case["r_out"], device=device)).sum() + (h_n * tr.tensor(case["r_h"], device=device)).sum()
    if c_n is not None:
        loss = loss + (c_n * tr.tensor(case["r_c"], device=device)).sum()
    loss.backward()
    res = {"out": out, "h_n": h_n, "c_n": c_n, "grad/x": x.grad, "grad/h0": None if h0 is None else h0.grad,
           "grad/c0": None if c0 is None else c0.grad}
    res.update({f"grad/{n}": p.grad for n, p in m.named_parameters()})
    return {k: v.detach().numpy() for k, v in res.items() if v is not None}


@pytest.mark.parametrize("c", CASES, ids=lambda c: fx.case_key(*c).replace("/", "-"))
def test_recurrent_of_builtin_cells_equals_layers(golden, c, device):
    mode, bias, layers, bidir, has_h0, kind = c
    weights = fx.config_weights(golden, mode, bias, layers, bidir)
    case = fx.case_inputs(golden, mode, layers, bidir, has_h0, kind)
    kw = {"nonlinearity": mode[4:]} if mode.startswith("rnn") else {}
    batch_first = CASES.index(c) % 2 == 1
    ref_layer = LAYERS[mode](fx.I, fx.H, num_layers=layers, bias=bias, batch_first=batch_first,
                             bidirectional=bidir, dtype=tr.float64, device=device, **kw)
    ref_layer.load_state_dict(weights)
    ref = run(ref_layer, mode, case, False, batch_first, device)
    ours = tr.nn.Recurrent(CELLS[mode], fx.I, fx.H, num_layers=layers, bias=bias, batch_first=batch_first,
                           bidirectional=bidir, dtype=tr.float64, device=device, **kw)
    assert list(ours.state_dict()) == list(ref_layer.state_dict())
    ours.load_state_dict(weights)
    assert ours.kind is not None and ours.kind.name == mode
    for unroll in (False, True):
        got = run(ours, mode, case, unroll, batch_first, device)
        assert set(got) == set(ref)
        for key, want in ref.items():
            np.testing.assert_allclose(got[key], want, rtol=0, atol=1e-12, err_msg=f"{key} unroll={unroll}")


def test_recurrent_lstm_has_torch_keys_and_loads_its_state_dict(device):
    from tests.conftest import require
    torch = require("torch")
    torch.manual_seed(0)
    theirs = torch.nn.LSTM(8, 16, 2, bidirectional=True, dtype=torch.float64)
    ours = tr.nn.Recurrent(tr.nn.LSTMCell, 8, 16, num_layers=2, bidirectional=True, dtype=tr.float64,
                           device=device)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    ours.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})
    x = np.random.default_rng(0).standard_normal((5, 3, 8))
    want, (h, c) = theirs(torch.from_numpy(x))
    got, (gh, gc) = ours(tr.tensor(x, device=device))
    for a, b in ((got, want), (gh, h), (gc, c)):
        np.testing.assert_allclose(a.numpy(), b.detach().numpy(), rtol=0, atol=1e-12)


# ------------------------------------------------------------------------------------------------
# A new cell, written outside the package: the minimal gated unit


def mgu_step(x, h, w_ih, w_hh, b_ih, b_hh):
    """The MGU equations, written again by hand (the reference does not call the cell)."""
    H = h.shape[-1]
    f = (x @ w_ih[:H].t() + b_ih[:H] + h @ w_hh[:H].t() + b_hh[:H]).sigmoid()
    n = (x @ w_ih[H:].t() + b_ih[H:] + (f * h) @ w_hh[H:].t() + b_hh[H:]).tanh()
    return (1 - f) * h + f * n


def hand_loop(layer, x, h0, lengths):
    """Per layer, direction and step, in plain tensor code: x (T, B, I) time-major, h0 (L*D, B, H)."""
    T = x.shape[0]
    D = 2 if layer.bidirectional else 1
    alive = [tr.tensor((t < np.asarray(lengths))[:, None].astype(np.float64), device=x.device) for t in range(T)]
    inp, h_n = x, []
    for k in range(layer.num_layers):
        outs = []
        for d in range(D):
            sfx = f"_l{k}" + ("_reverse" if d else "")
            w = [getattr(layer, n + sfx) for n in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]
            h = h0[k * D + d]
            ys = [None] * T
            for t in (range(T) if d == 0 else range(T - 1, -1, -1)):
                new = mgu_step(inp[t], h, *w)
                h = alive[t] * new + (1 - alive[t]) * h         # a finished sequence keeps its state
                ys[t] = h * alive[t]
            outs.append(tr.stack(ys, 0))
            h_n.append(h)
        inp = tr.cat(outs, 2)
    return inp, tr.stack(h_n, 0)


@pytest.mark.parametrize("with_h0", [False, True])
def test_mgu_through_recurrent_equals_hand_written_loop(with_h0, device):
    T, B, I, H, L = 6, 3, 4, 5, 2
    tr.manual_seed(0)
    layer = tr.nn.Recurrent(MGUCell, I, H, num_layers=L, bidirectional=True, batch_first=True,
                            dtype=tr.float64, device=device)
    assert layer.kind is None and layer.kind_name == "MGUCell"
    assert list(layer.state_dict()) == [f"{n}_l{k}{s}" for k in range(L) for s in ("", "_reverse")
                                        for n in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]
    rng = np.random.default_rng(1)
    xb = rng.standard_normal((B, T, I))
    h00 = rng.standard_normal((2 * L, B, H)) * 0.5
    lengths = [6, 2, 4]
    r_out, r_h = rng.standard_normal((B, T, 2 * H)), rng.standard_normal((2 * L, B, H))
    results = []
    for which in ("recurrent", "unroll-flag", "hand"):
        layer.zero_grad()
        x = tr.tensor(xb, device=device, requires_grad=True)
        h0 = tr.tensor(h00, device=device, requires_grad=True) if with_h0 else None
        if which == "hand":
            out, h_n = hand_loop(layer, x.transpose(0, 1), h0 if with_h0 else tr.zeros(2 * L, B, H,
                                 dtype=tr.float64, device=device), lengths)
            out = out.transpose(0, 1)
        else:                                            # unroll=False on an unregistered cell: unrolled
            out, h_n = layer(x, h0, lengths=lengths, unroll=which == "unroll-flag")
        loss = (out * tr.tensor(r_out, device=device)).sum() + (h_n * tr.tensor(r_h, device=device)).sum()
        loss.backward()
        res = {"out": out.numpy(), "h_n": h_n.numpy(), "dx": x.grad.numpy()}
        if with_h0:
            res["dh0"] = h0.grad.numpy()
        res.update({n: p.grad.numpy() for n, p in layer.named_parameters()})
        results.append(res)
    assert results[0]["out"].shape == (B, T, 2 * H) and results[0]["h_n"].shape == (2 * L, B, H)
    for got in results[:2]:
        for key, want in results[2].items():
            np.testing.assert_allclose(got[key], want, rtol=0, atol=1e-12, err_msg=key)
    assert np.all(results[0]["out"][1, 2:] == 0)                       # past the end: zero output


def test_mgu_unbatched_packed_and_dropout(device):
    tr.manual_seed(0)
    layer = tr.nn.Recurrent(MGUCell, 3, 4, num_layers=2, dropout=0.5, dtype=tr.float64, device=device)
    x = tr.randn(5, 2, 3, dtype=tr.float64, device=device)
    layer.eval()
    out, h_n = layer(x)
    one, h1 = layer(x[:, 1])                                          # unbatched
    np.testing.assert_allclose(one.numpy(), out.numpy()[:, 1], atol=1e-12)
    np.testing.assert_allclose(h1.numpy(), h_n.numpy()[:, 1], atol=1e-12)
    packed = tr.nn.utils.rnn.pack_padded_sequence(x, [5, 3], enforce_sorted=False)
    pout, ph = layer(packed)
    padded, _ = tr.nn.utils.rnn.pad_packed_sequence(pout, total_length=5)
    lout, lh = layer(x, lengths=[5, 3])
    np.testing.assert_allclose(padded.numpy(), lout.numpy(), atol=1e-12)
    np.testing.assert_allclose(ph.numpy(), lh.numpy(), atol=1e-12)
    layer.train()
    assert all(c.training for row in layer._cells for c in row)
    a, _ = layer(x, generator=tr.Generator().manual_seed(3))
    b, _ = layer(x, generator=tr.Generator().manual_seed(3))
    np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert not np.allclose(a.numpy(), out.numpy())                      # dropout between layers acts


def test_cell_with_tuple_state_keeps_its_structure(device):
    """An LSTMCell subclass is not the registered kind: it runs unrolled, and h_n keeps the (h, c) tuple."""

    class MyLSTMCell(tr.nn.LSTMCell):
        pass

    tr.manual_seed(0)
    ref = tr.nn.LSTM(3, 4, num_layers=2, bidirectional=True, dtype=tr.float64, device=device)
    mine = tr.nn.Recurrent(MyLSTMCell, 3, 4, num_layers=2, bidirectional=True, dtype=tr.float64, device=device)
    assert mine.kind is None
    mine.load_state_dict(ref.state_dict())
    x = tr.randn(4, 2, 3, dtype=tr.float64, device=device)
    h0 = tr.randn(4, 2, 4, dtype=tr.float64, device=device)
    want, (wh, wc) = ref(x, (h0, h0 * 0.5), lengths=[4, 2])
    got, (gh, gc) = mine(x, (h0, h0 * 0.5), lengths=[4, 2])
    for a, b in ((got, want), (gh, wh), (gc, wc)):
        np.testing.assert_allclose(a.numpy(), b.numpy(), atol=1e-12)
    graph = tr.autograd.graph_nodes(got)
    assert not any(n.name == "FusedRNN" for n in graph)
    assert {dict(n.scope).get("name") for n in graph if "t" in dict(n.scope)} == {"mylstmcell"}


def test_tied_parameter_reaches_the_cell(device):
    layer = tr.nn.Recurrent(MGUCell, 3, 3, dtype=tr.float64, device=device)
    new = tr.nn.Parameter(tr.zeros(6, 3, dtype=tr.float64, device=device))
    layer.weight_hh_l0 = new
    assert layer.get_cell(0, 0).weight_hh is new
    with pytest.raises(IndexError, match="layer"):
        layer.get_cell(1, 0)
    with pytest.raises(IndexError, match="direction"):
        layer.get_cell(0, 1)


# ------------------------------------------------------------------------------------------------
# The registry and bad input


@pytest.mark.cpu_only          # reads the registry's descriptions: no arrays
def test_registry_describes_each_builtin_kind():
    from tinygrad_rnn.nn.recurrent import REGISTRY, kind_of
    assert set(REGISTRY) == {"rnn_tanh", "rnn_relu", "lstm", "gru"}
    lstm = REGISTRY["lstm"]
    assert lstm.gates == ("i", "f", "g", "o") and lstm.sigmoid_gates == ("i", "f", "o")
    assert lstm.states == ("h", "c") and lstm.sigmoid_rows(4) == ((0, 4), (4, 8), (12, 16))
    assert REGISTRY["gru"].gates == ("r", "z", "n") and REGISTRY["gru"].recurrent_bias_gates == ("n",)
    assert kind_of(tr.nn.RNNCell, {}).name == "rnn_tanh"
    assert kind_of(tr.nn.RNNCell, {"nonlinearity": "relu", "dtype": tr.float64}).name == "rnn_relu"
    assert kind_of(MGUCell, {}) is None
    for mode, cls in LAYERS.items():
        assert REGISTRY[mode].cell is CELLS[mode]
        assert issubclass(cls, tr.nn.Recurrent)


@pytest.mark.cpu_only          # constructor checks: they raise before any array exists
def test_bad_recurrent_args():
    with pytest.raises(TypeError, match="cell: expected a Module subclass"):
        tr.nn.Recurrent(tr.nn.LSTMCell(3, 4), 3, 4)
    with pytest.raises(ValueError, match="hidden_size"):
        tr.nn.Recurrent(MGUCell, 3, 0)
    with pytest.raises(ValueError, match="dropout"):
        tr.nn.Recurrent(MGUCell, 3, 4, num_layers=2, dropout=1.0)
    layer = tr.nn.Recurrent(MGUCell, 3, 4, num_layers=2)
    x = tr.randn(5, 2, 3)
    with pytest.raises(ValueError, match=r"expected shape \(2, 2, 4\)"):
        layer(x, tr.zeros(1, 2, 4))
    with pytest.raises(TypeError, match="hx: expected a Tensor or a tuple"):
        layer(x, 3)
    with pytest.raises(ValueError, match="input_size=3"):
        layer(tr.randn(5, 2, 4))
    with pytest.raises(TypeError, match=r"hx: LSTM expects a tuple \(h_0, c_0\)"):
        tr.nn.LSTM(3, 4)(x, tr.zeros(1, 2, 4))
