"""``Optimizer``: the base class of every optimizer (``torch.optim.Optimizer``'s interface).

An optimizer holds ``param_groups`` (a list of dicts: ``"params"`` plus the options of that group) and
``state`` (a dict from parameter to its per-parameter dict: step count, moment buffers, ...).
``step()`` updates each parameter that has a gradient, in place, through the version-counted methods
(``add_``, ``mul_``, ``addcdiv_`` ...) under ``tr.no_grad()``; so a backward that saved a parameter before
the update notices the change. State tensors live on their parameter's device, except ``step``, which
(as in PyTorch without ``capturable``) is a float32 CPU scalar tensor, so bias corrections need no
device synchronisation.

``state_dict()`` / ``load_state_dict()`` use PyTorch's format: parameters are referred to by their
integer index in the order of ``param_groups``::

    {"state": {0: {"step": tensor(3.), "exp_avg": ...}, ...},
     "param_groups": [{"lr": 0.001, ..., "params": [0, 1]}, ...]}
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Iterable
from typing import Any

from ..autograd import enable_grad, no_grad
from ..autograd.engine import GradientError
from ..backend import DeviceError
from ..tensor import Tensor, tensor


def _check_range(name: str, value, low: float = 0.0, high: float | None = None, *, low_open: bool = False,
                 high_open: bool = True) -> None:
    """Raise a ValueError naming ``name`` unless ``low <= value (< high)``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name}: expected a number, got {type(value).__name__} ({value!r})")
    bad = math.isnan(value) or value < low or (low_open and value == low)
    if high is not None:
        bad = bad or value > high or (high_open and value == high)
    if bad:
        lo = f"{'(' if low_open else '['}{low}"
        hi = f"{high}{')' if high_open else ']'}" if high is not None else "inf)"
        raise ValueError(f"Invalid {name}: {name}={value!r}, expected a value in {lo}, {hi}")


def _check_betas(group: dict[str, Any]) -> None:
    """The checks every Adam-family optimizer makes: lr, eps, betas in [0, 1), weight_decay."""
    _check_range("lr", group["lr"])
    _check_range("eps", group["eps"])
    betas = group["betas"]
    if not isinstance(betas, (tuple, list)) or len(betas) != 2:
        raise ValueError(f"Invalid betas: expected a pair (beta1, beta2), got {betas!r}")
    _check_range("betas[0]", betas[0], 0.0, 1.0)
    _check_range("betas[1]", betas[1], 0.0, 1.0)
    _check_range("weight_decay", group["weight_decay"])


class Optimizer:
    """Base class: ``param_groups``, ``state``, ``zero_grad``, ``step``, ``state_dict``, ``add_param_group``.

    Args:
        params: an iterable of Tensors, or of dicts ``{"params": [...], "lr": ..., ...}`` (per-group
            options override ``defaults``).
        defaults: the default options of every group.

    Subclasses implement ``_validate(group)`` (raise on bad options), ``_init_state(p, state, group)``
    (fill a fresh per-parameter state) and ``_update(p, grad, state, group)`` (one parameter's update).
    """

    def __init__(self, params: Iterable, defaults: dict[str, Any]) -> None:
        self.defaults = dict(defaults)
        self.state: dict[Tensor, dict[str, Any]] = {}
        self.param_groups: list[dict[str, Any]] = []
        if isinstance(params, Tensor):
            raise TypeError("params argument given to the optimizer should be an iterable of Tensors or dicts, "
                            f"but got {type(params).__name__}")
        if isinstance(params, (set, frozenset)):
            raise TypeError("optimizer parameters need to be organized in ordered collections, but the ordering "
                            "of tensors in sets will change between runs. Please use a list instead.")
        param_groups = list(params)
        if len(param_groups) == 0:
            raise ValueError("optimizer got an empty parameter list")
        if not isinstance(param_groups[0], dict):
            param_groups = [{"params": param_groups}]
        for group in param_groups:
            self.add_param_group(group)

    # ----------------------------------------------------------------- subclass hooks
    def _validate(self, group: dict[str, Any]) -> None:
        """Raise ValueError/TypeError naming the option when a group's options are out of range."""

    def _init_state(self, p: Tensor, state: dict[str, Any], group: dict[str, Any]) -> None:
        """Fill the empty ``state`` of ``p`` before its first update."""

    def _update(self, p: Tensor, grad: Tensor, state: dict[str, Any], group: dict[str, Any]) -> None:
        raise NotImplementedError

    # ----------------------------------------------------------------- groups
    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Add a group of parameters with its own options (missing options take ``defaults``)."""
        if not isinstance(param_group, dict):
            raise TypeError(f"param_group must be a dict, but got {type(param_group).__name__}")
        params = param_group.get("params")
        if isinstance(params, Tensor):
            params = [params]
        elif isinstance(params, (set, frozenset)):
            raise TypeError("optimizer parameters need to be organized in ordered collections, but the ordering "
                            "of tensors in sets will change between runs. Please use a list instead.")
        elif params is None:
            raise ValueError("param_group must have a 'params' entry")
        else:
            params = list(params)
        if len(params) == 0:
            raise ValueError("optimizer got an empty parameter list")
        for i, p in enumerate(params):
            if not isinstance(p, Tensor):
                raise TypeError(f"optimizer can only optimize Tensors, but params[{i}] is a {type(p).__name__}")
            if not p.is_leaf:
                raise ValueError(f"can't optimize a non-leaf Tensor (params[{i}] has grad_fn {p.grad_fn.name})")
        if len({id(p) for p in params}) != len(params):
            raise ValueError("optimizer contains a parameter group with duplicate parameters")
        group = {k: v for k, v in param_group.items() if k != "params"}
        for name, default in self.defaults.items():
            group.setdefault(name, default)
        group = {"params": params, **group}
        self._validate(group)
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        if any(id(p) in seen for p in params):
            raise ValueError("some parameters appear in more than one parameter group")
        self.param_groups.append(group)

    # ----------------------------------------------------------------- the training loop
    def zero_grad(self, set_to_none: bool = True) -> None:
        """Reset the gradients of all parameters: to ``None`` (default), or to zeros in place."""
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                if set_to_none:
                    p.grad = None
                else:
                    p.grad.detach_()
                    with no_grad():
                        p.grad.zero_()

    def step(self, closure: Callable[[], Any] | None = None):
        """Update every parameter that has a gradient; return ``closure()``'s loss when one is given.

        ``closure`` re-evaluates the model and returns the loss; it runs with gradients enabled.
        """
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        self._check_grads()
        with no_grad():
            for group in self.param_groups:
                for p in group["params"]:
                    if p.grad is None:
                        continue
                    state = self.state.get(p) or {}
                    if not state:
                        self._init_state(p, state, group)
                    grad = p.grad.detach()
                    if group.get("maximize", False):
                        grad = -grad
                    self._update(p, grad, state, group)
                    if state:   # SGD without momentum keeps no state (as PyTorch)
                        self.state[p] = state
        return loss

    def _check_grads(self) -> None:
        """Every gradient matches its parameter (shape, dtype, device), checked before any state changes:
        ``.grad`` assignments are checked, but ``p.data = ...`` or ``p.grad.data = ...`` can still diverge."""
        for gi, group in enumerate(self.param_groups):
            for pi, p in enumerate(group["params"]):
                g = p.grad
                if g is None:
                    continue
                where = f"{type(self).__name__}.step(): param_groups[{gi}]['params'][{pi}]"
                if not isinstance(g, Tensor):
                    raise TypeError(f"{where}: .grad must be a Tensor, got {type(g).__name__}; nothing was changed")
                if g.device != p.device:
                    raise DeviceError(f"{where} is on '{p.device}' but its .grad is on '{g.device}'; nothing was "
                                      "changed")
                if g.shape != p.shape:
                    raise GradientError(f"{where} has shape {tuple(p.shape)} but its .grad has shape "
                                        f"{tuple(g.shape)}; nothing was changed")
                if g.dtype != p.dtype:
                    raise GradientError(f"{where} has dtype {p.dtype} but its .grad has dtype {g.dtype}; nothing "
                                        "was changed")

    # ----------------------------------------------------------------- checkpoints
    def state_dict(self) -> dict[str, Any]:
        """``{"state": {index: {...}}, "param_groups": [{..., "params": [indices]}]}`` (PyTorch's format).

        The state tensors are the live ones (as PyTorch): save or clone them before training on.
        """
        index: dict[int, int] = {}
        groups = []
        for group in self.param_groups:
            ids = []
            for p in group["params"]:
                index.setdefault(id(p), len(index))
                ids.append(index[id(p)])
            groups.append({**{k: v for k, v in group.items() if k != "params"}, "params": ids})
        state = {index[id(p)]: s for p, s in self.state.items() if id(p) in index}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Load a ``state_dict()`` (ours or PyTorch's layout): options per group, state per parameter.

        State tensors are copied onto their parameter's device, floating ones cast to its dtype;
        ``step`` stays a CPU scalar. Checks everything before changing anything.
        """
        if not isinstance(state_dict, dict) or "state" not in state_dict or "param_groups" not in state_dict:
            raise ValueError("load_state_dict: expected a dict with keys 'state' and 'param_groups', got "
                             f"{type(state_dict).__name__} with keys "
                             f"{sorted(map(str, state_dict)) if isinstance(state_dict, dict) else None}")
        saved_groups = state_dict["param_groups"]
        if len(saved_groups) != len(self.param_groups):
            raise ValueError("loaded state dict has a different number of parameter groups: "
                             f"{len(saved_groups)} saved, {len(self.param_groups)} in this optimizer")
        id_map: dict[int, Tensor] = {}
        for i, (group, saved) in enumerate(zip(self.param_groups, saved_groups)):
            if len(group["params"]) != len(saved["params"]):
                raise ValueError(f"loaded state dict contains a parameter group that doesn't match the size of "
                                 f"optimizer's group: param_groups[{i}] has {len(saved['params'])} saved params, "
                                 f"{len(group['params'])} here")
            for k, p in zip(saved["params"], group["params"]):
                id_map[int(k)] = p
        new_state: dict[Tensor, dict[str, Any]] = {}
        for k, s in state_dict["state"].items():
            if int(k) not in id_map:
                raise ValueError(f"load_state_dict: state refers to parameter index {k}, but the param_groups "
                                 f"list indices {sorted(id_map)}")
            p = id_map[int(k)]
            new_state[p] = {name: self._cast_state(name, value, p) for name, value in s.items()}
        new_groups = []
        for group, saved in zip(self.param_groups, saved_groups):
            g = {k: copy.deepcopy(v) for k, v in saved.items() if k != "params"}
            new_groups.append({"params": group["params"], **g})
        self.state = new_state
        self.param_groups = new_groups

    @staticmethod
    def _cast_state(name: str, value, p: Tensor):
        if not isinstance(value, Tensor):
            if name == "step":   # PyTorch accepts a plain number here too
                return tensor(float(value))
            return copy.deepcopy(value)
        if name == "step":
            return tensor(float(value.item()))
        out = value.detach().to(p.device)
        if out.is_floating_point():
            out = out.to(p.dtype)
        return out.clone()

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__} ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            lines += [f"    {k}: {v}" for k, v in sorted(group.items()) if k != "params"]
        return "\n".join(lines) + "\n)"


def new_step() -> Tensor:
    """A fresh step counter: a float32 CPU scalar tensor, as PyTorch keeps it."""
    return tensor(0.0)


def bump_step(state: dict[str, Any]) -> float:
    """Advance ``state["step"]`` by one (in place) and return the new count as a float."""
    step_t = state["step"]
    step_t.add_(1)
    return float(step_t.item())
