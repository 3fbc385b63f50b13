"""``DataLoader``: batches from a dataset through a sampler and a collate function (``torch.utils.data``).

One pass (``iter(loader)``)::

    map-style:  for indices in batch_sampler:  yield collate_fn([dataset[i] for i in indices])
    iterable:   take batch_size samples from iter(dataset) at a time, collate each group
    batch_size=None: no batching; each sample goes through default_convert

``num_workers > 0`` loads batches in that many worker *threads* (PyTorch uses processes), at most
``prefetch_factor * num_workers`` batches ahead, and yields them in the sampler's order: the batches are
the same as with ``num_workers=0``. Each worker calls ``worker_init_fn(worker_id)`` when it starts, and
``get_worker_info()`` answers inside it. The threads share this process's random generator, so samples
that draw random numbers in ``__getitem__`` are not reproducible with workers (they are without).
An ``IterableDataset`` loads in the main process only. ``pin_memory`` is accepted and has no effect.
"""

from __future__ import annotations

import itertools
import threading
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from ...random import Generator, default_generator
from .collate import default_collate, default_convert
from .dataset import IterableDataset
from .sampler import BatchSampler, RandomSampler, Sampler, SequentialSampler


@dataclass
class WorkerInfo:
    """What a DataLoader worker knows about itself (``torch.utils.data.get_worker_info()``'s answer)."""

    id: int
    num_workers: int
    seed: int
    dataset: Any
    worker_method: str = "thread"


_worker = threading.local()


def get_worker_info() -> WorkerInfo | None:
    """Inside a DataLoader worker thread: its :class:`WorkerInfo` (``id``, ``num_workers``, ``seed`` =
    the pass's base seed + id, ``dataset``); ``None`` in the main thread."""
    return getattr(_worker, "info", None)


class DataLoader:
    """Iterate over ``dataset`` in batches: ``torch.utils.data.DataLoader``'s signature and semantics.

    Args:
        dataset: a map-style :class:`Dataset` (``__getitem__`` / ``__len__``; any object with them works)
            or an :class:`IterableDataset`.
        batch_size: samples per batch (default 1); ``None`` turns batching off.
        shuffle: a new random order each pass (a :class:`RandomSampler` over ``generator``).
        sampler: the order of indices (excludes ``shuffle``). batch_sampler: yields lists of indices
            (excludes ``batch_size``, ``shuffle``, ``sampler``, ``drop_last``).
        num_workers: worker threads (0: load in the calling thread). collate_fn: list of samples -> batch
            (default :func:`default_collate`). pin_memory: accepted, no effect.
        timeout: seconds to wait for a worker's batch (0: forever). worker_init_fn: called with the worker id
            in each worker. prefetch_factor: batches each worker loads ahead (default 2 with workers).
            persistent_workers: accepted (the threads are started per pass).
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
        if timeout < 0:
            raise ValueError("timeout option should be non-negative")
        if num_workers == 0 and prefetch_factor is not None:
            raise ValueError("prefetch_factor option could only be specified in multiprocessing. "
                             "let num_workers > 0 to enable multiprocessing, otherwise set prefetch_factor to None.")
        if num_workers > 0 and prefetch_factor is None:
            prefetch_factor = 2
        if prefetch_factor is not None and (isinstance(prefetch_factor, bool) or not isinstance(prefetch_factor, int)
                                            or prefetch_factor < 0):
            raise ValueError(f"prefetch_factor option should be non-negative, got {prefetch_factor!r}")
        if persistent_workers and num_workers == 0:
            raise ValueError("persistent_workers option needs num_workers > 0")
        if worker_init_fn is not None and not callable(worker_init_fn):
            raise TypeError(f"worker_init_fn: expected a callable, got {type(worker_init_fn).__name__}")
        if generator is not None and not isinstance(generator, Generator):
            raise TypeError(f"generator: expected a tr.Generator, got {type(generator).__name__}")
        if collate_fn is not None and not callable(collate_fn):
            raise TypeError(f"collate_fn: expected a callable, got {type(collate_fn).__name__}")
        if batch_size is not None and (isinstance(batch_size, bool) or not isinstance(batch_size, int)
                                       or batch_size <= 0):
            raise ValueError(f"batch_size should be a positive integer value, but got batch_size={batch_size}")

        iterable = isinstance(dataset, IterableDataset)
        if iterable and num_workers > 0:
            raise ValueError(f"DataLoader with IterableDataset: num_workers={num_workers} is not supported (PyTorch "
                             "gives each worker process its own copy of the stream); use num_workers=0")
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
        # as PyTorch, each pass draws a base seed (the workers' seeds) from the loader's generator
        base_seed = int((self.generator or default_generator).integers(0, 2 ** 63 - 1, ()))
        if self._iterable:
            return self._iter_stream()
        if self.num_workers > 0:
            return self._iter_threads(base_seed)
        return (self._fetch(key) for key in self._index_sampler)

    @property
    def _index_sampler(self):
        return self.batch_sampler if self._auto_collation else self.sampler

    def _fetch(self, key):
        """One batch (``key`` a list of indices) or, without batching, one sample (``key`` an index)."""
        if not self._auto_collation:
            return self.collate_fn(self.dataset[key])
        indices = list(key)
        fetch_many = getattr(self.dataset, "__getitems__", None)
        samples = fetch_many(indices) if callable(fetch_many) else [self.dataset[i] for i in indices]
        return self.collate_fn(samples)

    def _iter_threads(self, base_seed: int) -> Iterator:
        """Batches fetched by ``num_workers`` threads, ``prefetch_factor`` each ahead, yielded in order."""
        ids = itertools.count()
        lock = threading.Lock()

        def start_worker():
            with lock:
                worker_id = next(ids)
            _worker.info = WorkerInfo(worker_id, self.num_workers, base_seed + worker_id, self.dataset)
            if self.worker_init_fn is not None:
                self.worker_init_fn(worker_id)

        pool = ThreadPoolExecutor(self.num_workers, thread_name_prefix="DataLoader", initializer=start_worker)
        pending: deque = deque()
        keys = iter(self._index_sampler)
        try:
            for key in itertools.islice(keys, max(1, self.prefetch_factor * self.num_workers)):
                pending.append(pool.submit(self._fetch, key))
            while pending:
                future = pending.popleft()
                try:
                    batch = future.result(timeout=self.timeout or None)
                except FutureTimeout:
                    raise RuntimeError(f"DataLoader timed out after {self.timeout} seconds") from None
                for key in itertools.islice(keys, 1):
                    pending.append(pool.submit(self._fetch, key))
                yield batch
        finally:
            for future in pending:
                future.cancel()
            pool.shutdown(wait=True)

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

