"""Samplers: which dataset indices a DataLoader visits, and in what order (``torch.utils.data.sampler``).

The random ones draw from this project's generator (NumPy PCG64): a fixed seed gives a fixed order, but
not PyTorch's order (PyTorch draws with its Mersenne Twister). Without a ``generator``, each pass seeds a
fresh generator from the default one, as PyTorch does, so ``tr.manual_seed(s)`` fixes every epoch's order.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence, Sized

from ...random import Generator, default_generator


class Sampler:
    """Base class: ``__iter__`` yields indices (or lists of indices, for a batch sampler); ``__len__`` optional."""

    def __init__(self, data_source: Sized | None = None) -> None:
        pass

    def __iter__(self) -> Iterator:
        raise NotImplementedError(f"{type(self).__name__} must define __iter__")


def _pass_generator(generator: Generator | None) -> Generator:
    """The generator of one pass: the given one, or a fresh one seeded from the default generator."""
    if generator is not None:
        return generator
    seed = int(default_generator.integers(0, 2 ** 63 - 1, ()))
    return Generator().manual_seed(seed)


class SequentialSampler(Sampler):
    """``0, 1, ..., len(data_source) - 1``.

    Example::

        list(SequentialSampler(range(3))) == [0, 1, 2]
    """

    def __init__(self, data_source: Sized) -> None:
        self.data_source = data_source

    def __iter__(self) -> Iterator[int]:
        return iter(range(len(self.data_source)))

    def __len__(self) -> int:
        return len(self.data_source)


class RandomSampler(Sampler):
    """A random permutation of the indices each pass (``replacement=False``), or ``num_samples`` draws with
    replacement; ``num_samples > len`` without replacement chains whole permutations, as PyTorch.

    Example::

        sampler = RandomSampler(ds, generator=tr.Generator().manual_seed(0))
    """

    def __init__(self, data_source: Sized, replacement: bool = False, num_samples: int | None = None,
                 generator: Generator | None = None) -> None:
        self.data_source = data_source
        self.replacement = replacement
        self._num_samples = num_samples
        self.generator = generator
        if not isinstance(replacement, bool):
            raise TypeError(f"replacement should be a boolean value, but got replacement={replacement}")
        if isinstance(self.num_samples, bool) or not isinstance(self.num_samples, int) or self.num_samples <= 0:
            raise ValueError(f"num_samples should be a positive integer value, but got num_samples={self.num_samples}")
        if generator is not None and not isinstance(generator, Generator):
            raise TypeError(f"generator: expected a tr.Generator, got {type(generator).__name__}")

    @property
    def num_samples(self) -> int:
        return len(self.data_source) if self._num_samples is None else self._num_samples

    def __iter__(self) -> Iterator[int]:
        n = len(self.data_source)
        g = _pass_generator(self.generator)
        if self.replacement:
            yield from g.integers(0, n, (self.num_samples,)).tolist()
            return
        for _ in range(self.num_samples // n):
            yield from g._rng.permutation(n).tolist()
        yield from g._rng.permutation(n).tolist()[:self.num_samples % n]

    def __len__(self) -> int:
        return self.num_samples


class SubsetRandomSampler(Sampler):
    """The given ``indices`` in a random order each pass.

    Example::

        train_sampler = SubsetRandomSampler(range(80))
    """

    def __init__(self, indices: Sequence[int], generator: Generator | None = None) -> None:
        self.indices = indices
        self.generator = generator

    def __iter__(self) -> Iterator[int]:
        g = _pass_generator(self.generator)
        for i in g._rng.permutation(len(self.indices)).tolist():
            yield self.indices[i]

    def __len__(self) -> int:
        return len(self.indices)


class BatchSampler(Sampler):
    """Group the indices of ``sampler`` into lists of ``batch_size``; the last, shorter one is dropped with
    ``drop_last``.

    Example::

        list(BatchSampler(SequentialSampler(range(5)), batch_size=2, drop_last=False)) == [[0, 1], [2, 3], [4]]
    """

    def __init__(self, sampler: Sampler | Iterable[int], batch_size: int, drop_last: bool) -> None:
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size <= 0:
            raise ValueError(f"batch_size should be a positive integer value, but got batch_size={batch_size}")
        if not isinstance(drop_last, bool):
            raise ValueError(f"drop_last should be a boolean value, but got drop_last={drop_last}")
        self.sampler = sampler
        self.batch_size = batch_size
        self.drop_last = drop_last

    def __iter__(self) -> Iterator[list[int]]:
        batch: list[int] = []
        for idx in self.sampler:
            batch.append(idx)
            if len(batch) == self.batch_size:
                yield batch
                batch = []
        if batch and not self.drop_last:
            yield batch

    def __len__(self) -> int:
        if self.drop_last:
            return len(self.sampler) // self.batch_size
        return (len(self.sampler) + self.batch_size - 1) // self.batch_size
