"""A ported program: the char-RNN generator of the old PyTorch tutorial, run by changing the import.

``tests/fixtures/make_port_fixtures.py::char_rnn`` is written as the pre-0.4 tutorial was (``Variable``,
``torch.LongTensor``, ``unsqueeze_``, SGD by hand with the deprecated ``p.data.add_(-lr, p.grad.data)``)
and runs unchanged with ``torch`` or ``tinygrad_rnn`` as its ``torch``. From PyTorch's initial weights it
must give PyTorch's losses step for step and generate the same text.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import fixture_module, require

import tinygrad_rnn as tr

fx = fixture_module("make_port_fixtures")


def _golden():
    with np.load(fx.FIXTURE, allow_pickle=False) as f:
        state = {k[len("char_rnn/state/"):]: f[k] for k in f.files if k.startswith("char_rnn/state/")}
        return state, f["char_rnn/losses"], str(f["char_rnn/text"])


def test_char_rnn_tutorial_matches_torch_fixture(device):
    state, losses, text = _golden()
    _, got_losses, got_text = fx.char_rnn(tr, state, device=device)
    np.testing.assert_allclose(got_losses, losses, rtol=2e-5)      # float32, as the tutorial
    assert got_text == text
    assert tr.get_default_device() == "cpu"                           # the program's set_default_device undone


@pytest.mark.cpu_only      # live torch on the host; the device runs compare with the same numbers above
def test_char_rnn_tutorial_matches_live_torch():
    torch = require("torch")
    torch.manual_seed(1)
    state, losses, text = fx.char_rnn(torch)
    _, got_losses, got_text = fx.char_rnn(tr, state)
    np.testing.assert_allclose(got_losses, losses, rtol=2e-5)
    assert got_text == text
