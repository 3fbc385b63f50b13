"""The task generators: shapes, exact structure, statistics, determinism per seed, both devices."""

import numpy as np
import pytest

import tinygrad_rnn as tr
from tinygrad_rnn import tasks


def test_adding_problem_structure(device):
    T, B = 20, 300
    x, y = tasks.adding_problem(T, B, seed=3, device=device)
    assert x.shape == (T, B, 2) and y.shape == (B, 1)
    assert x.dtype == tr.float32 and y.dtype == tr.float32 and x.device == device
    x, y = x.numpy(), y.numpy()
    values, markers = x[..., 0], x[..., 1]
    assert ((values >= 0) & (values < 1)).all()
    assert set(np.unique(markers)) == {0.0, 1.0}
    assert (markers[: T // 2].sum(0) == 1).all() and (markers[T // 2:].sum(0) == 1).all()
    np.testing.assert_allclose(y[:, 0], (values * markers).sum(0), rtol=1e-6)


def test_adding_problem_statistics(device):
    # sum of two independent U[0,1]: mean 1, variance 1/6, so predicting the mean gives MSE 1/6
    _, y = tasks.adding_problem(10, 20000, seed=0, device=device)
    y = y.numpy().ravel().astype(np.float64)
    assert abs(y.mean() - 1.0) < 0.01
    assert abs(((y - 1.0) ** 2).mean() - tasks.ADDING_MEAN_MSE) < 0.005
    x, _ = tasks.adding_problem(10, 20000, seed=0, device=device)
    first = x.numpy()[:5, :, 1].argmax(0)
    counts = np.bincount(first, minlength=5) / 20000          # marker position uniform over the first half
    np.testing.assert_allclose(counts, 0.2, atol=0.015)


def test_memory_signal_structure(device):
    T, B, K = 12, 200, 5
    x, y = tasks.memory_signal(T, B, K, seed=1, device=device)
    C = tasks.memory_input_size(K)
    assert x.shape == (T, B, C) and C == 2 * K + 1
    assert y.shape == (B,) and y.dtype == tr.int64 and x.device == device
    x, y = x.numpy(), y.numpy()
    assert (x.sum(-1) == 1).all()                              # one-hot at every step
    np.testing.assert_array_equal(x[0].argmax(-1), y)          # the symbol at step 1 is the target
    mid = x[1:-1].argmax(-1)
    assert ((mid >= K) & (mid < 2 * K)).all()                  # distractors only in between
    assert (x[-1].argmax(-1) == C - 1).all()                   # the recall cue at step T


def test_memory_signal_statistics_and_chance(device):
    K = 4
    _, y = tasks.memory_signal(30, 40000, K, seed=0, device=device)
    freq = np.bincount(y.numpy(), minlength=K) / 40000
    np.testing.assert_allclose(freq, 1 / K, atol=0.01)         # a constant guess scores 1/K
    x, _ = tasks.memory_signal(30, 4000, K, seed=0, distractors=2, device=device)
    mid = x.numpy()[1:-1].argmax(-1)
    assert set(np.unique(mid)) == {K, K + 1}


@pytest.mark.parametrize("make", [lambda s, **kw: tasks.adding_problem(15, 8, s, **kw),
                                  lambda s, **kw: tasks.memory_signal(15, 8, 3, s, **kw)])
def test_deterministic_per_seed(make, device):
    a, b, c = make(7, device=device), make(7, device=device), make(8, device=device)
    np.testing.assert_array_equal(a.inputs.numpy(), b.inputs.numpy())
    np.testing.assert_array_equal(a.targets.numpy(), b.targets.numpy())
    assert not np.array_equal(a.inputs.numpy(), c.inputs.numpy())
    # the global generator is neither used nor disturbed
    tr.manual_seed(0)
    r0 = tr.rand(3).numpy()
    tr.manual_seed(0)
    make(7)
    np.testing.assert_array_equal(tr.rand(3).numpy(), r0)


def test_same_batch_on_every_device(device):
    cpu = tasks.adding_problem(9, 4, 5)
    dev = tasks.adding_problem(9, 4, 5, device=device)
    np.testing.assert_array_equal(cpu.inputs.numpy(), dev.inputs.numpy())


def test_options(device):
    x, y = tasks.adding_problem(6, 3, 0, dtype=tr.float64, batch_first=True, device=device)
    assert x.shape == (3, 6, 2) and x.dtype == tr.float64 and y.dtype == tr.float64
    assert x.device == device and y.device == device
    x, _ = tasks.memory_signal(6, 3, 2, 0, batch_first=True, device=device)
    assert x.shape == (3, 6, 5) and x.device == device
    x, _ = tasks.memory_signal(2, 3, 2, 0, device=device)     # symbol then recall, no distractor
    assert x.shape == (2, 3, 5)


def test_copy_task_structure_and_baseline(device):
    T, B = 7, 50
    x, y = tasks.copy_task(T, B, seed=2, device=device)
    L = T + 20
    assert x.shape == (L, B, 10) and y.shape == (L, B) and y.dtype == tr.int64 and x.device == device
    x, y = x.numpy(), y.numpy()
    assert (x.sum(-1) == 1).all()
    seq = x.argmax(-1)
    assert (seq[:10] < 8).all() and (seq[10:T + 9] == 8).all() and (seq[T + 9] == 9).all()
    assert (seq[T + 10:] == 8).all()
    assert (y[:T + 10] == 8).all()
    np.testing.assert_array_equal(y[T + 10:], seq[:10])          # the 10 symbols, after T blanks
    # the memoryless baseline: blanks with certainty, then uniform over the 8 symbols
    logits = np.full((L, B, 10), -np.inf)
    logits[:T + 10, :, 8] = 0.0
    logits[T + 10:, :, :8] = 0.0
    ce = tr.nn.functional.cross_entropy(tr.tensor(np.where(np.isinf(logits), -1e9, logits).reshape(L * B, 10)),
                                        tr.tensor(y.reshape(-1))).item()
    np.testing.assert_allclose(ce, 10 * np.log(8) / (T + 20), rtol=1e-6)
    np.testing.assert_allclose(tasks.copy_baseline(T), 10 * np.log(8) / (T + 20))


def test_selective_copy_structure(device):
    T, B, K, V = 30, 40, 5, 6
    x, y = tasks.selective_copy(T, B, seed=4, K=K, vocab=V, device=device)
    assert x.shape == (T + K, B, V + 2) and y.shape == (B, K) and y.dtype == tr.int64 and x.device == device
    x, y = x.numpy(), y.numpy()
    seq = x.argmax(-1).T                                          # (B, T + K)
    assert (x.sum(-1) == 1).all() and (seq[:, T:] == V + 1).all()
    for b in range(B):
        data = seq[b, :T][seq[b, :T] < V]
        np.testing.assert_array_equal(data, y[b])                # the symbols, in order of position
    first = np.array([np.flatnonzero(seq[b, :T] < V)[0] for b in range(B)])
    assert len(set(first.tolist())) > 5                           # positions vary between sequences
    xb, _ = tasks.selective_copy(T, 3, seed=4, K=K, vocab=V, batch_first=True, device=device)
    assert xb.shape == (3, T + K, V + 2)


@pytest.mark.parametrize("make", [lambda s, **kw: tasks.copy_task(5, 4, s, **kw),
                                  lambda s, **kw: tasks.selective_copy(12, 4, s, K=3, **kw)])
def test_new_tasks_deterministic_per_seed(make, device):
    a, b, c = make(7, device=device), make(7, device=device), make(8, device=device)
    np.testing.assert_array_equal(a.inputs.numpy(), b.inputs.numpy())
    np.testing.assert_array_equal(a.targets.numpy(), b.targets.numpy())
    assert not np.array_equal(a.inputs.numpy(), c.inputs.numpy())


@pytest.mark.parametrize("call, exc, words", [
    (lambda: tasks.adding_problem(1, 4, 0), ValueError, "T"),
    (lambda: tasks.adding_problem(10, 0, 0), ValueError, "batch"),
    (lambda: tasks.adding_problem(10.0, 4, 0), TypeError, "T"),
    (lambda: tasks.adding_problem(10, 4, -1), ValueError, "seed"),
    (lambda: tasks.adding_problem(10, 4, 0, dtype=tr.int64), TypeError, "dtype"),
    (lambda: tasks.memory_signal(10, 4, 1, 0), ValueError, "K"),
    (lambda: tasks.memory_signal(10, 4, 3, 0, distractors=0), ValueError, "distractors"),
    (lambda: tasks.copy_task(0, 4, 0), ValueError, "T"),
    (lambda: tasks.copy_task(5, 4, 0, dtype=tr.int64), TypeError, "dtype"),
    (lambda: tasks.selective_copy(4, 2, 0, K=5), ValueError, "K"),
    (lambda: tasks.selective_copy(10, 2, 0, vocab=1), ValueError, "vocab"),
])
@pytest.mark.cpu_only          # pure argument checks: they raise before any array is made
def test_bad_arguments(call, exc, words):
    with pytest.raises(exc, match=words):
        call()
