"""PyTorch's module-level spellings (``tr.tanh(x)``, ``tr.sum(x, dim)``, ...): each calls the Tensor method."""

from __future__ import annotations

from .tensor import Tensor


def add(input: Tensor, other, alpha=1) -> Tensor:
    return input.add(other, alpha=alpha)


def sub(input: Tensor, other, alpha=1) -> Tensor:
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


def sum(input: Tensor, dim=None, keepdim: bool = False, dtype=None) -> Tensor:
    return input.sum(dim, keepdim, dtype=dtype)


def mean(input: Tensor, dim=None, keepdim: bool = False) -> Tensor:
    return input.mean(dim, keepdim)


def max(input: Tensor, dim=None, keepdim: bool = False):
    return input.max(dim, keepdim)


def min(input: Tensor, dim=None, keepdim: bool = False):
    return input.min(dim, keepdim)


def amax(input: Tensor, dim=None, keepdim: bool = False) -> Tensor:
    return input.amax(dim, keepdim)


def amin(input: Tensor, dim=None, keepdim: bool = False) -> Tensor:
    return input.amin(dim, keepdim)


def var(input: Tensor, dim=None, *, correction=None, keepdim: bool = False, unbiased=None) -> Tensor:
    return input.var(dim, correction=correction, keepdim=keepdim, unbiased=unbiased)


def std(input: Tensor, dim=None, *, correction=None, keepdim: bool = False, unbiased=None) -> Tensor:
    return input.std(dim, correction=correction, keepdim=keepdim, unbiased=unbiased)


def logsumexp(input: Tensor, dim: int, keepdim: bool = False) -> Tensor:
    return input.logsumexp(dim, keepdim)


def softmax(input: Tensor, dim: int) -> Tensor:
    return input.softmax(dim)


def log_softmax(input: Tensor, dim: int) -> Tensor:
    return input.log_softmax(dim)


def argmax(input: Tensor, dim=None, keepdim: bool = False) -> Tensor:
    return input.argmax(dim, keepdim)


def argmin(input: Tensor, dim=None, keepdim: bool = False) -> Tensor:
    return input.argmin(dim, keepdim)


def topk(input: Tensor, k: int, dim: int = -1, largest: bool = True, sorted: bool = True):
    return input.topk(k, dim, largest, sorted)


def sort(input: Tensor, dim: int = -1, descending: bool = False):
    return input.sort(dim, descending)


def reshape(input: Tensor, shape) -> Tensor:
    return input.reshape(shape)


def transpose(input: Tensor, dim0: int, dim1: int) -> Tensor:
    return input.transpose(dim0, dim1)


def permute(input: Tensor, dims) -> Tensor:
    return input.permute(dims)


def squeeze(input: Tensor, dim=None) -> Tensor:
    return input.squeeze(dim)


def unsqueeze(input: Tensor, dim: int) -> Tensor:
    return input.unsqueeze(dim)


def flatten(input: Tensor, start_dim: int = 0, end_dim: int = -1) -> Tensor:
    return input.flatten(start_dim, end_dim)


def flip(input: Tensor, dims) -> Tensor:
    return input.flip(dims)


def narrow(input: Tensor, dim: int, start: int, length: int) -> Tensor:
    return input.narrow(dim, start, length)


def split(tensor: Tensor, split_size_or_sections, dim: int = 0) -> tuple:
    return tensor.split(split_size_or_sections, dim)


def chunk(input: Tensor, chunks: int, dim: int = 0) -> tuple:
    return input.chunk(chunks, dim)


def unbind(input: Tensor, dim: int = 0) -> tuple:
    return input.unbind(dim)


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
