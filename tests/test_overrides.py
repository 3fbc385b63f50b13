"""``tr.overrides.TorchFunctionMode``: a mode sees the calls of the dispatchable functions (``tr.cat``,
``tr.zeros``, ``F.linear`` ...) with their arguments and may replace the answer; modes nest as PyTorch's do
(checked live against ``torch.overrides``), the stack is restored on errors, and it is per thread."""

from __future__ import annotations

import inspect
import threading

import numpy as np
import pytest

import tinygrad_rnn as tr
from tinygrad_rnn import overrides
from tinygrad_rnn.nn import functional as F

from conftest import require


class Record(tr.overrides.BaseTorchFunctionMode):
    """Logs (tag, func, types, args, kwargs) of each call it sees, then runs the function."""

    def __init__(self, log: list, tag: str = "mode"):
        self.log, self.tag = log, tag

    def __torch_function__(self, func, types, args=(), kwargs=None):
        self.log.append((self.tag, func, types, args, dict(kwargs or {})))
        return super().__torch_function__(func, types, args, kwargs)


def test_a_mode_sees_the_calls_with_their_arguments(device):
    a, b = tr.randn(2, 3, device=device), tr.randn(2, 3, device=device)
    w, bias = tr.randn(4, 3, device=device), tr.randn(4, device=device)
    log: list = []
    with Record(log):
        c = tr.cat([a, b], dim=1)
        z = tr.zeros(2, 3, dtype=tr.float64, device=device)
        y = F.linear(a, w, bias=bias)
        r = F.relu(a)
        s = tr.where(a > 0, a, b)
    assert [e[1] for e in log] == [tr.cat, tr.zeros, F.linear, F.relu, tr.where]
    assert log[0][2:] == ((tr.Tensor,), ([a, b],), {"dim": 1})
    assert log[1][2:] == ((), (2, 3), {"dtype": tr.float64, "device": device})
    assert log[2][3][0] is a and log[2][3][1] is w and log[2][4] == {"bias": bias}
    assert log[3][3] == (a,) and log[3][4] == {}
    # the answers are the functions' own
    np.testing.assert_array_equal(c.numpy(), np.concatenate([a.numpy(), b.numpy()], 1))
    assert z.dtype == tr.float64 and z.shape == (2, 3) and not z.numpy().any()
    np.testing.assert_allclose(y.numpy(), a.numpy() @ w.numpy().T + bias.numpy(), rtol=1e-6)
    np.testing.assert_array_equal(r.numpy(), np.maximum(a.numpy(), 0))
    np.testing.assert_array_equal(s.numpy(), np.where(a.numpy() > 0, a.numpy(), b.numpy()))
    log.clear()
    tr.cat([a, b])                           # no mode: nothing is seen
    assert log == []


def test_a_mode_can_replace_the_answer(device):
    class Ones(tr.overrides.TorchFunctionMode):
        def __torch_function__(self, func, types, args=(), kwargs=None):
            if func is F.linear:
                return tr.ones(args[0].shape[0], args[1].shape[0], device=device)
            return func(*args, **(kwargs or {}))

    x, w = tr.randn(2, 3, device=device), tr.randn(5, 3, device=device)
    with Ones():
        out = F.linear(x, w)
        other = tr.stack([x, x])
    np.testing.assert_array_equal(out.numpy(), np.ones((2, 5), np.float32))
    assert other.shape == (2, 2, 3)
    assert F.linear(x, w).shape == (2, 5) and not np.array_equal(F.linear(x, w).numpy(), out.numpy())


def test_calling_func_inside_the_mode_does_not_come_back(device):
    """The mode is popped while its __torch_function__ runs: zeros_like calls zeros inside, unseen."""
    log: list = []
    x = tr.randn(2, 2, device=device)
    with Record(log):
        tr.zeros_like(x)
    assert [e[1] for e in log] == [tr.zeros_like]
    seen: list = []

    class Stack(tr.overrides.BaseTorchFunctionMode):
        def __torch_function__(self, func, types, args=(), kwargs=None):
            seen.append(overrides._get_current_function_mode_stack())
            return super().__torch_function__(func, types, args, kwargs)

    mode = Stack()
    with mode:
        assert overrides._get_current_function_mode_stack() == [mode]
        tr.ones(1, device=device)
        assert overrides._get_current_function_mode_stack() == [mode]
    assert seen == [[]] and overrides._get_current_function_mode_stack() == []


@pytest.mark.cpu_only      # compares the order of dispatch with torch's, no computation on a device
def test_nested_modes_dispatch_as_torch_does():
    torch = require("torch")

    def order(mode_base, cat, make):
        log: list = []

        class Tag(mode_base):
            def __init__(self, tag):
                super().__init__()
                self.tag = tag

            def __torch_function__(self, func, types, args=(), kwargs=None):
                log.append(self.tag)
                return func(*args, **(kwargs or {}))

        with Tag("outer"), Tag("inner"):
            cat([make(), make()])
        with Tag("outer"):
            with Tag("inner"):
                pass
            cat([make()])
        return log

    ours = order(tr.overrides.TorchFunctionMode, tr.cat, lambda: tr.ones(2))
    theirs = order(torch.overrides.TorchFunctionMode, torch.cat, lambda: torch.ones(2))
    # tr.ones inside the modes is seen too (torch.ones is as well): the same sequence in both
    assert ours == theirs == ["inner", "outer", "inner", "outer", "inner", "outer", "outer", "outer"]


def test_an_exception_restores_the_stack(device):
    log: list = []
    outer = Record(log, "outer")
    with outer:
        with pytest.raises(ValueError, match="inside"):
            with Record(log, "inner"):
                raise ValueError("inside")
        assert overrides._get_current_function_mode_stack() == [outer]

        class Fails(tr.overrides.TorchFunctionMode):
            def __torch_function__(self, func, types, args=(), kwargs=None):
                raise KeyError("in the mode")

        fails = Fails()
        with pytest.raises(KeyError, match="in the mode"):
            with fails:
                tr.cat([tr.ones(1, device=device)])
        assert overrides._get_current_function_mode_stack() == [outer]
    assert overrides._get_current_function_mode_stack() == []
    log.clear()
    tr.cat([tr.ones(1, device=device)])
    assert log == []


@pytest.mark.cpu_only      # mode bookkeeping: no computation
def test_modes_exit_in_reverse_order():
    a, b = Record([]), Record([])
    a.__enter__()
    b.__enter__()
    with pytest.raises(RuntimeError, match="not the innermost active mode"):
        a.__exit__(None, None, None)
    assert overrides._get_current_function_mode_stack() == [a, b]        # nothing changed
    b.__exit__(None, None, None)
    a.__exit__(None, None, None)
    assert overrides._get_current_function_mode_stack() == []


@pytest.mark.cpu_only      # the abstract base's error: no computation
def test_the_base_class_needs_torch_function():
    with pytest.raises(NotImplementedError, match="must define __torch_function__"):
        with tr.overrides.TorchFunctionMode():
            tr.zeros(1)


def test_a_mode_is_per_thread(device):
    """A mode entered in one thread sees none of another thread's calls, both ways round."""
    main_log, thread_log = [], []
    entered, checked = threading.Event(), threading.Event()
    result = {}

    def worker():
        with Record(thread_log):
            entered.set()
            checked.wait(10)
            result["cat"] = tr.cat([tr.ones(1, device=device), tr.zeros(1, device=device)])
        result["stack"] = overrides._get_current_function_mode_stack()

    with Record(main_log):
        t = threading.Thread(target=worker)
        t.start()
        assert entered.wait(10)
        tr.stack([tr.ones(2, device=device)])       # main: seen by main's mode only
        checked.set()
        t.join(10)
    assert not t.is_alive()
    assert [e[1] for e in main_log] == [tr.ones, tr.stack]
    assert [e[1] for e in thread_log] == [tr.ones, tr.zeros, tr.cat]
    np.testing.assert_array_equal(result["cat"].numpy(), [1.0, 0.0])
    assert result["stack"] == []


@pytest.mark.cpu_only      # checks names and signatures, no computation
def test_the_tracers_functions_are_dispatchable_and_keep_their_signatures():
    needed = [tr.cat, tr.concat, tr.stack, tr.where, tr.zeros_like, tr.ones_like, tr.zeros, tr.ones, tr.full,
              F.linear, F.embedding, F.dropout, F.softmax, F.log_softmax, F.relu, F.tanh, F.sigmoid, F.layer_norm,
              F.gelu, F.silu, F.scaled_dot_product_attention]
    assert all(any(f is d for d in overrides.DISPATCHABLE) for f in needed)
    assert tr.concat is tr.cat
    assert tr.cat.__name__ == "cat" and "dim" in inspect.signature(tr.cat).parameters
    assert list(inspect.signature(F.linear).parameters) == ["input", "weight", "bias"]
    assert tr.overrides.TorchFunctionMode is overrides.TorchFunctionMode
