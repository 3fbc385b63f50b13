"""Gradient clipping, as ``torch.nn.utils.clip_grad_norm_`` / ``clip_grad_value_``.

Everything stays on the gradients' device: the total norm is a 0-d device tensor, and the "clip only
when the norm is too large" decision is array arithmetic (multiply by ``min(coef, 1)``), never a
Python ``if`` on a device value, so a training step on the GPU does not wait for the host. Multiplying
by exactly 1.0 leaves below-threshold gradients bit-identical, as in PyTorch.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from ...autograd import no_grad
from ...tensor import Tensor, stack, tensor

_Params = Tensor | Iterable[Tensor]


def _as_list(parameters: _Params, fn: str) -> list[Tensor]:
    params = [parameters] if isinstance(parameters, Tensor) else list(parameters)
    for i, p in enumerate(params):
        if not isinstance(p, Tensor):
            raise TypeError(f"{fn}: parameters must be Tensors, but parameters[{i}] is a {type(p).__name__}")
    return params


def _number(value, name: str, fn: str) -> float:
    if isinstance(value, Tensor):
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{fn}: {name} must be a number, got {type(value).__name__}")
    return float(value)


def _vector_norm(x: Tensor, p: float) -> Tensor:
    """``torch.linalg.vector_norm(x, p)`` of all elements: (Σ|x|^p)^(1/p); max|x| for inf, min|x| for -inf,
    the count of non-zeros for 0."""
    if x.numel() == 0:
        return x.new_zeros(())
    if p == 2:
        return (x * x).sum().sqrt()
    a = x.abs()
    if p == math.inf:
        return a.amax()
    if p == -math.inf:
        return a.amin()
    if p == 1:
        return a.sum()
    if p == 0:
        return (x != 0).sum().to(x.dtype)
    return (a ** p).sum() ** (1.0 / p)


def _param_label(p: Tensor, i: int) -> str:
    name = getattr(p, "_name", None)
    return repr(name) if name else f"parameters[{i}]"


def clip_grad_norm_(parameters: _Params, max_norm: float, norm_type: float = 2.0, error_if_nonfinite: bool = False,
                    foreach: bool | None = None) -> Tensor:
    """Scale all gradients together so that their joint norm is at most ``max_norm``; return that norm.

    ``total = ‖(‖g_1‖_p, ..., ‖g_n‖_p)‖_p`` over the parameters that have a gradient (the norm of all
    gradients as one vector), then every gradient is multiplied in place by
    ``min(max_norm / (total + 1e-6), 1)``.

    Args:
        parameters: a Tensor or an iterable of Tensors (those with ``grad=None`` are skipped).
        max_norm: the largest allowed norm (>= 0).
        norm_type: p of the p-norm; ``float("inf")`` for the largest absolute value.
        error_if_nonfinite: raise a RuntimeError naming the parameters with a non-finite gradient norm
            when the total norm is NaN or inf (this check reads the norm on the host). Otherwise
            non-finite norms propagate into the gradients, as in PyTorch.
        foreach: accepted for PyTorch compatibility; ignored.

    Returns:
        The total norm before clipping, a 0-d tensor on the gradients' device (``tensor(0.)`` when no
        parameter has a gradient).

    Example::

        loss.backward()
        norm = tr.nn.utils.clip_grad_norm_(model.parameters(), max_norm=1.0)
        opt.step()
    """
    params = _as_list(parameters, "clip_grad_norm_")
    max_norm = _number(max_norm, "max_norm", "clip_grad_norm_")
    if not max_norm >= 0:
        raise ValueError(f"clip_grad_norm_: max_norm must be >= 0, got {max_norm!r}")
    try:
        p = float(norm_type)
    except (TypeError, ValueError):
        raise TypeError(f"clip_grad_norm_: norm_type must be a number (or 'inf'), got {norm_type!r}") from None
    if math.isnan(p):
        raise ValueError("clip_grad_norm_: norm_type must not be NaN")
    with_grad = [(i, q) for i, q in enumerate(params) if q.grad is not None]
    if not with_grad:
        return tensor(0.0)
    with no_grad():
        norms = [_vector_norm(q.grad.detach(), p) for _, q in with_grad]
        if len({n.device for n in norms}) > 1:
            raise ValueError("clip_grad_norm_: gradients are on different devices: "
                             f"{sorted({str(n.device) for n in norms})}")
        total = _vector_norm(stack(norms), p)
        if error_if_nonfinite and not bool(total.isfinite().item()):
            bad = [_param_label(q, i) for (i, q), n in zip(with_grad, norms) if not bool(n.isfinite().item())]
            raise RuntimeError(f"The total norm of order {p} for gradients from `parameters` is non-finite, so it "
                               f"cannot be clipped (non-finite gradient norm in: {', '.join(bad) or 'their sum'}). "
                               "To disable this error and scale the gradients by the non-finite norm anyway, "
                               "set `error_if_nonfinite=False`")
        coef = (max_norm / (total + 1e-6)).clamp(max=1.0)
        for _, q in with_grad:
            q.grad.mul_(coef.to(q.grad.dtype))
    return total


def clip_grad_value_(parameters: _Params, clip_value: float, foreach: bool | None = None) -> None:
    """Clamp every gradient in place to ``[-clip_value, clip_value]``.

    Args:
        parameters: a Tensor or an iterable of Tensors (those with ``grad=None`` are skipped).
        clip_value: the largest allowed absolute value (>= 0).
        foreach: accepted for PyTorch compatibility; ignored.

    Example::

        tr.nn.utils.clip_grad_value_(model.parameters(), clip_value=0.5)
    """
    params = _as_list(parameters, "clip_grad_value_")
    clip_value = _number(clip_value, "clip_value", "clip_grad_value_")
    if not clip_value >= 0:
        raise ValueError(f"clip_grad_value_: clip_value must be >= 0, got {clip_value!r}")
    with no_grad():
        for q in params:
            if q.grad is not None:
                q.grad.clamp_(min=-clip_value, max=clip_value)
