"""RMSprop (Hinton, 2012), with momentum and the centered variant (Graves, 2013)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ..tensor import Tensor, zeros_like
from .optimizer import Optimizer, _check_range, bump_step, new_step


class RMSprop(Optimizer):
    """``torch.optim.RMSprop``: for each parameter with gradient g::

        g = g + weight_decay * p
        v = alpha * v + (1 - alpha) * g²
        a = alpha * a + (1 - alpha) * g;  d = sqrt(v - a²) + eps     (centered)
        d = sqrt(v) + eps                                            (otherwise)
        b = momentum * b + g / d;  p = p - lr * b                    (momentum > 0)
        p = p - lr * g / d                                           (otherwise)

    Args:
        params: parameters or parameter groups. lr: learning rate (>= 0). alpha: smoothing (>= 0).
        eps: added to the denominator (>= 0). weight_decay: L2 penalty (>= 0). momentum: (>= 0).
        centered: normalise by the estimated variance of the gradient. maximize: ascend.

    State per parameter: ``step``, ``square_avg``, ``momentum_buffer`` (momentum > 0), ``grad_avg`` (centered).

    Example::

        opt = tr.optim.RMSprop(model.parameters(), lr=0.01, momentum=0.9)
    """

    def __init__(self, params: Iterable, lr: float = 1e-2, alpha: float = 0.99, eps: float = 1e-8,
                 weight_decay: float = 0, momentum: float = 0, centered: bool = False, *,
                 maximize: bool = False) -> None:
        defaults = dict(lr=lr, momentum=momentum, alpha=alpha, eps=eps, centered=centered,
                        weight_decay=weight_decay, maximize=maximize)
        super().__init__(params, defaults)

    def _validate(self, group: dict[str, Any]) -> None:
        _check_range("lr", group["lr"])
        _check_range("eps", group["eps"])
        _check_range("momentum", group["momentum"])
        _check_range("weight_decay", group["weight_decay"])
        _check_range("alpha", group["alpha"])

    def _init_state(self, p: Tensor, state: dict[str, Any], group: dict[str, Any]) -> None:
        state["step"] = new_step()
        state["square_avg"] = zeros_like(p)
        if group["momentum"] > 0:
            state["momentum_buffer"] = zeros_like(p)
        if group["centered"]:
            state["grad_avg"] = zeros_like(p)

    def _update(self, p: Tensor, grad: Tensor, state: dict[str, Any], group: dict[str, Any]) -> None:
        bump_step(state)
        if group["weight_decay"] != 0:
            grad = grad.add(p, alpha=group["weight_decay"])
        alpha, lr = group["alpha"], group["lr"]
        square_avg = state["square_avg"]
        square_avg.mul_(alpha).addcmul_(grad, grad, value=1 - alpha)
        if group["centered"]:
            grad_avg = state["grad_avg"]
            grad_avg.lerp_(grad, 1 - alpha)
            avg = (square_avg - grad_avg * grad_avg).sqrt_()
        else:
            avg = square_avg.sqrt()
        avg = avg.add_(group["eps"])
        if group["momentum"] > 0:
            buf = state["momentum_buffer"]
            buf.mul_(group["momentum"]).addcdiv_(grad, avg)
            p.add_(buf, alpha=-lr)
        else:
            p.addcdiv_(grad, avg, value=-lr)
