"""``LazyLinear``, ``Flatten``, ``Unflatten`` and ``pack_sequence`` / ``unpack_sequence`` / ``unpad_sequence``
against PyTorch (live; their arithmetic is the op table's, checked with golden fixtures there)."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import require

import tinygrad_rnn as tr
from tinygrad_rnn.nn.utils.rnn import pack_sequence, unpack_sequence, unpad_sequence


def test_lazy_linear_infers_in_features_and_becomes_linear(device):
    torch = require("torch")
    torch.manual_seed(0)            # seeded: the float32 comparison below sees the same weights every run
    lazy, ref = tr.nn.LazyLinear(4, device=device), torch.nn.LazyLinear(4)
    assert repr(lazy) == repr(ref) == "LazyLinear(in_features=0, out_features=4, bias=True)"
    weight, bias = lazy.weight, lazy.bias
    opt = tr.optim.SGD(lazy.parameters(), lr=0.1)           # built before the shapes are known
    x = np.random.default_rng(0).standard_normal((2, 3)).astype(np.float32)
    tr.manual_seed(7)
    y = lazy(tr.tensor(x, device=device))
    ref(torch.tensor(x))
    assert type(lazy) is tr.nn.Linear and repr(lazy) == repr(ref) and lazy.in_features == 3
    assert lazy.weight is weight and lazy.bias is bias and weight.shape == (4, 3) and bias.shape == (4,)
    tr.manual_seed(7)
    plain = tr.nn.Linear(3, 4, device=device)                # the same draws as Linear's initialisation
    np.testing.assert_array_equal(weight.numpy(), plain.weight.numpy())
    np.testing.assert_array_equal(bias.numpy(), plain.bias.numpy())
    y.sum().backward()              # before load_state_dict changes the weight y's graph saved (as in torch)
    lazy.load_state_dict({k: v.detach().numpy() for k, v in ref.state_dict().items()})
    np.testing.assert_allclose(lazy(tr.tensor(x, device=device)).numpy(), ref(torch.tensor(x)).detach().numpy(),
                               rtol=1e-6, atol=1e-7)
    before = weight.numpy().copy()
    opt.step()
    assert not np.array_equal(weight.numpy(), before)        # the optimizer updates the same objects
    nobias = tr.nn.LazyLinear(2, bias=False)
    nobias(tr.zeros(5, 6))
    assert nobias.bias is None and nobias.weight.shape == (2, 6)
    with pytest.raises(ValueError, match="at least 1 dimension"):
        tr.nn.LazyLinear(2)(tr.tensor(1.0))


def test_lazy_linear_loads_a_state_dict_before_its_first_forward(device):
    torch = require("torch")
    ref = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh())
    state = {k: v.detach().numpy() for k, v in ref.state_dict().items()}
    ours = tr.nn.Sequential(tr.nn.LazyLinear(4), tr.nn.Tanh()).to(device)
    tref = torch.nn.Sequential(torch.nn.LazyLinear(4), torch.nn.Tanh())
    ours.load_state_dict(state)
    tref.load_state_dict(ref.state_dict())
    assert repr(ours) == repr(tref) and ours[0].weight.shape == (4, 3)
    x = np.linspace(-1, 1, 6).reshape(2, 3).astype(np.float32)
    np.testing.assert_allclose(ours(tr.tensor(x, device=device)).numpy(), tref(torch.tensor(x)).detach().numpy(),
                               rtol=1e-6)
    assert repr(ours) == repr(tref)


def test_flatten_unflatten_match_torch(device):
    torch = require("torch")
    a = np.random.default_rng(1).standard_normal((2, 3, 4, 5))
    x, t = tr.tensor(a, device=device, requires_grad=True), torch.tensor(a, requires_grad=True)
    for ours, ref in ((tr.nn.Flatten(), torch.nn.Flatten()), (tr.nn.Flatten(0, 2), torch.nn.Flatten(0, 2)),
                      (tr.nn.Unflatten(1, (3, 1)), torch.nn.Unflatten(1, (3, 1))),
                      (tr.nn.Unflatten(-1, (-1, 5)), torch.nn.Unflatten(-1, (-1, 5))),
                      (tr.nn.Sequential(tr.nn.Flatten(), tr.nn.Unflatten(1, [3, 20])),
                       torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Unflatten(1, [3, 20])))):
        assert repr(ours) == repr(ref)
        y, r = ours(x), ref(t)
        assert y.shape == tuple(r.shape)
        np.testing.assert_array_equal(y.detach().numpy(), r.detach().numpy())
        v = np.random.default_rng(2).standard_normal(tuple(r.shape))
        (y * tr.tensor(v, device=device)).sum().backward()
        (r * torch.tensor(v)).sum().backward()
        np.testing.assert_allclose(x.grad.numpy(), t.grad.numpy())
    with pytest.raises(ValueError, match="does not fit"):
        tr.nn.Unflatten(1, (2, 2))(x)
    with pytest.raises(TypeError, match="unflattened_size"):
        tr.nn.Unflatten(1, 3)


def test_pack_unpack_unpad_sequence_match_torch(device):
    torch = require("torch")
    rng = np.random.default_rng(3)
    arrays = [rng.standard_normal((n, 2)) for n in (2, 4, 3)]
    ours = [tr.tensor(a, device=device, requires_grad=True) for a in arrays]
    refs = [torch.tensor(a, requires_grad=True) for a in arrays]
    packed, rpacked = pack_sequence(ours, enforce_sorted=False), torch.nn.utils.rnn.pack_sequence(refs, False)
    np.testing.assert_array_equal(packed.data.detach().numpy(), rpacked.data.detach().numpy())
    for name in ("batch_sizes", "sorted_indices", "unsorted_indices"):
        assert getattr(packed, name).tolist() == getattr(rpacked, name).tolist(), name
    back, rback = unpack_sequence(packed), torch.nn.utils.rnn.unpack_sequence(rpacked)
    assert [b.shape for b in back] == [tuple(r.shape) for r in rback] == [a.shape for a in arrays]
    loss = sum((b * b).sum() for b in back)
    loss.backward()
    sum((r * r).sum() for r in rback).backward()
    for o, r in zip(ours, refs):
        np.testing.assert_allclose(o.grad.numpy(), r.grad.numpy())
    out, _ = tr.nn.LSTM(2, 3).double().to(device)(pack_sequence(ours, enforce_sorted=False))
    assert out.data.shape == (9, 3)
    with pytest.raises(ValueError, match="decreasing"):
        pack_sequence(ours)                      # enforce_sorted=True, as PyTorch's default
    padded = tr.nn.utils.rnn.pad_sequence(ours, batch_first=True)
    rpadded = torch.nn.utils.rnn.pad_sequence(refs, batch_first=True)
    for first in (True, False):
        p, rp = (padded, rpadded) if first else (padded.transpose(0, 1), rpadded.transpose(0, 1))
        pieces = unpad_sequence(p, tr.tensor([2, 4, 3]), batch_first=first)
        rpieces = torch.nn.utils.rnn.unpad_sequence(rp, torch.tensor([2, 4, 3]), batch_first=first)
        for a, b in zip(pieces, rpieces):
            np.testing.assert_array_equal(a.detach().numpy(), b.detach().numpy())
    with pytest.raises(ValueError, match="3 lengths"):
        unpad_sequence(padded, [2, 4], batch_first=True)
    with pytest.raises(TypeError, match="Tensor"):
        pack_sequence([arrays[0]])
