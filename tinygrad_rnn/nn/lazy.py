"""``LazyLinear``: a ``Linear`` whose ``in_features`` is read from the first input (``torch.nn.LazyLinear``)."""

from __future__ import annotations

from ..tensor import Tensor
from .linear import Linear, _size_arg
from .module import Module, _replace_array, empty_parameter, factory_kwargs

__all__ = ["LazyLinear"]


class LazyLinear(Module):
    """y = x Wᵀ + b with ``in_features`` taken from ``input.shape[-1]`` at the first call.

    Until then ``weight`` (and ``bias``) are empty parameters (``in_features=0``). The first forward
    gives them their shapes *in place* — the same ``Parameter`` objects, so an optimizer built before
    still holds them — initialises them exactly as ``Linear`` does (same random draws), and turns the
    module into a ``Linear``, as PyTorch does. Load a ``state_dict`` after that first call.

    Args:
        out_features: size of each output sample.
        bias: learn an additive bias (default True).
        dtype, device: of the parameters.
    """

    def __init__(self, out_features: int, bias: bool = True, device=None, dtype=None) -> None:
        super().__init__()
        self._factory = factory_kwargs(dtype, device)
        self.in_features = 0
        self.out_features = _size_arg(out_features, "out_features")
        self.weight = empty_parameter(0, **self._factory)
        if bias:
            self.bias = empty_parameter(0, **self._factory)
        else:
            self.register_parameter("bias", None)

    def initialize_parameters(self, input: Tensor) -> None:
        """Give the parameters their shapes from ``input`` and initialise them as ``Linear.reset_parameters``."""
        if not isinstance(input, Tensor):
            raise TypeError(f"LazyLinear: input must be a Tensor, got {type(input).__name__}")
        if input.ndim == 0:
            raise ValueError("LazyLinear: input must have at least 1 dimension (*, in_features), got a 0-d tensor")
        self.in_features = int(input.shape[-1])
        shapes = {"weight": (self.out_features, self.in_features), "bias": (self.out_features,)}
        for name, shape in shapes.items():
            p = self._parameters.get(name)
            if p is not None:
                _replace_array(p, empty_parameter(*shape, **self._factory)._data)
        self.__class__ = Linear          # from here on it is a Linear, as in PyTorch (cls_to_become)
        del self.__dict__["_factory"]
        self.reset_parameters()

    def forward(self, input: Tensor) -> Tensor:
        self.initialize_parameters(input)
        return self.forward(input)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"
