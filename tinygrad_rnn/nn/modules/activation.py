"""``torch.nn.modules.activation``: the activation modules (aliases of ``tr.nn``'s)."""

from ..linear import LogSoftmax, ReLU, Sigmoid, Softmax, Tanh

__all__ = ["LogSoftmax", "ReLU", "Sigmoid", "Softmax", "Tanh"]
