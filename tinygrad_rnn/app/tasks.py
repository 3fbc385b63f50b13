"""Synthetic sequence tasks that test how far back a recurrent model can carry information.

Both generators draw with NumPy's PCG64 from their own ``seed`` (never the global RNG) and then move
the arrays to ``device``, so a seed gives the same batch on CPU and GPU. Inputs are time-major,
``(T, batch, features)``, as ``tr.nn.RNN/LSTM/GRU`` expect by default (``batch_first=True`` gives
``(batch, T, features)``).

- :func:`adding_problem` (Hochreiter & Schmidhuber 1997, experiment 4): a value channel drawn from
  U[0, 1] and a marker channel with exactly two ones, one in each half of the sequence; the target is
  the sum of the two marked values. The sum of two independent U[0, 1] has variance 2·(1/12) = 1/6,
  so always predicting the mean (1.0) gives MSE 1/6 ≈ 0.167: a model must beat that to have learnt
  anything. "Solved" in the paper's sense: MSE < 0.01 and ≥ 90 % of sequences within 0.04.
- :func:`memory_signal`: one of ``K`` symbols (one-hot) at step 1, then one-hot distractor symbols,
  then a recall cue at step ``T``; the target is the first symbol. Chance accuracy is 1/K, and the
  only information about the answer is ``T - 1`` steps back.
- :func:`copy_task` (Arjovsky, Shah & Bengio 2016): 10 symbols of 8, ``T`` blanks, then copy the 10
  symbols. Predicting blanks and then a uniform guess gives cross-entropy ``10·log 8 / (T + 20)``
  (:func:`copy_baseline`), the memoryless baseline.
- :func:`selective_copy` (Gu & Dao 2023): ``K`` symbols scattered at random among ``T`` blanks, then
  ``K`` cues; name the symbols in order. Their positions vary, so a fixed delay (time-invariant
  recurrence, a convolution) cannot solve it: the model must select by content.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ..dtypes import as_dtype, get_default_dtype
from ..tensor import Tensor, tensor

ADDING_MEAN_MSE = 1.0 / 6.0


class Batch(NamedTuple):
    """One batch of a task: ``inputs`` and ``targets`` (tensors on the requested device)."""

    inputs: Tensor
    targets: Tensor


def _check_int(name: str, value, lo: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name}: expected an int, got {type(value).__name__}")
    if value < lo:
        raise ValueError(f"{name}: expected an int >= {lo}, got {value}")
    return int(value)


def _float_dtype(dtype):
    dt = get_default_dtype() if dtype is None else as_dtype(dtype)
    if dt.kind != "f":
        raise TypeError(f"dtype: expected a floating dtype, got {dt}")
    return dt


def adding_problem(T: int, batch: int, seed: int, device=None, dtype=None, batch_first: bool = False) -> Batch:
    """The adding problem: sum the two marked values of a length-``T`` sequence.

    Args:
        T: sequence length (>= 2).
        batch: number of sequences.
        seed: seed of this batch's own random stream.
        device: ``"cpu"`` (default) or ``"cuda"``.
        dtype: floating dtype of the inputs and targets (default: the default dtype, float32).
        batch_first: return ``(batch, T, 2)`` inputs instead of ``(T, batch, 2)``.

    Returns:
        ``Batch(inputs, targets)``: inputs ``(T, batch, 2)`` with channel 0 the values ``v_t ~ U[0, 1]``
        and channel 1 the markers ``m_t`` (exactly one 1 in ``t < T//2`` and one in ``t >= T//2``);
        targets ``(batch, 1)`` = ``Σ_t m_t v_t``.

    Example::

        x, y = tr.tasks.adding_problem(T=50, batch=64, seed=0)
        loss = tr.nn.functional.mse_loss(head(lstm(x)[0][-1]), y)
    """
    T = _check_int("T", T, 2)
    batch = _check_int("batch", batch, 1)
    seed = _check_int("seed", seed, 0)
    dt = _float_dtype(dtype)
    rng = np.random.Generator(np.random.PCG64(seed))
    values = rng.random((T, batch))
    half = T // 2
    first = rng.integers(0, half, size=batch)
    second = rng.integers(half, T, size=batch)
    markers = np.zeros((T, batch))
    cols = np.arange(batch)
    markers[first, cols] = 1.0
    markers[second, cols] = 1.0
    x = np.stack([values, markers], axis=-1)                   # (T, batch, 2)
    y = (values * markers).sum(axis=0)[:, None]                # (batch, 1)
    if batch_first:
        x = x.transpose(1, 0, 2)
    return Batch(tensor(np.ascontiguousarray(x, dtype=dt), device=device), tensor(y.astype(dt), device=device))


def memory_signal(T: int, batch: int, K: int, seed: int, device=None, dtype=None, distractors: int | None = None,
                  batch_first: bool = False) -> Batch:
    """Remember the symbol shown at step 1 and name it at step ``T``, ignoring the distractors between.

    The input at each step is one-hot over ``K + distractors + 1`` channels:

    - step 1 (``t = 0``): one of the ``K`` signal symbols, channel ``s ∈ [0, K)``;
    - steps 2..T-1: a distractor symbol drawn uniformly from channels ``[K, K + distractors)``;
    - step T (``t = T - 1``): the recall cue, the last channel.

    The target is ``s``; guessing gives accuracy 1/K, and the answer is ``T - 1`` steps back.

    Args:
        T: sequence length (>= 2: the symbol and the recall cue).
        batch: number of sequences.
        K: number of signal symbols (>= 2).
        seed: seed of this batch's own random stream.
        device, dtype: where the inputs live and their floating dtype (targets are int64).
        distractors: number of distractor symbols (default ``K``; >= 1).
        batch_first: return ``(batch, T, C)`` inputs instead of ``(T, batch, C)``.

    Returns:
        ``Batch(inputs (T, batch, K + distractors + 1), targets (batch,) int64)``.
    """
    T = _check_int("T", T, 2)
    batch = _check_int("batch", batch, 1)
    K = _check_int("K", K, 2)
    seed = _check_int("seed", seed, 0)
    D = K if distractors is None else _check_int("distractors", distractors, 1)
    dt = _float_dtype(dtype)
    rng = np.random.Generator(np.random.PCG64(seed))
    symbols = rng.integers(0, K, size=batch)
    noise = rng.integers(K, K + D, size=(T - 2, batch))
    channel = np.concatenate([symbols[None], noise, np.full((1, batch), K + D)], axis=0)   # (T, batch)
    x = np.zeros((T, batch, K + D + 1), dtype=dt)
    np.put_along_axis(x, channel[..., None], 1.0, axis=2)
    if batch_first:
        x = x.transpose(1, 0, 2)
    return Batch(tensor(np.ascontiguousarray(x), device=device), tensor(symbols.astype(np.int64), device=device))


def memory_input_size(K: int, distractors: int | None = None) -> int:
    """Number of input channels of :func:`memory_signal`: ``K + distractors + 1``."""
    return K + (K if distractors is None else distractors) + 1


COPY_SYMBOLS, COPY_LENGTH = 8, 10          # data symbols 0..7; 8 = blank, 9 = delimiter


def copy_baseline(T: int) -> float:
    """The memoryless cross-entropy of :func:`copy_task`: ``10·log 8 / (T + 20)`` (blanks, then a guess)."""
    T = _check_int("T", T, 1)
    return COPY_LENGTH * float(np.log(COPY_SYMBOLS)) / (T + 2 * COPY_LENGTH)


def copy_task(T: int, batch: int, seed: int, device=None, dtype=None, batch_first: bool = False) -> Batch:
    """The copy task (Arjovsky et al. 2016): remember 10 symbols over ``T`` blanks and repeat them.

    The alphabet has 10 categories: symbols ``0..7``, the blank ``8`` and the delimiter ``9``. An input
    sequence has length ``T + 20``: 10 symbols drawn uniformly from ``0..7``, ``T - 1`` blanks, the
    delimiter, 10 blanks. The target is blank for the first ``T + 10`` steps and then the 10 symbols.
    A model that outputs blanks and then guesses scores :func:`copy_baseline` ``= 10·log 8 / (T + 20)``.

    Args:
        T: the delay between the last symbol shown and the first one asked for (>= 1).
        batch, seed, device, dtype, batch_first: as :func:`adding_problem`.

    Returns:
        ``Batch(inputs (T + 20, batch, 10) one-hot, targets (T + 20, batch) int64)``
        (``(batch, T + 20, ...)`` with ``batch_first``).
    """
    T = _check_int("T", T, 1)
    batch = _check_int("batch", batch, 1)
    seed = _check_int("seed", seed, 0)
    dt = _float_dtype(dtype)
    n, blank, delim = COPY_LENGTH, COPY_SYMBOLS, COPY_SYMBOLS + 1
    L = T + 2 * n
    rng = np.random.Generator(np.random.PCG64(seed))
    symbols = rng.integers(0, COPY_SYMBOLS, size=(n, batch))
    seq = np.full((L, batch), blank, dtype=np.int64)
    seq[:n] = symbols
    seq[T + n - 1] = delim
    target = np.full((L, batch), blank, dtype=np.int64)
    target[T + n:] = symbols
    x = np.zeros((L, batch, COPY_SYMBOLS + 2), dtype=dt)
    np.put_along_axis(x, seq[..., None], 1.0, axis=2)
    if batch_first:
        x, target = x.transpose(1, 0, 2), target.T
    return Batch(tensor(np.ascontiguousarray(x), device=device),
                 tensor(np.ascontiguousarray(target), device=device))


def selective_copy(T: int, batch: int, seed: int, K: int = 16, vocab: int = 8, device=None, dtype=None,
                   batch_first: bool = False) -> Batch:
    """Selective copying (Gu & Dao 2023): recall ``K`` symbols scattered among ``T`` blanks, in order.

    The input has ``T + K`` steps over ``vocab + 2`` one-hot channels: the first ``T`` steps hold ``K``
    symbols from ``0..vocab-1`` at ``K`` distinct random positions (in order of position) and blanks
    (channel ``vocab``) elsewhere; the last ``K`` steps are the recall cue (channel ``vocab + 1``). The
    target is the ``K`` symbols in order, one per cue step; guessing scores accuracy ``1/vocab``.

    Args:
        T: steps that hold the symbols (>= K). batch, seed, device, dtype, batch_first: as the other tasks.
        K: symbols to recall (>= 1). vocab: number of distinct symbols (>= 2).

    Returns:
        ``Batch(inputs (T + K, batch, vocab + 2), targets (batch, K) int64)``; the answer to target
        ``k`` is read at step ``T + k``.
    """
    T = _check_int("T", T, 1)
    batch = _check_int("batch", batch, 1)
    seed = _check_int("seed", seed, 0)
    K = _check_int("K", K, 1)
    vocab = _check_int("vocab", vocab, 2)
    if K > T:
        raise ValueError(f"K: expected at most T={T} symbols (they need distinct positions), got {K}")
    dt = _float_dtype(dtype)
    rng = np.random.Generator(np.random.PCG64(seed))
    symbols = rng.integers(0, vocab, size=(batch, K))
    pos = np.sort(np.argsort(rng.random((batch, T)), axis=1)[:, :K], axis=1)      # K distinct positions
    seq = np.full((batch, T + K), vocab, dtype=np.int64)
    np.put_along_axis(seq, pos, symbols, axis=1)
    seq[:, T:] = vocab + 1
    x = np.zeros((batch, T + K, vocab + 2), dtype=dt)
    np.put_along_axis(x, seq[..., None], 1.0, axis=2)
    if not batch_first:
        x = x.transpose(1, 0, 2)
    return Batch(tensor(np.ascontiguousarray(x), device=device), tensor(symbols.astype(np.int64), device=device))
