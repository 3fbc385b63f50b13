"""``torch.nn.modules.linear``: ``Linear``, ``Identity`` (aliases of ``tr.nn``'s)."""

from ..linear import Identity, Linear

__all__ = ["Identity", "Linear"]
