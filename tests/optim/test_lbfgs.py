"""LBFGS: trajectories equal PyTorch's (golden fixture and live), with and without the strong-Wolfe line
search; the stopping tests; state_dict resume; bad input."""

import functools
import types

import numpy as np
import pytest
from conftest import fixture_module, require

import tinygrad_rnn as tr
from tinygrad_rnn.optim.lbfgs import _cubic_interpolate

fx = fixture_module("make_optim_fixtures")

REF = np.load(fx.FIXTURE)
NAMES = list(fx.LBFGS_CASES)


def _on(device):
    """``tr`` as the fixture's runner uses it, with every tensor made on ``device``."""
    if device == "cpu":
        return tr
    return types.SimpleNamespace(tensor=functools.partial(tr.tensor, device=device), optim=tr.optim)


def _check(got, ref):
    w, b, losses, evaluated, counters = got
    rw, rb, rlosses, revaluated, rcounters = ref
    np.testing.assert_array_equal(counters, rcounters)      # same evaluations, iterations, history length
    assert evaluated.shape == revaluated.shape
    np.testing.assert_allclose(evaluated, revaluated, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(losses, rlosses, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(w, rw, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(b, rb, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("name", NAMES)
def test_trajectory_matches_fixture(name, device):
    got = fx.run_lbfgs(_on(device), name, fx.lbfgs_inputs())
    _check(got, [REF[f"lbfgs/{name}/{k}"] for k in fx.LBFGS_KEYS])
    assert got[2][-1] < got[2][0] - 1.0, "the loss must fall"


# cpu_only: live torch on the host; the GPU counterpart is test_trajectory_matches_fixture[cuda-*] (same torch values)
@pytest.mark.cpu_only
@pytest.mark.parametrize("name", NAMES)
def test_trajectory_matches_live_torch(name):
    torch = require("torch")
    inputs = fx.lbfgs_inputs()
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)    # as the fixture: torch's 0-d scalars in float64
    try:
        ref = fx.run_lbfgs(torch, name, inputs)
    finally:
        torch.set_default_dtype(previous)
    _check(fx.run_lbfgs(tr, name, inputs), ref)


@pytest.mark.cpu_only   # reads the fixture's keys: no array op runs
def test_fixture_covers_every_case():
    assert {k.split("/")[1] for k in REF.files if k.startswith("lbfgs/")} == set(NAMES), \
        "rerun tests/fixtures/make_optim_fixtures.py"


@pytest.mark.cpu_only   # pure Python floats
def test_cubic_interpolate_is_the_cubic_minimiser():
    # f(x) = (x - 1)^3 - 3 (x - 1) has its local minimum at x = 2; the cubic through two points is itself
    f, g = (lambda x: (x - 1) ** 3 - 3 * (x - 1)), (lambda x: 3 * (x - 1) ** 2 - 3)
    assert _cubic_interpolate(1.5, f(1.5), g(1.5), 3.0, f(3.0), g(3.0)) == pytest.approx(2.0, rel=1e-12)
    assert _cubic_interpolate(3.0, f(3.0), g(3.0), 1.5, f(1.5), g(1.5)) == pytest.approx(2.0, rel=1e-12)
    assert _cubic_interpolate(1.5, f(1.5), g(1.5), 3.0, f(3.0), g(3.0), bounds=(2.5, 2.8)) == 2.5
    # no real minimiser: the midpoint of the bounds
    assert _cubic_interpolate(0.0, 0.0, 1.0, 1.0, 2.0 / 3.0, 1.0) == 0.5      # d1 = 0, d2² = -g1 g2 < 0


def _quadratic(device):
    a = tr.tensor(np.diag([1.0, 2.0, 3.0]), device=device)
    x = tr.tensor([1.0, -1.0, 0.5], dtype=tr.float64, device=device, requires_grad=True)
    return a, x


def test_solves_a_quadratic_and_stops_at_tolerance_grad(device):
    a, x = _quadratic(device)
    opt = tr.optim.LBFGS([x], line_search_fn="strong_wolfe", tolerance_grad=1e-10, tolerance_change=0.0)
    calls = []

    def closure():
        opt.zero_grad()
        loss = 0.5 * (x * a.matmul(x)).sum()
        loss.backward()
        calls.append(1)
        return loss

    first = opt.step(closure)
    assert isinstance(first, tr.Tensor) and first.item() == pytest.approx(0.5 * (1 + 2 + 0.75))
    np.testing.assert_allclose(x.detach().numpy(), 0.0, atol=1e-9)
    n = len(calls)
    opt.step(closure)              # already optimal: one evaluation, no move
    assert len(calls) == n + 1 and opt.state[x]["func_evals"] == n + 1


def test_max_iter_and_max_eval_bound_the_closure_calls(device):
    a, x = _quadratic(device)
    opt = tr.optim.LBFGS([x], lr=0.1, max_iter=4)
    calls = []

    def closure():
        opt.zero_grad()
        loss = (x * a.matmul(x)).sum() + (x ** 4).sum()
        loss.backward()
        calls.append(1)
        return loss

    opt.step(closure)
    assert len(calls) == 4 and opt.state[x]["n_iter"] == 4    # no re-evaluation after the last iteration
    opt2 = tr.optim.LBFGS([x], line_search_fn="strong_wolfe", max_iter=100, max_eval=7)
    calls.clear()
    opt2.step(closure)
    assert 3 <= len(calls) <= 7 and opt2.state[x]["func_evals"] == len(calls)


def test_state_dict_resume_continues_the_trajectory(device, tmp_path):
    def run(split):
        a, x = _quadratic(device)
        opt = tr.optim.LBFGS([x], lr=0.5, max_iter=3, history_size=2)

        def closure():
            opt.zero_grad()
            loss = (x * a.matmul(x)).sum() + 0.1 * (x ** 4).sum()
            loss.backward()
            return loss

        for k in range(4):
            if k == split:     # through a checkpoint file: lists of tensors, floats and None in the state
                tr.save(opt.state_dict(), tmp_path / "lbfgs.npz")
                sd = tr.load(tmp_path / "lbfgs.npz")
                x2 = tr.tensor(x.detach().numpy().copy(), device=device, requires_grad=True)
                opt = tr.optim.LBFGS([x2], lr=99.0)
                opt.load_state_dict(sd)
                x = x2
            opt.step(closure)
        return x.detach().numpy(), opt.state[x]["n_iter"]

    full, n_full = run(split=None)
    resumed, n_resumed = run(split=2)
    assert n_full == n_resumed and n_full > 6
    np.testing.assert_array_equal(resumed, full)


# cpu_only: a torch state_dict on the host; the values are compared on CPU NumPy
@pytest.mark.cpu_only
def test_loads_a_torch_state_dict():
    torch = require("torch")
    x0 = np.array([1.0, -1.0, 0.5])
    a0 = np.diag([1.0, 2.0, 3.0])

    def make(m):
        x = m.tensor(x0.copy(), requires_grad=True)
        opt = m.optim.LBFGS([x], max_iter=2, line_search_fn="strong_wolfe")
        a = m.tensor(a0)

        def closure():
            opt.zero_grad()
            loss = (x * a.matmul(x)).sum() + (x ** 4).sum()
            loss.backward()
            return loss
        return x, opt, closure

    xt, optt, closuret = make(torch)
    optt.step(closuret)
    sd = optt.state_dict()
    to_tr = {k: ([tr.tensor(t.numpy()) if isinstance(t, torch.Tensor) else t for t in v] if isinstance(v, list)
                 else tr.tensor(v.numpy()) if isinstance(v, torch.Tensor) else v) for k, v in sd["state"][0].items()}
    xr, optr, closurer = make(tr)
    with tr.no_grad():
        xr.copy_(tr.tensor(xt.detach().numpy()))
    optr.load_state_dict({"state": {0: to_tr}, "param_groups": sd["param_groups"]})
    optt.step(closuret)
    optr.step(closurer)
    np.testing.assert_allclose(xr.detach().numpy(), xt.detach().numpy(), rtol=1e-12, atol=1e-14)


@pytest.mark.cpu_only   # argument validation: raises before any array is touched
def test_bad_input():
    x = tr.zeros(3, requires_grad=True)
    with pytest.raises(ValueError, match="parameter groups"):
        tr.optim.LBFGS([{"params": [x]}, {"params": [tr.zeros(2, requires_grad=True)]}])
    with pytest.raises(ValueError, match="line_search_fn"):
        tr.optim.LBFGS([x], line_search_fn="armijo")
    with pytest.raises(ValueError, match="lr=-1"):
        tr.optim.LBFGS([x], lr=-1)
    with pytest.raises(ValueError, match="max_iter"):
        tr.optim.LBFGS([x], max_iter=0)
    opt = tr.optim.LBFGS([x])
    with pytest.raises(TypeError, match="closure"):
        opt.step()
    with pytest.raises(TypeError, match="closure"):
        opt.step(None)
    assert opt.state == {}
