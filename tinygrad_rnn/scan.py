"""``tr.linear_scan``: the linear recurrence h_t = a_t ⊙ h_{t-1} + b_t, solved by a parallel scan."""

from __future__ import annotations

import numpy as np

from . import dtypes
from .ops.scan import LinearScan
from .tensor import Tensor, _norm_dim

__all__ = ["linear_scan"]

_METHODS = ("auto", "scan", "loop")


def linear_scan(a: Tensor, b: Tensor, h0: Tensor | None = None, dim: int = 0, *, method: str = "auto") -> Tensor:
    """h with h_t = a_t ⊙ h_{t-1} + b_t along ``dim``, h_{-1} = ``h0`` (zeros by default).

    The diagonal linear recurrence behind LRU, S4/Mamba-style layers and minGRU, for all t at once.
    It equals this loop (to rounding), but runs in O(T) work and O(log T) depth (see
    :mod:`tinygrad_rnn.ops.scan`), and its backward is one reverse scan::

        h = []
        for t in range(T):
            h_prev = h0 if t == 0 else h[-1]
            h.append(a[t] * h_prev + b[t])
        h = tr.stack(h, dim)

    Args:
        a: the multipliers, broadcastable with ``b``.
        b: the inputs.
        h0: the state before the first step, broadcastable to the output's shape without ``dim``.
        dim: the time dimension (of the broadcast shape of ``a`` and ``b``).
        method: ``"auto"`` (default), ``"scan"`` (always the parallel scan) or ``"loop"`` (always the
            sequential loop); all give the same answer, ``"auto"`` the fastest on this backend.

    Shape: a, b broadcast to (…, T, …) -> h of that shape; h0: that shape without ``dim``.

    Differentiable in ``a``, ``b`` and ``h0``.

    Example::

        a = tr.full((100, 4), 0.9)
        b = tr.randn(100, 4)
        h = tr.linear_scan(a, b)          # h[t] = 0.9 * h[t-1] + b[t]
    """
    for name, x in (("a", a), ("b", b), ("h0", h0)):
        if x is None and name == "h0":
            continue
        if not isinstance(x, Tensor):
            raise TypeError(f"linear_scan: {name} must be a Tensor, got {type(x).__name__}")
        if x.dtype.kind != "f":
            raise TypeError(f"linear_scan: {name} must be a floating-point tensor, got dtype {x.dtype}")
    if method not in _METHODS:
        raise ValueError(f"linear_scan: method must be one of {_METHODS}, got {method!r}")
    try:
        shape = tuple(np.broadcast_shapes(a.shape, b.shape))
    except ValueError:
        raise ValueError(f"linear_scan: a of shape {tuple(a.shape)} and b of shape {tuple(b.shape)} cannot "
                         "be broadcast together") from None
    if not shape:
        raise ValueError("linear_scan: a and b need at least one dimension (time), got 0-d tensors")
    dim = _norm_dim(dim, len(shape))
    dt = dtypes.promote(a.dtype, a.ndim, b.dtype, b.ndim)
    inputs = [a._cast(dt), b._cast(dt)]
    if h0 is not None:
        step = shape[:dim] + shape[dim + 1:]
        try:
            ok = np.broadcast_shapes(h0.shape, step) == step
        except ValueError:
            ok = False
        if not ok:
            raise ValueError(f"linear_scan: h0 of shape {tuple(h0.shape)} must broadcast to the shape of one "
                             f"step {step} (the output's shape {shape} without dim {dim})")
        inputs.append(h0._cast(dt))
    return LinearScan.apply(*inputs, dim=dim, shape=shape, method=method)
