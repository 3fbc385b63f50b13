"""PyTorch's module-level spellings (``tr.tanh(x)``, ``tr.sum(x, dim)``, ...): each calls the Tensor method."""

from __future__ import annotations

import warnings

from .tensor import Tensor, _dim_aliases


_DEPRECATED = ("This overload of {name} is deprecated:\n\t{name}(Tensor input, Number alpha, Tensor other, *, "
               "Tensor out = None)\nConsider using one of the following signatures instead:\n\t{name}(Tensor "
               "input, Tensor other, *, Number alpha = 1, Tensor out = None)")


def _legacy(name: str, other, alpha):
    """PyTorch's deprecated ``torch.add(input, Number alpha, Tensor other)``, with PyTorch's warning."""
    if isinstance(other, (int, float)) and not isinstance(other, bool) and isinstance(alpha, Tensor):
        warnings.warn(_DEPRECATED.format(name=name), UserWarning, stacklevel=3)
        return alpha, other
    return other, alpha


def add(input: Tensor, other, alpha=1) -> Tensor:
    other, alpha = _legacy("add", other, alpha)
    return input.add(other, alpha=alpha)


def sub(input: Tensor, other, alpha=1) -> Tensor:
    other, alpha = _legacy("sub", other, alpha)
    return input.sub(other, alpha=alpha)


def mul(input: Tensor, other) -> Tensor:
    return input.mul(other)


def div(input: Tensor, other) -> Tensor:
    return input.div(other)


def neg(input: Tensor) -> Tensor:
    return input.neg()


def pow(input: Tensor, exponent) -> Tensor:
    return input.pow(exponent)


def matmul(input: Tensor, other: Tensor) -> Tensor:
    return input.matmul(other)


mm = bmm = matmul


def exp(input: Tensor) -> Tensor:
    return input.exp()


def log(input: Tensor) -> Tensor:
    return input.log()


def sqrt(input: Tensor) -> Tensor:
    return input.sqrt()


def abs(input: Tensor) -> Tensor:
    return input.abs()


def tanh(input: Tensor) -> Tensor:
    return input.tanh()


def sin(input: Tensor) -> Tensor:
    return input.sin()


def cos(input: Tensor) -> Tensor:
    return input.cos()


def sinh(input: Tensor) -> Tensor:
    return input.sinh()


def cosh(input: Tensor) -> Tensor:
    return input.cosh()


def tril(input: Tensor, diagonal: int = 0) -> Tensor:
    return input.tril(diagonal)


def triu(input: Tensor, diagonal: int = 0) -> Tensor:
    return input.triu(diagonal)


def t(input: Tensor) -> Tensor:
    return input.t()


def sigmoid(input: Tensor) -> Tensor:
    return input.sigmoid()


def relu(input: Tensor) -> Tensor:
    return input.relu()


def maximum(input: Tensor, other: Tensor) -> Tensor:
    return input.maximum(other)


def minimum(input: Tensor, other: Tensor) -> Tensor:
    return input.minimum(other)


def clamp(input: Tensor, min=None, max=None) -> Tensor:
    return input.clamp(min, max)


clip = clamp


@_dim_aliases
def sum(input: Tensor, dim=None, keepdim: bool = False, dtype=None) -> Tensor:
    return input.sum(dim, keepdim, dtype=dtype)


@_dim_aliases
def mean(input: Tensor, dim=None, keepdim: bool = False) -> Tensor:
    return input.mean(dim, keepdim)


@_dim_aliases
def max(input: Tensor, dim=None, keepdim: bool = False):
    return input.max(dim, keepdim)


@_dim_aliases
def min(input: Tensor, dim=None, keepdim: bool = False):
    return input.min(dim, keepdim)


@_dim_aliases
def amax(input: Tensor, dim=None, keepdim: bool = False) -> Tensor:
    return input.amax(dim, keepdim)


@_dim_aliases
def amin(input: Tensor, dim=None, keepdim: bool = False) -> Tensor:
    return input.amin(dim, keepdim)


@_dim_aliases
def var(input: Tensor, dim=None, *, correction=None, keepdim: bool = False, unbiased=None) -> Tensor:
    return input.var(dim, correction=correction, keepdim=keepdim, unbiased=unbiased)


@_dim_aliases
def std(input: Tensor, dim=None, *, correction=None, keepdim: bool = False, unbiased=None) -> Tensor:
    return input.std(dim, correction=correction, keepdim=keepdim, unbiased=unbiased)


@_dim_aliases
def logsumexp(input: Tensor, dim: int, keepdim: bool = False) -> Tensor:
    return input.logsumexp(dim, keepdim)


@_dim_aliases
def softmax(input: Tensor, dim: int) -> Tensor:
    return input.softmax(dim)


@_dim_aliases
def log_softmax(input: Tensor, dim: int) -> Tensor:
    return input.log_softmax(dim)


@_dim_aliases
def argmax(input: Tensor, dim=None, keepdim: bool = False) -> Tensor:
    return input.argmax(dim, keepdim)


@_dim_aliases
def argmin(input: Tensor, dim=None, keepdim: bool = False) -> Tensor:
    return input.argmin(dim, keepdim)


@_dim_aliases
def topk(input: Tensor, k: int, dim: int = -1, largest: bool = True, sorted: bool = True):
    return input.topk(k, dim, largest, sorted)


@_dim_aliases
def sort(input: Tensor, dim: int = -1, descending: bool = False):
    return input.sort(dim, descending)


def reshape(input: Tensor, shape) -> Tensor:
    return input.reshape(shape)


def transpose(input: Tensor, dim0: int, dim1: int) -> Tensor:
    return input.transpose(dim0, dim1)


def permute(input: Tensor, dims) -> Tensor:
    return input.permute(dims)


@_dim_aliases
def squeeze(input: Tensor, dim=None) -> Tensor:
    return input.squeeze(dim)


@_dim_aliases
def unsqueeze(input: Tensor, dim: int) -> Tensor:
    return input.unsqueeze(dim)


def flatten(input: Tensor, start_dim: int = 0, end_dim: int = -1) -> Tensor:
    return input.flatten(start_dim, end_dim)


def flip(input: Tensor, dims) -> Tensor:
    return input.flip(dims)


@_dim_aliases
def narrow(input: Tensor, dim: int, start: int, length: int) -> Tensor:
    return input.narrow(dim, start, length)


def split(tensor: Tensor, split_size_or_sections, dim: int = 0) -> tuple:
    return tensor.split(split_size_or_sections, dim)


@_dim_aliases
def chunk(input: Tensor, chunks: int, dim: int = 0) -> tuple:
    return input.chunk(chunks, dim)


@_dim_aliases
def unbind(input: Tensor, dim: int = 0) -> tuple:
    return input.unbind(dim)


@_dim_aliases
def gather(input: Tensor, dim: int, index: Tensor) -> Tensor:
    return input.gather(dim, index)


def masked_fill(input: Tensor, mask: Tensor, value) -> Tensor:
    return input.masked_fill(mask, value)


def eq(input: Tensor, other) -> Tensor:
    return input.eq(other)


def ne(input: Tensor, other) -> Tensor:
    return input.ne(other)


def lt(input: Tensor, other) -> Tensor:
    return input.lt(other)


def le(input: Tensor, other) -> Tensor:
    return input.le(other)


def gt(input: Tensor, other) -> Tensor:
    return input.gt(other)


def ge(input: Tensor, other) -> Tensor:
    return input.ge(other)


def isnan(input: Tensor) -> Tensor:
    return input.isnan()


def isfinite(input: Tensor) -> Tensor:
    return input.isfinite()


def allclose(input: Tensor, other: Tensor, rtol: float = 1e-5, atol: float = 1e-8) -> bool:
    return input.allclose(other, rtol, atol)


def clone(input: Tensor) -> Tensor:
    return input.clone()


def numel(input: Tensor) -> int:
    return input.numel()


def is_tensor(obj) -> bool:
    return isinstance(obj, Tensor)
