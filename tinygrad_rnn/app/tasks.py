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
