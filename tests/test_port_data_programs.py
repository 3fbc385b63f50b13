"""Two PyTorch programs ported by changing the import give PyTorch's numbers (issue 16).

- a DataLoader-fed GRU sequence classifier: a ``Dataset`` subclass, ``Subset`` splits, a ``DataLoader``
  with an explicit sampler and ``drop_last``, Adam with ``OneCycleLR`` (lr and beta1 per batch),
  CrossEntropyLoss, accuracy under ``no_grad``;
- pytorch/examples' time-series model (two ``LSTMCell``\\ s and a ``Linear`` in float64) trained with
  ``LBFGS(lr=0.8)`` and a closure, then predicting past the input.

The programs live in ``tests/fixtures/make_data_fixtures.py`` and run unchanged with ``torch`` or
``tinygrad_rnn`` as their ``torch``; both start from the same weights (PyTorch's initial state_dict).
"""

import numpy as np
import pytest
from conftest import fixture_module, require

import tinygrad_rnn

fx = fixture_module("make_data_fixtures")
REF = np.load(fx.FIXTURE)


def _torch_run(torch, program, *args):
    """Run ``program`` with torch on one thread (tiny ops, where thread hand-offs cost more than they gain),
    seeded as the fixture generator seeds it: an unseeded draw of the initial weights gives a different
    LBFGS trajectory each run, some of them sensitive enough to fail the tolerances by chance."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    try:
        return program(torch, *args)
    finally:
        torch.set_num_threads(threads)


def _init(prefix):
    return {k[len(prefix):]: REF[k] for k in REF.files if k.startswith(prefix)}


def _check_classifier(got, trace, acc, logits):
    _, got_trace, got_acc, got_logits = got
    assert got_trace.shape == trace.shape == (12, 3)
    np.testing.assert_allclose(got_trace, trace, rtol=1e-10, atol=1e-12)     # loss, lr, beta1 per batch
    assert got_acc == acc
    np.testing.assert_allclose(got_logits, logits, rtol=1e-10, atol=1e-12)
    assert trace[-1, 0] < trace[0, 0], "the classifier must learn"


def _check_sine(got, losses, test_losses, pred):
    _, got_losses, got_test, got_pred = got
    assert got_losses.shape == losses.shape         # same number of closure calls: same LBFGS decisions
    np.testing.assert_allclose(got_losses, losses, rtol=1e-9, atol=1e-13)
    np.testing.assert_allclose(got_test, test_losses, rtol=1e-9, atol=1e-13)
    np.testing.assert_allclose(got_pred, pred, rtol=1e-8, atol=1e-10)
    assert losses[-1] < 0.01 * losses[0], "LBFGS must fit the sine waves"


def test_dataloader_classifier_matches_fixture(device):
    got = fx.classifier_program(tinygrad_rnn, fx.classifier_inputs(), init=_init("classifier/init/"), device=device)
    _check_classifier(got, REF["classifier/trace"], float(REF["classifier/acc"]), REF["classifier/logits"])


# cpu_only: live torch on the host; the GPU counterpart is test_dataloader_classifier_matches_fixture[cuda]
@pytest.mark.cpu_only
def test_dataloader_classifier_matches_live_torch():
    torch = require("torch")
    inputs = fx.classifier_inputs()
    init, trace, acc, logits = _torch_run(torch, fx.classifier_program, inputs)
    _check_classifier(fx.classifier_program(tinygrad_rnn, inputs, init=init), trace, acc, logits)


def test_lbfgs_time_series_matches_fixture(device):
    got = fx.sine_program(tinygrad_rnn, fx.sine_inputs(), init=_init("sine/init/"), device=device)
    _check_sine(got, REF["sine/losses"], REF["sine/test_losses"], REF["sine/pred"])


# cpu_only: live torch on the host; the GPU counterpart is test_lbfgs_time_series_matches_fixture[cuda]
@pytest.mark.cpu_only
def test_lbfgs_time_series_matches_live_torch():
    torch = require("torch")
    data = fx.sine_inputs()
    init, losses, test_losses, pred = _torch_run(torch, fx.sine_program, data)
    _check_sine(fx.sine_program(tinygrad_rnn, data, init=init), losses, test_losses, pred)
