"""Graph topology: shared subexpressions, diamonds, reused leaves, accumulation, hooks, retain_grad, grad()."""

from __future__ import annotations

import numpy as np
import pytest

import tinygrad_rnn as tr


def leaf(values, device="cpu"):
    return tr.tensor(np.asarray(values, dtype=np.float64), device=device, requires_grad=True)


def test_shared_subexpression(device):
    a = leaf([1.0, -2.0, 3.0], device)
    b = a + a
    c = b * b                                  # c = 4a², dc/da = 8a
    c.sum().backward()
    np.testing.assert_allclose(a.grad.numpy(), 8 * np.array([1.0, -2.0, 3.0]))


def test_diamond(device):
    x = leaf([0.5, 1.5], device)
    left, right = x.exp(), x * 3.0
    y = (left * right).sum()                   # d/dx (3x e^x) = 3e^x (1 + x)
    y.backward()
    xv = np.array([0.5, 1.5])
    np.testing.assert_allclose(x.grad.numpy(), 3 * np.exp(xv) * (1 + xv))


def test_reused_leaf_in_many_ops(device):
    x = leaf([2.0], device)
    y = x * x * x + x.exp() - x
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [3 * 4.0 + np.exp(2.0) - 1])


def test_two_backwards_accumulate(device):
    x = leaf([1.0, 2.0], device)
    (x * x).sum().backward()
    (3 * x).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [2 + 3, 4 + 3])
    y = (x * 5).sum()
    y.backward(retain_graph=True)
    y.backward()
    np.testing.assert_allclose(x.grad.numpy(), [15, 17])


def test_grad_is_owned_not_aliased(device):
    x = leaf([1.0, 2.0], device)
    g = tr.tensor(np.array([1.0, 1.0]), device=device)
    y = x * 1.0
    y.backward(g)
    x.grad.mul_(10)                            # clipping scales .grad in place: must not touch g
    np.testing.assert_array_equal(g.numpy(), [1.0, 1.0])


def test_unused_output_of_multi_output_op_gets_zero(device):
    x = leaf(np.arange(6.0).reshape(3, 2), device)
    a, b, c = x.unbind(0)
    (b * 2).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [[0, 0], [2, 2], [0, 0]])


def test_non_leaf_grad_not_kept_without_retain(device):
    x = leaf([1.0, 2.0], device)
    y = x * 2
    z = (y * y).sum()
    y.retain_grad()
    z.backward()
    np.testing.assert_allclose(y.grad.numpy(), 2 * np.array([2.0, 4.0]))
    w = x * 3
    (w * 1).sum().backward()
    assert w.grad is None


def test_hooks_see_and_replace_gradients(device):
    x = leaf([1.0, 2.0], device)
    seen = []
    y = x * 3
    y.register_hook(lambda g: seen.append(("y", g.numpy().copy())))
    x.register_hook(lambda g: seen.append(("x", g.numpy().copy())))
    (y * y).sum().backward()                   # dL/dy = 2y = 6x, dL/dx = 18x
    assert [s[0] for s in seen] == ["y", "x"]
    np.testing.assert_allclose(seen[0][1], [6.0, 12.0])
    np.testing.assert_allclose(seen[1][1], [18.0, 36.0])
    x.grad = None
    z = x * 1
    z.register_hook(lambda g: g * 0 + 1)       # a returned tensor replaces the gradient
    (z * 7).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [1.0, 1.0])


def test_leaf_hook_sees_total_gradient_once(device):
    x = leaf([1.0], device)
    calls = []
    x.register_hook(lambda g: calls.append(float(g.numpy()[0])))
    (x * 2 + x * 3).sum().backward()
    assert calls == [5.0]


def test_autograd_grad_returns_without_touching_grad(device):
    x = leaf([1.0, 2.0], device)
    w = leaf([3.0, 4.0], device)
    h = x * w
    y = (h * h).sum()
    gx, gh = tr.autograd.grad(y, [x, h], retain_graph=True)
    np.testing.assert_allclose(gx.numpy(), 2 * np.array([3.0, 8.0]) * np.array([3.0, 4.0]))
    np.testing.assert_allclose(gh.numpy(), [6.0, 16.0])
    assert x.grad is None and w.grad is None and h.grad is None
    with pytest.raises(RuntimeError, match="allow_unused"):
        tr.autograd.grad(y, [x, leaf([1.0], device)])


def test_autograd_grad_allow_unused(device):
    x, u = leaf([1.0], device), leaf([1.0], device)
    gx, gu = tr.autograd.grad((x * 2).sum(), [x, u], allow_unused=True)
    np.testing.assert_allclose(gx.numpy(), [2.0])
    assert gu is None


def test_backward_several_roots(device):
    x = leaf([1.0, 2.0], device)
    tr.autograd.backward([(x * 2).sum(), (x * x).sum()])
    np.testing.assert_allclose(x.grad.numpy(), [4.0, 6.0])


def test_nodes_record_name_edges_meta_and_scope(device):
    x = leaf([[1.0, 2.0]], device)
    w = leaf([[1.0], [2.0]], device)
    with tr.autograd.scope(name="lstm", layer=0, direction="forward", t=3):
        with tr.autograd.scope(gate="f"):
            h = x @ w
        y = h.tanh()
    node = y.grad_fn
    assert node.name == "Tanh"
    assert node.edges[0] == (h.grad_fn, 0)
    mm = h.grad_fn
    assert mm.name == "Matmul" and mm.edges[0] is x and mm.edges[1] is w
    assert mm.out_meta == (((1, 1), np.dtype("float64")),)
    assert dict(mm.scope) == {"name": "lstm", "layer": 0, "direction": "forward", "t": 3, "gate": "f"}
    assert dict(node.scope) == {"name": "lstm", "layer": 0, "direction": "forward", "t": 3}
    assert (x * 2).grad_fn.scope == ()
    with pytest.raises(ValueError, match="direction"):
        with tr.autograd.scope(direction="backward"):
            pass


def test_no_grad_records_nothing(device):
    x = leaf([1.0], device)
    with tr.no_grad():
        y = x * 2
    assert y.grad_fn is None and not y.requires_grad
    z = (x * 2).detach()
    assert z.grad_fn is None and not z.requires_grad


def test_record_grad_norms(device):
    x = leaf([3.0, 4.0], device)
    y = x * 1
    with tr.autograd.record_grad_norms():
        (y * 2).sum().backward()
    assert float(y.grad_fn.grad_norms[0]) == pytest.approx(np.sqrt(8.0))


class StopGradient(tr.autograd.Function):
    """y = x; its backward sends no gradient (returns None) to an input that requires grad."""

    @staticmethod
    def forward(ctx, x):
        return x * 1

    @staticmethod
    def backward(ctx, dy):
        return None


def test_node_that_receives_no_gradient_at_all(device):
    x = leaf([1.0, 2.0], device)
    h = x * 2                                  # reached only through StopGradient: every gradient is None
    y = StopGradient.apply(h) + x
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [1.0, 1.0])


def test_backward_inputs_accumulates_only_into_the_given_tensors(device):
    a = tr.tensor([1.0, 2.0], device=device, requires_grad=True)
    b = tr.tensor([3.0, 4.0], device=device, requires_grad=True)
    (a * b).sum().backward(inputs=[a])
    assert a.grad.tolist() == [3.0, 4.0]
    assert b.grad is None


def test_graph_nodes_lists_each_node_once_from_several_roots(device):
    a = tr.tensor([1.0, 2.0], device=device, requires_grad=True)
    b = a * a                       # one Mul node, used twice below
    c = b + b
    d = b.exp()
    nodes = tr.autograd.graph_nodes(c, d)
    assert sorted(n.name for n in nodes) == ["Add", "Exp", "Mul"]
    assert tr.autograd.graph_nodes(a) == [] and tr.autograd.graph_nodes(tr.ones(2, device=device)) == []
    chain = a
    for _ in range(20_000):         # iterative: no recursion limit
        chain = chain + 1.0
    assert len(tr.autograd.graph_nodes(chain)) == 20_000
