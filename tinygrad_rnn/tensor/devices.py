"""Devices: ``device`` (PyTorch's ``torch.device``) and the array module serving each one."""

from __future__ import annotations

import numpy as np

from ..backend import DeviceError, canonical_device, xp_for


_XP = {"cpu": np}


class device(str):
    """A device name that compares equal to ``"cpu"``/``"cuda"`` and has PyTorch's ``.type``/``.index``.

    ``tr.device("cuda")``, ``tr.device("cuda:0")`` and ``tr.device("cuda", 0)`` are all the one GPU and
    are taken wherever a device is (``tensor(..., device=)``, ``.to()``, ``Module.to()``).
    """

    def __new__(cls, type="cpu", index=None):
        if isinstance(type, device):
            return type
        if index is not None:
            if isinstance(index, bool) or not isinstance(index, (int, np.integer)) or index < 0:
                raise DeviceError(f"device: index must be a non-negative int, got {index!r}")
            if ":" in str(type):
                raise DeviceError(f"device: type {type!r} already holds an index; pass index separately only "
                                  "with a bare type")
            type = f"{type}:{int(index)}"
        obj = super().__new__(cls, canonical_device(type))
        obj._index = 0 if isinstance(type, str) and type.endswith(":0") else None
        return obj

    @property
    def type(self) -> str:
        return str(self)

    @property
    def index(self):
        """As PyTorch: None unless given (``"cuda:0"``); a CUDA tensor's device has index 0."""
        return self._index

    def __repr__(self) -> str:
        return f"device(type='{self}')" if self._index is None else f"device(type='{self}', index={self._index})"


_DEVICES = {"cpu": device("cpu")}


def _xp(dev: str):
    xp = _XP.get(dev)
    if xp is None:
        xp = _XP[dev] = xp_for(dev)
        _DEVICES[dev] = device(dev, 0) if dev == "cuda" else device(dev)
    return xp
