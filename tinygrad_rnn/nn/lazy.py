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
    module into a ``Linear``, as PyTorch does. ``load_state_dict`` before the first call takes the shapes
    from the state_dict (``in_features`` stays 0 until the first forward, as in PyTorch).

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

    def _shape(self, in_features: int) -> None:
        shapes = {"weight": (self.out_features, in_features), "bias": (self.out_features,)}
        for name, shape in shapes.items():
            p = self._parameters.get(name)
            if p is not None:
                _replace_array(p, empty_parameter(*shape, **self._factory)._data)

    def initialize_parameters(self, input: Tensor) -> None:
        """Give the parameters their shapes from ``input`` and initialise them as ``Linear.reset_parameters``
        (parameters already given by ``load_state_dict`` keep their values)."""
        if not isinstance(input, Tensor):
            raise TypeError(f"LazyLinear: input must be a Tensor, got {type(input).__name__}")
        if input.ndim == 0:
            raise ValueError("LazyLinear: input must have at least 1 dimension (*, in_features), got a 0-d tensor")
        loaded = self.__dict__.pop("_loaded", False)
        self.in_features = int(input.shape[-1])
        if not loaded:
            self._shape(self.in_features)
        self.__class__ = Linear          # from here on it is a Linear, as in PyTorch (cls_to_become)
        del self.__dict__["_factory"]
        if not loaded:
            self.reset_parameters()

    def _materialize_from_state(self, state_dict, prefix: str) -> None:
        """Before ``load_state_dict`` copies: take the weight's shape from the state_dict (as PyTorch's
        lazy modules do); the first forward then keeps the loaded values."""
        w = state_dict.get(prefix + "weight")
        shape = tuple(getattr(w, "shape", ()))
        if len(shape) == 2 and shape[0] == self.out_features and not self.__dict__.get("_loaded"):
            self._shape(int(shape[1]))
            self._loaded = True

    def forward(self, input: Tensor) -> Tensor:
        self.initialize_parameters(input)
        return self.forward(input)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"
