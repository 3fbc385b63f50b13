"""Gradient clipping against PyTorch (fixture and live), bit-identity below the threshold, edge cases."""

import math

import numpy as np
import pytest
from conftest import fixture_module, require

import tinygrad_rnn as tr
from tinygrad_rnn.nn.utils import clip_grad_norm_, clip_grad_value_

fx = fixture_module("make_optim_fixtures")

REF = np.load(fx.FIXTURE)
NAMES = list(fx.CLIP_CASES)
TOL = {"float64": dict(rtol=1e-12, atol=0), "float32": dict(rtol=2e-6, atol=0)}


def _tol(dtype: str, device: str) -> dict:
    """The cpu tolerance, or the GPU one (float64 rtol 1e-10, float32 rtol 1e-5) where that is looser."""
    if device == "cpu":
        return TOL[dtype]
    return {"rtol": max(TOL[dtype]["rtol"], 1e-10 if dtype == "float64" else 1e-5), "atol": 0}


def _run_clip(name: str, grads: list[np.ndarray], device: str) -> list[np.ndarray]:
    """``fx.run_clip`` (``[total_norm, *clipped grads]``) with the leaves and gradients on ``device``."""
    max_norm, norm_type = fx.CLIP_CASES[name]
    params = _params(grads, device)
    total = clip_grad_norm_(params, max_norm, norm_type=norm_type)
    assert total.device == device and all(p.grad.device == device for p in params)
    return [np.asarray(total.detach().numpy())] + [p.grad.numpy().copy() for p in params]


def _params(grads, device="cpu"):
    params = []
    for g in grads:
        p = tr.zeros(*g.shape, dtype=g.dtype, device=device, requires_grad=True)
        p.grad = tr.tensor(g.copy(), device=device)
        params.append(p)
    return params


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("name", NAMES)
def test_matches_fixture(name, dtype, device):
    out = fx.run_clip(tr, name, fx.clip_inputs(dtype)) if device == "cpu" else \
        _run_clip(name, fx.clip_inputs(dtype), device)
    for i, arr in enumerate(out):
        ref = REF[f"clip/{dtype}/{name}/{i}"]
        assert arr.dtype == ref.dtype
        np.testing.assert_allclose(arr, ref, **_tol(dtype, device))


# host-side re-check of the stored fixture against torch; test_matches_fixture[cuda] checks the GPU
@pytest.mark.cpu_only
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("name", NAMES)
def test_matches_live_torch(name, dtype):
    torch = require("torch")
    grads = fx.clip_inputs(dtype)
    for a, r in zip(fx.run_clip(tr, name, grads), fx.run_clip(torch, name, grads)):
        np.testing.assert_allclose(a, r, **TOL[dtype])


@pytest.mark.parametrize("norm_type", [2.0, 1.0, math.inf, 3.0])
def test_below_threshold_gradients_stay_bit_identical(norm_type, device):
    grads = fx.clip_inputs("float32")
    params = _params(grads, device)
    grad_objects = [p.grad for p in params]
    total = clip_grad_norm_(params, max_norm=1e4, norm_type=norm_type)
    assert total.item() < 1e4
    for p, g, obj in zip(params, grads, grad_objects):
        assert p.grad is obj and np.array_equal(p.grad.numpy(), g)


def test_clipped_norm_is_max_norm_and_gradients_keep_their_objects(device):
    params = _params(fx.clip_inputs("float64"), device)
    grad_objects = [p.grad for p in params]
    total = clip_grad_norm_(params, 0.5)
    assert total.ndim == 0 and total.item() > 0.5
    new = math.sqrt(sum(float((p.grad.numpy() ** 2).sum()) for p in params))
    assert abs(new - 0.5) < 1e-6 and all(p.grad is g for p, g in zip(params, grad_objects))


def test_inf_norm_is_the_largest_absolute_value(device):
    grads = fx.clip_inputs("float64")
    params = _params(grads, device)
    total = clip_grad_norm_(params, 0.25, norm_type="inf")
    assert total.item() == max(np.abs(g).max() for g in grads)
    assert max(np.abs(p.grad.numpy()).max() for p in params) == pytest.approx(0.25, rel=1e-5)


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_nonfinite_norm_with_flag_raises_naming_the_parameters(bad, device):
    grads = fx.clip_inputs("float64")
    grads[1][2] = bad
    params = _params(grads, device)
    params[1]._name = "encoder.bias"
    before = [p.grad.numpy().copy() for p in params]
    with pytest.raises(RuntimeError, match=r"non-finite.*'encoder.bias'") as info:
        clip_grad_norm_(params, 1.0, error_if_nonfinite=True)
    assert "parameters[0]" not in str(info.value)
    for p, g in zip(params, before):      # nothing was scaled
        np.testing.assert_array_equal(p.grad.numpy(), g)
    params[1]._name = None
    with pytest.raises(RuntimeError, match=r"parameters\[1\]"):
        clip_grad_norm_(params, 1.0, error_if_nonfinite=True)


@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")   # inf * 0, as in torch
def test_nonfinite_norm_without_flag_propagates_as_torch(device):
    torch = require("torch")
    for bad in (float("nan"), float("inf")):
        grads = fx.clip_inputs("float64")
        grads[0][0, 0] = bad
        ours = _params(grads, device)
        theirs = []
        for g in grads:
            p = torch.zeros(*g.shape, dtype=torch.float64, requires_grad=True)
            p.grad = torch.tensor(g.copy())
            theirs.append(p)
        t_ours = clip_grad_norm_(ours, 1.0)
        t_theirs = torch.nn.utils.clip_grad_norm_(theirs, 1.0)
        np.testing.assert_array_equal(t_ours.numpy(), t_theirs.numpy())
        for a, b in zip(ours, theirs):
            np.testing.assert_array_equal(a.grad.numpy(), b.grad.numpy())


def test_no_gradients_gives_zero_and_single_tensor_and_generators_work(device):
    p = tr.zeros(3, device=device, requires_grad=True)
    total = clip_grad_norm_([p, tr.ones(2, device=device, requires_grad=True)], 1.0)
    assert isinstance(total, tr.Tensor) and total.item() == 0.0 and p.grad is None
    p.grad = tr.tensor([3.0, 4.0, 0.0], device=device)
    assert clip_grad_norm_(p, 1.0).item() == pytest.approx(5.0)
    np.testing.assert_allclose(p.grad.numpy(), [0.6, 0.8, 0.0], rtol=1e-5)
    q = tr.zeros(2, device=device, requires_grad=True)
    q.grad = tr.tensor([3.0, 4.0], device=device)
    assert clip_grad_norm_((x for x in [q]), 10.0).item() == pytest.approx(5.0)


def test_no_host_synchronisation(monkeypatch, device):
    """The clip decision is array arithmetic: nothing reads a device value back to Python."""
    params = _params(fx.clip_inputs("float64"), device)

    def forbidden(*args, **kwargs):
        raise AssertionError("clip_grad_norm_ read a tensor on the host")

    for name in ("item", "numpy", "tolist", "__bool__", "__float__", "__int__", "__index__"):
        monkeypatch.setattr(tr.Tensor, name, forbidden)
    total = clip_grad_norm_(params, 0.5)
    monkeypatch.undo()
    assert total.item() > 0.5


def test_on_device(device):
    grads = fx.clip_inputs("float32")
    params = _params(grads, device)
    total = clip_grad_norm_(params, 1.0)
    assert total.device == device and total.ndim == 0
    ref = REF["clip/float32/l2_clipped/0"]
    np.testing.assert_allclose(total.numpy(), ref, rtol=2e-6)
    for i, p in enumerate(params):
        assert p.grad.device == device
        np.testing.assert_allclose(p.grad.numpy(), REF[f"clip/float32/l2_clipped/{i + 1}"], rtol=2e-6)


def test_module_parameters(device):
    lin = tr.nn.Linear(4, 3, device=device)
    lin(tr.randn(5, 4, device=device)).pow(2).sum().backward()
    total = clip_grad_norm_(lin.parameters(), 0.1)
    assert total.item() > 0.1
    assert math.sqrt(sum(float((p.grad.numpy().astype(np.float64) ** 2).sum()) for p in lin.parameters())) \
        == pytest.approx(0.1, rel=1e-5)


def test_clip_grad_value(device):
    grads = fx.clip_inputs("float64")
    params = _params(grads, device)
    params.append(tr.zeros(2, device=device, requires_grad=True))     # no grad: skipped
    assert clip_grad_value_(params, 0.7) is None
    for p, g in zip(params, grads):
        np.testing.assert_array_equal(p.grad.numpy(), np.clip(g, -0.7, 0.7))
    torch = require("torch")
    t = [torch.tensor(np.zeros_like(g), requires_grad=True) for g in grads]
    for p, g in zip(t, grads):
        p.grad = torch.tensor(g.copy())
    torch.nn.utils.clip_grad_value_(t, 0.7)
    for a, b in zip(params, t):
        np.testing.assert_array_equal(a.grad.numpy(), b.grad.numpy())


def test_bad_input(device):
    p = tr.zeros(2, device=device, requires_grad=True)
    p.grad = tr.ones(2, device=device)
    with pytest.raises(ValueError, match="max_norm must be >= 0, got -1.0"):
        clip_grad_norm_([p], -1.0)
    with pytest.raises(TypeError, match="max_norm must be a number"):
        clip_grad_norm_([p], "1")
    with pytest.raises(TypeError, match=r"parameters\[1\] is a ndarray"):
        clip_grad_norm_([p, np.ones(2)], 1.0)
    with pytest.raises(TypeError, match="norm_type"):
        clip_grad_norm_([p], 1.0, norm_type="fro")
    with pytest.raises(ValueError, match="clip_value must be >= 0"):
        clip_grad_value_([p], -0.5)
    np.testing.assert_array_equal(p.grad.numpy(), [1.0, 1.0])
