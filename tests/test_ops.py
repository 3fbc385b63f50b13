"""Every differentiable op against PyTorch (golden fixture and live) and against finite differences.

The op table lives in ``tests/fixtures/make_op_fixtures.py``: one line per op call, written once in
PyTorch's spelling for both libraries. ``check_op`` is the one helper every case goes through: in
float64 against the reference and finite differences, in float32 against the float64 reference (the
dtype must stay float32), and on the GPU also against NumPy's run of the same case in both dtypes.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import importlib.util
import os

import numpy as np
import pytest
from conftest import fixture_module, require

import tinygrad_rnn as tr

fx = fixture_module("make_op_fixtures")

CASES = {c.name: c for c in fx.CASES}
IDS = list(CASES)


@functools.lru_cache(maxsize=1)
def golden() -> dict:
    with np.load(fx.FIXTURE, allow_pickle=False) as f:
        return {k: f[k] for k in f.files}


def _has(module, dotted: str) -> bool:
    obj = module
    for part in dotted.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            try:
                obj = importlib.import_module(f"{obj.__name__}.{part}")
            except (ImportError, AttributeError):
                return False
    return True


@contextlib.contextmanager
def default_device(device: str):
    """New tensors default to ``device`` (as ``torch.set_default_device``): the index tensors a case makes
    inside ``fn`` (``m.tensor([[0, 2]])``) then live on the device of its inputs."""
    old = os.environ.get("TINYGRAD_RNN_DEVICE")
    os.environ["TINYGRAD_RNN_DEVICE"] = device
    try:
        yield
    finally:
        if old is None:
            del os.environ["TINYGRAD_RNN_DEVICE"]
        else:
            os.environ["TINYGRAD_RNN_DEVICE"] = old


def run_ours(case, inputs: list, device: str, vs=None):
    """Outputs, upstream gradients and input gradients of a case in tinygrad_rnn."""
    xs = [tr.tensor(a, device=device, requires_grad=a.dtype.kind == "f") for a in inputs]
    before = [a.copy() for a in inputs]
    with default_device(device):
        outs = fx.flat_outputs(case.fn(tr, *xs))
    if vs is None:
        vs = fx.upstream(case, outs)
    loss = None
    for o, v in zip(outs, vs):
        if v is not None and o.requires_grad:
            term = (o * tr.tensor(v, device=device)).sum()
            loss = term if loss is None else loss + term
    if loss is not None:
        loss.backward()
    grads = [None if a.dtype.kind != "f" else (np.zeros(a.shape, a.dtype) if x.grad is None else x.grad.numpy())
             for a, x in zip(inputs, xs)]
    for a, b, x in zip(before, inputs, xs):   # ops never write into their inputs
        np.testing.assert_array_equal(x.numpy(), a)
        np.testing.assert_array_equal(b, a)
    return [o.numpy() for o in outs], vs, grads


def assert_same(name: str, ours, ref, rtol=1e-9, atol=1e-12) -> None:
    ours, ref = np.asarray(ours), np.asarray(ref)
    assert ours.shape == ref.shape, f"{name}: shape {ours.shape}, expected {ref.shape}"
    if ref.dtype.kind == "f":
        assert ours.dtype == ref.dtype, f"{name}: dtype {ours.dtype}, expected {ref.dtype}"
        np.testing.assert_allclose(ours, ref, rtol=rtol, atol=atol, err_msg=name)
    else:
        assert ours.dtype.kind == ref.dtype.kind, f"{name}: dtype {ours.dtype}, expected {ref.dtype}"
        np.testing.assert_array_equal(ours, ref, err_msg=name)


def check_op(name: str, device: str = "cpu", reference: str = "fixture") -> None:
    """The one helper: values and gradients vs the golden fixture (or live torch), and finite differences."""
    case = CASES[name]
    if case.needs and not _has(tr, case.needs):
        pytest.skip(f"tinygrad_rnn has no {case.needs} yet")
    g = golden()
    inputs = [g[f"{name}/in{i}"] for i in range(len(case.shapes))]
    for a, shape in zip(inputs, case.shapes):
        assert a.shape == tuple(shape), f"{name}: fixture is stale, rerun tests/fixtures/make_op_fixtures.py"
    if reference == "torch":
        require("torch")
        ref_outs, vs, ref_grads = fx.run_torch(case, inputs)
    else:
        n_out = sum(1 for k in g if k.startswith(f"{name}/out"))
        ref_outs = [g[f"{name}/out{j}"] for j in range(n_out)]
        vs = [g.get(f"{name}/v{j}") for j in range(n_out)]
        ref_grads = [g.get(f"{name}/grad{i}") for i in range(len(inputs))]
    outs, _, grads = run_ours(case, inputs, device, vs)
    assert len(outs) == len(ref_outs), f"{name}: {len(outs)} outputs, expected {len(ref_outs)}"
    for j, (o, r) in enumerate(zip(outs, ref_outs)):
        assert_same(f"{name} output {j}", o, r)
    for i, (gr, r) in enumerate(zip(grads, ref_grads)):
        if r is not None:
            assert_same(f"{name} grad of input {i}", gr, r)
    if reference == "fixture" and case.fd and any(a.dtype.kind == "f" for a in inputs):
        xs = [tr.tensor(a, device=device, requires_grad=a.dtype.kind == "f") for a in inputs]
        with default_device(device):
            assert tr.gradcheck(lambda *t: case.fn(tr, *t), xs)
    if reference == "fixture":
        check_float32(case, inputs, vs, ref_outs, ref_grads, device)
    if device != "cpu":                        # the GPU equals NumPy, value and gradient, in float64
        cpu_outs, _, cpu_grads = run_ours(case, inputs, "cpu", vs)
        assert_close_to_numpy(name, "float64", outs + grads, cpu_outs + cpu_grads)


def _f32(arrays: list) -> list:
    return [a if a is None or a.dtype.kind != "f" else a.astype(np.float32) for a in arrays]


def _atol(ref: np.ndarray, rel: float) -> float:
    """An absolute tolerance scaled to the values (for elements that cancel to near zero)."""
    finite = np.abs(ref[np.isfinite(ref)]) if ref.size else np.zeros(0)
    return rel * max(1.0, float(finite.max()) if finite.size else 1.0)


def check_float32(case, inputs: list, vs: list, ref_outs: list, ref_grads: list, device: str) -> None:
    """The case on float32 inputs: float outputs and gradients stay float32 and are near the float64
    reference; on the GPU they also equal NumPy's float32 run of the case."""
    name = case.name
    outs, _, grads = run_ours(case, _f32(inputs), device, _f32(vs))
    for label, o, r in [(f"output {j}", o, r) for j, (o, r) in enumerate(zip(outs, ref_outs))] + \
                       [(f"grad of input {i}", g, r) for i, (g, r) in enumerate(zip(grads, ref_grads))]:
        if r is None:
            continue
        r32 = np.asarray(r).astype(np.float32) if np.asarray(r).dtype.kind == "f" else np.asarray(r)
        assert_same(f"{name} float32 {label}", o, r32, rtol=1e-4, atol=_atol(np.asarray(r), 1e-5))
    if device != "cpu":
        cpu_outs, _, cpu_grads = run_ours(case, _f32(inputs), "cpu", _f32(vs))
        assert_close_to_numpy(name, "float32", outs + grads, cpu_outs + cpu_grads)


def assert_close_to_numpy(name: str, dtype: str, gpu: list, cpu: list) -> None:
    """GPU results equal NumPy's: float64 to rtol 1e-10, float32 to rtol 1e-5 (atol scaled to the values)."""
    rel = 1e-10 if dtype == "float64" else 1e-5
    assert len(gpu) == len(cpu)
    for k, (g, c) in enumerate(zip(gpu, cpu)):
        if c is None:
            assert g is None, f"{name} {dtype} result {k}: None on the CPU only"
            continue
        assert_same(f"{name} {dtype} GPU vs NumPy, result {k}", g, c, rtol=rel, atol=_atol(np.asarray(c), rel))


@pytest.mark.parametrize("name", IDS)
def test_op_golden(name, device):
    check_op(name, device)


# cpu_only: live torch runs on the host; the GPU counterpart is test_op_golden[cuda] (the same torch values
# from the fixture, finite differences, and GPU == NumPy in float64 and float32)
@pytest.mark.cpu_only
@pytest.mark.parametrize("name", IDS)
def test_op_live_torch(name):
    check_op(name, reference="torch")


@pytest.mark.cpu_only   # reads the fixture file: no array op runs
def test_fixture_covers_table_and_is_small():
    keys = golden()
    assert {k.split("/")[0] for k in keys} == set(CASES), "rerun tests/fixtures/make_op_fixtures.py"
    assert os.path.getsize(fx.FIXTURE) < 1_000_000


# --------------------------------------------------------------------- stability at saturation

RAISE = dict(over="raise", invalid="raise", divide="raise", under="ignore")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sigmoid_tanh_saturate_exactly_with_zero_gradients(device, dtype):
    with np.errstate(**RAISE):
        x = tr.tensor(np.array([-1e4, 1e4], dtype), device=device, requires_grad=True)
        s = x.sigmoid()
        t = x.tanh()
        (s + t).sum().backward()
    np.testing.assert_array_equal(s.numpy(), [0.0, 1.0])
    np.testing.assert_array_equal(t.numpy(), [-1.0, 1.0])
    np.testing.assert_array_equal(x.grad.numpy(), [0.0, 0.0])
    assert s.dtype == dtype and x.grad.dtype == dtype


def _softmax_family(x, dim=-1):
    return x.softmax(dim), x.log_softmax(dim), x.logsumexp(dim)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_softmax_family_on_huge_logits(device, dtype):
    logits = np.array([[1e4, -1e4, 0.0], [-1e4, -1e4, -1e4 + 1]], dtype)
    with np.errstate(**RAISE):
        x = tr.tensor(logits, device=device, requires_grad=True)
        sm, lsm, lse = _softmax_family(x)
        v = tr.tensor(np.array([[1.0, 2.0, 3.0], [-1.0, 0.5, 2.0]], dtype), device=device)
        ((sm * v).sum() + (lsm * v).sum() + lse.sum()).backward()
    e = np.exp(-1.0)
    np.testing.assert_allclose(sm.numpy(), [[1, 0, 0], [e / (1 + 2 * e), e / (1 + 2 * e), 1 / (1 + 2 * e)]],
                               rtol=1e-6)
    np.testing.assert_allclose(lse.numpy(), [1e4, -1e4 + 1 + np.log(1 + 2 * e)], rtol=1e-6)
    np.testing.assert_allclose(lsm.numpy(), logits - lse.numpy()[:, None], rtol=1e-6, atol=1e-3)
    assert np.isfinite(x.grad.numpy()).all()
    ref = _torch_softmax_grads(logits, v.numpy())      # same dtype: float32 rounding of ~1e4 logits is shared
    if ref is not None:
        tol = 1e-3 if dtype == np.float32 else 1e-9
        np.testing.assert_allclose(x.grad.numpy(), ref, rtol=tol, atol=tol)


def test_softmax_family_with_neg_inf_entries(device):
    logits = np.array([[0.0, -np.inf, 1.0], [-np.inf, 2.0, -np.inf], [-np.inf] * 3])
    with np.errstate(**RAISE):
        x = tr.tensor(logits[:2], device=device, requires_grad=True)
        sm, lsm, lse = _softmax_family(x)
        v = tr.tensor(np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]), device=device)
        ((sm * v).sum() + lse.sum()).backward()
    p = np.exp([0.0, 1.0]) / np.exp([0.0, 1.0]).sum()
    np.testing.assert_allclose(sm.numpy(), [[p[0], 0, p[1]], [0, 1, 0]])
    np.testing.assert_allclose(lse.numpy(), [np.log(1 + np.e), 2.0])
    np.testing.assert_allclose(lsm.numpy()[0, [0, 2]], np.log(p))
    assert lsm.numpy()[0, 1] == -np.inf and lsm.numpy()[1, 1] == 0.0
    gx = x.grad.numpy()
    assert np.isfinite(gx).all()
    assert gx[0, 1] == 0 and gx[1, 0] == 0 and gx[1, 2] == 0
    ref = _torch_softmax_grads(logits[:2], v.numpy(), with_lsm=False)
    if ref is not None:
        np.testing.assert_allclose(gx, ref, rtol=1e-12, atol=1e-12)
    with np.errstate(**RAISE):
        row = tr.tensor(logits[2:], device=device, requires_grad=True)
        out = row.logsumexp(1)
        out.sum().backward()
    assert out.numpy()[0] == -np.inf
    np.testing.assert_array_equal(row.grad.numpy(), [[0.0, 0.0, 0.0]])


def _torch_softmax_grads(logits, v, with_lsm=True):
    try:
        import torch
    except ImportError:
        return None
    x = torch.tensor(logits, requires_grad=True)
    vt = torch.tensor(v)
    loss = (x.softmax(-1) * vt).sum() + x.logsumexp(-1).sum()
    if with_lsm:
        loss = loss + (x.log_softmax(-1) * vt).sum()
    loss.backward()
    return x.grad.numpy()
