"""``tr.linear_scan`` (h_t = a_t ⊙ h_{t-1} + b_t) against the sequential loop, by value and by gradient.

The reference is the recurrence itself: a NumPy loop for values and its adjoint loop for gradients, and
for short sequences the same loop written with Tensor ops (gradients by the engine's autograd), plus
central finite differences. Both algorithms ("scan", "loop") and the default ("auto") are checked.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import tinygrad_rnn as tr
from tinygrad_rnn.ops import scan as scan_ops

METHODS = ["scan", "loop", "auto"]


def loop_reference(a, b, h0=None, dim=0):
    """h by the plain loop, in NumPy (float64)."""
    shape = np.broadcast_shapes(a.shape, b.shape)
    A = np.moveaxis(np.broadcast_to(a, shape), dim, 0)
    B = np.moveaxis(np.broadcast_to(b, shape), dim, 0)
    prev = np.zeros(A.shape[1:]) if h0 is None else np.broadcast_to(h0, A.shape[1:])
    out = np.empty(A.shape)
    for t in range(A.shape[0]):
        prev = A[t] * prev + B[t]
        out[t] = prev
    return np.moveaxis(out, 0, dim)


def adjoint_reference(a, h, h0, v):
    """(da, db, dh0) of Σ v·h by the backward loop g_t = v_t + a_{t+1} g_{t+1} (same shapes, dim 0)."""
    T = a.shape[0]
    g = np.zeros_like(h)
    nxt = np.zeros(h.shape[1:])
    for t in range(T - 1, -1, -1):
        nxt = v[t] + (a[t + 1] * nxt if t + 1 < T else 0)
        g[t] = nxt
    prev = np.concatenate([np.broadcast_to(h0, h.shape[1:])[None], h[:-1]])
    return g * prev, g, a[0] * g[0]


def tensor_loop(a, b, h0, dim):
    """The recurrence with Tensor ops: the autograd reference for gradients."""
    shape = np.broadcast_shapes(a.shape, b.shape)
    dim %= len(shape)
    perm = [dim] + [d for d in range(len(shape)) if d != dim]           # time first
    a, b = a.expand(*shape).permute(*perm), b.expand(*shape).permute(*perm)
    prev, hs = h0, []
    for t in range(shape[dim]):
        prev = b[t] if prev is None else a[t] * prev + b[t]
        hs.append(prev)
    return tr.stack(hs, dim)


CASES = [  # (shape of a, shape of b, dim, shape of h0 or None)
    ((37, 3), (37, 3), 0, (3,)),
    ((40,), (40,), 0, None),
    ((2, 33, 4), (2, 33, 4), 1, (2, 4)),
    ((1, 45, 1), (3, 45, 2), 1, (3, 2)),       # broadcast a
    ((19, 1), (19, 5), 0, (1,)),               # broadcast a, h0
    ((50, 2), (1, 2), 0, None),                # broadcast b along time
    ((3, 2, 20), (3, 2, 20), -1, (3, 2)),
]


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("case", CASES, ids=lambda c: "x".join(map(str, c[0])) + f"-dim{c[2]}")
def test_values_equal_the_loop_and_gradients_the_autograd_loop(case, method, device):
    sa, sb, dim, s0 = case
    rng = np.random.default_rng(len(sa) * 100 + sa[0])
    a, b = rng.uniform(-1.05, 1.05, sa), rng.standard_normal(sb)
    h0 = None if s0 is None else rng.standard_normal(s0)
    ta = tr.tensor(a, device=device, requires_grad=True)
    tb = tr.tensor(b, device=device, requires_grad=True)
    th0 = None if h0 is None else tr.tensor(h0, device=device, requires_grad=True)
    h = tr.linear_scan(ta, tb, th0, dim, method=method)
    ref = loop_reference(a, b, h0, dim)
    assert h.shape == ref.shape and h.dtype == tr.float64
    np.testing.assert_allclose(h.numpy(), ref, rtol=1e-12, atol=1e-12)
    v = rng.standard_normal(ref.shape)
    (h * tr.tensor(v, device=device)).sum().backward()
    xs = [tr.tensor(x, device=device, requires_grad=True) for x in (a, b) + (() if h0 is None else (h0,))]
    ref_h = tensor_loop(xs[0], xs[1], xs[2] if h0 is not None else None, dim)
    (ref_h * tr.tensor(v, device=device)).sum().backward()
    for ours, theirs in zip([ta, tb, th0], xs):
        np.testing.assert_allclose(ours.grad.numpy(), theirs.grad.numpy(), rtol=1e-11, atol=1e-12)


@pytest.mark.parametrize("method", ["scan", "loop"])
def test_gradcheck(method, device):
    rng = np.random.default_rng(5)
    a = tr.tensor(rng.uniform(-1, 1, (21, 1, 3)), device=device, requires_grad=True)
    b = tr.tensor(rng.standard_normal((21, 2, 3)), device=device, requires_grad=True)
    h0 = tr.tensor(rng.standard_normal((2, 1)), device=device, requires_grad=True)
    assert tr.gradcheck(lambda a, b, h0: tr.linear_scan(a, b, h0, method=method), [a, b, h0])
    a2 = a.detach().transpose(0, 1).requires_grad_()          # (1, 21, 3): time along dim 1
    b2 = b.detach().transpose(0, 1).requires_grad_()          # (2, 21, 3)
    assert tr.gradcheck(lambda a, b: tr.linear_scan(a, b, dim=1, method=method).tanh(), [a2, b2])


def test_one_step(device):
    a = tr.tensor([[0.5, -2.0]], dtype=tr.float64, device=device, requires_grad=True)
    b = tr.tensor([[1.0, 3.0]], dtype=tr.float64, device=device, requires_grad=True)
    h0 = tr.tensor([4.0, 1.0], dtype=tr.float64, device=device, requires_grad=True)
    h = tr.linear_scan(a, b, h0)
    np.testing.assert_array_equal(h.numpy(), [[3.0, 1.0]])
    h.sum().backward()
    np.testing.assert_array_equal(a.grad.numpy(), [[4.0, 1.0]])
    np.testing.assert_array_equal(b.grad.numpy(), [[1.0, 1.0]])
    np.testing.assert_array_equal(h0.grad.numpy(), [0.5, -2.0])
    np.testing.assert_array_equal(tr.linear_scan(a[:, :1], b[:, :1]).numpy(), [[1.0]])


@pytest.mark.parametrize("method", ["scan", "auto"])
def test_ten_thousand_steps(method, device):
    rng = np.random.default_rng(10_000)
    T = 10_000
    a = rng.uniform(0.9, 1.0, (T, 3))
    b = rng.standard_normal((T, 3))
    h0 = rng.standard_normal(3)
    ta, tb, th0 = (tr.tensor(x, device=device, requires_grad=True) for x in (a, b, h0))
    h = tr.linear_scan(ta, tb, th0, method=method)
    ref = loop_reference(a, b, h0)
    scale = np.abs(ref).max()
    np.testing.assert_allclose(h.numpy(), ref, rtol=1e-12, atol=1e-12 * scale)
    v = rng.standard_normal((T, 3))
    (h * tr.tensor(v, device=device)).sum().backward()
    da, db, dh0 = adjoint_reference(a, ref, h0, v)
    for got, want in [(ta.grad, da), (tb.grad, db), (th0.grad, dh0)]:
        np.testing.assert_allclose(got.numpy(), want, rtol=1e-12, atol=1e-12 * np.abs(want).max())


def test_empty_sequence(device):
    a = tr.zeros(0, 3, dtype=tr.float64, device=device, requires_grad=True)
    b = tr.zeros(0, 3, dtype=tr.float64, device=device, requires_grad=True)
    h0 = tr.ones(3, dtype=tr.float64, device=device, requires_grad=True)
    h = tr.linear_scan(a, b, h0)
    assert h.shape == (0, 3)
    h.sum().backward()
    assert a.grad.shape == (0, 3) and np.all(h0.grad.numpy() == 0)


def test_float32_stays_float32(device):
    rng = np.random.default_rng(1)
    a = rng.uniform(-1, 1, (64, 4)).astype(np.float32)
    b = rng.standard_normal((64, 4)).astype(np.float32)
    h = tr.linear_scan(tr.tensor(a, device=device), tr.tensor(b, device=device), method="scan")
    assert h.dtype == tr.float32
    np.testing.assert_allclose(h.numpy(), loop_reference(a.astype(np.float64), b.astype(np.float64)),
                               rtol=1e-4, atol=1e-5)
    mixed = tr.linear_scan(tr.tensor(a, device=device), tr.tensor(b.astype(np.float64), device=device))
    assert mixed.dtype == tr.float64                    # promotion as PyTorch's binary ops


def test_auto_picks_the_loop_only_for_big_slices_on_numpy(monkeypatch, device):
    calls = []
    for name in ("_scan", "_loop"):
        real = getattr(scan_ops, name)
        monkeypatch.setattr(scan_ops, name, lambda *args, _r=real, _n=name: calls.append(_n) or _r(*args))
    small = tr.ones(40, scan_ops.LOOP_MIN_BYTES // 4 - 1, device=device)      # float32
    tr.linear_scan(small, small)
    assert calls[0] == "_scan"
    calls.clear()
    big = tr.ones(40, scan_ops.LOOP_MIN_BYTES // 4, device=device)
    tr.linear_scan(big, big)
    assert calls[0] == ("_loop" if device == "cpu" else "_scan")


def test_modified_input_raises_in_backward(device):
    a = tr.rand(30, 2, device=device)
    b = tr.randn(30, 2, device=device, requires_grad=True)
    h = tr.linear_scan(a, b)
    a.add_(1.0)
    with pytest.raises(RuntimeError, match="modified"):
        h.sum().backward()


def test_bad_arguments_raise_clearly(device):
    x = tr.randn(5, 3, device=device)
    with pytest.raises(TypeError, match="a must be a Tensor"):
        tr.linear_scan(np.ones((5, 3)), x)
    with pytest.raises(TypeError, match="floating"):
        tr.linear_scan(tr.ones(5, 3, dtype=tr.int64, device=device), x)
    with pytest.raises(ValueError, match="cannot be broadcast"):
        tr.linear_scan(tr.randn(4, 3, device=device), x)
    with pytest.raises(ValueError, match="h0 of shape"):
        tr.linear_scan(x, x, tr.randn(5, device=device))
    with pytest.raises(IndexError, match="dimension out of range"):
        tr.linear_scan(x, x, dim=2)
    with pytest.raises(ValueError, match="method"):
        tr.linear_scan(x, x, method="blelloch")
    with pytest.raises(ValueError, match="0-d"):
        tr.linear_scan(tr.tensor(1.0, device=device), tr.tensor(2.0, device=device))


@pytest.mark.cpu_only   # a property over shapes; the device twins above cover the GPU
@settings(max_examples=25, deadline=None)
@given(T=st.integers(1, 70), lead=st.lists(st.integers(1, 3), max_size=2), flags=st.lists(st.booleans(), min_size=4,
                                                                                           max_size=4))
def test_broadcasting_property(T, lead, flags):
    shape = (T, *lead)
    sa = tuple(1 if f and i else n for i, (n, f) in enumerate(zip(shape, flags)))
    sb = tuple(1 if (not f) and i else n for i, (n, f) in enumerate(zip(shape, flags)))
    rng = np.random.default_rng(T)
    a, b = rng.uniform(-1, 1, sa), rng.standard_normal(sb)
    h0 = rng.standard_normal(tuple(lead)) if flags[-1] else None
    for method in ("scan", "loop"):
        h = tr.linear_scan(tr.tensor(a), tr.tensor(b), None if h0 is None else tr.tensor(h0), method=method)
        np.testing.assert_allclose(h.numpy(), loop_reference(a, b, h0), rtol=1e-12, atol=1e-12)
