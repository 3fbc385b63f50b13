"""Module hooks with PyTorch's signatures and semantics: ``register_forward_pre_hook``,
``register_forward_hook`` (``prepend``, ``with_kwargs``, ``always_call``), ``register_full_backward_hook`` and
``register_full_backward_pre_hook``, and the handles they return. The full backward hook is checked against
golden PyTorch values (``tests/fixtures/port.npz``: a Linear, a Linear whose hook replaces ``grad_input``,
an LSTM-containing module) and against live torch.
"""

from __future__ import annotations

import functools
import warnings

import numpy as np
import pytest
from conftest import fixture_module, require

import tinygrad_rnn as tr

fx = fixture_module("make_port_fixtures")


@functools.lru_cache(maxsize=1)
def golden() -> dict:
    with np.load(fx.FIXTURE, allow_pickle=False) as f:
        return {k: f[k] for k in f.files if k.startswith("hook/")}


def _expected(kind: str):
    g = golden()
    state = {k[len(f"hook/{kind}/state/"):]: v for k, v in g.items() if k.startswith(f"hook/{kind}/state/")}
    seen, j = [], 0
    while f"hook/{kind}/seen{j}/label" in g:
        grads, i = [], 0
        while f"hook/{kind}/seen{j}/{i}" in g:
            v = g[f"hook/{kind}/seen{j}/{i}"]
            grads.append(None if v.dtype.kind == "U" else v)
            i += 1
        seen.append((str(g[f"hook/{kind}/seen{j}/label"]), grads))
        j += 1
    return state, seen, g[f"hook/{kind}/x_grad"]


def _same_seen(got, expected):
    assert [label for label, _ in got] == [label for label, _ in expected]
    for (label, a), (_, b) in zip(got, expected):
        assert len(a) == len(b), label
        for u, v in zip(a, b):
            assert (u is None) == (v is None), label
            if u is not None:
                np.testing.assert_allclose(u, v, rtol=1e-10, atol=1e-12, err_msg=label)


@pytest.mark.parametrize("kind", ["linear", "linear_replace", "lstm"])
def test_full_backward_hook_matches_torch_fixture(kind, device):
    state, expected, x_grad = _expected(kind)
    tr.set_default_device(device)
    try:
        seen, got_x_grad, _ = fx.hook_run(tr, kind, state)
    finally:
        tr.set_default_device(None)
    _same_seen(seen, expected)        # called once: the pass after handle.remove() adds nothing
    np.testing.assert_allclose(got_x_grad, x_grad, rtol=1e-10)


@pytest.mark.cpu_only      # live torch on the host; the device runs compare with the fixture above
@pytest.mark.parametrize("kind", ["linear", "linear_replace", "lstm"])
def test_full_backward_hook_matches_live_torch(kind):
    torch = require("torch")
    expected, x_grad, state = fx.hook_run(torch, kind)
    seen, got_x_grad, _ = fx.hook_run(tr, kind, state)
    _same_seen(seen, expected)
    np.testing.assert_allclose(got_x_grad, x_grad, rtol=1e-10)


def _two_outputs(m):
    class Two(m.nn.Module):
        def forward(self, a, b, scale=1.0):
            return a * b * scale, a + b

    return Two()


def test_backward_hooks_none_for_unused_outputs_and_pre_hook_rewrites(device):
    torch = require("torch")
    results = []
    for m, dev in ((torch, "cpu"), (tr, device)):
        mod = _two_outputs(m)
        log = []
        mod.register_full_backward_pre_hook(lambda mod_, go: (go[0] * 3, go[1]))
        mod.register_full_backward_hook(lambda mod_, gi, go, log=log: log.append(
            ([None if g is None else g.tolist() for g in gi], [None if g is None else g.tolist() for g in go])))
        a = m.tensor([1.0, 2.0], device=dev, requires_grad=True)
        b = m.tensor([3.0, 4.0], device=dev)
        p, _ = mod(a, b, scale=2.0)
        p.sum().backward()
        results.append((log, a.grad.tolist()))
    assert results[0] == results[1]
    assert results[1][0][0][1][1] is None and results[1][1] == [18.0, 24.0]
    assert results[1][0][0][0][1] == [0.0, 0.0]       # an input that does not require grad: zeros, as PyTorch


def test_backward_hook_without_input_grad_fires_on_outputs(device):
    lin = tr.nn.Linear(3, 2).to(device)
    calls = []
    lin.register_full_backward_hook(lambda m, gi, go: calls.append((gi, go[0].shape)))
    with pytest.warns(UserWarning, match="no inputs require gradients"):
        lin(tr.ones(4, 3, device=device)).sum().backward()
    assert calls == [((None,), (4, 2))] and lin.weight.grad is not None
    lin2 = tr.nn.Linear(3, 2).to(device)
    lin2.register_full_backward_hook(lambda m, gi, go: (tr.ones(4, 3, device=device),))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(RuntimeError, match="no input requires gradient should always return None"):
            lin2(tr.ones(4, 3, device=device)).sum().backward()
    lin3 = tr.nn.Linear(3, 2).to(device)
    lin3.register_full_backward_hook(lambda m, gi, go: (gi[0], gi[0]))
    with pytest.raises(RuntimeError, match="invalid number of grad_input, got 2, but expected 1"):
        lin3(tr.ones(4, 3, device=device, requires_grad=True)).sum().backward()


def test_forward_hooks_match_torch(device):
    torch = require("torch")
    results = []
    for m, dev in ((torch, "cpu"), (tr, device)):
        lin = m.nn.Linear(2, 2).double().to(dev)
        with m.no_grad():
            lin.weight.copy_(m.tensor([[1.0, 2.0], [3.0, 4.0]], dtype=m.float64))
            lin.bias.zero_()
        order = []
        h1 = lin.register_forward_pre_hook(lambda mod, args, order=order: (order.append("pre1"), args[0] * 2)[1])
        lin.register_forward_pre_hook(lambda mod, args, order=order: order.append("pre0"), prepend=True)
        lin.register_forward_hook(lambda mod, args, out, order=order: (order.append("post"), out + 1)[1])
        lin.register_forward_hook(lambda mod, args, kwargs, out, order=order: order.append(("kw", sorted(kwargs))),
                                  with_kwargs=True)
        x = m.tensor([[1.0, 1.0]], dtype=m.float64, device=dev)
        first = lin(x).tolist()
        h1.remove()
        h1.remove()                        # removing twice is harmless, as PyTorch
        second = lin(x).tolist()
        results.append((first, second, order))
    assert results[0] == results[1] and results[1][0] == [[7.0, 15.0]]


def test_forward_pre_hook_with_kwargs_and_always_call(device):
    torch = require("torch")
    results = []
    for m, dev in ((torch, "cpu"), (tr, device)):
        mod = _two_outputs(m)
        mod.register_forward_pre_hook(lambda mod_, args, kwargs: (args, {"scale": kwargs.get("scale", 1.0) * 10}),
                                      with_kwargs=True)
        a, b = m.tensor([1.0], device=dev), m.tensor([2.0], device=dev)
        results.append(mod(a, b, scale=0.5)[0].tolist())
        bad = m.nn.Linear(2, 2)
        seen = []
        bad.register_forward_hook(lambda mod_, args, out, seen=seen: seen.append(out), always_call=True)
        with pytest.raises((RuntimeError, TypeError, ValueError)):
            bad(m.ones(3, device=dev))
        results.append(seen)
    assert results[0] == results[2] == [10.0] and results[1] == results[3] == [None]
    with pytest.raises(RuntimeError, match="tuple of \\(new_args, new_kwargs\\)"):
        mod = _two_outputs(tr)
        mod.register_forward_pre_hook(lambda mod_, args, kwargs: [args, kwargs], with_kwargs=True)
        mod(tr.ones(1, device=device), tr.ones(1, device=device))


def test_hook_handles_and_argument_checks(device):
    lin = tr.nn.Linear(2, 2).to(device)
    calls = []
    with lin.register_forward_hook(lambda m, a, o: calls.append(1)) as handle:
        lin(tr.ones(1, 2, device=device))
    lin(tr.ones(1, 2, device=device))
    assert calls == [1] and isinstance(handle.id, int)
    with pytest.raises(TypeError, match="callable"):
        lin.register_forward_hook("not a function")
    a, b = lin.register_forward_hook(print), lin.register_forward_pre_hook(print)
    assert a.id != b.id
