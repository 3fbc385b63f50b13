"""Two paths, one answer: the tiled attention (NumPy, no bias) against the dense one.

``ops.attention.Attention`` takes the tiled path on NumPy when no additive bias is given (``causal`` or
not) and the weights are larger than ``DENSE_MAX`` (set to 0 here), and the dense path with a bias. The
dense path is already held to PyTorch in ``test_transformer.py``; here the tiled one is held to it, with
the tile size shrunk so that one call runs many tiles: several row blocks, several groups per tile,
tiles that cross the causal diagonal and tiles that do not, L > S and L < S, and batch dims that
broadcast.
"""

from __future__ import annotations

import numpy as np
import pytest

import tinygrad_rnn as tr
import tinygrad_rnn.nn.functional as F
from tinygrad_rnn import nn
from tinygrad_rnn.ops import attention

SHAPES = [  # q, k, v
    ((2, 3, 7, 4), (2, 3, 7, 4), (2, 3, 7, 5)),
    ((2, 3, 9, 4), (2, 3, 5, 4), (2, 3, 5, 2)),      # L > S: the last rows see every key
    ((1, 2, 4, 3), (1, 2, 11, 3), (1, 2, 11, 3)),    # L < S
    ((2, 1, 6, 4), (1, 3, 6, 4), (2, 3, 6, 4)),      # batch dims broadcast: gradients summed back
    ((6, 4), (6, 4), (6, 4)),                        # no batch dims
]


def _run(shapes, causal, dense, tile, monkeypatch, dtype=np.float64):
    """Output and gradients; ``monkeypatch``: run with TILE = ``tile`` and DENSE_MAX = 0 (else defaults)."""
    if monkeypatch is not None:
        monkeypatch.setattr(attention, "TILE", tile)
        monkeypatch.setattr(attention, "DENSE_MAX", 0)
    rng = np.random.default_rng(sum(map(sum, shapes)))
    xs = [tr.tensor(rng.standard_normal(s).astype(dtype), requires_grad=True) for s in shapes]
    q, k, v = xs
    L, S = shapes[0][-2], shapes[1][-2]
    if dense:      # the dense path: an explicit bias (zeros, or the causal -inf mask) as attn_mask
        bias = attention.causal_bias(np, L, S, dtype) if causal else np.zeros((L, S), dtype)
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=tr.tensor(bias))
    else:
        out = F.scaled_dot_product_attention(q, k, v, is_causal=causal)
    weights = rng.standard_normal(out.shape).astype(dtype)
    (out * tr.tensor(weights)).sum().backward()
    return [out.numpy()] + [x.grad.numpy() for x in xs]


@pytest.mark.cpu_only          # the tiled path is NumPy's (CuPy takes the dense one)
@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("shapes", SHAPES, ids=[str(s[0]) + str(s[1]) for s in SHAPES])
@pytest.mark.parametrize("tile", [3, 13, 40, 1 << 16])
def test_tiled_equals_dense(shapes, causal, tile, monkeypatch):
    tiled = _run(shapes, causal, False, tile, monkeypatch)
    dense = _run(shapes, causal, True, tile, monkeypatch)
    for name, a, b in zip(("output", "dq", "dk", "dv"), tiled, dense):
        assert a.shape == b.shape, name
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12, err_msg=name)


@pytest.mark.cpu_only
def test_default_sizes_take_the_tiled_path_above_dense_max():
    """At the defaults a call with more than DENSE_MAX weights is tiled (and equal to the dense path)."""
    shapes = ((1, 2, 730, 2), (1, 2, 730, 2), (1, 2, 730, 3))           # 2·730·730 > 2^20 weights
    assert 2 * 730 * 730 > attention.DENSE_MAX
    rng = np.random.default_rng(0)
    q, k, v = (tr.tensor(rng.standard_normal(s), requires_grad=True) for s in shapes)
    out = F.scaled_dot_product_attention(q, k, v, is_causal=True)
    assert out.grad_fn.tiled
    small = F.scaled_dot_product_attention(q[:, :, :20], k[:, :, :20], v[:, :, :20], is_causal=True)
    assert not small.grad_fn.tiled
    for causal in (True, False):
        a = _run(shapes, causal, False, attention.TILE, None)
        b = _run(shapes, causal, True, attention.TILE, None)
        for x, y in zip(a, b):
            np.testing.assert_allclose(x, y, rtol=1e-11, atol=1e-12)


@pytest.mark.cpu_only
def test_tiles_cover_every_row_and_only_earlier_keys(monkeypatch):
    """The tiles partition (group, row) and, when causal, read exactly the keys up to the block's last row."""
    for G, L, S, tile in ((5, 9, 7, 20), (3, 4, 10, 8), (64, 100, 100, 1 << 16), (2, 1000, 1000, 1 << 16)):
        monkeypatch.setattr(attention, "TILE", tile)
        seen = np.zeros((G, L), int)
        for g0, g1, r0, r1, c1 in attention._tiles(G, L, S, True):
            seen[g0:g1, r0:r1] += 1
            assert c1 == min(r1, S)
            assert (g1 - g0) * (r1 - r0) * S <= max(tile, S)
        assert (seen == 1).all()


@pytest.mark.cpu_only
def test_tiled_gradcheck_and_float32(monkeypatch):
    monkeypatch.setattr(attention, "TILE", 7)
    monkeypatch.setattr(attention, "DENSE_MAX", 0)
    rng = np.random.default_rng(3)
    xs = [tr.tensor(rng.standard_normal(s), requires_grad=True) for s in ((2, 5, 3), (2, 6, 3), (2, 6, 2))]
    assert tr.gradcheck(lambda q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=True), xs)
    assert tr.gradcheck(lambda q, k, v: F.scaled_dot_product_attention(q, k, v), xs)
    t64 = _run(SHAPES[0], True, False, 13, monkeypatch)
    t32 = _run(SHAPES[0], True, False, 13, monkeypatch, dtype=np.float32)
    for a, b in zip(t64, t32):
        assert b.dtype == np.float32
        np.testing.assert_allclose(b, a, rtol=1e-4, atol=1e-5)


@pytest.mark.cpu_only
def test_in_place_change_of_a_saved_array_raises(monkeypatch):
    monkeypatch.setattr(attention, "TILE", 8)
    monkeypatch.setattr(attention, "DENSE_MAX", 0)
    q, k, v = (tr.randn(2, 5, 3, dtype=tr.float64, requires_grad=True) for _ in range(3))
    out = F.scaled_dot_product_attention(q * 1, k * 1, v * 1, is_causal=True)
    out.mul_(2.0)                               # the output is saved (backward reads it): must be caught
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        out.sum().backward()
    qq = q * 1
    out = F.scaled_dot_product_attention(qq, k * 1, v * 1, is_causal=True)
    qq.add_(1.0)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        out.sum().backward()


@pytest.mark.cpu_only
def test_multihead_attention_trusts_the_causal_hint_as_pytorch(monkeypatch):
    """With need_weights=False and no key padding mask, is_causal=True is causal whatever attn_mask says (as
    PyTorch's fast path); with weights asked for, the mask given is used."""
    torch = pytest.importorskip("torch")
    monkeypatch.setattr(attention, "TILE", 10)
    monkeypatch.setattr(attention, "DENSE_MAX", 0)
    tr.manual_seed(0)
    ours = nn.MultiheadAttention(8, 2, dtype=tr.float64)
    ref = torch.nn.MultiheadAttention(8, 2, dtype=torch.float64)
    ref.load_state_dict({k: torch.tensor(v.numpy()) for k, v in ours.state_dict().items()})
    x = np.random.default_rng(0).standard_normal((6, 2, 8))
    causal = nn.Transformer.generate_square_subsequent_mask(6, dtype=tr.float64)
    other = np.zeros((6, 6))                              # not causal: the hint overrides it when trusted
    for mask in (causal.numpy(), other):
        for need in (False, True):
            want = ref(*(torch.tensor(x),) * 3, attn_mask=torch.tensor(mask), need_weights=need,
                       is_causal=True)[0].detach().numpy()
            got = ours(*(tr.tensor(x),) * 3, attn_mask=tr.tensor(mask), need_weights=need, is_causal=True)[0]
            np.testing.assert_allclose(got.numpy(), want, rtol=1e-10, atol=1e-12)
