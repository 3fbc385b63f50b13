"""nn.LSTM(proj_size=P), PyTorch's LSTM with projections: parity with PyTorch (golden fixtures and live),
fused = unrolled, gradcheck, a torch LSTMP state_dict, the module surface and bad arguments."""

from __future__ import annotations

import random

import numpy as np
import pytest

import tinygrad_rnn as tr
from conftest import fixture_module
from tests.conftest import require
from test_cuda_loops import HostOps, host_library  # noqa: F401  (the host build of the CUDA kernels)
from tinygrad_rnn.nn.recurrent import cuda, fused
from tinygrad_rnn.nn.recurrent.layers import run_layers

fx = fixture_module("make_rnn_fixtures")
P = fx.P


@pytest.fixture(scope="module")
def golden() -> dict:
    with np.load(fx.PROJ_PATH, allow_pickle=False) as f:
        return {k: f[k] for k in f.files}


CASES = [(bias, layers, bidir, has_h0, kind) for bias, layers, bidir in fx.proj_configs()
         for has_h0, kind in fx.variants()]


def case_id(c) -> str:
    return fx.case_key("lstm", *c[:3], *c[3:], P).replace("/", "-")


def load_case(golden, bias, layers, bidir, has_h0, kind):
    case = fx.case_inputs(golden, "lstm", layers, bidir, has_h0, kind, P)
    ref = fx.split_results(golden[fx.case_key("lstm", bias, layers, bidir, has_h0, kind, P)],
                           fx.result_shapes("lstm", bias, layers, bidir, has_h0, kind, P))
    return fx.config_weights(golden, "lstm", bias, layers, bidir, P), case, ref


def run_ours(bias, layers, bidir, weights, case, dtype=tr.float64, unroll=False, batch_first=False, device="cpu",
             packed=False) -> dict:
    """Our out, h_n, c_n and every gradient for one case, keyed and shaped as the fixtures (time-major)."""
    m = tr.nn.LSTM(fx.I, fx.H, num_layers=layers, bias=bias, batch_first=batch_first, bidirectional=bidir,
                   proj_size=P, dtype=dtype, device=device)
    m.load_state_dict(weights)
    unbatched = case["x"].ndim == 2
    x = tr.tensor(case["x"], dtype=dtype, device=device, requires_grad=True)
    xin = x.transpose(0, 1) if batch_first and not unbatched else x
    h0 = None if case["h0"] is None else tr.tensor(case["h0"], dtype=dtype, device=device, requires_grad=True)
    c0 = None if case["c0"] is None else tr.tensor(case["c0"], dtype=dtype, device=device, requires_grad=True)
    hx = None if h0 is None else (h0, c0)
    if packed:
        seq = tr.nn.utils.rnn.pack_padded_sequence(xin, case["lengths"], batch_first=batch_first,
                                                   enforce_sorted=False)
        out, (h_n, c_n) = m(seq, hx, unroll=unroll)
        out, _ = tr.nn.utils.rnn.pad_packed_sequence(out, batch_first=batch_first, total_length=fx.T)
    else:
        out, (h_n, c_n) = m(xin, hx, lengths=case["lengths"], unroll=unroll)
    if batch_first and not unbatched:
        out = out.transpose(0, 1)
    r = {k: tr.tensor(case[k], dtype=dtype, device=device) for k in ("r_out", "r_h", "r_c")}
    ((out * r["r_out"]).sum() + (h_n * r["r_h"]).sum() + (c_n * r["r_c"]).sum()).backward()
    res = {"out": out, "h_n": h_n, "c_n": c_n, "grad/x": x.grad,
           "grad/h0": None if h0 is None else h0.grad, "grad/c0": None if c0 is None else c0.grad}
    res.update({f"grad/{name}": p.grad for name, p in m.named_parameters()})
    return {k: v.detach().numpy() for k, v in res.items() if v is not None}


def assert_results(ours: dict, ref: dict, rtol: float, atol: float, what: str = "") -> None:
    assert set(ours) == set(ref), f"{what}: keys differ: {sorted(set(ours) ^ set(ref))}"
    for key, want in ref.items():
        assert ours[key].shape == want.shape, f"{what} {key}: shape {ours[key].shape}, PyTorch {want.shape}"
        np.testing.assert_allclose(ours[key], want, rtol=rtol, atol=atol, err_msg=f"{what} {key}")


# ------------------------------------------------------------------------------------------------
# Parity against PyTorch


@pytest.mark.parametrize("unroll", [False, True], ids=["fused", "unrolled"])
@pytest.mark.parametrize("c", CASES, ids=case_id)
def test_proj_parity_golden_float64(golden, c, unroll, device):
    """The whole LSTMP matrix in float64 on both paths, 1e-12; batch_first alternates (it changes no number)."""
    weights, case, ref = load_case(golden, *c)
    ours = run_ours(*c[:3], weights, case, tr.float64, unroll, CASES.index(c) % 2 == 1, device)
    assert_results(ours, ref, rtol=1e-12, atol=1e-12, what=case_id(c))


@pytest.mark.parametrize("c", [c for c in CASES if c[4] == "lengths"], ids=case_id)
def test_proj_parity_golden_packed_and_float32(golden, c, device):
    """PackedSequence in and out (float64, 1e-12), and float32 against PyTorch's float64 numbers (1e-4)."""
    weights, case, ref = load_case(golden, *c)
    for unroll in (False, True):
        ours = run_ours(*c[:3], weights, case, tr.float64, unroll, batch_first=unroll, device=device, packed=True)
        assert_results(ours, ref, rtol=1e-12, atol=1e-12, what=f"{case_id(c)} packed unroll={unroll}")
        ours = run_ours(*c[:3], weights, case, tr.float32, unroll, batch_first=not unroll, device=device)
        assert_results(ours, ref, rtol=1e-4, atol=1e-5, what=f"{case_id(c)} float32 unroll={unroll}")


LIVE = random.Random(16).sample([(*c, bf) for c in CASES for bf in (False, True)], 12)


@pytest.mark.parametrize("c", LIVE, ids=lambda c: case_id(c[:5]) + f"-bf{int(c[5])}")
def test_proj_parity_live_torch(golden, c, device):
    require("torch")
    *c, batch_first = c
    weights, case, _ = load_case(golden, *c)
    for dtype, rtol, atol in (("float64", 1e-12, 1e-12), ("float32", 1e-4, 1e-5)):
        ref = fx.torch_reference("lstm", *c[:3], weights, case, dtype=dtype, batch_first=batch_first, proj_size=P)
        for unroll in (False, True):
            ours = run_ours(*c[:3], weights, case, getattr(tr, dtype), unroll, batch_first, device)
            assert_results(ours, ref, rtol=rtol, atol=atol, what=f"{case_id(c)} {dtype} unroll={unroll}")


@pytest.mark.cpu_only          # checks the stored fixture against its generator and torch: no tinygrad_rnn arrays
def test_proj_golden_fixture_is_current(golden):
    for key, value in fx.make_proj_inputs().items():
        np.testing.assert_array_equal(golden[key], value, err_msg=key)
    require("torch")
    for c in CASES[::7]:
        weights, case, ref = load_case(golden, *c)
        assert_results(fx.torch_reference("lstm", *c[:3], weights, case, proj_size=P), ref, rtol=1e-12,
                       atol=1e-12, what=case_id(c))


def test_proj_load_torch_state_dict_and_back(tmp_path, device):
    """A torch LSTMP's state_dict (through a file, no torch tensors) loads as it is; ours goes back."""
    torch = require("torch")
    torch.manual_seed(0)
    theirs = torch.nn.LSTM(3, 6, num_layers=2, bidirectional=True, batch_first=True, proj_size=4,
                           dtype=torch.float64)
    path = tmp_path / "lstmp.npz"
    np.savez(path, **{k: v.numpy() for k, v in theirs.state_dict().items()})
    ours = tr.nn.LSTM(3, 6, num_layers=2, bidirectional=True, batch_first=True, proj_size=4, dtype=tr.float64,
                      device=device)
    with np.load(path, allow_pickle=False) as f:
        ours.load_state_dict({k: f[k] for k in f.files})
    x = np.random.default_rng(0).standard_normal((2, 5, 3))
    want, (wh, wc) = theirs(torch.from_numpy(x))
    for unroll in (False, True):
        got, (gh, gc) = ours(tr.tensor(x, device=device), unroll=unroll)
        assert got.shape == (2, 5, 8) and gh.shape == (4, 2, 4) and gc.shape == (4, 2, 6)
        for a, b in ((got, want), (gh, wh), (gc, wc)):
            np.testing.assert_allclose(a.numpy(), b.detach().numpy(), rtol=0, atol=1e-12)
    back = torch.nn.LSTM(3, 6, num_layers=2, bidirectional=True, batch_first=True, proj_size=4, dtype=torch.float64)
    back.load_state_dict({k: torch.from_numpy(v.numpy()) for k, v in ours.state_dict().items()})
    np.testing.assert_allclose(back(torch.from_numpy(x))[0].detach().numpy(), want.detach().numpy(), rtol=0,
                               atol=1e-12)


def test_proj_names_shapes_repr_like_torch(device):
    torch = require("torch")
    for kw in ({"proj_size": 2}, {"proj_size": 3, "num_layers": 2, "bidirectional": True, "bias": False},
               {"proj_size": 1, "num_layers": 3, "batch_first": True, "dropout": 0.5}):
        ours, theirs = tr.nn.LSTM(4, 5, device=device, **kw), torch.nn.LSTM(4, 5, **kw)
        assert [(n, tuple(p.shape)) for n, p in ours.named_parameters()] == \
            [(n, tuple(p.shape)) for n, p in theirs.named_parameters()]
        assert [(n, tuple(b.shape)) for n, b in ours.state_dict().items()] == \
            [(n, tuple(b.shape)) for n, b in theirs.state_dict().items()]
        assert repr(ours) == repr(theirs)
        assert ours.proj_size == theirs.proj_size
        assert [[tuple(w.shape) for w in ws] for ws in ours.all_weights] == \
            [[tuple(w.shape) for w in ws] for ws in theirs.all_weights]
        bound = 1 / 5 ** 0.5                                       # every weight ~ U(-1/√hidden_size, ..), w_hr too
        assert all(np.abs(p.numpy()).max() <= bound for p in ours.parameters())
    assert tr.nn.LSTM(4, 5).proj_size == 0 and "proj_size" not in repr(tr.nn.LSTM(4, 5))


# ------------------------------------------------------------------------------------------------
# Fused = unrolled, gradcheck


@pytest.mark.parametrize("lengths", [None, [7, 3, 1, 5]], ids=["full", "lengths"])
def test_proj_fused_equals_unrolled(lengths, device):
    """3 layers, both directions, dropout in training (same masks), given h0/c0: every number to 1e-12."""
    tr.manual_seed(0)
    m = tr.nn.LSTM(3, 6, num_layers=3, bidirectional=True, dropout=0.4, proj_size=4, dtype=tr.float64,
                   device=device)
    rng = np.random.default_rng(0)
    x0, h00, c00 = rng.standard_normal((7, 4, 3)), rng.standard_normal((6, 4, 4)), rng.standard_normal((6, 4, 6))
    results = []
    for unroll in (False, True):
        x, h0, c0 = (tr.tensor(a, device=device, requires_grad=True) for a in (x0, h00, c00))
        m.zero_grad()
        tr.manual_seed(1)
        out, (h_n, c_n) = m(x, (h0, c0), lengths=lengths, unroll=unroll)
        ((out * out).sum() + (h_n * 1.5).sum() + (c_n * c_n).sum()).backward()
        res = {"out": out, "h_n": h_n, "c_n": c_n, "dx": x.grad, "dh0": h0.grad, "dc0": c0.grad}
        res.update({n: p.grad for n, p in m.named_parameters()})
        results.append({k: v.numpy() for k, v in res.items()})
    for key in results[0]:
        np.testing.assert_allclose(results[0][key], results[1][key], rtol=0, atol=1e-12, err_msg=key)


@pytest.mark.parametrize("unroll", [False, True], ids=["fused", "unrolled"])
def test_proj_gradcheck(unroll, device):
    """Finite differences through 2 layers × 2 directions with lengths, every input and weight (w_hr too)."""
    rng = np.random.default_rng(1)
    T, B, I, H, R, D = 3, 2, 2, 3, 2, 2
    G = 4 * H
    shapes = [(G, I), (G, R), (G,), (G,), (R, H)] * D + [(G, D * R), (G, R), (G,), (G,), (R, H)] * D
    ws = [tr.tensor(rng.uniform(-0.8, 0.8, s), device=device, requires_grad=True) for s in shapes]
    x = tr.tensor(rng.standard_normal((T, B, I)), device=device, requires_grad=True)
    h0 = tr.tensor(rng.standard_normal((2 * D, B, R)) * 0.5, device=device, requires_grad=True)
    c0 = tr.tensor(rng.standard_normal((2 * D, B, H)) * 0.5, device=device, requires_grad=True)
    lengths = np.array([3, 2])

    def fn(x, h0, c0, *w):
        per = [tuple(w[i:i + 5]) for i in range(0, len(w), 5)]
        return run_layers("lstm", x, h0, c0, [per[:D], per[D:]], lengths, unroll=unroll)

    assert tr.gradcheck(fn, (x, h0, c0, *ws))


def test_proj_path_taken(device):
    """One FusedRNN node per layer (with has_proj), as without a projection; unroll=True has none."""
    m = tr.nn.LSTM(2, 4, num_layers=2, bidirectional=True, proj_size=3, device=device)
    out, _ = m(tr.randn(5, 2, 2, device=device))
    nodes = [n for n in tr.autograd.graph_nodes(out) if n.name == "FusedRNN"]
    assert len(nodes) == 2 and all(n.has_proj for n in nodes)
    assert not any(n.name == "FusedRNN" for n in tr.autograd.graph_nodes(m(tr.randn(5, 2, 2, device=device),
                                                                          unroll=True)[0]))
    plain = [n for n in tr.autograd.graph_nodes(tr.nn.LSTM(2, 4, device=device)(tr.randn(5, 2, 2, device=device))[0])
             if n.name == "FusedRNN"]
    assert len(plain) == 1 and not plain[0].has_proj


def test_proj_cell_step(device):
    """LSTMPCell (the per-step cell of the unrolled path) computes h' = W_hr (o * tanh(c')), c' as LSTMCell."""
    tr.manual_seed(3)
    cell = tr.nn.recurrent.LSTMPCell(3, 5, proj_size=2, dtype=tr.float64, device=device)
    plain = tr.nn.LSTMCell(3, 5, dtype=tr.float64, device=device)
    x, h, c = (tr.randn(4, n, dtype=tr.float64, device=device) for n in (3, 2, 5))
    h1, c1 = cell(x, (h, c))
    z = x @ cell.weight_ih.t() + cell.bias_ih + h @ cell.weight_hh.t() + cell.bias_hh
    i, f, g, o = z[:, :5].sigmoid(), z[:, 5:10].sigmoid(), z[:, 10:15].tanh(), z[:, 15:].sigmoid()
    want_c = f * c + i * g
    np.testing.assert_allclose(c1.numpy(), want_c.numpy(), rtol=0, atol=1e-14)
    np.testing.assert_allclose(h1.numpy(), ((o * want_c.tanh()) @ cell.weight_hr.t()).numpy(), rtol=0, atol=1e-14)
    assert cell(x)[0].shape == (4, 2) and cell(x)[1].shape == (4, 5) and cell(x[0])[0].shape == (2,)
    assert [n for n, _ in cell.named_parameters()] == ["weight_ih", "weight_hh", "bias_ih", "bias_hh", "weight_hr"]
    assert "proj_size" not in repr(plain) and repr(cell) == "LSTMPCell(3, 5, proj_size=2)"
    with pytest.raises(ValueError, match=r"hx\[0\] \(h_0\): expected shape \(4, 2\).*got \(4, 5\)"):
        cell(x, (c, c))


# ------------------------------------------------------------------------------------------------
# Bad input


def test_proj_bad_input(device):
    m = tr.nn.LSTM(3, 5, num_layers=2, proj_size=2, device=device)
    x = tr.randn(4, 3, 3, device=device)
    h, c = tr.zeros(2, 3, 2, device=device), tr.zeros(2, 3, 5, device=device)
    assert m(x, (h, c))[0].shape == (4, 3, 2)
    with pytest.raises(ValueError, match=r"hx\[0\] \(h_0\): expected shape \(2, 3, 2\).*got \(2, 3, 5\)"):
        m(x, (c, c))
    with pytest.raises(ValueError, match=r"hx\[1\] \(c_0\): expected shape \(2, 3, 5\).*got \(2, 3, 2\)"):
        m(x, (h, h))
    with pytest.raises(ValueError, match=r"expected shape \(2, 2\)"):
        m(x[:, 0], (h, c))


@pytest.mark.cpu_only          # constructor and argument checks: they raise before any array exists
def test_proj_bad_constructor_args():
    for bad in (5, 6):
        with pytest.raises(ValueError, match=r"proj_size has to be smaller than hidden_size.*proj_size=\d.*5"):
            tr.nn.LSTM(3, 5, proj_size=bad)
    with pytest.raises(ValueError, match="proj_size should be a positive integer or zero"):
        tr.nn.LSTM(3, 5, proj_size=-1)
    for bad in (1.5, True, "2"):
        with pytest.raises(TypeError, match="proj_size: expected an int"):
            tr.nn.LSTM(3, 5, proj_size=bad)
    with pytest.raises(ValueError, match="only supported for LSTM, not RNN or GRU"):
        tr.nn.recurrent.RNNBase("gru", 3, 5, proj_size=2)
    with pytest.raises(TypeError):                 # PyTorch's LSTMCell has no proj_size; neither has ours
        tr.nn.LSTMCell(3, 5, proj_size=2)
    with pytest.raises(ValueError, match="proj_size should be a positive integer"):
        tr.nn.recurrent.LSTMPCell(3, 5, proj_size=0)


@pytest.mark.cpu_only          # the array-level kernel's own checks, on NumPy arrays
def test_proj_fused_kernel_checks():
    rng = np.random.default_rng(0)
    T, B, I, H, R = 3, 2, 2, 3, 2
    x, h0, c0 = rng.standard_normal((T, B, I)), np.zeros((1, B, R)), np.zeros((1, B, H))
    w = (rng.standard_normal((4 * H, I)), rng.standard_normal((4 * H, R)), None, None, rng.standard_normal((R, H)))
    out, h_n, c_n, _ = fused.forward(np, "lstm", x, h0, c0, [w])
    assert out.shape == (T, B, R) and h_n.shape == (1, B, R) and c_n.shape == (1, B, H)
    with pytest.raises(ValueError, match=r"w_hr\): expected shape \(2, 3\), got \(3, 3\)"):
        fused.forward(np, "lstm", x, h0, c0, [w[:4] + (np.zeros((3, 3)),)])
    with pytest.raises(ValueError, match=r"c0: expected shape \(1, 2, 3\)"):
        fused.forward(np, "lstm", x, h0, h0, [w])
    with pytest.raises(ValueError, match="mode 'gru' has no projection"):
        fused.forward(np, "gru", x, h0, None, [(np.zeros((3 * H, I)), np.zeros((3 * H, R)), None, None, w[4])])

    class NoProjection(fused.NumpyLoop):
        name = "no-proj"
        supports_proj = False

    with pytest.raises(ValueError, match="'no-proj' loop has no projection"):
        fused.forward(np, "lstm", x, h0, c0, [w], loop=NoProjection())


def _proj_layer_case(D, bias, T=6, B=4, I=3, H=5, R=3, seed=0):
    rng = np.random.default_rng(seed)
    x, h0, c0 = rng.standard_normal((T, B, I)), rng.standard_normal((D, B, R)), rng.standard_normal((D, B, H))
    weights = [(rng.uniform(-0.7, 0.7, (4 * H, I)), rng.uniform(-0.7, 0.7, (4 * H, R)),
                rng.uniform(-0.5, 0.5, 4 * H) if bias else None, rng.uniform(-0.5, 0.5, 4 * H) if bias else None,
                rng.uniform(-0.7, 0.7, (R, H))) for _ in range(D)]
    ups = (rng.standard_normal((T, B, D * R)), rng.standard_normal((D, B, R)), rng.standard_normal((D, B, H)))
    return x, h0, c0, weights, ups


@pytest.mark.cpu_only      # the host build of the CUDA kernels (test_cuda_loops.py); on a GPU the parity tests run them
@pytest.mark.parametrize("D,bias,lengths", [(D, bias, L) for D in (1, 2) for bias in (True, False)
                                            for L in (None, (3, 6, 1, 5))])
def test_proj_raw_cuda_loop_compiled_for_the_host_matches_numpy(host_library, D, bias, lengths):  # noqa: F811
    """The raw CUDA loop with a projection (two GEMMs and one kernel per step each way) = the NumPy loop."""
    x, h0, c0, weights, ups = _proj_layer_case(D, bias, seed=D + 2 * bias)
    L = None if lengths is None else np.array(lengths)
    ops = HostOps(host_library)
    results = []
    for loop in (None, cuda.RawLoop(ops)):
        out, hn, cn, cache = fused.forward(np, "lstm", x, h0, c0, weights, L, loop=loop)
        dx, dh0, dc0, dws, taps = fused.backward(np, cache, *ups, tap=True)
        grads = [g for dw in dws for g in dw if g is not None]
        results.append([out, hn, cn, dx, dh0, dc0, taps["h"], taps["c"]] + grads)
    T = x.shape[0]
    assert ops.launches.count("gemm") == 4 * T and len(ops.launches) == 6 * T    # three launches per step each way
    for k, (a, b) in enumerate(zip(*results)):
        np.testing.assert_allclose(b, a, rtol=1e-12, atol=1e-13, err_msg=f"item {k}")


def test_proj_state_grads_fused_equal_unrolled(device):
    """record_state_grads: the per-step dL/dh_t (P features) and dL/dc_t (H) agree on both paths, with lengths."""
    tr.manual_seed(0)
    m = tr.nn.LSTM(3, 5, num_layers=2, bidirectional=True, proj_size=2, dtype=tr.float64, device=device)
    x = tr.randn(4, 2, 3, dtype=tr.float64, device=device)
    recs = []
    for unroll in (False, True):
        with tr.analysis.record_state_grads() as rec:
            out, (h_n, c_n) = m(x, unroll=unroll, lengths=[4, 2])
            ((out * out).sum() + c_n.sum()).backward()
        recs.append(rec)
    for a, b in zip(recs[0].layers, recs[1].layers):
        for name, size in (("h", 2), ("c", 5)):
            assert a.grads(name).shape == (4, 2, 2, size)
            np.testing.assert_allclose(a.grads(name), b.grads(name), rtol=0, atol=1e-12, err_msg=f"{a.layer} {name}")


def test_recurrent_over_lstmp_cell_is_the_lstm_kind(device):
    """Recurrent(LSTMPCell, ..., proj_size=P) is the registered LSTM kind (fused) and equals nn.LSTM(proj_size=P)."""
    tr.manual_seed(2)
    lstm = tr.nn.LSTM(3, 5, num_layers=2, bidirectional=True, proj_size=2, dtype=tr.float64, device=device)
    layer = tr.nn.Recurrent(tr.nn.recurrent.LSTMPCell, 3, 5, num_layers=2, bidirectional=True, proj_size=2,
                            dtype=tr.float64, device=device)
    assert layer.kind_name == "lstm" and list(layer.state_dict()) == list(lstm.state_dict())
    layer.load_state_dict(lstm.state_dict())
    x = tr.randn(4, 3, 3, dtype=tr.float64, device=device)
    (a, (ah, ac)), (b, (bh, bc)) = lstm(x, lengths=[4, 1, 3]), layer(x, lengths=[4, 1, 3])
    for u, v in ((a, b), (ah, bh), (ac, bc)):
        np.testing.assert_array_equal(u.numpy(), v.numpy())
    assert any(n.name == "FusedRNN" for n in tr.autograd.graph_nodes(b))
