"""Every optimizer checks all its gradients before it changes any state (issue 11, item 5).

``.grad`` assignments are checked (tests/autograd/test_hooks_and_grad_checked.py), but a gradient can
still diverge from its parameter through ``p.grad.data = ...`` or ``p.data = ...``: ``step()`` then raises,
naming the parameter, with parameters, ``state['step']`` and every buffer unchanged.
"""

from __future__ import annotations

import numpy as np
import pytest

import tinygrad_rnn as tr
from tinygrad_rnn.autograd.engine import GradientError

OPTIMIZERS = {
    "sgd": lambda ps: tr.optim.SGD(ps, lr=0.1),
    "sgd_momentum": lambda ps: tr.optim.SGD(ps, lr=0.1, momentum=0.9, nesterov=True),
    "adam": lambda ps: tr.optim.Adam(ps, lr=0.01, weight_decay=0.1),
    "adam_amsgrad": lambda ps: tr.optim.Adam(ps, lr=0.01, amsgrad=True),
    "adamw": lambda ps: tr.optim.AdamW(ps, lr=0.01),
    "adagrad": lambda ps: tr.optim.Adagrad(ps, lr=0.1),
    "rmsprop": lambda ps: tr.optim.RMSprop(ps, lr=0.01, momentum=0.5, centered=True),
}
CORRUPTIONS = {
    "grad_shape": lambda p: setattr(p.grad, "data", tr.ones(4, device=p.device)),
    "grad_dtype": lambda p: setattr(p.grad, "data", p.grad.double()),
    "param_reshaped": lambda p: setattr(p, "data", tr.ones(1, 2, device=p.device)),
}


def _params(device):
    a = tr.nn.Parameter(tr.tensor([[0.5, -1.0, 2.0]], device=device))
    b = tr.nn.Parameter(tr.tensor([1.5, -0.25], device=device))
    return [a, b]


def _set_grads(params):
    for k, p in enumerate(params):
        p.grad = tr.full(tuple(p.shape), 0.1 * (k + 1), device=p.device)


def _snapshot(opt):
    params = [p.detach().numpy().copy() for g in opt.param_groups for p in g["params"]]
    state = {id(p): {k: (v.numpy().copy() if isinstance(v, tr.Tensor) else v) for k, v in s.items()}
             for p, s in opt.state.items()}
    return params, state


def _assert_same(before, after):
    for a, b in zip(before[0], after[0]):
        np.testing.assert_array_equal(a, b)
    assert before[1].keys() == after[1].keys()
    for k in before[1]:
        assert before[1][k].keys() == after[1][k].keys()
        for name in before[1][k]:
            np.testing.assert_array_equal(before[1][k][name], after[1][k][name], err_msg=name)


@pytest.mark.parametrize("corrupt", list(CORRUPTIONS))
@pytest.mark.parametrize("name", list(OPTIMIZERS))
@pytest.mark.parametrize("warm", [False, True], ids=["first_step", "later_step"])
def test_bad_gradient_raises_before_any_change(name, corrupt, warm, device):
    params = _params(device)
    opt = OPTIMIZERS[name](params)
    if warm:
        _set_grads(params)
        opt.step()                            # state exists: step counters and buffers
    _set_grads(params)
    CORRUPTIONS[corrupt](params[1])           # the second parameter: the first must not be updated either
    before = _snapshot(opt)
    with pytest.raises(GradientError, match=r"param_groups\[0\]\['params'\]\[1\].*nothing was changed"):
        opt.step()
    _assert_same(before, _snapshot(opt))


def test_gradient_error_is_a_runtime_and_a_value_error(device):
    assert issubclass(GradientError, RuntimeError) and issubclass(GradientError, ValueError)


def test_issue_example_refused_at_assignment_then_adam_steps_once(device):
    p = tr.nn.Parameter(tr.ones(1, 3, device=device))
    opt = tr.optim.Adam([p], lr=0.1)
    with pytest.raises(RuntimeError, match="same size"):
        p.grad = tr.ones(1, device=device)    # would have broadcast in the update
    with pytest.raises(RuntimeError, match="same size"):
        p.grad = tr.ones(2, 3, device=device)
    assert p.grad is None and not opt.state
    p.grad = tr.full((1, 3), 0.5, device=device)
    opt.step()
    assert float(opt.state[p]["step"].item()) == 1.0
    np.testing.assert_allclose(p.detach().numpy(), np.full((1, 3), 0.9), rtol=1e-6)
