"""Functions of several tensors: ``cat``/``stack``, ``where``, ``einsum``, ``meshgrid``; ``pad_fn``, ``dropout``."""

from __future__ import annotations

import builtins
import collections
import numbers
import warnings
from typing import TYPE_CHECKING, Sequence

import numpy as np

from .. import dtypes, ops
from ..backend import move
from ..overrides import dispatchable
from ..random import default_generator
from . import core        # core defines Tensor and imports this module first: read core.Tensor at call time
from .promotion import _as_tensor_like, _bool_mask, _operands, _same_dtype
from .shapes import _dim_aliases, _norm_dim

if TYPE_CHECKING:
    from .core import Tensor


@dispatchable
@_dim_aliases
def cat(tensors: Sequence[Tensor], dim: int = 0) -> Tensor:
    """Concatenate along an existing ``dim``."""
    ts = _same_dtype(list(tensors), "cat")
    d = _norm_dim(dim, ts[0].ndim)
    ref = ts[0].shape
    for i, t in enumerate(ts):
        if t.ndim != len(ref) or t.shape[:d] + t.shape[d + 1:] != ref[:d] + ref[d + 1:]:
            raise ValueError(f"cat: sizes of tensors must match except in dim {d}: tensor 0 has shape {ref}, "
                             f"tensor {i} has shape {t.shape}")
    return ops.Cat.apply(*ts, dim=d)


concat = cat


@dispatchable
@_dim_aliases
def stack(tensors: Sequence[Tensor], dim: int = 0) -> Tensor:
    """Stack along a new ``dim``."""
    ts = _same_dtype(list(tensors), "stack")
    for i, t in enumerate(ts):
        if t.shape != ts[0].shape:
            raise ValueError(f"stack: expects each tensor to be equal size, but got {ts[0].shape} at entry 0 "
                             f"and {t.shape} at entry {i}")
    d = _norm_dim(dim, ts[0].ndim + 1)
    return ops.Stack.apply(*ts, dim=d)


@dispatchable
def where(condition: Tensor, input, other) -> Tensor:
    """``input`` where ``condition`` else ``other`` (broadcast; scalars allowed)."""
    cond = _bool_mask(condition, "condition")
    like = input if isinstance(input, core.Tensor) else other if isinstance(other, core.Tensor) else None
    if like is None:
        like = cond._new(cond._xp.asarray(input, dtype=dtypes.promote_scalar(np.dtype("bool"), input)))
    a = _as_tensor_like(input, like)
    b = _as_tensor_like(other, like)
    if a.dtype != b.dtype:
        a, b = _operands(a, b)
    return ops.Where.apply(cond, a, b)


def pad_fn(x: Tensor, pad: Sequence[int], mode: str = "constant", value: float = 0.0) -> Tensor:
    """Pad with a constant; ``pad`` = (last_before, last_after, second_last_before, ...) as in PyTorch."""
    if mode != "constant":
        raise ValueError(f"pad: only mode='constant' is supported, got {mode!r}")
    pad = list(pad)
    if len(pad) % 2 or len(pad) // 2 > x.ndim:
        raise ValueError(f"pad: expected an even number of widths, at most 2 per dim ({2 * x.ndim}), got {pad}")
    widths = [(0, 0)] * x.ndim
    for i in range(len(pad) // 2):
        before, after = pad[2 * i], pad[2 * i + 1]
        if before < 0 or after < 0:
            raise ValueError(f"pad: negative widths are not supported, got {pad}")
        widths[x.ndim - 1 - i] = (before, after)
    return ops.Pad.apply(x, widths=tuple(widths), value=value)


def dropout(x: Tensor, p: float = 0.5, training: bool = True, generator=None) -> Tensor:
    """Zero each element with probability ``p`` and scale the rest by 1/(1-p), in training only."""
    if isinstance(p, bool) or not isinstance(p, numbers.Real) or not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout: p must be a probability in [0, 1], got {p!r}")
    if not training or p == 0.0:
        return x
    if p == 1.0:
        return x * 0.0
    g = generator or default_generator
    keep = (g.random(x.shape, np.float64) >= p).astype(x.dtype) * x.dtype.type(1.0 / (1.0 - p))
    return ops.Dropout.apply(x, keep=move(keep, x._device))



def meshgrid(*tensors: Tensor, indexing: str | None = None) -> tuple:
    """Coordinate grids from 1-D tensors: output ``k`` holds ``tensors[k]`` along dim ``k`` (``"ij"``,
    the default, as PyTorch) or with the first two dims swapped (``"xy"``). Differentiable."""
    if len(tensors) == 1 and isinstance(tensors[0], (list, tuple)):
        tensors = tuple(tensors[0])
    if indexing is None:          # PyTorch's default, with PyTorch's warning
        warnings.warn("torch.meshgrid: in an upcoming release, it will be required to pass the indexing "
                      "argument.", UserWarning, stacklevel=2)
        indexing = "ij"
    if indexing not in ("ij", "xy"):
        raise ValueError(f"meshgrid: indexing must be 'ij' or 'xy', got {indexing!r}")
    if not tensors:
        raise ValueError("meshgrid: expected at least one tensor")
    for k, t in enumerate(tensors):
        if not isinstance(t, core.Tensor):
            raise TypeError(f"meshgrid: tensors[{k}] must be a Tensor, got {type(t).__name__}")
        if t.ndim > 1:
            raise ValueError(f"meshgrid: expected 0-D or 1-D tensors, got shape {t.shape} at {k}")
    ts = _same_dtype(list(tensors), "meshgrid")
    order = list(range(len(ts)))
    if indexing == "xy" and len(ts) >= 2:
        order[0], order[1] = 1, 0          # 'xy': the grid's first dim follows the second tensor
    shape = tuple(ts[i].numel() for i in order)
    out = []
    for k, t in enumerate(ts):
        pos = order.index(k)
        view = [1] * len(ts)
        view[pos] = t.numel()
        out.append(t.reshape(tuple(view)).expand(*shape))
    return tuple(out)



def einsum(equation: str, *operands) -> Tensor:
    """Sum of products over the subscripts of ``equation`` (``"ij,jk->ik"``, ``"bij,bjk"``, ``"ii"``,
    ``"...ij,...jk->...ik"``), with PyTorch's rules: without ``->`` the output holds the letters that
    appear once, in alphabetical order, after any ``...`` dims. Operands may also come as one list.
    Differentiable in every operand (see ``ops.Einsum``). A letter must have one size in all operands."""
    if not isinstance(equation, str):
        raise TypeError(f"einsum: equation must be a str, got {type(equation).__name__}")
    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands = tuple(operands[0])
    ts = _same_dtype(list(operands), "einsum")
    eq = equation.replace(" ", "")
    lhs, arrow, out = eq.partition("->")
    terms = lhs.split(",")
    if len(terms) != len(ts):
        raise ValueError(f"einsum: the equation {equation!r} has {len(terms)} operand(s), got {len(ts)} tensors")
    used = set(c for c in eq if c.isalpha())
    free = iter(c for c in "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ" if c not in used)
    n_ell = builtins.max([t.ndim - len(term.replace("...", "")) for term, t in zip(terms, ts) if "..." in term] or [0])
    ell = "".join(next(free) for _ in range(n_ell))
    subs = []
    for k, (term, t) in enumerate(zip(terms, ts)):
        if any(not c.isalpha() for c in term.replace("...", "")) or term.count("...") > 1:
            raise ValueError(f"einsum: operand {k} has an invalid subscript {term!r} in {equation!r}")
        if "..." in term:
            k_ell = t.ndim - len(term.replace("...", ""))
            if k_ell < 0:
                raise ValueError(f"einsum: operand {k} has {t.ndim} dims, fewer than its subscripts {term!r}")
            term = term.replace("...", ell[n_ell - k_ell:])
        if len(term) != t.ndim:
            raise ValueError(f"einsum: operand {k} has {t.ndim} dims but its subscripts {term!r} name {len(term)}")
        subs.append(term)
    sizes = {}
    for k, (term, t) in enumerate(zip(subs, ts)):
        for c, n in zip(term, t.shape):
            if sizes.setdefault(c, n) != n:
                raise ValueError(f"einsum: subscript {c!r} has size {n} in operand {k} but {sizes[c]} earlier "
                                 f"(equation {equation!r})")
    if arrow:
        if out.count("...") > 1 or any(not c.isalpha() for c in out.replace("...", "")):
            raise ValueError(f"einsum: invalid output subscripts {out!r}")
        out = out.replace("...", ell)
        for c in out:
            if c not in sizes:
                raise ValueError(f"einsum: output subscript {c!r} does not appear in any operand of {equation!r}")
        if len(set(out)) != len(out):
            raise ValueError(f"einsum: output subscript repeated in {equation!r}")
    else:
        counts = collections.Counter("".join(subs))
        out = ell + "".join(sorted(c for c in counts if counts[c] == 1 and c not in ell))
    return ops.Einsum.apply(*ts, inputs=tuple(subs), output=out)
