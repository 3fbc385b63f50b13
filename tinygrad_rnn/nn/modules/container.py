"""``torch.nn.modules.container``: ``Sequential``, ``ModuleList``, ``ModuleDict`` (aliases of ``tr.nn``'s)."""

from ..containers import ModuleDict, ModuleList, Sequential

__all__ = ["ModuleDict", "ModuleList", "Sequential"]
