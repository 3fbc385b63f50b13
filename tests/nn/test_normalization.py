"""``nn.LayerNorm`` and ``F.layer_norm`` against PyTorch (golden fixture and live), finite differences, float32.

The cases are the ``layer_norm*`` / ``layernorm*`` rows of ``tests/fixtures/make_transformer_fixtures.py``;
the checks are ``test_transformer``'s (one helper per kind of case).
"""

from __future__ import annotations

import numpy as np
import pytest
from test_transformer import MODULES, OPS, check_module_case, check_op_case

import tinygrad_rnn as tr
import tinygrad_rnn.nn.functional as F
from tinygrad_rnn import nn

NORM_OPS = [n for n in OPS if n.startswith("layer_norm")]
NORM_MODULES = [n for n in MODULES if n.startswith("layernorm")]


@pytest.mark.parametrize("name", NORM_OPS)
def test_layer_norm_golden(name, device):
    check_op_case(name, device)


# cpu_only: live torch runs on the host; the GPU counterpart is test_layer_norm_golden[cuda]
@pytest.mark.cpu_only
@pytest.mark.parametrize("name", NORM_OPS)
def test_layer_norm_live_torch(name):
    check_op_case(name, reference="torch")


@pytest.mark.parametrize("name", NORM_MODULES)
def test_layernorm_module_golden(name, device):
    check_module_case(name, device)


# cpu_only: live torch runs on the host; the GPU counterpart is test_layernorm_module_golden[cuda]
@pytest.mark.cpu_only
@pytest.mark.parametrize("name", NORM_MODULES)
def test_layernorm_module_live_torch(name):
    check_module_case(name, reference="torch")


def test_defaults_parameters_and_repr(device):
    ln = nn.LayerNorm(6, device=device)
    assert ln.normalized_shape == (6,) and ln.eps == 1e-5 and ln.elementwise_affine
    assert sorted(ln.state_dict()) == ["bias", "weight"]
    np.testing.assert_array_equal(ln.weight.numpy(), np.ones(6, np.float32))
    np.testing.assert_array_equal(ln.bias.numpy(), np.zeros(6, np.float32))
    assert ln.weight.dtype == tr.float32
    assert list(nn.LayerNorm(6, bias=False, device=device).state_dict()) == ["weight"]
    assert list(nn.LayerNorm([2, 3], elementwise_affine=False, device=device).state_dict()) == []
    assert repr(ln) == "LayerNorm((6,), eps=1e-05, elementwise_affine=True)"


def test_normalises_each_sample(device):
    x = tr.randn(4, 5, 16, dtype=tr.float64, device=device) * 3 + 2
    y = nn.LayerNorm(16, elementwise_affine=False, device=device)(x).numpy()
    np.testing.assert_allclose(y.mean(-1), 0.0, atol=1e-12)
    np.testing.assert_allclose(y.var(-1), 1.0, rtol=1e-4)      # var/(var + eps) with eps = 1e-5


def test_constant_input_is_finite(device):
    x = tr.full((2, 8), 3.0, device=device, requires_grad=True)
    y = F.layer_norm(x, (8,))
    np.testing.assert_array_equal(y.numpy(), 0.0)
    y.sum().backward()
    assert np.all(np.isfinite(x.grad.numpy()))


def test_bad_arguments_raise_clearly(device):
    x = tr.randn(2, 3, 4, device=device)
    with pytest.raises(ValueError, match="normalized_shape"):
        F.layer_norm(x, (3,))
    with pytest.raises(ValueError, match="normalized_shape"):
        F.layer_norm(x, (2, 3, 4, 5))
    with pytest.raises(ValueError, match="weight must have shape"):
        F.layer_norm(x, (4,), weight=tr.ones(3, device=device))
    with pytest.raises(TypeError, match="floating"):
        F.layer_norm(tr.tensor([[1, 2]], device=device), (2,))
    with pytest.raises(TypeError, match="normalized_shape"):
        nn.LayerNorm("4")
    with pytest.raises(ValueError, match="eps"):
        nn.LayerNorm(4, eps=-1.0)
