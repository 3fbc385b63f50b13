"""``tr.gradcheck``: it accepts right gradients, catches wrong ones, and insists on float64."""

from __future__ import annotations

import numpy as np
import pytest

import tinygrad_rnn as tr
from tinygrad_rnn.autograd import Function


class WrongSquare(Function):
    """y = x²  with a deliberately wrong backward (dx = dy·x instead of 2·dy·x)."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * x

    @staticmethod
    def backward(ctx, dy):
        (x,) = ctx.saved
        return dy * x


class RightSquare(WrongSquare):
    @staticmethod
    def backward(ctx, dy):
        (x,) = ctx.saved
        return 2 * dy * x


def x64(shape=(3, 2), seed=0, device="cpu"):
    return tr.tensor(np.random.default_rng(seed).standard_normal(shape), device=device, requires_grad=True)


def test_accepts_correct_gradients(device):
    assert tr.gradcheck(lambda a, b: (a @ b).tanh(), (x64((2, 3), device=device), x64((3, 2), 1, device)))
    assert tr.gradcheck(RightSquare.apply, x64(device=device))


def test_catches_a_wrong_function(device):
    with pytest.raises(tr.GradcheckError, match=r"input 0.*analytical.*numerical"):
        tr.gradcheck(WrongSquare.apply, x64(device=device))
    assert tr.gradcheck(WrongSquare.apply, x64(device=device), raise_exception=False) is False


def test_float32_input_raises_type_error_saying_float64(device):
    x = tr.tensor(np.ones(3, np.float32), device=device, requires_grad=True)
    with pytest.raises(TypeError, match=r"input 0.*float32.*float64"):
        tr.gradcheck(lambda t: t * 2, (x,))


def test_no_input_requiring_grad_is_an_error(device):
    with pytest.raises(ValueError, match="requires grad"):
        tr.gradcheck(lambda t: t * 2, (tr.tensor(np.ones(2), device=device),))


def test_inputs_are_not_changed(device):
    x = x64(device=device)
    before = x.numpy().copy()
    tr.gradcheck(lambda t: t.exp(), (x,))
    np.testing.assert_array_equal(x.numpy(), before)
    assert x.grad is None


def test_non_tensor_arguments_pass_through_and_multi_outputs(device):
    x = x64((4, 3), device=device)
    assert tr.gradcheck(lambda t, n: t.split(n, 0), (x, 2))
    assert tr.gradcheck(lambda t: t.max(1), (x,))      # (values, int64 indices): the indices are ignored
