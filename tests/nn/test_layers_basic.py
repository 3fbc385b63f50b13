"""Linear, Embedding, Dropout, containers, activations, small functionals and ``nn.init``."""

from __future__ import annotations

import math
from collections import OrderedDict

import numpy as np
import pytest

import tinygrad_rnn as tr
import tinygrad_rnn.nn.functional as F
from conftest import fixture_module, require
from tinygrad_rnn import nn

fx = fixture_module("make_loss_fixtures")

GOLDEN = np.load(fx.FIXTURE, allow_pickle=False)
TOL = {"rtol": 1e-10, "atol": 1e-12}


def run_ours(case, arrays, v, device="cpu"):
    tensors = {k: tr.tensor(a, device=device, requires_grad=k in case.grads) for k, a in arrays.items()}
    y = fx.call(case, tr, tensors)
    (y * tr.tensor(v, device=device)).sum().backward()
    return {"out": y.detach().numpy(), **{f"grad_{k}": tensors[k].grad.numpy() for k in case.grads}}


def golden(case):
    inputs = {k.split("/in_", 1)[1]: GOLDEN[k] for k in GOLDEN.files if k.startswith(case.name + "/in_")}
    expected = {k.split("/", 1)[1]: GOLDEN[k] for k in GOLDEN.files
                if k.startswith(case.name + "/") and "/in_" not in k}
    return inputs, expected


def check(ours, ref, name):
    for k, a in ref.items():
        if k != "v":
            np.testing.assert_allclose(ours[k], a, **TOL, err_msg=f"{name}: {k}")


# --------------------------------------------------------------------- Linear / Embedding vs PyTorch


@pytest.mark.parametrize("case", fx.LAYER_CASES, ids=lambda c: c.name)
def test_layer_functional_matches_golden(case, device):
    inputs, expected = golden(case)
    check(run_ours(case, inputs, expected["v"], device), expected, case.name)


# host-side re-check of the stored fixture against torch; test_layer_functional_matches_golden[cuda] checks the GPU
@pytest.mark.cpu_only
@pytest.mark.parametrize("case", fx.LAYER_CASES, ids=lambda c: c.name)
def test_layer_functional_matches_torch_live(case):
    require("torch")
    inputs = case.arrays()
    ref = fx.run_torch(case, inputs)
    check(run_ours(case, inputs, ref["v"]), ref, case.name)


def test_linear_module_equals_golden_functional(device):
    case = next(c for c in fx.LAYER_CASES if c.name == "linear_batched_bias")
    inputs, expected = golden(case)
    lin = nn.Linear(3, 5, dtype=tr.float64, device=device)
    lin.load_state_dict({"weight": inputs["weight"], "bias": inputs["bias"]})
    x = tr.tensor(inputs["input"], device=device, requires_grad=True)
    y = lin(x)
    (y * tr.tensor(expected["v"], device=device)).sum().backward()
    np.testing.assert_allclose(y.detach().numpy(), expected["out"], **TOL)
    np.testing.assert_allclose(lin.weight.grad.numpy(), expected["grad_weight"], **TOL)
    np.testing.assert_allclose(lin.bias.grad.numpy(), expected["grad_bias"], **TOL)
    np.testing.assert_allclose(x.grad.numpy(), expected["grad_input"], **TOL)


def test_embedding_module_padding_row_gets_zero_gradient_and_repeats_accumulate(device):
    case = next(c for c in fx.LAYER_CASES if c.name == "embedding_pad0")
    inputs, expected = golden(case)
    emb = nn.Embedding(7, 4, padding_idx=0, dtype=tr.float64, device=device)
    emb.load_state_dict({"weight": inputs["weight"]})
    y = emb(tr.tensor(inputs["input"], device=device))
    (y * tr.tensor(expected["v"], device=device)).sum().backward()
    np.testing.assert_allclose(emb.weight.grad.numpy(), expected["grad_weight"], **TOL)
    np.testing.assert_array_equal(emb.weight.grad.numpy()[0], 0.0)
    assert np.abs(expected["grad_weight"][2]).sum() > 0          # row 2 appears 4 times


def test_linear_init_is_torch_bound(device):
    tr.manual_seed(0)
    lin = nn.Linear(400, 300, device=device)
    bound = 1 / math.sqrt(400)
    w, b = lin.weight.detach().numpy(), lin.bias.detach().numpy()
    assert np.abs(w).max() <= bound and np.abs(b).max() <= bound
    assert abs(w.std() - bound / math.sqrt(3)) < 0.01 * bound
    assert abs(w.mean()) < 0.01 * bound
    assert lin.weight.dtype == tr.float32 and lin.weight.requires_grad and lin.weight.device == device


def test_init_is_reproducible_with_manual_seed(device):
    tr.manual_seed(3)
    a = nn.Linear(4, 4, device=device).weight.detach().numpy().copy()
    tr.manual_seed(3)
    b = nn.Linear(4, 4, device=device).weight.detach().numpy()
    np.testing.assert_array_equal(a, b)


def test_embedding_init_and_padding(device):
    tr.manual_seed(0)
    emb = nn.Embedding(2000, 50, padding_idx=-1, device=device)
    assert emb.padding_idx == 1999
    w = emb.weight.detach().numpy()
    np.testing.assert_array_equal(w[1999], 0.0)
    assert abs(w[:-1].mean()) < 0.01 and abs(w[:-1].std() - 1) < 0.01


def test_embedding_bad_input(device):
    emb = nn.Embedding(5, 2, device=device)
    with pytest.raises(IndexError, match=r"index 5 .*5 rows"):
        emb(tr.tensor([0, 5], device=device))
    with pytest.raises(IndexError, match="-1"):
        emb(tr.tensor([-1], device=device))
    with pytest.raises(TypeError, match="integer"):
        emb(tr.tensor([0.0, 1.0], device=device))
    with pytest.raises(ValueError, match="padding_idx"):
        nn.Embedding(5, 2, padding_idx=5)


def test_embedding_range_checked_on_device(device):
    emb = nn.Embedding(5, 2, device=device)
    with pytest.raises(IndexError):
        emb(tr.tensor([[1, 9]], device=device))
    assert emb(tr.tensor([[1, 4]], device=device)).shape == (1, 2, 2)


def test_embedding_max_norm_renormalises_looked_up_rows(device):
    emb = nn.Embedding(3, 2, max_norm=1.0, dtype=tr.float64, device=device)
    emb.load_state_dict({"weight": np.array([[3.0, 4.0], [0.3, 0.4], [6.0, 8.0]])})
    out = emb(tr.tensor([0, 1], device=device)).detach().numpy()
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), [1.0, 0.5], rtol=1e-6)
    np.testing.assert_array_equal(emb.weight.detach().numpy()[2], [6.0, 8.0])   # not looked up: unchanged


def test_embedding_from_pretrained(device):
    w = tr.tensor([[1.0, 2.0], [3.0, 4.0]], device=device)
    emb = nn.Embedding.from_pretrained(w)
    assert not emb.weight.requires_grad and emb.weight.device == device
    np.testing.assert_array_equal(emb(tr.tensor([1], device=device)).numpy(), [[3.0, 4.0]])


def test_linear_bad_input(device):
    with pytest.raises(ValueError, match=r"\(2, 4\).*\(5, 3\)"):
        nn.Linear(3, 5, device=device)(tr.randn(2, 4, device=device))
    with pytest.raises(ValueError, match="in_features"):
        nn.Linear(-1, 3)


# --------------------------------------------------------------------- Dropout, activations, containers


def test_dropout_training_rate_scale_and_eval_identity(device):
    d = nn.Dropout(0.25, generator=tr.Generator().manual_seed(5))
    x = tr.ones(200, 100, device=device, requires_grad=True)
    y = d(x)
    vals = y.detach().numpy()
    assert set(np.unique(vals)) <= {0.0, np.float32(1 / 0.75)}
    assert abs((vals == 0).mean() - 0.25) < 0.01
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), vals)           # gradient = mask × scale
    d2 = nn.Dropout(0.25, generator=tr.Generator().manual_seed(5))
    np.testing.assert_array_equal(d2(tr.ones(200, 100, device=device)).numpy(), vals)
    d.eval()
    assert d(x) is x
    with pytest.raises(ValueError, match="between 0 and 1"):
        nn.Dropout(1.5)


def test_activation_modules(device):
    x = tr.tensor([[-2.0, 0.5, 3.0]], device=device)
    a = x.numpy()
    rtol = 1e-6 if device == "cpu" else 1e-5                     # float32
    np.testing.assert_allclose(nn.Tanh()(x).numpy(), np.tanh(a), rtol=rtol)
    np.testing.assert_allclose(nn.Sigmoid()(x).numpy(), 1 / (1 + np.exp(-a)), rtol=rtol)
    np.testing.assert_array_equal(nn.ReLU()(x).numpy(), np.maximum(a, 0))
    sm = np.exp(a) / np.exp(a).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(nn.Softmax(dim=1)(x).numpy(), sm, rtol=rtol)
    np.testing.assert_allclose(nn.LogSoftmax(dim=-1)(x).numpy(), np.log(sm), rtol=rtol)
    assert nn.Identity(3, foo=1)(x) is x
    with pytest.warns(UserWarning, match="Implicit dimension"):
        F.softmax(x)


def test_sequential(device):
    seq = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1)).to(device)
    assert len(seq) == 3 and isinstance(seq[1], nn.ReLU) and isinstance(seq[-1], nn.Linear)
    assert isinstance(seq[:2], nn.Sequential) and len(seq[:2]) == 2
    x = tr.randn(4, 2, device=device)
    np.testing.assert_array_equal(seq(x).numpy(), seq[2](seq[1](seq[0](x))).numpy())
    named = nn.Sequential(OrderedDict([("enc", nn.Linear(2, 2)), ("act", nn.Tanh())]))
    assert list(named.state_dict()) == ["enc.weight", "enc.bias"]
    seq.append(nn.Sigmoid())
    assert [n for n, _ in seq.named_children()] == ["0", "1", "2", "3"]
    with pytest.raises(IndexError):
        seq[7]


@pytest.mark.cpu_only      # container bookkeeping (order, names, state_dict keys): nothing is computed
def test_module_list_and_dict():
    ml = nn.ModuleList([nn.Linear(1, 1), nn.Linear(1, 1)])
    ml.append(nn.Tanh())
    ml.insert(0, nn.ReLU())
    assert [type(m).__name__ for m in ml] == ["ReLU", "Linear", "Linear", "Tanh"]
    assert list(ml.state_dict()) == ["1.weight", "1.bias", "2.weight", "2.bias"]
    del ml[0]
    assert list(ml.state_dict()) == ["0.weight", "0.bias", "1.weight", "1.bias"]
    ml += [nn.Linear(1, 1)]
    assert len(ml) == 4 and len(list(ml.parameters())) == 6
    with pytest.raises(TypeError):
        ml.extend(nn.Linear(1, 1))
    md = nn.ModuleDict({"a": nn.Linear(1, 2), "b": nn.Tanh()})
    md["c"] = nn.Linear(2, 2)
    assert list(md) == ["a", "b", "c"] and "b" in md and len(md) == 3
    assert list(md.state_dict()) == ["a.weight", "a.bias", "c.weight", "c.bias"]
    md.pop("a")
    assert list(md.keys()) == ["b", "c"]


# --------------------------------------------------------------------- small functionals


def test_one_hot(device):
    out = F.one_hot(tr.tensor([0, 2, 1], device=device))
    assert out.dtype == tr.int64 and out.shape == (3, 3) and out.device == device
    np.testing.assert_array_equal(out.numpy(), np.eye(3, dtype=np.int64)[[0, 2, 1]])
    assert F.one_hot(tr.tensor([[1]], device=device), num_classes=4).shape == (1, 1, 4)
    with pytest.raises(IndexError, match="num_classes"):
        F.one_hot(tr.tensor([0, 4], device=device), 4)
    with pytest.raises(IndexError, match="non-negative"):
        F.one_hot(tr.tensor([-1], device=device), 3)
    with pytest.raises(TypeError):
        F.one_hot(tr.tensor([1.0], device=device))


def test_pad_torch_order(device):
    x = tr.ones(2, 3, device=device)
    y = F.pad(x, (1, 2), value=5.0)
    assert y.shape == (2, 6) and y.numpy()[0, 0] == 5.0 and y.numpy()[0, -1] == 5.0
    assert F.pad(x, (0, 0, 1, 0)).shape == (3, 3)


def test_logsigmoid_stable_and_matches_formula(device):
    x = tr.tensor(np.array([-1000.0, -3.0, 0.0, 2.0, 1000.0]), device=device, requires_grad=True)
    y = F.logsigmoid(x)
    rtol = 1e-12 if device == "cpu" else 1e-10
    expected = -np.logaddexp(0, -x.detach().numpy())
    np.testing.assert_allclose(y.detach().numpy(), expected, rtol=rtol)
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), np.exp(-np.logaddexp(0, x.detach().numpy())), rtol=rtol)
    assert tr.gradcheck(F.logsigmoid, tr.tensor(np.array([-3.0, 0.1, 2.0]), device=device, requires_grad=True))


# --------------------------------------------------------------------- nn.init


@pytest.mark.cpu_only      # calculate_gain returns a Python float: no array, no device
def test_calculate_gain_matches_torch():
    torch = require("torch")
    for nl, p in [("linear", None), ("sigmoid", None), ("tanh", None), ("relu", None), ("leaky_relu", None),
                  ("leaky_relu", 0.2), ("selu", None)]:
        assert nn.init.calculate_gain(nl, p) == pytest.approx(torch.nn.init.calculate_gain(nl, p), rel=1e-12)
    with pytest.raises(ValueError):
        nn.init.calculate_gain("swish")


def test_uniform_normal_constant(device):
    w = tr.zeros(300, 200, device=device)
    g = tr.Generator().manual_seed(1)
    nn.init.uniform_(w, -0.5, 0.25, generator=g)
    a = w.numpy()
    assert a.min() >= -0.5 and a.max() < 0.25 and abs(a.mean() + 0.125) < 0.005
    nn.init.normal_(w, 2.0, 0.5)
    assert abs(w.numpy().mean() - 2.0) < 0.01 and abs(w.numpy().std() - 0.5) < 0.01
    nn.init.constant_(w, 0.3)
    np.testing.assert_array_equal(w.numpy(), np.float32(0.3))
    nn.init.zeros_(w)
    assert not w.numpy().any()
    nn.init.ones_(w)
    assert (w.numpy() == 1).all()


def test_init_works_in_place_on_parameters_without_a_graph(device):
    p = nn.Parameter(tr.zeros(3, 4, device=device))
    v = p._version.value
    nn.init.xavier_uniform_(p)
    assert p.grad_fn is None and p.requires_grad and p._version.value > v
    assert p.numpy().any() and p.device == device


def test_generator_reproducibility(device):
    a, b = tr.zeros(5, 5, device=device), tr.zeros(5, 5, device=device)
    nn.init.kaiming_uniform_(a, generator=tr.Generator().manual_seed(9))
    nn.init.kaiming_uniform_(b, generator=tr.Generator().manual_seed(9))
    np.testing.assert_array_equal(a.numpy(), b.numpy())


@pytest.mark.parametrize("fn, expected_std", [
    ("xavier_uniform_", math.sqrt(2.0 / (400 + 200))),
    ("xavier_normal_", math.sqrt(2.0 / (400 + 200))),
    ("kaiming_uniform_", math.sqrt(2.0) / math.sqrt(400)),
    ("kaiming_normal_", math.sqrt(2.0) / math.sqrt(400)),
])
def test_fan_based_init_statistics(fn, expected_std, device):
    w = tr.zeros(200, 400, dtype=tr.float64, device=device)
    getattr(nn.init, fn)(w, generator=tr.Generator().manual_seed(0))
    a = w.numpy()
    assert abs(a.std() - expected_std) < 0.01 * expected_std
    if fn.endswith("uniform_"):
        assert np.abs(a).max() <= math.sqrt(3) * expected_std


def test_orthogonal(device):
    for shape in [(6, 4), (4, 6), (5, 5)]:
        w = tr.zeros(*shape, dtype=tr.float64, device=device)
        nn.init.orthogonal_(w, gain=2.0)
        a = w.numpy()
        small = a.T @ a if shape[0] >= shape[1] else a @ a.T
        np.testing.assert_allclose(small, 4.0 * np.eye(min(shape)), atol=1e-12)
    with pytest.raises(ValueError):
        nn.init.orthogonal_(tr.zeros(3, device=device))


def test_fan_needs_two_dims(device):
    with pytest.raises(ValueError, match="fewer than 2 dimensions"):
        nn.init.xavier_uniform_(tr.zeros(3, device=device))
