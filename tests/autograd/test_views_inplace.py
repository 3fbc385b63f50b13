"""Views share their base's version counter; in-place changes through any alias are seen by backward, and
through a view of a non-leaf they rebase its history (PyTorch's ``CopySlices``) — issue 11, items 1-2.

The case table lives in ``tests/fixtures/make_inplace_fixtures.py`` (one program per case, written once
for both libraries); each case is held to PyTorch's outcome from the golden ``inplace.npz`` and live.
"""

from __future__ import annotations

import functools

import numpy as np
import pytest
from conftest import fixture_module, require

import tinygrad_rnn as tr

fx = fixture_module("make_inplace_fixtures")
CASES = {c.name: c for c in fx.CASES}
op_fx = fixture_module("make_op_fixtures")


@functools.lru_cache(maxsize=1)
def golden() -> dict:
    with np.load(fx.FIXTURE, allow_pickle=False) as f:
        return {k: f[k] for k in f.files}


def check_outcome(name: str, ref: tuple, device: str, monkeypatch) -> None:
    """Our outcome of case ``name`` on ``device`` equals ``ref`` = (status, grad or None, values)."""
    monkeypatch.setenv("TINYGRAD_RNN_DEVICE", device)      # the tensors a case makes land on the device
    status, grad, value = fx.outcome(tr, CASES[name])
    assert status == ref[0], f"{name}: {status}, PyTorch: {ref[0]}"
    np.testing.assert_allclose(value, ref[2], rtol=1e-12, atol=1e-12, err_msg=f"{name}: leaf values")
    if ref[1] is not None:
        np.testing.assert_allclose(grad, ref[1], rtol=1e-10, atol=1e-12, err_msg=f"{name}: gradient")


@pytest.mark.parametrize("name", list(CASES))
def test_case_matches_golden_pytorch_outcome(name, device, monkeypatch):
    g = golden()
    ref = (str(g[f"{name}/outcome"]), g.get(f"{name}/grad"), g[f"{name}/value"])
    check_outcome(name, ref, device, monkeypatch)


@pytest.mark.parametrize("name", list(CASES))
def test_case_matches_live_pytorch(name, device, monkeypatch):
    torch = require("torch")
    check_outcome(name, fx.outcome(torch, CASES[name]), device, monkeypatch)


@pytest.mark.cpu_only      # checks the fixture file against the table, no computation
def test_golden_fixture_covers_the_table():
    g = golden()
    assert {k.split("/")[0] for k in g} == set(CASES), "stale fixture: rerun make_inplace_fixtures.py"


def leaf(values, device):
    return tr.tensor(np.asarray(values, dtype=np.float64), device=device, requires_grad=True)


def test_version_error_has_pytorchs_message(device):
    a = leaf([1.0, 2.0, 3.0, 4.0], device)
    y = a.exp()
    y[0:2].mul_(0.0)
    with pytest.raises(RuntimeError) as e:
        y.sum().backward()
    msg = str(e.value)
    assert msg.startswith("one of the variables needed for gradient computation has been modified by an "
                          "inplace operation: [float64 [4]], which is output 0 of Exp, is at version 1; "
                          "expected version 0 instead."), msg


def test_view_of_leaf_message_and_nothing_changed(device):
    w = leaf([1.0, 2.0, 3.0], device)
    for change in (lambda: w[0:2].mul_(10.0), lambda: w.unsqueeze(0).add_(1.0), lambda: w[1].zero_(),
                   lambda: w.narrow(0, 1, 2).copy_(tr.zeros(2, dtype=tr.float64, device=device))):
        with pytest.raises(RuntimeError, match="a view of a leaf Variable that requires grad is being used in "
                                               "an in-place operation"):
            change()
    np.testing.assert_array_equal(w.numpy(), [1.0, 2.0, 3.0])
    assert w._version.value == 0 and w.is_leaf and w.requires_grad


def test_no_grad_view_writes_bump_the_leaf_version(device):
    w = leaf([1.0, 2.0, 3.0], device)
    loss = (w * w).sum()
    with tr.no_grad():
        w[1].mul_(10.0)                       # an int index is a 0-d view (PyTorch), so w changes
    np.testing.assert_array_equal(w.numpy(), [1.0, 20.0, 3.0])
    assert w._version.value == 1
    with pytest.raises(RuntimeError, match="input 0 of Mul, is at version 1; expected version 0"):
        loss.backward()


VIEWS = {
    "slice": lambda t: t[1:3],
    "int": lambda t: t[1],
    "ellipsis_none": lambda t: t[..., None],
    "reshape": lambda t: t.reshape(2, 2),
    "view": lambda t: t.view(4, 1),
    "flatten": lambda t: t.view(2, 2).flatten(),
    "unsqueeze": lambda t: t.unsqueeze(1),
    "squeeze": lambda t: t.view(1, 4).squeeze(0),
    "t": lambda t: t.view(2, 2).t(),
    "T": lambda t: t.view(2, 2).T,
    "transpose": lambda t: t.view(2, 2).transpose(0, 1),
    "permute": lambda t: t.view(2, 2).permute(1, 0),
    "narrow": lambda t: t.narrow(0, 1, 3),
    "expand": lambda t: t[0:1].expand(3),
    "detach": lambda t: t.detach(),
    "split": lambda t: t.split(2)[1],
    "chunk": lambda t: t.chunk(2)[0],
    "unbind": lambda t: t.unbind(0)[2],
}
COPIES = {
    "advanced_index": lambda t: t[tr.tensor([0, 2])],
    "bool_mask": lambda t: t[t > 0],
    "clone": lambda t: t.clone(),
    "flip": lambda t: t.flip(0),
    "reshape_of_transpose": lambda t: t.view(2, 2).t().reshape(4),
    "data": lambda t: t.data,                  # shares storage, not the counter (as PyTorch)
}


@pytest.mark.parametrize("kind", list(VIEWS))
def test_views_share_the_counter_and_storage(kind, device):
    for grad in (True, False):
        base = tr.tensor(np.arange(4.0), device=device, requires_grad=grad) * 1.0
        v = VIEWS[kind](base)
        assert v._version is base._version, kind
        assert np.shares_memory(tr.backend.to_numpy(v._data), tr.backend.to_numpy(base._data)) or device != "cpu"


@pytest.mark.parametrize("kind", list(COPIES))
def test_copies_have_their_own_counter(kind, device):
    base = tr.tensor(np.arange(4.0) + 1.0, device=device)
    c = COPIES[kind](base)
    assert c._version is not base._version
    if kind != "data":
        with tr.no_grad():
            c.mul_(2.0)
        np.testing.assert_array_equal(base.numpy(), np.arange(4.0) + 1.0)   # the base never changes


def _available(dotted: str | None) -> bool:
    obj = tr
    for part in (dotted or "").split(".") if dotted else ():
        obj = getattr(obj, part, None)
        if obj is None:
            return False
    return True


@pytest.mark.cpu_only      # np.shares_memory inspects NumPy arrays; the property does not depend on the device
def test_no_op_output_aliases_an_input_unless_it_is_a_view():
    """Every op of the op table: an output that shares memory with an input is a view sharing its counter
    (Flip used to return NumPy's view of its input with a fresh counter)."""
    with np.load(op_fx.FIXTURE, allow_pickle=False) as f:
        g = {k: f[k] for k in f.files}
    checked = 0
    for case in op_fx.CASES:
        if not _available(case.needs):
            continue                          # an op another branch adds
        inputs = [g[f"{case.name}/in{i}"] for i in range(len(case.shapes))]
        xs = [tr.tensor(a, requires_grad=a.dtype.kind == "f") for a in inputs]
        for o in op_fx.flat_outputs(case.fn(tr, *xs)):
            checked += 1
            for x in xs:
                if np.shares_memory(o._data, x._data):
                    assert o._version is x._version, f"{case.name}: output aliases its input with its own counter"
    assert checked > 50


def test_copy_slices_gradcheck(device):
    """The rebased history (CopySlices, through several view ops) against finite differences."""
    def fn(a, b):
        y = a * 1.0
        y[1:3].mul_(b[0:2])                           # slice
        y.view(2, 2).t()[0].add_(b[2:4] * b[2:4])     # view, t, int index
        y.unsqueeze(0)[:, 3].copy_(b[0] * a[0])       # unsqueeze, slice, broadcast copy
        return y * y
    a = leaf([0.3, -1.2, 0.8, 2.0], device)
    b = leaf([1.5, -0.5, 0.25, 0.7], device)
    assert tr.gradcheck(fn, (a, b))


def test_stale_views_follow_the_rebased_history(device):
    """Views made before an in-place change of their base (directly or through a sibling) carry the new history."""
    a = leaf([1.0, 2.0, 3.0, 4.0], device)
    z = tr.zeros(4, dtype=tr.float64, device=device)
    v_early = z[1:3]
    assert not v_early.requires_grad
    z[0:2].copy_(a[0:2] * 3.0)                        # z now has history; v_early overlaps the change
    assert v_early.requires_grad and z.requires_grad and not z.is_leaf
    (v_early * 2.0).sum().backward()
    np.testing.assert_allclose(a.grad.numpy(), [0.0, 6.0, 0.0, 0.0])


def test_view_registry_stays_small(device):
    """Views register weakly with their root; the dead ones are dropped (a loop over x[t] leaks nothing)."""
    x = tr.zeros(50, 3, device=device)
    for _ in range(20):
        for t in range(50):
            x[t].sum()
    assert len(x._views.refs) < 200
    keep = [x[t] for t in range(50)]
    assert len(x._views.live()) == len(keep)


def test_inplace_shape_mismatch_raises_before_any_change(device):
    a = leaf([1.0, 2.0], device)
    y = a * 1.0
    v = y[0:1]
    with pytest.raises(ValueError, match=r"mul_: the result has shape \(2,\).*shape \(1,\)"):
        v.mul_(tr.tensor([2.0, 3.0], dtype=tr.float64, device=device))
    assert y._version.value == 0 and y.grad_fn.name == "Mul"
    np.testing.assert_array_equal(y.numpy(), [1.0, 2.0])


def test_detach_of_view_in_place_is_refused_as_pytorch(device):
    y = leaf([1.0, 2.0], device) * 1.0
    with pytest.raises(RuntimeError, match="Can't detach views in-place"):
        y[0:1].detach_()


# --------------------------------------------------------------------- models: a change between forward and backward


def _linear_case(m, step_fn):
    """loss = sum(l2(tanh(l1(x)))); ``step_fn(l1, l2)`` runs between forward and backward."""
    m.manual_seed(0)
    l1, l2 = m.nn.Linear(3, 4), m.nn.Linear(4, 2)
    x = m.tensor(np.random.default_rng(0).standard_normal((5, 3)), dtype=m.float32)
    loss = l2(l1(x).tanh()).sum()
    step_fn(m, l1, l2)
    loss.backward()


def _sgd_on_l2(m, l1, l2):
    m.optim.SGD(l2.parameters(), lr=0.1)  # (an optimizer built mid-way changes nothing)
    with m.no_grad():
        l2.weight.sub_(0.1 * m.ones_like(l2.weight))


def test_optimizer_step_between_forward_and_backward_raises(device, monkeypatch):
    monkeypatch.setenv("TINYGRAD_RNN_DEVICE", device)
    with pytest.raises(RuntimeError, match=r"\[float32 \[4, 2\]\], which is input 1 of Matmul"):
        _linear_case(tr, _sgd_on_l2)                  # F.linear saved w.t(): a view of l2.weight


def test_optimizer_step_between_forward_and_backward_raises_in_pytorch_too(device):
    torch = require("torch")
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        _linear_case(torch, _sgd_on_l2)


def _recurrent_case(m, unroll, change, device="cpu"):
    """An LSTM forward, then ``change`` (an optimizer step on the weights, or an in-place change of the
    input), then backward. ``unroll`` only for ours (PyTorch's layer is always one op)."""
    m.manual_seed(0)
    lstm = m.nn.LSTM(3, 4, num_layers=2)
    dev = {} if m is not tr else {"device": device}
    if m is tr:
        lstm = lstm.to(device)
    x = m.tensor(np.random.default_rng(1).standard_normal((5, 2, 3)), dtype=m.float32, **dev)
    h = x * 1.0
    out, _ = lstm(h, unroll=unroll) if m is tr else lstm(h)
    if change == "optimizer":
        opt = m.optim.Adam(lstm.parameters(), lr=0.01)
        for p in lstm.parameters():
            p.grad = m.ones_like(p)
        opt.step()
    else:
        with m.no_grad():
            h.mul_(2.0)
    out.sum().backward()


@pytest.mark.parametrize("change", ["optimizer", "input"])
@pytest.mark.parametrize("unroll", [True, False])
def test_recurrent_change_between_forward_and_backward_raises(unroll, change, device):
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        _recurrent_case(tr, unroll, change, device)


@pytest.mark.parametrize("change", ["optimizer", "input"])
def test_recurrent_change_between_forward_and_backward_raises_in_pytorch_too(change, device):
    torch = require("torch")
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        _recurrent_case(torch, None, change)
