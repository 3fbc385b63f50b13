"""jacobian_spectrum: the step Jacobians against finite differences, products, and W_hh's spectrum."""

import numpy as np
import pytest

import tinygrad_rnn as tr
from tinygrad_rnn.analysis import hidden_trace, jacobian_spectrum, step_jacobians
from tinygrad_rnn.analysis._layer import weights


def _layer(kind, device, **kw):
    cls = {"lstm": tr.nn.LSTM, "gru": tr.nn.GRU}.get(kind, tr.nn.RNN)
    if kind.startswith("rnn"):
        kw["nonlinearity"] = kind[4:]
    return cls(2, 4, dtype=tr.float64, device=device, **kw)


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("kind", ["lstm", "gru", "rnn_tanh", "rnn_relu"])
def test_analytic_step_jacobians_equal_the_autograd_ones(kind, bias, device):
    """The written-out Jacobians of the built-in kinds (CellKind.step_jacobian) equal the ones autograd
    takes on the cell: every layer and direction of a 2-layer bidirectional batch-first layer with lengths
    and an initial state (padded steps: the identity on both paths)."""
    tr.manual_seed(0)
    layer = _layer(kind, device, num_layers=2, bidirectional=True, batch_first=True, bias=bias)
    x = tr.randn(3, 5, 2, dtype=tr.float64, device=device)
    lengths = [5, 2, 4]
    hx = tr.randn(4, 3, 4, dtype=tr.float64, device=device)
    hx = (hx, tr.randn(4, 3, 4, dtype=tr.float64, device=device)) if kind == "lstm" else hx
    S = 8 if kind == "lstm" else 4
    for k in range(2):
        for d in range(2):
            an = jacobian_spectrum(layer, x, hx, lengths=lengths, layer_index=k, direction=d, method="analytic")
            ag = jacobian_spectrum(layer, x, hx, lengths=lengths, layer_index=k, direction=d, method="autograd")
            assert (an.method, ag.method) == ("analytic", "autograd")
            assert np.abs(an.jacobians - np.eye(S)).max() > 0.1                     # not trivially equal
            np.testing.assert_allclose(an.jacobians, ag.jacobians, rtol=0, atol=1e-10)
            np.testing.assert_allclose(an.jacobians[4:, 1], np.broadcast_to(np.eye(S), (1, S, S)))  # padded
            for a, b in ((an.step, ag.step), (an.to_end, ag.to_end), (an.from_start, ag.from_start)):
                np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)
            assert (an.spectral_radius, an.sigma_max) == (ag.spectral_radius, ag.sigma_max)


@pytest.mark.parametrize("kind", ["lstm", "gru", "rnn_tanh", "rnn_relu"])
def test_step_jacobians_of_one_step_equal_the_spectrum(kind, device):
    """tr.analysis.step_jacobians(kind, w, prev, new, gates) on one traced step gives jacobian_spectrum's J_t."""
    tr.manual_seed(1)
    layer = _layer(kind, device)
    x = tr.randn(4, 3, 2, dtype=tr.float64, device=device)
    trace = hidden_trace(layer, x)
    spec = jacobian_spectrum(layer, x, method="autograd")
    names = tuple(trace.states)
    t = 2
    prev = tuple(trace.states[n][0, 0, t - 1] for n in names)
    new = tuple(trace.states[n][0, 0, t] for n in names)
    J = step_jacobians(kind, weights(layer, 0, 0), prev, new, {g: a[0, 0, t] for g, a in trace.gates.items()})
    np.testing.assert_allclose(J, spec.jacobians[t], rtol=0, atol=1e-12)
    with pytest.raises(ValueError, match="state elements"):
        step_jacobians(kind, weights(layer, 0, 0), prev + prev, new, {})


def test_projected_lstm_analytic_jacobians_equal_the_autograd_ones(device):
    """LSTM with proj_size (h = W_hr m, P features): the projected written-out Jacobian equals autograd's,
    and the auto path takes it."""
    tr.manual_seed(2)
    lstm = tr.nn.LSTM(2, 4, num_layers=2, proj_size=3, bidirectional=True, dtype=tr.float64, device=device)
    x = tr.randn(5, 2, 2, dtype=tr.float64, device=device)
    for k, d in ((0, 1), (1, 0)):
        an = jacobian_spectrum(lstm, x, lengths=[5, 3], layer_index=k, direction=d)
        ag = jacobian_spectrum(lstm, x, lengths=[5, 3], layer_index=k, direction=d, method="autograd")
        assert an.method == "analytic" and an.jacobians.shape == (5, 2, 7, 7)
        np.testing.assert_allclose(an.jacobians, ag.jacobians, rtol=0, atol=1e-10)


def test_auto_path_picks_analytic_for_built_ins_and_autograd_otherwise(monkeypatch, device):
    from tests.mgu_cell import MGUCell
    from tests.ugrnn_kind import register_ugrnn, unregister_ugrnn
    from tinygrad_rnn.analysis import spectrum

    tr.manual_seed(3)
    x = tr.randn(4, 2, 2, dtype=tr.float64, device=device)

    class MyRNNCell(tr.nn.RNNCell):                      # a user subclass may compute something else
        pass

    user = [tr.nn.Recurrent(MGUCell, 2, 3, dtype=tr.float64, device=device),
            tr.nn.Recurrent(MyRNNCell, 2, 3, dtype=tr.float64, device=device)]
    register_ugrnn()
    try:
        from tests.ugrnn_kind import UGRNNCell
        user.append(tr.nn.Recurrent(UGRNNCell, 2, 3, dtype=tr.float64, device=device))    # no step_jacobian
        assert user[-1].kind is not None and user[-1].kind.step_jacobian is None
        for layer in user:
            assert jacobian_spectrum(layer, x).method == "autograd"
            with pytest.raises(ValueError, match="analytic"):
                jacobian_spectrum(layer, x, method="analytic")
    finally:
        unregister_ugrnn()
    built_in = [tr.nn.RNN(2, 3, dtype=tr.float64, device=device), tr.nn.GRU(2, 3, dtype=tr.float64, device=device),
                tr.nn.LSTM(2, 3, dtype=tr.float64, device=device),
                tr.nn.Recurrent(tr.nn.LSTMCell, 2, 3, dtype=tr.float64, device=device)]

    def no_autograd(*args, **kwargs):
        raise AssertionError("autograd Jacobian used for a built-in kind")

    monkeypatch.setattr(spectrum, "_autograd_jacobian", no_autograd)
    for layer in built_in:
        assert jacobian_spectrum(layer, x).method == "analytic"
    with pytest.raises(AssertionError, match="built-in"):
        jacobian_spectrum(built_in[0], x, method="autograd")
    with pytest.raises(ValueError, match="method"):
        jacobian_spectrum(built_in[0], x, method="fd")
    with pytest.raises(TypeError, match="method"):
        jacobian_spectrum(built_in[0], x, method=None)


def test_products_and_weight_spectrum_of_a_vanilla_rnn(device):
    tr.manual_seed(0)
    rnn = tr.nn.RNN(3, 6, dtype=tr.float64, device=device)
    x = tr.randn(9, 2, 3, dtype=tr.float64, device=device)
    spec = jacobian_spectrum(rnn, x)
    W = weights(rnn, 0, 0)[1]
    assert spec.spectral_radius == pytest.approx(np.abs(np.linalg.eigvals(W)).max())
    assert spec.sigma_max == pytest.approx(np.linalg.svd(W, compute_uv=False)[0])
    assert spec.gamma == 1.0
    # σ_max(J_t) <= γ σ_max(W_hh), and the products follow from the step Jacobians
    assert (spec.step[..., 0] <= spec.sigma_max + 1e-12).all()
    J = spec.jacobians
    P = J[2] @ J[1] @ J[0]
    np.testing.assert_allclose(spec.from_start[2], np.linalg.svd(P, compute_uv=False), rtol=1e-10)
    Q = J[8] @ J[7] @ J[6]
    np.testing.assert_allclose(spec.to_end[5], np.linalg.svd(Q, compute_uv=False), rtol=1e-10)
    np.testing.assert_allclose(spec.to_end[8], 1.0)
    np.testing.assert_allclose(spec.bound(), spec.sigma_max ** np.arange(8, -1, -1))
    trace = hidden_trace(rnn, x)
    np.testing.assert_allclose(J[4], (1 - trace.h[0, 0, 4] ** 2)[:, :, None] * W[None], rtol=1e-12)


def test_linear_regime_products_are_powers_of_lambda(device):
    # a ReLU RNN whose pre-activations stay positive is linear: J_t = W_hh = λI exactly
    lam, H, T = 0.8, 4, 7
    rnn = tr.nn.RNN(2, H, nonlinearity="relu", dtype=tr.float64, device=device)
    with tr.no_grad():
        rnn.weight_hh_l0.copy_(tr.eye(H, dtype=tr.float64, device=device) * lam)
        rnn.weight_ih_l0.fill_(0.1)
        rnn.bias_ih_l0.fill_(1.0)
        rnn.bias_hh_l0.fill_(0.0)
    spec = jacobian_spectrum(rnn, tr.rand(T, 1, 2, dtype=tr.float64, device=device))
    for t in range(T):
        np.testing.assert_allclose(spec.from_start[t, 0], lam ** (t + 1), rtol=1e-12)
        np.testing.assert_allclose(spec.to_end[t, 0], lam ** (T - 1 - t), rtol=1e-12)


def test_lstm_and_reverse_direction_and_padding(device):
    tr.manual_seed(4)
    lstm = tr.nn.LSTM(2, 3, bidirectional=True, dtype=tr.float64, device=device)
    x = tr.randn(5, 2, 2, dtype=tr.float64, device=device)
    spec = jacobian_spectrum(lstm, x, direction=1, lengths=[5, 3])
    assert spec.step.shape == (5, 2, 6) and spec.spectral_radius is None
    np.testing.assert_allclose(spec.jacobians[3:, 1], np.broadcast_to(np.eye(6), (2, 6, 6)))   # padded: identity
    # the reverse direction's last step is t = 0: nothing after it
    np.testing.assert_allclose(spec.to_end[0], 1.0)
    # the cell-to-cell block is diag(f)
    trace = hidden_trace(lstm, x, lengths=[5, 3])
    f = trace.gates["f"][0, 1, 1, 0]
    np.testing.assert_allclose(spec.jacobians[1, 0, 3:, 3:], np.diag(f), rtol=1e-12)
    with pytest.raises(ValueError, match="bound"):
        spec.bound()
    with pytest.raises(IndexError, match="direction"):
        jacobian_spectrum(lstm, x, direction=2)
