"""Hooks and ``.grad`` assignments are checked as PyTorch checks them (issue 11, items 4-5).

A hook that returns a tensor of another size, dtype or device raises ``RuntimeError`` ("hook '<name>' has
changed the size/type of value"); a non-tensor return raises ``TypeError``; ``.grad`` takes only a
tensor of the same shape, dtype and device, or ``None``. Each case runs the same program in PyTorch
(live, when installed) and must raise the same exception class there.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import require

import tinygrad_rnn as tr

BAD_RETURNS = {                              # what a hook returns instead of a (3,) float32 gradient
    "size": (lambda m, g: m.ones(5, dtype=g.dtype), RuntimeError, r"hook 'myhook' has changed the size of value"),
    "size_broadcastable": (lambda m, g: m.ones(2, 3, dtype=g.dtype), RuntimeError,
                           r"hook 'myhook' has changed the size of value"),
    "dtype": (lambda m, g: g.double(), RuntimeError, r"hook 'myhook' has changed the type of value"),
    "int": (lambda m, g: 3, TypeError, r"hook 'myhook' returned 'int'"),
    "ndarray": (lambda m, g: np.ones(3, np.float32), TypeError, r"hook 'myhook' returned 'ndarray'"),
}
TARGETS = ("leaf", "non_leaf", "parameter", "retain_grad")


def program(m, target: str, ret, device: str = "cpu"):
    """Register ``myhook`` (returning ``ret(m, grad)``) on a (3,) float32 tensor of kind ``target``; backward."""
    dev = {"device": device} if m is tr else {}
    x = m.ones(3, requires_grad=True, **dev)
    if target == "parameter":
        x = m.nn.Parameter(m.ones(3, **dev))
    t = x if target in ("leaf", "parameter") else x * 2.0
    if target == "retain_grad":
        t.retain_grad()

    def myhook(g):
        return ret(m, g)

    t.register_hook(myhook)
    (t * m.tensor([1.0, 2.0, 3.0], **dev)).sum().backward()
    return x, t


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("bad", list(BAD_RETURNS))
def test_hook_returning_a_bad_value_raises(bad, target, device):
    ret, exc, pattern = BAD_RETURNS[bad]
    with pytest.raises(exc, match=pattern):
        program(tr, target, ret, device)


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("bad", list(BAD_RETURNS))
def test_pytorch_raises_the_same_class(bad, target, device):
    torch = require("torch")
    ret, exc, _ = BAD_RETURNS[bad]
    with pytest.raises(exc):
        program(torch, target, ret)


@pytest.mark.parametrize("target", TARGETS)
def test_good_hook_return_replaces_the_gradient_as_pytorch(target, device):
    torch = require("torch")

    def ret(m, g):
        return g * 10.0

    ours, theirs = program(tr, target, ret, device), program(torch, target, ret)
    pairs = [(ours[0], theirs[0])] + ([(ours[1], theirs[1])] if target == "retain_grad" else [])
    for a, b in pairs:                        # the leaf, and the retained non-leaf
        np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=1e-6)


def test_leaf_hook_message_names_lambda_and_shapes(device):
    x = tr.ones(3, device=device, requires_grad=True)
    x.register_hook(lambda g: tr.ones(5, device=device))
    with pytest.raises(RuntimeError, match=r"hook '<lambda>' has changed the size of value \(was \(3,\), got \(5,\)\)"):
        x.sum().backward()
    assert x.grad is None                       # nothing accumulated


def test_hook_returning_another_device_raises(device):
    if device == "cpu":
        pytest.skip("needs a second device: runs as the cuda variant")
    x = tr.ones(3, device=device, requires_grad=True)
    x.register_hook(lambda g: g.to("cpu"))
    with pytest.raises(RuntimeError, match="has changed the type of value"):
        x.sum().backward()


# --------------------------------------------------------------------- .grad assignment

BAD_GRADS = {
    "shape": (lambda m, p: m.ones(1), RuntimeError, r"attempting to assign a gradient of size '\[1\]' to a tensor "
                                                   r"of size '\[1, 3\]'"),
    "shape_same_numel": (lambda m, p: m.ones(3, 1), RuntimeError, r"of size '\[3, 1\]' to a tensor of size"),
    "dtype": (lambda m, p: m.ones(1, 3, dtype=m.float64), RuntimeError,
              r"attempting to assign a gradient with dtype 'torch.float64' to a tensor with dtype 'torch.float32'"),
    "int_dtype": (lambda m, p: m.ones(1, 3, dtype=m.int64), RuntimeError, r"with dtype 'torch.int64'"),
    "number": (lambda m, p: 3, TypeError, r"assigned grad expected to be a Tensor or None but got grad of type int"),
    "ndarray": (lambda m, p: np.ones((1, 3), np.float32), TypeError, r"got grad of type ndarray"),
    "itself": (lambda m, p: p, RuntimeError, r"can't assign Variable as its own grad"),
}


def _param(m, device="cpu"):
    return m.nn.Parameter(m.ones(1, 3, device=device) if m is tr else m.ones(1, 3))


@pytest.mark.parametrize("bad", list(BAD_GRADS))
def test_bad_grad_assignment_raises_and_keeps_the_old_grad(bad, device, monkeypatch):
    monkeypatch.setenv("TINYGRAD_RNN_DEVICE", device)
    make, exc, pattern = BAD_GRADS[bad]
    p = _param(tr, device)
    old = tr.full((1, 3), 2.0, device=device)
    p.grad = old
    with pytest.raises(exc, match=pattern):
        p.grad = make(tr, p)
    assert p.grad is old


@pytest.mark.parametrize("bad", list(BAD_GRADS))
def test_pytorch_refuses_the_same_grad_assignments(bad, device):
    torch = require("torch")
    make, exc, _ = BAD_GRADS[bad]
    p = _param(torch)
    with pytest.raises(exc):
        p.grad = make(torch, p)


def test_shape_and_dtype_errors_are_also_value_errors(device):
    p = _param(tr, device)
    with pytest.raises(ValueError):
        p.grad = tr.ones(2, device=device)
    with pytest.raises(ValueError):
        p.grad = tr.ones(1, 3, dtype=tr.float64, device=device)


def test_good_grad_assignments(device):
    p = _param(tr, device)
    g = tr.full((1, 3), 0.5, device=device)
    p.grad = g
    assert p.grad is g
    p.grad = None
    assert p.grad is None
    p.grad = g
    del p.grad
    assert p.grad is None
    (p * 2.0).sum().backward()                  # the engine's own writes are unchanged
    np.testing.assert_array_equal(p.grad.numpy(), [[2.0, 2.0, 2.0]])


def test_grad_of_another_device_is_refused(device):
    if device == "cpu":
        pytest.skip("needs a second device: runs as the cuda variant")
    p = _param(tr, device)
    with pytest.raises(RuntimeError, match="on the same device"):
        p.grad = tr.ones(1, 3)
