"""Variable-length batches, as ``torch.nn.utils.rnn``: padding and packing.

A batch of sequences of different lengths is either **padded** — one ``(T, B, *)`` tensor (``(B, T, *)``
with ``batch_first``) plus the lengths — or **packed** — a :class:`PackedSequence` whose ``data`` holds
the steps of all sequences time-major, sorted by decreasing length, ``batch_sizes[t]`` of them at step
``t``. The recurrent layers accept both (``layer(x, lengths=...)`` or ``layer(packed)``) and compute the
same thing. Packing and unpacking are single gather ops, so gradients flow through them.
"""

from __future__ import annotations

from typing import NamedTuple, Sequence

import numpy as np

from ...backend import to_numpy
from ...tensor import Tensor, cat, stack, tensor

__all__ = ["PackedSequence", "pack_padded_sequence", "pack_sequence", "pad_packed_sequence", "pad_sequence",
           "unpack_sequence", "unpad_sequence"]


class PackedSequence(NamedTuple):
    """Steps of several sequences, time-major and sorted by decreasing length (``torch``'s layout).

    Attributes:
        data: ``(sum(lengths), *)``: step 0 of every sequence, then step 1 of those that have one, ...
        batch_sizes: int64 ``(T,)`` on the CPU: how many sequences have a step ``t``.
        sorted_indices: int64 ``(B,)``: ``sorted_indices[k]`` is the original batch index of the k-th
            longest sequence, or ``None`` when the batch was already sorted.
        unsorted_indices: the inverse permutation (or ``None``).
    """

    data: Tensor
    batch_sizes: Tensor
    sorted_indices: Tensor | None = None
    unsorted_indices: Tensor | None = None

    def to(self, *args, **kwargs) -> "PackedSequence":
        """Move or cast ``data`` (the index tensors stay as they are, as in PyTorch)."""
        return self._replace(data=self.data.to(*args, **kwargs))

    @property
    def is_cuda(self) -> bool:
        return self.data.is_cuda

    def lengths(self) -> np.ndarray:
        """The length of every sequence, in the original batch order (NumPy int64)."""
        bs = to_numpy(self.batch_sizes._data).astype(np.int64)
        sorted_lengths = (bs[None, :] > np.arange(int(bs[0]))[:, None]).sum(axis=1)
        if self.unsorted_indices is None:
            return sorted_lengths
        return sorted_lengths[to_numpy(self.unsorted_indices._data)]


def _lengths_array(lengths, arg: str = "lengths") -> np.ndarray:
    """Lengths given as a list, tuple, NumPy array or Tensor -> 1-D int64 NumPy array."""
    if isinstance(lengths, Tensor):
        arr = to_numpy(lengths._data)
    elif hasattr(lengths, "get") and not isinstance(lengths, dict):    # a CuPy array
        arr = lengths.get()
    else:
        arr = np.asarray(lengths)
    if arr.dtype.kind == "f" and arr.size and np.all(arr == np.round(arr)):
        arr = arr.astype(np.int64)
    if arr.ndim != 1 or (arr.size and arr.dtype.kind not in "iu"):
        raise TypeError(f"{arg}: expected a 1-D sequence of ints, got {arr.dtype} array of shape {arr.shape}")
    return arr.astype(np.int64)


def pad_sequence(sequences: Sequence[Tensor], batch_first: bool = False, padding_value: float = 0.0,
                 padding_side: str = "right") -> Tensor:
    """Stack tensors of shapes ``(L_i, *)`` into ``(T, B, *)`` (``(B, T, *)`` with ``batch_first``),
    T = max L_i, filling the missing steps with ``padding_value`` on the ``padding_side``."""
    if isinstance(sequences, Tensor):
        sequences = list(sequences.unbind(0))
    sequences = list(sequences)
    if not sequences:
        raise ValueError("pad_sequence: sequences must not be empty")
    if padding_side not in ("right", "left"):
        raise ValueError(f"pad_sequence: padding_side must be 'right' or 'left', got {padding_side!r}")
    trailing = sequences[0].shape[1:]
    for k, s in enumerate(sequences):
        if not isinstance(s, Tensor):
            raise TypeError(f"sequences[{k}]: expected a Tensor, got {type(s).__name__}")
        if s.ndim == 0 or s.shape[1:] != trailing:
            raise ValueError(f"sequences[{k}]: expected shape (L, *{trailing}), got {tuple(s.shape)}")
    T = max(s.shape[0] for s in sequences)
    padded = []
    for s in sequences:
        n = T - s.shape[0]
        if n:
            fill = s.new_full((n,) + tuple(trailing), padding_value)
            s = cat([s, fill] if padding_side == "right" else [fill, s], 0)
        padded.append(s)
    return stack(padded, 1 if not batch_first else 0)


def _check_padded(input: Tensor, lengths: np.ndarray, batch_first: bool) -> tuple[int, int]:
    if not isinstance(input, Tensor):
        raise TypeError(f"input: expected a Tensor, got {type(input).__name__}")
    if input.ndim < 2:
        raise ValueError(f"input: expected at least 2 dimensions (T, B, *), got shape {tuple(input.shape)}")
    T, B = (input.shape[1], input.shape[0]) if batch_first else input.shape[:2]
    if lengths.shape[0] != B:
        raise ValueError(f"lengths: expected {B} lengths (the batch size of input {tuple(input.shape)}), "
                         f"got {lengths.shape[0]}")
    if B and (lengths.min() < 1 or lengths.max() > T):
        raise ValueError(f"lengths: expected every length in 1..{T} (the sequence length of input "
                         f"{tuple(input.shape)}), got {lengths.tolist()}")
    return T, B


def pack_padded_sequence(input: Tensor, lengths, batch_first: bool = False,
                         enforce_sorted: bool = True) -> PackedSequence:
    """Pack a padded batch ``(T, B, *)`` of sequences with the given lengths.

    With ``enforce_sorted=True`` the lengths must be decreasing; with ``False`` the batch is sorted
    here and the permutation kept in ``sorted_indices`` / ``unsorted_indices``.
    """
    lengths = _lengths_array(lengths)
    T, B = _check_padded(input, lengths, batch_first)
    if enforce_sorted:
        if np.any(np.diff(lengths) > 0):
            raise ValueError(f"lengths: expected decreasing lengths with enforce_sorted=True, got "
                             f"{lengths.tolist()}; pass enforce_sorted=False to sort them here")
        order = np.arange(B)
        sorted_indices = unsorted_indices = None
    else:
        order = np.argsort(-lengths, kind="stable")
        sorted_indices = tensor(order, device=input.device)
        unsorted_indices = tensor(np.argsort(order, kind="stable"), device=input.device)
    x = input.transpose(0, 1) if batch_first else input
    slen = lengths[order]
    batch_sizes = (slen[None, :] > np.arange(int(slen[0]))[:, None]).sum(axis=1)
    # Row of the flattened (T*B, *) input for every packed step: time-major, sorted batch order.
    rows = np.concatenate([t * B + order[:n] for t, n in enumerate(batch_sizes)])
    data = x.reshape(T * B, *x.shape[2:])[tensor(rows, device=input.device)]
    return PackedSequence(data, tensor(batch_sizes.astype(np.int64)), sorted_indices, unsorted_indices)


def pad_packed_sequence(sequence: PackedSequence, batch_first: bool = False, padding_value: float = 0.0,
                        total_length: int | None = None) -> tuple[Tensor, Tensor]:
    """Undo :func:`pack_padded_sequence`: ``(padded (T, B, *), lengths)`` in the original batch order."""
    if not isinstance(sequence, PackedSequence):
        raise TypeError(f"sequence: expected a PackedSequence, got {type(sequence).__name__}")
    data = sequence.data
    bs = to_numpy(sequence.batch_sizes._data).astype(np.int64)
    B, T_max = int(bs[0]), len(bs)
    T = T_max if total_length is None else int(total_length)
    if T < T_max:
        raise ValueError(f"total_length: expected at least the longest sequence's length {T_max}, got {total_length}")
    unsorted = (np.arange(B) if sequence.unsorted_indices is None
                else to_numpy(sequence.unsorted_indices._data).astype(np.int64))
    # idx[t, k]: the packed row of step t of sorted sequence k, or the padding row (index N).
    N = data.shape[0]
    idx = np.full((T, B), N, dtype=np.int64)
    start = np.concatenate([[0], np.cumsum(bs)[:-1]])
    for t, n in enumerate(bs):
        idx[t, :n] = start[t] + np.arange(n)
    idx = idx[:, unsorted]                                   # columns back in the original batch order
    pad_row = data.new_full((1,) + tuple(data.shape[1:]), padding_value)
    padded = cat([data, pad_row], 0)[tensor(idx, device=data.device)]
    if batch_first:
        padded = padded.transpose(0, 1)
    return padded, tensor(sequence.lengths())


def pack_sequence(sequences: Sequence[Tensor], enforce_sorted: bool = True) -> PackedSequence:
    """Pack a list of tensors of shapes ``(L_i, *)``: ``pack_padded_sequence(pad_sequence(sequences),
    lengths)``. With ``enforce_sorted=True`` the lengths must be decreasing."""
    sequences = list(sequences)
    if not sequences:
        raise ValueError("pack_sequence: sequences must not be empty")
    for k, s in enumerate(sequences):
        if not isinstance(s, Tensor):
            raise TypeError(f"sequences[{k}]: expected a Tensor, got {type(s).__name__}")
        if s.ndim == 0:
            raise ValueError(f"sequences[{k}]: expected shape (L, *), got a 0-d tensor")
    lengths = [s.shape[0] for s in sequences]
    return pack_padded_sequence(pad_sequence(sequences), lengths, enforce_sorted=enforce_sorted)


def unpad_sequence(padded_sequences: Tensor, lengths, batch_first: bool = False) -> list[Tensor]:
    """Undo :func:`pad_sequence`: the list of ``(L_i, *)`` tensors of a padded ``(T, B, *)`` batch
    (``(B, T, *)`` with ``batch_first``)."""
    lengths = _lengths_array(lengths)
    _check_padded(padded_sequences, lengths, batch_first)
    x = padded_sequences if batch_first else padded_sequences.transpose(0, 1)
    return [x[k, :int(n)] for k, n in enumerate(lengths)]


def unpack_sequence(packed_sequences: PackedSequence) -> list[Tensor]:
    """Undo :func:`pack_sequence`: the list of sequences, in their original order."""
    padded, lengths = pad_packed_sequence(packed_sequences, batch_first=True)
    return unpad_sequence(padded, lengths, batch_first=True)
