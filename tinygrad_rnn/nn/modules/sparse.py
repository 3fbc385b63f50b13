"""``torch.nn.modules.sparse``: ``Embedding`` (alias of ``tr.nn.Embedding``)."""

from ..linear import Embedding

__all__ = ["Embedding"]
