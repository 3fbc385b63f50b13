"""Datasets: the map-style ``Dataset`` (``__getitem__`` + ``__len__``) and the ``IterableDataset``
(``__iter__``), and the wrappers ``TensorDataset``, ``Subset``, ``ConcatDataset``, ``StackDataset``, with
``random_split`` (``torch.utils.data.dataset``)."""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from ...random import Generator, default_generator
from ...tensor import Tensor, randperm


class Dataset:
    """A map-style dataset: subclasses define ``__getitem__(index)`` and (for the default samplers) ``__len__``.

    ``a + b`` concatenates two datasets (a :class:`ConcatDataset`).

    Example::

        class Squares(Dataset):
            def __len__(self):
                return 10

            def __getitem__(self, i):
                return tr.tensor([float(i)]), i * i
    """

    def __getitem__(self, index) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must define __getitem__")

    def __add__(self, other: "Dataset") -> "ConcatDataset":
        return ConcatDataset([self, other])


class IterableDataset(Dataset):
    """A dataset that is a stream: subclasses define ``__iter__`` (the DataLoader takes no sampler for it).

    Example::

        class Counter(IterableDataset):
            def __iter__(self):
                return iter(range(5))
    """

    def __iter__(self) -> Iterator:
        raise NotImplementedError(f"{type(self).__name__} must define __iter__")

    def __add__(self, other):
        raise TypeError("IterableDataset: concatenation with + is not supported here (PyTorch's ChainDataset "
                        "is not implemented)")


class TensorDataset(Dataset):
    """Samples are ``tuple(t[index] for t in tensors)``; every tensor has the same first dimension.

    Example::

        ds = TensorDataset(tr.randn(100, 3), tr.randint(0, 2, (100,)))
        x0, y0 = ds[0]
    """

    def __init__(self, *tensors: Tensor) -> None:
        for i, t in enumerate(tensors):
            if not isinstance(t, Tensor):
                raise TypeError(f"TensorDataset: tensors[{i}] must be a Tensor, got {type(t).__name__}")
            if t.ndim == 0:
                raise ValueError(f"TensorDataset: tensors[{i}] is 0-d; every tensor needs a first dimension")
        if tensors and any(t.shape[0] != tensors[0].shape[0] for t in tensors):
            raise ValueError("Size mismatch between tensors: first dimensions "
                             f"{[t.shape[0] for t in tensors]}")
        self.tensors = tuple(tensors)

    def __getitem__(self, index):
        return tuple(t[index] for t in self.tensors)

    def __len__(self) -> int:
        return self.tensors[0].shape[0] if self.tensors else 0


class StackDataset(Dataset):
    """Samples are tuples (positional datasets) or dicts (keyword datasets) of the datasets' samples.

    Example::

        ds = StackDataset(image=images, label=labels);  ds[0] == {"image": images[0], "label": labels[0]}
    """

    def __init__(self, *args: Dataset, **kwargs: Dataset) -> None:
        if args and kwargs:
            raise ValueError("Supported either ``tuple``- (via ``args``) or``dict``- (via ``kwargs``) like input/"
                             "output, but both types are given.")
        self.datasets: tuple | dict = args if args else kwargs
        lengths = [len(d) for d in (args if args else kwargs.values())]
        if not lengths:
            raise ValueError("At least one dataset should be passed")
        if any(n != lengths[0] for n in lengths):
            raise ValueError(f"Size mismatch between datasets: lengths {lengths}")
        self._length = lengths[0]

    def __getitem__(self, index):
        if isinstance(self.datasets, dict):
            return {k: d[index] for k, d in self.datasets.items()}
        return tuple(d[index] for d in self.datasets)

    def __len__(self) -> int:
        return self._length


class ConcatDataset(Dataset):
    """The datasets one after another: index ``i`` falls in the dataset whose cumulative size passes it.

    Example::

        ds = ConcatDataset([train_a, train_b]);  len(ds) == len(train_a) + len(train_b)
    """

    def __init__(self, datasets: Iterable[Dataset]) -> None:
        self.datasets = list(datasets)
        if not self.datasets:
            raise ValueError("datasets should not be an empty iterable")
        for i, d in enumerate(self.datasets):
            if isinstance(d, IterableDataset):
                raise TypeError(f"ConcatDataset does not support IterableDataset (datasets[{i}])")
        self.cumulative_sizes = []
        total = 0
        for d in self.datasets:
            total += len(d)
            self.cumulative_sizes.append(total)

    def __len__(self) -> int:
        return self.cumulative_sizes[-1]

    def __getitem__(self, idx: int):
        if idx < 0:
            if -idx > len(self):
                raise IndexError(f"absolute value of index {idx} should not exceed dataset length {len(self)}")
            idx = len(self) + idx
        if idx >= len(self):
            raise IndexError(f"index {idx} is out of range for a ConcatDataset of length {len(self)}")
        which = bisect.bisect_right(self.cumulative_sizes, idx)
        offset = idx - (self.cumulative_sizes[which - 1] if which > 0 else 0)
        return self.datasets[which][offset]


class Subset(Dataset):
    """The samples of ``dataset`` at ``indices``, in that order.

    Example::

        head = Subset(ds, range(10))
    """

    def __init__(self, dataset: Dataset, indices: Sequence[int]) -> None:
        self.dataset = dataset
        self.indices = indices

    def __getitem__(self, idx):
        if isinstance(idx, list):
            return self.dataset[[self.indices[i] for i in idx]]
        return self.dataset[self.indices[idx]]

    def __getitems__(self, indices: list[int]) -> list:
        """A batch of samples (the DataLoader's fetch), through the dataset's own ``__getitems__`` if it has one."""
        if callable(getattr(self.dataset, "__getitems__", None)):
            return self.dataset.__getitems__([self.indices[i] for i in indices])
        return [self.dataset[self.indices[i]] for i in indices]

    def __len__(self) -> int:
        return len(self.indices)


def random_split(dataset: Dataset, lengths: Sequence[int | float],
                 generator: Generator | None = default_generator) -> list[Subset]:
    """Split ``dataset`` into non-overlapping random subsets of the given lengths (or fractions summing to 1).

    Fractions become ``floor(fraction * len(dataset))`` each, and the remainder is dealt one by one to the
    subsets in order, as PyTorch does. The permutation comes from ``generator`` (this project's PCG64
    generator: reproducible per seed, but not PyTorch's permutation).

    Example::

        train, val = random_split(ds, [0.8, 0.2], generator=tr.Generator().manual_seed(42))
    """
    lengths = list(lengths)
    n = len(dataset)
    if lengths and math.isclose(sum(lengths), 1) and sum(lengths) <= 1:
        subset_lengths = []
        for i, frac in enumerate(lengths):
            if frac < 0 or frac > 1:
                raise ValueError(f"Fraction at index {i} is not between 0 and 1: {frac}")
            subset_lengths.append(int(math.floor(n * frac)))
        remainder = n - sum(subset_lengths)
        for i in range(remainder):
            subset_lengths[i % len(subset_lengths)] += 1
        lengths = subset_lengths
    for i, length in enumerate(lengths):
        if isinstance(length, bool) or not isinstance(length, int) or length < 0:
            raise ValueError(f"random_split: lengths[{i}] = {length!r}; expected non-negative ints or fractions "
                             "summing to 1")
    if sum(lengths) != n:
        raise ValueError(f"Sum of input lengths does not equal the length of the input dataset! "
                         f"(sum {sum(lengths)}, dataset {n})")
    indices = randperm(sum(lengths), generator=generator).tolist()
    out, offset = [], 0
    for length in lengths:
        out.append(Subset(dataset, indices[offset:offset + length]))
        offset += length
    return out
