"""Adamax (Kingma & Ba, 2015, section 7): Adam with the infinity norm in place of the second moment."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ..tensor import Tensor, zeros_like
from .optimizer import Optimizer, _check_betas, bump_step, new_step


class Adamax(Optimizer):
    """``torch.optim.Adamax``: for each parameter with gradient g at step t::

        g = g + weight_decay * p
        m = beta1 * m + (1 - beta1) * g
        u = max(beta2 * u, |g| + eps)
        p = p - lr / (1 - beta1^t) * m / u

    Args:
        params: parameters or parameter groups. lr: learning rate (>= 0, default 2e-3).
        betas: (beta1, beta2), each in [0, 1). eps: added to |g| (>= 0). weight_decay: L2 penalty (>= 0).
        maximize: ascend.

    State per parameter: ``step``, ``exp_avg``, ``exp_inf``.

    Example::

        opt = tr.optim.Adamax(model.parameters(), lr=2e-3)
    """

    def __init__(self, params: Iterable, lr: float = 2e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0, *, maximize: bool = False) -> None:
        defaults = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, maximize=maximize)
        super().__init__(params, defaults)

    def _validate(self, group: dict[str, Any]) -> None:
        _check_betas(group)

    def _init_state(self, p: Tensor, state: dict[str, Any], group: dict[str, Any]) -> None:
        state["step"] = new_step()
        state["exp_avg"] = zeros_like(p)
        state["exp_inf"] = zeros_like(p)

    def _update(self, p: Tensor, grad: Tensor, state: dict[str, Any], group: dict[str, Any]) -> None:
        lr, (beta1, beta2), eps, wd = group["lr"], group["betas"], group["eps"], group["weight_decay"]
        step = bump_step(state)
        if wd != 0:
            grad = grad.add(p, alpha=wd)
        exp_avg, exp_inf = state["exp_avg"], state["exp_inf"]
        exp_avg.lerp_(grad, 1 - beta1)
        exp_inf.mul_(beta2)
        exp_inf.copy_(exp_inf.maximum(grad.abs().add_(eps)))
        clr = lr / (1 - beta1 ** step)
        p.addcdiv_(exp_avg, exp_inf, value=-clr)
