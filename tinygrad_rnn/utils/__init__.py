"""``tr.utils``: PyTorch's ``torch.utils`` names that training scripts use (``tr.utils.data``)."""

from . import data

__all__ = ["data"]
