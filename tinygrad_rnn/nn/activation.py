"""The Transformer's activation modules, ``nn.GELU`` and ``nn.SiLU`` (ReLU, Tanh, ... live in ``linear``)."""

from __future__ import annotations

from . import functional as F
from ..tensor import Tensor
from .module import Module

__all__ = ["GELU", "SiLU"]


class GELU(Module):
    """GELU(x) = x·Φ(x), Φ the standard normal CDF (Hendrycks & Gimpel 2016).

    Args:
        approximate: ``"none"`` (default, exact: x/2·(1 + erf(x/√2))) or ``"tanh"``
            (x/2·(1 + tanh(√(2/π)·(x + 0.044715·x³)))).

    Shape: any -> the same.
    """

    def __init__(self, approximate: str = "none") -> None:
        super().__init__()
        if approximate not in ("none", "tanh"):
            raise ValueError(f"approximate: expected 'none' or 'tanh', got {approximate!r}")
        self.approximate = approximate

    def forward(self, input: Tensor) -> Tensor:
        return F.gelu(input, approximate=self.approximate)

    def extra_repr(self) -> str:
        return f"approximate={self.approximate!r}"


class SiLU(Module):
    """SiLU(x) = x·σ(x), the swish (Elfwing et al. 2017; Ramachandran et al. 2017).

    Shape: any -> the same.
    """

    def __init__(self, inplace: bool = False) -> None:
        super().__init__()
        if inplace:
            raise ValueError("SiLU: inplace=True is not supported")
        self.inplace = inplace

    def forward(self, input: Tensor) -> Tensor:
        return F.silu(input)

    def extra_repr(self) -> str:
        return "inplace=True" if self.inplace else ""
