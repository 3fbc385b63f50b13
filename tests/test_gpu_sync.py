"""No hidden device-to-host copies inside a training step on the GPU (issue 7).

Two independent detectors run around one training step:
- ``cupyx.allow_synchronize(False)`` makes CuPy raise on any synchronising call it makes (``get``,
  ``asnumpy``, ``item``, ``__bool__``, ``__float__``, ``__int__``, ``__array__``, ...);
- the project's own conversion points (``backend.to_numpy`` and the index range check) are counted.
The only synchronising step allowed is the documented index range check of ``Embedding`` (CuPy would
wrap an out-of-range index silently), which the seq2seq step is allowed to make.
"""

from __future__ import annotations

import contextlib
import importlib

import numpy as np
import pytest

import tinygrad_rnn as tr
from tinygrad_rnn import backend

tensor_mod = importlib.import_module("tinygrad_rnn.tensor")   # the package, not the tr.tensor function
# its modules, each of which calls to_numpy / _check_range through its own globals
tensor_mods = [importlib.import_module(f"tinygrad_rnn.tensor.{m}") for m in sorted(tensor_mod.__dict__)
               if isinstance(tensor_mod.__dict__[m], type(tensor_mod))]
functional = importlib.import_module("tinygrad_rnn.nn.functional")

pytestmark = pytest.mark.gpu


@pytest.fixture
def cuda():
    if not tr.cuda_is_available():
        pytest.skip("CUDA is not available (needs CuPy and an NVIDIA GPU)")
    import cupyx
    return cupyx


@contextlib.contextmanager
def count_host_copies(monkeypatch, allow_range_checks: bool):
    """Count the project's conversion points; index range checks may synchronise when allowed."""
    counts = {"to_numpy": 0, "range_check": 0}
    real_to_numpy = backend.to_numpy

    def counted_to_numpy(a):
        if not isinstance(a, np.ndarray) and not np.isscalar(a):    # a device array read back to the host
            counts["to_numpy"] += 1
        return real_to_numpy(a)

    def counted(real):
        def check(*args, **kwargs):
            counts["range_check"] += 1
            if not allow_range_checks:
                return real(*args, **kwargs)
            import cupyx
            with cupyx.allow_synchronize(True):     # documented: index range checks synchronise
                return real(*args, **kwargs)
        return check

    monkeypatch.setattr(backend, "to_numpy", counted_to_numpy)
    for mod in tensor_mods:
        if hasattr(mod, "to_numpy"):
            monkeypatch.setattr(mod, "to_numpy", counted_to_numpy)
        if hasattr(mod, "_check_range"):
            monkeypatch.setattr(mod, "_check_range", counted(tensor_mod._check_range))
    monkeypatch.setattr(functional, "_check_indices", counted(functional._check_indices))
    yield counts


def _step(model, opt, loss_fn):
    opt.zero_grad()
    loss = loss_fn()
    loss.backward()
    tr.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    opt.step()
    return loss


def test_lstm_training_step_makes_no_host_copy(cuda, monkeypatch):
    tr.manual_seed(0)
    model = tr.nn.LSTM(8, 16, num_layers=2, batch_first=True).to("cuda")
    head = tr.nn.Linear(16, 1).to("cuda")
    params = list(model.parameters()) + list(head.parameters())
    opt = tr.optim.Adam(params, lr=1e-3)
    x = tr.randn(4, 12, 8, device="cuda")
    y = tr.randn(4, 1, device="cuda")

    def loss_fn():
        out, _ = model(x)
        return tr.nn.functional.mse_loss(head(out[:, -1]), y)

    _step(model, opt, loss_fn)          # warm-up: kernels compile, optimizer state is created
    with count_host_copies(monkeypatch, allow_range_checks=False) as counts:
        with cuda.allow_synchronize(False):
            _step(model, opt, loss_fn)
    assert counts == {"to_numpy": 0, "range_check": 0}


def test_seq2seq_training_step_syncs_only_for_index_checks(cuda, monkeypatch):
    tr.manual_seed(0)
    enc = tr.nn.Encoder(12, 8, 16, cell="lstm")
    dec = tr.nn.Decoder(12, 8, 16, cell="lstm", attention=tr.nn.LuongAttention(16, 16, score="general"))
    model = tr.nn.Seq2Seq(enc, dec, sos_idx=1, eos_idx=2, pad_idx=0).to("cuda")
    opt = tr.optim.Adam(model.parameters(), lr=1e-3)
    src = tr.randint(3, 12, (4, 7), device="cuda")
    tgt = tr.randint(3, 12, (4, 6), device="cuda")
    lengths = [7, 5, 6, 3]

    def loss_fn():
        logits = model(src, lengths, tgt, teacher_forcing_ratio=1.0)
        return tr.nn.functional.cross_entropy(logits.reshape(-1, 12), tgt.reshape(-1), ignore_index=0)

    _step(model, opt, loss_fn)
    with count_host_copies(monkeypatch, allow_range_checks=True) as counts:
        with cuda.allow_synchronize(False):     # index range checks re-allow it for themselves only
            _step(model, opt, loss_fn)
    assert counts["to_numpy"] == 0
    assert counts["range_check"] >= 1
