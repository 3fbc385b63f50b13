"""Resume: model, optimizer, scheduler and RNG state in one tr.save checkpoint continue bit-for-bit.

Ten steps, checkpoint, reload into fresh objects, ten more == twenty uninterrupted steps. The loop
draws its batch and a dropout mask from the default generator, so a resume that lost the RNG state
would take another trajectory.
"""

import numpy as np
import pytest

import tinygrad_rnn as tr


class TinyNet(tr.nn.Module):
    def __init__(self):
        super().__init__()
        self.hidden = tr.nn.Linear(3, 8, dtype=tr.float64)
        self.out = tr.nn.Linear(8, 1, dtype=tr.float64)

    def forward(self, x):
        h = tr.dropout(self.hidden(x).tanh(), p=0.3, training=self.training)
        return self.out(h)


def _setup(kind, seed, device="cpu"):
    tr.manual_seed(seed)
    model = TinyNet().to(device)
    if kind == "adam":
        opt = tr.optim.Adam(model.parameters(), lr=0.01, weight_decay=1e-3, amsgrad=True)
        sched = tr.optim.lr_scheduler.StepLR(opt, step_size=4, gamma=0.5)
    else:
        opt = tr.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, nesterov=True)
        sched = tr.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=7, eta_min=1e-3)
    return model, opt, sched


def _train(model, opt, sched, steps, device="cpu"):
    losses = []
    for _ in range(steps):
        x = tr.randn(16, 3, dtype=tr.float64, device=device)
        y = (x[:, :1] * 2 - x[:, 1:2]).tanh()
        opt.zero_grad()
        loss = ((model(x) - y) ** 2).mean()
        loss.backward()
        tr.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        losses.append(loss.item())
    return losses


def _params(model):
    return {k: v.numpy().copy() for k, v in model.state_dict().items()}


@pytest.mark.parametrize("kind", ["adam", "sgd"])
def test_resume_is_bit_equal_to_uninterrupted_training(kind, tmp_path, device):
    model, opt, sched = _setup(kind, seed=1, device=device)
    full_losses = _train(model, opt, sched, 20, device)
    expected = _params(model)
    expected_lr = opt.param_groups[0]["lr"]
    expected_state = {k: v.numpy().copy() for k, v in opt.state_dict()["state"][0].items()}

    model, opt, sched = _setup(kind, seed=1, device=device)
    first = _train(model, opt, sched, 10, device)
    tr.save({"model": model.state_dict(), "optim": opt.state_dict(), "sched": sched.state_dict(),
             "rng": tr.get_rng_state(), "epoch": 10}, tmp_path / "ckpt.npz")
    _train(model, opt, sched, 3, device)     # the live objects move on; the checkpoint must not

    model2, opt2, sched2 = _setup(kind, seed=99, device=device)   # fresh objects, other weights and RNG position
    ckpt = tr.load(tmp_path / "ckpt.npz")
    model2.load_state_dict(ckpt["model"])
    opt2.load_state_dict(ckpt["optim"])
    sched2.load_state_dict(ckpt["sched"])
    tr.set_rng_state(ckpt["rng"])
    assert ckpt["epoch"] == 10 and sched2.last_epoch == 10
    assert all(p.device == device for p in model2.parameters())
    rest = _train(model2, opt2, sched2, 10, device)

    assert first + rest == full_losses
    got = _params(model2)
    for k in expected:
        assert np.array_equal(got[k], expected[k]), k
    assert opt2.param_groups[0]["lr"] == expected_lr
    for k, v in opt2.state_dict()["state"][0].items():
        assert np.array_equal(v.numpy(), expected_state[k]), k


def test_without_the_rng_state_the_trajectory_differs(tmp_path, device):
    model, opt, sched = _setup("adam", seed=1, device=device)
    full_losses = _train(model, opt, sched, 20, device)
    model, opt, sched = _setup("adam", seed=1, device=device)
    first = _train(model, opt, sched, 10, device)
    tr.save({"model": model.state_dict(), "optim": opt.state_dict(), "sched": sched.state_dict()},
            tmp_path / "ckpt.npz")
    model2, opt2, sched2 = _setup("adam", seed=99, device=device)
    ckpt = tr.load(tmp_path / "ckpt.npz")
    model2.load_state_dict(ckpt["model"])
    opt2.load_state_dict(ckpt["optim"])
    sched2.load_state_dict(ckpt["sched"])
    assert first + _train(model2, opt2, sched2, 10, device) != full_losses
