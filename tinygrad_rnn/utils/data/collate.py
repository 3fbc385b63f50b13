"""``default_collate`` / ``default_convert``: how the DataLoader turns a list of samples into a batch.

As PyTorch's (``torch.utils.data._utils.collate``): tensors are stacked on a new first dimension; NumPy
arrays become tensors and are stacked; NumPy scalars become a tensor of their dtype; Python floats a
float64 tensor, ints (and bools) an int64 (bool) tensor; strings and bytes stay a list; a dict (any
mapping) is collated per key, a namedtuple per field, a tuple or list per position (a tuple becomes a
list, as PyTorch does "for backwards compatibility").
"""

from __future__ import annotations

import collections.abc
import copy
import re

import numpy as np

from ...tensor import Tensor, as_tensor, stack, tensor

_NP_STR_OBJ = re.compile(r"[SaUO]")
_ERR = "default_collate: batch must contain tensors, numpy arrays, numbers, dicts or lists; found {}"


def default_collate(batch: list):
    """Collate a list of samples into a batch (see the module docstring for each type).

    Example::

        default_collate([(tr.tensor([1.0]), 0), (tr.tensor([2.0]), 1)])
        # [tensor([[1.], [2.]]), tensor([0, 1])]
    """
    if not isinstance(batch, collections.abc.Sequence) or len(batch) == 0:
        raise ValueError(f"default_collate: expected a non-empty list of samples, got {batch!r:.80}")
    elem = batch[0]
    if isinstance(elem, Tensor):
        return stack(batch, 0)
    if isinstance(elem, np.ndarray):
        if _NP_STR_OBJ.search(elem.dtype.str) is not None:
            raise TypeError(_ERR.format(elem.dtype))
        return default_collate([as_tensor(b) for b in batch])
    if isinstance(elem, (np.bool_, np.number, np.object_)):
        return as_tensor(np.asarray(batch))
    if isinstance(elem, float):
        return tensor(batch, dtype=np.float64)
    if isinstance(elem, int):
        return tensor(batch)
    if isinstance(elem, (str, bytes)):
        return batch
    if isinstance(elem, collections.abc.Mapping):
        return _mapping_like(elem, {key: default_collate([d[key] for d in batch]) for key in elem})
    if isinstance(elem, tuple) and hasattr(elem, "_fields"):     # namedtuple
        return type(elem)(*(default_collate(list(samples)) for samples in zip(*batch)))
    if isinstance(elem, collections.abc.Sequence):
        size = len(elem)
        if not all(len(e) == size for e in batch):
            raise RuntimeError("each element in list of batch should be of equal size")
        transposed = [default_collate(list(samples)) for samples in zip(*batch)]
        if isinstance(elem, tuple):
            return transposed
        return _sequence_like(elem, transposed)
    raise TypeError(_ERR.format(type(elem)))


def default_convert(data):
    """Without batching (``batch_size=None``): NumPy arrays and scalars become tensors, inside any mapping,
    namedtuple, tuple or list; everything else is returned as it is."""
    if isinstance(data, Tensor):
        return data
    if isinstance(data, np.ndarray):
        return data if _NP_STR_OBJ.search(data.dtype.str) is not None else as_tensor(data)
    if isinstance(data, (np.bool_, np.number)):
        return as_tensor(np.asarray(data))
    if isinstance(data, collections.abc.Mapping):
        return _mapping_like(data, {key: default_convert(data[key]) for key in data})
    if isinstance(data, tuple) and hasattr(data, "_fields"):
        return type(data)(*(default_convert(d) for d in data))
    if isinstance(data, tuple):
        return [default_convert(d) for d in data]
    if isinstance(data, collections.abc.Sequence) and not isinstance(data, (str, bytes)):
        return _sequence_like(data, [default_convert(d) for d in data])
    return data


def _mapping_like(like, items: dict):
    """``items`` in a mapping of ``like``'s type (a copy of a mutable one, updated), else a plain dict."""
    try:
        if isinstance(like, collections.abc.MutableMapping):
            clone = copy.copy(like)
            clone.update(items)
            return clone
        return type(like)(items)
    except TypeError:
        return items


def _sequence_like(like, items: list):
    """``items`` in a sequence of ``like``'s type (a copy of a mutable one, refilled), else a plain list."""
    try:
        if isinstance(like, collections.abc.MutableSequence):
            clone = copy.copy(like)
            for i, value in enumerate(items):
                clone[i] = value
            return clone
        return type(like)(items)
    except TypeError:
        return items
