"""``Flatten`` and ``Unflatten``: reshape modules for ``Sequential`` stacks (``torch.nn.Flatten``)."""

from __future__ import annotations

from ..tensor import Tensor, _int_arg, _norm_dim
from .module import Module

__all__ = ["Flatten", "Unflatten"]


class Flatten(Module):
    """Merge dims ``start_dim..end_dim`` into one: ``input.flatten(start_dim, end_dim)``.

    Shape: (N, *dims) -> (N, prod(dims)) with the defaults (``start_dim=1``: the batch dim stays).
    """

    def __init__(self, start_dim: int = 1, end_dim: int = -1) -> None:
        super().__init__()
        self.start_dim = _int_arg(start_dim, "start_dim")
        self.end_dim = _int_arg(end_dim, "end_dim")

    def forward(self, input: Tensor) -> Tensor:
        return input.flatten(self.start_dim, self.end_dim)

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


class Unflatten(Module):
    """Split dim ``dim`` into ``unflattened_size``: ``input.unflatten(dim, unflattened_size)``.

    Shape: (*, S, *) -> (*, U_1, ..., U_n, *) with prod(U) = S (one U_i may be -1).
    """

    def __init__(self, dim: int, unflattened_size) -> None:
        super().__init__()
        if not isinstance(unflattened_size, (tuple, list)) or not unflattened_size:
            raise TypeError(f"Unflatten: unflattened_size must be a non-empty tuple or list of ints, got "
                            f"{unflattened_size!r}")
        self.dim = _int_arg(dim, "dim")
        for n in unflattened_size:
            _int_arg(n, "unflattened_size")
        self.unflattened_size = unflattened_size        # as given (a list stays a list in the repr, as PyTorch)

    def forward(self, input: Tensor) -> Tensor:
        d = _norm_dim(self.dim, input.ndim)
        n, known = input.shape[d], 1
        for k in self.unflattened_size:
            known *= k if k != -1 else 1
        if (n != known and -1 not in self.unflattened_size) or (known == 0 or n % known):
            raise ValueError(f"Unflatten: unflattened_size {self.unflattened_size} does not fit dim {self.dim} "
                             f"of size {n} (input shape {input.shape})")
        return input.unflatten(d, tuple(self.unflattened_size))

    def extra_repr(self) -> str:
        return f"dim={self.dim}, unflattened_size={self.unflattened_size}"
