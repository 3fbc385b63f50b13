"""A PyTorch training script ported by changing the import gives PyTorch's numbers.

The same function runs once with ``torch`` and once with ``tinygrad_rnn``: a 2-layer LSTM language
model with Embedding(padding_idx), Linear, CrossEntropyLoss(ignore_index), Adam with weight decay,
StepLR, clip_grad_norm_, a hidden state carried across batches with detach, and eval under no_grad.
"""

import numpy as np

import tinygrad_rnn

from conftest import require


def train(tr, init=None, device="cpu"):
    nn = tr.nn

    class CharLM(nn.Module):
        def __init__(self, V, E, H):
            super().__init__()
            self.emb = nn.Embedding(V, E, padding_idx=0)
            self.rnn = nn.LSTM(E, H, num_layers=2, batch_first=True)
            self.head = nn.Linear(H, V)

        def forward(self, x, hx=None):
            out, hx = self.rnn(self.emb(x), hx)
            return self.head(out), hx

    V = 11
    model = CharLM(V, 8, 16).double().to(device)
    if init is not None:
        model.load_state_dict(init)
    state = {k: v.detach().numpy().copy() for k, v in model.state_dict().items()}
    opt = tr.optim.Adam(model.parameters(), lr=1e-2, weight_decay=1e-4)
    sched = tr.optim.lr_scheduler.StepLR(opt, step_size=3, gamma=0.5)
    loss_fn = nn.CrossEntropyLoss(ignore_index=0)
    data = np.random.default_rng(0).integers(0, V, size=(6, 4, 12))
    hx, trace = None, []
    for batch in data:
        x, y = tr.tensor(batch[:, :-1], device=device), tr.tensor(batch[:, 1:], device=device)
        model.train()
        opt.zero_grad()
        logits, hx = model(x, hx)
        hx = tuple(h.detach() for h in hx)
        loss = loss_fn(logits.reshape(-1, V), y.reshape(-1))
        loss.backward()
        norm = nn.utils.clip_grad_norm_(model.parameters(), 0.5)
        opt.step()
        sched.step()
        trace.append((loss.item(), float(norm), sched.get_last_lr()[0]))
    with tr.no_grad():
        model.eval()
        logits, _ = model(tr.tensor(data[0][:, :-1], device=device))
    return state, np.array(trace), logits.numpy()


def test_ported_lstm_training_script_matches_torch(device):
    torch = require("torch")
    init, expected, expected_logits = train(torch)                  # PyTorch on its CPU
    _, got, got_logits = train(tinygrad_rnn, init, device)
    np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(got_logits, expected_logits, rtol=1e-9, atol=1e-10)
