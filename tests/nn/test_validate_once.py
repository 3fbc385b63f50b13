"""Arguments of the recurrent layers are validated once, at the entry point the caller used.

``Recurrent.forward`` (and so ``nn.RNN/LSTM/GRU``) checks the input, ``hx`` and ``lengths``; the
fused node it builds and the built-in cells it steps on the unrolled path do not check them again.
The array-level ``fused.forward``, the node-level ``fused.fused_rnn`` and a cell called directly
stay checked entry points (each runs its checks once per call).

Every check helper is wrapped to count its calls (and, for the internal ones, to raise if they run
on the layers' path), so a check that comes back on the inner path makes these tests fail.
"""

from __future__ import annotations

import numpy as np
import pytest

import tinygrad_rnn as tr
from tinygrad_rnn.backend import xp_for
from tinygrad_rnn.nn.recurrent import cells, fused
from tinygrad_rnn.nn.recurrent.layers import Recurrent

T, B, I, H = 4, 3, 2, 3


@pytest.fixture
def calls(monkeypatch) -> dict:
    """Counts the calls of every argument check of the recurrent path, by name."""
    counts = {}

    def counted(owner, name):
        real = getattr(owner, name)

        def wrapper(*args, **kwargs):
            counts[name] = counts.get(name, 0) + 1
            return real(*args, **kwargs)
        monkeypatch.setattr(owner, name, wrapper)

    for name in ("_check", "_check_mode", "_check_shapes"):            # fused.forward / fused_rnn
        counted(fused, name)
    for name in ("_check_input", "_check_state"):                      # every built-in cell's checks
        counted(cells._CellBase, name)
    for name in ("_check_lengths", "_states"):                         # the layer's own (the entry point)
        counted(Recurrent, name)
    return counts


INNER = ("_check", "_check_mode", "_check_shapes", "_check_input", "_check_state")


def _layer_cases():
    # (layer, kwargs, bidirectional, with lengths, with hx, unroll)
    yield "LSTM", {}, True, True, True, False
    yield "LSTM", {}, True, True, True, True
    yield "LSTM", {"proj_size": 2}, False, True, True, True
    yield "GRU", {}, True, True, False, False
    yield "GRU", {}, True, False, True, True
    yield "RNN", {"nonlinearity": "relu"}, False, True, True, True


@pytest.mark.parametrize("name,kw,bidir,with_lengths,with_hx,unroll", list(_layer_cases()))
def test_layers_check_once_and_inner_checks_never_run(calls, name, kw, bidir, with_lengths, with_hx, unroll,
                                                      device):
    tr.manual_seed(0)
    layer = getattr(tr.nn, name)(I, H, num_layers=2, bidirectional=bidir, dtype=tr.float64, device=device, **kw)
    D = 2 if bidir else 1
    P = kw.get("proj_size", 0) or H
    x = tr.randn(T, B, I, dtype=tr.float64, device=device, requires_grad=True)
    hx = None
    if with_hx:
        h0 = tr.randn(2 * D, B, P, dtype=tr.float64, device=device, requires_grad=True)
        hx = (h0, tr.randn(2 * D, B, H, dtype=tr.float64, device=device)) if name == "LSTM" else h0
    lengths = [4, 1, 3] if with_lengths else None
    out, h_n = layer(x, hx, lengths=lengths, unroll=unroll)
    h = h_n[0] if isinstance(h_n, tuple) else h_n
    (out.sum() + h.sum()).backward()
    assert x.grad is not None and all(p.grad is not None for p in layer.parameters())
    assert {k: calls.get(k, 0) for k in INNER} == dict.fromkeys(INNER, 0)
    assert calls["_check_lengths"] == 1 and calls["_states"] == 1      # the entry point checked, once


@pytest.mark.parametrize("cell,kw", [(tr.nn.LSTMCell, {}), (tr.nn.GRUCell, {}), (cells.LSTMPCell, {"proj_size": 2})])
def test_recurrent_over_built_in_cells_unrolled_skips_the_cell_checks(calls, cell, kw, device):
    layer = Recurrent(cell, I, H, bidirectional=True, dtype=tr.float64, device=device, **kw)
    out, _ = layer(tr.randn(T, B, I, dtype=tr.float64, device=device), lengths=[2, 4, 1], unroll=True)
    out.sum().backward()
    assert {k: calls.get(k, 0) for k in INNER} == dict.fromkeys(INNER, 0)


def test_a_cell_with_hooks_or_its_own_forward_is_called_through_its_forward(calls, device):
    """The unchecked step is only for a plain built-in cell: hooks still see every step, and a subclass
    that replaces forward runs its own forward (with the checks it keeps)."""
    layer = tr.nn.GRU(I, H, dtype=tr.float64, device=device)
    seen = []
    handle = layer.get_cell(0, 0).register_forward_hook(lambda m, args, out: seen.append(args[0].shape))
    layer(tr.randn(T, B, I, dtype=tr.float64, device=device), unroll=True)
    assert len(seen) == T and calls["_check_input"] == T
    handle.remove()

    class Logged(tr.nn.GRUCell):
        steps = 0

        def forward(self, input, hx=None):
            Logged.steps += 1
            return super().forward(input, hx)

    calls.clear()
    Recurrent(Logged, I, H, dtype=tr.float64, device=device)(tr.randn(T, B, I, dtype=tr.float64, device=device))
    assert Logged.steps == T and calls["_check_input"] == T


def test_a_cell_called_directly_checks_once_and_raises(calls, device):
    cell = tr.nn.LSTMCell(I, H, dtype=tr.float64, device=device)
    x = tr.randn(B, I, dtype=tr.float64, device=device)
    cell(x, (tr.zeros(B, H, dtype=tr.float64, device=device),) * 2)
    assert calls["_check_input"] == 1 and calls["_check_state"] == 2
    with pytest.raises(ValueError, match=r"hx\[1\] \(c_0\): expected shape \(3, 3\)"):
        cell(x, (tr.zeros(B, H, dtype=tr.float64, device=device), tr.zeros(B, 2, dtype=tr.float64, device=device)))
    with pytest.raises(ValueError, match="input_size=2"):
        cell(tr.randn(B, 5, dtype=tr.float64, device=device))


def _arrays(device, mode="gru", D=2):
    rng = np.random.default_rng(0)
    xp = xp_for(device)
    G = fused.GATES[mode] * H
    x = xp.asarray(rng.standard_normal((T, B, I)))
    h0 = xp.asarray(rng.standard_normal((D, B, H)))
    weights = [tuple(xp.asarray(rng.standard_normal(s)) for s in ((G, I), (G, H), (G,), (G,))) for _ in range(D)]
    return xp, x, h0, weights


def test_direct_fused_forward_checks_once_and_raises(calls, device):
    xp, x, h0, weights = _arrays(device)
    fused.forward(xp, "gru", x, h0, None, weights, np.array([4, 1, 3]))
    assert calls["_check"] == 1 and calls["_check_shapes"] == 1
    with pytest.raises(ValueError, match=r"h0: expected shape \(D, 3, H\)"):
        fused.forward(xp, "gru", x, h0[:, :2], None, weights)
    with pytest.raises(ValueError, match=r"lengths: expected every length in 1..4, got min 1 and max 5"):
        fused.forward(xp, "gru", x, h0, None, weights, np.array([5, 1, 3]))
    with pytest.raises(ValueError, match=r"lengths: expected 3 lengths"):
        fused.forward(xp, "gru", x, h0, None, weights, np.array([4, 1]))
    assert calls["_check"] == 4


def test_direct_fused_rnn_checks_once_and_raises(calls, device):
    _, x, h0, weights = _arrays(device)
    ts = [tr.tensor(a, device=device, requires_grad=True) for a in (x, h0, *[w for ws in weights for w in ws])]
    out, h_n = fused.fused_rnn(*ts, mode="gru", lengths=np.array([4, 1, 3]), num_directions=2)
    (out.sum() + h_n.sum()).backward()
    assert calls["_check_mode"] == 1 and calls["_check_shapes"] == 1
    with pytest.raises(ValueError, match="FusedRNN: expected 2 input tensor"):
        fused.fused_rnn(*ts[:-1], mode="gru", num_directions=2)
    with pytest.raises(ValueError, match=r"h0: expected 1 direction\(s\) in dim 0"):
        fused.fused_rnn(*ts[:6], mode="gru", num_directions=1)
    with pytest.raises(ValueError, match=r"weights\[1\]\[1\] \(w_hh\): expected shape \(9, 3\), got \(9, 2\)"):
        fused.fused_rnn(*ts[:7], ts[7][:, :2], *ts[8:], mode="gru", num_directions=2)
    with pytest.raises(ValueError, match="mode: expected one of"):
        fused.fused_rnn(*ts, mode="elman", num_directions=2)


@pytest.mark.parametrize("unroll", [False, True])
def test_a_reassigned_parameter_of_another_shape_is_refused_by_the_layer(unroll, device):
    # the fused node trusts the weights, so the layer checks a re-assigned parameter once, in forward
    lstm = tr.nn.LSTM(I, H, device=device)
    x = tr.randn(T, B, I, device=device)
    lstm.weight_hh_l0 = tr.nn.Parameter(tr.randn(4 * H, H + 1, device=device))
    with pytest.raises(ValueError, match=r"weight_hh_l0: expected a parameter of shape \(12, 3\).*got \(12, 4\)"):
        lstm(x, unroll=unroll)
    lstm.weight_hh_l0 = tr.nn.Parameter(tr.randn(4 * H, H, device=device))      # the right shape: used
    out, _ = lstm(x, unroll=unroll)
    assert out.shape == (T, B, H)
    assert lstm.get_cell(0, 0).weight_hh is lstm.weight_hh_l0
