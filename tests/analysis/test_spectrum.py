"""jacobian_spectrum: the step Jacobians against finite differences, products, and W_hh's spectrum."""

import numpy as np
import pytest

import tinygrad_rnn as tr
from tinygrad_rnn.analysis import hidden_trace, jacobian_spectrum, step_jacobians
from tinygrad_rnn.analysis._layer import weights


@pytest.mark.parametrize("kind", ["lstm", "gru", "rnn_tanh", "rnn_relu"])
def test_analytic_step_jacobians_equal_the_autograd_ones(kind, device):
    """jacobian_spectrum takes J_t through autograd on the cell; the written-out Jacobians of the built-in
    kinds (step_jacobians) give the same matrices, on both directions of a 2-layer layer with lengths."""
    tr.manual_seed(0)
    cls = {"lstm": tr.nn.LSTM, "gru": tr.nn.GRU}.get(kind, tr.nn.RNN)
    kw = {"nonlinearity": kind[4:]} if kind.startswith("rnn") else {}
    layer = cls(2, 4, num_layers=2, bidirectional=True, dtype=tr.float64, device=device, **kw)
    x = tr.randn(5, 3, 2, dtype=tr.float64, device=device)
    lengths = [5, 2, 4]
    trace = hidden_trace(layer, x, lengths=lengths)
    for k, d in ((0, 0), (1, 1)):
        spec = jacobian_spectrum(layer, x, lengths=lengths, layer_index=k, direction=d)
        w = weights(layer, k, d)
        order = range(5) if d == 0 else range(4, -1, -1)
        prev = None
        for t in order:
            h_prev = np.zeros((3, 4)) if prev is None else trace.h[k, d, prev]
            c_prev = None if trace.c is None else np.zeros((3, 4)) if prev is None else trace.c[k, d, prev]
            gates = {g: a[k, d, t] for g, a in trace.gates.items()}
            J = step_jacobians(kind, w, h_prev, trace.h[k, d, t], c_prev,
                               None if trace.c is None else trace.c[k, d, t], gates)
            valid = t < np.array(lengths)
            np.testing.assert_allclose(spec.jacobians[t][valid], J[valid], rtol=0, atol=1e-12)
            prev = t


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
