"""Attention modules: the formulas against NumPy, masking, NaN-free empty rows, gradients in float64."""

import numpy as np
import pytest

import tinygrad_rnn as tr
from tinygrad_rnn import nn
from tinygrad_rnn.nn.attention import masked_softmax

B, S, HQ, HK, A = 3, 5, 4, 6, 7
LENGTHS = [5, 2, 3]


def make_inputs(dtype=np.float64, device="cpu", seed=0, hk=HK):
    rng = np.random.default_rng(seed)
    q = tr.tensor(rng.standard_normal((B, HQ)).astype(dtype), device=device, requires_grad=True)
    k = tr.tensor(rng.standard_normal((B, S, hk)).astype(dtype), device=device, requires_grad=True)
    mask = tr.tensor(np.arange(S)[None, :] < np.array(LENGTHS)[:, None], device=device)
    return q, k, mask


def modules(dtype=np.float64, device="cpu"):
    tr.manual_seed(0)
    return [nn.BahdanauAttention(HQ, HK, A, dtype=dtype, device=device),
            nn.LuongAttention(HQ, HK, score="general", dtype=dtype, device=device)]


def tols(device, rtol, atol):
    """The cpu tolerances, or the float64 GPU ones (rtol 1e-10, atol 1e-12 for values of order 1) where looser."""
    if device == "cpu":
        return {"rtol": rtol, "atol": atol}
    return {"rtol": max(rtol, 1e-10), "atol": max(atol, 1e-12)}


def np_softmax_masked(e, mask):
    e = np.where(mask, e, -np.inf)
    w = np.exp(e - e.max(axis=1, keepdims=True))
    return w / w.sum(axis=1, keepdims=True)


def test_bahdanau_matches_formula(device):
    attn = modules(device=device)[0]
    q, k, mask = make_inputs(device=device)
    ctx, w = attn(q, k, mask)
    Wq, Wk, v = attn.query_proj.weight.numpy(), attn.key_proj.weight.numpy(), attn.v.weight.numpy()[0]
    e = np.tanh((q.numpy() @ Wq.T)[:, None, :] + k.numpy() @ Wk.T) @ v     # vᵀ tanh(W_q q + W_k k_s)
    want_w = np_softmax_masked(e, mask.numpy())
    tol = tols(device, 1e-12, 1e-14)
    np.testing.assert_allclose(w.numpy(), want_w, **tol)
    np.testing.assert_allclose(ctx.numpy(), np.einsum("bs,bsk->bk", want_w, k.numpy()), **tol)


@pytest.mark.parametrize("score", ["dot", "general"])
def test_luong_matches_formula(score, device):
    tr.manual_seed(1)
    hk = HQ if score == "dot" else HK
    attn = nn.LuongAttention(HQ, hk, score=score, dtype=np.float64, device=device)
    q, k, mask = make_inputs(device=device, hk=hk)
    ctx, w = attn(q, k, mask)
    keys = k.numpy() if score == "dot" else k.numpy() @ attn.key_proj.weight.numpy().T     # W_a k_s
    e = np.einsum("bsh,bh->bs", keys, q.numpy())
    want_w = np_softmax_masked(e, mask.numpy())
    tol = tols(device, 1e-12, 1e-14)
    np.testing.assert_allclose(w.numpy(), want_w, **tol)
    np.testing.assert_allclose(ctx.numpy(), np.einsum("bs,bsk->bk", want_w, k.numpy()), **tol)


@pytest.mark.parametrize("which", [0, 1])
def test_weights_sum_to_one_and_are_exactly_zero_on_padding(which, device):
    attn = modules(np.float32, device)[which]
    q, k, mask = make_inputs(np.float32, device)
    ctx, w = attn(q, k, mask)
    assert ctx.shape == (B, HK) and w.shape == (B, S)
    wn, mn = w.numpy(), mask.numpy()
    np.testing.assert_allclose(wn.sum(axis=1), 1.0, rtol=1e-6)
    assert np.all(wn[~mn] == 0.0)
    assert np.all(wn[mn] > 0.0)


@pytest.mark.parametrize("which", [0, 1])
def test_padded_keys_do_not_matter(which, device):
    """Changing the keys at padded positions changes neither the weights nor the context."""
    attn = modules(device=device)[which]
    q, k, mask = make_inputs(device=device)
    ctx, w = attn(q, k, mask)
    k2 = k.numpy().copy()
    k2[~mask.numpy()] = 1e3
    ctx2, w2 = attn(q, tr.tensor(k2, device=device), mask)
    np.testing.assert_array_equal(w2.numpy(), w.numpy())
    np.testing.assert_allclose(ctx2.numpy(), ctx.numpy(), **tols(device, 1e-13, 1e-13))


@pytest.mark.parametrize("which", [0, 1])
def test_no_mask_means_every_position(which, device):
    attn = modules(device=device)[which]
    q, k, _ = make_inputs(device=device)
    ctx, w = attn(q, k)
    ctx2, w2 = attn(q, k, tr.ones(B, S, dtype=tr.bool, device=device))
    np.testing.assert_array_equal(w.numpy(), w2.numpy())
    np.testing.assert_array_equal(ctx.numpy(), ctx2.numpy())


@pytest.mark.parametrize("which", [0, 1])
def test_fully_masked_row_gives_zeros_not_nan(which, device):
    attn = modules(device=device)[which]
    q, k, _ = make_inputs(device=device)
    mask = tr.tensor(np.array([[True] * S, [False] * S, [True, False, False, False, False]]), device=device)
    ctx, w = attn(q, k, mask)
    assert np.isfinite(w.numpy()).all() and np.isfinite(ctx.numpy()).all()
    np.testing.assert_array_equal(w.numpy()[1], 0.0)
    np.testing.assert_array_equal(ctx.numpy()[1], 0.0)
    np.testing.assert_allclose(w.numpy()[2], [1, 0, 0, 0, 0])
    (ctx.sum() + w.sum()).backward()
    for t in (q, k, *attn.parameters()):
        assert np.isfinite(t.grad.numpy()).all()
    np.testing.assert_array_equal(q.grad.numpy()[1], 0.0)


def test_masked_softmax_alone(device):
    scores = tr.tensor([[1.0, 2.0, 3.0], [0.5, 0.5, 0.5]], device=device)
    mask = tr.tensor([[True, True, False], [False, False, False]], device=device)
    w = masked_softmax(scores, mask).numpy()
    e = np.exp([1.0, 2.0])
    np.testing.assert_allclose(w[0], [e[0] / e.sum(), e[1] / e.sum(), 0.0], rtol=1e-6 if device == "cpu" else 1e-5)
    np.testing.assert_array_equal(w[1], 0.0)


@pytest.mark.parametrize("which", [0, 1])
def test_gradcheck(which, device):
    attn = modules(device=device)[which]
    q, k, mask = make_inputs(device=device)
    params = list(attn.parameters())

    def fn(q, k, *ps):
        return attn(q, k, mask)

    assert tr.gradcheck(fn, (q, k, *params))


def test_gradcheck_luong_dot(device):
    attn = nn.LuongAttention(HQ, HQ, score="dot", dtype=np.float64, device=device)
    q, k, mask = make_inputs(device=device, hk=HQ)
    assert tr.gradcheck(lambda q, k: attn(q, k, mask), (q, k))


def test_projected_keys_reused(device):
    attn = modules(device=device)[0]
    q, k, mask = make_inputs(device=device)
    ctx, w = attn(q, k, mask)
    ctx2, w2 = attn(q, k, mask, projected_keys=attn.project_keys(k))
    np.testing.assert_array_equal(w.numpy(), w2.numpy())


@pytest.mark.cpu_only      # class attributes and parameter names only: nothing is computed
def test_placement_and_parameter_names():
    b, lu = modules()
    assert b.placement == "input" and lu.placement == "output"
    assert [n for n, _ in b.named_parameters()] == ["query_proj.weight", "key_proj.weight", "v.weight"]
    assert [n for n, _ in lu.named_parameters()] == ["key_proj.weight"]
    assert list(nn.LuongAttention(4, 4, score="dot").parameters()) == []


def test_bad_input(device):
    attn = modules(device=device)[0]
    q, k, mask = make_inputs(device=device)
    with pytest.raises(ValueError, match="query must have shape"):
        attn(q[:, :2], k, mask)
    with pytest.raises(ValueError, match="keys must have shape"):
        attn(q, k[:, :, :2], mask)
    with pytest.raises(ValueError, match="keys must have shape"):
        attn(q, k[:2], mask)
    with pytest.raises(ValueError, match="mask must have shape"):
        attn(q, k, mask[:, :3])
    with pytest.raises(TypeError, match="mask must be a bool"):
        attn(q, k, mask.float())
    with pytest.raises(ValueError, match="score must be one of"):
        nn.LuongAttention(4, 4, score="concat")
    with pytest.raises(ValueError, match="query_dim == key_dim"):
        nn.LuongAttention(4, 6, score="dot")
    with pytest.raises(ValueError, match="attn_dim must be a positive int"):
        nn.BahdanauAttention(4, 6, 0)
