"""``tr.cuda``: the ``torch.cuda`` queries that ported programs make, answered from CuPy.

``is_available()`` and ``device_count()`` are true answers (False / 0 without CuPy or a GPU). This
project drives one GPU, ``"cuda"`` (= ``"cuda:0"``). Random numbers for every device come from the one
CPU generator (see ``tr.manual_seed``), so ``manual_seed``/``manual_seed_all`` here check the seed and
change nothing: as in PyTorch they do not touch the CPU generator, which is the one that draws here.
"""

from __future__ import annotations

import numbers

from .backend import DeviceError, cuda_device_count, cuda_is_available, cuda_synchronize

__all__ = ["current_device", "device_count", "empty_cache", "get_device_name", "is_available", "manual_seed",
           "manual_seed_all", "synchronize"]


def is_available() -> bool:
    """True when CuPy imports and sees a GPU."""
    return cuda_is_available()


def device_count() -> int:
    """The number of GPUs CuPy sees (0 without one); tensors here use the first."""
    return cuda_device_count()


def _need_cuda(what: str) -> None:
    if not cuda_is_available():
        raise DeviceError(f"tr.cuda.{what}(): CUDA is not available (needs CuPy and an NVIDIA GPU); "
                          "check tr.cuda.is_available() first")


def current_device() -> int:
    """The index of the GPU in use: always 0 (raises without CUDA, as PyTorch)."""
    _need_cuda("current_device")
    return 0


def get_device_name(device=None) -> str:
    """The GPU's name as the driver reports it."""
    _need_cuda("get_device_name")
    import cupy
    props = cupy.cuda.runtime.getDeviceProperties(0)
    name = props["name"]
    return name.decode() if isinstance(name, bytes) else str(name)


def synchronize(device=None) -> None:
    """Wait until the GPU has finished all queued work (raises without CUDA, as PyTorch)."""
    _need_cuda("synchronize")
    cuda_synchronize()


def empty_cache() -> None:
    """Give the memory CuPy holds in its pool back to the driver (no-op without CUDA)."""
    if cuda_is_available():
        import cupy
        cupy.get_default_memory_pool().free_all_blocks()


def _check_seed(seed, fn: str) -> None:
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise TypeError(f"tr.cuda.{fn}: seed must be an int, got {type(seed).__name__}")


def manual_seed(seed: int) -> None:
    """Accepted for ported programs; changes nothing (GPU draws come from ``tr.manual_seed``'s generator)."""
    _check_seed(seed, "manual_seed")


def manual_seed_all(seed: int) -> None:
    """As ``manual_seed``: accepted, changes nothing."""
    _check_seed(seed, "manual_seed_all")
