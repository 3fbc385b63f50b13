"""Property tests of the binary ops over mutually broadcastable shapes (0-d and 0-size included)."""

from __future__ import annotations

import os

import numpy as np
import pytest

if os.environ.get("TINYGRAD_RNN_REQUIRE_REFS") != "1":
    pytest.importorskip("hypothesis")     # optional outside CI (the GPU image has no hypothesis)
from hypothesis import given, settings, strategies as st  # noqa: E402
from hypothesis.extra.numpy import mutually_broadcastable_shapes  # noqa: E402

import tinygrad_rnn as tr  # noqa: E402

# cpu_only: hypothesis property tests (the GPU image has no hypothesis); the broadcasting binary ops run on the
# GPU in tests/test_ops.py::test_op_golden[cuda-*] (add_bcast, add_0d, sub, mul, div_bcast, pow_tensor_bcast,
# maximum, minimum_ties: values and gradients vs the fixture and vs NumPy in float64 and float32)
pytestmark = pytest.mark.cpu_only

# name: (our op, NumPy reference, input generator for the right operand)
BINARY = {
    "add": (lambda a, b: a + b, np.add, "n"),
    "sub": (lambda a, b: a - b, np.subtract, "n"),
    "mul": (lambda a, b: a * b, np.multiply, "n"),
    "div": (lambda a, b: a / b, np.divide, "pos"),
    "pow": (lambda a, b: b ** a, lambda a, b: b ** a, "pos"),
    "maximum": (tr.maximum, np.maximum, "n"),
    "minimum": (tr.minimum, np.minimum, "n"),
    "radd_array": (lambda a, b: a.numpy() + b, np.add, "n"),
}

SHAPES = mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3, min_side=0, max_side=3)


def draw(rng, shape, kind):
    return rng.uniform(0.5, 2.0, shape) if kind == "pos" else rng.standard_normal(shape)


@pytest.mark.parametrize("name", list(BINARY))
@settings(max_examples=30, deadline=None)
@given(shapes=SHAPES, seed=st.integers(0, 2**16))
def test_binary_op_properties(name, shapes, seed):
    op, ref, kind = BINARY[name]
    rng = np.random.default_rng(seed)
    sa, sb = shapes.input_shapes
    a_np, b_np = rng.standard_normal(sa), draw(rng, sb, kind)
    a = tr.tensor(a_np.copy(), requires_grad=True)
    b = tr.tensor(b_np.copy(), requires_grad=True)
    y = op(a, b)
    assert y.shape == shapes.result_shape
    assert y.dtype == np.float64
    np.testing.assert_allclose(y.numpy(), ref(a_np, b_np), rtol=1e-12, atol=0)

    g_np = rng.standard_normal(y.shape)
    g = tr.tensor(g_np.copy())
    y.backward(g)
    grads = [a.grad, b.grad] if name != "radd_array" else [b.grad]
    for t, grad in zip([a, b] if name != "radd_array" else [b], grads):
        assert grad is not None and grad.shape == t.shape and grad.dtype == t.dtype
    np.testing.assert_array_equal(a.numpy(), a_np)           # nothing was written into the inputs
    np.testing.assert_array_equal(b.numpy(), b_np)
    np.testing.assert_array_equal(g.numpy(), g_np)           # nor into the upstream gradient

    a2 = tr.tensor(a_np, requires_grad=name != "radd_array")
    b2 = tr.tensor(b_np, requires_grad=True)
    assert tr.gradcheck(op, (a2, b2), atol=1e-6, rtol=1e-5)
