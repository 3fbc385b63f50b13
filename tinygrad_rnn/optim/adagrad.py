"""Adagrad (Duchi et al., 2011): per-coordinate learning rates from the sum of squared gradients."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ..tensor import Tensor, full_like
from .optimizer import Optimizer, _check_range, bump_step, new_step


class Adagrad(Optimizer):
    """``torch.optim.Adagrad``: for each parameter with gradient g at step t::

        g = g + weight_decay * p
        clr = lr / (1 + (t - 1) * lr_decay)
        s = s + g²                                (s starts at initial_accumulator_value)
        p = p - clr * g / (sqrt(s) + eps)

    Args:
        params: parameters or parameter groups. lr: learning rate (>= 0). lr_decay: (>= 0).
        weight_decay: L2 penalty (>= 0). initial_accumulator_value: start of s (>= 0).
        eps: added to the denominator (>= 0). maximize: ascend.

    State per parameter (made at construction, as PyTorch): ``step`` and ``sum``.

    Example::

        opt = tr.optim.Adagrad(model.parameters(), lr=0.01)
    """

    def __init__(self, params: Iterable, lr: float = 1e-2, lr_decay: float = 0, weight_decay: float = 0,
                 initial_accumulator_value: float = 0, eps: float = 1e-10, *, maximize: bool = False) -> None:
        defaults = dict(lr=lr, lr_decay=lr_decay, eps=eps, weight_decay=weight_decay,
                        initial_accumulator_value=initial_accumulator_value, maximize=maximize)
        super().__init__(params, defaults)

    def _validate(self, group: dict[str, Any]) -> None:
        _check_range("lr", group["lr"])
        _check_range("lr_decay", group["lr_decay"])
        _check_range("weight_decay", group["weight_decay"])
        _check_range("initial_accumulator_value", group["initial_accumulator_value"])
        _check_range("eps", group["eps"])

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Add a group, and make its parameters' state at once (as PyTorch does at construction)."""
        super().add_param_group(param_group)
        group = self.param_groups[-1]
        for p in group["params"]:
            self._init_state(p, self.state.setdefault(p, {}), group)

    def _init_state(self, p: Tensor, state: dict[str, Any], group: dict[str, Any]) -> None:
        state["step"] = new_step()
        state["sum"] = full_like(p, group["initial_accumulator_value"])

    def _update(self, p: Tensor, grad: Tensor, state: dict[str, Any], group: dict[str, Any]) -> None:
        step = bump_step(state)
        if group["weight_decay"] != 0:
            grad = grad.add(p, alpha=group["weight_decay"])
        clr = group["lr"] / (1 + (step - 1) * group["lr_decay"])
        state_sum = state["sum"]
        state_sum.addcmul_(grad, grad, value=1)
        std = state_sum.sqrt().add_(group["eps"])
        p.addcdiv_(grad, std, value=-clr)
