"""Stochastic gradient descent with momentum, dampening, Nesterov momentum and weight decay."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ..tensor import Tensor
from .optimizer import Optimizer, _check_range


class SGD(Optimizer):
    """``torch.optim.SGD``: for each parameter with gradient g (negated when ``maximize``)::

        g = g + weight_decay * p
        b = g                                  (first step)
        b = momentum * b + (1 - dampening) * g (later steps)
        g = g + momentum * b   if nesterov   else   b      (when momentum != 0)
        p = p - lr * g

    Args:
        params: parameters or parameter groups.
        lr: learning rate (>= 0). momentum: momentum factor (>= 0). dampening: dampening of momentum.
        weight_decay: L2 penalty (>= 0). nesterov: Nesterov momentum (needs momentum > 0, dampening 0).
        maximize: ascend instead of descend.

    State per parameter: ``momentum_buffer`` (only when momentum != 0).

    Example::

        opt = tr.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        opt.zero_grad(); loss.backward(); opt.step()
    """

    def __init__(self, params: Iterable, lr: float = 1e-3, momentum: float = 0, dampening: float = 0,
                 weight_decay: float = 0, nesterov: bool = False, *, maximize: bool = False) -> None:
        defaults = dict(lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
                        nesterov=nesterov, maximize=maximize)
        super().__init__(params, defaults)

    def _validate(self, group: dict[str, Any]) -> None:
        _check_range("lr", group["lr"])
        _check_range("momentum", group["momentum"])
        _check_range("weight_decay", group["weight_decay"])
        if group["nesterov"] and (group["momentum"] <= 0 or group["dampening"] != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening: got "
                             f"momentum={group['momentum']!r}, dampening={group['dampening']!r}")

    def _update(self, p: Tensor, grad: Tensor, state: dict[str, Any], group: dict[str, Any]) -> None:
        if group["weight_decay"] != 0:
            grad = grad.add(p, alpha=group["weight_decay"])
        momentum = group["momentum"]
        if momentum != 0:
            buf = state.get("momentum_buffer")
            if buf is None:
                buf = grad.detach().clone()
                state["momentum_buffer"] = buf
            else:
                buf.mul_(momentum).add_(grad, alpha=1 - group["dampening"])
            grad = grad.add(buf, alpha=momentum) if group["nesterov"] else buf
        p.add_(grad, alpha=-group["lr"])
