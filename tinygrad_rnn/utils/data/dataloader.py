"""``DataLoader``: batches from a dataset through a sampler and a collate function (``torch.utils.data``).

One pass (``iter(loader)``)::

    map-style:  for indices in batch_sampler:  yield collate_fn([dataset[i] for i in indices])
    iterable:   take batch_size samples from iter(dataset) at a time, collate each group
    batch_size=None: no batching; each sample goes through default_convert

Loading runs in the main process. ``num_workers > 0`` raises a ValueError (PyTorch's worker processes have
no counterpart here); ``pin_memory`` is accepted and has no effect (there is no pinned host memory).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from ...random import Generator
from .collate import default_collate, default_convert
from .dataset import IterableDataset
from .sampler import BatchSampler, RandomSampler, Sampler, SequentialSampler


def get_worker_info() -> None:
    """``None``: every sample is loaded in the main process (there are no worker processes here)."""
    return None


class DataLoader:
    """Iterate over ``dataset`` in batches: ``torch.utils.data.DataLoader``'s signature and semantics.

    Args:
        dataset: a map-style :class:`Dataset` (``__getitem__`` / ``__len__``; any object with them works)
            or an :class:`IterableDataset`.
        batch_size: samples per batch (default 1); ``None`` turns batching off.
        shuffle: a new random order each pass (a :class:`RandomSampler` over ``generator``).
        sampler: the order of indices (excludes ``shuffle``). batch_sampler: yields lists of indices
            (excludes ``batch_size``, ``shuffle``, ``sampler``, ``drop_last``).
        num_workers: must be 0 (loading runs in this process). collate_fn: list of samples -> batch
            (default :func:`default_collate`). pin_memory: accepted, no effect.
        drop_last: drop the last batch when it is shorter than ``batch_size``.
        generator: the ``tr.Generator`` the shuffle draws from; without one each pass seeds a fresh
            generator from the default one (``tr.manual_seed`` fixes the order).

    Shuffled orders are reproducible per seed but differ from PyTorch's (another random generator); the
    sequential order, explicit samplers and collation give PyTorch's batches exactly.

    Example::

        loader = DataLoader(TensorDataset(x, y), batch_size=32, shuffle=True,
                            generator=tr.Generator().manual_seed(0))
        for epoch in range(10):
            for xb, yb in loader:
                ...
    """

    def __init__(self, dataset, batch_size: int | None = 1, shuffle: bool | None = None,
                 sampler: Sampler | Iterable | None = None, batch_sampler: Sampler | Iterable | None = None,
                 num_workers: int = 0, collate_fn: Callable[[list], Any] | None = None, pin_memory: bool = False,
                 drop_last: bool = False, timeout: float = 0, worker_init_fn: Callable[[int], None] | None = None,
                 multiprocessing_context=None, generator: Generator | None = None, *,
                 prefetch_factor: int | None = None, persistent_workers: bool = False,
                 pin_memory_device: str = "", in_order: bool = True) -> None:
        if isinstance(num_workers, bool) or not isinstance(num_workers, int) or num_workers < 0:
            raise ValueError("num_workers option should be non-negative; use num_workers=0 to disable "
                             f"multiprocessing. Got num_workers={num_workers!r}")
        if num_workers > 0:
            raise ValueError(f"DataLoader: num_workers={num_workers} is not supported: tinygrad_rnn loads every batch "
                             "in the main process; use num_workers=0 (the batches are the same)")
        if timeout < 0:
            raise ValueError("timeout option should be non-negative")
        if prefetch_factor is not None:
            raise ValueError("prefetch_factor option could only be specified in multiprocessing. "
                             "let num_workers > 0 to enable multiprocessing, otherwise set prefetch_factor to None.")
        if persistent_workers:
            raise ValueError("persistent_workers option needs num_workers > 0")
        if generator is not None and not isinstance(generator, Generator):
            raise TypeError(f"generator: expected a tr.Generator, got {type(generator).__name__}")
        if collate_fn is not None and not callable(collate_fn):
            raise TypeError(f"collate_fn: expected a callable, got {type(collate_fn).__name__}")
        if batch_size is not None and (isinstance(batch_size, bool) or not isinstance(batch_size, int)
                                       or batch_size <= 0):
            raise ValueError(f"batch_size should be a positive integer value, but got batch_size={batch_size}")

        iterable = isinstance(dataset, IterableDataset)
        if iterable:
            if shuffle not in (False, None):
                raise ValueError("DataLoader with IterableDataset: expected unspecified shuffle option, but got "
                                 f"shuffle={shuffle}")
            if sampler is not None:
                raise ValueError("DataLoader with IterableDataset: expected unspecified sampler option, but got "
                                 f"sampler={sampler}")
            if batch_sampler is not None:
                raise ValueError("DataLoader with IterableDataset: expected unspecified batch_sampler option, but "
                                 f"got batch_sampler={batch_sampler}")
        else:
            shuffle = bool(shuffle)
        if sampler is not None and shuffle:
            raise ValueError("sampler option is mutually exclusive with shuffle")
        if batch_sampler is not None:
            if batch_size != 1 or shuffle or sampler is not None or drop_last:
                raise ValueError("batch_sampler option is mutually exclusive with batch_size, shuffle, sampler, "
                                 "and drop_last")
            batch_size = None
            drop_last = False
        elif batch_size is None and drop_last:
            raise ValueError("batch_size=None option disables auto-batching and is mutually exclusive with drop_last")

        if sampler is None and not iterable:
            sampler = RandomSampler(dataset, generator=generator) if shuffle else SequentialSampler(dataset)
        if batch_size is not None and batch_sampler is None and not iterable:
            batch_sampler = BatchSampler(sampler, batch_size, drop_last)

        self.dataset = dataset
        self.batch_size = batch_size
        self.drop_last = drop_last
        self.sampler = sampler
        self.batch_sampler = batch_sampler
        self.generator = generator
        self.num_workers = num_workers
        self.pin_memory = pin_memory
        self.timeout = timeout
        self.worker_init_fn = worker_init_fn
        self.prefetch_factor = prefetch_factor
        self.persistent_workers = persistent_workers
        self.in_order = in_order
        self._iterable = iterable
        self._auto_collation = batch_sampler is not None or (iterable and batch_size is not None)
        self.collate_fn = collate_fn if collate_fn is not None else (
            default_collate if self._auto_collation else default_convert)

    def __iter__(self) -> Iterator:
        if self._iterable:
            return self._iter_stream()
        return self._iter_map()

    def _iter_map(self) -> Iterator:
        fetch_many = getattr(self.dataset, "__getitems__", None)
        if self.batch_sampler is not None:
            for indices in self.batch_sampler:
                indices = list(indices)
                samples = fetch_many(indices) if callable(fetch_many) else [self.dataset[i] for i in indices]
                yield self.collate_fn(samples)
        else:
            for index in self.sampler:
                yield self.collate_fn(self.dataset[index])

    def _iter_stream(self) -> Iterator:
        it = iter(self.dataset)
        if self.batch_size is None:
            for sample in it:
                yield self.collate_fn(sample)
            return
        while True:
            batch = list(itertools.islice(it, self.batch_size))
            if not batch or (self.drop_last and len(batch) < self.batch_size):
                return
            yield self.collate_fn(batch)

    def __len__(self) -> int:
        """Batches per pass (an IterableDataset needs its own ``__len__``: a TypeError otherwise)."""
        if self._iterable:
            n = len(self.dataset)
            if self.batch_size is None:
                return n
            return n // self.batch_size if self.drop_last else -(-n // self.batch_size)
        return len(self.batch_sampler if self.batch_sampler is not None else self.sampler)

    def __repr__(self) -> str:
        return (f"DataLoader(dataset={type(self.dataset).__name__}, batch_size={self.batch_size}, "
                f"drop_last={self.drop_last}, sampler={type(self.sampler).__name__})")

