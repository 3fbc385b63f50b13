"""The autograd engine: ``Function``, ``backward``/``grad``, graph scopes, ``gradcheck``."""

from __future__ import annotations

from .engine import graph_nodes, record_grad_norms, run_backward
from .function import Function, TensorBase, VersionCounter, unbroadcast
from .grad_mode import enable_grad, is_grad_enabled, no_grad, set_grad_enabled
from .gradcheck import GradcheckError, gradcheck
from .scope import current_scope, scope

__all__ = ["Function", "GradcheckError", "TensorBase", "VersionCounter", "backward", "current_scope", "enable_grad",
           "grad", "gradcheck", "graph_nodes", "is_grad_enabled", "no_grad", "record_grad_norms", "scope",
           "set_grad_enabled", "unbroadcast"]


def _roots(tensors, grad_tensors):
    tensors = [tensors] if isinstance(tensors, TensorBase) else list(tensors)
    if grad_tensors is None:
        grad_tensors = [None] * len(tensors)
    elif isinstance(grad_tensors, TensorBase):
        grad_tensors = [grad_tensors]
    if len(grad_tensors) != len(tensors):
        raise ValueError(f"grad_tensors: expected {len(tensors)} gradients, got {len(grad_tensors)}")
    for i, t in enumerate(tensors):
        if not t.requires_grad:
            raise RuntimeError(f"element {i} of tensors does not require grad and does not have a grad_fn")
    return tensors, [t._grad_array(g) for t, g in zip(tensors, grad_tensors)]


def backward(tensors, grad_tensors=None, retain_graph: bool = False) -> None:
    """Backpropagate from several roots at once (``torch.autograd.backward``)."""
    roots, grads = _roots(tensors, grad_tensors)
    run_backward(roots, grads, bool(retain_graph))


def grad(outputs, inputs, grad_outputs=None, retain_graph: bool = False, allow_unused: bool = False):
    """The gradients of ``outputs`` w.r.t. ``inputs``, returned as a tuple; no ``.grad`` is changed."""
    roots, grads = _roots(outputs, grad_outputs)
    inputs = [inputs] if isinstance(inputs, TensorBase) else list(inputs)
    for i, t in enumerate(inputs):
        if not t.requires_grad:
            raise RuntimeError(f"grad: input {i} does not require grad")
    got = run_backward(roots, grads, bool(retain_graph), capture=inputs)
    out = []
    for i, (t, g) in enumerate(zip(inputs, got)):
        if g is None and not allow_unused:
            raise RuntimeError(f"grad: input {i} was not used in the graph (pass allow_unused=True)")
        out.append(None if g is None else t._wrap_grad(g))
    return tuple(out)
