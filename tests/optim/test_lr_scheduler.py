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


# ----------------------------------------------------------------------------------------- the newer schedules
def _fractional_restarts(m):
    """CosineAnnealingWarmRestarts stepped per batch with ``step(epoch + i / iters)``, as its docs show."""
    w = m.zeros(2, requires_grad=True)
    opt = m.optim.SGD([w], lr=0.5)
    sched = m.optim.lr_scheduler.CosineAnnealingWarmRestarts(opt, T_0=2, T_mult=2, eta_min=0.05)
    lrs = []
    for epoch in range(7):
        for i in range(3):
            opt.step()
            sched.step(epoch + i / 3)
            lrs.append(sched.get_last_lr()[0])
    sched.step(30)          # a jump far ahead
    return lrs + [sched.get_last_lr()[0], sched.T_i, sched.T_cur, sched.last_epoch]


def _cyclic_adam_betas(m):
    """CyclicLR and OneCycleLR on Adam cycle beta1 (``betas[0]``), keeping beta2."""
    w = m.zeros(2, requires_grad=True)
    out = []
    for make in (lambda opt: m.optim.lr_scheduler.CyclicLR(opt, 0.01, 0.1, step_size_up=2, base_momentum=0.8,
                                                           max_momentum=0.95),
                 lambda opt: m.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.3, total_steps=10, pct_start=0.4)):
        opt = m.optim.Adam([w], lr=0.001, betas=(0.9, 0.99))
        sched = make(opt)
        for _ in range(10):
            opt.step()
            sched.step()
            out.append([sched.get_last_lr()[0], *opt.param_groups[0]["betas"]])
    return out


@pytest.mark.cpu_only   # live torch reference; the lr values are Python floats on the host (device-independent)
@pytest.mark.parametrize("run", [_fractional_restarts, _cyclic_adam_betas])
def test_schedules_match_live_torch(run):
    torch = require("torch")
    np.testing.assert_allclose(np.array(run(tr), dtype=float), np.array(run(torch), dtype=float), rtol=1e-12, atol=0)


def test_sequential_lr_hands_over_at_the_milestones(device):
    opt = _opt(device)
    lr_sched = tr.optim.lr_scheduler
    warmup = lr_sched.LinearLR(opt, start_factor=0.5, total_iters=2)
    decay = lr_sched.ExponentialLR(opt, gamma=0.5)
    sched = lr_sched.SequentialLR(opt, [warmup, decay], milestones=[3])
    seq = [sched.get_last_lr()[0]]
    for _ in range(5):
        opt.step()
        sched.step()
        seq.append(sched.get_last_lr()[0])
    np.testing.assert_allclose(seq, [0.05, 0.075, 0.1, 0.1, 0.05, 0.025], rtol=1e-12)


def test_onecycle_refuses_to_step_past_total_steps(device):
    opt = _opt(device)
    sched = tr.optim.lr_scheduler.OneCycleLR(opt, max_lr=1.0, total_steps=3)
    for _ in range(3):
        sched.step()
    before = [g["lr"] for g in opt.param_groups]
    with pytest.raises(ValueError, match="Tried to step 4 times. The specified number of total steps is 3"):
        sched.step()
    assert [g["lr"] for g in opt.param_groups] == before


@pytest.mark.cpu_only   # argument validation: raises before any array is touched
def test_bad_input_newer_schedules():
    opt = _opt()
    lr_sched = tr.optim.lr_scheduler
    with pytest.raises(ValueError, match="Starting multiplicative factor"):
        lr_sched.LinearLR(opt, start_factor=0)
    with pytest.raises(ValueError, match="Ending multiplicative factor"):
        lr_sched.LinearLR(opt, end_factor=1.5)
    with pytest.raises(ValueError, match="between 0 and 1"):
        lr_sched.ConstantLR(opt, factor=2.0)
    with pytest.raises(ValueError, match="total_iters"):
        lr_sched.PolynomialLR(opt, total_iters=0)
    with pytest.raises(ValueError, match="T_0"):
        lr_sched.CosineAnnealingWarmRestarts(opt, T_0=0)
    with pytest.raises(ValueError, match="T_mult"):
        lr_sched.CosineAnnealingWarmRestarts(opt, T_0=2, T_mult=1.5)
    with pytest.raises(ValueError, match="mode is invalid"):
        lr_sched.CyclicLR(opt, 0.01, 0.1, mode="sawtooth")
    with pytest.raises(ValueError, match="max_lr must have the same length"):
        lr_sched.CyclicLR(opt, 0.01, [0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match="total_steps OR"):
        lr_sched.OneCycleLR(opt, max_lr=0.1)
    with pytest.raises(ValueError, match="pct_start"):
        lr_sched.OneCycleLR(opt, max_lr=0.1, total_steps=10, pct_start=1.5)
    with pytest.raises(ValueError, match="anneal_strategy"):
        lr_sched.OneCycleLR(opt, max_lr=0.1, total_steps=10, anneal_strategy="exp")
    rms = tr.optim.Adagrad([tr.zeros(2, requires_grad=True)])
    with pytest.raises(ValueError, match="momentum or beta1"):
        lr_sched.OneCycleLR(rms, max_lr=0.1, total_steps=10)
    assert "initial_lr" not in rms.param_groups[0] and "max_lr" not in rms.param_groups[0]
    step = lr_sched.StepLR(opt, step_size=2)
    with pytest.raises(ValueError, match="one more than the number of milestone"):
        lr_sched.SequentialLR(opt, [step], milestones=[3])
    with pytest.raises(ValueError, match="ReduceLROnPlateau"):
        lr_sched.SequentialLR(opt, [step, lr_sched.ReduceLROnPlateau(opt)], milestones=[3])
    with pytest.raises(ValueError, match="same optimizer"):
        lr_sched.ChainedScheduler([step, lr_sched.StepLR(_opt(), step_size=2)])
    with pytest.raises(ValueError, match="at least one scheduler"):
        lr_sched.ChainedScheduler([])


def _strip(sd):
    """A scheduler state_dict without PyTorch's internal ``_get_lr_called_within_step`` flag (nested too)."""
    out = {k: v for k, v in sd.items() if k != "_get_lr_called_within_step"}
    if "_schedulers" in out:
        out["_schedulers"] = [_strip(s) for s in out["_schedulers"]]
    return out


@pytest.mark.cpu_only   # live torch reference; scheduler state is plain Python values
@pytest.mark.parametrize("name", [n for n in NAMES if fx.SCHED_CASES[n][0] != "LambdaLR"])
def test_state_dict_equals_torchs(name):
    """Same keys and values as PyTorch's state_dict after a few epochs, so one loads into the other."""
    torch = require("torch")
    sds = {}
    for m in (tr, torch):
        w = m.zeros(2, requires_grad=True)
        b = m.zeros(2, requires_grad=True)
        opt = m.optim.SGD([{"params": [w], "lr": fx.GROUP_LRS[0]}, {"params": [b], "lr": fx.GROUP_LRS[1]}])
        sched = fx.make_scheduler(m, name, opt)
        for _ in range(6):
            opt.step()
            if fx.SCHED_CASES[name][0] == "ReduceLROnPlateau":
                sched.step(0.5)
            else:
                sched.step()
        sds[m.__name__] = _strip(sched.state_dict())
    assert sds["tinygrad_rnn"] == sds["torch"]
