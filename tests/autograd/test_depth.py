"""Depth: long chains backpropagate without recursion, and the graph is freed by refcount alone."""

from __future__ import annotations

import gc
import inspect
import sys
import weakref

import numpy as np

import tinygrad_rnn as tr


def test_100k_op_chain_backpropagates_without_recursion(device):
    x = tr.tensor(np.array([1.0, 2.0]), device=device, requires_grad=True)
    one = tr.tensor(np.array(1.0), device=device)
    if device == "cuda":                    # compile CuPy's kernels now, not under the recursion limit below
        (x * one).sum().backward()
        x.grad = None
    y = x
    for _ in range(100_000):
        y = y * one
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(len(inspect.stack(0)) + 100)   # any recursion over the chain fails at once
    try:
        y.sum().backward()
    finally:
        sys.setrecursionlimit(old)
    np.testing.assert_array_equal(x.grad.numpy(), [1.0, 1.0])


def test_deep_chain_of_mixed_ops_is_freed(device):
    x = tr.tensor(np.array([0.5]), device=device, requires_grad=True)
    y = x
    for _ in range(20_000):
        y = (y * 1.0).tanh() + 0.0
    y.sum().backward()
    assert np.isfinite(x.grad.numpy()).all()


def test_intermediates_die_by_refcount_after_backward_and_del(device):
    gc.collect()
    gc.disable()                              # only reference counting may free them
    try:
        x = tr.tensor(np.array([1.0, 2.0]), device=device, requires_grad=True)
        h = x * 2
        g = h.tanh()
        loss = (g * g).sum()
        refs = [weakref.ref(t) for t in (h, g, loss)] + [weakref.ref(t.grad_fn) for t in (h, g, loss)]
        loss.backward()
        del h, g, loss
        assert [r() for r in refs] == [None] * len(refs)
        assert x.grad is not None
    finally:
        gc.enable()


def test_retained_graph_stays_alive_while_referenced_then_dies(device):
    gc.collect()
    gc.disable()
    try:
        x = tr.tensor(np.array([1.0]), device=device, requires_grad=True)
        h = x.exp()
        loss = (h * 3).sum()
        node = weakref.ref(h.grad_fn)
        loss.backward(retain_graph=True)
        del h
        assert node() is not None            # still reachable from loss
        del loss
        assert node() is None
    finally:
        gc.enable()


def test_saved_arrays_are_freed_after_backward(device):
    x = tr.tensor(np.ones(3), device=device, requires_grad=True)
    y = x * x
    node = y.grad_fn
    y.sum().backward()
    assert node.saved is None
