"""``torch.nn.modules.normalization``: ``LayerNorm`` (an alias of ``tr.nn.LayerNorm``)."""

from ..normalization import LayerNorm

__all__ = ["LayerNorm"]
