"""``repr(tensor)`` in PyTorch's layout and number formatting, and PyTorch's grad-function names.

Each case of ``REPR_CASES`` (``tests/fixtures/make_port_fixtures.py``) builds a tensor in both libraries;
the repr must equal PyTorch's character for character: the golden text in ``port.npz`` and, where torch is
installed, live.
"""

from __future__ import annotations

import functools

import numpy as np
import pytest
from conftest import fixture_module, require

import tinygrad_rnn as tr

fx = fixture_module("make_port_fixtures")


@functools.lru_cache(maxsize=1)
def golden() -> dict:
    with np.load(fx.FIXTURE, allow_pickle=False) as f:
        return {k: f[k] for k in f.files if k.startswith("repr/")}


@pytest.mark.parametrize("name", list(fx.REPR_CASES))
def test_repr_equals_torch_fixture(name, device):
    tr.set_default_device(device)       # PyTorch shows no device= for tensors on the default device
    try:
        text = repr(fx.REPR_CASES[name](tr))
    finally:
        tr.set_default_device(None)
    assert text == str(golden()[f"repr/{name}"])


@pytest.mark.cpu_only      # live torch on the host; the device runs compare with the same text above
@pytest.mark.parametrize("name", list(fx.REPR_CASES))
def test_repr_equals_live_torch(name):
    torch = require("torch")
    assert repr(fx.REPR_CASES[name](tr)) == repr(fx.REPR_CASES[name](torch))


def test_repr_shows_the_device_when_it_is_not_the_default(device):
    x = tr.tensor([1.5, -2.0], device=device)
    expected = "tensor([ 1.5000, -2.0000])" if device == "cpu" else "tensor([ 1.5000, -2.0000], device='cuda:0')"
    assert repr(x) == expected
    if device == "cuda":
        tr.set_default_device("cuda")
        try:
            assert repr(x) == "tensor([ 1.5000, -2.0000])"
            assert repr(x.cpu()) == "tensor([ 1.5000, -2.0000], device='cpu')"
        finally:
            tr.set_default_device(None)


def test_grad_fn_repr_and_names(device):
    torch = require("torch")
    a = np.arange(6.0).reshape(2, 3)
    x, t = tr.tensor(a, device=device, requires_grad=True), torch.tensor(a, requires_grad=True)
    for fn in (lambda v: v * 2, lambda v: v.log_softmax(1), lambda v: v.sum(), lambda v: v.sum(0),
               lambda v: v @ v.t().detach(), lambda v: v[1], lambda v: v[:, :2], lambda v: v.exp(),
               lambda v: v.tanh(), lambda v: v ** 2, lambda v: v.relu(), lambda v: v.clamp(0, 1),
               lambda v: v.reshape(3, 2), lambda v: v.mean(1), lambda v: v.sin(), lambda v: v.tril()):
        ours, ref = fn(x).grad_fn, fn(t).grad_fn
        name = type(ref).__name__
        assert repr(ours).startswith(f"<{name} object at 0x"), (repr(ours), name)
    assert x.grad_fn is None
