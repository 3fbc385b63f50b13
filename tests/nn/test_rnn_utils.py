"""tr.nn.utils.rnn: pad_sequence, pack_padded_sequence, pad_packed_sequence, PackedSequence in layers."""

from __future__ import annotations

import numpy as np
import pytest

import tinygrad_rnn as tr
from tests.conftest import require
from tinygrad_rnn.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence, pad_sequence

LENGTHS = [3, 5, 1, 4]


def _seqs(rng, lengths=LENGTHS, feat=2):
    return [rng.standard_normal((n, feat)) for n in lengths]


def _padded_numpy(seqs, T=None, value=0.0, left=False):
    T = T or max(len(s) for s in seqs)
    out = np.full((T, len(seqs)) + seqs[0].shape[1:], value)
    for b, s in enumerate(seqs):
        if left:
            out[T - len(s):, b] = s
        else:
            out[:len(s), b] = s
    return out


@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("side", ["right", "left"])
def test_pad_sequence(batch_first, side, device):
    seqs = _seqs(np.random.default_rng(0))
    ts = [tr.tensor(s, device=device, requires_grad=True) for s in seqs]
    out = pad_sequence(ts, batch_first=batch_first, padding_value=-1.0, padding_side=side)
    want = _padded_numpy(seqs, value=-1.0, left=side == "left")
    np.testing.assert_array_equal(out.numpy(), want.transpose(1, 0, 2) if batch_first else want)
    (out * out).sum().backward()
    for s, t in zip(seqs, ts):
        np.testing.assert_allclose(t.grad.numpy(), 2 * s)


@pytest.mark.parametrize("batch_first", [False, True])
def test_pack_unsorted_roundtrip_and_layout(batch_first, device):
    rng = np.random.default_rng(1)
    seqs = _seqs(rng)
    padded = _padded_numpy(seqs)
    x = tr.tensor(padded.transpose(1, 0, 2) if batch_first else padded, device=device, requires_grad=True)
    packed = pack_padded_sequence(x, LENGTHS, batch_first=batch_first, enforce_sorted=False)
    assert isinstance(packed, PackedSequence)
    order = np.argsort(-np.array(LENGTHS), kind="stable")
    np.testing.assert_array_equal(packed.sorted_indices.numpy(), order)
    np.testing.assert_array_equal(packed.unsorted_indices.numpy(), np.argsort(order))
    np.testing.assert_array_equal(packed.batch_sizes.numpy(), [4, 3, 3, 2, 1])
    want = np.concatenate([[seqs[b][t] for b in order if len(seqs[b]) > t] for t in range(5)])
    np.testing.assert_array_equal(packed.data.numpy(), want)
    back, lengths = pad_packed_sequence(packed, batch_first=batch_first, padding_value=7.0, total_length=6)
    np.testing.assert_array_equal(lengths.numpy(), LENGTHS)
    ref = _padded_numpy(seqs, T=6, value=7.0)
    np.testing.assert_array_equal(back.numpy(), ref.transpose(1, 0, 2) if batch_first else ref)
    (back * 2).sum().backward()                                # gradient 2 inside the sequences, 0 on padding
    mask = (np.arange(5)[:, None] < np.array(LENGTHS)[None, :])[:, :, None] * np.ones((1, 1, 2))
    np.testing.assert_array_equal(x.grad.numpy(), 2 * (mask.transpose(1, 0, 2) if batch_first else mask))


def test_pack_sorted_and_errors(device):
    x = tr.randn(4, 3, 2, device=device)
    packed = pack_padded_sequence(x, [4, 2, 2])
    assert packed.sorted_indices is None and packed.unsorted_indices is None and packed.data.device == device
    np.testing.assert_array_equal(packed.batch_sizes.numpy(), [3, 3, 1, 1])
    np.testing.assert_array_equal(pad_packed_sequence(packed)[0].numpy()[:2], x.numpy()[:2])
    with pytest.raises(ValueError, match="enforce_sorted"):
        pack_padded_sequence(x, [2, 4, 2])
    with pytest.raises(ValueError, match=r"lengths: expected every length in 1\.\.4"):
        pack_padded_sequence(x, [5, 2, 2])
    with pytest.raises(ValueError, match=r"lengths: expected 3 lengths"):
        pack_padded_sequence(x, [4, 2])
    with pytest.raises(ValueError, match="total_length"):
        pad_packed_sequence(packed, total_length=3)
    with pytest.raises(TypeError, match="PackedSequence"):
        pad_packed_sequence(x)
    with pytest.raises(ValueError, match="empty"):
        pad_sequence([])


def test_against_torch(device):
    torch = require("torch")
    rng = np.random.default_rng(2)
    seqs = _seqs(rng, [2, 6, 3, 6, 1])
    ours = pad_sequence([tr.tensor(s, device=device) for s in seqs], batch_first=True, padding_value=0.5)
    theirs = torch.nn.utils.rnn.pad_sequence([torch.from_numpy(s) for s in seqs], batch_first=True, padding_value=0.5)
    np.testing.assert_array_equal(ours.numpy(), theirs.numpy())
    lengths = [len(s) for s in seqs]
    p_ours = pack_padded_sequence(ours, lengths, batch_first=True, enforce_sorted=False)
    p_theirs = torch.nn.utils.rnn.pack_padded_sequence(theirs, torch.tensor(lengths), batch_first=True,
                                                       enforce_sorted=False)
    np.testing.assert_array_equal(p_ours.batch_sizes.numpy(), p_theirs.batch_sizes.numpy())
    u_ours, l_ours = pad_packed_sequence(p_ours, batch_first=True)
    u_theirs, l_theirs = torch.nn.utils.rnn.pad_packed_sequence(p_theirs, batch_first=True)
    np.testing.assert_array_equal(u_ours.numpy(), u_theirs.numpy())
    np.testing.assert_array_equal(l_ours.numpy(), l_theirs.numpy())


@pytest.mark.parametrize("cls", [tr.nn.LSTM, tr.nn.GRU, tr.nn.RNN])
def test_layer_takes_and_returns_packed(cls, device):
    """Packed in, packed out (same layout); h_n in the original batch order, as with lengths=."""
    tr.manual_seed(0)
    m = cls(2, 3, num_layers=2, bidirectional=True, dtype=tr.float64, device=device)
    x = tr.randn(5, 4, 2, dtype=tr.float64, device=device)
    packed = pack_padded_sequence(x, LENGTHS, enforce_sorted=False)
    for unroll in (False, True):
        out, hn = m(packed, unroll=unroll)
        assert isinstance(out, PackedSequence) and out.data.device == device
        np.testing.assert_array_equal(out.batch_sizes.numpy(), packed.batch_sizes.numpy())
        np.testing.assert_array_equal(out.sorted_indices.numpy(), packed.sorted_indices.numpy())
        ref_out, ref_hn = m(x, lengths=LENGTHS, unroll=unroll)
        np.testing.assert_allclose(pad_packed_sequence(out)[0].numpy(), ref_out.numpy(), atol=1e-12)
        h, r = (hn[0], ref_hn[0]) if cls is tr.nn.LSTM else (hn, ref_hn)
        np.testing.assert_allclose(h.numpy(), r.numpy(), atol=1e-12)
    with pytest.raises(ValueError, match="PackedSequence carries its own lengths"):
        m(packed, lengths=LENGTHS)
