"""The fused sequence kernels (``nn/recurrent/fused.py``) against PyTorch and finite differences."""

import itertools

import numpy as np
import pytest
from conftest import require

from tinygrad_rnn import ops
from tinygrad_rnn.backend import to_numpy, xp_for
from tinygrad_rnn.nn.recurrent import fused

MODES = fused.MODES


def on(xp, a):
    """``a`` as an array of ``xp`` (NumPy arrays pass through unchanged on the CPU)."""
    return None if a is None else xp.asarray(a)


def host(a):
    """A result as a NumPy array (copied off the GPU when needed)."""
    return None if a is None else to_numpy(a)


def assert_same(a, b, device, err_msg=""):
    """Bit-identical on NumPy; on CuPy within float64 round-off (library kernels need not be deterministic)."""
    if device == "cpu":
        np.testing.assert_array_equal(a, b, err_msg=err_msg)
    else:
        np.testing.assert_allclose(host(a), host(b), rtol=1e-10, atol=1e-12, err_msg=err_msg)


def make_case(mode, D, bias, T=5, B=4, I=3, H=6, dtype=np.float64, seed=0, scale=0.5):
    rng = np.random.default_rng(seed)
    GH = fused.GATES[mode] * H
    x = rng.standard_normal((T, B, I)).astype(dtype)
    h0 = (rng.standard_normal((D, B, H)) * scale).astype(dtype)
    c0 = (rng.standard_normal((D, B, H)) * scale).astype(dtype) if mode == "lstm" else None
    weights = []
    for _ in range(D):
        w = [(rng.standard_normal(shape) * scale).astype(dtype) for shape in ((GH, I), (GH, H), (GH,), (GH,))]
        weights.append(tuple(w) if bias else (w[0], w[1], None, None))
    return x, h0, c0, weights


def upstream(mode, T, B, D, H, dtype, seed=1):
    rng = np.random.default_rng(seed)
    d_out = rng.standard_normal((T, B, D * H)).astype(dtype)
    d_hn = rng.standard_normal((D, B, H)).astype(dtype)
    d_cn = rng.standard_normal((D, B, H)).astype(dtype) if mode == "lstm" else None
    return d_out, d_hn, d_cn


def torch_reference(mode, x, h0, c0, weights, lengths, d_out, d_hn, d_cn):
    """Outputs and gradients of torch.nn.RNN/LSTM/GRU for the same inputs and upstream gradients."""
    torch = require("torch")
    from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

    T, B, I = x.shape
    D, _, H = h0.shape
    bias = weights[0][2] is not None
    kw = dict(input_size=I, hidden_size=H, bias=bias, bidirectional=D == 2, dtype=torch.from_numpy(x).dtype)
    if mode == "lstm":
        net = torch.nn.LSTM(**kw)
    elif mode == "gru":
        net = torch.nn.GRU(**kw)
    else:
        net = torch.nn.RNN(nonlinearity=mode[4:], **kw)
    with torch.no_grad():
        for d, w in enumerate(weights):
            sfx = "_l0" + ("_reverse" if d else "")
            for name, a in zip(("weight_ih", "weight_hh", "bias_ih", "bias_hh"), w):
                if a is not None:
                    getattr(net, name + sfx).copy_(torch.from_numpy(a))
    xt = torch.from_numpy(x).requires_grad_()
    h0t = torch.from_numpy(h0).requires_grad_()
    state = h0t
    if mode == "lstm":
        c0t = torch.from_numpy(c0).requires_grad_()
        state = (h0t, c0t)
    inp = xt if lengths is None else pack_padded_sequence(xt, torch.as_tensor(lengths), enforce_sorted=False)
    out, st = net(inp, state)
    if lengths is not None:
        out, _ = pad_packed_sequence(out, total_length=T)
    hn, cn = (st if mode == "lstm" else (st, None))
    loss = (out * torch.from_numpy(d_out)).sum() + (hn * torch.from_numpy(d_hn)).sum()
    if mode == "lstm":
        loss = loss + (cn * torch.from_numpy(d_cn)).sum()
    loss.backward()
    grads = {"x": xt.grad.numpy(), "h0": h0t.grad.numpy()}
    if mode == "lstm":
        grads["c0"] = c0t.grad.numpy()
    for d in range(D):
        sfx = "_l0" + ("_reverse" if d else "")
        for k, name in enumerate(("weight_ih", "weight_hh", "bias_ih", "bias_hh")):
            p = getattr(net, name + sfx, None)
            if p is not None:
                grads[(d, k)] = p.grad.numpy()
    return (out.detach().numpy(), hn.detach().numpy(), None if cn is None else cn.detach().numpy()), grads


def ours(mode, x, h0, c0, weights, lengths, d_out, d_hn, d_cn, device="cpu"):
    """Our outputs and gradients (as NumPy arrays), computed with the array module of ``device``."""
    xp = xp_for(device)
    ws = [tuple(on(xp, a) for a in w) for w in weights]
    out, hn, cn, cache = fused.forward(xp, mode, on(xp, x), on(xp, h0), on(xp, c0), ws, lengths)
    dx, dh0, dc0, dws, _ = fused.backward(xp, cache, on(xp, d_out), on(xp, d_hn), on(xp, d_cn))
    grads = {"x": host(dx), "h0": host(dh0)}
    if mode == "lstm":
        grads["c0"] = host(dc0)
    for d, dw in enumerate(dws):
        for k, g in enumerate(dw):
            if g is not None:
                grads[(d, k)] = host(g)
    return (host(out), host(hn), host(cn)), grads


def assert_match(mine, ref, atol, rtol):
    (o1, g1), (o2, g2) = mine, ref
    for a, b, name in zip(o1, o2, ("out", "h_n", "c_n")):
        if b is not None:
            np.testing.assert_allclose(a, b, atol=atol, rtol=rtol, err_msg=name)
    assert set(g1) == set(g2)
    for k in g2:
        np.testing.assert_allclose(g1[k], g2[k], atol=atol * 100, rtol=rtol, err_msg=f"grad {k}")


CASES = list(itertools.product(MODES, (True, False), (1, 2), (False, True), (True, False)))


@pytest.mark.parametrize("mode,bias,D,use_lengths,zero_state", CASES)
def test_matches_torch_float64(mode, bias, D, use_lengths, zero_state, device):
    T, B, H = 5, 4, 6
    x, h0, c0, weights = make_case(mode, D, bias, T=T, B=B, H=H)
    if zero_state:
        h0 = np.zeros_like(h0)
        c0 = None if c0 is None else np.zeros_like(c0)
    lengths = np.array([3, 5, 1, 4]) if use_lengths else None        # unsorted, one full, one of 1
    ups = upstream(mode, T, B, D, H, np.float64)
    mine = ours(mode, x, h0, c0, weights, lengths, *ups, device=device)
    ref = torch_reference(mode, x, h0, c0, weights, lengths, *ups)
    assert_match(mine, ref, atol=1e-10, rtol=1e-10)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("D", (1, 2))
def test_matches_torch_float32(mode, D, device):
    T, B, H = 7, 3, 8
    x, h0, c0, weights = make_case(mode, D, True, T=T, B=B, H=H, dtype=np.float32)
    lengths = np.array([4, 7, 2])
    ups = upstream(mode, T, B, D, H, np.float32)
    mine = ours(mode, x, h0, c0, weights, lengths, *ups, device=device)
    ref = torch_reference(mode, x, h0, c0, weights, lengths, *ups)
    for a in mine[0]:
        assert a is None or a.dtype == np.float32
    assert_match(mine, ref, atol=1e-6, rtol=1e-4)


def test_sigmoid_saturation_float64(device):
    """σ through ½·tanh(z/2)+½ stays within 1e-10 of torch for large pre-activations too."""
    T, B, H = 4, 3, 5
    x, h0, c0, weights = make_case("lstm", 2, True, T=T, B=B, H=H, scale=4.0)
    ups = upstream("lstm", T, B, 2, H, np.float64)
    assert_match(ours("lstm", x, h0, c0, weights, None, *ups, device=device),
                 torch_reference("lstm", x, h0, c0, weights, None, *ups), atol=1e-10, rtol=1e-9)


@pytest.mark.parametrize("mode", MODES)
def test_two_forwards_before_backward(mode, device):
    """Buffers are per call: the first cache is intact after a second forward (and a first backward)."""
    xp = xp_for(device)
    T, B, H, D = 4, 3, 5, 2
    case_a = make_case(mode, D, True, T=T, B=B, H=H, seed=3)
    case_b = make_case(mode, D, True, T=T, B=B, H=H, seed=4)
    ups = upstream(mode, T, B, D, H, np.float64)
    lengths = np.array([2, 4, 3])
    ref_a = ours(mode, *case_a, lengths, *ups, device=device)[1]
    ref_b = ours(mode, *case_b, None, *ups, device=device)[1]

    def run_forward(case, lengths):
        x, h0, c0, weights = case
        ws = [tuple(on(xp, a) for a in w) for w in weights]
        return fused.forward(xp, mode, on(xp, x), on(xp, h0), on(xp, c0), ws, lengths)[3]

    cache_a = run_forward(case_a, lengths)
    cache_b = run_forward(case_b, None)
    for cache, ref in ((cache_b, ref_b), (cache_a, ref_a), (cache_a, ref_a)):   # twice: retain_graph
        dx, dh0, _, dws, _ = fused.backward(xp, cache, *(on(xp, u) for u in ups))
        assert_same(host(dx), ref["x"], device)
        assert_same(host(dh0), ref["h0"], device)
        assert_same(host(dws[1][1]), ref[(1, 1)], device)


@pytest.mark.parametrize("mode", MODES)
def test_finite_differences(mode, device):
    """Central differences in float64 on a tiny bidirectional case with lengths (no torch).

    The host arrays are perturbed in place and copied to the device for every loss evaluation.
    """
    xp = xp_for(device)
    T, B, H, D = 3, 2, 3, 2
    x, h0, c0, weights = make_case(mode, D, True, T=T, B=B, I=2, H=H, seed=5)
    lengths = np.array([2, 3])
    d_out, d_hn, d_cn = upstream(mode, T, B, D, H, np.float64, seed=6)

    def loss():
        ws = [tuple(on(xp, a) for a in w) for w in weights]
        out, hn, cn, _ = fused.forward(xp, mode, on(xp, x), on(xp, h0), on(xp, c0), ws, lengths,
                                       training_cache=False)
        out, hn, cn = host(out), host(hn), host(cn)
        v = (out * d_out).sum() + (hn * d_hn).sum()
        return v + ((cn * d_cn).sum() if cn is not None else 0.0)

    _, grads = ours(mode, x, h0, c0, weights, lengths, d_out, d_hn, d_cn, device=device)
    arrays = {"x": x, "h0": h0}
    if c0 is not None:
        arrays["c0"] = c0
    for d in range(D):
        for k in range(4):
            arrays[(d, k)] = weights[d][k]
    eps = 1e-6
    for key, a in arrays.items():
        num = np.zeros_like(a)
        for idx in np.ndindex(a.shape):
            old = a[idx]
            a[idx] = old + eps
            up = loss()
            a[idx] = old - eps
            down = loss()
            a[idx] = old
            num[idx] = (up - down) / (2 * eps)
        np.testing.assert_allclose(grads[key], num, atol=1e-7, rtol=1e-6, err_msg=f"grad {key}")
    assert not grads["x"][2, 0].any()                           # padded step: zero gradient


@pytest.mark.parametrize("mode", ("lstm", "gru"))
def test_tap_state_gradients(mode, device):
    """``tap=True``: dL/dh_t per step equals d_out[t] + what the next step sends back (checked via torch)."""
    torch = require("torch")
    xp = xp_for(device)
    T, B, H, D = 4, 3, 5, 2
    x, h0, c0, weights = make_case(mode, D, True, T=T, B=B, H=H, seed=7)
    lengths = np.array([4, 2, 3])
    d_out, d_hn, d_cn = upstream(mode, T, B, D, H, np.float64)
    ws = [tuple(on(xp, a) for a in w) for w in weights]
    *_, cache = fused.forward(xp, mode, on(xp, x), on(xp, h0), on(xp, c0), ws, lengths)
    taps = fused.backward(xp, cache, on(xp, d_out), on(xp, d_hn), on(xp, d_cn), tap=True)[4]
    assert taps["h"].shape == (T, D, B, H)
    tap_dh, tap_dc = host(taps["h"]), (host(taps["c"]) if "c" in taps else None)
    # The gradient w.r.t. the output at step t of a loss that reads outputs from step t on only
    # equals dh[t] of a backward whose d_out is zero before t: compare with an unrolled torch loop.
    cell_cls = torch.nn.LSTMCell if mode == "lstm" else torch.nn.GRUCell
    for d in range(D):
        cell = cell_cls(x.shape[2], H, dtype=torch.float64)
        with torch.no_grad():
            for name, a in zip(("weight_ih", "weight_hh", "bias_ih", "bias_hh"), weights[d]):
                getattr(cell, name).copy_(torch.from_numpy(a))
        for b in range(B):
            n = int(lengths[b])
            order = range(n) if d == 0 else range(n - 1, -1, -1)
            h = torch.from_numpy(h0[d, b:b + 1].copy())
            c = torch.from_numpy(c0[d, b:b + 1].copy()) if mode == "lstm" else None
            hs, cs_ = {}, {}
            loss = 0
            for t in order:
                xt = torch.from_numpy(x[t, b:b + 1].copy())
                if mode == "lstm":
                    h, c = cell(xt, (h, c))
                    c.retain_grad()
                    cs_[t] = c
                else:
                    h = cell(xt, h)
                h.retain_grad()
                hs[t] = h
                loss = loss + (h * torch.from_numpy(d_out[t, b:b + 1, d * H:(d + 1) * H].copy())).sum()
            loss = loss + (h * torch.from_numpy(d_hn[d, b:b + 1].copy())).sum()
            if mode == "lstm":
                loss = loss + (c * torch.from_numpy(d_cn[d, b:b + 1].copy())).sum()
            loss.backward()
            for t in range(T):
                want = hs[t].grad.numpy()[0] if t < n else np.zeros(H)
                np.testing.assert_allclose(tap_dh[t, d, b], want, atol=1e-10)
                if mode == "lstm":
                    want = cs_[t].grad.numpy()[0] if t < n else np.zeros(H)
                    np.testing.assert_allclose(tap_dc[t, d, b], want, atol=1e-10)


def test_bad_arguments(device):
    xp = xp_for(device)
    x, h0, c0, weights = make_case("gru", 1, True)
    x, h0 = on(xp, x), on(xp, h0)
    weights = [tuple(on(xp, a) for a in w) for w in weights]
    with pytest.raises(ValueError, match="mode"):
        fused.forward(xp, "elman", x, h0, None, weights)
    with pytest.raises(ValueError, match="lengths"):
        fused.forward(xp, "gru", x, h0, None, weights, np.array([0, 1, 2, 3]))
    with pytest.raises(ValueError, match="c0"):
        fused.forward(xp, "gru", x, h0, h0, weights)
    with pytest.raises(ValueError, match="w_hh"):
        fused.forward(xp, "gru", x, h0, None, [(weights[0][0], weights[0][0], None, None)])


@pytest.mark.gpu
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("dtype", (np.float64, np.float32))
def test_cupy_matches_numpy(mode, dtype):
    """The CuPy path (the raw CUDA loops of cuda.py) gives the NumPy loop's numbers."""
    import tinygrad_rnn as tr
    if not tr.cuda_is_available():
        pytest.skip("CUDA is not available (needs CuPy and an NVIDIA GPU)")
    import cupy as cp
    tol = dict(atol=1e-11, rtol=1e-9) if dtype == np.float64 else dict(atol=1e-5, rtol=1e-4)
    T, B, H = 6, 4, 5
    for D, bias, lengths in itertools.product((1, 2), (True, False), (None, np.array([3, 6, 1, 5]))):
        x, h0, c0, weights = make_case(mode, D, bias, T=T, B=B, H=H, dtype=dtype, seed=D)
        ups = upstream(mode, T, B, D, H, dtype)
        results = []
        for xp in (np, cp):
            def on(a, xp=xp):
                return None if a is None else xp.asarray(a)
            ws = [tuple(on(a) for a in w) for w in weights]
            out, hn, cn, cache = fused.forward(xp, mode, on(x), on(h0), on(c0), ws, lengths)
            dx, dh0, dc0, dws, taps = fused.backward(xp, cache, *(on(u) for u in ups), tap=True)
            flat = [out, hn, cn, dx, dh0, dc0, taps["h"], taps.get("c")] + [g for dw in dws for g in dw]
            results.append([None if a is None else cp.asnumpy(a) if xp is cp else a for a in flat])
        for k, (a, b) in enumerate(zip(*results)):
            assert (a is None) == (b is None), k
            if a is not None:
                np.testing.assert_allclose(b, a, err_msg=f"item {k}, D={D}, bias={bias}, lengths={lengths}", **tol)


@pytest.mark.parametrize("mode,bias,D", [("lstm", True, 2), ("gru", False, 1), ("rnn_relu", True, 2)])
def test_function_node_decodes_inputs(mode, bias, D, device):
    """FusedKernel.forward/backward (called as ops.FusedRNN calls them) route inputs and gradients."""
    xp = xp_for(device)
    T, B, H = 4, 3, 5
    x, h0, c0, weights = make_case(mode, D, bias, T=T, B=B, H=H, seed=8)
    lengths = np.array([4, 1, 3])
    flat = [on(xp, a) for w in weights for a in (w if bias else w[:2])]
    states = [on(xp, h0)] + ([on(xp, c0)] if mode == "lstm" else [])
    ctx = ops.FusedRNN.__new__(ops.FusedRNN)
    ctx.xp = xp
    ctx.needs_input_grad = (False,) + (True,) * (len(states) + len(flat))
    outs = fused.FusedKernel.forward(ctx, on(xp, x), *states, *flat, mode=mode, lengths=lengths,
                                  num_directions=D, has_bias=bias)
    assert len(outs) == (3 if mode == "lstm" else 2)
    ups = upstream(mode, T, B, D, H, np.float64)
    grads = fused.FusedKernel.backward(ctx, *(on(xp, u) for u in ups[:len(outs)]))
    (o, hn, cn), ref = ours(mode, x, h0, c0, weights, lengths, *ups, device=device)
    assert_same(host(outs[0]), o, device)
    assert grads[0] is None and len(grads) == 1 + len(states) + len(flat)
    assert_same(host(grads[1]), ref["h0"], device)
    per = 4 if bias else 2
    for d in range(D):
        for k in range(per):
            assert_same(host(grads[1 + len(states) + d * per + k]), ref[(d, k)], device)
