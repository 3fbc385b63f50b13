"""Learning-rate schedulers: lr sequences equal PyTorch's (fixture and live), state_dicts, bad input."""

import functools
import types

import numpy as np
import pytest
from conftest import fixture_module, require

import tinygrad_rnn as tr

fx = fixture_module("make_optim_fixtures")

REF = np.load(fx.FIXTURE)
NAMES = list(fx.SCHED_CASES)


def _on(device):
    """``tr`` as the fixture's runners use it, with the parameters made on ``device``."""
    if device == "cpu":
        return tr
    return types.SimpleNamespace(zeros=functools.partial(tr.zeros, device=device), optim=tr.optim)


def _opt(device="cpu"):
    w, b = tr.zeros(2, requires_grad=True, device=device), tr.zeros(2, requires_grad=True, device=device)
    return tr.optim.SGD([{"params": [w], "lr": fx.GROUP_LRS[0]}, {"params": [b], "lr": fx.GROUP_LRS[1]}])


def _advance(sched, opt, epochs, start=0):
    metrics = fx.plateau_metrics()
    out = []
    for epoch in range(start, start + epochs):
        opt.step()
        if isinstance(sched, tr.optim.lr_scheduler.ReduceLROnPlateau):
            sched.step(float(metrics[epoch] if sched.mode == "min" else -metrics[epoch]))
        else:
            sched.step()
        out.append(list(sched.get_last_lr()))
    return out


@pytest.mark.parametrize("name", NAMES)
def test_lr_sequence_matches_fixture(name, device):
    lrs = fx.run_scheduler(_on(device), name)
    ref = REF[f"sched/{name}"]
    np.testing.assert_allclose(lrs, ref, rtol=1e-12, atol=0)
    assert len(np.unique(ref[:, 0])) > 1, "the schedule must change the lr"


# cpu_only: live torch on the host; the GPU counterpart is test_lr_sequence_matches_fixture[cuda-*]
@pytest.mark.cpu_only
@pytest.mark.parametrize("name", NAMES)
def test_lr_sequence_matches_live_torch(name):
    torch = require("torch")
    np.testing.assert_allclose(fx.run_scheduler(tr, name), fx.run_scheduler(torch, name), rtol=1e-12, atol=0)


@pytest.mark.parametrize("name", NAMES)
def test_state_dict_resume_continues_the_schedule(name, tmp_path, device):
    opt = _opt(device)
    sched = fx.make_scheduler(tr, name, opt)
    full = _advance(sched, opt, fx.EPOCHS)

    opt1 = _opt(device)
    sched1 = fx.make_scheduler(tr, name, opt1)
    _advance(sched1, opt1, 9)
    tr.save({"optim": opt1.state_dict(), "sched": sched1.state_dict()}, tmp_path / "s.npz")
    ck = tr.load(tmp_path / "s.npz")
    opt2 = _opt(device)
    sched2 = fx.make_scheduler(tr, name, opt2)     # PyTorch's order: build both, then load both (building a
    opt2.load_state_dict(ck["optim"])              # LinearLR or OneCycleLR rewrites the lr it finds)
    sched2.load_state_dict(ck["sched"])
    assert getattr(sched2, "last_epoch", None) == 9 or sched2._schedulers[0].last_epoch == 9   # Chained: none
    rest = _advance(sched2, opt2, fx.EPOCHS - 9, start=9)
    assert rest == full[9:]


def test_first_step_and_get_last_lr(device):
    opt = _opt(device)
    sched = tr.optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)
    assert sched.last_epoch == 0 and sched.get_last_lr() == [0.1, 0.5]
    assert [g["initial_lr"] for g in opt.param_groups] == [0.1, 0.5]
    sched.step()
    sched.step()
    assert sched.last_epoch == 2 and sched.get_last_lr() == [0.05, 0.25]
    assert [g["lr"] for g in opt.param_groups] == [0.05, 0.25]


@pytest.mark.cpu_only   # live torch reference; the lr values are Python floats on the host (device-independent)
def test_chained_schedulers_compose():
    torch = require("torch")
    lrs = {}
    for m in (tr, torch):
        w = m.zeros(2, requires_grad=True)
        opt = m.optim.SGD([w], lr=1.0)
        a = m.optim.lr_scheduler.ExponentialLR(opt, gamma=0.9)
        b = m.optim.lr_scheduler.StepLR(opt, step_size=3, gamma=0.1)
        seq = []
        for _ in range(8):
            opt.step()
            a.step()
            b.step()
            seq.append(opt.param_groups[0]["lr"])
        lrs[m.__name__] = seq
    np.testing.assert_allclose(lrs["tinygrad_rnn"], lrs["torch"], rtol=1e-12)


def test_lambda_state_dict_stores_no_functions_but_object_state(device):
    class Warmup:
        def __init__(self):
            self.n = 4

        def __call__(self, epoch):
            return min(1.0, (epoch + 1) / self.n)

    opt = _opt(device)
    sched = tr.optim.lr_scheduler.LambdaLR(opt, [fx.decay_lambda, Warmup()])
    sd = sched.state_dict()
    assert sd["lr_lambdas"] == [None, {"n": 4}] and "optimizer" not in sd
    sd["lr_lambdas"][1] = {"n": 10}
    sched.load_state_dict(sd)
    assert sched.lr_lambdas[1].n == 10 and sched.lr_lambdas[0] is fx.decay_lambda


@pytest.mark.cpu_only   # argument validation: raises before any array is touched
def test_bad_input():
    opt = _opt()
    lr_sched = tr.optim.lr_scheduler
    with pytest.raises(TypeError, match="is not an Optimizer"):
        lr_sched.StepLR(object(), step_size=1)
    with pytest.raises(ValueError, match="step_size"):
        lr_sched.StepLR(opt, step_size=0)
    with pytest.raises(ValueError, match="Expected 2 lr_lambdas, but got 1"):
        lr_sched.LambdaLR(opt, [fx.decay_lambda])
    with pytest.raises(ValueError, match="Factor should be < 1.0"):
        lr_sched.ReduceLROnPlateau(opt, factor=1.5)
    with pytest.raises(ValueError, match="mode"):
        lr_sched.ReduceLROnPlateau(opt, mode="up")
    with pytest.raises(ValueError, match="T_max"):
        lr_sched.CosineAnnealingLR(opt, T_max=0)
    with pytest.raises(KeyError, match="initial_lr"):
        lr_sched.ExponentialLR(_opt(), gamma=0.9, last_epoch=3)
