"""``tr.utils.data``: datasets, samplers and the ``DataLoader`` (``torch.utils.data``'s names and semantics).

    from tinygrad_rnn.utils.data import DataLoader, TensorDataset
    loader = DataLoader(TensorDataset(x, y), batch_size=32, shuffle=True)
    for xb, yb in loader:
        ...

Porting note: shuffles (``RandomSampler``, ``random_split``, ``SubsetRandomSampler``) draw from this
project's generator (NumPy's PCG64, ``tr.manual_seed`` / ``tr.Generator``), not from PyTorch's Mersenne
Twister, so the same seed gives a reproducible order here that is not PyTorch's order. Everything that
does not draw (sequential order, a sampler or batch_sampler passed in, collation, ``drop_last``) gives
PyTorch's batches exactly. ``num_workers > 0`` loads in worker threads (PyTorch: processes), same batches.
"""

from .collate import default_collate, default_convert
from .dataloader import DataLoader, WorkerInfo, get_worker_info
from .dataset import (ConcatDataset, Dataset, IterableDataset, StackDataset, Subset, TensorDataset,
                      random_split)
from .sampler import BatchSampler, RandomSampler, Sampler, SequentialSampler, SubsetRandomSampler

__all__ = ["BatchSampler", "ConcatDataset", "DataLoader", "Dataset", "IterableDataset", "RandomSampler",
           "Sampler", "SequentialSampler", "StackDataset", "Subset", "SubsetRandomSampler", "TensorDataset",
           "WorkerInfo", "default_collate", "default_convert", "get_worker_info", "random_split"]
