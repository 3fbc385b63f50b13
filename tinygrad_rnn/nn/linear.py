"""Basic layers: ``Linear``, ``Embedding``, ``Dropout``, ``Identity`` and the activation modules.

Parameter names, shapes and initialisation are PyTorch's, so ``state_dict``s move both ways.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from . import functional as F, init
from ..autograd import no_grad
from ..tensor import Tensor
from .module import Module, Parameter, empty_parameter

__all__ = ["Dropout", "Embedding", "Identity", "Linear", "LogSoftmax", "ReLU", "Sigmoid", "Softmax", "Tanh"]


def _size_arg(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        raise ValueError(f"{name}: expected a non-negative int, got {value!r}")
    return int(value)


class Identity(Module):
    """y = x (any constructor arguments are ignored, as PyTorch)."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__()

    def forward(self, input: Tensor) -> Tensor:
        return input


class Linear(Module):
    """y = x Wᵀ + b.

    Args:
        in_features, out_features: sizes of each input and output sample.
        bias: learn an additive bias (default True).
        dtype, device: of the parameters (default float32 on the default device).

    Shape: input (*, in_features) -> output (*, out_features).

    Attributes:
        weight: (out_features, in_features), U(-1/√in, 1/√in) (kaiming_uniform_ with a=√5, as PyTorch).
        bias: (out_features,), U(-1/√in, 1/√in).

    Example::

        layer = tr.nn.Linear(20, 30)
        layer(tr.randn(128, 20)).shape   # (128, 30)
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True, device=None, dtype=None) -> None:
        super().__init__()
        self.in_features = _size_arg(in_features, "in_features")
        self.out_features = _size_arg(out_features, "out_features")
        self.weight = empty_parameter(self.out_features, self.in_features, dtype=dtype, device=device)
        if bias:
            self.bias = empty_parameter(self.out_features, dtype=dtype, device=device)
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in = self.in_features
            bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0.0
            init.uniform_(self.bias, -bound, bound)

    def forward(self, input: Tensor) -> Tensor:
        return F.linear(input, self.weight, self.bias)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


class Embedding(Module):
    """A lookup table: y[...] = weight[input[...]].

    Args:
        num_embeddings: size of the dictionary; embedding_dim: size of each vector.
        padding_idx: this row is initialised to zeros and never receives a gradient.
        max_norm, norm_type: rows looked up with a larger ``norm_type``-norm are rescaled in place to ``max_norm``.
        dtype, device: of the weight.

    Shape: input (*) of integer indices -> output (*, embedding_dim).

    Attributes:
        weight: (num_embeddings, embedding_dim), N(0, 1).

    Indices are range-checked on every backend (CuPy would wrap out-of-range ones silently); on the
    GPU that check synchronises. Repeated indices accumulate their gradients.
    """

    def __init__(self, num_embeddings: int, embedding_dim: int, padding_idx: int | None = None,
                 max_norm: float | None = None, norm_type: float = 2.0, scale_grad_by_freq: bool = False,
                 sparse: bool = False, _weight: Tensor | None = None, _freeze: bool = False, device=None,
                 dtype=None) -> None:
        super().__init__()
        self.num_embeddings = _size_arg(num_embeddings, "num_embeddings")
        self.embedding_dim = _size_arg(embedding_dim, "embedding_dim")
        if padding_idx is not None:
            padding_idx = F._padding_idx(padding_idx, self.num_embeddings)
        if scale_grad_by_freq or sparse:
            raise ValueError("Embedding: scale_grad_by_freq=True and sparse=True are not supported")
        if max_norm is not None and (not isinstance(max_norm, numbers.Real) or max_norm <= 0):
            raise ValueError(f"max_norm: expected a positive number or None, got {max_norm!r}")
        self.padding_idx = padding_idx
        self.max_norm = max_norm
        self.norm_type = norm_type
        self.scale_grad_by_freq = scale_grad_by_freq
        self.sparse = sparse
        if _weight is None:
            self.weight = empty_parameter(self.num_embeddings, self.embedding_dim, dtype=dtype, device=device)
            self.weight.requires_grad_(not _freeze)
            self.reset_parameters()
        else:
            if tuple(_weight.shape) != (self.num_embeddings, self.embedding_dim):
                raise ValueError(f"_weight: shape {tuple(_weight.shape)} does not match "
                                 f"({self.num_embeddings}, {self.embedding_dim})")
            self.weight = Parameter(_weight, requires_grad=not _freeze)

    def reset_parameters(self) -> None:
        init.normal_(self.weight)
        if self.padding_idx is not None:
            with no_grad():
                self.weight[self.padding_idx] = 0.0

    def forward(self, input: Tensor) -> Tensor:
        return F.embedding(input, self.weight, self.padding_idx, self.max_norm, self.norm_type)

    def extra_repr(self) -> str:
        s = f"{self.num_embeddings}, {self.embedding_dim}"
        if self.padding_idx is not None:
            s += f", padding_idx={self.padding_idx}"
        if self.max_norm is not None:
            s += f", max_norm={self.max_norm}"
        if self.norm_type != 2:
            s += f", norm_type={self.norm_type}"
        return s

    @classmethod
    def from_pretrained(cls, embeddings: Tensor, freeze: bool = True, padding_idx: int | None = None,
                        max_norm: float | None = None, norm_type: float = 2.0, scale_grad_by_freq: bool = False,
                        sparse: bool = False) -> "Embedding":
        """An ``Embedding`` whose weight is a copy of the 2-D ``embeddings`` (frozen by default)."""
        if not isinstance(embeddings, Tensor):
            raise TypeError(f"from_pretrained: embeddings must be a Tensor, got {type(embeddings).__name__}")
        if embeddings.ndim != 2:
            raise ValueError(f"from_pretrained: embeddings must be 2-D, got shape {tuple(embeddings.shape)}")
        rows, cols = embeddings.shape
        return cls(rows, cols, padding_idx, max_norm, norm_type, scale_grad_by_freq, sparse,
                   _weight=embeddings.detach().clone(), _freeze=freeze)


class Dropout(Module):
    """Zero each element with probability ``p`` and scale the rest by 1/(1-p), in training mode only.

    ``generator`` (optional, not in PyTorch) draws the masks from a private ``tr.Generator``.
    """

    def __init__(self, p: float = 0.5, inplace: bool = False, generator=None) -> None:
        super().__init__()
        if isinstance(p, bool) or not isinstance(p, numbers.Real) or not 0.0 <= p <= 1.0:
            raise ValueError(f"dropout probability has to be between 0 and 1, but got {p!r}")
        if inplace:
            raise ValueError("Dropout: inplace=True is not supported")
        self.p = float(p)
        self.inplace = inplace
        self.generator = generator

    def forward(self, input: Tensor) -> Tensor:
        return F.dropout(input, self.p, self.training, generator=self.generator)

    def extra_repr(self) -> str:
        return f"p={self.p}, inplace={self.inplace}"


class Tanh(Module):
    """y = tanh(x)."""

    def forward(self, input: Tensor) -> Tensor:
        return input.tanh()


class Sigmoid(Module):
    """y = 1 / (1 + exp(-x))."""

    def forward(self, input: Tensor) -> Tensor:
        return input.sigmoid()


class ReLU(Module):
    """y = max(x, 0)."""

    def __init__(self, inplace: bool = False) -> None:
        super().__init__()
        if inplace:
            raise ValueError("ReLU: inplace=True is not supported")
        self.inplace = inplace

    def forward(self, input: Tensor) -> Tensor:
        return input.relu()


class Softmax(Module):
    """y_i = exp(x_i) / Σ_j exp(x_j) along ``dim``."""

    def __init__(self, dim: int | None = None) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, input: Tensor) -> Tensor:
        return F.softmax(input, self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class LogSoftmax(Module):
    """y_i = x_i - log Σ_j exp(x_j) along ``dim``."""

    def __init__(self, dim: int | None = None) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, input: Tensor) -> Tensor:
        return F.log_softmax(input, self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"
