"""``nn.LayerNorm``: normalisation over the trailing dims of each sample, with PyTorch's parameters."""

from __future__ import annotations

import numbers

from . import functional as F, init
from ..tensor import Tensor
from .module import Module, empty_parameter

__all__ = ["LayerNorm"]


class LayerNorm(Module):
    """y = (x - E[x]) / √(Var[x] + ε) ⊙ γ + β over the last ``len(normalized_shape)`` dims (Ba et al. 2016).

    The mean and the (biased) variance are taken per sample over ``normalized_shape``; γ and β are
    learned per element of it.

    Args:
        normalized_shape: an int or a shape, the trailing dims to normalise over.
        eps: added to the variance (default 1e-5).
        elementwise_affine: learn ``weight`` (γ, ones) and ``bias`` (β, zeros) (default True).
        bias: learn β (default True; only with ``elementwise_affine``).
        device, dtype: of the parameters.

    Shape: input (*, *normalized_shape) -> output of the same shape.

    Attributes:
        weight: (*normalized_shape), initialised to 1.   bias: (*normalized_shape), initialised to 0.

    Example::

        norm = tr.nn.LayerNorm(16)
        norm(tr.randn(8, 10, 16)).shape    # (8, 10, 16)
    """

    def __init__(self, normalized_shape, eps: float = 1e-5, elementwise_affine: bool = True, bias: bool = True,
                 device=None, dtype=None) -> None:
        super().__init__()
        shape = F._normalized_shape(normalized_shape)
        if not shape or any(n < 0 for n in shape):
            raise ValueError(f"normalized_shape: expected non-negative sizes, at least one, got {normalized_shape!r}")
        if isinstance(eps, bool) or not isinstance(eps, numbers.Real) or eps < 0:
            raise ValueError(f"eps: expected a non-negative number, got {eps!r}")
        self.normalized_shape = shape
        self.eps = float(eps)
        self.elementwise_affine = bool(elementwise_affine)
        if self.elementwise_affine:
            self.weight = empty_parameter(*shape, dtype=dtype, device=device)
            if bias:
                self.bias = empty_parameter(*shape, dtype=dtype, device=device)
            else:
                self.register_parameter("bias", None)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        if self.weight is not None:
            init.ones_(self.weight)
        if self.bias is not None:
            init.zeros_(self.bias)

    def forward(self, input: Tensor) -> Tensor:
        return F.layer_norm(input, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}"
