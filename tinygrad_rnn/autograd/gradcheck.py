"""``gradcheck``: analytical gradients against central finite differences, in float64."""

from __future__ import annotations

import numpy as np

from ..backend import to_numpy
from . import grad_mode
from .function import TensorBase


class GradcheckError(RuntimeError):
    """The analytical and numerical gradients disagree."""


def gradcheck(fn, inputs, eps: float = 1e-6, atol: float = 1e-5, rtol: float = 1e-3,
              raise_exception: bool = True, seed: int = 0) -> bool:
    """Check ``fn``'s gradients w.r.t. every input that requires grad.

    Each output ``y`` is reduced to the scalar ``Σ v·y`` with a fixed random ``v``; its gradient from
    ``backward`` is compared, element by element, with ``(f(x + eps) - f(x - eps)) / 2eps``.

    Args:
        fn: a function of the tensors in ``inputs`` returning a tensor or a tuple of tensors.
        inputs: a tensor or a tuple of tensors (and other values, passed through); the float
            tensors must be float64.
    Returns:
        True, or raises ``GradcheckError`` naming the input and the worst element.

    New tensors (the perturbed inputs, the weights ``v``) are made with ``x.new_tensor``: autograd
    imports no tensor code.
    """
    if isinstance(inputs, TensorBase):
        inputs = (inputs,)
    inputs = tuple(inputs)
    checked = [i for i, t in enumerate(inputs) if isinstance(t, TensorBase) and t.requires_grad]
    for i in checked:
        if inputs[i].dtype != np.float64:
            raise TypeError(f"gradcheck: input {i} is {inputs[i].dtype}; finite differences need float64 "
                            "inputs: pass x.double()")
    if not checked:
        raise ValueError("gradcheck: no input requires grad")

    def outputs(args):
        out = fn(*args)
        out = out if isinstance(out, (tuple, list)) else (out,)
        return [o for o in out if isinstance(o, TensorBase) and o.dtype.kind == "f"]

    rng = np.random.default_rng(seed)
    with grad_mode.no_grad():
        outs0 = outputs(inputs)
    vs = [rng.standard_normal(o.shape) for o in outs0]

    def scalar(args) -> float:
        with grad_mode.no_grad():
            return sum(float((to_numpy(o._data) * v).sum()) for o, v in zip(outputs(args), vs))

    leaves = list(inputs)
    for i in checked:
        leaves[i] = inputs[i].detach().requires_grad_(True)
    outs = outputs(leaves)
    total = None
    for o, v in zip(outs, vs):
        if not o.requires_grad:
            continue
        term = (o * o.new_tensor(v)).sum()
        total = term if total is None else total + term
    if total is not None:
        total.backward()
    for i in checked:
        analytic = to_numpy(leaves[i].grad._data) if leaves[i].grad is not None else np.zeros(inputs[i].shape)
        base = to_numpy(inputs[i]._data).astype(np.float64)
        numeric = np.zeros(base.shape)
        flat = numeric.reshape(-1)
        for k in range(base.size):
            args = list(inputs)
            plus = base.copy().reshape(-1)
            plus[k] += eps
            args[i] = inputs[i].new_tensor(plus.reshape(base.shape), dtype=np.float64)
            fp = scalar(args)
            minus = base.copy().reshape(-1)
            minus[k] -= eps
            args[i] = inputs[i].new_tensor(minus.reshape(base.shape), dtype=np.float64)
            fm = scalar(args)
            flat[k] = (fp - fm) / (2 * eps)
        bad = ~np.isclose(analytic, numeric, rtol=rtol, atol=atol)
        if bad.any():
            k = int(np.argmax(np.abs(analytic - numeric) * bad))
            idx = np.unravel_index(k, base.shape) if base.shape else ()
            where = tuple(int(j) for j in idx)
            msg = (f"gradcheck: gradient of input {i} (shape {base.shape}) differs at index {where}: "
                   f"analytical {analytic.reshape(-1)[k]:.10g}, numerical {numeric.reshape(-1)[k]:.10g} "
                   f"({int(bad.sum())} of {bad.size} elements outside atol={atol}, rtol={rtol})")
            if raise_exception:
                raise GradcheckError(msg)
            return False
    return True
