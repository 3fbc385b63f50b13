"""Ported program (issue 16): a word-level language model in the style of PyTorch's
``examples/word_language_model`` (Embedding + LSTM + Linear, tied weights, truncated BPTT, clipping,
``p.data.add_``), that saves the *whole model* with ``torch.save(model, f)`` and reloads it under
``torch.serialization.safe_globals([...])`` listing ``torch.nn.modules...`` classes.

The program text is written once as a PyTorch user writes it; the port changes only the import line.
It runs on tinygrad_rnn always, and on torch (the reference) when torch is installed.
"""

import sys
import types

import numpy as np
import pytest
from conftest import require

import tinygrad_rnn as tr

PROGRAM = '''
import io
import {lib} as torch
import {lib}.nn as nn
import {lib}.nn.functional as F


class RNNModel(nn.Module):
    """Container module with an encoder, a recurrent module, and a decoder."""

    def __init__(self, ntoken, ninp, nhid, nlayers, dropout=0.5, tie_weights=False):
        super().__init__()
        self.ntoken = ntoken
        self.drop = nn.Dropout(dropout)
        self.encoder = nn.Embedding(ntoken, ninp)
        self.rnn = nn.LSTM(ninp, nhid, nlayers, dropout=dropout)
        self.decoder = nn.Linear(nhid, ntoken)
        if tie_weights:
            self.decoder.weight = self.encoder.weight
        self.init_weights()
        self.nhid = nhid
        self.nlayers = nlayers

    def init_weights(self):
        initrange = 0.1
        nn.init.uniform_(self.encoder.weight, -initrange, initrange)
        nn.init.zeros_(self.decoder.bias)
        nn.init.uniform_(self.decoder.weight, -initrange, initrange)

    def forward(self, input, hidden):
        emb = self.drop(self.encoder(input))
        output, hidden = self.rnn(emb, hidden)
        output = self.drop(output)
        decoded = self.decoder(output)
        decoded = decoded.view(-1, self.ntoken)
        return F.log_softmax(decoded, dim=1), hidden

    def init_hidden(self, bsz):
        weight = next(self.parameters())
        return (weight.new_zeros(self.nlayers, bsz, self.nhid), weight.new_zeros(self.nlayers, bsz, self.nhid))


def batchify(data, bsz):
    nbatch = data.size(0) // bsz
    data = data.narrow(0, 0, nbatch * bsz)
    return data.view(bsz, -1).t().contiguous()


def get_batch(source, i, bptt):
    seq_len = min(bptt, len(source) - 1 - i)
    return source[i:i + seq_len], source[i + 1:i + 1 + seq_len].reshape(-1)


def repackage_hidden(h):
    if isinstance(h, torch.Tensor):
        return h.detach()
    return tuple(repackage_hidden(v) for v in h)


def train(model, data, lr=2.0, bptt=5, clip=0.25):
    criterion = nn.NLLLoss()
    model.train()
    hidden = model.init_hidden(data.size(1))
    losses = []
    for i in range(0, data.size(0) - 1, bptt):
        x, y = get_batch(data, i, bptt)
        model.zero_grad()
        hidden = repackage_hidden(hidden)
        output, hidden = model(x, hidden)
        loss = criterion(output, y)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
        for p in model.parameters():
            p.data.add_(p.grad, alpha=-lr)
        losses.append(loss.item())
    return losses


def evaluate(model, data):
    model.eval()
    with torch.no_grad():
        hidden = model.init_hidden(data.size(1))
        output, hidden = model(data[:-1], hidden)
    return output, hidden


def save_and_reload(model):
    f = io.BytesIO()
    torch.save(model, f)
    f.seek(0)
    with torch.serialization.safe_globals([RNNModel, torch.nn.modules.rnn.LSTM, torch.nn.modules.dropout.Dropout,
                                           torch.nn.modules.sparse.Embedding, torch.nn.modules.linear.Linear]):
        return torch.load(f)


def load_unlisted(model):
    f = io.BytesIO()
    torch.save(model, f)
    f.seek(0)
    return torch.load(f)
'''

CORPUS = ("the cat sat on the mat . the dog sat on the log . a cat and a dog met on the mat . "
          "the log and the mat sat still .").split()


def _program(lib: str) -> types.ModuleType:
    """The program as an importable module (torch pickles classes by module path)."""
    name = f"_word_lm_{lib}"
    if name not in sys.modules:
        mod = types.ModuleType(name)
        sys.modules[name] = mod
        exec(compile(PROGRAM.format(lib=lib), f"<{name}>", "exec"), mod.__dict__)
    return sys.modules[name]


def _run(lib, m, model, dtype):
    vocab = {w: i for i, w in enumerate(dict.fromkeys(CORPUS))}
    ids = m.torch.tensor([vocab[w] for w in CORPUS], dtype=m.torch.long)
    data = m.batchify(ids, 3)
    losses = m.train(model, data)
    out, (h, c) = m.evaluate(model, data)
    back = m.save_and_reload(model)
    out2, (h2, c2) = m.evaluate(back, data)
    return {"losses": losses, "out": out, "h": h, "c": c, "out2": out2, "h2": h2, "c2": c2, "back": back}


def _ours():
    m = _program("tinygrad_rnn")
    tr.manual_seed(0)
    model = m.RNNModel(len(dict.fromkeys(CORPUS)), 8, 8, 2, dropout=0.0, tie_weights=True).double()
    start = {k: v.numpy().copy() for k, v in model.state_dict().items()}
    return m, model, start


@pytest.mark.cpu_only   # a whole CPU training program; the GPU paths have their own tests
def test_word_lm_saves_and_reloads_the_whole_model():
    m, model, start = _ours()
    r = _run("tinygrad_rnn", m, model, tr.float64)
    assert not np.array_equal(model.rnn.weight_hh_l1.detach().numpy(), start["rnn.weight_hh_l1"])   # it trained
    back = r["back"]
    assert type(back) is m.RNNModel and back is not model and not back.training
    assert back.decoder.weight is back.encoder.weight                     # tied weights stay tied
    assert [n for n, _ in back.named_parameters()] == [n for n, _ in model.named_parameters()]
    for k in ("out", "h", "c"):
        np.testing.assert_array_equal(r[k + "2"].numpy(), r[k].numpy())   # identical outputs
    with pytest.raises(tr.serialization.UnpicklingError, match="RNNModel.*add_safe_globals"):
        m.load_unlisted(model)


@pytest.mark.cpu_only   # the same program on torch, live
def test_word_lm_matches_torch_doing_the_same():
    torch = require("torch")
    import pickle

    m, model, start = _ours()
    ours = _run("tinygrad_rnn", m, model, tr.float64)
    tm = _program("torch")
    tmodel = tm.RNNModel(len(dict.fromkeys(CORPUS)), 8, 8, 2, dropout=0.0, tie_weights=True).double()
    tmodel.load_state_dict({k: torch.from_numpy(v) for k, v in start.items()})
    ref = _run("torch", tm, tmodel, torch.float64)
    np.testing.assert_allclose(ours["losses"], ref["losses"], rtol=1e-9)
    for k in ("out", "h", "c", "out2", "h2", "c2"):
        np.testing.assert_allclose(ours[k].numpy(), ref[k].numpy(), rtol=1e-9, atol=1e-12)
    assert ref["back"].decoder.weight is ref["back"].encoder.weight
    for lib_module, mdl in ((m, model), (tm, tmodel)):                    # both refuse an unlisted class
        with pytest.raises(pickle.UnpicklingError):
            lib_module.load_unlisted(mdl)
