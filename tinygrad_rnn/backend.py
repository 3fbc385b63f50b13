"""Devices and array modules: NumPy serves ``"cpu"``, CuPy serves ``"cuda"``.

CuPy is imported lazily, the first time a CUDA tensor is asked for, so the package imports and runs
with NumPy alone. Every op reaches its array module through ``ctx.xp``; nothing else in the engine
needs to know which library holds the data.
"""

from __future__ import annotations

import os
from types import ModuleType

import numpy as np

DEVICES = ("cpu", "cuda")
_cupy: ModuleType | None = None

CUDA_INSTALL_HINT = (
    "install CuPy for your CUDA version: pip install 'tinygrad-rnn[cuda12]' (CUDA 12.x) or "
    "'tinygrad-rnn[cuda13]' (CUDA 13.x); `nvidia-smi` shows the CUDA version"
)


class DeviceError(ValueError, RuntimeError):
    """Tensors on different devices met in one op, or a device that cannot be used here.

    A ``ValueError`` by DESIGN.md and a ``RuntimeError`` as PyTorch raises it, so either catch works.
    """


def _import_cupy() -> ModuleType:
    global _cupy
    if _cupy is None:
        try:
            import cupy
        except ImportError as e:  # pragma: no cover - depends on the machine
            raise DeviceError(f"device 'cuda' needs CuPy, which is not installed: {CUDA_INSTALL_HINT}") from e
        try:
            n = cupy.cuda.runtime.getDeviceCount()
        except Exception as e:  # pragma: no cover - depends on the machine
            raise DeviceError(f"device 'cuda': CuPy is installed but no CUDA GPU is usable ({e}); "
                              f"use device='cpu', or {CUDA_INSTALL_HINT}") from e
        if n == 0:  # pragma: no cover
            raise DeviceError("device 'cuda': CuPy found no CUDA GPU; use device='cpu'")
        _cupy = cupy
    return _cupy


# glibc's mallopt parameters (malloc.h): large arrays come from mmap and freed heap tops are trimmed,
# so every call of a recurrent layer would fault in fresh pages for its per-call buffers.
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
_MALLOC_ENV = ("MALLOC_TRIM_THRESHOLD_", "MALLOC_MMAP_THRESHOLD_", "MALLOC_TOP_PAD_", "MALLOC_MMAP_MAX_")


def keep_host_memory(mmap_threshold: int = 32 << 20, trim_threshold: int = 512 << 20) -> bool:
    """Ask glibc's malloc to reuse freed memory instead of returning it to the OS at once.

    The fused recurrent kernels allocate their buffers per call (so two forwards before one backward
    both stay correct). With glibc's defaults, buffers over 128 KiB are mmap'ed and unmapped on free,
    so each call pays a page fault for every 4 KiB it touches: 40 % of an LSTM training step at
    (T, B, H) = (200, 16, 128) on the machine this was written on. Raising the mmap and trim
    thresholds keeps up to ``trim_threshold`` bytes of freed memory in the process for reuse.

    Applied once when ``tinygrad_rnn`` is imported, unless ``TINYGRAD_RNN_KEEP_HOST_MEMORY=0`` or a
    ``MALLOC_*_`` tuning variable is set; a no-op where the C library has no ``mallopt`` (macOS,
    musl). Returns whether the settings were applied.
    """
    if os.environ.get("TINYGRAD_RNN_KEEP_HOST_MEMORY", "1") == "0" or any(v in os.environ for v in _MALLOC_ENV):
        return False
    try:
        import ctypes
        libc = ctypes.CDLL(None)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    return bool(mallopt(_M_MMAP_THRESHOLD, int(mmap_threshold))) and bool(mallopt(_M_TRIM_THRESHOLD,
                                                                                    int(trim_threshold)))


def cuda_device_count() -> int:
    """How many CUDA GPUs CuPy sees (0 without CuPy or a driver; never raises)."""
    try:
        return int(_import_cupy().cuda.runtime.getDeviceCount())
    except Exception:      # DeviceError without CuPy or a GPU; a CUDA runtime error from a broken driver
        return 0


def cuda_synchronize() -> None:
    """Wait for every kernel queued on the GPU to finish."""
    _import_cupy().cuda.Device().synchronize()


def cuda_is_available() -> bool:
    """True when CuPy imports and sees at least one GPU (never raises)."""
    try:
        _import_cupy()
        return True
    except DeviceError:
        return False


def canonical_device(device) -> str:
    """Map ``None``, ``"cpu"``, ``"cuda"``, ``"cuda:0"`` or a device-like object to ``"cpu"``/``"cuda"``."""
    if device is None:
        return default_device()
    if not isinstance(device, str):
        device = str(getattr(device, "type", device))
    name = device.split(":")[0].lower()
    if name not in DEVICES:
        raise DeviceError(f"device: expected one of {DEVICES} (optionally 'cuda:0'), got {device!r}")
    if ":" in device and device != "cuda:0" and name == "cuda":
        raise DeviceError(f"device: only one GPU is supported ('cuda' or 'cuda:0'), got {device!r}")
    return name


_default_device: str | None = None    # set by set_default_device; None: the environment decides


def set_default_device(device) -> None:
    """Make ``device`` the device of new tensors that name none (``torch.set_default_device``);
    ``None`` goes back to ``$TINYGRAD_RNN_DEVICE`` or ``"cpu"``. A device that cannot be used here
    (``"cuda"`` without CuPy) raises now, not at the first tensor."""
    global _default_device
    if device is None:
        _default_device = None
        return
    name = canonical_device(device)
    xp_for(name)
    _default_device = name


def default_device() -> str:
    """The device of new tensors when none is given: the one set by ``set_default_device``, else
    ``$TINYGRAD_RNN_DEVICE``, else ``"cpu"``."""
    if _default_device is not None:
        return _default_device
    env = os.environ.get("TINYGRAD_RNN_DEVICE", "cpu") or "cpu"
    if env.split(":")[0].lower() not in DEVICES:
        raise DeviceError(f"TINYGRAD_RNN_DEVICE: expected 'cpu' or 'cuda', got {env!r}")
    return env.split(":")[0].lower()


def xp_for(device: str) -> ModuleType:
    """The array module that serves ``device`` (already canonical)."""
    if device == "cpu":
        return np
    return _import_cupy()


def device_of(array) -> str:
    """``"cpu"`` for NumPy arrays and scalars, ``"cuda"`` for CuPy arrays."""
    if isinstance(array, np.ndarray) or _cupy is None:
        return "cpu"
    return "cuda" if isinstance(array, _cupy.ndarray) else "cpu"


def is_device_array(obj) -> bool:
    """True for a NumPy or CuPy ndarray."""
    return isinstance(obj, np.ndarray) or (_cupy is not None and isinstance(obj, _cupy.ndarray))


def to_numpy(array) -> np.ndarray:
    """A NumPy array with the data of ``array`` (a copy when it lives on the GPU)."""
    if isinstance(array, np.ndarray):
        return array
    if _cupy is not None and isinstance(array, _cupy.ndarray):
        return _cupy.asnumpy(array)
    return np.asarray(array)


def move(array, device: str):
    """``array`` on ``device``; the same object when it is already there."""
    if device_of(array) == device:
        return array
    if device == "cpu":
        return to_numpy(array)
    return xp_for("cuda").asarray(array)
