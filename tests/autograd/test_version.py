"""The version counter: a backward that needs an array changed in place since it was saved raises."""

from __future__ import annotations

import numpy as np
import pytest

import tinygrad_rnn as tr


def leaf(values, device="cpu"):
    return tr.tensor(np.asarray(values, dtype=np.float64), device=device, requires_grad=True)


def test_changed_saved_input_raises_naming_the_op(device):
    x = leaf([1.0, 2.0], device)
    h = x * 1.0
    y = (h.exp() * h).sum()                   # Mul saved h
    h.add_(1.0)
    with pytest.raises(RuntimeError, match=r"modified by an inplace operation.*input 1 of Mul, is at version 1; "
                                           r"expected version 0"):
        y.backward()


def test_message_names_op_and_input(device):
    x = leaf([1.0, 2.0], device)
    h = x * 1.0
    y = h.tanh()
    z = y.sum()                               # Sum saves nothing
    with tr.no_grad():
        y.mul_(0.5)                           # Tanh saved its output y
    with pytest.raises(RuntimeError) as e:
        z.backward()
    assert "Tanh" in str(e.value) and "output 0" in str(e.value)


def test_optimizer_step_between_retained_backwards_is_caught(device):
    w = leaf([1.0, -1.0], device)
    loss = (w * w).sum()
    loss.backward(retain_graph=True)
    with tr.no_grad():
        w.sub_(0.1 * w.grad)                  # SGD-style update through an in-place method
    with pytest.raises(RuntimeError, match="Mul"):
        loss.backward()


def test_setitem_and_copy_and_zero_bump_the_version(device):
    x = leaf([1.0, 2.0, 3.0], device)
    for change in (lambda t: t.__setitem__(0, 5.0), lambda t: t.copy_(tr.ones(3, dtype=tr.float64, device=device)),
                   lambda t: t.zero_(), lambda t: t.clamp_(0.0, 1.0), lambda t: t.div_(2.0), lambda t: t.mul_(2.0)):
        h = x * 1.0
        y = (h * h).sum()
        v = h._version.value
        with tr.no_grad():
            change(h)
        assert h._version.value > v
        with pytest.raises(RuntimeError, match="modified by an inplace operation"):
            y.backward()


def test_detach_shares_the_counter_data_does_not(device):
    x = leaf([1.0, 2.0], device)
    h = x * 1.0
    y = (h * h).sum()
    d = h.detach()
    assert d._version is h._version
    d.add_(1.0)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.backward()

    h2 = x * 1.0
    y2 = (h2 * h2).sum()
    h2.data.add_(1.0)                         # .data escapes the counter (as in PyTorch)
    assert h2._version.value == 0
    y2.backward()                             # no error; the gradient uses the changed values
    np.testing.assert_allclose(x.grad.numpy(), 2 * (np.array([1.0, 2.0]) + 1.0))


def test_inplace_on_leaf_requiring_grad_raises(device):
    w = leaf([1.0], device)
    with pytest.raises(RuntimeError, match="leaf"):
        w.add_(1.0)
    with pytest.raises(RuntimeError, match="leaf"):
        w.zero_()
    np.testing.assert_array_equal(w.numpy(), [1.0])


def test_inplace_on_non_leaf_rebases_history(device):
    x = leaf([1.0, 2.0], device)
    h = x * 2.0
    h.mul_(3.0)                               # h = 6x, differentiable
    h.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [6.0, 6.0])


def test_setitem_with_grad(device):
    x = leaf([1.0, 2.0, 3.0], device)
    v = leaf([10.0], device)
    h = x * 1.0
    h[1:2] = v * 2
    (h * tr.tensor(np.array([1.0, 2.0, 3.0]), device=device)).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [1.0, 0.0, 3.0])
    np.testing.assert_allclose(v.grad.numpy(), [4.0])
