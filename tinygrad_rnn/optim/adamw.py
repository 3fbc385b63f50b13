"""AdamW (Loshchilov & Hutter, 2019): Adam with weight decay decoupled from the gradient."""

from __future__ import annotations

from collections.abc import Iterable

from .adam import Adam


class AdamW(Adam):
    """``torch.optim.AdamW``: Adam's update, with ``p = p * (1 - lr * weight_decay)`` before it instead
    of adding ``weight_decay * p`` to the gradient (so the decay never enters the moments).

    Same arguments and state as :class:`Adam`; ``weight_decay`` defaults to ``1e-2``.

    Example::

        opt = tr.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.01)
    """

    _decoupled = True

    def __init__(self, params: Iterable, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 1e-2, amsgrad: bool = False, *,
                 maximize: bool = False) -> None:
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad,
                         maximize=maximize)
