"""grad_norms_through_time: known answers, fused tap == unrolled graph, no side effects."""

import numpy as np
import pytest

import tinygrad_rnn as tr
from tinygrad_rnn.analysis import grad_norms_through_time


def linear_rnn(lam: float, H: int = 4, I: int = 2, device="cpu"):
    """A ReLU RNN whose pre-activations stay positive, so h_t = λ h_{t-1} + W x_t + b exactly."""
    rnn = tr.nn.RNN(I, H, nonlinearity="relu", dtype=tr.float64, device=device)
    with tr.no_grad():
        rnn.weight_hh_l0.copy_(tr.eye(H, dtype=tr.float64, device=device) * lam)
        rnn.weight_ih_l0.fill_(0.1)
        rnn.bias_ih_l0.fill_(1.0)
        rnn.bias_hh_l0.fill_(0.0)
    return rnn


@pytest.mark.parametrize("lam", [0.5, 0.9, 1.3])
@pytest.mark.parametrize("unroll", [False, True])
def test_linear_rnn_gradients_are_powers_of_lambda(lam, unroll, device):
    T, H = 12, 4
    rnn = linear_rnn(lam, H, device=device)
    x = tr.rand(T, 3, 2, dtype=tr.float64, device=device)
    v = tr.tensor(np.random.default_rng(0).standard_normal((3, H)), device=device)
    flow = grad_norms_through_time(rnn, x, lambda out: (out[0][-1] * v).sum(), unroll=unroll)
    # ∂L/∂h_T = v and ∂L/∂h_t = λ^(T-t) v: only the last output enters the loss
    expected = np.linalg.norm(v.numpy()) * lam ** np.arange(T - 1, -1, -1, dtype=np.float64)
    np.testing.assert_allclose(flow.h[0, 0], expected, rtol=1e-12)
    assert flow.c is None and flow.path == ("unrolled" if unroll else "fused")
    np.testing.assert_allclose(flow.ratio(), lam ** np.arange(T - 1, -1, -1, dtype=np.float64), rtol=1e-12)
    assert flow.first_step() == pytest.approx(expected[0], rel=1e-12)


@pytest.mark.parametrize("kind", ["lstm", "gru", "rnn"])
def test_fused_and_unrolled_agree(kind, device):
    tr.manual_seed(5)
    cls = {"lstm": tr.nn.LSTM, "gru": tr.nn.GRU, "rnn": tr.nn.RNN}[kind]
    layer = cls(3, 4, num_layers=2, bidirectional=True, dtype=tr.float64, device=device)
    x = tr.randn(6, 3, 3, dtype=tr.float64, device=device)
    w = tr.randn(6, 3, 8, dtype=tr.float64, device=device)
    lengths = [6, 2, 4]

    def loss_fn(output):
        out, state = output
        h_n = state[0] if kind == "lstm" else state
        return (out * w).sum() + (h_n ** 2).sum()

    fused = grad_norms_through_time(layer, x, loss_fn, lengths=lengths)
    unrolled = grad_norms_through_time(layer, x, loss_fn, lengths=lengths, unroll=True)
    assert fused.h.shape == (2, 2, 6)
    assert (fused.h > 0).all()
    np.testing.assert_allclose(fused.h, unrolled.h, rtol=1e-10)
    assert fused.loss == pytest.approx(unrolled.loss, rel=1e-12)
    if kind == "lstm":
        np.testing.assert_allclose(fused.c, unrolled.c, rtol=1e-10)
    assert all(p.grad is None for p in layer.parameters())        # .grad untouched


def test_padded_steps_count_as_zero(device):
    tr.manual_seed(6)
    gru = tr.nn.GRU(2, 3, dtype=tr.float64, device=device)
    x = tr.randn(5, 2, 2, dtype=tr.float64, device=device)
    for unroll in (False, True):
        flow = grad_norms_through_time(gru, x, lambda o: o[1].sum(), lengths=[3, 3], unroll=unroll)
        assert (flow.h[0, 0, 3:] == 0).all() and (flow.h[0, 0, :3] > 0).all()


def test_a_model_holding_one_layer(device):
    class Model(tr.nn.Module):
        def __init__(self):
            super().__init__()
            self.rnn = tr.nn.LSTM(2, 5)
            self.head = tr.nn.Linear(5, 1)

        def forward(self, x, unroll=False):
            return self.head(self.rnn(x, unroll=unroll)[0][-1])

    tr.manual_seed(7)
    model = Model().to(device)
    x, y = tr.tasks.adding_problem(15, 8, seed=0, device=device)
    flows = [grad_norms_through_time(model, x, lambda p: tr.nn.functional.mse_loss(p, y), unroll=u)
             for u in (False, True)]
    np.testing.assert_allclose(flows[0].h, flows[1].h, rtol=1e-4)
    np.testing.assert_allclose(flows[0].c, flows[1].c, rtol=1e-4)
    # gradients reach the early steps through the LSTM's cell state: ‖∂L/∂c_t‖ grows towards the end
    assert flows[0].c[0, 0, -1] > flows[0].c[0, 0, 0]


def test_bad_arguments(device):
    layer = tr.nn.RNN(2, 3, device=device)
    x = tr.randn(4, 2, 2, device=device)
    with pytest.raises(ValueError, match="scalar"):
        grad_norms_through_time(layer, x, lambda o: o[0])
    two = tr.nn.Sequential(tr.nn.GRU(2, 3), tr.nn.GRU(3, 3)).to(device)
    with pytest.raises(ValueError, match="exactly one"):
        grad_norms_through_time(two, x, lambda o: o.sum())
    with tr.no_grad(), pytest.raises(RuntimeError, match="grad"):
        grad_norms_through_time(layer, x, lambda o: o[0].sum())
