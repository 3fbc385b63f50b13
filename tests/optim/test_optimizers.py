"""Optimizers: ten steps against PyTorch (golden fixture and live), state_dicts, in-place updates, bad input."""

import functools
import types

import numpy as np
import pytest
from conftest import fixture_module, require

import tinygrad_rnn as tr

fx = fixture_module("make_optim_fixtures")

REF = np.load(fx.FIXTURE)
NAMES = list(fx.OPTIM_CASES)
OPTIMS = {"SGD": dict(momentum=0.9), "Adam": {}, "AdamW": {}, "Adagrad": {}, "RMSprop": dict(momentum=0.5),
          "NAdam": dict(weight_decay=0.01), "RAdam": {}, "Adamax": {}}


def _leaves(device="cpu", seed=0):
    rng = np.random.default_rng(seed)
    w = tr.tensor(rng.normal(size=(3, 4)), device=device, requires_grad=True)
    b = tr.tensor(rng.normal(size=(4,)), device=device, requires_grad=True)
    return w, b


def _loss(w, b, k):
    return ((w * (k + 1)).tanh().sum() + (w ** 2).sum() * 0.5 + (b - 0.1 * k).pow(2).sum())


def _on(device):
    """``tr`` as the fixture's runners use it, with every tensor made on ``device``."""
    if device == "cpu":
        return tr
    return types.SimpleNamespace(tensor=functools.partial(tr.tensor, device=device), optim=tr.optim)


def _train(opt, w, b, steps, start=0):
    for k in range(start, start + steps):
        opt.zero_grad()
        _loss(w, b, k).backward()
        opt.step()


# ----------------------------------------------------------------------------------------- vs PyTorch
@pytest.mark.parametrize("name", NAMES)
def test_ten_steps_match_fixture(name, device):
    w, b = fx.run_optim(_on(device), name, fx.optim_inputs())
    np.testing.assert_allclose(w, REF[f"optim/{name}/w"], rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(b, REF[f"optim/{name}/b"], rtol=1e-9, atol=1e-12)
    assert not np.allclose(w[-1], fx.optim_inputs()["w0"]), "the parameters must move"


# cpu_only: live torch on the host; the GPU counterpart is test_ten_steps_match_fixture[cuda-*] (same torch values)
@pytest.mark.cpu_only
@pytest.mark.parametrize("name", NAMES)
def test_ten_steps_match_live_torch(name):
    torch = require("torch")
    inputs = fx.optim_inputs()
    ours = fx.run_optim(tr, name, inputs)
    ref = fx.run_optim(torch, name, inputs)
    for a, r in zip(ours, ref):
        np.testing.assert_allclose(a, r, rtol=1e-9, atol=1e-12)


@pytest.mark.cpu_only   # reads the fixture's keys: no array op runs
def test_fixture_covers_every_case():
    assert {k.split("/")[1] for k in REF.files if k.startswith("optim/")} == set(NAMES), \
        "rerun tests/fixtures/make_optim_fixtures.py"


# cpu_only: live torch interop on the host; the GPU counterpart (state_dict save, load, resume on cuda) is
# test_state_dict_resume_is_bit_equal[cuda-*]
@pytest.mark.cpu_only
@pytest.mark.parametrize("cls_name", list(OPTIMS))
def test_state_dict_moves_both_ways_with_torch(cls_name):
    """Five steps here, state_dict into PyTorch, five more there == ten steps here (and the reverse)."""
    torch = require("torch")
    inputs = fx.optim_inputs()

    def make(m, w0, b0):
        w = m.tensor(w0.copy(), requires_grad=True)
        b = m.tensor(b0.copy(), requires_grad=True)
        return w, b, getattr(m.optim, cls_name)([w, b], lr=0.05, **OPTIMS[cls_name])

    def steps(m, w, b, opt, ks):
        for k in ks:
            opt.zero_grad()
            (m.tensor(inputs["aw"][k]) * w).sum().add((w ** 4).sum() * 0.25).add((b ** 2).sum()).backward()
            opt.step()

    def convert(sd, to):
        state = {k: {n: to(v) for n, v in s.items()} for k, s in sd["state"].items()}
        return {"state": state, "param_groups": [dict(g) for g in sd["param_groups"]]}

    w, b, opt = make(tr, inputs["w0"], inputs["b0"])
    steps(tr, w, b, opt, range(10))
    for first, second, to in [(tr, torch, lambda v: torch.tensor(v.numpy()) if isinstance(v, tr.Tensor) else v),
                              (torch, tr, lambda v: tr.tensor(v.numpy()) if isinstance(v, torch.Tensor) else v)]:
        w1, b1, opt1 = make(first, inputs["w0"], inputs["b0"])
        steps(first, w1, b1, opt1, range(5))
        w2, b2, opt2 = make(second, w1.detach().numpy(), b1.detach().numpy())
        opt2.load_state_dict(convert(opt1.state_dict(), to))
        steps(second, w2, b2, opt2, range(5, 10))
        # NAdam: loading casts the float32 scalar mu_product to the parameters' float64 (PyTorch does the
        # same), so the resumed run rounds it differently from the uninterrupted one
        rtol = 1e-9 if cls_name == "NAdam" else 1e-12
        np.testing.assert_allclose(w2.detach().numpy(), w.detach().numpy(), rtol=rtol, atol=1e-14)
        np.testing.assert_allclose(b2.detach().numpy(), b.detach().numpy(), rtol=rtol, atol=1e-14)
        if cls_name == "NAdam":
            assert opt2.state[w2]["mu_product"].dtype == (torch.float64 if second is torch else tr.float64)


# ----------------------------------------------------------------------------------------- state_dict
@pytest.mark.parametrize("cls_name", list(OPTIMS))
def test_state_dict_resume_is_bit_equal(cls_name, tmp_path, device, monkeypatch):
    cls = getattr(tr.optim, cls_name)
    if cls_name == "NAdam":   # its scalar mu_product follows the default dtype; loading casts it to the params'
        monkeypatch.setattr(tr.dtypes, "_default_float", tr.float64)
    w, b = _leaves(device)
    opt = cls([w, b], lr=0.01, **OPTIMS[cls_name])
    _train(opt, w, b, 10)

    w2, b2 = _leaves(device)
    opt2 = cls([w2, b2], lr=0.01, **OPTIMS[cls_name])
    _train(opt2, w2, b2, 5)
    tr.save({"optim": opt2.state_dict(), "w": w2, "b": b2}, tmp_path / "ckpt.npz")
    ck = tr.load(tmp_path / "ckpt.npz")
    w3, b3 = ck["w"].detach().requires_grad_(), ck["b"].detach().requires_grad_()
    opt3 = cls([w3, b3], lr=0.5)          # options come from the state_dict
    opt3.load_state_dict(ck["optim"])
    assert opt3.param_groups[0]["lr"] == 0.01
    assert w3.device == device and all(v.device == device for k, v in opt3.state[w3].items() if k != "step")
    _train(opt3, w3, b3, 5, start=5)
    assert np.array_equal(w3.detach().numpy(), w.detach().numpy())
    assert np.array_equal(b3.detach().numpy(), b.detach().numpy())


def test_state_dict_format_is_pytorchs(device):
    w, b = _leaves(device)
    opt = tr.optim.Adam([{"params": [w]}, {"params": [b], "lr": 0.1}], lr=0.01, amsgrad=True)
    _train(opt, w, b, 3)
    sd = opt.state_dict()
    assert set(sd) == {"state", "param_groups"}
    assert sorted(sd["state"]) == [0, 1]
    assert set(sd["state"][0]) == {"step", "exp_avg", "exp_avg_sq", "max_exp_avg_sq"}
    step = sd["state"][0]["step"]
    assert isinstance(step, tr.Tensor) and step.dtype == tr.float32 and step.item() == 3.0
    assert sd["param_groups"][0]["params"] == [0] and sd["param_groups"][1]["params"] == [1]
    assert sd["param_groups"][1]["lr"] == 0.1 and sd["param_groups"][0]["betas"] == (0.9, 0.999)


def test_load_state_dict_rejects_mismatch_before_changing_anything(device):
    w, b = _leaves(device)
    opt = tr.optim.SGD([w, b], lr=0.1, momentum=0.9)
    _train(opt, w, b, 2)
    before = opt.state_dict()["param_groups"]
    other = tr.optim.SGD([w], lr=0.3)
    with pytest.raises(ValueError, match="doesn't match the size"):
        opt.load_state_dict(other.state_dict())
    two = tr.optim.SGD([{"params": [w]}, {"params": [b]}], lr=0.3)
    with pytest.raises(ValueError, match="different number of parameter groups"):
        opt.load_state_dict(two.state_dict())
    with pytest.raises(ValueError, match="'state' and 'param_groups'"):
        opt.load_state_dict({"param_groups": []})
    assert opt.state_dict()["param_groups"] == before


def test_loaded_state_is_copied_and_cast_to_the_parameter(device):
    w, b = _leaves(device)
    opt = tr.optim.Adam([w, b])
    _train(opt, w, b, 1)
    sd = opt.state_dict()
    sd["state"][0]["exp_avg"] = sd["state"][0]["exp_avg"].float()
    w2, b2 = _leaves(device)
    opt2 = tr.optim.Adam([w2, b2])
    opt2.load_state_dict(sd)
    assert opt2.state[w2]["exp_avg"].dtype == tr.float64 and opt2.state[w2]["exp_avg"].device == device
    assert opt2.state[w2]["exp_avg_sq"] is not opt.state[w]["exp_avg_sq"]


# ----------------------------------------------------------------------------------------- behaviour
@pytest.mark.parametrize("cls_name", list(OPTIMS))
def test_updates_in_place_through_the_version_counter(cls_name, device):
    w, b = _leaves(device)
    opt = getattr(tr.optim, cls_name)([w, b], lr=0.1)
    data_before, version_before = w._data, w._version.value
    y = (w * w).sum()                         # saves w for backward
    y.backward(retain_graph=True)
    opt.step()
    assert w._data is data_before and w._version.value > version_before
    assert w.is_leaf and w.requires_grad
    with pytest.raises(RuntimeError):
        y.backward()                          # w changed since it was saved


@pytest.mark.parametrize("cls_name", list(OPTIMS))
def test_state_lives_on_the_parameters_device(cls_name, device):
    w, b = _leaves(device)
    opt = getattr(tr.optim, cls_name)([w, b], lr=0.05, **OPTIMS[cls_name])
    _train(opt, w, b, 3)
    for p in (w, b):
        for name, value in opt.state[p].items():
            if name in ("step", "mu_product"):
                assert value.device == "cpu"      # as PyTorch: the step count (NAdam: mu_product) is a CPU scalar
            else:
                assert value.device == device, f"{name} on {value.device}"
    if device == "cuda":
        wc, bc = _leaves("cpu")
        optc = getattr(tr.optim, cls_name)([wc, bc], lr=0.05, **OPTIMS[cls_name])
        _train(optc, wc, bc, 3)
        np.testing.assert_allclose(w.detach().numpy(), wc.detach().numpy(), rtol=1e-10, atol=1e-12)


def test_zero_grad_to_none_and_to_zeros(device):
    w, b = _leaves(device)
    opt = tr.optim.SGD([w, b], lr=0.1)
    _loss(w, b, 0).backward()
    g = w.grad
    opt.zero_grad(set_to_none=False)
    assert w.grad is g and np.all(g.numpy() == 0)
    opt.zero_grad()
    assert w.grad is None and b.grad is None


def test_step_closure_runs_with_grad_and_returns_the_loss(device):
    w, b = _leaves(device)
    opt = tr.optim.SGD([w, b], lr=0.1)

    def closure():
        opt.zero_grad()
        loss = _loss(w, b, 0)
        loss.backward()
        return loss

    with tr.no_grad():
        loss = opt.step(closure)
    assert isinstance(loss, tr.Tensor) and np.isfinite(loss.item())
    assert opt.step() is None


def test_parameters_without_gradient_are_skipped(device):
    w, b = _leaves(device)
    opt = tr.optim.Adam([w, b], lr=0.1)
    (w * w).sum().backward()
    b_before = b.detach().numpy().copy()
    opt.step()
    assert np.array_equal(b.detach().numpy(), b_before)
    assert b not in opt.state and w in opt.state
    assert tr.optim.SGD([w], lr=0.1).state_dict()["state"] == {}


def test_param_groups_options_and_add_param_group(device):
    w, b = _leaves(device)
    opt = tr.optim.SGD([w], lr=0.1, momentum=0.9)
    opt.add_param_group({"params": b, "lr": 0.01})
    assert opt.param_groups[1]["momentum"] == 0.9 and opt.param_groups[1]["lr"] == 0.01
    with pytest.raises(ValueError, match="more than one parameter group"):
        opt.add_param_group({"params": [w]})
    with pytest.raises(ValueError, match="lr=-1"):
        opt.add_param_group({"params": [tr.zeros(2, requires_grad=True, device=device)], "lr": -1})
    assert len(opt.param_groups) == 2
    opt.param_groups[0]["lr"] = 0.0        # a changed lr is used by the next step
    (w.sum() + b.sum()).backward()
    w0 = w.detach().numpy().copy()
    opt.step()
    assert np.array_equal(w.detach().numpy(), w0)


def test_adagrad_makes_state_at_construction(device):
    w, b = _leaves(device)
    opt = tr.optim.Adagrad([w, b], initial_accumulator_value=0.5)
    assert np.all(opt.state[w]["sum"].numpy() == 0.5) and opt.state[b]["step"].item() == 0
    assert opt.state[w]["sum"].device == device


def test_module_parameters(device):
    lin = tr.nn.Linear(3, 2, dtype=tr.float64).to(device)
    opt = tr.optim.AdamW(lin.parameters(), lr=0.1)
    before = lin.weight.detach().numpy().copy()
    lin(tr.ones(4, 3, dtype=tr.float64, device=device)).sum().backward()
    opt.step()
    assert isinstance(lin.weight, tr.nn.Parameter) and not np.array_equal(lin.weight.detach().numpy(), before)
    assert sorted(opt.state_dict()["state"]) == [0, 1]


# ----------------------------------------------------------------------------------------- bad input
@pytest.mark.cpu_only   # argument validation: raises before any array is touched
def test_empty_parameter_list():
    for cls_name in OPTIMS:
        with pytest.raises(ValueError, match="optimizer got an empty parameter list"):
            getattr(tr.optim, cls_name)([])


@pytest.mark.cpu_only   # option validation: raises before any array is touched
@pytest.mark.parametrize("cls_name,kwargs,match", [
    ("SGD", dict(lr=-0.1), "lr=-0.1"),
    ("SGD", dict(momentum=-0.5), "momentum=-0.5"),
    ("SGD", dict(weight_decay=-1e-3), "weight_decay=-0.001"),
    ("SGD", dict(nesterov=True), "Nesterov momentum requires"),
    ("SGD", dict(momentum=0.9, dampening=0.1, nesterov=True), "dampening=0.1"),
    ("Adam", dict(lr=-1.0), "lr=-1.0"),
    ("Adam", dict(eps=-1e-8), "eps=-1e-08"),
    ("Adam", dict(betas=(1.0, 0.999)), r"betas\[0\]=1.0"),
    ("Adam", dict(betas=(0.9, -0.1)), r"betas\[1\]=-0.1"),
    ("Adam", dict(betas=(0.9,)), "pair"),
    ("AdamW", dict(weight_decay=-0.01), "weight_decay=-0.01"),
    ("Adagrad", dict(lr_decay=-1), "lr_decay=-1"),
    ("Adagrad", dict(initial_accumulator_value=-1), "initial_accumulator_value=-1"),
    ("RMSprop", dict(alpha=-0.1), "alpha=-0.1"),
    ("RMSprop", dict(lr=float("nan")), "lr=nan"),
    ("NAdam", dict(momentum_decay=-1e-3), "momentum_decay=-0.001"),
    ("NAdam", dict(betas=(0.9, 1.0)), r"betas\[1\]=1.0"),
    ("RAdam", dict(eps=-1.0), "eps=-1.0"),
    ("RAdam", dict(weight_decay=-0.1), "weight_decay=-0.1"),
    ("Adamax", dict(betas=(-0.1, 0.9)), r"betas\[0\]=-0.1"),
    ("Adamax", dict(lr=-2e-3), "lr=-0.002"),
])
def test_bad_options_name_the_argument(cls_name, kwargs, match):
    with pytest.raises(ValueError, match=match):
        getattr(tr.optim, cls_name)([tr.zeros(2, requires_grad=True)], **kwargs)


def test_bad_params(device):
    w = tr.zeros(2, requires_grad=True, device=device)
    with pytest.raises(TypeError, match="can only optimize Tensors"):
        tr.optim.SGD([w, np.zeros(2)], lr=0.1)
    with pytest.raises(TypeError, match="iterable of Tensors"):
        tr.optim.SGD(w, lr=0.1)
    with pytest.raises(TypeError, match="ordered collections"):
        tr.optim.SGD({w}, lr=0.1)
    with pytest.raises(ValueError, match="non-leaf"):
        tr.optim.SGD([w * 2], lr=0.1)
    with pytest.raises(TypeError, match="lr: expected a number"):
        tr.optim.Adam([w], lr="0.1")
