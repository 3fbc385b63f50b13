"""Module and Parameter: registration, names and order, tied weights, state_dict both ways with PyTorch,
strict errors that change nothing, to()/double() keeping Parameter identity, modes, repr."""

from __future__ import annotations

import copy

import numpy as np
import pytest

import tinygrad_rnn as tr
from conftest import require
from tinygrad_rnn import nn


class Block(nn.Module):
    def __init__(self, dim: int = 3) -> None:
        super().__init__()
        self.proj = nn.Linear(dim, dim)
        self.scale = nn.Parameter(tr.ones(dim))
        self.register_buffer("steps", tr.zeros(1))
        self.register_buffer("scratch", tr.zeros(2), persistent=False)

    def forward(self, x):
        return self.proj(x) * self.scale


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Embedding(7, 3)
        self.blocks = nn.ModuleList([Block(), Block()])
        self.head = nn.Linear(3, 7, bias=False)
        self.head.weight = self.embed.weight          # tied weights

    def forward(self, idx):
        h = self.embed(idx)
        for b in self.blocks:
            h = b(h).tanh()
        return self.head(h)


EXPECTED_PARAMS = ["embed.weight", "blocks.0.scale", "blocks.0.proj.weight", "blocks.0.proj.bias",
                   "blocks.1.scale", "blocks.1.proj.weight", "blocks.1.proj.bias"]


@pytest.mark.cpu_only      # registration order and names only: nothing is computed
def test_named_parameters_order_names_and_tied_weight_once():
    net = Net()
    names = [n for n, _ in net.named_parameters()]
    assert names == EXPECTED_PARAMS
    assert len(list(net.parameters())) == 7
    assert next(net.parameters()) is net.embed.weight
    for n, p in net.named_parameters():
        assert p._name == n
    assert [n for n, _ in net.named_parameters(remove_duplicate=False)][-1] == "head.weight"


def test_named_parameters_match_torch_for_the_same_structure(device):
    torch = require("torch")

    class TBlock(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.proj = torch.nn.Linear(3, 3)
            self.scale = torch.nn.Parameter(torch.ones(3))
            self.register_buffer("steps", torch.zeros(1))
            self.register_buffer("scratch", torch.zeros(2), persistent=False)

    class TNet(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = torch.nn.Embedding(7, 3)
            self.blocks = torch.nn.ModuleList([TBlock(), TBlock()])
            self.head = torch.nn.Linear(3, 7, bias=False)
            self.head.weight = self.embed.weight

    t, ours = TNet(), Net().to(device)
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in t.named_parameters()]
    assert list(ours.state_dict()) == list(t.state_dict())
    assert [n for n, _ in ours.named_buffers()] == [n for n, _ in t.named_buffers()]
    assert [n for n, _ in ours.named_modules()] == [n for n, _ in t.named_modules()]
    assert [n for n, _ in ours.named_children()] == [n for n, _ in t.named_children()]
    ours.load_state_dict(t.state_dict())
    idx = np.array([[1, 2, 6]])
    with torch.no_grad():
        expected = t.head(torch.tanh(t.blocks[1].proj(torch.tanh(t.blocks[0].proj(t.embed(torch.tensor(idx)))))))
    out = ours(tr.tensor(idx, device=device))
    assert out.device == device
    np.testing.assert_allclose(out.detach().numpy(), expected.numpy(), rtol=1e-5, atol=1e-6)


def test_state_dict_keys_values_and_buffers(device):
    net = Net().to(device)
    sd = net.state_dict()
    assert list(sd) == ["embed.weight", "blocks.0.scale", "blocks.0.steps", "blocks.0.proj.weight",
                        "blocks.0.proj.bias", "blocks.1.scale", "blocks.1.steps", "blocks.1.proj.weight",
                        "blocks.1.proj.bias", "head.weight"]
    assert all(not v.requires_grad and v.grad_fn is None and v.device == device for v in sd.values())
    np.testing.assert_array_equal(sd["head.weight"].numpy(), net.embed.weight.detach().numpy())
    assert "blocks.0.scratch" not in sd
    assert [n for n, _ in net.named_buffers()] == ["blocks.0.steps", "blocks.0.scratch", "blocks.1.steps",
                                                    "blocks.1.scratch"]


def test_state_dict_round_trip_between_two_modules(device):
    a, b = Net().to(device), Net().to(device)
    result = b.load_state_dict(a.state_dict())
    assert result.missing_keys == [] and result.unexpected_keys == []
    for (na, pa), (nb, pb) in zip(a.named_parameters(), b.named_parameters()):
        assert na == nb
        np.testing.assert_array_equal(pa.detach().numpy(), pb.detach().numpy())
        assert pb.device == device
    assert b.head.weight is b.embed.weight


@pytest.mark.parametrize("kind", ["linear", "embedding"])
def test_state_dict_moves_both_ways_with_torch(kind, device):
    torch = require("torch")
    tol = {"rtol": 1e-14, "atol": 1e-15} if device == "cpu" else {"rtol": 1e-10, "atol": 1e-12}
    if kind == "linear":
        ours, theirs = nn.Linear(4, 3, dtype=tr.float64, device=device), torch.nn.Linear(4, 3).double()
        x = np.random.default_rng(0).standard_normal((2, 4))
        run_ours = lambda: ours(tr.tensor(x, device=device)).detach().numpy()          # noqa: E731
        run_torch = lambda: theirs(torch.tensor(x)).detach().numpy()    # noqa: E731
    else:
        ours = nn.Embedding(6, 3, padding_idx=1, dtype=tr.float64, device=device)
        theirs = torch.nn.Embedding(6, 3, padding_idx=1).double()
        idx = np.array([[0, 1, 5], [2, 2, 3]])
        run_ours = lambda: ours(tr.tensor(idx, device=device)).detach().numpy()        # noqa: E731
        run_torch = lambda: theirs(torch.tensor(idx)).detach().numpy()  # noqa: E731
    ours.load_state_dict(theirs.state_dict())                           # torch tensors go straight in
    np.testing.assert_allclose(run_ours(), run_torch(), **tol)
    ours2 = type(ours)(*((4, 3) if kind == "linear" else (6, 3)), dtype=tr.float64, device=device)
    theirs.load_state_dict({k: torch.from_numpy(v.numpy().copy()) for k, v in ours2.state_dict().items()})
    ours.load_state_dict({k: v.numpy() for k, v in ours2.state_dict().items()})   # NumPy arrays too
    assert all(p.device == device for p in ours.parameters())
    np.testing.assert_allclose(run_ours(), run_torch(), **tol)


def _snapshot(m):
    return {k: (v.numpy().copy(), v.dtype) for k, v in m.state_dict().items()}


def test_strict_errors_name_keys_and_leave_module_unchanged(device):
    net = Net().to(device)
    before = _snapshot(net)
    good = {k: v.clone() + 1 for k, v in net.state_dict().items()}

    missing = dict(good)
    del missing["blocks.1.proj.bias"]
    with pytest.raises(RuntimeError, match=r"Missing key\(s\).*blocks\.1\.proj\.bias"):
        net.load_state_dict(missing)
    unexpected = dict(good, extra=tr.zeros(1, device=device))
    with pytest.raises(ValueError, match=r"Unexpected key\(s\).*extra"):
        net.load_state_dict(unexpected)
    bad_shape = dict(good)
    bad_shape["blocks.1.proj.weight"] = tr.zeros(3, 4, device=device)
    with pytest.raises(nn.module.StateDictError, match=r"blocks\.1\.proj\.weight.*\(3, 4\).*\(3, 3\)"):
        net.load_state_dict(bad_shape)
    with pytest.raises(RuntimeError, match="size mismatch"):
        net.load_state_dict(bad_shape, strict=False)          # shapes are checked even when not strict
    bad_type = dict(good)
    bad_type["embed.weight"] = "not an array"
    with pytest.raises(TypeError, match="embed.weight"):
        net.load_state_dict(bad_type)
    after = _snapshot(net)
    for k, (arr, dt) in before.items():
        np.testing.assert_array_equal(after[k][0], arr)
        assert after[k][1] == dt


def test_non_strict_reports_missing_and_unexpected(device):
    lin = nn.Linear(2, 2, device=device)
    res = lin.load_state_dict({"weight": np.ones((2, 2)), "other": np.zeros(1)}, strict=False)
    assert res.missing_keys == ["bias"] and res.unexpected_keys == ["other"]
    np.testing.assert_array_equal(lin.weight.detach().numpy(), 1.0)


def test_load_casts_into_parameter_dtype_and_keeps_objects(device):
    lin = nn.Linear(3, 2, device=device)
    w = lin.weight
    lin.load_state_dict({"weight": np.arange(6.0).reshape(2, 3), "bias": np.array([1, 2])})   # float64, int64
    assert lin.weight is w and w.dtype == tr.float32 and lin.bias.dtype == tr.float32
    assert w.device == lin.bias.device == device
    np.testing.assert_array_equal(lin.bias.detach().numpy(), [1.0, 2.0])
    assert w.requires_grad


def test_to_double_keeps_parameter_identity_and_moves_grads(device):
    net = Net().to(device)
    params = list(net.parameters())
    net(tr.tensor([[1, 2]], device=device)).sum().backward()
    versions = [p._version.value for p in params]
    assert net.double() is net
    assert [p is q for p, q in zip(params, net.parameters())] == [True] * len(params)
    assert all(p.dtype == tr.float64 and p.grad.dtype == tr.float64 for p in params)
    assert all(p.device == device and p.grad.device == device for p in params)
    assert all(p._version.value > v for p, v in zip(params, versions))   # caches keyed on the version see it
    assert net.blocks[0].steps.dtype == tr.float64
    net.float()
    assert all(p.dtype == tr.float32 for p in params)
    assert net.to(tr.float64).head.weight is params[0]
    net.zero_grad()
    out = net(tr.tensor([[0, 3]], device=device))
    assert out.dtype == tr.float64
    out.sum().backward()
    assert params[0].grad.dtype == tr.float64


def test_to_device_keeps_identity(device):
    lin = nn.Linear(3, 2)
    w = lin.weight
    lin.to(device)
    assert lin.weight is w and w.device == device and lin.bias.device == device
    out = lin(tr.randn(4, 3, device=device))
    assert out.device == device
    out.sum().backward()
    assert w.grad.device == device
    lin.cpu()
    assert w.device == "cpu" and w.grad.device == "cpu"


def test_layers_built_with_dtype_and_device(device):
    lin = nn.Linear(3, 2, dtype=tr.float64, device=device)
    emb = nn.Embedding(5, 2, dtype=tr.float64, device=device)
    assert lin.weight.dtype == lin.bias.dtype == emb.weight.dtype == tr.float64
    assert lin.weight.device == emb.weight.device == device
    with pytest.raises(TypeError, match="floating"):
        nn.Linear(3, 2, dtype=tr.long)


@pytest.mark.cpu_only      # argument checks that raise before any array is moved
def test_to_rejects_integer_dtype_and_bad_device():
    with pytest.raises(TypeError, match="floating"):
        nn.Linear(2, 2).to(tr.long)
    with pytest.raises(ValueError, match="device"):
        nn.Linear(2, 2).to("tpu")


@pytest.mark.cpu_only      # the training flag only: nothing is computed
def test_train_eval_propagate():
    net = nn.Sequential(nn.Linear(2, 2), nn.Dropout(0.5), nn.Sequential(nn.Dropout(0.2)))
    assert all(m.training for m in net.modules())
    assert net.eval() is net
    assert not any(m.training for m in net.modules())
    net.train()
    assert all(m.training for m in net.modules())
    with pytest.raises(TypeError):
        net.train("yes")


def test_zero_grad_and_requires_grad(device):
    lin = nn.Linear(2, 2, device=device)
    lin(tr.randn(3, 2, device=device)).sum().backward()
    lin.zero_grad(set_to_none=False)
    np.testing.assert_array_equal(lin.weight.grad.numpy(), 0.0)
    lin.zero_grad()
    assert lin.weight.grad is None and lin.bias.grad is None
    lin.requires_grad_(False)
    assert not any(p.requires_grad for p in lin.parameters())


@pytest.mark.cpu_only      # traversal order only: nothing is computed
def test_apply_visits_children_first():
    seen = []
    net = nn.Sequential(nn.Linear(1, 1), nn.Sequential(nn.Tanh()))
    net.apply(lambda m: seen.append(type(m).__name__))
    assert seen == ["Linear", "Tanh", "Sequential", "Sequential"]


@pytest.mark.cpu_only      # attribute registration rules only: nothing is computed
def test_setattr_registration_rules():
    m = nn.Module()
    m.w = nn.Parameter(tr.zeros(2))
    assert m.w._name == "w" and list(m._parameters) == ["w"]
    with pytest.raises(TypeError, match="Parameter"):
        m.w = tr.zeros(2)                     # a plain tensor cannot replace a parameter
    m.w = None
    assert list(m.named_parameters()) == []
    m.register_buffer("b", tr.ones(1))
    with pytest.raises(TypeError):
        m.b = 3.0
    m.child = nn.Linear(1, 1)
    with pytest.raises(TypeError):
        m.child = "x"
    del m.child
    assert list(m.children()) == []
    with pytest.raises(KeyError):
        m.register_parameter("a.b", None)
    with pytest.raises(AttributeError, match="nothere"):
        _ = m.nothere

    class Forgot(nn.Module):
        def __init__(self):
            self.w = nn.Parameter(tr.zeros(1))

    with pytest.raises(AttributeError, match="__init__"):
        Forgot()
    with pytest.raises(NotImplementedError, match="forward"):
        nn.Module()(1)


@pytest.mark.cpu_only      # name lookup only: nothing is computed
def test_get_submodule_and_parameter():
    net = Net()
    assert net.get_submodule("blocks.1.proj") is net.blocks[1].proj
    assert net.get_parameter("blocks.0.scale") is net.blocks[0].scale
    with pytest.raises(AttributeError):
        net.get_submodule("blocks.7")


def test_parameter_shares_data_and_repr(device):
    t = tr.zeros(2, device=device)
    p = nn.Parameter(t)
    assert p.requires_grad and isinstance(p, tr.Tensor) and p.device == device
    with tr.no_grad():
        p.add_(1.0)
    np.testing.assert_array_equal(t.numpy(), 1.0)
    if device == "cpu":      # the repr text is host-side formatting; torch's cuda repr differs ('cuda:0')
        assert repr(p) == "Parameter containing:\ntensor([1., 1.], requires_grad=True)"
    assert not isinstance(p.detach(), nn.Parameter) and not isinstance(p * 2, nn.Parameter)
    with pytest.raises(TypeError):
        nn.Parameter(np.zeros(2))


@pytest.mark.cpu_only      # repr strings: host-side formatting of module arguments, nothing is computed
def test_repr_like_torch():
    net = Net()
    text = repr(net)
    assert text.startswith("Net(\n  (embed): Embedding(7, 3)\n  (blocks): ModuleList(\n    (0-1): 2 x Block(")
    assert "(head): Linear(in_features=3, out_features=7, bias=False)" in text
    torch = require("torch")
    for ours, theirs in [(nn.Linear(3, 4), torch.nn.Linear(3, 4)),
                         (nn.Embedding(5, 2, padding_idx=0), torch.nn.Embedding(5, 2, padding_idx=0)),
                         (nn.Dropout(0.3), torch.nn.Dropout(0.3)),
                         (nn.Sequential(nn.Linear(1, 2), nn.Tanh()),
                          torch.nn.Sequential(torch.nn.Linear(1, 2), torch.nn.Tanh())),
                         (nn.LogSoftmax(dim=1), torch.nn.LogSoftmax(dim=1))]:
        assert repr(ours) == repr(theirs)


def test_deepcopy_gives_independent_parameters_and_keeps_ties(device):
    net = Net().to(device)
    twin = copy.deepcopy(net)
    assert twin.head.weight is twin.embed.weight and twin.embed.weight is not net.embed.weight
    with tr.no_grad():
        twin.embed.weight.add_(1.0)
    assert not np.array_equal(twin.embed.weight.detach().numpy(), net.embed.weight.detach().numpy())
    assert isinstance(twin.embed.weight, nn.Parameter) and twin.embed.weight.device == device
