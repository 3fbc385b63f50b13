"""``torch.nn.modules.module``: ``Module`` (alias of ``tr.nn.Module``)."""

from ..module import Module

__all__ = ["Module"]
