"""``tr.accelerator``: PyTorch's device-agnostic accelerator queries; the accelerator here is CUDA via CuPy."""

from __future__ import annotations

from .backend import cuda_device_count, cuda_is_available
from .tensor import device

__all__ = ["current_accelerator", "device_count", "is_available"]


def is_available() -> bool:
    """True when a GPU is usable (CuPy installed and a GPU seen)."""
    return cuda_is_available()


def current_accelerator(check_available: bool = False):
    """``tr.device("cuda")`` when CuPy is installed (and, with ``check_available``, a GPU is usable), else None."""
    if check_available:
        return device("cuda") if cuda_is_available() else None
    try:
        import cupy  # noqa: F401
    except ImportError:
        return None
    return device("cuda")


def device_count() -> int:
    return cuda_device_count()
