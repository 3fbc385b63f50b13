"""Grad mode, graph scopes and grad-norm recording are per thread (issue 11, item 3), as PyTorch's grad mode.

The threads are choreographed with events, so the overlaps the tests claim really happen.
"""

from __future__ import annotations

import threading

import numpy as np
import pytest

import tinygrad_rnn as tr

TIMEOUT = 30.0


def run_threads(*targets) -> list:
    """Run each target in its own thread; re-raise the first exception a thread hit; return their results."""
    results, errors = [None] * len(targets), []

    def wrap(i, fn):
        try:
            results[i] = fn()
        except BaseException as e:         # handed back to the test
            errors.append(e)

    threads = [threading.Thread(target=wrap, args=(i, fn)) for i, fn in enumerate(targets)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(TIMEOUT)
        assert not t.is_alive(), "a thread hung"
    if errors:
        raise errors[0]
    return results


def wait(event: threading.Event) -> None:
    assert event.wait(TIMEOUT), "choreography timed out"


def test_no_grad_in_one_thread_does_not_stop_recording_in_another(device):
    x = tr.ones(3, device=device, requires_grad=True)
    inside, checked = threading.Event(), threading.Event()

    def quiet():
        with tr.no_grad():
            inside.set()
            wait(checked)
            return (x * 2).requires_grad

    def loud():
        wait(inside)
        try:
            return tr.is_grad_enabled(), (x * 2).requires_grad
        finally:
            checked.set()

    quiet_rg, (enabled, loud_rg) = run_threads(quiet, loud)
    assert quiet_rg is False and enabled is True and loud_rg is True


def test_a_new_thread_starts_with_grad_enabled(device):
    x = tr.ones(2, device=device, requires_grad=True)
    with tr.no_grad():
        (rg, enabled), = run_threads(lambda: ((x + 1).requires_grad, tr.is_grad_enabled()))
        assert not tr.is_grad_enabled()
    assert rg is True and enabled is True


def test_overlapping_no_grad_blocks_restore_each_thread(device):
    """A enters, B enters, A leaves, B leaves: a process-wide flag would be left off for good."""
    a_in, b_in, a_out = threading.Event(), threading.Event(), threading.Event()
    x = tr.ones(2, device=device, requires_grad=True)

    def a():
        with tr.no_grad():
            a_in.set()
            wait(b_in)
        a_out.set()
        return tr.is_grad_enabled(), (x * x).requires_grad

    def b():
        wait(a_in)
        with tr.no_grad():
            b_in.set()
            wait(a_out)
            inside = tr.is_grad_enabled()
        return inside, tr.is_grad_enabled()

    (a_after, a_rg), (b_inside, b_after) = run_threads(a, b)
    assert a_after and a_rg and b_after and not b_inside
    assert tr.is_grad_enabled() and (x * x).requires_grad


def test_set_grad_enabled_is_per_thread(device):
    x = tr.ones(2, device=device, requires_grad=True)
    off, checked = threading.Event(), threading.Event()

    def switcher():
        tr.set_grad_enabled(False)             # takes effect at once, in this thread only
        off.set()
        wait(checked)
        return tr.is_grad_enabled()

    def other():
        wait(off)
        try:
            return (x * 3).requires_grad
        finally:
            checked.set()

    switched, other_rg = run_threads(switcher, other)
    assert switched is False and other_rg is True and tr.is_grad_enabled()


def test_scope_in_one_thread_does_not_tag_another(device):
    x = tr.ones(2, device=device, requires_grad=True)
    inside, made = threading.Event(), threading.Event()

    def scoped():
        with tr.autograd.scope(name="lstm", layer=1, t=3):
            inside.set()
            wait(made)
            return dict((x * 2).grad_fn.scope), tr.autograd.current_scope()

    def plain():
        wait(inside)
        try:
            return dict((x * 2).grad_fn.scope), tr.autograd.current_scope()
        finally:
            made.set()

    (s_node, s_cur), (p_node, p_cur) = run_threads(scoped, plain)
    assert s_node == {"name": "lstm", "layer": 1, "t": 3} == s_cur
    assert p_node == {} and p_cur == {}


def test_record_grad_norms_is_per_thread(device):
    inside, done = threading.Event(), threading.Event()

    def recording():
        x = tr.ones(3, device=device, requires_grad=True)
        with tr.autograd.record_grad_norms():
            inside.set()
            wait(done)
            y = x * 2
            y.sum().backward()
        return y.grad_fn.grad_norms

    def plain():
        wait(inside)
        try:
            x = tr.ones(3, device=device, requires_grad=True)
            y = x * 2
            y.sum().backward()
            return y.grad_fn.grad_norms
        finally:
            done.set()

    rec, pl = run_threads(recording, plain)
    assert rec is not None and len(rec) == 1 and pl is None


# --------------------------------------------------------------------- two trainings at once


def _make_model(seed: int, device: str):
    tr.manual_seed(seed)
    return tr.nn.Sequential(tr.nn.Linear(4, 8), tr.nn.Tanh(), tr.nn.Linear(8, 2)).to(device)


def _make_lstm(seed: int, device: str):
    tr.manual_seed(seed)
    return tr.nn.LSTM(3, 5).to(device)


def _train(model, kind: str, data: list, start: threading.Barrier | None, steps: int = 6) -> list:
    """A few SGD steps (Linear, or an LSTM on both paths); ``start`` makes two threads begin together."""
    opt = tr.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    if start is not None:
        start.wait(TIMEOUT)
    for k in range(steps):
        x, y = data[k % len(data)]
        if kind == "linear":
            loss = tr.nn.functional.mse_loss(model(x), y)
        else:
            out, _ = model(x, unroll=k % 2 == 1)       # fused and unrolled steps alternate
            loss = (out * out).mean()
        opt.zero_grad()
        loss.backward()
        with tr.no_grad():                              # no_grad blocks interleave across the threads
            _ = loss * 1.0
        opt.step()
    return [p.detach().numpy().copy() for p in model.parameters()]


def _data(kind: str, seed: int, device: str) -> list:
    rng = np.random.default_rng(seed)
    if kind == "linear":
        return [(tr.tensor(rng.standard_normal((6, 4)), dtype=tr.float32, device=device),
                 tr.tensor(rng.standard_normal((6, 2)), dtype=tr.float32, device=device)) for _ in range(3)]
    return [(tr.tensor(rng.standard_normal((7, 2, 3)), dtype=tr.float32, device=device), None) for _ in range(3)]


@pytest.mark.parametrize("kind", ["linear", "lstm"])
def test_two_threads_train_two_models_bit_identical_to_serial(kind, device):
    make = _make_model if kind == "linear" else _make_lstm
    data = [_data(kind, 10, device), _data(kind, 20, device)]
    serial = [_train(make(seed, device), kind, d, None) for seed, d in zip((1, 2), data)]
    models = [make(seed, device) for seed in (1, 2)]
    start = threading.Barrier(2)
    threaded = run_threads(*[lambda m=m, d=d: _train(m, kind, d, start) for m, d in zip(models, data)])
    for s, t in zip(serial, threaded):
        assert len(s) == len(t)
        for a, b in zip(s, t):
            np.testing.assert_array_equal(a, b)
    assert not np.array_equal(serial[0][0], threaded[1][0])   # the two models really differ
