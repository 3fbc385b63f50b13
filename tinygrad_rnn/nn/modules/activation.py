"""``torch.nn.modules.activation``: the activation modules and ``MultiheadAttention`` (aliases of ``tr.nn``'s)."""

from ..activation import GELU, SiLU
from ..linear import LogSoftmax, ReLU, Sigmoid, Softmax, Tanh
from ..transformer import MultiheadAttention

__all__ = ["GELU", "LogSoftmax", "MultiheadAttention", "ReLU", "Sigmoid", "SiLU", "Softmax", "Tanh"]
