"""``torch.nn.modules.dropout``: ``Dropout`` (alias of ``tr.nn.Dropout``)."""

from ..linear import Dropout

__all__ = ["Dropout"]
