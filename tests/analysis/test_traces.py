"""hidden_trace: the same numbers as a hand-written loop and as the layer's own output."""

import numpy as np
import pytest

import tinygrad_rnn as tr
from tinygrad_rnn.analysis import hidden_trace


def sig(z):
    return 1 / (1 + np.exp(-z))


def loop(kind, x, W_ih, W_hh, b_ih, b_hh):
    """The textbook loop, one layer, forward direction, zero initial state: h, c and gates per step."""
    T, B, _ = x.shape
    H = W_hh.shape[1]
    h, c = np.zeros((B, H)), np.zeros((B, H))
    hs, cs, gates = [], [], []
    for t in range(T):
        a = x[t] @ W_ih.T + b_ih
        r = h @ W_hh.T + b_hh
        if kind == "lstm":
            i, f, g, o = sig(a[:, :H] + r[:, :H]), sig(a[:, H:2 * H] + r[:, H:2 * H]), \
                np.tanh(a[:, 2 * H:3 * H] + r[:, 2 * H:3 * H]), sig(a[:, 3 * H:] + r[:, 3 * H:])
            c = f * c + i * g
            h = o * np.tanh(c)
            gates.append({"i": i, "f": f, "g": g, "o": o})
        elif kind == "gru":
            rr, z = sig(a[:, :H] + r[:, :H]), sig(a[:, H:2 * H] + r[:, H:2 * H])
            n = np.tanh(a[:, 2 * H:] + rr * r[:, 2 * H:])
            h = (1 - z) * n + z * h
            gates.append({"r": rr, "z": z, "n": n})
        else:
            h = np.tanh(a + r)
            gates.append({"h": h})
        hs.append(h)
        cs.append(c)
    return np.stack(hs), np.stack(cs), {k: np.stack([g[k] for g in gates]) for k in gates[0]}


def layer_of(kind, I, H, device="cpu", **kw):
    cls = {"lstm": tr.nn.LSTM, "gru": tr.nn.GRU, "rnn": tr.nn.RNN}[kind]
    return cls(I, H, dtype=tr.float64, device=device, **kw)


@pytest.mark.parametrize("kind", ["lstm", "gru", "rnn"])
def test_trace_matches_hand_written_loop(kind, device):
    tr.manual_seed(1)
    layer = layer_of(kind, 3, 4, device)
    x = np.random.default_rng(0).standard_normal((6, 2, 3))
    ws = [getattr(layer, n + "_l0").detach().numpy() for n in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]
    h, c, gates = loop(kind, x, *ws)
    got = hidden_trace(layer, tr.tensor(x, device=device))
    assert got.h.shape == (1, 1, 6, 2, 4)
    np.testing.assert_allclose(got.h[0, 0], h, rtol=1e-12, atol=1e-12)
    if kind == "lstm":
        np.testing.assert_allclose(got.c[0, 0], c, rtol=1e-12, atol=1e-12)
    else:
        assert got.c is None
    assert set(got.gates) == set(gates)
    for k in gates:
        np.testing.assert_allclose(got.gates[k][0, 0], gates[k], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("kind", ["lstm", "gru", "rnn"])
def test_trace_matches_the_layer_stacked_bidirectional_lengths(kind, device):
    tr.manual_seed(2)
    layer = layer_of(kind, 3, 5, device, num_layers=2, bidirectional=True)
    x = tr.randn(7, 4, 3, dtype=tr.float64, device=device)
    lengths = np.array([7, 2, 5, 1])
    out, state = layer(x, lengths=lengths)
    h_n = state[0] if kind == "lstm" else state
    got = hidden_trace(layer, x, lengths=lengths)
    valid = (np.arange(7)[:, None] < lengths[None])[..., None]
    top = np.concatenate([got.h[1, 0], got.h[1, 1]], -1) * valid
    np.testing.assert_allclose(top, out.numpy(), atol=1e-12)
    # h_n: the forward direction's state at each sequence's own end, the reverse direction's at t = 0
    for k in range(2):
        np.testing.assert_allclose(got.h[k, 0, -1], h_n.numpy()[2 * k], atol=1e-12)
        np.testing.assert_allclose(got.h[k, 1, 0], h_n.numpy()[2 * k + 1], atol=1e-12)
    if kind == "lstm":
        np.testing.assert_allclose(got.c[1, 0, -1], state[1].numpy()[2], atol=1e-12)


def test_trace_initial_state_batch_first_and_gate_ranges(device):
    tr.manual_seed(3)
    layer = tr.nn.LSTM(2, 3, batch_first=True, device=device)
    x = tr.randn(4, 5, 2, device=device)
    h0, c0 = tr.randn(1, 4, 3, device=device), tr.randn(1, 4, 3, device=device)
    out, _ = layer(x, (h0, c0))
    got = hidden_trace(layer, x, (h0, c0))
    np.testing.assert_allclose(got.h[0, 0].transpose(1, 0, 2), out.numpy(), atol=1e-6)
    for g in ("i", "f", "o"):
        assert ((got.gates[g] > 0) & (got.gates[g] < 1)).all()
    assert (np.abs(got.gates["g"]) < 1).all()
    assert list(got.states) == ["h", "c"] and got.states["c"] is got.c and got.kind == "lstm"


def test_trace_bad_arguments(device):
    layer = tr.nn.GRU(2, 3, device=device)
    with pytest.raises(ValueError, match="x"):
        hidden_trace(layer, tr.randn(4, 2, device=device))
    with pytest.raises(ValueError, match="hx"):
        hidden_trace(layer, tr.randn(4, 2, 2, device=device), tr.zeros(1, 3, 3, device=device))
    with pytest.raises(ValueError, match="lengths"):
        hidden_trace(layer, tr.randn(4, 2, 2, device=device), lengths=[5, 1])
    with pytest.raises(TypeError, match="layer"):
        hidden_trace(tr.nn.Linear(2, 3, device=device), tr.randn(4, 2, 2, device=device))
