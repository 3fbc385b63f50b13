"""Encoder, decoder, Seq2Seq (teacher forcing, scheduled sampling), greedy decoding and beam search."""

import math
import time

import numpy as np
import pytest

import tinygrad_rnn as tr
import tinygrad_rnn.optim  # noqa: F401
from tinygrad_rnn import nn

PAD, SOS, EOS = 0, 1, 2
V = 9                              # 3 specials + 6 symbols
CELLS = ["lstm", "gru", "rnn"]
ATTENTIONS = [None, "bahdanau", "luong"]


def make_model(cell="lstm", attention="bahdanau", bidirectional=True, num_layers=1, H=8, E=5, dtype=None,
               device="cpu", seed=0):
    tr.manual_seed(seed)
    enc = nn.Encoder(V, E, H, cell=cell, num_layers=num_layers, bidirectional=bidirectional, dtype=dtype,
                     device=device)
    attn = None
    if attention == "bahdanau":
        attn = nn.BahdanauAttention(H, enc.output_size, 6, dtype=dtype, device=device)
    elif attention == "luong":
        attn = nn.LuongAttention(H, enc.output_size, score="general", dtype=dtype, device=device)
    dec = nn.Decoder(V, E, H, cell=cell, num_layers=num_layers, attention=attn, dtype=dtype, device=device)
    return nn.Seq2Seq(enc, dec, SOS, EOS, PAD)


def make_batch(B=4, S=6, T=5, lengths=(6, 3, 5, 1), seed=0, device="cpu"):
    rng = np.random.default_rng(seed)
    src = rng.integers(3, V, size=(B, S))
    for i, n in enumerate(lengths):
        src[i, n:] = PAD
    tgt = rng.integers(3, V, size=(B, T))
    return tr.tensor(src, device=device), np.array(lengths), tr.tensor(tgt, device=device)


def assert_same(a, b, device):
    """Bit-identical on NumPy; on CuPy within float64 round-off (library kernels need not be deterministic)."""
    if device == "cpu":
        np.testing.assert_array_equal(a, b)
    else:
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


def manual_loop(model, src, lengths, tgt, feed):
    """Reference: the decoder stepped by hand, feeding ``feed(t, logits_prev)`` as the next input."""
    keys, state, mask = model.encode(src, lengths)
    token = tr.full((tgt.shape[0],), SOS, dtype=tgt.dtype, device=tgt.device)
    out = []
    for t in range(tgt.shape[1]):
        logits, state, _ = model.decoder.step(token, state, keys, mask)
        out.append(logits)
        token = feed(t, logits)
    return tr.stack(out, dim=1)


# ------------------------------------------------------------------------------------------------ shapes


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("attention", ATTENTIONS)
def test_shapes(cell, attention, device):
    model = make_model(cell, attention, num_layers=2, device=device)
    src, lengths, tgt = make_batch(device=device)
    keys, state, mask = model.encode(src, lengths)
    assert keys.shape == (4, 6, 16) and mask.shape == (4, 6) and mask.dtype == tr.bool
    for s in (state if cell == "lstm" else (state,)):
        assert s.shape == (2, 4, 8)
    logits = model(src, lengths, tgt)
    assert logits.shape == (4, 5, V)
    logits.sum().backward()
    assert all(p.grad is not None for p in model.parameters())
    out, w = model.decoder(tgt, state, keys, mask)[0::2]
    assert out.shape == (4, 5, V)
    assert (w is None) == (attention is None)
    if w is not None:
        assert w.shape == (4, 5, 6)
        np.testing.assert_array_equal(w.numpy()[mask.numpy()[:, None, :].repeat(5, 1) == 0], 0.0)


def test_encoder_outputs_zero_on_padding_and_state_at_own_end(device):
    tr.manual_seed(0)
    enc = nn.Encoder(V, 5, 8, cell="gru", dtype=np.float64, device=device)
    src, lengths, _ = make_batch(device=device)
    out, h = enc(src, lengths)
    assert out.shape == (4, 6, 8) and h.shape == (1, 4, 8)
    assert np.all(out.numpy()[np.arange(6)[None, :] >= lengths[:, None]] == 0.0)
    for i, n in enumerate(lengths):                   # each sequence alone, unpadded
        out_i, h_i = enc(src[i:i + 1, :n], [n])
        np.testing.assert_allclose(h.numpy()[:, i], h_i.numpy()[:, 0], rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(out.numpy()[i, :n], out_i.numpy()[0], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_bidirectional_bridge_rule(cell, device):
    """s0_l = tanh(W_h [h_l→; h_l←] + b_h) per layer (and the same with bridge_c for an LSTM's c)."""
    tr.manual_seed(0)
    enc = nn.Encoder(V, 5, 8, cell=cell, num_layers=2, bidirectional=True, dtype=np.float64, device=device)
    src, lengths, _ = make_batch(device=device)
    _, state = enc(src, lengths)
    _, raw = enc.rnn(enc.embedding(src), lengths=lengths)
    pairs = [(raw[0], state[0], enc.bridge_h), (raw[1], state[1], enc.bridge_c)] if cell == "lstm" \
        else [(raw, state, enc.bridge_h)]
    for r, s, lin in pairs:
        assert s.shape == (2, 4, 8)
        W, b = lin.weight.numpy(), lin.bias.numpy()
        for layer in range(2):
            both = np.concatenate([r.numpy()[2 * layer], r.numpy()[2 * layer + 1]], axis=1)
            np.testing.assert_allclose(s.numpy()[layer], np.tanh(both @ W.T + b), rtol=1e-12, atol=1e-12)


def test_unidirectional_state_is_passed_unchanged(device):
    tr.manual_seed(0)
    enc = nn.Encoder(V, 5, 8, cell="lstm", dtype=np.float64, device=device)
    src, lengths, _ = make_batch(device=device)
    _, (h, c) = enc(src, lengths)
    _, (h_raw, c_raw) = enc.rnn(enc.embedding(src), lengths=lengths)
    assert_same(h.numpy(), h_raw.numpy(), device)
    assert_same(c.numpy(), c_raw.numpy(), device)


@pytest.mark.parametrize("attention", ATTENTIONS)
def test_padded_source_tokens_do_not_change_outputs(attention, device):
    model = make_model("lstm", attention, dtype=np.float64, device=device)
    src, lengths, tgt = make_batch(device=device)
    logits = model(src, lengths, tgt).numpy()
    noisy = src.numpy().copy()
    pad = np.arange(6)[None, :] >= lengths[:, None]
    noisy[pad] = np.random.default_rng(5).integers(3, V, size=pad.sum())
    logits2 = model(tr.tensor(noisy, device=device), lengths, tgt).numpy()
    np.testing.assert_allclose(logits2, logits, rtol=1e-12, atol=1e-12)


# ------------------------------------------------------------------------------------------------ teacher forcing


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("attention", ATTENTIONS)
def test_teacher_forcing_one_feeds_ground_truth(cell, attention, device):
    model = make_model(cell, attention, dtype=np.float64, device=device)
    src, lengths, tgt = make_batch(device=device)
    got = model(src, lengths, tgt, teacher_forcing_ratio=1.0).numpy()
    want = manual_loop(model, src, lengths, tgt, lambda t, logits: tgt[:, t] if t + 1 < tgt.shape[1] else None)
    np.testing.assert_allclose(got, want.numpy(), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("attention", ATTENTIONS)
def test_ratio_zero_feeds_own_predictions(attention, device):
    model = make_model("gru", attention, dtype=np.float64, device=device)
    src, lengths, tgt = make_batch(device=device)
    got = model(src, lengths, tgt, teacher_forcing_ratio=0.0)
    want = manual_loop(model, src, lengths, tgt, lambda t, logits: logits.argmax(dim=1))
    np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-12, atol=1e-12)
    tf = model(src, lengths, tgt).numpy()
    assert not np.allclose(tf, got.numpy())          # the two regimes really differ here


def record_inputs(model):
    seen = []
    step = model.decoder.step

    def spy(token, *args, **kwargs):
        seen.append(token.numpy().copy())
        return step(token, *args, **kwargs)

    model.decoder.step = spy
    return seen


def test_coin_is_flipped_per_example_and_step(device):
    model = make_model("lstm", "luong", device=device)
    B, T = 64, 8
    src, lengths, tgt = make_batch(B=B, S=6, T=T, lengths=[6] * B, seed=3, device=device)
    seen = record_inputs(model)
    logits = model(src, lengths, tgt, teacher_forcing_ratio=0.5, generator=tr.Generator().manual_seed(7))
    inputs = np.stack(seen, axis=1)                   # (B, T)
    assert np.all(inputs[:, 0] == SOS)
    truth, pred = tgt.numpy()[:, :-1], logits.numpy().argmax(axis=2)[:, :-1]
    fed = inputs[:, 1:]
    assert np.all((fed == truth) | (fed == pred))
    differ = truth != pred
    teacher = (fed == truth) & differ
    assert 0.35 < teacher.sum() / differ.sum() < 0.65
    steps_mixed = [t for t in range(T - 1) if teacher[differ[:, t], t].any() and (~teacher[differ[:, t], t]).any()]
    assert len(steps_mixed) >= T - 2                  # within a step, examples get different coins
    examples_mixed = [b for b in range(B) if teacher[b][differ[b]].any() and (~teacher[b][differ[b]]).any()]
    assert len(examples_mixed) > B // 4               # within an example, steps get different coins


def test_generator_makes_sampling_reproducible(device):
    model = make_model("lstm", "bahdanau", device=device)
    src, lengths, tgt = make_batch(B=16, lengths=[6] * 16, S=6, T=6, seed=2, device=device)
    a = model(src, lengths, tgt, 0.5, generator=tr.Generator().manual_seed(3)).numpy()
    b = model(src, lengths, tgt, 0.5, generator=tr.Generator().manual_seed(3)).numpy()
    assert_same(a, b, device)
    tr.manual_seed(11)
    c = model(src, lengths, tgt, 0.5).numpy()
    tr.manual_seed(11)
    assert_same(c, model(src, lengths, tgt, 0.5).numpy(), device)


# ------------------------------------------------------------------------------------------------ scheduled sampling


@pytest.mark.cpu_only          # pure-Python schedule arithmetic: no arrays, nothing device-dependent
@pytest.mark.parametrize("kind,k,c,formula", [
    ("linear", 1.0, 0.01, lambda i, k, c: max(0.1, k - c * i)),
    ("exponential", 0.97, 0.0, lambda i, k, c: max(0.1, k ** i)),
    ("inverse_sigmoid", 20.0, 0.0, lambda i, k, c: max(0.1, k / (k + math.exp(i / k)))),
])
def test_schedule_values_match_formulas(kind, k, c, formula):
    sched = nn.ScheduledSampling(kind, k=k, c=c, eps_min=0.1)
    for i in range(200):
        assert sched.ratio == pytest.approx(formula(i, k, c), rel=1e-12, abs=0)
        assert sched.value(i) == sched.ratio
        sched.step()
    assert sched.num_steps == 200 and sched.ratio == pytest.approx(0.1)


@pytest.mark.cpu_only          # pure-Python schedule arithmetic: no arrays, nothing device-dependent
def test_schedule_defaults_and_start():
    assert nn.ScheduledSampling("linear").ratio == 1.0
    assert nn.ScheduledSampling("exponential").ratio == 1.0
    assert nn.ScheduledSampling("inverse_sigmoid", k=100).ratio == pytest.approx(100 / 101)
    assert nn.ScheduledSampling("inverse_sigmoid", k=10).value(10 ** 6) == 0.0      # no overflow


@pytest.mark.cpu_only          # pure-Python schedule arithmetic: no arrays, nothing device-dependent
def test_schedule_state_dict_round_trip():
    a = nn.ScheduledSampling("inverse_sigmoid", k=5.0, eps_min=0.05)
    for _ in range(7):
        a.step()
    b = nn.ScheduledSampling("linear")
    b.load_state_dict(a.state_dict())
    assert b.state_dict() == a.state_dict() and b.ratio == a.ratio
    a.step()
    b.step()
    assert b.ratio == a.ratio
    with pytest.raises(ValueError, match="missing keys"):
        b.load_state_dict({"kind": "linear"})


def test_forward_uses_the_schedule_ratio(device):
    model = make_model("gru", None, dtype=np.float64, device=device)
    src, lengths, tgt = make_batch(device=device)
    tf = model(src, lengths, tgt).numpy()
    free = model(src, lengths, tgt, teacher_forcing_ratio=0.0).numpy()
    start = nn.ScheduledSampling("linear", k=1.0, c=1.0)
    assert_same(model(src, lengths, tgt, schedule=start).numpy(), tf, device)
    start.step()                                       # ratio 0 now
    assert start.ratio == 0.0
    assert_same(model(src, lengths, tgt, schedule=start).numpy(), free, device)


# ------------------------------------------------------------------------------------------------ decoding


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("attention", ATTENTIONS)
def test_beam_size_one_equals_greedy(cell, attention, device):
    model = make_model(cell, attention, seed=3, device=device)
    model.eval()
    src, lengths, _ = make_batch(B=6, lengths=(6, 3, 5, 1, 2, 6), seed=4, device=device)
    g_tok, g_score = nn.greedy_decode(model, src, lengths, max_len=7)
    b_tok, b_score = nn.beam_search(model, src, lengths, beam_size=1, max_len=7)
    np.testing.assert_array_equal(b_tok.numpy(), g_tok.numpy())
    np.testing.assert_allclose(b_score.numpy(), g_score.numpy(), rtol=1e-5, atol=1e-5)


def test_greedy_output_format_and_scores(device):
    model = make_model("lstm", "bahdanau", seed=1, device=device)
    src, lengths, _ = make_batch(device=device)
    tok, score, w = nn.greedy_decode(model, src, lengths, max_len=10, return_attention=True)
    tok = tok.numpy()
    assert tok.shape[0] == 4 and tok.shape[1] <= 10 and w.shape == (4, tok.shape[1], 6)
    for row in tok:                                   # pad_idx after the first eos
        hits = np.flatnonzero(row == EOS)
        if hits.size:
            assert np.all(row[hits[0] + 1:] == PAD)
    # the score is the log-probability of the emitted tokens under teacher forcing on them
    logp = model(src, lengths, tr.tensor(tok, device=device)).log_softmax(dim=2).numpy()
    for b, row in enumerate(tok):
        n = np.flatnonzero(row == EOS)[0] + 1 if (row == EOS).any() else len(row)
        want = sum(logp[b, t, row[t]] for t in range(n))
        assert score.numpy()[b] == pytest.approx(want, rel=1e-5, abs=1e-5)


def markov_model(device="cpu"):
    """A model whose next-token distribution depends only on the previous token (a fixed table).

    Vocabulary pad, sos, eos, a, b, c. p(·|sos): a .5, b .4, eos .1 — p(·|a): c .4, eos .3, b .3 —
    p(·|c): eos .4, a .3, b .3 — p(·|b): eos .9, a .05, c .05. Greedy: a c eos (.5·.4·.4 = .08);
    the best sequence is b eos (.4·.9 = .36), which a beam of 2 keeps.
    """
    n = 6
    table = np.full((n, n), 1e-9)
    table[SOS, [3, 4, EOS]] = [.5, .4, .1]
    table[3, [5, EOS, 4]] = [.4, .3, .3]
    table[5, [EOS, 3, 4]] = [.4, .3, .3]
    table[4, [EOS, 3, 5]] = [.9, .05, .05]
    for row in (PAD, EOS):
        table[row] = 1.0 / n
    logp = np.log(table / table.sum(axis=1, keepdims=True))
    enc = nn.Encoder(n, 3, n, cell="rnn", dtype=np.float64, device=device)
    dec = nn.Decoder(n, n, n, cell="rnn", dtype=np.float64, device=device)
    with tr.no_grad():
        dec.embedding.weight.copy_(tr.eye(n, dtype=tr.float64, device=device))
        dec.rnn.weight_ih_l0.copy_(tr.eye(n, dtype=tr.float64, device=device) * 5.0)   # h = tanh(5)·onehot(prev)
        dec.rnn.weight_hh_l0.zero_()
        dec.rnn.bias_ih_l0.zero_()
        dec.rnn.bias_hh_l0.zero_()
        dec.out.weight.copy_(tr.tensor(logp.T / math.tanh(5.0), device=device))   # logits = log p(·|prev)
        dec.out.bias.zero_()
    return nn.Seq2Seq(enc, dec, SOS, EOS, PAD), logp


def test_beam_search_beats_greedy_on_constructed_case(device):
    model, logp = markov_model(device)
    src, lengths = tr.tensor([[3, 4]], device=device), [2]
    g_tok, g_score = nn.greedy_decode(model, src, lengths, max_len=6)
    b_tok, b_score = nn.beam_search(model, src, lengths, beam_size=2, max_len=6)
    assert g_tok.numpy().tolist() == [[3, 5, EOS]]
    assert b_tok.numpy().tolist() == [[4, EOS]]
    assert g_score.item() == pytest.approx(math.log(.5 * .4 * .4), rel=1e-6)
    assert b_score.item() == pytest.approx(math.log(.4 * .9), rel=1e-6)
    assert b_score.item() > g_score.item()


def test_beam_search_keeps_finished_hypotheses_and_is_batched(device):
    model, _ = markov_model(device)
    src = tr.tensor([[3, 4], [5, 0]], device=device)
    tok, score = nn.beam_search(model, src, [2, 1], beam_size=3, max_len=6)
    assert tok.numpy().tolist() == [[4, EOS], [4, EOS]]
    # with max_len=1 nothing can finish except "eos" itself; the live hypotheses compete as they are
    tok1, score1 = nn.beam_search(model, src, [2, 1], beam_size=3, max_len=1)
    assert tok1.numpy().tolist() == [[3], [3]]
    assert score1.numpy() == pytest.approx([math.log(.5)] * 2, rel=1e-6)


@pytest.mark.parametrize("attention", ["bahdanau", "luong"])
def test_same_numbers_on_every_device(attention, device):
    """Forward with sampling, greedy and beam search on ``device`` agree with the CPU (float64)."""
    results = []
    for dev in ("cpu", device):
        model = make_model("lstm", attention, dtype=np.float64, device=dev, seed=5)
        src, lengths, tgt = make_batch(device=dev, seed=6)
        logits = model(src, lengths, tgt, teacher_forcing_ratio=0.5, generator=tr.Generator().manual_seed(1))
        g_tok, g_score = nn.greedy_decode(model, src, lengths, max_len=7)
        b_tok, b_score = nn.beam_search(model, src, lengths, beam_size=3, max_len=7)
        assert logits.device == dev and g_tok.device == dev and b_tok.device == dev
        results.append([t.numpy() for t in (logits, g_tok, g_score, b_tok, b_score)])
    for a, b in zip(*results):
        np.testing.assert_allclose(b, a, rtol=1e-9, atol=1e-9)


# ------------------------------------------------------------------------------------------------ learning


def test_tiny_model_overfits_twenty_reversal_pairs(device):
    rng = np.random.default_rng(0)
    seqs = [rng.integers(3, V, size=rng.integers(3, 6)) for _ in range(20)]
    S = max(len(s) for s in seqs)
    src = np.zeros((20, S), dtype=np.int64)
    tgt = np.zeros((20, S + 1), dtype=np.int64)
    lengths = np.array([len(s) for s in seqs])
    for i, s in enumerate(seqs):
        src[i, :len(s)], tgt[i, :len(s)], tgt[i, len(s)] = s, s[::-1], EOS
    src, tgt = tr.tensor(src, device=device), tr.tensor(tgt, device=device)
    tr.manual_seed(0)
    enc = nn.Encoder(V, 16, 32, cell="lstm", bidirectional=True, device=device)
    dec = nn.Decoder(V, 16, 32, cell="lstm", attention=nn.LuongAttention(32, 64, device=device), device=device)
    model = nn.Seq2Seq(enc, dec, SOS, EOS, PAD)
    opt = tr.optim.Adam(model.parameters(), lr=1e-2)
    start = time.perf_counter()
    losses = []
    for _ in range(150):
        loss = nn.functional.cross_entropy(model(src, lengths, tgt).reshape(-1, V), tgt.reshape(-1),
                                           ignore_index=PAD)
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        losses.append(loss.item())
        if loss.item() < 0.01:
            break
    elapsed = time.perf_counter() - start
    model.eval()
    out, _ = nn.greedy_decode(model, src, lengths, max_len=S + 1)
    assert out.shape == tgt.shape
    np.testing.assert_array_equal(out.numpy(), tgt.numpy())
    assert losses[-1] < 0.05 * losses[0]
    if device == "cpu":                                # on a GPU the time includes CuPy's one-off kernel compiles
        assert elapsed < 60                            # ~2 s on an idle core; generous for shared machines


# ------------------------------------------------------------------------------------------------ graph scopes


def test_graph_nodes_are_tagged_encoder_bridge_decoder(device):
    model = make_model("gru", "bahdanau", bidirectional=True, device=device)
    src, lengths, tgt = make_batch(device=device)
    logits = model(src, lengths, tgt)
    scopes = [dict(node.scope) for node in tr.autograd.graph_nodes(logits)]
    parts = {s.get("part") for s in scopes}
    assert {"encoder", "bridge", "decoder"} <= parts
    assert {s["t"] for s in scopes if s.get("part") == "decoder"} == set(range(tgt.shape[1]))
    assert any(s.get("name") == "encoder" for s in scopes)
    assert any(s.get("name") == "decoder" for s in scopes)
    assert not any("t" in s for s in scopes if s.get("part") == "encoder")


# ------------------------------------------------------------------------------------------------ bad input


def test_bad_input_raises_clear_errors(device):
    model = make_model("lstm", "bahdanau", device=device)
    src, lengths, tgt = make_batch(device=device)
    with pytest.raises(ValueError, match="src_lengths must have one entry per sequence"):
        model(src, [6, 3, 5], tgt)
    with pytest.raises(ValueError, match=r"src_lengths must lie in \[1, 6\]"):
        model(src, [7, 3, 5, 1], tgt)
    with pytest.raises(ValueError, match=r"src_lengths must lie in \[1, 6\]"):
        model(src, [0, 3, 5, 1], tgt)
    with pytest.raises(TypeError, match="src must hold integer"):
        model(src.float(), lengths, tgt)
    with pytest.raises(ValueError, match="same batch size"):
        model(src, lengths, tgt[:3])
    with pytest.raises(ValueError, match="teacher_forcing_ratio must be a number in"):
        model(src, lengths, tgt, teacher_forcing_ratio=1.5)
    with pytest.raises(ValueError, match="either teacher_forcing_ratio or schedule"):
        model(src, lengths, tgt, teacher_forcing_ratio=0.5, schedule=nn.ScheduledSampling())
    with pytest.raises(ValueError, match="beam_size must be a positive int"):
        nn.beam_search(model, src, lengths, beam_size=0, max_len=5)
    with pytest.raises(ValueError, match="max_len must be a positive int"):
        nn.greedy_decode(model, src, lengths, max_len=0)
    with pytest.raises(IndexError, match="eos must be a token index"):
        nn.beam_search(model, src, lengths, beam_size=2, max_len=5, eos=V)
    with pytest.raises(TypeError, match="model must be a Seq2Seq"):
        nn.greedy_decode(model.encoder, src, lengths, max_len=3)


def test_bad_construction_raises_clear_errors(device):
    d = {"device": device}
    with pytest.raises(ValueError, match="cell must be one of"):
        nn.Encoder(V, 4, 8, cell="transformer", **d)
    with pytest.raises(ValueError, match="cell must be one of"):
        nn.Decoder(V, 4, 8, cell="LSTM", **d)
    enc = nn.Encoder(V, 4, 8, cell="lstm", bidirectional=True, **d)
    with pytest.raises(ValueError, match="same hidden_size"):
        nn.Seq2Seq(enc, nn.Decoder(V, 4, 6, cell="lstm", **d), SOS, EOS)
    with pytest.raises(ValueError, match="same cell"):
        nn.Seq2Seq(enc, nn.Decoder(V, 4, 8, cell="gru", **d), SOS, EOS)
    with pytest.raises(ValueError, match="same num_layers"):
        nn.Seq2Seq(enc, nn.Decoder(V, 4, 8, cell="lstm", num_layers=2, **d), SOS, EOS)
    with pytest.raises(ValueError, match="key_dim must equal the encoder's output size 16"):
        nn.Seq2Seq(enc, nn.Decoder(V, 4, 8, attention=nn.BahdanauAttention(8, 8, 4, **d), **d), SOS, EOS)
    with pytest.raises(ValueError, match="query_dim must equal hidden_size=8"):
        nn.Decoder(V, 4, 8, attention=nn.BahdanauAttention(6, 16, 4, **d), **d)
    with pytest.raises(TypeError, match="attention must be None"):
        nn.Decoder(V, 4, 8, attention=nn.Linear(8, 8, **d), **d)
    with pytest.raises(IndexError, match="eos_idx must be a token index"):
        nn.Seq2Seq(enc, nn.Decoder(V, 4, 8, **d), SOS, V)
    with pytest.raises(TypeError, match="decoder must be a Decoder"):
        nn.Seq2Seq(enc, enc, SOS, EOS)
    with pytest.raises(ValueError, match="kind must be one of"):
        nn.ScheduledSampling("cosine")
    with pytest.raises(ValueError, match="exponential needs 0 < k <= 1"):
        nn.ScheduledSampling("exponential", k=1.5)
    with pytest.raises(ValueError, match="inverse_sigmoid needs k >= 1"):
        nn.ScheduledSampling("inverse_sigmoid", k=0.5)
