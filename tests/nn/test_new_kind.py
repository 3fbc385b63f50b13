"""A new built-in kind is one file: the UGRNN of ``tests/ugrnn_kind.py`` (description, cell, fused kernel
with its NumPy loop and raw CUDA kernels), registered, gets the fused path, pictures and analysis, and
its fused path equals its unrolled path and finite differences; its raw CUDA kernels, compiled for the
host, equal its NumPy loop."""

from __future__ import annotations

import numpy as np
import pytest

import tinygrad_rnn as tr
from tests.ugrnn_kind import UGRNNCell, register_ugrnn, unregister_ugrnn
from tinygrad_rnn.nn.recurrent import cuda, fused


@pytest.fixture
def ugrnn():
    kind = register_ugrnn()
    yield kind
    unregister_ugrnn()


def _paths(device, lengths):
    tr.manual_seed(0)
    layer = tr.nn.Recurrent(UGRNNCell, 3, 4, num_layers=2, bidirectional=True, batch_first=True,
                            dtype=tr.float64, device=device)
    assert layer.kind is not None and layer.kind.name == "ugrnn"
    rng = np.random.default_rng(0)
    x0, h00 = rng.standard_normal((3, 5, 3)), rng.standard_normal((4, 3, 4)) * 0.5
    results = []
    for unroll in (False, True):
        layer.zero_grad()
        x = tr.tensor(x0, device=device, requires_grad=True)
        h0 = tr.tensor(h00, device=device, requires_grad=True)
        out, h_n = layer(x, h0, lengths=lengths, unroll=unroll)
        ((out * out).sum() + (h_n * 1.5).sum()).backward()
        nodes = [n for n in tr.autograd.graph_nodes(out) if n.name == "FusedRNN"]
        assert bool(nodes) == (not unroll) and all(n.kind == "ugrnn" for n in nodes)
        res = {"out": out.numpy(), "h_n": h_n.numpy(), "dx": x.grad.numpy(), "dh0": h0.grad.numpy()}
        res.update({n: p.grad.numpy() for n, p in layer.named_parameters()})
        results.append(res)
    return results


@pytest.mark.parametrize("lengths", [None, [5, 2, 4]], ids=["full", "lengths"])
def test_registered_kind_is_fused_and_equals_its_unrolled_path(ugrnn, lengths, device):
    fused_res, unrolled = _paths(device, lengths)
    for key in fused_res:
        np.testing.assert_allclose(fused_res[key], unrolled[key], rtol=0, atol=1e-12, err_msg=key)


def test_fused_kernel_of_the_new_kind_gradchecks(ugrnn, device):
    rng = np.random.default_rng(1)
    T, B, I, H = 3, 2, 2, 2
    ws = [tr.tensor(rng.uniform(-0.8, 0.8, s), device=device, requires_grad=True)
          for s in [(2 * H, I), (2 * H, H), (2 * H,), (2 * H,)] * 2]
    x = tr.tensor(rng.standard_normal((T, B, I)), device=device, requires_grad=True)
    h0 = tr.tensor(rng.standard_normal((2, B, H)) * 0.5, device=device, requires_grad=True)

    def fn(x, h0, *w):
        return fused.fused_rnn(x, h0, *w, mode="ugrnn", lengths=np.array([3, 2]), num_directions=2)

    assert tr.gradcheck(fn, (x, h0, *ws))


def test_new_kind_in_pictures_and_analysis(ugrnn, device):
    tr.manual_seed(0)
    layer = tr.nn.Recurrent(UGRNNCell, 2, 3, dtype=tr.float64, device=device)
    x = tr.randn(4, 2, 2, dtype=tr.float64, device=device)
    out, h_n = layer(x)
    assert "FusedRNN (fused UGRNN)" in tr.viz.to_dot([out, h_n])
    out, h_n = layer(x, unroll=True)
    text = tr.viz.to_dot([out, h_n], detail="gate")
    assert "g  update gate σ" in text and "c  candidate tanh" in text
    flows = [tr.analysis.grad_norms_through_time(layer, x, lambda o: o[0].sum(), unroll=u) for u in (False, True)]
    assert [f.path for f in flows] == ["fused", "unrolled"]
    np.testing.assert_allclose(flows[0].h, flows[1].h, rtol=1e-12)
    trace = tr.analysis.hidden_trace(layer, x)
    assert trace.kind == "ugrnn" and set(trace.gates) == {"g", "c"}


@pytest.mark.cpu_only      # the host build of the new kind's CUDA kernels; the GPU runs the raw loops for real
def test_raw_kernels_of_the_new_kind_compiled_for_the_host_match_numpy(ugrnn, tmp_path):
    import ctypes
    import shutil
    import subprocess

    from test_cuda_loops import HOST_PRELUDE, HostOps, _case
    compiler = shutil.which("c++") or shutil.which("g++")
    if compiler is None:
        pytest.skip("no C++ compiler to build the CUDA kernels for the host")
    src, lib = tmp_path / "k.cpp", tmp_path / "k.so"
    src.write_text(HOST_PRELUDE + cuda.kernel_source())
    subprocess.run([compiler, "-O1", "-shared", "-fPIC", "-Wall", "-Werror", "-o", str(lib), str(src)], check=True,
                   capture_output=True)
    ops = HostOps(ctypes.CDLL(str(lib)))
    x, h0, _, weights, ups = _case("gru", 2, True, seed=3)                # shapes of a 3-gate layer
    H = h0.shape[2]
    weights = [tuple(None if a is None else a[:2 * H] for a in w) for w in weights]   # 2 gates: g, c
    ups = (ups[0], ups[1], None)
    L = np.array([6, 2, 4, 1])
    results = []
    for loop in (fused.NUMPY_LOOP, cuda.RawLoop(ops)):
        out, hn, _, cache = fused.forward(np, "ugrnn", x, h0, None, weights, L, loop=loop)
        dx, dh0, _, dws, taps = fused.backward(np, cache, *ups, tap=True)
        results.append([out, hn, dx, dh0, taps["h"]] + [g for dw in dws for g in dw])
    assert "ugrnn_fwd" in ops.launches and "ugrnn_bwd" in ops.launches
    for a, b in zip(*results):
        np.testing.assert_allclose(b, a, rtol=1e-12, atol=1e-13)
